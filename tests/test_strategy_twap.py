"""TWAP as a pure state machine: schedule, slice children, carry-over, finish, and awkward venues."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.enums import OrderStatus, Side, TimeInForce
from engine.events import ChildDenied, ChildFilled, ChildStatusChanged
from engine.parent import RoutingConfig, StrategyName, Urgency
from strategies import make_strategy
from strategies.base import StrategyState
from strategies.common import FinishingStrategy
from strategies.pov import Pov
from strategies.smart import Smart
from strategies.twap import Twap, randomised_split, slice_count
from strategies.vwap import Vwap
from tests.strategy_harness import (
    MID_ASK,
    MID_BID,
    STEPPED,
    T0,
    Driver,
    Market,
    S,
    default_book,
    ladder,
    make_plan,
    started,
)


def twap(**kw: object) -> tuple[Driver, Twap]:
    driver, strategy = started(Twap, **kw)  # type: ignore[arg-type]
    assert isinstance(strategy, Twap)
    return driver, strategy


# -- the schedule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_limit_s", "slices"),
    [(0, 5), (60, 5), (299, 5), (300, 5), (359, 5), (360, 6), (600, 10), (1199, 19), (1200, 20), (86_400, 20)],
)
def test_slice_count_is_min_20_max_5_time_limit_over_60(time_limit_s: int, slices: int) -> None:
    assert slice_count(time_limit_s) == slices


def test_slices_are_evenly_spaced_from_the_start_and_the_last_lands_before_the_deadline() -> None:
    driver, strategy = twap(time_limit_s=600)
    plan = strategy.plan
    assert len(strategy.slice_lots) == 10
    assert strategy.slice_times_ns == [plan.start_ns + i * 60 * S for i in range(10)]
    assert strategy.slice_times_ns[-1] == plan.deadline_ns - 60 * S
    assert strategy.finish_at_ns == plan.deadline_ns - 30 * S
    assert driver.next_wakeup == plan.start_ns + 60 * S


def test_sizes_sum_exactly_to_the_parent_on_the_lot_step() -> None:
    view = Market(STEPPED)
    default_book(view)
    plan = make_plan(view, qty="0.995", time_limit_s=900)
    strategy = Twap(plan, seed=7)
    assert sum(strategy.slice_lots) == plan.qty_lots == 995
    assert all(lots % STEPPED.qty_step_lots == 0 for lots in strategy.slice_lots)
    assert all(lots == 0 or lots >= STEPPED.min_qty_lots for lots in strategy.slice_lots)


def test_sizes_are_randomised_within_20_percent_of_the_even_split_and_seeded() -> None:
    """Every slice within ±20% of the even split (up to one lot of rounding), summing to the parent."""
    view = Market()
    default_book(view)
    plan = make_plan(view, qty="10.000", time_limit_s=1200)
    a, b, c = Twap(plan, seed=1), Twap(plan, seed=1), Twap(plan, seed=2)
    assert a.slice_lots == b.slice_lots
    assert a.slice_lots != c.slice_lots
    even = plan.qty_lots // 20
    step = plan.instrument.qty_step_lots
    widest = 0.0
    for seed in range(200):
        sizes = Twap(plan, seed=seed).slice_lots
        assert sum(sizes) == plan.qty_lots
        for lots in sizes:
            assert even * 0.8 - step <= lots <= even * 1.2 + step, (seed, sizes)
        widest = max(widest, *(abs(lots - even) / even for lots in sizes))
    assert widest > 0.18  # the randomisation uses (nearly) all of its ±20%


def test_a_tiny_slice_is_merged_into_its_neighbour() -> None:
    sizes = randomised_split(25, [1.0] * 5, step=1, minimum=10)
    assert sum(sizes) == 25
    assert all(size == 0 or size >= 10 for size in sizes)
    assert randomised_split(7, [1.0] * 5, step=1, minimum=10) == [0, 0, 0, 0, 7]


@settings(max_examples=60, deadline=None)
@given(
    units=st.integers(0, 5_000),
    step=st.sampled_from([1, 5, 10]),
    minimum=st.integers(1, 200),
    weights=st.lists(st.floats(0, 10), min_size=1, max_size=20),
    seed=st.integers(0, 1_000),
)
def test_randomised_split_is_exact_on_the_grid_and_never_under_the_minimum(
    units: int, step: int, minimum: int, weights: list[float], seed: int
) -> None:
    total = units * step
    sizes = randomised_split(total, weights, step=step, minimum=minimum, rng=random.Random(seed), jitter=0.2)
    assert len(sizes) == len(weights)
    assert sum(sizes) == total
    assert all(size % step == 0 and size >= 0 for size in sizes)
    nonzero = [size for size in sizes if size]
    if total >= minimum:
        assert all(size >= minimum for size in nonzero)
    else:
        assert len(nonzero) <= 1


# -- working the slices ------------------------------------------------------------------------


def test_high_urgency_slices_are_iocs_at_the_band_edge_for_the_slice_quantity() -> None:
    driver, strategy = twap(urgency=Urgency.HIGH, time_limit_s=300)
    [first] = driver.submitted
    assert first.time_in_force is TimeInForce.IOC
    assert first.price_ticks == strategy.plan.band_ticks
    assert first.qty_lots == strategy.slice_lots[0]
    driver.settle()
    for index in range(1, 5):
        driver.advance_to(strategy.slice_times_ns[index])
        assert driver.submitted[-1].qty_lots == strategy.slice_lots[index]
        driver.settle()
    assert driver.filled_lots == strategy.plan.qty_lots
    assert driver.finished and driver.outcome == "filled"
    assert driver.denied == []


def test_medium_urgency_joins_the_touch() -> None:
    driver, _ = twap(urgency=Urgency.MEDIUM)
    [first] = driver.submitted
    assert first.time_in_force is TimeInForce.GTC
    assert first.price_ticks == MID_BID
    assert first.side is Side.BUY


def test_a_sell_joins_the_ask() -> None:
    driver, _ = twap(side=Side.SELL)
    assert driver.submitted[0].price_ticks == MID_ASK


def test_what_a_slice_leaves_unfilled_rolls_into_the_next_one() -> None:
    driver, strategy = twap(time_limit_s=300)
    first = driver.submitted[0].client_order_id
    driver.ack(first)
    driver.fill(first, 30)
    driver.advance_to(strategy.slice_times_ns[1])
    assert [c.client_order_id for c in driver.cancels] == [first]
    assert len(driver.submitted) == 1  # waits for the venue to confirm the cancel
    driver.cancel_ack(first)
    second = driver.submitted[-1]
    assert second.qty_lots == strategy.slice_lots[0] + strategy.slice_lots[1] - 30
    assert driver.committed() <= strategy.plan.qty_lots


def test_the_final_slice_takes_everything_left_before_the_deadline() -> None:
    driver, strategy = twap(time_limit_s=300)
    driver.run(strategy.finish_at_ns - S, step_s=5)
    assert driver.filled_lots == 0  # nobody traded with our joins
    driver.advance_to(strategy.finish_at_ns)
    driver.settle()
    final = driver.submitted[-1]
    assert final.time_in_force is TimeInForce.IOC and final.qty_lots == strategy.plan.qty_lots
    assert all(at < strategy.plan.deadline_ns for at, _ in driver.log)
    assert driver.finished and driver.outcome == "filled"


def test_low_urgency_never_takes_and_reports_what_is_left_at_the_deadline() -> None:
    driver, strategy = twap(urgency=Urgency.LOW, time_limit_s=300)
    driver.run(strategy.plan.deadline_ns + S, step_s=5)
    assert all(order.time_in_force is TimeInForce.GTC for order in driver.submitted)
    assert driver.finished and driver.outcome == "unfilled"
    assert any("stopping (time limit; low urgency" in note for note in strategy.plan.notes)


def test_what_the_band_does_not_allow_is_reported_unfilled() -> None:
    view = Market()
    band_edge_asks = [*ladder(MID_ASK, Side.SELL, [100, 100]), (9_600_000, 5_000)]  # 96000 is beyond the band
    view.load(ladder(MID_BID, Side.BUY, [1_000] * 5), band_edge_asks)
    driver, strategy = twap(view=view, urgency=Urgency.HIGH, time_limit_s=300)
    driver.run(strategy.plan.deadline_ns, step_s=5)
    assert driver.filled_lots == 200  # all that was priced inside the band
    assert driver.finished and driver.outcome == "partially filled"
    assert "final IOC done; 0.800 is beyond the band" in " ".join(strategy.plan.notes)
    assert all(o.price_ticks is not None and o.price_ticks <= strategy.plan.band_ticks for o in driver.submitted)


# -- the book --------------------------------------------------------------------------------


def test_no_child_while_the_book_resyncs_and_the_due_slice_goes_once_it_is_synced() -> None:
    driver, strategy = twap(urgency=Urgency.HIGH, time_limit_s=300)
    driver.settle()
    sent = len(driver.submitted)
    driver.break_book()
    assert strategy.book(driver.view) is None
    driver.advance_to(strategy.slice_times_ns[1])
    driver.touch_book()  # dropped: the book waits for a snapshot
    assert len(driver.submitted) == sent
    assert any("pausing" in note for note in strategy.plan.notes)
    driver.book(ladder(MID_BID, Side.BUY, [1_000] * 5), ladder(MID_ASK, Side.SELL, [1_000] * 5))
    assert len(driver.submitted) == sent + 1
    assert driver.submitted[-1].qty_lots == strategy.slice_lots[1]
    assert driver.denied == []


def test_a_book_that_resyncs_before_the_start_delays_the_first_slice() -> None:
    view = Market()
    default_book(view)
    plan = make_plan(view, time_limit_s=300)
    strategy = Twap(plan)
    driver = Driver(strategy, view)
    driver.start_as_the_book_gaps()
    assert driver.submitted == []
    driver.book(ladder(MID_BID, Side.BUY, [1_000]), ladder(MID_ASK, Side.SELL, [1_000]))
    assert len(driver.submitted) == 1


# -- awkward orderings -----------------------------------------------------------------------------


def test_a_fill_before_the_ack() -> None:
    driver, strategy = twap(time_limit_s=300)
    first = driver.submitted[0].client_order_id
    driver.fill(first)  # the execution stream beats the order stream
    driver.ack(first)  # stale: the tracker ignores it
    assert driver.filled_lots == strategy.slice_lots[0]
    child = driver.view.child(first)
    assert child is not None and child.status is OrderStatus.FILLED
    driver.advance_to(strategy.slice_times_ns[1])
    assert driver.cancels == []
    assert driver.submitted[-1].qty_lots == strategy.slice_lots[1]


def test_the_fill_event_comes_before_the_status_it_completes() -> None:
    driver, _ = twap(time_limit_s=300)
    first = driver.submitted[0].client_order_id
    driver.ack(first)
    driver.fill(first)
    kinds = [type(event) for event in driver.seen[-2:]]
    assert kinds == [ChildFilled, ChildStatusChanged]


def test_partial_fill_then_venue_cancel_rolls_the_rest_into_the_next_slice() -> None:
    driver, strategy = twap(time_limit_s=300)
    first = driver.submitted[0].client_order_id
    driver.ack(first)
    driver.fill(first, 40)
    driver.cancel_ack(first)  # e.g. cancelled by the venue
    assert len(driver.submitted) == 1  # nothing until the next slice
    driver.advance_to(strategy.slice_times_ns[1])
    assert driver.submitted[-1].qty_lots == strategy.slice_lots[0] + strategy.slice_lots[1] - 40


def test_a_duplicate_execution_is_counted_once() -> None:
    driver, strategy = twap(time_limit_s=300)
    first = driver.submitted[0].client_order_id
    driver.fill(first, 10, exec_id="x1")
    driver.fill(first, 10, exec_id="x1")
    assert strategy.filled_lots == driver.filled_lots == 10


def test_a_late_fill_after_the_cancel_is_counted_and_nothing_overcommits() -> None:
    driver, strategy = twap(time_limit_s=300)
    first = driver.submitted[0].client_order_id
    driver.ack(first)
    driver.advance_to(strategy.finish_at_ns)  # final slice: cancel the join, then take all
    assert first in [c.client_order_id for c in driver.cancels]
    driver.cancel_ack(first)
    final = driver.submitted[-1]
    assert final.qty_lots == strategy.plan.qty_lots
    driver.ack(final.client_order_id)
    driver.fill(first, 50)  # the cancel lost the race: a late fill of the cancelled child
    assert strategy.filled_lots == 50
    assert driver.cancels[-1].client_order_id == final.client_order_id  # more rests than needed: trimmed
    driver.cancel_ack(final.client_order_id)
    assert driver.submitted[-1].qty_lots == strategy.plan.qty_lots - 50
    driver.settle()
    assert driver.filled_lots == strategy.plan.qty_lots
    assert driver.max_committed <= strategy.plan.qty_lots + 50  # only the late fill itself exceeded the plan
    assert driver.denied == []


def test_a_rejected_child_rolls_into_the_next_slice_and_three_rejects_stop() -> None:
    driver, strategy = twap(time_limit_s=300)
    driver.reject(driver.submitted[0].client_order_id)
    assert strategy.state is StrategyState.WORKING
    assert any("rolls into the next slice" in note for note in strategy.plan.notes)
    driver.advance_to(strategy.slice_times_ns[1])
    assert driver.submitted[-1].qty_lots == strategy.slice_lots[0] + strategy.slice_lots[1]
    driver.reject(driver.submitted[-1].client_order_id)
    driver.advance_to(strategy.slice_times_ns[2])
    driver.reject(driver.submitted[-1].client_order_id)
    assert driver.finished and driver.outcome == "unfilled"
    assert any("3 children refused" in note for note in strategy.plan.notes)


def test_a_denial_rolls_into_the_next_slice() -> None:
    driver, strategy = twap(time_limit_s=300)
    first = driver.submitted[0]
    driver.cancel_ack(first.client_order_id)
    driver.publish(
        ChildDenied(
            ts_event_ns=T0, ts_recv_ns=T0, client_order_id="P1-9", parent_id="P1", symbol="BTCUSDT", reason="test"
        )
    )
    assert any("refused by the desk" in note for note in strategy.plan.notes)
    driver.advance_to(strategy.slice_times_ns[1])
    assert driver.submitted[-1].qty_lots == strategy.slice_lots[0] + strategy.slice_lots[1]


def test_a_rejected_final_ioc_is_retried_on_the_next_book_event() -> None:
    view = Market()
    view.load(ladder(MID_BID, Side.BUY, [1_000]), ladder(MID_ASK, Side.SELL, [10]))
    driver, strategy = twap(view=view, urgency=Urgency.HIGH, time_limit_s=300)
    driver.run(strategy.finish_at_ns - S, step_s=5)
    driver.advance_to(strategy.finish_at_ns)
    final = driver.submitted[-1]
    assert final.reason == "twap final"
    driver.reject(final.client_order_id)
    assert driver.submitted[-1] is final
    driver.touch_book()
    assert driver.submitted[-1] is not final
    assert driver.submitted[-1].qty_lots == final.qty_lots


@pytest.mark.parametrize(
    ("cls", "name"), [(Twap, StrategyName.TWAP), (Vwap, StrategyName.VWAP), (Pov, StrategyName.POV)]
)
def test_twap_vwap_and_pov_finish_retry_and_stop_through_one_mechanism(
    cls: type[FinishingStrategy], name: StrategyName
) -> None:
    """FinishingStrategy: the rest as one band-capped IOC, retried after a reject, then stop beyond the band."""
    view = Market()
    view.load(ladder(MID_BID, Side.BUY, [1_000]), [(MID_ASK, 10), (9_600_000, 10_000)])  # 96000 is beyond the band
    plan = make_plan(view, strategy=name, urgency=Urgency.HIGH, time_limit_s=60)
    strategy = cls(plan)
    assert isinstance(strategy, FinishingStrategy)
    driver = Driver(strategy, view)
    driver.start()
    driver.run(strategy.finish_at_ns - S)
    assert strategy.wakeup_at_ns == strategy.finish_at_ns
    driver.advance_to(strategy.finish_at_ns)
    assert strategy.finishing and strategy.wakeup_at_ns == plan.deadline_ns
    final = driver.submitted[-1]
    assert final.reason == f"{name} final" and final.time_in_force is TimeInForce.IOC
    assert (final.price_ticks, final.qty_lots) == (plan.band_ticks, strategy.remaining_lots)
    driver.reject(final.client_order_id)
    assert driver.submitted[-1] is final and strategy.finish_due
    driver.touch_book()
    again = driver.submitted[-1]
    assert again is not final and (again.reason, again.qty_lots) == (final.reason, final.qty_lots)
    driver.settle()
    assert driver.finished and driver.outcome in ("partially filled", "unfilled")
    assert any("beyond the band" in note for note in plan.notes)


def test_the_deadline_cancels_what_rests_and_finishes_once_the_venue_confirms() -> None:
    driver, strategy = twap(urgency=Urgency.LOW, time_limit_s=300)
    driver.run(strategy.finish_at_ns, step_s=5)
    resting = driver.live()
    assert len(resting) == 1
    driver.advance_to(strategy.plan.deadline_ns)
    assert driver.cancels[-1].client_order_id == resting[0].client_order_id
    assert strategy.state is StrategyState.STOPPING  # not finished until the venue confirms
    driver.confirm_cancels()
    assert driver.finished and driver.outcome == "unfilled"


def test_no_strategy_is_implied_and_smart_falls_back_to_twap() -> None:
    """What the system builds by default: RoutingConfig names no strategy of its own (one must be
    chosen), and SMART, when none of its rules applies, builds a TWAP and works the parent with it."""
    with pytest.raises(TypeError, match="strategy"):
        RoutingConfig()  # type: ignore[call-arg]
    view = Market()
    default_book(view, bid=9_490_000)  # a 10 bps spread, a small order, 5 minutes, medium urgency
    plan = make_plan(view, strategy=StrategyName.SMART, time_limit_s=300)
    smart = make_strategy(plan, seed=4)
    assert isinstance(smart, Smart)
    driver = Driver(smart, view)
    driver.start()
    assert smart.rule == "default" and type(smart.delegate) is Twap
    assert [o.reason for o in driver.submitted] == ["twap slice 1/5"]
    assert smart.summary().strategy_used == "twap"
