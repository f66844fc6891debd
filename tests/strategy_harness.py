"""Drive one strategy as a pure state machine, with the test playing market and venue.

* ``FakeView`` is a ``MarketView``: a settable ``now_ns``, a real ``OrderBook`` loaded with
  snapshots, a real ``TradeTape``, and the children in a real ``OrderTracker``, so fills are
  booked once, never beyond a child's quantity, and statuses only move forward.
* ``Driver`` delivers events to the strategy the way the engine's bus and desk do: in order,
  run to completion (an event raised while another is delivered waits its turn), a
  ``ChildFilled`` before the status change it causes, timers only at the time the strategy
  last asked for, ``StopRequested`` at the deadline. Every command is checked as
  ``engine.desk`` checks it (band, grid, venue minimums, SYNCED book, parent overcommit); a
  refused child comes back as ``ChildDenied`` and is recorded in ``denied``.
* The test is the venue: ``ack``, ``fill``, ``cancel_ack``, ``reject``; ``fill_iocs`` fills IOC
  children against the book (level by level, never beyond their limit) and cancels their rest;
  ``confirm_cancels`` confirms the cancels the strategy asked for; ``settle`` repeats both until
  nothing changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal
from itertools import count

from engine.book import BookTransition, OrderBook
from engine.commands import CancelOrder, Command, SubmitOrder
from engine.desk import Strategy, child_problem
from engine.enums import BookState, OrderStatus, Side, TimeInForce
from engine.events import (
    BookDelta,
    BookStateChanged,
    ChildDenied,
    ChildFilled,
    Event,
    OrderFilled,
    OrderUpdated,
    ParentStarted,
    StopRequested,
    TimerFired,
    TradePrinted,
)
from engine.instrument import Instrument
from engine.orders import ChildOrder, OrderTracker
from engine.parent import ParentOrder, ParentPlan, RoutingConfig, StrategyName
from engine.tape import TradeTape
from strategies.base import BaseStrategy

__all__ = [
    "BTC",
    "STEPPED",
    "T0",
    "S",
    "FakeView",
    "Driver",
    "make_plan",
    "default_book",
    "ladder",
    "started",
]

S = 1_000_000_000
T0 = 1_700_000_000 * S  # 2023-11-14 22:13:20 UTC

BTC = Instrument(
    symbol="BTCUSDT",
    price_scale=2,
    qty_scale=3,
    price_step_ticks=10,
    qty_step_lots=1,
    min_qty_lots=1,
    max_qty_lots=100_000,
    min_notional=Decimal(5),
)
"""Tick 0.01 (orders on a 0.10 grid), lot 0.001."""

STEPPED = Instrument(
    symbol="BTCUSDT",
    price_scale=2,
    qty_scale=3,
    price_step_ticks=10,
    qty_step_lots=5,
    min_qty_lots=10,
    max_qty_lots=100_000,
    min_notional=Decimal(5),
)
"""Quantities on a 0.005 grid, at least 0.010."""

MID_BID = 9_500_000  # 95000.00
MID_ASK = 9_500_010  # 95000.10


def ladder(best: int, side: Side, sizes: list[int], step: int = 10) -> list[tuple[int, int]]:
    """Levels from ``best`` outwards, one price step apart: bids go down, asks up."""
    direction = -1 if side is Side.BUY else 1
    return [(best + direction * step * i, size) for i, size in enumerate(sizes)]


class FakeView:
    """A ``MarketView`` over one symbol: the book, the tape and the children of the test."""

    def __init__(self, instrument: Instrument = BTC, *, now_ns: int = T0) -> None:
        self.now_ns = now_ns
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.order_book = OrderBook(self.symbol, 50, instrument)
        self.trade_tape = TradeTape(self.symbol)
        self.emitted: list[Event] = []
        self.publish: Callable[[Event], None] = self.emitted.append  # the Driver's bus once it drives
        self.tracker = OrderTracker(self._instrument_of, self._emit)
        self._update_id = 0

    def _emit(self, event: Event) -> None:
        self.publish(event)

    def _instrument_of(self, symbol: str) -> Instrument | None:
        return self.instrument if symbol == self.symbol else None

    # -- MarketView --------------------------------------------------------------------------
    def book(self, symbol: str) -> OrderBook | None:
        return self.order_book if symbol == self.symbol else None

    def tape(self, symbol: str) -> TradeTape | None:
        return self.trade_tape if symbol == self.symbol else None

    def child(self, client_order_id: str) -> ChildOrder | None:
        return self.tracker.get(client_order_id)

    def children(self, parent_id: str) -> list[ChildOrder]:
        return list(self.tracker.children(parent_id))

    def open_children(self, parent_id: str) -> list[ChildOrder]:
        return self.tracker.open_children(parent_id)

    # -- market data -------------------------------------------------------------------------
    def book_message(
        self, bids: list[tuple[int, int]], asks: list[tuple[int, int]], *, snapshot: bool = True, gap: int = 0
    ) -> BookDelta:
        self._update_id += 1 + gap
        fp, fq = self.instrument.format_price, self.instrument.format_qty
        return BookDelta(
            ts_event_ns=self.now_ns,
            ts_recv_ns=self.now_ns,
            symbol=self.symbol,
            depth=50,
            is_snapshot=snapshot,
            bids=[(fp(p), fq(q)) for p, q in bids],
            asks=[(fp(p), fq(q)) for p, q in asks],
            update_id=self._update_id,
            seq=self._update_id,
        )

    def load(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> bool:
        """Apply a snapshot directly (no events): for setting up before the parent starts."""
        return self.order_book.apply(self.book_message(bids, asks))


def make_plan(
    view: FakeView,
    *,
    strategy: StrategyName = StrategyName.TWAP,
    qty: str = "1.000",
    side: Side = Side.BUY,
    parent_id: str = "P1",
    **config: object,
) -> ParentPlan:
    """A parent planned against the view's book now (it must be SYNCED and two-sided)."""
    mid = view.order_book.mid_ticks()
    assert mid is not None, "load a two-sided book first"
    parent = ParentOrder(
        parent_id=parent_id,
        symbol=view.symbol,
        side=side,
        qty=Decimal(qty),
        config=RoutingConfig(strategy=strategy, **config),  # type: ignore[arg-type]
    )
    return parent.plan(view.instrument, arrival_mid_ticks=mid, start_ns=view.now_ns)


def default_book(
    view: FakeView, *, bid: int = MID_BID, ask: int = MID_ASK, size: int = 1_000, levels: int = 10
) -> None:
    view.load(ladder(bid, Side.BUY, [size] * levels), ladder(ask, Side.SELL, [size] * levels))


class Driver:
    """Feeds one strategy its events as the engine would, and checks what it sends as the desk would."""

    def __init__(self, strategy: Strategy, view: FakeView, *, deadline_stop: bool = True) -> None:
        self.strategy = strategy
        self.view = view
        self.plan = strategy.plan
        self.deadline_stop = deadline_stop
        self.emitted: list[SubmitOrder] = []  # every child the strategy asked for
        self.submitted: list[SubmitOrder] = []  # the ones that passed the checks
        self.denied: list[tuple[SubmitOrder, str]] = []
        self.cancels: list[CancelOrder] = []
        self.log: list[tuple[int, Command]] = []
        self.seen: list[Event] = []
        self.reactions: list[tuple[Event, list[Command]]] = []  # each delivered event and what it caused
        self.filled_lots = 0
        self.finished = False
        self.outcome: str | None = None
        self.max_live = 0
        self.max_committed = 0
        self._timer_at: int | None = None  # the desk's timer_at_ns
        self._timer_armed = False  # whether that timer is still to fire
        self._deadline_done = False
        self._pending: deque[Event] = deque()
        self._delivering = False
        self._exec_ids = count(1)
        self._cancel_requested: list[str] = []
        view.publish = self.publish
        view.order_book.on_transition = self._on_transition

    # -- the bus -------------------------------------------------------------------------------
    def publish(self, event: Event) -> None:
        self._pending.append(event)
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._pending:
                self._deliver(self._pending.popleft())
        finally:
            self._delivering = False

    def _deliver(self, event: Event) -> None:
        if self.finished:
            return
        parent_id = getattr(event, "parent_id", self.plan.parent_id)
        if parent_id != self.plan.parent_id:
            return
        if isinstance(event, TimerFired) and event.ts_event_ns != self._timer_at:
            return  # a timer the strategy has since moved
        if (isinstance(event, BookDelta) and not self.strategy.wants_book) or (
            isinstance(event, TradePrinted) and not self.strategy.wants_trades
        ):
            return  # as the desk does: a strategy that says it has no use for them does not get them
        if isinstance(event, ChildFilled):
            self.filled_lots += event.qty_lots
        self.seen.append(event)
        commands = self.strategy.on_event(event, self.view)
        self.reactions.append((event, commands))
        for command in commands:
            self._vet_and_send(command)
        wanted = self.strategy.wakeup_at_ns
        if wanted != self._timer_at:  # the desk's _reschedule
            self._timer_at = wanted
            self._timer_armed = wanted is not None
        self.max_live = max(self.max_live, len(self.live()))
        self.max_committed = max(self.max_committed, self.committed())
        if self.strategy.finished:
            self.finished = True
            self.outcome = self.strategy.outcome

    def _on_transition(self, book: OrderBook, change: BookTransition) -> None:
        now = self.view.now_ns
        self.publish(
            BookStateChanged(
                ts_event_ns=now,
                ts_recv_ns=now,
                symbol=book.symbol,
                depth=book.depth,
                old=change.old,
                new=change.new,
                reason=change.reason,
            )
        )

    # -- the desk's checks -----------------------------------------------------------------------
    def _vet_and_send(self, command: Command) -> None:
        self.log.append((self.view.now_ns, command))
        if isinstance(command, SubmitOrder):
            self.emitted.append(command)
            problem = self.problem(command)
            if problem is not None:
                self.denied.append((command, problem))
                now = self.view.now_ns
                self.publish(
                    ChildDenied(
                        ts_event_ns=now,
                        ts_recv_ns=now,
                        client_order_id=command.client_order_id,
                        parent_id=self.plan.parent_id,
                        symbol=command.symbol,
                        reason=problem,
                    )
                )
                return
            self.view.tracker.register(command, self.view.now_ns)
            self.submitted.append(command)
        elif isinstance(command, CancelOrder):
            self.cancels.append(command)
            child = self.view.tracker.get(command.client_order_id)
            if child is not None and child.parent_id == self.plan.parent_id and child.is_open:
                self._cancel_requested.append(command.client_order_id)

    def committed(self) -> int:
        return self.filled_lots + sum(c.leaves_lots for c in self.view.open_children(self.plan.parent_id))

    def problem(self, order: SubmitOrder) -> str | None:
        """The desk's own rules (``engine.desk.child_problem``), on the test's state."""
        return child_problem(self.plan, order, self.view.tracker, self.view.order_book, self.committed())

    # -- time ----------------------------------------------------------------------------------
    def start(self) -> None:
        now = self.view.now_ns
        self.publish(
            ParentStarted(ts_event_ns=now, ts_recv_ns=now, parent_id=self.plan.parent_id, symbol=self.plan.symbol)
        )

    def advance_to(self, when_ns: int) -> None:
        """Move time to ``when_ns``, firing the deadline and the strategy's timer on the way."""
        for _ in range(100_000):
            deadline = None if (self._deadline_done or not self.deadline_stop) else self.plan.deadline_ns
            timer = self._timer_at if self._timer_armed else None
            due = [t for t in (deadline, timer) if t is not None and t <= when_ns]
            if not due or self.finished:
                break
            at = min(due)
            self.view.now_ns = max(self.view.now_ns, at)
            if at == deadline:  # the desk's deadline timer was set first, so it fires first at a tie
                self._deadline_done = True
                self.publish(
                    StopRequested(ts_event_ns=at, ts_recv_ns=at, parent_id=self.plan.parent_id, reason="time limit")
                )
            else:
                self._timer_armed = False
                self.publish(TimerFired(ts_event_ns=at, ts_recv_ns=at, parent_id=self.plan.parent_id))
        else:
            raise AssertionError("timers never settled")
        self.view.now_ns = max(self.view.now_ns, when_ns)

    def advance(self, seconds: float) -> None:
        self.advance_to(self.view.now_ns + int(seconds * S))

    @property
    def next_wakeup(self) -> int | None:
        return self._timer_at if self._timer_armed else None

    # -- market --------------------------------------------------------------------------------
    def book(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        """A snapshot, published if the book took it (and its state change before it)."""
        message = self.view.book_message(bids, asks)
        if self.view.order_book.apply(message):
            self.publish(message)

    def touch_book(self) -> None:
        """An empty in-sequence delta: a book event that changes nothing."""
        message = self.view.book_message([], [], snapshot=False)
        if self.view.order_book.apply(message):
            self.publish(message)

    def break_book(self) -> None:
        """A delta after a gap: the book goes RESYNCING (published as BookStateChanged)."""
        self.view.order_book.apply(self.view.book_message([], [], snapshot=False, gap=5))

    def trade(self, price_ticks: int, lots: int, taker: Side = Side.BUY) -> None:
        instrument = self.view.instrument
        now = self.view.now_ns
        trade = TradePrinted(
            ts_event_ns=now,
            ts_recv_ns=now,
            symbol=self.view.symbol,
            trade_id=f"t{next(self._exec_ids)}",
            price=instrument.price_decimal(price_ticks),
            qty=instrument.qty_decimal(lots),
            taker_side=taker,
        )
        self.view.trade_tape.add(trade)
        self.publish(trade)

    # -- the venue -----------------------------------------------------------------------------
    def children(self) -> list[ChildOrder]:
        return self.view.children(self.plan.parent_id)

    def live(self) -> list[ChildOrder]:
        return [c for c in self.children() if c.is_open and c.leaves_lots > 0]

    def _order(self, cid: str) -> ChildOrder:
        child = self.view.tracker.get(cid)
        assert child is not None, f"no child {cid}"
        return child

    def _update(self, cid: str, status: OrderStatus, *, reason: str = "") -> None:
        child = self._order(cid)
        instrument = self.view.instrument
        now = self.view.now_ns
        self.view.tracker.on_order_update(
            OrderUpdated(
                ts_event_ns=now,
                ts_recv_ns=now,
                category="linear",
                symbol=child.symbol,
                order_id=f"V{cid}",
                order_link_id=cid,
                side=child.side,
                order_type=child.order_type.value,
                time_in_force=child.time_in_force.value,
                status=status,
                price=None if child.price_ticks is None else instrument.price_decimal(child.price_ticks),
                qty=instrument.qty_decimal(child.qty_lots),
                cum_exec_qty=instrument.qty_decimal(child.filled_lots),
                reject_reason=reason,
            )
        )

    def ack(self, cid: str) -> None:
        self._update(cid, OrderStatus.NEW)

    def cancel_ack(self, cid: str) -> None:
        self._update(cid, OrderStatus.CANCELLED)

    def reject(self, cid: str, reason: str = "EC_InsufficientBalance") -> None:
        self._update(cid, OrderStatus.REJECTED, reason=reason)

    def fill(
        self, cid: str, lots: int | None = None, price_ticks: int | None = None, *, exec_id: str | None = None
    ) -> str:
        """One execution of ``lots`` (default: all that is left) at ``price_ticks`` (default: its limit)."""
        child = self._order(cid)
        lots = child.qty_lots - child.filled_lots if lots is None else lots
        price = child.price_ticks if price_ticks is None else price_ticks
        assert price is not None
        instrument = self.view.instrument
        now = self.view.now_ns
        exec_id = exec_id or f"e{next(self._exec_ids)}"
        self.view.tracker.on_fill(
            OrderFilled(
                ts_event_ns=now,
                ts_recv_ns=now,
                category="linear",
                symbol=child.symbol,
                exec_id=exec_id,
                order_id=f"V{cid}",
                order_link_id=cid,
                side=child.side,
                price=instrument.price_decimal(price),
                qty=instrument.qty_decimal(lots),
                is_maker=child.time_in_force is not TimeInForce.IOC,
                fee=Decimal(0),
            )
        )
        return exec_id

    def fill_iocs(self, *, consume: bool = True) -> bool:
        """Fill each open IOC child against the book (level by level, within its limit), cancel the rest.

        With ``consume`` the liquidity taken leaves the book, as the next public delta would show.
        """
        changed = False
        book = self.view.order_book
        for child in list(self.children()):
            if not child.is_open or child.time_in_force is not TimeInForce.IOC or child.price_ticks is None:
                continue
            changed = True
            self.ack(child.client_order_id)
            need = child.leaves_lots
            taken: list[tuple[int, int]] = []
            if book.state is BookState.SYNCED:
                opposite = book.side(child.side.opposite)
                for price, size in list(opposite.levels_within_key(opposite.sign * child.price_ticks)):
                    if need <= 0 or not child.is_open:
                        break
                    take = min(need, size)
                    self.fill(child.client_order_id, take, price)
                    taken.append((price, size - take))
                    need -= take
            if child.is_open:
                self.cancel_ack(child.client_order_id)
            if consume and taken and book.state is BookState.SYNCED:
                bids, asks = (taken, []) if child.side is Side.SELL else ([], taken)
                message = self.view.book_message(bids, asks, snapshot=False)
                if book.apply(message):
                    self.publish(message)
        return changed

    def confirm_cancels(self) -> bool:
        changed = False
        requested, self._cancel_requested = self._cancel_requested, []
        for cid in requested:
            child = self.view.tracker.get(cid)
            if child is not None and child.is_open:
                self.cancel_ack(cid)
                changed = True
        return changed

    def settle(self) -> None:
        for _ in range(200):
            if not (self.fill_iocs() | self.confirm_cancels()):
                return
        raise AssertionError("the venue never settled")

    def run(self, until_ns: int, *, step_s: float = 1.0) -> None:
        """Advance in steps to ``until_ns``, settling IOCs and cancels after each."""
        self.settle()
        while self.view.now_ns < until_ns and not self.finished:
            self.advance_to(min(until_ns, self.view.now_ns + int(step_s * S)))
            self.settle()


def started(
    strategy_cls: type[BaseStrategy],
    *,
    view: FakeView | None = None,
    seed: int = 0,
    strategy: StrategyName = StrategyName.TWAP,
    **plan_kw: object,
) -> tuple[Driver, BaseStrategy]:
    """A strategy built on a fresh default book and started."""
    if view is None:
        view = FakeView()
        default_book(view)
    plan = make_plan(view, strategy=strategy, **plan_kw)  # type: ignore[arg-type]
    instance = strategy_cls(plan, seed=seed)
    driver = Driver(instance, view)
    driver.start()
    return driver, instance
