"""Bybit v5 websocket frames out: subscribe, ping, auth and trade-API orders as JSON bytes. No I/O, no clock.

Every builder validates before it serialises, because on this side a mistake is not a dropped
frame but an order: a float quantity that prints as ``1e-05``, a price on a market order, an
``orderLinkId`` Bybit will reject after the strategy has counted the order as sent. Prices and
quantities therefore only enter as ``str`` or ``Decimal`` and always leave as plain decimal
strings. Timestamps are arguments, so frames are reproducible byte for byte.

``parse_request`` is the inverse, for the local fake exchange the connection tests talk to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import orjson

from engine.enums import OrderType, Side, TimeInForce
from feeds.bybit.auth import Credentials, ws_auth_signature
from feeds.bybit.topics import Category, parse_category, validate_symbol

__all__ = [
    "PRIVATE",
    "SPOT_MAX_ARGS_PER_REQUEST",
    "MAX_ARGS_JSON_CHARS",
    "MAX_ID_LENGTH",
    "DEFAULT_RECV_WINDOW_MS",
    "subscribe",
    "unsubscribe",
    "ping",
    "auth",
    "order_create",
    "order_amend",
    "order_cancel",
    "decimal_text",
    "ClientRequest",
    "RequestError",
    "parse_request",
]

PRIVATE: Final = "private"
"""``category`` value for subscriptions on the private stream."""

SPOT_MAX_ARGS_PER_REQUEST: Final = 10
"""Spot rejects a subscribe with more args ("args size >10")."""

MAX_ARGS_JSON_CHARS: Final = 21_000
"""Bybit's cap on the JSON ``args`` array of a public connection; no frame we build exceeds it."""

MAX_ID_LENGTH: Final = 36
"""Longest ``reqId`` and ``orderLinkId`` Bybit accepts."""

DEFAULT_RECV_WINDOW_MS: Final = 5000

Number = str | Decimal
"""How prices and quantities enter: never float (inexact), never int (too easy to confuse with a float)."""

_PLAIN_DECIMAL: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_ORDER_LINK_ID: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}")
_TIME_IN_FORCE: Final = frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.POST_ONLY})
_DECIMAL_FIELDS: Final = frozenset(
    {
        "qty",
        "price",
        "triggerPrice",
        "takeProfit",
        "stopLoss",
        "tpLimitPrice",
        "slLimitPrice",
        "orderIv",
        "slippageTolerance",
    }
)
"""Order parameters Bybit reads as decimal strings; in ``extra`` they get the qty/price rules too."""

_Params = dict[str, object]


# -- subscriptions -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SubscribeLimits:
    max_args: int | None
    max_args_chars: int


_SPOT_LIMITS: Final = _SubscribeLimits(max_args=SPOT_MAX_ARGS_PER_REQUEST, max_args_chars=MAX_ARGS_JSON_CHARS)
_OTHER_LIMITS: Final = _SubscribeLimits(max_args=None, max_args_chars=MAX_ARGS_JSON_CHARS)


def subscribe(topics: Iterable[str], *, req_id_prefix: str, category: Category | str) -> list[bytes]:
    """Subscribe frames for ``topics``, in order, chunked to Bybit's per-request limits.

    ``category`` is the stream: a ``Category`` for a public connection or ``PRIVATE``. Chunk
    ``n`` (from 1) has ``req_id`` ``f"{req_id_prefix}-{n}"``: a failed ack may have subscribed
    none of its args, so every ack must be matched to the topics it covers.
    """
    return _subscription_frames("subscribe", topics, req_id_prefix, category)


def unsubscribe(topics: Iterable[str], *, req_id_prefix: str, category: Category | str) -> list[bytes]:
    """Unsubscribe frames, chunked and identified exactly like ``subscribe``."""
    return _subscription_frames("unsubscribe", topics, req_id_prefix, category)


def _subscription_frames(op: str, topics: Iterable[str], prefix: str, category: Category | str) -> list[bytes]:
    is_private = category == PRIVATE
    limits = _OTHER_LIMITS if is_private or parse_category(category) is not Category.SPOT else _SPOT_LIMITS
    names = _checked_topics(topics)
    if is_private:
        _reject_mixed_private_scopes(names)
    _require_id("req_id_prefix", prefix, max_length=None)
    chunks = _chunk_topics(names, limits)
    return [orjson.dumps({"req_id": f"{prefix}-{n}", "op": op, "args": args}) for n, args in enumerate(chunks, 1)]


def _checked_topics(topics: Iterable[str]) -> list[str]:
    """The topics as a list; a bare string, a blank or a repeated topic is a caller bug."""
    if isinstance(topics, str | bytes):
        raise TypeError("topics must be a collection of topic names, not a single string")
    names = list(topics)
    for name in names:
        if type(name) is not str or not name or name != name.strip():
            raise ValueError(f"invalid topic {name!r}: expected a non-empty name without spaces around it")
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"duplicate topics in one request: {repeated}")
    return names


def _reject_mixed_private_scopes(names: list[str]) -> None:
    """Bybit refuses an all-in-one private topic ("order") with a categorised one ("order.linear")."""
    present = set(names)
    categories = {c.value for c in Category}
    for name in names:
        base, _, suffix = name.rpartition(".")
        if suffix in categories and base in present:
            raise ValueError(
                f"private topics {base!r} and {name!r} cannot be in the same request: "
                "use either the all-in-one topic or the categorised ones"
            )


def _chunk_topics(names: list[str], limits: _SubscribeLimits) -> list[list[str]]:
    """Greedy, order-preserving split so that no chunk breaks the arg-count or JSON-size limit.

    Size is measured on the serialised array (brackets, quotes, commas, UTF-8 bytes), which is
    never smaller than the character count Bybit limits, so the check errs on the safe side.
    """
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 2  # "[]"
    for name in names:
        item = len(orjson.dumps(name))
        if 2 + item > limits.max_args_chars:
            raise ValueError(f"topic {name[:60]!r}... alone exceeds {limits.max_args_chars} characters")
        full = limits.max_args is not None and len(current) == limits.max_args
        if current and (full or size + 1 + item > limits.max_args_chars):
            chunks.append(current)
            current, size = [], 2
        size += item + (1 if current else 0)
        current.append(name)
    if current:
        chunks.append(current)
    return chunks


# -- session -----------------------------------------------------------------------------------------------


def ping(req_id: str | None = None) -> bytes:
    """Application-level heartbeat; Bybit asks for one every 20 s on every stream."""
    if req_id is None:
        return orjson.dumps({"op": "ping"})
    return orjson.dumps({"req_id": _require_id("req_id", req_id, max_length=None), "op": "ping"})


def auth(credentials: Credentials, expires_ms: int, req_id: str | None = None) -> bytes:
    """``op: auth`` for the private and trade streams. ``expires_ms`` is a future epoch-ms deadline.

    The expiry travels as a JSON integer, exactly the value that was signed.
    """
    if not isinstance(credentials, Credentials):
        raise TypeError(f"credentials must be Credentials, got {type(credentials).__name__}")
    signature = ws_auth_signature(credentials.api_secret, expires_ms)
    frame: _Params = {"op": "auth", "args": [credentials.api_key, expires_ms, signature]}
    if req_id is not None:
        frame = {"req_id": _require_id("req_id", req_id, max_length=None), **frame}
    return orjson.dumps(frame)


# -- trade API -------------------------------------------------------------------------------------------


def order_create(
    req_id: str,
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
) -> bytes:
    """``order.create`` frame. A Limit order needs a price; a Market order must not carry one.

    ``extra`` holds further Bybit parameters by their wire names (``positionIdx``,
    ``marketUnit``, ``triggerPrice``, ...); it cannot override the named arguments.
    """
    kind = _order_type(order_type)
    if kind is OrderType.LIMIT and price is None:
        raise ValueError("a Limit order needs a price")
    if kind is OrderType.MARKET and price is not None:
        raise ValueError("a Market order must not carry a price: Bybit ignores it, so the caller is confused")
    params: _Params = {
        "category": parse_category(category).value,
        "symbol": validate_symbol(symbol),
        "side": _side(side),
        "orderType": kind.value,
        "qty": decimal_text(qty, field="qty"),
        "price": None if price is None else decimal_text(price, field="price"),
        "timeInForce": None if time_in_force is None else _time_in_force(time_in_force),
        "orderLinkId": _order_link_id(order_link_id),
        "reduceOnly": _optional_bool("reduce_only", reduce_only),
    }
    return _trade_frame(
        "order.create",
        req_id,
        timestamp_ms=timestamp_ms,
        recv_window_ms=recv_window_ms,
        params=params,
        extra=extra,
    )


def order_amend(
    req_id: str,
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
) -> bytes:
    """``order.amend`` of one order named by exactly one of ``order_id``/``order_link_id``.

    ``qty`` is the new *total* quantity. An amend that changes nothing is refused: Bybit would
    reject it anyway, after it had cost a request from the rate limit.
    """
    changes = [qty, price, *(extra or {}).values()]
    if all(value is None for value in changes):
        raise ValueError("order_amend needs at least one change (qty, price or an extra field)")
    params: _Params = {
        "category": parse_category(category).value,
        "symbol": validate_symbol(symbol),
        **_order_ref(order_id, order_link_id),
        "qty": None if qty is None else decimal_text(qty, field="qty"),
        "price": None if price is None else decimal_text(price, field="price"),
    }
    return _trade_frame(
        "order.amend",
        req_id,
        timestamp_ms=timestamp_ms,
        recv_window_ms=recv_window_ms,
        params=params,
        extra=extra,
    )


def order_cancel(
    req_id: str,
    timestamp_ms: int,
    *,
    category: Category | str,
    symbol: str,
    order_id: str | None = None,
    order_link_id: str | None = None,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
    extra: Mapping[str, object] | None = None,
) -> bytes:
    """``order.cancel`` of one order named by exactly one of ``order_id``/``order_link_id``.

    ``extra`` is for the rare extra parameter, e.g. spot ``orderFilter`` for a TP/SL order.
    """
    params: _Params = {
        "category": parse_category(category).value,
        "symbol": validate_symbol(symbol),
        **_order_ref(order_id, order_link_id),
    }
    return _trade_frame(
        "order.cancel",
        req_id,
        timestamp_ms=timestamp_ms,
        recv_window_ms=recv_window_ms,
        params=params,
        extra=extra,
    )


def decimal_text(value: Number, *, field: str = "value") -> str:
    """``value`` as the plain, non-negative decimal string Bybit expects ("0.00000001", never "1E-8").

    Strings are passed through unchanged after a format check, so what the caller wrote is what
    is sent. Floats, ints and bools raise TypeError: a float has already lost the exact value,
    and accepting ints invites ``qty=0.5 if x else 1`` style code that sometimes sends a float.
    """
    return _decimal_text(value, field)


def _decimal_text(value: object, field: str) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite() or value.is_signed():
            raise ValueError(f"{field} must be a finite, non-negative number, got {value!r}")
        return format(value, "f")
    if type(value) is str:
        if _PLAIN_DECIMAL.fullmatch(value) is None:
            raise ValueError(f"{field} must be a plain non-negative decimal like '0.001', got {value!r}")
        return value
    raise TypeError(f"{field} must be str or decimal.Decimal, got {type(value).__name__} {value!r}")


def _trade_frame(
    op: str,
    req_id: str,
    *,
    timestamp_ms: int,
    recv_window_ms: int,
    params: _Params,
    extra: Mapping[str, object] | None,
) -> bytes:
    """The trade-API envelope around one order object; ``None`` parameters are left out."""
    merged = {**params, **_extra_params(extra, reserved=params.keys())}
    return orjson.dumps(
        {
            "reqId": _require_id("req_id", req_id, max_length=MAX_ID_LENGTH),
            "header": {
                "X-BAPI-TIMESTAMP": str(_positive_int("timestamp_ms", timestamp_ms)),
                "X-BAPI-RECV-WINDOW": str(_positive_int("recv_window_ms", recv_window_ms)),
            },
            "op": op,
            "args": [{key: value for key, value in merged.items() if value is not None}],
        }
    )


def _extra_params(extra: Mapping[str, object] | None, *, reserved: Iterable[str]) -> _Params:
    """Checked copy of ``extra``: decimals become strings, floats and unknown types are refused."""
    if extra is None:
        return {}
    clash = sorted(set(extra) & set(reserved))
    if clash:
        raise ValueError(f"extra must not set {clash}: pass them as named arguments")
    return {key: _extra_value(key, value) for key, value in extra.items()}


def _extra_value(key: str, value: object) -> object:
    if type(key) is not str or not key:
        raise ValueError(f"extra keys must be non-empty strings, got {key!r}")
    if value is None or (key not in _DECIMAL_FIELDS and type(value) in (str, int, bool)):
        return value
    if key in _DECIMAL_FIELDS or isinstance(value, Decimal):
        return _decimal_text(value, key)
    raise TypeError(f"extra[{key!r}] must be str, int, bool or Decimal, got {type(value).__name__} {value!r}")


def _order_ref(order_id: str | None, order_link_id: str | None) -> _Params:
    """Exactly one order reference. With both, Bybit silently prefers orderId; we refuse to guess."""
    if (order_id is None) == (order_link_id is None):
        raise ValueError("pass exactly one of order_id and order_link_id")
    if order_id is not None:
        return {"orderId": _require_id("order_id", order_id, max_length=None), "orderLinkId": None}
    return {"orderId": None, "orderLinkId": _order_link_id(order_link_id)}


def _side(side: Side | str) -> str:
    try:
        return Side(side).value
    except ValueError:
        raise ValueError(f"side must be 'Buy' or 'Sell', got {side!r}") from None


def _order_type(order_type: OrderType | str) -> OrderType:
    try:
        return OrderType(order_type)
    except ValueError:
        raise ValueError(f"order_type must be 'Market' or 'Limit', got {order_type!r}") from None


def _time_in_force(time_in_force: TimeInForce | str) -> str:
    allowed = sorted(t.value for t in _TIME_IN_FORCE)
    try:
        tif = TimeInForce(time_in_force)
    except ValueError:
        raise ValueError(f"time_in_force must be one of {allowed}, got {time_in_force!r}") from None
    if tif not in _TIME_IN_FORCE:
        raise ValueError(f"time_in_force must be one of {allowed}, got {time_in_force!r}")
    return tif.value


def _order_link_id(order_link_id: str | None) -> str:
    if type(order_link_id) is not str or _ORDER_LINK_ID.fullmatch(order_link_id) is None:
        raise ValueError(f"invalid order_link_id {order_link_id!r}: 1 to {MAX_ID_LENGTH} characters from [A-Za-z0-9_-]")
    return order_link_id


def _require_id(name: str, value: object, *, max_length: int | None) -> str:
    """Identifiers are printable ASCII, so "36 characters" means the same to us and to Bybit."""
    if type(value) is not str:
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value or not (value.isascii() and value.isprintable()) or value != value.strip():
        raise ValueError(f"invalid {name} {value!r}: expected printable ASCII, no surrounding spaces")
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"{name} {value!r} is longer than {max_length} characters")
    return value


def _positive_int(name: str, value: object) -> int:
    if type(value) is not int:
        raise TypeError(f"{name} must be an int (milliseconds), got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def _optional_bool(name: str, value: object) -> bool | None:
    if value is not None and type(value) is not bool:
        raise TypeError(f"{name} must be a bool or None, got {type(value).__name__}")
    return value


# -- the inverse: reading client requests (fake exchange) -------------------------------------------


class RequestError(ValueError):
    """A client frame that is not a well-formed Bybit request; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """One request as a server sees it. ``req_id`` is "" when the client sent none (Bybit's convention
    too: it echoes an empty ``req_id``); it is read from ``req_id`` or the trade API's ``reqId``.
    """

    op: str
    args: tuple[Any, ...]
    req_id: str = ""
    header: dict[str, str] = field(default_factory=dict)


def parse_request(raw: bytes | str) -> ClientRequest:
    """The request in one client frame, or ``RequestError``. Unknown keys are ignored, as Bybit does."""
    msg = _decode_object(raw)
    return ClientRequest(
        op=_request_op(msg),
        args=_request_args(msg),
        req_id=_request_id(msg),
        header=_request_header(msg),
    )


def _decode_object(raw: bytes | str) -> dict[str, Any]:
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"not valid JSON: {exc}") from exc
    except TypeError as exc:
        raise RequestError(f"not a text frame: {type(raw).__name__}") from exc
    if type(msg) is not dict:
        raise RequestError(f"not a JSON object: {type(msg).__name__}")
    return msg


def _request_op(msg: dict[str, Any]) -> str:
    op = msg.get("op")
    if type(op) is not str or not op:
        raise RequestError(f"missing or invalid op: {op!r}")
    return op


def _request_args(msg: dict[str, Any]) -> tuple[Any, ...]:
    """``args`` is optional (ping has none) but must be a list when present."""
    args = msg.get("args", [])
    if type(args) is not list:
        raise RequestError(f"args must be a list, got {type(args).__name__}")
    return tuple(args)


def _request_id(msg: dict[str, Any]) -> str:
    if "req_id" in msg and "reqId" in msg:
        raise RequestError("both req_id and reqId present: ambiguous request id")
    req_id = msg.get("req_id", msg.get("reqId", ""))
    if type(req_id) is not str:
        raise RequestError(f"request id must be a string, got {type(req_id).__name__}")
    return req_id


def _request_header(msg: dict[str, Any]) -> dict[str, str]:
    header = msg.get("header", {})
    if type(header) is not dict or not all(type(v) is str for v in header.values()):
        raise RequestError("header must be an object of string values")
    return header
