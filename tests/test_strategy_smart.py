"""SMART: each rule (the seed's and the improved ones) picks what it should, and says why."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from engine.enums import Side, TimeInForce
from engine.events import TradePrinted
from engine.parent import StrategyName, Urgency
from strategies.base import StrategyState
from strategies.direct import Direct
from strategies.iceberg import Iceberg
from strategies.profile import VolumeProfile
from strategies.smart import MarketInputs, Smart, choose, measure
from strategies.sniper import Sniper
from strategies.twap import Twap
from strategies.vwap import Vwap
from tests.strategy_harness import BTC, MID_ASK, MID_BID, Driver, Market, S, default_book, ladder, make_plan

BASE = MarketInputs(
    instrument=BTC,
    qty_lots=1_000,
    spread_bps=Decimal(20),
    depth_lots=10_000,
    band_lots=10_000,
    volatility=0.0005,
    horizon_s=300,
    urgency=Urgency.MEDIUM,
    time_limit_s=300,
    max_slippage=Decimal("0.001"),
    visible_lots=100,
)
LARGE = replace(BASE, qty_lots=6_000, visible_lots=600)  # > half the top-10 depth


@pytest.mark.parametrize(
    ("inputs", "strategy", "rule"),
    [
        # 1. immediate: DIRECT if the band holds it all, else SNIPER (was: always DIRECT)
        (replace(BASE, urgency=Urgency.IMMEDIATE), StrategyName.DIRECT, "immediate"),
        (replace(BASE, urgency=Urgency.IMMEDIATE, band_lots=400), StrategyName.SNIPER, "immediate"),
        (replace(LARGE, urgency=Urgency.IMMEDIATE), StrategyName.DIRECT, "immediate"),
        # 2. large against depth
        (replace(LARGE, urgency=Urgency.HIGH), StrategyName.TWAP, "large/high-urgency"),
        (replace(LARGE, volatility=None), StrategyName.TWAP, "large/volatility-unknown"),
        (replace(LARGE, volatility=0.0015), StrategyName.TWAP, "large/volatile"),
        (replace(LARGE, visible_lots=100), StrategyName.TWAP, "large/short-time"),  # 60 slices need 1800 s
        (LARGE, StrategyName.ICEBERG, "large/calm"),
        (replace(LARGE, depth_lots=0, band_lots=0), StrategyName.ICEBERG, "large/calm"),
        (replace(LARGE, time_limit_s=3_600, horizon_s=3_600), StrategyName.ICEBERG, "large/calm"),
        # 3. long time limit -> VWAP, except at high urgency
        (replace(BASE, time_limit_s=301), StrategyName.VWAP, "long"),
        (replace(BASE, time_limit_s=3_600, spread_bps=Decimal(5)), StrategyName.VWAP, "long"),
        (replace(BASE, time_limit_s=3_600, urgency=Urgency.HIGH, spread_bps=Decimal(5)), StrategyName.DIRECT, "tight"),
        # 4. tight spread -> DIRECT only if the band holds the order
        (replace(BASE, spread_bps=Decimal("9.99")), StrategyName.DIRECT, "tight"),
        (replace(BASE, spread_bps=Decimal(5), band_lots=500), StrategyName.TWAP, "tight/thin-band"),
        (
            replace(BASE, spread_bps=Decimal(5), band_lots=500, urgency=Urgency.HIGH),
            StrategyName.SNIPER,
            "tight/thin-band",
        ),
        # 5. default
        (BASE, StrategyName.TWAP, "default"),
        (replace(BASE, spread_bps=None), StrategyName.TWAP, "default"),
    ],
)
def test_the_rules(inputs: MarketInputs, strategy: StrategyName, rule: str) -> None:
    choice = choose(inputs)
    assert (choice.strategy, choice.rule) == (strategy, rule)
    assert choice.reason


def test_volatility_is_judged_over_the_orders_horizon_against_the_band() -> None:
    """The same per-second volatility is calm for a wide band and volatile for a narrow one."""
    calm = replace(LARGE, volatility=0.004, max_slippage=Decimal("0.01"))
    assert choose(calm).strategy is StrategyName.ICEBERG
    assert choose(replace(calm, max_slippage=Decimal("0.002"))).strategy is StrategyName.TWAP
    capped = replace(LARGE, volatility=0.025, max_slippage=Decimal("0.5"), time_limit_s=3_600)
    assert choose(capped).rule == "large/volatile"  # the seed's 2% stays as a cap


def test_large_is_checked_before_the_spread() -> None:
    choice = choose(replace(LARGE, spread_bps=Decimal(1)))
    assert choice.strategy is StrategyName.ICEBERG


# -- measuring and delegating ------------------------------------------------------------------


def tape_trades(view: Market, prices: list[Decimal]) -> None:
    for i, price in enumerate(prices):
        ts = view.now_ns - (len(prices) - i) * S
        view.trade_tape.add(
            TradePrinted(
                ts_event_ns=ts,
                ts_recv_ns=ts,
                symbol="BTCUSDT",
                trade_id=f"h{i}",
                price=price,
                qty=Decimal("0.010"),
                taker_side=Side.BUY,
            )
        )


def chosen(strategy: Smart) -> StrategyName | None:
    return strategy.chosen  # read through a call: the strategy changes it between assertions


def smart(view: Market, profile: VolumeProfile | None = None, **kw: object) -> tuple[Driver, Smart]:
    plan = make_plan(view, strategy=StrategyName.SMART, **kw)  # type: ignore[arg-type]
    strategy = Smart(plan, seed=3, profile=profile)
    driver = Driver(strategy, view)
    driver.start()
    return driver, strategy


def test_measures_the_book_and_the_tape() -> None:
    view = Market()
    view.load(ladder(MID_BID, Side.BUY, [100] * 12), [*ladder(MID_ASK, Side.SELL, [100] * 12), (9_600_000, 999)])
    tape_trades(view, [Decimal("95000"), Decimal("95010")] * 10)
    plan = make_plan(view, strategy=StrategyName.SMART, time_limit_s=120)
    inputs = measure(plan, view)
    assert inputs is not None
    assert inputs.depth_lots == 1_000  # ten levels of 100
    assert inputs.band_lots == 1_200  # every ask up to the band; 96000 is beyond it
    assert inputs.spread_bps is not None and Decimal("0.01") < inputs.spread_bps < Decimal("0.02")
    assert inputs.volatility is not None and inputs.volatility > 0
    assert inputs.horizon_s == 120


def test_chooses_iceberg_on_a_calm_deep_market_records_why_and_delegates() -> None:
    view = Market()
    default_book(view)
    tape_trades(view, [Decimal("95000.05")] * 30)  # calm: a flat price
    driver, strategy = smart(view, qty="6.000", time_limit_s=1_800)
    assert strategy.chosen is StrategyName.ICEBERG and strategy.rule == "large/calm"
    assert "calm" in strategy.reason
    note = next(n for n in strategy.plan.notes if n.startswith("SMART chose ICEBERG because"))
    assert "qty/depth 0.60" in note and "urgency medium" in note
    assert isinstance(strategy.delegate, Iceberg)
    [child] = driver.submitted
    assert child.client_order_id == "P1-1" and child.time_in_force is TimeInForce.GTC
    assert strategy.wakeup_at_ns == strategy.plan.deadline_ns  # mirrored from the iceberg
    driver.fill(child.client_order_id)
    assert strategy.filled_lots == child.qty_lots
    assert len(driver.submitted) == 2  # the iceberg refilled; events reach the delegate


def test_smart_and_its_delegate_read_one_filled_count_even_after_they_finished() -> None:
    """No mirror to fall behind: a late fill after the iceberg stopped counts for both."""
    view = Market()
    default_book(view)
    tape_trades(view, [Decimal("95000.05")] * 30)
    driver, strategy = smart(view, qty="6.000", time_limit_s=1_800)
    [child] = driver.submitted
    driver.advance_to(strategy.plan.deadline_ns)
    driver.confirm_cancels()
    assert driver.finished and driver.outcome == "unfilled"
    driver.fill(child.client_order_id)  # the cancel lost the race
    delegate = strategy.delegate
    assert delegate is not None
    assert strategy.filled_lots == delegate.filled_lots == child.qty_lots
    assert strategy.outcome == delegate.outcome == "partially filled"


def test_chooses_twap_for_a_large_order_on_a_volatile_market() -> None:
    view = Market()
    default_book(view)
    tape_trades(view, [Decimal("95000"), Decimal("95400")] * 15)
    _, strategy = smart(view, qty="6.000", time_limit_s=1_800)
    assert strategy.chosen is StrategyName.TWAP and strategy.rule == "large/volatile"
    assert isinstance(strategy.delegate, Twap)


def test_chooses_direct_when_immediate_and_the_band_holds_it_then_finishes_with_it() -> None:
    view = Market()
    default_book(view)
    driver, strategy = smart(view, qty="1.000", urgency=Urgency.IMMEDIATE)
    assert strategy.chosen is StrategyName.DIRECT
    assert isinstance(strategy.delegate, Direct)
    driver.settle()
    assert strategy.finished and driver.outcome == "filled"
    assert strategy.state is StrategyState.DONE


def test_immediate_with_a_thin_band_snipes_instead_of_direct() -> None:
    view = Market()
    view.load(ladder(MID_BID, Side.BUY, [1_000]), [(MID_ASK, 200), (9_600_000, 10_000)])
    _, strategy = smart(view, qty="1.000", urgency=Urgency.IMMEDIATE)
    assert strategy.chosen is StrategyName.SNIPER
    assert isinstance(strategy.delegate, Sniper)
    assert "DIRECT would fill part" in strategy.reason


def test_vwap_gets_the_profile() -> None:
    view = Market()
    default_book(view)
    profile = VolumeProfile([1.0] * 96, source="flat test profile")
    _, strategy = smart(view, profile=profile, qty="1.000", time_limit_s=900)
    assert strategy.chosen is StrategyName.VWAP
    assert isinstance(strategy.delegate, Vwap) and strategy.delegate.given_profile is profile
    assert any("flat test profile" in note for note in strategy.plan.notes)


def test_vwap_without_a_profile_says_it_will_use_the_u_shape() -> None:
    view = Market()
    default_book(view)
    _, strategy = smart(view, qty="1.000", time_limit_s=900)
    assert any("VWAP will use the U-shape" in note for note in strategy.plan.notes)


def test_waits_for_a_synced_book_before_choosing() -> None:
    view = Market()
    default_book(view)
    plan = make_plan(view, strategy=StrategyName.SMART, qty="1.000")
    strategy = Smart(plan)
    driver = Driver(strategy, view)
    driver.start_as_the_book_gaps()
    assert chosen(strategy) is None and driver.emitted == []
    driver.book(ladder(MID_BID, Side.BUY, [1_000] * 10), ladder(MID_ASK, Side.SELL, [1_000] * 10))
    assert chosen(strategy) is StrategyName.DIRECT and strategy.rule == "tight"
    assert len(driver.submitted) == 1


def test_a_stop_before_choosing_finishes_cleanly() -> None:
    view = Market()
    default_book(view)
    plan = make_plan(view, strategy=StrategyName.SMART, time_limit_s=10)
    strategy = Smart(plan)
    driver = Driver(strategy, view)
    driver.start_as_the_book_gaps()
    driver.advance(10)
    assert driver.finished and driver.outcome == "unfilled"
