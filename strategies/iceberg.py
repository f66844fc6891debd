"""ICEBERG: one small visible child at a time, refilled the moment it is fully filled.

The visible size is ``chunk_size``, else 10% of the parent; never below ``min_fill_size`` (nor
the venue's minimums), on the lot grid. Each visible child rests as a GTC limit at
``limit_price`` when one is given (inside the band by construction), else at our touch (the
best bid for a buy), clamped into the band.

Refill is event driven: on the ``ChildFilled`` that completes the visible child (its filled
quantity reaching its quantity) the next one goes out at the then-current touch, for
``min(visible, what the parent still needs)``. Partial fills change nothing; there is no polling
and no timer other than the deadline. At most one child shows at any time.

The visible size may be randomised (``visible_jitter``, off by default: chunk_size is shown
as given): each refill draws its size uniformly within ±jitter of it from the seeded generator.

A visible child the venue cancels or rejects is replaced on the next book event (after
``MAX_REJECTS`` refusals the strategy stops and reports). A book that is not SYNCED holds the
refill until it is. At the time limit the leftovers are cancelled and the remainder reported.
A resting child is not re-priced when the market moves away: chasing is not an iceberg's job.
"""

from __future__ import annotations

from engine.commands import Command
from engine.desk import MarketView
from engine.enums import OrderStatus, TimeInForce
from engine.events import ChildDenied, ChildFilled, ChildStatusChanged
from engine.parent import ParentPlan
from strategies.base import StrategyState
from strategies.common import WorkingStrategy

__all__ = ["Iceberg"]


class Iceberg(WorkingStrategy):
    name = "iceberg"

    def __init__(self, plan: ParentPlan, *, seed: int = 0, visible_jitter: float = 0.0) -> None:
        super().__init__(plan, seed=seed)
        if not 0 <= visible_jitter < 1:
            raise ValueError("visible_jitter must be in [0, 1)")
        self.visible_jitter = visible_jitter
        step = plan.instrument.qty_step_lots
        base = plan.chunk_lots if plan.chunk_lots else plan.qty_lots // 10
        base = max(base, self.min_child_lots())
        self.visible_lots = min(-(-base // step) * step, plan.qty_lots)
        self.shown: str | None = None  # the child currently showing
        self._need = False  # a visible child is owed (on the next event where it can go)
        self._paused = False

    def on_start(self, view: MarketView) -> list[Command]:
        where = "the limit price" if self.plan.limit_ticks is not None else "the touch"
        self.note(
            f"iceberg: showing {self.qty(self.visible_lots)} at a time at {where}; refill on each completing fill"
        )
        self.wakeup_at_ns = self.plan.deadline_ns
        self._need = True
        return self._show(view)

    def on_timer(self, view: MarketView) -> list[Command]:
        if view.now_ns >= self.plan.deadline_ns:
            return self.stop(view, "time limit: cancelling the iceberg's leftovers")
        return []

    @property
    def wants_book(self) -> bool:
        return self._need  # a visible child to (re)place

    @property
    def wants_trades(self) -> bool:
        return False

    def on_book(self, view: MarketView) -> list[Command]:
        return self._show(view)

    def on_fill(self, fill: ChildFilled, view: MarketView) -> list[Command]:
        commands = self.trim_overcommit(view)
        child = view.child(fill.client_order_id)
        completed = child is not None and fill.filled_lots >= child.qty_lots
        if fill.client_order_id == self.shown and completed and self.remaining_lots > 0:
            self.shown = None
            self._need = True
            commands += self._show(view)
        return commands

    def on_child_done(self, change: ChildStatusChanged, view: MarketView) -> list[Command]:
        if self.state is not StrategyState.WORKING or change.client_order_id != self.shown:
            return []
        if change.new is OrderStatus.FILLED:
            return []  # refilled on the fill itself
        self.shown = None
        why = f"visible child {change.client_order_id} {change.new} ({change.reason})"
        if change.new is OrderStatus.REJECTED:
            stopping = self.refused(view, why, "replacing it on the next book event")
            if stopping is not None:
                return stopping
        else:
            self.note(f"iceberg: {why}; replacing it on the next book event")
        self._need = True
        return []  # replaced on the next book event, not in a loop with the venue

    def on_denied(self, denied: ChildDenied, view: MarketView) -> list[Command]:
        if denied.client_order_id == self.shown:
            self.shown = None
        stopping = self.refused(
            view, f"child {denied.client_order_id} refused by the desk: {denied.reason}", "retrying"
        )
        if stopping is not None:
            return stopping
        self._need = True
        return []

    def _next_size(self) -> int:
        size = self.visible_lots
        if self.visible_jitter > 0:
            factor = self.rng.uniform(1 - self.visible_jitter, 1 + self.visible_jitter)
            size = max(self.plan.instrument.qty_floor(int(size * factor)), self.min_child_lots())
        maximum = self.plan.instrument.max_qty_lots
        return size if maximum is None else min(size, self.plan.instrument.qty_floor(maximum))

    def _show(self, view: MarketView) -> list[Command]:
        if not self._need or self.state is not StrategyState.WORKING or self.live_children(view):
            return []
        book = self.book(view)
        if book is None:
            if not self._paused:
                self._paused = True
                self.note("iceberg: book not SYNCED; holding the refill")
            return []
        self._paused = False
        free = self.free_lots(view)
        lots = self.child_lots(min(self._next_size(), free))
        if lots == 0:
            if free > 0 and free >= self.remaining_lots:
                return self.stop(view, f"the remaining {self.qty(self.remaining_lots)} is under the venue minimum")
            return []
        price = self.plan.limit_ticks if self.plan.limit_ticks is not None else self.join_price(book)
        if price is None:
            return []  # no price to join yet; the next book event retries
        price = self.clamp_to_band(price)
        order = self.limit(lots, price, TimeInForce.GTC, "iceberg visible")
        self.shown = order.client_order_id
        self._need = False
        return [order]
