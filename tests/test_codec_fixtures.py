"""Every websocket fixture through ``BybitCodec.parse``: the exact events, or the exact drop reason.

Expected values are written out by hand from the fixture files (not recomputed from them), so a
codec change that alters any field fails here. ``EXPECTED`` is keyed by the path relative to
``fixtures/bybit/ws``; a fixture file without an entry fails ``test_every_fixture_has_expectations``.
See ``fixtures/bybit/SOURCES.md`` for which files are not valid server frames and why.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from msgspec.structs import replace

from engine.enums import OrderStatus, Side
from engine.events import (
    FULL_DEPTH,
    AuthReplied,
    BookDelta,
    CoinBalance,
    Event,
    KlineUpdated,
    LiquidationPrinted,
    NonTradeExecution,
    OrderFilled,
    OrderUpdated,
    PongReceived,
    PositionUpdated,
    SubscriptionReplied,
    TickerUpdated,
    TradeApiItem,
    TradeApiReplied,
    TradePrinted,
    WalletUpdated,
)
from feeds.bybit.codec import BybitCodec, CodecStats
from tests.conftest import FIXTURES

WS = FIXTURES / "ws"
FIXTURE_FILES = sorted(p.relative_to(WS).as_posix() for p in WS.rglob("*") if p.is_file())

MS = 1_000_000  # ns per ms
TS_RECV = 1_800_000_000_000_000_001  # our receive time; no venue timestamp in the fixtures equals it

Check = Callable[[list[Event], CodecStats], None]


# -- strict comparison ---------------------------------------------------------------------------


def _assert_exact(actual: object, expected: object, path: str) -> None:
    """Equal values of identical types, recursively: ``Side.BUY`` is not ``"Buy"``, ``True`` is not ``1``,
    and a Decimal keeps the exponent Bybit sent (``Decimal("0.100")`` is not ``Decimal("0.1")``)."""
    assert type(actual) is type(expected), f"{path}: {type(actual).__name__} != {type(expected).__name__}"
    if isinstance(expected, msgspec.Struct):
        assert isinstance(actual, msgspec.Struct)
        for name in expected.__struct_fields__:
            _assert_exact(getattr(actual, name), getattr(expected, name), f"{path}.{name}")
    elif isinstance(expected, list | tuple):
        assert isinstance(actual, list | tuple)
        assert len(actual) == len(expected), f"{path}: {len(actual)} items, expected {len(expected)}"
        for i, (got, want) in enumerate(zip(actual, expected, strict=True)):
            _assert_exact(got, want, f"{path}[{i}]")
    elif isinstance(expected, Decimal):
        assert str(actual) == str(expected), f"{path}: {actual!r} != {expected!r}"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def _events(*expected: Event) -> Check:
    """A frame that must yield exactly these events and no drop."""

    def check(events: list[Event], stats: CodecStats) -> None:
        assert events == list(expected)
        _assert_exact(events, list(expected), "events")
        assert stats.frames == 1
        assert stats.ignored == Counter()
        assert stats.malformed == Counter()

    return check


def _ignored(reason: str) -> Check:
    """A well-formed frame the codec must drop as *ignored* for exactly this reason."""

    def check(events: list[Event], stats: CodecStats) -> None:
        assert events == []
        assert stats.frames == 1
        assert stats.ignored == Counter({reason: 1})
        assert stats.malformed == Counter()

    return check


CLIENT_SUBSCRIBE = "a client request, not a reply"


# -- expected events shared by several files -----------------------------------------------------

KLINE_5_BTCUSDT = KlineUpdated(
    ts_event_ns=1672324988882 * MS,
    ts_recv_ns=TS_RECV,
    symbol="BTCUSDT",
    interval="5",
    start_ms=1672324800000,
    end_ms=1672325099999,
    open=Decimal("16649.5"),
    high=Decimal("16677"),
    low=Decimal("16608"),
    close=Decimal("16677"),
    volume=Decimal("2.081"),
    turnover=Decimal("34666.4005"),
    confirmed=False,
)

BOOK50_BIDS = [
    ("30247.20", "30.028"),
    ("30245.40", "0.224"),
    ("30242.10", "1.593"),
    ("30240.30", "1.305"),
    ("30240.00", "0"),
]
BOOK50_DELTA = BookDelta(
    ts_event_ns=1687940967466 * MS,
    ts_recv_ns=TS_RECV,
    symbol="BTCUSDT",
    depth=50,
    is_snapshot=False,
    bids=BOOK50_BIDS,
    asks=[
        ("30248.70", "0"),
        ("30249.30", "0.892"),
        ("30249.50", "1.778"),
        ("30249.60", "0"),
        ("30251.90", "2.947"),
        ("30252.20", "0.659"),
        ("30252.50", "4.591"),
    ],
    update_id=177400507,
    seq=66544703342,
    ts_match_ns=0,  # the legacy copies carry no cts
)
BOOK50_SNAPSHOT = BookDelta(
    ts_event_ns=1672304484978 * MS,
    ts_recv_ns=TS_RECV,
    symbol="BTCUSDT",
    depth=50,
    is_snapshot=True,
    bids=[("16493.50", "0.006"), ("16493.00", "0.100")],
    asks=[("16611.00", "0.029"), ("16612.00", "0.213")],
    update_id=18521288,
    seq=7961638724,
    ts_match_ns=0,
)

TRADE_BTCUSDT = TradePrinted(
    ts_event_ns=1672304486865 * MS,
    ts_recv_ns=TS_RECV,
    symbol="BTCUSDT",
    trade_id="20f43950-d8dd-5b31-9112-a178eb6023af",
    price=Decimal("16578.50"),
    qty=Decimal("0.001"),
    taker_side=Side.BUY,
    tick_direction="PlusTick",
    is_block_trade=False,
    is_rpi=False,
    seq=1783284617,
)

TICKER_LINEAR = TickerUpdated(
    ts_event_ns=1673272861686 * MS,
    ts_recv_ns=TS_RECV,
    symbol="BTCUSDT",
    last_price=Decimal("17216.00"),
    mark_price=Decimal("17217.33"),
    index_price=Decimal("17227.36"),
    bid1_price=Decimal("17215.50"),
    bid1_size=Decimal("84.489"),
    ask1_price=Decimal("17216.00"),
    ask1_size=Decimal("83.020"),
    high_price_24h=Decimal("17281.50"),
    low_price_24h=Decimal("16915.00"),
    volume_24h=Decimal("91705.276"),
    turnover_24h=Decimal("1570383121.943499"),
    price_24h_pcnt=Decimal("0.017103"),
    open_interest=Decimal("68744.761"),
    funding_rate=Decimal("-0.000212"),
    next_funding_time_ms=1673280000000,
)
TICKER_OPTION = TickerUpdated(
    ts_event_ns=1672917511074 * MS,
    ts_recv_ns=TS_RECV,
    symbol="BTC-6JAN23-17500-C",
    last_price=Decimal("10"),
    mark_price=Decimal("7.86976724"),
    index_price=Decimal("16823.73"),
    bid1_price=Decimal("0"),  # option names: bidPrice/bidSize/askPrice/askSize
    bid1_size=Decimal("0"),
    ask1_price=Decimal("10"),
    ask1_size=Decimal("5.1"),
    high_price_24h=Decimal("25"),
    low_price_24h=Decimal("5"),
    volume_24h=Decimal("26.55"),
    turnover_24h=Decimal("446802.8473"),
    price_24h_pcnt=Decimal("-0.33333334"),  # option name: change24h
    open_interest=Decimal("49.85"),
    funding_rate=None,
    next_funding_time_ms=None,
)
TICKER_SPOT = TickerUpdated(
    ts_event_ns=1673853746003 * MS,
    ts_recv_ns=TS_RECV,
    symbol="BTCUSDT",
    last_price=Decimal("21109.77"),
    mark_price=None,
    index_price=Decimal("21120.2400136"),  # spot name: usdIndexPrice
    bid1_price=None,  # spot tickers carry no bid/ask
    bid1_size=None,
    ask1_price=None,
    ask1_size=None,
    high_price_24h=Decimal("21426.99"),
    low_price_24h=Decimal("20575"),
    volume_24h=Decimal("6780.866843"),
    turnover_24h=Decimal("141946527.22907118"),
    price_24h_pcnt=Decimal("0.0196"),
    open_interest=None,
    funding_rate=None,
    next_funding_time_ms=None,
)

ORDER_OPTION_FILLED = OrderUpdated(
    ts_event_ns=1672364262457 * MS,  # updatedTime, not the envelope's creationTime
    ts_recv_ns=TS_RECV,
    category="option",
    symbol="ETH-30DEC22-1400-C",
    order_id="5cf98598-39a7-459e-97bf-76ca765ee020",
    order_link_id="",
    side=Side.SELL,
    order_type="Market",
    time_in_force="IOC",
    status=OrderStatus.FILLED,
    price=Decimal("72.5"),
    qty=Decimal("1"),
    cum_exec_qty=Decimal("1"),
    cum_exec_value=Decimal("75"),
    cum_exec_fee=Decimal("0.358635"),
    avg_price=Decimal("75"),
    leaves_qty=None,  # "" on option market orders
    cancel_type="UNKNOWN",
    reject_reason="EC_NoError",
    reduce_only=False,
    created_time_ms=1672364262444,
)


def _untriggered(
    order_id: str, order_link_id: str, side: Side, order_type: str, *, price: str | None, qty: str
) -> OrderUpdated:
    """The nautilus conditional-order fixtures: linear BTCUSDT, GTC, Untriggered, nothing filled."""
    return OrderUpdated(
        ts_event_ns=1672364262457 * MS,
        ts_recv_ns=TS_RECV,
        category="linear",
        symbol="BTCUSDT",
        order_id=order_id,
        order_link_id=order_link_id,
        side=side,
        order_type=order_type,
        time_in_force="GTC",
        status=OrderStatus.UNTRIGGERED,
        price=None if price is None else Decimal(price),
        qty=Decimal(qty),
        cum_exec_qty=Decimal("0"),
        cum_exec_value=Decimal("0"),
        cum_exec_fee=Decimal("0"),
        avg_price=None,
        leaves_qty=Decimal(qty),
        cancel_type="UNKNOWN",
        reject_reason="",
        reduce_only=False,
        created_time_ms=1672364262444,
    )


FILL_BTCUSDT = OrderFilled(
    ts_event_ns=1746270400353 * MS,  # execTime (a string on the wire)
    ts_recv_ns=TS_RECV,
    category="linear",
    symbol="BTCUSDT",
    exec_id="0ab1bdf7-4219-438b-b30a-32ec863018f7",
    order_id="9aac161b-8ed6-450d-9cab-c5cc67c21784",
    order_link_id="",
    side=Side.SELL,
    price=Decimal("95900.1"),
    qty=Decimal("0.5"),
    is_maker=False,
    exec_type="Trade",
    value=Decimal("47950.05"),
    fee=Decimal("26.3725275"),
    fee_rate=Decimal("0.00055"),
    fee_currency="USDT",
    order_qty=Decimal("0.5"),
    order_price=Decimal("94942.5"),
    leaves_qty=Decimal("0"),
    seq=140612148849382,
    is_fast=False,
)
FAST_FILL_ICPUSDT = OrderFilled(
    ts_event_ns=1716800399334 * MS,
    ts_recv_ns=TS_RECV,
    category="linear",
    symbol="ICPUSDT",
    exec_id="3510f361-0add-5c7b-a2e7-9679810944fc",
    order_id="443d63fa-b4c3-4297-b7b1-23bca88b04dc",
    order_link_id="test-00001",
    side=Side.SELL,
    price=Decimal("12.015"),
    qty=Decimal("3000"),
    is_maker=False,
    exec_type="Trade",  # execution.fast carries no execType: always a fill
    value=None,  # ... and no fee or order context
    fee=None,
    fee_rate=None,
    fee_currency="",
    order_qty=None,
    order_price=None,
    leaves_qty=None,
    seq=34771365464,
    is_fast=True,
)

POSITION_ETH_SHORT = PositionUpdated(
    ts_event_ns=1762199125472 * MS,  # updatedTime, not the envelope's creationTime
    ts_recv_ns=TS_RECV,
    category="linear",
    symbol="ETHUSDT",
    side=Side.SELL,
    size=Decimal("0.01"),
    position_idx=0,
    entry_price=Decimal("3641.075"),
    mark_price=Decimal("3641.33"),
    position_value=Decimal("36.42075"),
    leverage=Decimal("30"),
    unrealised_pnl=Decimal("-0.00255"),
    cum_realised_pnl=Decimal("-25.06579337"),
    liq_price=Decimal("51764.83003276"),
    position_status="Normal",
    seq=325852190774,
)


def _usdt_only_wallet(equity: str, available: str, im_rate: str, mm_rate: str) -> WalletUpdated:
    """The two synthetic nautilus wallets: one USDT coin, equity = wallet = margin balance, no accountType."""
    return WalletUpdated(
        ts_event_ns=1762960669000 * MS,
        ts_recv_ns=TS_RECV,
        account_type="",
        total_equity=Decimal(equity),
        total_wallet_balance=Decimal(equity),
        total_margin_balance=Decimal(equity),
        total_available_balance=Decimal(available),
        account_im_rate=Decimal(im_rate),
        account_mm_rate=Decimal(mm_rate),
        coins=(
            CoinBalance(
                coin="USDT",
                equity=Decimal(equity),
                wallet_balance=Decimal(equity),
                locked=None,
                usd_value=None,
                unrealised_pnl=None,
                cum_realised_pnl=None,
                borrow_amount=Decimal("0"),
            ),
        ),
    )


# -- the table -----------------------------------------------------------------------------------

EXPECTED: dict[str, Check] = {
    # ---- bybit_docs: verbatim Bybit documentation examples
    "bybit_docs/ws_allLiquidation.json": _events(
        LiquidationPrinted(
            ts_event_ns=1739502302929 * MS,  # item T, not the envelope ts
            ts_recv_ns=TS_RECV,
            symbol="ROSEUSDT",
            position_side=Side.SELL,
            price=Decimal("0.04499"),
            qty=Decimal("20000"),
        )
    ),
    "bybit_docs/ws_auth_success_response.json": _events(
        AuthReplied(
            ts_event_ns=TS_RECV,
            ts_recv_ns=TS_RECV,
            success=True,
            ret_code=0,
            message="",
            req_id="",
            conn_id="cejreaspqfh3sjdnldmg-p",
        )
    ),
    "bybit_docs/ws_execution.json": _events(FILL_BTCUSDT),
    "bybit_docs/ws_execution_fast.json": _events(FAST_FILL_ICPUSDT),
    "bybit_docs/ws_kline.json": _events(KLINE_5_BTCUSDT),
    "bybit_docs/ws_order.json": _events(ORDER_OPTION_FILLED),
    "bybit_docs/ws_orderbook50_delta_linear.json": _events(replace(BOOK50_DELTA, ts_match_ns=1687940967464 * MS)),
    "bybit_docs/ws_orderbook_full_delta_spot.json": _events(
        BookDelta(
            ts_event_ns=1784103477732 * MS,
            ts_recv_ns=TS_RECV,
            symbol="MNTUSDT",
            depth=FULL_DEPTH,
            is_snapshot=False,
            bids=[
                ("0.4758", "2342.47"),
                ("0.4757", "1735.35"),
                ("0.4755", "952.38"),
                ("0.4753", "522.68"),
                ("0.4752", "387.21"),
            ],
            asks=[],
            update_id=278547,
            seq=1501100579,
            ts_match_ns=1784103477730 * MS,
        )
    ),
    "bybit_docs/ws_pong_private.json": _events(
        PongReceived(
            ts_event_ns=1675418560633 * MS,
            ts_recv_ns=TS_RECV,
            req_id="test",
            conn_id="cfcb4ocsvfriu23r3er0-1b",
            server_time_ms=1675418560633,
        )
    ),
    "bybit_docs/ws_pong_public_linear_inverse.json": _events(
        PongReceived(
            ts_event_ns=TS_RECV,  # no server time in this shape
            ts_recv_ns=TS_RECV,
            req_id="",
            conn_id="465772b1-7630-4fdc-a492-e003e6f0f260",
            server_time_ms=None,
        )
    ),
    "bybit_docs/ws_pong_public_option_spread.json": _events(
        PongReceived(
            ts_event_ns=1672916271846 * MS,
            ts_recv_ns=TS_RECV,
            req_id="",
            conn_id="",
            server_time_ms=1672916271846,
        )
    ),
    "bybit_docs/ws_pong_public_spot.json": _events(
        PongReceived(
            ts_event_ns=TS_RECV,
            ts_recv_ns=TS_RECV,
            req_id="",
            conn_id="0970e817-426e-429a-a679-ff7f55e0b16a",
            server_time_ms=None,
        )
    ),
    "bybit_docs/ws_position.json": _events(
        PositionUpdated(
            ts_event_ns=1697682317038 * MS,
            ts_recv_ns=TS_RECV,
            category="linear",
            symbol="BTCUSDT",
            side=None,  # "" when flat
            size=Decimal("0"),
            position_idx=2,
            entry_price=Decimal("0"),
            mark_price=Decimal("28184.5"),
            position_value=Decimal("0"),
            leverage=Decimal("10"),
            unrealised_pnl=Decimal("0"),
            cum_realised_pnl=Decimal("-25.06579337"),
            liq_price=Decimal("0"),
            position_status="Normal",
            seq=8327597863,
        )
    ),
    "bybit_docs/ws_publicTrade_linear.json": _events(TRADE_BTCUSDT),
    "bybit_docs/ws_subscribe_request_execution.json": _ignored(CLIENT_SUBSCRIBE),
    "bybit_docs/ws_subscribe_request_execution_fast.json": _ignored(CLIENT_SUBSCRIBE),
    "bybit_docs/ws_subscribe_request_order.json": _ignored(CLIENT_SUBSCRIBE),
    "bybit_docs/ws_subscribe_request_position.json": _ignored(CLIENT_SUBSCRIBE),
    "bybit_docs/ws_subscribe_request_wallet.json": _ignored(CLIENT_SUBSCRIBE),
    "bybit_docs/ws_subscribe_response_private.json": _events(
        SubscriptionReplied(
            ts_event_ns=TS_RECV,
            ts_recv_ns=TS_RECV,
            op="subscribe",
            success=True,
            message="",
            req_id="",
            conn_id="cejreassvfrsfvb9v1a0-2m",
            succeeded_topics=(),
            failed_topics=(),
        )
    ),
    "bybit_docs/ws_subscribe_response_public_linear_inverse.json": _events(
        SubscriptionReplied(
            ts_event_ns=TS_RECV,
            ts_recv_ns=TS_RECV,
            op="subscribe",
            success=True,
            message="",
            req_id="",
            conn_id="3cd84cb1-4d06-4a05-930a-2efe5fc70f0f",
            succeeded_topics=(),
            failed_topics=(),
        )
    ),
    "bybit_docs/ws_subscribe_response_public_option_spread.json": _events(
        SubscriptionReplied(
            ts_event_ns=TS_RECV,
            ts_recv_ns=TS_RECV,
            op="subscribe",  # COMMAND_RESP carries no op
            success=True,
            message="",
            req_id="",
            conn_id="aa01fbfffe80af37-00000001-000b37b9-7147f432704fd28c-00e1c172",
            succeeded_topics=("orderbook.100.BTC-6JAN23-18000-C",),
            failed_topics=(),
        )
    ),
    "bybit_docs/ws_subscribe_response_public_spot.json": _events(
        SubscriptionReplied(
            ts_event_ns=TS_RECV,
            ts_recv_ns=TS_RECV,
            op="subscribe",
            success=True,
            message="subscribe",
            req_id="10001",
            conn_id="2324d924-aa4d-45b0-a858-7b8be29ab52b",
            succeeded_topics=(),
            failed_topics=(),
        )
    ),
    "bybit_docs/ws_tickers_option_snapshot.json": _events(TICKER_OPTION),
    "bybit_docs/ws_tickers_spot_snapshot.json": _events(TICKER_SPOT),
    "bybit_docs/ws_unsubscribe_request.json": _ignored("a client request, not a reply"),
    "bybit_docs/ws_wallet.json": _events(
        WalletUpdated(
            ts_event_ns=1700034722104 * MS,
            ts_recv_ns=TS_RECV,
            account_type="UNIFIED",
            total_equity=Decimal("10262.91335023"),
            total_wallet_balance=Decimal("9684.46297164"),
            total_margin_balance=Decimal("9684.46297164"),
            total_available_balance=Decimal("9556.6056555"),
            account_im_rate=Decimal("0"),
            account_mm_rate=Decimal("0"),
            coins=(
                CoinBalance(
                    coin="BTC",
                    equity=Decimal("0.00102964"),
                    wallet_balance=Decimal("0.00102964"),
                    locked=Decimal("0"),
                    usd_value=Decimal("36.70759517"),
                    unrealised_pnl=Decimal("0"),
                    cum_realised_pnl=Decimal("-0.00000973"),
                    borrow_amount=Decimal("0"),
                ),
            ),
        )
    ),
    "bybit_docs/wstrade_auth_request.json": _ignored("a client request, not a reply"),
    "bybit_docs/wstrade_auth_response.json": _events(
        AuthReplied(
            ts_event_ns=TS_RECV,
            ts_recv_ns=TS_RECV,
            success=True,  # trade stream: no success field, retCode 0
            ret_code=0,
            message="OK",
            req_id="",
            conn_id="cnt5leec0hvan15eukcg-2t",
        )
    ),
    "bybit_docs/wstrade_order_create_batch_request.json": _ignored("a client request, not a reply"),
    "bybit_docs/wstrade_order_create_batch_response.json": _events(
        TradeApiReplied(
            ts_event_ns=1740453408556 * MS,  # header Timenow
            ts_recv_ns=TS_RECV,
            op="order.create-batch",
            ret_code=0,  # the batch is "OK" although every order in it failed
            message="OK",
            req_id="",
            order_id="",
            order_link_id="",
            items=tuple(
                TradeApiItem(
                    order_link_id=f"batch-00{i}",
                    order_id="",
                    symbol="SOLUSDT",
                    code=10001,
                    message="position idx not match position mode",
                )
                for i in range(3)
            ),
            limit=150,
            limit_remaining=147,
            limit_reset_ms=1740453408555,
            trace_id="0e32b551b3e17aae77651aadf6a5be80",
            conn_id="cupviqn88smf24t2kpb0-536o",
        )
    ),
    "bybit_docs/wstrade_order_create_response.json": _events(
        TradeApiReplied(
            ts_event_ns=1711001595209 * MS,
            ts_recv_ns=TS_RECV,
            op="order.create",
            ret_code=0,
            message="OK",
            req_id="test-005",
            order_id="a4c1718e-fe53-4659-a118-1f6ecce04ad9",
            order_link_id="",
            items=(),
            limit=10,
            limit_remaining=9,
            limit_reset_ms=1711001595208,
            trace_id="38b7977b430f9bd228f4b19724794dfd",
            conn_id="cnt5leec0hvan15eukcg-2v",
        )
    ),
    "bybit_docs/wstrade_ping_request.json": _ignored("a client request, not a reply"),
    "bybit_docs/wstrade_pong_response.json": _events(
        PongReceived(
            ts_event_ns=1711002002529 * MS,
            ts_recv_ns=TS_RECV,
            req_id="",
            conn_id="cnt5leec0hvan15eukcg-2v",
            server_time_ms=1711002002529,
        )
    ),
    # ---- nautilus_trader: edited/synthetic doc examples (shape only, see SOURCES.md)
    "nautilus_trader/ws_account_execution.json": _events(
        replace(FILL_BTCUSDT, order_link_id="test-order-link-001", fee_currency="")
    ),
    "nautilus_trader/ws_account_execution_adl.json": _events(
        NonTradeExecution(
            ts_event_ns=1746270400398 * MS,
            ts_recv_ns=TS_RECV,
            category="linear",
            symbol="BTCUSDT",
            exec_id="0ab1bdf7-4219-438b-b30a-32ec863018f8",
            exec_type="AdlTrade",  # not a fill of our order
            side=Side.SELL,
            price=Decimal("95850.0"),
            qty=Decimal("0.5"),
            fee=Decimal("0"),
        )
    ),
    "nautilus_trader/ws_account_execution_fast.json": _events(
        replace(FAST_FILL_ICPUSDT, order_link_id="test-order-link-001")
    ),
    "nautilus_trader/ws_account_execution_fast_envelope_id.json": _events(),  # empty data: nothing, no drop
    "nautilus_trader/ws_account_order.json": _events(
        OrderUpdated(
            ts_event_ns=1700000005000 * MS,
            ts_recv_ns=TS_RECV,
            category="linear",
            symbol="BTCUSDT",
            order_id="abcdef123456",
            order_link_id="client-1",
            side=Side.BUY,
            order_type="Limit",
            time_in_force="GTC",
            status=OrderStatus.CANCELLED,
            price=Decimal("30000"),
            qty=Decimal("0.010"),
            cum_exec_qty=Decimal("0"),
            cum_exec_value=Decimal("0"),
            cum_exec_fee=Decimal("0"),
            avg_price=None,  # "0" means no fills yet
            leaves_qty=Decimal("0.010"),
            cancel_type="CancelByUser",
            reject_reason="",
            reduce_only=False,
            created_time_ms=1700000000000,
        )
    ),
    "nautilus_trader/ws_account_order_buy_stop_market.json": _events(
        _untriggered(
            "test-buy-stop-market-001",
            "test-client-buy-stop-market-001",
            Side.BUY,
            "Market",
            price=None,
            qty="0.100",
        )
    ),
    "nautilus_trader/ws_account_order_filled.json": _events(
        OrderUpdated(
            ts_event_ns=1672364262457 * MS,
            ts_recv_ns=TS_RECV,
            category="linear",
            symbol="BTCUSDT",
            order_id="5cf98598-39a7-459e-97bf-76ca765ee020",
            order_link_id="test-client-order-001",
            side=Side.BUY,
            order_type="Limit",
            time_in_force="GTC",
            status=OrderStatus.FILLED,
            price=Decimal("30000.50"),
            qty=Decimal("0.100"),
            cum_exec_qty=Decimal("0.100"),
            cum_exec_value=Decimal("3000.05"),
            cum_exec_fee=Decimal("1.650028"),
            avg_price=Decimal("30000.50"),
            leaves_qty=Decimal("0"),
            cancel_type="UNKNOWN",
            reject_reason="",
            reduce_only=False,
            created_time_ms=1672364262444,
        )
    ),
    "nautilus_trader/ws_account_order_limit_if_touched.json": _events(
        _untriggered("test-lit-001", "test-client-lit-001", Side.BUY, "Limit", price="55500.00", qty="0.100")
    ),
    "nautilus_trader/ws_account_order_market_if_touched.json": _events(
        _untriggered("test-mit-001", "test-client-mit-001", Side.BUY, "Market", price=None, qty="0.100")
    ),
    "nautilus_trader/ws_account_order_partially_filled_rejected.json": _events(
        OrderUpdated(
            ts_event_ns=1672364262457 * MS,
            ts_recv_ns=TS_RECV,
            category="spot",
            symbol="APEXUSDT",
            order_id="5cf98598-39a7-459e-97bf-76ca765ee021",
            order_link_id="O-20251001-164609-APEX-000-49",
            side=Side.BUY,
            order_type="Limit",
            time_in_force="GTC",
            status=OrderStatus.REJECTED,
            price=Decimal("1.500"),
            qty=Decimal("100.0"),
            cum_exec_qty=Decimal("50.0"),  # rejected after a partial fill: the fill must not be lost
            cum_exec_value=Decimal("75.0"),
            cum_exec_fee=Decimal("0.0413"),
            avg_price=Decimal("1.500"),
            leaves_qty=Decimal("50.0"),
            cancel_type="UNKNOWN",
            reject_reason="UNKNOWN",
            reduce_only=False,
            created_time_ms=1672364262444,
        )
    ),
    "nautilus_trader/ws_account_order_sell_market_if_touched.json": _events(
        _untriggered("test-sell-mit-001", "test-client-sell-mit-001", Side.SELL, "Market", price=None, qty="0.100")
    ),
    "nautilus_trader/ws_account_order_stop_limit.json": _events(
        _untriggered(
            "test-stop-limit-001",
            "test-client-stop-limit-001",
            Side.SELL,
            "Limit",
            price="44500.00",
            qty="0.100",
        )
    ),
    "nautilus_trader/ws_account_order_stop_loss.json": _events(
        replace(
            _untriggered("test-stop-loss-001", "test-client-sl-001", Side.SELL, "Market", price=None, qty="0.500"),
            reduce_only=True,
        )
    ),
    "nautilus_trader/ws_account_order_stop_market.json": _events(
        _untriggered(
            "test-stop-market-001",
            "test-client-stop-market-001",
            Side.SELL,
            "Market",
            price=None,
            qty="0.100",
        )
    ),
    "nautilus_trader/ws_account_order_take_profit.json": _events(
        replace(
            _untriggered("test-take-profit-001", "test-client-tp-001", Side.SELL, "Market", price=None, qty="0.500"),
            reduce_only=True,
        )
    ),
    "nautilus_trader/ws_account_position.json": _events(POSITION_ETH_SHORT),
    "nautilus_trader/ws_account_position_short.json": _events(POSITION_ETH_SHORT),
    # a bare position record (REST-style), no envelope: neither a push nor a reply
    "nautilus_trader/ws_account_position_with_open_time.json": _ignored(
        "neither topic nor op: not a Bybit websocket frame"
    ),
    "nautilus_trader/ws_account_wallet.json": _events(
        WalletUpdated(
            ts_event_ns=1700034722104 * MS,
            ts_recv_ns=TS_RECV,
            account_type="",  # this edited copy has no accountType
            total_equity=Decimal("10262.91335023"),
            total_wallet_balance=Decimal("9684.46297164"),
            total_margin_balance=Decimal("9684.46297164"),
            total_available_balance=Decimal("9556.6056555"),
            account_im_rate=Decimal("0"),
            account_mm_rate=Decimal("0"),
            coins=(
                CoinBalance(
                    coin="BTC",
                    equity=Decimal("0.00102964"),
                    wallet_balance=Decimal("0.00102964"),
                    locked=None,
                    usd_value=None,
                    unrealised_pnl=None,
                    cum_realised_pnl=None,
                    borrow_amount=Decimal("0"),
                ),
                CoinBalance(
                    coin="USDT",
                    equity=Decimal("10226.20575506"),
                    wallet_balance=Decimal("9647.75537647"),
                    locked=None,
                    usd_value=None,
                    unrealised_pnl=None,
                    cum_realised_pnl=None,
                    borrow_amount=Decimal("0"),
                ),
            ),
        )
    ),
    "nautilus_trader/ws_account_wallet_locked_exceeds_total.json": _events(
        _usdt_only_wallet(equity="100.0", available="0", im_rate="0.5", mm_rate="0.05")
    ),
    "nautilus_trader/ws_account_wallet_small_order.json": _events(
        _usdt_only_wallet(equity="51333.82543837", available="0", im_rate="0", mm_rate="0")
    ),
    "nautilus_trader/ws_auth_failure.json": _events(
        AuthReplied(
            ts_event_ns=TS_RECV,
            ts_recv_ns=TS_RECV,
            success=False,
            ret_code=10003,
            message="Invalid apikey",
            req_id="",
            conn_id="cejreaspqfm9se7usbrg-3ab",
        )
    ),
    "nautilus_trader/ws_auth_success.json": _events(
        AuthReplied(
            ts_event_ns=TS_RECV,
            ts_recv_ns=TS_RECV,
            success=True,
            ret_code=0,
            message="",
            req_id="",
            conn_id="cejreaspqfm9se7usbrg-2xh",
        )
    ),
    "nautilus_trader/ws_kline.json": _events(KLINE_5_BTCUSDT),
    "nautilus_trader/ws_order_response.json": _events(
        TradeApiReplied(
            ts_event_ns=TS_RECV,  # no header, so no Timenow
            ts_recv_ns=TS_RECV,
            op="order.create",
            ret_code=0,
            message="OK",
            req_id="order-req-001",
            order_id="1726025498520715008",
            order_link_id="client-order-1",
            items=(),
            limit=None,
            limit_remaining=None,
            limit_reset_ms=None,
            trace_id="",
            conn_id="cejreaspqfm9se7usbrg-4cd",
        )
    ),
    "nautilus_trader/ws_orderbook_delta.json": _events(
        BookDelta(
            ts_event_ns=1709891679500 * MS,
            ts_recv_ns=TS_RECV,
            symbol="BTCUSDT",
            depth=1,
            is_snapshot=False,
            bids=[("27450.00", "0.400")],
            asks=[("27451.00", "0")],
            update_id=123456790,
            seq=987654322,
            ts_match_ns=0,
        )
    ),
    "nautilus_trader/ws_orderbook_snapshot.json": _events(
        BookDelta(
            ts_event_ns=1709891679000 * MS,
            ts_recv_ns=TS_RECV,
            symbol="BTCUSDT",
            depth=1,
            is_snapshot=True,
            bids=[("27450.00", "0.500"), ("27449.50", "1.000")],
            asks=[("27451.00", "0.750"), ("27451.50", "0.900")],
            update_id=123456789,
            seq=987654321,
            ts_match_ns=0,
        )
    ),
    "nautilus_trader/ws_public_trade.json": _ignored("unknown topic"),  # not a Bybit topic
    "nautilus_trader/ws_subscription_ack.json": _events(
        SubscriptionReplied(
            ts_event_ns=TS_RECV,
            ts_recv_ns=TS_RECV,
            op="subscribe",
            success=True,
            message="",
            req_id="sub-orderbook-1",
            conn_id="cejreaspqfm9se7usbrg-2xh",
            succeeded_topics=(),
            failed_topics=(),
        )
    ),
    "nautilus_trader/ws_subscription_failure.json": _events(
        SubscriptionReplied(
            ts_event_ns=TS_RECV,
            ts_recv_ns=TS_RECV,
            op="subscribe",
            success=False,
            message="Invalid topic: invalid.topic.BTCUSDT",
            req_id="",
            conn_id="cejreaspqfm9se7usbrg-2xh",
            succeeded_topics=(),
            failed_topics=(),
        )
    ),
    "nautilus_trader/ws_ticker_linear.json": _events(TICKER_LINEAR),
    "nautilus_trader/ws_ticker_option.json": _events(TICKER_OPTION),
    # ---- nautilus_trader_legacy_py: older doc examples / captures
    "nautilus_trader_legacy_py/private/ws_execution.json": _events(
        OrderFilled(
            ts_event_ns=1672364174443 * MS,
            ts_recv_ns=TS_RECV,
            category="linear",
            symbol="XRPUSDT",
            exec_id="7e2ae69c-4edf-5800-a352-893d52b446aa",
            order_id="f6e324ff-99c2-4e89-9739-3086e47f9381",
            order_link_id="",
            side=Side.SELL,
            price=Decimal("0.3374"),
            qty=Decimal("25"),
            is_maker=False,
            exec_type="Trade",
            value=Decimal("8.435"),
            fee=Decimal("0.005061"),
            fee_rate=Decimal("0.0006"),
            fee_currency="",
            order_qty=Decimal("25"),
            order_price=Decimal("0.3207"),
            leaves_qty=Decimal("0"),
            seq=4688002127,
            is_fast=False,
        )
    ),
    "nautilus_trader_legacy_py/private/ws_order.json": _events(ORDER_OPTION_FILLED),
    "nautilus_trader_legacy_py/private/ws_position.json": _events(
        PositionUpdated(
            ts_event_ns=1672364174449 * MS,
            ts_recv_ns=TS_RECV,
            category="linear",
            symbol="XRPUSDT",
            side=Side.BUY,
            size=Decimal("75"),
            position_idx=0,
            entry_price=Decimal("0.3615"),
            mark_price=Decimal("0.3374"),
            position_value=Decimal("27.1125"),
            leverage=Decimal("10"),
            unrealised_pnl=Decimal("-1.8075"),
            cum_realised_pnl=Decimal("0.64782276"),
            liq_price=None,  # ""
            position_status="Normal",
            seq=4688002127,
        )
    ),
    "nautilus_trader_legacy_py/private/ws_wallet.json": _events(
        WalletUpdated(
            ts_event_ns=1690873065683 * MS,
            ts_recv_ns=TS_RECV,
            account_type="UNIFIED",
            total_equity=Decimal("19620.93864593"),
            total_wallet_balance=Decimal("18331.93856433"),
            total_margin_balance=Decimal("18230.83251552"),
            total_available_balance=Decimal("9511.52641225"),
            account_im_rate=Decimal("0.4782"),
            account_mm_rate=Decimal("0.0151"),
            coins=(
                CoinBalance(
                    coin="USDC",
                    equity=Decimal("0"),
                    wallet_balance=Decimal("0"),
                    locked=Decimal("0"),
                    usd_value=Decimal("0"),
                    unrealised_pnl=Decimal("0"),
                    cum_realised_pnl=Decimal("-1100.6552094"),
                    borrow_amount=Decimal("0"),
                ),
                CoinBalance(
                    coin="BTC",
                    equity=Decimal("0"),
                    wallet_balance=Decimal("0"),
                    locked=Decimal("0"),
                    usd_value=Decimal("0"),
                    unrealised_pnl=Decimal("0"),
                    cum_realised_pnl=Decimal("0"),
                    borrow_amount=Decimal("0"),
                ),
                CoinBalance(
                    coin="USDT",
                    equity=Decimal("4.93036732"),
                    wallet_balance=Decimal("106.03036732"),
                    locked=Decimal("0"),
                    usd_value=Decimal("4.9306623"),
                    unrealised_pnl=Decimal("-101.1"),
                    cum_realised_pnl=Decimal("-55295.06268939"),
                    borrow_amount=Decimal("0"),
                ),
            ),
        )
    ),
    "nautilus_trader_legacy_py/public/ws_kline.json": _events(KLINE_5_BTCUSDT),
    "nautilus_trader_legacy_py/public/ws_liquidation.json": _events(
        LiquidationPrinted(  # the retired liquidation.{symbol} topic
            ts_event_ns=1673251091822 * MS,
            ts_recv_ns=TS_RECV,
            symbol="GALAUSDT",
            position_side=Side.BUY,
            price=Decimal("0.03803"),
            qty=Decimal("1637"),
        )
    ),
    "nautilus_trader_legacy_py/public/ws_orderbook_delta.json": _events(BOOK50_DELTA),
    "nautilus_trader_legacy_py/public/ws_orderbook_delta_no_asks.json": _events(replace(BOOK50_DELTA, asks=[])),
    "nautilus_trader_legacy_py/public/ws_orderbook_snapshot.json": _events(BOOK50_SNAPSHOT),
    "nautilus_trader_legacy_py/public/ws_orderbook_snapshot_no_asks.json": _events(replace(BOOK50_SNAPSHOT, asks=[])),
    "nautilus_trader_legacy_py/public/ws_ticker_linear.json": _events(TICKER_LINEAR),
    "nautilus_trader_legacy_py/public/ws_ticker_option.json": _events(TICKER_OPTION),
    "nautilus_trader_legacy_py/public/ws_ticker_spot.json": _events(TICKER_SPOT),
    "nautilus_trader_legacy_py/public/ws_trade.json": _events(replace(TRADE_BTCUSDT, seq=0)),  # no seq sent
}


# -- tests ---------------------------------------------------------------------------------------


def test_every_fixture_has_expectations() -> None:
    """Pins that EXPECTED covers exactly the files under fixtures/bybit/ws: none missing, none stale."""
    assert len(FIXTURE_FILES) >= 80
    missing = sorted(set(FIXTURE_FILES) - set(EXPECTED))
    stale = sorted(set(EXPECTED) - set(FIXTURE_FILES))
    assert missing == [], f"fixtures without expectations: {missing}"
    assert stale == [], f"expectations without a fixture file: {stale}"


@pytest.mark.parametrize("rel", FIXTURE_FILES)
def test_fixture_parses_exactly(rel: str) -> None:
    """Pins the exact events (types, count, every field) or the exact drop reason of one fixture file."""
    check = EXPECTED.get(rel)
    if check is None:
        pytest.fail(f"{rel} has no entry in EXPECTED")
    codec = BybitCodec()
    events = codec.parse((WS / rel).read_bytes(), TS_RECV)
    check(events, codec.stats)


@pytest.mark.parametrize("rel", FIXTURE_FILES)
def test_fixture_in_wire_encoding_parses_the_same(rel: str) -> None:
    """Pins the same result for the fixture re-encoded as compact JSON, the way Bybit sends it."""
    # compact, topic-first book and trade frames take the codec's typed fast path; the pretty files do not
    check = EXPECTED.get(rel)
    if check is None:
        pytest.fail(f"{rel} has no entry in EXPECTED")
    wire = json.dumps(json.loads((WS / rel).read_bytes()), separators=(",", ":")).encode()
    codec = BybitCodec()
    events = codec.parse(wire, TS_RECV)
    check(events, codec.stats)


def test_text_frames_parse_like_binary_frames() -> None:
    """Pins that a str frame yields the same events and drops as the same frame in bytes."""
    for rel in FIXTURE_FILES:
        raw = (WS / rel).read_bytes()
        from_bytes, from_text = BybitCodec(), BybitCodec()
        assert from_text.parse(raw.decode(), TS_RECV) == from_bytes.parse(raw, TS_RECV), rel
        assert from_text.stats.ignored == from_bytes.stats.ignored, rel
        assert from_text.stats.malformed == from_bytes.stats.malformed == Counter(), rel


def _ticker_delta(ts_ms: int, **fields: str) -> bytes:
    """A linear ticker delta for the symbol of the linear ticker fixture: only the given fields change."""
    snapshot: dict[str, Any] = json.loads((WS / "nautilus_trader/ws_ticker_linear.json").read_bytes())
    delta = {
        "topic": snapshot["topic"],
        "type": "delta",
        "data": {"symbol": snapshot["data"]["symbol"], **fields},
        "cs": snapshot["cs"] + 1,
        "ts": ts_ms,
    }
    return json.dumps(delta).encode()


def test_ticker_deltas_merge_into_the_snapshot() -> None:
    """Pins ticker merging: a delta changes only its own fields, deltas accumulate, a snapshot resets."""
    codec = BybitCodec()
    snapshot_raw = (WS / "nautilus_trader/ws_ticker_linear.json").read_bytes()
    assert codec.parse(snapshot_raw, TS_RECV) == [TICKER_LINEAR]

    first = codec.parse(
        _ticker_delta(
            1673272861786,
            lastPrice="17216.50",
            bid1Price="17216.00",
            bid1Size="1.250",
            ask1Price="17216.50",
            ask1Size="0.004",
            markPrice="17217.80",
        ),
        TS_RECV + 1,
    )
    after_first = replace(
        TICKER_LINEAR,
        ts_event_ns=1673272861786 * MS,
        ts_recv_ns=TS_RECV + 1,
        last_price=Decimal("17216.50"),
        bid1_price=Decimal("17216.00"),
        bid1_size=Decimal("1.250"),
        ask1_price=Decimal("17216.50"),
        ask1_size=Decimal("0.004"),
        mark_price=Decimal("17217.80"),
    )
    assert first == [after_first]
    _assert_exact(first, [after_first], "first delta")
    assert isinstance(first[0], TickerUpdated)
    assert first[0].index_price == Decimal("17227.36")  # not in the delta: kept from the snapshot
    assert first[0].open_interest == Decimal("68744.761")
    assert first[0].funding_rate == Decimal("-0.000212")

    second = codec.parse(
        _ticker_delta(1673272861886, fundingRate="-0.000198", nextFundingTime="1673308800000"), TS_RECV + 2
    )
    after_second = replace(
        after_first,
        ts_event_ns=1673272861886 * MS,
        ts_recv_ns=TS_RECV + 2,
        funding_rate=Decimal("-0.000198"),
        next_funding_time_ms=1673308800000,
    )
    assert second == [after_second]  # the first delta's prices persist
    _assert_exact(second, [after_second], "second delta")

    assert codec.parse(snapshot_raw, TS_RECV + 3) == [replace(TICKER_LINEAR, ts_recv_ns=TS_RECV + 3)]
    assert codec.stats.ignored == Counter()
    assert codec.stats.malformed == Counter()
    assert codec.stats.frames == 4


def test_ticker_delta_before_its_snapshot_is_ignored() -> None:
    """Pins that a ticker delta with no snapshot to merge into is dropped as ignored, never guessed."""
    codec = BybitCodec()
    option_snapshot = (WS / "bybit_docs/ws_tickers_option_snapshot.json").read_bytes()
    # a snapshot of another symbol is no base for a BTCUSDT delta
    assert codec.parse(option_snapshot, TS_RECV) == [TICKER_OPTION]
    assert codec.parse(_ticker_delta(1673272861786, lastPrice="17216.50"), TS_RECV) == []
    assert codec.stats.ignored == Counter({"ticker delta before its snapshot": 1})
    assert codec.stats.malformed == Counter()
