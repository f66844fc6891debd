"""The desk: every child a strategy emits is checked before it leaves the engine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.clock import NS_PER_S, SimClock
from engine.commands import CancelOrder, Command, ResyncBook, SubmitOrder
from engine.desk import StrategySummary
from engine.engine import Engine
from engine.enums import BookState, OrderStatus, OrderType, Side, TimeInForce
from engine.errors import ConfigError
from engine.events import (
    BookDelta,
    ChildDenied,
    ChildFilled,
    Event,
    OrderFilled,
    ParentFinished,
    ParentStarted,
    StopRequested,
    TimerFired,
)
from engine.instrument import Instrument
from engine.parent import ParentOrder, ParentPlan, RoutingConfig, StrategyName

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


class Scripted:
    """A strategy that emits whatever the test queued, and records what it was told."""

    def __init__(self, plan: ParentPlan) -> None:
        self.plan = plan
        self.wakeup_at_ns: int | None = None
        self.queue: list[Command] = []
        self.seen: list[Event] = []
        self.done = False
        self.wants_book = True
        self.wants_trades = True

    @property
    def finished(self) -> bool:
        return self.done

    @property
    def outcome(self) -> str:
        return "test"

    def on_event(self, event: Event, view: object) -> list[Command]:
        self.seen.append(event)
        commands, self.queue = self.queue, []
        return commands

    def summary(self) -> StrategySummary:
        return StrategySummary(strategy_used="scripted", reason="the test scripts it")


def snapshot(u: int = 1, ts: int = 0) -> BookDelta:
    return BookDelta(
        ts_event_ns=ts,
        ts_recv_ns=ts,
        symbol="BTCUSDT",
        depth=50,
        is_snapshot=True,
        bids=[("95000.00", "1.000"), ("94999.90", "2.000")],
        asks=[("95000.10", "1.000"), ("95000.20", "2.000")],
        update_id=u,
        seq=u,
    )


def started(qty: str = "0.050", side: Side = Side.BUY, **config: object) -> tuple[Engine, Scripted, SimClock]:
    clock = SimClock(1_000)
    engine = Engine(clock, instruments={"BTCUSDT": BTC})
    engine.handle(snapshot(ts=1_000))
    parent = ParentOrder(
        parent_id="P1",
        symbol="BTCUSDT",
        side=side,
        qty=Decimal(qty),
        config=RoutingConfig(strategy=StrategyName.DIRECT, max_slippage=Decimal("0.001"), time_limit_s=60, **config),  # type: ignore[arg-type]
    )
    holder: list[Scripted] = []

    def factory(plan: ParentPlan) -> Scripted:
        holder.append(Scripted(plan))
        return holder[0]

    engine.start_parent(parent, factory)
    return engine, holder[0], clock


def child(seq: int, qty: int, price: int, *, parent: str = "P1", side: Side = Side.BUY, **kw: object) -> SubmitOrder:
    return SubmitOrder(
        client_order_id=f"{parent}-{seq}",
        parent_id=parent,
        symbol="BTCUSDT",
        side=side,
        order_type=kw.pop("order_type", OrderType.LIMIT),  # type: ignore[arg-type]
        qty_lots=qty,
        price_ticks=price,
        time_in_force=TimeInForce.IOC,
        **kw,  # type: ignore[arg-type]
    )


def emit(engine: Engine, strategy: Scripted, *commands: Command) -> list[Event]:
    """Queue commands on the strategy and wake it with an empty in-sequence book delta."""
    strategy.queue = list(commands)
    book = engine.books.book("BTCUSDT")
    assert book is not None
    u = book.last_update_id + 1
    now = engine.clock.now_ns()
    engine.handle(
        BookDelta(
            ts_event_ns=now, ts_recv_ns=now, symbol="BTCUSDT", depth=50, is_snapshot=False,
            bids=[], asks=[], update_id=u, seq=u,
        )
    )  # fmt: skip
    return strategy.seen


def denials(strategy: Scripted) -> list[str]:
    return [e.reason for e in strategy.seen if isinstance(e, ChildDenied)]


def test_the_band_is_the_arrival_mid_moved_by_max_slippage_rounded_to_the_grid() -> None:
    """Buy: mid 95000.05 * 1.001 = 95095.05005 -> floor to a 0.10 tick = 95095.00."""
    _engine, strategy, _ = started()
    assert strategy.plan.arrival_mid_ticks == Decimal("9500005")
    assert strategy.plan.band_ticks == 9509500
    assert isinstance(strategy.seen[0], ParentStarted)


def test_a_good_child_is_registered_and_sent() -> None:
    """Inside the band, on the grid, within the parent: it goes to the outbox and the tracker."""
    engine, strategy, _ = started()
    emit(engine, strategy, child(1, 10, 9500010))
    assert [type(c) for c in engine.commands_to_send()] == [SubmitOrder]
    order = engine.orders.get("P1-1")
    assert order is not None and order.status is OrderStatus.SENT
    assert denials(strategy) == []


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (child(1, 10, 9509510), "price 95095.10 is outside the band (worst allowed 95095.00)"),
        (child(1, 10, 9500015), "price 95000.15 is off the tick grid 0.10"),
        (child(1, 0, 9500010), "not a positive multiple"),
        (child(1, 10, 9500010, order_type=OrderType.MARKET), "children must be limit orders"),
        (child(1, 10, 9500010, parent="P2"), "does not belong to parent"),
        (child(1, 10, 9500010, side=Side.SELL), "side differs"),
        (child(1, 51, 9500010), "would commit 0.051 of a 0.050 parent"),
        (child(1, 200_000, 9500010), "over the venue maximum"),
    ],
)
def test_bad_children_are_denied_with_a_reason(command: SubmitOrder, reason: str) -> None:
    """Each rule refuses the child, tells the strategy why, and sends nothing."""
    engine, strategy, _ = started()
    emit(engine, strategy, command)
    assert engine.commands_to_send() == []
    assert len(denials(strategy)) == 1 and reason in denials(strategy)[0]
    assert engine.orders.get(command.client_order_id) is None


def test_min_notional_is_enforced() -> None:
    """0.0001 BTC at 95,000 is 9.5 USDT: with a 10 USDT minimum the child is denied."""
    clock = SimClock(0)
    tiny = Instrument(symbol="BTCUSDT", price_scale=2, qty_scale=4, price_step_ticks=10, min_notional=Decimal(10))
    engine = Engine(clock, instruments={"BTCUSDT": tiny})
    engine.handle(snapshot())
    holder: list[Scripted] = []
    parent = ParentOrder(
        parent_id="P1", symbol="BTCUSDT", side=Side.BUY, qty=Decimal("0.01"),
        config=RoutingConfig(strategy=StrategyName.DIRECT),
    )  # fmt: skip
    engine.start_parent(parent, lambda plan: holder.append(Scripted(plan)) or holder[0])  # type: ignore[func-returns-value]
    emit(engine, holder[0], child(1, 1, 9500010))
    assert "notional" in denials(holder[0])[0]


def test_open_children_count_against_the_parent() -> None:
    """30 lots resting + 30 more would exceed a 50-lot parent: the second child is denied."""
    engine, strategy, _ = started()
    emit(engine, strategy, child(1, 30, 9500010), child(2, 30, 9500010))
    assert [c.client_order_id for c in engine.commands_to_send() if isinstance(c, SubmitOrder)] == ["P1-1"]
    assert "would commit 0.060 of a 0.050 parent" in denials(strategy)[0]


def test_nothing_goes_out_while_the_book_is_not_synced() -> None:
    """After a gap the book is RESYNCING and children are denied until a snapshot arrives."""
    engine, strategy, _ = started()
    gap = BookDelta(
        ts_event_ns=2_000, ts_recv_ns=2_000, symbol="BTCUSDT", depth=50, is_snapshot=False,
        bids=[], asks=[], update_id=5, seq=5,
    )  # fmt: skip
    strategy.queue = [child(1, 10, 9500010)]  # sent when it hears the book went RESYNCING
    engine.handle(gap)
    book = engine.books.book("BTCUSDT")
    assert book is not None and book.state is BookState.RESYNCING
    assert "not SYNCED" in denials(strategy)[0]
    assert [type(c) for c in engine.commands_to_send()] == [ResyncBook]  # and no child


def test_a_duplicate_child_id_is_denied() -> None:
    """Reusing a child id would confuse the venue's idempotency: denied."""
    engine, strategy, _ = started()
    emit(engine, strategy, child(1, 10, 9500010))
    emit(engine, strategy, child(1, 10, 9500010))
    assert "already used" in denials(strategy)[0]


def test_cancels_only_reach_the_venue_for_open_children_of_the_parent() -> None:
    """Cancelling an unknown or finished child sends nothing."""
    engine, strategy, _ = started()
    emit(engine, strategy, child(1, 10, 9500010))
    engine.commands_to_send()
    emit(engine, strategy, CancelOrder(client_order_id="P1-9", symbol="BTCUSDT"))
    assert engine.commands_to_send() == []
    emit(engine, strategy, CancelOrder(client_order_id="P1-1", symbol="BTCUSDT"))
    assert [type(c) for c in engine.commands_to_send()] == [CancelOrder]


def test_fills_reach_the_strategy_and_free_parent_quantity() -> None:
    """A fill of 30 lots lets a further 20-lot child through on a 50-lot parent."""
    engine, strategy, _ = started()
    emit(engine, strategy, child(1, 30, 9500010))
    engine.commands_to_send()
    engine.handle(
        OrderFilled(
            ts_event_ns=2_000, ts_recv_ns=2_000, category="linear", symbol="BTCUSDT", exec_id="e1", order_id="V1",
            order_link_id="P1-1", side=Side.BUY, price=Decimal("95000.10"), qty=Decimal("0.030"), is_maker=False,
        )
    )  # fmt: skip
    emit(engine, strategy, child(2, 20, 9500010))
    assert [c.client_order_id for c in engine.commands_to_send() if isinstance(c, SubmitOrder)] == ["P1-2"]


def test_the_desk_reads_the_filled_quantity_from_the_tracker_even_after_the_parent_finished() -> None:
    """A fill that lost the race with the end of its parent still counts: one count, the tracker's."""
    engine, strategy, _ = started()
    emit(engine, strategy, child(1, 30, 9500010))
    engine.commands_to_send()
    strategy.done = True
    emit(engine, strategy)
    working = engine.desk.parents["P1"]
    assert working.finished_ns is not None
    engine.handle(
        OrderFilled(
            ts_event_ns=2_000, ts_recv_ns=2_000, category="linear", symbol="BTCUSDT", exec_id="e1", order_id="V1",
            order_link_id="P1-1", side=Side.BUY, price=Decimal("95000.10"), qty=Decimal("0.030"), is_maker=False,
        )
    )  # fmt: skip
    assert working.filled_lots == engine.desk.view.filled_lots("P1") == engine.orders.filled_lots("P1") == 30


def test_a_finished_strategy_hears_of_a_late_fill_but_cannot_act_on_it() -> None:
    """So its notes can say the outcome changed; whatever it returns is not sent."""
    engine, strategy, _ = started()
    emit(engine, strategy, child(1, 30, 9500010))
    engine.commands_to_send()
    strategy.done = True
    emit(engine, strategy)
    strategy.queue = [child(2, 10, 9500010)]
    engine.handle(
        OrderFilled(
            ts_event_ns=2_000, ts_recv_ns=2_000, category="linear", symbol="BTCUSDT", exec_id="e1", order_id="V1",
            order_link_id="P1-1", side=Side.BUY, price=Decimal("95000.10"), qty=Decimal("0.030"), is_maker=False,
        )
    )  # fmt: skip
    assert isinstance(strategy.seen[-1], ChildFilled) and strategy.seen[-1].qty_lots == 30
    assert engine.commands_to_send() == [] and engine.orders.get("P1-2") is None


def test_the_deadline_sends_stop_requested() -> None:
    """At start + time_limit the strategy is told to stop if it has not finished."""
    _engine, strategy, clock = started()
    clock.advance_to(1_000 + 60 * NS_PER_S)
    assert any(isinstance(e, StopRequested) and e.reason == "time limit" for e in strategy.seen)


def test_timers_follow_wakeup_at_ns() -> None:
    """The desk keeps one timer at the strategy's wakeup_at_ns and delivers TimerFired then."""
    engine, strategy, clock = started()
    strategy.wakeup_at_ns = 5 * NS_PER_S
    emit(engine, strategy)
    clock.advance_to(5 * NS_PER_S)
    fired = [e for e in strategy.seen if isinstance(e, TimerFired) and e.ts_event_ns == 5 * NS_PER_S]
    assert len(fired) == 1


def test_finishing_publishes_parent_finished() -> None:
    """When the strategy says it is finished the desk publishes ParentFinished with its outcome."""
    engine, strategy, _ = started()
    finished: list[ParentFinished] = []
    engine.bus.subscribe(ParentFinished, finished.append)
    strategy.done = True
    emit(engine, strategy)
    assert [(f.parent_id, f.state) for f in finished] == [("P1", "test")]


def test_starting_needs_a_synced_two_sided_book_and_a_fresh_id() -> None:
    """No book, or a reused parent id, is a clear ConfigError."""
    engine = Engine(SimClock(0), instruments={"BTCUSDT": BTC})
    parent = ParentOrder(
        parent_id="P1", symbol="BTCUSDT", side=Side.BUY, qty=Decimal("0.010"),
        config=RoutingConfig(strategy=StrategyName.DIRECT),
    )  # fmt: skip
    with pytest.raises(ConfigError, match="no synced book"):
        engine.start_parent(parent, Scripted)
    engine.handle(snapshot())
    engine.start_parent(parent, Scripted)
    with pytest.raises(ConfigError, match="already in use"):
        engine.start_parent(parent, Scripted)


@pytest.mark.parametrize(
    ("qty", "message"),
    [("0.0005", "finer than"), ("0.0000", "positive")],
)
def test_parent_quantity_is_validated(qty: str, message: str) -> None:
    """Quantities off the lot grid or not positive are refused with a clear message."""
    engine = Engine(SimClock(0), instruments={"BTCUSDT": BTC})
    engine.handle(snapshot())
    with pytest.raises(ConfigError, match=message):
        parent = ParentOrder(
            parent_id="P1", symbol="BTCUSDT", side=Side.BUY, qty=Decimal(qty),
            config=RoutingConfig(strategy=StrategyName.DIRECT),
        )  # fmt: skip
        engine.start_parent(parent, Scripted)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("participation_rate", Decimal("1.5"), "participation_rate must be in"),
        ("participation_rate", Decimal(0), "participation_rate must be in"),
        ("time_limit_s", -1, "time_limit_s must be >= 0"),
        ("max_slippage", Decimal("-0.1"), "max_slippage"),
        ("limit_price", Decimal(0), "limit_price must be positive"),
        ("strategy", "nope", "unknown strategy"),
        ("max_slippage", 0.001, "must be a Decimal"),
    ],
)
def test_routing_config_is_validated(field: str, value: object, message: str) -> None:
    """Bad routing parameters raise ConfigError naming the field."""
    kwargs: dict[str, object] = {"strategy": StrategyName.TWAP, field: value}
    with pytest.raises(ConfigError, match=message):
        RoutingConfig(**kwargs)  # type: ignore[arg-type]


def test_sell_band_rounds_up() -> None:
    """Sell: mid 95000.05 * 0.999 = 94905.04995 -> ceil to a 0.10 tick = 94905.10."""
    _, strategy, _ = started(side=Side.SELL)
    assert strategy.plan.band_ticks == 9490510
    assert strategy.plan.within_band(9490510) and not strategy.plan.within_band(9490500)


def test_limit_price_tightens_the_band() -> None:
    """A buy limit below the slippage cap becomes the band edge."""
    _, strategy, _ = started(limit_price=Decimal("95001.05"))
    assert strategy.plan.band_ticks == 9500100


def test_the_desk_notes_first_when_the_limit_keeps_a_parent_from_taking() -> None:
    """Live and backtest alike: a buy limit below the best bid is called out before the strategy speaks."""
    _, strategy, _ = started(limit_price=Decimal("94000.00"))
    assert strategy.plan.notes[0].startswith("limit price 94000.00 is below the best bid 95000.00")
