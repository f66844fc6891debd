"""The HTML execution report: well-formed, self-contained, carrying the figures, and readable.

The last test opens the page in a real headless Chromium (Debian's ``chromium`` package),
takes a screenshot and checks it is the requested size and actually drawn (many colours, a
fair share of non-white pixels), decoding the PNG with nothing but zlib and numpy.
"""

from __future__ import annotations

import itertools
import random
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Sequence
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.cli import format_backtest
from engine.clock import NS_PER_S
from engine.commands import SubmitOrder
from engine.desk import StrategySummary
from engine.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.instrument import Instrument
from engine.orders import ChildOrder, Fill
from engine.parent import ParentOrder, ParentPlan, RoutingConfig, StrategyName
from engine.report import (
    LEFT,
    MAX_MID_POINTS,
    TOP,
    FillMark,
    ReportSeries,
    cluster_fills,
    downsample_minmax,
    render_html,
)
from engine.runtime.backtest import Backtest, BacktestResult, BacktestSettings
from engine.tape import TapeReading
from engine.tca import ExecutionReport, analyse
from feeds.replay import open_records
from strategies.twap import Twap
from tests.conftest import XRP_SAMPLE

D = Decimal
T0 = 1_700_000_000 * NS_PER_S
BTC = Instrument(symbol="BTCUSDT", price_scale=2, qty_scale=3, price_step_ticks=10, qty_step_lots=1, min_qty_lots=1)
MAKER_FEE, TAKER_FEE = D("0.0002"), D("0.00055")
NOTE_WITH_MARKUP = 'slice 4: <b>post-only</b> rejected & re-priced "below" the touch'


def ns(seconds: float) -> int:
    return T0 + round(seconds * NS_PER_S)


def mid_path(samples: int = 30_000, seconds: float = 300.0, seed: int = 7) -> list[tuple[int, Decimal]]:
    """Mids in ticks every 10 ms: a random walk of 0.10 steps, bid/ask one step apart (a half-tick mid)."""
    rng = random.Random(seed)
    bid = 9_500_000
    out = []
    for index in range(samples):
        if rng.random() < 0.08:
            bid += 10 * rng.choice((-1, 1)) + (10 if index < samples * 0.6 else -10) * (rng.random() < 0.15)
        out.append((ns(index * seconds / samples), D(bid + 5)))
    return out


class Example:
    """A TWAP buy of 1 BTC in 5 slices: maker fills, a partial, an IOC, a reject, an open child."""

    def __init__(self, *, samples: int = 30_000, max_slippage: str = "0.001") -> None:
        parent = ParentOrder(
            parent_id="DEMO_TWAP_1",
            symbol="BTCUSDT",
            side=Side.BUY,
            qty=D("1.000"),
            config=RoutingConfig(strategy=StrategyName.TWAP, max_slippage=D(max_slippage), time_limit_s=300),
        )
        self.mids = mid_path(samples)
        self.plan: ParentPlan = parent.plan(BTC, arrival_mid_ticks=self.mids[0][1], start_ns=T0)
        self.plan.notes.extend(["TWAP: 5 slices of 0.200 every 60 s", NOTE_WITH_MARKUP])
        self.children: list[ChildOrder] = []
        self.child(1, TimeInForce.POST_ONLY, "bid", "0.200", [(12, "0.200", True)], end_s=12)
        self.child(61, TimeInForce.POST_ONLY, "bid", "0.200", [(75, "0.080", True)], end_s=110)
        self.child(110, TimeInForce.IOC, "ask", "0.120", [(110.2, "0.120", False)], end_s=110.2)
        self.child(121, TimeInForce.POST_ONLY, "ask", "0.200", [], end_s=121.1, status=OrderStatus.REJECTED)
        self.child(
            121.5, TimeInForce.POST_ONLY, "bid", "0.200", [(140, "0.050", True), (150, "0.150", True)], end_s=150
        )
        self.child(181, TimeInForce.POST_ONLY, "bid", "0.200", [], end_s=230)
        self.child(230, TimeInForce.IOC, "ask", "0.200", [(230.1, "0.200", False)], end_s=230.1)
        self.child(241, TimeInForce.POST_ONLY, "bid", "0.200", [], end_s=None)
        self.end_ns = ns(299.99)
        # StrategySummary's form: (ts, target cumulative lots), each holding until the next point
        self.schedule = [(ns(60 * index), 200 * (index + 1)) for index in range(5)]
        self.report: ExecutionReport = analyse(
            self.plan,
            self.children,
            start_reading=TapeReading(T0, D("1000"), D("95000000"), 10),
            end_reading=TapeReading(self.end_ns, D("1035.5"), D("95000000") + D("35.5") * D("95012.43"), 900),
            end_mid_ticks=self.mids[-1][1],
            end_ns=self.end_ns,
            strategy_used="twap",
            selection_reason="urgency medium, 1 BTC is 0.9% of 5-minute volume: spread over time <quietly>",
        )
        self.series = ReportSeries.from_plan(
            self.plan, self.children, self.mids, schedule_lots=[(ts, lots) for ts, lots in self.schedule]
        )

    def mid_ticks_at(self, seconds: float) -> Decimal:
        at = ns(seconds)
        return [mid for ts, mid in self.mids if ts <= at][-1]

    def child(
        self,
        at_s: float,
        tif: TimeInForce,
        touch: str,
        qty: str,
        fills: Sequence[tuple[float, str, bool]],
        *,
        end_s: float | None,
        status: OrderStatus | None = None,
    ) -> None:
        price = int(self.mid_ticks_at(at_s) + (-5 if touch == "bid" else 5))
        seq = len(self.children) + 1
        command = SubmitOrder(
            client_order_id=f"{self.plan.parent_id}-{seq}",
            parent_id=self.plan.parent_id,
            symbol="BTCUSDT",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            qty_lots=BTC.lots(qty),
            price_ticks=price,
            time_in_force=tif,
        )
        order = ChildOrder(command, ns(at_s))
        for n, (fill_s, fill_qty, is_maker) in enumerate(fills):
            lots = BTC.lots(fill_qty)
            fee = BTC.notional(price, lots) * (MAKER_FEE if is_maker else TAKER_FEE)
            order.fills.append(Fill(f"e{seq}-{n}", price, lots, fee, is_maker, ns(fill_s)))
            order.filled_lots += lots
            order.notional += price * lots
        if status is not None:
            order.status = status
        elif order.filled_lots == order.qty_lots:
            order.status = OrderStatus.FILLED
        else:
            order.status = OrderStatus.NEW if end_s is None else OrderStatus.CANCELLED
        if end_s is not None:
            order.updated_ns = ns(end_s)
        self.children.append(order)


@pytest.fixture(scope="module")
def example() -> Example:
    return Example()


@pytest.fixture(scope="module")
def page(example: Example) -> str:
    return render_html(example.report, example.series)


# -- structure ---------------------------------------------------------------------------------

VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"})


class NestingChecker(HTMLParser):
    """Every element closed, in order; SVG's self-closed elements allowed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> NestingChecker:
    checker = NestingChecker()
    checker.feed(page)
    checker.close()
    return checker


def test_page_is_well_formed(page: str) -> None:
    checker = parse(page)
    assert checker.errors == []
    assert checker.stack == []
    assert page.startswith("<!DOCTYPE html>")
    assert checker.tags.count("svg") >= 2
    assert "polyline" in checker.tags and "circle" in checker.tags and "path" in checker.tags


def test_page_is_self_contained(page: str) -> None:
    lowered = page.lower()
    for forbidden in ("http://", "https://", "<script", "src=", "@import", "url(", "<link", "@font-face"):
        assert forbidden not in lowered, forbidden


def test_page_carries_the_figures_and_the_reasons(example: Example, page: str) -> None:
    report = example.report
    text = " ".join(parse(page).text)
    assert report.avg_price is not None and report.slippage_bps is not None
    assert report.fill_rate == D("0.8")  # 0.2 + 0.08 + 0.12 + 0.2 + 0.2; the last child is still open
    assert "80.00 %" in text
    assert f"{report.slippage_bps.quantize(D('0.01'))} bps" in text
    assert str(report.arrival_mid) in text  # a half-tick mid, exactly
    assert report.arrival_mid == example.mids[0][1] / 100
    assert "urgency medium" in text and "<quietly>" in text  # unescaped by the parser: it was text
    assert "&lt;quietly&gt;" in page
    assert NOTE_WITH_MARKUP in text
    assert "<b>post-only</b>" not in page
    assert "TWAP: 5 slices of 0.200 every 60 s" in text
    assert "band 95095.00" in text  # 95000.05 * 1.001, floored to the 0.10 tick
    assert "▲ above: off scale" in text  # 70 above the highest price, which span 25: not to scale
    assert "seconds from start" in text
    assert "schedule (target cumulative)" in text


def test_a_band_near_the_prices_is_drawn_to_scale() -> None:
    example = Example(samples=3_000, max_slippage="0.0002")  # 95000.05 * 1.0002 -> 95019.00
    text = " ".join(parse(render_html(example.report, example.series)).text)
    assert "band 95019.00" in text
    assert "off scale" not in text


def test_markup_in_reasons_and_notes_is_escaped() -> None:
    example = Example(samples=200)
    report = analyse(
        example.plan,
        example.children,
        start_reading=TapeReading(T0, D(0), D(0), 0),
        end_reading=TapeReading(example.end_ns, D(0), D(0), 0),
        end_mid_ticks=None,
        end_ns=example.end_ns,
        strategy_used="<img src=x onerror=alert(1)>",
        selection_reason="</td><script>alert(1)</script>",
    )
    page = render_html(report, example.series)
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert parse(page).errors == []


def test_long_mid_series_are_down_sampled(example: Example, page: str) -> None:
    assert len(example.series.mids) == 30_000
    assert len(page) < 250_000
    prices = [mid for _, mid in example.series.mids]
    kept = downsample_minmax(example.series.mids)
    assert len(kept) <= MAX_MID_POINTS
    assert kept[0] == example.series.mids[0] and kept[-1] == example.series.mids[-1]
    assert min(mid for _, mid in kept) == min(prices)
    assert max(mid for _, mid in kept) == max(prices)
    assert [ts for ts, _ in kept] == sorted(ts for ts, _ in kept)
    short = example.series.mids[:50]
    assert downsample_minmax(short) == list(short)


def test_downsample_keeps_each_buckets_extremes() -> None:
    points = [(index, D(index % 7)) for index in range(1000)]
    kept = downsample_minmax(points, max_points=22)  # 10 buckets of 100 points
    assert len(kept) <= 22
    assert {value for _, value in kept} >= {D(0), D(6)}
    with pytest.raises(ValueError, match="max_points"):
        downsample_minmax(points, max_points=3)


def test_unfilled_parent_without_schedule_renders() -> None:
    example = Example(samples=500)
    children = [order for order in example.children if not order.fills]
    report = analyse(
        example.plan,
        children,
        start_reading=TapeReading(T0, D(0), D(0), 0),
        end_reading=TapeReading(example.end_ns, D(0), D(0), 0),
        end_mid_ticks=example.mids[-1][1],
        end_ns=example.end_ns,
        strategy_used="sniper",
        selection_reason="waiting for size at the touch",
    )
    series = ReportSeries.from_plan(example.plan, children, example.mids)
    page = render_html(report, series)
    text = " ".join(parse(page).text)
    assert parse(page).errors == []
    assert "no schedule" in text
    assert "n/a" in text  # no average price, no slippage


# -- what the charts draw ----------------------------------------------------------------------


class SvgElements(HTMLParser):
    """Every element inside each chart (in drawing order), with its attributes and <title> text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.charts: dict[str, list[tuple[str, dict[str, str], str]]] = {}
        self._chart: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "svg" and "aria-label" in values:
            self._chart = values["aria-label"]
            self.charts[self._chart] = []
        elif tag == "title":
            self._in_title = True
        elif self._chart is not None:
            self.charts[self._chart].append((tag, values, ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._chart is not None:
            self.charts[self._chart].append((tag, {key: value or "" for key, value in attrs}, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._chart = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title and self._chart is not None:
            tag, values, _ = self.charts[self._chart][-1]
            self.charts[self._chart][-1] = (tag, values, data)


PRICE_CHART = "Price path with band, child orders and fills"
PROGRESS_CHART = "Schedule against cumulative filled quantity"


def chart(page: str, name: str) -> list[tuple[str, dict[str, str], str]]:
    parser = SvgElements()
    parser.feed(page)
    return parser.charts[name]


def points(attrs: dict[str, str]) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (pair.split(",") for pair in attrs["points"].split())]


def test_the_schedule_is_drawn_as_steps_held_until_the_deadline(example: Example, page: str) -> None:
    """Five targets, 0.2 more every 60 s from the start: a step line (every segment flat or
    upright), from 0 up to 1.000 and held there until the deadline (300 s), not a diagonal
    through the points that stops at the last one (240 s)."""
    elements = chart(page, PROGRESS_CHART)
    (schedule,) = [attrs for tag, attrs, _ in elements if tag == "polyline" and attrs["stroke"] == "#1c7ed6"]
    steps = points(schedule)
    for (x1, y1), (x2, y2) in itertools.pairwise(steps):
        assert x1 == x2 or y1 == y2, ((x1, y1), (x2, y2))
    assert len({y for _, y in steps}) == 6  # 0 and the five targets
    (deadline,) = [attrs for tag, attrs, _ in elements if tag == "line" and attrs.get("stroke-dasharray") == "2 3"]
    assert steps[-1][0] == float(deadline["x1"])
    assert steps[-1][1] == min(y for _, y in steps)  # the top: the whole parent
    assert steps[0] == (LEFT, max(y for _, y in steps))  # from 0 at the start


def test_a_scheduled_parent_that_stopped_early_still_shows_its_whole_schedule() -> None:
    """The parent ended at 100 s of 300: the time axis still runs to the deadline, so the
    schedule's later slices are on the chart (a strategy without a schedule is not stretched)."""
    example = Example(samples=1_000)
    early = [order for order in example.children if order.created_ns < ns(100)]
    report = analyse(
        example.plan,
        early,
        start_reading=TapeReading(T0, D(0), D(0), 0),
        end_reading=TapeReading(ns(100), D(10), D(950000), 5),
        end_mid_ticks=example.mids[-1][1],
        end_ns=ns(100),
        strategy_used="twap",
        selection_reason="twap was requested",
    )
    scheduled = ReportSeries.from_plan(example.plan, early, example.mids[:300], schedule_lots=example.schedule)
    text = " ".join(parse(render_html(report, scheduled)).text)
    assert "deadline" in text and "deadline at" not in text and "300" in text.split("seconds from start")[0]
    unscheduled = ReportSeries.from_plan(example.plan, early, example.mids[:300])
    assert "deadline at 300 s →" in " ".join(parse(render_html(report, unscheduled)).text)


def fill_quantities(page: str) -> list[tuple[int, Decimal]]:
    """(number of fills, quantity) of every fill dot in the price chart, from its tooltip."""
    out = []
    for tag, _, title in chart(page, PRICE_CHART):
        if tag == "circle":
            match = re.match(r"(?:(\d+) )?(?:maker|taker) fills?,? ([\d.]+)", title)
            assert match is not None, title
            out.append((int(match.group(1) or 1), D(match.group(2))))
    return out


def test_sparse_fills_are_one_dot_each(example: Example, page: str) -> None:
    dots = fill_quantities(page)
    assert sorted(dots) == sorted((1, D(qty)) for qty in ("0.200", "0.080", "0.120", "0.050", "0.150", "0.200"))


def test_dense_fills_are_merged_into_few_dots_that_keep_every_fill() -> None:
    """300 fills in 20 s over five price levels (an iceberg's burst) would be 300 overlapping dots:
    they become a handful, each carrying its fills' count and quantity, nothing lost."""
    example = Example(samples=3_000)
    for index in range(5):
        start = 150 + 4 * index
        burst = [(start + k * 0.05, "0.001", True) for k in range(60)]
        example.child(start, TimeInForce.POST_ONLY, "bid", "0.060", burst, end_s=start + 3)
    series = ReportSeries.from_plan(example.plan, example.children, example.mids, schedule_lots=example.schedule)
    report = analyse(
        example.plan,
        example.children,
        start_reading=TapeReading(T0, D(0), D(0), 0),
        end_reading=TapeReading(example.end_ns, D(100), D(9500000), 50),
        end_mid_ticks=example.mids[-1][1],
        end_ns=example.end_ns,
        strategy_used="iceberg",
        selection_reason="test",
    )
    page = render_html(report, series)
    assert len(series.fills) == 306
    assert len([tag for tag, _, _ in chart(page, PRICE_CHART) if tag == "circle"]) <= 16
    dots = fill_quantities(page)
    assert sum(count for count, _ in dots) == 306
    assert sum(qty for _, qty in dots) == report.filled_qty


def test_cluster_fills_keeps_count_quantity_and_average_price() -> None:
    fills = [
        FillMark(ts_ns=ns(1), price=D("100.0"), qty=D("1"), is_maker=True),
        FillMark(ts_ns=ns(2), price=D("100.3"), qty=D("2"), is_maker=True),
        FillMark(ts_ns=ns(2), price=D("100.1"), qty=D("1"), is_maker=False),  # taker: its own dot
        FillMark(ts_ns=ns(9), price=D("100.0"), qty=D("1"), is_maker=True),  # far in time: its own dot
    ]
    clusters = cluster_fills(fills, lambda ts, price: ((ts - T0) / NS_PER_S * 4, float(price)), cell=(16, 12))
    assert [(c.count, c.qty, c.is_maker) for c in clusters] == [(2, D(3), True), (1, D(1), False), (1, D(1), True)]
    first = clusters[0]
    assert first.avg_price == D("100.2") and (first.low, first.high) == (D("100.0"), D("100.3"))
    assert (first.first_ns, first.last_ns) == (ns(1), ns(2))
    assert first.ts_ns == (ns(1) * 1 + ns(2) * 2) // 3  # quantity-weighted


def test_a_rejected_child_does_not_hide_its_replacement() -> None:
    """A child rejected and replaced at once sits at the same time and price as its replacement:
    whichever marker is drawn on top is an outline with no fill, so both show."""
    example = Example(samples=1_000)
    example.child(200, TimeInForce.POST_ONLY, "bid", "0.200", [], end_s=200, status=OrderStatus.REJECTED)
    example.child(200, TimeInForce.POST_ONLY, "bid", "0.200", [(201, "0.200", True)], end_s=201)
    rejected, replacement = (order.client_order_id for order in example.children[-2:])
    page = render_html(example.report, ReportSeries.from_plan(example.plan, example.children, example.mids))
    markers = [
        (title.split(":")[0], attrs)
        for tag, attrs, title in chart(page, PRICE_CHART)
        if tag == "path" and title.split(":")[0] in (rejected, replacement)
    ]
    assert sorted(name for name, _ in markers) == sorted([rejected, replacement])
    on_top = markers[-1][1]
    assert on_top["fill"] == "none", on_top


def test_a_child_priced_far_off_the_market_is_pinned_to_the_edge_not_squashing_the_chart() -> None:
    """An IOC at the band edge (95095.00, 70 above prices spanning 25) keeps its price in its
    tooltip but sits on the chart's top edge; the price axis stays on the market."""
    example = Example(samples=1_000)
    command = SubmitOrder(
        client_order_id="DEMO_TWAP_1-ioc",
        parent_id=example.plan.parent_id,
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty_lots=100,
        price_ticks=example.plan.band_ticks,
        time_in_force=TimeInForce.IOC,
    )
    ioc = ChildOrder(command, ns(200))
    ioc.status, ioc.updated_ns = OrderStatus.CANCELLED, ns(200)
    children = [*example.children, ioc]
    page = render_html(example.report, ReportSeries.from_plan(example.plan, children, example.mids))
    elements = chart(page, PRICE_CHART)
    (marker,) = [attrs for tag, attrs, title in elements if tag == "path" and title.startswith("DEMO_TWAP_1-ioc:")]
    assert marker["d"].split("L")[0].endswith(f",{TOP:.1f}")  # the arrow's tip on the top edge
    text = " ".join(parse(page).text)
    assert "▲ above: off scale" in text  # the band, too, stays off a scale that is the market's
    assert "sits at the chart's edge" in page


def test_the_mid_path_is_drawn_when_the_touch_never_moved_and_nothing_filled() -> None:
    """A parent that ended before the touch moved has no mid samples: the path starts at the
    arrival mid anyway and runs to the end, on a page with no fills."""
    example = Example(samples=10)
    unfilled = [order for order in example.children if not order.fills]
    series = ReportSeries.from_plan(example.plan, unfilled, [])
    assert series.mids == [(T0, example.report.arrival_mid)]
    report = analyse(
        example.plan,
        unfilled,
        start_reading=TapeReading(T0, D(0), D(0), 0),
        end_reading=TapeReading(example.end_ns, D(0), D(0), 0),
        end_mid_ticks=None,
        end_ns=example.end_ns,
        strategy_used="twap",
        selection_reason="test",
    )
    elements = chart(render_html(report, series), PRICE_CHART)
    (mid,) = [attrs for tag, attrs, _ in elements if tag == "polyline" and attrs["stroke"] == "#343a40"]
    path = points(mid)
    assert path[0][0] == LEFT and path[-1][0] > 900  # from the start to the end of the parent
    assert not [tag for tag, _, _ in elements if tag == "circle"]


def test_participation_and_its_warning_are_on_the_page(example: Example, page: str) -> None:
    text = " ".join(parse(page).text)
    assert "Participation" in text
    assert "2.25 %" in text  # 0.8 of the 35.5 the market traded
    assert 'role="alert"' not in page  # 1 BTC against 35.5 traded: no warning
    quiet = analyse(
        example.plan,
        example.children,
        start_reading=TapeReading(T0, D(0), D(0), 0),
        end_reading=TapeReading(example.end_ns, D(0), D(0), 0),
        end_mid_ticks=None,
        end_ns=example.end_ns,
        strategy_used="twap",
        selection_reason="test",
    )
    quiet_page = render_html(quiet, example.series)
    assert 'role="alert"' in quiet_page
    quiet_text = " ".join(parse(quiet_page).text)
    assert "n/a: no market trades" in quiet_text
    assert "the market traded nothing while this parent worked" in quiet_text


# -- through the backtest ----------------------------------------------------------------------


def xrp_twap(**overrides: Any) -> BacktestResult:
    """Sell 20000 XRPUSDT by TWAP over 4 s on the bundled real sample (which has no trades)."""
    config = RoutingConfig(strategy=StrategyName.TWAP, time_limit_s=4, max_slippage=D("0.0001"), **overrides)
    parent = ParentOrder(parent_id="R1", symbol="XRPUSDT", side=Side.SELL, qty=D(20000), config=config)
    return Backtest(parent, settings=BacktestSettings(seed=3)).run(open_records(XRP_SAMPLE))


def test_the_backtest_reports_what_the_strategy_summary_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """The strategy used, the reason and the schedule come from ``Strategy.summary()``, typed."""
    start = {}

    def summary(self: Twap) -> StrategySummary:
        start["ns"] = self.plan.start_ns
        return StrategySummary(
            "stub-used", "the stub says so", ((self.plan.start_ns, 5000), (self.plan.deadline_ns, 20000))
        )

    monkeypatch.setattr(Twap, "summary", summary)
    result = xrp_twap()
    assert result.report is not None and result.series is not None
    out = result.to_dict()
    assert (out["strategy_used"], out["selection_reason"]) == ("stub-used", "the stub says so")
    assert list(result.series.schedule or ()) == [(start["ns"], D(5000)), (start["ns"] + 4 * NS_PER_S, D(20000))]
    page = render_html(result.report, result.series)
    assert "schedule (target cumulative)" in page and "no schedule" not in page


def test_twap_backtest_report_draws_its_schedule() -> None:
    """TWAP follows a schedule, so its report draws one: non-decreasing targets from the start
    up to the whole parent. (Passes once TWAP's ``summary()`` gives its schedule.)"""
    result = xrp_twap()
    assert result.report is not None and result.series is not None
    schedule = list(result.series.schedule or ())
    assert schedule, "TWAP's report has no schedule"
    assert schedule[0][0] >= result.report.start_ns
    assert [qty for _, qty in schedule] == sorted(qty for _, qty in schedule)
    assert schedule[-1][1] == result.report.target_qty
    assert "no schedule" not in render_html(result.report, result.series)


def test_the_text_summary_names_the_strategy_used_and_warns_on_a_silent_market() -> None:
    """The XRPUSDT sample has no trades at all: participation is n/a and the warning is in the notes."""
    out = xrp_twap().to_dict()
    assert out["participation"] is None and out["market_volume"] == "0"
    assert any("the market traded nothing" in note for note in out["notes"])
    text = format_backtest(out)
    assert "strategy used     twap: " in text
    assert "participation     n/a: the market traded nothing in the interval" in text
    assert "  - warning: the market traded nothing while this parent worked" in text


# -- a real browser ----------------------------------------------------------------------------


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(browser: str, page_path: Path, png_path: Path, profile: Path) -> None:
    subprocess.run(
        [
            browser,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            f"--screenshot={png_path}",
            "--window-size=1280,1600",
            page_path.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_pixels(data: bytes) -> np.ndarray:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes) to height x width x channels."""
    width, height = png_size(data)
    bit_depth, colour_type, _, _, interlace = data[24:29]
    assert bit_depth == 8 and colour_type in (2, 6) and interlace == 0, "unexpected PNG format"
    channels = 3 if colour_type == 2 else 4
    idat, pos = bytearray(), 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    stride = width * channels
    rows = np.frombuffer(zlib.decompress(bytes(idat)), dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.uint8)
    for row in range(height):
        kind, line = rows[row, 0], rows[row, 1:]
        if kind == 0:
            current = line.copy()
        elif kind == 1:  # Sub: a running sum per channel, mod 256
            current = (np.cumsum(line.reshape(width, channels).astype(np.int64), axis=0) % 256).astype(np.uint8)
            current = current.reshape(stride)
        elif kind == 2:  # Up
            current = line + previous
        else:  # Average or Paeth: each byte depends on the one to its left
            current = _unfilter_sequential(int(kind), line, previous, channels)
        out[row] = current
        previous = current
    return out.reshape(height, width, channels)


def _unfilter_sequential(kind: int, line: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    raw, up = line.tolist(), previous.tolist()
    cur = [0] * len(raw)
    for i, value in enumerate(raw):
        left = cur[i - bpp] if i >= bpp else 0
        above = up[i]
        if kind == 3:
            cur[i] = (value + (left + above) // 2) & 0xFF
            continue
        corner = up[i - bpp] if i >= bpp else 0
        estimate = left + above - corner
        pa, pb, pc = abs(estimate - left), abs(estimate - above), abs(estimate - corner)
        predictor = left if pa <= pb and pa <= pc else above if pb <= pc else corner
        cur[i] = (value + predictor) & 0xFF
    return np.array(cur, dtype=np.uint8)


def test_png_decoder_on_a_tiny_hand_made_image() -> None:
    """2x2 RGB, rows filtered None and Paeth: the decoder must give the pixels back."""
    pixels = [[(255, 0, 0), (0, 255, 0)], [(0, 0, 255), (255, 255, 255)]]
    row0 = bytes([0, *pixels[0][0], *pixels[0][1]])
    flat1 = [c for pixel in pixels[1] for c in pixel]
    flat0 = [c for pixel in pixels[0] for c in pixel]
    paeth = []
    for i, value in enumerate(flat1):
        left = flat1[i - 3] if i >= 3 else 0
        above = flat0[i]
        corner = flat0[i - 3] if i >= 3 else 0
        estimate = left + above - corner
        pa, pb, pc = abs(estimate - left), abs(estimate - above), abs(estimate - corner)
        predictor = left if pa <= pb and pa <= pc else above if pb <= pc else corner
        paeth.append((value - predictor) & 0xFF)
    raw = row0 + bytes([4, *paeth])

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    assert png_pixels(png).tolist() == [[list(p) for p in row] for row in pixels]


def test_report_renders_in_headless_chromium(tmp_path: Path, page: str) -> None:
    browser = chromium()
    if browser is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    page_path = tmp_path / "report.html"
    page_path.write_text(page, encoding="utf-8")
    png_path = tmp_path / "shot.png"
    screenshot(browser, page_path, png_path, tmp_path / "profile")
    assert png_path.exists()
    data = png_path.read_bytes()
    assert png_size(data) == (1280, 1600)
    pixels = png_pixels(data)[:, :, :3]
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 200, f"only {len(colours)} colours: is the page blank?"
    not_white = np.any(pixels < 235, axis=2).mean()
    assert not_white > 0.03, f"only {not_white:.1%} of the page is drawn"
    # the charts are drawn, not only the text: the maker/taker, band and schedule colours are on screen
    for hex_colour in ("#0ca678", "#f76707", "#e03131", "#1c7ed6"):
        rgb = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
        assert np.any(np.all(pixels == rgb, axis=2)), f"{hex_colour} not on the screenshot"
