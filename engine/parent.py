"""What a desk hands the engine: a parent order and how to route it.

``RoutingConfig`` carries the seed's routing parameters; both it and ``ParentOrder`` refuse
bad values at construction with a message that names the field. ``ParentOrder.plan`` turns the
order into integer ticks and lots against the instrument's rules and the book at arrival: the
numbers every strategy works with, including the price band no child may cross.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from engine.enums import Side
from engine.errors import ConfigError
from engine.ids import validate_parent_id
from engine.instrument import Instrument
from engine.numbers import ScaleError

__all__ = ["Urgency", "StrategyName", "RoutingConfig", "ParentOrder", "ParentPlan"]


class Urgency(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    IMMEDIATE = "immediate"


class StrategyName(StrEnum):
    DIRECT = "direct"
    TWAP = "twap"
    VWAP = "vwap"
    ICEBERG = "iceberg"
    SNIPER = "sniper"
    POV = "pov"
    SMART = "smart"


@dataclass(frozen=True, kw_only=True)
class RoutingConfig:
    """How to work a parent. Fractions are fractions (0.001 = 10 bps), sizes in base units."""

    strategy: StrategyName
    urgency: Urgency = Urgency.MEDIUM
    max_slippage: Decimal = Decimal("0.001")
    time_limit_s: int = 300
    chunk_size: Decimal | None = None
    participation_rate: Decimal = Decimal("0.1")
    min_fill_size: Decimal | None = None
    limit_price: Decimal | None = None

    def __post_init__(self) -> None:
        _check(isinstance(self.strategy, StrategyName), f"unknown strategy {self.strategy!r}")
        _check(isinstance(self.urgency, Urgency), f"unknown urgency {self.urgency!r}")
        _check_decimal("max_slippage", self.max_slippage)
        _check(0 <= self.max_slippage < 1, f"max_slippage must be in [0, 1), got {self.max_slippage}")
        _check(
            isinstance(self.time_limit_s, int) and not isinstance(self.time_limit_s, bool),
            f"time_limit_s must be whole seconds, got {self.time_limit_s!r}",
        )
        _check(self.time_limit_s >= 0, f"time_limit_s must be >= 0, got {self.time_limit_s}")
        _check_decimal("participation_rate", self.participation_rate)
        _check(
            0 < self.participation_rate <= 1,
            f"participation_rate must be in (0, 1], got {self.participation_rate}",
        )
        for name in ("chunk_size", "min_fill_size", "limit_price"):
            value = getattr(self, name)
            if value is not None:
                _check_decimal(name, value)
                _check(value > 0, f"{name} must be positive, got {value}")


@dataclass(frozen=True, kw_only=True)
class ParentOrder:
    parent_id: str
    symbol: str
    side: Side
    qty: Decimal
    config: RoutingConfig

    def __post_init__(self) -> None:
        try:
            validate_parent_id(self.parent_id)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        _check(isinstance(self.side, Side), f"side must be Buy or Sell, got {self.side!r}")
        _check(bool(self.symbol) and isinstance(self.symbol, str), "symbol is required")
        _check_decimal("qty", self.qty)
        _check(self.qty > 0, f"qty must be positive, got {self.qty}")

    def plan(self, instrument: Instrument, *, arrival_mid_ticks: Decimal, start_ns: int) -> ParentPlan:
        """The order in ticks and lots, checked against the instrument's rules.

        Raises ``ConfigError`` for an unknown symbol (instrument of another symbol), a quantity
        off the lot grid or under the minimums, or a limit price off the tick grid.
        """
        _check(instrument.symbol == self.symbol, f"no instrument rules for {self.symbol}")
        config = self.config
        qty_lots = _lots(instrument, "qty", self.qty)
        _check(
            qty_lots % instrument.qty_step_lots == 0,
            f"qty {self.qty} is not a multiple of the qty step {instrument.format_qty(instrument.qty_step_lots)}",
        )
        _check(
            qty_lots >= instrument.min_qty_lots,
            f"qty {self.qty} is below the minimum {instrument.format_qty(instrument.min_qty_lots)}",
        )
        chunk_lots = _lots(instrument, "chunk_size", config.chunk_size) if config.chunk_size else None
        min_fill_lots = _lots(instrument, "min_fill_size", config.min_fill_size) if config.min_fill_size else 0
        limit_ticks = None
        if config.limit_price is not None:
            limit_ticks = _ticks(instrument, "limit_price", config.limit_price)
        band_ticks = _band_edge(self.side, arrival_mid_ticks, config.max_slippage, instrument, limit_ticks)
        _check(band_ticks > 0, "the price band is empty: max_slippage too large for this price")
        return ParentPlan(
            parent=self,
            instrument=instrument,
            qty_lots=qty_lots,
            chunk_lots=chunk_lots,
            min_fill_lots=min_fill_lots,
            limit_ticks=limit_ticks,
            arrival_mid_ticks=arrival_mid_ticks,
            band_ticks=band_ticks,
            start_ns=start_ns,
            deadline_ns=start_ns + config.time_limit_s * 1_000_000_000,
        )


@dataclass(frozen=True, kw_only=True)
class ParentPlan:
    """A parent in integers: what strategies read. ``band_ticks`` is the worst allowed price.

    For a buy no child may be priced (or fill) above ``band_ticks``; for a sell, below it. It is
    the arrival mid moved by ``max_slippage`` against us, tightened by ``limit_price``, and
    rounded to the tick grid towards the mid (a buy cap never rounds up).
    """

    parent: ParentOrder
    instrument: Instrument
    qty_lots: int
    chunk_lots: int | None
    min_fill_lots: int
    limit_ticks: int | None
    arrival_mid_ticks: Decimal
    band_ticks: int
    start_ns: int
    deadline_ns: int
    notes: list[str] = field(default_factory=list)

    @property
    def side(self) -> Side:
        return self.parent.side

    @property
    def symbol(self) -> str:
        return self.parent.symbol

    @property
    def parent_id(self) -> str:
        return self.parent.parent_id

    @property
    def config(self) -> RoutingConfig:
        return self.parent.config

    def within_band(self, price_ticks: int) -> bool:
        """Whether a child may be priced (and fill) at ``price_ticks``."""
        if self.side is Side.BUY:
            return price_ticks <= self.band_ticks
        return price_ticks >= self.band_ticks


def _band_edge(
    side: Side, mid_ticks: Decimal, max_slippage: Decimal, instrument: Instrument, limit_ticks: int | None
) -> int:
    if side is Side.BUY:
        raw = (mid_ticks * (1 + max_slippage)).to_integral_value(rounding=ROUND_FLOOR)
        edge = instrument.price_floor(int(raw))
        return edge if limit_ticks is None else min(edge, instrument.price_floor(limit_ticks))
    raw = (mid_ticks * (1 - max_slippage)).to_integral_value(rounding=ROUND_CEILING)
    edge = instrument.price_ceil(int(raw))
    return edge if limit_ticks is None else max(edge, instrument.price_ceil(limit_ticks))


def _lots(instrument: Instrument, name: str, value: Decimal) -> int:
    try:
        return instrument.lots(value)
    except ScaleError as exc:
        raise ConfigError(f"{name} {value} is finer than the instrument's quantity precision") from exc


def _ticks(instrument: Instrument, name: str, value: Decimal) -> int:
    try:
        return instrument.ticks(value)
    except ScaleError as exc:
        raise ConfigError(f"{name} {value} is finer than the instrument's price precision") from exc


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _check_decimal(name: str, value: object) -> None:
    _check(isinstance(value, Decimal), f"{name} must be a Decimal (exact), got {type(value).__name__}")
    assert isinstance(value, Decimal)
    _check(value.is_finite(), f"{name} must be a finite number, got {value}")
