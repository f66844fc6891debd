"""Drive one strategy through the real engine and desk, with the test playing market and venue.

Nothing of the desk is re-implemented here. ``Market`` is an ``engine.engine.Engine`` on a
``SimClock`` with one symbol: its books, trade tape, order tracker and desk are the ones live
trading and backtests use. ``Driver`` starts the parent with ``Engine.start_parent`` (the desk
plans it, vets every command, delivers events in bus order, keeps the strategy's timer and the
deadline), and only watches: the strategy the desk drives is wrapped in ``_Recorder``, which
records what was delivered and what came back, and the commands that passed the desk's checks
are taken from the engine's outbox.

The test is the venue and the market:

* market: ``book`` (a snapshot), ``touch_book`` (an empty in-sequence delta), ``break_book`` (a
  delta after a gap: RESYNCING), ``trade``; each goes through ``Engine.handle`` like a feed;
* venue: ``ack``, ``fill``, ``cancel_ack``, ``reject`` send the venue's order and execution
  reports through ``Engine.handle`` (so the tracker de-duplicates fills, refuses overfills and
  only moves statuses forward); ``fill_iocs`` fills IOC children against the book, level by
  level within their limit, and cancels their rest; ``confirm_cancels`` confirms the cancels the
  desk sent; ``settle`` repeats both until nothing changes;
* time: ``advance_to`` moves the ``SimClock``, which fires the desk's timers (the strategy's
  wake-up and the deadline) in time order.

A strategy that raises fails the test (the desk would log it and stop the parent). Books never
go STALE on silence here: tests move time in big steps without book messages.
"""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from itertools import count

from engine.book import OrderBook
from engine.clock import SimClock
from engine.commands import CancelOrder, Command, SubmitOrder
from engine.desk import MarketView, Strategy, StrategySummary, WorkingParent
from engine.engine import Engine
from engine.enums import BookState, OrderStatus, Side, TimeInForce
from engine.events import (
    BookDelta,
    ChildDenied,
    Event,
    OrderFilled,
    OrderUpdated,
    ParentFinished,
    TradePrinted,
)
from engine.instrument import Instrument
from engine.orders import ChildOrder
from engine.parent import ParentOrder, ParentPlan, RoutingConfig, StrategyName
from engine.tape import TradeTape
from strategies.base import BaseStrategy

__all__ = [
    "BTC",
    "STEPPED",
    "T0",
    "S",
    "Market",
    "FakeView",
    "Driver",
    "make_plan",
    "default_book",
    "ladder",
    "started",
]

S = 1_000_000_000
T0 = 1_700_000_000 * S  # 2023-11-14 22:13:20 UTC
DEPTH = 50
NEVER_STALE_NS = 10 * 365 * 86_400 * S  # tests jump minutes without a book message

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


class _Instant(Event, frozen=True, kw_only=True, gc=False):
    """Published by the harness to run something inside a bus delivery (see ``start_as_the_book_gaps``)."""


class Market:
    """One symbol on a real ``Engine`` and ``SimClock``; also the ``MarketView`` strategies read.

    The view methods are the desk's own view, so a strategy asked directly (``strategy.book(view)``)
    sees exactly what it sees when the desk drives it.
    """

    def __init__(self, instrument: Instrument = BTC, *, now_ns: int = T0) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.clock = SimClock(now_ns)
        self.engine = Engine(self.clock, instruments={self.symbol: instrument}, stale_after_ns=NEVER_STALE_NS)
        self.order_book = self.engine.books.open(self.symbol, DEPTH)
        self.trade_tape = self.engine.watch_trades(self.symbol)
        self.tracker = self.engine.orders
        self._desk_view: MarketView = self.engine.desk.view
        self._update_id = 0

    # -- MarketView (the desk's own) ----------------------------------------------------------
    @property
    def now_ns(self) -> int:
        return self.clock.now_ns()

    def book(self, symbol: str) -> OrderBook | None:
        return self._desk_view.book(symbol)

    def tape(self, symbol: str) -> TradeTape | None:
        return self._desk_view.tape(symbol)

    def child(self, client_order_id: str) -> ChildOrder | None:
        return self._desk_view.child(client_order_id)

    def children(self, parent_id: str) -> list[ChildOrder]:
        return self._desk_view.children(parent_id)

    def open_children(self, parent_id: str) -> list[ChildOrder]:
        return self._desk_view.open_children(parent_id)

    def filled_lots(self, parent_id: str) -> int:
        return self._desk_view.filled_lots(parent_id)

    # -- market data ----------------------------------------------------------------------------
    def book_message(
        self, bids: list[tuple[int, int]], asks: list[tuple[int, int]], *, snapshot: bool = True, gap: int = 0
    ) -> BookDelta:
        self._update_id += 1 + gap
        fp, fq = self.instrument.format_price, self.instrument.format_qty
        return BookDelta(
            ts_event_ns=self.now_ns,
            ts_recv_ns=self.now_ns,
            symbol=self.symbol,
            depth=DEPTH,
            is_snapshot=snapshot,
            bids=[(fp(p), fq(q)) for p, q in bids],
            asks=[(fp(p), fq(q)) for p, q in asks],
            update_id=self._update_id,
            seq=self._update_id,
        )

    def load(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        """A snapshot through the engine: for setting up before the parent starts."""
        self.engine.handle(self.book_message(bids, asks))


FakeView = Market
"""The name tests used before the harness drove the real desk (kept for test modules owned elsewhere)."""


def make_plan(
    view: Market,
    *,
    strategy: StrategyName = StrategyName.TWAP,
    qty: str = "1.000",
    side: Side = Side.BUY,
    parent_id: str = "P1",
    **config: object,
) -> ParentPlan:
    """A parent planned against the market's book now, exactly as the desk will plan it at start."""
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


def default_book(view: Market, *, bid: int = MID_BID, ask: int = MID_ASK, size: int = 1_000, levels: int = 10) -> None:
    view.load(ladder(bid, Side.BUY, [size] * levels), ladder(ask, Side.SELL, [size] * levels))


def _same_plan(a: ParentPlan, b: ParentPlan) -> bool:
    """Equal in everything the desk decides (the notes are the strategy's own)."""
    return all(getattr(a, f.name) == getattr(b, f.name) for f in fields(ParentPlan) if f.name != "notes")


class _Recorder:
    """The ``Strategy`` the desk drives: the strategy under test, every delivery and reaction recorded."""

    def __init__(self, strategy: Strategy, driver: Driver) -> None:
        self.strategy = strategy
        self.driver = driver

    @property
    def plan(self) -> ParentPlan:
        return self.strategy.plan

    @plan.setter
    def plan(self, plan: ParentPlan) -> None:
        raise AttributeError("the desk never replaces a strategy's plan")

    @property
    def wakeup_at_ns(self) -> int | None:
        return self.strategy.wakeup_at_ns

    @wakeup_at_ns.setter
    def wakeup_at_ns(self, when_ns: int | None) -> None:
        self.strategy.wakeup_at_ns = when_ns

    @property
    def wants_book(self) -> bool:
        return self.strategy.wants_book

    @property
    def wants_trades(self) -> bool:
        return self.strategy.wants_trades

    @property
    def finished(self) -> bool:
        return self.strategy.finished

    @property
    def outcome(self) -> str:
        return self.strategy.outcome

    def summary(self) -> StrategySummary:
        return self.strategy.summary()

    def on_event(self, event: Event, view: MarketView) -> list[Command]:
        driver = self.driver
        driver.observe()
        try:
            commands = self.strategy.on_event(event, view)
        except Exception as exc:
            driver.errors.append(exc)
            raise
        driver.record(event, commands)
        return commands


class Driver:
    """Starts one strategy on the market's desk, plays venue and market, and records what happened."""

    def __init__(self, strategy: Strategy, view: Market, *, deadline_stop: bool = True) -> None:
        self.strategy = strategy
        self.view = view
        self.engine = view.engine
        self.plan = strategy.plan
        self.deadline_stop = deadline_stop
        self.emitted: list[SubmitOrder] = []  # every child the strategy asked for
        self.submitted: list[SubmitOrder] = []  # the ones the desk let through
        self.denied: list[tuple[SubmitOrder, str]] = []  # the ones it refused, and why
        self.cancels: list[CancelOrder] = []  # cancels the desk sent to the venue
        self.log: list[tuple[int, Command]] = []  # every command the strategy returned, with the time
        self.seen: list[Event] = []  # every event the desk delivered
        self.reactions: list[tuple[Event, list[Command]]] = []  # each delivered event and what it caused
        self.errors: list[Exception] = []
        self.finished = False
        self.outcome: str | None = None
        self.max_live = 0
        self.max_committed = 0
        self._recorder = _Recorder(strategy, self)
        self._exec_ids = count(1)
        self._cancel_requested: list[str] = []
        self.engine.bus.subscribe(ParentFinished, self._on_finished)

    # -- what the desk did ---------------------------------------------------------------------
    def record(self, event: Event, commands: list[Command]) -> None:
        self.seen.append(event)
        self.reactions.append((event, commands))
        now = self.view.now_ns
        for command in commands:
            self.log.append((now, command))
            if isinstance(command, SubmitOrder):
                self.emitted.append(command)
        if isinstance(event, ChildDenied):
            denied = next((c for c in self.emitted if c.client_order_id == event.client_order_id), None)
            if denied is not None:
                self.denied.append((denied, event.reason))

    def observe(self) -> None:
        self.max_live = max(self.max_live, len(self.live()))
        self.max_committed = max(self.max_committed, self.committed())

    def _on_finished(self, event: ParentFinished) -> None:
        if event.parent_id == self.plan.parent_id:
            self.finished = True
            self.outcome = event.state

    def _drain(self) -> None:
        """Take what the desk sent; fail the test if the strategy (or any subscriber) raised."""
        if self.errors:
            raise self.errors[0]
        assert self.engine.bus.handler_errors == 0, "a bus subscriber raised (see the log)"
        for command in self.engine.commands_to_send():
            if isinstance(command, SubmitOrder):
                self.submitted.append(command)
            elif isinstance(command, CancelOrder):
                self.cancels.append(command)
                self._cancel_requested.append(command.client_order_id)
        self.observe()

    @property
    def working(self) -> WorkingParent:
        return self.engine.desk.parents[self.plan.parent_id]

    @property
    def filled_lots(self) -> int:
        """The parent's filled lots, from the order tracker (the one count)."""
        return self.engine.orders.filled_lots(self.plan.parent_id)

    def committed(self) -> int:
        return self.filled_lots + sum(c.leaves_lots for c in self.view.open_children(self.plan.parent_id))

    # -- starting --------------------------------------------------------------------------------
    def _factory(self, plan: ParentPlan) -> _Recorder:
        assert _same_plan(plan, self.plan), "the desk planned the parent differently from the test"
        return self._recorder

    def start(self) -> None:
        """The parent starts on the desk now (its book must be SYNCED, as the desk requires)."""
        self.engine.start_parent(self.plan.parent, self._factory)
        if not self.deadline_stop:
            handle = self.working.deadline_timer
            assert handle is not None
            handle.cancel()  # the strategy alone must stop itself
        self._drain()

    def start_as_the_book_gaps(self) -> None:
        """The parent starts and, in the same instant, its book gaps before the strategy hears of the start.

        Both happen inside one bus delivery, so ``ParentStarted`` reaches the strategy after the
        book went RESYNCING: the start a strategy sees on a book it cannot trade on.
        """

        def start_then_gap(_: _Instant) -> None:
            self.engine.bus.unsubscribe(subscription)
            self.engine.start_parent(self.plan.parent, self._factory)
            self.engine.handle(self.view.book_message([], [], snapshot=False, gap=5))

        subscription = self.engine.bus.subscribe(_Instant, start_then_gap)
        now = self.view.now_ns
        self.engine.bus.publish(_Instant(ts_event_ns=now, ts_recv_ns=now))
        self._drain()

    # -- time ----------------------------------------------------------------------------------
    def advance_to(self, when_ns: int) -> None:
        """Move the clock to ``when_ns``, firing the desk's timers due on the way."""
        self.view.clock.advance_to(max(when_ns, self.view.now_ns))
        self._drain()

    def advance(self, seconds: float) -> None:
        self.advance_to(self.view.now_ns + int(seconds * S))

    @property
    def next_wakeup(self) -> int | None:
        """When the desk's timer for the strategy will fire (None if none is pending)."""
        working = self.working
        timer = working.timer
        return working.timer_at_ns if timer is not None and not timer.cancelled else None

    # -- market --------------------------------------------------------------------------------
    def publish(self, event: Event) -> None:
        self.engine.bus.publish(event)
        self._drain()

    def book(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        """A snapshot (a RESYNCING book becomes SYNCED, published before the snapshot itself)."""
        self.engine.handle(self.view.book_message(bids, asks))
        self._drain()

    def touch_book(self) -> None:
        """An empty in-sequence delta: a book event that changes nothing."""
        self.engine.handle(self.view.book_message([], [], snapshot=False))
        self._drain()

    def break_book(self) -> None:
        """A delta after a gap: the book goes RESYNCING (published as BookStateChanged)."""
        self.engine.handle(self.view.book_message([], [], snapshot=False, gap=5))
        self._drain()

    def trade(self, price_ticks: int, lots: int, taker: Side = Side.BUY) -> None:
        instrument = self.view.instrument
        now = self.view.now_ns
        self.engine.handle(
            TradePrinted(
                ts_event_ns=now,
                ts_recv_ns=now,
                symbol=self.view.symbol,
                trade_id=f"t{next(self._exec_ids)}",
                price=instrument.price_decimal(price_ticks),
                qty=instrument.qty_decimal(lots),
                taker_side=taker,
            )
        )
        self._drain()

    # -- the venue -----------------------------------------------------------------------------
    def children(self) -> list[ChildOrder]:
        return self.view.children(self.plan.parent_id)

    def live(self) -> list[ChildOrder]:
        return [c for c in self.children() if c.is_open and c.leaves_lots > 0]

    def _order(self, cid: str) -> ChildOrder:
        child = self.engine.orders.get(cid)
        assert child is not None, f"no child {cid}"
        return child

    def _update(self, cid: str, status: OrderStatus, *, reason: str = "") -> None:
        child = self._order(cid)
        instrument = self.view.instrument
        now = self.view.now_ns
        self.engine.handle(
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
        self._drain()

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
        self.engine.handle(
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
        self._drain()
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
                self.engine.handle(self.view.book_message(bids, asks, snapshot=False))
                self._drain()
        return changed

    def confirm_cancels(self) -> bool:
        changed = False
        requested, self._cancel_requested = self._cancel_requested, []
        for cid in requested:
            child = self.engine.orders.get(cid)
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
    view: Market | None = None,
    seed: int = 0,
    strategy: StrategyName = StrategyName.TWAP,
    **plan_kw: object,
) -> tuple[Driver, BaseStrategy]:
    """A strategy built on a fresh default book and started on the desk."""
    if view is None:
        view = Market()
        default_book(view)
    plan = make_plan(view, strategy=strategy, **plan_kw)  # type: ignore[arg-type]
    instance = strategy_cls(plan, seed=seed)
    driver = Driver(instance, view)
    driver.start()
    return driver, instance
