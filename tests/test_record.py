"""`record`: raw public frames into rotating recordings that replay, through reconnects and gaps."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from engine.cli import _record_until_signalled, main
from engine.clock import NS_PER_S
from engine.runtime.record import Recorder
from feeds.bybit.fake_exchange import FakeBybit
from feeds.bybit.live import StreamTiming
from tests.test_fake_exchange import ASKS, BIDS, INSTRUMENTS, SYM

FAST = StreamTiming(
    ping_interval_s=0.05,
    pong_timeout_s=0.5,
    reply_timeout_s=0.5,
    open_timeout_s=1.0,
    close_timeout_s=0.2,
    backoff_base_s=0.02,
    backoff_cap_s=0.1,
)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_a_recording_survives_a_gap_and_a_reconnect_rotates_and_replays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeBybit(INSTRUMENTS) as fake:
        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True, depth=50)
        recorder = Recorder(
            tmp_path,
            category="linear",
            symbols=[SYM],
            url=fake.public_url("linear"),
            timing=FAST,
            rotate_ns=NS_PER_S,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(recorder.run(stop))

        def synced() -> bool:
            book = recorder.engine.books.book(SYM, 50)
            return book is not None and book.is_synced

        await until(synced)
        fake.publish_book(SYM, bids=[("94999.90", "2.500")])
        fake.publish_trade(SYM, "Buy", "95000.10", "0.050")
        fake.skip_book_update(SYM)
        fake.publish_book(SYM, bids=[("94999.80", "3.500")])  # lost: the next one shows a gap
        fake.publish_book(SYM, asks=[("95000.20", "0.250")])
        await until(lambda: recorder.stats.gaps == 1 and synced())
        fake.drop_connections("public")
        await until(lambda: recorder.stats.disconnects == 1 and synced())
        await asyncio.sleep(1.05)  # into the next rotation period
        frames = recorder.stats.frames
        fake.publish_book(SYM, bids=[("94999.70", "1.000")])
        await until(lambda: recorder.stats.frames > frames)
        stop.set()
        stats = await task

    assert len(stats.files) >= 2 and all(path.exists() for path in stats.files)
    gaps = [orjson.loads(line) for line in (tmp_path / "gaps.jsonl").read_bytes().splitlines()]
    # the lost message, then the drop: the books it fed first, then the connection itself
    assert [gap["kind"] for gap in gaps] == ["book", "book", "connection"]
    assert gaps[0]["symbol"] == SYM and "gap" in gaps[0]["reason"] and "disconnected" in gaps[1]["reason"]
    assert main(["replay", *map(str, stats.files), "--json"]) == 0
    out = capsys.readouterr().out
    replayed = orjson.loads(out[out.index("{") :])  # after any log lines captured during the run
    assert replayed["messages"] == stats.frames
    assert replayed["books"][SYM]["state"] in ("SYNCED", "STALE")
    assert replayed["books"][SYM]["gaps"] == 1 and replayed["malformed"] == 0  # the replay meets the same gap
    assert replayed["trade_messages"] == 1


@pytest.mark.asyncio
async def test_sigterm_stops_the_recorder_cleanly(tmp_path: Path) -> None:
    async with FakeBybit(INSTRUMENTS) as fake:
        fake.publish_book(SYM, bids=BIDS, asks=ASKS, snapshot=True, depth=50)
        recorder = Recorder(tmp_path, category="linear", symbols=[SYM], url=fake.public_url("linear"), timing=FAST)
        asyncio.get_running_loop().call_later(0.4, os.kill, os.getpid(), signal.SIGTERM)
        stats = await asyncio.wait_for(_record_until_signalled(recorder), 5)
    assert stats.frames >= 1 and len(stats.files) == 1


def test_record_mistakes_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "endpoints.toml"
    bad.write_text("[endpoints]\nprivate = 'ws://h/p'\nrest = 'http://h'\n")
    assert main(["record", "--symbols", "BTCUSDT", "--out", str(tmp_path), "--endpoints", str(bad)]) == 2
    assert "at least one public stream" in capsys.readouterr().err
    a_file = tmp_path / "f"
    a_file.write_text("")
    assert main(["record", "--symbols", "BTCUSDT", "--out", str(a_file), "--testnet"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["record", "--symbols", ",", "--out", str(tmp_path)]) == 2
    assert "at least one symbol" in capsys.readouterr().err
