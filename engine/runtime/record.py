"""Record: raw public frames from Bybit into our recording format, until stopped.

``bybit-router record`` keeps a ``PublicFeed`` (books, trades and tickers of one category's
symbols) connected and writes every frame it receives, verbatim and with its receive time, to
``DIR/<category>-<UTC start of the period>.rec.gz``, a new file each period (an hour by default),
so a recorder running for weeks leaves files of a bounded size that ``replay`` and ``backtest``
read as they are. The feed's reconnects, resubscriptions after a gap and fresh snapshots are
recorded like any frame: a replay of the files meets the same snapshots the recorder did.

The recorder also runs the frames through the engine's books, to know what it saw: every book
that lost its sequence (a gap, a crossed or unreadable book) and every dropped connection is one
JSON line in ``DIR/gaps.jsonl`` (time, kind, symbol or stream, reason) and a warning in the log.
Files are flushed every second, so a killed recorder loses at most that; a restart within the
same period appends to that period's file.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import structlog

from engine.clock import NS_PER_S, Clock, LiveClock
from engine.engine import Engine
from engine.enums import BookState, ConnectionState
from engine.events import BookStateChanged, ConnectionStateChanged
from feeds.bybit.live import PublicFeed, StreamTiming
from feeds.replay import RecordingWriter

__all__ = ["Recorder", "RecordStats"]

log = structlog.get_logger("engine.runtime.record")

HOUR_NS = 3600 * NS_PER_S
FLUSH_EVERY_S = 1.0


@dataclass
class RecordStats:
    frames: int = 0
    files: list[Path] = field(default_factory=list)
    gaps: int = 0
    disconnects: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "files": [str(path) for path in self.files],
            "gaps": self.gaps,
            "disconnects": self.disconnects,
        }


class Recorder:
    def __init__(
        self,
        out_dir: str | Path,
        *,
        category: str,
        symbols: Iterable[str],
        url: str,
        depth: int | None = None,
        rotate_ns: int = HOUR_NS,
        clock: Clock | None = None,
        timing: StreamTiming | None = None,
    ) -> None:
        if rotate_ns <= 0:
            raise ValueError("the rotation period must be positive")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.category = category
        self.rotate_ns = rotate_ns
        self.stats = RecordStats()
        self.engine = Engine(clock or LiveClock())
        self.feed = PublicFeed(
            self.engine, category, list(symbols), url=url, depth=depth, timing=timing, on_raw=self._write
        )
        self.stream_name = self.feed.stream.spec.name
        self._writer: RecordingWriter | None = None
        self._period: int | None = None
        self._stopping = False  # the feed's own close is not a gap
        self._live = False
        self._gaps = (self.out_dir / "gaps.jsonl").open("ab")
        self.engine.bus.subscribe(BookStateChanged, self._on_book_state)
        self.engine.bus.subscribe(ConnectionStateChanged, self._on_connection)

    async def run(self, stop: asyncio.Event) -> RecordStats:
        """Record until ``stop`` is set; the files are complete and closed when this returns."""
        self.feed.start()
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):  # a second without a stop: flush, wait again
                    await asyncio.wait_for(stop.wait(), FLUSH_EVERY_S)
                if self._writer is not None:
                    self._writer.flush()
        finally:
            self._stopping = True
            await self.feed.close()
            self._close_file()
            self._gaps.close()
        return self.stats

    # -- frames ------------------------------------------------------------------------------
    def _write(self, raw: bytes, ts_recv_ns: int) -> None:
        period = ts_recv_ns // self.rotate_ns
        if period != self._period:
            self._close_file()
            self._open_file(period)
        assert self._writer is not None
        self._writer.write(ts_recv_ns, self.stream_name, raw)
        self.stats.frames += 1

    def _open_file(self, period: int) -> None:
        start = datetime.fromtimestamp(period * self.rotate_ns / NS_PER_S, tz=UTC)
        path = self.out_dir / f"{self.category}-{start:%Y%m%dT%H%M%S}Z.rec.gz"
        metadata = {"category": self.category, "symbols": list(self.feed.symbols), "depth": self.feed.depth}
        self._writer = RecordingWriter(path, mode="a", metadata=metadata)
        self._period = period
        if path not in self.stats.files:
            self.stats.files.append(path)
        log.info("recording to", file=str(path))

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- what it saw -----------------------------------------------------------------------------
    def _on_book_state(self, change: BookStateChanged) -> None:
        if change.new is BookState.RESYNCING and not self._stopping:
            self.stats.gaps += 1
            self._note_gap(change.ts_event_ns, "book", symbol=change.symbol, depth=change.depth, reason=change.reason)

    def _on_connection(self, change: ConnectionStateChanged) -> None:
        """A live connection that drops is a gap; failed attempts to reconnect are not new ones."""
        if change.state is ConnectionState.LIVE:
            self._live = True
        elif change.state is ConnectionState.DISCONNECTED and self._live and not self._stopping:
            self._live = False
            self.stats.disconnects += 1
            self._note_gap(change.ts_event_ns, "connection", stream=change.stream, reason=change.reason)

    def _note_gap(self, ts_ns: int, kind: str, **detail: object) -> None:
        if self._stopping:
            return
        when = datetime.fromtimestamp(ts_ns / NS_PER_S, tz=UTC).isoformat(timespec="milliseconds")
        log.warning("recording gap", kind=kind, **detail)
        self._gaps.write(orjson.dumps({"ts_ns": ts_ns, "time": when, "kind": kind, **detail}) + b"\n")
        self._gaps.flush()
