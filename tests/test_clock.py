"""SimClock's deterministic timers and LiveClock's monotonic wall time."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from engine.clock import NS_PER_MS, LiveClock, SimClock, TimerCallback


def test_sim_clock_starts_where_told() -> None:
    """now_ns is the start time until the clock is advanced."""
    assert SimClock().now_ns() == 0
    clock = SimClock(start_ns=1_000)
    assert clock.now_ns() == 1_000
    assert clock.next_deadline_ns() is None


def test_timers_fire_in_time_then_scheduling_order_at_their_due_time() -> None:
    """Each callback runs with now_ns() equal to its due time; ties keep scheduling order."""
    clock = SimClock(start_ns=100)
    fired: list[tuple[str, int, int]] = []

    def timer(name: str) -> TimerCallback:
        def callback(due_ns: int) -> None:
            fired.append((name, due_ns, clock.now_ns()))

        return callback

    clock.call_at(300, timer("c"))
    clock.call_at(200, timer("a"))
    clock.call_at(300, timer("d"))
    clock.call_at(200, timer("b"))
    clock.call_at(401, timer("late"))
    assert clock.next_deadline_ns() == 200

    clock.advance_to(400)

    assert fired == [("a", 200, 200), ("b", 200, 200), ("c", 300, 300), ("d", 300, 300)]
    assert clock.now_ns() == 400
    assert clock.next_deadline_ns() == 401
    clock.advance_to(401)  # due exactly at the target: fires
    assert fired[-1] == ("late", 401, 401)
    assert clock.next_deadline_ns() is None


def test_advance_to_backwards_raises() -> None:
    """Time never goes back: a replay out of order is a bug to surface."""
    clock = SimClock(start_ns=500)
    clock.advance_to(500)  # staying put is fine
    with pytest.raises(ValueError, match="backwards"):
        clock.advance_to(499)
    assert clock.now_ns() == 500


def test_cancel_before_due_prevents_firing() -> None:
    """A cancelled timer never runs."""
    clock = SimClock()
    fired: list[int] = []
    handle = clock.call_at(10, fired.append)
    handle.cancel()
    handle.cancel()  # idempotent
    clock.advance_to(100)
    assert fired == []


def test_cancel_after_firing_is_a_no_op() -> None:
    """Cancelling a timer that already ran changes nothing and raises nothing."""
    clock = SimClock()
    fired: list[int] = []
    handle = clock.call_at(10, fired.append)
    clock.advance_to(10)
    handle.cancel()
    clock.advance_to(20)
    assert fired == [10]


def test_timer_scheduled_in_the_past_fires_at_the_current_time() -> None:
    """A due time already passed is moved to now and fires on the next advance."""
    clock = SimClock(start_ns=1_000)
    fired: list[tuple[int, int]] = []
    handle = clock.call_at(10, lambda due: fired.append((due, clock.now_ns())))
    assert handle.when_ns == 1_000
    assert fired == []  # not synchronously
    clock.advance_to(1_000)
    assert fired == [(1_000, 1_000)]


def test_timer_scheduled_by_a_callback_fires_in_the_same_advance() -> None:
    """A callback may schedule another timer; if it falls due before the target it fires now too."""
    clock = SimClock()
    fired: list[tuple[str, int]] = []

    def first(due_ns: int) -> None:
        fired.append(("first", due_ns))
        clock.call_at(due_ns + 5, lambda d: fired.append(("chained", d)))
        clock.call_at(due_ns - 50, lambda d: fired.append(("past", d)))  # in the past: now
        clock.call_at(1_000, lambda d: fired.append(("beyond", d)))

    clock.call_at(10, first)
    clock.call_at(12, lambda d: fired.append(("other", d)))
    clock.advance_to(100)

    assert fired == [("first", 10), ("past", 10), ("other", 12), ("chained", 15)]
    assert clock.now_ns() == 100
    assert clock.next_deadline_ns() == 1_000


def test_next_deadline_skips_cancelled_timers() -> None:
    """next_deadline_ns reports the earliest timer that will really fire."""
    clock = SimClock()
    first = clock.call_at(10, lambda due: None)
    second = clock.call_at(20, lambda due: None)
    clock.call_at(30, lambda due: None)
    first.cancel()
    second.cancel()
    assert clock.next_deadline_ns() == 30


def test_live_clock_never_goes_backwards() -> None:
    """Many successive readings never decrease and stay close to the wall clock."""
    clock = LiveClock()
    readings = [clock.now_ns() for _ in range(10_000)]
    assert all(a <= b for a, b in itertools.pairwise(readings))
    assert readings[0] > 1_600_000_000 * 10**9  # epoch ns, after 2020


@pytest.mark.asyncio
async def test_live_clock_call_at_fires_on_the_running_loop() -> None:
    """call_at runs the callback once, on the loop, with the due time it was given."""
    clock = LiveClock()
    done = asyncio.Event()
    fired: list[int] = []

    def callback(due_ns: int) -> None:
        fired.append(due_ns)
        done.set()

    due = clock.now_ns() + 10 * NS_PER_MS
    handle = clock.call_at(due, callback)
    assert fired == []
    await asyncio.wait_for(done.wait(), timeout=2)
    assert fired == [due]
    handle.cancel()  # after firing: harmless
    assert fired == [due]


@pytest.mark.asyncio
async def test_live_clock_cancel_prevents_firing() -> None:
    """A cancelled live timer never runs; a later one on the same loop still does."""
    clock = LiveClock()
    done = asyncio.Event()
    fired: list[str] = []
    now = clock.now_ns()

    def kept(due_ns: int) -> None:
        fired.append("kept")
        done.set()

    cancelled = clock.call_at(now + 5 * NS_PER_MS, lambda due: fired.append("cancelled"))
    clock.call_at(now + 15 * NS_PER_MS, kept)
    cancelled.cancel()
    await asyncio.wait_for(done.wait(), timeout=2)  # the later timer ran, so the earlier was due
    assert fired == ["kept"]


def test_live_clock_call_at_needs_a_running_loop() -> None:
    """Outside a loop there is nowhere to schedule a live timer."""
    with pytest.raises(RuntimeError):
        LiveClock().call_at(0, lambda due: None)
