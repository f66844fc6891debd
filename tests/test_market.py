"""Books and Engine: book messages in, BookStateChanged events and ResyncBook commands out.

Everything runs on a SimClock; the helper ``feed`` moves the clock to a message's receive time
and hands the message to the engine, as the replay driver does.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from engine.bus import EventBus
from engine.clock import SimClock
from engine.commands import Command, ResyncBook
from engine.engine import Engine
from engine.enums import BookState, Side
from engine.events import BookDelta, BookStateChanged, Event
from engine.instrument import Instrument
from engine.market import SWEEPS_PER_STALE_PERIOD, Books

SYNCED, RESYNCING, STALE = BookState.SYNCED, BookState.RESYNCING, BookState.STALE
Levels = Sequence[tuple[str, str]]

BTC, ETH = "BTCUSDT", "ETHUSDT"
BIDS = (("100.0", "1"), ("99.5", "2"))
ASKS = (("100.5", "1"), ("101.0", "3"))


def book_msg(
    u: int,
    *,
    ts: int,
    snapshot: bool = False,
    bids: Levels = (),
    asks: Levels = (),
    symbol: str = BTC,
    depth: int = 50,
) -> BookDelta:
    return BookDelta(
        ts_event_ns=ts,
        ts_recv_ns=ts,
        symbol=symbol,
        depth=depth,
        is_snapshot=snapshot,
        bids=list(bids),
        asks=list(asks),
        update_id=u,
        seq=u,
    )


def snap(u: int, *, ts: int, symbol: str = BTC, depth: int = 50) -> BookDelta:
    return book_msg(u, ts=ts, snapshot=True, bids=BIDS, asks=ASKS, symbol=symbol, depth=depth)


class Harness:
    """An engine on a SimClock whose bus output is recorded."""

    def __init__(self, stale_after_ns: int = 8_000, instruments: dict[str, Instrument] | None = None) -> None:
        self.clock = SimClock()
        self.bus = EventBus()
        self.engine = Engine(self.clock, bus=self.bus, instruments=instruments, stale_after_ns=stale_after_ns)
        self.published: list[Event] = []
        self.bus.subscribe(Event, self.published.append)

    def feed(self, msg: BookDelta) -> None:
        self.clock.advance_to(msg.ts_recv_ns)
        self.engine.handle(msg)

    def changes(self) -> list[tuple[str, int, BookState, BookState, int]]:
        """(symbol, depth, old, new, ts) of every BookStateChanged published so far."""
        return [
            (e.symbol, e.depth, e.old, e.new, e.ts_event_ns) for e in self.published if isinstance(e, BookStateChanged)
        ]


def test_state_change_is_published_before_the_message_that_caused_it() -> None:
    """Snapshot -> BookStateChanged(RESYNCING -> SYNCED) first, then the snapshot, then the deltas."""
    h = Harness()
    first = snap(10, ts=1_000)
    d1 = book_msg(11, ts=1_100, bids=[("99.5", "4")])
    d2 = book_msg(12, ts=1_200, asks=[("100.5", "0")])
    for msg in (first, d1, d2):
        h.feed(msg)

    change = h.published[0]
    assert isinstance(change, BookStateChanged)
    assert (change.symbol, change.depth, change.old, change.new) == (BTC, 50, RESYNCING, SYNCED)
    assert (change.ts_event_ns, change.ts_recv_ns) == (1_000, 1_000)
    assert change.reason == "snapshot u=10"
    assert h.published[1:] == [first, d1, d2]
    assert h.engine.commands_to_send() == []
    book = h.engine.books.book(BTC)
    assert book is not None
    assert book.top(Side.BUY, 10) == [(1000, 1), (995, 4)]
    assert book.top(Side.SELL, 10) == [(1010, 3)]


def test_gap_publishes_resyncing_and_asks_for_one_resync() -> None:
    """A gap: BookStateChanged(SYNCED -> RESYNCING), no BookDelta, exactly one ResyncBook."""
    h = Harness()
    h.feed(snap(10, ts=1_000))
    h.published.clear()

    h.feed(book_msg(12, ts=1_100, bids=[("99.5", "4")]))
    assert h.changes() == [(BTC, 50, SYNCED, RESYNCING, 1_100)]
    assert len(h.published) == 1
    gap_change = h.published[0]
    assert isinstance(gap_change, BookStateChanged)
    assert gap_change.reason == "gap: u=12 after u=10"
    assert h.engine.outbox == [ResyncBook(symbol=BTC, depth=50, reason="gap: u=12 after u=10")]

    for u, ts in ((13, 1_200), (14, 1_300), (11, 1_400)):  # ignored while resyncing
        h.feed(book_msg(u, ts=ts, bids=[("99.5", "5")]))
    assert len(h.published) == 1
    commands: list[Command] = h.engine.commands_to_send()
    assert commands == [ResyncBook(symbol=BTC, depth=50, reason="gap: u=12 after u=10")]
    assert h.engine.outbox == []
    assert h.engine.commands_to_send() == []

    resync = snap(40, ts=2_000)
    h.feed(resync)
    assert h.changes()[1:] == [(BTC, 50, RESYNCING, SYNCED, 2_000)]
    assert h.published[-1] is resync
    assert h.engine.outbox == []


def test_dropped_book_messages_are_not_published() -> None:
    """Stale, duplicate and while-resyncing deltas never reach the bus; applied ones do."""
    h = Harness()
    h.feed(book_msg(5, ts=500, bids=[("99.5", "1")]))  # before any snapshot
    assert h.published == []

    h.feed(snap(10, ts=1_000))
    applied = book_msg(11, ts=1_100, bids=[("99.5", "4")])
    h.feed(applied)
    h.published.clear()
    h.feed(book_msg(11, ts=1_200, bids=[("99.5", "9")]))  # duplicate
    h.feed(book_msg(9, ts=1_300, bids=[("99.5", "9")]))  # stale
    assert h.published == []
    assert h.engine.outbox == []
    book = h.engine.books.book(BTC, 50)
    assert book is not None
    assert (book.stale_dropped, book.unsynced_dropped) == (2, 1)
    assert book.top(Side.BUY, 10) == [(1000, 1), (995, 4)]


def test_crossed_delta_publishes_resyncing_and_a_resync_command() -> None:
    """A crossed book is reported like a gap: state change published, the delta not, one command."""
    h = Harness()
    h.feed(snap(10, ts=1_000))
    h.published.clear()
    h.feed(book_msg(11, ts=1_100, bids=[("101.0", "1")]))
    assert h.changes() == [(BTC, 50, SYNCED, RESYNCING, 1_100)]
    assert len(h.published) == 1
    assert h.engine.commands_to_send() == [
        ResyncBook(symbol=BTC, depth=50, reason="crossed at u=11: bid 1010 >= ask 1005")
    ]


STALE_AFTER = 8_000
SWEEP = STALE_AFTER // SWEEPS_PER_STALE_PERIOD  # 1_000


def test_silence_bound_documented() -> None:
    """The silence sweep runs every stale_after / 8."""
    assert SWEEPS_PER_STALE_PERIOD == 8
    assert SWEEP == 1_000


@pytest.mark.parametrize("last_offset", [0, 1, 250, 999, 1_000, 4_321])
def test_silence_turns_the_book_stale_between_s_and_s_plus_s_over_8(last_offset: int) -> None:
    """Quiet for stale_after - 1: still SYNCED. By last + stale_after * 9/8: STALE, published.

    The sweep checks every book each stale_after / 8 (from the first SYNCED transition), so the
    book turns STALE at the first sweep at or after last + stale_after: never earlier, and at most
    one sweep period later.
    """
    h = Harness(stale_after_ns=STALE_AFTER)
    h.feed(snap(10, ts=1_000))  # sweeps at 2_000, 3_000, ...
    last = 1_000 + last_offset
    if last_offset:
        h.feed(book_msg(11, ts=last, bids=[("99.5", "4")]))
    book = h.engine.books.book(BTC)
    assert book is not None

    h.clock.advance_to(last + STALE_AFTER - 1)
    assert book.state is SYNCED
    assert h.changes() == [(BTC, 50, RESYNCING, SYNCED, 1_000)]

    h.clock.advance_to(last + STALE_AFTER + SWEEP)
    assert book.state is STALE
    first_sweep_after = 1_000 + -(-(last + STALE_AFTER - 1_000) // SWEEP) * SWEEP
    assert h.changes()[1:] == [(BTC, 50, SYNCED, STALE, first_sweep_after)]
    assert last + STALE_AFTER <= first_sweep_after <= last + STALE_AFTER + SWEEP
    assert h.engine.outbox == []  # stale is not invalid: no resync asked for
    assert book.top(Side.SELL, 10) == [(1005, 1), (1010, 3)]  # the levels are kept


def test_in_sequence_delta_revives_a_stale_book_and_the_watch_resumes() -> None:
    """STALE -> SYNCED is published before the delta; silence afterwards makes it STALE again."""
    h = Harness(stale_after_ns=STALE_AFTER)
    h.feed(snap(10, ts=1_000))
    h.clock.advance_to(9_000)
    assert h.changes()[-1] == (BTC, 50, SYNCED, STALE, 9_000)
    h.clock.advance_to(50_000)  # no sweeps while nothing is SYNCED: nothing more happens
    assert len(h.changes()) == 2
    assert h.clock.next_deadline_ns() is None

    revival = book_msg(11, ts=60_000, bids=[("99.5", "4")])
    h.feed(revival)
    assert h.changes()[-1] == (BTC, 50, STALE, SYNCED, 60_000)
    assert h.published[-1] is revival
    assert isinstance(h.published[-2], BookStateChanged)  # the change, just before the delta

    h.clock.advance_to(60_000 + STALE_AFTER + SWEEP)
    assert h.changes()[-1] == (BTC, 50, SYNCED, STALE, 68_000)


def test_symbols_and_depths_keep_separate_books() -> None:
    """(symbol, depth) keys the books; book(symbol) is the first depth opened for that symbol."""
    h = Harness()
    h.feed(snap(10, ts=1_000, depth=200))
    h.feed(snap(500, ts=1_001, depth=50))
    h.feed(book_msg(3, ts=1_002, snapshot=True, bids=[("2000.05", "1")], asks=[("2000.10", "2")], symbol=ETH))

    books = h.engine.books
    assert len(books) == 3
    deep, shallow, eth = books.book(BTC, 200), books.book(BTC, 50), books.book(ETH, 50)
    assert deep is not None and shallow is not None and eth is not None
    assert books.book(BTC) is deep  # opened first
    assert books.book(ETH) is eth
    assert books.book("SOLUSDT") is None
    assert books.book(BTC, 1) is None
    assert {id(b) for b in books} == {id(deep), id(shallow), id(eth)}

    h.feed(book_msg(11, ts=1_100, depth=200, bids=[("99.5", "7")]))
    h.feed(book_msg(502, ts=1_200, depth=50, bids=[("99.5", "8")]))  # gap on depth 50 only
    assert deep.state is SYNCED
    assert deep.top(Side.BUY, 5) == [(1000, 1), (995, 7)]
    assert shallow.state is RESYNCING
    assert shallow.top(Side.BUY, 5) == []
    assert eth.state is SYNCED
    assert eth.top(Side.BUY, 5) == [(200005, 1)]
    assert eth.top(Side.SELL, 5) == [(200010, 2)]
    assert h.engine.commands_to_send() == [ResyncBook(symbol=BTC, depth=50, reason="gap: u=502 after u=500")]


def test_instruments_given_to_the_engine_set_the_scales() -> None:
    """A book of a symbol with rules uses the rules' scales and rejects finer numbers."""
    rules = Instrument(symbol=BTC, price_scale=2, qty_scale=3, price_step_ticks=10)
    h = Harness(instruments={BTC: rules})
    h.feed(snap(10, ts=1_000))
    h.feed(snap(10, ts=1_000, symbol=ETH))  # no rules: inferred

    btc, eth = h.engine.books.book(BTC), h.engine.books.book(ETH)
    assert btc is not None and eth is not None
    assert btc.instrument is rules
    assert btc.top(Side.BUY, 5) == [(10000, 1000), (9950, 2000)]  # not (1000, 1) as inferred
    assert eth.instrument is not None and eth.instrument.inferred
    assert eth.top(Side.BUY, 5) == [(1000, 1), (995, 2)]

    h.feed(book_msg(11, ts=1_100, bids=[("99.505", "1")]))  # finer than a tick of the rules
    assert btc.state is RESYNCING
    assert btc.bad_data == 1
    assert btc.instrument is rules
    assert h.changes()[-1] == (BTC, 50, SYNCED, RESYNCING, 1_100)
    assert [c.symbol for c in h.engine.commands_to_send() if isinstance(c, ResyncBook)] == [BTC]


def test_set_instrument_applies_to_books_opened_later() -> None:
    """Books keep the rules they were opened with; new rules reach only new books."""
    h = Harness()
    h.feed(snap(10, ts=1_000))
    h.engine.books.set_instrument(Instrument(symbol=BTC, price_scale=3, qty_scale=3))
    h.feed(snap(10, ts=1_001, depth=200))
    shallow, deep = h.engine.books.book(BTC, 50), h.engine.books.book(BTC, 200)
    assert shallow is not None and deep is not None
    assert shallow.instrument is not None and shallow.instrument.inferred
    assert deep.instrument is not None and deep.instrument.price_scale == 3
    assert deep.top(Side.SELL, 1) == [(100500, 1000)]


def test_books_reject_a_non_positive_stale_limit() -> None:
    """A silence limit of zero or less makes no sense."""
    for bad in (0, -1):
        with pytest.raises(ValueError, match="stale_after_ns"):
            Books(SimClock(), emit=lambda e: None, command=lambda c: None, stale_after_ns=bad)


def test_non_book_events_are_published_unchanged() -> None:
    """Anything that is not a BookDelta goes straight to the bus."""
    h = Harness()
    event = BookStateChanged(ts_event_ns=1, ts_recv_ns=1, symbol=BTC, depth=1, old=SYNCED, new=STALE, reason="x")
    h.engine.handle(event)
    assert h.published == [event]
    assert len(h.engine.books) == 0
