"""Outgoing frames: subscription chunking, session ops, trade-API orders, and their inverse parse_request."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.enums import OrderType, Side, TimeInForce
from feeds.bybit.auth import Credentials, ws_auth_signature
from feeds.bybit.outgoing import (
    MAX_ARGS_JSON_CHARS,
    PRIVATE,
    ClientRequest,
    RequestError,
    auth,
    decimal_text,
    order_amend,
    order_cancel,
    order_create,
    parse_request,
    ping,
    subscribe,
    unsubscribe,
)
from feeds.bybit.topics import Category

WS_FIXTURES = Path(__file__).parent / "fixtures" / "bybit" / "ws"
TS = 1700000000000
SECRET = "test-secret-0123456789"


def _loads(frame: bytes) -> Any:
    return orjson.loads(frame)


def _create(**overrides: Any) -> bytes:
    """A valid Limit order.create; each test overrides only what it is about."""
    params: dict[str, Any] = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "order_type": "Limit",
        "qty": "0.001",
        "price": "30000",
        "order_link_id": "link-1",
    }
    params.update(overrides)
    return order_create("req-1", TS, **params)


# -- fixtures and parse_request ------------------------------------------------------------------------

EXPECTED_FIXTURE_REQUESTS: dict[str, tuple[str, tuple[Any, ...], str]] = {
    "bybit_docs/ws_subscribe_request_execution.json": ("subscribe", ("execution",), ""),
    "bybit_docs/ws_subscribe_request_execution_fast.json": ("subscribe", ("execution.fast",), ""),
    "bybit_docs/ws_subscribe_request_order.json": ("subscribe", ("order",), ""),
    "bybit_docs/ws_subscribe_request_position.json": ("subscribe", ("position",), ""),
    "bybit_docs/ws_subscribe_request_wallet.json": ("subscribe", ("wallet",), ""),
    "bybit_docs/ws_unsubscribe_request.json": ("unsubscribe", ("publicTrade.ETHUSD",), "customised_id"),
    "bybit_docs/wstrade_auth_request.json": (
        "auth",
        ("XXXXXX", 1711010121452, "ec71040eff72b163a36153d770b69d6637bcb29348fbfbb16c269a76595ececf"),
        "",
    ),
    "bybit_docs/wstrade_ping_request.json": ("ping", (), ""),
    "bybit_docs/wstrade_order_create_batch_request.json": ("order.create-batch", ("<batch>",), ""),
}


def test_expected_table_covers_every_request_fixture() -> None:
    """Every ws fixture whose name contains "request" is listed below, so a new one cannot go untested."""
    found = {str(p.relative_to(WS_FIXTURES)) for p in WS_FIXTURES.rglob("*.json") if "request" in p.name}
    assert found == set(EXPECTED_FIXTURE_REQUESTS)


@pytest.mark.parametrize("name", sorted(EXPECTED_FIXTURE_REQUESTS))
def test_request_fixtures_parse(name: str) -> None:
    """Bybit's documented client requests parse to the right op, args and request id (bytes and str)."""
    raw = (WS_FIXTURES / name).read_bytes()
    op, args, req_id = EXPECTED_FIXTURE_REQUESTS[name]
    for request in (parse_request(raw), parse_request(raw.decode())):
        assert (request.op, request.req_id) == (op, req_id)
        if op != "order.create-batch":
            assert request.args == args
            assert request.header == {}


def test_batch_request_fixture_keeps_header_and_nested_args() -> None:
    """The trade-API batch example keeps its string header and its one {category, request[...]} arg."""
    request = parse_request((WS_FIXTURES / "bybit_docs/wstrade_order_create_batch_request.json").read_bytes())
    assert request.header == {"X-BAPI-TIMESTAMP": "1740453381256", "X-BAPI-RECV-WINDOW": "1000"}
    (batch,) = request.args
    assert batch["category"] == "linear"
    assert [o["orderLinkId"] for o in batch["request"]] == ["-batch-000", "batch-001", "batch-002"]
    assert [o["qty"] for o in batch["request"]] == ["10", "20", "30"]


def test_parse_request_reads_both_id_spellings() -> None:
    """req_id (session ops) and reqId (trade API) both land in ClientRequest.req_id."""
    assert parse_request(b'{"op":"ping","req_id":"a"}').req_id == "a"
    assert parse_request(b'{"op":"order.cancel","reqId":"b","args":[{}]}').req_id == "b"
    assert parse_request(b'{"op":"ping"}') == ClientRequest(op="ping", args=(), req_id="", header={})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'["op","ping"]', "not a JSON object"),
        (b'"ping"', "not a JSON object"),
        (b'{"args":[]}', "op"),
        (b'{"op":"","args":[]}', "op"),
        (b'{"op":7}', "op"),
        (b'{"op":"subscribe","args":"orderbook.1.BTCUSDT"}', "args must be a list"),
        (b'{"op":"subscribe","args":{"a":1}}', "args must be a list"),
        (b'{"op":"subscribe","args":null}', "args must be a list"),
        (b'{"op":"ping","req_id":1}', "request id"),
        (b'{"op":"ping","req_id":"a","reqId":"b"}', "both"),
        (b'{"op":"order.create","header":{"X-BAPI-TIMESTAMP":1}}', "header"),
        (b'{"op":"order.create","header":["x"]}', "header"),
    ],
)
def test_parse_request_rejects_malformed_frames(raw: bytes, reason: str) -> None:
    """Anything but a JSON object with a string op and list args raises RequestError (a ValueError)."""
    with pytest.raises(RequestError, match=reason) as info:
        parse_request(raw)
    assert isinstance(info.value, ValueError)


def test_parse_request_rejects_non_text_input() -> None:
    """A non-text frame raises RequestError, not a bare TypeError from the JSON library."""
    with pytest.raises(RequestError):
        parse_request(12345)  # type: ignore[arg-type]


# -- subscribe / unsubscribe -----------------------------------------------------------------------------


def _args_chars(frame: bytes) -> int:
    return len(json.dumps(_loads(frame)["args"], separators=(",", ":")))


def test_spot_subscribe_chunks_at_ten_args() -> None:
    """11 spot topics become two frames of 10 and 1, each with its own req_id and the topics in order."""
    topics = [f"publicTrade.COIN{i}USDT" for i in range(11)]
    frames = subscribe(topics, req_id_prefix="sub", category="spot")
    requests = [parse_request(f) for f in frames]
    assert [len(r.args) for r in requests] == [10, 1]
    assert [r.req_id for r in requests] == ["sub-1", "sub-2"]
    assert {r.op for r in requests} == {"subscribe"}
    assert [t for r in requests for t in r.args] == topics


def test_spot_subscribe_of_exactly_ten_is_one_frame() -> None:
    """Ten spot topics fit in one request (the limit is inclusive)."""
    frames = subscribe([f"tickers.C{i}USDT" for i in range(10)], req_id_prefix="s", category=Category.SPOT)
    assert len(frames) == 1


def test_linear_subscribe_is_not_limited_to_ten_args() -> None:
    """Linear has no per-request arg-count limit: 50 short topics go in one frame."""
    frames = subscribe([f"tickers.C{i}USDT" for i in range(50)], req_id_prefix="l", category="linear")
    assert len(frames) == 1
    assert len(parse_request(frames[0]).args) == 50


def test_huge_linear_subscribe_is_split_under_the_size_limit() -> None:
    """Thousands of long topics: every frame's args JSON stays within 21,000 characters, frames are
    filled greedily (the next topic would not have fitted), and all topics appear once, in order."""
    topics = [f"orderbook.1000.{'X' * (20 + i % 37)}{i}USDT" for i in range(3000)]
    frames = subscribe(topics, req_id_prefix="big", category="linear")
    requests = [parse_request(f) for f in frames]
    assert len(frames) > 3
    assert all(_args_chars(f) <= MAX_ARGS_JSON_CHARS for f in frames)
    assert [t for r in requests for t in r.args] == topics
    assert [r.req_id for r in requests] == [f"big-{n}" for n in range(1, len(frames) + 1)]
    for request, following in itertools.pairwise(requests):
        grown = [*request.args, following.args[0]]
        assert len(json.dumps(grown, separators=(",", ":"))) > MAX_ARGS_JSON_CHARS


def test_size_limit_boundary_is_exact() -> None:
    """83 topics of 250 chars make an args array of exactly 21,000 chars (one frame); one char more splits."""
    exact = [f"t{i:03d}".ljust(250, "x") for i in range(83)]
    (frame,) = subscribe(exact, req_id_prefix="b", category="option")
    assert _args_chars(frame) == MAX_ARGS_JSON_CHARS
    over = [*exact[:-1], exact[-1] + "y"]
    frames = subscribe(over, req_id_prefix="b", category="option")
    assert [len(parse_request(f).args) for f in frames] == [82, 1]


def test_a_single_topic_over_the_size_limit_is_rejected() -> None:
    """A topic that cannot fit in any frame raises instead of producing a frame Bybit would refuse."""
    with pytest.raises(ValueError, match="exceeds"):
        subscribe(["x" * MAX_ARGS_JSON_CHARS], req_id_prefix="p", category="linear")


def test_unsubscribe_chunks_like_subscribe() -> None:
    """unsubscribe uses the same chunking and ids, with op 'unsubscribe'."""
    topics = [f"publicTrade.C{i}USDT" for i in range(25)]
    frames = unsubscribe(topics, req_id_prefix="u", category="spot")
    requests = [parse_request(f) for f in frames]
    assert [(r.op, r.req_id, len(r.args)) for r in requests] == [
        ("unsubscribe", "u-1", 10),
        ("unsubscribe", "u-2", 10),
        ("unsubscribe", "u-3", 5),
    ]


def test_subscribe_exact_bytes() -> None:
    """The subscribe frame is compact JSON with req_id, op, args (the documented shape)."""
    frames = subscribe(["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"], req_id_prefix="x", category="linear")
    assert frames == [b'{"req_id":"x-1","op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT"]}']


@pytest.mark.parametrize(
    "topics",
    [
        ["order", "order.linear"],
        ["order.spot", "wallet", "order"],
        ["execution.fast", "execution.fast.linear"],
    ],
)
def test_private_all_in_one_and_categorised_topics_cannot_share_a_request(topics: list[str]) -> None:
    """'order' with 'order.linear' (or any all-in-one topic with its categorised form) raises ValueError."""
    with pytest.raises(ValueError, match="same request"):
        subscribe(topics, req_id_prefix="p", category=PRIVATE)
    with pytest.raises(ValueError, match="same request"):
        unsubscribe(topics, req_id_prefix="p", category=PRIVATE)


def test_private_subscribe_of_distinct_topics_is_allowed() -> None:
    """'execution' and 'execution.fast' are different topics, not scopes of one: they may be combined."""
    topics = ["order", "execution", "execution.fast", "position", "wallet"]
    (frame,) = subscribe(topics, req_id_prefix="p", category=PRIVATE)
    assert parse_request(frame).args == tuple(topics)
    (only_categorised,) = subscribe(["order.linear", "order.spot"], req_id_prefix="p", category=PRIVATE)
    assert parse_request(only_categorised).args == ("order.linear", "order.spot")


def test_subscribe_matches_documented_private_request() -> None:
    """Our private subscribe carries exactly the op and args of Bybit's documented example."""
    fixture = json.loads((WS_FIXTURES / "bybit_docs/ws_subscribe_request_order.json").read_text())
    (frame,) = subscribe(["order"], req_id_prefix="p", category=PRIVATE)
    built = _loads(frame)
    assert (built["op"], built["args"]) == (fixture["op"], fixture["args"])


def test_subscribe_input_errors() -> None:
    """A bare string, duplicates, blank topics, an unknown category or an empty prefix are refused."""
    with pytest.raises(TypeError):
        subscribe("orderbook.1.BTCUSDT", req_id_prefix="p", category="linear")
    with pytest.raises(ValueError, match="duplicate"):
        subscribe(["tickers.BTCUSDT", "tickers.BTCUSDT"], req_id_prefix="p", category="linear")
    with pytest.raises(ValueError, match="invalid topic"):
        subscribe(["tickers.BTCUSDT", " "], req_id_prefix="p", category="linear")
    with pytest.raises(ValueError, match="category"):
        subscribe(["tickers.BTCUSDT"], req_id_prefix="p", category="futures")
    with pytest.raises(ValueError, match="req_id_prefix"):
        subscribe(["tickers.BTCUSDT"], req_id_prefix="", category="linear")
    assert subscribe([], req_id_prefix="p", category="linear") == []


# -- ping / auth -------------------------------------------------------------------------------------------


def test_ping_frames() -> None:
    """ping is {"op":"ping"}, with req_id only when given, and parses back as the documented ping."""
    assert ping() == b'{"op":"ping"}'
    assert ping("hb-7") == b'{"req_id":"hb-7","op":"ping"}'
    documented = parse_request((WS_FIXTURES / "bybit_docs/wstrade_ping_request.json").read_bytes())
    assert parse_request(ping()) == documented


def test_auth_frame_exact_bytes() -> None:
    """auth carries [key, expires as a JSON int, HMAC("GET/realtime"+expires)] (signature pinned)."""
    frame = auth(Credentials("my-key", SECRET), 1711010121452, req_id="auth-1")
    signature = "ef238779b7f7f7c62df9a960af568b75f56c12405ad847fa442e0226d5947d60"
    assert signature == ws_auth_signature(SECRET, 1711010121452)
    assert frame == b'{"req_id":"auth-1","op":"auth","args":["my-key",1711010121452,"' + signature.encode() + b'"]}'


@pytest.mark.parametrize("expires", [1711010121452.0, "1711010121452", True])
def test_auth_rejects_non_int_expiry(expires: object) -> None:
    """The expiry must be the int that was signed; float/str/bool are refused."""
    with pytest.raises(TypeError):
        auth(Credentials("k", SECRET), expires)  # type: ignore[arg-type]


def test_auth_frame_never_contains_the_secret() -> None:
    """The secret itself is never serialised into the auth frame."""
    assert SECRET.encode() not in auth(Credentials("k", SECRET), TS)


# -- trade API: exact frames and round trips --------------------------------------------------------------


def test_order_create_exact_bytes() -> None:
    """A full order.create frame, byte for byte: envelope order, string header values, string numbers."""
    frame = order_create(
        "req-1",
        TS,
        category="linear",
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty=Decimal("0.001"),
        price="30000.5",
        time_in_force=TimeInForce.POST_ONLY,
        order_link_id="strat_a-0001",
        reduce_only=False,
    )
    assert frame == (
        b'{"reqId":"req-1","header":{"X-BAPI-TIMESTAMP":"1700000000000","X-BAPI-RECV-WINDOW":"5000"},'
        b'"op":"order.create","args":[{"category":"linear","symbol":"BTCUSDT","side":"Buy",'
        b'"orderType":"Limit","qty":"0.001","price":"30000.5","timeInForce":"PostOnly",'
        b'"orderLinkId":"strat_a-0001","reduceOnly":false}]}'
    )


def test_order_create_round_trip() -> None:
    """build -> parse_request gives back op, reqId, header and the order object; None fields are omitted."""
    frame = order_create(
        "c-1",
        TS,
        category=Category.SPOT,
        symbol="ETHUSDT",
        side="Sell",
        order_type="Market",
        qty="1.5",
        order_link_id="m-1",
        recv_window_ms=2500,
        extra={"marketUnit": "baseCoin", "isLeverage": 0},
    )
    request = parse_request(frame)
    assert request.op == "order.create"
    assert request.req_id == "c-1"
    assert request.header == {"X-BAPI-TIMESTAMP": str(TS), "X-BAPI-RECV-WINDOW": "2500"}
    assert request.args == (
        {
            "category": "spot",
            "symbol": "ETHUSDT",
            "side": "Sell",
            "orderType": "Market",
            "qty": "1.5",
            "orderLinkId": "m-1",
            "marketUnit": "baseCoin",
            "isLeverage": 0,
        },
    )


def test_order_amend_round_trip() -> None:
    """order.amend by orderLinkId with new qty/price (and a Decimal extra) parses back exactly."""
    frame = order_amend(
        "a-1",
        TS,
        category="linear",
        symbol="BTCUSDT",
        order_link_id="link-1",
        qty=Decimal("2"),
        price=Decimal("30100.0"),
        extra={"triggerPrice": Decimal("30050")},
    )
    request = parse_request(frame)
    assert (request.op, request.req_id) == ("order.amend", "a-1")
    assert request.header == {"X-BAPI-TIMESTAMP": str(TS), "X-BAPI-RECV-WINDOW": "5000"}
    assert request.args == (
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "orderLinkId": "link-1",
            "qty": "2",
            "price": "30100.0",
            "triggerPrice": "30050",
        },
    )


def test_order_cancel_round_trip() -> None:
    """order.cancel by orderId carries only category, symbol and orderId."""
    order_id = "1321003749386327552"
    request = parse_request(order_cancel("x-1", TS, category="spot", symbol="BTCUSDT", order_id=order_id))
    assert (request.op, request.req_id) == ("order.cancel", "x-1")
    assert request.args == ({"category": "spot", "symbol": "BTCUSDT", "orderId": order_id},)
    assert request.header["X-BAPI-TIMESTAMP"] == str(TS)


# -- trade API: numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "bad"),
    [(field, bad) for field in ("qty", "price") for bad in (0.001, 1, True, 0, 30000.0, [1])] + [("qty", None)],
)
def test_order_create_rejects_non_str_non_decimal_numbers(field: str, bad: object) -> None:
    """Floats, ints and bools (and anything else) for qty/price raise TypeError: no float reaches Bybit."""
    with pytest.raises(TypeError, match=field):
        _create(**{field: bad})


@pytest.mark.parametrize("bad", [0.5, 2, False])
def test_amend_rejects_float_and_int_numbers(bad: object) -> None:
    """The same rule holds for amend's qty and price."""
    with pytest.raises(TypeError):
        order_amend("a", TS, category="linear", symbol="BTCUSDT", order_id="o", qty=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        order_amend("a", TS, category="linear", symbol="BTCUSDT", order_id="o", price=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "extra",
    [
        {"triggerPrice": 30000.0},
        {"triggerPrice": 30000},
        {"takeProfit": True},
        {"positionIdx": 0.0},
        {"foo": [1]},
    ],
)
def test_extra_cannot_smuggle_floats_or_numeric_prices(extra: dict[str, object]) -> None:
    """Floats are refused anywhere in extra, and price-like extra fields follow the str/Decimal rule."""
    with pytest.raises(TypeError):
        _create(extra=extra)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1E-8"), "0.00000001"),
        (Decimal("1E+3"), "1000"),
        (Decimal("0.10"), "0.10"),
        (Decimal("123456789.123456789"), "123456789.123456789"),
        (Decimal("0"), "0"),
        (Decimal("2.5E-10"), "0.00000000025"),
        ("0.001", "0.001"),
        ("30000", "30000"),
    ],
)
def test_decimal_text_never_uses_exponents(value: Decimal | str, text: str) -> None:
    """Decimals print as plain fixed-point strings; valid strings pass through unchanged."""
    assert decimal_text(value) == text


def test_decimal_formatting_reaches_the_frame() -> None:
    """Decimal('1E-8') qty is sent as "0.00000001" inside the order frame, not "1E-8"."""
    frame = _create(qty=Decimal("1E-8"), price=Decimal("3E+4"))
    (order,) = parse_request(frame).args
    assert (order["qty"], order["price"]) == ("0.00000001", "30000")
    assert b"E" not in frame.split(b'"args"')[1].replace(b"BTCUSDT", b"")


@pytest.mark.parametrize(
    "bad",
    [
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("-1"),
        Decimal("-0"),
        "1e-8",
        "-1",
        "",
        " 1",
        "1.",
        ".5",
        "1,5",
        "0x10",
        "\u0663",
        "NaN",
    ],
)
def test_decimal_text_rejects_non_plain_values(bad: Decimal | str) -> None:
    """Non-finite, negative, exponent or otherwise non-plain numbers raise ValueError naming the field."""
    with pytest.raises(ValueError, match="qty"):
        decimal_text(bad, field="qty")


# -- trade API: identifiers ---------------------------------------------------------------------------------


def test_id_length_limits() -> None:
    """reqId and orderLinkId may be 36 characters long, not 37."""
    order_create(
        "r" * 36,
        TS,
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        order_type="Market",
        qty="1",
        order_link_id="A-z_9" + "x" * 31,
    )
    with pytest.raises(ValueError, match="req_id"):
        order_cancel("r" * 37, TS, category="linear", symbol="BTCUSDT", order_id="o")
    with pytest.raises(ValueError, match="order_link_id"):
        _create(order_link_id="x" * 37)


@pytest.mark.parametrize("link_id", ["", "a.b", "a b", "a/b", "é", "id\n", "a+b", None])
def test_order_link_id_charset(link_id: object) -> None:
    """orderLinkId outside [A-Za-z0-9_-] (or empty) raises ValueError in create, amend and cancel."""
    with pytest.raises(ValueError, match="order_link_id"):
        _create(order_link_id=link_id)
    if link_id is None:
        return
    with pytest.raises(ValueError, match="order_link_id"):
        order_amend("a", TS, category="linear", symbol="BTCUSDT", order_link_id=link_id, qty="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="order_link_id"):
        order_cancel("c", TS, category="linear", symbol="BTCUSDT", order_link_id=link_id)  # type: ignore[arg-type]


@pytest.mark.parametrize("req_id", ["", " r", "r\t", "ré"])
def test_req_id_must_be_printable_ascii(req_id: str) -> None:
    """Empty, padded or non-ASCII reqIds raise ValueError (36 chars must mean 36 bytes to Bybit too)."""
    with pytest.raises(ValueError, match="req_id"):
        order_cancel(req_id, TS, category="linear", symbol="BTCUSDT", order_id="o")


def test_amend_and_cancel_need_exactly_one_order_reference() -> None:
    """Neither or both of order_id/order_link_id raise; Bybit's silent 'orderId wins' is never relied on."""
    references: list[dict[str, Any]] = [{}, {"order_id": "o", "order_link_id": "l"}]
    for kwargs in references:
        with pytest.raises(ValueError, match="exactly one"):
            order_cancel("c", TS, category="linear", symbol="BTCUSDT", **kwargs)
        with pytest.raises(ValueError, match="exactly one"):
            order_amend("a", TS, category="linear", symbol="BTCUSDT", qty="1", **kwargs)


def test_amend_without_changes_is_rejected() -> None:
    """An amend with no qty, price or extra field would be refused by Bybit: refused locally instead."""
    with pytest.raises(ValueError, match="at least one change"):
        order_amend("a", TS, category="linear", symbol="BTCUSDT", order_id="o")
    with pytest.raises(ValueError, match="at least one change"):
        order_amend("a", TS, category="linear", symbol="BTCUSDT", order_id="o", extra={"takeProfit": None})


# -- trade API: vocabulary and order shape ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("side", "buy"),
        ("side", "BUY"),
        ("side", "Long"),
        ("order_type", "limit"),
        ("order_type", "Stop"),
        ("time_in_force", "gtc"),
        ("time_in_force", "RPI"),
        ("time_in_force", TimeInForce.RPI),
        ("category", "futures"),
        ("symbol", "btcusdt"),
    ],
)
def test_order_create_rejects_unknown_vocabulary(field: str, value: object) -> None:
    """Only Buy/Sell, Market/Limit and GTC/IOC/FOK/PostOnly (exact case) are accepted."""
    with pytest.raises(ValueError, match=field.partition("_")[0]):
        _create(**{field: value})


@pytest.mark.parametrize("tif", ["GTC", "IOC", "FOK", "PostOnly", TimeInForce.GTC, TimeInForce.POST_ONLY])
def test_order_create_accepts_time_in_force(tif: TimeInForce | str) -> None:
    """Each accepted time-in-force is sent as Bybit's plain string."""
    (order,) = parse_request(_create(time_in_force=tif)).args
    assert order["timeInForce"] == str(tif)


def test_enums_are_sent_as_plain_strings() -> None:
    """Side.SELL and OrderType.MARKET serialise as "Sell" and "Market"."""
    frame = _create(side=Side.SELL, order_type=OrderType.MARKET, price=None)
    assert b'"side":"Sell","orderType":"Market"' in frame


def test_market_orders_must_not_carry_a_price_and_limit_orders_must() -> None:
    """Market + price raises, Limit without price raises, and extra cannot sneak a price in either."""
    with pytest.raises(ValueError, match="Market order must not"):
        _create(order_type="Market", price="30000")
    with pytest.raises(ValueError, match="Limit order needs"):
        _create(price=None)
    with pytest.raises(ValueError, match="extra must not set"):
        _create(order_type="Market", price=None, extra={"price": "30000"})


def test_extra_cannot_override_named_parameters() -> None:
    """extra may add parameters but never replace a named one (e.g. a different orderLinkId or qty)."""
    for key in ("orderLinkId", "qty", "side", "category", "reduceOnly", "timeInForce"):
        with pytest.raises(ValueError, match="extra must not set"):
            _create(extra={key: "x"})


def test_reduce_only_must_be_a_bool() -> None:
    """reduce_only=1 is refused: it would serialise as the JSON number 1, not true."""
    with pytest.raises(TypeError, match="reduce_only"):
        _create(reduce_only=1)
    (order,) = parse_request(_create(reduce_only=True)).args
    assert order["reduceOnly"] is True


@pytest.mark.parametrize(("timestamp", "recv_window"), [(float(TS), 5000), (True, 5000), (TS, 5000.0), (TS, "5000")])
def test_trade_header_values_must_be_ints(timestamp: object, recv_window: object) -> None:
    """timestamp and recv_window must be ints; str(float) would put '1700000000000.0' in the header."""
    bad: dict[str, Any] = {"timestamp_ms": timestamp, "recv_window_ms": recv_window}
    with pytest.raises(TypeError):
        order_cancel("c", category="linear", symbol="BTCUSDT", order_id="o", **bad)


def test_trade_header_values_must_be_positive() -> None:
    """A zero timestamp or recv_window is refused."""
    with pytest.raises(ValueError, match="positive"):
        order_cancel("c", 0, category="linear", symbol="BTCUSDT", order_id="o")
    with pytest.raises(ValueError, match="positive"):
        order_cancel("c", TS, category="linear", symbol="BTCUSDT", order_id="o", recv_window_ms=0)
