"""FakeBybit: a local Bybit v5 exchange, driven by plain ``websockets`` and ``aiohttp`` clients.

Every frame a client would act on is also read with ``feeds.bybit.codec.BybitCodec``, the live
parser, so the fake is checked against the protocol the engine speaks, not against itself.
Requests are written with the client-side builders (``feeds.bybit.outgoing``, ``feeds.bybit.auth``).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sortedcontainers import SortedDict
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from engine.book import OrderBook
from engine.enums import BookState, OrderStatus, Side
from engine.events import (
    AuthReplied,
    BookDelta,
    Event,
    OrderFilled,
    OrderUpdated,
    PongReceived,
    SubscriptionReplied,
    TradeApiReplied,
    TradePrinted,
)
from engine.instrument import Instrument
from feeds.bybit import outgoing
from feeds.bybit.auth import Credentials, rest_signature
from feeds.bybit.codec import BybitCodec
from feeds.bybit.credentials import load_credentials
from feeds.bybit.endpoints import load_endpoints
from feeds.bybit.fake_exchange import DEFAULT_CREDENTIALS, FakeBybit, _apply_levels, _Window
from feeds.bybit.instruments import parse_instruments_info
from feeds.bybit.topics import Category
from feeds.replay import open_records
from tests.conftest import REPLAY_DATA

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
SILENCE = 0.2
"""How long a test waits to conclude that nothing comes (a stalled socket, a lost ack)."""

_req_ids = itertools.count(1)


# -- helpers --------------------------------------------------------------------------------------------


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def recv(ws: ClientConnection) -> dict[str, Any]:
    msg = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert isinstance(msg, dict)
    return msg


def events_of(msg: dict[str, Any]) -> list[Event]:
    """What the engine's codec makes of a frame; a frame it drops fails the test."""
    codec = BybitCodec()
    events = codec.parse(orjson.dumps(msg), time.time_ns())
    assert events, (msg, codec.stats.ignored, codec.stats.malformed)
    return events


def the_event(msg: dict[str, Any]) -> Event:
    events = events_of(msg)
    assert len(events) == 1
    return events[0]


async def send(ws: ClientConnection, frame: bytes) -> None:
    await ws.send(frame.decode())


@asynccontextmanager
async def running(**kwargs: Any) -> AsyncIterator[FakeBybit]:
    async with FakeBybit(INSTRUMENTS, **kwargs) as fake:
        yield fake


@asynccontextmanager
async def session(url: str) -> AsyncIterator[ClientConnection]:
    async with connect(url, ping_interval=None, open_timeout=TIMEOUT, close_timeout=1) as ws:
        yield ws


async def authed(ws: ClientConnection, creds: Credentials = CREDS) -> dict[str, Any]:
    await send(ws, outgoing.auth(creds, now_ms() + 10_000, req_id="auth-1"))
    return await recv(ws)


async def subscribed(ws: ClientConnection, *topics: str) -> dict[str, Any]:
    await send(ws, orjson.dumps({"req_id": f"sub-{next(_req_ids)}", "op": "subscribe", "args": list(topics)}))
    return await recv(ws)


async def unsubscribed(ws: ClientConnection, *topics: str) -> dict[str, Any]:
    await send(ws, orjson.dumps({"req_id": f"unsub-{next(_req_ids)}", "op": "unsubscribe", "args": list(topics)}))
    return await recv(ws)


def create_frame(link_id: str, side: str, qty: str, price: str | None = None, *, req_id: str | None = None) -> bytes:
    return outgoing.order_create(
        req_id or link_id,
        now_ms(),
        category="linear",
        symbol=SYM,
        side=side,
        order_type="Market" if price is None else "Limit",
        qty=qty,
        price=price,
        order_link_id=link_id,
    )


@asynccontextmanager
async def trading(fake: FakeBybit, *topics: str) -> AsyncIterator[tuple[ClientConnection, ClientConnection]]:
    """An authenticated trade socket and a private socket subscribed to ``topics`` (default order+execution)."""
    async with session(fake.endpoints.trade) as trade, session(fake.endpoints.private) as private:
        assert (await authed(trade))["retCode"] == 0
        assert (await authed(private))["success"] is True
        assert (await subscribed(private, *(topics or ("order", "execution"))))["success"] is True
        yield trade, private


def signed_headers(payload: str, *, creds: Credentials = CREDS, timestamp: int | None = None) -> dict[str, str]:
    ts = now_ms() if timestamp is None else timestamp
    return {
        "X-BAPI-API-KEY": creds.api_key,
        "X-BAPI-TIMESTAMP": str(ts),
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": rest_signature(creds.api_secret, ts, creds.api_key, 5000, payload),
        "Content-Type": "application/json",
    }


async def rest_post(http: aiohttp.ClientSession, fake: FakeBybit, path: str, body: dict[str, Any], **sign: Any) -> Any:
    raw = orjson.dumps(body).decode()
    async with http.post(fake.endpoints.rest + path, data=raw, headers=signed_headers(raw, **sign)) as response:
        return await response.json(), response.headers


async def rest_get(http: aiohttp.ClientSession, fake: FakeBybit, path: str, params: dict[str, str]) -> Any:
    query = urlencode(params)
    async with http.get(f"{fake.endpoints.rest}{path}?{query}", headers=signed_headers(query)) as response:
        return await response.json()


# -- public stream ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_public_ping_subscribe_views_trades_and_resubscribe_snapshot() -> None:
    async with running() as fake, session(fake.endpoints.public) as ws:
        await send(ws, outgoing.ping("p-1"))
        pong = await recv(ws)
        assert pong == {"success": True, "ret_msg": "pong", "conn_id": pong["conn_id"], "req_id": "p-1", "op": "ping"}
        assert isinstance(the_event(pong), PongReceived)

        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True)
        ack = await subscribed(ws, f"orderbook.1.{SYM}", f"orderbook.50.{SYM}", f"publicTrade.{SYM}")
        assert ack["success"] is True and ack["op"] == "subscribe" and ack["ret_msg"] == ""
        assert isinstance(the_event(ack), SubscriptionReplied)
        top, full = await recv(ws), await recv(ws)
        assert (top["topic"], top["type"], top["data"]["b"], top["data"]["a"]) == (
            f"orderbook.1.{SYM}",
            "snapshot",
            [list(BIDS[0])],
            [list(ASKS[0])],
        )
        assert (full["type"], full["data"]["b"], full["data"]["a"]) == (
            "snapshot",
            [list(b) for b in BIDS],
            [list(a) for a in ASKS],
        )

        fake.publish_book(SYM, bids=[("95000.00", "0"), ("94999.70", "4.000")])  # best bid leaves, a 4th level joins
        top, full = await recv(ws), await recv(ws)
        assert (top["type"], top["data"]["b"]) == ("snapshot", [["94999.90", "2.000"]])  # level 1 is snapshots only
        assert (full["type"], full["data"]["b"], full["data"]["a"]) == (
            "delta",
            [["95000.00", "0"], ["94999.70", "4.000"]],
            [],
        )
        assert full["data"]["u"] == 2 and top["data"]["u"] == 2

        fake.publish_trade(SYM, Side.SELL, "94999.90", "0.500")
        trade = await recv(ws)
        (printed,) = events_of(trade)
        assert isinstance(printed, TradePrinted)
        assert (printed.price, printed.qty, printed.taker_side) == (Decimal("94999.90"), Decimal("0.500"), Side.SELL)

        repeat = await subscribed(ws, f"orderbook.50.{SYM}")
        assert (repeat["success"], repeat["ret_msg"]) == (False, f"error:already subscribed,topic:orderbook.50.{SYM}")
        assert (await unsubscribed(ws, f"orderbook.50.{SYM}"))["success"] is True
        assert (await subscribed(ws, f"orderbook.50.{SYM}"))["success"] is True
        fresh = await recv(ws)
        assert fresh["type"] == "snapshot" and fresh["data"]["u"] == 2
        assert fresh["data"]["b"] == [["94999.90", "2.000"], ["94999.80", "3.000"], ["94999.70", "4.000"]]

        for topic in (f"orderbook.7.{SYM}", "publicTrade.ETHUSDT", "candles.BTCUSDT"):
            refused = await subscribed(ws, topic)
            assert (refused["success"], refused["ret_msg"]) == (False, f"error:handler not found,topic:{topic}")


@pytest.mark.asyncio
async def test_spot_path_refuses_more_than_ten_args_and_other_categories() -> None:
    async with running() as fake, session(fake.public_url("spot")) as ws:
        await send(ws, outgoing.ping())
        assert (await recv(ws))["ret_msg"] == "pong"
        too_many = await subscribed(ws, *(f"publicTrade.SYM{n}" for n in range(11)))
        assert (too_many["success"], too_many["ret_msg"]) == (False, "args size >10")
        other = await subscribed(ws, f"orderbook.50.{SYM}")  # the fake serves linear: spot has no such handler
        assert other["success"] is False


def book_from(frames: list[dict[str, Any]], depth: int) -> OrderBook:
    """The engine's own book fed with what a client received."""
    book = OrderBook(SYM, depth)
    codec = BybitCodec()
    for frame in frames:
        for event in codec.parse(orjson.dumps(frame), 0):
            assert isinstance(event, BookDelta)
            book.apply(event)
    return book


_level_changes = st.lists(
    st.tuples(st.integers(1, 12), st.sampled_from(["0", "0", "1", "2", "3"])), max_size=6, unique_by=lambda c: c[0]
)


@settings(max_examples=300, deadline=None)
@given(depth=st.integers(1, 5), snapshot=_level_changes, deltas=st.lists(_level_changes, max_size=12))
def test_window_changes_keep_a_client_at_the_top_n_levels(
    depth: int, snapshot: list[tuple[int, str]], deltas: list[list[tuple[int, str]]]
) -> None:
    """A client applying only what the window sends always holds the book's top N, and nothing sent is a no-op."""
    levels: Any = SortedDict()
    window = _Window(depth)
    _apply_levels(levels, [(f"{price}.0", size) for price, size in snapshot], 1)
    window.load(levels)
    client = {Decimal(price): size for price, size in window.levels()}
    for delta in deltas:
        touched = _apply_levels(levels, [(f"{price}.0", size) for price, size in delta], 1)
        for price, size in window.update(levels, touched):
            key = Decimal(price)
            assert client.get(key, "0") != size  # every level sent changes what the client shows
            if size == "0":
                del client[key]
            else:
                client[key] = size
        assert sorted(client.items()) == [(key, levels[key][1]) for key in levels.islice(stop=depth)]
        assert window.levels() == [list(levels[key]) for key in levels.islice(stop=depth)]


@pytest.mark.asyncio
async def test_replayed_depth_200_served_as_depth_50_view_without_gaps() -> None:
    records = list(itertools.islice(open_records(REPLAY_DATA / "btcusdt-5min.rec.gz"), 3000))
    truth = OrderBook(SYM, 200)
    codec = BybitCodec()
    for _, _, raw in records:
        for event in codec.parse(raw, 0):
            if isinstance(event, BookDelta):
                truth.apply(event)
    fake = FakeBybit({}, records=records, speed=float("inf"), autoplay=False)
    async with fake, session(fake.endpoints.public) as ws:
        assert (await subscribed(ws, f"orderbook.50.{SYM}"))["success"] is True
        fake.play()
        await asyncio.wait_for(fake.replay_finished.wait(), TIMEOUT)
        await send(ws, outgoing.ping("end"))
        frames = []
        while (msg := await recv(ws)).get("op") != "ping":
            frames.append(msg)
    assert frames[0]["type"] == "snapshot"
    ups = [frame["data"]["u"] for frame in frames]
    assert ups == list(range(ups[0], ups[0] + len(ups)))  # every message numbered, none missing
    client = book_from(frames, 50)
    assert client.state is BookState.SYNCED and client.gaps == 0
    for side in Side:
        assert [len(client.top(side, 50))] == [50]
        assert client.top(side, 50) == truth.top(side, 50)
    instrument = client.instrument
    assert instrument is not None
    written = [
        [instrument.format_price(price), instrument.format_qty(size)] for price, size in client.top(Side.BUY, 50)
    ]
    assert written == fake.book_levels(SYM, 50)[0]


@pytest.mark.asyncio
async def test_replay_from_a_path_starts_now_and_stops_with_the_server() -> None:
    fake = FakeBybit(INSTRUMENTS, records=REPLAY_DATA / "btcusdt-5min.rec.gz", speed=1.0)
    async with fake, session(fake.endpoints.public) as ws:
        assert (await subscribed(ws, f"orderbook.50.{SYM}"))["success"] is True
        snapshot = await recv(ws)
        assert snapshot["type"] == "snapshot" and abs(snapshot["ts"] - now_ms()) < 5_000
        assert not fake.replay_finished.is_set()  # five recorded minutes at speed 1: still playing
    assert fake.replay_error is None


@pytest.mark.asyncio
async def test_replay_runs_faster_than_recorded_and_rescales_frame_times() -> None:
    head = list(itertools.islice(open_records(REPLAY_DATA / "btcusdt-5min.rec.gz"), 400))
    records = [record for record in head if record[0] - head[0][0] < 1_000_000_000]  # one recorded second
    span_ns = records[-1][0] - records[0][0]
    trades = [orjson.loads(raw) for _, _, raw in records if raw.startswith(b'{"topic":"publicTrade')]
    speed = 10.0
    fake = FakeBybit(INSTRUMENTS, records=records, speed=speed, autoplay=False)
    async with fake, session(fake.endpoints.public) as ws:
        assert (await subscribed(ws, f"publicTrade.{SYM}"))["success"] is True
        started = time.monotonic_ns()
        fake.play()
        await asyncio.wait_for(fake.replay_finished.wait(), TIMEOUT)
        elapsed = time.monotonic_ns() - started
        received = [await recv(ws) for _ in trades]
    assert span_ns / speed <= elapsed < span_ns  # never early, and faster than the recording
    first, last = trades[0]["data"][0]["T"], trades[-1]["data"][0]["T"]
    got_first, got_last = received[0]["data"][0]["T"], received[-1]["data"][0]["T"]
    assert abs((got_last - got_first) - (last - first) / speed) <= 1  # ms, rounding
    assert [item["i"] for msg in received for item in msg["data"]] == [
        item["i"] for msg in trades for item in msg["data"]
    ]


# -- private stream ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_private_auth_is_checked_before_subscriptions() -> None:
    async with running() as fake, session(fake.endpoints.private) as ws:
        early = await subscribed(ws, "order")
        assert (early["success"], early["ret_msg"]) == (False, "Request not authorized")

        wrong_secret = await authed(ws, Credentials(CREDS.api_key, "not-the-secret"))
        wrong_key = await authed(ws, Credentials("someone-else", CREDS.api_secret))
        await send(ws, outgoing.auth(CREDS, now_ms() - 1_000))
        expired = await recv(ws)
        for failed in (wrong_secret, wrong_key, expired):
            reply = the_event(failed)
            assert isinstance(reply, AuthReplied) and not reply.success
        ok = await authed(ws)
        assert ok == {"success": True, "ret_msg": "", "req_id": "auth-1", "op": "auth", "conn_id": ok["conn_id"]}

        mixed = await subscribed(ws, "order", "order.linear")
        assert mixed["success"] is False
        unknown = await subscribed(ws, "orders")
        assert unknown["ret_msg"] == "error:handler not found,topic:orders"
        everything = await subscribed(ws, "order", "execution", "execution.fast", "position", "wallet", "dcp.future")
        assert everything["success"] is True

        await send(ws, outgoing.ping("hb"))
        pong = await recv(ws)
        assert pong["op"] == "pong" and pong["req_id"] == "hb" and abs(int(pong["args"][0]) - now_ms()) < 5_000


# -- trading ------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_order_over_the_trade_socket_fills_and_the_private_stream_pushes_what_the_fake_recorded() -> None:
    async with running() as fake, trading(fake, "order", "execution", "execution.fast") as (trade, private):
        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True)
        await send(trade, create_frame("P1-1", "Buy", "0.150", req_id="my-req-1"))
        ack = await recv(trade)
        reply = the_event(ack)
        assert isinstance(reply, TradeApiReplied)
        assert (reply.ret_code, reply.req_id, reply.order_link_id, reply.conn_id) == (
            0,
            "my-req-1",
            "P1-1",
            ack["connId"],
        )
        assert reply.limit == 10

        execution, fast, order = await recv(private), await recv(private), await recv(private)
        assert [execution["topic"], fast["topic"], order["topic"]] == ["execution", "execution.fast", "order"]
        fills = events_of(execution)
        assert all(isinstance(fill, OrderFilled) for fill in fills)
        assert [(f.price, f.qty) for f in fills if isinstance(f, OrderFilled)] == [
            (Decimal("95000.10"), Decimal("0.100")),
            (Decimal("95000.20"), Decimal("0.050")),
        ]
        (update,) = events_of(order)
        assert isinstance(update, OrderUpdated) and update.status is OrderStatus.FILLED
        assert [item["execId"] for item in fast["data"]] == [item["execId"] for item in execution["data"]]
        assert execution["data"] == fake.executions
        assert order["data"] == fake.order_updates

        # A resting order, amended by orderId (Bybit's other handle), then cancelled.
        await send(trade, create_frame("P1-2", "Sell", "0.010", "95001.00"))
        assert (await recv(trade))["retCode"] == 0
        new = await recv(private)
        order_id = new["data"][0]["orderId"]
        assert new["data"][0]["orderStatus"] == "New"
        amend = outgoing.order_amend(
            "a0:P1-2", now_ms(), category="linear", symbol=SYM, order_id=order_id, price="95002.00"
        )
        await send(trade, amend)
        amended = await recv(trade)
        assert (amended["retCode"], amended["reqId"], amended["data"]["orderLinkId"]) == (0, "a0:P1-2", "P1-2")
        assert (await recv(private))["data"][0]["price"] == "95002.00"
        await send(
            trade, outgoing.order_cancel("x:P1-2", now_ms(), category="linear", symbol=SYM, order_link_id="P1-2")
        )
        assert (await recv(trade))["retCode"] == 0
        cancelled = await recv(private)
        assert cancelled["data"][0]["orderStatus"] == "Cancelled"
        assert [record["orderStatus"] for record in fake.orders] == ["Filled", "Cancelled"]
        assert [o["data"][0] for o in (order, new)] == fake.order_updates[:2]
        assert [r.op for r in fake.requests] == ["order.create", "order.create", "order.amend", "order.cancel"]


@pytest.mark.asyncio
async def test_trade_requests_the_exchange_refuses_before_matching() -> None:
    async with running() as fake, session(fake.endpoints.trade) as trade:
        await send(trade, create_frame("P1-1", "Buy", "0.100"))
        assert (await recv(trade))["retCode"] == 10003  # not authenticated
        assert (await authed(trade))["retCode"] == 0
        assert (await authed(trade))["retCode"] == 20001

        batch = orjson.loads(create_frame("P1-2", "Buy", "0.100"))
        batch["op"] = "order.create-batch"
        await send(trade, orjson.dumps(batch))
        assert (await recv(trade))["retCode"] == 10404

        stale = orjson.loads(create_frame("P1-3", "Buy", "0.100"))
        stale["header"]["X-BAPI-TIMESTAMP"] = str(now_ms() - 60_000)
        await send(trade, orjson.dumps(stale))
        assert (await recv(trade))["retCode"] == 10002

        await send(trade, create_frame("P1-4", "Buy", "0.1005"))  # finer than the qty scale
        too_fine = await recv(trade)
        assert (too_fine["retCode"], too_fine["reqId"], too_fine["op"]) == (10001, "P1-4", "order.create")

        await send(trade, create_frame("P1-5", "Buy", "0.100", req_id="same"))
        await recv(trade)
        await send(trade, create_frame("P1-6", "Buy", "0.100", req_id="same"))
        assert (await recv(trade))["retCode"] == 20006

        await send(trade, outgoing.order_cancel("x", now_ms(), category="linear", symbol=SYM, order_id="no-such-id"))
        assert (await recv(trade))["retCode"] == 110001
        assert fake.orders == [] or [o["orderLinkId"] for o in fake.orders] == ["P1-5"]


# -- knobs ------------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_drop_connections_cuts_sockets_of_one_kind() -> None:
    async with running() as fake, session(fake.endpoints.trade) as trade, session(fake.endpoints.public) as public:
        await send(public, outgoing.ping())
        await recv(public)
        assert fake.drop_connections("trade") == 1
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(trade.recv(), TIMEOUT)
        await send(public, outgoing.ping())
        assert (await recv(public))["ret_msg"] == "pong"
        assert fake.drop_connections() == 1
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(public.recv(), TIMEOUT)


@pytest.mark.asyncio
async def test_stalled_socket_stays_open_and_silent_while_a_new_one_works() -> None:
    async with running() as fake, session(fake.endpoints.public) as ws:
        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True)
        assert (await subscribed(ws, f"orderbook.50.{SYM}"))["success"] is True
        await recv(ws)
        assert fake.stall_connections("public") == 1
        fake.publish_book(SYM, bids=[("95000.00", "0.500")])
        await send(ws, outgoing.ping())
        protocol_pong: asyncio.Future[Any] = asyncio.ensure_future(await ws.ping())
        json_pong: asyncio.Future[Any] = asyncio.ensure_future(ws.recv())
        done, _ = await asyncio.wait({protocol_pong, json_pong}, timeout=SILENCE)
        assert not done  # no book delta, no JSON pong, no websocket pong
        json_pong.cancel()
        assert fake.connections("public")  # the socket is kept
        async with session(fake.endpoints.public) as fresh:
            await send(fresh, outgoing.ping())
            assert (await recv(fresh))["ret_msg"] == "pong"


@pytest.mark.asyncio
async def test_skipped_book_update_shows_a_gap_and_resubscribe_repairs_it() -> None:
    async with running() as fake, session(fake.endpoints.public) as ws:
        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True)
        topic = f"orderbook.50.{SYM}"
        await subscribed(ws, topic)
        snapshot = await recv(ws)
        fake.skip_book_update(SYM)
        fake.publish_book(SYM, bids=[("95000.00", "0.700")])  # lost
        fake.publish_book(SYM, asks=[("95000.10", "0.900")])
        after = await recv(ws)
        assert after["data"]["u"] == snapshot["data"]["u"] + 2 and after["data"]["a"] == [["95000.10", "0.900"]]
        client = book_from([snapshot, after], 50)
        assert client.gaps == 1 and client.state is BookState.RESYNCING
        await unsubscribed(ws, topic)
        await subscribed(ws, topic)
        fresh = await recv(ws)
        assert fresh["data"]["b"][0] == ["95000.00", "0.700"] and fresh["data"]["a"][0] == ["95000.10", "0.900"]
        assert book_from([snapshot, after, fresh], 50).state is BookState.SYNCED


@pytest.mark.asyncio
async def test_restarted_book_sends_a_snapshot_with_u_1() -> None:
    async with running() as fake, session(fake.endpoints.public) as ws:
        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True)
        fake.publish_book(SYM, bids=[("95000.00", "0.700")])
        await subscribed(ws, f"orderbook.50.{SYM}")
        assert (await recv(ws))["data"]["u"] == 2
        fake.restart_book(SYM)
        restart = await recv(ws)
        assert (restart["type"], restart["data"]["u"], restart["data"]["b"][0]) == (
            "snapshot",
            1,
            ["95000.00", "0.700"],
        )
        fake.publish_book(SYM, asks=[("95000.10", "0.900")])
        assert (await recv(ws))["data"]["u"] == 2


@pytest.mark.asyncio
async def test_lost_ack_the_order_still_happens() -> None:
    async with running() as fake, trading(fake, "order.linear", "execution.linear") as (trade, private):
        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True)
        fake.lose_next_ack()
        await send(trade, create_frame("P1-1", "Buy", "0.050"))
        assert (await recv(private))["topic"] == "execution.linear"
        order = await recv(private)
        assert (order["topic"], order["data"][0]["orderStatus"]) == ("order.linear", "Filled")
        await send(trade, outgoing.ping("after"))
        assert (await recv(trade))["op"] == "pong"  # the next frame on the trade socket: no reply came
        assert fake.order("P1-1") is not None


@pytest.mark.asyncio
async def test_delayed_ack_arrives_after_the_private_pushes() -> None:
    async with running() as fake, trading(fake) as (trade, private):
        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True)
        fake.delay_next_ack(SILENCE)
        started = time.monotonic()
        await send(trade, create_frame("P1-1", "Buy", "0.050"))
        assert (await recv(private))["topic"] == "execution"
        assert (await recv(trade))["retCode"] == 0
        assert time.monotonic() - started >= SILENCE
        sent = [(kind, orjson.loads(frame).get("topic", "ack")) for kind, _, frame in fake.wire_log[-3:]]
        assert sent == [("private", "execution"), ("private", "order"), ("trade", "ack")]


@pytest.mark.asyncio
async def test_execution_pushed_before_the_order_ack() -> None:
    async with running() as fake, trading(fake) as (trade, private):
        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True)
        fake.execution_before_next_ack()
        await send(trade, create_frame("P1-1", "Buy", "0.050"))
        assert (await recv(trade))["retCode"] == 0
        assert [(await recv(private))["topic"] for _ in range(2)] == ["execution", "order"]
        sent = [(kind, orjson.loads(frame).get("topic", "ack")) for kind, _, frame in fake.wire_log[-3:]]
        assert sent == [("private", "execution"), ("trade", "ack"), ("private", "order")]


@pytest.mark.asyncio
async def test_duplicated_execution_is_pushed_twice_and_recorded_once() -> None:
    async with running() as fake, trading(fake) as (trade, private):
        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True)
        fake.duplicate_next_execution()
        await send(trade, create_frame("P1-1", "Buy", "0.150"))
        first, second, order = await recv(private), await recv(private), await recv(private)
        assert first == second and first["topic"] == "execution" and order["topic"] == "order"
        assert len(fake.executions) == 2 == len(first["data"])


@pytest.mark.asyncio
@pytest.mark.parametrize("code", [10006, 110007, 10001])
async def test_rejected_next_order(code: int) -> None:
    async with running() as fake, trading(fake) as (trade, private):
        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True)
        fake.reject_next_order(code)
        await send(trade, create_frame("P1-1", "Buy", "0.050"))
        reply = the_event(await recv(trade))
        assert isinstance(reply, TradeApiReplied) and reply.ret_code == code and reply.order_link_id == ""
        assert fake.orders == []
        await send(trade, create_frame("P1-2", "Buy", "0.050"))
        assert (await recv(trade))["retCode"] == 0
        assert (await recv(private))["topic"] == "execution"
        assert [o["orderLinkId"] for o in fake.orders] == ["P1-2"]


@pytest.mark.asyncio
async def test_failed_auth_even_when_correctly_signed_then_success() -> None:
    async with running() as fake, session(fake.endpoints.trade) as trade:
        fake.fail_next_auth()
        failed = await authed(trade)
        assert (failed["retCode"], failed["op"]) == (10004, "auth")
        await send(trade, create_frame("P1-1", "Buy", "0.050"))
        assert (await recv(trade))["retCode"] == 10003
        assert (await authed(trade))["retCode"] == 0


@pytest.mark.asyncio
async def test_refused_subscription_then_accepted() -> None:
    async with running() as fake, session(fake.endpoints.public) as ws:
        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True)
        topic = f"orderbook.50.{SYM}"
        fake.refuse_next_subscription(topic)
        refused = await subscribed(ws, topic, f"publicTrade.{SYM}")
        assert refused["success"] is False and topic in refused["ret_msg"]
        fake.publish_trade(SYM, Side.BUY, "95000.10", "0.001")  # nothing was subscribed
        accepted = await subscribed(ws, topic)
        assert accepted["success"] is True
        assert (await recv(ws))["type"] == "snapshot"


# -- REST -------------------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_rest_orders_queries_and_rate_limit_headers() -> None:
    async with running() as fake, aiohttp.ClientSession() as http:
        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True)
        order = {"category": "linear", "symbol": SYM, "side": "Buy", "orderType": "Limit", "qty": "0.010"}
        created, headers = await rest_post(
            http, fake, "/v5/order/create", {**order, "price": "94990.00", "orderLinkId": "R1-1"}
        )
        assert created["retCode"] == 0 and created["result"]["orderLinkId"] == "R1-1"
        assert (headers["X-Bapi-Limit"], headers["X-Bapi-Limit-Status"]) == ("10", "9")
        assert set(created) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
        order_id = created["result"]["orderId"]

        amended, _ = await rest_post(
            http, fake, "/v5/order/amend", {"category": "linear", "symbol": SYM, "orderId": order_id, "qty": "0.020"}
        )
        assert amended["retCode"] == 0
        realtime = await rest_get(http, fake, "/v5/order/realtime", {"category": "linear", "symbol": SYM})
        assert [(o["orderLinkId"], o["qty"], o["orderStatus"]) for o in realtime["result"]["list"]] == [
            ("R1-1", "0.020", "New")
        ]

        taken, _ = await rest_post(
            http, fake, "/v5/order/create", {**order, "side": "Sell", "orderType": "Market", "orderLinkId": "R1-2"}
        )
        assert taken["retCode"] == 0
        all_cancelled, _ = await rest_post(http, fake, "/v5/order/cancel-all", {"category": "linear", "symbol": SYM})
        assert all_cancelled["result"]["list"] == [{"orderId": order_id, "orderLinkId": "R1-1"}]
        history = await rest_get(http, fake, "/v5/order/history", {"category": "linear", "limit": "1"})
        assert [o["orderLinkId"] for o in history["result"]["list"]] == ["R1-2"]  # newest (by creation) first
        assert history["result"]["nextPageCursor"] == "1"
        executions = await rest_get(http, fake, "/v5/execution/list", {"category": "linear", "orderLinkId": "R1-2"})
        assert executions["result"]["list"] == fake.executions
        assert [o["orderStatus"] for o in fake.orders] == ["Cancelled", "Filled"]
        gone, _ = await rest_post(
            http, fake, "/v5/order/cancel", {"category": "linear", "symbol": SYM, "orderLinkId": "R1-1"}
        )
        assert gone["retCode"] == 110001

        fake.reject_next_order(110007)
        poor, _ = await rest_post(http, fake, "/v5/order/create", {**order, "price": "94990.00", "orderLinkId": "R1-3"})
        assert poor["retCode"] == 110007

        fake.rate_limit_next_rest()
        limited, headers = await rest_post(
            http, fake, "/v5/order/create", {**order, "price": "94990.00", "orderLinkId": "R1-4"}
        )
        assert limited["retCode"] == 10006 and headers["X-Bapi-Limit-Status"] == "0"
        assert int(headers["X-Bapi-Limit-Reset-Timestamp"]) > now_ms() - 1_000
        fake.forbid_next_rest()
        async with http.get(fake.endpoints.rest + "/v5/market/time") as response:
            assert response.status == 403
        assert fake.order("R1-4") is None


@pytest.mark.asyncio
async def test_rest_signature_timestamp_and_key_are_checked() -> None:
    async with running() as fake, aiohttp.ClientSession() as http:
        body = {
            "category": "linear",
            "symbol": SYM,
            "side": "Buy",
            "orderType": "Market",
            "qty": "0.010",
            "orderLinkId": "S-1",
        }
        wrong_secret, _ = await rest_post(
            http, fake, "/v5/order/create", body, creds=Credentials(CREDS.api_key, "nope")
        )
        wrong_key, _ = await rest_post(
            http, fake, "/v5/order/create", body, creds=Credentials("nobody", CREDS.api_secret)
        )
        stale, _ = await rest_post(http, fake, "/v5/order/create", body, timestamp=now_ms() - 60_000)
        ahead, _ = await rest_post(http, fake, "/v5/order/create", body, timestamp=now_ms() + 5_000)
        assert [r["retCode"] for r in (wrong_secret, wrong_key, stale, ahead)] == [10004, 10003, 10002, 10002]

        query = "category=linear&symbol=BTCUSDT"
        async with http.get(
            f"{fake.endpoints.rest}/v5/order/realtime?{query}", headers=signed_headers("category=linear")
        ) as response:  # signed over another query string
            assert (await response.json())["retCode"] == 10004
        assert (await rest_get(http, fake, "/v5/order/realtime", {"category": "linear"}))["retCode"] == 0
        assert fake.requests == []


@pytest.mark.asyncio
async def test_market_endpoints_instruments_round_trip_and_time() -> None:
    async with running() as fake, aiohttp.ClientSession() as http:
        async with http.get(f"{fake.endpoints.rest}/v5/market/instruments-info?category=linear") as response:
            info = await response.json()
        assert parse_instruments_info(info) == INSTRUMENTS
        before = time.time_ns()
        async with http.get(f"{fake.endpoints.rest}/v5/market/time") as response:
            server = await response.json()
        assert before <= int(server["result"]["timeNano"]) <= time.time_ns()


@pytest.mark.asyncio
async def test_spot_instruments_info_round_trip() -> None:
    spot = Instrument(
        symbol="ETHUSDT", category="spot", price_scale=2, qty_scale=5, qty_step_lots=1, min_notional=Decimal("1")
    )
    fake = FakeBybit({"ETHUSDT": spot}, category="spot")
    url = "/v5/market/instruments-info?category=spot"
    async with fake, aiohttp.ClientSession() as http, http.get(f"{fake.endpoints.rest}{url}") as response:
        assert parse_instruments_info(await response.json()) == {"ETHUSDT": spot}


@pytest.mark.asyncio
async def test_endpoints_file_is_a_ready_endpoints_toml_and_credentials_a_private_file(tmp_path: Path) -> None:
    async with running(port=0) as fake:
        fake.endpoints.write(tmp_path / "endpoints.toml")
        fake.endpoints.write_credentials(tmp_path / "credentials.toml")
        port = fake.port
    assert port > 0
    endpoints = load_endpoints(tmp_path / "endpoints.toml")
    assert endpoints.public_url(Category.LINEAR) == f"ws://127.0.0.1:{port}/v5/public/linear"
    assert (endpoints.private, endpoints.trade, endpoints.rest) == (
        f"ws://127.0.0.1:{port}/v5/private",
        f"ws://127.0.0.1:{port}/v5/trade",
        f"http://127.0.0.1:{port}",
    )
    assert CREDS.api_secret not in (tmp_path / "endpoints.toml").read_text()
    assert load_credentials({}, path=tmp_path / "credentials.toml") == CREDS
