"""Bybit v5 websocket frames in, typed engine events out. No I/O, no clock, no exceptions out.

``BybitCodec.parse(raw, ts_recv_ns)`` turns one frame (bytes or str) from any Bybit v5 stream
(public, private or trade) into zero or more events. A frame it cannot read, or one with a
field of the wrong type, is a *malformed* drop; a well-formed frame it has no use for (an
unknown topic, say) is an *ignored* drop. Both are counted by reason in ``stats`` and logged,
and ``parse`` returns an empty list: a bad frame never raises into the pipeline.

Routing follows the protocol: data pushes carry ``topic``; control replies carry ``op`` (or
``type == "COMMAND_RESP"`` on option streams) and no topic. Key order is never relied on for
correctness, only for speed: book and trade frames, nine in ten on a public stream, start with
their topic, so a frame that does is decoded straight into a typed msgspec struct (about twice
as fast as generic JSON decoding, with field types checked in C). Any other frame, or one the
typed decoder refuses, takes the generic path, where ``msgspec.convert`` applies the very same
struct to the decoded object: one schema and one event builder per message kind. Numbers stay
strings until they become ``Decimal`` here or integer ticks in the book.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import msgspec
import structlog

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
    PriceLimitUpdated,
    SubscriptionReplied,
    TickerUpdated,
    TradeApiItem,
    TradeApiReplied,
    TradePrinted,
    WalletUpdated,
)

__all__ = [
    "BybitCodec",
    "CodecStats",
    "FrameError",
    "ORDER_FILL_EXEC_TYPES",
    "order_update_from_record",
    "execution_from_record",
]

log = structlog.get_logger("feeds.bybit.codec")

NS_PER_MS: Final = 1_000_000

ORDER_FILL_EXEC_TYPES: Final = frozenset({"Trade", "BlockTrade", "FutureSpread"})
"""execType values that are fills of our own orders; the rest (Funding, AdlTrade, ...) are not."""

_SIDES: Final = {"Buy": Side.BUY, "Sell": Side.SELL}
_STATUSES: Final = {s.value: s for s in OrderStatus}
_REPLY_MARKERS: Final = frozenset({"success", "ret_msg", "retCode", "retMsg"})
_MEMO_MAX: Final = 4096
"""Topics (and book depths) remembered per codec; garbage topics past this are parsed, not memoised."""
_KNOWN_OPS: Final = frozenset({"auth", "subscribe", "unsubscribe", "ping", "pong"})
_MALFORMED: Final = (
    KeyError,
    TypeError,
    ValueError,
    IndexError,
    AttributeError,
    InvalidOperation,
    msgspec.ValidationError,
)
_BOOK_PREFIX: Final = b'{"topic":"orderbook.'
_TRADE_PREFIX: Final = b'{"topic":"publicTrade.'


# Wire schemas of the two hot message kinds. Unknown fields are ignored; a wrong type is a
# ValidationError, which makes the frame a counted malformed drop.
class _BookData(msgspec.Struct, gc=False):
    s: str
    b: list[tuple[str, str]]  # decoding to tuples is ~15% faster than to lists, and checks arity
    a: list[tuple[str, str]]
    u: int
    seq: int = 0


class _BookFrame(msgspec.Struct, gc=False):
    topic: str
    type: str
    ts: int
    data: _BookData
    cts: int = 0


class _Trade(msgspec.Struct, gc=False):
    T: int
    s: str
    S: str
    v: str
    p: str
    i: str
    L: str = ""
    BT: bool = False
    RPI: bool = False
    seq: int = 0


class _TradeFrame(msgspec.Struct, gc=False):
    topic: str
    ts: int
    data: list[_Trade]


class FrameError(ValueError):
    """A frame that is valid JSON but not a valid Bybit message (missing field, wrong type)."""


class CodecStats:
    """What the codec has seen. ``ignored``/``malformed`` count drops by reason."""

    __slots__ = ("book", "control", "frames", "ignored", "malformed", "trade")

    def __init__(self) -> None:
        self.frames = 0
        self.book = 0
        self.trade = 0
        self.control = 0
        self.ignored: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()

    @property
    def ignored_total(self) -> int:
        return sum(self.ignored.values())

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())


_Handler = Callable[[dict[str, Any], int, str], list[Event]]


class BybitCodec:
    """Stateful only where Bybit is: ticker deltas are merged into the last ticker snapshot.

    ``symbols``: if given, data for other symbols is ignored (counted, cheaply, before any
    event is built).
    """

    def __init__(self, *, symbols: Iterable[str] | None = None) -> None:
        self.stats = CodecStats()
        self._decode = msgspec.json.Decoder().decode
        self._decode_book = msgspec.json.Decoder(_BookFrame).decode
        self._decode_trades = msgspec.json.Decoder(_TradeFrame).decode
        self._symbols = frozenset(symbols) if symbols is not None else None
        self._routes: dict[str, tuple[_Handler, str]] = {}
        self._depths: dict[str, int] = {}
        self._tickers: dict[str, dict[str, Any]] = {}
        self._prefix_handlers: dict[str, _Handler] = {
            "orderbook": self._book,
            "publicTrade": self._trades,
            "tickers": self._ticker,
            "kline": self._klines,
            "allLiquidation": self._liquidations,
            "liquidation": self._liquidation_legacy,
            "priceLimit": self._price_limit,
            "order": self._orders,
            "execution": self._executions,
            "position": self._positions,
            "wallet": self._wallets,
        }

    # -- entry point ----------------------------------------------------------------------
    def parse(self, raw: bytes | str, ts_recv_ns: int) -> list[Event]:
        """All events in one frame; [] for a dropped frame (see ``stats``)."""
        stats = self.stats
        stats.frames += 1
        if type(raw) is bytes:
            if raw.startswith(_BOOK_PREFIX):
                try:
                    events = self._book_events(self._decode_book(raw), ts_recv_ns)
                except _MALFORMED:
                    pass  # the generic path below reports exactly what is wrong
                else:
                    return events
            elif raw.startswith(_TRADE_PREFIX):
                try:
                    events = self._trade_events(self._decode_trades(raw), ts_recv_ns)
                except _MALFORMED:
                    pass
                else:
                    return events
        try:
            msg = self._decode(raw)
            topic = msg.get("topic")
        except msgspec.DecodeError as exc:
            return self._malformed("invalid JSON", exc, raw)
        except AttributeError:
            return self._malformed("not a JSON object", None, raw)
        except TypeError as exc:  # neither bytes nor str
            return self._malformed("not a text frame", exc, raw)
        try:
            if topic is None:
                events = self._control(msg, ts_recv_ns)
            else:
                route = self._routes.get(topic) or self._route(topic)
                events = route[0](msg, ts_recv_ns, route[1])
        except _MALFORMED as exc:
            return self._malformed(f"bad {self._kind_of(topic, msg)} frame", exc, raw)
        return events

    def _route(self, topic: object) -> tuple[_Handler, str]:
        """Handler for a topic, memoised: the topic string is split once, not per message."""
        if type(topic) is not str:
            raise FrameError(f"topic is not a string: {topic!r}")
        prefix = topic.partition(".")[0]
        handler = self._prefix_handlers.get(prefix)
        if handler is None or (prefix == "orderbook" and self._book_depth(topic) is None):
            return self._unknown_topic, ""  # never memoised: garbage must not grow the codec
        route = (handler, prefix)
        if len(self._routes) < _MEMO_MAX:
            self._routes[topic] = route
        return route

    def _book_depth(self, topic: str) -> int | None:
        """N of ``orderbook.N.SYMBOL`` (0 for ``orderbook.full``), memoised; None if not a book.

        ``orderbook.rpi`` books carry a third size column for RPI orders and are not tracked.
        """
        depth = self._depths.get(topic)
        if depth is None:
            _, depth_text, symbol = [*topic.split(".", 2), "", ""][:3]
            if not symbol or depth_text == "rpi":
                return None
            if depth_text == "full":
                depth = FULL_DEPTH
            elif depth_text.isdigit() and depth_text[0] != "0":
                depth = int(depth_text)
            else:
                return None
            if len(self._depths) < _MEMO_MAX:
                self._depths[topic] = depth
        return depth

    # -- drops ----------------------------------------------------------------------------
    # Counters are keyed by a fixed set of reasons (the literals below, and "bad <kind> frame" for
    # the kinds ``_kind_of`` knows), never by a value from the frame: a daemon fed garbage for
    # weeks keeps a handful of counters. The offending value goes into the (rate-limited) log line.
    def _malformed(self, reason: str, exc: BaseException | None, raw: object) -> list[Event]:
        count = self.stats.malformed[reason] = self.stats.malformed[reason] + 1
        if _worth_logging(count):
            log.warning(
                "malformed frame dropped",
                reason=reason,
                error=str(exc or ""),
                count=count,
                frame=_preview(raw),
            )
        return []

    def _ignore(self, reason: str, detail: object = None) -> list[Event]:
        count = self.stats.ignored[reason] = self.stats.ignored[reason] + 1
        if _worth_logging(count):
            if detail is None:
                log.info("frame ignored", reason=reason, count=count)
            else:
                log.info("frame ignored", reason=reason, count=count, value=_preview(detail, 100))
        return []

    def _unknown_topic(self, msg: dict[str, Any], ts_recv_ns: int, prefix: str) -> list[Event]:
        return self._ignore("unknown topic", msg["topic"])

    def _kind_of(self, topic: object, msg: object) -> str:
        """The frame's kind for a malformed-drop reason, from a fixed vocabulary."""
        if type(topic) is str:
            prefix = topic.partition(".")[0]
            return prefix if prefix in self._prefix_handlers else "unknown-topic"
        op = msg.get("op") if isinstance(msg, dict) else None
        if op in _KNOWN_OPS:
            return f"{op} reply"
        return "trade-API reply" if type(op) is str and op.startswith("order.") else "control"

    # -- public data ------------------------------------------------------------------------
    def _book(self, msg: dict[str, Any], ts_recv_ns: int, prefix: str) -> list[Event]:
        return self._book_events(msgspec.convert(msg, _BookFrame), ts_recv_ns)

    def _book_events(self, frame: _BookFrame, ts_recv_ns: int) -> list[Event]:
        data = frame.data
        symbol = data.s
        if self._symbols is not None and symbol not in self._symbols:
            return self._ignore("other symbol")
        depth = self._depths.get(frame.topic)
        if depth is None:
            depth = self._book_depth(frame.topic)
            if depth is None:
                return self._ignore("unknown topic", frame.topic)
        kind = frame.type
        if kind == "delta":
            is_snapshot = False
        elif kind == "snapshot":
            is_snapshot = True
        else:
            raise FrameError(f"unknown book message type {kind!r}")
        self.stats.book += 1
        return [
            BookDelta(
                ts_event_ns=frame.ts * NS_PER_MS,
                ts_recv_ns=ts_recv_ns,
                symbol=symbol,
                depth=depth,
                is_snapshot=is_snapshot,
                bids=data.b,
                asks=data.a,
                update_id=data.u,
                seq=data.seq,
                ts_match_ns=frame.cts * NS_PER_MS,
            )
        ]

    def _trades(self, msg: dict[str, Any], ts_recv_ns: int, prefix: str) -> list[Event]:
        return self._trade_events(msgspec.convert(msg, _TradeFrame), ts_recv_ns)

    def _trade_events(self, frame: _TradeFrame, ts_recv_ns: int) -> list[Event]:
        symbols = self._symbols
        events: list[Event] = [
            TradePrinted(
                ts_event_ns=item.T * NS_PER_MS,
                ts_recv_ns=ts_recv_ns,
                symbol=item.s,
                trade_id=item.i,
                price=_dec(item.p),
                qty=_dec(item.v),
                taker_side=_SIDES[item.S],
                tick_direction=item.L,
                is_block_trade=item.BT,
                is_rpi=item.RPI,
                seq=item.seq,
            )
            for item in frame.data
            if symbols is None or item.s in symbols
        ]
        if not events and frame.data:
            return self._ignore("other symbol")
        self.stats.trade += 1  # counted once built: a malformed frame (tried on both paths) is not a trade
        return events

    def _ticker(self, msg: dict[str, Any], ts_recv_ns: int, prefix: str) -> list[Event]:
        data = msg["data"]
        symbol = _text(data["symbol"])
        if self._symbols is not None and symbol not in self._symbols:
            return self._ignore("other symbol")
        if msg.get("type") == "delta":
            base = self._tickers.get(symbol)
            if base is None:
                return self._ignore("ticker delta before its snapshot")
            merged = {**base, **data}
        else:
            merged = dict(data)
        events: list[Event] = [
            TickerUpdated(
                ts_event_ns=_ms(msg["ts"]) * NS_PER_MS,
                ts_recv_ns=ts_recv_ns,
                symbol=symbol,
                last_price=_opt_dec(merged.get("lastPrice")),
                mark_price=_opt_dec(merged.get("markPrice")),
                index_price=_opt_dec(merged.get("indexPrice", merged.get("usdIndexPrice"))),
                bid1_price=_opt_dec(merged.get("bid1Price", merged.get("bidPrice"))),
                bid1_size=_opt_dec(merged.get("bid1Size", merged.get("bidSize"))),
                ask1_price=_opt_dec(merged.get("ask1Price", merged.get("askPrice"))),
                ask1_size=_opt_dec(merged.get("ask1Size", merged.get("askSize"))),
                high_price_24h=_opt_dec(merged.get("highPrice24h")),
                low_price_24h=_opt_dec(merged.get("lowPrice24h")),
                volume_24h=_opt_dec(merged.get("volume24h")),
                turnover_24h=_opt_dec(merged.get("turnover24h")),
                price_24h_pcnt=_opt_dec(merged.get("price24hPcnt", merged.get("change24h"))),
                open_interest=_opt_dec(merged.get("openInterest")),
                funding_rate=_opt_dec(merged.get("fundingRate")),
                next_funding_time_ms=_opt_ms(merged.get("nextFundingTime")),
            )
        ]
        self._tickers[symbol] = merged  # only once readable: a dropped delta must not poison later merges
        return events

    def _klines(self, msg: dict[str, Any], ts_recv_ns: int, prefix: str) -> list[Event]:
        symbol = msg["topic"].rsplit(".", 1)[1]
        if self._symbols is not None and symbol not in self._symbols:
            return self._ignore("other symbol")
        return [
            KlineUpdated(
                ts_event_ns=_ms(item.get("timestamp", msg["ts"])) * NS_PER_MS,
                ts_recv_ns=ts_recv_ns,
                symbol=symbol,
                interval=_text(item["interval"]),
                start_ms=_ms(item["start"]),
                end_ms=_ms(item["end"]),
                open=_dec(item["open"]),
                high=_dec(item["high"]),
                low=_dec(item["low"]),
                close=_dec(item["close"]),
                volume=_dec(item["volume"]),
                turnover=_dec(item["turnover"]),
                confirmed=_bool(item["confirm"]),
            )
            for item in msg["data"]
        ]

    def _liquidations(self, msg: dict[str, Any], ts_recv_ns: int, prefix: str) -> list[Event]:
        return [
            LiquidationPrinted(
                ts_event_ns=_ms(item["T"]) * NS_PER_MS,
                ts_recv_ns=ts_recv_ns,
                symbol=_text(item["s"]),
                position_side=_SIDES[item["S"]],
                price=_dec(item["p"]),
                qty=_dec(item["v"]),
            )
            for item in msg["data"]
            if self._symbols is None or item["s"] in self._symbols
        ]

    def _liquidation_legacy(self, msg: dict[str, Any], ts_recv_ns: int, prefix: str) -> list[Event]:
        """The retired ``liquidation.{symbol}`` topic (one object per push), still in old recordings."""
        item = msg["data"]
        if self._symbols is not None and item["symbol"] not in self._symbols:
            return self._ignore("other symbol")
        return [
            LiquidationPrinted(
                ts_event_ns=_ms(item.get("updatedTime", msg["ts"])) * NS_PER_MS,
                ts_recv_ns=ts_recv_ns,
                symbol=_text(item["symbol"]),
                position_side=_SIDES[item["side"]],
                price=_dec(item["price"]),
                qty=_dec(item["size"]),
            )
        ]

    def _price_limit(self, msg: dict[str, Any], ts_recv_ns: int, prefix: str) -> list[Event]:
        data = msg["data"]
        if self._symbols is not None and data["symbol"] not in self._symbols:
            return self._ignore("other symbol")
        return [
            PriceLimitUpdated(
                ts_event_ns=_ms(msg["ts"]) * NS_PER_MS,
                ts_recv_ns=ts_recv_ns,
                symbol=_text(data["symbol"]),
                buy_limit=_dec(data["buyLmt"]),
                sell_limit=_dec(data["sellLmt"]),
            )
        ]

    # -- private data -------------------------------------------------------------------------
    def _orders(self, msg: dict[str, Any], ts_recv_ns: int, prefix: str) -> list[Event]:
        # The shared converters' inner halves: a bad record raises straight into ``parse``,
        # which counts and logs it, without the public wrappers' re-raise as FrameError.
        creation_time = msg.get("creationTime")
        return [_order_update(item, ts_recv_ns, "", creation_time, False) for item in _records(msg)]

    def _executions(self, msg: dict[str, Any], ts_recv_ns: int, prefix: str) -> list[Event]:
        is_fast = msg["topic"].startswith("execution.fast")
        return [_execution(item, ts_recv_ns, "", is_fast, False) for item in _records(msg)]

    def _positions(self, msg: dict[str, Any], ts_recv_ns: int, prefix: str) -> list[Event]:
        events: list[Event] = []
        for item in _records(msg):
            side_text = item.get("side", "")
            events.append(
                PositionUpdated(
                    ts_event_ns=_ms(item.get("updatedTime") or msg["creationTime"]) * NS_PER_MS,
                    ts_recv_ns=ts_recv_ns,
                    category=_text(item.get("category", "")),
                    symbol=_text(item["symbol"]),
                    side=_SIDES[side_text] if side_text else None,
                    size=_dec(item["size"]),
                    position_idx=_opt_int(item.get("positionIdx")) or 0,
                    entry_price=_opt_dec(item.get("entryPrice", item.get("avgPrice"))),
                    mark_price=_opt_dec(item.get("markPrice")),
                    position_value=_opt_dec(item.get("positionValue")),
                    leverage=_opt_dec(item.get("leverage")),
                    unrealised_pnl=_opt_dec(item.get("unrealisedPnl")),
                    cum_realised_pnl=_opt_dec(item.get("cumRealisedPnl")),
                    liq_price=_opt_dec(item.get("liqPrice")),
                    position_status=_text(item.get("positionStatus", "")),
                    seq=_opt_int(item.get("seq")) or -1,  # Bybit: -1 for a position never traded
                )
            )
        return events

    def _wallets(self, msg: dict[str, Any], ts_recv_ns: int, prefix: str) -> list[Event]:
        ts_event_ns = _ms(msg["creationTime"]) * NS_PER_MS
        return [
            WalletUpdated(
                ts_event_ns=ts_event_ns,
                ts_recv_ns=ts_recv_ns,
                account_type=_text(item.get("accountType", "")),
                total_equity=_opt_dec(item.get("totalEquity")),
                total_wallet_balance=_opt_dec(item.get("totalWalletBalance")),
                total_margin_balance=_opt_dec(item.get("totalMarginBalance")),
                total_available_balance=_opt_dec(item.get("totalAvailableBalance")),
                account_im_rate=_opt_dec(item.get("accountIMRate")),
                account_mm_rate=_opt_dec(item.get("accountMMRate")),
                coins=tuple(
                    CoinBalance(
                        coin=_text(coin["coin"]),
                        equity=_opt_dec(coin.get("equity")),
                        wallet_balance=_opt_dec(coin.get("walletBalance")),
                        locked=_opt_dec(coin.get("locked")),
                        usd_value=_opt_dec(coin.get("usdValue")),
                        unrealised_pnl=_opt_dec(coin.get("unrealisedPnl")),
                        cum_realised_pnl=_opt_dec(coin.get("cumRealisedPnl")),
                        borrow_amount=_opt_dec(coin.get("borrowAmount")),
                    )
                    for coin in item.get("coin") or ()
                ),
            )
            for item in _records(msg)
        ]

    # -- control replies ------------------------------------------------------------------
    def _control(self, msg: dict[str, Any], ts_recv_ns: int) -> list[Event]:
        """Replies to our requests: pong, auth, subscribe/unsubscribe, trade-API order ops."""
        self.stats.control += 1
        op = msg.get("op")
        if op == "pong" or (op == "ping" and msg.get("ret_msg") == "pong"):
            return [self._pong(msg, ts_recv_ns)]
        if msg.get("type") == "COMMAND_RESP":
            return [self._subscription(msg, ts_recv_ns)]
        if op is None:
            return self._ignore("neither topic nor op: not a Bybit websocket frame")
        if _REPLY_MARKERS.isdisjoint(msg):
            return self._ignore("a client request, not a reply", op)
        if op == "auth":
            return [self._auth(msg, ts_recv_ns)]
        if op in ("subscribe", "unsubscribe"):
            return [self._subscription(msg, ts_recv_ns)]
        if type(op) is str and op.startswith("order."):
            return [self._trade_reply(msg, ts_recv_ns)]
        return self._ignore("unknown reply op", op)

    def _pong(self, msg: dict[str, Any], ts_recv_ns: int) -> PongReceived:
        stamps = msg.get("args") or msg.get("data") or ()
        server_ms = _opt_ms(stamps[0]) if stamps else None
        return PongReceived(
            ts_event_ns=server_ms * NS_PER_MS if server_ms else ts_recv_ns,
            ts_recv_ns=ts_recv_ns,
            req_id=_text(msg.get("req_id", msg.get("reqId", "")) or ""),
            conn_id=_text(msg.get("conn_id", msg.get("connId", "")) or ""),
            server_time_ms=server_ms,
        )

    def _auth(self, msg: dict[str, Any], ts_recv_ns: int) -> AuthReplied:
        ret_code = msg.get("retCode")
        success = msg.get("success", ret_code == 0)
        return AuthReplied(
            ts_event_ns=ts_recv_ns,
            ts_recv_ns=ts_recv_ns,
            success=_bool(success),
            ret_code=_opt_int(ret_code) or 0,
            message=_text(msg.get("ret_msg", msg.get("retMsg", "")) or ""),
            req_id=_text(msg.get("req_id", msg.get("reqId", "")) or ""),
            conn_id=_text(msg.get("conn_id", msg.get("connId", "")) or ""),
        )

    def _subscription(self, msg: dict[str, Any], ts_recv_ns: int) -> SubscriptionReplied:
        data = msg.get("data") or {}
        return SubscriptionReplied(
            ts_event_ns=ts_recv_ns,
            ts_recv_ns=ts_recv_ns,
            op=_text(msg.get("op", "subscribe")),
            success=_bool(msg["success"]),
            message=_text(msg.get("ret_msg", "") or ""),
            req_id=_text(msg.get("req_id", "") or ""),
            conn_id=_text(msg.get("conn_id", "") or ""),
            succeeded_topics=tuple(map(_text, data.get("successTopics") or ())),
            failed_topics=tuple(map(_text, data.get("failTopics") or ())),
        )

    def _trade_reply(self, msg: dict[str, Any], ts_recv_ns: int) -> TradeApiReplied:
        header = msg.get("header") or {}
        data = msg.get("data") or {}
        outcomes = (msg.get("retExtInfo") or {}).get("list") or ()
        items = tuple(
            TradeApiItem(
                order_link_id=_text(entry.get("orderLinkId", "")),
                order_id=_text(entry.get("orderId", "")),
                symbol=_text(entry.get("symbol", "")),
                code=_opt_int(outcome.get("code")) or 0,
                message=_text(outcome.get("msg", "")),
            )
            for entry, outcome in zip(data.get("list") or (), outcomes, strict=False)
        )
        now_ms = _opt_ms(header.get("Timenow"))
        return TradeApiReplied(
            ts_event_ns=now_ms * NS_PER_MS if now_ms else ts_recv_ns,
            ts_recv_ns=ts_recv_ns,
            op=_text(msg["op"]),
            ret_code=_int(msg["retCode"]),
            message=_text(msg.get("retMsg", "")),
            req_id=_text(msg.get("reqId", "")),
            order_id=_text(data.get("orderId", "")),
            order_link_id=_text(data.get("orderLinkId", "")),
            items=items,
            limit=_opt_int(header.get("X-Bapi-Limit")),
            limit_remaining=_opt_int(header.get("X-Bapi-Limit-Status")),
            limit_reset_ms=_opt_int(header.get("X-Bapi-Limit-Reset-Timestamp")),
            trace_id=_text(header.get("Traceid", "")),
            conn_id=_text(msg.get("connId", "")),
        )


# -- per-record converters of the private order and execution topics ----------------------
# One mapping from a Bybit record to an event, shared by the stream (``BybitCodec``) and by REST
# reconciliation (``feeds.bybit.rest``): ``GET /v5/order/realtime`` and ``/v5/order/history``
# return the records the ``order`` topic pushes, ``GET /v5/execution/list`` those of
# ``execution``, so one order read either way gives equal events (``recovered`` and
# ``ts_recv_ns`` apart).


def order_update_from_record(
    record: Mapping[str, Any],
    ts_recv_ns: int,
    *,
    category: str = "",
    fallback_time_ms: int | str | None = None,
    recovered: bool = False,
) -> OrderUpdated:
    """The ``OrderUpdated`` for one order record; ``FrameError`` if the record is unreadable.

    ``category`` is used when the record has none (REST pages carry it once, beside the list).
    ``fallback_time_ms`` (epoch ms, an int or Bybit's string) stands in for a missing
    ``updatedTime``: the stream passes the message's ``creationTime``, REST the response's ``time``.
    """
    try:
        return _order_update(record, ts_recv_ns, category, fallback_time_ms, recovered)
    except FrameError:
        raise
    except _MALFORMED as exc:
        raise _record_error(exc) from exc


def execution_from_record(
    record: Mapping[str, Any],
    ts_recv_ns: int,
    *,
    category: str = "",
    is_fast: bool = False,
    recovered: bool = False,
) -> OrderFilled | NonTradeExecution:
    """The event for one execution record; ``FrameError`` if the record is unreadable.

    A fill of our own order (``execType`` in ``ORDER_FILL_EXEC_TYPES``; ``execution.fast``
    records have no execType and are always trades) becomes an ``OrderFilled``; funding, ADL,
    delivery and the like a ``NonTradeExecution``. ``category`` is used when the record has none.
    """
    try:
        return _execution(record, ts_recv_ns, category, is_fast, recovered)
    except FrameError:
        raise
    except _MALFORMED as exc:
        raise _record_error(exc) from exc


def _record_error(exc: BaseException) -> FrameError:
    """One error type out of the converters, whatever the field readers tripped over."""
    if isinstance(exc, KeyError):
        return FrameError(f"missing field {exc}")
    return FrameError(f"{type(exc).__name__}: {exc}")


def _order_update(
    item: Mapping[str, Any],
    ts_recv_ns: int,
    category: str,
    fallback_time_ms: object,
    recovered: bool,
) -> OrderUpdated:
    status_text = item["orderStatus"]
    status = _STATUSES.get(status_text)
    if status is None or status in (OrderStatus.CREATED, OrderStatus.SENT):
        raise FrameError(f"unknown orderStatus {status_text!r}")
    updated_ms = _ms(item.get("updatedTime") or fallback_time_ms)
    avg_price = _opt_dec(item.get("avgPrice"))
    return OrderUpdated(
        ts_event_ns=updated_ms * NS_PER_MS,
        ts_recv_ns=ts_recv_ns,
        category=_text(item.get("category", category)),
        symbol=_text(item["symbol"]),
        order_id=_text(item["orderId"]),
        order_link_id=_text(item.get("orderLinkId", "")),
        side=_SIDES[item["side"]],
        order_type=_text(item.get("orderType", "")),
        time_in_force=_text(item.get("timeInForce", "")),
        status=status,
        price=_opt_dec(item.get("price")),
        qty=_dec(item["qty"]),
        cum_exec_qty=_dec(item["cumExecQty"]),
        cum_exec_value=_opt_dec(item.get("cumExecValue")),
        cum_exec_fee=_opt_dec(item.get("cumExecFee")),
        avg_price=None if avg_price == 0 else avg_price,  # "0" and "" both mean no fills yet
        leaves_qty=_opt_dec(item.get("leavesQty")),
        cancel_type=_text(item.get("cancelType", "")),
        reject_reason=_text(item.get("rejectReason", "")),
        reduce_only=item.get("reduceOnly") is True,
        created_time_ms=_ms(item.get("createdTime") or 0),
        recovered=recovered,
    )


def _execution(
    item: Mapping[str, Any],
    ts_recv_ns: int,
    category: str,
    is_fast: bool,
    recovered: bool,
) -> OrderFilled | NonTradeExecution:
    exec_type = _text(item.get("execType", "Trade"))
    ts_event_ns = _ms(item["execTime"]) * NS_PER_MS
    if exec_type not in ORDER_FILL_EXEC_TYPES:
        side_text = item.get("side")
        return NonTradeExecution(
            ts_event_ns=ts_event_ns,
            ts_recv_ns=ts_recv_ns,
            category=_text(item.get("category", category)),
            symbol=_text(item["symbol"]),
            exec_id=_text(item["execId"]),
            exec_type=exec_type,
            side=_SIDES.get(side_text) if side_text else None,
            price=_opt_dec(item.get("execPrice")),
            qty=_opt_dec(item.get("execQty")),
            fee=_opt_dec(item.get("execFee")),
        )
    return OrderFilled(
        ts_event_ns=ts_event_ns,
        ts_recv_ns=ts_recv_ns,
        category=_text(item.get("category", category)),
        symbol=_text(item["symbol"]),
        exec_id=_text(item["execId"]),
        order_id=_text(item["orderId"]),
        order_link_id=_text(item.get("orderLinkId", "")),
        side=_SIDES[item["side"]],
        price=_dec(item["execPrice"]),
        qty=_dec(item["execQty"]),
        is_maker=_bool(item["isMaker"]),
        exec_type=exec_type,
        value=_opt_dec(item.get("execValue")),
        fee=_opt_dec(item.get("execFee")),
        fee_rate=_opt_dec(item.get("feeRate")),
        fee_currency=_text(item.get("feeCurrency", "")),
        order_qty=_opt_dec(item.get("orderQty")),
        order_price=_opt_dec(item.get("orderPrice")),
        leaves_qty=_opt_dec(item.get("leavesQty")),
        seq=_opt_int(item.get("seq")) or 0,
        is_fast=is_fast,
        recovered=recovered,
    )


# -- strict field readers: each raises a _MALFORMED error on a wrong type -------------------


def _text(value: object) -> str:
    if type(value) is not str:
        raise FrameError(f"expected a string, got {value!r}")
    return value


def _dec(value: object) -> Decimal:
    """An exact decimal from Bybit's string (never from a float)."""
    if type(value) is not str or not value:
        raise FrameError(f"expected a decimal string, got {value!r}")
    result = Decimal(value)
    if not result.is_finite():
        raise FrameError(f"not a finite number: {value!r}")
    return result


def _opt_dec(value: object) -> Decimal | None:
    """Like ``_dec``, but Bybit's "" (and absence) mean "no value"."""
    if value is None or value == "":
        return None
    return _dec(value)


def _int(value: object) -> int:
    if type(value) is int:
        return value
    if type(value) is str and value.lstrip("-").isdigit():
        return int(value)
    raise FrameError(f"expected an integer, got {value!r}")


def _opt_int(value: object) -> int | None:
    return None if value is None or value == "" else _int(value)


def _ms(value: object) -> int:
    """Epoch milliseconds, which Bybit sends as an int in public data and a string in private."""
    result = _int(value)
    if result < 0:
        raise FrameError(f"negative timestamp {value!r}")
    return result


def _opt_ms(value: object) -> int | None:
    return None if value is None or value == "" else _ms(value)


def _bool(value: object) -> bool:
    if type(value) is not bool:
        raise FrameError(f"expected a boolean, got {value!r}")
    return value


def _records(msg: dict[str, Any]) -> list[dict[str, Any]]:
    data = msg["data"]
    if type(data) is not list:
        raise FrameError("private topic data is not a list")
    return data


def _worth_logging(count: int) -> bool:
    """Log the first ten of a kind, then every power of two: visible, never a flood."""
    return count <= 10 or count & (count - 1) == 0


def _preview(raw: object, limit: int = 200) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw)
    return text if len(text) <= limit else text[:limit] + "..."
