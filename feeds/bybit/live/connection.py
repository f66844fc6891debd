"""One Bybit v5 websocket kept alive for good: connect, authenticate, subscribe, heartbeat, reconnect.

``BybitStream`` is the only code that touches a socket; everything it decides is a small state
machine (``ConnectionState``) driven by three loops per connection: a reader (frames in, replies
matched to requests), a writer (frames out, in order) and a watchdog (pings and deadlines). The
first loop to fail ends the connection, the stream says why in a ``ConnectionStateChanged``, waits
a jittered backoff and starts again: re-authenticates and resubscribes everything.

Why each rule exists (see docs/bybit_v5.md sections 2-3 and the peers' traps):

* Every topic is subscribed in a request of its own and every ack is checked, because a refused
  request may have subscribed none of its topics and Bybit's answer to a bad topic is otherwise
  silence. A refusal is logged and reported, the other topics stay up, and the topic is asked
  for again on the next connection.
* The JSON ping is Bybit's own heartbeat (every 20 s); a missing pong means the socket is dead
  even if TCP has not noticed.
* A socket can stay up, answer pings and still stop delivering data (nautilus#4298). A stream
  with a known cadence therefore also watches *data* silence; replies and pongs do not count.
* A request that is never answered (auth, subscribe) is a dead session as well: a deadline.
* One topic can be resubscribed without touching the others: Bybit answers a subscribe with a
  fresh snapshot, which is how a book that saw a gap gets whole again.

Frames go out through a queue that belongs to one connection: what was queued when it died is
dropped, never replayed on the next one (the new session re-subscribes from scratch; an order
frame's fate is found by the order tracker's ack deadline, never by sending it twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from types import TracebackType
from typing import Final, NoReturn

import msgspec
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from engine.clock import NS_PER_MS, Clock, LiveClock
from engine.enums import ConnectionState
from engine.events import AuthReplied, ConnectionStateChanged, Event, PongReceived, SubscriptionReplied
from feeds.bybit import outgoing
from feeds.bybit.auth import Credentials
from feeds.bybit.codec import BybitCodec
from feeds.bybit.live.backoff import Backoff
from feeds.bybit.topics import Category, Environment, parse_category, private_url, public_url, trade_url

__all__ = [
    "BybitStream",
    "StreamSpec",
    "StreamTiming",
    "StreamCounters",
    "StreamError",
    "AuthRefusedError",
    "StreamNotLiveError",
    "StreamCallbackError",
    "FrameHandler",
    "EventSink",
    "Parser",
    "DEFAULT_PUBLIC_MAX_SILENCE_S",
    "public_stream_spec",
    "private_stream_spec",
    "trade_stream_spec",
]

log = structlog.get_logger("feeds.bybit.live")

FrameHandler = Callable[[bytes, int, list[Event]], None]
"""``(raw frame, ts_recv_ns, its events)``, for every frame received. Subscription replies in the
events already name the topics of the request they answer (see ``BybitStream``)."""

EventSink = Callable[[Event], None]
Parser = Callable[[bytes, int], list[Event]]

DEFAULT_PUBLIC_MAX_SILENCE_S: Final = 30.0
"""Public streams push tickers several times a second; half a minute of nothing is a dead feed."""

_CONTROL_TYPES: Final = (PongReceived, SubscriptionReplied, AuthReplied)


# -- configuration ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamTiming:
    """Heartbeat, deadlines and backoff, in seconds. Defaults follow Bybit's advice and pybit's."""

    ping_interval_s: float = 20.0
    pong_timeout_s: float = 10.0
    reply_timeout_s: float = 10.0
    """Longest wait for an auth or subscribe/unsubscribe reply before the session counts as dead."""
    open_timeout_s: float = 10.0
    close_timeout_s: float = 2.0
    """Closing handshake limit: a dead peer must not delay the reconnect by websockets' default 10 s."""
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    auth_window_s: float = 10.0
    """Auth ``expires`` = now + this: tolerates a local clock that far behind Bybit's."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if type(value) not in (int, float) or not (math.isfinite(value) and value > 0):
                raise ValueError(f"StreamTiming.{item.name} must be a positive number of seconds, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamSpec:
    """What one connection is: its name in events and logs, where it goes, what it subscribes.

    ``scope`` is the ``Category`` of a public stream or ``outgoing.PRIVATE`` (it decides how
    subscribe requests are chunked). ``credentials`` make the stream authenticate first.
    ``max_silence_s`` is the longest gap between data frames that is still normal for these
    topics; None for streams that are legitimately quiet (private, trade).
    """

    name: str
    url: str
    scope: Category | str
    topics: tuple[str, ...] = ()
    credentials: Credentials | None = None
    max_silence_s: float | None = None

    def __post_init__(self) -> None:
        if self.max_silence_s is not None and not self.max_silence_s > 0:
            raise ValueError(f"max_silence_s must be positive or None, got {self.max_silence_s!r}")
        if len(set(self.topics)) != len(self.topics):
            raise ValueError(f"duplicate topics in stream {self.name!r}")


def public_stream_spec(
    category: Category | str,
    topics: tuple[str, ...],
    *,
    env: Environment | str,
    max_silence_s: float | None = DEFAULT_PUBLIC_MAX_SILENCE_S,
) -> StreamSpec:
    """Market data of one category (one public connection serves exactly one)."""
    cat = parse_category(category)
    return StreamSpec(
        name=f"public.{cat.value}", url=public_url(cat, env), scope=cat, topics=topics, max_silence_s=max_silence_s
    )


def private_stream_spec(credentials: Credentials, topics: tuple[str, ...], *, env: Environment | str) -> StreamSpec:
    """Order, execution, position, wallet: authenticated, quiet while we do not trade."""
    return StreamSpec(
        name="private", url=private_url(env), scope=outgoing.PRIVATE, topics=topics, credentials=credentials
    )


def trade_stream_spec(credentials: Credentials, *, env: Environment | str) -> StreamSpec:
    """Order entry: authenticated, no subscriptions; frames go out with ``BybitStream.send``."""
    return StreamSpec(name="trade", url=trade_url(env), scope=outgoing.PRIVATE, credentials=credentials)


@dataclass(slots=True)
class StreamCounters:
    """Monotonic totals over the stream's life, for health checks and tests."""

    connects: int = 0  # websocket handshakes that succeeded
    reconnects: int = 0  # connection attempts after the first
    frames: int = 0  # frames received
    pongs_missed: int = 0
    stalls: int = 0  # reconnects because data stopped while the socket was up
    resubscribes: int = 0  # single-topic resubscriptions started
    subscriptions_refused: int = 0  # topics Bybit refused (each refusal counts)
    auth_failures: int = 0


# -- errors --------------------------------------------------------------------------------------------


class StreamError(Exception):
    """Base of the errors a stream reports to its owner."""


class AuthRefusedError(StreamError):
    """Bybit refused the credentials. Usually a configuration error (10003 wrong key or environment,
    10004 bad signature): a one-shot command should stop on it; a daemon may keep the stream retrying.
    """

    def __init__(self, stream: str, reply: AuthReplied) -> None:
        self.reply = reply
        super().__init__(
            f"{stream}: authentication refused (retCode {reply.ret_code}: {reply.message or 'no message'})"
        )


class StreamCallbackError(StreamError):
    """``on_frame`` or ``on_event`` raised: a bug in the owner, never mistaken for a network fault.

    Without the wrapper an ``OSError`` from, say, a full disk under a frame recorder would look
    like a failed connection and be retried forever. The original is the ``__cause__``.
    """


class StreamNotLiveError(StreamError):
    """The stream cannot take a frame now (not connected, or not yet authenticated and subscribed)."""


class _ConnectionLost(Exception):
    """Ends one connection; the stream reconnects. The message is the reason everyone sees."""


@dataclass(slots=True)
class _Request:
    """An auth or (un)subscribe request waiting for its reply."""

    op: str
    topic: str  # "" for auth
    deadline: float  # loop time
    resubscribe: bool = False  # a step of a single-topic resubscription, not of the session's start


@dataclass(slots=True)
class _Session:
    """What belongs to one connection and dies with it."""

    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    pending: dict[str, _Request] = field(default_factory=dict)
    resubscribing: set[str] = field(default_factory=set)
    next_ping: float = 0.0
    pong_due: float | None = None
    data_due: float | None = None  # armed once LIVE, on streams with a known cadence
    live_since: float | None = None
    abort: BaseException | None = None  # set by a reply handler, raised by the reader after delivery


# -- the stream ------------------------------------------------------------------------------------------


class BybitStream:
    """One websocket connection, reconnected forever until ``close()``.

    ``on_frame`` gets every received frame with its receive time and the events ``parse`` made
    of it (the owner feeds them to the engine); subscription replies among them are rewritten so
    that ``succeeded_topics``/``failed_topics`` name the topics of the request they answer.
    ``on_event`` gets the stream's own reports: ``ConnectionStateChanged``, in order.
    An exception raised by either callback is a bug: it stops the stream and re-raises, as a
    ``StreamCallbackError``, from ``close()``/``wait_live()`` instead of being retried forever.
    """

    def __init__(
        self,
        spec: StreamSpec,
        *,
        on_frame: FrameHandler,
        on_event: EventSink | None = None,
        timing: StreamTiming | None = None,
        parse: Parser | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.spec = spec
        self.timing = timing if timing is not None else StreamTiming()
        self.state = ConnectionState.DISCONNECTED
        self.counters = StreamCounters()
        self.subscribed: set[str] = set()
        """Topics Bybit acknowledged on the current connection."""
        self.refused: dict[str, str] = {}
        """Topics Bybit refused on the current connection, with its message; retried on the next one."""
        self.auth_error: AuthRefusedError | None = None
        """The last authentication refusal; cleared by a successful authentication."""
        self._on_frame = on_frame
        self._on_event = on_event if on_event is not None else _discard
        self._parse: Parser = parse if parse is not None else BybitCodec().parse
        self._clock: Clock = clock if clock is not None else LiveClock()
        self._backoff = Backoff(self.timing.backoff_base_s, self.timing.backoff_cap_s, rng)
        self._session: _Session | None = None
        self._task: asyncio.Task[None] | None = None
        self._request_ids = itertools.count(1)
        self._state_changed = asyncio.Event()
        silence = spec.max_silence_s if spec.max_silence_s is not None else math.inf
        t = self.timing
        self._tick = min(t.ping_interval_s, t.pong_timeout_s, t.reply_timeout_s, silence) / 4
        """Longest watchdog sleep: a deadline set while it sleeps fires at most this late."""

    # -- owner's API --------------------------------------------------------------------------------
    def start(self) -> None:
        """Run the stream in a background task (needs a running loop)."""
        if self._task is not None:
            raise RuntimeError(f"stream {self.spec.name!r} already started")
        self._task = asyncio.create_task(self.run(), name=f"bybit-stream-{self.spec.name}")
        self._task.add_done_callback(lambda _: self._notify_waiters())

    async def close(self) -> None:
        """Stop: cancel the loops, close the socket, report DISCONNECTED. Re-raises a callback's bug."""
        task, self._task = self._task, None
        try:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            self._set_state(ConnectionState.DISCONNECTED, "closed")

    async def __aenter__(self) -> BybitStream:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def wait_live(self) -> None:
        """Return once the stream is LIVE (wrap it in ``asyncio.timeout``).

        Raises ``AuthRefusedError`` as soon as Bybit refuses the credentials: the stream keeps
        retrying, but a one-shot command should treat it as fatal. Raises the background task's
        exception if it died.
        """
        while self.state is not ConnectionState.LIVE:
            if self.auth_error is not None:
                raise self.auth_error
            if self._task is not None and self._task.done():
                self._task.result()
                raise StreamNotLiveError(f"stream {self.spec.name!r} has stopped")
            await self._state_changed.wait()

    def send(self, frame: bytes | str) -> None:
        """Queue one frame (a trade-API order, say) on the live connection, or raise ``StreamNotLiveError``.

        A frame queued when the connection dies is dropped with it, never re-sent.
        """
        session = self._session
        if session is None or self.state is not ConnectionState.LIVE:
            raise StreamNotLiveError(f"stream {self.spec.name!r} is {self.state.value}")
        session.outbox.put_nowait(frame.decode() if isinstance(frame, bytes) else frame)

    def resubscribe(self, topic: str) -> bool:
        """Unsubscribe and subscribe ``topic`` alone, so Bybit sends a fresh snapshot; the rest stays up.

        Done only for a topic acknowledged on this connection and not already being resubscribed:
        in every other case a fresh subscription (pending ack or next connection) is already on
        its way. Returns whether a resubscription started. If Bybit refuses the new subscription,
        the stream reconnects, the other documented way to get a fresh snapshot.
        """
        session = self._session
        if session is None or topic not in self.subscribed or topic in session.resubscribing:
            return False
        session.resubscribing.add(topic)
        self.counters.resubscribes += 1
        log.info("resubscribing", stream=self.spec.name, topic=topic)
        self._request(session, "unsubscribe", (topic,), resubscribe=True)
        return True

    # -- the reconnect loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect and stay connected, whatever happens to the socket, until cancelled."""
        reason = "starting"
        while True:
            ended = await self._connect_once(reason)
            self._set_state(ConnectionState.DISCONNECTED, ended)
            delay = self._backoff.next_delay()
            log.warning("stream disconnected", stream=self.spec.name, reason=ended, retry_in_s=round(delay, 3))
            await asyncio.sleep(delay)
            self.counters.reconnects += 1
            reason = f"reconnect #{self.counters.reconnects} after {delay:.3f} s ({ended})"

    async def _connect_once(self, reason: str) -> str:
        """One connection from handshake to death; returns why it ended."""
        self._set_state(ConnectionState.CONNECTING, reason)
        t = self.timing
        try:
            async with connect(
                self.spec.url,
                open_timeout=t.open_timeout_s,
                close_timeout=t.close_timeout_s,
                ping_interval=None,  # Bybit's JSON ping below is the one heartbeat
            ) as ws:
                self.counters.connects += 1
                await self._serve(ws)
        except _ConnectionLost as lost:
            return str(lost)
        except AuthRefusedError as refused:
            return str(refused)
        except ConnectionClosed as closed:
            return f"connection closed by peer ({closed})"
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            return f"cannot connect: {exc!r}"
        finally:
            self._end_session()

    async def _serve(self, ws: ClientConnection) -> NoReturn:
        session = self._session = _Session()
        loop = asyncio.get_running_loop()
        session.next_ping = loop.time() + self.timing.ping_interval_s
        self._begin(session)
        loops = [
            asyncio.create_task(self._read(ws, session)),
            asyncio.create_task(self._write(ws, session)),
            asyncio.create_task(self._watch(session)),
        ]
        try:
            done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # every loop ends only by raising; re-raise the first failure
            raise AssertionError("a connection loop returned")  # pragma: no cover
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    def _end_session(self) -> None:
        session, self._session = self._session, None
        self.subscribed.clear()
        self.refused.clear()
        if session is not None and session.live_since is not None:
            lived = asyncio.get_running_loop().time() - session.live_since
            if lived >= self.timing.backoff_cap_s:
                # Only a connection that stayed up proves the server healthy; one that dies right
                # after its acks must not send us back to hammering it at the base delay.
                self._backoff.reset()

    # -- the session state machine -----------------------------------------------------------------------
    def _begin(self, session: _Session) -> None:
        credentials = self.spec.credentials
        if credentials is None:
            self._subscribe_all(session)
            return
        self._set_state(ConnectionState.AUTHENTICATING)
        expires_ms = self._clock.now_ns() // NS_PER_MS + round(self.timing.auth_window_s * 1000)
        session.pending["auth"] = _Request("auth", "", self._deadline())
        session.outbox.put_nowait(outgoing.auth(credentials, expires_ms).decode())

    def _subscribe_all(self, session: _Session) -> None:
        if not self.spec.topics:
            self._go_live(session)
            return
        self._set_state(ConnectionState.SUBSCRIBING)
        self._request(session, "subscribe", self.spec.topics)

    def _go_live(self, session: _Session) -> None:
        now = asyncio.get_running_loop().time()
        session.live_since = now
        if self.spec.max_silence_s is not None:
            session.data_due = now + self.spec.max_silence_s
        self._set_state(ConnectionState.LIVE)

    def _request(self, session: _Session, op: str, topics: tuple[str, ...], *, resubscribe: bool = False) -> None:
        """Queue one (un)subscribe request per topic, each remembered by its req_id.

        One topic per request, not Bybit's chunks of many: a refused request may have subscribed
        none of its topics, so a single bad topic in a shared request would leave the good ones in
        doubt. Alone, every topic gets an ack of its own and a refusal touches nothing else.
        """
        build = outgoing.subscribe if op == "subscribe" else outgoing.unsubscribe
        for topic in topics:
            (frame,) = build([topic], req_id_prefix=f"{op[0]}{next(self._request_ids)}", category=self.spec.scope)
            req_id = outgoing.parse_request(frame).req_id
            session.pending[req_id] = _Request(op, topic, self._deadline(), resubscribe)
            session.outbox.put_nowait(frame.decode())

    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + self.timing.reply_timeout_s

    def _on_control(self, session: _Session, event: Event) -> Event:
        """Advance the session on a reply; returns the event to hand on (acks get their topics)."""
        if isinstance(event, PongReceived):
            session.pong_due = None
        elif isinstance(event, AuthReplied):
            self._on_auth(session, event)
        elif isinstance(event, SubscriptionReplied):
            return self._on_subscription(session, event)
        return event

    def _on_auth(self, session: _Session, reply: AuthReplied) -> None:
        if session.pending.pop("auth", None) is None:
            log.warning("unexpected auth reply", stream=self.spec.name, success=reply.success)
            return
        if not reply.success:
            self.counters.auth_failures += 1
            self.auth_error = session.abort = AuthRefusedError(self.spec.name, reply)
            log.error("authentication refused", stream=self.spec.name, ret_code=reply.ret_code, message=reply.message)
            return
        self.auth_error = None
        self._subscribe_all(session)

    def _on_subscription(self, session: _Session, reply: SubscriptionReplied) -> SubscriptionReplied:
        request = self._answered_request(session, reply)
        if request is None:
            log.warning("subscription reply matches no request", stream=self.spec.name, req_id=reply.req_id)
            return reply
        topic = request.topic
        refused = topic in reply.failed_topics or (topic not in reply.succeeded_topics and not reply.success)
        if request.op == "unsubscribe":
            # Only resubscriptions unsubscribe. Whatever Bybit says, the topic is asked for again:
            # "not subscribed" would be just as good a starting point.
            self.subscribed.discard(topic)
            self._request(session, "subscribe", (topic,), resubscribe=True)
        elif refused:
            self._refused(session, topic, reply.message, request)
        else:
            self.subscribed.add(topic)
        if request.op == "subscribe":
            session.resubscribing.discard(topic)
            if self.state is ConnectionState.SUBSCRIBING and all(r.resubscribe for r in session.pending.values()):
                self._go_live(session)
        return msgspec.structs.replace(
            reply, succeeded_topics=() if refused else (topic,), failed_topics=(topic,) if refused else ()
        )

    def _answered_request(self, session: _Session, reply: SubscriptionReplied) -> _Request | None:
        """The request a reply answers: by req_id, or the oldest one (option streams echo no req_id)."""
        if reply.req_id:
            return session.pending.pop(reply.req_id, None)
        for req_id, request in session.pending.items():
            if request.op != "auth":
                return session.pending.pop(req_id)
        return None

    def _refused(self, session: _Session, topic: str, message: str, request: _Request) -> None:
        self.refused[topic] = message
        self.counters.subscriptions_refused += 1
        log.error("subscription refused", stream=self.spec.name, topic=topic, message=message)
        if request.resubscribe:
            session.abort = _ConnectionLost(
                f"resubscription of {topic} refused ({message}): reconnecting for a fresh snapshot"
            )

    # -- the three loops of one connection ---------------------------------------------------------------
    async def _read(self, ws: ClientConnection, session: _Session) -> NoReturn:
        loop = asyncio.get_running_loop()
        silence = self.spec.max_silence_s
        while True:
            raw = await ws.recv(decode=False)
            ts_recv_ns = self._clock.now_ns()
            self.counters.frames += 1
            events = self._parse(raw, ts_recv_ns)
            is_reply = False
            for i, event in enumerate(events):
                if isinstance(event, _CONTROL_TYPES):
                    is_reply = True
                    events[i] = self._on_control(session, event)
            if not is_reply and silence is not None and session.data_due is not None:
                session.data_due = loop.time() + silence
            try:
                self._on_frame(raw, ts_recv_ns, events)
            except Exception as exc:
                raise StreamCallbackError(f"{self.spec.name}: on_frame raised {exc!r}") from exc
            if session.abort is not None:
                raise session.abort

    async def _write(self, ws: ClientConnection, session: _Session) -> NoReturn:
        while True:
            await ws.send(await session.outbox.get())

    async def _watch(self, session: _Session) -> NoReturn:
        """Sends the pings and enforces every deadline of the session."""
        loop = asyncio.get_running_loop()
        t = self.timing
        while True:
            now = loop.time()
            self._check_deadlines(session, now)
            if now >= session.next_ping:
                session.outbox.put_nowait(outgoing.ping().decode())
                session.next_ping = now + t.ping_interval_s
                if session.pong_due is None:
                    session.pong_due = now + t.pong_timeout_s
            due = [session.next_ping, session.pong_due, session.data_due, *self._oldest_request_deadline(session)]
            await asyncio.sleep(max(0.0, min(min(d for d in due if d is not None) - now, self._tick)))

    def _check_deadlines(self, session: _Session, now: float) -> None:
        if session.pong_due is not None and now >= session.pong_due:
            self.counters.pongs_missed += 1
            raise _ConnectionLost(f"no pong within {self.timing.pong_timeout_s} s")
        if session.data_due is not None and now >= session.data_due:
            self.counters.stalls += 1
            raise _ConnectionLost(f"no data for {self.spec.max_silence_s} s while connected")
        for deadline in self._oldest_request_deadline(session):
            if now >= deadline:
                oldest = next(iter(session.pending.values()))
                raise _ConnectionLost(f"no reply to {oldest.op} {oldest.topic} within {self.timing.reply_timeout_s} s")

    @staticmethod
    def _oldest_request_deadline(session: _Session) -> list[float]:
        """Requests are answered in order and all wait equally long, so the oldest is due first."""
        oldest = next(iter(session.pending.values()), None)
        return [] if oldest is None else [oldest.deadline]

    # -- reporting -----------------------------------------------------------------------------------------
    def _set_state(self, state: ConnectionState, reason: str = "") -> None:
        if state is self.state:
            return
        self.state = state
        log.info("stream state", stream=self.spec.name, state=state.value, reason=reason)
        now = self._clock.now_ns()
        change = ConnectionStateChanged(
            ts_event_ns=now, ts_recv_ns=now, stream=self.spec.name, state=state, reason=reason
        )
        try:
            self._on_event(change)
        except Exception as exc:
            raise StreamCallbackError(f"{self.spec.name}: on_event raised {exc!r}") from exc
        self._notify_waiters()

    def _notify_waiters(self) -> None:
        self._state_changed.set()
        self._state_changed = asyncio.Event()


def _discard(event: Event) -> None:
    """Default ``on_event``: the state is still readable on ``BybitStream.state``."""
