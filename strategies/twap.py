"""TWAP: the parent in evenly spaced slices over the time limit, each one worked inside the band.

Schedule. ``min(20, max(5, time_limit // 60))`` slices, the first at the start and one every
``time_limit / n`` after it, so the last one starts one interval before the deadline. Slice
sizes are the even split randomised by ±20% with the strategy's seeded generator, floored to
the lot step, with the rounding residue handed out so they sum exactly to the parent; a slice
under the smallest child we send is merged into its neighbour (``randomised_split``). The
same seed gives the same schedule.

Working a slice. At each slice time whatever is left of the previous slice's child is
cancelled and, once the venue has confirmed, one child goes out for the slice's quantity plus
everything earlier slices left unfilled (the target is cumulative: slices 1..i minus what has
filled). High and immediate urgency send it as an IOC at the band's edge; low and medium rest
it at our touch, joining the queue, until the next slice time.

Finishing. Half an interval before the deadline the strategy cancels what rests and sends
everything still unfilled as an IOC at the band's edge; what the band does not allow is
reported unfilled. Low urgency never takes: it re-posts the remainder at the touch and lets the
deadline cancel it.

A book that is not SYNCED pauses sending (cancels of leftovers still go); the due child goes
out on the first book event after it is SYNCED again. A child the venue rejects, or the desk
refuses, rolls into the next slice; the finishing child is retried on the next book event, and
after ``MAX_REJECTS`` refusals the strategy stops and reports.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from typing import ClassVar

from engine.clock import NS_PER_S
from engine.commands import Command
from engine.desk import MarketView
from engine.enums import OrderStatus
from engine.events import ChildDenied, ChildFilled, ChildStatusChanged
from engine.parent import ParentPlan
from strategies.base import StrategyState
from strategies.common import WorkingStrategy

__all__ = ["Twap", "slice_count", "randomised_split"]

_PARTS: int = 1_000_000_000  # weights become integers out of this, so the split is exact


def slice_count(time_limit_s: int) -> int:
    """The seed's rule: ``min(20, max(5, time_limit // 60))`` slices."""
    return min(20, max(5, time_limit_s // 60))


def randomised_split(
    total: int,
    weights: Sequence[float],
    *,
    step: int,
    minimum: int,
    rng: random.Random | None = None,
    jitter: float = 0.0,
) -> list[int]:
    """``total`` in ``len(weights)`` multiples of ``step`` proportional to ``weights``, summing exactly.

    Each weight is first multiplied by a uniform draw in ``[1 - jitter, 1 + jitter]`` (when an
    ``rng`` is given). Shares are floored to the step and the residue goes, one step each, to
    the largest remainders (earliest first on ties). Then no slice is left between 0 and
    ``minimum``: such a slice is merged into the next one (the last into the previous non-empty
    one), so every non-zero slice can be sent. Empty slices stay in place (0).
    """
    n = len(weights)
    if n <= 0:
        raise ValueError("need at least one slice")
    if step <= 0 or total < 0 or total % step:
        raise ValueError(f"total {total} must be a non-negative multiple of the step {step}")
    units = total // step
    raw = [max(float(w), 0.0) for w in weights]
    if rng is not None and jitter > 0:
        raw = [w * rng.uniform(1.0 - jitter, 1.0 + jitter) for w in raw]
    scale = sum(raw)
    parts = [round(w / scale * _PARTS) for w in raw] if scale > 0 else [1] * n
    denominator = sum(parts) or 1
    floors = [units * p // denominator for p in parts]
    remainders = [units * p % denominator for p in parts]
    residue = units - sum(floors)
    for index in sorted(range(n), key=lambda i: (-remainders[i], i))[:residue]:
        floors[index] += 1
    min_units = max(1, -(-minimum // step))
    sizes = _merge_small(floors, min_units)
    return [units_ * step for units_ in sizes]


def _merge_small(sizes: list[int], min_units: int) -> list[int]:
    sizes = list(sizes)
    for index in range(len(sizes) - 1):
        if 0 < sizes[index] < min_units:
            sizes[index + 1] += sizes[index]
            sizes[index] = 0
    last = len(sizes) - 1
    if 0 < sizes[last] < min_units:
        earlier = [i for i in range(last) if sizes[i] > 0]
        if earlier:
            sizes[earlier[-1]] += sizes[last]
            sizes[last] = 0
    return sizes


class Twap(WorkingStrategy):
    name = "twap"
    jitter: ClassVar[float] = 0.2

    def __init__(self, plan: ParentPlan, *, seed: int = 0) -> None:
        super().__init__(plan, seed=seed)
        n = slice_count(plan.config.time_limit_s)
        window = max(plan.deadline_ns - plan.start_ns, 0)
        self.interval_ns = window // n
        self.slice_times_ns = [plan.start_ns + i * self.interval_ns for i in range(n)]
        self.finish_at_ns = plan.deadline_ns - self.interval_ns // 2
        weights = self.slice_weights(n)
        self.slice_lots = randomised_split(
            plan.qty_lots,
            weights,
            step=plan.instrument.qty_step_lots,
            minimum=self.min_child_lots(),
            rng=self.rng if self.jitter > 0 else None,
            jitter=self.jitter,
        )
        self._index = -1  # the current slice
        self._finishing = False
        self._due = False  # a slice's child must go out as soon as nothing rests and the book is SYNCED
        self._retry_on_book = False
        self._paused = False

    def slice_weights(self, n: int) -> list[float]:
        """Relative slice sizes before randomisation (even for TWAP; VWAP follows a profile)."""
        return [1.0] * n

    # -- what the schedule asks for -------------------------------------------------------------
    @property
    def current_slice(self) -> int:
        """0-based index of the slice being worked (-1 before the start)."""
        return self._index

    @property
    def finishing(self) -> bool:
        return self._finishing

    @property
    def target_lots(self) -> int:
        """Cumulative quantity the schedule wants filled by now."""
        if self._finishing:
            return self.plan.qty_lots
        return sum(self.slice_lots[: self._index + 1])

    # -- hooks ----------------------------------------------------------------------------------
    def on_start(self, view: MarketView) -> list[Command]:
        interval_s = self.interval_ns / NS_PER_S
        self.note(
            f"{self.name}: {len(self.slice_lots)} slices of {self.slice_lots} lots, one every {interval_s:g}s; "
            f"urgency {self.urgency}: slices {'take (IOC at the band edge)' if self.aggressive else 'join the touch'}; "
            f"final slice at {(self.finish_at_ns - self.plan.start_ns) / NS_PER_S:g}s"
        )
        return self._step(view)

    def on_timer(self, view: MarketView) -> list[Command]:
        if view.now_ns >= self.plan.deadline_ns:
            return self.stop(view, "time limit")
        return self._step(view)

    @property
    def wants_book(self) -> bool:
        return self._due or self._retry_on_book  # a slice waiting to go out (or to be retried)

    @property
    def wants_trades(self) -> bool:
        return False

    def on_book(self, view: MarketView) -> list[Command]:
        if self._retry_on_book:
            self._retry_on_book = False
            self._due = True
        return self._send_due(view)

    def on_fill(self, fill: ChildFilled, view: MarketView) -> list[Command]:
        trimmed = self.trim_overcommit(view)
        if trimmed:
            self._due = True  # once the cancels are confirmed, re-send what the schedule still wants
        return trimmed

    def on_child_done(self, change: ChildStatusChanged, view: MarketView) -> list[Command]:
        if self.state is not StrategyState.WORKING:
            return []
        if change.new is OrderStatus.REJECTED:
            commands = self._refused(view, f"child {change.client_order_id} rejected: {change.reason}")
            if commands or self.state is not StrategyState.WORKING:
                return commands
        commands = self._send_due(view)
        if commands:
            return commands
        if (
            self._finishing
            and not self.patient
            and not self._due
            and not self._retry_on_book
            and self.remaining_lots > 0
            and not self.live_children(view)
        ):
            return self.stop(view, f"final IOC done; {self.remaining_lots} lots are beyond the band")
        return []

    def on_denied(self, denied: ChildDenied, view: MarketView) -> list[Command]:
        return self._refused(view, f"child {denied.client_order_id} refused by the desk: {denied.reason}")

    # -- mechanics --------------------------------------------------------------------------
    def _refused(self, view: MarketView, why: str) -> list[Command]:
        then = "retrying on the next book update" if self._finishing else "its quantity rolls into the next slice"
        stopping = self.refused(view, why, then)
        if stopping is not None:
            return stopping
        if self._finishing:
            self._retry_on_book = True
        return []

    def _step(self, view: MarketView) -> list[Command]:
        """Move the schedule to ``now``; at a new slice (or the finish) cancel leftovers and send."""
        now = view.now_ns
        index = bisect_right(self.slice_times_ns, now) - 1
        finishing = now >= self.finish_at_ns
        boundary = index > self._index or (finishing and not self._finishing)
        self._index = max(index, self._index)
        self._finishing = self._finishing or finishing
        self.wakeup_at_ns = self._next_wakeup(now)
        if not boundary:
            return []
        if finishing:
            how = "re-post it at the touch (low urgency)" if self.patient else "take it with an IOC at the band edge"
            self.note(f"{self.name}: final slice, {self.remaining_lots} lots left: {how}")
        commands = self.cancel_live(view, "slice over: roll what is left into the next slice")
        self._due = True
        return commands + self._send_due(view)

    def _next_wakeup(self, now: int) -> int | None:
        times = [t for t in self.slice_times_ns if t > now]
        if not self._finishing:
            times.append(self.finish_at_ns)
        times.append(self.plan.deadline_ns)
        later = [t for t in times if t > now]
        return min(later) if later else None

    def _send_due(self, view: MarketView) -> list[Command]:
        if not self._due or self.state is not StrategyState.WORKING:
            return []
        if self.live_children(view):
            return []  # the previous child's cancel (or IOC) has not come back yet
        book = self.book(view)
        if book is None:
            if not self._paused:
                self._paused = True
                self.note(f"{self.name}: book not SYNCED; pausing")
            return []
        if self._paused:
            self._paused = False
            self.note(f"{self.name}: book SYNCED again; resuming")
        want = min(self.target_lots - self.filled_lots, self.free_lots(view))
        lots = self.child_lots(want)
        if lots == 0:
            self._due = False
            if self._finishing and self.remaining_lots > 0 and want > 0:
                return self.stop(view, f"the remaining {self.remaining_lots} lots are under the venue minimum")
            return []  # nothing due yet, or too little: it rolls into the next slice
        if self._finishing:
            label = f"{self.name} final"
            passive = self.patient
        else:
            label = f"{self.name} slice {self._index + 1}/{len(self.slice_lots)}"
            passive = not self.aggressive
        commands = self.join(lots, book, label) if passive else self.take(lots, label)
        self._due = not commands  # a book with no price to join: try again on the next update
        return commands
