"""Malformed and wrong-typed frames: never raised out of ``parse``, counted by reason, logged (throttled).

Bad frames are built from real fixtures with one field broken, so each case fails for exactly that
field (``test_unbroken_bases_parse_cleanly`` proves the unbroken bases are good). They are sent
both as Bybit sends them (compact JSON, topic first: the codec's typed fast path for book and
trade frames) and pretty-printed (the generic path).
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from structlog.testing import capture_logs

from engine.events import Event, TickerUpdated
from feeds.bybit.codec import BybitCodec
from tests.conftest import FIXTURES

WS = FIXTURES / "ws"
TS_RECV = 1_800_000_000_000_000_001
MS = 1_000_000

BOOK = "bybit_docs/ws_orderbook50_delta_linear.json"
BOOK_SNAPSHOT = "nautilus_trader_legacy_py/public/ws_orderbook_snapshot.json"
TRADE = "bybit_docs/ws_publicTrade_linear.json"
TICKER = "nautilus_trader/ws_ticker_linear.json"
ORDER = "bybit_docs/ws_order.json"
EXECUTION = "bybit_docs/ws_execution.json"
SUBSCRIBED = "bybit_docs/ws_subscribe_response_private.json"

_DELETE: Any = object()
Path = tuple[str | int, ...]


def _load(rel: str) -> dict[str, Any]:
    msg: dict[str, Any] = json.loads((WS / rel).read_bytes())
    return msg


def _broken(rel: str, path: Path, value: Any) -> dict[str, Any]:
    """The fixture with the field at ``path`` set to ``value`` (or deleted, for ``_DELETE``)."""
    msg = _load(rel)
    parent: Any = msg
    for key in path[:-1]:
        parent = parent[key]
    if value is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return msg


def _wire(msg: object) -> bytes:
    """Compact JSON, key order kept: what Bybit sends."""
    return json.dumps(msg, separators=(",", ":")).encode()


def _pretty(msg: object) -> bytes:
    return json.dumps(msg, indent=2).encode()


class Broken(NamedTuple):
    base: str
    path: Path
    value: Any
    reason: str  # the exact stats.malformed key
    error: str  # a fragment of the logged error: it must say what was wrong


BROKEN: dict[str, Broken] = {
    "book_u_is_a_string": Broken(BOOK, ("data", "u"), "177400507", "bad orderbook frame", "$.data.u"),
    "book_b_is_not_a_list": Broken(BOOK, ("data", "b"), {"30247.20": "30.028"}, "bad orderbook frame", "$.data.b"),
    "book_unknown_type": Broken(BOOK, ("type",), "partial", "bad orderbook frame", "'partial'"),
    "book_missing_data": Broken(BOOK, ("data",), _DELETE, "bad orderbook frame", "data"),
    "trade_price_not_a_string": Broken(TRADE, ("data", 0, "p"), 16578.5, "bad publicTrade frame", "$.data[0].p"),
    "trade_price_empty": Broken(TRADE, ("data", 0, "p"), "", "bad publicTrade frame", "decimal string"),
    "trade_unknown_side": Broken(TRADE, ("data", 0, "S"), "Short", "bad publicTrade frame", "Short"),
    "trade_tick_direction_not_a_string": Broken(TRADE, ("data", 0, "L"), 1, "bad publicTrade frame", "$.data[0].L"),
    "order_unknown_status": Broken(ORDER, ("data", 0, "orderStatus"), "Expired", "bad order frame", "'Expired'"),
    "order_local_only_status": Broken(ORDER, ("data", 0, "orderStatus"), "Sent", "bad order frame", "'Sent'"),
    "execution_missing_exec_id": Broken(EXECUTION, ("data", 0, "execId"), _DELETE, "bad execution frame", "execId"),
    "subscribe_reply_success_is_a_string": Broken(
        SUBSCRIBED, ("success",), "true", "bad subscribe reply frame", "'true'"
    ),
}


class Unreadable(NamedTuple):
    raw: Any  # deliberately not always bytes | str
    reason: str
    error: str


UNREADABLE: dict[str, Unreadable] = {
    "invalid_json": Unreadable(b'{"topic":"orderbook.50.BTCUSDT","type":', "invalid JSON", "truncated"),
    "invalid_json_text_frame": Unreadable('{"op":"pong","args":[', "invalid JSON", "truncated"),
    "json_array": Unreadable(b'[{"topic":"orderbook.50.BTCUSDT"}]', "not a JSON object", ""),
    "json_string": Unreadable(b'"pong"', "not a JSON object", ""),
    "not_bytes_or_str": Unreadable(12345, "not a text frame", "int"),
}


def _assert_one_malformed_drop(codec: BybitCodec, events: list[Event], reason: str) -> None:
    assert events == []
    stats = codec.stats
    assert stats.malformed == Counter({reason: 1})
    assert stats.ignored == Counter()
    assert (stats.frames, stats.book, stats.trade) == (1, 0, 0)


@pytest.mark.parametrize("encode", [_wire, _pretty], ids=["wire", "pretty"])
@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_broken_field_is_a_counted_logged_drop(case: Broken, encode: Any) -> None:
    """Pins that one wrong field drops the frame: [] back, nothing raised, one reasoned count, one warning."""
    raw = encode(_broken(case.base, case.path, case.value))
    codec = BybitCodec()
    with capture_logs() as logs:
        events = codec.parse(raw, TS_RECV)
    _assert_one_malformed_drop(codec, events, case.reason)
    assert len(logs) == 1
    entry = logs[0]
    assert (entry["event"], entry["log_level"], entry["reason"], entry["count"]) == (
        "malformed frame dropped",
        "warning",
        case.reason,
        1,
    )
    assert case.error in entry["error"]
    assert raw.decode().startswith(entry["frame"].removesuffix("..."))


@pytest.mark.parametrize("case", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_unreadable_frame_is_a_counted_logged_drop(case: Unreadable) -> None:
    """Pins that a frame that is not a JSON object (or not text) is a reasoned drop, not an exception."""
    codec = BybitCodec()
    with capture_logs() as logs:
        events = codec.parse(case.raw, TS_RECV)
    _assert_one_malformed_drop(codec, events, case.reason)
    assert [(e["event"], e["log_level"], e["reason"], e["count"]) for e in logs] == [
        ("malformed frame dropped", "warning", case.reason, 1)
    ]
    assert case.error in logs[0]["error"]


@pytest.mark.parametrize("base", sorted({case.base for case in BROKEN.values()}))
def test_unbroken_bases_parse_cleanly(base: str) -> None:
    """Pins that every base of BROKEN parses without a drop, so each broken case fails for its field only."""
    for encode in (_wire, _pretty):
        codec = BybitCodec()
        with capture_logs() as logs:
            events = codec.parse(encode(_load(base)), TS_RECV)
        assert len(events) == 1
        assert codec.stats.malformed == Counter()
        assert codec.stats.ignored == Counter()
        assert logs == []


def test_warning_log_is_throttled_per_reason() -> None:
    """Pins the log throttle: the first 10 drops of a reason are logged, then only the powers of two."""
    codec = BybitCodec()
    bad = _wire(_broken(BOOK, ("data", "u"), "177400507"))
    with capture_logs() as logs:
        for _ in range(40):
            assert codec.parse(bad, TS_RECV) == []
        assert codec.parse(b"[]", TS_RECV) == []  # a new reason starts its own count
    counts = [e["count"] for e in logs if e["reason"] == "bad orderbook frame"]
    assert len(counts) == 10 + sum(1 for n in range(11, 41) if n & (n - 1) == 0) == 12
    assert counts == [*range(1, 11), 16, 32]
    assert all(e["log_level"] == "warning" for e in logs)
    assert [(e["reason"], e["count"]) for e in logs[12:]] == [("not a JSON object", 1)]
    assert codec.stats.malformed == Counter({"bad orderbook frame": 40, "not a JSON object": 1})


def _ticker_delta(ts_ms: int, **fields: Any) -> dict[str, Any]:
    """A linear ticker delta for the ticker fixture's symbol carrying only ``fields``."""
    snapshot = _load(TICKER)
    return {
        "topic": snapshot["topic"],
        "type": "delta",
        "data": {"symbol": snapshot["data"]["symbol"], **fields},
        "cs": snapshot["cs"] + 1,
        "ts": ts_ms,
    }


def test_bad_ticker_delta_leaves_the_merge_base_intact() -> None:
    """Pins that a dropped ticker delta is not merged: the next good delta builds on the last good state."""
    codec = BybitCodec()
    assert len(codec.parse(_wire(_load(TICKER)), TS_RECV)) == 1
    assert codec.parse(_wire(_ticker_delta(1673272861786, lastPrice=17220.5)), TS_RECV) == []
    events = codec.parse(_wire(_ticker_delta(1673272861886, markPrice="17218.00")), TS_RECV)
    assert len(events) == 1
    ticker = events[0]
    assert isinstance(ticker, TickerUpdated)
    assert ticker.ts_event_ns == 1673272861886 * MS
    assert ticker.mark_price == Decimal("17218.00")
    assert ticker.last_price == Decimal("17216.00")  # the snapshot's, not the dropped 17220.5
    assert codec.stats.malformed == Counter({"bad tickers frame": 1})


def test_bad_frames_between_good_ones_do_not_disturb_them() -> None:
    """Pins that bad frames interleaved with good ones change none of the good frames' events."""
    good = [
        _wire(_load(BOOK_SNAPSHOT)),
        _wire(_load(BOOK)),
        _wire(_load(TICKER)),
        _wire(_ticker_delta(1673272861886, markPrice="17218.00", bid1Size="12.5")),
        _wire(_load(TRADE)),
        _wire(_load(ORDER)),
        _wire(_load(EXECUTION)),
        _wire(_ticker_delta(1673272861986, lastPrice="17217.50")),
    ]
    bad: list[Any] = [
        _wire(_broken(BOOK, ("data", "u"), "177400508")),
        b"{not json",
        _wire(_ticker_delta(1673272861786, markPrice=17300, lastPrice="17300.00")),
        _wire(_broken(TRADE, ("data", 0, "S"), "Short")),
        _wire(_broken(TRADE, ("data", 0, "p"), "")),
        12345,
        _wire(_broken(EXECUTION, ("data", 0, "execId"), _DELETE)),
    ]
    reference = BybitCodec()
    expected = [reference.parse(raw, TS_RECV) for raw in good]
    assert all(len(events) == 1 for events in expected)

    mixed = BybitCodec()
    got = []
    with capture_logs() as logs:
        for i, raw in enumerate(good):
            got.append(mixed.parse(raw, TS_RECV))
            if i < len(bad):
                assert mixed.parse(bad[i], TS_RECV) == []
    assert got == expected
    last_ticker = got[-1][0]
    assert isinstance(last_ticker, TickerUpdated)
    assert (last_ticker.last_price, last_ticker.mark_price, last_ticker.bid1_size) == (
        Decimal("17217.50"),
        Decimal("17218.00"),
        Decimal("12.5"),
    )
    assert mixed.stats.malformed == Counter(
        {
            "bad orderbook frame": 1,
            "invalid JSON": 1,
            "bad tickers frame": 1,
            "bad publicTrade frame": 2,
            "not a text frame": 1,
            "bad execution frame": 1,
        }
    )
    assert mixed.stats.ignored == Counter()
    assert mixed.stats.frames == len(good) + len(bad)
    assert (mixed.stats.book, mixed.stats.trade) == (
        reference.stats.book,
        reference.stats.trade,
    )
    assert len(logs) == len(bad)


def test_garbage_of_every_kind_keeps_the_codec_and_its_counters_bounded() -> None:
    """A daemon fed garbage for weeks keeps a fixed set of counters and bounded memos.

    Counters are keyed by reason, never by a value taken from the frame (an unknown topic or op);
    the value appears only in the rate-limited log line. Unknown topics are not memoised.
    """
    codec = BybitCodec()
    with capture_logs() as logs:
        for n in range(20_000):
            frames = [
                json.dumps({"topic": f"nonsense.{n}", "data": []}),
                json.dumps({"topic": f"orderbook.50.X{n}", "type": "snapshot", "data": 1}),
                json.dumps({"topic": f"weird{n}.x", "data": {}}),
                json.dumps({"op": f"op{n}", "retCode": 0}),
                json.dumps({"op": f"op{n}", "args": []}),
                json.dumps({"op": f"op{n}", "success": "no"}),
            ]
            for frame in frames:
                assert codec.parse(frame.encode(), TS_RECV) == []
    assert set(codec.stats.ignored) == {"unknown topic", "unknown reply op", "a client request, not a reply"}
    assert set(codec.stats.malformed) == {"bad orderbook frame"}
    assert codec.stats.ignored_total + codec.stats.malformed_total == 6 * 20_000
    assert len(codec._routes) <= 4096 and len(codec._depths) <= 4096
    assert len(logs) < 200
    assert any(entry.get("value") == "nonsense.0" for entry in logs)
