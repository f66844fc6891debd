"""A scripted Bybit v5 websocket endpoint on 127.0.0.1 for the connection-driver tests.

It answers the session protocol the way Bybit does (linear-style envelopes: ``success``,
``ret_msg``, ``req_id`` echoed) and records every request per connection; the test decides
whether it answers pings, which topics it refuses, whether auth passes, and what data it pushes
after a subscription. ``changed`` is poked on every request and connection so a test can await
a condition instead of sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from feeds.bybit.auth import Credentials, ws_auth_signature
from feeds.bybit.outgoing import ClientRequest, parse_request

OnSubscribe = Callable[[int, str], list[bytes]]
"""``(connection number, topic) -> frames to push right after the ack``."""


class Pulse:
    """Wakes whoever waits on it; ``until`` waits for a condition without polling by the clock."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def poke(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def until(self, condition: Callable[[], bool], timeout: float = 3.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                await self._event.wait()


@dataclass
class FakeBybit:
    pulse: Pulse
    answer_pings: bool = True
    refuse: set[str] = field(default_factory=set)
    credentials: Credentials | None = None  # the key pair the server accepts; None: no auth expected
    on_subscribe: OnSubscribe | None = None
    answer_subscriptions: bool = True
    option_replies: bool = False  # option-stream acks: COMMAND_RESP with topic lists, no req_id echoed
    hang_up_after: int | None = None  # close every connection after answering this many requests
    requests: list[list[ClientRequest]] = field(default_factory=list)  # per connection, in order
    connections: list[ServerConnection] = field(default_factory=list)
    server: Server | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def start(self) -> FakeBybit:
        self.server = await serve(self._handle, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def ops(self, connection: int) -> list[tuple[str, tuple[Any, ...]]]:
        """(op, args) of every non-ping request on one connection (0-based)."""
        return [(r.op, r.args) for r in self.requests[connection] if r.op != "ping"]

    async def push(self, connection: int, frame: bytes) -> None:
        await self.connections[connection].send(frame.decode())

    async def _handle(self, ws: ServerConnection) -> None:
        number = len(self.connections)
        self.connections.append(ws)
        self.requests.append([])
        self.pulse.poke()
        try:
            async for raw in ws:
                request = parse_request(raw)
                self.requests[number].append(request)
                for reply in self._answer(number, request):
                    await ws.send(reply.decode())
                self.pulse.poke()
                if self.hang_up_after is not None and len(self.requests[number]) >= self.hang_up_after:
                    await ws.close()
        except ConnectionClosed:
            pass
        finally:
            self.pulse.poke()

    def _answer(self, number: int, request: ClientRequest) -> list[bytes]:
        conn_id = f"conn-{number}"
        if request.op == "ping":
            if not self.answer_pings:
                return []
            return [_dumps(success=True, ret_msg="pong", conn_id=conn_id, req_id=request.req_id, op="ping")]
        if request.op == "auth":
            return [_dumps(success=self._auth_ok(request), ret_msg=self._auth_message(request), op="auth")]
        if request.op in ("subscribe", "unsubscribe"):
            if not self.answer_subscriptions:
                return []
            refused = [t for t in request.args if request.op == "subscribe" and t in self.refuse]
            pushes = []
            if request.op == "subscribe" and not refused and self.on_subscribe is not None:
                pushes = [frame for topic in request.args for frame in self.on_subscribe(number, topic)]
            return [self._subscription_reply(request, refused, conn_id), *pushes]
        return []  # trade-API ops and the like: recorded, not answered

    def _subscription_reply(self, request: ClientRequest, refused: list[str], conn_id: str) -> bytes:
        if self.option_replies:
            accepted = [t for t in request.args if t not in refused]
            data = {"successTopics": accepted, "failTopics": refused}
            return _dumps(success=True, ret_msg="", conn_id=conn_id, data=data, type="COMMAND_RESP")
        message = f"error:handler not found,topic:{refused[0]}" if refused else ""
        return _dumps(success=not refused, ret_msg=message, conn_id=conn_id, req_id=request.req_id, op=request.op)

    def _auth_ok(self, request: ClientRequest) -> bool:
        if self.credentials is None:
            return False
        key, expires_ms, signature = request.args
        return bool(
            key == self.credentials.api_key
            and signature == ws_auth_signature(self.credentials.api_secret, expires_ms)
            and expires_ms > 0
        )

    def _auth_message(self, request: ClientRequest) -> str:
        return "" if self._auth_ok(request) else "Params Error"


def _dumps(**fields: object) -> bytes:
    return orjson.dumps(fields)


def book_frame(symbol: str, depth: int, *, u: int, snapshot: bool, bid: str = "100.0", ask: str = "100.5") -> bytes:
    """An ``orderbook.<depth>.<symbol>`` push with one bid and one ask level."""
    return orjson.dumps(
        {
            "topic": f"orderbook.{depth}.{symbol}",
            "type": "snapshot" if snapshot else "delta",
            "ts": 1_700_000_000_000 + u,
            "data": {"s": symbol, "b": [[bid, "1.5"]], "a": [[ask, "2.0"]], "u": u, "seq": 1000 + u},
            "cts": 1_700_000_000_000 + u,
        }
    )


def ticker_frame(symbol: str, price: str = "100.2") -> bytes:
    return orjson.dumps(
        {
            "topic": f"tickers.{symbol}",
            "type": "snapshot",
            "ts": 1_700_000_000_000,
            "cs": 1,
            "data": {"symbol": symbol, "lastPrice": price},
        }
    )
