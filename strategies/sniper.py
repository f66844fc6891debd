"""SNIPER: no resting orders; take liquidity inside the band whenever enough of it shows.

On every book or trade event (and at the start) it looks at the opposite side (asks for a
buy) and adds up what is priced within the band. When that is at least ``min_fill_size`` (and
the venue's minimum), it sends one IOC limit for ``min(what the parent still needs,
participation_rate x available)``, priced at the worst level that quantity needs: never
beyond the band, and no worse than the book requires. While an IOC is in flight nothing else
is sent (it already claims that liquidity); a book that is not SYNCED sends nothing.

Finishing. Shortly before the time limit (10% of the window, at most 5 s) whatever is left
goes as one band-capped IOC (at the band's edge), and the rest is reported unfilled. With low
urgency there is no finishing IOC: sniping continues to the deadline and the remainder is
reported unfilled.
"""

from __future__ import annotations

from decimal import Decimal

from engine.commands import Command
from engine.desk import MarketView
from engine.enums import TimeInForce
from engine.events import ChildFilled, ChildStatusChanged, TradePrinted
from engine.parent import ParentPlan
from strategies.base import StrategyState
from strategies.common import FinishingStrategy

__all__ = ["Sniper"]


class Sniper(FinishingStrategy):
    name = "sniper"

    def __init__(self, plan: ParentPlan, *, seed: int = 0) -> None:
        super().__init__(plan, seed=seed)
        self.snipes = 0

    @property
    def threshold_lots(self) -> int:
        """Liquidity within the band needed before a shot: min_fill_size, at least the venue minimum."""
        return max(self.plan.min_fill_lots, self.venue_min_lots())

    def on_start(self, view: MarketView) -> list[Command]:
        finish = "no finishing IOC (low urgency)" if self.patient else "a band-capped IOC finishes the rest"
        self.note(
            f"sniper: IOCs for {self.plan.config.participation_rate} of the in-band liquidity once "
            f"{self.threshold_lots} lots show within {self.plan.band_ticks}; at the time limit {finish}"
        )
        self.wakeup_at_ns = self.finish_at_ns
        return self._snipe(view)

    def on_book(self, view: MarketView) -> list[Command]:
        return self.finish_send(view) if self.finishing else self._snipe(view)

    def on_trade(self, trade: TradePrinted, view: MarketView) -> list[Command]:
        return self.on_book(view)

    def on_fill(self, fill: ChildFilled, view: MarketView) -> list[Command]:
        return self.trim_overcommit(view)

    def on_child_done(self, change: ChildStatusChanged, view: MarketView) -> list[Command]:
        return self.finish_done(change, view) if self.state is StrategyState.WORKING else []

    def _snipe(self, view: MarketView) -> list[Command]:
        # Runs on every book and trade event: the cheap checks that usually decide come first.
        if self.state is not StrategyState.WORKING:
            return []
        book = self.book(view)
        if book is None:
            return []
        available = self.available_in_band(book)  # O(1): the desk keeps the band's depth current
        if available < self.threshold_lots or self.live_children(view):
            return []
        share = int(Decimal(available) * self.plan.config.participation_rate)
        lots = self.plan.instrument.qty_floor(min(self.free_lots(view), share))
        maximum = self.plan.instrument.max_qty_lots
        if maximum is not None:
            lots = min(lots, self.plan.instrument.qty_floor(maximum))
        if lots < self.venue_min_lots():
            return []
        sweep = book.sweep(self.plan.side.opposite, lots, self.plan.band_ticks)
        if sweep.worst_price_ticks is None:
            return []
        price = self.clamp_to_band(sweep.worst_price_ticks)
        self.snipes += 1
        return [self.limit(lots, price, TimeInForce.IOC, f"sniper: {available} lots in band, taking {lots}")]
