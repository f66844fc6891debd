"""Volume profiles from recorded trades resolve the volume at the scale of VWAP's slices.

With fixed 15-minute buckets a profile's rate was flat inside each bucket, so any window of a
few minutes (the bundled 5-minute recording, a 240 s VWAP) got equal slice weights however
uneven the recorded volume was: 0.200 five times. ``from_trades`` now picks its bucket size
from the data (``strategies.profile.bucket_seconds_for``).
"""

from __future__ import annotations

import pytest

from engine.parent import StrategyName
from strategies.profile import BUCKET_SECONDS, DAY_NS, MIN_TRADES_PER_BUCKET, VolumeProfile, bucket_seconds_for
from strategies.vwap import Vwap
from tests.strategy_harness import T0, FakeView, S, default_book, make_plan

MINUTE = 60 * S
DAY0 = (T0 // DAY_NS) * DAY_NS
START = DAY0 + 10 * 60 * MINUTE  # 10:00 UTC


def busy_then_quiet() -> list[tuple[int, int]]:
    """Four recorded minutes: three trades a second for two minutes, then one a second for two.

    The recording runs from the first trade to the last, so the last one is at the very end.
    """
    busy = [(START + i * S // 3, 1) for i in range(360)]
    quiet = [(START + 2 * MINUTE + (i + 1) * S - 1, 1) for i in range(120)]
    return busy + quiet


def test_buckets_of_a_profile_whose_volume_changes_within_minutes_are_minutes_not_quarters() -> None:
    profile = VolumeProfile.from_trades(busy_then_quiet())
    assert profile.bucket_ns == MINUTE  # 480 trades: four 1-minute buckets hold 120 each on average
    assert "480 trades in 1 min buckets" in profile.source
    window = (START, START + 4 * MINUTE)
    assert profile.weights_for(*window, 4) == pytest.approx([0.375, 0.375, 0.125, 0.125])


def test_vwap_slices_follow_a_profile_whose_buckets_differ_inside_the_window() -> None:
    """240 s in 5 slices of 48 s over 3/s, 3/s, 3/s then 1/s, 1/s: 144, 144, 96, 48, 48 of 480."""
    view = FakeView(now_ns=START)
    default_book(view)
    plan = make_plan(view, strategy=StrategyName.VWAP, qty="4.000", time_limit_s=240)
    strategy = Vwap(plan, profile=VolumeProfile.from_trades(busy_then_quiet()))
    assert strategy.slice_lots == [1200, 1200, 800, 400, 400]
    assert any("slice weights 0.300, 0.300, 0.200, 0.100, 0.100" in note for note in plan.notes)


def test_the_bucket_size_is_the_finest_the_trades_support() -> None:
    assert bucket_seconds_for(11_440, 300 * S) == 5  # the bundled 5 minutes: 60 buckets of ~190 trades
    assert bucket_seconds_for(MIN_TRADES_PER_BUCKET, 10 * S) == 10  # one bucket holds them all
    assert bucket_seconds_for(2 * 8_640, 2 * DAY_NS) == 900  # a trade every 10 s for two days
    assert bucket_seconds_for(10, DAY_NS) == BUCKET_SECONDS[-1]  # too few for any: hourly
    assert all(DAY_NS % (seconds * S) == 0 for seconds in BUCKET_SECONDS)


def test_a_given_bucket_count_is_kept() -> None:
    assert VolumeProfile.from_trades(busy_then_quiet(), buckets=96).buckets == 96
