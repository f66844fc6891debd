"""The live gateway: the engine's ``Venue`` on Bybit, over the trade websocket or REST.

``LiveVenue.send`` never blocks and never raises for a command Bybit refuses. Order commands
queue in the ``RateLimiter`` (cancels first, then amends, then new orders; FIFO within each) and
leave as its budgets allow, each written by ``encode_order`` (the one encoder, the backtest's
too) with a fresh signing timestamp at the moment it leaves:

* over the trade websocket while it is LIVE. Its replies come back through ``on_trade_frame``
  (the stream's ``on_frame``) into ``engine.handle``;
* over REST otherwise (demo accounts have no trade websocket; a trade socket that is down must
  not hold orders back). The same frame becomes the REST request (``rest_from_trade_frame``)
  and the answer becomes the ``TradeApiReplied`` the websocket would have sent, with the same
  ``req_id``: a refused REST create rejects the child exactly as a refused websocket reply does.

A request Bybit refuses for load (10006, 429, 403, a stale timestamp) is not the engine's
business: it goes back to the front of its class in the limiter (the limiter pauses the
endpoint until Bybit's reset) and leaves again, re-signed, when the pause lifts. Never dropped.
A request whose fate is unknown (no answer, 5xx) is never re-sent: the venue asks about it, as
for ``QueryOrder``; so is a create refused as a duplicate (110072: an order with its orderLinkId
exists), which must not reject the child.

``QueryOrder`` asks REST what became of one child: ``/v5/order/realtime`` (open and recent),
else ``/v5/order/history``, then every page of ``/v5/execution/list`` for it, and hands each
record to ``engine.handle`` as the event the stream would have carried (``recovered=True``). The
tracker books each execution once, whichever way it arrived; ``recovered_fills`` counts those it
first learned here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final

import structlog

from engine.clock import NS_PER_MS
from engine.commands import AmendOrder, CancelAllOrders, CancelOrder, Command, QueryOrder, SubmitOrder
from engine.engine import Engine
from engine.enums import ConnectionState
from engine.events import Event, OrderFilled, OrderUpdated, TradeApiReplied
from engine.ids import request_id
from engine.instrument import Instrument
from feeds.bybit.auth import Credentials
from feeds.bybit.codec import BybitCodec
from feeds.bybit.live.connection import BybitStream, StreamNotLiveError, StreamSpec, StreamTiming
from feeds.bybit.live.rest_client import RestClient, RestTransportError
from feeds.bybit.order_wire import OrderRequest, encode_order
from feeds.bybit.ratelimit import Priority, RateLimiter
from feeds.bybit.rest import (
    PATH_ORDER_AMEND,
    PATH_ORDER_CANCEL,
    PATH_ORDER_CANCEL_ALL,
    PATH_ORDER_CREATE,
    CursorPager,
    ErrorAction,
    RestError,
    RestRequest,
    RestResponse,
    cancel_all_orders,
    classify,
    fills_page,
    get_executions,
    get_open_orders,
    get_order_history,
    order_updates_page,
    rest_from_trade_frame,
)
from feeds.bybit.topics import parse_category

__all__ = ["LiveVenue", "VenueCounters"]

log = structlog.get_logger("feeds.bybit.live.venue")

_ROUTES: Final[Mapping[type, tuple[str, str, Priority]]] = {
    SubmitOrder: ("order.create", PATH_ORDER_CREATE, Priority.CREATE),
    AmendOrder: ("order.amend", PATH_ORDER_AMEND, Priority.AMEND),
    CancelOrder: ("order.cancel", PATH_ORDER_CANCEL, Priority.CANCEL),
    CancelAllOrders: ("order.cancel-all", PATH_ORDER_CANCEL_ALL, Priority.CANCEL),
}
_CODE_UNWRITABLE: Final = 10001
"""The code of the refusal made up for a command that cannot be written (no rules for its symbol)."""
_QUERY_ATTEMPTS: Final = 5
_QUERY_BACKOFF_S: Final = 0.2
_RETRY_ON_WS: Final = frozenset({ErrorAction.RETRY_AFTER_RESET, ErrorAction.BACKOFF})


@dataclass(slots=True)
class _Pending:
    """One queued order request: its command and how many times Bybit sent it back for load."""

    command: OrderRequest | CancelAllOrders
    op: str
    endpoint: str
    priority: Priority
    base_req_id: str
    attempt: int = 0

    @property
    def req_id(self) -> str:
        """The first attempt's reqId (``engine.ids.request_id``), then ``<prefix>r<n>:<child>`` for retries:
        the trade socket refuses a reqId it has seen (20006), and every form maps back to the child."""
        if self.attempt == 0:
            return self.base_req_id
        prefix, colon, child = self.base_req_id.partition(":")
        return f"{prefix}r{self.attempt}:{child}" if colon else f"r{self.attempt}:{self.base_req_id}"


@dataclass(slots=True)
class VenueCounters:
    sent_ws: int = 0  # order requests written to the trade websocket
    sent_rest: int = 0  # order requests sent over REST
    retried: int = 0  # requests Bybit sent back for load (10006, 429, 403...) and queued again
    queries: int = 0  # QueryOrder runs (and unknown outcomes resolved the same way)
    recovered_updates: int = 0  # order records read over REST
    recovered_fills: int = 0  # fills the tracker first learned over REST
    unwritable: int = 0  # commands refused locally (no instrument for the symbol, a bad value)
    failures: list[str] = field(default_factory=list)  # why a query or a request could not be settled


class LiveVenue:
    """The engine's ``Venue`` on Bybit; see the module doc.

    ``trade``: the trade websocket's spec (``trade_stream_spec``), or None to send every order over
    REST. ``rest``: the REST client; its limiter is the one the orders queue in. ``instruments``:
    rules for symbols the engine has no book for yet (the engine's book's rules come first).
    ``start()`` (or ``async with``) runs the trade stream and the sender; ``close()`` stops them.
    """

    def __init__(
        self,
        engine: Engine,
        credentials: Credentials,
        rest: RestClient,
        *,
        category: str,
        trade: StreamSpec | None = None,
        timing: StreamTiming | None = None,
        instruments: Mapping[str, Instrument] | None = None,
    ) -> None:
        self.engine = engine
        self.credentials = credentials
        self.rest = rest
        self.category = parse_category(category).value
        self.limiter: RateLimiter[_Pending] = rest.limiter
        self.counters = VenueCounters()
        self.trade_stream: BybitStream | None = None
        if trade is not None:
            self.trade_stream = BybitStream(
                trade, on_frame=self.on_trade_frame, timing=timing, parse=BybitCodec().parse, clock=engine.clock
            )
        self._instruments = dict(instruments or {})
        self._amends: dict[str, int] = {}
        self._on_ws: dict[str, _Pending] = {}  # reqId -> request written to the trade socket, until its reply
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._sender is not None:
            raise RuntimeError("LiveVenue already started")
        if self.trade_stream is not None:
            self.trade_stream.start()
        self._sender = asyncio.create_task(self._send_loop(), name="bybit-live-venue")

    async def close(self) -> None:
        sender, self._sender = self._sender, None
        tasks = [*self._tasks, *([sender] if sender is not None else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.trade_stream is not None:
            await self.trade_stream.close()

    async def __aenter__(self) -> LiveVenue:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def pending(self) -> int:
        """Requests still queued in the limiter plus REST calls and queries in flight."""
        return self.limiter.pending() + len(self._tasks)

    async def wait_idle(self) -> None:
        """Return once nothing is queued or in flight (wrap it in ``asyncio.timeout``)."""
        while self.pending:
            self._idle.clear()
            await self._idle.wait()

    # -- Venue -------------------------------------------------------------------------------------
    def send(self, command: Command) -> None:
        """Queue an order command in the limiter, or start a query; other commands are not the venue's."""
        if isinstance(command, QueryOrder):
            self._forget_ws_requests(command.client_order_id)
            self._spawn(self._query(command.client_order_id, command.symbol, command.reason))
            return
        route = _ROUTES.get(type(command))
        if route is None:
            log.debug("command ignored by the venue", command=type(command).__name__)
            return
        assert isinstance(command, SubmitOrder | AmendOrder | CancelOrder | CancelAllOrders)
        op, endpoint, priority = route
        self.limiter.submit(endpoint, priority, _Pending(command, op, endpoint, priority, self._req_id_of(command)))
        self._wake.set()

    def _forget_ws_requests(self, client_order_id: str) -> None:
        """Requests of a child being queried get no reply worth waiting for (it was lost, or the socket died)."""
        for req_id, pending in list(self._on_ws.items()):
            if getattr(pending.command, "client_order_id", None) == client_order_id:
                del self._on_ws[req_id]

    def _req_id_of(self, command: OrderRequest | CancelAllOrders) -> str:
        if isinstance(command, CancelAllOrders):
            return ""
        if isinstance(command, AmendOrder):
            attempt = self._amends.get(command.client_order_id, 0)
            self._amends[command.client_order_id] = attempt + 1
            return request_id("order.amend", command.client_order_id, attempt)
        return request_id(_ROUTES[type(command)][0], command.client_order_id)

    # -- the trade socket's frames ---------------------------------------------------------------------
    def on_trade_frame(self, raw: bytes, ts_recv_ns: int, events: list[Event]) -> None:
        """The trade stream's ``on_frame``: replies go to the engine, except refusals for load (queued again)."""
        for event in events:
            if isinstance(event, TradeApiReplied):
                pending = self._on_ws.pop(event.req_id, None)
                if pending is not None:
                    self.limiter.on_headers(
                        pending.endpoint,
                        event.limit,
                        event.limit_remaining,
                        None if event.limit_reset_ms is None else self.rest.local_ms(event.limit_reset_ms),
                    )
                if pending is not None and _action(event.ret_code) in _RETRY_ON_WS:
                    reset = None if event.limit_reset_ms is None else self.rest.local_ms(event.limit_reset_ms)
                    self.limiter.on_rate_limited(pending.endpoint, reset, self.rest.now_ms())
                    self._retry(pending)
                    continue
                if pending is not None and _already_placed(pending, _action(event.ret_code)):
                    self._unknown_outcome(pending, f"retCode {event.ret_code} {event.message}")
                    continue
            self.engine.handle(event)

    # -- sending -------------------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        while True:
            now_ms = self.rest.now_ms()
            for _, pending in self.limiter.release(now_ms):
                self._dispatch(pending)
            self._notify_idle()
            self._wake.clear()
            next_ms = self.limiter.next_release_ms(self.rest.now_ms())
            timeout = None if next_ms is None else max(0.0, (next_ms - self.rest.now_ms()) / 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _dispatch(self, pending: _Pending) -> None:
        command = pending.command
        if isinstance(command, CancelAllOrders):
            self._spawn(self._cancel_all(pending))
            return
        frame = self._encode(pending, command)
        if frame is None:
            return
        stream = self.trade_stream
        if stream is not None and stream.state is ConnectionState.LIVE:
            try:
                stream.send(frame)
            except StreamNotLiveError:
                pass
            else:
                self._on_ws[pending.req_id] = pending
                self.counters.sent_ws += 1
                return
        self._spawn(self._send_rest(pending, frame))

    def _encode(self, pending: _Pending, command: OrderRequest) -> bytes | None:
        instrument = self._instrument(command.symbol)
        problem = f"no instrument rules for {command.symbol}"
        if instrument is not None:
            try:
                return encode_order(
                    command,
                    instrument,
                    category=self.category,
                    req_id=pending.req_id,
                    timestamp_ms=self.rest.signing_timestamp_ms(),
                )
            except ValueError as exc:
                problem = f"the request cannot be written: {exc}"
        self.counters.unwritable += 1
        log.error("order request not sent", order=command.client_order_id, problem=problem)
        self._reply(pending, _CODE_UNWRITABLE, problem, None)
        return None

    def _instrument(self, symbol: str) -> Instrument | None:
        book = self.engine.books.book(symbol)
        if book is not None and book.instrument is not None:
            return book.instrument
        return self._instruments.get(symbol)

    async def _send_rest(self, pending: _Pending, frame: bytes) -> None:
        self.counters.sent_rest += 1
        try:
            response = await self.rest.call(rest_from_trade_frame(frame, self.credentials))
        except (RestTransportError, RestError) as exc:
            self._unknown_outcome(pending, str(exc))
            return
        action = response.action
        if action.retryable or action is ErrorAction.IP_BANNED:
            if action is ErrorAction.RESYNC_CLOCK:
                await self._resync_clock()
            self._retry(pending)
            return
        if action is ErrorAction.RECONCILE or _already_placed(pending, action):
            self._unknown_outcome(pending, f"retCode {response.ret_code} {response.ret_msg}")
            return
        self._reply(pending, response.ret_code or 0, response.ret_msg, response)

    def _reply(self, pending: _Pending, code: int, message: str, response: RestResponse | None) -> None:
        """What the trade socket would have answered: the same event, so the tracker cannot tell."""
        now_ns = self.engine.clock.now_ns()
        result = response.result if response is not None else {}
        limit = response.rate_limit if response is not None else None
        order_id, link_id = result.get("orderId", ""), result.get("orderLinkId", "")
        self.engine.handle(
            TradeApiReplied(
                ts_event_ns=response.time_ms * NS_PER_MS if response is not None and response.time_ms else now_ns,
                ts_recv_ns=now_ns,
                op=pending.op,
                ret_code=code,
                message=message,
                req_id=pending.req_id,
                order_id=order_id if isinstance(order_id, str) else "",
                order_link_id=link_id if isinstance(link_id, str) else "",
                limit=None if limit is None else limit.limit,
                limit_remaining=None if limit is None else limit.remaining,
                limit_reset_ms=None if limit is None else limit.reset_ms,
            )
        )

    def _retry(self, pending: _Pending) -> None:
        self.counters.retried += 1
        pending.attempt += 1
        log.warning("request sent back for load; queued again", op=pending.op, req_id=pending.req_id)
        self.limiter.retry(pending.endpoint, pending.priority, pending)
        self._wake.set()

    def _unknown_outcome(self, pending: _Pending, why: str) -> None:
        """No readable answer: the request may or may not have taken effect. Ask, never re-send."""
        command = pending.command
        log.warning("order request outcome unknown; querying", op=pending.op, why=why)
        if isinstance(command, CancelAllOrders):
            self.counters.failures.append(f"cancel-all {command.symbol}: {why}")
            return
        self._spawn(self._query(command.client_order_id, command.symbol, f"{pending.op}: {why}"))

    async def _cancel_all(self, pending: _Pending) -> None:
        command = pending.command
        self.counters.sent_rest += 1
        request = cancel_all_orders(
            self.credentials, self.rest.signing_timestamp_ms(), category=self.category, symbol=command.symbol
        )
        try:
            response = await self.rest.call(request)
        except (RestTransportError, RestError) as exc:
            self._unknown_outcome(pending, str(exc))
            return
        if response.action.retryable or response.action is ErrorAction.IP_BANNED:
            if response.action is ErrorAction.RESYNC_CLOCK:
                await self._resync_clock()
            self._retry(pending)
        elif not response.ok:
            self.counters.failures.append(f"cancel-all {command.symbol}: {response.ret_code} {response.ret_msg}")

    async def _resync_clock(self) -> None:
        with contextlib.suppress(RestTransportError, RestError):
            await self.rest.sync_clock()

    # -- queries -------------------------------------------------------------------------------------
    async def _query(self, client_order_id: str, symbol: str, why: str) -> None:
        """order/realtime, else order/history, then execution/list: every record to the engine (recovered)."""
        self.counters.queries += 1
        log.info("querying an order over REST", order=client_order_id, why=why)
        try:
            updates = await self._order_records(client_order_id, symbol)
            for update in updates:
                self.counters.recovered_updates += 1
                self.engine.handle(update)
            for fill in await self._fill_records(client_order_id, symbol):
                before = self.engine.orders.duplicate_fills
                self.engine.handle(fill)
                if self.engine.orders.duplicate_fills == before:
                    self.counters.recovered_fills += 1
        except (RestTransportError, RestError, _Unanswered) as exc:
            self.counters.failures.append(f"query {client_order_id}: {exc}")
            log.error("order query failed", order=client_order_id, error=str(exc))

    async def _order_records(self, client_order_id: str, symbol: str) -> list[OrderUpdated]:
        for build in (get_open_orders, get_order_history):

            def request(build: _OrderQuery = build) -> RestRequest:
                return build(
                    self.credentials,
                    self.rest.signing_timestamp_ms(),
                    category=self.category,
                    symbol=symbol,
                    order_link_id=client_order_id,
                )

            page = order_updates_page(await self._read(request), self.engine.clock.now_ns(), category=self.category)
            if page.items:
                return list(page.items)
        return []

    async def _fill_records(self, client_order_id: str, symbol: str) -> list[OrderFilled]:
        pager = CursorPager()
        fills: list[OrderFilled] = []
        while not pager.done:
            cursor = pager.cursor

            def request(cursor: str | None = cursor) -> RestRequest:
                return get_executions(
                    self.credentials,
                    self.rest.signing_timestamp_ms(),
                    category=self.category,
                    symbol=symbol,
                    order_link_id=client_order_id,
                    cursor=cursor,
                )

            page = fills_page(await self._read(request), self.engine.clock.now_ns(), category=self.category)
            fills.extend(page.items)
            pager.advance(page)
        fills.reverse()  # Bybit lists newest first; book them in the order they happened
        return fills

    async def _read(self, build: Callable[[], RestRequest]) -> RestResponse:
        """One query answer, re-signed and asked again (a few times, after a pause) while Bybit refuses it for load."""
        for attempt in range(_QUERY_ATTEMPTS):
            request = build()
            response = await self.rest.call(request)
            action = response.action
            if response.ok:
                return response
            if not (action.retryable or action is ErrorAction.RECONCILE):
                break
            if action is ErrorAction.RESYNC_CLOCK:
                await self._resync_clock()
            pause_ms = max(0, (self.limiter.next_release_ms(self.rest.now_ms()) or 0) - self.rest.now_ms())
            await asyncio.sleep(max(pause_ms / 1000, _QUERY_BACKOFF_S * (attempt + 1)))
        raise _Unanswered(
            f"{request.method} {request.path}: HTTP {response.http_status}, "
            f"retCode {response.ret_code} {response.ret_msg!r}"
        )

    # -- plumbing -------------------------------------------------------------------------------------
    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("venue task failed", error=repr(task.exception()))
            self.counters.failures.append(repr(task.exception()))
        self._notify_idle()

    def _notify_idle(self) -> None:
        if not self.pending:
            self._idle.set()


class _Unanswered(Exception):
    """A query Bybit kept refusing; the message names the endpoint and Bybit's answer, nothing secret."""


_OrderQuery = Callable[..., RestRequest]


def _already_placed(pending: _Pending, action: ErrorAction) -> bool:
    """A create refused as a duplicate: an order with this orderLinkId exists (an earlier send got
    through). Rejecting the child would lose track of a live order; it is queried instead."""
    return pending.op == "order.create" and action is ErrorAction.DUPLICATE


def _action(ret_code: int) -> ErrorAction:
    return classify(200, ret_code)
