"""What a newcomer's mistakes print: one line naming the option or the file, the right exit code.

Exit 2: the command line is wrong (a value that is not a number, out of range, a path that does
not exist or cannot be written). Exit 1: the files cannot give what was asked (not market data,
unreadable, or a backtest that could not start: its outcome says why, in the text and the JSON).
Never a traceback. Each case goes through ``main(argv)`` as the console script does.
"""

from __future__ import annotations

import gzip
import itertools
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

import engine.cli
from engine.cli import main
from engine.runtime.replay import Replay
from feeds.replay import RecordingWriter, read_recording
from tests.conftest import REPLAY_DATA, XRP_SAMPLE

BTC_SAMPLE = REPLAY_DATA / "btcusdt-5min.rec.gz"
XRP_ORDER = ["--symbol", "XRPUSDT", "--side", "Buy", "--qty", "100", "--strategy", "twap", "--time-limit", "3"]


def _backtest(*extra: str, path: Path = XRP_SAMPLE, order: list[str] = XRP_ORDER) -> list[str]:
    return ["backtest", str(path), *order, *extra]


def _one_error_line(capsys: pytest.CaptureFixture[str], prog: str = "bybit-router backtest") -> str:
    """The single stderr line of a failed command (nothing on stdout), without its prefix."""
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"{prog}: error: "), lines[0]
    return lines[0].removeprefix(f"{prog}: error: ")


def _json_result(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out: dict[str, Any] = orjson.loads(capsys.readouterr().out)
    return out


# -- option values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        # Text where a number belongs: these ended in a decimal.InvalidOperation traceback.
        (["--qty", "abc"], "argument --qty: 'abc' is not a number"),
        (["--limit-price", "x"], "argument --limit-price: 'x' is not a number"),
        (["--chunk-size", "x"], "argument --chunk-size: 'x' is not a number"),
        (["--max-slippage", "x"], "argument --max-slippage: 'x' is not a number"),
        (["--participation-rate", "x"], "argument --participation-rate: 'x' is not a number"),
        (["--min-fill-size", "x"], "argument --min-fill-size: 'x' is not a number"),
        (["--qty", "1,000"], "argument --qty: '1,000' is not a number (write it with a . and no separators"),
        # Not finite, or beyond what any venue takes (1e400 crashed the simulated venue's fees).
        (["--qty", "NaN"], "argument --qty: 'NaN' is not a finite number"),
        (["--qty", "Infinity"], "argument --qty: 'Infinity' is not a finite number"),
        (["--max-slippage", "NaN"], "argument --max-slippage: 'NaN' is not a finite number"),
        (["--qty", "1e400"], "argument --qty: 1e400 is too large (more than 18 digits before the point)"),
        (["--limit-price", "1e-300"], "argument --limit-price: 1e-300 has more than 18 decimals"),
        # Out of range: RoutingConfig / ParentOrder say so, under the option's name, not the field's.
        (["--qty", "-1"], "argument --qty: must be positive, got -1"),
        (["--qty", "0"], "argument --qty: must be positive, got 0"),
        (["--time-limit", "-5"], "argument --time-limit: must be >= 0, got -5"),
        (["--max-slippage", "2"], "argument --max-slippage: must be in [0, 1), got 2"),
        (["--participation-rate", "0"], "argument --participation-rate: must be in (0, 1], got 0"),
        (["--limit-price", "-1"], "argument --limit-price: must be positive, got -1"),
        (["--chunk-size", "0"], "argument --chunk-size: must be positive, got 0"),
        # Whole numbers, times, latencies, fees.
        (["--time-limit", "abc"], "argument --time-limit: 'abc' is not a whole number"),
        (["--time-limit", "1.5"], "argument --time-limit: '1.5' is not a whole number"),
        (["--seed", "x"], "argument --seed: 'x' is not a whole number"),
        (["--latency-ms", "-1"], "argument --latency-ms: must be >= 0, got -1"),
        (["--latency-ms", "inf"], "argument --latency-ms: 'inf' is not a finite number"),
        (["--latency-ms", "nan"], "argument --latency-ms: 'nan' is not a finite number"),
        (["--market-data-latency-ms", "-3"], "argument --market-data-latency-ms: must be >= 0, got -3"),
        (["--fees", "x,y"], "argument --fees: 'x' is not a number"),
        (["--fees", "0.1"], "argument --fees: must be MAKER,TAKER (e.g. 0.0002,0.00055), got '0.1'"),
        (["--fees", "1,2"], "argument --fees: must be fractions of notional (e.g. 0.00055), got '1,2'"),
        (
            ["--start", "garbage"],
            "argument --start: 'garbage' is neither an ISO-8601 time (2024-12-01T00:04:00Z) nor epoch milliseconds",
        ),
        (
            ["--start", "1733011200"],
            "argument --start: 1733011200 is before 2001 as epoch milliseconds: seconds? "
            "write 1733011200000 or an ISO-8601 time",
        ),
        (["--start", "99999999999999999999"], "argument --start: 99999999999999999999 is beyond the calendar"),
        # Names and choices.
        (["--urgency", "bogus"], "argument --urgency: invalid choice: 'bogus' (choose from 'low', 'medium', 'high'"),
        (["--side", "long"], "argument --side: invalid choice: 'long' (choose from 'Buy', 'Sell')"),
        (["--strategy", "bogus"], "argument --strategy: invalid choice: 'bogus' (choose from 'direct', 'twap'"),
        (["--symbol", "BTC/USDT"], "argument --symbol: 'BTC/USDT' is not a Bybit symbol (letters and digits"),
        (["--parent-id", "a-b"], "argument --parent-id: parent id must be 1-24 characters of [A-Za-z0-9_]"),
    ],
)
def test_a_bad_option_value_is_one_line_naming_the_option(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 and one line that names the option (as the user typed it) and what is wrong; nothing runs."""
    assert main(_backtest(*extra)) == 2
    assert _one_error_line(capsys).startswith(message)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--qty", "100.5"], "argument --qty: 100.5 is finer than XRPUSDT's quantity precision 1"),
        (
            ["--limit-price", "1.95311"],
            "argument --limit-price: 1.95311 is finer than XRPUSDT's price precision 0.0001",
        ),
        (["--chunk-size", "0.5"], "argument --chunk-size: 0.5 is finer than XRPUSDT's quantity precision 1"),
    ],
)
def test_values_off_the_instruments_grid_name_the_option(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked when the order meets the instrument (during the run), still reported under the option's name."""
    assert main(_backtest(*extra)) == 2
    assert _one_error_line(capsys) == message


def test_names_and_choices_are_read_in_any_case(capsys: pytest.CaptureFixture[str]) -> None:
    """Bybit spells them XRPUSDT, Buy, twap, high: `xrpusdt`, `buy`, `TWAP`, `HIGH` mean the same."""
    order = ["--symbol", "xrpusdt", "--side", "buy", "--qty", "100", "--strategy", "TWAP", "--urgency", "HIGH"]
    assert main(_backtest("--time-limit", "3", "--json", order=order)) == 0
    inputs = _json_result(capsys)["inputs"]
    assert (inputs["symbol"], inputs["side"], inputs["strategy"], inputs["urgency"]) == (
        "XRPUSDT",
        "Buy",
        "twap",
        "high",
    )


def test_a_number_in_exponent_form_is_echoed_as_written_out(capsys: pytest.CaptureFixture[str]) -> None:
    """--qty 1e2 is 100, and the result says 100, not 1E+2."""
    order = ["--symbol", "XRPUSDT", "--side", "Buy", "--qty", "1e2", "--strategy", "twap", "--time-limit", "3"]
    assert main(_backtest("--json", order=order)) == 0
    assert _json_result(capsys)["inputs"]["qty"] == "100"


def test_an_order_far_larger_than_the_book_still_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """A quantity a thousand times too large is a legal order: it runs to an outcome and fills no more than asked."""
    order = ["--symbol", "XRPUSDT", "--side", "Sell", "--qty", "1e9", "--strategy", "direct", "--time-limit", "3"]
    assert main(_backtest("--json", order=order)) == 0
    out = _json_result(capsys)
    assert out["target_qty"] == "1000000000"
    assert 0 < float(out["filled_qty"]) <= 1e9


# -- the report path, checked before the run ----------------------------------------------------


def test_a_report_in_a_missing_folder_fails_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "no-such-folder" / "out.html"
    assert main(_backtest("--report", str(path))) == 2
    assert _one_error_line(capsys) == (
        f"argument --report: cannot write {path}: the folder {path.parent} does not exist"
    )


def test_a_report_path_that_is_a_folder_fails_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_backtest("--report", str(tmp_path))) == 2
    assert _one_error_line(capsys) == (
        f"argument --report: {tmp_path} is a folder: give a file name (e.g. {tmp_path / 'report.html'})"
    )


def test_a_report_that_cannot_be_written_fails_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Permissions are asked of the OS (os.access); as root every folder is writable, so the answer is set here."""
    monkeypatch.setattr(os, "access", lambda _path, _mode: False)
    path = tmp_path / "out.html"
    assert main(_backtest("--report", str(path))) == 2
    assert _one_error_line(capsys) == f"argument --report: cannot write {path}: permission denied"
    assert not path.exists()


# -- files that cannot give what was asked --------------------------------------------------------


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _recording_without_messages(path: Path) -> Path:
    with RecordingWriter(path):
        pass
    return path


@pytest.mark.parametrize("command", ["replay", "backtest"])
@pytest.mark.parametrize(
    ("make", "code", "message"),
    [
        (lambda tmp: tmp / "missing.rec.gz", 2, "argument PATH: no such file: {path}"),
        (lambda tmp: tmp, 2, "argument PATH: {path} is a folder: name the files in it (e.g. {path}/*)"),
        (lambda tmp: _written(tmp / "empty.rec.gz", b""), 1, "{path}: the file is empty"),
        (
            lambda tmp: _written(tmp / "notes.txt", b"hello world\n"),
            1,
            "{path}:1: not a recording, order-book dump or trade CSV: b'hello world'",
        ),
        (
            lambda tmp: _written(tmp / "cut.zip", XRP_SAMPLE.read_bytes()[:300]),
            1,
            "{path}: bad zip archive",
        ),
        (  # a gzip stream cut right after its header
            lambda tmp: _written(tmp / "cut.rec.gz", gzip.compress(b"")[:10]),
            1,
            "{path}:1: not a recording, order-book dump or trade CSV",
        ),
    ],
    ids=["missing", "folder", "empty", "text", "truncated-zip", "truncated-gzip"],
)
def test_files_that_are_not_market_data_are_one_line_naming_the_file(
    command: str, make: Any, code: int, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path)
    argv = ["replay", str(path)] if command == "replay" else _backtest(path=path)
    assert main(argv) == code
    assert _one_error_line(capsys, f"bybit-router {command}").startswith(message.format(path=path))


@pytest.mark.parametrize("command", ["replay", "backtest"])
def test_an_unreadable_file_is_a_data_error(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the OS refuses (permissions, I/O errors) is named with the file, not a traceback."""

    def refuse(path: Path, **_: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(engine.cli, "open_records", refuse)
    argv = ["replay", str(XRP_SAMPLE)] if command == "replay" else _backtest()
    assert main(argv) == 1
    assert _one_error_line(capsys, f"bybit-router {command}") == f"cannot read {XRP_SAMPLE}: Permission denied"


def test_a_recording_with_no_messages_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _recording_without_messages(tmp_path / "quiet.rec.gz")
    assert main(["replay", str(path)]) == 1
    assert capsys.readouterr().err == "bybit-router replay: error: the files hold no market messages\n"
    assert main(_backtest("--json", path=path)) == 1
    assert _json_result(capsys)["outcome"] == "not started: the files hold no market data"


def test_replaying_a_symbol_the_files_do_not_hold_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(XRP_SAMPLE), "--symbol", "ETHUSDT", "--json"]) == 1
    captured = capsys.readouterr()
    assert orjson.loads(captured.out)["books"] == {}
    assert captured.err == (
        "bybit-router replay: error: the files hold no data for ETHUSDT: all 50 messages are for other symbols\n"
    )


def test_a_profile_without_trades_is_a_data_error(capsys: pytest.CaptureFixture[str]) -> None:
    order = ["--symbol", "XRPUSDT", "--side", "Buy", "--qty", "100", "--strategy", "vwap", "--time-limit", "3"]
    assert main(_backtest("--profile", str(XRP_SAMPLE), order=order)) == 1
    assert _one_error_line(capsys) == "the --profile files hold no public trades"


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Replay, "run", interrupted)
    assert main(["replay", str(XRP_SAMPLE)]) == 130
    assert capsys.readouterr().err == "\nbybit-router replay: interrupted\n"


# -- a backtest that cannot start says why, in the text and in the JSON ---------------------------


def test_a_symbol_the_files_do_not_hold_lists_the_ones_they_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """This printed "the book never became SYNCED" (ETHUSDT; and btcusdt, which now means BTCUSDT)."""
    btc = tmp_path / "btc.rec.gz"
    with RecordingWriter(btc) as writer:
        for ts_ns, stream, raw in itertools.islice(read_recording(BTC_SAMPLE), 200):
            writer.write(ts_ns, stream, raw)
    order = ["--symbol", "ETHUSDT", "--side", "Buy", "--qty", "1", "--strategy", "twap"]
    assert main(["backtest", str(XRP_SAMPLE), str(btc), *order, "--json"]) == 1
    out = _json_result(capsys)
    assert out["outcome"] == "not started: the files hold no data for ETHUSDT; they hold BTCUSDT, XRPUSDT"


def test_a_start_after_the_data_says_when_the_data_ends(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_backtest("--start", "2030-01-01T00:00:00Z", "--json")) == 1
    outcome = "not started: the data ends at 2024-12-01T00:00:05.490Z, before --start 2030-01-01T00:00:00.000Z"
    assert _json_result(capsys)["outcome"] == outcome
    assert main(_backtest("--start", "2030-01-01T00:00:00Z")) == 1
    assert f"outcome           {outcome}\n" in capsys.readouterr().out


def test_trades_without_a_book_say_a_backtest_needs_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trades = tmp_path / "BTCUSDT2024-12-01.csv"
    trades.write_text(
        "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional\n"
        "1733011200.1234,BTCUSDT,Buy,0.01,95000.0,PlusTick,t-1,95000000,0.01,950\n"
    )
    order = ["--symbol", "BTCUSDT", "--side", "Buy", "--qty", "1", "--strategy", "twap"]
    assert main(_backtest("--json", path=trades, order=order)) == 1
    out = _json_result(capsys)
    assert (
        out["outcome"]
        == "not started: the files hold no order book for BTCUSDT (only trades), and a backtest needs one"
    )


def test_no_report_is_written_when_the_parent_never_started(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "out.html"
    assert main(_backtest("--start", "2030-01-01T00:00:00Z", "--report", str(report))) == 1
    assert capsys.readouterr().err == (
        f"bybit-router backtest: no report written to {report}: the parent never started\n"
    )
    assert not report.exists()


# -- a limit price that keeps the order from taking is called out in the notes --------------------


@pytest.mark.parametrize(
    ("side", "extra", "note"),
    [
        (
            "Buy",
            ["--limit-price", "1.9"],
            "limit price 1.9000 is below the best bid 1.9531 at arrival: a buy at that limit cannot take "
            "liquidity and fills only if it rests until the market falls to it",
        ),
        (
            "Sell",
            ["--limit-price", "2"],
            "limit price 2.0000 is above the best ask 1.9532 at arrival: a sell at that limit cannot take "
            "liquidity and fills only if it rests until the market rises to it",
        ),
        (
            "Buy",
            ["--limit-price", "1.9531"],
            "the price band ends at 1.9531 (limit price 1.9531), below the best ask 1.9532 at arrival: "
            "no child can take liquidity, only resting children can fill",
        ),
        (
            "Sell",
            ["--max-slippage", "0"],
            "the price band ends at 1.9532 (max_slippage 0), above the best bid 1.9531 at arrival: "
            "no child can take liquidity, only resting children can fill",
        ),
    ],
)
def test_a_band_that_cannot_take_is_the_first_note(
    side: str, extra: list[str], note: str, capsys: pytest.CaptureFixture[str]
) -> None:
    order = ["--symbol", "XRPUSDT", "--side", side, "--qty", "100", "--strategy", "direct", "--time-limit", "3"]
    assert main(_backtest(*extra, "--json", order=order)) == 0
    out = _json_result(capsys)
    assert out["notes"][0] == note
    assert out["filled_qty"] == "0"


@pytest.mark.parametrize("extra", [[], ["--limit-price", "1.9532"], ["--limit-price", "5"]])
def test_a_band_that_reaches_the_far_touch_gets_no_such_note(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """No false alarm: a buy limit at or above the best ask can take."""
    order = ["--symbol", "XRPUSDT", "--side", "Buy", "--qty", "100", "--strategy", "direct", "--time-limit", "3"]
    assert main(_backtest(*extra, "--json", order=order)) == 0
    notes = _json_result(capsys)["notes"]
    assert not any("at arrival" in note for note in notes), notes
