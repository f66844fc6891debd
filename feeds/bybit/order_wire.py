"""The one encoder from the engine's order commands to Bybit's wire form, and its inverse.

The engine's commands carry integers (ticks and lots of the symbol's ``Instrument``); Bybit wants
exact decimal strings. ``encode_order`` is the only place where one becomes the other: the live
gateway sends what it returns, and the simulated venue sends it to itself and matches what
``decode_order`` reads back, exactly as Bybit would read it. So every backtest exercises the
encoder, and a command the encoder would get wrong cannot fill in a backtest.

``decode_order`` is the exchange's side: it reads a parsed trade-API request (``order.create``,
``order.amend``, ``order.cancel``) with the instrument's rules. It refuses with Bybit's code
10001 (a parameter error) what Bybit would refuse before matching: an unknown op or symbol, a
number that is not one, or one finer than the instrument's scale. The matching engine checks
the rest (grids, minimums, duplicate ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engine.commands import AmendOrder, CancelOrder, SubmitOrder
from engine.enums import OrderType, Side, TimeInForce
from engine.ids import parse_child_id
from engine.instrument import Instrument
from engine.numbers import ScaleError
from feeds.bybit.outgoing import ClientRequest, order_amend, order_cancel, order_create

__all__ = ["OrderRequest", "encode_order", "decode_order", "OrderDecodeError", "CODE_PARAMS"]

OrderRequest = SubmitOrder | AmendOrder | CancelOrder

CODE_PARAMS: Final = 10001
_SIDES: Final = {side.value: side for side in Side}
_TYPES: Final = {kind.value: kind for kind in OrderType}
_TIFS: Final = {tif.value: tif for tif in TimeInForce}


class OrderDecodeError(ValueError):
    """A request Bybit would refuse before matching: ``code`` and its ``retMsg``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def encode_order(
    command: OrderRequest,
    instrument: Instrument,
    *,
    category: str,
    req_id: str,
    timestamp_ms: int,
) -> bytes:
    """The trade-websocket frame for ``command``, prices and sizes written in the instrument's scales."""
    if isinstance(command, SubmitOrder):
        return order_create(
            req_id,
            timestamp_ms,
            category=category,
            symbol=command.symbol,
            side=command.side,
            order_type=command.order_type,
            qty=instrument.format_qty(command.qty_lots),
            price=None if command.price_ticks is None else instrument.format_price(command.price_ticks),
            time_in_force=command.time_in_force,
            order_link_id=command.client_order_id,
            reduce_only=command.reduce_only or None,
        )
    if isinstance(command, AmendOrder):
        return order_amend(
            req_id,
            timestamp_ms,
            category=category,
            symbol=command.symbol,
            order_link_id=command.client_order_id,
            qty=None if command.qty_lots is None else instrument.format_qty(command.qty_lots),
            price=None if command.price_ticks is None else instrument.format_price(command.price_ticks),
        )
    return order_cancel(
        req_id, timestamp_ms, category=category, symbol=command.symbol, order_link_id=command.client_order_id
    )


def decode_order(request: ClientRequest, instruments: Mapping[str, Instrument]) -> OrderRequest:
    """The command a trade-API request asks for, read as the exchange reads it; ``OrderDecodeError`` if not."""
    if len(request.args) != 1 or not isinstance(request.args[0], dict):
        raise OrderDecodeError(CODE_PARAMS, "args must hold exactly one order object")
    params: dict[str, Any] = request.args[0]
    symbol = _text(params, "symbol")
    instrument = instruments.get(symbol)
    if instrument is None:
        raise OrderDecodeError(CODE_PARAMS, f"unknown symbol {symbol}")
    link_id = _text(params, "orderLinkId")
    if request.op == "order.create":
        price = _optional_text(params, "price")
        parsed = parse_child_id(link_id)
        return SubmitOrder(
            client_order_id=link_id,
            parent_id=parsed[0] if parsed else "",
            symbol=symbol,
            side=_choice(params, "side", _SIDES),
            order_type=_choice(params, "orderType", _TYPES),
            qty_lots=_lots(instrument, _text(params, "qty")),
            price_ticks=None if price is None else _ticks(instrument, price),
            time_in_force=_TIFS[params["timeInForce"]] if params.get("timeInForce") in _TIFS else TimeInForce.GTC,
            reduce_only=params.get("reduceOnly") is True,
        )
    if request.op == "order.amend":
        qty, price = _optional_text(params, "qty"), _optional_text(params, "price")
        return AmendOrder(
            client_order_id=link_id,
            symbol=symbol,
            qty_lots=None if qty is None else _lots(instrument, qty),
            price_ticks=None if price is None else _ticks(instrument, price),
        )
    if request.op == "order.cancel":
        return CancelOrder(client_order_id=link_id, symbol=symbol)
    raise OrderDecodeError(CODE_PARAMS, f"unsupported op {request.op}")


def _text(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if type(value) is not str or not value:
        raise OrderDecodeError(CODE_PARAMS, f"{key} is missing or not a string")
    return value


def _optional_text(params: dict[str, Any], key: str) -> str | None:
    return None if params.get(key) is None else _text(params, key)


def _choice(params: dict[str, Any], key: str, choices: Mapping[str, Any]) -> Any:
    value = params.get(key)
    if not isinstance(value, str) or value not in choices:
        raise OrderDecodeError(CODE_PARAMS, f"{key} {value!r} is not one of {', '.join(choices)}")
    return choices[value]


def _lots(instrument: Instrument, text: str) -> int:
    try:
        return instrument.lots(text)
    except ScaleError as exc:
        raise OrderDecodeError(CODE_PARAMS, f"qty {text} is invalid for {instrument.symbol}: {exc}") from exc


def _ticks(instrument: Instrument, text: str) -> int:
    try:
        return instrument.ticks(text)
    except ScaleError as exc:
        raise OrderDecodeError(CODE_PARAMS, f"price {text} is invalid for {instrument.symbol}: {exc}") from exc
