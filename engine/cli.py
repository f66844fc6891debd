"""The ``bybit-router`` command (also ``python -m engine``).

This module and ``__main__`` are the only places that configure logging, read the terminal or
decide process exit codes. Each subcommand is a function ``(args) -> exit code``.

Every mistake ends in one line on stderr that names what is wrong, never a traceback:

* exit 2, a wrong command line: an option that is not a number, out of range, a path that does
  not exist or cannot be written. Option values are read by the ``type=`` functions below, so
  argparse names the option; ranges that the order itself defines (``RoutingConfig``,
  ``ParentOrder``) are checked there and reported under the option's name (``ParameterError``);
* exit 1, files that cannot give what was asked: not market data, unreadable, or (backtest)
  no data to start the parent on, whose outcome is still printed (and is in ``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn, TextIO

import orjson
import structlog

from engine.clock import NS_PER_MS, NS_PER_S
from engine.enums import Side
from engine.errors import ConfigError
from engine.events import TradePrinted
from engine.ids import validate_parent_id
from engine.instrument import Instrument
from engine.market import DEFAULT_STALE_AFTER_NS
from engine.parent import ParameterError, ParentOrder, RoutingConfig, StrategyName, Urgency
from engine.report import render_html
from engine.runtime.backtest import Backtest, BacktestSettings
from engine.runtime.record import Recorder, RecordStats
from engine.runtime.replay import Replay, ReplayReport
from feeds.bybit.codec import BybitCodec
from feeds.bybit.endpoints import Endpoints, EndpointsError, load_endpoints
from feeds.bybit.instruments import InstrumentsError, load_instruments
from feeds.bybit.topics import Category
from feeds.replay import ReplayDataError, merge_records, open_records
from feeds.replay.progress import ReadMeter
from strategies.profile import VolumeProfile

__all__ = ["main", "build_parser"]

EXIT_OK = 0
EXIT_BAD_DATA = 1  # the files cannot give what was asked
EXIT_BAD_INPUT = 2  # the command line is wrong (argparse's own code)
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT

MAX_DIGITS = 18
"""Digits a number option may have before and after the point: more than any venue takes, and
within what the engine's exact arithmetic is sized for (1e400 BTC would overflow its fees)."""

# The option that sets each ParentOrder / RoutingConfig field, to name it in errors.
OPTION_OF_FIELD = {
    "symbol": "--symbol",
    "side": "--side",
    "qty": "--qty",
    "strategy": "--strategy",
    "urgency": "--urgency",
    "time_limit_s": "--time-limit",
    "max_slippage": "--max-slippage",
    "participation_rate": "--participation-rate",
    "chunk_size": "--chunk-size",
    "min_fill_size": "--min-fill-size",
    "limit_price": "--limit-price",
}


class UsageError(Exception):
    """The command line is wrong (exit 2); the message names the option, ``prog`` the command."""

    def __init__(self, message: str, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


class DataError(Exception):
    """The files cannot give what was asked (exit 1); the message names the file."""


class _ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line, reported like every other usage error.

    The full usage of ``backtest`` is fifteen lines that bury the one saying what is wrong
    (``--help`` still shows it all); and ``main`` returns exit code 2 rather than argparse
    exiting the process, so callers and tests see one behaviour for every bad input.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, prog=self.prog)


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
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
    _add_record(commands)
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
    replay.add_argument(
        "paths", nargs="+", type=_existing_file, metavar="PATH", help="input files, merged by timestamp"
    )
    replay.add_argument("--symbol", type=_symbol, help="only this symbol, any case (others are counted as ignored)")
    replay.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    replay.add_argument(
        "--instruments",
        type=_existing_file,
        metavar="FILE",
        help="Bybit instruments-info response to take price/qty scales from (default: infer from snapshots)",
    )
    replay.add_argument(
        "--stale-after",
        type=_positive_seconds,
        default=DEFAULT_STALE_AFTER_NS / NS_PER_S,
        metavar="SECONDS",
        help="a book with no update for this long is marked STALE (default: %(default)s)",
    )
    replay.add_argument(
        "--levels", type=_levels, default=5, metavar="N", help="book levels to show per side (default: %(default)s)"
    )
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
    backtest.add_argument(
        "paths", nargs="+", type=_existing_file, metavar="PATH", help="input files, merged by timestamp"
    )
    backtest.add_argument("--symbol", required=True, type=_symbol, help="the symbol to trade, any case (e.g. BTCUSDT)")
    backtest.add_argument(
        "--side", required=True, type=_side, choices=[side.value for side in Side], help="Buy or Sell (any case)"
    )
    backtest.add_argument("--qty", required=True, type=_number, help="parent quantity in base units (e.g. 10)")
    backtest.add_argument(
        "--strategy",
        required=True,
        type=str.lower,
        choices=[name.value for name in StrategyName],
        help="routing strategy (smart chooses one of the others from the market state)",
    )
    backtest.add_argument(
        "--urgency",
        default="medium",
        type=str.lower,
        choices=[u.value for u in Urgency],
        help="(default: %(default)s)",
    )
    backtest.add_argument(
        "--time-limit",
        type=_whole_number,
        default=300,
        metavar="S",
        help="whole seconds to work the order (default: %(default)s)",
    )
    backtest.add_argument(
        "--max-slippage",
        type=_number,
        default=Decimal("0.001"),
        metavar="F",
        help="price band as a fraction of the arrival mid; no fill beyond it (default: %(default)s)",
    )
    backtest.add_argument(
        "--participation-rate",
        type=_number,
        default=Decimal("0.1"),
        metavar="F",
        help="share of market volume (POV) or of available depth (SNIPER), in (0, 1] (default: %(default)s)",
    )
    backtest.add_argument("--chunk-size", type=_number, metavar="Q", help="visible size per child (ICEBERG)")
    backtest.add_argument("--min-fill-size", type=_number, metavar="Q", help="smallest child worth sending")
    backtest.add_argument("--limit-price", type=_number, metavar="P", help="never buy above / sell below this")
    backtest.add_argument(
        "--instruments",
        type=_existing_file,
        metavar="FILE",
        help="Bybit instruments-info response with the symbol's rules (default: inferred from the data)",
    )
    backtest.add_argument(
        "--start",
        type=_start_ns,
        metavar="ISO|ms",
        help="start the parent at this time (ISO-8601, UTC unless it says otherwise, or epoch milliseconds) "
        "instead of at the first synced book",
    )
    backtest.add_argument(
        "--latency-ms",
        type=_milliseconds,
        default=Decimal(5),
        metavar="MS",
        help="order latency each way (default: %(default)s)",
    )
    backtest.add_argument(
        "--market-data-latency-ms",
        type=_milliseconds,
        default=Decimal(0),
        metavar="MS",
        help="delay between the exchange and us seeing market data (default: %(default)s)",
    )
    backtest.add_argument(
        "--fees",
        type=_fee_rates,
        default="0.0002,0.00055",
        metavar="MAKER,TAKER",
        help="fee rates as fractions of notional; negative = rebate (default: %(default)s)",
    )
    backtest.add_argument("--seed", type=_whole_number, default=0, help="seed for randomised slicing (default: 0)")
    backtest.add_argument(
        "--profile",
        type=_existing_file,
        nargs="+",
        metavar="FILE",
        help="recorded trades to build VWAP's intraday volume profile from (default: a U-shape)",
    )
    backtest.add_argument(
        "--parent-id", type=_parent_id, default="BT1", help="parent id, prefix of every child orderLinkId"
    )
    backtest.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    backtest.add_argument(
        "--report",
        type=_writable_file,
        metavar="OUT.html",
        help="also write an HTML report with charts (checked before the run: its folder must exist)",
    )
    backtest.add_argument(
        "--progress", choices=("auto", "always", "never"), default="auto", help="progress bar on stderr (default: auto)"
    )
    backtest.set_defaults(run=_run_backtest)


def _add_record(commands: Any) -> None:
    record = commands.add_parser(
        "record",
        help="record Bybit's public frames (books, trades, tickers) into hourly recordings, until stopped",
        description=(
            "Connect to Bybit's public stream of one category and record every frame, verbatim with its "
            "receive time, into DIR/<category>-<UTC hour>.rec.gz (a new file each hour) until Ctrl-C or "
            "SIGTERM. Reconnects and book resyncs are survived and recorded; gaps and dropped connections "
            "are listed in DIR/gaps.jsonl. The files replay with `replay` and `backtest`. Public data needs "
            "no API key; the default is mainnet."
        ),
    )
    record.add_argument("--category", choices=[c.value for c in Category], default="linear", help="(default: linear)")
    record.add_argument(
        "--symbols", type=_symbols, required=True, metavar="S1,S2", help="comma-separated symbols, e.g. BTCUSDT,ETHUSDT"
    )
    record.add_argument("--depth", type=_levels, metavar="N", help="order-book depth (default: 50; 25 for options)")
    record.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the recordings")
    where = record.add_mutually_exclusive_group()
    where.add_argument("--testnet", action="store_true", help="Bybit's testnet instead of mainnet")
    where.add_argument("--demo", action="store_true", help="the demo environment (mainnet public data)")
    where.add_argument(
        "--endpoints", type=_existing_file, metavar="FILE", help="a TOML [endpoints] file naming every URL"
    )
    record.add_argument(
        "--rotate", type=_positive_seconds, default=3600.0, metavar="SECONDS", help="new file every (default: 3600)"
    )
    record.set_defaults(run=_run_record)


def _symbols(text: str) -> list[str]:
    symbols = [_symbol(part) for part in text.split(",") if part.strip()]
    if not symbols:
        raise argparse.ArgumentTypeError("give at least one symbol")
    return symbols


def _run_record(args: argparse.Namespace) -> int:
    category = Category(args.category)
    if args.endpoints is not None:
        try:
            url = load_endpoints(args.endpoints).public_url(category)
        except EndpointsError as exc:
            raise UsageError(f"argument --endpoints: {exc}") from None
    else:
        env = "testnet" if args.testnet else "demo" if args.demo else "mainnet"
        url = Endpoints.for_environment(env).public_url(category)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"argument --out: {args.out} is a file, not a folder")
    try:
        recorder = Recorder(
            args.out,
            category=category.value,
            symbols=args.symbols,
            url=url,
            depth=args.depth,
            rotate_ns=int(args.rotate * NS_PER_S),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise DataError(f"cannot write to {args.out}: {exc.strerror or exc}") from None
    stats = asyncio.run(_record_until_signalled(recorder))
    sys.stdout.write(orjson.dumps(stats.to_dict()).decode() + "\n")
    return 0


async def _record_until_signalled(recorder: Recorder) -> RecordStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        return await recorder.run(stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv``; the process exit code. Only ``--help`` raises SystemExit."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _fail(exc.prog or "bybit-router", str(exc), EXIT_BAD_INPUT)
    _configure_logging(args.log_level, args.log_json)
    run: Callable[[argparse.Namespace], int] = args.run
    prog = f"bybit-router {args.command}"
    try:
        return run(args)
    except UsageError as exc:
        return _fail(exc.prog or prog, str(exc), EXIT_BAD_INPUT)
    except DataError as exc:
        return _fail(prog, str(exc), EXIT_BAD_DATA)
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{prog}: interrupted\n")
        return EXIT_INTERRUPTED


# -- replay -------------------------------------------------------------------------------


def _run_replay(args: argparse.Namespace) -> int:
    instruments = _instruments(args.instruments)
    replay = Replay(
        symbol=args.symbol,
        instruments=instruments,
        stale_after_ns=int(args.stale_after * NS_PER_S),
        top_levels=args.levels,
    )
    show_progress = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    with _reading_data(), ReadMeter(args.paths) as meter:
        records = _market_records(args.paths, args.symbol)
        bar = ProgressBar(meter, sys.stderr) if show_progress else None
        report = replay.run(records, progress=bar.update if bar else None)
        if bar:
            bar.finish(report.messages)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report.to_dict()) + b"\n")
    else:
        sys.stdout.write(format_report(report))
    if report.messages == 0:
        raise DataError("the files hold no market messages")
    if args.symbol is not None and report.book_messages + report.trade_messages == 0:
        raise DataError(
            f"the files hold no data for {args.symbol}: all {report.messages:,} messages are for other symbols"
        )
    return EXIT_OK


def _run_backtest(args: argparse.Namespace) -> int:
    with _naming_options():
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
    maker_fee, taker_fee = args.fees
    settings = BacktestSettings(
        order_latency_ns=_ms_to_ns(args.latency_ms),
        response_latency_ns=_ms_to_ns(args.latency_ms),
        market_data_latency_ns=_ms_to_ns(args.market_data_latency_ms),
        maker_fee=maker_fee,
        taker_fee=taker_fee,
        seed=args.seed,
        start_ns=args.start,
    )
    instruments = _instruments(args.instruments)
    if instruments is not None and args.symbol not in instruments:
        raise UsageError(f"argument --symbol: {args.instruments} has no rules for {args.symbol}")
    with _reading_data():
        profile = _volume_profile(args.profile) if args.profile else None
    backtest = Backtest(parent, settings=settings, instruments=instruments, profile=profile)
    show_progress = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    with _naming_options(), _reading_data(), ReadMeter(args.paths) as meter:
        records = _market_records(args.paths, args.symbol)
        bar = ProgressBar(meter, sys.stderr) if show_progress else None
        result = backtest.run(records, progress=bar.update if bar else None)
        if bar:
            bar.finish(result.messages)
    if args.report is not None and result.report is not None and result.series is not None:
        try:
            args.report.write_text(render_html(result.report, result.series), encoding="utf-8")
        except OSError as exc:
            raise DataError(f"cannot write the report {args.report}: {exc.strerror or exc}") from exc
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(result.to_dict()) + b"\n")
    else:
        sys.stdout.write(format_backtest(result.to_dict()))
    if result.plan is None:
        if args.report is not None:
            sys.stderr.write(f"bybit-router backtest: no report written to {args.report}: the parent never started\n")
        return EXIT_BAD_DATA  # the outcome above says why
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


def _ms_to_ns(milliseconds: Decimal) -> int:
    return int((milliseconds * NS_PER_MS).to_integral_value(rounding=ROUND_HALF_EVEN))


# -- option values: each raises ArgumentTypeError, which argparse reports under the option's name


def _number(text: str) -> Decimal:
    """A decimal number as a trader writes it: finite, at most MAX_DIGITS digits either side of the point."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        hint = " (write it with a . and no separators, e.g. 1000.5)" if "," in text else ""
        raise argparse.ArgumentTypeError(f"{text!r} is not a number{hint}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    significant = value.normalize()
    if significant and significant.adjusted() >= MAX_DIGITS:
        raise argparse.ArgumentTypeError(f"{text} is too large (more than {MAX_DIGITS} digits before the point)")
    if int(significant.as_tuple().exponent) < -MAX_DIGITS:
        raise argparse.ArgumentTypeError(f"{text} has more than {MAX_DIGITS} decimals")
    return Decimal(f"{value:f}")  # 1e3 -> 1000: echoed back the way it is meant


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if len(str(abs(value))) > MAX_DIGITS:
        raise argparse.ArgumentTypeError(f"{text} is too large (more than {MAX_DIGITS} digits)")
    return value


def _milliseconds(text: str) -> Decimal:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_seconds(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return float(value)


def _levels(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _fee_rates(text: str) -> tuple[Decimal, Decimal]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"must be MAKER,TAKER (e.g. 0.0002,0.00055), got {text!r}")
    maker, taker = (_number(part.strip()) for part in parts)
    if not (abs(maker) < 1 and abs(taker) < 1):
        raise argparse.ArgumentTypeError(f"must be fractions of notional (e.g. 0.00055), got {text!r}")
    return maker, taker


_EPOCH_MS_SINCE = 10**12  # 2001-09-09 in epoch ms; a smaller number is almost surely seconds


def _start_ns(text: str) -> int:
    """Epoch ms, or an ISO-8601 time (UTC unless it says otherwise), in ns."""
    if text.isdigit():
        millis = int(text)
        if millis < _EPOCH_MS_SINCE:
            raise argparse.ArgumentTypeError(
                f"{text} is before 2001 as epoch milliseconds: seconds? write {text}000 or an ISO-8601 time"
            )
        moment = None
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is neither an ISO-8601 time (2024-12-01T00:04:00Z) nor epoch milliseconds"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        millis = int(moment.timestamp() * 1_000)
    try:
        datetime.fromtimestamp(millis / 1_000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise argparse.ArgumentTypeError(f"{text} is beyond the calendar (year 9999)") from None
    return millis * NS_PER_MS


_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9-]*")


def _symbol(text: str) -> str:
    """Bybit symbols are upper case; ``btcusdt`` means BTCUSDT."""
    symbol = text.strip().upper()
    if not _SYMBOL.fullmatch(symbol):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Bybit symbol (letters and digits, e.g. BTCUSDT)")
    return symbol


def _side(text: str) -> str:
    """Buy or Sell in any case, as Bybit spells it; anything else is left for argparse's choices."""
    return {side.value.lower(): side.value for side in Side}.get(text.strip().lower(), text)


def _parent_id(text: str) -> str:
    try:
        return validate_parent_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _existing_file(text: str) -> Path:
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder: name the files in it (e.g. {path / '*'})")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def _writable_file(text: str) -> Path:
    """A file that can be written, checked now rather than after a long run."""
    path = Path(text)
    folder = path.parent
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder: give a file name (e.g. {path / 'report.html'})")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: the folder {folder} does not exist")
    if not os.access(path if path.exists() else folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}: permission denied")
    return path


# -- errors from the engine and the files --------------------------------------------------------


@contextmanager
def _naming_options() -> Iterator[None]:
    """A ``ParameterError`` becomes a ``UsageError`` naming the option that set the field."""
    try:
        yield
    except ParameterError as exc:
        option = OPTION_OF_FIELD.get(exc.field)
        raise UsageError(f"argument {option}: {exc.problem}" if option else str(exc)) from exc
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc


@contextmanager
def _reading_data() -> Iterator[None]:
    """What reading a data file can raise becomes a ``DataError`` that names the file."""
    try:
        yield
    except (ReplayDataError, InstrumentsError) as exc:
        raise DataError(str(exc)) from exc
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise DataError(f"cannot read {where}{exc.strerror or exc}") from exc


def _market_records(paths: list[Path], symbol: str | None = None) -> Iterator[tuple[int, str, bytes]]:
    """The records of every file, merged by time (``symbol`` picks rows of trade CSVs)."""
    for path in paths:
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty")
    return merge_records(*(open_records(path, symbol=symbol) for path in paths))


def _volume_profile(paths: list[Path]) -> VolumeProfile:
    """A volume profile from the public trades in ``paths`` (any replayable file)."""
    codec = BybitCodec()
    trades = [
        (event.ts_event_ns, event.qty)
        for _, _, raw in _market_records(paths)
        for event in codec.parse(raw, 0)
        if isinstance(event, TradePrinted)
    ]
    if not trades:
        raise DataError("the --profile files hold no public trades")
    return VolumeProfile.from_trades(trades)


def _instruments(path: Path | None) -> dict[str, Instrument] | None:
    if path is None:
        return None
    with _reading_data():
        return load_instruments(path)


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


def _fail(prog: str, message: str, code: int) -> int:
    sys.stderr.write(f"{prog}: error: {message}\n")
    return code


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
