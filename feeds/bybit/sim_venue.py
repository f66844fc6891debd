"""The simulated Bybit venue for backtests: latency, the matching engine, and Bybit v5 frames out.

``SimBybit`` takes the engine's order commands like the live gateway does and answers with the
exact bytes Bybit would send, so a backtest runs the same codec and order tracker as live. Order
commands go over the wire both ways: encoded as the live gateway encodes them and decoded on
arrival as Bybit decodes them (``feeds.bybit.order_wire``), so every backtest checks the encoder.

* ``send(command)`` (the ``engine.venue.Venue`` seam, as live): the engine hands over a command at the
  clock's ``now``, written by ``feeds.bybit.order_wire.encode_order`` as Bybit's request; it reaches the
  exchange at ``now + order_latency_ns`` (plus a seeded jitter in ``[0, order_latency_jitter_ns]``
  if set). Commands never overtake each other, as on one websocket connection.
* ``on_market(event, now_ns)``: a ``BookDelta`` or ``TradePrinted`` at exchange time ``now``
  (``exchange_time_ns(event)`` says when that is). Other events are ignored. Commands that
  reached the exchange at or before ``now`` are matched first.
* ``next_due_ns()`` / ``pop_due(now_ns)``: the next time something happens, and every frame
  whose delivery time has come, as ``(delivery_ns, stream, raw)`` records in (time, creation)
  order: ``stream`` is ``"trade"`` for trade-API replies and ``"private"`` for ``order`` and
  ``execution`` pushes.

Timing: everything a command causes when it reaches the exchange at ``t`` (the reply, its fills
and the order's new state) is delivered at ``t + response_latency_ns``, in that order: reply,
then the ``execution`` push, then the ``order`` push, so the engine sees fills before the status
that follows from them. Fills of resting orders caused by market data at ``t`` are delivered
at ``t + response_latency_ns`` too (execution push, then order push). Times only move forward:
a market event stamped before a command the exchange already matched is applied after it.

Market-data latency is the gap between the time the exchange sees an event (``on_market``)
and the time the engine does (the driver hands it to the engine at its receive time). With
``market_data_latency_ns=None``, ``exchange_time_ns`` is the venue's own stamp (the book's
matching time ``cts`` if known, else its push time; a trade's time), so the recorded local
timestamps give the latency; with a number it is ``ts_recv_ns - market_data_latency_ns``, for
data whose receive times are synthetic.

Wire shapes (see ``feeds.bybit.codec``): trade replies ``{"reqId","retCode","retMsg","op","data",
"retExtInfo","header","connId"}`` with ``reqId = engine.ids.request_id(op, orderLinkId)``
(an order's n-th amend, counted from 0, gets ``attempt=n``); private pushes ``{"id","topic",
"creationTime","data":[...]}``. Numbers are exact decimal strings: prices and quantities in the
instrument's scales, values and fees without exponent or trailing zeros. Bybit's conventions
where the matching engine has nothing to say: ``cancelType`` ``UNKNOWN``, ``rejectReason``
``EC_NoError``, ``avgPrice`` ``""`` before the first fill, ``price`` ``"0"`` for market orders
(Bybit shows a protective price there; the simulator has none), ``leavesQty`` ``"0"`` once
closed. An average price that is not a whole number of ticks is rounded half-even to six more
decimals than the price scale. With ``category="spot"`` an order cancelled after fills is
``PartiallyFilledCanceled`` and no ``createType`` is sent. Cancel-all is a REST call on Bybit,
not a trade-websocket op, so it gets no reply frame here: only the order pushes of what it
cancelled. The rate-limit header counts this connection's requests in the last second against
``X-Bapi-Limit`` 10; the limit is reported, not enforced.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

import orjson

from engine.book import OrderBook
from engine.clock import Clock
from engine.commands import AmendOrder, CancelAllOrders, CancelOrder, Command, QueryOrder, SubmitOrder
from engine.enums import OrderStatus
from engine.events import BookDelta, Event, TradePrinted
from engine.ids import request_id
from engine.instrument import Instrument
from engine.sim.matching import (
    Accepted,
    Fees,
    Filled,
    MatchingEngine,
    Refused,
    Report,
    SimOrder,
    StatusChanged,
    value_of,
)
from feeds.bybit.order_wire import CODE_PARAMS, OrderDecodeError, OrderRequest, decode_order, encode_order
from feeds.bybit.outgoing import RequestError, parse_request

__all__ = ["SimBybit", "TRADE_STREAM", "PRIVATE_STREAM", "RATE_LIMIT_PER_S"]

TRADE_STREAM: Final = "trade"
PRIVATE_STREAM: Final = "private"
RATE_LIMIT_PER_S: Final = 10
"""``X-Bapi-Limit`` reported in trade replies (Bybit's default for create/amend/cancel)."""

NS_PER_MS: Final = 1_000_000
_AVG_EXTRA_DECIMALS: Final = 6
_QUOTE_COINS: Final = ("USDT", "USDC", "USDE", "EUR", "BTC", "ETH")
_OPS: Final = {SubmitOrder: "order.create", AmendOrder: "order.amend", CancelOrder: "order.cancel"}

OrderCommand = SubmitOrder | AmendOrder | CancelOrder | CancelAllOrders | QueryOrder


class SimBybit:
    """A simulated Bybit account on one trade connection. Deterministic for a given ``seed``."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        *,
        order_latency_ns: int = 5_000_000,
        response_latency_ns: int = 5_000_000,
        maker_fee: Decimal = Decimal("0.0002"),
        taker_fee: Decimal = Decimal("0.00055"),
        seed: int = 0,
        category: str = "linear",
        order_latency_jitter_ns: int = 0,
        market_data_latency_ns: int | None = None,
        fee_currency: str | None = None,
        clock: Clock,
    ) -> None:
        if min(order_latency_ns, response_latency_ns, order_latency_jitter_ns) < 0:
            raise ValueError("latencies must be >= 0")
        self.order_latency_ns = order_latency_ns
        self.response_latency_ns = response_latency_ns
        self.order_latency_jitter_ns = order_latency_jitter_ns
        self.market_data_latency_ns = market_data_latency_ns
        self.category = category
        self.seed = seed
        self.matching = MatchingEngine(instruments, Fees(maker_fee, taker_fee), seed=seed)
        self.instruments: dict[str, Instrument] = self.matching.instruments  # one set of rules, learnt or given
        self.conn_id = f"sim-{seed}"
        self.clock = clock
        self._fee_currency = fee_currency
        self._rng = random.Random(seed)
        # (arrival, order, command, reqId, the request frame as sent, or why it could not be written;
        # None for cancel-all, a REST call)
        self._arrivals: list[tuple[int, int, OrderCommand, str, bytes | str | None]] = []
        self._outbox: list[tuple[int, int, str, bytes]] = []  # (delivery, order, stream, frame)
        self._order = 0
        self._last_arrival_ns = 0
        self._now_ns = 0  # exchange time of the last thing matched: it never goes back
        self._amends: dict[str, int] = {}
        self._recent_requests: deque[int] = deque()
        self._push_count = 0
        self._trace_count = 0
        self.ignored_commands = 0
        self.ignored_events = 0

    # -- the engine's side: the Venue interface ------------------------------------------------
    def send(self, command: Command) -> None:
        """Send a command now (``clock``), as the live gateway does; its effects come back as frames.

        Order commands are written as Bybit's trade-API request by ``encode_order`` (the live
        gateway's encoder) and read back on arrival by ``decode_order``, as Bybit reads them.
        Non-order commands (``ResyncBook``) are ignored.
        """
        if not isinstance(command, SubmitOrder | AmendOrder | CancelOrder | CancelAllOrders | QueryOrder):
            self.ignored_commands += 1
            return
        now_ns = self.clock.now_ns()
        req_id = ""
        frame: bytes | str | None = None
        if not isinstance(command, CancelAllOrders | QueryOrder):
            if isinstance(command, AmendOrder):
                attempt = self._amends.get(command.client_order_id, 0)
                self._amends[command.client_order_id] = attempt + 1
                req_id = request_id("order.amend", command.client_order_id, attempt)
            else:
                req_id = request_id(_OPS[type(command)], command.client_order_id)
            frame = self._encode(command, req_id, now_ns)
        latency = self.order_latency_ns
        if self.order_latency_jitter_ns:
            latency += self._rng.randint(0, self.order_latency_jitter_ns)
        arrival = self._last_arrival_ns = max(now_ns + latency, self._last_arrival_ns)
        heapq.heappush(self._arrivals, (arrival, self._next_order(), command, req_id, frame))

    def _encode(self, command: OrderRequest, req_id: str, now_ns: int) -> bytes | str:
        """The request frame, or why the gateway could not write it (no rules for the symbol, say)."""
        instrument = self.matching.instrument(command.symbol)
        if instrument is None:
            return f"unknown symbol {command.symbol}"
        try:
            return encode_order(
                command, instrument, category=self.category, req_id=req_id, timestamp_ms=now_ns // NS_PER_MS
            )
        except ValueError as exc:
            return f"the request cannot be written: {exc}"

    # -- the exchange's side: what the backtest driver, as the simulated world, calls ------------
    def wants_market(self, symbol: str) -> bool:
        """See ``MatchingEngine.wants_market``; also true while commands are on their way."""
        return bool(self._arrivals) or self.matching.wants_market(symbol)

    def share_book(self, book: OrderBook) -> None:
        """See ``MatchingEngine.share_book``: match against the engine's book (no market-data latency)."""
        self.matching.share_book(book)

    def on_market(self, event: Event, now_ns: int) -> None:
        """The exchange sees a book message or a public trade at ``now`` (exchange time)."""
        if not isinstance(event, BookDelta | TradePrinted):
            self.ignored_events += 1
            return
        self._run_arrivals(now_ns)
        now_ns = max(now_ns, self._now_ns)
        self._now_ns = now_ns
        if isinstance(event, BookDelta):
            reports = self.matching.on_book(event, now_ns)
        else:
            reports = self.matching.on_trade(event, now_ns)
        if reports:
            self._emit(reports, now_ns, "", "")

    def exchange_time_ns(self, event: Event) -> int:
        """When the exchange saw a market event (see the module docstring); never after we received it."""
        if self.market_data_latency_ns is not None:
            return event.ts_recv_ns - self.market_data_latency_ns
        stamp = event.ts_match_ns if isinstance(event, BookDelta) and event.ts_match_ns else event.ts_event_ns
        return min(stamp, event.ts_recv_ns) if event.ts_recv_ns else stamp

    def next_due_ns(self) -> int | None:
        """Earliest command arrival or frame delivery still pending; None if nothing is."""
        times = [queue[0][0] for queue in (self._arrivals, self._outbox) if queue]
        return min(times) if times else None

    def pop_due(self, now_ns: int) -> list[tuple[int, str, bytes]]:
        """Match every command due by ``now``; return every frame due by ``now``, oldest first."""
        self._run_arrivals(now_ns)
        out: list[tuple[int, str, bytes]] = []
        outbox = self._outbox
        while outbox and outbox[0][0] <= now_ns:
            delivery, _, stream, frame = heapq.heappop(outbox)
            out.append((delivery, stream, frame))
        return out

    # -- the exchange's side --------------------------------------------------------------------
    def _run_arrivals(self, until_ns: int) -> None:
        arrivals = self._arrivals
        while arrivals and arrivals[0][0] <= until_ns:
            arrival, _, sent, req_id, frame = heapq.heappop(arrivals)
            now_ns = self._now_ns = max(arrival, self._now_ns)
            matching = self.matching
            if isinstance(sent, QueryOrder):
                self._answer_query(sent, now_ns)
                continue
            command: SubmitOrder | AmendOrder | CancelOrder | CancelAllOrders = sent
            if not isinstance(sent, CancelAllOrders):
                try:
                    if not isinstance(frame, bytes):
                        raise OrderDecodeError(CODE_PARAMS, frame or "no request")
                    command = decode_order(parse_request(frame), matching.instruments)
                except (OrderDecodeError, RequestError) as exc:
                    refused = Refused(
                        command=sent, code=getattr(exc, "code", CODE_PARAMS), message=str(exc), ts_ns=now_ns
                    )
                    self._emit([refused], now_ns, _OPS[type(sent)], req_id)
                    continue
            if isinstance(command, SubmitOrder):
                reports = matching.submit(command, now_ns)
            elif isinstance(command, AmendOrder):
                reports = matching.amend(command, now_ns)
            elif isinstance(command, CancelOrder):
                reports = matching.cancel(command, now_ns)
            else:
                reports = matching.cancel_all(command, now_ns)
            op = "" if isinstance(command, CancelAllOrders) else _OPS[type(command)]
            self._emit(reports, now_ns, op, req_id)

    def _answer_query(self, query: QueryOrder, now_ns: int) -> None:
        """What REST's order and execution queries would return, pushed in the streams' shape.

        The order's current state and every one of its executions: the engine books what it
        missed and de-duplicates the rest by execId. Nothing for an order the exchange never saw.
        """
        order = self.matching.order(query.client_order_id)
        if order is None:
            return
        reports: list[Report] = [*self.matching.fills_of(query.client_order_id)]
        reports.append(StatusChanged(order=order, status=order.status, ts_ns=now_ns))
        self._emit(reports, now_ns, "", "")

    def _emit(self, reports: list[Report], now_ns: int, op: str, req_id: str) -> None:
        """Queue the frames for what happened at ``now``: reply, executions, then orders."""
        delivery = now_ns + self.response_latency_ns
        executions: list[dict[str, Any]] = []
        orders: list[dict[str, Any]] = []
        for report in reports:
            if isinstance(report, Accepted | Refused):
                self._queue(delivery, TRADE_STREAM, self._reply(report, op, req_id, now_ns))
            elif isinstance(report, Filled):
                executions.append(self._execution_record(report))
            elif isinstance(report, StatusChanged):
                orders.append(self._order_record(report))
        if executions:
            self._queue(delivery, PRIVATE_STREAM, self._push("execution", executions, now_ns))
        if orders:
            self._queue(delivery, PRIVATE_STREAM, self._push("order", orders, now_ns))

    def _queue(self, delivery_ns: int, stream: str, frame: bytes) -> None:
        heapq.heappush(self._outbox, (delivery_ns, self._next_order(), stream, frame))

    def _next_order(self) -> int:
        self._order += 1
        return self._order

    # -- frames -----------------------------------------------------------------------------------
    def _reply(self, report: Accepted | Refused, op: str, req_id: str, now_ns: int) -> bytes:
        now_ms = now_ns // NS_PER_MS
        recent = self._recent_requests
        recent.append(now_ms)
        while recent[0] <= now_ms - 1000:
            recent.popleft()
        remaining = max(RATE_LIMIT_PER_S - len(recent), 0)
        reset_ms = now_ms if remaining else recent[0] + 1000
        self._trace_count += 1
        if isinstance(report, Accepted):
            code, message = 0, "OK"
            data: dict[str, str] = {"orderId": report.order.order_id, "orderLinkId": report.order.client_order_id}
        else:
            code, message, data = report.code, report.message, {}
        return orjson.dumps(
            {
                "reqId": req_id,
                "retCode": code,
                "retMsg": message,
                "op": op,
                "data": data,
                "retExtInfo": {},
                "header": {
                    "X-Bapi-Limit": str(RATE_LIMIT_PER_S),
                    "X-Bapi-Limit-Status": str(remaining),
                    "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
                    "Traceid": f"{self.seed & 0xFFFFFFFF:08x}{self._trace_count:024x}",
                    "Timenow": str(now_ms),
                },
                "connId": self.conn_id,
            }
        )

    def _push(self, topic: str, records: list[dict[str, Any]], now_ns: int) -> bytes:
        self._push_count += 1
        return orjson.dumps(
            {
                "id": f"{self.conn_id}-{self._push_count}",
                "topic": topic,
                "creationTime": now_ns // NS_PER_MS,
                "data": records,
            }
        )

    def _order_record(self, report: StatusChanged) -> dict[str, Any]:
        order = report.order
        instrument = self.instruments[order.symbol]
        fmt_price, fmt_qty = instrument.format_price, instrument.format_qty
        coin = self._coin(order.symbol)
        leaves = order.leaves_lots
        record: dict[str, Any] = {
            "category": self.category,
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderLinkId": order.client_order_id,
            "blockTradeId": "",
            "side": order.side.value,
            "positionIdx": 0,
            "orderStatus": self._status_text(order),
            "cancelType": report.cancel_type or "UNKNOWN",
            "rejectReason": report.reject_reason or "EC_NoError",
            "avgPrice": _avg_price_text(instrument, order),
            "leavesQty": fmt_qty(leaves),
            "leavesValue": _plain(instrument.notional(order.price_ticks, leaves)) if order.price_ticks else "0",
            "price": fmt_price(order.price_ticks) if order.price_ticks is not None else "0",
            "qty": fmt_qty(order.qty_lots),
            "cumExecQty": fmt_qty(order.filled_lots),
            "cumExecValue": _plain(value_of(instrument, order.notional)),
            "cumExecFee": _plain(order.fees),
            "cumFeeDetail": {coin: _plain(order.fees)} if coin and order.filled_lots else {},
            "feeCurrency": "",
            "closedPnl": "0",
            "timeInForce": order.time_in_force.value,
            "orderType": order.order_type.value,
            "stopOrderType": "",
            "orderIv": "",
            "marketUnit": "",
            "triggerPrice": "",
            "takeProfit": "",
            "stopLoss": "",
            "tpslMode": "",
            "ocoTriggerBy": "",
            "tpLimitPrice": "",
            "slLimitPrice": "",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": 0,
            "triggerBy": "",
            "lastPriceOnCreated": "",
            "reduceOnly": order.reduce_only,
            "closeOnTrigger": False,
            "placeType": "",
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "createdTime": str(order.created_ns // NS_PER_MS),
            "updatedTime": str(order.updated_ns // NS_PER_MS),
        }
        if self.category != "spot":
            record["createType"] = "CreateByUser"
        return record

    def _execution_record(self, fill: Filled) -> dict[str, Any]:
        order = fill.order
        instrument = self.instruments[order.symbol]
        record: dict[str, Any] = {
            "category": self.category,
            "symbol": order.symbol,
            "execId": fill.exec_id,
            "execPrice": instrument.format_price(fill.price_ticks),
            "execQty": instrument.format_qty(fill.qty_lots),
            "execValue": _plain(fill.value),
            "execFee": _plain(fill.fee),
            "feeRate": _plain(fill.fee_rate),
            "feeCurrency": self._coin(order.symbol),
            "execType": "Trade",
            "isMaker": fill.is_maker,
            "orderId": order.order_id,
            "orderLinkId": order.client_order_id,
            "orderPrice": instrument.format_price(order.price_ticks) if order.price_ticks is not None else "0",
            "orderQty": instrument.format_qty(order.qty_lots),
            "orderType": order.order_type.value,
            "stopOrderType": "UNKNOWN",
            "side": order.side.value,
            "leavesQty": instrument.format_qty(order.leaves_lots),
            "execTime": str(fill.ts_ns // NS_PER_MS),
            "isLeverage": "0",
            "blockTradeId": "",
            "markPrice": "",
            "indexPrice": "",
            "underlyingPrice": "",
            "tradeIv": "",
            "markIv": "",
            "marketUnit": "",
            "extraFees": "",
            "seq": fill.seq,
        }
        if self.category != "spot":
            record["createType"] = "CreateByUser"
        return record

    def _status_text(self, order: SimOrder) -> str:
        if self.category == "spot" and order.status is OrderStatus.CANCELLED and order.filled_lots:
            return OrderStatus.PARTIALLY_FILLED_CANCELED.value
        return order.status.value

    def _coin(self, symbol: str) -> str:
        """The fee coin: as configured, else the symbol's quote coin if it ends in a known one."""
        if self._fee_currency is not None:
            return self._fee_currency
        return next((coin for coin in _QUOTE_COINS if symbol.endswith(coin) and symbol != coin), "")


def _plain(value: Decimal) -> str:
    """A Decimal as Bybit writes numbers: no exponent, no trailing zeros, no "-0"."""
    if not value:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _avg_price_text(instrument: Instrument, order: SimOrder) -> str:
    """Average fill price: exact when it is a whole number of ticks, else rounded (see module doc)."""
    if not order.filled_lots:
        return ""
    ticks, rest = divmod(order.notional, order.filled_lots)
    if not rest:
        return instrument.format_price(ticks)
    exponent = Decimal(1).scaleb(-(instrument.price_scale + _AVG_EXTRA_DECIMALS))
    average = (value_of(instrument, order.notional) / instrument.qty_decimal(order.filled_lots)).quantize(
        exponent, rounding=ROUND_HALF_EVEN
    )
    return format(average, "f")
