"""SNIPER: no resting orders; take a share of the liquidity inside the band whenever enough shows.

On every book or trade event (and at the start) it looks at the opposite side (asks for a
buy) and adds up what is priced within the band, *net of what its own fills have taken from
levels the book has not re-stated since*. When that is at least ``min_fill_size`` (and the
venue's minimum), it sends one IOC limit for ``min(what the parent still needs,
participation_rate x net in-band liquidity)``, priced at the worst level that quantity needs
in the net book: never beyond the band. At most one strike per market event, and nothing
while a strike is in flight (it already claims that liquidity); a book that is not SYNCED
sends nothing.

Why net. Each of our fills takes lots at one price of the opposite side. Live, Bybit's public
book re-states that level right after (smaller, or deleted), so the next strike is sized from
what is really left. A replayed book knows nothing of us: it goes on showing the lots we took
until the market itself changes that level, and a strike sized and priced from it would aim
at liquidity that is gone (in a backtest: IOCs that come back nearly empty, one per event).
So the sniper keeps, per opposite-side price, the lots its fills took there, and forgets them
when a book message re-states that price (a delta listing it, a delete included) or a
snapshot replaces the book. Live, nothing is counted twice; in a backtest, liquidity is not
counted again until the market changes it: the same strikes either way. This is also what
the simulated venue assumes about consumed liquidity (``engine.sim.matching``). One case is
conservative: if the public book re-states a level before our own execution report for it
arrives, those lots count as taken until the level is re-stated again (smaller strikes,
never larger). The per-event cost stays O(1) (an integer total); only a book message, while
something is remembered, looks at the levels it lists.

Finishing. Shortly before the time limit (10% of the window, at most 5 s) whatever is left
goes as one band-capped IOC (at the band's edge), and the rest is reported unfilled. With low
urgency there is no finishing IOC: sniping continues to the deadline and the remainder is
reported unfilled.
"""

from __future__ import annotations

from decimal import Decimal

from engine.book import OrderBook
from engine.commands import Command
from engine.desk import MarketView
from engine.enums import Side, TimeInForce
from engine.events import BookDelta, ChildFilled, ChildStatusChanged, Event, TradePrinted
from engine.numbers import ScaleError
from engine.parent import ParentPlan
from strategies.base import StrategyState
from strategies.common import FinishingStrategy

__all__ = ["Sniper"]


class Sniper(FinishingStrategy):
    name = "sniper"

    def __init__(self, plan: ParentPlan, *, seed: int = 0) -> None:
        super().__init__(plan, seed=seed)
        self.snipes = 0
        self.opposite = plan.side.opposite
        # Opposite-side price (ticks) -> lots our fills took there since the book last re-stated
        # that level (each at most the level's size then), and their sum.
        self.taken: dict[int, int] = {}
        self.taken_lots = 0

    @property
    def threshold_lots(self) -> int:
        """Liquidity within the band needed before a shot: min_fill_size, at least the venue minimum."""
        return max(self.plan.min_fill_lots, self.venue_min_lots())

    def on_event(self, event: Event, view: MarketView) -> list[Command]:
        if self.taken and type(event) is BookDelta:
            self._forget_restated(event, view)
        return super().on_event(event, view)

    def on_start(self, view: MarketView) -> list[Command]:
        finish = "no finishing IOC (low urgency)" if self.patient else "a band-capped IOC finishes the rest"
        self.note(
            f"sniper: IOCs for {self.plan.config.participation_rate} of the liquidity within "
            f"{self.px(self.plan.band_ticks)} (net of what our fills took) once {self.qty(self.threshold_lots)} "
            f"shows there; at the time limit {finish}"
        )
        self.wakeup_at_ns = self.finish_at_ns
        return self._snipe(view)

    def on_book(self, view: MarketView) -> list[Command]:
        return self.finish_send(view) if self.finishing else self._snipe(view)

    def on_trade(self, trade: TradePrinted, view: MarketView) -> list[Command]:
        return self.on_book(view)

    def on_fill(self, fill: ChildFilled, view: MarketView) -> list[Command]:
        self._remember_taken(fill, view)
        return self.trim_overcommit(view)

    def on_child_done(self, change: ChildStatusChanged, view: MarketView) -> list[Command]:
        return self.finish_done(change, view) if self.state is StrategyState.WORKING else []

    # -- the liquidity our own fills took ---------------------------------------------------
    def net_in_band(self, book: OrderBook) -> int:
        """Lots within the band on the opposite side, less what our fills took from levels not re-stated since."""
        return max(self.available_in_band(book) - self.taken_lots, 0)

    def _remember_taken(self, fill: ChildFilled, view: MarketView) -> None:
        if fill.is_maker:
            return  # a resting fill took nothing from the opposite side of the book
        book = view.book(self.plan.symbol)
        price = fill.price_ticks
        within = price <= self.plan.band_ticks if self.plan.side is Side.BUY else price >= self.plan.band_ticks
        if book is None or not within:
            return
        before = self.taken.get(price, 0)
        after = min(before + fill.qty_lots, book.side(self.opposite).size_at(price))
        if after > before:
            self.taken[price] = after
            self.taken_lots += after - before

    def _forget_restated(self, delta: BookDelta, view: MarketView) -> None:
        """The book has re-stated these levels: its sizes there are the truth again."""
        book = view.book(self.plan.symbol)
        if book is None or delta.symbol != self.plan.symbol or delta.depth != book.depth:
            return  # another book's message changes nothing in the one we size from
        if delta.is_snapshot or delta.update_id == 1:
            self.taken.clear()
            self.taken_lots = 0
            return
        book_side = book.side(self.opposite)
        to_key, sign, taken = book_side.key_memo.get, book_side.sign, self.taken
        for price_text, _ in delta.asks if self.opposite is Side.SELL else delta.bids:
            try:
                lots = taken.pop(sign * to_key(price_text), 0)
            except ScaleError:
                continue  # the book judged the message; an unreadable price re-states nothing we hold
            self.taken_lots -= lots

    def _worst_price_for(self, book: OrderBook, lots: int) -> int | None:
        """The worst opposite price within the band that ``lots`` reach in the net book (None if they do not)."""
        book_side = book.side(self.opposite)
        taken = self.taken
        for price, size in book_side.levels_within_key(book_side.sign * self.plan.band_ticks):
            lots -= size - taken.get(price, 0)
            if lots <= 0:
                return price
        return None

    # -- the strike ---------------------------------------------------------------------------
    def _snipe(self, view: MarketView) -> list[Command]:
        # Runs on every book and trade event: the cheap checks that usually decide come first.
        if self.state is not StrategyState.WORKING:
            return []
        book = self.book(view)
        if book is None:
            return []
        available = self.net_in_band(book)  # O(1): the desk keeps the band's depth current
        if available < self.threshold_lots or self.live_children(view):
            return []
        share = int(Decimal(available) * self.plan.config.participation_rate)
        lots = self.plan.instrument.qty_floor(min(self.free_lots(view), share))
        maximum = self.plan.instrument.max_qty_lots
        if maximum is not None:
            lots = min(lots, self.plan.instrument.qty_floor(maximum))
        if lots < self.venue_min_lots():
            return []
        worst = self._worst_price_for(book, lots)
        if worst is None:
            return []
        price = self.clamp_to_band(worst)
        self.snipes += 1
        why = f"sniper: {self.qty(available)} in band net of our fills, taking {self.qty(lots)}"
        return [self.limit(lots, price, TimeInForce.IOC, why)]
