"""Merging record streams: receive-time order, deterministic ties, no cost for a single input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from feeds.replay import Record, RecordingWriter, merge_records, open_records, read_orderbook_history


def test_three_streams_merge_in_time_order_with_stable_ties() -> None:
    """Ties go to the earlier argument, then keep each input's own order."""
    books: list[Record] = [
        (1, "history", b"b1"),
        (3, "history", b"b3"),
        (3, "history", b"b3'"),
        (7, "history", b"b7"),
    ]
    trades: list[Record] = [(0, "history", b"t0"), (3, "history", b"t3"), (7, "history", b"t7")]
    live: list[Record] = [
        (3, "linear", b"l3"),
        (3, "linear", b"l3'"),
        (4, "linear", b"l4"),
        (9, "linear", b"l9"),
    ]

    merged = [raw for _, _, raw in merge_records(books, trades, live)]

    assert merged == [b"t0", b"b1", b"b3", b"b3'", b"t3", b"l3", b"l3'", b"l4", b"b7", b"t7", b"l9"]
    assert [raw for _, _, raw in merge_records(live, trades, books)][2:7] == [
        b"l3",
        b"l3'",
        b"t3",
        b"b3",
        b"b3'",
    ]


def test_merge_is_lazy() -> None:
    """Records come out as the inputs are consumed, so a day of data never sits in memory."""
    pulled: list[int] = []

    def source(start: int) -> Iterator[Record]:
        for ts in range(start, 1_000_000, 2):
            pulled.append(ts)
            yield (ts, "s", b"")

    merged = merge_records(source(0), source(1))
    assert [next(merged)[0] for _ in range(4)] == [0, 1, 2, 3]
    assert len(pulled) <= 6


def test_single_input_is_passed_through() -> None:
    """One input comes back as itself (an iterator) or its iterator (a list): no per-record cost."""
    records: list[Record] = [(5, "x", b"a"), (1, "x", b"b")]  # not checked, not re-sorted
    iterator = iter(records)
    assert merge_records(iterator) is iterator
    assert list(merge_records(records)) == records
    assert list(merge_records()) == []


def test_merge_real_book_dump_with_recording(xrp_sample: Path, tmp_path: Path) -> None:
    """A book dump and a recording interleave by receive time; nothing is lost or reordered within a file."""
    book = list(read_orderbook_history(xrp_sample))
    path = tmp_path / "live.rec.gz"
    midpoint = book[25][0]
    with RecordingWriter(path) as writer:
        writer.write(book[0][0] - 1, "linear", b'{"op":"pong"}')
        writer.write(midpoint, "linear", b'{"op":"pong","n":2}')
        writer.write(book[-1][0] + 1, "linear", b'{"op":"pong","n":3}')

    merged = list(merge_records(open_records(xrp_sample), open_records(path)))

    assert len(merged) == 53
    assert [ts for ts, _, _ in merged] == sorted(ts for ts, _, _ in merged)
    assert [r for r in merged if r[1] == "history"] == book
    assert merged[0][1] == "linear"
    assert merged[-1][1] == "linear"
    assert merged.index((midpoint, "linear", b'{"op":"pong","n":2}')) == 27  # after the book line at the tie
