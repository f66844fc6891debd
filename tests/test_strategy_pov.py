"""POV as a pure state machine: fills track participation_rate x market volume within a tolerance."""

from __future__ import annotations

import random
from decimal import Decimal

from engine.enums import Side, TimeInForce
from engine.events import TradePrinted
from engine.parent import StrategyName, Urgency
from strategies.pov import Pov
from tests.strategy_harness import MID_ASK, MID_BID, Driver, Market, default_book, ladder, make_plan, started


def pov(**kw: object) -> tuple[Driver, Pov]:
    driver, strategy = started(Pov, strategy=StrategyName.POV, **kw)  # type: ignore[arg-type]
    assert isinstance(strategy, Pov)
    return driver, strategy


def test_nothing_before_the_market_trades() -> None:
    driver, strategy = pov(qty="1.000")
    driver.touch_book()
    assert driver.emitted == []
    assert strategy.target_lots(driver.view) == 0


def test_volume_before_the_start_does_not_count() -> None:
    view = Market()
    default_book(view)
    view.trade_tape.add(
        TradePrinted(
            ts_event_ns=view.now_ns,
            ts_recv_ns=view.now_ns,
            symbol="BTCUSDT",
            trade_id="before",
            price=Decimal("95000"),
            qty=Decimal("50"),
            taker_side=Side.BUY,
        )
    )
    strategy = Pov(make_plan(view, strategy=StrategyName.POV))
    driver = Driver(strategy, view)
    driver.start()
    assert strategy.target_lots(view) == 0 and driver.emitted == []


def test_catches_up_with_an_ioc_for_exactly_the_shortfall() -> None:
    driver, strategy = pov(qty="10.000", participation_rate=Decimal("0.2"))
    driver.trade(MID_ASK, 500)
    [order] = driver.submitted
    assert order.qty_lots == 100  # 20% of 500
    assert order.time_in_force is TimeInForce.IOC and order.price_ticks == strategy.plan.band_ticks


def test_waits_within_the_tolerance() -> None:
    driver, strategy = pov(qty="10.000", participation_rate=Decimal("0.1"))
    driver.trade(MID_ASK, 1_000)
    driver.settle()
    assert driver.filled_lots == 100
    driver.trade(MID_ASK, 50)  # target 105: 5 behind, tolerance max(1, 5% of 105 = 6)
    assert len(driver.submitted) == 1
    driver.trade(MID_ASK, 100)  # target 115: 15 behind
    assert driver.submitted[-1].qty_lots == 15
    assert strategy.tolerance_lots(115) == 6


def test_tracks_participation_within_tolerance_over_a_session() -> None:
    driver, strategy = pov(qty="50.000", participation_rate=Decimal("0.15"), time_limit_s=600)
    rng = random.Random(3)
    for _ in range(200):
        driver.advance(1)
        driver.trade(MID_ASK, rng.randint(1, 400))
        driver.settle()
        target = strategy.target_lots(driver.view)
        assert driver.filled_lots <= target + strategy.tolerance_lots(target)
        assert target - driver.filled_lots <= strategy.tolerance_lots(target)
    market = strategy.market_lots(driver.view)
    assert abs(driver.filled_lots / market - 0.15) < 0.01
    assert driver.denied == []


def test_low_urgency_joins_the_touch_and_reposts_when_the_market_moves_away() -> None:
    driver, strategy = pov(qty="10.000", urgency=Urgency.LOW)
    driver.trade(MID_ASK, 1_000)
    [join] = driver.submitted
    assert (join.time_in_force, join.price_ticks) == (TimeInForce.GTC, MID_BID)
    driver.book(ladder(MID_BID + 30, Side.BUY, [100]), ladder(MID_ASK + 30, Side.SELL, [100]))
    driver.trade(MID_ASK + 30, 10)
    assert [c.client_order_id for c in driver.cancels] == [join.client_order_id]
    driver.trade(MID_ASK + 30, 10)
    assert len(driver.cancels) == 1  # asked once
    driver.cancel_ack(join.client_order_id)
    assert driver.submitted[-1].price_ticks == MID_BID + 30
    assert driver.submitted[-1].qty_lots == strategy.target_lots(driver.view)


def test_no_child_while_the_book_resyncs() -> None:
    driver, _ = pov(qty="10.000")
    driver.break_book()
    driver.trade(MID_ASK, 1_000)
    assert driver.emitted == []
    driver.book(ladder(MID_BID, Side.BUY, [100]), ladder(MID_ASK, Side.SELL, [1_000]))
    assert driver.submitted[-1].qty_lots == 100


def test_finishes_with_an_ioc_before_the_deadline() -> None:
    driver, strategy = pov(qty="1.000", time_limit_s=60)
    driver.trade(MID_ASK, 100)
    driver.settle()
    assert driver.filled_lots == 10
    driver.advance_to(strategy.finish_at_ns)
    final = driver.submitted[-1]
    assert final.qty_lots == 990 and final.price_ticks == strategy.plan.band_ticks
    assert strategy.finish_at_ns < strategy.plan.deadline_ns
    driver.settle()
    assert driver.finished and driver.outcome == "filled"


def test_low_urgency_stops_at_the_deadline_and_reports_the_rest() -> None:
    driver, strategy = pov(qty="1.000", time_limit_s=60, urgency=Urgency.LOW)
    driver.run(strategy.plan.deadline_ns, step_s=10)
    assert driver.finished and driver.outcome == "unfilled"
    assert driver.emitted == []
    assert any("low urgency" in note for note in strategy.plan.notes)
