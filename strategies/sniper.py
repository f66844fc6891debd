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
from engine.enums import OrderStatus, TimeInForce
from engine.events import ChildDenied, ChildFilled, ChildStatusChanged, TradePrinted
from engine.parent import ParentPlan
from strategies.base import StrategyState
from strategies.common import WorkingStrategy

__all__ = ["Sniper"]


class Sniper(WorkingStrategy):
    name = "sniper"

    def __init__(self, plan: ParentPlan, *, seed: int = 0) -> None:
        super().__init__(plan, seed=seed)
        lead = 0 if self.patient else self.finish_lead_ns()
        self.finish_at_ns = plan.deadline_ns - lead
        self.snipes = 0
        self._finishing = False
        self._finish_due = False

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
        return self._finish_send(view) if self._finishing else self._snipe(view)

    def on_trade(self, trade: TradePrinted, view: MarketView) -> list[Command]:
        return self.on_book(view)

    def on_fill(self, fill: ChildFilled, view: MarketView) -> list[Command]:
        return self.trim_overcommit(view)

    def on_timer(self, view: MarketView) -> list[Command]:
        now = view.now_ns
        if now >= self.plan.deadline_ns:
            return self.stop(view, "time limit")
        if now >= self.finish_at_ns and not self._finishing:
            self._finishing = True
            self._finish_due = True
            self.wakeup_at_ns = self.plan.deadline_ns
            self.note(f"sniper: time limit near; finishing {self.remaining_lots} lots with a band-capped IOC")
            return self._finish_send(view)
        return []

    def on_child_done(self, change: ChildStatusChanged, view: MarketView) -> list[Command]:
        if self.state is not StrategyState.WORKING:
            return []
        if change.new is OrderStatus.REJECTED:
            return self._refused(view, f"child {change.client_order_id} rejected: {change.reason}")
        commands = self._finish_send(view)
        if commands:
            return commands
        if self._finishing and not self._finish_due and self.remaining_lots > 0 and not self.live_children(view):
            return self.stop(view, f"final IOC done; {self.remaining_lots} lots are beyond the band")
        return []

    def on_denied(self, denied: ChildDenied, view: MarketView) -> list[Command]:
        return self._refused(view, f"child {denied.client_order_id} refused by the desk: {denied.reason}")

    def _refused(self, view: MarketView, why: str) -> list[Command]:
        stopping = self.refused(view, why, "trying again on the next event")
        if stopping is not None:
            return stopping
        if self._finishing:
            self._finish_due = True
        return []

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

    def _finish_send(self, view: MarketView) -> list[Command]:
        if not self._finish_due or self.state is not StrategyState.WORKING:
            return []
        if self.live_children(view) or self.book(view) is None:
            return []  # after the IOC in flight, or on the next book event
        lots = self.child_lots(self.free_lots(view))
        self._finish_due = False
        if lots == 0:
            if self.remaining_lots > 0 and not self.live_children(view):
                return self.stop(view, f"the remaining {self.remaining_lots} lots are under the venue minimum")
            return []
        return self.take(lots, "sniper final")
