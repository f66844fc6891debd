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
from pathlib import Path
from typing import Any, TextIO

import orjson
import structlog

from engine.clock import NS_PER_S
from engine.instrument import Instrument
from engine.market import DEFAULT_STALE_AFTER_NS
from engine.runtime.replay import Replay, ReplayReport
from feeds.bybit.instruments import InstrumentsError, load_instruments
from feeds.replay import ReplayDataError, merge_records, open_records
from feeds.replay.progress import ReadMeter

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
        "paths", nargs="+", type=Path, metavar="PATH", help="input files, merged by timestamp"
    )
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
    replay.add_argument(
        "--levels", type=int, default=5, metavar="N", help="book levels to show per side (default: 5)"
    )
    replay.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr: auto = only when stderr is a terminal (default: auto)",
    )
    replay.set_defaults(run=_run_replay)


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


def _instruments(path: Path | None) -> dict[str, Instrument] | None:
    return None if path is None else load_instruments(path)


def format_report(report: ReplayReport) -> str:
    """The replay report as a readable table."""
    lines = [
        f"messages      {report.messages:>12,}   "
        f"({report.msgs_per_s:,.0f} msg/s in {report.elapsed_s:.2f} s)",
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
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    )
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
