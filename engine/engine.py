"""The engine: the one code path that live trading and replay both drive.

A driver hands it events (``handle``) and collects what it wants done (``commands_to_send``),
the way a sans-I/O protocol hands back bytes to send. ``handle`` runs each event to completion
on the caller's thread: apply it to local state (books now; orders and strategies later), then
publish it on the bus. Nothing here awaits, sleeps or reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.bus import EventBus
from engine.clock import Clock
from engine.commands import Command
from engine.events import BookDelta, Event
from engine.instrument import Instrument
from engine.market import DEFAULT_STALE_AFTER_NS, Books

__all__ = ["Engine"]


class Engine:
    """Synchronous, single-threaded, run-to-completion."""

    def __init__(
        self,
        clock: Clock,
        *,
        bus: EventBus | None = None,
        instruments: Mapping[str, Instrument] | None = None,
        stale_after_ns: int = DEFAULT_STALE_AFTER_NS,
    ) -> None:
        self.clock = clock
        self.bus = bus if bus is not None else EventBus()
        self.outbox: list[Command] = []
        """Commands not yet taken by the driver. Check it for truth; drain it with commands_to_send()."""
        self.books = Books(
            clock,
            emit=self.bus.publish,
            command=self.outbox.append,
            instruments=instruments,
            stale_after_ns=stale_after_ns,
        )
        self._book_index = self.books.index

    def handle(self, event: Event) -> None:
        """Apply ``event`` to local state, then publish it (unless the book dropped it).

        A book message that was stale, duplicated, or arrived while its book was resyncing is
        not published: subscribers only ever see book messages that the book accepted. Any
        state change it caused (``BookStateChanged``) is published before it.
        """
        if type(event) is BookDelta:
            book = self._book_index.get((event.symbol, event.depth)) or self.books.open(
                event.symbol, event.depth
            )
            if not book.apply(event):
                return
        self.bus.publish(event)

    def commands_to_send(self) -> list[Command]:
        """Take every pending command, oldest first."""
        commands = self.outbox[:]
        self.outbox.clear()
        return commands
