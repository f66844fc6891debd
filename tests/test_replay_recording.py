"""Our recording format: writer and reader agree, and damaged files fail (or degrade) as designed."""

from __future__ import annotations

import gzip
from pathlib import Path

import msgspec
import pytest
from structlog.testing import capture_logs

from feeds.replay import (
    RecordingWriter,
    ReplayDataError,
    detect_kind,
    open_records,
    read_recording,
    read_recording_metadata,
)

BOOK = b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1700000000123,"data":{"s":"BTCUSDT","b":[],"a":[["1","2"]],"u":7,"seq":9},"cts":1700000000120}'  # noqa: E501
PRETTY = b'{\r\n  "op": "pong",\r\n  "args": ["1700000000000"],\n  "conn_id": "a\\nb"\n}'
WITH_TAB = b'{"topic":"tickers.BTCUSDT",\t"type":"snapshot","ts":1,"data":{"symbol":"BTCUSDT"}}'
SUBSCRIBE = b'{"op":"subscribe","args":["orderbook.50.BTCUSDT"]}'


def _write_gzip(path: Path, text: bytes) -> None:
    with gzip.open(path, "wb") as file:
        file.write(text)


def _header() -> bytes:
    return b'#bybit-router-recording v1 {"created_ns":1}\n'


def test_round_trip_keeps_frames_except_newlines(tmp_path: Path) -> None:
    """Every frame comes back byte-identical, save CR/LF turned into spaces (same JSON meaning)."""
    path = tmp_path / "session.rec.gz"
    frames: list[tuple[int, str, bytes | str]] = [
        (1_700_000_000_000_000_001, "linear", BOOK),
        (1_700_000_000_000_000_001, "private", PRETTY),
        (1_700_000_000_000_000_005, "linear", WITH_TAB),
        (1_700_000_000_000_000_009, "trade", PRETTY.decode()),
    ]
    with RecordingWriter(path, metadata={"created_ns": 42, "host": "ny4", "streams": ["linear"]}) as writer:
        for ts, stream, raw in frames:
            writer.write(ts, stream, raw)
    assert writer.closed

    records = list(read_recording(path))

    flattened = PRETTY.replace(b"\r", b" ").replace(b"\n", b" ")
    assert records == [
        (1_700_000_000_000_000_001, "linear", BOOK),
        (1_700_000_000_000_000_001, "private", flattened),
        (1_700_000_000_000_000_005, "linear", WITH_TAB),
        (1_700_000_000_000_000_009, "trade", flattened),
    ]
    assert msgspec.json.decode(flattened) == msgspec.json.decode(PRETTY)
    assert read_recording_metadata(path) == {"created_ns": 42, "host": "ny4", "streams": ["linear"]}
    with gzip.open(path, "rb") as file:
        assert file.read().count(b"\n") == 5  # header + one line per frame


def test_many_frames_round_trip_across_write_buffer_and_read_chunks(tmp_path: Path) -> None:
    """Frames spanning several write batches and read chunks all come back, in order."""
    path = tmp_path / "big.rec.gz"
    expected = [(1_000 + i // 3, "linear", BOOK.replace(b'"u":7', b'"u":%d' % i)) for i in range(30_000)]
    with RecordingWriter(path, compresslevel=1) as writer:
        for ts, stream, raw in expected:
            writer.write(ts, stream, raw)
    assert list(read_recording(path)) == expected


def test_metadata_gets_created_ns(tmp_path: Path) -> None:
    """Without a created_ns the writer stamps the current time."""
    path = tmp_path / "meta.rec.gz"
    RecordingWriter(path, metadata={"venue": "bybit"}).close()  # a header, no frames
    metadata = read_recording_metadata(path)
    assert metadata["venue"] == "bybit"
    assert metadata["created_ns"] > 1_600_000_000 * 10**9
    assert list(read_recording(path)) == []


def test_sent_frames_skipped_unless_asked(tmp_path: Path) -> None:
    """Frames we sent are kept in the file but replayed only with include_sent=True."""
    path = tmp_path / "dirs.rec.gz"
    with RecordingWriter(path) as writer:
        writer.write(10, "linear", SUBSCRIBE, direction=">")
        writer.write(20, "linear", BOOK)
        writer.write(30, "linear", SUBSCRIBE, ">")

    assert list(read_recording(path)) == [(20, "linear", BOOK)]
    assert list(read_recording(path, include_sent=True)) == [
        (10, "linear", SUBSCRIBE),
        (20, "linear", BOOK),
        (30, "linear", SUBSCRIBE),
    ]
    assert list(open_records(path)) == [(20, "linear", BOOK)]
    assert detect_kind(path) == "recording"


def test_writer_refuses_decreasing_timestamps(tmp_path: Path) -> None:
    """Equal timestamps are fine; an older one raises and is not written."""
    path = tmp_path / "order.rec.gz"
    with RecordingWriter(path) as writer:
        writer.write(100, "linear", BOOK)
        writer.write(100, "private", BOOK)
        with pytest.raises(ValueError, match="must not decrease"):
            writer.write(99, "linear", BOOK)
        with pytest.raises(ValueError, match="negative"):
            writer.write(-1, "linear", BOOK)
        writer.write(101, "linear", BOOK)
    assert [r[0] for r in read_recording(path)] == [100, 100, 101]


@pytest.mark.parametrize("stream", ["", "lin\tear", "lin\near", "lin\rear"])
def test_writer_refuses_bad_stream_names(tmp_path: Path, stream: str) -> None:
    """A stream name that would break the line layout is refused."""
    with RecordingWriter(tmp_path / "s.rec.gz") as writer, pytest.raises(ValueError, match="stream"):
        writer.write(1, stream, BOOK)


def test_writer_refuses_bad_direction_and_closed_use(tmp_path: Path) -> None:
    """Only '<' and '>' are directions; a closed writer refuses writes."""
    writer = RecordingWriter(tmp_path / "d.rec.gz")
    with pytest.raises(ValueError, match="direction"):
        writer.write(1, "linear", BOOK, direction="?")  # type: ignore[arg-type]
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        writer.write(2, "linear", BOOK)


def test_existing_path_needs_append_mode(tmp_path: Path) -> None:
    """An existing recording is never overwritten; mode='a' continues it without a second header."""
    path = tmp_path / "cont.rec.gz"
    with RecordingWriter(path, metadata={"created_ns": 7, "run": 1}) as writer:
        writer.write(10, "linear", BOOK)
    with pytest.raises(FileExistsError):
        RecordingWriter(path)

    with RecordingWriter(path, mode="a", metadata={"created_ns": 8, "run": 2}) as writer:
        assert writer.metadata == {"created_ns": 7, "run": 1}
        with pytest.raises(ValueError, match="must not decrease"):
            writer.write(9, "linear", BOOK)  # older than the file's last frame
        writer.write(10, "private", SUBSCRIBE, ">")
        writer.write(11, "private", BOOK)

    assert list(read_recording(path, include_sent=True)) == [
        (10, "linear", BOOK),
        (10, "private", SUBSCRIBE),
        (11, "private", BOOK),
    ]
    assert read_recording_metadata(path) == {"created_ns": 7, "run": 1}
    with gzip.open(path, "rb") as file:
        assert file.read().count(b"#bybit-router-recording") == 1


def test_append_mode_creates_a_missing_file(tmp_path: Path) -> None:
    """mode='a' on a new path writes the header, like a fresh recording."""
    path = tmp_path / "new.rec.gz"
    with RecordingWriter(path, mode="a", metadata={"created_ns": 3}) as writer:
        writer.write(5, "linear", BOOK)
    assert read_recording_metadata(path) == {"created_ns": 3}
    assert list(read_recording(path)) == [(5, "linear", BOOK)]


def _recording_with_flush_point(path: Path, count: int, flush_after: int) -> tuple[list[bytes], int]:
    """A recording of ``count`` frames, and the file size right after the first ``flush_after``."""
    frames = [BOOK.replace(b'"u":7', b'"u":%d' % i) for i in range(count)]
    with RecordingWriter(path) as writer:
        for i, raw in enumerate(frames):
            writer.write(1_000 + i, "linear", raw)
            if i + 1 == flush_after:
                writer.flush()
                flushed_size = path.stat().st_size
    return frames, flushed_size


def test_truncated_tail_stops_at_last_complete_line_with_warning(tmp_path: Path) -> None:
    """A writer killed after a flush leaves a file that reads up to the flush, plus a warning."""
    path = tmp_path / "killed.rec.gz"
    frames, flushed_size = _recording_with_flush_point(path, count=2_000, flush_after=700)
    path.write_bytes(path.read_bytes()[:flushed_size])

    with capture_logs() as logs:
        records = list(read_recording(path))

    assert records == [(1_000 + i, "linear", raw) for i, raw in enumerate(frames[:700])]
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 1
    assert "truncated" in warnings[0]["event"]
    assert warnings[0]["lines"] == 701  # header + 700 frames


@pytest.mark.parametrize("cut", [1, 9, 100, 1_000, 5_000])
def test_truncated_anywhere_yields_a_prefix(tmp_path: Path, cut: int) -> None:
    """Cutting bytes off the end (trailer only, mid-block, mid-line) never yields a partial frame."""
    path = tmp_path / "cut.rec.gz"
    frames, flushed_size = _recording_with_flush_point(path, count=3_000, flush_after=1_500)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - cut])
    assert len(data) - cut >= flushed_size

    with capture_logs() as logs:
        records = list(read_recording(path))

    assert 1_500 <= len(records) <= 3_000
    assert records == [(1_000 + i, "linear", raw) for i, raw in enumerate(frames[: len(records)])]
    assert [entry["log_level"] for entry in logs] == ["warning"]


def test_append_refuses_a_truncated_recording(tmp_path: Path) -> None:
    """Appending after a broken gzip member would hide the new data, so it is refused."""
    path = tmp_path / "killed.rec.gz"
    _, flushed_size = _recording_with_flush_point(path, count=50, flush_after=20)
    path.write_bytes(path.read_bytes()[:flushed_size])
    with pytest.raises(ReplayDataError, match="truncated"):
        RecordingWriter(path, mode="a")


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (b"12x\tlinear\t<\t{}\n", "bad timestamp"),
        (b"\tlinear\t<\t{}\n", "bad timestamp"),
        (b"13\tlinear\t{}\n", "expected 4 tab-separated fields, got 3"),
        (b"13\n", "expected 4 tab-separated fields, got 1"),
        (b"13\tlinear\t?\t{}\n", "bad direction"),
        (b"13\t\t<\t{}\n", "bad stream name"),
        (b"11\tlinear\t<\t{}\n", "older than the previous 12"),
        (_header(), "unexpected header line"),
    ],
)
def test_corrupt_line_names_file_and_line(tmp_path: Path, bad_line: bytes, message: str) -> None:
    """A corrupt line raises with the file name and its line number, after the good lines before it."""
    path = tmp_path / "corrupt.rec.gz"
    _write_gzip(path, _header() + b"12\tlinear\t<\t{}\n" + bad_line + b"14\tlinear\t<\t{}\n")
    records = read_recording(path)
    assert next(records) == (12, "linear", b"{}")
    with pytest.raises(ReplayDataError, match=message) as info:
        next(records)
    assert str(info.value).startswith(f"{path}:3: ")
    assert info.value.line == 3


def test_missing_final_newline_is_corrupt_not_truncated(tmp_path: Path) -> None:
    """A complete gzip stream whose last line lacks its newline was not written by us: error."""
    path = tmp_path / "nonl.rec.gz"
    _write_gzip(path, _header() + b"12\tlinear\t<\t{}")
    with pytest.raises(ReplayDataError, match=r":2: last line has no newline"):
        list(read_recording(path))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no complete header"),
        (b"timestamp,symbol\n", "not a bybit-router recording"),
        (b"#bybit-router-recording v2 {}\n", "unsupported recording version"),
        (b"#bybit-router-recording v1 [1]\n", "integer created_ns"),
        (b"#bybit-router-recording v1 {bad\n", "not JSON"),
    ],
)
def test_bad_header_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    """Only a v1 header with JSON-object metadata starts a recording."""
    path = tmp_path / "bad.rec.gz"
    _write_gzip(path, content)
    with pytest.raises(ReplayDataError, match=message):
        list(read_recording(path))


def test_plain_file_is_not_a_recording(tmp_path: Path) -> None:
    """A recording is gzip by definition; an uncompressed file is reported, not misread."""
    path = tmp_path / "plain.rec"
    path.write_bytes(_header())
    with pytest.raises(ReplayDataError, match="corrupt gzip data"):
        list(read_recording(path))
