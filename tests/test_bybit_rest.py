"""Sans-I/O REST layer: signed requests, envelope parsing and error actions, pages and events.

Signing is checked against Bybit's documented string-to-sign (its published example signature
cannot be reproduced: the docs do not give the secret), an independent ``hmac`` computation and
digests pinned once with ``openssl dgst -sha256 -hmac``. Every REST fixture is accounted for:
either a parser below reads it with expectations, or it is listed as envelope-only.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from engine.commands import AmendOrder, CancelOrder, SubmitOrder
from engine.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.events import NonTradeExecution, OrderFilled, OrderUpdated
from engine.instrument import Instrument
from feeds.bybit.auth import Credentials
from feeds.bybit.codec import BybitCodec, FrameError, execution_from_record, order_update_from_record
from feeds.bybit.instruments import load_instruments
from feeds.bybit.order_wire import encode_order
from feeds.bybit.rest import (
    ClockSkew,
    CursorPager,
    ErrorAction,
    OrderAck,
    Page,
    RestError,
    RestRequest,
    RestResponse,
    amend_order,
    cancel_all_acks,
    cancel_all_orders,
    cancel_order,
    classify,
    create_order,
    fills_page,
    get_executions,
    get_instruments_info,
    get_klines,
    get_open_orders,
    get_order_history,
    get_recent_trades,
    get_server_time,
    instruments_page,
    klines_from_response,
    merge_instruments,
    order_ack,
    order_updates_page,
    parse_response,
    parse_server_time,
    public_get,
    rest_base_url,
    rest_from_trade_frame,
    signed_get,
    signed_post,
    trades_from_response,
)
from tests.conftest import FIXTURES

REST = FIXTURES / "rest"
WS = FIXTURES / "ws"

SECRET = "test-secret-0123456789"
DOC_KEY = "XXXXXXXXXX"
DOC_TS = 1658384314791
DOC_QUERY = "category=option&symbol=BTC-29JUL22-25000-C"
DOC_PLAIN_TEXT = "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
CREDENTIALS = Credentials(api_key=DOC_KEY, api_secret=SECRET)
RECV_NS = 123_456_789


def _hmac(payload: str | bytes) -> str:
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(SECRET.encode(), data, hashlib.sha256).hexdigest()


def _response(rel: str, *, status: int = 200, headers: dict[str, str] | None = None) -> RestResponse:
    """A fixture as an answer; a result-only file (hirokisan's) gets the envelope it was cut from."""
    raw = (REST / rel).read_bytes()
    document = orjson.loads(raw)
    if isinstance(document, list):
        raw = orjson.dumps({"retCode": 0, "retMsg": "OK", "result": {"list": document}, "time": 1})
    elif "retCode" not in document:
        raw = orjson.dumps({"retCode": 0, "retMsg": "OK", "result": document, "retExtInfo": {}, "time": 1})
    return parse_response(status, headers or {}, raw)


def _answer(
    result: object, *, ret_code: object = 0, time: object = 1_700_000_000_000, status: int = 200
) -> RestResponse:
    body = {"retCode": ret_code, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": time}
    return parse_response(status, {}, orjson.dumps(body))


# -- signing ------------------------------------------------------------------------------------------


def test_signed_get_signs_the_documented_string() -> None:
    """Bybit's guide example: the query goes out exactly as signed, and the signature is HMAC of its plain text."""
    request = get_open_orders(CREDENTIALS, DOC_TS, category="option", symbol="BTC-29JUL22-25000-C")
    assert request.method == "GET"
    assert request.target == f"/v5/order/realtime?{DOC_QUERY}"
    assert request.query == DOC_QUERY
    assert request.body == b""
    assert request.headers == {
        "X-BAPI-API-KEY": DOC_KEY,
        "X-BAPI-TIMESTAMP": "1658384314791",
        "X-BAPI-SIGN": "44cd56dd7f586d4c0f7374b4ea02c8605d31f5c1eb48ef865cfd2236378f1678",  # openssl, pinned
        "X-BAPI-RECV-WINDOW": "5000",
    }
    assert request.headers["X-BAPI-SIGN"] == _hmac(DOC_PLAIN_TEXT)


def test_signed_post_signs_the_exact_body_bytes() -> None:
    """POST: compact JSON in the given key order, prices and sizes as strings, signed byte for byte."""
    request = create_order(
        CREDENTIALS,
        1658385579423,
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        order_type="Limit",
        qty=Decimal("0.01"),
        price="65000",
        order_link_id="doc-example-1",
    )
    body = (
        b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit",'
        b'"qty":"0.01","price":"65000","orderLinkId":"doc-example-1"}'
    )
    assert (request.method, request.path, request.query, request.body) == ("POST", "/v5/order/create", "", body)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-BAPI-SIGN"] == "a8ccd340077c269b8bb46abe732100c5674eb1eaa0c77ddd28615fd2b060b9ce"
    assert request.headers["X-BAPI-SIGN"] == _hmac(b"1658385579423" + DOC_KEY.encode() + b"5000" + body)


def test_the_secret_never_appears_in_a_request() -> None:
    requests = [
        get_open_orders(CREDENTIALS, DOC_TS, category="spot"),
        create_order(
            CREDENTIALS,
            DOC_TS,
            category="spot",
            symbol="BTCUSDT",
            side="Sell",
            order_type="Market",
            qty="1",
            order_link_id="x",
        ),
    ]
    for request in requests:
        for text in (repr(request), str(request), request.body.decode(), request.target, *request.headers.values()):
            assert SECRET not in text


def test_query_keeps_the_given_order_and_leaves_out_none() -> None:
    request = signed_get(
        "/v5/x/y", {"symbol": "BTCUSDT", "category": "linear", "cursor": None, "limit": 5}, CREDENTIALS, 7
    )
    assert request.query == "symbol=BTCUSDT&category=linear&limit=5"
    assert request.headers["X-BAPI-SIGN"] == _hmac("7" + DOC_KEY + "5000" + request.query)
    assert request.headers["X-BAPI-RECV-WINDOW"] == "5000"
    assert signed_get("/v5/x/y", {}, CREDENTIALS, 7, recv_window_ms=20_000).headers["X-BAPI-RECV-WINDOW"] == "20000"


def test_cursor_goes_back_verbatim() -> None:
    """nextPageCursor comes percent-encoded; re-encoding it ('%' -> '%25') would lose the page."""
    cursor = "page_args%3Dfd4300ae-7847-404e-b947-b46980a4d140%26symbol%3D6%26"
    request = get_open_orders(CREDENTIALS, DOC_TS, category="linear", symbol="ETHUSDT", cursor=cursor)
    assert request.query.endswith(f"&cursor={cursor}")


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"symbol": "BTC USDT"}, ValueError),  # would need URL-encoding after signing
        ({"orderLinkId": "a&b=c"}, ValueError),  # would smuggle a parameter
        ({"cursor": "100%"}, ValueError),  # a stray '%' is not an escape
        ({"symbol": ""}, ValueError),
        ({"price": 0.1}, TypeError),
        ({"openOnly": True}, TypeError),
        ({"bad key": "x"}, ValueError),
    ],
)
def test_query_refuses_values_that_would_not_survive_the_wire(
    params: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        public_get("/v5/market/tickers", params)


def test_body_values_are_written_exactly() -> None:
    request = signed_post(
        "/v5/order/create", {"qty": Decimal("1E-8"), "reduceOnly": True, "positionIdx": 0, "x": None}, CREDENTIALS, 5
    )
    assert request.body == b'{"qty":"0.00000001","reduceOnly":true,"positionIdx":0}'
    with pytest.raises(TypeError, match="price"):
        signed_post("/v5/order/create", {"price": 65000.5}, CREDENTIALS, 5)


def test_public_requests_carry_no_credentials() -> None:
    request = get_klines(category="linear", symbol="BTCUSDT", interval="5", limit=3)
    assert (request.target, request.headers, request.is_signed) == (
        "/v5/market/kline?category=linear&symbol=BTCUSDT&interval=5&limit=3",
        {},
        False,
    )
    assert get_server_time().target == "/v5/market/time"
    assert request.url(rest_base_url("testnet") + "/") == "https://api-testnet.bybit.com" + request.target


def test_endpoint_builders_name_their_parameters_as_bybit_does() -> None:
    assert cancel_order(CREDENTIALS, 5, category="linear", symbol="BTCUSDT", order_link_id="c1").body == (
        b'{"category":"linear","symbol":"BTCUSDT","orderLinkId":"c1"}'
    )
    assert amend_order(CREDENTIALS, 5, category="linear", symbol="BTCUSDT", order_id="o-1", price="100.5").body == (
        b'{"category":"linear","symbol":"BTCUSDT","orderId":"o-1","price":"100.5"}'
    )
    assert cancel_all_orders(CREDENTIALS, 5, category="linear", settle_coin="USDT").path == "/v5/order/cancel-all"
    assert cancel_all_orders(CREDENTIALS, 5, category="spot").body == b'{"category":"spot"}'
    history = get_order_history(
        CREDENTIALS, 5, category="linear", order_link_id="c1", start_time_ms=1_000, end_time_ms=2_000, limit=50
    )
    assert history.target == "/v5/order/history?category=linear&orderLinkId=c1&startTime=1000&endTime=2000&limit=50"
    executions = get_executions(CREDENTIALS, 5, category="linear", start_time_ms=1_000, cursor="140%3A2")
    assert executions.target == "/v5/execution/list?category=linear&startTime=1000&cursor=140%3A2"
    assert get_open_orders(CREDENTIALS, 5, category="spot", open_only=True).query == "category=spot&openOnly=1"
    assert get_instruments_info(category="linear", limit=1000, cursor="c%2C1").target == (
        "/v5/market/instruments-info?category=linear&limit=1000&cursor=c%2C1"
    )
    assert (
        get_recent_trades(category="spot", symbol="BTCUSDT", limit=60).query == "category=spot&symbol=BTCUSDT&limit=60"
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: get_open_orders(CREDENTIALS, 5, category="linear"),  # linear needs symbol/baseCoin/settleCoin
        lambda: get_open_orders(CREDENTIALS, 5, category="spot", limit=51),
        lambda: get_executions(CREDENTIALS, 5, category="linear", limit=0),
        lambda: get_order_history(CREDENTIALS, 5, category="linear", start_time_ms=1, end_time_ms=8 * 86_400_000),
        lambda: cancel_all_orders(CREDENTIALS, 5, category="inverse"),
        lambda: get_klines(category="linear", symbol="BTCUSDT", interval="2"),
        lambda: get_klines(category="option", symbol="BTC-29JUL22-25000-C", interval="5"),
        lambda: get_recent_trades(category="spot", symbol="BTCUSDT", limit=61),
        lambda: get_recent_trades(category="linear"),
        lambda: create_order(
            CREDENTIALS,
            5,
            category="linear",
            symbol="BTCUSDT",
            side="Buy",
            order_type="Market",
            qty="1",
            price="1",
            order_link_id="m",
        ),
        lambda: create_order(
            CREDENTIALS,
            5,
            category="linear",
            symbol="BTCUSDT",
            side="Buy",
            order_type="Limit",
            qty="1",
            price="1",
            order_link_id="no spaces",
        ),
        lambda: cancel_order(CREDENTIALS, 5, category="linear", symbol="BTCUSDT", order_id="o", order_link_id="c"),
        lambda: public_get("v5/no/leading/slash", {}),
    ],
)
def test_requests_bybit_would_refuse_are_refused_before_sending(build: Callable[[], RestRequest]) -> None:
    with pytest.raises(ValueError):
        build()


def test_rest_order_requests_carry_the_trade_frames_order_object() -> None:
    """One encoder from engine commands: encode_order's websocket frame becomes the same REST body."""
    instrument = Instrument(symbol="BTCUSDT", price_scale=1, qty_scale=3)
    submit = SubmitOrder(
        client_order_id="p1-c1",
        parent_id="p1",
        symbol="BTCUSDT",
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        qty_lots=1500,
        price_ticks=650001,
        time_in_force=TimeInForce.POST_ONLY,
    )
    frame = encode_order(submit, instrument, category="linear", req_id="r1", timestamp_ms=DOC_TS)
    direct = create_order(
        CREDENTIALS,
        DOC_TS,
        category="linear",
        symbol="BTCUSDT",
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        qty="1.500",
        price="65000.1",
        time_in_force=TimeInForce.POST_ONLY,
        order_link_id="p1-c1",
    )
    assert rest_from_trade_frame(frame, CREDENTIALS) == direct
    assert orjson.loads(direct.body) == orjson.loads(frame)["args"][0]
    amend = encode_order(
        AmendOrder(client_order_id="p1-c1", symbol="BTCUSDT", price_ticks=650002),
        instrument,
        category="linear",
        req_id="r2",
        timestamp_ms=DOC_TS,
    )
    cancel = encode_order(
        CancelOrder(client_order_id="p1-c1", symbol="BTCUSDT"),
        instrument,
        category="linear",
        req_id="r3",
        timestamp_ms=DOC_TS,
    )
    assert rest_from_trade_frame(amend, CREDENTIALS).path == "/v5/order/amend"
    assert (
        rest_from_trade_frame(cancel, CREDENTIALS).body
        == b'{"category":"linear","symbol":"BTCUSDT","orderLinkId":"p1-c1"}'
    )
    with pytest.raises(ValueError, match="no REST endpoint"):
        rest_from_trade_frame(b'{"op":"ping"}', CREDENTIALS)


# -- envelopes and error actions ----------------------------------------------------------------------


def test_rate_limit_headers_are_read_case_insensitively() -> None:
    headers = {"X-Bapi-Limit": "10", "x-bapi-limit-status": "9", "X-BAPI-LIMIT-RESET-TIMESTAMP": "1672738134824"}
    response = _response("bybit_docs/order_create-order__response.json", headers=headers)
    assert (response.rate_limit.limit, response.rate_limit.remaining, response.rate_limit.reset_ms) == (
        10,
        9,
        1672738134824,
    )
    garbled = _response("bybit_docs/order_create-order__response.json", headers={"X-Bapi-Limit": "ten"})
    assert garbled.ok and garbled.rate_limit.limit is None  # advice only: a garbled header spoils no ack


def test_rate_limited_answer_says_when_to_retry() -> None:
    body = b'{"retCode":10006,"retMsg":"Too many visits!","result":{},"retExtInfo":{},"time":1672738134000}'
    response = parse_response(200, {"X-Bapi-Limit-Reset-Timestamp": "1672738135000"}, body)
    assert not response.ok
    assert response.action is ErrorAction.RETRY_AFTER_RESET and response.action.retryable
    assert response.rate_limit.reset_ms == 1672738135000


def test_ip_ban_page_is_an_answer_not_an_error() -> None:
    """Bybit's 403 is not JSON; it must still reach the driver as 'stop for 10 minutes'."""
    response = parse_response(403, {}, b"<html><body>403 Forbidden: access too frequent</body></html>")
    assert (response.ret_code, response.action, response.ok) == (None, ErrorAction.IP_BANNED, False)
    assert "access too frequent" in response.ret_msg
    assert parse_response(502, {}, b"Bad Gateway").action is ErrorAction.RECONCILE


@pytest.mark.parametrize(
    ("status", "code", "action"),
    [
        (200, 0, ErrorAction.OK),
        (200, 10006, ErrorAction.RETRY_AFTER_RESET),
        (403, None, ErrorAction.IP_BANNED),
        (403, 0, ErrorAction.IP_BANNED),  # the status wins over the body
        (429, None, ErrorAction.BACKOFF),
        (200, 10429, ErrorAction.BACKOFF),
        (200, 110079, ErrorAction.BACKOFF),
        (200, 10002, ErrorAction.RESYNC_CLOCK),
        (200, 10000, ErrorAction.RECONCILE),
        (200, 10016, ErrorAction.RECONCILE),
        (503, None, ErrorAction.RECONCILE),
        (200, 110001, ErrorAction.QUERY_ORDER),
        (200, 110008, ErrorAction.QUERY_ORDER),
        (200, 170213, ErrorAction.QUERY_ORDER),
        (200, 110072, ErrorAction.DUPLICATE),
        (200, 170141, ErrorAction.DUPLICATE),
        (200, 110007, ErrorAction.INSUFFICIENT_FUNDS),
        (200, 170131, ErrorAction.INSUFFICIENT_FUNDS),
        (200, 10001, ErrorAction.REJECTED),
        (200, 110017, ErrorAction.REJECTED),
        (200, 110094, ErrorAction.REJECTED),
        (200, 987654, ErrorAction.REJECTED),  # unknown codes are never retried blindly
        (200, 10003, ErrorAction.FATAL),
        (200, 10004, ErrorAction.FATAL),
        (200, 10005, ErrorAction.FATAL),
        (200, 10010, ErrorAction.FATAL),
        (401, None, ErrorAction.FATAL),
        (404, None, ErrorAction.FATAL),
    ],
)
def test_every_answer_has_an_action(status: int, code: int | None, action: ErrorAction) -> None:
    assert classify(status, code) is action


def test_only_waits_are_retryable() -> None:
    retryable = {action for action in ErrorAction if action.retryable}
    assert retryable == {ErrorAction.RETRY_AFTER_RESET, ErrorAction.BACKOFF, ErrorAction.RESYNC_CLOCK}


def test_envelope_accepts_numeric_strings_and_empty_results() -> None:
    """ccxt's recordings store retCode/time as strings; error answers carry {} or [] as result."""
    response = parse_response(200, {}, b'{"retCode":"110001","retMsg":"Order does not exist.","result":[],"time":"17"}')
    assert (response.ret_code, response.time_ms, dict(response.result), response.action) == (
        110001,
        17,
        {},
        ErrorAction.QUERY_ORDER,
    )


BAD_BODIES = {
    "not JSON": b"<html>oops</html>",
    "truncated": b'{"retCode":0,"retMsg":"OK","result":{',
    "empty": b"",
    "array": b"[1,2]",
    "no retCode": b'{"ret_code":0,"result":{}}',
    "retCode float": b'{"retCode":0.0,"result":{}}',
    "retCode bool": b'{"retCode":false,"result":{}}',
    "retMsg number": b'{"retCode":0,"retMsg":7,"result":{}}',
    "result string": b'{"retCode":0,"retMsg":"OK","result":"x"}',
    "time text": b'{"retCode":0,"retMsg":"OK","result":{},"time":"soon"}',
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_envelopes_raise_rest_error(body: bytes) -> None:
    with pytest.raises(RestError):
        parse_response(200, {}, body)


def _records_answer(record: object, **result: object) -> RestResponse:
    return _answer({"category": "linear", "list": [record], "nextPageCursor": "", **result})


_ORDER = json.loads((REST / "bybit_docs/order_open-order__response.json").read_text())["result"]["list"][0]
_FILL = json.loads((REST / "bybit_docs/order_execution__response.json").read_text())["result"]["list"][0]
BAD_PAGES: dict[str, Callable[[], object]] = {
    "list not a list": lambda: order_updates_page(_answer({"list": {"a": 1}}), RECV_NS),
    "no list": lambda: fills_page(_answer({}), RECV_NS),
    "record not an object": lambda: order_updates_page(_records_answer("x"), RECV_NS),
    "order without orderId": lambda: order_updates_page(_records_answer({**_ORDER, "orderId": None}), RECV_NS),
    "order missing qty": lambda: order_updates_page(
        _records_answer({k: v for k, v in _ORDER.items() if k != "qty"}), RECV_NS
    ),
    "order unknown status": lambda: order_updates_page(_records_answer({**_ORDER, "orderStatus": "Expired"}), RECV_NS),
    "order bad price": lambda: order_updates_page(_records_answer({**_ORDER, "price": "1.2.3"}), RECV_NS),
    "order numeric price": lambda: order_updates_page(_records_answer({**_ORDER, "price": 1600}), RECV_NS),
    "order bad side": lambda: order_updates_page(_records_answer({**_ORDER, "side": ["Buy"]}), RECV_NS),
    "fill missing execId": lambda: fills_page(
        _records_answer({k: v for k, v in _FILL.items() if k != "execId"}), RECV_NS
    ),
    "fill isMaker text": lambda: fills_page(_records_answer({**_FILL, "isMaker": "false"}), RECV_NS),
    "fill NaN price": lambda: fills_page(_records_answer({**_FILL, "execPrice": "NaN"}), RECV_NS),
    "cursor not text": lambda: fills_page(_answer({"list": [], "nextPageCursor": 5}), RECV_NS),
    "error answer as a page": lambda: order_updates_page(_answer({}, ret_code=10001), RECV_NS),
    "kline short row": lambda: klines_from_response(
        _answer({"symbol": "BTCUSDT", "list": [["1", "2", "3"]]}), RECV_NS, interval="1"
    ),
    "kline bad number": lambda: klines_from_response(
        _answer({"symbol": "BTCUSDT", "list": [["1", "2", "3", "x", "5", "6", "7"]]}), RECV_NS, interval="1"
    ),
    "kline without time": lambda: klines_from_response(
        _answer({"symbol": "BTCUSDT", "list": []}, time=None), RECV_NS, interval="1"
    ),
    "trade bad side": lambda: trades_from_response(
        _records_answer({"execId": "1", "symbol": "X", "price": "1", "size": "1", "side": "buy", "time": "1"}), RECV_NS
    ),
    "trade missing size": lambda: trades_from_response(
        _records_answer({"execId": "1", "symbol": "X", "price": "1", "side": "Buy", "time": "1"}), RECV_NS
    ),
    "trade not an object": lambda: trades_from_response(_records_answer(["1"]), RECV_NS),
    "instrument without tickSize": lambda: instruments_page(
        _records_answer({"symbol": "X", "contractType": "LinearPerpetual", "priceFilter": {}, "lotSizeFilter": {}})
    ),
    "ack without orderId": lambda: order_ack(_answer({"orderLinkId": "x"})),
    "cancel-all list not a list": lambda: cancel_all_acks(_answer({"list": "x"})),
    "server time unreadable": lambda: parse_server_time(_answer({"timeNano": "soon"}, time=None)),
}


@pytest.mark.parametrize("parse", BAD_PAGES.values(), ids=BAD_PAGES.keys())
def test_bad_results_raise_rest_error_saying_where(parse: Callable[[], object]) -> None:
    with pytest.raises(RestError) as raised:
        parse()
    assert type(raised.value) is RestError
    assert raised.value.args[0]


def _mutations() -> st.SearchStrategy[tuple[str, object]]:
    junk = st.one_of(
        st.none(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=True),
        st.text(max_size=5),
        st.booleans(),
        st.just([]),
    )
    return st.tuples(st.sampled_from(sorted(set(_ORDER) | set(_FILL))), junk)


@settings(max_examples=150, deadline=None)
@given(mutations=st.lists(_mutations(), min_size=1, max_size=4))
def test_mangled_records_parse_or_raise_rest_error_only(mutations: list[tuple[str, object]]) -> None:
    """Whatever field goes missing or changes type, the parsers answer with events or RestError."""
    order, fill = dict(_ORDER), dict(_FILL)
    for key, value in mutations:
        for record in (order, fill):
            if value is None:
                record.pop(key, None)
            else:
                record[key] = value
    for parse, record in ((order_updates_page, order), (fills_page, fill)):
        with contextlib.suppress(RestError):
            parse(_records_answer(record), RECV_NS)


# -- every REST fixture -------------------------------------------------------------------------------

ORDER_PAGES = [
    "bybit_docs/order_open-order__response.json",
    "bybit_docs/order_order-list__response.json",
    "hirokisan_bybit_result_only/v5-get-open-orders.json",
    "hirokisan_bybit_result_only/v5-get-history-orders.json",
    "nautilus_trader/http_get_orders_history.json",
    "nautilus_trader/http_get_orders_history_with_duplicate.json",
    "nautilus_trader/http_get_order_partially_filled_rejected.json",
    "nautilus_trader/http_get_orders_realtime.json",
    "nautilus_trader/http_get_orders_realtime_tp_sl.json",
]
FILL_PAGES = [
    "bybit_docs/order_execution__response.json",
    "hirokisan_bybit_result_only/v5-execution-get-execution-list.json",
    "nautilus_trader/http_get_executions.json",
]
INSTRUMENT_PAGES = [
    "bybit_docs/market_instrument__response_option.json",
    "bybit_docs/market_instrument__response_spot.json",
    "nautilus_trader/http_get_instruments_inverse.json",
    "nautilus_trader/http_get_instruments_inverse_symbol_type.json",
    "nautilus_trader/http_get_instruments_linear.json",
    "nautilus_trader/http_get_instruments_linear_symbol_type.json",
    "nautilus_trader/http_get_instruments_option.json",
    "nautilus_trader/http_get_instruments_option_symbol_id.json",
    "nautilus_trader/http_get_instruments_spot.json",
    "nautilus_trader/http_get_instruments_spot_xstocks.json",
    "nautilus_trader_legacy_py/http_market_instruments_linear.json",
    "nautilus_trader_legacy_py/linear/instrument_btc_usdt.json",
    "nautilus_trader_legacy_py/linear/instruments.json",
    "nautilus_trader_legacy_py/option/instruments.json",
    "nautilus_trader_legacy_py/spot/instruments.json",
]
KLINE_PAGES = {
    "bybit_docs/market_kline__response.json": "60",
    "nautilus_trader/http_get_klines_linear.json": "1",
    "nautilus_trader_legacy_py/linear/klines_btc.json": "D",
    "nautilus_trader_legacy_py/spot/klines_btc.json": "D",
}
TRADE_PAGES = [
    "bybit_docs/market_recent-trade__response.json",
    "hirokisan_bybit_result_only/v5-market-get-public-trading-history.json",
    "nautilus_trader/http_get_trades_recent.json",
]
SERVER_TIMES = {
    "bybit_docs/market_time__response.json": 1688639403423,
    "nautilus_trader_legacy_py/server_time.json": 1694667737126,
}
ACKS = {
    "bybit_docs/order_create-order__response.json": ("1321003749386327552", "spot-test-postonly"),
    "bybit_docs/order_amend-order__response.json": ("c6f055d9-7f21-4079-913d-e6523a9cfffa", "linear-004"),
    "bybit_docs/order_cancel-order__response.json": ("c6f055d9-7f21-4079-913d-e6523a9cfffa", "linear-004"),
    "hirokisan_bybit_result_only/v5-create-order.json": ("1358868270414852352", "1676725721103693"),
    "hirokisan_bybit_result_only/v5-amend-order.json": ("28902376-ea8a-46d8-b440-5db48dfdf467", ""),
    "hirokisan_bybit_result_only/v5-cancel-order.json": ("1366592124616832000", "1677646476275746"),
}
CANCEL_ALL = ["bybit_docs/order_cancel-all__response.json"]
ENVELOPE_ONLY = [  # endpoints this layer has no parser for (yet): the envelope must still read
    "bybit_docs/account_fee-rate__response.json",
    "bybit_docs/account_wallet-balance__response.json",
    "bybit_docs/market_orderbook__response.json",
    "bybit_docs/market_tickers__response_inverse.json",
    "bybit_docs/market_tickers__response_option.json",
    "bybit_docs/market_tickers__response_spot.json",
    "bybit_docs/order_batch-cancel__response.json",
    "bybit_docs/order_batch-place__response.json",
    "bybit_docs/position_position__response.json",
    "nautilus_trader/http_get_account_info.json",
    "nautilus_trader/http_get_fee_rate.json",
    "nautilus_trader/http_get_funding_history.json",
    "nautilus_trader/http_get_orderbook.json",
    "nautilus_trader/http_get_positions.json",
    "nautilus_trader/http_get_positions_with_open_time.json",
    "nautilus_trader/http_get_wallet_balance.json",
    "nautilus_trader/http_get_wallet_balance_spot_short.json",
    "nautilus_trader/http_get_wallet_balance_with_spot_borrow.json",
    "nautilus_trader_legacy_py/coin_info.json",
    "nautilus_trader_legacy_py/fee_rate.json",
    "nautilus_trader_legacy_py/linear/tickers.json",
    "nautilus_trader_legacy_py/option/tickers.json",
    "nautilus_trader_legacy_py/spot/tickers.json",
]
RESULT_ONLY_OTHERS = [  # hirokisan's result objects of endpoints without a parser here
    "hirokisan_bybit_result_only/v5-account-get-account-info.json",
    "hirokisan_bybit_result_only/v5-account-get-transaction-log.json",
    "hirokisan_bybit_result_only/v5-account-get-wallet-balance.json",
    "hirokisan_bybit_result_only/v5-market-get-funding-rate-history.json",
    "hirokisan_bybit_result_only/v5-market-get-open-interest.json",
    "hirokisan_bybit_result_only/v5-market-get-risk-limit.json",
    "hirokisan_bybit_result_only/v5-position-get-closed-pnl.json",
    "hirokisan_bybit_result_only/v5-position-get-position-info.json",
    "hirokisan_bybit_result_only/v5-position-set-risk-limit.json",
    "nautilus_trader_legacy_py/account/wallet_balance.json",
]


def test_every_rest_fixture_is_accounted_for() -> None:
    listed = [
        *ORDER_PAGES,
        *FILL_PAGES,
        *INSTRUMENT_PAGES,
        *KLINE_PAGES,
        *TRADE_PAGES,
        *SERVER_TIMES,
        *ACKS,
        *CANCEL_ALL,
        *ENVELOPE_ONLY,
        *RESULT_ONLY_OTHERS,
    ]
    assert len(listed) == len(set(listed))
    assert set(listed) == {str(path.relative_to(REST)) for path in REST.rglob("*.json")}


@pytest.mark.parametrize("rel", ENVELOPE_ONLY)
def test_envelope_only_fixtures_read(rel: str) -> None:
    response = _response(rel)
    assert response.ok and response.action is ErrorAction.OK and response.result


@pytest.mark.parametrize("rel", ORDER_PAGES)
def test_order_page_fixtures_parse(rel: str) -> None:
    page = order_updates_page(_response(rel), RECV_NS, category="linear")
    records = _response(rel).result["list"]
    assert len(page.items) == page.records == len(records) > 0
    for event, record in zip(page.items, records, strict=True):
        assert event.recovered and event.ts_recv_ns == RECV_NS
        assert (event.order_id, event.order_link_id, event.symbol) == (
            record["orderId"],
            record["orderLinkId"],
            record["symbol"],
        )
        assert event.status.value == record["orderStatus"] and event.qty == Decimal(record["qty"])
        assert event.ts_event_ns == int(record["updatedTime"]) * 1_000_000


@pytest.mark.parametrize("rel", FILL_PAGES)
def test_fill_page_fixtures_parse(rel: str) -> None:
    page = fills_page(_response(rel), RECV_NS)
    records = _response(rel).result["list"]
    assert [fill.exec_id for fill in page.items] == [record["execId"] for record in records]
    assert all(fill.recovered and fill.category == "linear" for fill in page.items)


@pytest.mark.parametrize("rel", INSTRUMENT_PAGES)
def test_instrument_fixtures_parse(rel: str) -> None:
    page = instruments_page(_response(rel))
    assert page.items and page.records == len(page.items)
    assert merge_instruments([page]) == load_instruments(REST / rel)


@pytest.mark.parametrize(("rel", "interval"), KLINE_PAGES.items())
def test_kline_fixtures_parse(rel: str, interval: str) -> None:
    response = _response(rel)
    klines = klines_from_response(response, RECV_NS, interval=interval)
    assert len(klines) == len(response.result["list"])
    assert [k.start_ms for k in klines] == sorted(int(row[0]) for row in response.result["list"])


@pytest.mark.parametrize("rel", TRADE_PAGES)
def test_trade_fixtures_parse(rel: str) -> None:
    trades = trades_from_response(_response(rel), RECV_NS)
    records = _response(rel).result["list"]
    assert sorted(t.trade_id for t in trades) == sorted(r["execId"] for r in records)
    assert [t.ts_event_ns for t in trades] == sorted(t.ts_event_ns for t in trades)


@pytest.mark.parametrize(("rel", "server_ms"), SERVER_TIMES.items())
def test_server_time_fixtures_parse(rel: str, server_ms: int) -> None:
    assert parse_server_time(_response(rel)) == server_ms


@pytest.mark.parametrize(("rel", "ids"), ACKS.items())
def test_ack_fixtures_parse(rel: str, ids: tuple[str, str]) -> None:
    assert order_ack(_response(rel)) == OrderAck(order_id=ids[0], order_link_id=ids[1])


def test_cancel_all_fixture_parses() -> None:
    assert cancel_all_acks(_response(CANCEL_ALL[0])) == (
        OrderAck(order_id="1616024329462743808", order_link_id="1616024329462743809"),
        OrderAck(order_id="1616024287544869632", order_link_id="1616024287544869633"),
    )
    assert cancel_all_acks(_answer({"list": [], "success": "1"})) == ()


# -- field-level expectations ----------------------------------------------------------------------


def test_open_order_page_fields() -> None:
    """Bybit's doc example: the category comes from the result, "0" avgPrice means none, cursor kept."""
    page = order_updates_page(_response("bybit_docs/order_open-order__response.json"), RECV_NS)
    assert page.next_cursor == "page_args%3Dfd4300ae-7847-404e-b947-b46980a4d140%26symbol%3D6%26"
    assert page.items == (
        OrderUpdated(
            ts_event_ns=1684738540561_000_000,
            ts_recv_ns=RECV_NS,
            category="linear",
            symbol="ETHUSDT",
            order_id="fd4300ae-7847-404e-b947-b46980a4d140",
            order_link_id="test-000005",
            side=Side.BUY,
            order_type="Limit",
            time_in_force="GTC",
            status=OrderStatus.NEW,
            price=Decimal("1600.00"),
            qty=Decimal("0.10"),
            cum_exec_qty=Decimal("0.00"),
            cum_exec_value=Decimal("0"),
            cum_exec_fee=Decimal("0"),
            avg_price=None,
            leaves_qty=Decimal("0.10"),
            cancel_type="UNKNOWN",
            reject_reason="EC_NoError",
            reduce_only=False,
            created_time_ms=1684738540559,
            recovered=True,
        ),
    )


def test_history_page_fields() -> None:
    history = order_updates_page(_response("bybit_docs/order_order-list__response.json"), RECV_NS).items[0]
    assert (history.status, history.reject_reason, history.time_in_force) == (
        OrderStatus.CANCELLED,
        "EC_PostOnlyWillTakeLiquidity",
        "PostOnly",
    )
    rejected = order_updates_page(
        _response("nautilus_trader/http_get_order_partially_filled_rejected.json"), RECV_NS, category="linear"
    ).items[0]
    assert (rejected.status, rejected.cum_exec_qty, rejected.avg_price, rejected.leaves_qty, rejected.category) == (
        OrderStatus.REJECTED,
        Decimal("0.005"),
        Decimal("30000"),
        Decimal("0.005"),
        "linear",  # neither record nor result names it: the asked-for category fills in
    )


def test_fill_page_fields() -> None:
    page = fills_page(_response("nautilus_trader/http_get_executions.json"), RECV_NS)
    maker = page.items[0]
    assert (maker.symbol, maker.side, maker.price, maker.qty, maker.is_maker, maker.fee, maker.fee_currency) == (
        "BTCUSDT",
        Side.BUY,
        Decimal("50000.00"),
        Decimal("0.100"),
        True,
        Decimal("0.0150"),
        "USDT",
    )
    assert (maker.order_link_id, maker.seq, maker.ts_event_ns, page.next_cursor) == (
        "test-order-001",
        4688002127,
        1672282722429_000_000,
        "132766%3A2%2C132766%3A2",
    )


def test_non_fill_executions_are_left_out_but_counted() -> None:
    funding = {**_FILL, "execType": "Funding", "execId": "f-1", "orderType": "UNKNOWN"}
    page = fills_page(_answer({"category": "linear", "list": [funding, _FILL], "nextPageCursor": "n%2C1"}), RECV_NS)
    assert [fill.exec_id for fill in page.items] == [_FILL["execId"]]
    assert page.records == 2
    assert isinstance(execution_from_record(funding, RECV_NS), NonTradeExecution)


def test_kline_fields_and_confirmation() -> None:
    """Daily candles, answer stamped inside the newest one: only that one is still open."""
    klines = klines_from_response(_response("nautilus_trader_legacy_py/spot/klines_btc.json"), RECV_NS, interval="D")
    newest = klines[-1]
    assert (newest.start_ms, newest.end_ms, newest.confirmed) == (1694649600000, 1694735999999, False)
    assert all(k.confirmed for k in klines[:-1])
    assert newest.ts_event_ns == 1694674504570_000_000 and newest.symbol == "BTCUSDT"


def test_kline_end_matches_the_streams() -> None:
    """The stream's kline fixture says a 5-minute candle starting at 1672324800000 ends at ...099999."""
    stream = json.loads((WS / "bybit_docs/ws_kline.json").read_text())["data"][0]
    row = [
        str(stream["start"]),
        stream["open"],
        stream["high"],
        stream["low"],
        stream["close"],
        stream["volume"],
        stream["turnover"],
    ]
    (kline,) = klines_from_response(
        _answer({"symbol": "BTCUSDT", "list": [row]}, time=stream["timestamp"]), RECV_NS, interval="5"
    )
    assert (kline.end_ms, kline.confirmed) == (stream["end"], stream["confirm"])


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-02-01", "2024-02-29T23:59:59.999"),  # leap year
        ("2023-12-01", "2023-12-31T23:59:59.999"),  # into the next year
    ],
)
def test_monthly_candles_end_with_their_month(start: str, end: str) -> None:
    def ms(text: str) -> int:
        return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)

    row = [str(ms(start)), "1", "1", "1", "1", "1", "1"]
    (kline,) = klines_from_response(_answer({"symbol": "X", "list": [row]}), RECV_NS, interval="M")
    assert kline.end_ms == ms(end)


def test_recent_trade_fields() -> None:
    (trade,) = trades_from_response(_response("bybit_docs/market_recent-trade__response.json"), RECV_NS)
    assert (trade.symbol, trade.trade_id, trade.price, trade.qty, trade.taker_side) == (
        "BTCUSDT",
        "2100000000007764263",
        Decimal("16618.49"),
        Decimal("0.00012"),
        Side.BUY,
    )
    assert (trade.ts_event_ns, trade.is_rpi, trade.is_block_trade, trade.seq, trade.tick_direction) == (
        1672052955758_000_000,
        True,
        False,
        123456,
        "",
    )


# -- stream and REST give the same events --------------------------------------------------------------


def _stream_frames(topic: str) -> list[Any]:
    """Every websocket fixture of ``topic``, as pytest params named by their file."""
    frames = []
    for path in sorted(WS.rglob("*.json")):
        document = json.loads(path.read_text())
        if isinstance(document, dict) and document.get("topic") == topic:
            frames.append(pytest.param(document, id=str(path.relative_to(WS))))
    return frames


def _as_rest_page(frame: dict[str, Any]) -> RestResponse:
    """The frame's records as a REST page answers them: category once beside the list."""
    records = [{key: value for key, value in record.items() if key != "category"} for record in frame["data"]]
    categories = {record["category"] for record in frame["data"]}
    assert len(categories) == 1
    return _answer({"category": categories.pop(), "list": records, "nextPageCursor": ""}, time=frame["creationTime"])


@pytest.mark.parametrize("frame", _stream_frames("order"))
def test_order_records_give_equal_events_over_stream_and_rest(frame: dict[str, Any]) -> None:
    stream = BybitCodec().parse(orjson.dumps(frame), RECV_NS)
    page = order_updates_page(_as_rest_page(frame), RECV_NS + 1)
    assert stream and all(not event.recovered for event in stream if isinstance(event, OrderUpdated))
    assert [replace(event, recovered=False, ts_recv_ns=RECV_NS) for event in page.items] == stream


@pytest.mark.parametrize("frame", _stream_frames("execution"))
def test_execution_records_give_equal_fills_over_stream_and_rest(frame: dict[str, Any]) -> None:
    """Fills compare equal; a non-fill execution (the ADL fixture) is left out on both sides, but counted."""
    stream = [event for event in BybitCodec().parse(orjson.dumps(frame), RECV_NS) if isinstance(event, OrderFilled)]
    page = fills_page(_as_rest_page(frame), RECV_NS + 1)
    assert page.records == len(frame["data"])
    assert [replace(event, recovered=False, ts_recv_ns=RECV_NS) for event in page.items] == stream


def test_rest_records_give_equal_events_when_pushed_by_the_stream() -> None:
    """The other direction: Bybit's REST doc examples, wrapped as pushes, through the codec."""
    for rel, topic, parse in (
        ("bybit_docs/order_open-order__response.json", "order", order_updates_page),
        ("bybit_docs/order_execution__response.json", "execution", fills_page),
    ):
        response = _response(rel)
        records = [{**record, "category": response.result["category"]} for record in response.result["list"]]
        frame = {"topic": topic, "id": "1", "creationTime": response.time_ms, "data": records}
        stream = BybitCodec().parse(orjson.dumps(frame), RECV_NS)
        rest = [replace(event, recovered=False) for event in parse(response, RECV_NS).items]
        assert rest == stream, rel


def test_public_converters_raise_frame_error_only() -> None:
    """The codec's converters, public for REST, never leak a KeyError; a record's own category wins."""
    with pytest.raises(FrameError, match="orderId"):
        order_update_from_record({k: v for k, v in _ORDER.items() if k != "orderId"}, RECV_NS)
    with pytest.raises(FrameError, match="execId"):
        execution_from_record({k: v for k, v in _FILL.items() if k != "execId"}, RECV_NS)
    with pytest.raises(FrameError):
        order_update_from_record({**_ORDER, "side": "buy"}, RECV_NS)
    own = order_update_from_record({**_ORDER, "category": "spot"}, RECV_NS, category="linear")
    assert own.category == "spot"
    assert order_update_from_record(_ORDER, RECV_NS, category="linear").category == "linear"
    undated = {k: v for k, v in _ORDER.items() if k != "updatedTime"}
    assert order_update_from_record(undated, RECV_NS, fallback_time_ms="17").ts_event_ns == 17_000_000


# -- paging -----------------------------------------------------------------------------------------


def _page(cursor: str | None, records: int = 1) -> Page[int]:
    return Page(items=tuple(range(records)), next_cursor=cursor, category="linear", records=records)


def test_pager_follows_cursors_to_the_last_page() -> None:
    pager = CursorPager()
    asked = [pager.cursor]
    for page in (_page("a%3D1"), _page("b%3D2"), _page(None)):
        more = pager.advance(page)
        asked.append(pager.cursor)
    assert (more, pager.done, pager.truncated, pager.pages) == (False, True, False, 3)
    assert asked == [None, "a%3D1", "b%3D2", "b%3D2"]
    with pytest.raises(RuntimeError):
        pager.advance(_page(None))


@pytest.mark.parametrize(
    ("pages", "expected_pages"),
    [
        ([_page("a"), _page("a")], 2),  # Bybit repeating a cursor must not loop forever
        ([_page("a"), _page("b", records=0)], 2),  # an empty page ends it, whatever the cursor
        ([_page("a", records=3), _page(None)], 2),
    ],
)
def test_pager_stops(pages: list[Page[int]], expected_pages: int) -> None:
    pager = CursorPager()
    for page in pages:
        pager.advance(page)
    assert pager.done and pager.pages == expected_pages


def test_pager_gives_up_after_max_pages() -> None:
    pager = CursorPager(max_pages=2)
    assert pager.advance(_page("a"))
    assert not pager.advance(_page("b"))
    assert pager.truncated and pager.cursor == "a"


def test_instruments_paged_and_merged_equal_one_page() -> None:
    """A driver loop over a fake server: requests carry each cursor verbatim, pages merge to the whole."""
    whole = orjson.loads((REST / "nautilus_trader/http_get_instruments_spot.json").read_bytes())
    first, second = whole["result"]["list"]
    cursor = "first%3A1%2C1"
    server = {
        None: {**whole, "result": {**whole["result"], "list": [first], "nextPageCursor": cursor}},
        cursor: {**whole, "result": {**whole["result"], "list": [second], "nextPageCursor": ""}},
    }
    pager, pages, sent = CursorPager(), [], []
    while not pager.done:
        request = get_instruments_info(category="spot", limit=1, cursor=pager.cursor)
        sent.append(request.target)
        page = instruments_page(parse_response(200, {}, orjson.dumps(server[pager.cursor])))
        pages.append(page)
        pager.advance(page)
    assert sent == [
        "/v5/market/instruments-info?category=spot&limit=1",
        f"/v5/market/instruments-info?category=spot&limit=1&cursor={cursor}",
    ]
    assert [len(page.items) for page in pages] == [1, 1]
    assert merge_instruments(pages) == load_instruments(REST / "nautilus_trader/http_get_instruments_spot.json")


def test_fill_pages_of_only_funding_do_not_end_paging() -> None:
    funding = {**_FILL, "execType": "Funding"}
    page = fills_page(_answer({"category": "linear", "list": [funding], "nextPageCursor": "x%2C1"}), RECV_NS)
    pager = CursorPager()
    assert page.items == () and pager.advance(page) and pager.cursor == "x%2C1"


# -- clock ------------------------------------------------------------------------------------------


def test_clock_skew_from_one_round_trip() -> None:
    skew = ClockSkew.measure(local_send_ms=1_000_000, local_recv_ms=1_000_100, server_ms=1_002_050)
    assert (skew.offset_ms, skew.round_trip_ms, skew.uncertainty_ms) == (2_000, 100, 50)
    assert skew.server_now_ms(5_000_000) == 5_002_000
    assert skew.signing_timestamp_ms(5_000_000) == 5_001_950


@settings(max_examples=300, deadline=None)
@given(
    send=st.integers(1_600_000_000_000, 1_900_000_000_000),
    round_trip=st.integers(0, 3_000),
    stamped_at=st.floats(0, 1),
    true_offset=st.integers(-(10**7), 10**7),
    later=st.integers(0, 10**6),
)
def test_signing_timestamp_is_never_ahead_of_bybit(
    send: int, round_trip: int, stamped_at: float, true_offset: int, later: int
) -> None:
    """Wherever in the round trip Bybit stamped its time, the timestamp is in Bybit's window.

    Window: server - recv_window <= ts < server + 1000; ours is never ahead and at most one
    round trip behind, so any round trip under the receive window passes.
    """
    recv = send + round_trip
    server_ms = send + round(stamped_at * round_trip) + true_offset
    skew = ClockSkew.measure(send, recv, server_ms)
    local_now = recv + later
    server_now = local_now + true_offset
    timestamp = skew.signing_timestamp_ms(local_now)
    assert server_now - round_trip <= timestamp <= server_now


def test_better_skew_is_the_tighter_one() -> None:
    wide = ClockSkew.measure(1_000, 1_400, 5_000)
    tight = ClockSkew.measure(2_000, 2_010, 6_100)
    assert wide.better(tight) is tight and tight.better(wide) is tight


@pytest.mark.parametrize(("send", "recv", "server"), [(10, 9, 5), (10.0, 11, 5), (10, 11, 0)])
def test_clock_skew_refuses_impossible_measurements(send: Any, recv: Any, server: Any) -> None:
    with pytest.raises(ValueError):
        ClockSkew.measure(send, recv, server)


def test_resync_after_10002_yields_an_acceptable_timestamp() -> None:
    """10002 -> measure against /v5/market/time -> re-sign: the new timestamp passes Bybit's rule."""
    rejected = parse_response(
        200, {}, b'{"retCode":10002,"retMsg":"invalid request, please check your server timestamp","result":{}}'
    )
    assert rejected.action is ErrorAction.RESYNC_CLOCK
    answer = _response("bybit_docs/market_time__response.json")
    local_send, local_recv = 1688639409000, 1688639409080  # our clock runs 5.6 s ahead
    skew = ClockSkew.measure(local_send, local_recv, parse_server_time(answer))
    request = get_open_orders(CREDENTIALS, skew.signing_timestamp_ms(local_recv), category="spot")
    timestamp = int(request.headers["X-BAPI-TIMESTAMP"])
    server_now = parse_server_time(answer) + 40  # Bybit's clock when we sign (stamp mid-trip)
    assert server_now - 5000 <= timestamp < server_now + 1000


def test_events_keep_their_struct_encoding() -> None:
    """recovered is a plain field: a recovered event round-trips through msgspec like any other."""
    event = order_updates_page(_response("bybit_docs/order_open-order__response.json"), RECV_NS).items[0]
    decoded = msgspec.json.decode(msgspec.json.encode(event), type=OrderUpdated)
    assert decoded == event and decoded.recovered
