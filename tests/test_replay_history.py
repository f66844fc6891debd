"""Bybit's public archives as records: order-book dumps pass through, trade rows become v5 frames."""

from __future__ import annotations

import gzip
import itertools
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from engine.enums import Side
from engine.events import BookDelta, TradePrinted
from feeds.bybit.codec import BybitCodec
from feeds.replay import (
    ReplayDataError,
    detect_kind,
    open_records,
    read_orderbook_history,
    read_trade_csv,
    symbol_from_file_name,
)

DERIVATIVES_HEADER = "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional"
SPOT_HEADER = "id,timestamp,price,volume,side,rpi"


def _sample_lines(sample: Path) -> list[bytes]:
    with zipfile.ZipFile(sample) as archive:
        content = archive.read(archive.namelist()[0])
    assert content.endswith(b"\r\n")
    return content[:-2].split(b"\r\n")


def _trades(records: list[tuple[int, str, bytes]]) -> list[TradePrinted]:
    codec = BybitCodec()
    events = [event for ts, _, raw in records for event in codec.parse(raw, ts)]
    assert codec.stats.malformed_total == 0
    assert all(isinstance(event, TradePrinted) for event in events)
    return [event for event in events if isinstance(event, TradePrinted)]


# -- order-book dumps -------------------------------------------------------------------------


def test_real_sample_yields_its_lines_with_ts_as_receive_time(xrp_sample: Path) -> None:
    """The XRPUSDT ob500 sample: 50 records, raw == file line, ts_recv_ns = ts ms in ns, increasing."""
    lines = _sample_lines(xrp_sample)

    records = list(read_orderbook_history(xrp_sample))

    assert len(records) == 50
    assert records[0][0] == 1733011200691 * 1_000_000
    assert all(later[0] > earlier[0] for earlier, later in itertools.pairwise(records))
    assert [raw for _, _, raw in records] == lines
    assert {stream for _, stream, _ in records} == {"history"}
    assert detect_kind(xrp_sample) == "orderbook"


def test_real_sample_parses_into_book_deltas(xrp_sample: Path) -> None:
    """Every record goes through the live codec: one snapshot then 49 deltas, no drops."""
    codec = BybitCodec()
    events = [event for ts, _, raw in read_orderbook_history(xrp_sample) for event in codec.parse(raw, ts)]
    assert codec.stats.malformed_total == 0
    assert codec.stats.ignored_total == 0
    assert len(events) == 50
    assert all(isinstance(event, BookDelta) for event in events)
    assert [event.is_snapshot for event in events if isinstance(event, BookDelta)] == [True] + [False] * 49


def test_gzip_and_plain_variants_read_identically(xrp_sample: Path, tmp_path: Path) -> None:
    """The same dump as .data.zip, .data.gz and plain .data gives the same records."""
    with zipfile.ZipFile(xrp_sample) as archive:
        content = archive.read(archive.namelist()[0])
    plain = tmp_path / "2024-12-01_XRPUSDT_ob500.data"
    plain.write_bytes(content)
    gzipped = tmp_path / "2024-12-01_XRPUSDT_ob500.data.gz"
    gzipped.write_bytes(gzip.compress(content))
    unnamed = tmp_path / "download.bin"  # compression is recognised from the bytes
    unnamed.write_bytes(gzip.compress(content))

    expected = list(read_orderbook_history(xrp_sample))
    assert len(expected) == 50
    for path in (plain, gzipped, unnamed):
        assert list(read_orderbook_history(path)) == expected
        assert detect_kind(path) == "orderbook"
        assert list(open_records(path)) == expected


def test_lf_only_and_blank_lines(tmp_path: Path) -> None:
    """LF line ends, blank lines and a missing final newline are all read; raw has no CR/LF."""
    path = tmp_path / "x_ob200.data"
    path.write_bytes(
        b'{"topic":"orderbook.200.BTCUSDT","type":"snapshot","ts":1000,"data":{}}\n'
        b"\n  \r\n"
        b'{"topic":"orderbook.200.BTCUSDT","type":"delta","ts":1100,"data":{}}'
    )
    assert list(read_orderbook_history(path)) == [
        (
            1_000_000_000,
            "history",
            b'{"topic":"orderbook.200.BTCUSDT","type":"snapshot","ts":1000,"data":{}}',
        ),
        (1_100_000_000, "history", b'{"topic":"orderbook.200.BTCUSDT","type":"delta","ts":1100,"data":{}}'),
    ]


def test_cts_before_ts_is_not_taken_for_ts(tmp_path: Path) -> None:
    """A line where "cts" comes before "ts" still yields ts, not cts."""
    path = tmp_path / "cts_ob50.data"
    path.write_bytes(
        b'{"topic":"orderbook.50.BTCUSDT","cts":1700000000100,"type":"delta","ts":1700000000150,"data":{}}\n'
        b'{"cts":1700000000200, "topic":"orderbook.50.BTCUSDT", "ts" : 1700000000250 ,"data":{}}\n'
    )
    assert [ts for ts, _, _ in read_orderbook_history(path)] == [
        1_700_000_000_150_000_000,
        1_700_000_000_250_000_000,
    ]


@pytest.mark.parametrize(
    "line",
    [
        b'{"topic":"orderbook.50.BTCUSDT","data":{"ts":1},"ts":1700000000150}',  # nested "ts" first
        b' {"topic":"orderbook.50.BTCUSDT","ts":1700000000150}',  # leading space
        b'{"topic":"orderbook.50.BTCUSDT","cts":1,"ts":1700000000150}',
    ],
)
def test_unsure_byte_scan_falls_back_to_a_full_parse(tmp_path: Path, line: bytes) -> None:
    """Where the scan cannot be sure the key is top-level, the line is parsed; ts is the top-level one."""
    path = tmp_path / "odd_ob50.data"
    path.write_bytes(line + b"\n")
    assert list(read_orderbook_history(path)) == [(1_700_000_000_150_000_000, "history", line)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"topic":"orderbook.50.BTCUSDT","cts":1700000000100,"data":{}}', "no integer ts"),
        (b'{"topic":"orderbook.50.BTCUSDT","ts":"1700000000100"}', "no integer ts"),
        (b'{"topic":"orderbook.50.BTCUSDT","ts":17.5}', "no integer ts"),
        (b'{"topic":"orderbook.50.BTC', "not a JSON message"),
    ],
)
def test_line_without_usable_ts_names_file_and_line(tmp_path: Path, line: bytes, message: str) -> None:
    """A line with no usable ts raises with file and line number (blank lines still counted)."""
    path = tmp_path / "bad_ob50.data"
    path.write_bytes(b'{"topic":"orderbook.50.BTCUSDT","ts":1}\r\n\r\n' + line + b"\r\n")
    with pytest.raises(ReplayDataError, match=message) as info:
        list(read_orderbook_history(path))
    assert str(info.value).startswith(f"{path}:3: ")


def test_backwards_ts_holds_receive_time_and_warns(tmp_path: Path) -> None:
    """A message older than its predecessor keeps file order; its receive time is held, with a warning."""
    path = tmp_path / "back_ob50.data"
    lines = [b'{"topic":"orderbook.1.X","ts":%d}' % ts for ts in (1000, 999, 1001)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    with capture_logs() as logs:
        records = list(read_orderbook_history(path))
    assert records == [
        (1_000_000_000, "history", lines[0]),
        (1_000_000_000, "history", lines[1]),
        (1_001_000_000, "history", lines[2]),
    ]
    assert [(entry["log_level"], entry["line"]) for entry in logs] == [("warning", 2)]


def test_zip_with_two_members_is_refused(tmp_path: Path) -> None:
    """A zip must hold exactly one dump: which member to replay would otherwise be a guess."""
    path = tmp_path / "two.data.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.data", b'{"ts":1}\n')
        archive.writestr("b.data", b'{"ts":2}\n')
    with pytest.raises(ReplayDataError, match="exactly one file"):
        list(read_orderbook_history(path))


def test_truncated_gzip_dump_is_an_error(xrp_sample: Path, tmp_path: Path) -> None:
    """A truncated download is not silently shortened: it raises after the readable lines."""
    with zipfile.ZipFile(xrp_sample) as archive:
        content = archive.read(archive.namelist()[0])
    path = tmp_path / "cut_ob500.data.gz"
    path.write_bytes(gzip.compress(content)[:-100])
    with pytest.raises(ReplayDataError, match="truncated or corrupt"):
        list(read_orderbook_history(path))


# -- trade dumps ------------------------------------------------------------------------------


def _write_derivatives(path: Path, rows: list[str], header: str = DERIVATIVES_HEADER) -> None:
    text = "\n".join([header, *rows]) + "\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


def test_derivatives_timestamps_convert_exactly(tmp_path: Path) -> None:
    """Fractional seconds become ns by digit arithmetic (a float would be off by tens of ns)."""
    path = tmp_path / "BTCUSDT2025-01-01.csv.gz"
    _write_derivatives(
        path,
        [
            "1735689600.0974,BTCUSDT,Buy,0.001,93500.10,PlusTick,c0a1e3f4-0001,9350010000.0,0.001,93.5001",
            "1735689600.123456789,BTCUSDT,Sell,0.5,93500.1,ZeroMinusTick,c0a1e3f4-0002,1,0.5,46750.05",
            "1735689601,BTCUSDT,Buy,2,93501,PlusTick,c0a1e3f4-0003,1,2,187002",
            "1735689601.5000000000,BTCUSDT,Buy,2,93501,ZeroPlusTick,c0a1e3f4-0004,1,2,187002",
        ],
    )
    records = list(read_trade_csv(path))
    assert [ts for ts, _, _ in records] == [
        1735689600097400000,
        1735689600123456789,
        1735689601000000000,
        1735689601500000000,
    ]
    assert int(float("1735689600.0974") * 1e9) != 1735689600097400000  # why floats are banned
    assert {stream for _, stream, _ in records} == {"history"}
    assert detect_kind(path) == "trades"


def test_derivatives_frame_parses_into_trade(tmp_path: Path) -> None:
    """The synthesized publicTrade frame is what Bybit pushes: the live codec reads every field."""
    path = tmp_path / "BTCUSDT2025-01-01.csv"
    _write_derivatives(
        path,
        [
            "1735689600.0974,BTCUSDT,Buy,0.001,93500.10,PlusTick,c0a1e3f4-0001,9350010000.0,0.001,93.5001",
            "1735689600.5,BTCUSDT,Sell,1.250,93499.9,MinusTick,c0a1e3f4-0002,1,1.25,116874.875",
        ],
    )
    records = list(read_trade_csv(path))
    assert records[0][2] == (
        b'{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1735689600097,"data":[{"T":1735689600097,'
        b'"s":"BTCUSDT","S":"Buy","v":"0.001","p":"93500.10","L":"PlusTick","i":"c0a1e3f4-0001","BT":false}]}'
    )
    first, second = _trades(records)
    assert first.symbol == "BTCUSDT"
    assert first.price == Decimal("93500.10")
    assert str(first.price) == "93500.10"  # the file's string, not a re-rendered number
    assert first.qty == Decimal("0.001")
    assert first.taker_side is Side.BUY
    assert first.tick_direction == "PlusTick"
    assert first.trade_id == "c0a1e3f4-0001"
    assert first.ts_event_ns == 1735689600097 * 1_000_000
    assert first.ts_recv_ns == 1735689600097400000
    assert not first.is_block_trade
    assert not first.is_rpi
    assert (second.taker_side, second.qty, second.price) == (Side.SELL, Decimal("1.250"), Decimal("93499.9"))
    assert str(second.qty) == "1.250"


def test_spot_csv_lowercase_sides_and_symbol_from_file_name(tmp_path: Path) -> None:
    """Spot rows (ms timestamps, lowercase sides, no symbol column) take the symbol from the name."""
    path = tmp_path / "1INCHUSDT_2025-05-19.csv"
    path.write_text(f"{SPOT_HEADER}\n1,1747612800123,0.2251,150.5,buy,0\n2,1747612800456,0.2250,10,sell,0\n")
    records = list(read_trade_csv(path))
    assert [ts for ts, _, _ in records] == [1747612800123 * 1_000_000, 1747612800456 * 1_000_000]
    assert records[0][2] == (
        b'{"topic":"publicTrade.1INCHUSDT","type":"snapshot","ts":1747612800123,"data":[{"T":1747612800123,'
        b'"s":"1INCHUSDT","S":"Buy","v":"150.5","p":"0.2251","i":"1","BT":false}]}'
    )
    buy, sell = _trades(records)
    assert (buy.symbol, buy.taker_side, buy.price, buy.qty, buy.trade_id) == (
        "1INCHUSDT",
        Side.BUY,
        Decimal("0.2251"),
        Decimal("150.5"),
        "1",
    )
    assert (sell.taker_side, sell.price, sell.tick_direction) == (Side.SELL, Decimal("0.2250"), "")
    assert buy.ts_event_ns == buy.ts_recv_ns == 1747612800123 * 1_000_000

    renamed = tmp_path / "trades.csv"
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(ReplayDataError, match="pass symbol="):
        read_trade_csv(renamed)
    assert [t.symbol for t in _trades(list(read_trade_csv(renamed, symbol="1INCHUSDT")))] == ["1INCHUSDT"] * 2
    assert [t.symbol for t in _trades(list(open_records(renamed, symbol="1INCHUSDT")))] == ["1INCHUSDT"] * 2


def test_spot_csv_without_rpi_column(tmp_path: Path) -> None:
    """The five-column spot layout (no rpi) reads too."""
    path = tmp_path / "ETHUSDT_2025-05-19.csv.gz"
    path.write_bytes(gzip.compress(b"id,timestamp,price,volume,side\r\n7,1747612800000,2500.01,0.5,sell\r\n"))
    (trade,) = _trades(list(read_trade_csv(path)))
    assert (trade.symbol, trade.taker_side, trade.price, trade.trade_id) == (
        "ETHUSDT",
        Side.SELL,
        Decimal("2500.01"),
        "7",
    )


def test_rpi_column_sets_the_rpi_flag(tmp_path: Path) -> None:
    """An RPI column of 1/true marks the trade RPI; 0/false/empty do not."""
    derivatives = tmp_path / "BTCUSDT2025-09-01.csv"
    _write_derivatives(
        derivatives,
        [
            "1756684800.1,BTCUSDT,Buy,0.1,100,PlusTick,a,1,0.1,10,1",
            "1756684800.2,BTCUSDT,Buy,0.1,100,ZeroPlusTick,b,1,0.1,10,0",
            "1756684800.3,BTCUSDT,Sell,0.1,100,MinusTick,c,1,0.1,10,true",
            "1756684800.4,BTCUSDT,Sell,0.1,100,ZeroMinusTick,d,1,0.1,10,",
        ],
        header=DERIVATIVES_HEADER + ",RPI",
    )
    records = list(read_trade_csv(derivatives))
    assert b'"RPI":true' in records[0][2]
    assert b"RPI" not in records[1][2]
    assert [t.is_rpi for t in _trades(records)] == [True, False, True, False]

    spot = tmp_path / "BTCUSDT_2025-09-01.csv"
    spot.write_text(f"{SPOT_HEADER}\n1,1756684800000,100,1,buy,1\n2,1756684800001,100,1,sell,0\n")
    assert [t.is_rpi for t in _trades(list(read_trade_csv(spot)))] == [True, False]


def _shuffled_rows() -> tuple[list[str], list[str]]:
    """Rows in file order, and the trade ids in stable timestamp order."""
    times = ["3.0", "1.0", "2.0", "1.0", "5.0", "4.0", "0.5", "2.0", "6.0", "6.0", "5.5"]
    rows = [f"173568960{t},BTCUSDT,Buy,1,100,PlusTick,id{i:02d},1,1,100" for i, t in enumerate(times)]
    order = sorted(range(len(times)), key=lambda i: float(times[i]))  # stable
    return rows, [f"id{i:02d}" for i in order]


@pytest.mark.parametrize("window", [1, 2, 3, 4, 8, 100])
def test_out_of_order_csv_comes_out_stably_sorted_and_complete(tmp_path: Path, window: int) -> None:
    """Whatever the reorder window, the output is the stable timestamp sort of all rows, once each."""
    path = tmp_path / "BTCUSDT2025-01-01.csv"
    rows, expected_ids = _shuffled_rows()
    _write_derivatives(path, rows)

    with capture_logs() as logs:
        records = list(read_trade_csv(path, reorder_window=window))

    assert [t.trade_id for t in _trades(records)] == expected_ids
    timestamps = [ts for ts, _, _ in records]
    assert timestamps == sorted(timestamps)
    fell_back = any("sorting it in memory" in entry["event"] for entry in logs)
    # row id06 (0.5 s) is six rows late: a window of 6+ rows absorbs it, a smaller one cannot
    assert fell_back == (window < 6)


def test_sorted_csv_streams_without_fallback(tmp_path: Path) -> None:
    """A sorted file (ties included) streams through unchanged with the smallest window, no warning."""
    path = tmp_path / "BTCUSDT2025-01-01.csv"
    rows = [f"17356896{i // 2:02d}.5,BTCUSDT,Sell,1,100,MinusTick,id{i},1,1,100" for i in range(40)]
    _write_derivatives(path, rows)
    with capture_logs() as logs:
        records = list(read_trade_csv(path, reorder_window=1))
    assert [t.trade_id for t in _trades(records)] == [f"id{i}" for i in range(40)]
    assert logs == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("1735689600.5,BTCUSDT,Hold,1,100,PlusTick,x,1,1,100", "bad side"),
        ("1735689600.5,BTCUSDT,Buy,1e,100,PlusTick,x,1,1,100", "bad size"),
        ("1735689600.5,BTCUSDT,Buy,1,-100,PlusTick,x,1,1,100", "bad price"),
        ('1735689600.5,BTCUSDT,Buy,1,100,PlusTick,x"y,1,1,100', "bad trade id"),
        ("1735689600.5,BTCUSDT,Buy,1,100,PlusTick,,1,1,100", "bad trade id"),
        ("1735689600.5,BTCUSDT,Buy,1,100,Plus Tick,x,1,1,100", "bad tick direction"),
        ("1735689600.5,BTC USDT,Buy,1,100,PlusTick,x,1,1,100", "bad symbol"),
        ("1735689600.5,BTCUSDT,Buy,1,100,PlusTick,x,1,1", "expected 10 columns, got 9"),
        ("1735689600.5e0,BTCUSDT,Buy,1,100,PlusTick,x,1,1,100", "bad timestamp"),
        ("1735689600.1234567891,BTCUSDT,Buy,1,100,PlusTick,x,1,1,100", "finer than a nanosecond"),
    ],
)
def test_malformed_trade_row_names_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    """A malformed row raises with the file and its line number."""
    path = tmp_path / "BTCUSDT2025-01-01.csv"
    _write_derivatives(path, ["1735689600.1,BTCUSDT,Buy,1,100,PlusTick,a,1,1,100", row])
    with pytest.raises(ReplayDataError, match=message) as info:
        list(read_trade_csv(path))
    assert str(info.value).startswith(f"{path}:3: ")


def test_derivatives_row_for_another_symbol_is_refused(tmp_path: Path) -> None:
    """symbol= on a derivatives file is a check: a row for another symbol raises."""
    path = tmp_path / "BTCUSDT2025-01-01.csv"
    _write_derivatives(path, ["1735689600.1,BTCUSDT,Buy,1,100,PlusTick,a,1,1,100"])
    assert len(list(read_trade_csv(path, symbol="BTCUSDT"))) == 1
    with pytest.raises(ReplayDataError, match="not the requested 'ETHUSDT'"):
        list(read_trade_csv(path, symbol="ETHUSDT"))


def test_unknown_csv_header_is_refused(tmp_path: Path) -> None:
    """A CSV that is neither Bybit layout is refused at once, by detect_kind and by the reader."""
    path = tmp_path / "BTCUSDT2025-01-01.csv"
    path.write_text("time,price,qty\n1,2,3\n")
    with pytest.raises(ReplayDataError, match="not a Bybit trade CSV header"):
        read_trade_csv(path)
    with pytest.raises(ReplayDataError, match="not a recording, order-book dump or trade CSV"):
        detect_kind(path)


def test_detect_kind_sniffs_content_not_names(tmp_path: Path) -> None:
    """A trade CSV named like a dump is still a trade CSV; JSON lines of other frames are a frames file."""
    misnamed = tmp_path / "2024-12-01_XRPUSDT_ob500.data"
    misnamed.write_text(f"{SPOT_HEADER}\n1,1,1,1,buy,0\n")
    assert detect_kind(misnamed) == "trades"
    other_json = tmp_path / "tickers.data"
    other_json.write_text('{"topic":"tickers.BTCUSDT","ts":1}\n')
    assert detect_kind(other_json) == "frames"


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("1INCHUSDT_2025-05-19.csv", "1INCHUSDT"),
        ("BTCUSDT2025-01-01.csv.gz", "BTCUSDT"),
        ("1000PEPEUSDT2025-01-01.csv.gz", "1000PEPEUSDT"),
        ("2024-12-01_XRPUSDT_ob500.data.zip", "XRPUSDT"),
        ("trades.csv", None),
    ],
)
def test_symbol_from_file_name(name: str, symbol: str | None) -> None:
    """Bybit's file-name patterns give the symbol, including symbols that start with digits."""
    assert symbol_from_file_name(name) == symbol
