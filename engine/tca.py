"""Transaction cost analysis: what one parent cost, and how each strategy does over a period.

``analyse`` turns a finished (or stopped) parent into an ``ExecutionReport``. Everything is
``Decimal``: prices come from ticks through the instrument, sizes from lots, and the few
quotients (average price, VWAP, ratios, basis points) are taken in a local context of
``PRECISION`` significant digits, so the figures do not depend on the caller's decimal context.

Notation, for one parent (``s = +1`` for a buy, ``-1`` for a sell, so "against us" is one sign)::

    Q        target quantity                 P0     arrival mid (may be half a tick)
    q_i,p_i  each fill's quantity and price  F      filled quantity = sum(q_i)
    P_avg    sum(q_i * p_i) / F               P_end  mid at the end of the interval
    V        market VWAP over the interval   fees   sum of the fills' fees (paid > 0, rebate < 0)
    M        market volume over the interval

    fill_rate      = F / Q
    participation  = F / M                                     our share of the market's volume
    slippage_bps   = s * (P_avg - P0) / P0 * 10_000            positive = we paid more than the mid
    vs_vwap_bps    = s * (P_avg - V) / V * 10_000              positive = worse than the market
    execution_cost = s * sum(q_i * (p_i - P0))                 quote currency
    opportunity    = s * (P_end - P0) * (Q - F)                 the unfilled part, marked at the end mid
    shortfall      = execution_cost + fees + opportunity        quote currency
    shortfall_bps  = shortfall / (Q * P0) * 10_000

``shortfall`` is Perold's implementation shortfall against a paper order of the *target*
quantity at the arrival mid: what we paid beyond the paper price on the filled part, the fees,
and what the move since arrival cost (or saved) on the part we never got. A sell mirrors a buy
through ``s``. The opportunity term is signed: if the price moved our way the unfilled part
lowers the shortfall. With nothing left unfilled it is 0; with an unfilled part and no end mid
it is unknown, and so are ``shortfall`` and ``shortfall_bps`` (None).

Fees are summed as the venue reports them (Bybit's ``execFee``: positive paid, negative a
maker rebate) and taken to be in the quote currency, as on linear contracts.

``participation`` is our share of what traded while the parent worked: our filled quantity over
the market's traded volume in the interval (None when the market traded nothing). A backtest's
fills come from a model of the queue and the book, and no such model is trustworthy when we are a
large part of the market: our own trades would have moved the price and thinned the queue ahead of
us. So ``analyse`` adds a *warning* (``PARTICIPATION_WARNING``, a quarter) when

* our *maker* fills exceed a quarter of the interval's volume: resting fills are drawn from the
  tape and from liquidity the book showed crossing our price, and past that share (or in a market
  that traded nothing at all) they are a guess; or
* a parent worked by more than one child is more than a quarter of the interval's volume: our own
  trading over that time would have moved the price the later children met.

A parent done in one child that only took displayed liquidity (a DIRECT IOC, one SNIPER
strike) is not warned about: its fills came from the book as shown, and no later child met a
market it had moved. The quarter is well above what an execution algorithm aims for (POV's
usual rate is 5-20 %) and well below the point where we would be the market. Warnings are
separate from the plan's notes in ``ExecutionReport`` and appended to them in
``to_dict()["notes"]``.

``duration_s`` is the time to complete: from the parent's start to its last fill when the
target was filled, otherwise to the end of the interval (``end_ns``: the parent ran that long
without completing). ``maker_share`` and ``taker_share`` are shares of the filled quantity.

JSON (``ExecutionReport.to_dict``, ``StrategyPerformance.to_dict``, ``PerformanceLog.to_json``):
every number that is not a count or a timestamp is a decimal *string*, never a float, so a
reader gets exactly what was computed. Exact values (sizes, the arrival and end mids, fees,
costs) are written in full. Quotients are rounded half-even to fixed decimals: prices
(``avg_price``, ``interval_vwap``) to ``price_scale + 6``, basis points to 4, ratios
(``fill_rate``, ``participation``, shares) to 6, durations to 3 (milliseconds). Absent values
are ``null``. Counts are integers, timestamps integer nanoseconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any, Final

from engine.clock import NS_PER_S
from engine.enums import Side
from engine.numbers import to_decimal
from engine.orders import ChildOrder
from engine.parent import ParentPlan
from engine.tape import TapeReading

__all__ = [
    "ExecutionReport",
    "analyse",
    "StrategyPerformance",
    "PerformanceLog",
    "PRECISION",
    "BPS",
    "NS_PER_DAY",
    "PARTICIPATION_WARNING",
]

PRECISION: Final = 40
"""Significant digits of every quotient: far beyond any price or size the venue prints."""
BPS: Final = Decimal(10_000)
NS_PER_DAY: Final = 86_400 * NS_PER_S

_CONTEXT: Final = Context(prec=PRECISION, rounding=ROUND_HALF_EVEN)
BPS_PLACES: Final = 4
RATIO_PLACES: Final = 6
SECONDS_PLACES: Final = 3
PRICE_EXTRA_PLACES: Final = 6
PARTICIPATION_WARNING: Final = Decimal("0.25")
"""Warn when the parent is more than this share of the market volume in its interval."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionReport:
    """The cost of one parent. Formulas in the module docstring; prices in quote currency."""

    parent_id: str
    symbol: str
    side: Side
    strategy_used: str  # the strategy that worked the order (SMART's choice, not "smart")
    selection_reason: str
    notes: tuple[str, ...]  # the plan's
    warnings: tuple[str, ...]  # the TCA's: why some figures deserve less trust
    price_scale: int
    start_ns: int
    end_ns: int
    # sizes and fill
    target_qty: Decimal
    filled_qty: Decimal
    unfilled_qty: Decimal
    fill_rate: Decimal
    completed: bool
    # prices
    avg_price: Decimal | None
    arrival_mid: Decimal
    end_mid: Decimal | None
    slippage_bps: Decimal | None
    interval_vwap: Decimal | None
    market_volume: Decimal
    participation: Decimal | None
    vs_vwap_bps: Decimal | None
    # costs, quote currency
    fees: Decimal
    execution_cost: Decimal
    opportunity_cost: Decimal | None
    shortfall: Decimal | None
    shortfall_bps: Decimal | None
    # activity
    child_orders: int
    fills: int
    maker_share: Decimal | None
    taker_share: Decimal | None
    first_fill_ns: int | None
    last_fill_ns: int | None
    duration_s: Decimal

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: decimal strings, rounded quotients (see the module docstring), ints, null."""
        price_places = self.price_scale + PRICE_EXTRA_PLACES
        return {
            "parent_id": self.parent_id,
            "symbol": self.symbol,
            "side": str(self.side),
            "strategy_used": self.strategy_used,
            "selection_reason": self.selection_reason,
            "notes": [*self.notes, *self.warnings],
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "target_qty": _text(self.target_qty),
            "filled_qty": _text(self.filled_qty),
            "unfilled_qty": _text(self.unfilled_qty),
            "fill_rate": _rounded(self.fill_rate, RATIO_PLACES),
            "completed": self.completed,
            "avg_price": _rounded(self.avg_price, price_places),
            "arrival_mid": _text(self.arrival_mid),
            "end_mid": _text(self.end_mid),
            "slippage_bps": _rounded(self.slippage_bps, BPS_PLACES),
            "interval_vwap": _rounded(self.interval_vwap, price_places),
            "market_volume": _text(self.market_volume),
            "participation": _rounded(self.participation, RATIO_PLACES),
            "vs_vwap_bps": _rounded(self.vs_vwap_bps, BPS_PLACES),
            "fees": _text(self.fees),
            "execution_cost": _text(self.execution_cost),
            "opportunity_cost": _text(self.opportunity_cost),
            "shortfall": _text(self.shortfall),
            "shortfall_bps": _rounded(self.shortfall_bps, BPS_PLACES),
            "child_orders": self.child_orders,
            "fills": self.fills,
            "maker_share": _rounded(self.maker_share, RATIO_PLACES),
            "taker_share": _rounded(self.taker_share, RATIO_PLACES),
            "first_fill_ns": self.first_fill_ns,
            "last_fill_ns": self.last_fill_ns,
            "duration_s": _rounded(self.duration_s, SECONDS_PLACES),
        }


def analyse(
    plan: ParentPlan,
    children: Iterable[ChildOrder],
    *,
    start_reading: TapeReading,
    end_reading: TapeReading,
    end_mid_ticks: Decimal | None,
    end_ns: int,
    strategy_used: str,
    selection_reason: str,
) -> ExecutionReport:
    """The ``ExecutionReport`` of ``plan`` worked through ``children``.

    ``start_reading`` and ``end_reading`` are the market tape at the parent's start and at
    ``end_ns`` (their difference is the interval's market volume and VWAP); ``end_mid_ticks``
    is the mid at ``end_ns``, if known. Only the children's fills count, each once.
    """
    instrument = plan.instrument
    orders = list(children)
    fills = sorted((fill for order in orders for fill in order.fills), key=lambda fill: fill.ts_ns)
    sign = plan.side.sign
    filled_lots = sum(fill.qty_lots for fill in fills)
    maker_lots = sum(fill.qty_lots for fill in fills if fill.is_maker)
    notional_units = sum(fill.price_ticks * fill.qty_lots for fill in fills)
    with localcontext(_CONTEXT):
        target = instrument.qty_decimal(plan.qty_lots)
        filled = instrument.qty_decimal(filled_lots)
        unfilled = target - filled
        notional = to_decimal(notional_units, instrument.price_scale + instrument.qty_scale)
        arrival = _price(plan.arrival_mid_ticks, instrument.price_scale)
        end_mid = None if end_mid_ticks is None else _price(end_mid_ticks, instrument.price_scale)
        fees = sum((fill.fee for fill in fills), Decimal(0))
        avg_price = notional / filled if filled_lots else None
        slippage_bps = None if avg_price is None else sign * (avg_price - arrival) / arrival * BPS
        vwap = end_reading.vwap_since(start_reading)
        market_volume = end_reading.volume - start_reading.volume
        participation = filled / market_volume if market_volume > 0 else None
        vs_vwap_bps = None if avg_price is None or vwap is None else sign * (avg_price - vwap) / vwap * BPS
        execution_cost = sign * (notional - arrival * filled)
        opportunity: Decimal | None
        if unfilled == 0:
            opportunity = Decimal(0)
        elif end_mid is None:
            opportunity = None
        else:
            opportunity = sign * (end_mid - arrival) * unfilled
        shortfall = None if opportunity is None else execution_cost + fees + opportunity
        shortfall_bps = None if shortfall is None else shortfall / (target * arrival) * BPS
        maker_share = Decimal(maker_lots) / filled_lots if filled_lots else None
        taker_share = Decimal(filled_lots - maker_lots) / filled_lots if filled_lots else None
        completed = filled_lots >= plan.qty_lots
        last_fill_ns = fills[-1].ts_ns if fills else None
        finish_ns = last_fill_ns if completed and last_fill_ns is not None else end_ns
        duration = _seconds(finish_ns - plan.start_ns)
        return ExecutionReport(
            parent_id=plan.parent_id,
            symbol=plan.symbol,
            side=plan.side,
            strategy_used=strategy_used,
            selection_reason=selection_reason,
            notes=tuple(plan.notes),
            warnings=_participation_warning(
                target, filled, instrument.qty_decimal(maker_lots), market_volume, len(orders)
            ),
            price_scale=instrument.price_scale,
            start_ns=plan.start_ns,
            end_ns=end_ns,
            target_qty=target,
            filled_qty=filled,
            unfilled_qty=unfilled,
            fill_rate=filled / target,
            completed=completed,
            avg_price=avg_price,
            arrival_mid=arrival,
            end_mid=end_mid,
            slippage_bps=slippage_bps,
            interval_vwap=vwap,
            market_volume=market_volume,
            participation=participation,
            vs_vwap_bps=vs_vwap_bps,
            fees=fees,
            execution_cost=execution_cost,
            opportunity_cost=opportunity,
            shortfall=shortfall,
            shortfall_bps=shortfall_bps,
            child_orders=len(orders),
            fills=len(fills),
            maker_share=maker_share,
            taker_share=taker_share,
            first_fill_ns=fills[0].ts_ns if fills else None,
            last_fill_ns=last_fill_ns,
            duration_s=duration,
        )


def _participation_warning(
    target: Decimal, filled: Decimal, maker_filled: Decimal, market_volume: Decimal, children: int
) -> tuple[str, ...]:
    """The warning for fills the interval's volume cannot back (see the module docstring)."""
    limit = market_volume * PARTICIPATION_WARNING
    quarter = _plain(PARTICIPATION_WARNING * 100)
    if maker_filled > limit:
        if market_volume == 0:
            return (
                f"warning: the market traded nothing while this parent worked, yet it filled {_plain(maker_filled)} "
                "as maker, all of it from liquidity the book showed crossing our price: no fill model is "
                "trustworthy there, read the fills as a guess",
            )
        share = _percent(maker_filled / market_volume)
        return (
            f"warning: our maker fills ({_plain(maker_filled)}) are {share} % of the {_plain(market_volume)} the "
            f"market traded while the parent worked; above {quarter} % no fill model is trustworthy, as our own "
            "orders would have changed the queue and the price",
        )
    if children > 1 and target > limit:
        if market_volume == 0:
            return (
                f"warning: the market traded nothing while this parent of {_plain(target)} worked: no fill model "
                "is trustworthy there, read the fills as a guess",
            )
        return (
            f"warning: the parent ({_plain(target)}) is {_percent(target / market_volume)} % of the "
            f"{_plain(market_volume)} the market traded while it worked, and our fills were "
            f"{_percent(filled / market_volume)} % of it; above {quarter} % no fill model is trustworthy, as our "
            "own trading would have moved the price",
        )
    return ()


def _percent(ratio: Decimal) -> str:
    return _plain((ratio * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN))


# -- per strategy over a period ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyPerformance:
    """One strategy's reports in a window: the seed's ``get_performance_summary`` figures.

    Plain means over the reports: ``avg_fill_rate`` and ``avg_execution_time_s`` (of
    ``duration_s``) over all of them; ``avg_slippage_bps`` over those that filled anything
    (None if none did), as an unfilled parent has no slippage to average.
    """

    strategy_used: str
    count: int
    avg_fill_rate: Decimal
    avg_execution_time_s: Decimal
    avg_slippage_bps: Decimal | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "avg_fill_rate": _rounded(self.avg_fill_rate, RATIO_PLACES),
            "avg_execution_time_s": _rounded(self.avg_execution_time_s, SECONDS_PLACES),
            "avg_slippage_bps": _rounded(self.avg_slippage_bps, BPS_PLACES),
        }


@dataclass
class PerformanceLog:
    """Every parent's report, kept in the order they ended, summarised per strategy on demand."""

    reports: list[ExecutionReport] = field(default_factory=list)

    def append(self, report: ExecutionReport) -> None:
        """Record a finished parent (its ``end_ns`` and ``strategy_used`` are in the report)."""
        self.reports.append(report)

    def window(self, days: float, now_ns: int) -> list[ExecutionReport]:
        """Reports that ended in the last ``days`` days: ``now - days <= end_ns <= now``."""
        if days < 0:
            raise ValueError(f"days must be >= 0, got {days}")
        since_ns = now_ns - int(days * NS_PER_DAY)
        return [report for report in self.reports if since_ns <= report.end_ns <= now_ns]

    def summary(self, days: float, now_ns: int) -> dict[str, StrategyPerformance]:
        """Per strategy used (sorted by name): count and mean fill rate, duration and slippage."""
        groups: dict[str, list[ExecutionReport]] = {}
        for report in self.window(days, now_ns):
            groups.setdefault(report.strategy_used, []).append(report)
        return {name: _summarise(name, groups[name]) for name in sorted(groups)}

    def prune(self, days: float, now_ns: int) -> int:
        """Forget reports that ended before the last ``days`` days; returns how many went."""
        since_ns = now_ns - int(days * NS_PER_DAY)
        kept = [report for report in self.reports if report.end_ns >= since_ns]
        dropped = len(self.reports) - len(kept)
        self.reports = kept
        return dropped

    def to_json(self, days: float, now_ns: int, *, include_reports: bool = False) -> str:
        """The summary as JSON (and the window's reports too if asked), keys sorted."""
        document: dict[str, Any] = {
            "days": days,
            "since_ns": now_ns - int(days * NS_PER_DAY),
            "now_ns": now_ns,
            "strategies": {name: item.to_dict() for name, item in self.summary(days, now_ns).items()},
        }
        if include_reports:
            document["reports"] = [report.to_dict() for report in self.window(days, now_ns)]
        return json.dumps(document, indent=2, sort_keys=True)


def _summarise(name: str, reports: Sequence[ExecutionReport]) -> StrategyPerformance:
    with localcontext(_CONTEXT):
        count = len(reports)
        slippages = [report.slippage_bps for report in reports if report.slippage_bps is not None]
        return StrategyPerformance(
            strategy_used=name,
            count=count,
            avg_fill_rate=sum((report.fill_rate for report in reports), Decimal(0)) / count,
            avg_execution_time_s=sum((report.duration_s for report in reports), Decimal(0)) / count,
            avg_slippage_bps=sum(slippages, Decimal(0)) / len(slippages) if slippages else None,
        )


# -- helpers -----------------------------------------------------------------------------------


def _price(ticks: Decimal, price_scale: int) -> Decimal:
    """A price in (possibly fractional) ticks as quote currency, exactly."""
    return ticks.scaleb(-price_scale)


def _seconds(ns: int) -> Decimal:
    return Decimal(ns).scaleb(-9)


def _plain(value: Decimal) -> str:
    """Positional notation, never an exponent, and no negative zero."""
    return format(abs(value) if value == 0 else value, "f")


def _text(value: Decimal | None) -> str | None:
    return None if value is None else _plain(value)


def _rounded(value: Decimal | None, places: int) -> str | None:
    if value is None:
        return None
    with localcontext(_CONTEXT):
        return _plain(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))
