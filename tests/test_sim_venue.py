"""SimBybit: latency, and Bybit v5 frames that the live codec and the order tracker understand.

Every frame the simulator delivers is parsed with ``feeds.bybit.codec.BybitCodec`` exactly as
live frames are, and checked as the events the engine would see (Decimal values, statuses, the
reqId that maps a reply back to its child order).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import orjson
import pytest

from engine.clock import SimClock
from engine.commands import AmendOrder, CancelAllOrders, CancelOrder, Command, ResyncBook, SubmitOrder
from engine.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.events import (
    BookDelta,
    ChildFilled,
    ChildStatusChanged,
    Event,
    OrderFilled,
    OrderUpdated,
    TickerUpdated,
    TradeApiReplied,
    TradePrinted,
)
from engine.ids import request_id
from engine.instrument import Instrument
from engine.orders import OrderTracker
from feeds.bybit.codec import BybitCodec
from feeds.bybit.sim_venue import PRIVATE_STREAM, TRADE_STREAM, SimBybit

SYM = "BTCUSDT"
INST = Instrument(symbol=SYM, price_scale=1, qty_scale=3, price_step_ticks=5)
INSTRUMENTS = {SYM: INST}
MS = 1_000_000
T0 = 1_700_000_000_000 * MS  # an epoch time in ns, whole ms
Frames = list[tuple[int, str, bytes]]


def snapshot(ts: int = T0 - 100 * MS) -> BookDelta:
    return BookDelta(
        ts_event_ns=ts,
        ts_recv_ns=ts,
        symbol=SYM,
        depth=50,
        is_snapshot=True,
        bids=[("95000.0", "1.000"), ("94999.5", "2.000")],
        asks=[("95000.5", "0.200"), ("95001.0", "0.500")],
        update_id=1,
        seq=1,
    )


def trade(price: str, qty: str, taker: Side, ts: int) -> TradePrinted:
    return TradePrinted(
        ts_event_ns=ts,
        ts_recv_ns=ts,
        symbol=SYM,
        trade_id="t1",
        price=Decimal(price),
        qty=Decimal(qty),
        taker_side=taker,
    )


def submit(
    coid: str, side: Side, qty: str, price: str | None = None, tif: TimeInForce = TimeInForce.GTC
) -> SubmitOrder:
    return SubmitOrder(
        client_order_id=coid,
        parent_id="P1",
        symbol=SYM,
        side=side,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        qty_lots=INST.lots(qty),
        price_ticks=None if price is None else INST.ticks(price),
        time_in_force=tif,
    )


def venue(**kwargs: Any) -> SimBybit:
    sim = SimBybit(INSTRUMENTS, clock=SimClock(T0 - 100 * MS), **kwargs)
    sim.on_market(snapshot(), T0 - 100 * MS)
    return sim


def send_at(sim: SimBybit, command: Command, now_ns: int) -> None:
    """The engine sends ``command`` at ``now``: the venue reads the time from its clock, as live."""
    assert isinstance(sim.clock, SimClock)
    sim.clock.set_time(now_ns)
    sim.send(command)


def parse(frames: Frames) -> list[Event]:
    codec = BybitCodec()
    events = [event for delivery, _, raw in frames for event in codec.parse(raw, delivery)]
    assert codec.stats.malformed_total == 0 and codec.stats.ignored_total == 0, codec.stats.malformed
    return events


def kinds(events: list[Event]) -> list[str]:
    return [type(event).__name__ for event in events]


# -- timing ---------------------------------------------------------------------------------------


def test_ack_and_taker_fills_arrive_after_order_and_response_latency() -> None:
    """A market buy sent at T0 reaches the exchange at T0+5ms; reply, fills and status come at T0+10ms."""
    sim = venue()
    send_at(sim, submit("P1-1", Side.BUY, "0.300"), T0)
    assert sim.next_due_ns() == T0 + 5 * MS
    assert sim.pop_due(T0 + 5 * MS) == []  # matched now; nothing delivered yet
    assert sim.next_due_ns() == T0 + 10 * MS
    assert sim.pop_due(T0 + 10 * MS - 1) == []
    frames = sim.pop_due(T0 + 10 * MS)
    assert [(t, stream) for t, stream, _ in frames] == [
        (T0 + 10 * MS, TRADE_STREAM),
        (T0 + 10 * MS, PRIVATE_STREAM),
        (T0 + 10 * MS, PRIVATE_STREAM),
    ]
    assert sim.next_due_ns() is None
    events = parse(frames)
    assert kinds(events) == ["TradeApiReplied", "OrderFilled", "OrderFilled", "OrderUpdated"]  # fills first
    reply, fill1, fill2, update = events
    assert isinstance(reply, TradeApiReplied)
    assert (reply.op, reply.ret_code, reply.req_id) == ("order.create", 0, request_id("order.create", "P1-1"))
    assert (reply.order_id, reply.order_link_id) == ("sim-1", "P1-1")
    assert reply.ts_event_ns == T0 + 5 * MS and reply.limit == 10 and reply.limit_remaining == 9
    assert isinstance(fill1, OrderFilled) and isinstance(fill2, OrderFilled)
    assert (fill1.price, fill1.qty, fill1.fee, fill1.is_maker) == (
        Decimal("95000.5"),
        Decimal("0.200"),
        Decimal("10.450055"),
        False,
    )
    assert (fill2.price, fill2.qty, fill2.fee, fill2.value) == (
        Decimal("95001.0"),
        Decimal("0.100"),
        Decimal("5.225055"),
        Decimal("9500.1"),
    )
    assert fill1.fee_rate == Decimal("0.00055") and fill1.fee_currency == "USDT"
    assert fill1.leaves_qty == Decimal("0.100") and fill2.leaves_qty == 0
    assert fill1.seq == fill2.seq and fill1.ts_event_ns == T0 + 5 * MS
    assert isinstance(update, OrderUpdated)
    assert update.status is OrderStatus.FILLED and update.cum_exec_qty == Decimal("0.300")
    assert update.cum_exec_value == Decimal("28500.2") and update.cum_exec_fee == Decimal("15.67511")
    assert update.avg_price == Decimal("95000.6666667")  # 28500.2 / 0.3, rounded half-even
    assert update.leaves_qty == 0 and update.time_in_force == "IOC" and update.price == 0


def test_resting_order_fills_from_later_market_data_arrive_after_response_latency() -> None:
    """A buy resting behind 1.000 fills 0.050 on a 1.050 sell trade at T; the push comes at T+5ms."""
    sim = venue()
    send_at(sim, submit("P1-1", Side.BUY, "0.100", "95000.0"), T0)
    acks = parse(sim.pop_due(T0 + 10 * MS))
    assert kinds(acks) == ["TradeApiReplied", "OrderUpdated"]
    assert isinstance(acks[1], OrderUpdated) and acks[1].status is OrderStatus.NEW and acks[1].avg_price is None
    t = T0 + 2000 * MS
    sim.on_market(trade("95000.0", "1.050", Side.SELL, t), t)
    assert sim.next_due_ns() == t + 5 * MS
    frames = sim.pop_due(t + 5 * MS)
    assert [(when, stream) for when, stream, _ in frames] == [(t + 5 * MS, PRIVATE_STREAM)] * 2
    fill, update = parse(frames)
    assert isinstance(fill, OrderFilled) and isinstance(update, OrderUpdated)
    assert (fill.price, fill.qty, fill.is_maker, fill.fee) == (
        Decimal("95000.0"),
        Decimal("0.050"),
        True,
        Decimal("0.95"),
    )
    assert fill.ts_event_ns == t and fill.order_price == Decimal("95000.0") and fill.order_qty == Decimal("0.100")
    assert update.status is OrderStatus.PARTIALLY_FILLED and update.leaves_qty == Decimal("0.050")


def test_market_data_after_a_command_arrived_is_matched_after_it() -> None:
    """on_market at T0+6ms first matches the buy that arrived at T0+5ms, so the trade can fill it."""
    sim = venue()
    send_at(sim, submit("P1-1", Side.BUY, "0.100", "95000.0"), T0)
    sim.on_market(trade("95000.0", "1.020", Side.SELL, T0 + 6 * MS), T0 + 6 * MS)
    frames = sim.pop_due(T0 + 11 * MS)
    assert [when for when, _, _ in frames] == [T0 + 10 * MS, T0 + 10 * MS, T0 + 11 * MS, T0 + 11 * MS]
    events = parse(frames)
    assert kinds(events) == ["TradeApiReplied", "OrderUpdated", "OrderFilled", "OrderUpdated"]
    assert isinstance(events[2], OrderFilled) and events[2].qty == Decimal("0.020")


def test_a_command_arriving_with_a_market_event_is_matched_first() -> None:
    """A tie at the exchange: the command that arrives at t is matched before the trade stamped t."""
    sim = venue()
    send_at(sim, submit("P1-1", Side.BUY, "0.100", "95000.0"), T0)
    sim.on_market(trade("95000.0", "1.100", Side.SELL, T0 + 5 * MS), T0 + 5 * MS)
    events = parse(sim.pop_due(T0 + 10 * MS))
    assert kinds(events) == ["TradeApiReplied", "OrderUpdated", "OrderFilled", "OrderUpdated"]


def test_latency_jitter_is_seeded_and_never_reorders_commands() -> None:
    """With jitter, equal seeds give equal bytes and times; commands still arrive in the order sent."""

    def run(seed: int) -> Frames:
        sim = venue(order_latency_jitter_ns=4 * MS, seed=seed)
        send_at(sim, submit("P1-1", Side.BUY, "0.100", "95000.0"), T0)
        send_at(sim, AmendOrder(client_order_id="P1-1", symbol=SYM, qty_lots=50), T0)
        send_at(sim, CancelOrder(client_order_id="P1-1", symbol=SYM), T0)
        return sim.pop_due(T0 + 20 * MS)

    first = run(7)
    assert first == run(7)
    replies = [e for e in parse(first) if isinstance(e, TradeApiReplied)]
    assert [(r.op, r.ret_code) for r in replies] == [("order.create", 0), ("order.amend", 0), ("order.cancel", 0)]
    times = [when for when, stream, _ in first if stream == TRADE_STREAM]
    assert times == sorted(times) and times[0] >= T0 + 10 * MS and times[-1] <= T0 + 14 * MS


# -- frame shapes -----------------------------------------------------------------------------------


def test_frames_have_bybit_v5_shapes() -> None:
    """Reply, order and execution frames carry Bybit's keys, with numbers as decimal strings."""
    sim = venue()
    send_at(sim, submit("P1-1", Side.BUY, "0.300", "95000.5"), T0)
    reply, execution, order = (orjson.loads(raw) for _, _, raw in sim.pop_due(T0 + 10 * MS))
    assert list(reply) == ["reqId", "retCode", "retMsg", "op", "data", "retExtInfo", "header", "connId"]
    assert reply["data"] == {"orderId": "sim-1", "orderLinkId": "P1-1"} and reply["retExtInfo"] == {}
    assert set(reply["header"]) == {
        "X-Bapi-Limit",
        "X-Bapi-Limit-Status",
        "X-Bapi-Limit-Reset-Timestamp",
        "Traceid",
        "Timenow",
    }
    assert reply["header"]["Timenow"] == str((T0 + 5 * MS) // MS)
    for push, topic in ((execution, "execution"), (order, "order")):
        assert list(push) == ["id", "topic", "creationTime", "data"]
        assert push["topic"] == topic and push["creationTime"] == (T0 + 5 * MS) // MS
    (exec_record,) = execution["data"]
    assert {
        "category": "linear",
        "symbol": SYM,
        "execId": "sim-exec-1",
        "orderId": "sim-1",
        "orderLinkId": "P1-1",
        "side": "Buy",
        "execPrice": "95000.5",
        "execQty": "0.200",
        "execValue": "19000.1",
        "execFee": "10.450055",
        "feeRate": "0.00055",
        "feeCurrency": "USDT",
        "execType": "Trade",
        "isMaker": False,
        "orderPrice": "95000.5",
        "orderQty": "0.300",
        "leavesQty": "0.100",
        "execTime": str((T0 + 5 * MS) // MS),
    }.items() <= exec_record.items()
    assert isinstance(exec_record["seq"], int)
    (order_record,) = order["data"]
    assert {
        "category": "linear",
        "symbol": SYM,
        "orderId": "sim-1",
        "orderLinkId": "P1-1",
        "side": "Buy",
        "orderType": "Limit",
        "timeInForce": "GTC",
        "orderStatus": "PartiallyFilled",
        "price": "95000.5",
        "qty": "0.300",
        "cumExecQty": "0.200",
        "cumExecValue": "19000.1",
        "cumExecFee": "10.450055",
        "avgPrice": "95000.5",
        "leavesQty": "0.100",
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "createdTime": str((T0 + 5 * MS) // MS),
        "updatedTime": str((T0 + 5 * MS) // MS),
        "reduceOnly": False,
        "createType": "CreateByUser",
    }.items() <= order_record.items()


def test_refused_create_is_a_reply_only_and_the_tracker_rejects_the_child() -> None:
    """An off-grid price: retCode 10001, empty data, no private push; the child ends REJECTED."""
    sim = venue()
    bad = SubmitOrder(
        client_order_id="P1-1",
        parent_id="P1",
        symbol=SYM,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty_lots=100,
        price_ticks=950003,
    )
    tracker, _ = tracked()
    tracker.register(bad, T0)
    send_at(sim, bad, T0)
    frames = sim.pop_due(T0 + 10 * MS)
    assert [stream for _, stream, _ in frames] == [TRADE_STREAM]
    assert orjson.loads(frames[0][2])["data"] == {}
    (reply,) = feed(tracker, frames)
    assert isinstance(reply, TradeApiReplied) and reply.ret_code == 10001
    child = tracker.get("P1-1")
    assert child is not None and child.status is OrderStatus.REJECTED


def test_amend_and_cancel_replies_map_back_to_the_child() -> None:
    """reqIds follow engine.ids: a0:/a1: for successive amends, x: for the cancel; a late cancel gets 110001."""
    sim = venue()
    send_at(sim, submit("P1-1", Side.BUY, "0.100", "95000.0"), T0)
    send_at(sim, AmendOrder(client_order_id="P1-1", symbol=SYM, qty_lots=80), T0)
    send_at(sim, AmendOrder(client_order_id="P1-1", symbol=SYM, price_ticks=INST.ticks("94999.5")), T0)
    send_at(sim, CancelOrder(client_order_id="P1-1", symbol=SYM), T0)
    send_at(sim, CancelOrder(client_order_id="P1-1", symbol=SYM), T0)
    events = parse(sim.pop_due(T0 + 10 * MS))
    replies = [(e.op, e.req_id, e.ret_code) for e in events if isinstance(e, TradeApiReplied)]
    assert replies == [
        ("order.create", "P1-1", 0),
        ("order.amend", "a0:P1-1", 0),
        ("order.amend", "a1:P1-1", 0),
        ("order.cancel", "x:P1-1", 0),
        ("order.cancel", "x:P1-1", 110001),
    ]
    updates = [e for e in events if isinstance(e, OrderUpdated)]
    assert [(u.status, u.qty, u.price) for u in updates] == [
        (OrderStatus.NEW, Decimal("0.100"), Decimal("95000.0")),
        (OrderStatus.NEW, Decimal("0.080"), Decimal("95000.0")),
        (OrderStatus.NEW, Decimal("0.080"), Decimal("94999.5")),
        (OrderStatus.CANCELLED, Decimal("0.080"), Decimal("94999.5")),
    ]
    assert (updates[-1].cancel_type, updates[-1].reject_reason) == ("CancelByUser", "EC_PerCancelRequest")


def test_cancel_all_sends_order_pushes_only() -> None:
    """Cancel-all has no trade-websocket reply: one order push lists every order it cancelled."""
    sim = venue()
    send_at(sim, submit("P1-1", Side.BUY, "0.100", "95000.0"), T0)
    send_at(sim, submit("P1-2", Side.SELL, "0.100", "95001.0"), T0)
    sim.pop_due(T0 + 10 * MS)
    send_at(sim, CancelAllOrders(symbol=SYM), T0 + 20 * MS)
    frames = sim.pop_due(T0 + 30 * MS)
    assert [(when, stream) for when, stream, _ in frames] == [(T0 + 30 * MS, PRIVATE_STREAM)]
    updates = parse(frames)
    assert [(u.order_link_id, u.status) for u in updates if isinstance(u, OrderUpdated)] == [
        ("P1-1", OrderStatus.CANCELLED),
        ("P1-2", OrderStatus.CANCELLED),
    ]


def test_spot_cancel_after_fills_is_partially_filled_canceled() -> None:
    """On spot an IOC remainder after fills closes PartiallyFilledCanceled; the tracker calls it CANCELLED."""
    sim = venue(category="spot")
    cmd = submit("P1-1", Side.BUY, "0.300", "95000.5", TimeInForce.IOC)
    tracker, emitted = tracked()
    tracker.register(cmd, T0)
    send_at(sim, cmd, T0)
    frames = sim.pop_due(T0 + 10 * MS)
    order_record = orjson.loads(frames[-1][2])["data"][0]
    assert order_record["orderStatus"] == "PartiallyFilledCanceled" and "createType" not in order_record
    assert order_record["category"] == "spot"
    feed(tracker, frames)
    child = tracker.get("P1-1")
    assert child is not None and child.status is OrderStatus.CANCELLED and child.filled_lots == 200
    assert [e.new for e in emitted if isinstance(e, ChildStatusChanged)] == [
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.CANCELLED,
    ]


# -- end to end with the order tracker ----------------------------------------------------------------


def tracked() -> tuple[OrderTracker, list[Event]]:
    emitted: list[Event] = []
    return OrderTracker(INSTRUMENTS.get, emitted.append), emitted


def feed(tracker: OrderTracker, frames: Frames) -> list[Event]:
    """Parse frames as live and hand each event to the tracker the way the engine routes them."""
    events = parse(frames)
    for event in events:
        if isinstance(event, TradeApiReplied):
            tracker.on_trade_reply(event)
        elif isinstance(event, OrderUpdated):
            tracker.on_order_update(event)
        elif isinstance(event, OrderFilled):
            tracker.on_fill(event)
    return events


def test_order_tracker_fed_by_sim_frames_ends_filled_with_the_right_lots_and_fee() -> None:
    """GTC buy 0.400 @ 95000.5: 0.200 taker at once, 0.200 maker from a later trade; FILLED, fees exact."""
    sim = venue()
    cmd = submit("P1-1", Side.BUY, "0.400", "95000.5")
    tracker, emitted = tracked()
    tracker.register(cmd, T0)
    send_at(sim, cmd, T0)
    feed(tracker, sim.pop_due(T0 + 10 * MS))
    child = tracker.get("P1-1")
    assert child is not None and child.status is OrderStatus.PARTIALLY_FILLED and child.filled_lots == 200
    assert child.venue_order_id == "sim-1"
    t = T0 + 50 * MS
    sim.on_market(trade("95000.5", "0.300", Side.SELL, t), t)
    assert sim.pop_due(t + 5 * MS - 1) == []
    feed(tracker, sim.pop_due(t + 5 * MS))
    child = tracker.get("P1-1")
    assert (
        child is not None and child.status is OrderStatus.FILLED and child.filled_lots == 400 and child.leaves_lots == 0
    )
    assert child.fees == Decimal("10.450055") + Decimal("3.80002")  # taker 0.00055, maker 0.0002 on 19000.1
    fills = [e for e in emitted if isinstance(e, ChildFilled)]
    assert [(f.qty_lots, f.is_maker, f.price_ticks) for f in fills] == [(200, False, 950005), (200, True, 950005)]
    assert [e.new for e in emitted if isinstance(e, ChildStatusChanged)] == [
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
    ]
    assert tracker.stale_reports == 0 and tracker.duplicate_fills == 0 and tracker.foreign_reports == 0


# -- odds and ends ------------------------------------------------------------------------------------


def test_non_order_commands_and_other_events_are_ignored() -> None:
    """ResyncBook and a ticker change nothing and schedule nothing."""
    sim = venue()
    send_at(sim, ResyncBook(symbol=SYM, depth=50), T0)
    sim.on_market(TickerUpdated(ts_event_ns=T0, ts_recv_ns=T0, symbol=SYM), T0)
    assert sim.next_due_ns() is None and (sim.ignored_commands, sim.ignored_events) == (1, 1)


def test_exchange_time_of_market_events() -> None:
    """The book's matching time, else the event's own stamp; or receive time minus a fixed feed latency."""
    sim = venue()
    book = snapshot(T0)
    assert sim.exchange_time_ns(book) == T0
    stamped = msgspec.structs.replace(book, ts_match_ns=T0 - MS)
    assert sim.exchange_time_ns(stamped) == T0 - MS
    assert sim.exchange_time_ns(trade("1", "1", Side.BUY, T0)) == T0
    assert venue(market_data_latency_ns=3 * MS).exchange_time_ns(book) == T0 - 3 * MS


def test_negative_latency_is_refused() -> None:
    """Latencies are durations."""
    with pytest.raises(ValueError, match="latencies"):
        SimBybit(INSTRUMENTS, order_latency_ns=-1, clock=SimClock())
