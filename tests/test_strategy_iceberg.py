"""ICEBERG as a pure state machine: one visible child, refilled on the fill that completes it."""

from __future__ import annotations

from decimal import Decimal

from engine.commands import SubmitOrder
from engine.enums import OrderStatus, Side, TimeInForce
from engine.events import ChildFilled
from engine.parent import StrategyName
from strategies.base import StrategyState
from strategies.iceberg import Iceberg
from tests.strategy_harness import MID_ASK, MID_BID, Driver, Market, S, default_book, ladder, make_plan, started


def iceberg(**kw: object) -> tuple[Driver, Iceberg]:
    driver, strategy = started(Iceberg, strategy=StrategyName.ICEBERG, **kw)  # type: ignore[arg-type]
    assert isinstance(strategy, Iceberg)
    return driver, strategy


def shown(driver: Driver) -> str:
    [child] = driver.live()
    return child.client_order_id


# -- the visible child ------------------------------------------------------------------------


def test_shows_chunk_size_at_the_touch() -> None:
    driver, strategy = iceberg(qty="1.000", chunk_size=Decimal("0.150"))
    [order] = driver.submitted
    assert strategy.visible_lots == 150
    assert (order.qty_lots, order.price_ticks, order.time_in_force) == (150, MID_BID, TimeInForce.GTC)


def test_shows_ten_percent_without_a_chunk_size_and_never_less_than_min_fill_size() -> None:
    _, default = iceberg(qty="2.000")
    assert default.visible_lots == 200
    _, floored = iceberg(qty="2.000", min_fill_size=Decimal("0.300"))
    assert floored.visible_lots == 300
    _, chunk_floored = iceberg(qty="2.000", chunk_size=Decimal("0.050"), min_fill_size=Decimal("0.100"))
    assert chunk_floored.visible_lots == 100


def test_rests_at_the_limit_price_when_given() -> None:
    driver, _ = iceberg(qty="1.000", limit_price=Decimal("94990.00"))
    assert driver.submitted[0].price_ticks == 9_499_000


def test_a_sell_rests_at_the_ask() -> None:
    driver, _ = iceberg(side=Side.SELL)
    assert driver.submitted[0].price_ticks == MID_ASK


# -- refills -----------------------------------------------------------------------------------


def test_partial_fills_do_not_refill() -> None:
    driver, _ = iceberg(qty="1.000", chunk_size=Decimal("0.100"))
    first = shown(driver)
    driver.ack(first)
    driver.fill(first, 40)
    driver.fill(first, 59)
    assert len(driver.submitted) == 1
    assert driver.live()[0].leaves_lots == 1


def test_refills_on_the_fill_that_completes_the_slice_not_on_its_status() -> None:
    driver, _ = iceberg(qty="1.000", chunk_size=Decimal("0.100"))
    first = shown(driver)
    driver.ack(first)
    driver.fill(first, 60)
    driver.fill(first, 40)
    assert len(driver.submitted) == 2
    causes = [event for event, commands in driver.reactions if any(isinstance(c, SubmitOrder) for c in commands)]
    assert isinstance(causes[-1], ChildFilled) and causes[-1].client_order_id == first
    child = driver.view.child(first)
    assert child is not None and child.status is OrderStatus.FILLED  # the status came after; no second refill
    assert driver.submitted[1].qty_lots == 100


def test_runs_to_completion_with_never_more_than_one_child_showing() -> None:
    driver, strategy = iceberg(qty="1.000", chunk_size=Decimal("0.300"))
    while not driver.finished:
        cid = shown(driver)
        driver.ack(cid)
        driver.fill(cid, 100)
        if driver.live() and driver.live()[0].client_order_id == cid:
            driver.fill(cid)
    assert [o.qty_lots for o in driver.submitted] == [300, 300, 300, 100]
    assert driver.max_live == 1
    assert driver.outcome == "filled" and strategy.filled_lots == 1_000
    assert driver.denied == []


def test_refill_joins_the_touch_of_the_moment() -> None:
    driver, _ = iceberg(qty="1.000", chunk_size=Decimal("0.100"))
    driver.book(ladder(MID_BID - 50, Side.BUY, [500]), ladder(MID_ASK - 50, Side.SELL, [500]))
    driver.fill(shown(driver))
    assert driver.submitted[-1].price_ticks == MID_BID - 50


def test_visible_size_can_be_randomised_with_the_seed() -> None:
    def sizes(seed: int) -> list[int]:
        view = Market()
        default_book(view)
        plan = make_plan(view, strategy=StrategyName.ICEBERG, qty="5.000", chunk_size=Decimal("0.200"))
        driver = Driver(Iceberg(plan, seed=seed, visible_jitter=0.3), view)
        driver.start()
        for _ in range(5):
            driver.fill(shown(driver))
        return [o.qty_lots for o in driver.submitted]

    assert sizes(1) == sizes(1)
    assert sizes(1) != sizes(2)
    assert all(140 <= size <= 260 for size in sizes(1) + sizes(2))


# -- the time limit --------------------------------------------------------------------------


def test_leftovers_are_cancelled_at_the_time_limit() -> None:
    driver, strategy = iceberg(qty="1.000", chunk_size=Decimal("0.200"), time_limit_s=60)
    assert strategy.wakeup_at_ns == strategy.plan.deadline_ns
    driver.fill(shown(driver))
    leftover = shown(driver)
    driver.advance_to(strategy.plan.deadline_ns)
    assert [c.client_order_id for c in driver.cancels] == [leftover]
    driver.cancel_ack(leftover)
    assert driver.finished and driver.outcome == "partially filled"
    assert len(driver.submitted) == 2


def test_the_strategy_alone_cancels_at_its_deadline_timer() -> None:
    view = Market()
    default_book(view)
    plan = make_plan(view, strategy=StrategyName.ICEBERG, time_limit_s=30)
    driver = Driver(Iceberg(plan), view, deadline_stop=False)
    driver.start()
    leftover = shown(driver)
    driver.advance(30)
    assert [c.client_order_id for c in driver.cancels] == [leftover]


# -- awkward orderings -----------------------------------------------------------------------


def test_a_fill_before_the_ack_still_refills_once() -> None:
    driver, _ = iceberg(qty="1.000", chunk_size=Decimal("0.100"))
    first = shown(driver)
    driver.fill(first)  # before any New status
    driver.ack(first)  # stale now
    assert len(driver.submitted) == 2
    assert driver.max_live == 1


def test_partial_fill_then_cancel_is_replaced_on_the_next_book_event() -> None:
    driver, strategy = iceberg(qty="1.000", chunk_size=Decimal("0.100"))
    first = shown(driver)
    driver.ack(first)
    driver.fill(first, 30)
    driver.cancel_ack(first)  # the venue cancelled it
    assert len(driver.submitted) == 1  # not in a loop with the venue
    driver.touch_book()
    assert len(driver.submitted) == 2 and driver.submitted[-1].qty_lots == 100
    assert strategy.filled_lots == 30


def test_a_late_fill_after_the_time_limit_cancel_is_counted_without_a_refill() -> None:
    driver, strategy = iceberg(qty="1.000", chunk_size=Decimal("0.100"), time_limit_s=60)
    first = shown(driver)
    driver.ack(first)
    driver.advance_to(strategy.plan.deadline_ns)
    driver.cancel_ack(first)
    assert driver.finished
    assert strategy.filled_lots == 0 and driver.outcome == "unfilled"
    driver.fill(first)  # the cancel lost the race; the desk no longer drives a finished parent
    child = driver.view.child(first)
    assert child is not None and child.status is OrderStatus.FILLED
    assert len(driver.submitted) == 1
    assert strategy.filled_lots == 100 and strategy.outcome == "partially filled"  # the tracker's count


def test_a_late_fill_of_a_replaced_child_trims_what_rests() -> None:
    driver, strategy = iceberg(qty="0.150", chunk_size=Decimal("0.100"))
    first = shown(driver)
    driver.fill(first, 60)
    driver.cancel_ack(first)  # venue cancel; 90 lots left
    driver.touch_book()
    second = shown(driver)
    assert driver.submitted[-1].qty_lots == 90
    driver.fill(first, 40)  # late: the first child actually filled in full
    assert strategy.remaining_lots == 50
    assert driver.cancels[-1].client_order_id == second
    driver.cancel_ack(second)
    driver.touch_book()
    assert driver.submitted[-1].qty_lots == 50
    assert driver.denied == []


def test_rejects_are_replaced_later_and_three_stop_the_parent() -> None:
    driver, strategy = iceberg(qty="1.000", chunk_size=Decimal("0.100"))
    for attempt in range(3):
        driver.reject(shown(driver))
        if attempt < 2:
            assert strategy.state is StrategyState.WORKING
            assert len(driver.submitted) == attempt + 1
            driver.touch_book()
    assert driver.finished and driver.outcome == "unfilled"
    assert any("3 children refused" in note for note in strategy.plan.notes)


def test_refill_waits_while_the_book_resyncs() -> None:
    driver, _ = iceberg(qty="1.000", chunk_size=Decimal("0.100"))
    first = shown(driver)
    driver.break_book()
    driver.fill(first)
    driver.touch_book()
    driver.advance(5)
    assert len(driver.submitted) == 1
    driver.book(ladder(MID_BID, Side.BUY, [100]), ladder(MID_ASK, Side.SELL, [100]))
    assert len(driver.submitted) == 2
    assert driver.denied == []


def test_the_time_limit_is_the_only_timer() -> None:
    driver, strategy = iceberg(time_limit_s=120)
    driver.advance(60)
    assert len(driver.submitted) == 1 and not driver.cancels
    assert driver.next_wakeup == strategy.plan.deadline_ns
    assert strategy.plan.deadline_ns - strategy.plan.start_ns == 120 * S
