"""Trading rules of one symbol, and the exact unit system built on them.

Units: a *tick* is ``10**-price_scale`` of the quote currency and a *lot* is ``10**-qty_scale``
of the base. These are the finest increments the venue prints for the symbol, so every price
and size on the wire converts to whole ticks and lots without loss. The instrument's order
rules (Bybit's tickSize, qtyStep, minOrderQty, ...) are whole multiples of them, e.g. BTCUSDT
with priceScale 2 and tickSize 0.10 has ``price_step_ticks == 10``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from engine.numbers import format_fixed, from_decimal, parse_fixed, to_decimal, written_decimals

__all__ = ["Instrument"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    """Symbol rules in ticks and lots. ``inferred`` marks rules guessed from market data alone."""

    symbol: str
    category: str = "linear"
    price_scale: int
    qty_scale: int
    price_step_ticks: int = 1
    qty_step_lots: int = 1
    min_qty_lots: int = 0
    max_qty_lots: int | None = None
    max_market_qty_lots: int | None = None
    min_notional: Decimal = Decimal(0)
    inferred: bool = False

    def __post_init__(self) -> None:
        if self.price_scale < 0 or self.qty_scale < 0:
            raise ValueError(f"{self.symbol}: scales must be >= 0")
        if self.price_step_ticks <= 0 or self.qty_step_lots <= 0:
            raise ValueError(f"{self.symbol}: price and qty steps must be positive")

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def inferred_from_levels(cls, symbol: str, levels: Iterable[Iterable[str]]) -> Instrument:
        """Scales wide enough for every ``[price, size]`` given; steps unknown (1 tick, 1 lot).

        Used when a feed is replayed without instrument rules: the book still needs an exact
        integer scale, and the snapshot shows how many decimals the venue prints (Bybit writes
        every price of a symbol with its priceScale decimals, trailing zeros included).
        """
        price_scale = qty_scale = 0
        for level in levels:
            price, size = level
            price_scale = max(price_scale, written_decimals(price))
            qty_scale = max(qty_scale, written_decimals(size))
        return cls(symbol=symbol, price_scale=price_scale, qty_scale=qty_scale, inferred=True)

    def widened_for(self, levels: Iterable[Iterable[str]]) -> Instrument:
        """This instrument with scales widened, never narrowed, to fit ``levels``.

        An inferred instrument's steps mean "unknown, the finest unit", and stay so. Real rules
        are rescaled with the units, so a 0.5 tick stays 0.5 whatever the scale.
        """
        other = Instrument.inferred_from_levels(self.symbol, levels)
        if other.price_scale <= self.price_scale and other.qty_scale <= self.qty_scale:
            return self
        price_scale = max(self.price_scale, other.price_scale)
        qty_scale = max(self.qty_scale, other.qty_scale)
        if self.inferred:
            return replace(self, price_scale=price_scale, qty_scale=qty_scale)
        price_factor = 10 ** (price_scale - self.price_scale)
        qty_factor = 10 ** (qty_scale - self.qty_scale)
        return replace(  # the rules keep their value; only the unit they are counted in shrinks
            self,
            price_scale=price_scale,
            qty_scale=qty_scale,
            price_step_ticks=self.price_step_ticks * price_factor,
            qty_step_lots=self.qty_step_lots * qty_factor,
            min_qty_lots=self.min_qty_lots * qty_factor,
            max_qty_lots=None if self.max_qty_lots is None else self.max_qty_lots * qty_factor,
            max_market_qty_lots=(None if self.max_market_qty_lots is None else self.max_market_qty_lots * qty_factor),
        )

    # -- conversion -----------------------------------------------------------------------
    def format_price(self, ticks: int) -> str:
        return format_fixed(ticks, self.price_scale)

    def format_qty(self, lots: int) -> str:
        return format_fixed(lots, self.qty_scale)

    def price_decimal(self, ticks: int) -> Decimal:
        return to_decimal(ticks, self.price_scale)

    def qty_decimal(self, lots: int) -> Decimal:
        return to_decimal(lots, self.qty_scale)

    def ticks(self, price: Decimal | str) -> int:
        """Exact ticks of a price; ``ScaleError`` if it is finer than a tick or not a number."""
        if isinstance(price, str):
            return parse_fixed(price, self.price_scale)
        return from_decimal(price, self.price_scale)

    def lots(self, qty: Decimal | str) -> int:
        """Exact lots of a quantity; ``ScaleError`` if it is finer than a lot or not a number."""
        if isinstance(qty, str):
            return parse_fixed(qty, self.qty_scale)
        return from_decimal(qty, self.qty_scale)

    # -- order rules ----------------------------------------------------------------------
    def price_floor(self, ticks: int) -> int:
        """Largest valid order price <= ticks (a buy cap must never round up)."""
        return ticks - ticks % self.price_step_ticks

    def price_ceil(self, ticks: int) -> int:
        """Smallest valid order price >= ticks (a sell floor must never round down)."""
        return -((-ticks) // self.price_step_ticks) * self.price_step_ticks

    def qty_floor(self, lots: int) -> int:
        """Largest valid order quantity <= lots."""
        return lots - lots % self.qty_step_lots

    def notional(self, price_ticks: int, qty_lots: int) -> Decimal:
        """Quote value of ``qty`` at ``price``, exact."""
        return to_decimal(price_ticks * qty_lots, self.price_scale + self.qty_scale)
