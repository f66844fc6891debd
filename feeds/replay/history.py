"""Bybit's public history files as records, so a backtest replays them through the live parser.

Two kinds of archive (docs/bybit_v5.md section 10):

* order-book dumps (``*_ob500.data``, ``*_ob200.data``; plain, ``.zip`` or ``.gz``): JSON lines,
  each a verbatim v5 ``orderbook`` message. Passed through byte for byte.
* trade dumps (``.csv``, ``.csv.gz``), derivatives or spot layout. Each row becomes the v5
  ``publicTrade`` frame Bybit would have pushed for it, so trades too go through ``BybitCodec``.

Neither has a local receive time; the venue's own time stands in for it (a backtest models
latency on top). Compression is recognised from the bytes, not the file name, and
``detect_kind`` sniffs the content, so a renamed download still reads.
"""

from __future__ import annotations

import gzip
import heapq
import io
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Final, Literal, TypeAlias, cast

import msgspec
import structlog

from feeds.replay.progress import open_metered
from feeds.replay.recording import RECORDING_MAGIC, Record, ReplayDataError, StrPath, read_recording

__all__ = [
    "RecordKind",
    "HISTORY_STREAM",
    "DEFAULT_REORDER_WINDOW",
    "read_orderbook_history",
    "read_json_frames",
    "read_trade_csv",
    "symbol_from_file_name",
    "detect_kind",
    "open_records",
]

log = structlog.get_logger("feeds.replay")

RecordKind: TypeAlias = Literal["recording", "orderbook", "frames", "trades"]

HISTORY_STREAM: Final = "history"
"""Stream name of every record read from Bybit's archives."""

DEFAULT_REORDER_WINDOW: Final = 100_000
"""Rows a trade file may be out of place and still stream in bounded memory."""

NS_PER_MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000

_READ_CHUNK: Final = 1 << 20
_SNIFF_BYTES: Final = 4096
_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZIP_MAGIC: Final = b"PK"


# -- opening ----------------------------------------------------------------------------------


@contextmanager
def _open_decompressed(path: Path) -> Iterator[io.BufferedIOBase]:
    """The file's content, whether plain, gzip or a single-member zip (judged by magic bytes)."""
    with cast(io.BufferedIOBase, open_metered(path)) as file:
        magic = file.read(4)
        file.seek(0)
        if magic.startswith(_GZIP_MAGIC):
            with gzip.GzipFile(fileobj=file, mode="rb") as unzipped:
                yield unzipped
        elif magic.startswith(_ZIP_MAGIC):
            try:
                archive = zipfile.ZipFile(file)
            except zipfile.BadZipFile as exc:
                raise ReplayDataError(path, None, f"bad zip archive: {exc}") from exc
            with archive:
                members = [info for info in archive.infolist() if not info.is_dir()]
                if len(members) != 1:
                    names = [info.filename for info in members]
                    raise ReplayDataError(path, None, f"zip must hold exactly one file, holds {names}")
                with archive.open(members[0]) as member:
                    # typeshed says IO[bytes]; it is a ZipExtFile, a BufferedIOBase
                    yield cast(io.BufferedIOBase, member)
        else:
            yield file


_READ_ERRORS: Final = (EOFError, OSError, zlib.error, zipfile.BadZipFile)
"""What a truncated or corrupt archive raises while being read."""


def _line_blocks(path: Path) -> Iterator[tuple[int, list[bytes]]]:
    """``(number of the first line, lines)`` per decompressed chunk; lines without their ``\\n``.

    Chunked splitting is several times faster than iterating a file line by line, which matters
    at a million lines per day file.
    """
    line_no = 1
    with _open_decompressed(path) as stream:
        pending = b""
        while True:
            try:
                chunk = stream.read(_READ_CHUNK)
            except _READ_ERRORS as exc:
                raise ReplayDataError(path, line_no, f"truncated or corrupt data: {exc!r}") from exc
            if not chunk:
                if pending:
                    yield line_no, [pending]
                return
            lines = (pending + chunk).split(b"\n") if pending else chunk.split(b"\n")
            pending = lines.pop()
            if lines:
                yield line_no, lines
                line_no += len(lines)


def _first_line(path: Path) -> bytes:
    """Up to ``_SNIFF_BYTES`` of the first line, decompressed; never raises for a truncated tail."""
    with _open_decompressed(path) as stream:
        head = b""
        try:
            while len(head) < _SNIFF_BYTES and b"\n" not in head:
                chunk = stream.read1(_SNIFF_BYTES)
                if not chunk:
                    break
                head += chunk
        except EOFError:
            pass  # a killed recorder's file: what we have is enough to tell
        except _READ_ERRORS as exc:
            raise ReplayDataError(path, 1, f"corrupt data: {exc!r}") from exc
    return head.partition(b"\n")[0][:_SNIFF_BYTES]


# -- order-book dumps -------------------------------------------------------------------------

_TS_FIELD: Final = re.compile(rb'"ts"\s*:\s*([0-9]+)(?=[\s,}])')
"""``"ts":<digits>``. The leading quote is part of the key, so ``"cts":`` never matches."""


def read_json_frames(path: StrPath) -> Iterator[Record]:
    """Stream JSON lines of raw v5 frames: one record per market-data message, ``raw`` = the line.

    Two sources write such files: Bybit's order-book dumps (book messages only), and any
    websocket client that saves what it received, which mixes in subscription acks, pongs,
    auth replies and private topics. A line is market data when it is an object with a
    ``topic`` and an integer ``ts`` (every public v5 push has both); anything else is skipped
    and counted (one log line at the end). A line that is not JSON at all is an error.

    ``ts_recv_ns`` is the message's ``ts`` (ms) in ns. Messages must be applied in file order
    (``u`` is contiguous), so a ``ts`` lower than its predecessor's is not re-sorted: its
    stand-in receive time is raised to the predecessor's (a message cannot have been received
    before the one sent ahead of it) and a warning is logged; ``raw`` keeps the true ``ts``.
    """
    path = Path(path)
    last_ns = 0
    clamped = 0
    skipped: Counter[str] = Counter()
    for first_line_no, lines in _line_blocks(path):
        for offset, line in enumerate(lines):
            if line[-1:] == b"\r":
                line = line[:-1]  # noqa: PLW2901 - the record carries the line without its CR
            if not line or line.isspace():
                continue
            ts_ms = _book_ts_ms(line)
            if ts_ms is None:
                ts_ms = _frame_ts_ms(path, first_line_no + offset, line, skipped)
                if ts_ms is None:
                    continue
            ts_ns = ts_ms * NS_PER_MS
            if ts_ns < last_ns:
                clamped += 1
                if clamped == 1:
                    log.warning(
                        "market message older than its predecessor; receive time held",
                        file=str(path),
                        line=first_line_no + offset,
                        ts_ms=ts_ms,
                        previous_ts_ms=last_ns // NS_PER_MS,
                    )
                ts_ns = last_ns
            last_ns = ts_ns
            yield (ts_ns, HISTORY_STREAM, line)
    if clamped > 1:
        log.warning("market messages with held receive time", file=str(path), count=clamped)
    if skipped:
        log.info("lines skipped: not market data", file=str(path), count=skipped.total(), **skipped)


read_orderbook_history = read_json_frames
"""Bybit's order-book dumps are JSON lines of book frames: the same reader."""


def _book_ts_ms(line: bytes) -> int | None:
    """``ts`` by a byte scan, without parsing the (up to ~100 kB) line; None if unsure.

    Sure means: the line is an object whose first key is ``topic`` and no ``{`` precedes the
    ``ts`` key, so the key is top-level (a ``{`` inside a string only makes us unsure, never
    wrong). Replies and pongs never start with ``topic``, so they always take the parsed path.
    """
    if not line.startswith(b'{"topic"'):
        return None
    match = _TS_FIELD.search(line)
    if match is None or line.count(b"{", 0, match.start()) != 1:
        return None
    return int(match.group(1))


_PRIVATE_TOPICS: Final = frozenset({"order", "execution", "position", "wallet", "greeks", "dcp"})


def _frame_ts_ms(path: Path, line_no: int, line: bytes, skipped: Counter[str]) -> int | None:
    """The ``ts`` of a market-data line, parsed; None (counted in ``skipped``) for anything else."""
    try:
        message = msgspec.json.decode(line)
    except msgspec.DecodeError as exc:
        raise ReplayDataError(path, line_no, f"not a JSON message: {exc}") from exc
    if type(message) is not dict:
        skipped["not_an_object"] += 1
        return None
    topic = message.get("topic")
    if topic is None:
        skipped["replies"] += 1  # subscription acks, pongs, auth and trade-API replies
        return None
    if type(topic) is str and topic.partition(".")[0] in _PRIVATE_TOPICS:
        skipped["private"] += 1  # our own orders and account: not market data
        return None
    ts = message.get("ts")
    if type(ts) is not int or ts < 0:
        raise ReplayDataError(path, line_no, f"market message has no integer ts: {line[:80]!r}")
    return ts


# -- trade dumps ------------------------------------------------------------------------------

_DERIVATIVES_COLUMNS: Final = (
    "timestamp",
    "symbol",
    "side",
    "size",
    "price",
    "tickdirection",
    "trdmatchid",
    "grossvalue",
    "homenotional",
    "foreignnotional",
)
_SPOT_COLUMNS: Final = ("id", "timestamp", "price", "volume", "side")

_SIDES: Final = {"Buy": "Buy", "Sell": "Sell", "buy": "Buy", "sell": "Sell"}
_RPI_FLAGS: Final = {
    "1": True,
    "true": True,
    "True": True,
    "0": False,
    "false": False,
    "False": False,
    "": False,
}
_NUMBER: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_SYMBOL: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_JSON_SAFE_TEXT: Final = re.compile(r'[^"\\\x00-\x1f]+')
_TICK_DIRECTION: Final = re.compile(r"[A-Za-z]*")
_FILE_SYMBOL: Final = (
    re.compile(r"(?P<symbol>[A-Za-z0-9][A-Za-z0-9-]*?)_?\d{4}-\d{2}(?:-\d{2})?(?:\D|$)"),
    re.compile(r"\d{4}-\d{2}-\d{2}_(?P<symbol>[A-Za-z0-9][A-Za-z0-9-]*?)(?:[_.]|$)"),
)


class _RowError(ValueError):
    """A malformed row; the caller adds file and line."""


class _TradeFormat:
    """One CSV layout: which column holds what, and how its timestamp reads."""

    __slots__ = ("columns", "has_rpi", "name")

    def __init__(self, name: Literal["derivatives", "spot"], columns: int, has_rpi: bool) -> None:
        self.name = name
        self.columns = columns
        self.has_rpi = has_rpi


def _trade_format(header: list[str]) -> _TradeFormat | None:
    names = tuple(name.removeprefix("\ufeff").strip().lower() for name in header)
    has_rpi = names[-1:] == ("rpi",)
    core = names[:-1] if has_rpi else names
    if core == _DERIVATIVES_COLUMNS:
        return _TradeFormat("derivatives", len(names), has_rpi)
    if core == _SPOT_COLUMNS:
        return _TradeFormat("spot", len(names), has_rpi)
    return None


def _seconds_to_ns(text: str) -> int:
    """``"1735689600.0974"`` -> 1735689600097400000, exactly: digits are shifted, never floated."""
    whole, dot, fraction = text.partition(".")
    digits = whole + fraction
    if not (whole and digits.isascii() and digits.isdigit()) or (dot and not fraction):
        raise _RowError(f"bad timestamp (seconds) {text!r}")
    if len(fraction) > 9:
        if fraction[9:].strip("0"):
            raise _RowError(f"timestamp {text!r} is finer than a nanosecond")
        fraction = fraction[:9]
    return int(whole + fraction.ljust(9, "0"))


def _ms_to_ns(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise _RowError(f"bad timestamp (ms) {text!r}")
    return int(text) * NS_PER_MS


class _TradeRows:
    """Turns rows of one file into ``(ts_ns, frame)``; caches per-symbol frame prefixes."""

    __slots__ = ("_format", "_prefixes", "_symbol")

    def __init__(self, trade_format: _TradeFormat, symbol: str | None) -> None:
        self._format = trade_format
        self._symbol = symbol
        self._prefixes: dict[str, tuple[str, str]] = {}

    def timestamp(self, row: list[str]) -> int:
        if len(row) != self._format.columns:
            raise _RowError(f"expected {self._format.columns} columns, got {len(row)}")
        if self._format.name == "derivatives":
            return _seconds_to_ns(row[0])
        return _ms_to_ns(row[1])

    def convert(self, row: list[str]) -> tuple[int, bytes]:
        if len(row) != self._format.columns:
            raise _RowError(f"expected {self._format.columns} columns, got {len(row)}")
        rpi = self._format.has_rpi and _rpi_flag(row[-1])
        if self._format.name == "derivatives":
            ts_text, symbol, side, size, price, tick, trade_id = row[:7]
            if self._symbol is not None and symbol != self._symbol:
                raise _RowError(f"row is for {symbol!r}, not the requested {self._symbol!r}")
            ts_ns = _seconds_to_ns(ts_text)
        else:
            trade_id, ts_text, price, size, side = row[:5]
            symbol = self._symbol or ""
            tick = ""
            ts_ns = _ms_to_ns(ts_text)
        return ts_ns, self._frame(
            symbol=symbol,
            ms=ts_ns // NS_PER_MS,
            side=side,
            size=size,
            price=price,
            tick=tick,
            trade_id=trade_id,
            rpi=rpi,
        )

    def _frame(
        self, *, symbol: str, ms: int, side: str, size: str, price: str, tick: str, trade_id: str, rpi: bool
    ) -> bytes:
        """The ``publicTrade`` push for one trade. Built by formatting, so every field is checked
        to need no JSON escaping; sizes and prices stay the file's exact strings."""
        prefix = self._prefixes.get(symbol) or self._new_symbol(symbol)
        taker = _SIDES.get(side)
        if taker is None:
            raise _RowError(f"bad side {side!r}")
        if _NUMBER.fullmatch(size) is None:
            raise _RowError(f"bad size {size!r}")
        if _NUMBER.fullmatch(price) is None:
            raise _RowError(f"bad price {price!r}")
        if _TICK_DIRECTION.fullmatch(tick) is None:
            raise _RowError(f"bad tick direction {tick!r}")
        if _JSON_SAFE_TEXT.fullmatch(trade_id) is None:
            raise _RowError(f"bad trade id {trade_id!r}")
        tick_field = f'"L":"{tick}",' if tick else ""
        rpi_field = ',"RPI":true' if rpi else ""
        return (
            f'{prefix[0]}{ms},"data":[{{"T":{ms},{prefix[1]},"S":"{taker}","v":"{size}","p":"{price}",'
            f'{tick_field}"i":"{trade_id}","BT":false{rpi_field}}}]}}'
        ).encode()

    def _new_symbol(self, symbol: str) -> tuple[str, str]:
        if _SYMBOL.fullmatch(symbol) is None:
            raise _RowError(f"bad symbol {symbol!r}")
        prefix = self._prefixes[symbol] = (
            f'{{"topic":"publicTrade.{symbol}","type":"snapshot","ts":',
            f'"s":"{symbol}"',
        )
        return prefix


def _rpi_flag(text: str) -> bool:
    flag = _RPI_FLAGS.get(text.strip())
    if flag is None:
        raise _RowError(f"bad RPI flag {text!r}")
    return flag


def symbol_from_file_name(path: StrPath) -> str | None:
    """``1INCHUSDT_2025-05-19.csv`` / ``BTCUSDT2025-01-01.csv.gz`` / ``2024-12-01_XRPUSDT_ob500``
    -> the symbol (upper-cased); None if the name does not follow Bybit's patterns."""
    name = Path(path).name
    for pattern in _FILE_SYMBOL:
        match = pattern.match(name)
        if match is not None:
            return match.group("symbol").upper()
    return None


def _csv_rows(path: Path) -> Generator[tuple[int, list[str]], None, None]:
    """``(line number, fields)`` of every non-blank line, header included.

    Bybit's trade files are plain comma-separated text without quoting, so a split is exact
    (and several times faster than the csv module); a quoted field would fail the per-field
    checks rather than be misread.
    """
    for first_line_no, lines in _line_blocks(path):
        for offset, line in enumerate(lines):
            if line[-1:] == b"\r":
                line = line[:-1]  # noqa: PLW2901 - CRLF files
            if not line or line.isspace():
                continue
            try:
                text = line.decode()
            except UnicodeDecodeError as exc:
                raise ReplayDataError(path, first_line_no + offset, f"not UTF-8 text: {exc}") from exc
            yield first_line_no + offset, text.split(",")


def _trade_file(path: Path, symbol: str | None) -> _TradeRows:
    if symbol is not None and _SYMBOL.fullmatch(symbol) is None:
        raise ValueError(f"bad symbol {symbol!r}")
    with closing(_csv_rows(path)) as numbered_rows:
        header = next(numbered_rows, (1, []))[1]
    trade_format = _trade_format(header)
    if trade_format is None:
        raise ReplayDataError(path, 1, f"not a Bybit trade CSV header: {','.join(header)[:200]!r}")
    if trade_format.name == "spot" and symbol is None:
        symbol = symbol_from_file_name(path)
        if symbol is None:
            raise ReplayDataError(
                path, None, "a spot trade file has no symbol column and its name shows none: pass symbol="
            )
    return _TradeRows(trade_format, symbol)


def read_trade_csv(
    path: StrPath, *, symbol: str | None = None, reorder_window: int = DEFAULT_REORDER_WINDOW
) -> Iterator[Record]:
    """Stream a trade dump in timestamp order as synthesized ``publicTrade`` frames.

    ``ts_recv_ns`` is the row's exact timestamp. Bybit does not promise sorted files, so the
    output is the stable sort of all rows by timestamp. A first pass reads only timestamps and
    decides how: already sorted -> straight through; no row more than ``reorder_window`` rows
    out of place -> a bounded heap; otherwise the whole file is loaded and sorted (logged).
    Deciding up front is what makes the output exact: a generator cannot take back a row it
    emitted too early.

    ``symbol``: required for spot files whose name does not show it; for derivatives files
    (which have a symbol column) a row for another symbol is an error. The header is checked
    at once, so a wrong file fails here rather than midway through a merge.
    """
    if reorder_window < 1:
        raise ValueError(f"reorder_window must be positive, got {reorder_window}")
    path = Path(path)
    return _read_trade_csv(path, _trade_file(path, symbol), reorder_window)


def _read_trade_csv(path: Path, rows: _TradeRows, window: int) -> Iterator[Record]:
    order = _scan_order(path, rows, window)
    if order == "unsorted":
        yield from _sorted_in_memory(path, rows)
        return
    heap: list[tuple[int, int, bytes]] = []
    last_ns = 0
    with closing(_csv_rows(path)) as numbered_rows:
        next(numbered_rows, None)  # the header, checked by _trade_file
        for line_no, row in numbered_rows:
            try:
                ts_ns, frame = rows.convert(row)
            except _RowError as exc:
                raise ReplayDataError(path, line_no, str(exc)) from None
            if ts_ns < last_ns:
                raise ReplayDataError(path, line_no, "file changed while being read (order differs)")
            if order == "sorted":
                last_ns = ts_ns
                yield (ts_ns, HISTORY_STREAM, frame)
            elif len(heap) < window:
                heapq.heappush(heap, (ts_ns, line_no, frame))
            else:
                last_ns, _, frame = heapq.heappushpop(heap, (ts_ns, line_no, frame))
                yield (last_ns, HISTORY_STREAM, frame)
    while heap:
        ts_ns, _, frame = heapq.heappop(heap)
        yield (ts_ns, HISTORY_STREAM, frame)


def _scan_order(path: Path, rows: _TradeRows, window: int) -> Literal["sorted", "window", "unsorted"]:
    """Replays the heap emission on timestamps alone; "unsorted" iff it would emit out of order."""
    heap: list[int] = []
    last_emitted = 0
    previous = 0
    is_sorted = True
    with closing(_csv_rows(path)) as numbered_rows:
        next(numbered_rows, None)  # the header, checked by _trade_file
        for line_no, row in numbered_rows:
            try:
                ts_ns = rows.timestamp(row)
            except _RowError as exc:
                raise ReplayDataError(path, line_no, str(exc)) from None
            if ts_ns < previous:
                is_sorted = False
                if ts_ns < last_emitted:
                    log.warning(
                        "trade file out of order beyond the reorder window; sorting it in memory",
                        file=str(path),
                        line=line_no,
                        window=window,
                    )
                    return "unsorted"
            previous = ts_ns
            if len(heap) < window:
                heapq.heappush(heap, ts_ns)
            else:
                last_emitted = heapq.heappushpop(heap, ts_ns)
    return "sorted" if is_sorted else "window"


def _sorted_in_memory(path: Path, rows: _TradeRows) -> Iterator[Record]:
    loaded: list[tuple[int, bytes]] = []
    with closing(_csv_rows(path)) as numbered_rows:
        next(numbered_rows, None)  # the header, checked by _trade_file
        for line_no, row in numbered_rows:
            try:
                loaded.append(rows.convert(row))
            except _RowError as exc:
                raise ReplayDataError(path, line_no, str(exc)) from None
    loaded.sort(key=itemgetter(0))  # stable: equal timestamps keep file order
    for ts_ns, frame in loaded:
        yield (ts_ns, HISTORY_STREAM, frame)


# -- any file ---------------------------------------------------------------------------------


def detect_kind(path: StrPath) -> RecordKind:
    """What a file holds, judged from its first line (after decompression), not its name."""
    path = Path(path)
    head = _first_line(path).removeprefix(b"\xef\xbb\xbf").strip()
    if head.startswith(RECORDING_MAGIC):
        return "recording"
    if head.startswith(b"{"):
        return "orderbook" if head.startswith(b'{"topic":"orderbook.') else "frames"
    try:
        header = head.decode().split(",")
    except UnicodeDecodeError:
        header = []
    if _trade_format(header) is not None:
        return "trades"
    raise ReplayDataError(path, 1, f"not a recording, order-book dump or trade CSV: {head[:80]!r}")


def open_records(path: StrPath, *, symbol: str | None = None) -> Iterator[Record]:
    """Records of any supported file, by ``detect_kind``. ``symbol`` matters for trade CSVs only
    (see ``read_trade_csv``); recordings yield received frames only."""
    kind = detect_kind(path)
    if kind == "recording":
        return read_recording(path)
    if kind in ("orderbook", "frames"):
        return read_json_frames(path)
    return read_trade_csv(path, symbol=symbol)
