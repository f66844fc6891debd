"""The one order encoder: ticks and lots out as Bybit's strings, read back exactly as Bybit reads them."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.commands import AmendOrder, CancelOrder, SubmitOrder
from engine.enums import OrderType, Side, TimeInForce
from engine.instrument import Instrument
from feeds.bybit.order_wire import OrderDecodeError, OrderRequest, decode_order, encode_order
from feeds.bybit.outgoing import ClientRequest, parse_request

INSTRUMENTS = st.builds(
    lambda price_scale, qty_scale: Instrument(symbol="ABCUSDT", price_scale=price_scale, qty_scale=qty_scale),
    st.integers(min_value=0, max_value=10),
    st.integers(min_value=0, max_value=8),
)
LOTS = st.integers(min_value=1, max_value=10**15)
TICKS = st.integers(min_value=1, max_value=10**15)
LINK_IDS = st.from_regex(r"[A-Za-z0-9_]{1,20}-[1-9][0-9]{0,5}", fullmatch=True)


@st.composite
def commands(draw: st.DrawFn) -> OrderRequest:
    link_id = draw(LINK_IDS)
    kind = draw(st.sampled_from(["create", "amend", "cancel"]))
    if kind == "create":
        order_type = draw(st.sampled_from(list(OrderType)))
        return SubmitOrder(
            client_order_id=link_id,
            parent_id=link_id.rpartition("-")[0],
            symbol="ABCUSDT",
            side=draw(st.sampled_from(list(Side))),
            order_type=order_type,
            qty_lots=draw(LOTS),
            price_ticks=draw(TICKS) if order_type is OrderType.LIMIT else None,
            time_in_force=draw(st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK])),
            reduce_only=draw(st.booleans()),
        )
    if kind == "amend":
        qty, price = draw(st.one_of(st.none(), LOTS)), draw(st.one_of(st.none(), TICKS))
        if qty is None and price is None:
            qty = 1
        return AmendOrder(client_order_id=link_id, symbol="ABCUSDT", qty_lots=qty, price_ticks=price)
    return CancelOrder(client_order_id=link_id, symbol="ABCUSDT")


@settings(max_examples=400, deadline=None)
@given(INSTRUMENTS, commands())
def test_every_command_survives_the_wire_exactly(instrument: Instrument, command: OrderRequest) -> None:
    frame = encode_order(command, instrument, category="linear", req_id="r1", timestamp_ms=1_733_011_200_000)
    params = orjson.loads(frame)["args"][0]
    for key in ("qty", "price"):
        if key in params:
            assert isinstance(params[key], str) and "e" not in params[key].lower()  # plain decimal strings
    assert decode_order(parse_request(frame), {"ABCUSDT": instrument}) == command


def test_the_exchange_refuses_what_bybit_refuses_before_matching() -> None:
    """Unknown symbol, a number finer than the scale, a bad side: 10001, as on Bybit."""
    instrument = Instrument(symbol="ABCUSDT", price_scale=2, qty_scale=3)

    def create(**params: object) -> ClientRequest:
        base: dict[str, object] = {
            "category": "linear",
            "symbol": "ABCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "1.000",
            "price": "10.00",
            "orderLinkId": "P-1",
        }
        return ClientRequest(op="order.create", args=({**base, **params},))

    assert decode_order(create(), {"ABCUSDT": instrument}).qty_lots == 1000  # type: ignore[union-attr]
    for bad, message in [
        (create(symbol="XYZUSDT"), "unknown symbol XYZUSDT"),
        (create(qty="0.0001"), "qty 0.0001 is invalid"),
        (create(price="ten"), "price ten is invalid"),
        (create(side="Long"), "side 'Long'"),
        (ClientRequest(op="order.create-batch", args=({"symbol": "ABCUSDT", "orderLinkId": "P-1"},)), "unsupported"),
    ]:
        with pytest.raises(OrderDecodeError, match=message) as info:
            decode_order(bad, {"ABCUSDT": instrument})
        assert info.value.code == 10001
