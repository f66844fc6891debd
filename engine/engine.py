"""The engine: the one code path that live trading and replay both drive.

A driver hands it events (``handle``) and collects what it wants done (``commands_to_send``),
the way a sans-I/O protocol hands back bytes to send. ``handle`` runs each event to completion
on the caller's thread: apply it to local state (books, the trade tape, our orders), then
publish it on the bus, where strategies (through the desk) and any other subscriber react.
Nothing here awaits, sleeps or reads the wall clock.

Commands also appear outside ``handle``: timers fire from the clock (a strategy's wake-up, a
parent's deadline, a child's ack deadline, the book silence sweep) and may queue commands then.
A driver learns of every queued command through ``on_command``, called right after the command
joins the outbox, and must then drain ``commands_to_send()``: nothing is ever left unsent
because no event happened to follow the timer. (``clock.next_deadline_ns()`` on a ``SimClock``
says when the next timer is due.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from engine.bus import EventBus
from engine.clock import Clock
from engine.commands import Command
from engine.desk import Desk, StrategyFactory
from engine.events import BookDelta, Event, OrderFilled, OrderUpdated, TradeApiReplied, TradePrinted
from engine.instrument import Instrument
from engine.market import DEFAULT_STALE_AFTER_NS, Books
from engine.orders import DEFAULT_ACK_TIMEOUT_NS, OrderTracker
from engine.parent import ParentOrder, ParentPlan
from engine.tape import TradeTape

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
        ack_timeout_ns: int = DEFAULT_ACK_TIMEOUT_NS,
        on_command: Callable[[], None] | None = None,
    ) -> None:
        self.clock = clock
        self.bus = bus if bus is not None else EventBus()
        self.outbox: list[Command] = []
        """Commands not yet taken by the driver. Check it for truth; drain it with commands_to_send()."""
        self.on_command = on_command
        """Called after each command joins the outbox (from ``handle`` or from a timer): the driver's wake-up."""
        self.books = Books(
            clock,
            emit=self.bus.publish,
            command=self._queue,
            instruments=instruments,
            stale_after_ns=stale_after_ns,
        )
        self._book_index = self.books.index
        self.tapes: dict[str, TradeTape] = {}
        self.orders = OrderTracker(
            self._instrument_of, self.bus.publish, clock=clock, command=self._queue, ack_timeout_ns=ack_timeout_ns
        )
        self.desk = Desk(clock, self.bus, self.books, self.orders, self._queue, self.tapes)

    def handle(self, event: Event) -> None:
        """Apply ``event`` to local state, then publish it (unless the book dropped it).

        A book message that was stale, duplicated, or arrived while its book was resyncing is
        not published: subscribers only ever see book messages that the book accepted. What an
        event causes (a book state change, a child's fill or status) is published before it.
        """
        if isinstance(event, BookDelta):
            book = self._book_index.get((event.symbol, event.depth)) or self.books.open(event.symbol, event.depth)
            if not book.apply(event):
                return
        elif isinstance(event, TradePrinted):
            tape = self.tapes.get(event.symbol)
            if tape is not None:
                tape.add(event)
        elif isinstance(event, OrderFilled):
            self.orders.on_fill(event)
        elif isinstance(event, OrderUpdated):
            self.orders.on_order_update(event)
        elif isinstance(event, TradeApiReplied):
            self.orders.on_trade_reply(event)
        self.bus.publish(event)

    def commands_to_send(self) -> list[Command]:
        """Take every pending command, oldest first."""
        commands = self.outbox[:]
        self.outbox.clear()
        return commands

    def _queue(self, command: Command) -> None:
        self.outbox.append(command)
        if self.on_command is not None:
            self.on_command()

    def watch_trades(self, symbol: str) -> TradeTape:
        """Keep a trade tape for ``symbol`` from now on (volume, VWAP, volatility).

        Strategies read it when a parent starts (SMART's volatility), so a driver that will work
        a symbol watches it from the start of the data rather than from the parent's start.
        """
        return self.tapes.setdefault(symbol, TradeTape(symbol))

    def start_parent(self, parent: ParentOrder, make_strategy: StrategyFactory) -> ParentPlan:
        """Start working ``parent`` now with the strategy ``make_strategy`` builds from its plan."""
        return self.desk.start(parent, make_strategy)

    def _instrument_of(self, symbol: str) -> Instrument | None:
        book = self.books.book(symbol)
        return None if book is None else book.instrument
