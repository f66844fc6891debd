"""TWAP: the parent in evenly spaced slices over the time limit, each one worked inside the band.

Schedule. ``min(20, max(5, time_limit // 60))`` slices, the first at the start and one every
``time_limit / n`` after it, so the last one starts one interval before the deadline. Slice
sizes are the even split randomised by ±20% with the strategy's seeded generator, floored to
the lot step, with the rounding residue handed out so they sum exactly to the parent; a slice
under the smallest child we send is merged into its neighbour (``randomised_split``). The
same seed gives the same schedule. ``summary().schedule`` is its target cumulative quantity:
one point per slice time, the running total of the slices, the whole parent at the last slice.

Working a slice. At each slice time whatever is left of the previous slice's child is
cancelled and, once the venue has confirmed, one child goes out for the slice's quantity plus
everything earlier slices left unfilled (the target is cumulative: slices 1..i minus what has
filled). High and immediate urgency send it as an IOC at the band's edge; low and medium rest
it at our touch, joining the queue, until the next slice time.

Finishing (``strategies.common.FinishingStrategy``, the mechanism SNIPER and POV share). Half an
interval before the deadline the strategy cancels what rests and sends everything still
unfilled as an IOC at the band's edge; what the band does not allow is reported unfilled. Low
urgency never takes: it re-posts the remainder at the touch and lets the deadline cancel it.

A book that is not SYNCED pauses sending (cancels of leftovers still go); the due child goes
out on the first book event after it is SYNCED again. A child the venue rejects, or the desk
refuses, rolls into the next slice; the finishing child is retried on the next book event, and
after ``MAX_REJECTS`` refusals the strategy stops and reports.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import replace
from itertools import accumulate
from typing import ClassVar

from engine.clock import NS_PER_S
from engine.commands import Command
from engine.desk import MarketView, StrategySummary
from engine.enums import OrderStatus
from engine.events import ChildFilled, ChildStatusChanged
from engine.parent import ParentPlan
from strategies.base import StrategyState
from strategies.common import FinishingStrategy

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

    With an ``rng``, each slice's share is moved by a uniform draw in ``[-jitter, +jitter]`` of
    itself; the moves are re-centred so the shares still sum to the whole, and scaled back if
    that pushed one beyond ``jitter``: every slice stays within ±jitter of its unjittered share
    (up to one step of rounding). Shares are floored to the step and the residue goes, one step
    each, to the largest remainders (earliest first on ties). Then no slice is left between 0 and
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
    scale = sum(raw)
    shares = [w / scale for w in raw] if scale > 0 else [1.0 / n] * n
    if rng is not None and jitter > 0:
        shares = _jittered(shares, [rng.uniform(-jitter, jitter) for _ in shares], jitter)
    parts = [round(share * _PARTS) for share in shares]
    denominator = sum(parts) or 1
    floors = [units * p // denominator for p in parts]
    remainders = [units * p % denominator for p in parts]
    residue = units - sum(floors)
    for index in sorted(range(n), key=lambda i: (-remainders[i], i))[:residue]:
        floors[index] += 1
    min_units = max(1, -(-minimum // step))
    sizes = _merge_small(floors, min_units)
    return [units_ * step for units_ in sizes]


def _jittered(shares: list[float], draws: list[float], jitter: float) -> list[float]:
    """``shares`` (summing to 1) each moved by its draw, still summing to 1 and none beyond ±jitter of itself."""
    mean = sum(share * draw for share, draw in zip(shares, draws, strict=True))
    moves = [draw - mean for draw in draws]  # sum(share * move) == 0: the total is kept
    worst = max((abs(move) for share, move in zip(shares, moves, strict=True) if share > 0), default=0.0)
    if worst > jitter:
        moves = [move * jitter / worst for move in moves]
    return [share * (1.0 + move) for share, move in zip(shares, moves, strict=True)]


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


class Twap(FinishingStrategy):
    name = "twap"
    jitter: ClassVar[float] = 0.2
    cancel_before_finish = True  # the last slice's child gives way to the final one

    def __init__(self, plan: ParentPlan, *, seed: int = 0) -> None:
        n = slice_count(plan.config.time_limit_s)
        self.interval_ns = max(plan.deadline_ns - plan.start_ns, 0) // n  # before finish_lead() is asked
        super().__init__(plan, seed=seed)
        self.slice_times_ns = [plan.start_ns + i * self.interval_ns for i in range(n)]
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
        self._due = False  # a slice's child must go out as soon as nothing rests and the book is SYNCED

    def slice_weights(self, n: int) -> list[float]:
        """Relative slice sizes before randomisation (even for TWAP; VWAP follows a profile)."""
        return [1.0] * n

    # -- finishing: the last slice ----------------------------------------------------------------
    def finish_lead(self) -> int:
        """The final slice goes half an interval before the deadline, at every urgency."""
        return self.interval_ns // 2

    @property
    def finish_passively(self) -> bool:
        """Low urgency never takes: its final slice re-posts at the touch."""
        return self.patient

    def retry_plan(self) -> str:
        return "retrying on the next book update" if self.finishing else "its quantity rolls into the next slice"

    def begin_finishing(self, view: MarketView) -> list[Command]:
        self._due = False  # the final child replaces any slice still waiting to go out
        return super().begin_finishing(view)

    # -- what the schedule asks for -------------------------------------------------------------
    def summary(self) -> StrategySummary:
        """The schedule: at each slice time the slices' running total, the whole parent at the last one."""
        schedule = tuple(zip(self.slice_times_ns, accumulate(self.slice_lots), strict=True))
        return replace(super().summary(), schedule=schedule)

    @property
    def current_slice(self) -> int:
        """0-based index of the slice being worked (-1 before the start)."""
        return self._index

    @property
    def target_lots(self) -> int:
        """Cumulative quantity the schedule wants filled by now."""
        if self.finishing:
            return self.plan.qty_lots
        return sum(self.slice_lots[: self._index + 1])

    # -- hooks ----------------------------------------------------------------------------------
    def on_start(self, view: MarketView) -> list[Command]:
        interval_s = self.interval_ns / NS_PER_S
        self.note(
            f"{self.name}: {len(self.slice_lots)} slices ({', '.join(map(self.qty, self.slice_lots))}), "
            f"one every {interval_s:g}s; "
            f"urgency {self.urgency}: slices {'take (IOC at the band edge)' if self.aggressive else 'join the touch'}; "
            f"final slice at {(self.finish_at_ns - self.plan.start_ns) / NS_PER_S:g}s"
        )
        if view.now_ns >= self.finish_at_ns:
            return self.begin_finishing(view)  # no time for slices (a zero time limit)
        return self._step(view)

    def on_timer(self, view: MarketView) -> list[Command]:
        if view.now_ns >= self.finish_at_ns:
            return super().on_timer(view)  # the final slice, or the deadline
        return self._step(view)

    @property
    def wants_book(self) -> bool:
        return self._due or self._finish_due  # a child waiting to go out (or to be retried); asked per book event

    @property
    def wants_trades(self) -> bool:
        return False

    def on_book(self, view: MarketView) -> list[Command]:
        return self.finish_send(view) if self.finishing else self._send_due(view)

    def on_fill(self, fill: ChildFilled, view: MarketView) -> list[Command]:
        trimmed = self.trim_overcommit(view)
        if trimmed:  # once the cancels are confirmed, re-send what the schedule still wants
            if self.finishing:
                self.finish_again()
            else:
                self._due = True
        return trimmed

    def on_child_done(self, change: ChildStatusChanged, view: MarketView) -> list[Command]:
        if self.state is not StrategyState.WORKING:
            return []
        if self.finishing:
            return self.finish_done(change, view)
        if change.new is OrderStatus.REJECTED:
            commands = self.refusal(view, f"child {change.client_order_id} rejected: {change.reason}")
            if commands or self.state is not StrategyState.WORKING:
                return commands
        return self._send_due(view)

    # -- mechanics --------------------------------------------------------------------------
    def _step(self, view: MarketView) -> list[Command]:
        """Move the schedule to ``now``; at a new slice cancel the leftovers and send the slice."""
        now = view.now_ns
        index = bisect_right(self.slice_times_ns, now) - 1
        boundary = index > self._index
        self._index = max(index, self._index)
        later = bisect_right(self.slice_times_ns, now)
        next_slice = self.slice_times_ns[later] if later < len(self.slice_times_ns) else self.finish_at_ns
        self.wakeup_at_ns = min(next_slice, self.finish_at_ns)
        if not boundary:
            return []
        commands = self.cancel_live(view, "slice over: roll what is left into the next slice")
        self._due = True
        return commands + self._send_due(view)

    def _send_due(self, view: MarketView) -> list[Command]:
        if not self._due or self.state is not StrategyState.WORKING:
            return []
        if self.live_children(view):
            return []  # the previous child's cancel (or IOC) has not come back yet
        book = self.sending_book(view)
        if book is None:
            return []  # on the first book event once it is SYNCED again
        lots = self.child_lots(min(self.target_lots - self.filled_lots, self.free_lots(view)))
        if lots == 0:
            self._due = False
            return []  # nothing due yet, or too little: it rolls into the next slice
        label = f"{self.name} slice {self._index + 1}/{len(self.slice_lots)}"
        commands = self.take(lots, label) if self.aggressive else self.join(lots, book, label)
        self._due = not commands  # a book with no price to join: try again on the next update
        return commands
