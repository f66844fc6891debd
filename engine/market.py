"""All local books: one per (symbol, depth), their silence watch, and their state reports.

A book's state changes become ``BookStateChanged`` events, and a book that turns RESYNCING
also produces a ``ResyncBook`` command for whichever driver owns the feed.

Silence is found by one sweep over all books every ``stale_after / 8``, so applying a message
costs nothing extra and a book goes STALE between ``stale_after`` and ``1.125 * stale_after``
after its last update. The sweep timer exists only while some book is SYNCED.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from engine.book import BookTransition, OrderBook
from engine.clock import NS_PER_S, Clock, TimerHandle
from engine.commands import Command, ResyncBook
from engine.enums import BookState
from engine.events import BookStateChanged, Event
from engine.instrument import Instrument
from engine.numbers import FixedMemos

__all__ = ["Books", "DEFAULT_STALE_AFTER_NS", "SWEEPS_PER_STALE_PERIOD"]

DEFAULT_STALE_AFTER_NS = 30 * NS_PER_S
"""Bybit's deeper books push only on change, so silence alone is weak evidence: 30 s by default."""

SWEEPS_PER_STALE_PERIOD = 8


class Books:
    """The registry of local books. ``index`` maps (symbol, depth) to the book."""

    def __init__(
        self,
        clock: Clock,
        *,
        emit: Callable[[Event], None],
        command: Callable[[Command], None],
        instruments: Mapping[str, Instrument] | None = None,
        stale_after_ns: int = DEFAULT_STALE_AFTER_NS,
    ) -> None:
        if stale_after_ns <= 0:
            raise ValueError("stale_after_ns must be positive")
        self._clock = clock
        self._emit = emit
        self._command = command
        self._instruments = dict(instruments or {})
        self.stale_after_ns = stale_after_ns
        self.index: dict[tuple[str, int], OrderBook] = {}
        self._memos = FixedMemos()  # shared by every book, so memory does not grow with books
        self._primary: dict[str, OrderBook] = {}
        self._sweep: TimerHandle | None = None

    # -- lookup ---------------------------------------------------------------------------
    def book(self, symbol: str, depth: int | None = None) -> OrderBook | None:
        """The book of ``symbol`` at ``depth``, or its first book when depth is None."""
        if depth is None:
            return self._primary.get(symbol)
        return self.index.get((symbol, depth))

    def __iter__(self) -> Iterator[OrderBook]:
        return iter(self.index.values())

    def __len__(self) -> int:
        return len(self.index)

    def set_instrument(self, instrument: Instrument) -> None:
        """Rules for books opened from now on (existing books keep theirs)."""
        self._instruments[instrument.symbol] = instrument

    def open(self, symbol: str, depth: int) -> OrderBook:
        """The book for (symbol, depth), created empty and RESYNCING if it does not exist yet."""
        book = self.index.get((symbol, depth))
        if book is None:
            book = OrderBook(
                symbol,
                depth,
                self._instruments.get(symbol),
                on_transition=self._on_transition,
                memos=self._memos,
            )
            self.index[(symbol, depth)] = book
            self._primary.setdefault(symbol, book)
        return book

    # -- state changes ----------------------------------------------------------------------
    def _on_transition(self, book: OrderBook, change: BookTransition) -> None:
        now = self._clock.now_ns()
        self._emit(
            BookStateChanged(
                ts_event_ns=now,
                ts_recv_ns=now,
                symbol=book.symbol,
                depth=book.depth,
                old=change.old,
                new=change.new,
                reason=change.reason,
            )
        )
        if change.new is BookState.RESYNCING:
            self._command(ResyncBook(symbol=book.symbol, depth=book.depth, reason=change.reason))
        elif change.new is BookState.SYNCED and self._sweep is None:
            self._arm_sweep(now)

    def _arm_sweep(self, now_ns: int) -> None:
        due = now_ns + self.stale_after_ns // SWEEPS_PER_STALE_PERIOD
        self._sweep = self._clock.call_at(due, self._sweep_for_silence)

    def _sweep_for_silence(self, now_ns: int) -> None:
        self._sweep = None
        any_synced = False
        for book in list(self.index.values()):
            book.check_silence(now_ns, self.stale_after_ns)
            any_synced = any_synced or book.state is BookState.SYNCED
        if any_synced and self._sweep is None:
            self._arm_sweep(now_ns)
