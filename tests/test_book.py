"""OrderBook: Bybit's book rules, the state machine, its counters, and every query, by hand.

Messages are built directly as ``BookDelta`` s. Expected books are written out as exact lists of
``(ticks, lots)``; every scenario also pins ``state``, the counters and the transitions handed to
``on_transition``. The property test at the end replays random message sequences against a tiny
``Decimal`` reference model of the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.book import BookTransition, BookTrigger, OrderBook
from engine.enums import BookState, Side
from engine.events import BookDelta
from engine.instrument import Instrument

SYNCED, RESYNCING, STALE = BookState.SYNCED, BookState.RESYNCING, BookState.STALE
SNAPSHOT, DELTA, GAP = BookTrigger.SNAPSHOT, BookTrigger.DELTA, BookTrigger.GAP
CROSSED, BAD_DATA, SILENCE = BookTrigger.CROSSED, BookTrigger.BAD_DATA, BookTrigger.SILENCE

Levels = Sequence[Sequence[Any]]
Transition = tuple[BookState, BookState, BookTrigger]

SYMBOL = "BTCUSDT"
DEPTH = 50


# -- helpers ---------------------------------------------------------------------------------------


def _message(is_snapshot: bool, u: int, bids: Levels, asks: Levels, recv_ns: int) -> BookDelta:
    return BookDelta(
        ts_event_ns=recv_ns,
        ts_recv_ns=recv_ns,
        symbol=SYMBOL,
        depth=DEPTH,
        is_snapshot=is_snapshot,
        # malformed levels (wrong arity, non-strings) are built on purpose: no conversion here
        bids=cast(list[tuple[str, str]], [tuple(level) for level in bids]),
        asks=cast(list[tuple[str, str]], [tuple(level) for level in asks]),
        update_id=u,
        seq=u * 10,
    )


def snapshot(u: int, bids: Levels = (), asks: Levels = (), *, recv_ns: int = 0) -> BookDelta:
    return _message(True, u, bids, asks, recv_ns)


def delta(u: int, bids: Levels = (), asks: Levels = (), *, recv_ns: int = 0) -> BookDelta:
    return _message(False, u, bids, asks, recv_ns)


class Recorder:
    """Collects the (old, new, trigger) of every transition a book reports."""

    def __init__(self) -> None:
        self.seen: list[Transition] = []
        self.reasons: list[str] = []

    def __call__(self, book: OrderBook, change: BookTransition) -> None:
        self.seen.append((change.old, change.new, change.trigger))
        self.reasons.append(change.reason)


def new_book(instrument: Instrument | None = None) -> tuple[OrderBook, Recorder]:
    recorder = Recorder()
    return OrderBook(SYMBOL, DEPTH, instrument, on_transition=recorder), recorder


COUNTERS = ("gaps", "resets", "stale_dropped", "unsynced_dropped", "absent_deletes", "crossed", "bad_data")


def counters(book: OrderBook, **expected: int) -> tuple[dict[str, int], dict[str, int]]:
    """(actual, expected) counter dicts; counters not named in ``expected`` must be 0."""
    unknown = set(expected) - set(COUNTERS)
    assert not unknown, unknown
    actual = {name: getattr(book, name) for name in COUNTERS}
    return actual, {name: expected.get(name, 0) for name in COUNTERS}


def assert_counters(book: OrderBook, **expected: int) -> None:
    actual, want = counters(book, **expected)
    assert actual == want


def bids_of(book: OrderBook) -> list[tuple[int, int]]:
    return book.top(Side.BUY, 100)


def asks_of(book: OrderBook) -> list[tuple[int, int]]:
    return book.top(Side.SELL, 100)


def decimal_levels(book: OrderBook, side: Side) -> list[tuple[Decimal, Decimal]]:
    """The side's levels as exact values, whatever the scale."""
    rules = book.instrument
    assert rules is not None
    return [(rules.price_decimal(p), rules.qty_decimal(q)) for p, q in book.top(side, 100)]


def assert_empty(book: OrderBook) -> None:
    assert bids_of(book) == []
    assert asks_of(book) == []
    assert book.best_bid_ticks is None
    assert book.best_ask_ticks is None
    assert book.best_bid() is None
    assert book.best_ask() is None


# The base book. Inferred scales: prices have at most 1 significant decimal ("100.0" counts 0),
# sizes at most 2 ("0.25"), so a tick is 0.1 and a lot is 0.01.
BIDS0 = (("100.0", "1.5"), ("99.5", "2"), ("99.0", "0.25"))
ASKS0 = (("100.5", "1"), ("101.0", "3"), ("102.5", "0.5"))
BOOK0_BIDS = [(1000, 150), (995, 200), (990, 25)]
BOOK0_ASKS = [(1005, 100), (1010, 300), (1025, 50)]
BOOK0_BID_VALUES = [(Decimal(p), Decimal(q)) for p, q in BIDS0]
BOOK0_ASK_VALUES = [(Decimal(p), Decimal(q)) for p, q in ASKS0]


def synced_book(u: int = 10, recv_ns: int = 0) -> tuple[OrderBook, Recorder]:
    """A book with the base snapshot applied at ``u`` (inferred scales 1 and 2)."""
    book, recorder = new_book()
    assert book.apply(snapshot(u, BIDS0, ASKS0, recv_ns=recv_ns)) is True
    return book, recorder


# -- snapshots -------------------------------------------------------------------------------------


def test_first_snapshot_builds_the_book_and_syncs() -> None:
    """A snapshot on a fresh book loads every level, infers scales and moves RESYNCING -> SYNCED."""
    book, recorder = new_book()
    assert book.state is RESYNCING

    assert book.apply(snapshot(10, BIDS0, ASKS0, recv_ns=123)) is True

    assert bids_of(book) == BOOK0_BIDS
    assert asks_of(book) == BOOK0_ASKS
    assert (book.best_bid_ticks, book.best_ask_ticks) == (1000, 1005)
    assert book.best_bid() == (1000, 150)
    assert book.best_ask() == (1005, 100)
    assert book.state is SYNCED
    assert book.is_synced
    assert (book.last_update_id, book.last_seq, book.last_update_ns) == (10, 100, 123)
    assert book.snapshots == 1
    assert_counters(book)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT)]
    assert book.instrument is not None
    assert (book.instrument.price_scale, book.instrument.qty_scale) == (1, 2)
    assert book.instrument.inferred


def test_snapshot_replaces_everything() -> None:
    """A later snapshot drops every level the book had; only its own levels remain."""
    book, recorder = synced_book()
    assert book.apply(snapshot(20, [("98.0", "4")], [("103.0", "0.5"), ("104.0", "1.25")])) is True

    assert bids_of(book) == [(980, 400)]
    assert asks_of(book) == [(1030, 50), (1040, 125)]
    assert book.state is SYNCED
    assert book.last_update_id == 20
    assert_counters(book, resets=1)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT)]  # SYNCED -> SYNCED is not a change


def test_snapshot_repeating_last_u_is_accepted() -> None:
    """Level-1 streams re-send the same snapshot with the same u: it is applied, not a duplicate."""
    book, recorder = synced_book(u=10)
    assert book.apply(snapshot(10, [("100.0", "1")], [("100.5", "2")])) is True

    assert bids_of(book) == [(1000, 100)]
    assert asks_of(book) == [(1005, 200)]
    assert book.state is SYNCED
    assert_counters(book, resets=1)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT)]
    assert book.apply(delta(11, [("100.0", "3")])) is True  # the sequence continues from u
    assert bids_of(book) == [(1000, 300)]


def test_snapshot_with_a_zero_size_level_holds_no_such_level() -> None:
    """A zero-size level in a snapshot is simply absent (and is not an absent delete)."""
    book, recorder = new_book()
    assert book.apply(snapshot(5, [("100.0", "1.25"), ("99.5", "0")], [("100.5", "0.00"), ("101.0", "2")]))

    assert bids_of(book) == [(1000, 125)]
    assert asks_of(book) == [(1010, 200)]
    assert book.state is SYNCED
    assert_counters(book)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT)]


def test_snapshot_with_an_empty_side() -> None:
    """Either side may be empty; the touch of that side is None and nothing is crossed."""
    book, _ = new_book()
    assert book.apply(snapshot(5, [], [("100.5", "1")])) is True
    assert bids_of(book) == []
    assert asks_of(book) == [(1005, 1)]
    assert (book.best_bid_ticks, book.best_ask_ticks) == (None, 1005)
    assert book.state is SYNCED


def test_resent_snapshot_of_seen_strings_equals_a_fresh_load() -> None:
    """A snapshot whose every price and size string was seen before equals what a fresh book loads.

    All strings memoised is what sends ``BookSide.load`` down its bulk path (``_load_memoised``
    at the time of writing; ``_load_seen`` before), so that path must build the same book.
    """
    # same texts as the base book, shuffled between levels and listed out of order
    resent_bids = (("99.0", "1.5"), ("100.0", "0.25"), ("99.5", "2"))
    resent_asks = (("102.5", "1"), ("100.5", "3"))
    book, recorder = synced_book(u=10)
    assert book.apply(snapshot(11, resent_bids, resent_asks)) is True

    fresh, _ = new_book()
    assert fresh.apply(snapshot(11, resent_bids, resent_asks)) is True

    expected_bids = [(1000, 25), (995, 200), (990, 150)]
    expected_asks = [(1005, 300), (1025, 100)]
    for candidate in (book, fresh):
        assert bids_of(candidate) == expected_bids
        assert asks_of(candidate) == expected_asks
        assert (candidate.best_bid_ticks, candidate.best_ask_ticks) == (1000, 1005)
        assert candidate.best_bid() == (1000, 25)
        assert candidate.best_ask() == (1005, 300)
        assert candidate.state is SYNCED
        assert len(candidate.bids) == 3
        assert len(candidate.asks) == 2
    assert book.snapshot_strings(10) == fresh.snapshot_strings(10)
    assert_counters(book, resets=1)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT)]
    # the bulk-loaded book keeps working: update and delete by price
    assert book.apply(delta(12, [("99.5", "0")], [("100.5", "1")])) is True
    assert bids_of(book) == [(1000, 25), (990, 150)]
    assert asks_of(book) == [(1005, 100), (1025, 100)]


def test_resent_snapshot_listing_one_price_twice_falls_back_to_one_level() -> None:
    """A seen price listed in two spellings (or twice) keeps one level: the last listing wins."""
    book, _ = new_book(Instrument(symbol=SYMBOL, price_scale=1, qty_scale=0))
    assert book.apply(snapshot(1, [("99.5", "1"), ("99.50", "2"), ("99.0", "1")], [("100.5", "1")]))
    assert bids_of(book) == [(995, 2), (990, 1)]
    # all texts seen now: the bulk attempt sees 3 listings but 2 prices and must not keep both
    assert book.apply(snapshot(2, [("99.50", "1"), ("99.5", "2"), ("99.0", "2")], [("100.5", "2")]))
    assert bids_of(book) == [(995, 2), (990, 2)]
    assert asks_of(book) == [(1005, 2)]
    assert book.apply(snapshot(3, [("99.0", "1"), ("99.0", "2")], [("100.5", "1")]))
    assert bids_of(book) == [(990, 2)]
    assert len(book.bids) == 1


# -- deltas ----------------------------------------------------------------------------------------


def test_delta_inserts_updates_and_deletes_with_absolute_sizes() -> None:
    """Sizes are absolute: a known price is overwritten, a new one inserted, size 0 deletes."""
    book, recorder = synced_book(u=10)
    assert book.apply(
        delta(
            11,
            [("100.0", "0"), ("99.5", "7.25"), ("100.2", "0.5")],
            [("100.5", "0"), ("100.6", "1")],
            recv_ns=9,
        )
    )

    assert bids_of(book) == [(1002, 50), (995, 725), (990, 25)]
    assert asks_of(book) == [(1006, 100), (1010, 300), (1025, 50)]
    assert (book.best_bid_ticks, book.best_ask_ticks) == (1002, 1006)
    assert (book.last_update_id, book.last_update_ns) == (11, 9)
    assert book.state is SYNCED
    assert_counters(book)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT)]


def test_delta_before_first_snapshot_is_dropped_and_counted() -> None:
    """Deltas before any snapshot are ignored; the book stays empty and RESYNCING."""
    book, recorder = new_book()
    assert book.apply(delta(5, [("100.0", "1")])) is False
    assert book.apply(delta(6, [], [("100.5", "1")])) is False

    assert_empty(book)
    assert book.state is RESYNCING
    assert book.last_update_id == 0
    assert book.instrument is None
    assert_counters(book, unsynced_dropped=2)
    assert recorder.seen == []


def test_stale_and_duplicate_deltas_are_dropped_and_the_book_is_unharmed() -> None:
    """u <= last_u is dropped and counted; the book, its u and its state stay as they were."""
    book, recorder = synced_book(u=10)
    assert book.apply(delta(11, [("99.5", "5")])) is True
    after_11 = [(1000, 150), (995, 500), (990, 25)]

    assert book.apply(delta(11, [("99.5", "9")])) is False  # duplicate
    assert book.apply(delta(10, [("100.0", "0")])) is False  # the snapshot's own u
    assert book.apply(delta(3, [], [("100.5", "0")])) is False  # older still

    assert bids_of(book) == after_11
    assert asks_of(book) == BOOK0_ASKS
    assert book.state is SYNCED
    assert book.last_update_id == 11
    assert_counters(book, stale_dropped=3)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT)]
    assert book.apply(delta(12, [("99.5", "1")])) is True  # the sequence is intact
    assert bids_of(book) == [(1000, 150), (995, 100), (990, 25)]


def test_gap_resyncs_and_ignores_deltas_until_the_next_snapshot() -> None:
    """u > last_u + 1 empties the book; every delta is ignored until a snapshot resyncs it."""
    book, recorder = synced_book(u=10)

    assert book.apply(delta(12, [("99.5", "5")])) is False
    assert_empty(book)
    assert book.state is RESYNCING
    assert book.last_update_id == 10  # kept for the record
    assert_counters(book, gaps=1)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT), (SYNCED, RESYNCING, GAP)]
    assert recorder.reasons[-1] == "gap: u=12 after u=10"

    # the missing one, the next ones, and garbage u: all ignored while resyncing
    for u in (11, 13, 10, 500):
        assert book.apply(delta(u, [("99.5", "5")], [("100.5", "2")])) is False
    assert_empty(book)
    assert book.state is RESYNCING
    assert_counters(book, gaps=1, unsynced_dropped=4)

    assert book.apply(snapshot(40, [("99.0", "1")], [("101.0", "2")])) is True
    assert bids_of(book) == [(990, 100)]
    assert asks_of(book) == [(1010, 200)]
    assert book.state is SYNCED
    assert book.last_update_id == 40
    assert_counters(book, gaps=1, unsynced_dropped=4, resets=1)
    assert recorder.seen[2:] == [(RESYNCING, SYNCED, SNAPSHOT)]
    assert book.apply(delta(41, [("99.0", "3")])) is True
    assert bids_of(book) == [(990, 300)]


def test_delta_with_u_1_resets_the_book() -> None:
    """u == 1 means the venue restarted its book: the message replaces the book like a snapshot."""
    book, recorder = synced_book(u=500)
    assert book.apply(delta(501, [("99.5", "5")])) is True

    assert book.apply(delta(1, [("98.0", "1")], [("103.0", "2")])) is True
    assert bids_of(book) == [(980, 100)]
    assert asks_of(book) == [(1030, 200)]
    assert book.state is SYNCED
    assert book.last_update_id == 1
    assert_counters(book, resets=1)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT)]

    assert book.apply(delta(2, [("98.0", "0")])) is True  # u numbering restarted
    assert bids_of(book) == []
    assert book.apply(delta(502, [("98.0", "1")])) is False  # the old numbering is now a gap
    assert_counters(book, resets=1, gaps=1)


def test_u_1_resyncs_a_resyncing_book() -> None:
    """A u == 1 message also ends RESYNCING, as any snapshot does."""
    book, recorder = synced_book(u=10)
    assert book.apply(delta(15)) is False  # gap
    assert book.apply(delta(1, [("99.0", "1")], [("100.5", "1")])) is True
    assert bids_of(book) == [(990, 100)]
    assert asks_of(book) == [(1005, 100)]
    assert book.state is SYNCED
    assert_counters(book, gaps=1, resets=1)
    assert recorder.seen == [
        (RESYNCING, SYNCED, SNAPSHOT),
        (SYNCED, RESYNCING, GAP),
        (RESYNCING, SYNCED, SNAPSHOT),
    ]


def test_crossed_delta_resyncs() -> None:
    """A delta leaving best bid >= best ask is an integrity error: the book empties and resyncs."""
    book, recorder = synced_book(u=10)
    assert book.apply(delta(11, [("100.5", "1")])) is False  # bid == best ask: crossed too

    assert_empty(book)
    assert book.state is RESYNCING
    assert book.last_update_id == 11
    assert_counters(book, crossed=1)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT), (SYNCED, RESYNCING, CROSSED)]
    assert recorder.reasons[-1] == "crossed at u=11: bid 1005 >= ask 1005"

    assert book.apply(delta(12, [("99.0", "1")])) is False
    assert_counters(book, crossed=1, unsynced_dropped=1)
    assert book.apply(snapshot(13, BIDS0, ASKS0)) is True
    assert bids_of(book) == BOOK0_BIDS
    assert asks_of(book) == BOOK0_ASKS
    assert book.state is SYNCED


def test_crossed_by_an_ask_below_the_best_bid_resyncs() -> None:
    """An ask inserted under the best bid crosses the book just the same."""
    book, recorder = synced_book(u=10)
    assert book.apply(delta(11, [], [("99.5", "1")])) is False
    assert_empty(book)
    assert book.state is RESYNCING
    assert_counters(book, crossed=1)
    assert recorder.seen[-1] == (SYNCED, RESYNCING, CROSSED)


def test_crossed_snapshot_on_a_synced_book_resyncs() -> None:
    """A crossed snapshot is an integrity error like a crossed delta."""
    book, recorder = synced_book(u=10)
    assert book.apply(snapshot(20, [("101.0", "1")], [("100.5", "1")])) is False
    assert_empty(book)
    assert book.state is RESYNCING
    assert_counters(book, crossed=1, resets=1)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT), (SYNCED, RESYNCING, CROSSED)]


def test_crossed_first_snapshot_leaves_the_book_resyncing() -> None:
    """A crossed snapshot on a book that is not SYNCED yet is rejected the same way, not a crash.

    The book stays RESYNCING (no transition to report), is empty, counts the crossing, and keeps
    dropping deltas until a sound snapshot arrives.
    """
    book, recorder = new_book()
    assert book.apply(snapshot(5, [("101.0", "1")], [("100.5", "1")])) is False

    assert_empty(book)
    assert book.state is RESYNCING
    assert_counters(book, crossed=1)
    assert recorder.seen == []
    assert book.apply(delta(6, [("99.0", "1")])) is False  # still waiting for a snapshot
    assert_empty(book)
    assert_counters(book, crossed=1, unsynced_dropped=1)
    assert book.apply(snapshot(7, BIDS0, ASKS0)) is True
    assert book.state is SYNCED
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT)]


def test_delete_of_an_absent_level_is_tolerated_and_counted() -> None:
    """Size 0 for a price the book does not hold changes nothing and counts an absent delete."""
    book, recorder = synced_book(u=10)
    assert book.apply(delta(11, [("98.0", "0"), ("99.5", "0")], [("103.0", "0")])) is True

    assert bids_of(book) == [(1000, 150), (990, 25)]
    assert asks_of(book) == BOOK0_ASKS
    assert book.state is SYNCED
    assert book.last_update_id == 11
    assert_counters(book, absent_deletes=2)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT)]


def test_same_price_spelled_two_ways_stays_one_level() -> None:
    """ "99.5" and "99.50" are one level: insert by alias, update by either, delete by the other."""
    book, _ = synced_book(u=10)

    assert book.apply(delta(11, [("99.50", "4")])) is True  # update via a new spelling
    assert bids_of(book) == [(1000, 150), (995, 400), (990, 25)]
    assert len(book.bids) == 3

    assert book.apply(delta(12, [("99.5", "6")])) is True  # and back
    assert bids_of(book) == [(1000, 150), (995, 600), (990, 25)]
    assert len(book.bids) == 3

    assert book.apply(delta(13, [], [("103.00", "1")])) is True  # insert one spelling...
    assert book.apply(delta(14, [], [("103.0", "2")])) is True  # ...update with another
    assert asks_of(book) == [(1005, 100), (1010, 300), (1025, 50), (1030, 200)]
    assert len(book.asks) == 4

    assert book.apply(delta(15, [("99.500", "0")], [("103", "0")])) is True  # delete by a third
    assert bids_of(book) == [(1000, 150), (990, 25)]
    assert asks_of(book) == BOOK0_ASKS
    assert (len(book.bids), len(book.asks)) == (2, 3)
    assert book.state is SYNCED
    assert_counters(book)  # an aliased delete is not an absent delete
    assert book.snapshot_strings(1) == ([["100.0", "1.50"]], [["100.5", "1.00"]])


# -- silence ---------------------------------------------------------------------------------------


def test_silence_makes_the_book_stale_and_an_in_sequence_delta_revives_it() -> None:
    """No update for stale_after -> STALE (levels kept); the next delta in sequence -> SYNCED."""
    limit = 1_000
    book, recorder = synced_book(u=10, recv_ns=5_000)

    assert book.check_silence(5_000 + limit - 1, limit) is False
    assert book.state is SYNCED
    assert book.check_silence(5_000 + limit, limit) is True
    assert book.state is STALE
    assert not book.is_synced
    assert bids_of(book) == BOOK0_BIDS  # consistent, just quiet
    assert asks_of(book) == BOOK0_ASKS
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT), (SYNCED, STALE, SILENCE)]
    assert recorder.reasons[-1] == "no update for 0.000s"

    assert book.check_silence(9_000, limit) is True  # still stale: no second transition
    assert book.apply(delta(10, [("99.5", "9")])) is False  # a repeat while stale: dropped
    assert book.state is STALE
    assert len(recorder.seen) == 2

    assert book.apply(delta(11, [("99.5", "5")], recv_ns=9_500)) is True
    assert bids_of(book) == [(1000, 150), (995, 500), (990, 25)]
    assert asks_of(book) == BOOK0_ASKS
    assert book.state is SYNCED
    assert book.last_update_ns == 9_500
    assert_counters(book, stale_dropped=1)
    assert recorder.seen[2:] == [(STALE, SYNCED, DELTA)]
    assert book.check_silence(9_500 + limit - 1, limit) is False  # the clock restarted at 9_500
    assert book.apply(delta(12, [("99.5", "6")])) is True  # the fast path is back
    assert bids_of(book) == [(1000, 150), (995, 600), (990, 25)]


def test_silence_then_snapshot_resyncs() -> None:
    """A snapshot ends STALE too, replacing the levels."""
    book, recorder = synced_book(u=10, recv_ns=0)
    assert book.check_silence(50, 50) is True
    assert book.apply(snapshot(30, [("98.0", "1")], [("99.0", "1")])) is True

    assert bids_of(book) == [(980, 100)]
    assert asks_of(book) == [(990, 100)]
    assert book.state is SYNCED
    assert_counters(book, resets=1)
    assert recorder.seen == [
        (RESYNCING, SYNCED, SNAPSHOT),
        (SYNCED, STALE, SILENCE),
        (STALE, SYNCED, SNAPSHOT),
    ]


@pytest.mark.parametrize(
    ("bids", "trigger"),
    [([("100.5", "1")], CROSSED), ([("99.5", "-1")], BAD_DATA)],
    ids=["crossed", "bad data"],
)
def test_broken_delta_after_silence_goes_straight_to_resyncing(
    bids: list[tuple[str, str]], trigger: BookTrigger
) -> None:
    """An in-sequence delta that breaks a STALE book never reports it SYNCED on the way.

    STALE -> RESYNCING directly (the table has both entries), so no subscriber is told the book
    is usable because of a message the book then rejects.
    """
    book, recorder = synced_book(u=10, recv_ns=0)
    book.check_silence(50, 50)
    assert book.apply(delta(11, bids)) is False
    assert_empty(book)
    assert book.state is RESYNCING
    assert recorder.seen == [
        (RESYNCING, SYNCED, SNAPSHOT),
        (SYNCED, STALE, SILENCE),
        (STALE, RESYNCING, trigger),
    ]


def test_gap_while_stale_resyncs() -> None:
    """A stale book that hears a gapped delta goes RESYNCING, not back to SYNCED."""
    book, recorder = synced_book(u=10, recv_ns=0)
    book.check_silence(50, 50)
    assert book.apply(delta(13, [("99.5", "5")])) is False
    assert_empty(book)
    assert book.state is RESYNCING
    assert_counters(book, gaps=1)
    assert recorder.seen[1:] == [(SYNCED, STALE, SILENCE), (STALE, RESYNCING, GAP)]


def test_silence_does_not_touch_a_resyncing_book() -> None:
    """check_silence on a book without a snapshot reports nothing and changes nothing."""
    book, recorder = new_book()
    assert book.check_silence(10**18, 1) is False
    assert book.state is RESYNCING
    assert recorder.seen == []


# -- malformed levels -------------------------------------------------------------------------------

MALFORMED_BIDS: dict[str, list[tuple[Any, ...]]] = {
    "bad number": [("99.5", "abc")],
    "exponent": [("1e2", "1")],
    "two dots": [("99.5.1", "1")],
    "negative size": [("99.5", "-1")],
    "zero price": [("0", "1")],
    "negative price": [("-99.5", "1")],
    "too precise price": [("99.55", "1")],
    "too precise size": [("99.5", "0.001")],
    "non-string size": [("99.5", None)],
    "one element": [("99.5",)],
    "three elements": [("99.5", "1", "2")],
    "after a good level": [("99.5", "5"), ("99.0", "x")],
}


@pytest.mark.parametrize("levels", MALFORMED_BIDS.values(), ids=MALFORMED_BIDS.keys())
def test_malformed_level_in_a_delta_is_bad_data(levels: list[tuple[Any, ...]]) -> None:
    """An unreadable level in a delta empties the book and resyncs, counted as bad data."""
    book, recorder = synced_book(u=10)
    assert book.apply(delta(11, levels, [("101.0", "1")])) is False

    assert_empty(book)
    assert book.state is RESYNCING
    assert_counters(book, bad_data=1)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT), (SYNCED, RESYNCING, BAD_DATA)]
    assert recorder.reasons[-1].startswith("unreadable level at u=11: ")
    assert book.apply(delta(12, [("99.5", "5")])) is False
    assert_counters(book, bad_data=1, unsynced_dropped=1)


MALFORMED_SNAPSHOT_BIDS = {
    k: v
    for k, v in MALFORMED_BIDS.items()
    if k not in ("too precise price", "too precise size", "non-string size")  # fit / own test
}


@pytest.mark.parametrize("levels", MALFORMED_SNAPSHOT_BIDS.values(), ids=MALFORMED_SNAPSHOT_BIDS.keys())
def test_malformed_level_in_a_first_snapshot_is_bad_data(levels: list[tuple[Any, ...]]) -> None:
    """An unreadable first snapshot leaves the book empty and RESYNCING; the next sound one syncs."""
    book, recorder = new_book()
    assert book.apply(snapshot(5, [("100.0", "1"), *levels], [("101.0", "1")])) is False

    assert_empty(book)
    assert book.state is RESYNCING
    assert_counters(book, bad_data=1)
    assert recorder.seen == []  # RESYNCING -> RESYNCING is not a change
    assert book.apply(snapshot(6, BIDS0, ASKS0)) is True
    # values, not ticks: the unreadable snapshot may already have widened the inferred scale
    assert decimal_levels(book, Side.BUY) == BOOK0_BID_VALUES
    assert decimal_levels(book, Side.SELL) == BOOK0_ASK_VALUES
    assert book.state is SYNCED
    assert_counters(book, bad_data=1, resets=1)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT)]


def test_non_string_number_in_a_first_snapshot_is_bad_data() -> None:
    """A non-string size in a first snapshot is bad data, as it is in a delta; apply never raises."""
    book, recorder = new_book()
    assert book.apply(snapshot(5, [("100.0", "1"), ("99.5", None)], [("101.0", "1")])) is False

    assert_empty(book)
    assert book.state is RESYNCING
    assert_counters(book, bad_data=1)
    assert recorder.seen == []


def test_malformed_snapshot_on_a_synced_book_is_bad_data() -> None:
    """A synced book given an unreadable snapshot empties and resyncs."""
    book, recorder = synced_book(u=10)
    assert book.apply(snapshot(11, [("99.5", "-2")], [("101.0", "1")])) is False
    assert_empty(book)
    assert book.state is RESYNCING
    assert_counters(book, bad_data=1, resets=1)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT), (SYNCED, RESYNCING, BAD_DATA)]
    assert recorder.reasons[-1].startswith("unreadable snapshot at u=11: ")


# -- scales ----------------------------------------------------------------------------------------


def test_inferred_scale_is_decided_by_the_first_snapshot_and_widened_by_later_ones() -> None:
    """Without rules the first snapshot sets the scale; a finer snapshot widens it, never narrows."""
    book, recorder = synced_book(u=10)
    assert book.instrument is not None
    assert (book.instrument.price_scale, book.instrument.qty_scale) == (1, 2)

    # trailing zeros beyond the scale are fine in a delta
    assert book.apply(delta(11, [("99.50", "2.500")])) is True
    assert bids_of(book) == [(1000, 150), (995, 250), (990, 25)]

    assert book.apply(snapshot(12, [("100.05", "1.125")], [("100.5", "2")])) is True
    assert (book.instrument.price_scale, book.instrument.qty_scale) == (2, 3)
    assert bids_of(book) == [(10005, 1125)]
    assert asks_of(book) == [(10050, 2000)]
    assert book.snapshot_strings(5) == ([["100.05", "1.125"]], [["100.50", "2.000"]])

    assert book.apply(snapshot(13, [("100", "1")], [("101", "1")])) is True  # coarser: kept at (2, 3)
    assert (book.instrument.price_scale, book.instrument.qty_scale) == (2, 3)
    assert bids_of(book) == [(10000, 1000)]
    assert asks_of(book) == [(10100, 1000)]
    assert book.state is SYNCED
    assert_counters(book, resets=2)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT)]


def test_delta_finer_than_the_inferred_scale_is_bad_data() -> None:
    """Only a snapshot may widen an inferred scale: a too-precise delta resyncs the book."""
    book, recorder = synced_book(u=10)
    assert book.apply(delta(11, [], [("100.55", "1")])) is False
    assert_empty(book)
    assert book.state is RESYNCING
    assert book.instrument is not None
    assert (book.instrument.price_scale, book.instrument.qty_scale) == (1, 2)
    assert_counters(book, bad_data=1)
    assert recorder.seen[-1] == (SYNCED, RESYNCING, BAD_DATA)


def test_instrument_rules_fix_the_scale() -> None:
    """With venue rules a too-precise number is bad data and the scale never changes."""
    rules = Instrument(symbol=SYMBOL, price_scale=1, qty_scale=3, price_step_ticks=5)
    book, recorder = new_book(rules)

    assert book.apply(snapshot(1, [("100.05", "1")], [("100.5", "1")])) is False  # snapshot too fine
    assert book.instrument is rules
    assert book.state is RESYNCING
    assert_counters(book, bad_data=1)

    assert book.apply(snapshot(2, [("100", "1.5")], [("100.5", "0.001")])) is True
    assert book.instrument is rules
    assert bids_of(book) == [(1000, 1500)]
    assert asks_of(book) == [(1005, 1)]
    assert book.snapshot_strings(5) == ([["100.0", "1.500"]], [["100.5", "0.001"]])

    assert book.apply(delta(3, [("99.9", "0.0001")])) is False  # size too fine
    assert book.instrument is rules
    assert_empty(book)
    assert book.state is RESYNCING
    assert_counters(book, bad_data=2, resets=1)
    assert recorder.seen == [(RESYNCING, SYNCED, SNAPSHOT), (SYNCED, RESYNCING, BAD_DATA)]


def test_apply_returns_true_only_for_applied_messages() -> None:
    """The return value says whether the message is now part of a usable book."""
    book, _ = new_book()
    results = [
        book.apply(delta(4, [("100.0", "1")])),  # before any snapshot
        book.apply(snapshot(5, BIDS0, ASKS0)),
        book.apply(delta(6, [("99.5", "3")])),
        book.apply(delta(6, [("99.5", "4")])),  # duplicate
        book.apply(delta(7, [("98.0", "0")])),  # absent delete: still applied
        book.apply(delta(9)),  # gap
        book.apply(delta(10)),  # resyncing
        book.apply(snapshot(20, BIDS0, ASKS0)),
        book.apply(delta(21, [("105.0", "1")])),  # crossed
        book.apply(snapshot(30, BIDS0, ASKS0)),
        book.apply(delta(31, [("x", "1")])),  # bad data
    ]
    assert results == [False, True, True, False, True, False, False, True, False, True, False]
    assert_counters(
        book, unsynced_dropped=2, stale_dropped=1, absent_deletes=1, gaps=1, resets=2, crossed=1, bad_data=1
    )


# -- queries ---------------------------------------------------------------------------------------

Q_RULES = Instrument(symbol=SYMBOL, price_scale=1, qty_scale=3)
Q_BIDS = (("999", "1"), ("998.5", "2"), ("998.0", "0.5"), ("990.0", "5"))
Q_ASKS = (("1001.0", "3"), ("1001.5", "2"), ("1002", "1"), ("1010.0", "4"))


def query_book() -> OrderBook:
    """bids 9990x1000 9985x2000 9980x500 9900x5000 | asks 10010x3000 10015x2000 10020x1000 10100x4000."""
    book, _ = new_book(Q_RULES)
    assert book.apply(snapshot(1, Q_BIDS, Q_ASKS))
    return book


def test_touch_mid_spread_and_microprice() -> None:
    """Hand-computed touch queries on the query book."""
    book = query_book()
    assert book.best_bid() == (9990, 1000)
    assert book.best_ask() == (10010, 3000)
    assert book.mid_ticks() == Decimal(10000)
    assert book.spread_ticks() == 20
    assert book.spread_bps() == Decimal(20)  # 20 ticks / 10000 ticks
    # (9990 * 3000 + 10010 * 1000) / 4000: leans to the bid, the side with less size
    assert book.microprice_ticks() == Decimal(9995)


def test_mid_can_be_a_half_tick() -> None:
    """A one-tick spread puts the mid on a half tick; spread_bps is relative to that mid."""
    book, _ = new_book(Q_RULES)
    assert book.apply(snapshot(1, [("100.0", "1")], [("100.1", "1")]))
    assert book.mid_ticks() == Decimal("1000.5")
    assert book.spread_ticks() == 1
    spread_bps = book.spread_bps()
    assert spread_bps is not None
    assert spread_bps.quantize(Decimal("1e-9")) == Decimal("9.995002499")  # 10000 / 1000.5
    assert book.microprice_ticks() == Decimal("1000.5")


def test_queries_on_an_empty_or_one_sided_book() -> None:
    """Without both sides there is no mid, spread or microprice, and nothing to sweep."""
    book, _ = new_book()
    assert book.mid_ticks() is None
    assert book.spread_ticks() is None
    assert book.spread_bps() is None
    assert book.microprice_ticks() is None
    assert book.imbalance() is None
    assert book.top(Side.BUY, 5) == []
    assert book.size_within_bps(Side.SELL, 100) == 0
    assert book.size_within_price(Side.SELL, 10**9) == 0
    assert book.snapshot_strings(5) == ([], [])
    empty = book.sweep(Side.SELL, 10)
    assert (empty.filled_lots, empty.notional, empty.worst_price_ticks, empty.levels) == (0, 0, None, 0)
    assert empty.average_price_ticks is None

    assert book.apply(snapshot(1, [("100.0", "2")], []))
    assert book.mid_ticks() is None
    assert book.spread_bps() is None
    assert book.microprice_ticks() is None
    assert book.imbalance() == Decimal(1)


def test_imbalance_over_levels() -> None:
    """(bid - ask) / (bid + ask) over the top n levels of each side."""
    book = query_book()
    assert book.imbalance() == Decimal("-0.5")  # (1000 - 3000) / 4000
    assert book.imbalance(2) == Decimal("-0.25")  # (3000 - 5000) / 8000
    assert book.imbalance(4) == Decimal(-1500) / Decimal(18500)  # (8500 - 10000) / 18500
    assert book.imbalance(100) == book.imbalance(4)


def test_top_n() -> None:
    """top(side, n) lists at most n levels from the touch outwards."""
    book = query_book()
    assert book.top(Side.BUY, 2) == [(9990, 1000), (9985, 2000)]
    assert book.top(Side.SELL, 3) == [(10010, 3000), (10015, 2000), (10020, 1000)]
    assert book.top(Side.SELL, 0) == []
    assert book.top(Side.BUY, 100) == [(9990, 1000), (9985, 2000), (9980, 500), (9900, 5000)]
    assert book.top(Side.SELL, 100) == [(10010, 3000), (10015, 2000), (10020, 1000), (10100, 4000)]


def test_size_within_bps() -> None:
    """Size within bps of the side's own best price; the reach is whole ticks towards the touch."""
    book = query_book()
    # bids: 10 bps of 9990 is 9.99 ticks -> 9 ticks: 9990 and 9985, not 9980
    assert book.size_within_bps(Side.BUY, 10) == 3000
    assert book.size_within_bps(Side.BUY, 11) == 3500  # 10.989 -> 10 ticks reaches 9980
    assert book.size_within_bps(Side.BUY, 0) == 1000
    # asks: 10 bps of 10010 is 10.01 ticks -> 10: 10010, 10015, 10020
    assert book.size_within_bps(Side.SELL, 10) == 6000
    assert book.size_within_bps(Side.SELL, Decimal("9.99")) == 5000  # 9.99999 -> 9 ticks
    assert book.size_within_bps(Side.SELL, 10_000) == 10000


def test_size_within_price_on_both_sides() -> None:
    """Asks at or under a buyer's limit; bids at or over a seller's limit."""
    book = query_book()
    assert book.size_within_price(Side.SELL, 10015) == 5000
    assert book.size_within_price(Side.SELL, 10019) == 5000
    assert book.size_within_price(Side.SELL, 10009) == 0
    assert book.size_within_price(Side.SELL, 10**9) == 10000
    assert book.size_within_price(Side.BUY, 9985) == 3000
    assert book.size_within_price(Side.BUY, 9991) == 0
    assert book.size_within_price(Side.BUY, 1) == 8500


def test_sweep() -> None:
    """Taking size level by level: filled, exact notional, worst price, levels used, average."""
    book = query_book()

    partial = book.sweep(Side.SELL, 4000)  # 3000 @ 10010 + 1000 @ 10015
    assert (partial.filled_lots, partial.notional, partial.worst_price_ticks, partial.levels) == (
        4000,
        40_045_000,
        10015,
        2,
    )
    assert partial.average_price_ticks == Decimal("10011.25")

    capped = book.sweep(Side.SELL, 4000, limit_ticks=10010)
    assert (capped.filled_lots, capped.notional, capped.worst_price_ticks, capped.levels) == (
        3000,
        30_030_000,
        10010,
        1,
    )
    assert capped.average_price_ticks == Decimal(10010)

    everything = book.sweep(Side.SELL, 20_000)  # more than the side holds
    assert (everything.filled_lots, everything.notional, everything.worst_price_ticks, everything.levels) == (
        10_000,
        100_480_000,
        10100,
        4,
    )
    assert everything.average_price_ticks == Decimal(10048)

    sell = book.sweep(Side.BUY, 2500)  # 1000 @ 9990 + 1500 @ 9985
    assert (sell.filled_lots, sell.notional, sell.worst_price_ticks, sell.levels) == (
        2500,
        24_967_500,
        9985,
        2,
    )
    assert sell.average_price_ticks == Decimal(9987)

    floor = book.sweep(Side.BUY, 2500, limit_ticks=9989)
    assert (floor.filled_lots, floor.notional, floor.worst_price_ticks, floor.levels) == (
        1000,
        9_990_000,
        9990,
        1,
    )

    nothing = book.sweep(Side.BUY, 100, limit_ticks=10000)
    assert (nothing.filled_lots, nothing.notional, nothing.worst_price_ticks, nothing.levels) == (
        0,
        0,
        None,
        0,
    )
    assert nothing.average_price_ticks is None

    zero = book.sweep(Side.SELL, 0)
    assert (zero.filled_lots, zero.notional, zero.worst_price_ticks, zero.levels) == (0, 0, None, 0)


def test_snapshot_strings_format_at_the_instrument_scale() -> None:
    """Top n levels as [price, size] strings with exactly the scale's decimals, whatever the input."""
    book = query_book()
    assert book.snapshot_strings(2) == (
        [["999.0", "1.000"], ["998.5", "2.000"]],
        [["1001.0", "3.000"], ["1001.5", "2.000"]],
    )
    bids, asks = book.snapshot_strings(10)
    assert bids[-1] == ["990.0", "5.000"]
    assert asks[-1] == ["1010.0", "4.000"]
    assert (len(bids), len(asks)) == (4, 4)
    assert book.snapshot_strings(0) == ([], [])


# -- property: the book agrees with a plain reference model ----------------------------------------

P_RULES = Instrument(symbol=SYMBOL, price_scale=2, qty_scale=3)
SIZES = ("0", "0.000", "1", "1.0", "1.5", "2.250", "0.001", "3", "12")


def _spellings(half_steps: int) -> list[str]:
    """Ways to write 100 + half_steps / 2 (all within scale 2 once trailing zeros are dropped)."""
    value = Decimal(100) + Decimal(half_steps) / 2
    plain = format(value.normalize(), "f")
    if "." in plain:
        return [plain, plain + "0", plain + "00"]
    return [plain, plain + ".0", plain + ".00"]


def _level(lo: int, hi: int, sizes: Sequence[str] = SIZES) -> st.SearchStrategy[tuple[str, str]]:
    prices = st.integers(lo, hi).flatmap(lambda k: st.sampled_from(_spellings(k)))
    return st.tuples(prices, st.sampled_from(sizes))


def _unique_by_value(levels: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A venue snapshot lists each price once."""
    seen: dict[Decimal, tuple[str, str]] = {}
    for level in levels:
        seen.setdefault(Decimal(level[0]), level)
    return list(seen.values())


# bids of snapshots live in [100, 107.5], asks in [108, 115]: a snapshot is never crossed.
SNAPSHOT_SIDES = st.tuples(
    st.lists(_level(0, 15), max_size=6).map(_unique_by_value),
    st.lists(_level(16, 30), max_size=6).map(_unique_by_value),
)
# deltas overlap in [106, 109]: they sometimes cross, and repeat or delete absent prices
DELTA_SIDES = st.tuples(st.lists(_level(0, 18), max_size=5), st.lists(_level(12, 30), max_size=5))

Op = tuple[str, int, tuple[list[tuple[str, str]], list[tuple[str, str]]]]
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("snapshot"), st.sampled_from([0, 1, 1, 5]), SNAPSHOT_SIDES),
        st.tuples(st.just("reset"), st.sampled_from([0, 1]), SNAPSHOT_SIDES),
        st.tuples(st.just("resend"), st.just(0), SNAPSHOT_SIDES),
        st.tuples(st.just("delta"), st.sampled_from([1, 1, 1, 1, 1, 1, 0, -1, 2]), DELTA_SIDES),
    ),
    min_size=1,
    max_size=30,
)


class Reference:
    """Bybit's rules on plain dicts of Decimal price -> Decimal size."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.synced = False
        self.last_u = 0
        self.last_snapshot: tuple[list[tuple[str, str]], list[tuple[str, str]]] = ([], [])

    def apply(self, msg: BookDelta) -> bool:
        if msg.is_snapshot or msg.update_id == 1:
            self.bids = {Decimal(p): Decimal(s) for p, s in msg.bids if Decimal(s)}
            self.asks = {Decimal(p): Decimal(s) for p, s in msg.asks if Decimal(s)}
            self.last_snapshot = (list(msg.bids), list(msg.asks))
            return self._accept(msg.update_id)
        if not self.synced or msg.update_id <= self.last_u:
            return False
        if msg.update_id > self.last_u + 1:
            return self._fail()
        for side, levels in ((self.bids, msg.bids), (self.asks, msg.asks)):
            for p, s in levels:
                if Decimal(s):
                    side[Decimal(p)] = Decimal(s)
                else:
                    side.pop(Decimal(p), None)
        return self._accept(msg.update_id)

    def _accept(self, u: int) -> bool:
        self.last_u = u
        if self.bids and self.asks and max(self.bids) >= min(self.asks):
            return self._fail()
        self.synced = True
        return True

    def _fail(self) -> bool:
        self.bids, self.asks, self.synced = {}, {}, False
        return False

    def levels(self, side: Side) -> list[tuple[int, int]]:
        book = self.bids if side is Side.BUY else self.asks
        prices = sorted(book, reverse=side is Side.BUY)
        return [(int(p * 100), int(book[p] * 1000)) for p in prices]


def _message_for(op: Op, reference: Reference) -> BookDelta:
    kind, offset, (bids, asks) = op
    last = reference.last_u
    if kind == "reset":  # u == 1: a restart, as a snapshot or as a delta
        return (snapshot if offset else delta)(1, bids, asks)
    if kind == "resend":  # the last snapshot again, same u: exercises the bulk path
        return snapshot(max(last, 2), *reference.last_snapshot)
    if kind == "snapshot":
        return snapshot(max(last + offset, 2), bids, asks)
    return delta(max(last + offset, 2), bids, asks)  # u == 1 is a reset, generated above


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_book_agrees_with_reference_model(ops: list[Op]) -> None:
    """After every message: same acceptance, same state, same levels, same touch."""
    book, _ = new_book(P_RULES)
    reference = Reference()
    for op in ops:
        msg = _message_for(op, reference)
        assert book.apply(msg) is reference.apply(msg), op
        if reference.synced:
            assert book.state is SYNCED
            assert bids_of(book) == reference.levels(Side.BUY)
            assert asks_of(book) == reference.levels(Side.SELL)
            assert book.best_bid_ticks == (int(max(reference.bids) * 100) if reference.bids else None)
            assert book.best_ask_ticks == (int(min(reference.asks) * 100) if reference.asks else None)
            assert (len(book.bids), len(book.asks)) == (len(reference.bids), len(reference.asks))
        else:
            assert book.state is RESYNCING
            assert_empty(book)


def test_watched_depth_matches_a_scan_through_every_kind_of_update() -> None:
    """The watched size within a price equals a fresh scan after inserts, updates, deletes and snapshots."""
    book = OrderBook("X", 50)
    book.apply(snapshot(1, [("99.0", "1"), ("98.0", "2")], [("101.0", "1"), ("102.0", "2"), ("104.0", "5")]))
    book.watch_size_within_price(Side.SELL, 10200)
    book.watch_size_within_price(Side.BUY, 9850)

    def scanned(side: Side, limit: int) -> int:
        return sum(
            size for price, size in book.top(side, 1000) if (price <= limit if side is Side.SELL else price >= limit)
        )

    steps = [
        delta(2, [("98.5", "3")], [("101.5", "4"), ("102.0", "0")]),
        delta(3, [("99.0", "0"), ("97.0", "9")], [("101.0", "7"), ("103.0", "1")]),
        delta(4, [], [("101.5", "0"), ("110.0", "0")]),
        snapshot(5, [("99.5", "2")], [("100.5", "3"), ("101.9", "4"), ("102.1", "8")]),
    ]
    for message in steps:
        assert book.apply(message)
        assert book.size_within_price(Side.SELL, 1020) == scanned(Side.SELL, 1020)
        assert book.size_within_price(Side.BUY, 985) == scanned(Side.BUY, 985)
    assert book.size_within_price(Side.SELL, 1020) == 3 + 4  # 100.5 and 101.9; 102.1 is beyond
