"""The bybit-router command line: replay output, errors, help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from engine.cli import main
from tests.conftest import REPLAY_DATA, XRP_SAMPLE

REPLAY_KEYS = {
    "messages",
    "book_messages",
    "trade_messages",
    "ignored_messages",
    "malformed",
    "elapsed_s",
    "msgs_per_s",
    "books",
}
BOOK_KEYS = {"state", "last_u", "gaps", "resets", "stale_dropped", "bid_levels", "ask_levels", "bids", "asks"}


def test_replay_json_prints_one_object_with_the_documented_fields(capsys: pytest.CaptureFixture[str]) -> None:
    """`replay --json` prints exactly one JSON object with the issue's fields, prices as strings."""
    assert main(["replay", str(XRP_SAMPLE), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    report = orjson.loads(out)
    assert report.keys() >= REPLAY_KEYS
    book = report["books"]["XRPUSDT"]
    assert book.keys() >= BOOK_KEYS
    assert book["state"] == "SYNCED"
    assert book["bids"][:2] == [["1.9537", "10605"], ["1.9536", "3515"]]
    assert book["asks"][0] == ["1.9538", "6702"]
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert report["messages"] == 50 and report["malformed"] == 0


def test_replay_table_shows_the_touch(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json the same facts come out as a readable table."""
    assert main(["replay", str(XRP_SAMPLE), "--levels", "3"]) == 0
    out = capsys.readouterr().out
    assert "XRPUSDT  depth 500  SYNCED" in out
    assert "10605 @ 1.9537" in out
    assert "1.9538 x 6702" in out
    assert "1.9534" not in out  # only three levels


def test_replay_merges_several_files(capsys: pytest.CaptureFixture[str]) -> None:
    """Two inputs are merged by receive time into one run with a book per symbol."""
    assert main(["replay", str(REPLAY_DATA / "btcusdt-5min.rec.gz"), str(XRP_SAMPLE), "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert set(report["books"]) == {"BTCUSDT", "XRPUSDT"}
    assert report["books"]["BTCUSDT"]["state"] == "SYNCED"
    assert report["books"]["XRPUSDT"]["state"] == "STALE"  # silent for minutes while BTCUSDT runs on


def test_instruments_file_sets_the_scales(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --instruments the book uses the venue's scales (XRPUSDT: 4 price decimals, 0 qty)."""
    info = {
        "retCode": 0,
        "result": {
            "category": "linear",
            "list": [
                {
                    "symbol": "XRPUSDT",
                    "priceScale": "4",
                    "priceFilter": {"tickSize": "0.0001", "minPrice": "0.0001", "maxPrice": "199.9998"},
                    "lotSizeFilter": {"qtyStep": "1", "minOrderQty": "1", "maxOrderQty": "1000000"},
                }
            ],
        },
    }
    path = tmp_path / "instruments.json"
    path.write_bytes(orjson.dumps(info))
    assert main(["replay", str(XRP_SAMPLE), "--instruments", str(path), "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["books"]["XRPUSDT"]["bids"][0] == ["1.9537", "10605"]


def test_bad_inputs_give_a_clear_error_and_the_right_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong command line exits 2, files that are not what they should be exit 1; one line, no traceback."""
    assert main(["replay", str(tmp_path / "missing.data")]) == 2
    assert "argument PATH: no such file" in capsys.readouterr().err
    assert main(["replay", str(XRP_SAMPLE), "--stale-after", "0"]) == 2
    assert "argument --stale-after: must be positive" in capsys.readouterr().err
    bad = tmp_path / "instruments.json"
    bad.write_text('{"retCode": 10001, "result": {}}')
    assert main(["replay", str(XRP_SAMPLE), "--instruments", str(bad)]) == 1
    assert "instruments-info" in capsys.readouterr().err
    junk = tmp_path / "junk.csv"
    junk.write_text("hello,world\n")
    assert main(["replay", str(junk)]) == 1
    assert "not a recording, order-book dump or trade CSV" in capsys.readouterr().err


def test_progress_bar_goes_to_stderr_only(capsys: pytest.CaptureFixture[str]) -> None:
    """--progress always draws on stderr and finishes at 100%, leaving stdout clean JSON."""
    assert main(["replay", str(XRP_SAMPLE), "--json", "--progress", "always"]) == 0
    captured = capsys.readouterr()
    assert orjson.loads(captured.out)["messages"] == 50
    assert "100.0%" in captured.err and "50 msgs" in captured.err


@pytest.mark.parametrize("argv", [["--help"], ["replay", "--help"]])
def test_help_explains_every_option(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """--help exits 0 and documents each option of the command."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for option in (
        ["--log-level", "--log-json"]
        if argv == ["--help"]
        else ["--symbol", "--json", "--instruments", "--stale-after", "--levels", "--progress"]
    ):
        assert option in text


def test_python_dash_m_engine_is_the_same_command() -> None:
    """`python -m engine replay ... --json` works as an installed console script would."""
    result = subprocess.run(
        [sys.executable, "-m", "engine", "replay", str(XRP_SAMPLE), "--json"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    assert orjson.loads(result.stdout)["books"]["XRPUSDT"]["state"] == "SYNCED"
