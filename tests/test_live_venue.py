"""LiveVenue and RestClient against FakeBybit on 127.0.0.1: the engine's orders over the trade socket or REST.

Each test waits for a condition on the engine's bus (``Pulse``), never for a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

import pytest

from engine.clock import LiveClock
from engine.commands import CancelOrder, SubmitOrder
from engine.engine import Engine
from engine.enums import OrderStatus, OrderType, Side
from engine.events import Event, OrderFilled
from engine.instrument import Instrument
from engine.orders import DEFAULT_ACK_TIMEOUT_NS, ChildOrder
from feeds.bybit import outgoing
from feeds.bybit.fake_exchange import DEFAULT_CREDENTIALS, FakeBybit
from feeds.bybit.live import BybitStream, LiveVenue, RestClient, StreamSpec, StreamTiming
from feeds.bybit.rest import get_open_orders

SYM = "BTCUSDT"
INST = Instrument(
    symbol=SYM,
    category="linear",
    price_scale=2,
    qty_scale=3,
    price_step_ticks=10,
    qty_step_lots=1,
    min_qty_lots=1,
    max_qty_lots=100_000,
    max_market_qty_lots=50_000,
    min_notional=Decimal("5"),
)
INSTRUMENTS = {SYM: INST}
BIDS = [("95000.00", "1.000"), ("94999.90", "2.000"), ("94999.80", "3.000")]
ASKS = [("95000.10", "0.100"), ("95000.20", "0.200"), ("95000.30", "0.300")]
CREDS = DEFAULT_CREDENTIALS
TIMEOUT = 5.0
TIMING = StreamTiming(backoff_base_s=0.05, backoff_cap_s=0.2)


class Pulse:
    """Set on every event the engine publishes, and by the test's own pokes: await a condition, not a time."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.events: list[Event] = []

    def poke(self, event: Event) -> None:
        self.events.append(event)
        self._event.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not condition():
                self._event.clear()
                await self._event.wait()


@dataclass
class Live:
    fake: FakeBybit
    engine: Engine
    venue: LiveVenue
    pulse: Pulse

    def submit(self, link_id: str, qty_lots: int, price_ticks: int | None = None, side: Side = Side.BUY) -> ChildOrder:
        """What the desk does: register the child with the tracker, then hand it to the venue."""
        command = SubmitOrder(
            client_order_id=link_id,
            parent_id=link_id.split("-", maxsplit=1)[0],
            symbol=SYM,
            side=side,
            order_type=OrderType.MARKET if price_ticks is None else OrderType.LIMIT,
            qty_lots=qty_lots,
            price_ticks=price_ticks,
        )
        child = self.engine.orders.register(command, self.engine.clock.now_ns())
        self.venue.send(command)
        return child

    def creates(self, link_id: str) -> list[str]:
        """How each order.create for ``link_id`` reached the fake (``ws``/``rest``)."""
        return [r.via for r in self.fake.requests if r.op == "order.create" and r.params["orderLinkId"] == link_id]


@asynccontextmanager
async def live(
    fake: FakeBybit, *, trade: bool = True, private: bool = True, ack_timeout_ns: int | None = None
) -> AsyncIterator[Live]:
    pulse = Pulse()
    engine = Engine(LiveClock(), instruments=INSTRUMENTS, ack_timeout_ns=ack_timeout_ns or DEFAULT_ACK_TIMEOUT_NS)
    engine.bus.subscribe(Event, pulse.poke)
    engine.books.open(SYM, 50)  # a live session's public feed opens it; the tracker and the venue read its rules
    async with RestClient(fake.endpoints.rest) as rest:
        await rest.sync_clock()
        trade_spec = (
            StreamSpec(name="trade", url=fake.endpoints.trade, scope=outgoing.PRIVATE, credentials=CREDS)
            if trade
            else None
        )
        venue = LiveVenue(engine, CREDS, rest, category="linear", trade=trade_spec, timing=TIMING)

        def send_commands() -> None:
            for command in engine.commands_to_send():
                venue.send(command)

        def drain() -> None:  # the engine's on_command: send from the loop, never from inside the engine
            asyncio.get_running_loop().call_soon(send_commands)

        def handle(_raw: bytes, _ts: int, events: list[Event]) -> None:
            for event in events:
                engine.handle(event)

        engine.on_command = drain
        stream = None
        if private:
            spec = StreamSpec(
                name="private",
                url=fake.endpoints.private,
                scope=outgoing.PRIVATE,
                topics=("order", "execution"),
                credentials=CREDS,
            )
            stream = BybitStream(spec, on_frame=handle, timing=TIMING)
            stream.start()
        async with venue:
            async with asyncio.timeout(TIMEOUT):
                if venue.trade_stream is not None:
                    await venue.trade_stream.wait_live()
                if stream is not None:
                    await stream.wait_live()
            fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True)
            try:
                yield Live(fake, engine, venue, pulse)
            finally:
                if stream is not None:
                    await stream.close()


def fills_of(fake: FakeBybit, link_id: str) -> list[tuple[str, int, int]]:
    """(execId, price ticks, lots) of the fake's executions of one order."""
    return [
        (e["execId"], INST.ticks(e["execPrice"]), INST.lots(e["execQty"]))
        for e in fake.executions
        if e["orderLinkId"] == link_id
    ]


def booked(child: ChildOrder) -> list[tuple[str, int, int]]:
    return [(f.exec_id, f.price_ticks, f.qty_lots) for f in child.fills]


@pytest.mark.asyncio
async def test_an_order_over_the_trade_socket_fills_with_the_fakes_executions() -> None:
    async with FakeBybit(INSTRUMENTS) as fake, live(fake) as run:
        child = run.submit("P1-1", 150)
        await run.pulse.until(lambda: child.status is OrderStatus.FILLED)
        assert run.creates("P1-1") == ["ws"]
        assert booked(child) == fills_of(fake, "P1-1") and len(booked(child)) == 2
        assert child.filled_lots == 150
        assert run.venue.counters.sent_ws == 1 and run.venue.counters.sent_rest == 0
        assert run.venue.counters.recovered_fills == 0


@pytest.mark.asyncio
async def test_a_lost_ack_is_resolved_over_rest_and_the_order_is_never_sent_twice() -> None:
    async with FakeBybit(INSTRUMENTS) as fake, live(fake, private=False, ack_timeout_ns=50 * 1_000_000) as run:
        fake.lose_next_ack()
        child = run.submit("P2-1", 150)
        await run.pulse.until(lambda: child.status is OrderStatus.FILLED)
        assert run.engine.orders.queries == 1 and run.venue.counters.queries == 1
        assert run.creates("P2-1") == ["ws"]  # asked about, never re-sent
        assert booked(child) == fills_of(fake, "P2-1") and len(booked(child)) == 2
        assert run.venue.counters.recovered_fills == 2
        assert [f.recovered for f in run.pulse.events if isinstance(f, OrderFilled)] == [True, True]
        assert child.venue_order_id == fake.order("P2-1")["orderId"]  # type: ignore[index]


@pytest.mark.asyncio
async def test_without_a_trade_socket_orders_and_cancels_go_over_rest() -> None:
    async with FakeBybit(INSTRUMENTS) as fake, live(fake, trade=False) as run:
        taker = run.submit("P3-1", 150)
        resting = run.submit("P3-2", 10, price_ticks=INST.ticks("94000.00"))
        await run.pulse.until(lambda: taker.status is OrderStatus.FILLED and resting.status is OrderStatus.NEW)
        assert run.creates("P3-1") == ["rest"] and run.creates("P3-2") == ["rest"]
        assert booked(taker) == fills_of(fake, "P3-1")
        assert resting.venue_order_id == fake.order("P3-2")["orderId"]  # type: ignore[index]
        run.venue.send(CancelOrder(client_order_id="P3-2", symbol=SYM))
        await run.pulse.until(lambda: resting.status is OrderStatus.CANCELLED)
        assert run.venue.counters.sent_rest == 3 and run.venue.counters.sent_ws == 0


@pytest.mark.asyncio
async def test_a_refused_rest_create_rejects_the_child_like_a_refused_socket_reply() -> None:
    async with FakeBybit(INSTRUMENTS) as fake, live(fake, trade=False) as run:
        fake.reject_next_order(110007)
        child = run.submit("P4-1", 150)
        await run.pulse.until(lambda: child.status is OrderStatus.REJECTED)
        assert "110007" in child.reason
        assert run.creates("P4-1") == ["rest"] and fake.order("P4-1") is None


@pytest.mark.asyncio
async def test_a_duplicated_execution_push_is_booked_once() -> None:
    async with FakeBybit(INSTRUMENTS) as fake, live(fake) as run:
        fake.duplicate_next_execution()
        child = run.submit("P5-1", 150)
        await run.pulse.until(lambda: child.status is OrderStatus.FILLED and run.engine.orders.duplicate_fills > 0)
        assert booked(child) == fills_of(fake, "P5-1")
        assert child.filled_lots == 150
        assert run.engine.orders.duplicate_fills == 2  # both executions of the push came twice


@pytest.mark.asyncio
async def test_a_10006_refusal_backs_off_and_the_order_is_sent_again_not_dropped() -> None:
    async with FakeBybit(INSTRUMENTS) as fake, live(fake, trade=False) as run:
        fake.reject_next_order(10006)
        child = run.submit("P6-1", 150)
        await run.pulse.until(lambda: child.status is OrderStatus.FILLED)
        assert run.creates("P6-1") == ["rest", "rest"]
        assert run.venue.counters.retried == 1 and run.venue.limiter.rate_limited == 1
        assert booked(child) == fills_of(fake, "P6-1")


@pytest.mark.asyncio
async def test_a_10006_on_the_trade_socket_is_retried_with_a_fresh_req_id() -> None:
    async with FakeBybit(INSTRUMENTS) as fake, live(fake) as run:
        fake.reject_next_order(10006)
        child = run.submit("P7-1", 150)
        await run.pulse.until(lambda: child.status is OrderStatus.FILLED)
        assert run.creates("P7-1") == ["ws", "ws"]
        assert [r.req_id for r in fake.requests if r.op == "order.create"] == ["P7-1", "r1:P7-1"]
        assert run.venue.counters.retried == 1


@pytest.mark.asyncio
async def test_rest_client_instruments_clock_and_errors_without_secrets() -> None:
    async with FakeBybit(INSTRUMENTS) as fake, RestClient(fake.endpoints.rest) as rest:
        assert await rest.instruments("linear") == {SYM: INST}
        skew = await rest.sync_clock()
        assert abs(skew.offset_ms) <= skew.uncertainty_ms + 5  # same machine, same clock
        fake.forbid_next_rest()
        request = get_open_orders(CREDS, rest.signing_timestamp_ms(), category="linear", symbol=SYM)
        response = await rest.call(request)
        assert response.http_status == 403 and rest.limiter.ip_bans == 1
        assert rest.limiter.headroom("/v5/order/create", rest.now_ms()) == 0  # everything paused
        assert CREDS.api_secret not in repr(response)
        assert request.headers["X-BAPI-SIGN"] not in repr(response)
    closed = RestClient("http://127.0.0.1:9")  # nothing listens on port 9
    with pytest.raises(Exception) as caught:
        await closed.call(get_open_orders(CREDS, 1_700_000_000_000, category="linear", symbol=SYM))
    await closed.close()
    assert CREDS.api_secret not in str(caught.value) and CREDS.api_key not in str(caught.value)
    assert str(caught.value).startswith("GET /v5/order/realtime: no answer")


@pytest.mark.asyncio
async def test_a_create_refused_as_a_duplicate_is_queried_not_rejected() -> None:
    async with FakeBybit(INSTRUMENTS) as fake, live(fake, trade=False) as run:
        fake.reject_next_order(110072, "OrderLinkedID is duplicate")
        child = run.submit("P8-1", 150)
        async with asyncio.timeout(TIMEOUT):
            await run.venue.wait_idle()
        assert run.venue.counters.queries == 1
        assert child.status is OrderStatus.SENT  # the fake holds no such order: still unknown, never rejected
        assert run.creates("P8-1") == ["rest"]


@pytest.mark.asyncio
async def test_cancels_leave_before_new_orders_queued_with_them() -> None:
    async with FakeBybit(INSTRUMENTS) as fake, live(fake) as run:
        resting = run.submit("P9-1", 10, price_ticks=INST.ticks("94000.00"))
        await run.pulse.until(lambda: resting.status is OrderStatus.NEW)
        run.submit("P9-2", 10, price_ticks=INST.ticks("94000.00"))
        run.venue.send(CancelOrder(client_order_id="P9-1", symbol=SYM))
        await run.pulse.until(lambda: resting.status is OrderStatus.CANCELLED)
        assert [(r.op, r.params["orderLinkId"]) for r in fake.requests] == [
            ("order.create", "P9-1"),
            ("order.cancel", "P9-1"),
            ("order.create", "P9-2"),
        ]
