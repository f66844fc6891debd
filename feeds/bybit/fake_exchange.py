"""A fake Bybit v5 exchange on 127.0.0.1: public, private and trade websockets and the REST API.

``FakeBybit`` is the exchange side of the protocol in ``docs/bybit_v5.md`` (sections 1-3, 5, 6,
8, 9), for connection tests and for running the live drivers against a replayed market. Orders
are matched by ``feeds.bybit.sim_venue.SimBybit`` (the backtest's matching engine and its exact
``order``/``execution`` frames); this module adds the sockets, the sessions and the knobs.

One port serves everything (``port=0`` picks a free one; ``endpoints`` says which):

* ``/v5/public/<category>``: ``ping``, ``subscribe``/``unsubscribe`` with acks in the shape of
  that stream, and the market. The fake serves one category; a public connection of another
  category answers pings but refuses every topic (``handler not found``), as Bybit does for a
  symbol of another category.
* ``/v5/private``: ``auth`` (checked with ``feeds.bybit.auth`` against the configured key), then
  ``order``, ``execution``, ``execution.fast`` (and their ``.<category>`` forms), ``position``,
  ``wallet`` and ``dcp.*``. Order and execution pushes are SimBybit's frames; position, wallet
  and dcp are accepted and stay silent (the simulator keeps no position or balance).
* ``/v5/trade``: ``auth``, then ``order.create``/``order.amend``/``order.cancel``. Requests are
  read with ``feeds.bybit.order_wire.decode_order`` (``orderLinkId`` is required; ``orderId``
  is accepted for amend/cancel and mapped to its ``orderLinkId``) and handed to SimBybit as
  commands; its replies go back with the client's ``reqId`` and this connection's ``connId``.
  Batch ops are refused with 10404.
* REST under ``/v5``, signed as Bybit signs (``X-BAPI-API-KEY``/``TIMESTAMP``/``SIGN``/
  ``RECV-WINDOW``: 10003 unknown key, 10002 timestamp outside the window, 10004 bad signature):
  ``POST /v5/order/create|amend|cancel|cancel-all``, ``GET /v5/order/realtime``,
  ``/v5/order/history``, ``/v5/execution/list``, and the unsigned ``/v5/market/instruments-info``
  and ``/v5/market/time``. Bybit's envelope (``retCode, retMsg, result, retExtInfo, time``);
  private endpoints carry ``X-Bapi-Limit``/``-Status``/``-Reset-Timestamp`` counted per endpoint
  over the last second (reported, not enforced: use the knobs for 10006 and HTTP 403).

Time. The exchange runs on ``clock`` (wall time by default), so auth expiries, ``recv_window``
checks, ``/v5/market/time`` and every timestamp a client reads agree with the client's own clock.
A replay is a script of when things happen: a record received at ``r`` is published at
``start + (r - r0) / speed`` (``speed=100`` plays 100 recorded seconds per second), and its
``ts``, ``cts`` and trade ``T`` are rewritten to that scale, so times inside the frames keep
their spacing relative to each other and the clock. Scripted data (``publish_book``,
``publish_trade``, ``publish_frame``) is published at once.

Books. The exchange keeps one book per symbol (the first depth seen in the data is its source;
other depths of the symbol are ignored) and serves every subscribed ``orderbook.N.SYMBOL`` as a
view of it: a snapshot on subscribe, then deltas holding exactly the levels whose size changed
in the top N, including levels entering and leaving the window, as Bybit keeps a depth-N book
at N levels. Each view numbers its own messages (``u`` + 1 per message, starting from the
source's ``u``), and depth 1 is sent as snapshots only, as Bybit does. So any depth can be
served from any data, and ``unsubscribe`` then ``subscribe`` gives a fresh snapshot of the
current book. Subscribing a topic twice on one connection fails (``already subscribed``).

Record. ``order_updates`` and ``executions`` hold every order and execution record the exchange
produced, once each, in order (before any misbehaviour: a duplicated push is one execution);
``orders`` the latest state of each order; ``requests`` every order request received; and
``wire_log`` every frame sent on private and trade connections.

Misbehaviour knobs (runtime, each call arms one more occurrence where it counts): see the
methods under "knobs" below. They act on the wire, never on the exchange's truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import math
import os
import re
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

import orjson
import structlog
from aiohttp import WSMsgType, web
from sortedcontainers import SortedDict

from engine.clock import NS_PER_MS, NS_PER_S, Clock, LiveClock
from engine.enums import Side
from engine.instrument import Instrument
from feeds.bybit.auth import Credentials, rest_signature, ws_auth_signature
from feeds.bybit.codec import BybitCodec
from feeds.bybit.order_wire import OrderDecodeError, OrderRequest, decode_order
from feeds.bybit.outgoing import DEFAULT_RECV_WINDOW_MS, MAX_ID_LENGTH, ClientRequest, RequestError, parse_request
from feeds.bybit.sim_venue import PRIVATE_STREAM, TRADE_STREAM, SimBybit
from feeds.bybit.topics import ORDERBOOK_DEPTHS, Category, parse_category, validate_symbol
from feeds.replay import Record, open_records

__all__ = [
    "FakeBybit",
    "FakeEndpoints",
    "FakeRequest",
    "DEFAULT_CREDENTIALS",
    "REJECT_MESSAGES",
    "REST_LIMITS",
    "ConnectionKind",
    "instrument_info",
]

log = structlog.get_logger("feeds.bybit.fake_exchange")

ConnectionKind = Literal["public", "private", "trade"]

DEFAULT_CREDENTIALS: Final = Credentials(api_key="fake-api-key", api_secret="fake-api-secret")

REJECT_MESSAGES: Final = {
    10001: "params error: rejected by the fake exchange",
    10006: "Too many visits!",
    110007: "ab not enough for new order",
}
"""retMsg of the codes ``reject_next_order`` knows; any other code needs a message."""

REST_LIMITS: Final = {
    "/v5/order/create": 10,
    "/v5/order/amend": 10,
    "/v5/order/cancel": 10,
    "/v5/order/cancel-all": 10,
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/execution/list": 50,
}
"""``X-Bapi-Limit`` per private endpoint (Bybit's non-VIP defaults for linear, section 8)."""

TRADE_WS_LIMIT: Final = 10
SPOT_MAX_ARGS: Final = 10
ORDER_OPS: Final = ("order.create", "order.amend", "order.cancel")

_CATEGORIES: Final = frozenset(category.value for category in Category)
_PRIVATE_PREFIXES: Final = ("order", "execution", "position", "wallet", "greeks", "dcp")
_CLOSED_STATUSES: Final = frozenset({"Filled", "Cancelled", "PartiallyFilledCanceled", "Rejected", "Deactivated"})
_ORDER_LINK_ID: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}")
_QUOTE_COINS: Final = ("USDT", "USDC", "USDE", "EUR", "BTC", "ETH")
_REPLAY_YIELD_EVERY: Final = 256
_CLOSE_TIMEOUT_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class FakeEndpoints:
    """Where a running fake listens, and the credentials it accepts."""

    rest: str
    public: str
    private: str
    trade: str
    api_key: str
    api_secret: str
    category: str = "linear"

    def as_dict(self) -> dict[str, str]:
        return {
            "rest": self.rest,
            "public": self.public,
            "private": self.private,
            "trade": self.trade,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
        }

    def toml(self) -> str:
        """The ``--endpoints FILE`` table (``feeds.bybit.endpoints``): every key a full URL, no secrets."""
        return (
            "[endpoints]\n"
            f'public_{self.category} = "{self.public}"\n'
            f'private = "{self.private}"\n'
            f'trade = "{self.trade}"\n'
            f'rest = "{self.rest}"\n'
        )

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the ready ``--endpoints`` file (credentials go elsewhere: ``write_credentials``)."""
        Path(path).write_text(self.toml(), encoding="utf-8")

    def write_credentials(self, path: str | os.PathLike[str]) -> None:
        """The key pair the fake accepts, as a credentials file only its owner can read."""
        target = Path(path)
        target.write_text(f'api_key = "{self.api_key}"\napi_secret = "{self.api_secret}"\n', encoding="utf-8")
        target.chmod(0o600)


@dataclass(frozen=True, slots=True)
class FakeRequest:
    """One order request as received: ``via`` is ``"ws"`` or ``"rest"``; ``params`` the order object."""

    via: str
    op: str
    req_id: str
    params: dict[str, Any]
    ts_ns: int


# -- connections ----------------------------------------------------------------------------------------


class _Connection:
    """One client websocket: its session state and an ordered outbox drained by its own writer task."""

    def __init__(
        self,
        kind: ConnectionKind,
        category: str,
        conn_id: str,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
    ) -> None:
        self.kind = kind
        self.category = category
        self.conn_id = conn_id
        self.ws = ws
        self.transport = transport
        self.topics: list[str] = []
        self.authed = False
        self.stalled = False
        self.frames_ignored = 0
        self.req_ids: set[str] = set()
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()

    def push(self, frame: bytes) -> bool:
        """Queue a frame; False (and nothing sent) if the connection is stalled or closed."""
        if self.stalled or self.ws.closed:
            return False
        self._outbox.put_nowait(frame.decode())
        return True

    async def write_loop(self) -> None:
        while (text := await self._outbox.get()) is not None:
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    def finish(self) -> None:
        self._outbox.put_nowait(None)

    def drop(self) -> None:
        """Cut the TCP connection without a close frame, as a network failure does."""
        if self.transport is not None:
            self.transport.abort()


@dataclass(slots=True)
class _Waiter:
    """Who gets the trade reply SimBybit will produce for one command (replies come in command order)."""

    conn: _Connection | None = None  # a trade websocket
    req_id: str = ""
    future: asyncio.Future[dict[str, Any]] | None = None  # a REST call, or an internal request


# -- books ------------------------------------------------------------------------------------------------

_RestHandler = Callable[[dict[str, Any]], Awaitable[tuple[int, str, dict[str, Any]]]]
_Levels = dict[Decimal, tuple[str, str]]
"""Sort key (price for asks, -price for bids: best first) -> (price, size) exactly as written."""


class _Book:
    """The exchange's book of one symbol, from its source topic: levels as the data wrote them."""

    def __init__(self, symbol: str, depth: int) -> None:
        self.symbol = symbol
        self.depth = depth
        self.bids: Any = SortedDict()  # key -> (price, size)
        self.asks: Any = SortedDict()
        self.synced = False
        self.u = 0
        self.seq = 0
        self.ts_ms = 0
        self.cts_ms = 0
        self.lose_next = 0

    def apply(self, data: Mapping[str, Any], is_snapshot: bool) -> tuple[set[Decimal], set[Decimal]] | None:
        """Apply one message; the keys it touched per side, or None if it cannot apply (no snapshot yet)."""
        if is_snapshot:
            self.bids.clear()
            self.asks.clear()
            self.synced = True
        elif not self.synced:
            return None
        touched_bids = _apply_levels(self.bids, data.get("b") or (), -1)
        touched_asks = _apply_levels(self.asks, data.get("a") or (), 1)
        self.u = int(data.get("u", self.u + 1))
        self.seq = int(data.get("seq", self.seq))
        return touched_bids, touched_asks


def _apply_levels(levels: Any, changes: Iterable[Sequence[str]], sign: int) -> set[Decimal]:
    touched = set()
    for price, size in changes:
        key = sign * Decimal(price)
        touched.add(key)
        if Decimal(size):
            levels[key] = (price, size)
        else:
            levels.pop(key, None)
    return touched


class _Window:
    """The top ``depth`` levels of one side of a book, as one view last showed them.

    ``edge`` is the worst key shown when the window is full, None when it holds the whole side.
    A change can only alter the window at the levels it touched and at the window's edge (levels
    pushed out by an insert, pulled in by a delete), so an update costs what it changed, not N.
    """

    __slots__ = ("depth", "edge", "shown")

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.shown: _Levels = {}
        self.edge: Decimal | None = None

    def load(self, levels: Any) -> None:
        keys = list(levels.islice(stop=self.depth))
        self.shown = {key: levels[key] for key in keys}
        self.edge = keys[-1] if len(keys) == self.depth else None

    def update(self, levels: Any, touched: set[Decimal]) -> list[list[str]]:
        """Apply a change of ``levels`` at ``touched``; the window's levels that changed, best first."""
        edge, shown = self.edge, self.shown
        if not touched or (edge is not None and min(touched) > edge):
            return []  # nothing touched inside a full window: it cannot move
        new_edge = levels.peekitem(self.depth - 1)[0] if len(levels) >= self.depth else None
        changes: dict[Decimal, list[str]] = {}
        for key in touched:
            level = levels.get(key)
            old = shown.get(key)
            if level is not None and (new_edge is None or key <= new_edge):
                if old is None or old[1] != level[1]:
                    shown[key] = level
                    changes[key] = list(level)
            elif old is not None:
                del shown[key]
                changes[key] = [old[0], "0"]
        if new_edge is not None:  # levels pushed out past the new edge by inserts
            for key in levels.irange(minimum=new_edge, maximum=edge, inclusive=(False, True)):
                old = shown.pop(key, None)
                if old is not None:
                    changes[key] = [old[0], "0"]
        if edge is not None:  # levels pulled in from past the old edge by deletes
            for key in levels.irange(minimum=edge, maximum=new_edge, inclusive=(False, True)):
                if key not in shown:
                    shown[key] = levels[key]
                    changes[key] = list(levels[key])
        self.edge = new_edge
        return [changes[key] for key in sorted(changes)]

    def levels(self) -> list[list[str]]:
        """The window, best first (``shown`` is kept in no particular order)."""
        shown = self.shown
        return [list(shown[key]) for key in sorted(shown)]


class _BookView:
    """One ``orderbook.N.SYMBOL`` topic as clients see it: the top N levels of the exchange's book."""

    def __init__(self, topic: str, symbol: str, depth: int) -> None:
        self.topic = topic
        self.symbol = symbol
        self.depth = depth
        self.bids = _Window(depth)
        self.asks = _Window(depth)
        self.u = 0
        self.synced = False

    def load(self, book: _Book) -> None:
        self.bids.load(book.bids)
        self.asks.load(book.asks)
        self.synced = True

    def update(
        self, book: _Book, touched: tuple[set[Decimal], set[Decimal]]
    ) -> tuple[list[list[str]], list[list[str]]]:
        """Levels of the window that changed (size "0" for those that left), best first per side."""
        return self.bids.update(book.bids, touched[0]), self.asks.update(book.asks, touched[1])

    def snapshot_levels(self) -> tuple[list[list[str]], list[list[str]]]:
        return self.bids.levels(), self.asks.levels()


def _book_frame(
    topic: str,
    kind: str,
    ts_ms: int,
    symbol: str,
    bids: list[list[str]],
    asks: list[list[str]],
    u: int,
    seq: int,
    cts_ms: int,
) -> bytes:
    return orjson.dumps(
        {
            "topic": topic,
            "type": kind,
            "ts": ts_ms,
            "data": {"s": symbol, "b": bids, "a": asks, "u": u, "seq": seq},
            "cts": cts_ms,
        }
    )


# -- the exchange -----------------------------------------------------------------------------------------


class FakeBybit:
    """A Bybit v5 exchange on one local port. ``async with FakeBybit(...) as fake:`` or start()/stop().

    ``instruments``: the symbols it trades (rules for order decoding, matching and
    instruments-info); with none, rules are inferred from the first book snapshot of each symbol.
    ``records``: a replay, as ``(ts_recv_ns, stream, raw)`` records or a path for
    ``feeds.replay.open_records``; played from ``start()`` at ``speed`` (or from ``play()`` with
    ``autoplay=False``); ``replay_finished`` is set when it ends (``replay_error`` says if it broke).
    ``order_latency_ns``/``response_latency_ns``, fees and ``seed`` go to ``sim``, the SimBybit
    that matches the orders. ``clock`` (default ``LiveClock``) is the exchange's time.
    """

    def __init__(
        self,
        instruments: Mapping[str, Instrument] | None = None,
        *,
        records: Iterable[Record] | str | os.PathLike[str] | None = None,
        speed: float = 100.0,
        autoplay: bool = True,
        category: str = "linear",
        credentials: Credentials = DEFAULT_CREDENTIALS,
        host: str = "127.0.0.1",
        port: int = 0,
        book_depths: Iterable[int] | None = None,
        order_latency_ns: int = 0,
        response_latency_ns: int = 0,
        maker_fee: Decimal = Decimal("0.0002"),
        taker_fee: Decimal = Decimal("0.00055"),
        seed: int = 0,
        clock: Clock | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.category = parse_category(category).value
        self.instruments: dict[str, Instrument] = dict(instruments or {})
        self.credentials = credentials
        self.host = host
        self.speed = speed
        self.clock: Clock = clock if clock is not None else LiveClock()
        self.book_depths = (
            frozenset(book_depths) if book_depths is not None else ORDERBOOK_DEPTHS[Category(self.category)]
        )
        self.sim = SimBybit(
            self.instruments,
            order_latency_ns=order_latency_ns,
            response_latency_ns=response_latency_ns,
            maker_fee=maker_fee,
            taker_fee=taker_fee,
            seed=seed,
            category=self.category,
            clock=self.clock,
        )
        self._records = records
        self._autoplay = autoplay
        self._port = port
        self._runner: web.AppRunner | None = None
        self._replay_task: asyncio.Task[None] | None = None
        self.replay_finished = asyncio.Event()
        self.replay_error: BaseException | None = None
        self._codec = BybitCodec()
        self._connections: list[_Connection] = []
        self._conn_numbers = itertools.count(1)
        self._public_subs: dict[str, list[_Connection]] = {}
        self._books: dict[str, _Book] = {}
        self._views: dict[str, _BookView] = {}
        self._seq = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._waiters: deque[_Waiter] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._rate: dict[str, deque[int]] = {}
        # the record
        self._order_updates: list[dict[str, Any]] = []
        self._orders: dict[str, dict[str, Any]] = {}
        self._executions: list[dict[str, Any]] = []
        self._link_of_order_id: dict[str, str] = {}
        self.requests: list[FakeRequest] = []
        self.wire_log: list[tuple[ConnectionKind, str, bytes]] = []
        # knobs
        self._held_acks: dict[str, tuple[_Connection, bytes]] = {}
        self._lose_acks = 0
        self._ack_delays: deque[float] = deque()
        self._exec_before_ack = 0
        self._duplicate_executions = 0
        self._rejects: deque[tuple[int, str]] = deque()
        self._failed_auths = 0
        self._refused_topics: Counter[str] = Counter()
        self._rest_rate_limited = 0
        self._rest_forbidden = 0

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> FakeBybit:
        if self._runner is not None:
            raise RuntimeError("FakeBybit is already running")
        app = web.Application()
        app.router.add_get("/v5/public/{category}", self._public_ws)
        app.router.add_get("/v5/private", self._private_ws)
        app.router.add_get("/v5/trade", self._trade_ws)
        for path, handler in (
            ("/v5/order/create", self._rest_create),
            ("/v5/order/amend", self._rest_amend),
            ("/v5/order/cancel", self._rest_cancel),
            ("/v5/order/cancel-all", self._rest_cancel_all),
        ):
            app.router.add_post(path, self._rest_route(handler, private=True))
        for path, handler in (
            ("/v5/order/realtime", self._rest_realtime),
            ("/v5/order/history", self._rest_history),
            ("/v5/execution/list", self._rest_executions),
        ):
            app.router.add_get(path, self._rest_route(handler, private=True))
        app.router.add_get("/v5/market/instruments-info", self._rest_route(self._rest_instruments, private=False))
        app.router.add_get("/v5/market/time", self._rest_route(self._rest_time, private=False))
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        await site.start()
        self._runner = runner
        self._port = runner.addresses[0][1]
        if self._records is not None and self._autoplay:
            self.play()
        return self

    async def stop(self) -> None:
        if self._runner is None:
            return
        if self._replay_task is not None:
            self._replay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replay_task
        if self._timer is not None:
            self._timer.cancel()
        for conn in list(self._connections):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"server shutdown"), _CLOSE_TIMEOUT_S)
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeBybit:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def play(self) -> None:
        """Start the replay now (``autoplay=False``); its record times count from this moment."""
        if self._records is None:
            raise RuntimeError("FakeBybit was given no records to replay")
        if self._replay_task is not None:
            raise RuntimeError("the replay is already playing")
        records = self._records
        source = open_records(records) if isinstance(records, str | os.PathLike) else iter(records)
        self._replay_task = asyncio.get_running_loop().create_task(self._replay(source))

    @property
    def port(self) -> int:
        if self._runner is None:
            raise RuntimeError("FakeBybit is not running")
        return self._port

    @property
    def endpoints(self) -> FakeEndpoints:
        base = f"{self.host}:{self.port}"
        return FakeEndpoints(
            rest=f"http://{base}",
            public=f"ws://{base}/v5/public/{self.category}",
            private=f"ws://{base}/v5/private",
            trade=f"ws://{base}/v5/trade",
            api_key=self.credentials.api_key,
            api_secret=self.credentials.api_secret,
            category=self.category,
        )

    def public_url(self, category: str) -> str:
        return f"ws://{self.host}:{self.port}/v5/public/{category}"

    # -- the record -------------------------------------------------------------------------------------
    @property
    def order_updates(self) -> list[dict[str, Any]]:
        """Every ``order`` record the exchange produced, in order (Bybit's push shape)."""
        return list(self._order_updates)

    @property
    def orders(self) -> list[dict[str, Any]]:
        """The latest record of every order, in the order they were first reported."""
        return list(self._orders.values())

    def order(self, order_link_id: str) -> dict[str, Any] | None:
        return self._orders.get(order_link_id)

    @property
    def executions(self) -> list[dict[str, Any]]:
        """Every ``execution`` record, once each, in order (Bybit's push shape)."""
        return list(self._executions)

    def connections(self, kind: ConnectionKind | None = None) -> list[str]:
        """``connId`` of every open connection (of one kind)."""
        return [conn.conn_id for conn in self._connections if kind is None or conn.kind == kind]

    # -- knobs ------------------------------------------------------------------------------------------
    def drop_connections(self, kind: ConnectionKind | None = None) -> int:
        """Cut every open connection (of one kind) without a close frame; how many were cut."""
        conns = [conn for conn in self._connections if kind is None or conn.kind == kind]
        for conn in conns:
            conn.drop()
        return len(conns)

    def stall_connections(self, kind: ConnectionKind | None = None) -> int:
        """Open connections (of one kind) go silent for good: socket kept, nothing sent, frames and
        pings (JSON and websocket) ignored. New connections are not affected. How many stalled."""
        conns = [conn for conn in self._connections if kind is None or conn.kind == kind]
        for conn in conns:
            conn.stalled = True
        return len(conns)

    def skip_book_update(self, symbol: str) -> None:
        """The next book change of ``symbol`` is lost: each view it changes counts its ``u`` but does
        not send it, so the following message shows a gap. Snapshots are never lost."""
        self._book(symbol).lose_next += 1

    def restart_book(self, symbol: str) -> None:
        """Bybit's service restart: every view of ``symbol`` sends a snapshot of the current book with
        ``u = 1`` now, and numbers on from there."""
        now_ms = self.clock.now_ns() // NS_PER_MS
        for view in self._views_of(symbol):
            if view.synced:
                view.u = 1
                self._send_view_snapshot(view, self._public_subs.get(view.topic, []), now_ms)

    def delay_next_ack(self, seconds: float) -> None:
        """The next trade-API reply (websocket) is sent ``seconds`` late; REST waits as long."""
        self._ack_delays.append(seconds)

    def lose_next_ack(self) -> None:
        """The next websocket trade-API reply is never sent (the request is processed as usual)."""
        self._lose_acks += 1

    def execution_before_next_ack(self) -> None:
        """The next successful ``order.create`` reply (websocket) is held until the order's first
        execution has been pushed (or the order closed without one)."""
        self._exec_before_ack += 1

    def duplicate_next_execution(self) -> None:
        """The next ``execution`` push is sent twice (the record keeps one)."""
        self._duplicate_executions += 1

    def reject_next_order(self, code: int, message: str | None = None) -> None:
        """The next ``order.create`` (websocket or REST) is refused with ``code`` before matching."""
        if message is None:
            if code not in REJECT_MESSAGES:
                raise ValueError(f"no default message for retCode {code}; pass one")
            message = REJECT_MESSAGES[code]
        self._rejects.append((code, message))

    def fail_next_auth(self) -> None:
        """The next websocket ``auth`` (private or trade) fails as a bad signature, however it is signed."""
        self._failed_auths += 1

    def refuse_next_subscription(self, topic: str) -> None:
        """The next subscribe request holding ``topic`` fails (``success: false``), subscribing nothing."""
        self._refused_topics[topic] += 1

    def rate_limit_next_rest(self, count: int = 1) -> None:
        """The next ``count`` signed REST calls get retCode 10006 with ``X-Bapi-Limit-Status: 0``."""
        self._rest_rate_limited += count

    def forbid_next_rest(self, count: int = 1) -> None:
        """The next ``count`` REST calls get HTTP 403 ("access too frequent"), Bybit's IP ban."""
        self._rest_forbidden += count

    # -- scripted market data ---------------------------------------------------------------------------
    def publish_book(
        self,
        symbol: str,
        *,
        bids: Iterable[tuple[str, str]] = (),
        asks: Iterable[tuple[str, str]] = (),
        snapshot: bool = False,
        depth: int | None = None,
    ) -> None:
        """A book message for ``symbol`` now: a snapshot, or a delta of absolute sizes ("0" deletes)."""
        book = self._books.get(symbol)
        if depth is None:
            depth = book.depth if book is not None else max(ORDERBOOK_DEPTHS[Category(self.category)])
        now_ms = self.clock.now_ns() // NS_PER_MS
        u = 1 if book is None or (snapshot and not book.synced) else book.u + 1
        msg = {
            "topic": f"orderbook.{depth}.{symbol}",
            "type": "snapshot" if snapshot else "delta",
            "ts": now_ms,
            "data": {
                "s": symbol,
                "b": [list(b) for b in bids],
                "a": [list(a) for a in asks],
                "u": u,
                "seq": next(self._seq),
            },
            "cts": now_ms,
        }
        self._on_public_message(msg)

    def publish_trade(self, symbol: str, taker_side: Side | str, price: str, qty: str) -> None:
        """A public trade now (``taker_side`` is the aggressor)."""
        now_ms = self.clock.now_ns() // NS_PER_MS
        trade = {
            "T": now_ms,
            "s": symbol,
            "S": Side(taker_side).value,
            "v": qty,
            "p": price,
            "L": "ZeroPlusTick",
            "i": f"fake-trade-{next(self._trade_ids)}",
            "BT": False,
            "RPI": False,
            "seq": next(self._seq),
        }
        self._on_public_message({"topic": f"publicTrade.{symbol}", "type": "snapshot", "ts": now_ms, "data": [trade]})

    def publish_frame(self, raw: bytes | str) -> None:
        """Any public data frame, now, exactly as given (times are not rewritten)."""
        msg = orjson.loads(raw)
        if not isinstance(msg, dict) or not isinstance(msg.get("topic"), str):
            raise ValueError("a public data frame is a JSON object with a topic")
        self._on_public_message(msg)

    def book_levels(self, symbol: str, depth: int | None = None) -> tuple[list[list[str]], list[list[str]]]:
        """The exchange's current book of ``symbol`` (top ``depth``), bids and asks as written."""
        book = self._book(symbol)
        bids = [list(level) for level in book.bids.values()[:depth]]
        asks = [list(level) for level in book.asks.values()[:depth]]
        return bids, asks

    # -- replay -----------------------------------------------------------------------------------------
    async def _replay(self, records: Iterator[Record]) -> None:
        clock = self.clock
        origin: tuple[int, int] | None = None
        count = 0
        try:
            for ts_recv_ns, stream, raw in records:
                if stream in _CATEGORIES and stream != self.category:
                    continue  # another category's public stream in a recording
                if origin is None:
                    origin = ts_recv_ns, clock.now_ns()
                due_ns = origin[1] + self._scaled(ts_recv_ns - origin[0])
                count += 1
                if due_ns > clock.now_ns():
                    # Never early. Waking up takes time, so everything that fell due meanwhile
                    # is published without sleeping again: the replay batches itself.
                    while (wait_ns := due_ns - clock.now_ns()) > 0:
                        await asyncio.sleep(wait_ns / NS_PER_S)
                elif count % _REPLAY_YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # behind schedule: still let the clients in
                self._replay_frame(raw, origin)
        except Exception as exc:  # a bad file must not die silently inside a task nobody awaits
            log.exception("the replay stopped", error=str(exc))
            self.replay_error = exc
        finally:
            self.replay_finished.set()

    def _scaled(self, record_ns: int) -> int:
        return 0 if math.isinf(self.speed) else int(record_ns / self.speed)

    def _replay_frame(self, raw: bytes, origin: tuple[int, int]) -> None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.warning("replayed frame is not JSON; skipped", frame=raw[:120])
            return
        topic = msg.get("topic") if isinstance(msg, dict) else None
        if not isinstance(topic, str) or topic.partition(".")[0] in _PRIVATE_PREFIXES:
            return  # control replies and our own private frames in a recording are not market data

        def restamp(ms: object) -> object:
            if type(ms) is not int:
                return ms
            return (origin[1] + self._scaled(ms * NS_PER_MS - origin[0])) // NS_PER_MS

        for key in ("ts", "cts"):
            if key in msg:
                msg[key] = restamp(msg[key])
        data = msg.get("data")
        if isinstance(data, list):
            for item in data:
                if isinstance(item, dict) and "T" in item:
                    item["T"] = restamp(item["T"])
        self._on_public_message(msg)

    # -- market data in ---------------------------------------------------------------------------------
    def _on_public_message(self, msg: dict[str, Any]) -> None:
        """Publish one public data message: to the views or subscribers, then to the matching engine."""
        topic: str = msg["topic"]
        prefix = topic.partition(".")[0]
        raw = orjson.dumps(msg)
        if prefix == "orderbook":
            if not self._on_book_message(topic, msg):
                return
        else:
            for conn in self._public_subs.get(topic, ()):
                conn.push(raw)
        if prefix in ("orderbook", "publicTrade"):
            now_ns = self.clock.now_ns()
            for event in self._codec.parse(raw, now_ns):
                self.sim.on_market(event, now_ns)
            self._pump()

    def _on_book_message(self, topic: str, msg: dict[str, Any]) -> bool:
        """Apply a source book message and send what each view of it shows; False if it is not the source."""
        parts = topic.split(".")
        data = msg.get("data")
        if len(parts) != 3 or not parts[1].isdigit() or not isinstance(data, dict):
            return False
        symbol, depth = parts[2], int(parts[1])
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = _Book(symbol, depth)
        elif book.depth != depth:
            if book.synced or msg.get("type") != "snapshot":
                return False  # another depth of a symbol whose source is set
            book.depth = depth  # the first snapshot decides (scripted knobs may have created the book)
        is_snapshot = msg.get("type") == "snapshot"
        try:
            touched = book.apply(data, is_snapshot)
        except (InvalidOperation, ValueError, TypeError) as exc:
            log.warning("unreadable book message; the book waits for a snapshot", topic=topic, error=str(exc))
            book.synced = False
            return False
        book.ts_ms = int(msg.get("ts") or book.ts_ms)
        book.cts_ms = int(msg.get("cts") or book.ts_ms)
        if touched is None:
            return True  # a delta before any snapshot: the matching engine decides what to do with it
        lost = False
        for view in self._views_of(symbol):
            subscribers = self._public_subs.get(view.topic, [])
            if is_snapshot or not view.synced:
                view.u = book.u if not view.synced or book.u == 1 else view.u + 1
                view.load(book)
                self._send_view_snapshot(view, subscribers, book.ts_ms)
                continue
            bids, asks = view.update(book, touched)
            if not bids and not asks:
                continue
            view.u += 1
            if book.lose_next:
                lost = True
                continue
            if view.depth == 1:
                self._send_view_snapshot(view, subscribers, book.ts_ms)
            else:
                frame = _book_frame(view.topic, "delta", book.ts_ms, symbol, bids, asks, view.u, book.seq, book.cts_ms)
                for conn in subscribers:
                    conn.push(frame)
        if lost:
            book.lose_next -= 1
        return True

    def _send_view_snapshot(self, view: _BookView, conns: Iterable[_Connection], ts_ms: int) -> None:
        book = self._books[view.symbol]
        bids, asks = view.snapshot_levels()
        frame = _book_frame(view.topic, "snapshot", ts_ms, view.symbol, bids, asks, view.u, book.seq, book.cts_ms)
        for conn in conns:
            conn.push(frame)

    def _views_of(self, symbol: str) -> list[_BookView]:
        return [view for view in self._views.values() if view.symbol == symbol]

    def _book(self, symbol: str) -> _Book:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = _Book(symbol, max(ORDERBOOK_DEPTHS[Category(self.category)]))
        return book

    # -- the simulator's output ---------------------------------------------------------------------------
    def _pump(self) -> None:
        """Deliver every frame SimBybit has due now and wake up for the next one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for _, stream, frame in self.sim.pop_due(self.clock.now_ns()):
            if stream == TRADE_STREAM:
                self._on_sim_reply(frame)
            elif stream == PRIVATE_STREAM:
                self._on_sim_push(frame)
        due = self.sim.next_due_ns()
        if due is not None:
            delay = max(0, due - self.clock.now_ns()) / NS_PER_S
            self._timer = asyncio.get_running_loop().call_later(delay, self._pump)

    def _on_sim_reply(self, frame: bytes) -> None:
        if not self._waiters:
            log.error("a trade reply nobody asked for; dropped", frame=frame[:200])
            return
        waiter = self._waiters.popleft()
        reply = orjson.loads(frame)
        if waiter.future is not None:
            if not waiter.future.done():
                waiter.future.set_result(reply)
            return
        assert waiter.conn is not None
        self._reply_to(waiter.conn, waiter.req_id, reply)

    def _reply_to(self, conn: _Connection, req_id: str, reply: dict[str, Any]) -> None:
        """Send a trade-API reply with the client's reqId (only if it sent one) and this connId, knobs applied."""
        reply.pop("reqId", None)
        if req_id:
            reply = {"reqId": req_id, **reply}
        reply["connId"] = conn.conn_id
        frame = orjson.dumps(reply)
        if self._lose_acks:
            self._lose_acks -= 1
            return
        link_id = (reply.get("data") or {}).get("orderLinkId", "")
        if self._exec_before_ack and reply.get("retCode") == 0 and reply.get("op") == "order.create" and link_id:
            self._exec_before_ack -= 1
            self._held_acks[link_id] = (conn, frame)
            return
        if self._ack_delays:
            asyncio.get_running_loop().call_later(self._ack_delays.popleft(), self._send, conn, frame)
            return
        self._send(conn, frame)

    def _on_sim_push(self, frame: bytes) -> None:
        msg = orjson.loads(frame)
        topic, records = msg["topic"], msg["data"]
        if topic == "order":
            for record in records:
                self._order_updates.append(record)
                self._orders[record["orderLinkId"]] = record
                self._link_of_order_id[record["orderId"]] = record["orderLinkId"]
        else:
            self._executions.extend(records)
        copies = 1
        if topic == "execution" and self._duplicate_executions:
            self._duplicate_executions -= 1
            copies = 2
        frames: dict[str, bytes] = {}
        for conn in self._connections:
            if conn.kind != "private" or not conn.authed:
                continue
            for name in conn.topics:
                base, fast = _private_base(name, self.category)
                if base != topic:
                    continue
                if name not in frames:
                    frames[name] = _fast_frame(name, msg) if fast else orjson.dumps({**msg, "topic": name})
                for _ in range(1 if fast else copies):
                    self._send(conn, frames[name])
        self._release_acks(topic, records)

    def _release_acks(self, topic: str, records: list[dict[str, Any]]) -> None:
        for record in records:
            if topic == "order" and record.get("orderStatus") not in _CLOSED_STATUSES:
                continue
            held = self._held_acks.pop(record.get("orderLinkId", ""), None)
            if held is not None:
                self._send(*held)

    def _send(self, conn: _Connection, frame: bytes) -> None:
        if conn.push(frame) and conn.kind != "public":
            self.wire_log.append((conn.kind, conn.conn_id, frame))

    # -- websockets ---------------------------------------------------------------------------------------
    async def _public_ws(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "public", request.match_info["category"])

    async def _private_ws(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "private", self.category)

    async def _trade_ws(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "trade", self.category)

    async def _serve(self, request: web.Request, kind: ConnectionKind, category: str) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 24)
        await ws.prepare(request)
        conn = _Connection(kind, category, f"fake-{kind}-{next(self._conn_numbers)}", ws, request.transport)
        self._connections.append(conn)
        writer = asyncio.get_running_loop().create_task(conn.write_loop())
        handle = {"public": self._on_public_frame, "private": self._on_private_frame, "trade": self._on_trade_frame}[
            kind
        ]
        try:
            async for msg in ws:
                if conn.stalled:
                    conn.frames_ignored += 1
                elif msg.type is WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    handle(conn, msg.data)
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self._forget(conn)
            conn.finish()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(writer, _CLOSE_TIMEOUT_S)
        return ws

    def _forget(self, conn: _Connection) -> None:
        if conn in self._connections:
            self._connections.remove(conn)
        for topic in conn.topics:
            self._unsubscribe_public(conn, topic)
        for link_id, (held_conn, _) in list(self._held_acks.items()):
            if held_conn is conn:
                del self._held_acks[link_id]

    # public
    def _on_public_frame(self, conn: _Connection, raw: str | bytes) -> None:
        try:
            req = parse_request(raw)
        except RequestError as exc:
            conn.push(self._public_ack(conn, "", "", f"error:{exc}"))
            return
        if req.op == "ping":
            pong: dict[str, Any] = {"success": True, "ret_msg": "pong", "conn_id": conn.conn_id}
            if req.req_id or conn.category != Category.SPOT:
                pong["req_id"] = req.req_id
            pong["op"] = "ping"
            conn.push(orjson.dumps(pong))
        elif req.op in ("subscribe", "unsubscribe"):
            self._public_subscription(conn, req)
        else:
            conn.push(self._public_ack(conn, req.req_id, req.op, f"error:invalid op {req.op}"))

    def _public_ack(self, conn: _Connection, req_id: str, op: str, error: str | None) -> bytes:
        spot = conn.category == Category.SPOT
        ack: dict[str, Any] = {
            "success": error is None,
            "ret_msg": error if error is not None else (op if spot else ""),
            "conn_id": conn.conn_id,
        }
        if req_id or not spot:
            ack["req_id"] = req_id
        ack["op"] = op
        return orjson.dumps(ack)

    def _public_subscription(self, conn: _Connection, req: ClientRequest) -> None:
        topics = list(req.args)
        subscribe = req.op == "subscribe"
        error = None
        if conn.category == Category.SPOT and len(topics) > SPOT_MAX_ARGS:
            error = f"args size >{SPOT_MAX_ARGS}"
        for topic in topics:
            if error is not None:
                break
            error = self._topic_error(conn, topic, subscribe, self._public_topic_valid)
        if error is not None:
            conn.push(self._public_ack(conn, req.req_id, req.op, error))
            return
        conn.push(self._public_ack(conn, req.req_id, req.op, None))
        for topic in topics:
            if not subscribe:
                if topic in conn.topics:
                    conn.topics.remove(topic)
                    self._unsubscribe_public(conn, topic)
                continue
            conn.topics.append(topic)
            self._public_subs.setdefault(topic, []).append(conn)
            if topic.startswith("orderbook."):
                self._attach_view(conn, topic)

    def _public_topic_valid(self, conn: _Connection, topic: str) -> bool:
        if conn.category != self.category:
            return False
        parts = topic.split(".")
        if parts[0] == "orderbook":
            return (
                len(parts) == 3 and parts[1].isdigit() and int(parts[1]) in self.book_depths and self._known(parts[2])
            )
        if parts[0] in ("publicTrade", "tickers", "priceLimit", "allLiquidation", "liquidation") and len(parts) == 2:
            return self._known(parts[1])
        return parts[0] == "kline" and len(parts) == 3 and self._known(parts[2])

    def _known(self, symbol: str) -> bool:
        try:
            validate_symbol(symbol)
        except ValueError:
            return False
        return not self.instruments or symbol in self.instruments

    def _attach_view(self, conn: _Connection, topic: str) -> None:
        view = self._views.get(topic)
        _, depth, symbol = topic.split(".")
        if view is None:
            view = self._views[topic] = _BookView(topic, symbol, int(depth))
            book = self._books.get(symbol)
            if book is not None and book.synced:
                view.load(book)
                view.u = book.u
        if view.synced:
            self._send_view_snapshot(view, [conn], self._books[symbol].ts_ms)

    def _unsubscribe_public(self, conn: _Connection, topic: str) -> None:
        subs = self._public_subs.get(topic)
        if subs is None or conn not in subs:
            return
        subs.remove(conn)
        if not subs:
            del self._public_subs[topic]
            self._views.pop(topic, None)

    def _topic_error(
        self, conn: _Connection, topic: object, subscribe: bool, valid: Callable[[_Connection, str], bool]
    ) -> str | None:
        """Why one topic of a (un)subscribe request fails, or None."""
        if type(topic) is not str or not topic:
            return f"error:invalid topic {topic!r}"
        if not subscribe:
            return None
        if not valid(conn, topic):
            return f"error:handler not found,topic:{topic}"
        if topic in conn.topics:
            return f"error:already subscribed,topic:{topic}"
        if self._refused_topics[topic]:
            self._refused_topics[topic] -= 1
            return f"error:subscription refused,topic:{topic}"
        return None

    # private
    def _on_private_frame(self, conn: _Connection, raw: str | bytes) -> None:
        try:
            req = parse_request(raw)
        except RequestError as exc:
            self._send(conn, _private_reply(conn, "", "", f"error:{exc}"))
            return
        if req.op == "ping":
            pong: dict[str, Any] = {"req_id": req.req_id} if req.req_id else {}
            pong.update(op="pong", args=[str(self.clock.now_ns() // NS_PER_MS)], conn_id=conn.conn_id)
            self._send(conn, orjson.dumps(pong))
        elif req.op == "auth":
            refusal = self._auth_error(req)
            conn.authed = conn.authed or refusal is None
            self._send(conn, _private_reply(conn, req.req_id, "auth", refusal[1] if refusal else None))
        elif req.op in ("subscribe", "unsubscribe"):
            self._private_subscription(conn, req)
        else:
            self._send(conn, _private_reply(conn, req.req_id, req.op, f"error:invalid op {req.op}"))

    def _private_subscription(self, conn: _Connection, req: ClientRequest) -> None:
        topics = list(req.args)
        subscribe = req.op == "subscribe"
        error = None if conn.authed else "Request not authorized"
        names = {topic for topic in topics if isinstance(topic, str)}
        for topic in topics:
            if error is not None:
                break
            error = self._topic_error(conn, topic, subscribe, lambda _c, t: t in _private_topics(self.category))
            base, _, suffix = str(topic).rpartition(".")
            if error is None and subscribe and suffix == self.category and base in names:
                error = f"error:{base} and {topic} cannot be subscribed in one request"
        self._send(conn, _private_reply(conn, req.req_id, req.op, error))
        if error is None:
            for topic in topics:
                if subscribe:
                    conn.topics.append(topic)
                elif topic in conn.topics:
                    conn.topics.remove(topic)

    def _auth_error(self, req: ClientRequest) -> tuple[int, str] | None:
        """Bybit's retCode and message for a failed websocket auth, or None if it succeeds."""
        if self._failed_auths:
            self._failed_auths -= 1
            return 10004, "Signature verification failed"
        args = req.args
        if len(args) != 3 or type(args[0]) is not str or type(args[1]) is not int or type(args[2]) is not str:
            return 10001, "Params Error"
        key, expires, signature = args
        if key != self.credentials.api_key:
            return 10003, "Invalid apikey"
        if expires <= self.clock.now_ns() // NS_PER_MS:
            return 10002, "Request expired"
        if not hmac.compare_digest(signature, ws_auth_signature(self.credentials.api_secret, expires)):
            return 10004, "Signature verification failed"
        return None

    # trade
    def _on_trade_frame(self, conn: _Connection, raw: str | bytes) -> None:
        try:
            req = parse_request(raw)
        except RequestError as exc:
            self._trade_reply(conn, "", "", 10001, str(exc))
            return
        if req.op == "ping":
            pong: dict[str, Any] = {"reqId": req.req_id} if req.req_id else {}
            pong.update(
                retCode=0, retMsg="OK", op="pong", data=[str(self.clock.now_ns() // NS_PER_MS)], connId=conn.conn_id
            )
            self._send(conn, orjson.dumps(pong))
        elif req.op == "auth":
            refusal = (20001, "already authenticated") if conn.authed else self._auth_error(req)
            conn.authed = conn.authed or refusal is None
            reply: dict[str, Any] = {"reqId": req.req_id} if req.req_id else {}
            reply.update(
                retCode=refusal[0] if refusal else 0,
                retMsg=refusal[1] if refusal else "OK",
                op="auth",
                connId=conn.conn_id,
            )
            self._send(conn, orjson.dumps(reply))
        elif not conn.authed:
            self._trade_reply(conn, req.req_id, req.op, 10003, "not authenticated: send op auth first")
        elif req.op not in ORDER_OPS:
            self._trade_reply(conn, req.req_id, req.op, 10404, f"op {req.op} is not supported here")
        elif req.req_id and req.req_id in conn.req_ids:
            self._trade_reply(conn, req.req_id, req.op, 20006, f"duplicate reqId {req.req_id}")
        else:
            if req.req_id:
                conn.req_ids.add(req.req_id)
            refusal = self._trade_header_error(req.header)
            if refusal is None and (len(req.args) != 1 or not isinstance(req.args[0], dict)):
                refusal = 10001, "args must hold exactly one order object"
            if refusal is None:
                params: dict[str, Any] = req.args[0]
                self.requests.append(FakeRequest("ws", req.op, req.req_id, params, self.clock.now_ns()))
                refusal = self._order_request(req.op, params, _Waiter(conn=conn, req_id=req.req_id))
            if refusal is not None:
                self._trade_reply(conn, req.req_id, req.op, *refusal)

    def _trade_header_error(self, header: Mapping[str, str]) -> tuple[int, str] | None:
        try:
            timestamp = int(header["X-BAPI-TIMESTAMP"])
            window = int(header.get("X-BAPI-RECV-WINDOW", DEFAULT_RECV_WINDOW_MS))
        except (KeyError, ValueError):
            return 10001, "header X-BAPI-TIMESTAMP (and X-BAPI-RECV-WINDOW if sent) must be integers"
        return self._timestamp_error(timestamp, window)

    def _timestamp_error(self, timestamp_ms: int, window_ms: int) -> tuple[int, str] | None:
        now_ms = self.clock.now_ns() // NS_PER_MS
        if not now_ms - window_ms <= timestamp_ms < now_ms + 1000:
            return 10002, (
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{timestamp_ms}],server_timestamp[{now_ms}],recv_window[{window_ms}]"
            )
        return None

    def _trade_reply(self, conn: _Connection, req_id: str, op: str, code: int, message: str) -> None:
        """A reply the fake makes itself (a refusal before matching), in the trade API's shape."""
        now_ms = self.clock.now_ns() // NS_PER_MS
        limit, remaining, reset = self._count_request(f"trade:{conn.conn_id}", TRADE_WS_LIMIT, now_ms)
        if code == 10006:
            remaining = 0
        reply = {
            "retCode": code,
            "retMsg": message,
            "op": op,
            "data": {},
            "retExtInfo": {},
            "header": {
                "X-Bapi-Limit": str(limit),
                "X-Bapi-Limit-Status": str(remaining),
                "X-Bapi-Limit-Reset-Timestamp": str(reset),
                "Traceid": f"fake{now_ms:028x}",
                "Timenow": str(now_ms),
            },
            "connId": conn.conn_id,
        }
        self._reply_to(conn, req_id, reply)

    # -- orders -------------------------------------------------------------------------------------------
    def _order_request(self, op: str, params: dict[str, Any], waiter: _Waiter) -> tuple[int, str] | None:
        """Hand one order request to the simulator (its reply goes to ``waiter``), or why not."""
        decoded = self._decode(op, params)
        if isinstance(decoded, tuple):
            return decoded
        self._waiters.append(waiter)
        self.sim.send(decoded)
        self._pump()
        return None

    def _decode(self, op: str, params: dict[str, Any]) -> OrderRequest | tuple[int, str]:
        if op == "order.create" and self._rejects:
            return self._rejects.popleft()
        if params.get("category") != self.category:
            return 10001, f"category {params.get('category')!r} is not served here; this exchange is {self.category}"
        order_id = params.get("orderId")
        if op != "order.create" and order_id:
            link_id = self._link_of_order_id.get(order_id) if isinstance(order_id, str) else None
            if link_id is None:
                return 110001, "order not exists or too late to cancel"
            params = {**params, "orderLinkId": link_id}
        link_id = params.get("orderLinkId")
        if isinstance(link_id, str) and link_id and not _ORDER_LINK_ID.fullmatch(link_id):
            return 10001, f"orderLinkId {link_id!r} is invalid: 1 to {MAX_ID_LENGTH} characters of [A-Za-z0-9_-]"
        try:
            return decode_order(ClientRequest(op=op, args=(params,)), self.instruments)
        except OrderDecodeError as exc:
            return exc.code, str(exc)

    async def _order_via_rest(self, op: str, params: dict[str, Any]) -> dict[str, Any]:
        """The simulator's reply to one request made over REST (or internally)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        refusal = self._order_request(op, params, _Waiter(future=future))
        if refusal is not None:
            return {"retCode": refusal[0], "retMsg": refusal[1], "data": {}}
        return await future

    # -- REST -----------------------------------------------------------------------------------------------
    def _rest_route(
        self, handler: _RestHandler, *, private: bool
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def route(request: web.Request) -> web.StreamResponse:
            return await self._rest(request, handler, private=private)

        return route

    async def _rest(self, request: web.Request, handler: _RestHandler, *, private: bool) -> web.StreamResponse:
        if self._rest_forbidden:
            self._rest_forbidden -= 1
            return web.Response(status=403, text="access too frequent")
        now_ms = self.clock.now_ns() // NS_PER_MS
        body = await request.text() if request.method == "POST" else ""
        headers: dict[str, str] = {}
        if private:
            limit = REST_LIMITS[request.path]
            key = request.headers.get("X-BAPI-API-KEY", "")
            limit, remaining, reset = self._count_request(f"rest:{key}:{request.path}", limit, now_ms)
            limited = self._rest_rate_limited > 0
            if limited:
                self._rest_rate_limited -= 1
                remaining, reset = 0, now_ms + 1000
            headers = {
                "X-Bapi-Limit": str(limit),
                "X-Bapi-Limit-Status": str(remaining),
                "X-Bapi-Limit-Reset-Timestamp": str(reset),
            }
            if limited:
                return self._envelope(10006, "Too many visits!", {}, headers)
            payload = body if request.method == "POST" else request.rel_url.raw_query_string
            refusal = self._rest_auth_error(request, payload)
            if refusal is not None:
                return self._envelope(*refusal, {}, headers)
        if request.method == "POST":
            try:
                params = orjson.loads(body)
            except orjson.JSONDecodeError:
                params = None
            if not isinstance(params, dict):
                return self._envelope(10001, "the body must be a JSON object", {}, headers)
        else:
            params = dict(request.query)
        code, message, result = await handler(params)
        if self._ack_delays and request.path in REST_LIMITS and request.method == "POST":
            await asyncio.sleep(self._ack_delays.popleft())
        return self._envelope(code, message, result, headers)

    def _envelope(self, code: int, message: str, result: dict[str, Any], headers: Mapping[str, str]) -> web.Response:
        body = {
            "retCode": code,
            "retMsg": message,
            "result": result,
            "retExtInfo": {},
            "time": self.clock.now_ns() // NS_PER_MS,
        }
        return web.Response(body=orjson.dumps(body), content_type="application/json", headers=headers)

    def _rest_auth_error(self, request: web.Request, payload: str) -> tuple[int, str] | None:
        headers = request.headers
        key = headers.get("X-BAPI-API-KEY", "")
        if key != self.credentials.api_key:
            return 10003, "API key is invalid."
        try:
            timestamp = int(headers["X-BAPI-TIMESTAMP"])
            window = int(headers.get("X-BAPI-RECV-WINDOW", DEFAULT_RECV_WINDOW_MS))
        except (KeyError, ValueError):
            return 10001, "X-BAPI-TIMESTAMP and X-BAPI-RECV-WINDOW must be integers"
        refusal = self._timestamp_error(timestamp, window)
        if refusal is not None:
            return refusal
        sign = headers.get("X-BAPI-SIGN", "")
        if timestamp <= 0 or window <= 0:
            return 10004, "error sign! the timestamp and recv_window must be positive"
        expected = rest_signature(self.credentials.api_secret, timestamp, key, window, payload)
        if not hmac.compare_digest(sign, expected):
            return 10004, "error sign! origin_string[" + f"{timestamp}{key}{window}{payload}" + "]"
        return None

    def _count_request(self, bucket: str, limit: int, now_ms: int) -> tuple[int, int, int]:
        """(limit, remaining, reset ms) after counting one request in the last second of ``bucket``."""
        recent = self._rate.setdefault(bucket, deque())
        recent.append(now_ms)
        while recent[0] <= now_ms - 1000:
            recent.popleft()
        remaining = max(limit - len(recent), 0)
        return limit, remaining, (recent[0] + 1000 if not remaining else now_ms)

    async def _rest_order_op(self, op: str, params: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        self.requests.append(FakeRequest("rest", op, "", params, self.clock.now_ns()))
        reply = await self._order_via_rest(op, params)
        return reply["retCode"], reply["retMsg"], reply.get("data") or {}

    async def _rest_create(self, params: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        return await self._rest_order_op("order.create", params)

    async def _rest_amend(self, params: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        return await self._rest_order_op("order.amend", params)

    async def _rest_cancel(self, params: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        return await self._rest_order_op("order.cancel", params)

    async def _rest_cancel_all(self, params: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        """Cancel the open orders named by symbol, baseCoin or settleCoin (in that priority), one by one."""
        self.requests.append(FakeRequest("rest", "order.cancel-all", "", params, self.clock.now_ns()))
        if params.get("category") != self.category:
            return 10001, f"category {params.get('category')!r} is not served here", {}
        symbol, base, settle = (str(params.get(k) or "") for k in ("symbol", "baseCoin", "settleCoin"))
        if not (symbol or base or settle) and self.category in ("linear", "inverse"):
            return 10001, "symbol, baseCoin or settleCoin is required", {}

        def named(order_symbol: str) -> bool:
            if symbol:
                return order_symbol == symbol
            if base:
                return _coins(order_symbol)[0] == base
            return not settle or order_symbol.endswith(settle)

        targets = [order for order in self.sim.matching.open_orders() if named(order.symbol)]
        cancelled: list[dict[str, str]] = []
        for order in targets:
            reply = await self._order_via_rest(
                "order.cancel",
                {"category": self.category, "symbol": order.symbol, "orderLinkId": order.client_order_id},
            )
            if reply["retCode"] == 0:
                cancelled.append({"orderId": order.order_id, "orderLinkId": order.client_order_id})
        return 0, "OK", {"list": cancelled, "success": "1"}

    async def _rest_realtime(self, params: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        """Open orders; with orderId/orderLinkId that order whatever its state; ``openOnly=1`` adds closed ones."""
        return self._order_query(params, open_only=params.get("openOnly", "0") != "1", closed_only=False)

    async def _rest_history(self, params: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        """Closed orders (with orderId/orderLinkId: that order whatever its state), newest first."""
        return self._order_query(params, open_only=False, closed_only=True)

    def _order_query(
        self, params: dict[str, Any], *, open_only: bool, closed_only: bool
    ) -> tuple[int, str, dict[str, Any]]:
        if params.get("category") != self.category:
            return 10001, f"category {params.get('category')!r} is not served here", {}
        named = bool(params.get("orderId") or params.get("orderLinkId"))
        items = [
            record
            for record in reversed(self._orders.values())
            if _matches(record, params)
            and (named or not (open_only and record["orderStatus"] in _CLOSED_STATUSES))
            and (named or not (closed_only and record["orderStatus"] not in _CLOSED_STATUSES))
        ]
        return _paged(items, params, default=20, maximum=50, category=self.category)

    async def _rest_executions(self, params: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        if params.get("category") != self.category:
            return 10001, f"category {params.get('category')!r} is not served here", {}
        items = [record for record in reversed(self._executions) if _matches(record, params)]
        return _paged(items, params, default=50, maximum=100, category=self.category)

    async def _rest_instruments(self, params: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        if params.get("category") != self.category:
            return 10001, f"category {params.get('category')!r} is not served here", {}
        symbol = params.get("symbol")
        items = [
            instrument_info(instrument, self.category)
            for name, instrument in sorted(self.instruments.items())
            if not symbol or name == symbol
        ]
        return 0, "OK", {"category": self.category, "list": items, "nextPageCursor": ""}

    async def _rest_time(self, params: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
        now_ns = self.clock.now_ns()
        return 0, "OK", {"timeSecond": str(now_ns // NS_PER_S), "timeNano": str(now_ns)}


# -- helpers --------------------------------------------------------------------------------------------------


def _matches(record: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    return all(not params.get(key) or record.get(key) == params[key] for key in ("symbol", "orderId", "orderLinkId"))


def _paged(
    items: list[dict[str, Any]], params: Mapping[str, Any], *, default: int, maximum: int, category: str
) -> tuple[int, str, dict[str, Any]]:
    """One page of ``items``; the cursor is the offset of the next page ("" at the end)."""
    try:
        limit = int(params.get("limit") or default)
        offset = int(params.get("cursor") or 0)
    except ValueError:
        return 10001, "limit and cursor must be integers", {}
    if not 1 <= limit <= maximum or offset < 0:
        return 10001, f"limit must be 1..{maximum}", {}
    page = items[offset : offset + limit]
    cursor = str(offset + limit) if offset + limit < len(items) else ""
    return 0, "OK", {"category": category, "list": page, "nextPageCursor": cursor}


def _private_reply(conn: _Connection, req_id: str, op: str, error: str | None) -> bytes:
    reply: dict[str, Any] = {"success": error is None, "ret_msg": error or ""}
    reply.update({"req_id": req_id} if req_id else {})
    reply.update(op=op, conn_id=conn.conn_id)
    return orjson.dumps(reply)


def _private_topics(category: str) -> frozenset[str]:
    bases = ("order", "execution", "execution.fast", "position")
    return frozenset(
        [*bases, "wallet", "greeks", "dcp.future", "dcp.spot", "dcp.option"] + [f"{base}.{category}" for base in bases]
    )


def _private_base(name: str, category: str) -> tuple[str, bool]:
    """The simulator topic a private subscription receives ("order"/"execution"), and whether it is the fast form."""
    name = name.removesuffix(f".{category}")
    if name == "execution.fast":
        return "execution", True
    return name, False


def _fast_frame(topic: str, msg: Mapping[str, Any]) -> bytes:
    """``execution.fast``: the few fields of each fill, ``orderLinkId`` empty for maker fills (as on Bybit)."""
    keys = (
        "category",
        "symbol",
        "orderId",
        "isMaker",
        "orderLinkId",
        "execId",
        "execPrice",
        "execQty",
        "side",
        "execTime",
        "seq",
    )
    data = []
    for record in msg["data"]:
        item = {key: record.get(key) for key in keys}
        if record.get("isMaker"):
            item["orderLinkId"] = ""
        data.append(item)
    return orjson.dumps({"topic": topic, "creationTime": msg["creationTime"], "data": data})


def _coins(symbol: str) -> tuple[str, str]:
    """(base, quote) of a symbol that ends in a known quote coin, else (symbol, "")."""
    for quote in _QUOTE_COINS:
        if symbol.endswith(quote) and symbol != quote:
            return symbol[: -len(quote)], quote
    return symbol, ""


def instrument_info(instrument: Instrument, category: str) -> dict[str, Any]:
    """One ``instruments-info`` item for ``instrument``, read back to the same rules by
    ``feeds.bybit.instruments.parse_instruments_info`` (limits it does not have are left out)."""
    price, qty = instrument.format_price, instrument.format_qty
    base, quote = _coins(instrument.symbol)
    tick = price(instrument.price_step_ticks)
    step = qty(instrument.qty_step_lots)
    min_notional = format(instrument.min_notional.normalize(), "f") if instrument.min_notional else "0"
    if category == "spot":
        lots: dict[str, str] = {"basePrecision": step, "quotePrecision": tick, "minOrderAmt": min_notional}
        if instrument.max_qty_lots is not None:
            lots["maxLimitOrderQty"] = qty(instrument.max_qty_lots)
        if instrument.max_market_qty_lots is not None:
            lots["maxMarketOrderQty"] = qty(instrument.max_market_qty_lots)
        return {
            "symbol": instrument.symbol,
            "baseCoin": base,
            "quoteCoin": quote,
            "status": "Trading",
            "marginTrading": "none",
            "stTag": "0",
            "lotSizeFilter": lots,
            "priceFilter": {"tickSize": tick},
        }
    lots = {"qtyStep": step, "minOrderQty": qty(instrument.min_qty_lots), "minNotionalValue": min_notional}
    if instrument.max_qty_lots is not None:
        lots["maxOrderQty"] = qty(instrument.max_qty_lots)
    if instrument.max_market_qty_lots is not None:
        lots["maxMktOrderQty"] = qty(instrument.max_market_qty_lots)
    max_price = instrument.price_floor(10 ** (instrument.price_scale + 7))
    return {
        "symbol": instrument.symbol,
        "contractType": "InversePerpetual" if category == "inverse" else "LinearPerpetual",
        "status": "Trading",
        "baseCoin": base,
        "quoteCoin": quote,
        "settleCoin": base if category == "inverse" else quote,
        "priceScale": str(instrument.price_scale),
        "priceFilter": {"minPrice": tick, "maxPrice": price(max_price), "tickSize": tick},
        "lotSizeFilter": lots,
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "fundingInterval": 480,
        "launchTime": "0",
        "deliveryTime": "0",
        "isPreListing": False,
    }
