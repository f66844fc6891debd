"""DIRECT: take the whole quantity at once, as far as the band allows; never chase.

One marketable child (an IOC limit at the band's edge) for everything, split only if the
venue's maximum order size demands it. Whatever the band does not allow stays unfilled and is
reported as such: chasing the price beyond the band is exactly what the band forbids.
"""

from __future__ import annotations

from engine.commands import Command
from engine.desk import MarketView
from engine.events import ChildStatusChanged
from engine.parent import ParentPlan
from strategies.base import BaseStrategy, chunks


class Direct(BaseStrategy):
    name = "direct"

    def __init__(self, plan: ParentPlan, *, seed: int = 0) -> None:
        super().__init__(plan, seed=seed)
        self._sent = False

    @property
    def wants_book(self) -> bool:
        return not self._sent  # waiting for a synced book to fire; afterwards nothing to watch

    @property
    def wants_trades(self) -> bool:
        return False

    def on_start(self, view: MarketView) -> list[Command]:
        return self._take(view)

    def on_book(self, view: MarketView) -> list[Command]:
        return [] if self._sent else self._take(view)

    def on_child_done(self, change: ChildStatusChanged, view: MarketView) -> list[Command]:
        if self._sent and not self.open_children(view) and self.remaining_lots > 0:
            return self.stop(view, "IOC done; the rest is beyond the band")
        return []

    def _take(self, view: MarketView) -> list[Command]:
        if self.book(view) is None:
            return []  # wait for a synced book; on_book retries
        qty = self.tradable(self.remaining_lots)
        if qty == 0:
            return self.stop(view, "quantity under the venue minimum")
        self._sent = True
        step = self.plan.instrument.max_qty_lots or qty
        self.note(f"direct: one IOC at the band edge {self.px(self.plan.band_ticks)} for {self.qty(qty)}")
        return [self.marketable(piece, "direct") for piece in chunks(qty, step)]
