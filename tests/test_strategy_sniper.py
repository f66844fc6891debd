"""SNIPER as a pure state machine: no resting orders; IOCs sized to the liquidity inside the band."""

from __future__ import annotations

from decimal import Decimal

from engine.enums import Side, TimeInForce
from engine.parent import StrategyName, Urgency
from strategies.sniper import Sniper
from tests.strategy_harness import MID_ASK, MID_BID, Driver, FakeView, S, ladder, started

BEYOND_BAND_ASK = 9_600_000  # 96000.00: a buy's band at this mid is 95095.00
BEYOND_BAND_BID = 9_400_000


def sniper(
    asks: list[tuple[int, int]], bids: list[tuple[int, int]] | None = None, **kw: object
) -> tuple[Driver, Sniper]:
    view = FakeView()
    view.load(bids if bids is not None else ladder(MID_BID, Side.BUY, [1_000] * 3), asks)
    driver, strategy = started(Sniper, view=view, strategy=StrategyName.SNIPER, **kw)  # type: ignore[arg-type]
    assert isinstance(strategy, Sniper)
    return driver, strategy


def test_nothing_until_min_fill_size_shows_inside_the_band() -> None:
    thin = [(MID_ASK, 40), (BEYOND_BAND_ASK, 10_000)]
    driver, strategy = sniper(thin, qty="1.000", min_fill_size=Decimal("0.050"))
    assert strategy.available_in_band(driver.view.order_book) == 40
    driver.trade(MID_ASK, 5)
    driver.touch_book()
    assert driver.emitted == []
    driver.book(ladder(MID_BID, Side.BUY, [1_000]), [(MID_ASK, 40), (MID_ASK + 10, 20), (BEYOND_BAND_ASK, 10_000)])
    [order] = driver.submitted
    assert order.time_in_force is TimeInForce.IOC
    assert order.qty_lots == 6  # 10% of the 60 in band


def test_sizes_min_of_remaining_and_rate_times_available() -> None:
    driver, _ = sniper(ladder(MID_ASK, Side.SELL, [500, 500]), qty="1.000", participation_rate=Decimal("0.25"))
    assert driver.submitted[0].qty_lots == 250
    small, _ = sniper(ladder(MID_ASK, Side.SELL, [500, 500]), qty="0.100", participation_rate=Decimal("0.25"))
    assert small.submitted[0].qty_lots == 100


def test_prices_at_the_worst_level_needed_and_never_beyond_the_band() -> None:
    asks = [*ladder(MID_ASK, Side.SELL, [20, 20, 20]), (BEYOND_BAND_ASK, 10_000)]
    driver, strategy = sniper(asks, qty="1.000", participation_rate=Decimal("0.5"))
    [order] = driver.submitted
    assert order.qty_lots == 30  # half of the 60 in band; the 10000 beyond it does not count
    assert order.price_ticks == MID_ASK + 10  # the second level is the worst one needed
    assert order.price_ticks <= strategy.plan.band_ticks


def test_a_sell_looks_at_the_bids() -> None:
    bids = [*ladder(MID_BID, Side.BUY, [100, 100]), (BEYOND_BAND_BID, 10_000)]
    driver, _ = sniper(ladder(MID_ASK, Side.SELL, [1_000]), bids=bids, side=Side.SELL, qty="1.000")
    [order] = driver.submitted
    assert (order.qty_lots, order.price_ticks) == (20, MID_BID)


def test_one_ioc_in_flight_at_a_time_then_again_on_the_next_event() -> None:
    driver, _ = sniper(ladder(MID_ASK, Side.SELL, [1_000] * 3), qty="1.000")
    assert len(driver.submitted) == 1
    driver.trade(MID_ASK, 10)
    driver.touch_book()
    assert len(driver.submitted) == 1
    driver.settle()  # the IOC fills, the book shows less, and the next shot goes at once
    assert len(driver.submitted) > 1
    assert all(o.time_in_force is TimeInForce.IOC for o in driver.submitted)
    assert driver.max_live <= 1


def test_no_shot_while_the_book_resyncs() -> None:
    driver, _ = sniper([(MID_ASK, 10)], qty="1.000", min_fill_size=Decimal("0.100"))
    driver.break_book()
    driver.trade(MID_ASK, 50)
    assert driver.emitted == []
    driver.book(ladder(MID_BID, Side.BUY, [100]), ladder(MID_ASK, Side.SELL, [1_000]))
    assert len(driver.submitted) == 1
    assert driver.denied == []


def test_the_remainder_is_finished_with_a_band_capped_ioc_before_the_deadline() -> None:
    driver, strategy = sniper([(MID_ASK, 5), (BEYOND_BAND_ASK, 10_000)], qty="1.000", time_limit_s=60)
    assert driver.emitted == []  # 10% of the 5 lots in band is under one lot
    assert strategy.finish_at_ns == strategy.plan.deadline_ns - 5 * S
    driver.advance_to(strategy.finish_at_ns)
    final = driver.submitted[-1]
    assert final.time_in_force is TimeInForce.IOC and final.price_ticks == strategy.plan.band_ticks
    assert final.qty_lots == strategy.remaining_lots
    driver.settle()
    assert driver.finished and driver.outcome == "partially filled"
    assert any("beyond the band" in note for note in strategy.plan.notes)


def test_low_urgency_reports_the_remainder_unfilled_at_the_deadline() -> None:
    driver, strategy = sniper([(BEYOND_BAND_ASK, 10_000)], qty="1.000", time_limit_s=60, urgency=Urgency.LOW)
    driver.run(strategy.plan.deadline_ns, step_s=5)
    assert driver.emitted == []
    assert driver.finished and driver.outcome == "unfilled"
    assert any("low urgency: no finishing IOC" in note for note in strategy.plan.notes)
