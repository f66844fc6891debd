"""One parent's execution as a self-contained HTML page: the TCA figures and two charts.

The page has no script, no external stylesheet, font or image: inline CSS and inline SVG drawn
here, so it opens from disk, renders with JavaScript disabled and can be mailed as one file.
Every piece of text that comes from data (ids, notes, reasons) goes through ``html.escape``.

* The header: the TCA's warnings (a parent large against the market's volume), the
  ``ExecutionReport`` figures, the strategy used and why, the plan's notes.
* Price chart: the mid over time (a step line from the arrival mid, drawn whether or not
  anything filled), the band edge, the arrival mid, the market VWAP and our average price
  (horizontal lines, labelled on the right), each child order as an arrow head at its submit
  time pointing at its limit price (from below for a buy, from above for a sell) with a thin
  line for as long as it rested, styled by outcome, and the fills as dots on their prices whose
  area follows the quantity, coloured maker or taker, the larger ones labelled with it.
  Children that never filled (rejected, cancelled, open) are outlines with no fill drawn over
  the others, a size larger, so a replacement sent at the same time and price shows through.
  Fills are merged per cell of ``FILL_CELL_PX`` (16 x 12 pixels) and liquidity into one dot at
  their average price and time: a few fills stay one dot each, hundreds become a readable
  handful, and no quantity is lost (each dot's tooltip has its count, quantity, price range).
* Progress chart: the strategy's schedule (a step line of target cumulative quantity, holding
  its last target until the deadline, which is then on the chart) against the cumulative filled
  quantity (a step line), with the parent's target.

Time runs in seconds from the parent's start. Long mid series are down-sampled to at most
``MAX_MID_POINTS`` points, keeping each time bucket's lowest and highest mid, so spikes survive
and the page stays small. Coordinates are floats (they are pixels); labels are exact decimals.
"""

from __future__ import annotations

import bisect
import html
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Final

from engine.enums import OrderStatus, Side
from engine.orders import TERMINAL, ChildOrder
from engine.parent import ParentPlan
from engine.tca import ExecutionReport

__all__ = [
    "ChildMark",
    "FillMark",
    "FillCluster",
    "ReportSeries",
    "render_html",
    "cluster_fills",
    "downsample_minmax",
    "MAX_MID_POINTS",
    "FILL_CELL_PX",
]

MAX_MID_POINTS: Final = 2_000
_CONTEXT: Final = Context(prec=40, rounding=ROUND_HALF_EVEN)
NS_PER_S: Final = 1_000_000_000

WIDTH: Final = 1160
PRICE_HEIGHT: Final = 460
PROGRESS_HEIGHT: Final = 300
LEFT, RIGHT, TOP, BOTTOM = 92, 150, 16, 50
FILL_CELL_PX: Final = (16.0, 12.0)
"""Fills of one liquidity whose dots would fall in one cell this wide and high are one dot."""
FILL_MAX_RADIUS: Final = 8.0
FILL_MIN_RADIUS: Final = 2.5
MAX_FILL_LABELS: Final = 12

# colours: readable on white, distinct for the colour-blind (maker/taker: teal/orange)
INK: Final = "#212529"
GRID: Final = "#e9ecef"
AXIS: Final = "#868e96"
MID: Final = "#343a40"
BAND: Final = "#e03131"
ARRIVAL: Final = "#5c7cfa"
VWAP: Final = "#9c36b5"
AVG: Final = "#2f9e44"
MAKER: Final = "#0ca678"
TAKER: Final = "#f76707"
MAKER_TEXT: Final = "#087f5b"
TAKER_TEXT: Final = "#d9480f"
SCHEDULE: Final = "#1c7ed6"
FILLED_LINE: Final = "#2b8a3e"
OUTCOME_STYLE: Final = {  # fill, stroke, dash
    "filled": ("#1864ab", "#1864ab", ""),
    "partial": ("#fab005", "#e67700", ""),
    "cancelled": ("none", "#495057", "2 1.5"),
    "open": ("none", "#1864ab", ""),
    "rejected": ("none", "#e03131", ""),
}
"""Marker styles, in drawing order: outlines (no fill) go on top of solid markers, so both show."""
HOLLOW: Final = frozenset(outcome for outcome, (fill, _, _) in OUTCOME_STYLE.items() if fill == "none")
OUTCOME_LABEL: Final = {
    "filled": "child filled",
    "partial": "child partly filled",
    "cancelled": "child cancelled / expired unfilled",
    "rejected": "child rejected",
    "open": "child still open",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildMark:
    """One child order as drawn: where and when it was placed, and how it ended."""

    client_order_id: str
    submit_ns: int
    price: Decimal | None  # None for a true market order: drawn at the mid of the moment
    qty: Decimal
    side: Side
    status: str
    tif: str
    filled_qty: Decimal = Decimal(0)
    end_ns: int | None = None  # when it stopped resting; None while open

    @property
    def outcome(self) -> str:
        """filled, partial, cancelled, rejected or open: what the marker's style shows."""
        if self.status == OrderStatus.REJECTED:
            return "rejected"
        if self.qty > 0 and self.filled_qty >= self.qty:
            return "filled"
        if self.filled_qty > 0:
            return "partial"
        if self.status in TERMINAL or self.status in _ENDED:
            return "cancelled"
        return "open"


_ENDED: Final = frozenset({OrderStatus.PARTIALLY_FILLED_CANCELED, OrderStatus.DEACTIVATED})


@dataclass(frozen=True, slots=True, kw_only=True)
class FillMark:
    ts_ns: int
    price: Decimal
    qty: Decimal
    is_maker: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class FillCluster:
    """Fills of one liquidity drawn as one dot: at their average price and quantity-weighted time."""

    is_maker: bool
    count: int
    qty: Decimal
    avg_price: Decimal
    low: Decimal
    high: Decimal
    ts_ns: int
    first_ns: int
    last_ns: int


def cluster_fills(
    fills: Sequence[FillMark],
    position: Callable[[int, Decimal], tuple[float, float]],
    cell: tuple[float, float] = FILL_CELL_PX,
) -> list[FillCluster]:
    """The fills merged per (cell of the chart, maker or taker), in time order of the cells' first fill.

    ``position`` maps a fill's (ts_ns, price) to chart pixels. Fills far apart stay one dot each;
    a burst of fills at nearby prices becomes one dot carrying their total quantity.
    """
    width, height = cell
    groups: dict[tuple[int, int, bool], list[FillMark]] = {}
    for fill in fills:
        x, y = position(fill.ts_ns, fill.price)
        groups.setdefault((math.floor(x / width), math.floor(y / height), fill.is_maker), []).append(fill)
    clusters = []
    for members in groups.values():
        qty = sum((fill.qty for fill in members), Decimal(0))
        with localcontext(_CONTEXT):  # fills have a positive quantity
            avg_price = sum((fill.price * fill.qty for fill in members), Decimal(0)) / qty
            ts_ns = int(sum((fill.ts_ns * fill.qty for fill in members), Decimal(0)) / qty)
        clusters.append(
            FillCluster(
                is_maker=members[0].is_maker,
                count=len(members),
                qty=qty,
                avg_price=avg_price,
                low=min(fill.price for fill in members),
                high=max(fill.price for fill in members),
                ts_ns=ts_ns,
                first_ns=min(fill.ts_ns for fill in members),
                last_ns=max(fill.ts_ns for fill in members),
            )
        )
    return sorted(clusters, key=lambda cluster: (cluster.first_ns, not cluster.is_maker, cluster.avg_price))


@dataclass(frozen=True, kw_only=True)
class ReportSeries:
    """What the charts draw, in prices and sizes (quote and base units), timestamps in ns.

    ``mids`` are (ts_ns, mid) samples in time order; ``schedule`` is (ts_ns, target cumulative
    quantity) step points for strategies that follow one (TWAP, VWAP, POV): each target holds
    until the next point, the last one until the deadline. None for those that follow none.
    """

    mids: Sequence[tuple[int, Decimal]]
    band: Decimal
    arrival: Decimal
    children: Sequence[ChildMark] = ()
    fills: Sequence[FillMark] = ()
    schedule: Sequence[tuple[int, Decimal]] | None = None
    deadline_ns: int | None = None

    @classmethod
    def from_plan(
        cls,
        plan: ParentPlan,
        children: Iterable[ChildOrder],
        mids_ticks: Iterable[tuple[int, Decimal]],
        *,
        schedule_lots: Iterable[tuple[int, int]] | None = None,
    ) -> ReportSeries:
        """Build the series from the engine's own units: a plan, its children, mids in ticks.

        The mid path starts with the arrival mid at the parent's start, so it is drawn even when
        the touch never moved while the parent worked (and whether or not anything filled).
        """
        instrument = plan.instrument
        mids = list(mids_ticks)
        if not mids or mids[0][0] > plan.start_ns:
            mids.insert(0, (plan.start_ns, plan.arrival_mid_ticks))
        orders = list(children)
        marks = [
            ChildMark(
                client_order_id=order.client_order_id,
                submit_ns=order.created_ns,
                price=None if order.price_ticks is None else instrument.price_decimal(order.price_ticks),
                qty=instrument.qty_decimal(order.qty_lots),
                side=order.side,
                status=str(order.status),
                tif=str(order.time_in_force),
                filled_qty=instrument.qty_decimal(order.filled_lots),
                end_ns=None if order.is_open else order.updated_ns,
            )
            for order in orders
        ]
        fills = sorted(
            (
                FillMark(
                    ts_ns=fill.ts_ns,
                    price=instrument.price_decimal(fill.price_ticks),
                    qty=instrument.qty_decimal(fill.qty_lots),
                    is_maker=fill.is_maker,
                )
                for order in orders
                for fill in order.fills
            ),
            key=lambda fill: fill.ts_ns,
        )
        scale = instrument.price_scale
        return cls(
            mids=[(ts, mid.scaleb(-scale)) for ts, mid in mids],
            band=instrument.price_decimal(plan.band_ticks),
            arrival=plan.arrival_mid_ticks.scaleb(-scale),
            children=marks,
            fills=fills,
            schedule=None
            if schedule_lots is None
            else [(ts, instrument.qty_decimal(lots)) for ts, lots in schedule_lots],
            deadline_ns=plan.deadline_ns,
        )


def downsample_minmax(
    points: Sequence[tuple[int, Decimal]], max_points: int = MAX_MID_POINTS
) -> list[tuple[int, Decimal]]:
    """At most ``max_points`` of ``points`` (time-ordered): the first, the last, and each time
    bucket's lowest and highest value, in time order. Fewer points than that come back as is."""
    if max_points < 4:
        raise ValueError("max_points must be at least 4")
    if len(points) <= max_points:
        return list(points)
    first_ts, last_ts = points[0][0], points[-1][0]
    buckets = (max_points - 2) // 2
    span = max(last_ts - first_ts, 1)
    lows: dict[int, int] = {}
    highs: dict[int, int] = {}
    for index in range(1, len(points) - 1):
        ts, value = points[index]
        bucket = min((ts - first_ts) * buckets // span, buckets - 1)
        low = lows.get(bucket)
        if low is None or value < points[low][1]:
            lows[bucket] = index
        high = highs.get(bucket)
        if high is None or value > points[high][1]:
            highs[bucket] = index
    keep = sorted({0, len(points) - 1, *lows.values(), *highs.values()})
    return [points[index] for index in keep]


# -- the page ----------------------------------------------------------------------------------


def render_html(report: ExecutionReport, series: ReportSeries) -> str:
    """The whole page as one string (UTF-8 when written)."""
    t0 = report.start_ns
    times = [report.end_ns]
    times += [ts for ts, _ in series.mids[-1:]]
    times += [fill.ts_ns for fill in series.fills]
    times += [mark.submit_ns for mark in series.children]
    times += [ts for ts, _ in (series.schedule or ())]
    if series.schedule and series.deadline_ns is not None:
        times.append(series.deadline_ns)  # the schedule runs to the deadline: show all of it
    span_s = max((max(times) - t0) / NS_PER_S, 1e-3)
    price_chart, pinned = _price_chart(report, series, span_s)
    title = f"Execution report {report.parent_id}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">{_e(_subtitle(report))}</p>',
        *_warnings(report),
        "</header>",
        '<section class="cards">',
        _figures(report),
        _strategy_card(report),
        "</section>",
        '<section class="chart">',
        "<h2>Price path, band, child orders and fills</h2>",
        price_chart,
        _price_legend(report, series, pinned),
        "</section>",
        '<section class="chart">',
        "<h2>Schedule against actual progress</h2>",
        _progress_chart(report, series, span_s),
        _progress_legend(series),
        "</section>",
        f"<footer>Generated from parent {_e(report.parent_id)}; times are seconds from the start "
        f"({_e(_utc(report.start_ns))}). Prices in quote currency, sizes in base units. Participation is our "
        "filled quantity over the market's traded volume while the parent worked.</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


_CSS: Final = """
*{box-sizing:border-box}
body{margin:0 auto;padding:24px 32px 40px;max-width:1240px;color:#212529;background:#fff;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:16px;margin:0 0 8px}
.sub{margin:0 0 16px;color:#495057}
.warn{margin:0 0 16px;padding:10px 14px;border:1px solid #ffa8a8;border-left:5px solid #c92a2a;
border-radius:6px;background:#fff5f5;color:#862e2e}
.warn p{margin:2px 0}
.cards{display:flex;gap:16px;flex-wrap:wrap;margin-bottom:20px}
.card{flex:1 1 300px;border:1px solid #dee2e6;border-radius:6px;padding:12px 14px;background:#f8f9fa}
.card h2{font-size:14px;text-transform:uppercase;letter-spacing:.04em;color:#495057}
table{border-collapse:collapse;width:100%}
td{padding:3px 0;border-bottom:1px solid #e9ecef;vertical-align:top}
td.v{text-align:right;font-variant-numeric:tabular-nums;font-weight:600;padding-left:12px;white-space:nowrap}
.cost{color:#c92a2a}.gain{color:#2b8a3e}
.why{margin:4px 0 10px}
ul.notes{margin:4px 0 0;padding-left:18px}
ul.notes li{margin:2px 0}
.chart{margin:0 0 22px}
svg{display:block;width:100%;height:auto;background:#fff;border:1px solid #dee2e6;border-radius:6px}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin:8px 2px 0;color:#495057;font-size:13px}
.legend span{display:inline-flex;align-items:center;gap:6px}
.legend svg{display:inline;width:auto;border:0;border-radius:0}
footer{color:#868e96;font-size:12px}
"""


def _subtitle(report: ExecutionReport) -> str:
    outcome = "completed" if report.completed else "not completed"
    return (
        f"{report.side} {_plain(report.target_qty)} {report.symbol} · strategy used {report.strategy_used} · "
        f"started {_utc(report.start_ns)} · {outcome} in {_fixed(report.duration_s, 3)} s"
    )


def _warnings(report: ExecutionReport) -> list[str]:
    if not report.warnings:
        return []
    body = "".join(f"<p>{_e(warning)}</p>" for warning in report.warnings)
    return [f'<div class="warn" role="alert">{body}</div>']


def _participation(report: ExecutionReport) -> str:
    if report.participation is None:
        return "n/a: no market trades"
    return _percent(report.participation)


def _figures(report: ExecutionReport) -> str:
    share = "n/a"
    if report.maker_share is not None and report.taker_share is not None:
        share = f"{_percent(report.maker_share)} / {_percent(report.taker_share)}"
    fill_rows = [
        ("Target quantity", _plain(report.target_qty), ""),
        ("Filled quantity", _plain(report.filled_qty), ""),
        ("Fill rate", _percent(report.fill_rate), ""),
        ("Unfilled", _plain(report.unfilled_qty), ""),
        ("Child orders", str(report.child_orders), ""),
        ("Fills", str(report.fills), ""),
        ("Maker / taker (by qty)", share, ""),
        ("Market volume in interval", _plain(report.market_volume), ""),
        ("Participation", _participation(report), "cost" if report.warnings else ""),
        (
            "Time to complete" if report.completed else "Time worked (not completed)",
            f"{_fixed(report.duration_s, 3)} s",
            "",
        ),
    ]
    price_places = report.price_scale + 2
    cost_rows = [
        ("Arrival mid", _plain(report.arrival_mid), ""),
        ("Average fill price", _opt(report.avg_price, price_places), ""),
        ("Slippage vs arrival", _bps(report.slippage_bps), _tone(report.slippage_bps)),
        ("Interval market VWAP", _opt(report.interval_vwap, price_places), ""),
        ("Slippage vs VWAP", _bps(report.vs_vwap_bps), _tone(report.vs_vwap_bps)),
        ("Mid at end", "n/a" if report.end_mid is None else _plain(report.end_mid), ""),
        ("Fees", _plain(report.fees), _tone(report.fees)),
        ("Execution cost", _plain(report.execution_cost), _tone(report.execution_cost)),
        ("Opportunity cost (unfilled)", _opt(report.opportunity_cost, None), _tone(report.opportunity_cost)),
        ("Implementation shortfall (quote)", _opt(report.shortfall, None), _tone(report.shortfall)),
        ("Implementation shortfall (bps)", _bps(report.shortfall_bps), _tone(report.shortfall_bps)),
    ]
    return _card("Fill", fill_rows) + "\n" + _card("Cost (positive = cost)", cost_rows)


def _card(heading: str, rows: Sequence[tuple[str, str, str]]) -> str:
    body = "".join(
        f'<tr><td>{_e(name)}</td><td class="v{" " + tone if tone else ""}">{_e(value)}</td></tr>'
        for name, value, tone in rows
    )
    return f'<div class="card"><h2>{_e(heading)}</h2><table>{body}</table></div>'


def _strategy_card(report: ExecutionReport) -> str:
    notes = "".join(f"<li>{_e(note)}</li>" for note in report.notes) or "<li>(no notes)</li>"
    return (
        '<div class="card"><h2>Strategy</h2>'
        f'<p class="why"><b>{_e(report.strategy_used)}</b>: {_e(report.selection_reason or "no reason given")}</p>'
        f'<h2>Plan notes</h2><ul class="notes">{notes}</ul></div>'
    )


# -- charts ------------------------------------------------------------------------------------


class _Frame:
    """A plot area: seconds across, a value range up, mapped to SVG pixels."""

    def __init__(self, height: int, span_s: float, low: Decimal, high: Decimal) -> None:
        self.height = height
        self.left, self.right = LEFT, WIDTH - RIGHT
        self.top, self.bottom = TOP, height - BOTTOM
        self.span_s = span_s
        self.low, self.high = low, high
        self._low, self._range = float(low), float(high - low) or 1.0

    def x(self, ts_ns: int, t0: int) -> float:
        seconds = (ts_ns - t0) / NS_PER_S
        return self.left + (self.right - self.left) * min(max(seconds / self.span_s, 0.0), 1.0)

    def y(self, value: Decimal) -> float:
        return self.bottom - (self.bottom - self.top) * (float(value) - self._low) / self._range

    def axes(self, y_label: str, y_places: int | None = None) -> list[str]:
        out = [
            f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
            f'height="{self.bottom - self.top}" fill="#fff" stroke="{AXIS}" stroke-width="1"/>'
        ]
        step = _nice_step(self.high - self.low, 7)
        places = _places(step) if y_places is None else max(y_places, _places(step))
        for value in _tick_values(self.low, self.high, step):
            y = self.y(value)
            out.append(f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}" stroke="{GRID}"/>')
            out.append(
                f'<text x="{self.left - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="12" fill="{INK}">'
                f"{_e(_fixed(value, places))}</text>"
            )
        time_step = _nice_step(Decimal(repr(self.span_s)), 10)
        for seconds in _tick_values(Decimal(0), Decimal(repr(self.span_s)), time_step):
            x = self.left + (self.right - self.left) * float(seconds) / self.span_s
            out.append(f'<line x1="{x:.1f}" y1="{self.top}" x2="{x:.1f}" y2="{self.bottom}" stroke="{GRID}"/>')
            out.append(f'<line x1="{x:.1f}" y1="{self.bottom}" x2="{x:.1f}" y2="{self.bottom + 5}" stroke="{AXIS}"/>')
            out.append(
                f'<text x="{x:.1f}" y="{self.bottom + 19}" text-anchor="middle" font-size="12" fill="{INK}">'
                f"{_e(_fixed(seconds, _places(time_step)))}</text>"
            )
        middle_x = (self.left + self.right) / 2
        out.append(
            f'<text x="{middle_x:.1f}" y="{self.height - 10}" text-anchor="middle" font-size="13" fill="#495057">'
            "seconds from start</text>"
        )
        middle_y = (self.top + self.bottom) / 2
        out.append(
            f'<text x="18" y="{middle_y:.1f}" text-anchor="middle" font-size="13" fill="#495057" '
            f'transform="rotate(-90 18 {middle_y:.1f})">{_e(y_label)}</text>'
        )
        return out

    def hline(self, value: Decimal, colour: str, dash: str) -> str:
        y = self.y(value)
        return (
            f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}" stroke="{colour}" '
            f'stroke-width="1.5" stroke-dasharray="{dash}"/>'
        )

    def labels(self, items: Sequence[tuple[Decimal, str, str]]) -> list[str]:
        """Labels in the right margin at their values, nudged apart so none overlap.

        A label may have several lines (``\\n``); the first sits at the value.
        """
        line = 14.0
        placed = sorted((self.y(value), text.split("\n"), colour) for value, text, colour in items)
        ys = [y for y, _, _ in placed]
        for index in range(1, len(ys)):
            ys[index] = max(ys[index], ys[index - 1] + line * len(placed[index - 1][1]) + 1)
        if ys and (overflow := ys[-1] + line * (len(placed[-1][1]) - 1) - (self.bottom + 4)) > 0:
            ys[-1] -= overflow
            for index in range(len(ys) - 2, -1, -1):
                ys[index] = min(ys[index], ys[index + 1] - line * len(placed[index][1]) - 1)
        out = []
        for (y_true, lines, colour), y in zip(placed, ys, strict=True):
            out.append(
                f'<line x1="{self.right}" y1="{y_true:.1f}" x2="{self.right + 6}" y2="{y:.1f}" stroke="{colour}"/>'
            )
            spans = "".join(
                f'<tspan x="{self.right + 9}" dy="{0 if n == 0 else line:.0f}">{_e(text)}</tspan>'
                for n, text in enumerate(lines)
            )
            out.append(f'<text x="{self.right + 9}" y="{y + 4:.1f}" font-size="12" fill="{colour}">{spans}</text>')
        return out


def _price_chart(report: ExecutionReport, series: ReportSeries, span_s: float) -> tuple[str, bool]:
    """The chart, and whether any child is priced off its scale (pinned to its edge)."""
    t0 = report.start_ns
    mids = downsample_minmax(series.mids)
    frame, band_on_scale = _price_frame(report, series, mids, span_s)
    out = [_svg_open(PRICE_HEIGHT, "Price path with band, child orders and fills")]
    out += frame.axes("price", report.price_scale)
    out += _deadline(frame, series, t0)
    band_text = f"band {_plain(series.band)}"
    if band_on_scale:
        out.append(frame.hline(series.band, BAND, "7 4"))
        labels = [(series.band, band_text, BAND)]
    else:  # drawn along the edge it lies beyond
        edge = frame.high if series.band > frame.high else frame.low
        out.append(frame.hline(edge, BAND, "7 4"))
        labels = [(edge, f"{band_text}\n{'▲ above' if edge == frame.high else '▼ below'}: off scale", BAND)]
    out.append(frame.hline(series.arrival, ARRIVAL, "3 3"))
    labels.append((series.arrival, f"arrival {_plain(series.arrival)}", ARRIVAL))
    if report.interval_vwap is not None:
        out.append(frame.hline(report.interval_vwap, VWAP, "2 4"))
        labels.append((report.interval_vwap, f"VWAP {_fixed(report.interval_vwap, report.price_scale + 2)}", VWAP))
    if report.avg_price is not None:
        out.append(frame.hline(report.avg_price, AVG, "10 3 2 3"))
        labels.append((report.avg_price, f"avg fill {_fixed(report.avg_price, report.price_scale + 2)}", AVG))
    if mids:
        out.append(_mid_line(frame, mids, t0, max(report.end_ns, mids[-1][0])))
    resting, solid, hollow = _child_marks(frame, series.children, t0, series.mids)
    out += resting
    out += solid
    out += _fill_dots(frame, series.fills, t0, report.price_scale)  # see-through, over the children they fill
    out += hollow  # outlines last: they hide nothing, and nothing hides them
    out += frame.labels(labels)
    out.append("</svg>")
    pinned = any(mark.price is not None and not frame.low <= mark.price <= frame.high for mark in series.children)
    return "\n".join(out), pinned


def _price_frame(
    report: ExecutionReport, series: ReportSeries, mids: Sequence[tuple[int, Decimal]], span_s: float
) -> tuple[_Frame, bool]:
    """The price range: what the market and our fills did, and the band if it is on scale (the flag).

    The range is the mids, the fills, the arrival mid, the VWAP and our average price. The band
    and the children's limit prices join it unless they lie further from it than its own size
    (at least 2 bps of price): then they would squash the path into a sliver (IOCs priced at
    the band edge, say), so the band is only marked at the chart's edge and such children are
    pinned to it.
    """
    prices: list[Decimal] = [series.arrival]
    prices += [mid for _, mid in mids]
    prices += [fill.price for fill in series.fills]
    prices += [value for value in (report.avg_price, report.interval_vwap) if value is not None]
    low, high = min(prices), max(prices)
    reach = max(high - low, abs(high) * Decimal("0.0002"))
    limits = [mark.price for mark in series.children if mark.price is not None]
    near = [price for price in limits if low - reach <= price <= high + reach]
    band_on_scale = low - reach <= series.band <= high + reach
    if band_on_scale:
        near.append(series.band)
    low, high = min([low, *near]), max([high, *near])
    low, high = _padded(low, high)
    return _Frame(PRICE_HEIGHT, span_s, low, high), band_on_scale


def _mid_line(frame: _Frame, mids: Sequence[tuple[int, Decimal]], t0: int, until_ns: int) -> str:
    """The mid as a step line: each value holds until the next sample, the last until ``until_ns``."""
    points: list[str] = []
    previous_y: float | None = None
    for ts, mid in mids:
        x, y = frame.x(ts, t0), frame.y(mid)
        if previous_y is not None:
            points.append(f"{x:.1f},{previous_y:.1f}")
        points.append(f"{x:.1f},{y:.1f}")
        previous_y = y
    points.append(f"{frame.x(until_ns, t0):.1f},{previous_y:.1f}")
    return (
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{MID}" stroke-width="1.4" stroke-linejoin="round"/>'
    )


def _fill_dots(frame: _Frame, fills: Sequence[FillMark], t0: int, price_scale: int) -> list[str]:
    """A dot per cluster of fills (``cluster_fills``), its area proportional to the quantity.

    The largest clusters also get their quantity written beside them, where it covers no other
    dot or label (at most ``MAX_FILL_LABELS``, tried on the largest few times that many, none
    for a dot under a twentieth of the largest: those are specks, and their numbers would only
    crowd the big ones).
    """
    clusters = cluster_fills(fills, lambda ts, price: (frame.x(ts, t0), frame.y(price)))
    biggest = max((cluster.qty for cluster in clusters), default=Decimal(1)) or Decimal(1)
    biggest_first = sorted(clusters, key=lambda cluster: cluster.qty, reverse=True)
    spots = [
        (
            frame.x(cluster.ts_ns, t0),
            frame.y(cluster.avg_price),
            max(FILL_MIN_RADIUS, FILL_MAX_RADIUS * math.sqrt(float(cluster.qty / biggest))),
        )
        for cluster in biggest_first
    ]
    dot_boxes = [(x - r, y - r, x + r, y + r) for x, y, r in spots]
    dots: list[str] = []
    placed: list[tuple[float, float, float, float]] = []
    labels: list[str] = []
    for index, (cluster, (x, y, radius)) in enumerate(zip(biggest_first, spots, strict=True)):
        colour = MAKER if cluster.is_maker else TAKER
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{colour}" fill-opacity="0.8" stroke="#fff" '
            f'stroke-width="1"><title>{_e(_cluster_tip(cluster, t0, price_scale))}</title></circle>'
        )
        text = _plain(cluster.qty)
        width = 6.8 * len(text) + 2
        right_of = (x + radius + 2, y - 8, x + radius + 2 + width, y + 6)
        left_of = (x - radius - 2 - width, y - 8, x - radius - 2, y + 6)
        worth_a_label = index < 3 * MAX_FILL_LABELS and len(labels) < MAX_FILL_LABELS and cluster.qty * 20 >= biggest
        for box in (right_of, left_of) if worth_a_label else ():
            inside = frame.left <= box[0] and box[2] <= frame.right
            covers_a_dot = any(_overlap(box, other) for n, other in enumerate(dot_boxes) if n != index)
            if inside and not covers_a_dot and not any(_overlap(box, other) for other in placed):
                placed.append(box)
                labels.append(
                    f'<text x="{box[0] + 1:.1f}" y="{y + 4:.1f}" font-size="11.5" font-weight="600" '
                    f'fill="{MAKER_TEXT if cluster.is_maker else TAKER_TEXT}" stroke="#fff" stroke-width="3" '
                    f'paint-order="stroke">{_e(text)}</text>'
                )
                break
    return dots[::-1] + labels  # small dots over large ones, labels over all


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _cluster_tip(cluster: FillCluster, t0: int, price_scale: int) -> str:
    liquidity = "maker" if cluster.is_maker else "taker"
    if cluster.count == 1:
        return f"{liquidity} fill {_plain(cluster.qty)} @ {_plain(cluster.low)}, {_seconds(cluster.first_ns, t0)} s"
    prices = _plain(cluster.low) if cluster.low == cluster.high else f"{_plain(cluster.low)}-{_plain(cluster.high)}"
    return (
        f"{cluster.count} {liquidity} fills, {_plain(cluster.qty)} in all @ {prices} "
        f"(average {_fixed(cluster.avg_price, price_scale + 2)}), "
        f"{_seconds(cluster.first_ns, t0)}-{_seconds(cluster.last_ns, t0)} s"
    )


def _seconds(ts_ns: int, t0: int) -> str:
    return _fixed(Decimal(ts_ns - t0).scaleb(-9), 3)


def _child_marks(
    frame: _Frame, marks: Sequence[ChildMark], t0: int, mids: Sequence[tuple[int, Decimal]]
) -> tuple[list[str], list[str], list[str]]:
    """(resting lines, solid markers, outline markers) for the children.

    Children that filled are solid; the others (rejected, cancelled, open) are outlines with no
    fill, a size larger, meant to be drawn after everything else: one sent at the same time and
    price as a replacement rings it instead of covering it.
    """
    mid_times = [ts for ts, _ in mids]
    order = list(OUTCOME_STYLE)
    lines: list[str] = []
    solid: list[str] = []
    hollow: list[str] = []
    for mark in sorted(marks, key=lambda mark: (order.index(mark.outcome), mark.submit_ns)):
        price = mark.price
        if price is None:  # a market order: drawn at the mid when it went out
            if not mids:
                continue
            price = mids[max(bisect.bisect_right(mid_times, mark.submit_ns) - 1, 0)][1]
        fill, stroke, dash = OUTCOME_STYLE[mark.outcome]
        x, y = frame.x(mark.submit_ns, t0), min(max(frame.y(price), frame.top), frame.bottom)  # off scale: pinned
        end_x = frame.right if mark.end_ns is None else frame.x(mark.end_ns, t0)
        if end_x > x + 1:
            lines.append(
                f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{end_x:.1f}" y2="{y:.1f}" stroke="{stroke}" '
                'stroke-width="2" stroke-opacity="0.5"/>'
            )
        tip = (
            f"{mark.client_order_id}: {mark.side} {_plain(mark.qty)} @ {_plain(price)} {mark.tif}, "
            f"{mark.status}, filled {_plain(mark.filled_qty)}"
        )
        is_hollow = mark.outcome in HOLLOW
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        (hollow if is_hollow else solid).append(
            f'<path d="{_triangle(x, y, mark.side, 9.5 if is_hollow else 7.0)}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="1.8"{dashing}><title>{_e(tip)}</title></path>'
        )
    return lines, solid, hollow


def _triangle(x: float, y: float, side: Side, size: float = 7.0) -> str:
    """An arrow head whose tip is at (x, y): below the price pointing up for a buy, above pointing down for a sell.

    The price level itself stays clear for the fills' dots, which sit on it.
    """
    base = y + 1.6 * size if side is Side.BUY else y - 1.6 * size
    return f"M{x:.1f},{y:.1f}L{x - size * 0.9:.1f},{base:.1f}L{x + size * 0.9:.1f},{base:.1f}Z"


def _deadline(frame: _Frame, series: ReportSeries, t0: int) -> list[str]:
    """The deadline as a dotted line, or, when the parent ended well before it, a note of when it was."""
    if series.deadline_ns is None:
        return []
    deadline_s = (series.deadline_ns - t0) / NS_PER_S
    if deadline_s > frame.span_s:
        return [
            f'<text x="{frame.right - 6}" y="{frame.bottom - 6}" text-anchor="end" font-size="12" fill="{BAND}">'
            f"deadline at {_e(_fixed(Decimal(series.deadline_ns - t0).scaleb(-9), 0))} s →</text>"
        ]
    x = frame.x(series.deadline_ns, t0)
    return [
        f'<line x1="{x:.1f}" y1="{frame.top}" x2="{x:.1f}" y2="{frame.bottom}" stroke="{BAND}" '
        'stroke-width="1" stroke-dasharray="2 3"/>',
        f'<text x="{x - 5:.1f}" y="{frame.bottom - 6}" font-size="12" fill="{BAND}" '
        f'transform="rotate(-90 {x - 5:.1f} {frame.bottom - 6})">deadline</text>',
    ]


def _progress_chart(report: ExecutionReport, series: ReportSeries, span_s: float) -> str:
    t0 = report.start_ns
    target = report.target_qty
    low, high = Decimal(0), target * Decimal("1.08")
    frame = _Frame(PROGRESS_HEIGHT, span_s, low, high)
    out = [_svg_open(PROGRESS_HEIGHT, "Schedule against cumulative filled quantity")]
    out += frame.axes("cumulative quantity")
    out += _deadline(frame, series, t0)
    out.append(frame.hline(target, AXIS, "6 4"))
    labels = [(target, f"target {_plain(target)}", INK)]
    if series.schedule:
        until_ns = series.deadline_ns if series.deadline_ns is not None else t0 + round(span_s * NS_PER_S)
        out.append(
            f'<polyline points="{_schedule_points(frame, series.schedule, t0, until_ns)}" fill="none" '
            f'stroke="{SCHEDULE}" stroke-width="2" stroke-dasharray="6 3" stroke-linejoin="miter">'
            "<title>schedule: target cumulative quantity</title></polyline>"
        )
    cumulative = Decimal(0)
    steps = [f"{frame.left:.1f},{frame.y(cumulative):.1f}"]
    for fill in series.fills:
        x = frame.x(fill.ts_ns, t0)
        steps.append(f"{x:.1f},{frame.y(cumulative):.1f}")
        cumulative += fill.qty
        steps.append(f"{x:.1f},{frame.y(cumulative):.1f}")
    steps.append(f"{frame.x(report.end_ns, t0):.1f},{frame.y(cumulative):.1f}")
    out.append(f'<polyline points="{" ".join(steps)}" fill="none" stroke="{FILLED_LINE}" stroke-width="2.4"/>')
    labels.append((cumulative, f"filled {_plain(cumulative)}", FILLED_LINE))
    out += frame.labels(labels)
    out.append("</svg>")
    return "\n".join(out)


def _schedule_points(frame: _Frame, schedule: Sequence[tuple[int, Decimal]], t0: int, until_ns: int) -> str:
    """The schedule as a step line: 0 before its first point, each target held to the next, the last to ``until_ns``."""
    points: list[str] = []
    previous_y = frame.y(Decimal(0))
    for ts, qty in schedule:
        x, y = frame.x(ts, t0), frame.y(qty)
        points += [f"{x:.1f},{previous_y:.1f}", f"{x:.1f},{y:.1f}"]
        previous_y = y
    points.append(f"{frame.x(max(until_ns, schedule[-1][0]), t0):.1f},{previous_y:.1f}")
    return " ".join(points)


def _svg_open(height: int, label: str) -> str:
    return f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{_e(label)}">'


def _price_legend(report: ExecutionReport, series: ReportSeries, pinned: bool) -> str:
    items = [
        _swatch_line(MID, "") + "mid",
        _swatch_line(BAND, "7 4") + "band edge (worst allowed price)",
        _swatch_line(ARRIVAL, "3 3") + "arrival mid",
    ]
    if report.interval_vwap is not None:
        items.append(_swatch_line(VWAP, "2 4") + "market VWAP")
    if report.avg_price is not None:
        items.append(_swatch_line(AVG, "10 3 2 3") + "our average price")
    if any(fill.is_maker for fill in series.fills):
        items.append(_swatch_dot(MAKER) + "maker fill")
    if any(not fill.is_maker for fill in series.fills):
        items.append(_swatch_dot(TAKER) + "taker fill")
    outcomes = sorted({mark.outcome for mark in series.children}, key=list(OUTCOME_STYLE).index)
    for outcome in outcomes:
        fill, stroke, dash = OUTCOME_STYLE[outcome]
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        items.append(
            f'<svg width="16" height="14" viewBox="0 0 16 14"><path d="{_triangle(8, 2, Side.BUY, 6)}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.6"{dashing}/></svg>' + _e(OUTCOME_LABEL[outcome])
        )
    items.append(
        "dot area = quantity filled (fills close in time and price are one dot; hover for details); "
        "▲ buy, ▼ sell; line = time resting"
        + ("; a child priced off the scale (at the band, say) sits at the chart's edge" if pinned else "")
    )
    return '<div class="legend">' + "".join(f"<span>{item}</span>" for item in items) + "</div>"


def _progress_legend(series: ReportSeries) -> str:
    items = [_swatch_line(FILLED_LINE, "") + "cumulative filled", _swatch_line(AXIS, "6 4") + "target quantity"]
    if series.schedule:
        items.insert(0, _swatch_line(SCHEDULE, "6 3") + "schedule (target cumulative)")
    else:
        items.append("no schedule: this strategy does not follow one")
    return '<div class="legend">' + "".join(f"<span>{item}</span>" for item in items) + "</div>"


def _swatch_line(colour: str, dash: str) -> str:
    dashing = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<svg width="28" height="10" viewBox="0 0 28 10"><line x1="1" y1="5" x2="27" y2="5" '
        f'stroke="{colour}" stroke-width="2"{dashing}/></svg>'
    )


def _swatch_dot(colour: str) -> str:
    return f'<svg width="14" height="14" viewBox="0 0 14 14"><circle cx="7" cy="7" r="5" fill="{colour}"/></svg>'


# -- numbers and text --------------------------------------------------------------------------


def _nice_step(span: Decimal, target: int) -> Decimal:
    """1, 2 or 5 times a power of ten, giving about ``target`` intervals over ``span``."""
    if span <= 0:
        return Decimal(1)
    raw = span / target
    exponent = raw.adjusted()
    fraction = raw.scaleb(-exponent)
    nice = 1 if fraction <= 1 else 2 if fraction <= 2 else 5 if fraction <= 5 else 10
    return Decimal(nice).scaleb(exponent)


def _tick_values(low: Decimal, high: Decimal, step: Decimal) -> list[Decimal]:
    first = (low / step).to_integral_value(rounding=ROUND_CEILING) * step
    values: list[Decimal] = []
    value = first
    while value <= high and len(values) < 100:
        values.append(value)
        value += step
    return values


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _padded(low: Decimal, high: Decimal) -> tuple[Decimal, Decimal]:
    span = high - low
    if span <= 0:
        span = abs(high) * Decimal("0.001") or Decimal(1)
    pad = span * Decimal("0.06")
    return low - pad, high + pad


def _fixed(value: Decimal, places: int) -> str:
    return _plain(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))


def _plain(value: Decimal) -> str:
    return format(abs(value) if value == 0 else value, "f")


def _opt(value: Decimal | None, places: int | None) -> str:
    if value is None:
        return "n/a"
    return _plain(value) if places is None else _fixed(value, places)


def _bps(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{_fixed(value, 2) if value < 0 else '+' + _fixed(value, 2)} bps"


def _percent(ratio: Decimal) -> str:
    return f"{_fixed(ratio * 100, 2)} %"


def _tone(value: Decimal | None) -> str:
    if value is None or value == 0:
        return ""
    return "cost" if value > 0 else "gain"


def _utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS_PER_S, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _e(text: str) -> str:
    return html.escape(text, quote=True)
