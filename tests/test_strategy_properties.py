"""Every strategy, random parents, random markets and venues: no child outside the band, no overcommit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.commands import Command, SubmitOrder
from engine.desk import MarketView
from engine.enums import Side
from engine.instrument import Instrument
from engine.parent import StrategyName, Urgency
from strategies import REGISTRY, make_strategy
from strategies.base import BaseStrategy
from strategies.profile import u_shape
from strategies.smart import Smart
from strategies.vwap import Vwap
from tests.strategy_harness import BTC, MID_ASK, MID_BID, STEPPED, Driver, Market, S, default_book, ladder, make_plan

Op = tuple[str, int]

ops = st.lists(
    st.tuples(
        st.sampled_from(["advance", "trade", "fill", "settle", "move", "resync", "ack", "cancels", "reject"]),
        st.integers(0, 1_000),
    ),
    max_size=30,
)


@st.composite
def parents(draw: st.DrawFn) -> tuple[Instrument, dict[str, object]]:
    instrument = draw(st.sampled_from([BTC, STEPPED]))
    step = instrument.qty_step_lots
    lots = draw(st.integers(max(instrument.min_qty_lots, step) // step, 4_000 // step)) * step
    config: dict[str, object] = {
        "strategy": draw(st.sampled_from(list(StrategyName))),
        "side": draw(st.sampled_from([Side.BUY, Side.SELL])),
        "qty": instrument.format_qty(lots),
        "urgency": draw(st.sampled_from(list(Urgency))),
        "time_limit_s": draw(st.sampled_from([0, 30, 120, 300, 600, 1_200])),
        "max_slippage": draw(st.sampled_from([Decimal(0), Decimal("0.0002"), Decimal("0.001"), Decimal("0.01")])),
        "participation_rate": draw(st.sampled_from([Decimal("0.05"), Decimal("0.1"), Decimal("0.5"), Decimal(1)])),
    }
    if draw(st.booleans()):
        config["chunk_size"] = instrument.format_qty(draw(st.integers(1, 100)) * step * 5)
    if draw(st.booleans()):
        config["min_fill_size"] = instrument.format_qty(draw(st.integers(1, 40)) * step)
    if draw(st.booleans()):
        config["limit_price"] = instrument.format_price(MID_BID + draw(st.integers(-20, 60)) * 10)
    for key in ("chunk_size", "min_fill_size", "limit_price"):
        if key in config:
            config[key] = Decimal(str(config[key]))
    return instrument, config


def check(driver: Driver) -> None:
    plan = driver.plan
    instrument = plan.instrument
    for order in driver.emitted:
        assert order.price_ticks is not None and plan.within_band(order.price_ticks), (order, plan.band_ticks)
        assert order.price_ticks % instrument.price_step_ticks == 0
        assert order.qty_lots > 0 and order.qty_lots % instrument.qty_step_lots == 0
    assert driver.denied == [], driver.denied
    assert driver.filled_lots <= plan.qty_lots
    assert driver.max_committed <= plan.qty_lots


def play(driver: Driver, script: list[Op]) -> None:
    view = driver.view
    step = view.instrument.qty_step_lots
    shift = 0
    for op, n in script:
        if driver.finished:
            break
        if op == "advance":
            driver.advance(1 + n % 120)
        elif op == "trade":
            driver.trade(MID_ASK + shift, 1 + n)
        elif op == "fill":
            live = driver.live()
            if live:
                child = live[n % len(live)]
                lots = max(step, (child.leaves_lots * (1 + n % 4) // 4) // step * step)
                driver.fill(child.client_order_id, min(lots, child.leaves_lots))
        elif op == "settle":
            driver.settle()
        elif op == "move":
            shift = (n % 21 - 10) * 10
            sizes = [1 + (n * (i + 7)) % 900 for i in range(8)]
            driver.book(ladder(MID_BID + shift, Side.BUY, sizes), ladder(MID_ASK + shift, Side.SELL, sizes[::-1]))
        elif op == "resync":
            driver.break_book()
        elif op == "ack":
            for child in driver.live():
                driver.ack(child.client_order_id)
        elif op == "cancels":
            driver.confirm_cancels()
        elif op == "reject":
            live = driver.live()
            if live:
                driver.reject(live[n % len(live)].client_order_id)
        check(driver)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parent=parents(), script=ops, seed=st.integers(0, 10))
def test_no_child_outside_the_band_and_never_more_than_the_parent(
    parent: tuple[Instrument, dict[str, object]], script: list[Op], seed: int
) -> None:
    instrument, config = parent
    view = Market(instrument)
    default_book(view)
    plan = make_plan(view, **config)  # type: ignore[arg-type]
    strategy = make_strategy(plan, seed=seed, profile=u_shape())
    assert isinstance(strategy, BaseStrategy)
    driver = Driver(strategy, view)
    driver.start()
    check(driver)
    play(driver, script)
    if view.order_book.state.value != "SYNCED":
        driver.book(ladder(MID_BID, Side.BUY, [500] * 5), ladder(MID_ASK, Side.SELL, [500] * 5))
    driver.advance_to(plan.deadline_ns + S)
    driver.settle()
    check(driver)
    assert driver.finished, plan.notes
    assert driver.outcome in ("filled", "partially filled", "unfilled")


def test_make_strategy_builds_the_named_strategy() -> None:
    view = Market()
    default_book(view)
    profile = u_shape()
    for name, cls in REGISTRY.items():
        strategy = make_strategy(make_plan(view, strategy=name), seed=1, profile=profile)
        assert type(strategy) is cls
        if isinstance(strategy, Vwap):
            assert strategy.given_profile is profile
        if isinstance(strategy, Smart):
            assert strategy.profile is profile
    assert set(REGISTRY) == set(StrategyName)


@pytest.mark.parametrize("name", list(StrategyName))
def test_every_strategy_is_pure_given_the_seed(name: StrategyName) -> None:
    """Two runs with the same seed and the same events send the same children."""

    def run() -> list[tuple[int, str, int, int | None]]:
        view = Market()
        default_book(view)
        plan = make_plan(view, strategy=name, qty="3.000", time_limit_s=300, urgency=Urgency.HIGH)
        driver = Driver(make_strategy(plan, seed=5), view)
        driver.start()
        for i in range(40):
            driver.advance(8)
            driver.trade(MID_ASK, 50 + i)
            driver.settle()
        return [
            (at, c.client_order_id, c.qty_lots, c.price_ticks) for at, c in driver.log if isinstance(c, SubmitOrder)
        ]

    first = run()
    assert first, "nothing was sent: the comparison would prove nothing"
    assert first == run()


def test_a_strategy_that_raises_fails_the_test_instead_of_quietly_stopping_its_parent() -> None:
    """The desk logs a failing strategy and stops its parent; the harness must not hide that."""

    class Broken(BaseStrategy):
        def on_book(self, view: MarketView) -> list[Command]:
            raise RuntimeError("broken on purpose")

    view = Market()
    default_book(view)
    driver = Driver(Broken(make_plan(view)), view)
    driver.start()
    with pytest.raises(RuntimeError, match="broken on purpose"):
        driver.touch_book()
    assert driver.outcome == "failed"  # what the desk did with it
