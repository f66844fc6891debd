"""What a trader reads: notes (and child reasons) speak the venue's units, and never contradict the outcome."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from engine.commands import CancelOrder, SubmitOrder
from engine.enums import OrderStatus, Side
from engine.parent import ParentOrder, RoutingConfig, StrategyName, Urgency
from engine.runtime.backtest import Backtest, BacktestSettings
from feeds.replay import open_records
from strategies import make_strategy
from strategies.profile import u_shape
from tests.conftest import REPLAY_DATA
from tests.strategy_harness import MID_ASK, MID_BID, Driver, Market, ladder, make_plan

DEMO = REPLAY_DATA / "btcusdt-5min.rec.gz"

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
    qty = plan.instrument.qty_decimal
    assert_notes_agree(plan.notes, qty(driver.filled_lots), qty(plan.qty_lots), driver.strategy.outcome)


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


# -- notes agree with the outcome ---------------------------------------------------------------

UNFILLED = re.compile(r"([\d.]+) unfilled")


def assert_notes_agree(notes: list[str], filled: Decimal, target: Decimal, outcome: str) -> None:
    """No note calls more (or less) unfilled than the outcome, unless a later note corrects it after a late
    fill; the last note states the outcome."""
    corrected = [i for i, note in enumerate(notes) if note.startswith("a late fill")]
    for note in notes[corrected[-1] if corrected else 0 :]:
        for claimed in UNFILLED.findall(note):
            assert Decimal(claimed) == target - filled, (note, filled, target)
    closing = [note for note in notes if not note.startswith("warning:")][-1]  # the TCA's warnings come last
    assert f"{outcome}, {filled} of {target} filled" in closing, closing


def test_a_stop_while_the_ioc_is_in_flight_does_not_call_it_unfilled() -> None:
    """DIRECT, time limit 0, on the real desk: the deadline stop arrives before the IOC's fill."""
    view = Market()
    view.load(BIDS, ASKS)
    plan = make_plan(view, strategy=StrategyName.DIRECT, qty="0.400", time_limit_s=0)
    driver = Driver(make_strategy(plan), view)
    driver.start()
    [ioc] = driver.submitted
    driver.advance_to(view.now_ns)  # the desk's deadline timer, due at the start, fires first
    assert any(note.startswith("stopping (time limit): 0.000 of 0.400 filled") for note in plan.notes)
    assert "0.400 still open or unconfirmed" in plan.notes[-1]
    driver.fill_iocs()  # the venue fills the IOC after all
    assert driver.finished and driver.outcome == "filled"
    assert ioc.qty_lots == driver.filled_lots == plan.qty_lots
    assert_notes_agree(plan.notes, Decimal("0.400"), Decimal("0.400"), "filled")


def test_time_limit_zero_backtest_notes_agree_with_what_filled() -> None:
    """The report's finding: --time-limit 0 filled all of it while a note said it was unfilled."""
    parent = ParentOrder(
        parent_id="Z1",
        symbol="BTCUSDT",
        side=Side.BUY,
        qty=Decimal(1),
        config=RoutingConfig(strategy=StrategyName.DIRECT, time_limit_s=0),
    )
    result = Backtest(parent, settings=BacktestSettings(seed=1)).run(open_records(DEMO))
    out = result.to_dict()
    assert out["outcome"] == "filled" and Decimal(out["filled_qty"]) == Decimal(1)
    assert any("still open or unconfirmed" in note for note in result.notes)  # the stop came first
    assert_notes_agree(result.notes, Decimal(out["filled_qty"]), Decimal(out["target_qty"]), out["outcome"])
