"""The in-process event bus: synchronous, in order, one thread, run to completion.

``publish`` delivers an event to every matching subscriber, in the order they subscribed,
before it returns. An event published *while* another is being delivered waits in a FIFO until
that delivery is complete, so every subscriber sees every event in the same global order.

A subscriber that raises is logged and counted; the others still get the event, and the engine
keeps running. Dispatch tables are built lazily per concrete event type, so a publish costs a
dict lookup plus the calls.

``EventStream`` bridges the bus to asyncio for embedding applications: ``async for`` over the
events of chosen types, with a bounded buffer and an explicit overflow policy.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast

import structlog

from engine.events import Event

__all__ = ["EventBus", "Subscription", "EventStream", "StreamOverflow", "Handler"]

E = TypeVar("E", bound=Event)
Handler = Callable[[Any], None]

log = structlog.get_logger("engine.bus")


class Subscription:
    __slots__ = ("active", "event_type", "handler", "order", "symbol")

    def __init__(self, event_type: type[Event], handler: Handler, symbol: str | None, order: int) -> None:
        self.event_type = event_type
        self.handler = handler
        self.symbol = symbol
        self.order = order
        self.active = True

    def __repr__(self) -> str:
        where = f" symbol={self.symbol}" if self.symbol else ""
        return f"<Subscription {self.event_type.__name__}{where} -> {_name_of(self.handler)}>"


class _Route:
    """Who gets one concrete event type: everyone, or per symbol when any filter exists."""

    __slots__ = ("by_symbol", "unfiltered")

    def __init__(self, unfiltered: tuple[Handler, ...], by_symbol: dict[str, tuple[Handler, ...]] | None):
        self.unfiltered = unfiltered
        self.by_symbol = by_symbol


class EventBus:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._routes: dict[type[Event], _Route] = {}
        self._order = itertools.count()
        self._pending: deque[Event] = deque()
        self._delivering = False
        self.published = 0
        self.handler_errors = 0

    # -- subscribing --------------------------------------------------------------------
    def subscribe(
        self, event_type: type[E], handler: Callable[[E], None], *, symbol: str | None = None
    ) -> Subscription:
        """Call ``handler`` for every event of ``event_type`` (or a subclass; ``Event`` = all).

        With ``symbol``, only events whose ``symbol`` equals it.
        """
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"subscribe() needs an Event type, got {event_type!r}")
        sub = Subscription(event_type, handler, symbol, next(self._order))
        self._subscriptions.append(sub)
        self._routes.clear()
        return sub

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription.active:
            subscription.active = False
            self._subscriptions.remove(subscription)
            self._routes.clear()

    def _route_for(self, event_type: type[Event]) -> _Route:
        matching = [s for s in self._subscriptions if issubclass(event_type, s.event_type)]
        matching.sort(key=lambda s: s.order)
        unfiltered = tuple(s.handler for s in matching if s.symbol is None)
        symbols = {s.symbol for s in matching if s.symbol is not None}
        by_symbol = None
        if symbols:
            by_symbol = {
                sym: tuple(s.handler for s in matching if s.symbol is None or s.symbol == sym) for sym in symbols
            }
        route = self._routes[event_type] = _Route(unfiltered, by_symbol)
        return route

    # -- publishing ---------------------------------------------------------------------
    def publish(self, event: Event) -> None:
        """Deliver ``event`` now, or right after the delivery in progress if called from one."""
        if self._delivering:
            self._pending.append(event)
            return
        self._delivering = True
        routes, pending = self._routes, self._pending
        try:
            while True:
                self.published += 1
                route = routes.get(type(event)) or self._route_for(type(event))
                handlers = route.unfiltered
                if route.by_symbol is not None:
                    handlers = route.by_symbol.get(getattr(event, "symbol", None) or "", handlers)
                for handler in handlers:
                    try:
                        handler(event)
                    except Exception:  # one broken subscriber must not starve the others
                        self.handler_errors += 1
                        log.exception("subscriber failed", handler=_name_of(handler), event_type=type(event).__name__)
                if not pending:
                    return
                event = pending.popleft()
        finally:
            self._delivering = False

    # -- asyncio bridge -----------------------------------------------------------------
    def stream(
        self,
        *event_types: type[Event],
        symbol: str | None = None,
        maxsize: int = 10_000,
        overflow: Literal["raise", "drop_oldest"] = "raise",
    ) -> EventStream:
        """An async iterator over future events of ``event_types`` (default: all events)."""
        return EventStream(self, event_types or (Event,), symbol=symbol, maxsize=maxsize, overflow=overflow)


class StreamOverflow(RuntimeError):
    """The consumer of an ``EventStream`` fell more than ``maxsize`` events behind."""


class EventStream:
    """Buffers bus events for an asyncio consumer (``async for event in stream``).

    Must be consumed on the thread that publishes. With ``overflow="raise"`` a consumer that
    falls ``maxsize`` events behind gets ``StreamOverflow`` instead of silently missing events;
    with ``"drop_oldest"`` it keeps the newest ``maxsize`` and counts the rest in ``dropped``.
    """

    def __init__(
        self,
        bus: EventBus,
        event_types: tuple[type[Event], ...],
        *,
        symbol: str | None,
        maxsize: int,
        overflow: Literal["raise", "drop_oldest"],
    ) -> None:
        if maxsize <= 0:
            raise ValueError("maxsize must be positive")
        self._bus = bus
        self._buffer: deque[Event] = deque()
        self._maxsize = maxsize
        self._overflow = overflow
        self._wakeup: asyncio.Event | None = None
        self._closed = False
        self._overflowed = False
        self.dropped = 0
        self._subscriptions = [bus.subscribe(t, self._push, symbol=symbol) for t in event_types]

    def _push(self, event: Event) -> None:
        if self._closed:
            return
        if len(self._buffer) >= self._maxsize:
            if self._overflow == "raise":
                self._overflowed = True
                self.close()
                return
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append(event)
        if self._wakeup is not None:
            self._wakeup.set()

    def close(self) -> None:
        """Stop receiving; the consumer drains what is buffered, then iteration ends."""
        if not self._closed:
            self._closed = True
            for sub in self._subscriptions:
                self._bus.unsubscribe(sub)
            if self._wakeup is not None:
                self._wakeup.set()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._buffer:
                return self._buffer.popleft()
            if self._overflowed:
                raise StreamOverflow(f"consumer fell more than {self._maxsize} events behind")
            if self._closed:
                raise StopAsyncIteration
            if self._wakeup is None:
                self._wakeup = asyncio.Event()
            self._wakeup.clear()
            await self._wakeup.wait()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


def _name_of(handler: Callable[..., Any]) -> str:
    return cast(str, getattr(handler, "__qualname__", None) or repr(handler))
