"""All local books: routes each ``BookDelta`` to its book, watches for silence, reports state.

A book's state changes become ``BookStateChanged`` events, and a book that turns RESYNCING
also produces a ``ResyncBook`` command for whichever driver owns the feed. Silence is watched
with one timer per book, re-armed lazily: a message costs one attribute check, and the timer
fires at most once per ``stale_after`` of silence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from engine.book import BookTransition, OrderBook
from engine.clock import NS_PER_S, Clock, TimerHandle
from engine.commands import Command, ResyncBook
from engine.enums import BookState
from engine.events import BookDelta, BookStateChanged, Event
from engine.instrument import Instrument

__all__ = ["Books", "DEFAULT_STALE_AFTER_NS"]

DEFAULT_STALE_AFTER_NS = 30 * NS_PER_S
"""Bybit's deeper books push only on change, so silence alone is weak evidence: 30 s by default."""


class _Watched:
    """A book and its silence timer."""

    __slots__ = ("book", "timer")

    def __init__(self, book: OrderBook) -> None:
        self.book = book
        self.timer: TimerHandle | None = None


class Books:
    """The registry of local books, one per (symbol, depth)."""

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
        self._watched: dict[tuple[str, int], _Watched] = {}
        self._primary: dict[str, OrderBook] = {}

    def apply(self, msg: BookDelta) -> bool:
        """Apply a book message; True if the book changed and is usable (publish the message)."""
        watched = self._watched.get((msg.symbol, msg.depth)) or self._open(msg.symbol, msg.depth)
        applied = watched.book.apply(msg)
        if watched.timer is None and applied:
            self._arm(watched)
        return applied

    # -- lookup ---------------------------------------------------------------------------
    def book(self, symbol: str, depth: int | None = None) -> OrderBook | None:
        """The book of ``symbol`` at ``depth``, or its first book when depth is None."""
        if depth is None:
            return self._primary.get(symbol)
        watched = self._watched.get((symbol, depth))
        return None if watched is None else watched.book

    def __iter__(self) -> Iterator[OrderBook]:
        return (w.book for w in self._watched.values())

    def __len__(self) -> int:
        return len(self._watched)

    def set_instrument(self, instrument: Instrument) -> None:
        """Rules for books opened from now on (existing books keep theirs)."""
        self._instruments[instrument.symbol] = instrument

    def open(self, symbol: str, depth: int) -> OrderBook:
        """The book for (symbol, depth), created empty and RESYNCING if it does not exist yet."""
        watched = self._watched.get((symbol, depth)) or self._open(symbol, depth)
        return watched.book

    def _open(self, symbol: str, depth: int) -> _Watched:
        book = OrderBook(symbol, depth, self._instruments.get(symbol), on_transition=self._on_transition)
        watched = self._watched[(symbol, depth)] = _Watched(book)
        self._primary.setdefault(symbol, book)
        return watched

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

    def _arm(self, watched: _Watched) -> None:
        due = watched.book.last_update_ns + self.stale_after_ns
        watched.timer = self._clock.call_at(due, lambda now: self._check(watched, now))

    def _check(self, watched: _Watched, now_ns: int) -> None:
        watched.timer = None
        book = watched.book
        if book.check_silence(now_ns, self.stale_after_ns) or book.state is BookState.RESYNCING:
            return  # re-armed by the next applied message
        self._arm(watched)
