"""What a trader reads: notes (and child reasons) speak the venue's units, and never contradict the outcome."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from engine.commands import CancelOrder, SubmitOrder
from engine.enums import OrderStatus, Side
from engine.parent import StrategyName, Urgency
from strategies import make_strategy
from strategies.profile import u_shape
from tests.strategy_harness import MID_ASK, MID_BID, Driver, Market, ladder, make_plan

BEYOND_BAND_ASK = 9_600_000  # 96000.00, beyond a buy's band at this mid (95095.00)
BIDS = ladder(MID_BID, Side.BUY, [1_000] * 5)
ASKS = [(MID_ASK, 300), (MID_ASK + 10, 200), (BEYOND_BAND_ASK, 10_000)]
UNIT_WORDS = re.compile(r"\b(lots?|ticks?)\b")


def raw(number: int | Decimal) -> re.Pattern[str]:
    """``number`` written as a bare integer token (not part of a decimal like 1.234 or of 120s)."""
    return re.compile(rf"(?<![\w.]){number}(?![\w.])")


def awkward_run(name: StrategyName, urgency: Urgency) -> tuple[Driver, list[str]]:
    """A run that makes a strategy say most of what it can: trades, a reject, a resync, a late fill, the end."""
    view = Market()
    view.load(BIDS, ASKS)
    plan = make_plan(view, strategy=name, qty="1.234", urgency=urgency, time_limit_s=120)
    driver = Driver(make_strategy(plan, seed=1, profile=u_shape()), view)
    driver.start()
    driver.trade(MID_ASK, 2_000)
    driver.settle()
    driver.advance(20)
    if driver.live():
        driver.reject(driver.live()[-1].client_order_id)
    driver.break_book()
    driver.advance(20)
    driver.book(BIDS, ASKS)
    driver.trade(MID_ASK, 3_000)
    driver.settle()
    for child in driver.children():
        if child.status is OrderStatus.CANCELLED and child.filled_lots < child.qty_lots:
            driver.fill(child.client_order_id)  # a cancel that lost the race
            break
    driver.run(plan.deadline_ns, step_s=5)
    reasons = [c.reason for _, c in driver.log if isinstance(c, SubmitOrder | CancelOrder)]
    return driver, [*plan.notes, *reasons]


@pytest.mark.parametrize(
    "name", [StrategyName.DIRECT, StrategyName.TWAP, StrategyName.VWAP, StrategyName.ICEBERG, StrategyName.POV]
)
@pytest.mark.parametrize("urgency", [Urgency.LOW, Urgency.HIGH])
def test_notes_write_prices_and_sizes_as_the_venue_does(name: StrategyName, urgency: Urgency) -> None:
    driver, texts = awkward_run(name, urgency)
    plan = driver.plan
    assert driver.finished and len(plan.notes) >= 2
    numbers = {plan.band_ticks, plan.qty_lots, int(plan.arrival_mid_ticks), MID_BID, MID_ASK, BEYOND_BAND_ASK}
    numbers |= {c.price_ticks for c in driver.submitted if c.price_ticks is not None}
    numbers |= {c.qty_lots for c in driver.submitted if c.qty_lots >= 100}
    for text in texts:
        assert not UNIT_WORDS.search(text), text
        for number in numbers:
            assert not raw(number).search(text), (number, text)


def test_direct_names_the_band_as_the_venue_writes_it() -> None:
    driver, _ = awkward_run(StrategyName.DIRECT, Urgency.MEDIUM)
    plan = driver.plan
    [note] = [n for n in plan.notes if n.startswith("direct:")]
    assert note == "direct: one IOC at the band edge 95095.00 for 1.234"
    assert plan.instrument.format_price(plan.band_ticks) == "95095.00"


def test_smart_writes_its_inputs_and_reasons_in_the_venues_units() -> None:
    view = Market()
    view.load(BIDS, [(MID_ASK, 300), (BEYOND_BAND_ASK, 10_000)])
    plan = make_plan(view, strategy=StrategyName.SMART, qty="1.234", urgency=Urgency.IMMEDIATE)
    driver = Driver(make_strategy(plan), view)
    driver.start()
    [chose] = [n for n in plan.notes if n.startswith("SMART chose")]
    assert "the band holds only 0.300 of 1.234" in chose
    assert "qty 1.234, spread" in chose and "in band 0.300" in chose and "depth 10.300" in chose
    assert not UNIT_WORDS.search(chose)
