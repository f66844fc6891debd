"""BybitStream and PublicFeed against a scripted Bybit endpoint on 127.0.0.1 (see live_fake_bybit).

Every interval is tiny (ping every 50 ms, pong within 250 ms) so a reconnect takes a fraction of
a second; tests wait on conditions (``Pulse.until``), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from engine.clock import NS_PER_MS, LiveClock
from engine.commands import Command, QueryOrder, ResyncBook
from engine.engine import Engine
from engine.enums import BookState, ConnectionState
from engine.events import BookDelta, BookStateChanged, ConnectionStateChanged, Event, SubscriptionReplied
from feeds.bybit import outgoing
from feeds.bybit.auth import Credentials, ws_auth_signature
from feeds.bybit.live import (
    AuthRefusedError,
    Backoff,
    BybitStream,
    PublicFeed,
    StreamCallbackError,
    StreamNotLiveError,
    StreamSpec,
    StreamTiming,
    public_topics,
)
from feeds.bybit.topics import Category
from tests.live_fake_bybit import FakeBybit, Pulse, book_frame, ticker_frame

FAST = StreamTiming(
    ping_interval_s=0.05,
    pong_timeout_s=0.25,
    reply_timeout_s=0.3,
    open_timeout_s=1.0,
    close_timeout_s=0.1,
    backoff_base_s=0.02,
    backoff_cap_s=0.1,
    auth_window_s=5.0,
)
BOOK, TRADES, TICKER = "orderbook.50.BTCUSDT", "publicTrade.BTCUSDT", "tickers.BTCUSDT"
TOPICS = (BOOK, TRADES, TICKER)
KEY = Credentials("test-key", "s3cr3t-never-logged")
SEED = 7

C, A, S, L, D = (
    ConnectionState.CONNECTING,
    ConnectionState.AUTHENTICATING,
    ConnectionState.SUBSCRIBING,
    ConnectionState.LIVE,
    ConnectionState.DISCONNECTED,
)


@dataclass
class Seen:
    """What a stream handed to its owner, in order."""

    pulse: Pulse
    frames: list[list[Event]] = field(default_factory=list)
    states: list[ConnectionStateChanged] = field(default_factory=list)
    stream: BybitStream | None = None
    subscribed_when_live: list[set[str]] = field(default_factory=list)

    def on_frame(self, raw: bytes, ts_recv_ns: int, events: list[Event]) -> None:
        assert isinstance(raw, bytes) and ts_recv_ns > 0
        self.frames.append(events)
        self.pulse.poke()

    def on_event(self, event: Event) -> None:
        assert isinstance(event, ConnectionStateChanged)
        self.states.append(event)
        if event.state is L and self.stream is not None:
            self.subscribed_when_live.append(set(self.stream.subscribed))
        self.pulse.poke()

    def state_list(self) -> list[ConnectionState]:
        return [change.state for change in self.states]

    def replies(self) -> list[SubscriptionReplied]:
        return [e for events in self.frames for e in events if isinstance(e, SubscriptionReplied)]

    def disconnects(self) -> list[ConnectionStateChanged]:
        return [change for change in self.states if change.state is D]


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeBybit]:
    server = await FakeBybit(Pulse()).start()
    yield server
    await server.stop()


def open_stream(
    fake: FakeBybit,
    *,
    topics: tuple[str, ...] = TOPICS,
    credentials: Credentials | None = None,
    max_silence_s: float | None = None,
    scope: Category | str = Category.LINEAR,
) -> tuple[BybitStream, Seen]:
    seen = Seen(fake.pulse)
    spec = StreamSpec(
        name="public.linear",
        url=fake.url,
        scope=scope,
        topics=topics,
        credentials=credentials,
        max_silence_s=max_silence_s,
    )
    stream = seen.stream = BybitStream(
        spec, on_frame=seen.on_frame, on_event=seen.on_event, timing=FAST, rng=random.Random(SEED)
    )
    stream.start()
    return stream, seen


async def live(stream: BybitStream) -> None:
    async with asyncio.timeout(3):
        await stream.wait_live()


# -- subscriptions ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_each_topic_is_subscribed_alone_and_the_stream_is_live_once_every_ack_is_in(fake: FakeBybit) -> None:
    stream, seen = open_stream(fake)
    await live(stream)
    await stream.close()

    assert fake.ops(0) == [("subscribe", (topic,)) for topic in TOPICS]
    assert stream.counters.connects == 1
    assert [(r.success, r.succeeded_topics, r.failed_topics) for r in seen.replies()] == [
        (True, (topic,), ()) for topic in TOPICS
    ]
    assert seen.state_list() == [C, S, L, D]
    assert seen.subscribed_when_live == [set(TOPICS)]
    assert seen.states[-1].reason == "closed"


@pytest.mark.asyncio
async def test_a_subscribe_nobody_answers_is_a_dead_session(fake: FakeBybit) -> None:
    fake.answer_subscriptions = False
    stream, seen = open_stream(fake)
    await fake.pulse.until(lambda: len(fake.connections) == 2)
    await stream.close()

    assert seen.state_list()[:4] == [C, S, D, C]
    assert seen.disconnects()[0].reason.startswith(f"no reply to subscribe {BOOK} within")


@pytest.mark.asyncio
async def test_a_refused_topic_is_reported_the_others_stay_up_and_it_is_asked_again_on_reconnect(
    fake: FakeBybit,
) -> None:
    fake.refuse = {TICKER}
    fake.on_subscribe = lambda conn, topic: [book_frame("BTCUSDT", 50, u=1, snapshot=True)] if topic == BOOK else []
    with capture_logs() as logs:
        stream, seen = open_stream(fake)
        await live(stream)
        refused = dict(stream.refused)
        subscribed = set(stream.subscribed)
        await fake.connections[0].close()  # the next connection must ask for the ticker again
        await fake.pulse.until(lambda: len(fake.requests) == 2 and ("subscribe", (TICKER,)) in fake.ops(1))
        await stream.close()

    assert refused == {TICKER: f"error:handler not found,topic:{TICKER}"}
    assert subscribed == {BOOK, TRADES}
    assert stream.counters.subscriptions_refused >= 1
    refusal = next(r for r in seen.replies() if not r.success)
    assert (refusal.succeeded_topics, refusal.failed_topics) == ((), (TICKER,))
    assert any(e["event"] == "subscription refused" and e["topic"] == TICKER for e in logs)
    # The refusal tore nothing down: LIVE, and the book's data arrived on that first connection.
    assert seen.state_list()[:3] == [C, S, L]
    assert any(isinstance(e, BookDelta) for events in seen.frames for e in events)
    assert seen.disconnects()[0].reason.startswith("connection closed by peer")


@pytest.mark.asyncio
async def test_option_style_acks_without_req_id_are_matched_in_order(fake: FakeBybit) -> None:
    fake.option_replies = True
    fake.refuse = {"tickers.BTC-29JUL22-25000-C"}
    topics = ("orderbook.25.BTC-29JUL22-25000-C", "tickers.BTC-29JUL22-25000-C")
    stream, seen = open_stream(fake, topics=topics, scope=Category.OPTION)
    await live(stream)
    await stream.close()

    assert stream.counters.subscriptions_refused == 1
    assert [(r.succeeded_topics, r.failed_topics) for r in seen.replies()] == [
        ((topics[0],), ()),
        ((), (topics[1],)),
    ]


# -- heartbeat and silence ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_missing_pong_reconnects(fake: FakeBybit) -> None:
    fake.answer_pings = False
    stream, seen = open_stream(fake)
    await fake.pulse.until(lambda: len(fake.connections) == 2)
    await live(stream)
    await stream.close()

    assert stream.counters.pongs_missed >= 1
    assert stream.counters.stalls == 0
    assert seen.state_list()[:7] == [C, S, L, D, C, S, L]
    assert seen.disconnects()[0].reason == "no pong within 0.25 s"
    assert any(op == "ping" for op, _ in ((r.op, r.args) for r in fake.requests[0]))


@pytest.mark.asyncio
async def test_data_silence_reconnects_although_pongs_keep_coming(fake: FakeBybit) -> None:
    pushes = 12  # one ticker every 30 ms: 0.36 s of data, longer than the 0.25 s silence limit
    fake.on_subscribe = lambda conn, topic: [ticker_frame("BTCUSDT")] if topic == TICKER and conn == 0 else []
    stream, seen = open_stream(fake, max_silence_s=0.25)
    await live(stream)
    last_push_ns = 0
    for _ in range(pushes):
        await fake.push(0, ticker_frame("BTCUSDT"))
        last_push_ns = LiveClock().now_ns()
        await asyncio.sleep(0.03)
    await fake.pulse.until(lambda: stream.counters.stalls == 1)
    await stream.close()

    stall = seen.disconnects()[0]
    assert stall.reason == "no data for 0.25 s while connected"
    assert stall.ts_event_ns - last_push_ns >= 250 * NS_PER_MS  # data, and only data, kept it alive
    assert stream.counters.pongs_missed == 0
    pings_answered = [r for r in fake.requests[0] if r.op == "ping"]
    assert len(pings_answered) >= 5  # pongs kept coming all along: they are not data


# -- reconnecting --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_dropped_connection_is_reopened_after_the_jittered_backoff_and_resubscribed(fake: FakeBybit) -> None:
    stream, seen = open_stream(fake)
    await live(stream)
    await fake.connections[0].close()
    await fake.pulse.until(lambda: seen.state_list()[-1] is L and len(fake.connections) == 2)
    await stream.close()

    assert seen.state_list() == [C, S, L, D, C, S, L, D]
    assert fake.ops(1) == [("subscribe", (topic,)) for topic in TOPICS]
    assert stream.counters.connects == 2
    assert stream.counters.reconnects == 1
    expected_delay_s = Backoff(FAST.backoff_base_s, FAST.backoff_cap_s, random.Random(SEED)).next_delay()
    waited_ns = seen.states[4].ts_event_ns - seen.states[3].ts_event_ns
    assert waited_ns >= expected_delay_s * 1e9
    assert seen.states[4].reason.startswith(f"reconnect #1 after {expected_delay_s:.3f} s")


@pytest.mark.asyncio
async def test_an_unreachable_server_is_retried_with_growing_backoff() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pulse = Pulse()
    seen = Seen(pulse)
    spec = StreamSpec(name="public.linear", url=f"ws://127.0.0.1:{port}", scope=Category.LINEAR, topics=TOPICS)
    stream = BybitStream(spec, on_frame=seen.on_frame, on_event=seen.on_event, timing=FAST, rng=random.Random(SEED))
    stream.start()
    await pulse.until(lambda: len(seen.disconnects()) == 4)
    await stream.close()

    assert_backoff_grew(seen, attempts=3)
    assert all(d.reason.startswith("cannot connect") for d in seen.disconnects())
    assert stream.counters.connects == 0


@pytest.mark.asyncio
async def test_a_server_that_hangs_up_right_after_the_acks_does_not_reset_the_backoff(fake: FakeBybit) -> None:
    fake.hang_up_after = 1  # accepts, acknowledges the one topic, hangs up: healthy for an instant only
    stream, seen = open_stream(fake, topics=(TICKER,))
    await fake.pulse.until(lambda: len(seen.disconnects()) == 4)
    await stream.close()

    assert seen.state_list()[:4] == [C, S, L, D]
    assert_backoff_grew(seen, attempts=3)


def assert_backoff_grew(seen: Seen, *, attempts: int) -> None:
    """Each reconnect waited the seeded model's next delay, drawn under a doubling ceiling."""
    model = Backoff(FAST.backoff_base_s, FAST.backoff_cap_s, random.Random(SEED))
    expected = [model.next_delay() for _ in range(attempts)]
    reconnects = [change for change in seen.states if change.state is C][1 : attempts + 1]
    assert [change.reason.split(" (")[0] for change in reconnects] == [
        f"reconnect #{n} after {delay:.3f} s" for n, delay in enumerate(expected, 1)
    ]
    waits_ns = [reconnects[i].ts_event_ns - seen.disconnects()[i].ts_event_ns for i in range(attempts)]
    assert all(waited >= delay * 1e9 for waited, delay in zip(waits_ns, expected, strict=True))


@pytest.mark.asyncio
async def test_an_owner_callback_that_raises_stops_the_stream_instead_of_looking_like_a_network_fault(
    fake: FakeBybit,
) -> None:
    def broken_recorder(raw: bytes, ts_recv_ns: int, events: list[Event]) -> None:
        raise OSError(28, "No space left on device")  # an OSError, like a refused connection

    seen = Seen(fake.pulse)
    spec = StreamSpec(name="public.linear", url=fake.url, scope=Category.LINEAR, topics=TOPICS)
    stream = BybitStream(spec, on_frame=broken_recorder, on_event=seen.on_event, timing=FAST)
    stream.start()
    with pytest.raises(StreamCallbackError, match="No space left") as stopped:
        await live(stream)
    assert isinstance(stopped.value.__cause__, OSError)
    with pytest.raises(StreamCallbackError):
        await stream.close()
    assert stream.counters.reconnects == 0
    assert len(fake.connections) == 1
    assert seen.state_list() == [C, S, D]


# -- authentication --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_authentication_comes_first_and_the_secret_is_never_logged(fake: FakeBybit) -> None:
    fake.credentials = KEY
    with capture_logs() as logs:
        stream, seen = open_stream(fake, credentials=KEY, topics=("order", "execution"), scope=outgoing.PRIVATE)
        await live(stream)
        await stream.close()

    auth, *subscribes = fake.requests[0]
    key, expires_ms, signature = auth.args
    assert (auth.op, key, signature) == ("auth", KEY.api_key, ws_auth_signature(KEY.api_secret, expires_ms))
    assert expires_ms > seen.states[0].ts_event_ns // NS_PER_MS  # a deadline in the future
    assert [(r.op, r.args) for r in subscribes if r.op != "ping"] == [
        ("subscribe", ("order",)),
        ("subscribe", ("execution",)),
    ]
    assert seen.state_list() == [C, A, S, L, D]
    assert KEY.api_secret not in repr(logs)
    assert KEY.api_secret not in repr(seen.states)


@pytest.mark.asyncio
async def test_a_refused_authentication_is_fatal_to_the_waiter_and_retried_by_the_stream(fake: FakeBybit) -> None:
    fake.credentials = Credentials("test-key", "another-secret")
    stream, seen = open_stream(fake, credentials=KEY)
    with pytest.raises(AuthRefusedError, match="authentication refused") as refused:
        await live(stream)
    assert refused.value.reply.success is False
    assert fake.ops(0) == [("auth", fake.requests[0][0].args)]  # nothing subscribed without auth
    assert seen.disconnects()[0].reason.startswith("public.linear: authentication refused")

    fake.credentials = KEY  # the operator fixes the key: the retrying stream gets through
    await fake.pulse.until(lambda: stream.state is L)
    await stream.close()
    assert stream.auth_error is None
    assert stream.counters.auth_failures >= 1


@pytest.mark.asyncio
async def test_a_trade_stream_is_live_after_auth_and_sends_frames_only_then(fake: FakeBybit) -> None:
    fake.credentials = KEY
    stream, _ = open_stream(fake, credentials=KEY, topics=(), scope=outgoing.PRIVATE)
    with pytest.raises(StreamNotLiveError):
        stream.send(b'{"op":"order.cancel"}')
    await live(stream)
    frame = outgoing.order_cancel("r1", 1_700_000_000_000, category="linear", symbol="BTCUSDT", order_link_id="c1")
    stream.send(frame)
    await fake.pulse.until(lambda: any(r.op == "order.cancel" for r in fake.requests[0]))
    await stream.close()
    assert [op for op, _ in fake.ops(0)] == ["auth", "order.cancel"]


# -- the public feed driver ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_book_gap_resubscribes_that_topic_alone_and_a_fresh_snapshot_arrives_on_the_same_connection(
    fake: FakeBybit,
) -> None:
    book_subscriptions: list[int] = []
    snapshot_u = {2: 10, 3: 20}  # the snapshot each resubscription brings

    def push_book(conn: int, topic: str) -> list[bytes]:
        if topic != BOOK:
            return []
        book_subscriptions.append(conn)
        if len(book_subscriptions) == 1:  # a snapshot, one good delta, then u=4: u=3 was lost
            return [
                book_frame("BTCUSDT", 50, u=1, snapshot=True),
                book_frame("BTCUSDT", 50, u=2, snapshot=False, bid="100.1"),
                book_frame("BTCUSDT", 50, u=4, snapshot=False, bid="100.2"),
            ]
        return [book_frame("BTCUSDT", 50, u=snapshot_u[len(book_subscriptions)], snapshot=True, bid="99.9")]

    fake.on_subscribe = push_book
    engine = Engine(LiveClock())
    book_states: list[BookState] = []
    engine.bus.subscribe(BookStateChanged, lambda change: book_states.append(change.new))
    feed = PublicFeed(engine, "linear", ["BTCUSDT"], url=fake.url, timing=FAST, max_silence_s=None)
    async with feed:
        await feed.wait_live()
        book = engine.books.book("BTCUSDT", 50)
        assert book is not None
        await fake.pulse.until(lambda: book.last_update_id == 10)
        await fake.push(0, book_frame("BTCUSDT", 50, u=12, snapshot=False))  # a second gap on the same topic
        await fake.pulse.until(lambda: book.last_update_id == 20)
        assert feed.stream.state is L
        assert (book.state, book.gaps, book.snapshots) == (BookState.SYNCED, 2, 3)

    resync = [("unsubscribe", (BOOK,)), ("subscribe", (BOOK,))]
    assert fake.ops(0) == [*(("subscribe", (t,)) for t in TOPICS), *resync, *resync]
    assert len(fake.connections) == 1
    assert book_subscriptions == [0, 0, 0]
    assert book_states == [
        BookState.SYNCED,
        BookState.RESYNCING,
        BookState.SYNCED,
        BookState.RESYNCING,
        BookState.SYNCED,
        BookState.RESYNCING,  # the feed closed: nothing keeps the book current any more
    ]
    assert feed.counters.resubscribes == 2
    assert feed.commands_dropped == 0


@pytest.mark.asyncio
async def test_a_dropped_public_connection_invalidates_its_books_until_the_reconnect_snapshot(fake: FakeBybit) -> None:
    """Deltas missed while disconnected can never be replayed: the book pauses strategies at once."""
    snapshots = iter([10, 20])
    fake.on_subscribe = lambda conn, topic: (
        [book_frame("BTCUSDT", 50, u=next(snapshots), snapshot=True)] if topic == BOOK else []
    )
    engine = Engine(LiveClock())
    changes: list[BookStateChanged] = []
    engine.bus.subscribe(BookStateChanged, changes.append)
    feed = PublicFeed(engine, "linear", ["BTCUSDT"], url=fake.url, timing=FAST, max_silence_s=None)
    async with feed:
        await feed.wait_live()
        book = engine.books.book("BTCUSDT", 50)
        assert book is not None
        await fake.pulse.until(lambda: book.last_update_id == 10)
        await fake.connections[0].close()
        await fake.pulse.until(lambda: book.state is BookState.RESYNCING)
        assert book.best_bid() is None  # emptied: nothing on it can be trusted
        await fake.pulse.until(lambda: book.last_update_id == 20 and book.state is BookState.SYNCED)
    assert [change.new for change in changes[:3]] == [BookState.SYNCED, BookState.RESYNCING, BookState.SYNCED]
    assert "disconnected" in changes[1].reason


@pytest.mark.asyncio
async def test_commands_queued_by_a_timer_are_drained_without_waiting_for_a_frame() -> None:
    engine = Engine(LiveClock())
    others: list[Command] = []
    feed = PublicFeed(engine, "linear", ["BTCUSDT"], url="ws://127.0.0.1:9", on_other_command=others.append)
    query = QueryOrder(client_order_id="c1", symbol="BTCUSDT")
    foreign_book = ResyncBook(symbol="ETHUSDT", depth=50)
    own_book = ResyncBook(symbol="BTCUSDT", depth=50)  # not connected: the next connection resubscribes it
    fired = asyncio.Event()
    forwarded_inside_the_timer: list[Command] = []

    def timer(_: int) -> None:
        for command in (query, foreign_book, own_book):
            engine._queue(command)  # what a tracker deadline or a book does from a timer
        forwarded_inside_the_timer.extend(others)
        fired.set()

    engine.clock.call_at(engine.clock.now_ns(), timer)
    async with asyncio.timeout(1):
        await fired.wait()
    assert forwarded_inside_the_timer == []  # never acted on inside the engine's call: deferred
    assert others == [query, foreign_book]
    assert engine.outbox == []
    assert feed.counters.resubscribes == 0
    assert feed.stream.state is D


def test_a_feed_refuses_an_engine_another_driver_already_drains() -> None:
    engine = Engine(LiveClock(), on_command=lambda: None)
    with pytest.raises(ValueError, match="on_command is already set"):
        PublicFeed(engine, "linear", ["BTCUSDT"], env="testnet")


def test_public_topics_use_the_category_depth_and_the_option_base_coin() -> None:
    assert public_topics("linear", ["BTCUSDT"], 50) == {"BTCUSDT": TOPICS}
    options = public_topics("option", ["BTC-29JUL22-25000-C", "BTC-29JUL22-30000-C"], 25)
    assert options == {
        "BTC-29JUL22-25000-C": ("orderbook.25.BTC-29JUL22-25000-C", "publicTrade.BTC", "tickers.BTC-29JUL22-25000-C"),
        "BTC-29JUL22-30000-C": ("orderbook.25.BTC-29JUL22-30000-C", "tickers.BTC-29JUL22-30000-C"),
    }
    with pytest.raises(ValueError, match="not available for linear"):
        public_topics("linear", ["BTCUSDT"], 500)  # removed by Bybit in 2025 (pybit#333)
    feed = PublicFeed(Engine(LiveClock()), "option", ["BTC-29JUL22-25000-C"], env="testnet")
    assert (feed.depth, feed.stream.spec.url) == (25, "wss://stream-testnet.bybit.com/v5/public/option")
    with pytest.raises(ValueError, match="exactly one of env"):
        PublicFeed(Engine(LiveClock()), "linear", ["BTCUSDT"])  # no silent default to mainnet


# -- backoff -------------------------------------------------------------------------------------------


def test_backoff_doubles_its_ceiling_up_to_the_cap_and_draws_full_jitter_below_it() -> None:
    backoff = Backoff(1.0, 8.0, random.Random(3))
    ceilings, delays = [], []
    for _ in range(6):
        ceilings.append(backoff.ceiling())
        delays.append(backoff.next_delay())
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert all(0.0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    replay = Backoff(1.0, 8.0, random.Random(3))
    assert [replay.next_delay() for _ in range(6)] == delays  # seeded: every delay is predictable
    backoff.reset()
    assert backoff.ceiling() == 1.0
    backoff.attempt = 10_000
    assert backoff.ceiling() == 8.0  # no float overflow after a long outage


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, math.nan, True])
def test_timings_must_be_positive_finite_seconds(bad: float) -> None:
    with pytest.raises(ValueError, match="pong_timeout_s must be a positive number of seconds"):
        StreamTiming(pong_timeout_s=bad)


def test_backoff_rejects_a_base_above_its_cap() -> None:
    with pytest.raises(ValueError, match="0 < base <= cap"):
        Backoff(2.0, 1.0)
