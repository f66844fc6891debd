"""What a desk hands the engine: a parent order and how to route it.

``RoutingConfig`` carries the seed's routing parameters; both it and ``ParentOrder`` refuse
bad values at construction with a ``ParameterError`` that names the field (so a front end can
name it its own way: the CLI says ``--time-limit`` where the field is ``time_limit_s``).
``ParentOrder.plan`` turns the order into integer ticks and lots against the instrument's rules
and the book at arrival: the numbers every strategy works with, including the price band no
child may cross; ``ParentPlan.arrival_notes`` says when that band keeps the order from taking.
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

__all__ = ["Urgency", "StrategyName", "RoutingConfig", "ParentOrder", "ParentPlan", "ParameterError"]


class ParameterError(ConfigError):
    """A bad value of one field of a parent order: ``field`` is its name here, ``problem`` the rest.

    ``str()`` reads "time_limit_s must be >= 0, got -5"; a front end that names the field
    differently (an option, a form field) shows ``problem`` under its own name.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


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
        _check_field(0 <= self.max_slippage < 1, "max_slippage", f"must be in [0, 1), got {self.max_slippage}")
        _check_field(
            isinstance(self.time_limit_s, int) and not isinstance(self.time_limit_s, bool),
            "time_limit_s",
            f"must be whole seconds, got {self.time_limit_s!r}",
        )
        _check_field(self.time_limit_s >= 0, "time_limit_s", f"must be >= 0, got {self.time_limit_s}")
        _check_decimal("participation_rate", self.participation_rate)
        _check_field(
            0 < self.participation_rate <= 1,
            "participation_rate",
            f"must be in (0, 1], got {self.participation_rate}",
        )
        for name in ("chunk_size", "min_fill_size", "limit_price"):
            value = getattr(self, name)
            if value is not None:
                _check_decimal(name, value)
                _check_field(value > 0, name, f"must be positive, got {value}")


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
        _check_field(isinstance(self.side, Side), "side", f"must be Buy or Sell, got {self.side!r}")
        _check_field(bool(self.symbol) and isinstance(self.symbol, str), "symbol", "is required")
        _check_decimal("qty", self.qty)
        _check_field(self.qty > 0, "qty", f"must be positive, got {self.qty}")

    def plan(self, instrument: Instrument, *, arrival_mid_ticks: Decimal, start_ns: int) -> ParentPlan:
        """The order in ticks and lots, checked against the instrument's rules.

        Raises ``ConfigError`` for an unknown symbol (instrument of another symbol), a quantity
        off the lot grid or under the minimums, or a limit price off the tick grid.
        """
        _check(instrument.symbol == self.symbol, f"no instrument rules for {self.symbol}")
        config = self.config
        qty_lots = _lots(instrument, "qty", self.qty)
        _check_field(
            qty_lots % instrument.qty_step_lots == 0,
            "qty",
            f"{self.qty} is not a multiple of the qty step {instrument.format_qty(instrument.qty_step_lots)}",
        )
        _check_field(
            qty_lots >= instrument.min_qty_lots,
            "qty",
            f"{self.qty} is below the minimum {instrument.format_qty(instrument.min_qty_lots)}",
        )
        chunk_lots = _lots(instrument, "chunk_size", config.chunk_size) if config.chunk_size else None
        min_fill_lots = _lots(instrument, "min_fill_size", config.min_fill_size) if config.min_fill_size else 0
        limit_ticks = None
        if config.limit_price is not None:
            limit_ticks = _ticks(instrument, "limit_price", config.limit_price)
        band_ticks = _band_edge(self.side, arrival_mid_ticks, config.max_slippage, instrument, limit_ticks)
        _check_field(band_ticks > 0, "max_slippage", "is too large for this price: the price band is empty")
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

    def arrival_notes(self, best_bid_ticks: int | None, best_ask_ticks: int | None) -> list[str]:
        """What the band means against the touch at arrival, when it keeps the order from taking.

        A limit price beyond our own side of the book (a buy below the best bid) can only rest
        away from the market; a band that stops short of the far touch (a buy band below the
        best ask, from the limit price or a small max_slippage) lets no child take liquidity.
        Either can leave the parent unfilled for reasons the TCA alone does not show.
        """
        fmt = self.instrument.format_price
        buy = self.side is Side.BUY
        near, far = (best_bid_ticks, best_ask_ticks) if buy else (best_ask_ticks, best_bid_ticks)
        near_name, far_name = ("best bid", "best ask") if buy else ("best ask", "best bid")
        direction = "below" if buy else "above"
        limit = self.limit_ticks
        if limit is not None and near is not None and (limit < near if buy else limit > near):
            move = "falls" if buy else "rises"
            return [
                f"limit price {fmt(limit)} is {direction} the {near_name} {fmt(near)} at arrival: "
                f"a {self.side.value.lower()} at that limit cannot take liquidity and fills only if it rests "
                f"until the market {move} to it"
            ]
        if far is not None and not self.within_band(far):
            cause = (
                f"limit price {fmt(limit)}"
                if limit is not None and self.band_ticks == self._limit_edge(limit)
                else f"max_slippage {self.config.max_slippage}"
            )
            return [
                f"the price band ends at {fmt(self.band_ticks)} ({cause}), {direction} the {far_name} {fmt(far)} "
                "at arrival: no child can take liquidity, only resting children can fill"
            ]
        return []

    def _limit_edge(self, limit_ticks: int) -> int:
        """The band edge the limit price alone would give (on the tick grid, towards the mid)."""
        if self.side is Side.BUY:
            return self.instrument.price_floor(limit_ticks)
        return self.instrument.price_ceil(limit_ticks)


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
        raise ParameterError(
            name, f"{value} is finer than {instrument.symbol}'s quantity precision {instrument.format_qty(1)}"
        ) from exc


def _ticks(instrument: Instrument, name: str, value: Decimal) -> int:
    try:
        return instrument.ticks(value)
    except ScaleError as exc:
        raise ParameterError(
            name, f"{value} is finer than {instrument.symbol}'s price precision {instrument.format_price(1)}"
        ) from exc


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _check_field(condition: bool, field: str, problem: str) -> None:
    if not condition:
        raise ParameterError(field, problem)


def _check_decimal(name: str, value: object) -> None:
    _check_field(isinstance(value, Decimal), name, f"must be a Decimal (exact), got {type(value).__name__}")
    assert isinstance(value, Decimal)
    _check_field(value.is_finite(), name, f"must be a finite number, got {value}")
