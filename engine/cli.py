"""The ``bybit-router`` command (also ``python -m engine``).

This module and ``__main__`` are the only places that configure logging, read the terminal or
decide process exit codes. Each subcommand is a function ``(args) -> exit code``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

import orjson
import structlog

from engine.clock import NS_PER_MS, NS_PER_S
from engine.enums import Side
from engine.errors import ConfigError
from engine.events import TradePrinted
from engine.instrument import Instrument
from engine.market import DEFAULT_STALE_AFTER_NS
from engine.parent import ParentOrder, RoutingConfig, StrategyName, Urgency
from engine.report import render_html
from engine.runtime.backtest import Backtest, BacktestSettings
from engine.runtime.replay import Replay, ReplayReport
from feeds.bybit.codec import BybitCodec
from feeds.bybit.instruments import InstrumentsError, load_instruments
from feeds.replay import ReplayDataError, merge_records, open_records
from feeds.replay.progress import ReadMeter
from strategies.profile import VolumeProfile

__all__ = ["main", "build_parser"]

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bybit-router",
        description="Event-driven execution engine for Bybit v5: local books, routing strategies, replay.",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="least severe log level written to stderr (default: warning)",
    )
    parser.add_argument("--log-json", action="store_true", help="write logs as JSON lines instead of text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_replay(commands)
    _add_backtest(commands)
    return parser


def _add_replay(commands: Any) -> None:
    replay = commands.add_parser(
        "replay",
        help="run recorded feeds through parser, books and bus; print what the books look like",
        description=(
            "Replay recorded Bybit frames through the live pipeline (parser -> book -> bus) on "
            "simulated time and report the books. Accepts our recordings (.gz), Bybit order-book "
            "history files (*_ob200.data / *_ob500.data, plain, .zip or .gz) and Bybit trade CSVs "
            "(derivatives or spot, plain or .gz). Several files are merged by receive time."
        ),
    )
    replay.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="input files, merged by timestamp")
    replay.add_argument("--symbol", help="only this symbol (others are counted as ignored)")
    replay.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    replay.add_argument(
        "--instruments",
        type=Path,
        metavar="FILE",
        help="Bybit instruments-info response to take price/qty scales from (default: infer from snapshots)",
    )
    replay.add_argument(
        "--stale-after",
        type=float,
        default=DEFAULT_STALE_AFTER_NS / NS_PER_S,
        metavar="SECONDS",
        help="a book with no update for this long is marked STALE (default: %(default)s)",
    )
    replay.add_argument("--levels", type=int, default=5, metavar="N", help="book levels to show per side (default: 5)")
    replay.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr: auto = only when stderr is a terminal (default: auto)",
    )
    replay.set_defaults(run=_run_replay)


def _add_backtest(commands: Any) -> None:
    backtest = commands.add_parser(
        "backtest",
        help="work one parent order against recorded data and a simulated Bybit; print the TCA",
        description=(
            "Replay the files (merged by time) through the live pipeline against a simulated Bybit "
            "that matches child orders against the replayed book (queue positions, latency, fees). "
            "The parent starts at the first SYNCED book of --symbol (or at --start) and is worked by "
            "the chosen strategy; the result is its transaction cost analysis."
        ),
    )
    backtest.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="input files, merged by timestamp")
    backtest.add_argument("--symbol", required=True, help="the symbol to trade (e.g. BTCUSDT)")
    backtest.add_argument("--side", required=True, choices=("Buy", "Sell"), help="Buy or Sell")
    backtest.add_argument("--qty", required=True, type=Decimal, help="parent quantity in base units (e.g. 10)")
    backtest.add_argument(
        "--strategy",
        required=True,
        choices=[name.value for name in StrategyName],
        help="routing strategy (smart chooses one of the others from the market state)",
    )
    backtest.add_argument(
        "--urgency", default="medium", choices=[u.value for u in Urgency], help="(default: %(default)s)"
    )
    backtest.add_argument(
        "--time-limit", type=int, default=300, metavar="S", help="seconds to work the order (default: %(default)s)"
    )
    backtest.add_argument(
        "--max-slippage",
        type=Decimal,
        default=Decimal("0.001"),
        metavar="F",
        help="price band as a fraction of the arrival mid; no fill beyond it (default: %(default)s)",
    )
    backtest.add_argument(
        "--participation-rate",
        type=Decimal,
        default=Decimal("0.1"),
        metavar="F",
        help="share of market volume (POV) or of available depth (SNIPER), in (0, 1] (default: %(default)s)",
    )
    backtest.add_argument("--chunk-size", type=Decimal, metavar="Q", help="visible size per child (ICEBERG)")
    backtest.add_argument("--min-fill-size", type=Decimal, metavar="Q", help="smallest child worth sending")
    backtest.add_argument("--limit-price", type=Decimal, metavar="P", help="never buy above / sell below this")
    backtest.add_argument(
        "--instruments",
        type=Path,
        metavar="FILE",
        help="Bybit instruments-info response with the symbol's rules (default: inferred from the data)",
    )
    backtest.add_argument(
        "--start", metavar="ISO|ms", help="start the parent at this time (ISO-8601 UTC or epoch ms) instead of at once"
    )
    backtest.add_argument(
        "--latency-ms", type=float, default=5.0, metavar="MS", help="order latency each way (default: %(default)s)"
    )
    backtest.add_argument(
        "--market-data-latency-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="delay between the exchange and us seeing market data (default: %(default)s)",
    )
    backtest.add_argument(
        "--fees",
        default="0.0002,0.00055",
        metavar="MAKER,TAKER",
        help="fee rates as fractions of notional; negative = rebate (default: %(default)s)",
    )
    backtest.add_argument("--seed", type=int, default=0, help="seed for randomised slicing (default: 0)")
    backtest.add_argument(
        "--profile",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="recorded trades to build VWAP's intraday volume profile from (default: a U-shape)",
    )
    backtest.add_argument("--parent-id", default="BT1", help="parent id, prefix of every child orderLinkId")
    backtest.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    backtest.add_argument("--report", type=Path, metavar="OUT.html", help="also write an HTML report with charts")
    backtest.add_argument(
        "--progress", choices=("auto", "always", "never"), default="auto", help="progress bar on stderr (default: auto)"
    )
    backtest.set_defaults(run=_run_backtest)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_level, args.log_json)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


# -- replay -------------------------------------------------------------------------------


def _run_replay(args: argparse.Namespace) -> int:
    if args.stale_after <= 0:
        return _fail("--stale-after must be positive")
    if args.levels < 0:
        return _fail("--levels must be >= 0")
    missing = [str(path) for path in args.paths if not path.is_file()]
    if missing:
        return _fail(f"no such file: {', '.join(missing)}")
    try:
        instruments = _instruments(args.instruments)
    except InstrumentsError as exc:
        return _fail(str(exc))
    replay = Replay(
        symbol=args.symbol,
        instruments=instruments,
        stale_after_ns=int(args.stale_after * NS_PER_S),
        top_levels=args.levels,
    )
    show_progress = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    try:
        with ReadMeter(args.paths) as meter:
            records = merge_records(*(open_records(path, symbol=args.symbol) for path in args.paths))
            bar = ProgressBar(meter, sys.stderr) if show_progress else None
            report = replay.run(records, progress=bar.update if bar else None)
            if bar:
                bar.finish(report.messages)
    except ReplayDataError as exc:
        return _fail(str(exc))
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report.to_dict()) + b"\n")
    else:
        sys.stdout.write(format_report(report))
    return EXIT_OK


def _run_backtest(args: argparse.Namespace) -> int:
    missing = [str(path) for path in [*args.paths, *(args.profile or [])] if not path.is_file()]
    if missing:
        return _fail(f"no such file: {', '.join(missing)}")
    try:
        parent = ParentOrder(
            parent_id=args.parent_id,
            symbol=args.symbol,
            side=Side(args.side),
            qty=args.qty,
            config=RoutingConfig(
                strategy=StrategyName(args.strategy),
                urgency=Urgency(args.urgency),
                max_slippage=args.max_slippage,
                time_limit_s=args.time_limit,
                chunk_size=args.chunk_size,
                participation_rate=args.participation_rate,
                min_fill_size=args.min_fill_size,
                limit_price=args.limit_price,
            ),
        )
        maker_fee, taker_fee = _fees(args.fees)
        settings = BacktestSettings(
            order_latency_ns=_ms_to_ns(args.latency_ms, "--latency-ms"),
            response_latency_ns=_ms_to_ns(args.latency_ms, "--latency-ms"),
            market_data_latency_ns=_ms_to_ns(args.market_data_latency_ms, "--market-data-latency-ms"),
            maker_fee=maker_fee,
            taker_fee=taker_fee,
            seed=args.seed,
            start_ns=_start_ns(args.start) if args.start else None,
        )
        instruments = _instruments(args.instruments)
        if instruments is not None and args.symbol not in instruments:
            return _fail(f"{args.instruments} has no rules for {args.symbol}")
        profile = _volume_profile(args.profile) if args.profile else None
    except (ConfigError, ValueError, InstrumentsError, ReplayDataError) as exc:
        return _fail(str(exc))
    backtest = Backtest(parent, settings=settings, instruments=instruments, profile=profile)
    show_progress = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    try:
        with ReadMeter(args.paths) as meter:
            records = merge_records(*(open_records(path, symbol=args.symbol) for path in args.paths))
            bar = ProgressBar(meter, sys.stderr) if show_progress else None
            result = backtest.run(records, progress=bar.update if bar else None)
            if bar:
                bar.finish(result.messages)
    except (ConfigError, ReplayDataError) as exc:
        return _fail(str(exc))
    if args.report is not None and result.report is not None and result.series is not None:
        args.report.write_text(render_html(result.report, result.series), encoding="utf-8")
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(result.to_dict()) + b"\n")
    else:
        sys.stdout.write(format_backtest(result.to_dict()))
    return EXIT_OK


def format_backtest(out: dict[str, Any]) -> str:
    """The backtest result as a short readable summary."""
    inputs = out["inputs"]
    lines = [
        f"{inputs['side']} {inputs['qty']} {inputs['symbol']} with {inputs['strategy']}"
        f" ({inputs['urgency']} urgency, {inputs['time_limit_s']} s, band {inputs['max_slippage']})",
        f"outcome           {out['outcome']}",
    ]
    if "filled_qty" in out:
        out = {key: "n/a" if value is None else value for key, value in out.items()}
        lines += [
            f"strategy used     {out['strategy_used']}: {out['selection_reason']}",
            f"filled            {out['filled_qty']} of {out['target_qty']} (fill rate {out['fill_rate']})",
            f"participation     {out['participation']} of market volume {out['market_volume']} in the interval"
            if out["participation"] != "n/a"
            else "participation     n/a: the market traded nothing in the interval",
            f"average price     {out['avg_price']}   arrival mid {out['arrival_mid']}",
            f"slippage          {out['slippage_bps']} bps vs arrival, {out['vs_vwap_bps']} bps vs interval VWAP"
            f" {out['interval_vwap']}",
            f"fees              {out['fees']}   shortfall {out['shortfall_bps']} bps",
            f"children          {out['child_orders']}, fills {len(out['fills'])}, maker share {out['maker_share']}",
            f"duration          {out['duration_s']} s   (wall {out['wall_s']} s for {out['messages']:,} messages)",
        ]
    if out.get("notes"):
        lines.append("notes")
        lines += [f"  - {note}" for note in out["notes"]]
    return "\n".join(lines) + "\n"


def _fees(text: str) -> tuple[Decimal, Decimal]:
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"--fees must be MAKER,TAKER, got {text!r}")
    try:
        maker, taker = (Decimal(part.strip()) for part in parts)
    except InvalidOperation as exc:
        raise ValueError(f"--fees must be two numbers, got {text!r}") from exc
    if not (maker.is_finite() and taker.is_finite() and abs(maker) < 1 and abs(taker) < 1):
        raise ValueError(f"--fees must be fractions of notional (e.g. 0.00055), got {text!r}")
    return maker, taker


def _ms_to_ns(value: float, option: str) -> int:
    if not value >= 0:
        raise ValueError(f"{option} must be >= 0")
    return round(value * NS_PER_MS)


def _start_ns(text: str) -> int:
    """Epoch ms, or an ISO-8601 time (UTC unless it says otherwise)."""
    if text.isdigit():
        return int(text) * NS_PER_MS
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"--start must be epoch ms or ISO-8601, got {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000) * NS_PER_MS


def _volume_profile(paths: list[Path]) -> VolumeProfile:
    """A volume profile from the public trades in ``paths`` (any replayable file)."""
    codec = BybitCodec()
    trades = [
        (event.ts_event_ns, event.qty)
        for _, _, raw in merge_records(*(open_records(path) for path in paths))
        for event in codec.parse(raw, 0)
        if isinstance(event, TradePrinted)
    ]
    if not trades:
        raise ValueError("--profile files hold no public trades")
    return VolumeProfile.from_trades(trades)


def _instruments(path: Path | None) -> dict[str, Instrument] | None:
    return None if path is None else load_instruments(path)


def format_report(report: ReplayReport) -> str:
    """The replay report as a readable table."""
    lines = [
        f"messages      {report.messages:>12,}   ({report.msgs_per_s:,.0f} msg/s in {report.elapsed_s:.2f} s)",
        f"book          {report.book_messages:>12,}",
        f"trades        {report.trade_messages:>12,}",
        f"ignored       {report.ignored_messages:>12,}",
        f"malformed     {report.malformed:>12,}",
    ]
    for reason, count in sorted({**report.ignored_reasons, **report.malformed_reasons}.items()):
        lines.append(f"  {count:>8,}  {reason}")
    for name, book in report.books.items():
        lines.append("")
        lines.append(
            f"{name}  depth {book['depth']}  {book['state']}  last u {book['last_u']}  "
            f"levels {book['bid_levels']}/{book['ask_levels']}  gaps {book['gaps']}  "
            f"resets {book['resets']}  stale dropped {book['stale_dropped']}"
        )
        bids, asks = book["bids"], book["asks"]
        width = max([len(p) + len(s) for p, s in bids + asks] + [10]) + 2
        lines.append(f"  {'bid size @ price':>{width + 3}}    {'ask price x size':<{width + 3}}")
        for row in range(max(len(bids), len(asks))):
            bid = f"{bids[row][1]} @ {bids[row][0]}" if row < len(bids) else ""
            ask = f"{asks[row][0]} x {asks[row][1]}" if row < len(asks) else ""
            lines.append(f"  {bid:>{width + 3}}    {ask:<{width + 3}}")
    return "\n".join(lines) + "\n"


class ProgressBar:
    """A one-line progress bar on a terminal, redrawn at most five times a second."""

    WIDTH = 30

    def __init__(self, meter: ReadMeter, out: TextIO) -> None:
        self._meter = meter
        self._out = out
        self._started = time.monotonic()
        self._drawn = 0.0

    def update(self, messages: int) -> None:
        now = time.monotonic()
        if now - self._drawn >= 0.2:
            self._drawn = now
            self._draw(messages, now)

    def finish(self, messages: int) -> None:
        self._draw(messages, time.monotonic(), done=True)
        self._out.write("\n")
        self._out.flush()

    def _draw(self, messages: int, now: float, done: bool = False) -> None:
        fraction = 1.0 if done else self._meter.fraction
        elapsed = max(now - self._started, 1e-9)
        filled = int(fraction * self.WIDTH)
        eta = elapsed * (1 - fraction) / fraction if 0 < fraction < 1 else 0.0
        self._out.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:6.1%}  "
            f"{messages:,} msgs  {messages / elapsed:,.0f} msg/s  ETA {eta:4.0f}s "
        )
        self._out.flush()


# -- plumbing -------------------------------------------------------------------------------


def _fail(message: str) -> int:
    sys.stderr.write(f"bybit-router: error: {message}\n")
    return EXIT_BAD_INPUT


def _configure_logging(level_name: str, as_json: bool) -> None:
    level = getattr(logging, level_name.upper())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
