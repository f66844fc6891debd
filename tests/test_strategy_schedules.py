"""Strategies that follow a schedule say so: ``summary().schedule`` is their target cumulative quantity.

TWAP and VWAP: one point per slice time, the running total of the slices, the whole parent at
the last slice, and it is what the slices actually sent. POV: the target as it grew with the
market's volume, from ``(start, 0)``, bounded in size however busy the tape.
"""

from __future__ import annotations

import random
from decimal import ROUND_FLOOR, Decimal

import pytest

from engine.parent import StrategyName, Urgency
from strategies.pov import MAX_SCHEDULE_POINTS, Pov
from strategies.profile import VolumeProfile
from strategies.smart import Smart
from strategies.twap import Twap
from strategies.vwap import Vwap
from tests.strategy_harness import MID_ASK, Driver, Market, S, default_book, make_plan, started

Schedule = tuple[tuple[int, int], ...]


def assert_monotonic(schedule: Schedule) -> None:
    assert schedule, "no schedule"
    times = [ts for ts, _ in schedule]
    lots = [lot for _, lot in schedule]
    assert times == sorted(times) and lots == sorted(lots), schedule


def slice_run(cls: type[Twap], **kw: object) -> tuple[Driver, Twap]:
    """A high-urgency run on a deep book: every slice is one IOC that fills at once."""
    view = Market()
    default_book(view, size=100_000)
    plan = make_plan(view, urgency=Urgency.HIGH, qty="4.000", time_limit_s=600, **kw)  # type: ignore[arg-type]
    strategy = cls(plan, seed=3) if cls is Twap else Vwap(plan, profile=VolumeProfile([1.0, 3.0] * 48, source="t"))
    driver = Driver(strategy, view)
    driver.start()
    driver.run(plan.deadline_ns, step_s=30)
    return driver, strategy


@pytest.mark.parametrize(("cls", "name"), [(Twap, StrategyName.TWAP), (Vwap, StrategyName.VWAP)])
def test_twap_and_vwap_schedules_are_their_slices_ending_at_the_parent(cls: type[Twap], name: StrategyName) -> None:
    driver, strategy = slice_run(cls, strategy=name)
    plan = strategy.plan
    schedule = strategy.summary().schedule
    assert_monotonic(schedule)
    assert schedule[0][0] == plan.start_ns
    assert schedule[-1] == (strategy.slice_times_ns[-1], plan.qty_lots)
    assert [ts for ts, _ in schedule] == strategy.slice_times_ns
    increments = [lots - before for (_, before), (_, lots) in zip(((0, 0), *schedule), schedule, strict=False)]
    assert increments == strategy.slice_lots
    sent = [(at, command.qty_lots) for at, command in driver.log if command in driver.submitted]
    assert sent == [(ts, lots) for ts, lots in zip(strategy.slice_times_ns, strategy.slice_lots, strict=True) if lots]
    assert driver.outcome == "filled"


def test_pov_schedule_is_the_participation_target_as_it_grew() -> None:
    rate = Decimal("0.2")
    driver, strategy = started(Pov, strategy=StrategyName.POV, qty="5.000", participation_rate=rate, time_limit_s=600)
    assert isinstance(strategy, Pov)
    plan = strategy.plan
    rng = random.Random(7)
    market = 0
    expected = [(plan.start_ns, 0)]
    for _ in range(40):
        driver.advance(5)
        lots = rng.randint(1, 300)
        driver.trade(MID_ASK, lots)
        driver.settle()
        market += lots
        target = min(int((rate * market).to_integral_value(rounding=ROUND_FLOOR)), plan.qty_lots)
        if target > expected[-1][1]:
            expected.append((driver.view.now_ns, target))
    schedule = strategy.summary().schedule
    assert_monotonic(schedule)
    assert schedule[0] == (plan.start_ns, 0)
    assert set(schedule) <= set(expected)  # every point is the target at that moment
    assert schedule[-1] == expected[-1]  # and it ends at the latest target
    driver.advance_to(strategy.finish_at_ns)
    assert strategy.summary().schedule[-1] == (strategy.finish_at_ns, plan.qty_lots)  # the finishing IOC's target


def test_pov_schedule_stays_small_on_a_busy_tape() -> None:
    driver, strategy = started(
        Pov, strategy=StrategyName.POV, qty="100.000", participation_rate=Decimal("0.05"), time_limit_s=3_600
    )
    assert isinstance(strategy, Pov)
    for _ in range(5_000):
        driver.view.clock.advance_to(driver.view.now_ns + S // 10)
        driver.trade(MID_ASK, 37)
    schedule = strategy.summary().schedule
    assert_monotonic(schedule)
    assert len(schedule) <= MAX_SCHEDULE_POINTS + 2
    assert schedule[-1][1] == strategy.target_lots(driver.view)


def test_smart_reports_the_schedule_of_the_strategy_it_chose() -> None:
    view = Market()
    default_book(view, bid=9_490_000)  # a 10 bps spread: no rule fires, SMART works it with TWAP
    plan = make_plan(view, strategy=StrategyName.SMART, time_limit_s=300)
    strategy = Smart(plan, seed=2)
    Driver(strategy, view).start()
    assert isinstance(strategy.delegate, Twap)
    summary = strategy.summary()
    assert (summary.strategy_used, summary.reason) == ("twap", strategy.reason)
    assert summary.schedule == strategy.delegate.summary().schedule
    assert_monotonic(summary.schedule)
