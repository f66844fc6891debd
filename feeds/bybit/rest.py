"""Bybit v5 REST without I/O: signed requests out; typed responses, pages and engine events in.

The REST driver (an async HTTP client, built later) is a thin loop around this module: it takes a
``RestRequest``, sends ``method``, ``target`` (path and query, verbatim), ``headers`` and ``body``
exactly as built, and hands the status, headers and body of the answer to ``parse_response``.
Nothing here opens a socket or reads the clock. The signing timestamp, the receive time and the
clock offset are arguments, so every request is reproducible byte for byte and every test runs
offline.

Bybit verifies the signature over the bytes it receives, so the query string and the JSON body
are serialised once, here, and signed as they are: a client that re-encodes either after
signing gets retCode 10004. Query values are therefore restricted to characters that need no
encoding; ``nextPageCursor`` arrives already percent-encoded and goes back verbatim, as Bybit's
own SDK sends it.

Order records from ``/v5/order/realtime`` and ``/v5/order/history`` and execution records from
``/v5/execution/list`` are the very records the private ``order`` and ``execution`` topics push,
so they go through the codec's converters: one order read over REST and over the stream gives
equal events, apart from ``recovered`` (True here) and the receive time.

A body that is not a readable Bybit answer raises ``RestError``, always that one type. A Bybit
error answer (``retCode`` != 0, HTTP 403, ...) is not an exception: it is a ``RestResponse``
whose ``action`` says what the driver must do about it.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, Final, Generic, TypeVar

import orjson

from engine.enums import OrderType, Side, TimeInForce
from engine.events import KlineUpdated, OrderFilled, OrderUpdated, TradePrinted
from engine.instrument import Instrument
from feeds.bybit.auth import Credentials, rest_signature
from feeds.bybit.codec import (
    NS_PER_MS,
    FrameError,
    _bool,
    _dec,
    _ms,
    _opt_int,
    _text,
    execution_from_record,
    order_update_from_record,
)
from feeds.bybit.instruments import InstrumentsError, parse_instruments_info
from feeds.bybit.outgoing import (
    DEFAULT_RECV_WINDOW_MS,
    Number,
    RequestError,
    decimal_text,
    order_amend,
    order_cancel,
    order_create,
    parse_request,
)
from feeds.bybit.topics import (
    KLINE_INTERVALS,
    Category,
    Environment,
    parse_category,
    parse_environment,
    validate_symbol,
)

__all__ = [
    # requests
    "RestRequest",
    "rest_base_url",
    "public_get",
    "signed_get",
    "signed_post",
    "rest_from_trade_frame",
    "create_order",
    "amend_order",
    "cancel_order",
    "cancel_all_orders",
    "get_open_orders",
    "get_order_history",
    "get_executions",
    "get_instruments_info",
    "get_server_time",
    "get_klines",
    "get_recent_trades",
    # responses
    "RestError",
    "RateLimit",
    "RestResponse",
    "ErrorAction",
    "classify",
    "parse_response",
    "OrderAck",
    "order_ack",
    "cancel_all_acks",
    # pages and events
    "Page",
    "CursorPager",
    "order_updates_page",
    "fills_page",
    "instruments_page",
    "merge_instruments",
    "klines_from_response",
    "trades_from_response",
    # clock
    "parse_server_time",
    "ClockSkew",
    # paths
    "PATH_ORDER_CREATE",
    "PATH_ORDER_AMEND",
    "PATH_ORDER_CANCEL",
    "PATH_ORDER_CANCEL_ALL",
    "PATH_ORDER_REALTIME",
    "PATH_ORDER_HISTORY",
    "PATH_EXECUTION_LIST",
    "PATH_INSTRUMENTS_INFO",
    "PATH_SERVER_TIME",
    "PATH_KLINE",
    "PATH_RECENT_TRADE",
]

PATH_ORDER_CREATE: Final = "/v5/order/create"
PATH_ORDER_AMEND: Final = "/v5/order/amend"
PATH_ORDER_CANCEL: Final = "/v5/order/cancel"
PATH_ORDER_CANCEL_ALL: Final = "/v5/order/cancel-all"
PATH_ORDER_REALTIME: Final = "/v5/order/realtime"
PATH_ORDER_HISTORY: Final = "/v5/order/history"
PATH_EXECUTION_LIST: Final = "/v5/execution/list"
PATH_INSTRUMENTS_INFO: Final = "/v5/market/instruments-info"
PATH_SERVER_TIME: Final = "/v5/market/time"
PATH_KLINE: Final = "/v5/market/kline"
PATH_RECENT_TRADE: Final = "/v5/market/recent-trade"

_REST_HOSTS: Final = {
    Environment.MAINNET: "https://api.bybit.com",
    Environment.TESTNET: "https://api-testnet.bybit.com",
    Environment.DEMO: "https://api-demo.bybit.com",
}
_TRADE_OPS: Final = {
    "order.create": PATH_ORDER_CREATE,
    "order.amend": PATH_ORDER_AMEND,
    "order.cancel": PATH_ORDER_CANCEL,
}
_REST_REQ_ID: Final = "rest"
"""The trade-frame builders want a request id; a REST request has none, so this one is never sent."""

_MAX_QUERY_WINDOW_MS: Final = 7 * 24 * 3600 * 1000
"""``/v5/order/history`` and ``/v5/execution/list`` refuse a startTime..endTime span over 7 days."""

_PARAM_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_QUERY_SAFE: Final = re.compile(r"(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+")
"""Characters a query value may hold: RFC 3986 unreserved ones, and %XX escapes (a cursor's)."""

_MS_PER_MINUTE: Final = 60_000
_FIXED_INTERVALS_MS: Final = {
    **{minutes: int(minutes) * _MS_PER_MINUTE for minutes in KLINE_INTERVALS if minutes.isdigit()},
    "D": 24 * 60 * _MS_PER_MINUTE,
    "W": 7 * 24 * 60 * _MS_PER_MINUTE,
}

_SIDES: Final = {side.value: side for side in Side}
_INTEGER: Final = re.compile(r"-?[0-9]+")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


# -- requests ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestRequest:
    """One HTTP request, ready to send as is. The secret is never part of it, only its signature.

    ``query`` has no leading ``?``; ``body`` is empty for GET. Send ``target`` verbatim: an HTTP
    client that re-quotes the URL (aiohttp does unless given ``yarl.URL(url, encoded=True)``)
    could change the bytes Bybit checks the signature against.
    """

    method: str
    path: str
    query: str
    body: bytes
    headers: dict[str, str]

    @property
    def target(self) -> str:
        """Path and query as they go on the request line."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def url(self, base_url: str) -> str:
        """The full URL under ``base_url`` (see ``rest_base_url``)."""
        return base_url.rstrip("/") + self.target

    @property
    def is_signed(self) -> bool:
        return "X-BAPI-SIGN" in self.headers


def rest_base_url(env: Environment | str) -> str:
    """REST host of an environment. Explicit, like the websocket URLs: nothing defaults to mainnet."""
    return _REST_HOSTS[parse_environment(env)]


def public_get(path: str, params: Mapping[str, object]) -> RestRequest:
    """An unsigned GET (market data). ``None`` values are left out; the rest keep their order."""
    return RestRequest(method="GET", path=_path(path), query=_query(params), body=b"", headers={})


def signed_get(
    path: str,
    params: Mapping[str, object],
    credentials: Credentials,
    timestamp_ms: int,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
) -> RestRequest:
    """A signed GET: the signature covers the query string exactly as it will be sent.

    ``timestamp_ms`` is Bybit's clock, not ours: pass ``ClockSkew.signing_timestamp_ms(local)``.
    """
    query = _query(params)
    headers = _auth_headers(credentials, timestamp_ms, recv_window_ms, query)
    return RestRequest(method="GET", path=_path(path), query=query, body=b"", headers=headers)


def signed_post(
    path: str,
    params: Mapping[str, object],
    credentials: Credentials,
    timestamp_ms: int,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
) -> RestRequest:
    """A signed POST with a compact JSON body, keys in the order given, signed as serialised.

    Decimals become plain strings (``decimal_text``); floats are refused, as everywhere on the
    way out: a float has already lost the exact price or size.
    """
    body = orjson.dumps({key: _body_value(key, value) for key, value in _present(params)})
    headers = _auth_headers(credentials, timestamp_ms, recv_window_ms, body.decode())
    headers["Content-Type"] = "application/json"
    return RestRequest(method="POST", path=_path(path), query="", body=body, headers=headers)


def rest_from_trade_frame(frame: bytes | str, credentials: Credentials) -> RestRequest:
    """The REST twin of a trade-websocket order frame (``order.create``/``amend``/``cancel``).

    Bybit takes the same order object on both, so ``feeds.bybit.order_wire.encode_order`` (the
    one encoder from engine commands) serves REST too: its frame's ``args[0]`` becomes the body,
    its header's timestamp and receive window sign it. Demo accounts have no trade websocket.
    """
    try:
        request = parse_request(frame)
    except RequestError as exc:
        raise ValueError(f"not a trade-API frame: {exc}") from exc
    path = _TRADE_OPS.get(request.op)
    if path is None:
        raise ValueError(f"no REST endpoint for op {request.op!r}; expected one of {sorted(_TRADE_OPS)}")
    if len(request.args) != 1 or type(request.args[0]) is not dict:
        raise ValueError(f"{request.op} frame must carry exactly one order object")
    timestamp = request.header.get("X-BAPI-TIMESTAMP", "")
    recv_window = request.header.get("X-BAPI-RECV-WINDOW", str(DEFAULT_RECV_WINDOW_MS))
    if not timestamp.isdigit() or not recv_window.isdigit():
        raise ValueError(f"{request.op} frame without a usable X-BAPI-TIMESTAMP/X-BAPI-RECV-WINDOW header")
    return signed_post(path, request.args[0], credentials, int(timestamp), int(recv_window))


def create_order(
    credentials: Credentials,
    timestamp_ms: int,
    *,
    category: Category | str,
    symbol: str,
    side: Side | str,
    order_type: OrderType | str,
    qty: Number,
    price: Number | None = None,
    time_in_force: TimeInForce | str | None = None,
    order_link_id: str,
    reduce_only: bool | None = None,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
    extra: Mapping[str, object] | None = None,
) -> RestRequest:
    """``POST /v5/order/create``, validated exactly like ``outgoing.order_create`` (one set of rules).

    The ack only means "accepted": the outcome arrives on the order stream, or from
    ``get_open_orders(order_link_id=...)`` if the stream is down.
    """
    frame = order_create(
        _REST_REQ_ID,
        timestamp_ms,
        category=category,
        symbol=symbol,
        side=side,
        order_type=order_type,
        qty=qty,
        price=price,
        time_in_force=time_in_force,
        order_link_id=order_link_id,
        reduce_only=reduce_only,
        recv_window_ms=recv_window_ms,
        extra=extra,
    )
    return rest_from_trade_frame(frame, credentials)


def amend_order(
    credentials: Credentials,
    timestamp_ms: int,
    *,
    category: Category | str,
    symbol: str,
    order_id: str | None = None,
    order_link_id: str | None = None,
    qty: Number | None = None,
    price: Number | None = None,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
    extra: Mapping[str, object] | None = None,
) -> RestRequest:
    """``POST /v5/order/amend`` of the order named by exactly one of the ids; ``qty`` is the new total."""
    frame = order_amend(
        _REST_REQ_ID,
        timestamp_ms,
        category=category,
        symbol=symbol,
        order_id=order_id,
        order_link_id=order_link_id,
        qty=qty,
        price=price,
        recv_window_ms=recv_window_ms,
        extra=extra,
    )
    return rest_from_trade_frame(frame, credentials)


def cancel_order(
    credentials: Credentials,
    timestamp_ms: int,
    *,
    category: Category | str,
    symbol: str,
    order_id: str | None = None,
    order_link_id: str | None = None,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
    extra: Mapping[str, object] | None = None,
) -> RestRequest:
    """``POST /v5/order/cancel`` of the order named by exactly one of the ids."""
    frame = order_cancel(
        _REST_REQ_ID,
        timestamp_ms,
        category=category,
        symbol=symbol,
        order_id=order_id,
        order_link_id=order_link_id,
        recv_window_ms=recv_window_ms,
        extra=extra,
    )
    return rest_from_trade_frame(frame, credentials)


def cancel_all_orders(
    credentials: Credentials,
    timestamp_ms: int,
    *,
    category: Category | str,
    symbol: str | None = None,
    base_coin: str | None = None,
    settle_coin: str | None = None,
    order_filter: str | None = None,
    stop_order_type: str | None = None,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
) -> RestRequest:
    """``POST /v5/order/cancel-all``. Linear and inverse need a symbol, base coin or settle coin.

    Futures cancel at most 500 orders per call (chosen at random): repeat until the answer's
    list is empty. Spot cancels only plain orders unless ``order_filter`` says otherwise.
    """
    kind = parse_category(category)
    if kind in (Category.LINEAR, Category.INVERSE) and symbol is None and base_coin is None and settle_coin is None:
        raise ValueError(f"cancel-all for {kind.value} needs symbol, base_coin or settle_coin")
    if kind is Category.SPOT and settle_coin is not None:
        raise ValueError("cancel-all for spot does not take settle_coin")
    params = {
        "category": kind.value,
        "symbol": None if symbol is None else validate_symbol(symbol),
        "baseCoin": base_coin,
        "settleCoin": settle_coin,
        "orderFilter": order_filter,
        "stopOrderType": stop_order_type,
    }
    return signed_post(PATH_ORDER_CANCEL_ALL, params, credentials, timestamp_ms, recv_window_ms)


def get_open_orders(
    credentials: Credentials,
    timestamp_ms: int,
    *,
    category: Category | str,
    symbol: str | None = None,
    base_coin: str | None = None,
    settle_coin: str | None = None,
    order_id: str | None = None,
    order_link_id: str | None = None,
    open_only: bool | None = None,
    order_filter: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
) -> RestRequest:
    """``GET /v5/order/realtime``: open orders, newest first, up to 50 a page.

    Linear needs a symbol, base coin or settle coin. By ``order_id``/``order_link_id`` it also
    finds one of the latest 500 closed orders (Bybit ignores ``open_only`` then); that list is
    wiped when Bybit restarts, so fall back to ``get_order_history`` for an order not found.
    """
    kind = parse_category(category)
    if kind is Category.LINEAR and symbol is None and base_coin is None and settle_coin is None:
        raise ValueError("open orders of linear need symbol, base_coin or settle_coin")
    params = {
        "category": kind.value,
        "symbol": None if symbol is None else validate_symbol(symbol),
        "baseCoin": base_coin,
        "settleCoin": settle_coin,
        "orderId": order_id,
        "orderLinkId": order_link_id,
        "openOnly": None if open_only is None else int(_flag("open_only", open_only)),
        "orderFilter": order_filter,
        "limit": _limit(limit, 50),
        "cursor": cursor,
    }
    return signed_get(PATH_ORDER_REALTIME, params, credentials, timestamp_ms, recv_window_ms)


def get_order_history(
    credentials: Credentials,
    timestamp_ms: int,
    *,
    category: Category | str,
    symbol: str | None = None,
    base_coin: str | None = None,
    settle_coin: str | None = None,
    order_id: str | None = None,
    order_link_id: str | None = None,
    order_filter: str | None = None,
    order_status: str | None = None,
    start_time_ms: int | None = None,
    end_time_ms: int | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
) -> RestRequest:
    """``GET /v5/order/history``: orders of a 7-day window (cancelled/rejected ones only kept 24 h)."""
    _window(start_time_ms, end_time_ms)
    params = {
        "category": parse_category(category).value,
        "symbol": None if symbol is None else validate_symbol(symbol),
        "baseCoin": base_coin,
        "settleCoin": settle_coin,
        "orderId": order_id,
        "orderLinkId": order_link_id,
        "orderFilter": order_filter,
        "orderStatus": order_status,
        "startTime": start_time_ms,
        "endTime": end_time_ms,
        "limit": _limit(limit, 50),
        "cursor": cursor,
    }
    return signed_get(PATH_ORDER_HISTORY, params, credentials, timestamp_ms, recv_window_ms)


def get_executions(
    credentials: Credentials,
    timestamp_ms: int,
    *,
    category: Category | str,
    symbol: str | None = None,
    order_id: str | None = None,
    order_link_id: str | None = None,
    base_coin: str | None = None,
    settle_coin: str | None = None,
    start_time_ms: int | None = None,
    end_time_ms: int | None = None,
    exec_type: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
) -> RestRequest:
    """``GET /v5/execution/list``: our fills of a 7-day window, newest first, up to 100 a page.

    After a reconnect, ask from the last ``execTime`` seen on the stream: private topics do not
    replay what was pushed while the connection was down.
    """
    _window(start_time_ms, end_time_ms)
    params = {
        "category": parse_category(category).value,
        "symbol": None if symbol is None else validate_symbol(symbol),
        "orderId": order_id,
        "orderLinkId": order_link_id,
        "baseCoin": base_coin,
        "settleCoin": settle_coin,
        "startTime": start_time_ms,
        "endTime": end_time_ms,
        "execType": exec_type,
        "limit": _limit(limit, 100),
        "cursor": cursor,
    }
    return signed_get(PATH_EXECUTION_LIST, params, credentials, timestamp_ms, recv_window_ms)


def get_instruments_info(
    *,
    category: Category | str,
    symbol: str | None = None,
    status: str | None = None,
    base_coin: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> RestRequest:
    """``GET /v5/market/instruments-info``. Linear has more than 500 symbols: page with ``CursorPager``."""
    params = {
        "category": parse_category(category).value,
        "symbol": None if symbol is None else validate_symbol(symbol),
        "status": status,
        "baseCoin": base_coin,
        "limit": _limit(limit, 1000),
        "cursor": cursor,
    }
    return public_get(PATH_INSTRUMENTS_INFO, params)


def get_server_time() -> RestRequest:
    """``GET /v5/market/time``; with the send and receive times it gives a ``ClockSkew``."""
    return public_get(PATH_SERVER_TIME, {})


def get_klines(
    *,
    category: Category | str,
    symbol: str,
    interval: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int | None = None,
) -> RestRequest:
    """``GET /v5/market/kline`` (spot, linear, inverse): up to 1000 candles, newest first."""
    kind = parse_category(category)
    if kind is Category.OPTION:
        raise ValueError("klines exist for spot, linear and inverse only")
    params = {
        "category": kind.value,
        "symbol": validate_symbol(symbol),
        "interval": _interval(interval),
        "start": start_ms,
        "end": end_ms,
        "limit": _limit(limit, 1000),
    }
    return public_get(PATH_KLINE, params)


def get_recent_trades(
    *,
    category: Category | str,
    symbol: str | None = None,
    base_coin: str | None = None,
    option_type: str | None = None,
    limit: int | None = None,
) -> RestRequest:
    """``GET /v5/market/recent-trade``: the latest public trades (spot up to 60, others 1000)."""
    kind = parse_category(category)
    if kind is not Category.OPTION and symbol is None:
        raise ValueError(f"recent trades of {kind.value} need a symbol")
    if kind is not Category.OPTION and (base_coin is not None or option_type is not None):
        raise ValueError("base_coin and option_type apply to options only")
    params = {
        "category": kind.value,
        "symbol": None if symbol is None else validate_symbol(symbol),
        "baseCoin": base_coin,
        "optionType": option_type,
        "limit": _limit(limit, 60 if kind is Category.SPOT else 1000),
    }
    return public_get(PATH_RECENT_TRADE, params)


def _path(path: str) -> str:
    if type(path) is not str or not path.startswith("/v5/") or _QUERY_SAFE.fullmatch(path.replace("/", "")) is None:
        raise ValueError(f"invalid REST path {path!r}: expected '/v5/...' without query or special characters")
    return path


def _present(params: Mapping[str, object]) -> Iterable[tuple[str, object]]:
    """The parameters that are set, in order; a bad name is a caller bug."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping, got {type(params).__name__}")
    for key, value in params.items():
        if type(key) is not str or _PARAM_NAME.fullmatch(key) is None:
            raise ValueError(f"invalid parameter name {key!r}")
        if value is not None:
            yield key, value


def _query(params: Mapping[str, object]) -> str:
    return "&".join(f"{key}={_query_value(key, value)}" for key, value in _present(params))


def _query_value(key: str, value: object) -> str:
    """A value exactly as it goes into the query; anything that would need URL-encoding is refused.

    Encoding it here would break paging (a cursor comes percent-encoded and must go back so),
    and leaving the encoding to the HTTP client would change the bytes after they were signed.
    """
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool | float):
        raise TypeError(f"query parameter {key} must not be a {type(value).__name__}: {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return decimal_text(value, field=key)
    if isinstance(value, str):
        if _QUERY_SAFE.fullmatch(value) is None:
            raise ValueError(
                f"query parameter {key}={value!r} holds characters that would need URL-encoding "
                "(letters, digits, '-', '_', '.', '~' and %XX escapes only)"
            )
        return value
    raise TypeError(f"query parameter {key} must be str, int or Decimal, got {type(value).__name__} {value!r}")


def _body_value(key: str, value: object) -> object:
    """A JSON body value: text, int, bool, or a Decimal written as a plain string; lists and objects nest."""
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, str | int):  # bool is an int
        return value
    if isinstance(value, Decimal):
        return decimal_text(value, field=key)
    if isinstance(value, list | tuple):
        return [_body_value(key, item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _body_value(str(k), v) for k, v in value.items()}
    raise TypeError(f"body parameter {key} must be str, int, bool or Decimal, got {type(value).__name__} {value!r}")


def _auth_headers(credentials: Credentials, timestamp_ms: int, recv_window_ms: int, payload: str) -> dict[str, str]:
    if not isinstance(credentials, Credentials):
        raise TypeError(f"credentials must be Credentials, got {type(credentials).__name__}")
    signature = rest_signature(credentials.api_secret, timestamp_ms, credentials.api_key, recv_window_ms, payload)
    return {
        "X-BAPI-API-KEY": credentials.api_key,
        "X-BAPI-TIMESTAMP": str(timestamp_ms),
        "X-BAPI-SIGN": signature,
        "X-BAPI-RECV-WINDOW": str(recv_window_ms),
    }


def _limit(limit: int | None, maximum: int) -> int | None:
    """Page size, checked here: Bybit answers an out-of-range limit with 10001 after it cost a request."""
    if limit is None:
        return None
    if type(limit) is not int or not 1 <= limit <= maximum:
        raise ValueError(f"limit must be an int from 1 to {maximum}, got {limit!r}")
    return limit


def _flag(name: str, value: object) -> bool:
    if type(value) is not bool:
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def _window(start_ms: int | None, end_ms: int | None) -> None:
    for name, value in (("start_time_ms", start_ms), ("end_time_ms", end_ms)):
        if value is not None and (type(value) is not int or value <= 0):
            raise ValueError(f"{name} must be a positive int (epoch ms), got {value!r}")
    if start_ms is not None and end_ms is not None and not 0 <= end_ms - start_ms <= _MAX_QUERY_WINDOW_MS:
        raise ValueError(f"end_time_ms - start_time_ms must be from 0 to 7 days, got {end_ms - start_ms} ms")


def _interval(interval: str) -> str:
    if interval not in KLINE_INTERVALS:
        raise ValueError(f"unknown kline interval {interval!r}; expected one of {list(KLINE_INTERVALS)}")
    return interval


# -- responses --------------------------------------------------------------------------------------


class RestError(ValueError):
    """A body that is not a readable Bybit v5 answer, or a result without what its endpoint promises.

    The one error type out of this module's parsers (never a bare KeyError). A Bybit *error
    answer* is not one: it parses into a ``RestResponse`` whose ``action`` says what to do.
    """


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Bybit's per-UID, per-endpoint budget from the ``X-Bapi-Limit*`` headers (None when absent).

    ``reset_ms`` is when the budget refills if it was exceeded, otherwise roughly now.
    """

    limit: int | None = None
    remaining: int | None = None
    reset_ms: int | None = None


class ErrorAction(StrEnum):
    """What the REST driver does with an answer (bybit_v5.md §9; Bybit's error-code page).

    Whether the request took effect: it did not for RETRY_AFTER_RESET, BACKOFF, IP_BANNED,
    RESYNC_CLOCK, REJECTED, INSUFFICIENT_FUNDS and FATAL; it is unknown for RECONCILE; for
    QUERY_ORDER and DUPLICATE the order exists or existed and must be read, never re-sent.
    """

    OK = "ok"
    RETRY_AFTER_RESET = "retry_after_reset"
    """10006, per-UID rate limit: pause this endpoint until ``rate_limit.reset_ms``, then re-send (re-signed)."""
    BACKOFF = "backoff"
    """429/10429 system protection, 110079 order being processed, 30035: back off briefly, then retry."""
    IP_BANNED = "ip_banned"
    """HTTP 403 (IP rate limit, or a forbidden region): stop all REST traffic for at least 10 minutes."""
    RESYNC_CLOCK = "resync_clock"
    """10002 timestamp outside the window: re-measure ``ClockSkew``, rebuild with a fresh timestamp, retry once."""
    RECONCILE = "reconcile"
    """10000/10016/HTTP 5xx/spot 1700xx timeouts: outcome unknown; query by orderLinkId before any retry."""
    QUERY_ORDER = "query_order"
    """110001/110008/110010/1701xx: the order is not open (unknown, filled or cancelled): read its real state."""
    DUPLICATE = "duplicate"
    """110072/170141/10014: an earlier submission with this id exists: query it, never re-send."""
    INSUFFICIENT_FUNDS = "insufficient_funds"
    """110004/110007/110012/110044/110045/170131: reject the order, refresh the wallet, no retry."""
    REJECTED = "rejected"
    """10001 and business refusals (price band, qty step, notional...), and unknown codes: do not re-send as is."""
    FATAL = "fatal"
    """10003/10004/10005/10010..., HTTP 401/404: key, signature, permission or route wrong: stop trading."""

    @property
    def retryable(self) -> bool:
        """The same request may be sent again (re-signed) once the action's wait is over."""
        return self in _RETRYABLE


_RETRYABLE: Final = frozenset({ErrorAction.RETRY_AFTER_RESET, ErrorAction.BACKOFF, ErrorAction.RESYNC_CLOCK})

_ACTIONS: Final[Mapping[int, ErrorAction]] = {
    0: ErrorAction.OK,
    # rate limits and load
    10006: ErrorAction.RETRY_AFTER_RESET,
    429: ErrorAction.BACKOFF,
    10429: ErrorAction.BACKOFF,
    110079: ErrorAction.BACKOFF,
    30035: ErrorAction.BACKOFF,
    170005: ErrorAction.BACKOFF,
    170222: ErrorAction.BACKOFF,
    10018: ErrorAction.IP_BANNED,
    10403: ErrorAction.IP_BANNED,
    # clock
    10002: ErrorAction.RESYNC_CLOCK,
    -1: ErrorAction.RESYNC_CLOCK,
    # outcome unknown
    10000: ErrorAction.RECONCILE,
    10016: ErrorAction.RECONCILE,
    170001: ErrorAction.RECONCILE,
    170007: ErrorAction.RECONCILE,
    170032: ErrorAction.RECONCILE,
    170146: ErrorAction.RECONCILE,
    170147: ErrorAction.RECONCILE,
    # the order is not open
    110001: ErrorAction.QUERY_ORDER,
    110008: ErrorAction.QUERY_ORDER,
    110010: ErrorAction.QUERY_ORDER,
    170143: ErrorAction.QUERY_ORDER,
    170213: ErrorAction.QUERY_ORDER,
    170142: ErrorAction.QUERY_ORDER,
    170139: ErrorAction.QUERY_ORDER,
    # already submitted
    110072: ErrorAction.DUPLICATE,
    170141: ErrorAction.DUPLICATE,
    10014: ErrorAction.DUPLICATE,
    # money
    110004: ErrorAction.INSUFFICIENT_FUNDS,
    110007: ErrorAction.INSUFFICIENT_FUNDS,
    110012: ErrorAction.INSUFFICIENT_FUNDS,
    110044: ErrorAction.INSUFFICIENT_FUNDS,
    110045: ErrorAction.INSUFFICIENT_FUNDS,
    170131: ErrorAction.INSUFFICIENT_FUNDS,
    # configuration: a human must fix it
    10003: ErrorAction.FATAL,
    10004: ErrorAction.FATAL,
    10005: ErrorAction.FATAL,
    10007: ErrorAction.FATAL,
    10008: ErrorAction.FATAL,
    10009: ErrorAction.FATAL,
    10010: ErrorAction.FATAL,
    10017: ErrorAction.FATAL,
    10024: ErrorAction.FATAL,
    10027: ErrorAction.FATAL,
    10028: ErrorAction.FATAL,
    -2015: ErrorAction.FATAL,
    33004: ErrorAction.FATAL,
}
"""retCode -> action. Codes not listed (10001, 110003, 110017, 110094, 170136, ...) are REJECTED."""

_HTTP_ACTIONS: Final[Mapping[int, ErrorAction]] = {
    400: ErrorAction.FATAL,  # wrong method or a body on a GET: our bug
    401: ErrorAction.FATAL,  # wrong key, or auth headers missing
    403: ErrorAction.IP_BANNED,
    404: ErrorAction.FATAL,  # wrong path, or a category the account mode does not have
    429: ErrorAction.BACKOFF,
}


def classify(http_status: int, ret_code: int | None) -> ErrorAction:
    """The action for an answer. The HTTP status wins: a 403 is an IP ban whatever the body says."""
    if http_status != 200:
        if http_status >= 500:
            return ErrorAction.RECONCILE
        return _HTTP_ACTIONS.get(http_status, ErrorAction.RECONCILE if ret_code is None else _code_action(ret_code))
    if ret_code is None:
        raise RestError("HTTP 200 without a retCode cannot be classified")
    return _code_action(ret_code)


def _code_action(ret_code: int) -> ErrorAction:
    return _ACTIONS.get(ret_code, ErrorAction.REJECTED)


@dataclass(frozen=True, slots=True)
class RestResponse:
    """Bybit's envelope, read. ``ret_code`` is None only for a non-200 answer without one (a ban page).

    Success is ``ok``, never ``ret_msg``: Bybit says "OK", "success", "SUCCESS" or "".
    ``time_ms`` is Bybit's clock when it answered; any response can refine a ``ClockSkew``.
    """

    http_status: int
    ret_code: int | None
    ret_msg: str
    result: Mapping[str, Any]
    ret_ext_info: Mapping[str, Any]
    time_ms: int | None
    rate_limit: RateLimit

    @property
    def ok(self) -> bool:
        return self.http_status == 200 and self.ret_code == 0

    @property
    def action(self) -> ErrorAction:
        return classify(self.http_status, self.ret_code)

    def require_ok(self, what: str) -> None:
        """Refuse to read ``what`` out of an error answer (the caller should have looked at ``action``)."""
        if not self.ok:
            raise RestError(
                f"cannot read {what} from an error answer: HTTP {self.http_status}, "
                f"retCode {self.ret_code}, {self.ret_msg!r}"
            )


def parse_response(status: int, headers: Mapping[str, str], body: bytes | str) -> RestResponse:
    """Read one HTTP answer. ``RestError`` if a 200 answer's body is not a Bybit envelope.

    A non-200 answer need not have one (a 403 ban is an HTML page or plain text): it is read
    as far as possible and classified by its status.
    """
    if type(status) is not int:
        raise TypeError(f"status must be an int, got {type(status).__name__}")
    rate_limit = _rate_limit(headers)
    try:
        envelope = orjson.loads(body)
    except (orjson.JSONDecodeError, TypeError) as exc:
        if status != 200:
            return _bare(status, body, rate_limit)
        raise RestError(f"HTTP 200 with a body that is not JSON: {exc}; body {_preview(body)}") from exc
    if type(envelope) is not dict or "retCode" not in envelope:
        if status != 200:
            return _bare(status, body, rate_limit)
        raise RestError(f"not a Bybit v5 envelope (no retCode): {_preview(body)}")
    return RestResponse(
        http_status=status,
        ret_code=_envelope_int(envelope, "retCode"),
        ret_msg=_envelope_text(envelope, "retMsg"),
        result=_envelope_object(envelope, "result"),
        ret_ext_info=_envelope_object(envelope, "retExtInfo"),
        time_ms=None if envelope.get("time") is None else _envelope_int(envelope, "time"),
        rate_limit=rate_limit,
    )


def _bare(status: int, body: bytes | str, rate_limit: RateLimit) -> RestResponse:
    return RestResponse(
        http_status=status,
        ret_code=None,
        ret_msg=_preview(body),
        result={},
        ret_ext_info={},
        time_ms=None,
        rate_limit=rate_limit,
    )


def _envelope_int(envelope: dict[str, Any], key: str) -> int:
    """An integer field; a numeric string is accepted too (ccxt's recordings store them so)."""
    value = envelope.get(key)
    if type(value) is int:
        return value
    if type(value) is str and _INTEGER.fullmatch(value):
        return int(value)
    raise RestError(f"envelope field {key} must be an integer, got {value!r}")


def _envelope_text(envelope: dict[str, Any], key: str) -> str:
    value = envelope.get(key, "")
    if value is None:
        return ""
    if type(value) is not str:
        raise RestError(f"envelope field {key} must be a string, got {value!r}")
    return value


def _envelope_object(envelope: dict[str, Any], key: str) -> Mapping[str, Any]:
    """An object field; absent, null and the empty list some error answers carry all read as {}."""
    value = envelope.get(key)
    if value is None or value == []:
        return {}
    if type(value) is not dict:
        raise RestError(f"envelope field {key} must be an object, got {_preview(repr(value))}")
    return value


def _rate_limit(headers: Mapping[str, str]) -> RateLimit:
    """The budget headers, looked up case-insensitively; an unreadable value counts as absent.

    They are advice for the client-side limiter: a garbled one must not turn a successful
    order ack into an error.
    """
    if not isinstance(headers, Mapping):
        raise TypeError(f"headers must be a mapping, got {type(headers).__name__}")
    lowered = {str(key).lower(): value for key, value in headers.items()}

    def read(name: str) -> int | None:
        value = lowered.get(name)
        return int(value) if type(value) is str and value.strip().isdigit() else None

    return RateLimit(
        limit=read("x-bapi-limit"),
        remaining=read("x-bapi-limit-status"),
        reset_ms=read("x-bapi-limit-reset-timestamp"),
    )


def _preview(body: object, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else str(body)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True, slots=True)
class OrderAck:
    """Bybit's acknowledgement of an order request: accepted for processing, nothing more."""

    order_id: str
    order_link_id: str


def order_ack(response: RestResponse) -> OrderAck:
    """The ids in a create/amend/cancel answer."""
    response.require_ok("an order ack")
    return _ack(response.result, "result")


def cancel_all_acks(response: RestResponse) -> tuple[OrderAck, ...]:
    """The orders a cancel-all answer names; empty when nothing was left to cancel."""
    response.require_ok("a cancel-all answer")
    records = response.result.get("list") or []
    if type(records) is not list:
        raise RestError(f"cancel-all result.list must be a list, got {_preview(repr(records))}")
    return tuple(_ack(record, f"result.list[{n}]") for n, record in enumerate(records))


def _ack(record: object, where: str) -> OrderAck:
    if not isinstance(record, Mapping):
        raise RestError(f"{where} must be an object, got {_preview(repr(record))}")
    order_id, link_id = record.get("orderId"), record.get("orderLinkId", "")
    if type(order_id) is not str or not order_id or type(link_id) is not str:
        raise RestError(f"{where} lacks orderId/orderLinkId strings: {_preview(repr(record))}")
    return OrderAck(order_id=order_id, order_link_id=link_id)


# -- pages and events -------------------------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a cursor-paged list.

    ``next_cursor`` is None on the last page (Bybit sends "" or null). ``records`` counts what
    the page held, including records that are not ``items`` (non-fill executions), so that a
    page of only those does not look like the end.
    """

    items: tuple[T, ...]
    next_cursor: str | None
    category: str
    records: int


class CursorPager:
    """Walks a cursor-paged endpoint with no I/O: the driver asks, sends, reads, and ``advance`` s.

    ::

        pager = CursorPager()
        while not pager.done:
            request = get_instruments_info(category="linear", limit=1000, cursor=pager.cursor)
            page = instruments_page(parse_response(*await send(request)))
            pager.advance(page)

    It stops on the last page, on an empty page, on a cursor it has already followed (Bybit
    repeating itself would otherwise loop forever) and after ``max_pages`` (then ``truncated``).
    """

    def __init__(self, *, max_pages: int = 1000) -> None:
        if type(max_pages) is not int or max_pages < 1:
            raise ValueError(f"max_pages must be a positive int, got {max_pages!r}")
        self.max_pages = max_pages
        self.cursor: str | None = None
        self.pages = 0
        self.done = False
        self.truncated = False
        self._seen: set[str] = set()

    def advance(self, page: Page[Any]) -> bool:
        """Take in the page just read; True if there is another one to fetch (at ``cursor``)."""
        if self.done:
            raise RuntimeError("CursorPager.advance after the last page")
        self.pages += 1
        following = page.next_cursor
        if following is None or page.records == 0 or following in self._seen:
            self.done = True
        elif self.pages >= self.max_pages:
            self.done = self.truncated = True
        else:
            self._seen.add(following)
            self.cursor = following
        return not self.done


def order_updates_page(response: RestResponse, ts_recv_ns: int, *, category: str = "") -> Page[OrderUpdated]:
    """``/v5/order/realtime`` or ``/v5/order/history`` -> ``OrderUpdated`` (``recovered=True``), in Bybit's order.

    ``category`` (what was asked for) fills in when neither the records nor the result name one.
    """
    records, cursor, page_category = _list_page(response, "an order page", category)
    items = []
    for n, record in enumerate(records):
        try:
            items.append(
                order_update_from_record(
                    _record(n, record),
                    ts_recv_ns,
                    category=page_category,
                    fallback_time_ms=response.time_ms,
                    recovered=True,
                )
            )
        except FrameError as exc:
            raise RestError(f"result.list[{n}]: {exc}") from exc
    return Page(items=tuple(items), next_cursor=cursor, category=page_category, records=len(records))


def fills_page(response: RestResponse, ts_recv_ns: int, *, category: str = "") -> Page[OrderFilled]:
    """``/v5/execution/list`` -> ``OrderFilled`` (``recovered=True``) for the fills of our orders.

    Funding, ADL, delivery and other non-fill executions are read (a bad one still raises) but
    left out of ``items``; ``records`` still counts them.
    """
    records, cursor, page_category = _list_page(response, "an execution page", category)
    items = []
    for n, record in enumerate(records):
        try:
            event = execution_from_record(_record(n, record), ts_recv_ns, category=page_category, recovered=True)
        except FrameError as exc:
            raise RestError(f"result.list[{n}]: {exc}") from exc
        if isinstance(event, OrderFilled):
            items.append(event)
    return Page(items=tuple(items), next_cursor=cursor, category=page_category, records=len(records))


def instruments_page(response: RestResponse) -> Page[Instrument]:
    """``/v5/market/instruments-info`` -> the page's ``Instrument`` s (rules read by ``parse_instruments_info``)."""
    records, cursor, page_category = _list_page(response, "an instruments page", "")
    try:
        instruments = parse_instruments_info({"retCode": 0, "result": response.result})
    except InstrumentsError as exc:
        raise RestError(f"instruments page: {exc}") from exc
    return Page(items=tuple(instruments.values()), next_cursor=cursor, category=page_category, records=len(records))


def merge_instruments(pages: Iterable[Page[Instrument]]) -> dict[str, Instrument]:
    """Symbol -> Instrument over all pages; a symbol seen twice keeps its latest rules."""
    return {instrument.symbol: instrument for page in pages for instrument in page.items}


def klines_from_response(response: RestResponse, ts_recv_ns: int, *, interval: str) -> list[KlineUpdated]:
    """``/v5/market/kline`` -> ``KlineUpdated``, oldest first (Bybit sends newest first).

    The answer names neither the interval (pass what was asked for) nor the candles' ends
    (computed: start + interval - 1 ms, calendar months for "M"). A candle is ``confirmed``
    once Bybit's clock at answer time is past its end; the newest one usually is not.
    """
    response.require_ok("klines")
    _interval(interval)
    if response.time_ms is None:
        raise RestError("kline answer without time: cannot tell closed candles from the open one")
    symbol = response.result.get("symbol")
    rows = response.result.get("list")
    if type(symbol) is not str or not symbol or type(rows) is not list:
        raise RestError("kline answer without result.symbol and result.list")
    events = []
    for n, row in enumerate(rows):
        if type(row) is not list or len(row) < 7:
            raise RestError(f"result.list[{n}]: a candle is a list of 7 strings, got {_preview(repr(row))}")
        try:
            start_ms = _ms(row[0])
            end_ms = _candle_end_ms(start_ms, interval)
            events.append(
                KlineUpdated(
                    ts_event_ns=response.time_ms * NS_PER_MS,
                    ts_recv_ns=ts_recv_ns,
                    symbol=symbol,
                    interval=interval,
                    start_ms=start_ms,
                    end_ms=end_ms,
                    open=_dec(row[1]),
                    high=_dec(row[2]),
                    low=_dec(row[3]),
                    close=_dec(row[4]),
                    volume=_dec(row[5]),
                    turnover=_dec(row[6]),
                    confirmed=response.time_ms > end_ms,
                )
            )
        except (FrameError, ArithmeticError, ValueError) as exc:
            raise RestError(f"result.list[{n}]: {exc}") from exc
    events.reverse()  # newest-first -> oldest-first; the stable sort below only repairs disorder
    events.sort(key=lambda event: event.start_ms)
    return events


def trades_from_response(response: RestResponse, ts_recv_ns: int) -> list[TradePrinted]:
    """``/v5/market/recent-trade`` -> ``TradePrinted``, oldest first (Bybit sends newest first).

    The fields are the stream's under other names (``size`` for ``v``, ``time`` for ``T``...);
    REST has no tick direction, so ``tick_direction`` is "".
    """
    records, _, _ = _list_page(response, "recent trades", "")
    events = []
    for n, raw in enumerate(records):
        record = _record(n, raw)
        try:
            side = _SIDES.get(record["side"])
            if side is None:
                raise FrameError(f"unknown side {record['side']!r}")
            events.append(
                TradePrinted(
                    ts_event_ns=_ms(record["time"]) * NS_PER_MS,
                    ts_recv_ns=ts_recv_ns,
                    symbol=_text(record["symbol"]),
                    trade_id=_text(record["execId"]),
                    price=_dec(record["price"]),
                    qty=_dec(record["size"]),
                    taker_side=side,
                    is_block_trade=_bool(record.get("isBlockTrade", False)),
                    is_rpi=_bool(record.get("isRPITrade", False)),
                    seq=_opt_int(record.get("seq")) or 0,
                )
            )
        except (FrameError, KeyError, TypeError, ArithmeticError, ValueError) as exc:
            problem = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise RestError(f"result.list[{n}]: {problem}") from exc
    events.reverse()
    events.sort(key=lambda event: event.ts_event_ns)
    return events


def _list_page(response: RestResponse, what: str, category: str) -> tuple[list[Any], str | None, str]:
    """``result.list``, the next cursor (None at the end) and the category of a successful answer."""
    response.require_ok(what)
    result = response.result
    records = result.get("list")
    if type(records) is not list:
        raise RestError(f"{what}: result.list must be a list, got {_preview(repr(records))}")
    cursor = result.get("nextPageCursor")
    if cursor is not None and type(cursor) is not str:
        raise RestError(f"{what}: result.nextPageCursor must be a string, got {cursor!r}")
    page_category = result.get("category") or category
    if type(page_category) is not str:
        raise RestError(f"{what}: result.category must be a string, got {page_category!r}")
    return records, cursor or None, page_category


def _record(n: int, record: object) -> Mapping[str, Any]:
    if not isinstance(record, Mapping):
        raise RestError(f"result.list[{n}] must be an object, got {_preview(repr(record))}")
    return record


def _candle_end_ms(start_ms: int, interval: str) -> int:
    """Last millisecond of the candle starting at ``start_ms`` (Bybit's ``end`` on the stream)."""
    fixed = _FIXED_INTERVALS_MS.get(interval)
    if fixed is not None:
        return start_ms + fixed - 1
    start = _EPOCH + timedelta(milliseconds=start_ms)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000 - 1


# -- clock ------------------------------------------------------------------------------------------


def parse_server_time(response: RestResponse) -> int:
    """Bybit's clock (epoch ms) from a ``/v5/market/time`` answer: ``timeNano``, else ``timeSecond``, else ``time``."""
    response.require_ok("the server time")
    result = response.result
    nano, second = result.get("timeNano"), result.get("timeSecond")
    if type(nano) is str and nano.isdigit():
        return int(nano) // 1_000_000
    if type(second) is str and second.isdigit():
        return int(second) * 1000
    if response.time_ms is not None:
        return response.time_ms
    raise RestError(f"server time answer without timeNano, timeSecond or time: {_preview(repr(result))}")


@dataclass(frozen=True, slots=True)
class ClockSkew:
    """How far Bybit's clock is from ours, measured NTP-style from one request's round trip.

    Bybit stamped its time somewhere between our send and our receive, so the offset (server
    minus local) lies within ``offset_ms ± uncertainty_ms``. Bybit accepts a request timestamp
    from ``server - recv_window`` up to, but not including, ``server + 1000``: being late is
    cheap and being early is fatal, so ``signing_timestamp_ms`` takes the earliest the server
    clock can be. Keep the measurement with the smallest round trip (``better``).
    """

    offset_ms: int
    round_trip_ms: int

    @classmethod
    def measure(cls, local_send_ms: int, local_recv_ms: int, server_ms: int) -> ClockSkew:
        """From one exchange: our clock when the request left and when the answer came, and Bybit's."""
        for name, value in (
            ("local_send_ms", local_send_ms),
            ("local_recv_ms", local_recv_ms),
            ("server_ms", server_ms),
        ):
            if type(value) is not int or value <= 0:
                raise ValueError(f"{name} must be a positive int (epoch ms), got {value!r}")
        if local_recv_ms < local_send_ms:
            raise ValueError(f"received ({local_recv_ms}) before sent ({local_send_ms}): local clock stepped back")
        return cls(
            offset_ms=server_ms - (local_send_ms + local_recv_ms) // 2, round_trip_ms=local_recv_ms - local_send_ms
        )

    @property
    def uncertainty_ms(self) -> int:
        """Half the round trip, rounded up: how far the true offset may be from ``offset_ms``."""
        return (self.round_trip_ms + 1) // 2

    def server_now_ms(self, local_ms: int) -> int:
        """Best estimate of Bybit's clock when ours reads ``local_ms``."""
        return local_ms + self.offset_ms

    def signing_timestamp_ms(self, local_ms: int) -> int:
        """``X-BAPI-TIMESTAMP`` for a request signed when our clock reads ``local_ms``: never ahead of Bybit's."""
        return local_ms + self.offset_ms - self.uncertainty_ms

    def better(self, other: ClockSkew) -> ClockSkew:
        """The tighter of two measurements (smaller round trip; ``self`` on a tie)."""
        return other if other.round_trip_ms < self.round_trip_ms else self
