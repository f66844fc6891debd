"""The execution desk: parents being worked, their strategies, and the checks on every child.

Strategies are pure state machines: ``on_event(event, view) -> commands``. The desk feeds them
(market events of their symbol, events about their own children, their timers) and checks each
command before it leaves the engine. A child is refused, with a ``ChildDenied`` event back to
its strategy, when it would:

* be priced outside the parent's band (the arrival mid moved by max_slippage, or the limit);
* be a market order (children are IOC limits at the band's edge instead, so no fill can ever
  cross the band);
* be off the tick or lot grid, or under the venue's minimum quantity or notional;
* go out while the book is not SYNCED;
* make the parent's filled plus open quantity exceed the parent's quantity (so a parent
  cannot overfill, whatever the strategy does).

Timers are data: after each call the desk reads the strategy's ``wakeup_at_ns`` and keeps one
clock timer per parent at that time. A parent also gets ``StopRequested`` at its deadline in
case its strategy did not finish by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import structlog

from engine.book import OrderBook
from engine.bus import EventBus, Subscription
from engine.clock import Clock, TimerHandle
from engine.commands import AmendOrder, CancelAllOrders, CancelOrder, Command, SubmitOrder
from engine.enums import BookState, OrderType
from engine.errors import ConfigError
from engine.events import (
    BookDelta,
    BookStateChanged,
    ChildDenied,
    ChildFilled,
    ChildRequestRefused,
    ChildStatusChanged,
    Event,
    ParentFinished,
    ParentStarted,
    StopRequested,
    TimerFired,
    TradePrinted,
)
from engine.ids import parse_child_id
from engine.market import Books
from engine.orders import ChildOrder, OrderTracker
from engine.parent import ParentOrder, ParentPlan
from engine.tape import TradeTape

__all__ = [
    "child_problem",
    "Desk",
    "MarketView",
    "Strategy",
    "StrategyFactory",
    "StrategySummary",
    "WorkingParent",
]

log = structlog.get_logger("engine.desk")


class MarketView(Protocol):
    """What a strategy may look at. Read-only by convention; time comes from here or events."""

    @property
    def now_ns(self) -> int: ...

    def book(self, symbol: str) -> OrderBook | None: ...

    def tape(self, symbol: str) -> TradeTape | None: ...

    def child(self, client_order_id: str) -> ChildOrder | None: ...

    def children(self, parent_id: str) -> list[ChildOrder]: ...

    def open_children(self, parent_id: str) -> list[ChildOrder]: ...

    def filled_lots(self, parent_id: str) -> int:
        """Lots the parent has filled so far, as the order tracker booked them (the one count)."""
        ...


@dataclass(frozen=True, slots=True)
class StrategySummary:
    """What a strategy tells the report and the TCA about how it worked its parent.

    ``schedule`` is the target cumulative quantity over time, as ``(ts_ns, lots)`` points in
    time order (a step function: the target holds from each point to the next). It is empty
    for strategies that follow no schedule (DIRECT, ICEBERG, SNIPER).
    """

    strategy_used: str
    reason: str
    schedule: tuple[tuple[int, int], ...] = ()


class Strategy(Protocol):
    plan: ParentPlan
    wakeup_at_ns: int | None

    @property
    def wants_book(self) -> bool:
        """Deliver book updates (BookStateChanged always arrives)."""
        ...

    @property
    def wants_trades(self) -> bool:
        """Deliver public trades."""
        ...

    @property
    def finished(self) -> bool: ...

    @property
    def outcome(self) -> str: ...

    def on_event(self, event: Event, view: MarketView) -> list[Command]: ...

    def summary(self) -> StrategySummary:
        """The strategy that actually worked the parent, why, and its schedule (if it has one)."""
        ...


StrategyFactory = Callable[[ParentPlan], Strategy]


@dataclass
class WorkingParent:
    plan: ParentPlan
    strategy: Strategy
    tracker: OrderTracker
    timer: TimerHandle | None = None
    timer_at_ns: int | None = None
    deadline_timer: TimerHandle | None = None
    finished_ns: int | None = None
    denied: int = 0
    children: list[str] = field(default_factory=list)

    @property
    def filled_lots(self) -> int:
        """What the parent has filled: read from the order tracker, which owns the count."""
        return self.tracker.filled_lots(self.plan.parent_id)


class Desk:
    def __init__(
        self,
        clock: Clock,
        bus: EventBus,
        books: Books,
        tracker: OrderTracker,
        send: Callable[[Command], None],
        tapes: dict[str, TradeTape],
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._books = books
        self._tracker = tracker
        self._send = send
        self._tapes = tapes
        self.parents: dict[str, WorkingParent] = {}
        self._working_by_symbol: dict[str, list[WorkingParent]] = {}
        self.view = _View(clock, books, tracker, tapes)
        self._market_subscriptions: list[Subscription] = []  # only while some parent is working
        bus.subscribe(ParentStarted, self._on_parent_event)
        bus.subscribe(ChildStatusChanged, self._on_parent_event)
        bus.subscribe(ChildFilled, self._on_parent_event)
        bus.subscribe(ChildDenied, self._on_parent_event)
        bus.subscribe(ChildRequestRefused, self._on_parent_event)
        bus.subscribe(TimerFired, self._on_parent_event)
        bus.subscribe(StopRequested, self._on_parent_event)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, parent: ParentOrder, make_strategy: StrategyFactory) -> ParentPlan:
        """Plan ``parent`` against its book now, and start its strategy.

        Raises ``ConfigError`` if the parent is invalid for the instrument, reuses an id, or its
        book is not SYNCED (there is no arrival price to anchor the band to).
        """
        if parent.parent_id in self.parents:
            raise ConfigError(f"parent id {parent.parent_id} is already in use")
        book = self._books.book(parent.symbol)
        if book is None or book.state is not BookState.SYNCED or book.instrument is None:
            raise ConfigError(f"no synced book for {parent.symbol}: cannot take an arrival price")
        mid = book.mid_ticks()
        if mid is None:
            raise ConfigError(f"{parent.symbol} book has no two-sided market")
        now = self._clock.now_ns()
        plan = parent.plan(book.instrument, arrival_mid_ticks=mid, start_ns=now)
        plan.notes.extend(plan.arrival_notes(book.best_bid_ticks, book.best_ask_ticks))  # before the strategy's
        # Strategies ask "how much is inside the band on the far side" on every update; keep it current.
        book.watch_size_within_price(parent.side.opposite, plan.band_ticks)
        working = WorkingParent(plan=plan, strategy=make_strategy(plan), tracker=self._tracker)
        self.parents[parent.parent_id] = working
        if not self._market_subscriptions:
            self._market_subscriptions = [
                self._bus.subscribe(BookDelta, self._on_market),
                self._bus.subscribe(TradePrinted, self._on_market),
                self._bus.subscribe(BookStateChanged, self._on_market),
            ]
        self._working_by_symbol.setdefault(parent.symbol, []).append(working)
        self._tapes.setdefault(parent.symbol, TradeTape(parent.symbol))
        working.deadline_timer = self._clock.call_at(plan.deadline_ns, partial(self._deadline, parent.parent_id))
        self._bus.publish(
            ParentStarted(ts_event_ns=now, ts_recv_ns=now, parent_id=parent.parent_id, symbol=parent.symbol)
        )
        return plan

    def stop(self, parent_id: str, reason: str = "stop requested") -> None:
        now = self._clock.now_ns()
        self._bus.publish(StopRequested(ts_event_ns=now, ts_recv_ns=now, parent_id=parent_id, reason=reason))

    def _wake(self, parent_id: str, at_ns: int, now_ns: int) -> None:
        self._bus.publish(TimerFired(ts_event_ns=at_ns, ts_recv_ns=now_ns, parent_id=parent_id))

    def _deadline(self, parent_id: str, now_ns: int) -> None:
        working = self.parents.get(parent_id)
        if working is not None and working.finished_ns is None:
            self._bus.publish(
                StopRequested(ts_event_ns=now_ns, ts_recv_ns=now_ns, parent_id=parent_id, reason="time limit")
            )

    # -- routing -----------------------------------------------------------------------------
    def _on_market(self, event: BookDelta | TradePrinted | BookStateChanged) -> None:
        kind = type(event)
        for working in self._working_by_symbol.get(event.symbol, ()):
            if working.finished_ns is not None:
                continue
            strategy = working.strategy
            if (kind is BookDelta and not strategy.wants_book) or (kind is TradePrinted and not strategy.wants_trades):
                continue  # the strategy has no use for it now: skipping is most of a backtest's speed
            self._deliver(working, event)

    def _on_parent_event(
        self,
        event: ParentStarted
        | ChildStatusChanged
        | ChildFilled
        | ChildDenied
        | ChildRequestRefused
        | TimerFired
        | StopRequested,
    ) -> None:
        working = self.parents.get(event.parent_id)
        if working is None:
            return
        if working.finished_ns is not None:
            if isinstance(event, ChildFilled):
                self._tell_late_fill(working, event)
            return
        if isinstance(event, TimerFired) and event.ts_event_ns != working.timer_at_ns:
            return  # a timer the strategy has since moved
        self._deliver(working, event)

    def _deliver(self, working: WorkingParent, event: Event) -> None:
        strategy = working.strategy
        try:
            commands = strategy.on_event(event, self.view)
        except Exception:
            log.exception("strategy failed; stopping its parent", parent=working.plan.parent_id)
            commands = [
                CancelOrder(client_order_id=c.client_order_id, symbol=c.symbol, reason="strategy failed")
                for c in self._tracker.open_children(working.plan.parent_id)
            ]
            self._finish(working, "failed")
        for command in commands:
            self._vet_and_send(working, command)
        self._reschedule(working)
        if strategy.finished and working.finished_ns is None:
            self._finish(working, strategy.outcome)

    def _tell_late_fill(self, working: WorkingParent, fill: ChildFilled) -> None:
        """A fill after the parent finished (a cancel that lost the race): the strategy may note it, not act."""
        try:
            ignored = working.strategy.on_event(fill, self.view)
        except Exception:
            log.exception("strategy failed on a late fill", parent=working.plan.parent_id)
            return
        if ignored:
            log.warning("a finished strategy asked for commands; ignored", parent=working.plan.parent_id)

    def _finish(self, working: WorkingParent, outcome: str) -> None:
        now = self._clock.now_ns()
        working.finished_ns = now
        for handle in (working.timer, working.deadline_timer):
            if handle is not None:
                handle.cancel()
        plan = working.plan
        if all(other.finished_ns is not None for other in self.parents.values()):
            for subscription in self._market_subscriptions:
                self._bus.unsubscribe(subscription)
            self._market_subscriptions = []
        self._bus.publish(
            ParentFinished(ts_event_ns=now, ts_recv_ns=now, parent_id=plan.parent_id, symbol=plan.symbol, state=outcome)
        )

    def _reschedule(self, working: WorkingParent) -> None:
        wanted = working.strategy.wakeup_at_ns
        if wanted == working.timer_at_ns:
            return
        if working.timer is not None:
            working.timer.cancel()
            working.timer = None
        working.timer_at_ns = wanted
        if wanted is not None:
            working.timer = self._clock.call_at(wanted, partial(self._wake, working.plan.parent_id, wanted))

    # -- checks ------------------------------------------------------------------------------
    def _vet_and_send(self, working: WorkingParent, command: Command) -> None:
        if isinstance(command, SubmitOrder):
            problem = self._submit_problem(working, command)
            if problem is not None:
                working.denied += 1
                now = self._clock.now_ns()
                self._bus.publish(
                    ChildDenied(  # to the strategy that sent it, whatever parent the command named
                        ts_event_ns=now,
                        ts_recv_ns=now,
                        client_order_id=command.client_order_id,
                        parent_id=working.plan.parent_id,
                        symbol=command.symbol,
                        reason=problem,
                    )
                )
                return
            self._tracker.register(command, self._clock.now_ns())
            working.children.append(command.client_order_id)
        elif isinstance(command, CancelOrder | AmendOrder):
            child = self._tracker.get(command.client_order_id)
            if child is None or child.parent_id != working.plan.parent_id or not child.is_open:
                return  # nothing to cancel/amend (already done, or not this parent's)
            if isinstance(command, AmendOrder) and (problem := self._amend_problem(working, child, command)):
                log.warning(
                    "amend refused",
                    parent=working.plan.parent_id,
                    child=child.client_order_id,
                    reason=problem,
                )
                return
        elif isinstance(command, CancelAllOrders):
            for child in self._tracker.open_children(working.plan.parent_id):
                self._send(
                    CancelOrder(client_order_id=child.client_order_id, symbol=child.symbol, reason=command.reason)
                )
            return
        self._send(command)

    def _submit_problem(self, working: WorkingParent, order: SubmitOrder) -> str | None:
        plan = working.plan
        committed = working.filled_lots + sum(c.leaves_lots for c in self._tracker.open_children(plan.parent_id))
        return child_problem(plan, order, self._tracker, self._books.book(plan.symbol), committed)

    def _amend_problem(self, working: WorkingParent, child: ChildOrder, amend: AmendOrder) -> str | None:
        plan = working.plan
        if amend.price_ticks is not None and (
            not plan.within_band(amend.price_ticks) or amend.price_ticks % plan.instrument.price_step_ticks
        ):
            return "amended price outside the band or off the tick grid"
        if amend.qty_lots is not None:
            if amend.qty_lots <= child.filled_lots:
                return "amended quantity not above what is already filled"
            extra = amend.qty_lots - child.qty_lots
            committed = working.filled_lots + sum(c.leaves_lots for c in self._tracker.open_children(plan.parent_id))
            if committed + extra > plan.qty_lots:
                return "amended quantity would overcommit the parent"
        return None


def child_problem(
    plan: ParentPlan, order: SubmitOrder, tracker: OrderTracker, book: OrderBook | None, committed_lots: int
) -> str | None:
    """Why ``order`` may not leave the engine for ``plan``, or None if it may.

    ``committed_lots`` is the parent's filled quantity plus what its open children still show.
    A pure function of its arguments, so the rules can be read (and asked) apart from the desk.
    """
    instrument = plan.instrument
    px, qty = instrument.format_price, instrument.format_qty  # reasons reach the notes: the venue's units
    parsed = parse_child_id(order.client_order_id)
    if parsed is None or parsed[0] != plan.parent_id or order.parent_id != plan.parent_id:
        return f"child id {order.client_order_id} does not belong to parent {plan.parent_id}"
    if tracker.get(order.client_order_id) is not None:
        return f"child id {order.client_order_id} was already used"
    if order.symbol != plan.symbol or order.side is not plan.side:
        return "child symbol or side differs from its parent's"
    if order.order_type is not OrderType.LIMIT or order.price_ticks is None:
        return "children must be limit orders (a 'market' child is an IOC limit at the band's edge)"
    if order.qty_lots <= 0 or order.qty_lots % instrument.qty_step_lots:
        return (
            f"quantity {qty(order.qty_lots)} is not a positive multiple of the qty step {qty(instrument.qty_step_lots)}"
        )
    if order.qty_lots < instrument.min_qty_lots:
        return f"quantity {qty(order.qty_lots)} is under the venue minimum {qty(instrument.min_qty_lots)}"
    if instrument.max_qty_lots is not None and order.qty_lots > instrument.max_qty_lots:
        return f"quantity {qty(order.qty_lots)} is over the venue maximum {qty(instrument.max_qty_lots)}"
    if order.price_ticks % instrument.price_step_ticks:
        return f"price {px(order.price_ticks)} is off the tick grid {px(instrument.price_step_ticks)}"
    if not plan.within_band(order.price_ticks):
        return f"price {px(order.price_ticks)} is outside the band (worst allowed {px(plan.band_ticks)})"
    if instrument.notional(order.price_ticks, order.qty_lots) < instrument.min_notional:
        return f"notional under the venue minimum {instrument.min_notional}"
    if book is None or book.state is not BookState.SYNCED:
        return "the book is not SYNCED"
    if committed_lots + order.qty_lots > plan.qty_lots:
        return f"would commit {qty(committed_lots + order.qty_lots)} of a {qty(plan.qty_lots)} parent"
    return None


class _View:
    """The engine-backed MarketView."""

    def __init__(self, clock: Clock, books: Books, tracker: OrderTracker, tapes: dict[str, TradeTape]) -> None:
        self._clock = clock
        self._books = books
        self._tracker = tracker
        self._tapes = tapes
        self.filled_lots = tracker.filled_lots  # bound once: strategies ask on every event

    @property
    def now_ns(self) -> int:
        return self._clock.now_ns()

    def book(self, symbol: str) -> OrderBook | None:
        return self._books.book(symbol)

    def tape(self, symbol: str) -> TradeTape | None:
        return self._tapes.get(symbol)

    def child(self, client_order_id: str) -> ChildOrder | None:
        return self._tracker.get(client_order_id)

    def children(self, parent_id: str) -> list[ChildOrder]:
        return list(self._tracker.children(parent_id))

    def open_children(self, parent_id: str) -> list[ChildOrder]:
        return self._tracker.open_children(parent_id)
