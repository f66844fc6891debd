"""EventBus delivery rules and the EventStream asyncio bridge."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

import pytest
from structlog.testing import capture_logs

from engine.bus import EventBus, EventStream, StreamOverflow
from engine.enums import Side
from engine.events import CoinBalance, Event, PongReceived, TradePrinted

Log = list[tuple[str, Event]]


def trade(symbol: str = "BTCUSDT", n: int = 1) -> TradePrinted:
    return TradePrinted(
        ts_event_ns=n,
        ts_recv_ns=n,
        symbol=symbol,
        trade_id=f"t{n}",
        price=Decimal("100.5"),
        qty=Decimal("0.1"),
        taker_side=Side.BUY,
    )


def pong(n: int = 1) -> PongReceived:
    return PongReceived(ts_event_ns=n, ts_recv_ns=n, req_id=f"p{n}")


def recorder(log: Log, name: str) -> Callable[[Event], None]:
    def handler(event: Event) -> None:
        log.append((name, event))

    return handler


# -- delivery --------------------------------------------------------------------------------------


def test_delivery_follows_subscription_order_across_exact_and_base_types() -> None:
    """Every matching subscriber gets the event, in the order they subscribed, whatever the type."""
    bus = EventBus()
    log: Log = []
    bus.subscribe(Event, recorder(log, "all-1"))
    bus.subscribe(TradePrinted, recorder(log, "trades"))
    bus.subscribe(Event, recorder(log, "all-2"))
    bus.subscribe(PongReceived, recorder(log, "pongs"))

    t, p = trade(), pong()
    bus.publish(t)
    bus.publish(p)

    assert log == [("all-1", t), ("trades", t), ("all-2", t), ("all-1", p), ("all-2", p), ("pongs", p)]
    assert bus.published == 2


def test_subscription_added_later_joins_the_next_publish() -> None:
    """Subscribing after a publish (when the route is cached) still takes effect at once."""
    bus = EventBus()
    log: Log = []
    bus.subscribe(TradePrinted, recorder(log, "a"))
    first = trade(n=1)
    bus.publish(first)
    bus.subscribe(Event, recorder(log, "b"))
    second = trade(n=2)
    bus.publish(second)
    assert log == [("a", first), ("a", second), ("b", second)]


def test_symbol_filters() -> None:
    """A symbol filter passes only events of that symbol; events without a symbol never match it."""
    bus = EventBus()
    log: Log = []
    bus.subscribe(TradePrinted, recorder(log, "btc"), symbol="BTCUSDT")
    bus.subscribe(TradePrinted, recorder(log, "any"))
    bus.subscribe(Event, recorder(log, "eth-all"), symbol="ETHUSDT")

    btc, eth, sol, p = trade("BTCUSDT"), trade("ETHUSDT"), trade("SOLUSDT"), pong()
    for event in (btc, eth, sol, p):
        bus.publish(event)

    assert log == [("btc", btc), ("any", btc), ("any", eth), ("eth-all", eth), ("any", sol)]


def test_event_published_from_a_handler_waits_for_the_current_delivery() -> None:
    """Nested publishes queue FIFO: every subscriber sees every event in one global order."""
    bus = EventBus()
    log: Log = []
    second, third = pong(2), pong(3)

    def first_handler(event: Event) -> None:
        log.append(("first", event))
        if event.ts_event_ns == 1:
            bus.publish(second)
            assert log == [("first", event)]  # not delivered yet: the current one comes first

    def second_handler(event: Event) -> None:
        log.append(("second", event))
        if event.ts_event_ns == 1:
            bus.publish(third)

    bus.subscribe(PongReceived, first_handler)
    bus.subscribe(PongReceived, second_handler)
    first = pong(1)
    bus.publish(first)

    assert log == [
        ("first", first),
        ("second", first),
        ("first", second),
        ("second", second),
        ("first", third),
        ("second", third),
    ]
    assert bus.published == 3


def test_raising_subscriber_is_logged_counted_and_others_still_served() -> None:
    """One broken subscriber is logged and counted; the ones before and after it still get the event."""
    bus = EventBus()
    log: Log = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    bus.subscribe(TradePrinted, recorder(log, "before"))
    bus.subscribe(TradePrinted, broken)
    bus.subscribe(TradePrinted, recorder(log, "after"))

    event = trade()
    with capture_logs() as logs:
        bus.publish(event)

    assert log == [("before", event), ("after", event)]
    assert bus.handler_errors == 1
    assert len(logs) == 1
    entry = logs[0]
    assert entry["event"] == "subscriber failed"
    assert entry["log_level"] == "error"
    assert entry["exc_info"] is True
    assert "broken" in entry["handler"]
    assert "TradePrinted" in entry.values()  # the failed event's type is named, under whichever key

    again = trade(n=2)
    with capture_logs():
        bus.publish(again)  # the bus keeps working
    assert log[2:] == [("before", again), ("after", again)]
    assert bus.handler_errors == 2


def test_unsubscribe_stops_delivery_and_is_idempotent() -> None:
    """An unsubscribed handler gets nothing more; unsubscribing twice is harmless."""
    bus = EventBus()
    log: Log = []
    sub = bus.subscribe(TradePrinted, recorder(log, "a"))
    bus.subscribe(TradePrinted, recorder(log, "b"))
    first = trade(n=1)
    bus.publish(first)

    bus.unsubscribe(sub)
    bus.unsubscribe(sub)
    assert sub.active is False
    second = trade(n=2)
    bus.publish(second)

    assert log == [("a", first), ("b", first), ("b", second)]


def test_unsubscribe_during_delivery() -> None:
    """Unsubscribing inside a handler stops every later event, queued ones included.

    The event being delivered was routed when its delivery began, so a subscriber further down
    the list still receives that one event.
    """
    bus = EventBus()
    log: Log = []
    later = pong(2)
    subs: dict[str, Any] = {}

    def first_handler(event: Event) -> None:
        log.append(("first", event))
        if event.ts_event_ns == 1:
            bus.unsubscribe(subs["first"])  # itself
            bus.unsubscribe(subs["third"])  # someone further down
            bus.publish(later)

    subs["first"] = bus.subscribe(PongReceived, first_handler)
    subs["second"] = bus.subscribe(PongReceived, recorder(log, "second"))
    subs["third"] = bus.subscribe(PongReceived, recorder(log, "third"))

    first = pong(1)
    bus.publish(first)
    last = pong(3)
    bus.publish(last)

    assert log == [
        ("first", first),
        ("second", first),
        ("third", first),
        ("second", later),
        ("second", last),
    ]


@pytest.mark.parametrize("not_an_event", [int, CoinBalance, "TradePrinted", trade()])
def test_subscribing_to_a_non_event_type_raises(not_an_event: object) -> None:
    """Only Event subclasses can be subscribed to (a msgspec Struct that is not an Event is refused)."""
    bus = EventBus()
    with pytest.raises(TypeError):
        bus.subscribe(cast(Any, not_an_event), lambda event: None)


# -- EventStream -----------------------------------------------------------------------------------


async def _collect(stream: EventStream) -> list[Event]:
    return [event async for event in stream]


@pytest.mark.asyncio
async def test_stream_yields_events_published_after_creation_in_order() -> None:
    """A consumer waiting on the stream is woken for each event; close() ends it after draining."""
    bus = EventBus()
    bus.publish(trade(n=0))  # before the stream exists: not seen
    stream = bus.stream()
    consumer = asyncio.create_task(_collect(stream))
    await asyncio.sleep(0)  # let the consumer start waiting

    events = [trade(n=1), pong(2), trade("ETHUSDT", n=3)]
    for event in events:
        bus.publish(event)
    await asyncio.sleep(0)
    stream.close()
    bus.publish(trade(n=4))  # after close: not seen

    assert await asyncio.wait_for(consumer, timeout=1) == events
    assert stream.dropped == 0


@pytest.mark.asyncio
async def test_stream_drains_its_buffer_after_close() -> None:
    """Events buffered before close() are still handed out, then iteration stops."""
    bus = EventBus()
    stream = bus.stream(TradePrinted, symbol="BTCUSDT")
    wanted = [trade(n=1), trade(n=2)]
    bus.publish(wanted[0])
    bus.publish(pong(5))  # other type
    bus.publish(trade("ETHUSDT", n=6))  # other symbol
    bus.publish(wanted[1])
    stream.close()
    stream.close()  # idempotent
    assert await _collect(stream) == wanted
    assert await _collect(stream) == []


@pytest.mark.asyncio
async def test_stream_overflow_raise() -> None:
    """With overflow="raise", the consumer gets the buffered events, then StreamOverflow."""
    bus = EventBus()
    stream = bus.stream(maxsize=2, overflow="raise")
    first, second = trade(n=1), trade(n=2)
    for event in (first, second, trade(n=3), trade(n=4)):
        bus.publish(event)

    assert await stream.__anext__() is first
    assert await stream.__anext__() is second
    with pytest.raises(StreamOverflow):
        await stream.__anext__()
    with pytest.raises(StreamOverflow):  # and stays overflowed
        await stream.__anext__()
    assert stream.dropped == 0


@pytest.mark.asyncio
async def test_stream_overflow_drop_oldest() -> None:
    """With overflow="drop_oldest", the newest maxsize events are kept and the rest counted."""
    bus = EventBus()
    stream = bus.stream(maxsize=2, overflow="drop_oldest")
    events = [trade(n=i) for i in range(5)]
    for event in events:
        bus.publish(event)
    stream.close()

    assert await _collect(stream) == events[3:]
    assert stream.dropped == 3


@pytest.mark.asyncio
async def test_stream_as_context_manager_closes_on_exit() -> None:
    """Leaving ``async with`` unsubscribes the stream from the bus."""
    bus = EventBus()
    log: Log = []
    bus.subscribe(Event, recorder(log, "other"))
    async with bus.stream() as stream:
        bus.publish(trade(n=1))
    bus.publish(trade(n=2))
    assert [event.ts_event_ns for event in await _collect(stream)] == [1]
    assert len(log) == 2


@pytest.mark.parametrize("maxsize", [0, -1])
def test_stream_maxsize_must_be_positive(maxsize: int) -> None:
    """A stream without room for one event is refused."""
    with pytest.raises(ValueError, match="maxsize"):
        EventBus().stream(maxsize=maxsize)
