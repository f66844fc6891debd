"""The replay driver: recorded frames -> codec -> engine -> bus, on simulated time."""

from __future__ import annotations

import zipfile

import orjson

from engine.enums import BookState
from engine.events import BookDelta, BookStateChanged, Event, TradePrinted
from engine.runtime.replay import Record, Replay
from feeds.replay import open_records
from tests.conftest import REPLAY_DATA, XRP_SAMPLE

MS = 1_000_000


def xrp_lines() -> list[bytes]:
    with zipfile.ZipFile(XRP_SAMPLE) as archive:
        return archive.read(archive.namelist()[0]).splitlines()


def records_of(lines: list[bytes]) -> list[Record]:
    return [(orjson.loads(line)["ts"] * MS, "history", line) for line in lines]


def test_real_xrp_sample_replays_to_the_known_book() -> None:
    """The real Bybit ob500 sample ends at 1.9537 / 1.9538 with 500 levels a side, SYNCED, no gaps."""
    report = Replay().run(open_records(XRP_SAMPLE))
    book = report.books["XRPUSDT"]
    assert report.messages == 50
    assert report.book_messages == 50
    assert report.malformed == 0
    assert report.ignored_messages == 0
    assert book["state"] == "SYNCED"
    assert book["gaps"] == 0
    assert book["resets"] == 0
    assert book["last_u"] == 20254918
    assert (book["bid_levels"], book["ask_levels"]) == (500, 500)
    assert book["bids"][0] == ["1.9537", "10605"]
    assert book["asks"][0] == ["1.9538", "6702"]
    assert report.first_ts_ns == 1733011200691 * MS
    assert report.last_ts_ns == 1733011205490 * MS


def test_every_event_reaches_a_subscriber_in_order_with_the_clock_at_its_receive_time() -> None:
    """Subscribers see events in file order and the simulated clock equals each record's time."""
    replay = Replay()
    seen: list[tuple[int, int, int]] = []

    def watch(event: BookDelta) -> None:
        seen.append((event.update_id, event.ts_recv_ns, replay.clock.now_ns()))

    replay.engine.bus.subscribe(BookDelta, watch)
    lines = xrp_lines()
    replay.run(records_of(lines))
    expected_u = [orjson.loads(line)["data"]["u"] for line in lines]
    assert [u for u, _, _ in seen] == expected_u
    assert all(recv == now for _, recv, now in seen)


def test_a_gap_resyncs_at_the_next_snapshot_and_asks_for_a_resync() -> None:
    """A missing delta drops the book to RESYNCING until the next snapshot, with one ResyncBook."""
    lines = xrp_lines()
    gapped = lines[:10] + lines[11:20]  # line 11 (u+10) is lost
    snapshot = orjson.loads(lines[0])
    snapshot["data"]["u"] = orjson.loads(lines[19])["data"]["u"] + 5
    snapshot["ts"] = snapshot["cts"] = orjson.loads(lines[19])["ts"] + 100
    records = [*records_of(gapped), *records_of([orjson.dumps(snapshot)])]
    replay = Replay()
    states: list[tuple[BookState, BookState]] = []
    replay.engine.bus.subscribe(BookStateChanged, lambda e: states.append((e.old, e.new)))
    report = replay.run(records)
    book = report.books["XRPUSDT"]
    assert book["gaps"] == 1
    assert book["unsynced_dropped"] == 8  # lines 12..19 arrive while resyncing
    assert book["resets"] == 1
    assert book["state"] == "SYNCED"
    assert states == [
        (BookState.RESYNCING, BookState.SYNCED),
        (BookState.SYNCED, BookState.RESYNCING),
        (BookState.RESYNCING, BookState.SYNCED),
    ]
    assert report.commands == {"ResyncBook": 1}


def test_malformed_and_unknown_frames_are_counted_and_replay_continues() -> None:
    """Bad lines in a recording never stop a replay: they are counted, and the book still syncs."""
    lines = xrp_lines()
    junk: list[bytes] = [b"{not json", b'{"topic":"kline.1.XRPUSDT","data":"x"}', b'{"topic":"nope.XRPUSDT"}']
    mixed = [lines[0], *junk, *lines[1:]]
    ts0 = orjson.loads(lines[0])["ts"] * MS
    records: list[Record] = [(ts0, "history", line) for line in mixed[:4]] + records_of(lines[1:])
    report = Replay().run(records)
    assert report.malformed == 2
    assert report.ignored_messages == 1
    assert report.books["XRPUSDT"]["state"] == "SYNCED"
    assert report.books["XRPUSDT"]["bids"][0] == ["1.9537", "10605"]


def test_records_older_than_the_clock_are_processed_at_the_clock_time() -> None:
    """Simulated time never runs backwards: an out-of-order record is counted and processed 'now'."""
    lines = xrp_lines()
    records = records_of(lines[:3])
    early = (records[0][0] - 5 * MS, records[2][1], records[2][2])
    replay = Replay()
    recv_times: list[int] = []
    replay.engine.bus.subscribe(BookDelta, lambda e: recv_times.append(e.ts_recv_ns))
    report = replay.run([records[0], records[1], early])
    assert report.out_of_order == 1
    assert recv_times == [records[0][0], records[1][0], records[1][0]]


def test_silence_in_a_merged_replay_marks_the_quiet_book_stale() -> None:
    """Merged with a longer feed, the XRP book goes STALE once silent for stale_after."""
    replay = Replay(stale_after_ns=2_000 * MS)
    xrp = records_of(xrp_lines())
    last = xrp[-1][0]
    trade = {
        "topic": "publicTrade.BTCUSDT",
        "type": "snapshot",
        "ts": last // MS + 10_000,
        "data": [{"T": last // MS + 10_000, "s": "BTCUSDT", "S": "Buy", "v": "0.001", "p": "95000.10", "i": "t1"}],
    }
    trades: list[Event] = []
    replay.engine.bus.subscribe(TradePrinted, trades.append)
    report = replay.run([*xrp, (last + 10_000 * MS, "history", orjson.dumps(trade))])
    assert report.books["XRPUSDT"]["state"] == "STALE"
    assert len(trades) == 1


def test_the_demo_recording_replays_synced_with_trades() -> None:
    """The README's demo feed (our recording format) replays cleanly: book synced, trades counted."""
    report = Replay().run(open_records(REPLAY_DATA / "btcusdt-5min.rec.gz"))
    book = report.books["BTCUSDT"]
    assert report.malformed == 0
    assert report.ignored_messages == 0
    assert report.trade_messages > 5_000
    assert report.book_messages + report.trade_messages == report.messages
    assert book["state"] == "SYNCED"
    assert book["gaps"] == 0
    assert (book["bid_levels"], book["ask_levels"]) == (200, 200)
    assert report.last_ts_ns is not None and report.first_ts_ns is not None
    assert report.last_ts_ns - report.first_ts_ns >= 290 * 1_000 * MS  # about five minutes


def test_symbol_filter_ignores_other_symbols() -> None:
    """--symbol keeps one symbol's book; the other symbol's frames are counted as ignored."""
    report = Replay(symbol="BTCUSDT").run(open_records(XRP_SAMPLE))
    assert report.books == {}
    assert report.ignored_messages == 50
