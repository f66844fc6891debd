"""An independent check of the simulated venue's maker fills against what the market offered.

The invariant (issue 6): over any interval, our maker fills at a price P never exceed the volume
the market traded at or through P in that interval with the taker on the other side, plus the
liquidity the book itself showed crossing P (levels strictly through P on the opposite side),
counted as it arrived: a level's size when it first crosses, and each later increase.

``FillAudit`` wraps a ``MatchingEngine`` (a subclass, so ``SimBybit`` and ``Backtest`` drive it
unchanged) and keeps, per (side, price) at which an order of ours was ever submitted, the
market's offer since then and our maker fills there. It checks the bound after every call and
raises ``AssertionError`` with the figures the moment it breaks. It reads the book's levels to
know what crossed, but nothing of the fill model: not the queue, not the consumed lots.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.commands import AmendOrder, SubmitOrder
from engine.enums import Side
from engine.events import BookDelta, TradePrinted
from engine.instrument import Instrument
from engine.numbers import ScaleError
from engine.sim import Fees, Filled, MatchingEngine, Report

__all__ = ["FillAudit", "Offer"]


@dataclass
class Offer:
    """What the market offered our orders at one (side, price) since we first priced one there."""

    traded: int = 0  # lots traded at or through the price, taker on the other side
    crossing: int = 0  # lots the book showed arriving strictly through the price
    maker_filled: int = 0  # our maker fills at the price

    @property
    def bound(self) -> int:
        return self.traded + self.crossing


class FillAudit(MatchingEngine):
    def __init__(self, instruments: Mapping[str, Instrument], fees: Fees, *, seed: int = 0) -> None:
        super().__init__(instruments, fees, seed=seed)
        self.offers: dict[tuple[str, Side, int], Offer] = {}
        self._seen: dict[tuple[str, Side], dict[int, int]] = {}  # last sizes seen, per book side
        self.checks = 0

    # -- what the market offers ------------------------------------------------------------------
    def on_book(self, delta: BookDelta, now_ns: int) -> list[Report]:
        reports = super().on_book(delta, now_ns)
        self._observe_book(delta.symbol)
        self._record(reports)
        return reports

    def on_trade(self, trade: TradePrinted, now_ns: int) -> list[Report]:
        instrument = self.instruments.get(trade.symbol)
        if instrument is not None and not (trade.is_block_trade or trade.is_rpi):
            try:
                price, qty = instrument.ticks(trade.price), instrument.lots(trade.qty)
            except ScaleError:
                price = qty = 0
            maker = trade.taker_side.opposite
            for (symbol, side, ours), offer in self.offers.items():
                if symbol == trade.symbol and side is maker and qty and side.sign * (price - ours) <= 0:
                    offer.traded += qty  # a sell at or below our bid, a buy at or above our ask
        reports = super().on_trade(trade, now_ns)
        self._record(reports)
        return reports

    # -- our orders ------------------------------------------------------------------------------
    def submit(self, cmd: SubmitOrder, now_ns: int) -> list[Report]:
        self._observe_book(cmd.symbol)  # a shared book may have moved while the venue skipped it
        if cmd.price_ticks is not None:
            self._watch(cmd.symbol, cmd.side, cmd.price_ticks)
        reports = super().submit(cmd, now_ns)
        self._record(reports)
        return reports

    def amend(self, cmd: AmendOrder, now_ns: int) -> list[Report]:
        known = self.order(cmd.client_order_id)
        self._observe_book(cmd.symbol)
        if known is not None and cmd.price_ticks is not None:
            self._watch(known.symbol, known.side, cmd.price_ticks)
        reports = super().amend(cmd, now_ns)
        self._record(reports)
        return reports

    # -- bookkeeping -----------------------------------------------------------------------------
    def _levels(self, symbol: str, side: Side) -> dict[int, int]:
        book = self.book(symbol)
        if book is None or not book.is_synced:
            return {}
        return dict(book.side(side).levels())

    def _watch(self, symbol: str, side: Side, price: int) -> None:
        """Start counting the offer at ``price``: what already crosses it counts as arrived."""
        key = (symbol, side, price)
        if key in self.offers:
            return
        opposite = side.opposite
        levels = self._seen.setdefault((symbol, opposite), self._levels(symbol, opposite))
        self.offers[key] = Offer(crossing=sum(size for level, size in levels.items() if _through(side, level, price)))

    def _observe_book(self, symbol: str) -> None:
        for side in (Side.BUY, Side.SELL):
            now = self._levels(symbol, side)
            before = self._seen.get((symbol, side), {})
            grown = ((level, size - before.get(level, 0)) for level, size in now.items())
            arrivals = {level: lots for level, lots in grown if lots > 0}
            self._seen[(symbol, side)] = now
            if not arrivals:
                continue
            for (offer_symbol, our_side, ours), offer in self.offers.items():
                if offer_symbol == symbol and our_side is side.opposite:
                    offer.crossing += sum(lots for level, lots in arrivals.items() if _through(our_side, level, ours))

    def _record(self, reports: list[Report]) -> None:
        for report in reports:
            if isinstance(report, Filled) and report.is_maker:
                order = report.order
                offer = self.offers[(order.symbol, order.side, report.price_ticks)]
                offer.maker_filled += report.qty_lots
        self.check()

    def check(self) -> None:
        self.checks += 1
        for (symbol, side, price), offer in self.offers.items():
            assert offer.maker_filled <= offer.bound, (
                f"{symbol} {side} @ {price}: maker fills {offer.maker_filled} lots exceed the market's offer "
                f"({offer.traded} traded at or through it + {offer.crossing} shown crossing it)"
            )

    @property
    def maker_filled(self) -> int:
        return sum(offer.maker_filled for offer in self.offers.values())


def _through(our_side: Side, level: int, ours: int) -> bool:
    """Whether an opposite level at ``level`` is strictly through our price (an ask below our bid)."""
    return our_side.sign * (ours - level) > 0
