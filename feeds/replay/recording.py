"""Our own recording format: raw websocket frames with the local receive time, gzip-compressed.

A recording is what we need to replay a session exactly as the engine saw it: every frame
verbatim (it goes back through the one live parser, ``BybitCodec.parse``) and the nanosecond
at which we received it (which Bybit's archives cannot give us). Layout, one line per item::

    #bybit-router-recording v1 {"created_ns": 1733011200000000000, ...}
    <ts_recv_ns>\\t<stream>\\t<direction>\\t<frame>
    ...

``direction`` is ``<`` for a frame we received and ``>`` for one we sent (kept so a session's
requests can be audited; replay skips them by default). The frame comes last, so it may itself
contain tabs. Line-oriented gzip streams: a reader needs constant memory, ``zcat | grep``
works, and a writer killed mid-write loses only its unflushed tail (the reader stops at the
last complete line and warns). Appending adds a gzip member, which every gzip reader joins.

Timestamps in a file never decrease: the writer refuses it, the reader rejects it, because
``merge_records`` relies on every input being sorted.
"""

from __future__ import annotations

import gzip
import os
import time
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal, NoReturn, TypeAlias

import msgspec
import structlog

from feeds.replay.progress import open_metered

__all__ = [
    "Record",
    "ReplayDataError",
    "RECORDING_MAGIC",
    "RECORDING_VERSION",
    "RecordingWriter",
    "read_recording",
    "read_recording_metadata",
]

log = structlog.get_logger("feeds.replay")

Record: TypeAlias = tuple[int, str, bytes]
"""``(ts_recv_ns, stream, raw)``: a plain tuple because replay makes about a million a second
and a NamedTuple costs ten times as much to build. ``raw`` is one complete v5 frame (JSON)."""

StrPath: TypeAlias = str | os.PathLike[str]

RECORDING_MAGIC: Final = b"#bybit-router-recording"
RECORDING_VERSION: Final = b"v1"

_RECEIVED: Final = b"<"
_SENT: Final = b">"
_DIRECTIONS: Final = {"<": _RECEIVED, ">": _SENT}
_NEWLINES_TO_SPACES: Final = bytes.maketrans(b"\r\n", b"  ")
_FORBIDDEN_IN_STREAM: Final = ("\t", "\n", "\r")
_READ_CHUNK: Final = 1 << 20
_WRITE_BUFFER: Final = 1 << 16


class ReplayDataError(ValueError):
    """A data file that is not what it claims to be. Says where, so the bad bytes can be found."""

    def __init__(self, path: StrPath, line: int | None, reason: str) -> None:
        self.path = os.fspath(path)
        self.line = line
        self.reason = reason
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {reason}")


# -- writing ----------------------------------------------------------------------------------


class RecordingWriter:
    """Appends frames to a recording; a context manager that flushes and closes on exit.

    ``mode="x"`` (default) refuses an existing path, so a second recorder cannot clobber a
    session. ``mode="a"`` continues an existing recording (creating it if absent): its header
    and metadata stand (``metadata`` is then ignored; ``self.metadata`` is the file's) and the
    first new timestamp must not be older than its last one. Checking that means reading the
    file once; a file whose last gzip member is truncated (its writer was killed) is refused,
    because a member appended after a broken one would be unreadable.

    Lines are buffered and compressed in batches; ``flush()`` pushes everything written so far
    to the OS in a form a reader can decompress, which bounds what a crash can lose.
    """

    def __init__(
        self,
        path: StrPath,
        *,
        mode: Literal["x", "a"] = "x",
        metadata: Mapping[str, Any] | None = None,
        compresslevel: int = 6,
    ) -> None:
        if mode not in ("x", "a"):
            raise ValueError(f"mode must be 'x' or 'a', not {mode!r}")
        self.path = Path(path)
        self._last_ts = 0
        header: bytes | None = None
        if mode == "a" and self.path.exists() and self.path.stat().st_size > 0:
            self.metadata, last_ts = _scan_for_append(self.path)
            self._last_ts = max(last_ts, 0)
        else:
            self.metadata = _new_metadata(metadata)
            header = _header_line(self.metadata)
        file = open(self.path, "ab" if mode == "a" else "xb")  # noqa: SIM115 - owned by self
        try:
            self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=file, compresslevel=compresslevel)
        except BaseException:
            file.close()
            raise
        self._file: IO[bytes] = file
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._streams: dict[str, bytes] = {}
        self._closed = False
        if header is not None:
            self._gzip.write(header)
            self._gzip.flush()  # a recording killed at once is still recognisable as one

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, ts_recv_ns: int, stream: str, raw: bytes | str, direction: Literal["<", ">"] = "<") -> None:
        """Record one frame. ``raw`` is stored verbatim, except CR/LF bytes become spaces.

        In valid JSON a raw CR or LF can only be insignificant whitespace (inside strings they
        must be escaped), so the replacement keeps the frame's meaning and the one-line-per-frame
        layout. A frame that is not valid JSON was unreadable anyway.
        """
        if self._closed:
            raise ValueError(f"recording {self.path} is closed")
        if type(ts_recv_ns) is not int:
            raise TypeError(f"ts_recv_ns must be an int, got {ts_recv_ns!r}")
        if ts_recv_ns < self._last_ts:
            if ts_recv_ns < 0:
                raise ValueError(f"ts_recv_ns must not be negative, got {ts_recv_ns}")
            raise ValueError(f"timestamps must not decrease: {ts_recv_ns} after {self._last_ts} in {self.path}")
        stream_bytes = self._streams.get(stream) or self._new_stream(stream)
        direction_bytes = _DIRECTIONS.get(direction)
        if direction_bytes is None:
            raise ValueError(f"direction must be '<' (received) or '>' (sent), not {direction!r}")
        frame = raw.encode() if isinstance(raw, str) else raw
        if b"\n" in frame or b"\r" in frame:
            frame = frame.translate(_NEWLINES_TO_SPACES)
        line = b"%d\t%b\t%b\t%b\n" % (ts_recv_ns, stream_bytes, direction_bytes, frame)
        self._last_ts = ts_recv_ns
        self._pending.append(line)
        self._pending_bytes += len(line)
        if self._pending_bytes >= _WRITE_BUFFER:
            self._drain()

    def flush(self) -> None:
        """Make everything written so far readable from the file, even if we die next."""
        if self._closed:
            raise ValueError(f"recording {self.path} is closed")
        self._drain()
        self._gzip.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._drain()
            self._gzip.close()
        finally:
            self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _drain(self) -> None:
        if self._pending:
            self._gzip.write(b"".join(self._pending))
            self._pending.clear()
            self._pending_bytes = 0

    def _new_stream(self, stream: str) -> bytes:
        """Validated once per stream name: a tab or newline in it would shift every field."""
        if type(stream) is not str or not stream or any(c in stream for c in _FORBIDDEN_IN_STREAM):
            raise ValueError(f"stream must be a non-empty str without tabs or newlines, not {stream!r}")
        encoded = self._streams[stream] = stream.encode()
        return encoded


def _new_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    result = dict(metadata or {})
    created = result.setdefault("created_ns", time.time_ns())
    if type(created) is not int:
        raise ValueError(f"metadata created_ns must be an int (epoch ns), not {created!r}")
    return result


def _header_line(metadata: Mapping[str, Any]) -> bytes:
    # msgspec escapes control characters in strings, so the JSON cannot break the line.
    return RECORDING_MAGIC + b" " + RECORDING_VERSION + b" " + msgspec.json.encode(metadata) + b"\n"


def _scan_for_append(path: Path) -> tuple[dict[str, Any], int]:
    """Metadata and last timestamp of an existing recording; refuses a broken or foreign file."""
    metadata: dict[str, Any] | None = None
    last_line = b""
    line_no = 0
    for lines in _line_blocks(path, tolerate_truncation=False):
        if metadata is None:
            metadata = _parse_header(path, lines[0])
        line_no += len(lines)
        if line_no > 1:
            last_line = lines[-1]
    if metadata is None:
        raise ReplayDataError(path, 1, "no header line: not a bybit-router recording")
    if not last_line:
        return metadata, 0
    ts_text = last_line.partition(b"\t")[0]
    if not ts_text.isdigit():
        raise ReplayDataError(path, line_no, f"bad timestamp {ts_text[:40]!r}")
    return metadata, int(ts_text)


# -- reading ----------------------------------------------------------------------------------


def read_recording_metadata(path: StrPath) -> dict[str, Any]:
    """The header's metadata. Reads only the first line."""
    path = Path(path)
    for lines in _line_blocks(path, tolerate_truncation=True):
        return _parse_header(path, lines[0])
    raise ReplayDataError(path, 1, "no complete header line: not a bybit-router recording")


def read_recording(path: StrPath, *, include_sent: bool = False) -> Iterator[Record]:
    """Stream ``(ts_recv_ns, stream, raw)`` records; frames we sent only if ``include_sent``.

    A corrupt line raises ``ReplayDataError`` naming file and line. A truncated gzip tail (the
    writer was killed) ends the stream at the last complete line with a warning instead:
    everything before it is good data.
    """
    path = Path(path)
    streams: dict[bytes, str] = {}
    last_ts = 0
    line_no = 0
    for lines in _line_blocks(path, tolerate_truncation=True):
        start = 0
        if line_no == 0:
            _parse_header(path, lines[0])
            start = 1
        first_line_no = line_no + 1
        line_no += len(lines)
        for offset in range(start, len(lines)):
            parts = lines[offset].split(b"\t", 3)
            if len(parts) != 4:
                _corrupt(path, first_line_no + offset, lines[offset])
            ts_text, stream_bytes, direction, frame = parts
            if not ts_text.isdigit():
                raise ReplayDataError(path, first_line_no + offset, f"bad timestamp {ts_text[:40]!r}")
            ts = int(ts_text)
            if ts < last_ts:
                raise ReplayDataError(
                    path, first_line_no + offset, f"timestamp {ts} is older than the previous {last_ts}"
                )
            last_ts = ts
            if direction != _RECEIVED:
                if direction == _SENT:
                    if not include_sent:
                        continue
                else:
                    raise ReplayDataError(path, first_line_no + offset, f"bad direction {direction[:10]!r}")
            stream = streams.get(stream_bytes)
            if stream is None:
                stream = _stream_name(path, first_line_no + offset, stream_bytes, streams)
            yield (ts, stream, frame)
    if line_no == 0:
        raise ReplayDataError(path, 1, "no complete header line: not a bybit-router recording")


def _corrupt(path: Path, line_no: int, line: bytes) -> NoReturn:
    if line.startswith(b"#"):
        reason = "unexpected header line inside a recording (files concatenated? use merge_records)"
    else:
        fields = line.count(b"\t") + 1
        reason = f"expected 4 tab-separated fields, got {fields}: {line[:80]!r}"
    raise ReplayDataError(path, line_no, reason)


def _stream_name(path: Path, line_no: int, raw: bytes, cache: dict[bytes, str]) -> str:
    try:
        name = raw.decode()
    except UnicodeDecodeError:
        name = ""
    if not name:
        raise ReplayDataError(path, line_no, f"bad stream name {raw[:40]!r}")
    cache[raw] = name
    return name


def _parse_header(path: Path, line: bytes) -> dict[str, Any]:
    magic, _, rest = line.partition(b" ")
    version, _, metadata_json = rest.partition(b" ")
    if magic != RECORDING_MAGIC:
        raise ReplayDataError(path, 1, f"not a bybit-router recording (header {line[:60]!r})")
    if version != RECORDING_VERSION:
        raise ReplayDataError(path, 1, f"unsupported recording version {version[:20]!r}")
    try:
        metadata = msgspec.json.decode(metadata_json)
    except msgspec.DecodeError as exc:
        raise ReplayDataError(path, 1, f"header metadata is not JSON: {exc}") from exc
    if type(metadata) is not dict or type(metadata.get("created_ns")) is not int:
        raise ReplayDataError(path, 1, "header metadata must be a JSON object with an integer created_ns")
    return metadata


def _line_blocks(path: Path, *, tolerate_truncation: bool) -> Iterator[list[bytes]]:
    """The complete lines of a gzip file, one decompressed chunk at a time (never empty lists).

    ``read1`` returns everything that can be decompressed before a truncation point, so a
    killed writer's file yields every line it managed to flush.
    """
    lines_read = 0
    with open_metered(path) as file, gzip.GzipFile(fileobj=file, mode="rb") as stream:
        pending = b""
        while True:
            try:
                chunk = stream.read1(_READ_CHUNK)
            except EOFError:
                if not tolerate_truncation:
                    raise ReplayDataError(
                        path,
                        None,
                        "the gzip stream is truncated (its writer was killed); appending after it "
                        "would make the appended data unreadable, record to a new file",
                    ) from None
                log.warning(
                    "recording truncated; stopped at the last complete line",
                    file=str(path),
                    lines=lines_read,
                    dropped_bytes=len(pending),
                )
                return
            except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
                raise ReplayDataError(path, lines_read + 1, f"corrupt gzip data: {exc}") from exc
            if not chunk:
                if pending:
                    raise ReplayDataError(path, lines_read + 1, "last line has no newline")
                return
            lines = (pending + chunk).split(b"\n") if pending else chunk.split(b"\n")
            pending = lines.pop()
            if lines:
                lines_read += len(lines)
                yield lines
