"""Replay: recorded frames through the live parser, the engine and the bus, on simulated time.

Each record is ``(ts_recv_ns, stream, raw_frame)``. For every record, in order, the driver
moves the ``SimClock`` to the record's receive time (firing any timer due on the way, such as
a book's silence check), parses the frame with the same ``BybitCodec`` live trading uses, and
hands each event to ``Engine.handle``. Commands the engine emits are collected; a replay has
no venue to resubscribe with, so ``ResyncBook`` means "wait for the next snapshot in the data".

A record older than the clock (possible only in a badly ordered file) is processed at the
clock's time and counted in ``out_of_order``: simulated time never runs backwards.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.book import OrderBook
from engine.clock import SimClock
from engine.engine import Engine
from engine.instrument import Instrument
from engine.market import DEFAULT_STALE_AFTER_NS
from feeds.bybit.codec import BybitCodec

__all__ = ["Replay", "ReplayReport", "Record", "book_summary"]

Record = tuple[int, str, bytes]
PROGRESS_EVERY = 1 << 14


@dataclass
class ReplayReport:
    messages: int = 0
    book_messages: int = 0
    trade_messages: int = 0
    ignored_messages: int = 0
    malformed: int = 0
    elapsed_s: float = 0.0
    out_of_order: int = 0
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    commands: Counter[str] = field(default_factory=Counter)
    ignored_reasons: dict[str, int] = field(default_factory=dict)
    malformed_reasons: dict[str, int] = field(default_factory=dict)
    books: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The ``replay --json`` object."""
        return {
            "messages": self.messages,
            "book_messages": self.book_messages,
            "trade_messages": self.trade_messages,
            "ignored_messages": self.ignored_messages,
            "malformed": self.malformed,
            "elapsed_s": round(self.elapsed_s, 6),
            "msgs_per_s": round(self.msgs_per_s, 1),
            "out_of_order": self.out_of_order,
            "first_ts_ns": self.first_ts_ns,
            "last_ts_ns": self.last_ts_ns,
            "commands": dict(self.commands),
            "ignored_reasons": self.ignored_reasons,
            "malformed_reasons": self.malformed_reasons,
            "books": self.books,
        }


class Replay:
    """One replay run: a fresh SimClock, codec and engine.

    ``engine`` is exposed before ``run`` so callers (tests, benchmarks, backtests) can
    subscribe to its bus exactly as a live application would.
    """

    def __init__(
        self,
        *,
        symbol: str | None = None,
        instruments: Mapping[str, Instrument] | None = None,
        stale_after_ns: int = DEFAULT_STALE_AFTER_NS,
        top_levels: int = 5,
    ) -> None:
        self.clock = SimClock()
        self.codec = BybitCodec(symbols=None if symbol is None else (symbol,))
        self.engine = Engine(self.clock, instruments=instruments, stale_after_ns=stale_after_ns)
        self.top_levels = top_levels
        self._report = ReplayReport()

    def run(self, records: Iterable[Record], progress: Callable[[int], None] | None = None) -> ReplayReport:
        report = self._report
        records = iter(records)
        first = next(records, None)
        if first is None:
            return self._finish(report)
        if report.first_ts_ns is None:
            report.first_ts_ns = first[0]
        records = itertools.chain((first,), records)
        clock = self.clock
        advance = clock.advance_to
        parse = self.codec.parse
        handle = self.engine.handle
        outbox = self.engine.outbox
        now = clock.now_ns()
        count = 0
        out_of_order = 0
        next_progress = PROGRESS_EVERY if progress is not None else -1
        started = time.perf_counter()
        for record_ns, _stream, raw in records:
            if record_ns > now:
                advance(record_ns)
                now = record_ns
            elif record_ns < now:
                out_of_order += 1
            for event in parse(raw, now):
                handle(event)
            if outbox:
                self._take_commands()
            count += 1
            if count == next_progress:
                progress(count)  # type: ignore[misc]  # next_progress is -1 when progress is None
                next_progress += PROGRESS_EVERY
        report.elapsed_s += time.perf_counter() - started
        report.messages += count
        report.out_of_order += out_of_order
        if count:
            report.last_ts_ns = now
        return self._finish(report)

    def _take_commands(self) -> None:
        for command in self.engine.commands_to_send():
            self._report.commands[type(command).__name__] += 1

    def _finish(self, report: ReplayReport) -> ReplayReport:
        stats = self.codec.stats
        report.book_messages = stats.book
        report.trade_messages = stats.trade
        report.ignored_messages = stats.ignored_total
        report.malformed = stats.malformed_total
        report.ignored_reasons = dict(stats.ignored)
        report.malformed_reasons = dict(stats.malformed)
        books = list(self.engine.books)
        depths_per_symbol = Counter(book.symbol for book in books)
        report.books = {
            book.symbol if depths_per_symbol[book.symbol] == 1 else f"{book.symbol}@{book.depth}": book_summary(
                book, self.top_levels
            )
            for book in books
        }
        return report


def book_summary(book: OrderBook, top_levels: int = 5) -> dict[str, Any]:
    """A book's state and counters, prices and sizes as decimal strings."""
    bids, asks = book.snapshot_strings(top_levels)
    return {
        "state": book.state.value,
        "depth": book.depth,
        "last_u": book.last_update_id,
        "seq": book.last_seq,
        "gaps": book.gaps,
        "resets": book.resets,
        "stale_dropped": book.stale_dropped,
        "unsynced_dropped": book.unsynced_dropped,
        "absent_deletes": book.absent_deletes,
        "crossed": book.crossed,
        "bad_data": book.bad_data,
        "bid_levels": len(book.bids),
        "ask_levels": len(book.asks),
        "bids": bids,
        "asks": asks,
    }
