"""VWAP and its volume profile: the schedule follows the profile, or the documented U-shape."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.enums import TimeInForce
from engine.parent import StrategyName, Urgency
from strategies.profile import DAY_NS, VolumeProfile, u_shape
from strategies.vwap import Vwap
from tests.strategy_harness import T0, Driver, FakeView, S, default_book, make_plan

MINUTE = 60 * S
HOUR = 60 * MINUTE
DAY0 = (T0 // DAY_NS) * DAY_NS  # midnight UTC of the test day


def vwap(profile: VolumeProfile | None, *, start_ns: int = T0, **kw: object) -> tuple[Driver, Vwap]:
    view = FakeView(now_ns=start_ns)
    default_book(view)
    plan = make_plan(view, strategy=StrategyName.VWAP, **kw)  # type: ignore[arg-type]
    strategy = Vwap(plan, profile=profile)
    driver = Driver(strategy, view)
    driver.start()
    return driver, strategy


# -- the profile ---------------------------------------------------------------------------------


def test_a_profile_from_trades_measures_the_rate_per_bucket() -> None:
    trades: list[tuple[int, Decimal | int]] = [(DAY0 + 10 * HOUR + i * S, Decimal(3)) for i in range(900)]
    trades += [(DAY0 + 10 * HOUR + 15 * MINUTE + i * S, 1) for i in range(900)]  # 10:15-10:30, 1 a second
    profile = VolumeProfile.from_trades(trades, buckets=96)
    assert profile.buckets == 96
    assert profile.rates[40] == pytest.approx(3.0, rel=1e-2)
    assert profile.rates[41] == pytest.approx(1.0, rel=1e-2)  # the recording ends at the last trade
    assert profile.covers(DAY0 + 10 * HOUR, DAY0 + 10 * HOUR + 30 * MINUTE)
    assert not profile.covers(DAY0 + 9 * HOUR, DAY0 + 10 * HOUR + 30 * MINUTE)
    weights = profile.weights_for(DAY0 + 10 * HOUR, DAY0 + 10 * HOUR + 30 * MINUTE, 2)
    assert weights == pytest.approx([0.75, 0.25], rel=1e-2)


def test_a_partly_covered_bucket_is_not_diluted() -> None:
    """Five minutes recorded in a 15-minute bucket: the rate is per recorded second."""
    trades = [(DAY0 + 10 * HOUR + 10 * MINUTE + i * S, 2) for i in range(300)]
    profile = VolumeProfile.from_trades(trades, buckets=96)
    assert profile.rates[40] == pytest.approx(2.0, rel=1e-2)


def test_a_profile_from_klines_spreads_each_kline_over_its_interval() -> None:
    hourly = [((DAY0 + h * HOUR) // 1_000_000, 3_600 * (2 if h < 12 else 1)) for h in range(24)]
    profile = VolumeProfile.from_klines(hourly, interval_s=3_600)
    assert profile.observed.all()
    assert profile.rates[0] == pytest.approx(2.0)
    assert profile.rates[95] == pytest.approx(1.0)
    assert profile.weights_for(DAY0 + 11 * HOUR, DAY0 + 13 * HOUR, 2) == pytest.approx([2 / 3, 1 / 3])


def test_weights_span_midnight_and_sum_to_one() -> None:
    profile = u_shape()
    weights = profile.weights_for(DAY0 + 23 * HOUR, DAY0 + 25 * HOUR, 4)
    assert sum(weights) == pytest.approx(1.0)
    assert weights[1] > weights[0] and weights[2] > weights[3]  # heaviest at the day's roll


def test_the_u_shape_is_three_times_heavier_at_the_ends_than_midday() -> None:
    profile = u_shape(48)
    assert profile.rates[0] == pytest.approx(profile.rates[-1])
    assert profile.rates[0] / profile.rates[23] == pytest.approx(3.0, rel=0.05)
    assert min(profile.rates) == profile.rates[23] or min(profile.rates) == profile.rates[24]


def test_unobserved_buckets_borrow_the_mean_rate() -> None:
    profile = VolumeProfile([4.0, 0.0, 2.0, 0.0], observed=[True, False, True, False])
    assert list(profile.rates) == [4.0, 3.0, 2.0, 3.0]
    assert not profile.has_volume(DAY0 + 6 * HOUR, DAY0 + 12 * HOUR)
    assert profile.has_volume(DAY0, DAY0 + HOUR)


def test_bad_profiles_are_refused() -> None:
    with pytest.raises(ValueError, match="buckets"):
        VolumeProfile([1.0] * 7)
    with pytest.raises(ValueError, match="non-negative"):
        VolumeProfile([1.0, -1.0])
    with pytest.raises(ValueError, match="no trades"):
        VolumeProfile.from_trades([])


# -- the strategy -------------------------------------------------------------------------------


def test_vwap_follows_the_given_profile() -> None:
    """10 slices over 10 minutes; the first five minutes trade three times the last five."""
    start = DAY0 + 10 * HOUR
    rates = [1.0] * 288
    rates[120] = 3.0  # 10:00-10:05 in 5-minute buckets
    profile = VolumeProfile(rates, source="test")
    driver, strategy = vwap(profile, start_ns=start, qty="4.000", time_limit_s=600, urgency=Urgency.HIGH)
    assert strategy.slice_lots == [600] * 5 + [200] * 5
    assert not strategy.fell_back
    assert any("following the volume profile from test" in note for note in strategy.plan.notes)
    assert driver.submitted[0].qty_lots == 600 and driver.submitted[0].time_in_force is TimeInForce.IOC


def test_vwap_is_not_randomised() -> None:
    view = FakeView()
    default_book(view)
    plan = make_plan(view, strategy=StrategyName.VWAP, time_limit_s=900)
    assert Vwap(plan, seed=1).slice_lots == Vwap(plan, seed=2).slice_lots


def test_without_a_profile_it_falls_back_to_the_u_shape_and_says_so() -> None:
    _, strategy = vwap(None, start_ns=DAY0 + 23 * HOUR + 30 * MINUTE, qty="10.000", time_limit_s=1200)
    assert strategy.fell_back
    assert any("no volume profile was given" in note and "U-shape" in note for note in strategy.plan.notes)
    sizes = strategy.slice_lots
    assert sum(sizes) == 10_000
    assert sizes[-1] > sizes[0]  # towards midnight the U rises


def test_a_profile_with_no_volume_at_this_time_falls_back() -> None:
    trades = [(DAY0 + 3 * HOUR + i * S, 1) for i in range(600)]
    _, strategy = vwap(VolumeProfile.from_trades(trades), start_ns=DAY0 + 15 * HOUR, time_limit_s=600)
    assert strategy.fell_back
    assert any("saw no volume at this time of day" in note for note in strategy.plan.notes)


def test_a_partly_covered_window_is_used_and_noted() -> None:
    trades = [(DAY0 + 10 * HOUR + i * S, 1) for i in range(600)]
    _, strategy = vwap(VolumeProfile.from_trades(trades), start_ns=DAY0 + 10 * HOUR, time_limit_s=3_600)
    assert not strategy.fell_back
    assert any("covers the window only in part" in note for note in strategy.plan.notes)


def test_vwap_carries_over_and_finishes_like_twap() -> None:
    driver, strategy = vwap(None, qty="1.000", time_limit_s=300)
    driver.run(strategy.plan.deadline_ns, step_s=5)
    assert driver.finished and driver.outcome == "filled"
    assert driver.submitted[-1].reason == "vwap final"
    assert all(at < strategy.plan.deadline_ns for at, _ in driver.log)
