"""JSON lines of raw v5 frames, as any websocket client saves them, replay and backtest as-is.

Such a file mixes subscription acks, pongs, auth replies and private pushes in with the market
data. Only market data (an object with a ``topic`` and an integer ``ts``) becomes a record; the
rest is skipped and counted. Replayed, the file gives exactly what the same frames give as one
of our recordings.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pytest
from structlog.testing import capture_logs

from engine.cli import main
from feeds.replay import detect_kind, open_records
from tests.conftest import REPLAY_DATA

RECORDING = REPLAY_DATA / "btcusdt-5min.rec.gz"
NOISE = [
    b'{"success":true,"ret_msg":"","conn_id":"c1","req_id":"1","op":"subscribe"}',
    b'{"success":true,"ret_msg":"pong","conn_id":"c1","req_id":"","op":"ping"}',
    b'{"req_id":"","op":"pong","args":["1733011200000"],"conn_id":"c2"}',
    b'{"success":true,"ret_msg":"","op":"auth","conn_id":"c2"}',
    b'{"id":"x","topic":"order","creationTime":1733011200000,"data":[]}',
    b'{"op":"subscribe","args":["orderbook.200.BTCUSDT"]}',
]


def _frames_file(tmp_path: Path, lines: int) -> tuple[Path, list[bytes]]:
    frames = [raw for _, _, raw in itertools.islice(open_records(RECORDING), lines)]
    out: list[bytes] = [NOISE[0], NOISE[3]]
    for index, frame in enumerate(frames):
        out.append(frame)
        if index % 500 == 0:
            out.extend(NOISE[1:3] + NOISE[4:])
    path = tmp_path / "saved_by_a_client.jsonl"
    path.write_bytes(b"\n".join(out) + b"\n")
    return path, frames


def test_a_client_saved_frames_file_is_read_skipping_what_is_not_market_data(tmp_path: Path) -> None:
    path, frames = _frames_file(tmp_path, 3000)
    assert detect_kind(path) == "frames"
    with capture_logs() as logs:
        records = list(open_records(path))
    assert [raw for _, _, raw in records] == frames
    assert all(ts == orjson.loads(raw)["ts"] * 1_000_000 for ts, _, raw in records)
    skipped = [entry for entry in logs if entry["event"] == "lines skipped: not market data"]
    assert len(skipped) == 1 and skipped[0]["count"] == 2 + 6 * 4
    assert skipped[0]["replies"] == 2 + 6 * 3 and skipped[0]["private"] == 6


@pytest.mark.parametrize("command", ["replay", "backtest"])
def test_replay_and_backtest_of_a_frames_file_equal_those_of_the_same_frames_recorded(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, frames = _frames_file(tmp_path, 3000)
    recorded = tmp_path / "same.jsonl"
    recorded.write_bytes(b"\n".join(frames) + b"\n")
    extra = (
        ["--symbol", "BTCUSDT", "--side", "Buy", "--qty", "2", "--strategy", "twap", "--time-limit", "20"]
        if command == "backtest"
        else []
    )
    outputs = []
    for source in (path, recorded):
        assert main([command, str(source), *extra, "--json"]) == 0
        out = orjson.loads(capsys.readouterr().out)
        for volatile in ("wall_s", "elapsed_s", "msgs_per_s"):
            out.pop(volatile, None)
        outputs.append(out)
    assert outputs[0] == outputs[1]
    if command == "backtest":
        assert outputs[0]["fills"]
    else:
        assert outputs[0]["books"]["BTCUSDT"]["state"] == "SYNCED"


def test_a_line_that_is_not_json_is_still_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_bytes(NOISE[0] + b"\n" + b"{not json\n")
    assert main(["replay", str(path)]) == 1
