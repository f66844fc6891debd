"""What the streams cannot settle is asked, never re-sent (issue 7's core for live trading).

A child that hears nothing, an order the stream calls Filled whose executions were lost, a
cancel refused because the order is gone: each raises one ``QueryOrder``; the answers (REST
records, as ``OrderUpdated``/``OrderFilled`` events) go through the same de-duplication as the
streams. Refused cancels and amends reach the strategy. Children sent by an earlier run are
recognised by their orderLinkId. Timers that queue commands wake the driver.
"""

from __future__ import annotations

from engine.clock import NS_PER_S, SimClock
from engine.commands import Command, QueryOrder, SubmitOrder
from engine.engine import Engine
from engine.enums import OrderType, Side, TimeInForce
from engine.events import BookDelta, ChildRequestRefused, ChildStatusChanged, Event, TradeApiReplied
from engine.ids import request_id
from engine.orders import OrderTracker
from feeds.bybit.codec import BybitCodec
from feeds.bybit.sim_venue import SimBybit
from tests.test_orders import BTC, S, fill, submit, update

T0 = 1_000


def tracked() -> tuple[OrderTracker, list[Event], list[Command], SimClock]:
    events: list[Event] = []
    commands: list[Command] = []
    clock = SimClock(0)
    tracker = OrderTracker(
        lambda symbol: BTC if symbol == "BTCUSDT" else None,
        events.append,
        clock=clock,
        command=commands.append,
        ack_timeout_ns=5 * NS_PER_S,
        fill_grace_ns=2 * NS_PER_S,
    )
    return tracker, events, commands, clock


def reply(op: str, code: int, message: str = "OK", link: str = "P1-1") -> TradeApiReplied:
    return TradeApiReplied(
        ts_event_ns=T0, ts_recv_ns=T0, op=op, ret_code=code, message=message, req_id=request_id(op, link)
    )


def test_a_child_that_hears_nothing_is_queried_once_never_resent() -> None:
    tracker, _, commands, clock = tracked()
    submit(tracker)
    clock.advance_to(5 * NS_PER_S)
    assert commands == []
    clock.advance_to(6 * NS_PER_S)
    clock.advance_to(60 * NS_PER_S)
    assert commands == [QueryOrder(client_order_id="P1-1", symbol="BTCUSDT", reason="no acknowledgement within 5s")]
    assert tracker.get("P1-1").status is S.SENT  # type: ignore[union-attr]


def test_a_child_acknowledged_in_time_is_not_queried() -> None:
    tracker, _, commands, clock = tracked()
    submit(tracker)
    tracker.on_trade_reply(reply("order.create", 0))
    clock.advance_to(60 * NS_PER_S)
    assert commands == []


def test_filled_on_the_order_stream_with_lost_executions_is_pulled_and_completes() -> None:
    """Today's bug: the stream says Filled, the executions never come, the child stays open forever."""
    tracker, events, commands, clock = tracked()
    submit(tracker)
    tracker.on_fill(fill("E1", "0.004"))
    tracker.on_order_update(update(S.FILLED, "0.010"))
    assert tracker.get("P1-1").status is S.PARTIALLY_FILLED  # type: ignore[union-attr]
    clock.advance_to(NS_PER_S)
    assert commands == []  # executions usually trail the order stream by milliseconds: wait
    clock.advance_to(3 * NS_PER_S)
    [query] = commands
    assert isinstance(query, QueryOrder) and query.client_order_id == "P1-1"
    # The REST execution list returns every execution of the order, E1 included: booked once each.
    for record in (fill("E1", "0.004"), fill("E2", "0.003"), fill("E3", "0.003")):
        tracker.on_fill(record)
    child = tracker.get("P1-1")
    assert child is not None and child.status is S.FILLED
    assert child.filled_lots == sum(f.qty_lots for f in child.fills) == BTC.lots("0.010")
    assert tracker.filled_lots("P1") == BTC.lots("0.010") and tracker.duplicate_fills == 1
    assert [e.new for e in events if isinstance(e, ChildStatusChanged)][-1] is S.FILLED


def test_a_refused_cancel_reaches_the_strategy_and_110001_queries_the_order() -> None:
    tracker, events, commands, _ = tracked()
    submit(tracker)
    tracker.on_trade_reply(reply("order.create", 0))
    tracker.on_trade_reply(reply("order.amend", 110064, "qty must be greater than filled"))
    tracker.on_trade_reply(reply("order.cancel", 110001, "order not exists or too late to cancel"))
    refused = [e for e in events if isinstance(e, ChildRequestRefused)]
    assert [(e.op, e.code, e.parent_id) for e in refused] == [
        ("order.amend", 110064, "P1"),
        ("order.cancel", 110001, "P1"),
    ]
    assert [type(c) for c in commands] == [QueryOrder]  # only the vanished order is asked about
    assert tracker.get("P1-1").status is S.SENT  # type: ignore[union-attr]  # unchanged until the venue says


def test_children_of_a_claimed_parent_are_adopted_from_the_venue_record() -> None:
    """A restart: the venue reports P9-3, which this process never sent. Others' orders stay foreign."""
    tracker, _, _, _ = tracked()
    tracker.claim("P9")
    tracker.on_fill(fill("E9", "0.002", link="P9-3", order_id="V9"))  # before the order record: waits
    tracker.on_order_update(update(S.PARTIALLY_FILLED, "0.002", link="P9-3", order_id="V9"))
    child = tracker.get("P9-3")
    assert child is not None and child.parent_id == "P9" and child.qty_lots == BTC.lots("0.010")
    assert child.filled_lots == BTC.lots("0.002") and child.status is S.PARTIALLY_FILLED
    assert tracker.highest_seq("P9") == 3 and tracker.adopted == 1
    tracker.on_order_update(update(S.NEW, link="XX-1", order_id="V7"))
    tracker.on_order_update(update(S.NEW, link="manual-order", order_id="V8"))
    assert tracker.get("XX-1") is None and tracker.get("manual-order") is None
    assert tracker.foreign_reports == 2


def test_a_timer_that_queues_a_command_wakes_the_driver() -> None:
    """No event follows the ack deadline: the engine's on_command tells the driver to drain the outbox."""
    clock = SimClock(0)
    woken: list[int] = []
    engine = Engine(clock, instruments={"BTCUSDT": BTC}, ack_timeout_ns=NS_PER_S, on_command=lambda: woken.append(1))
    submit(engine.orders)
    clock.advance_to(2 * NS_PER_S)
    assert woken == [1]
    assert [type(c) for c in engine.commands_to_send()] == [QueryOrder]


def test_the_simulated_exchange_answers_a_query_with_the_lost_executions() -> None:
    """End to end on the simulated Bybit: the execution push is lost, the query brings it back once."""
    clock = SimClock(1_733_011_200 * NS_PER_S)
    engine = Engine(clock, instruments={"BTCUSDT": BTC})
    venue = SimBybit({"BTCUSDT": BTC}, clock=clock)
    codec = BybitCodec()
    book = BookDelta(
        ts_event_ns=clock.now_ns(),
        ts_recv_ns=clock.now_ns(),
        symbol="BTCUSDT",
        depth=50,
        is_snapshot=True,
        bids=[("94999.90", "1.000")],
        asks=[("95000.00", "0.004"), ("95000.10", "0.006")],
        update_id=1,
        seq=1,
    )
    engine.handle(book)
    venue.on_market(book, clock.now_ns())
    order = SubmitOrder(
        client_order_id="P1-1",
        parent_id="P1",
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty_lots=BTC.lots("0.010"),
        price_ticks=BTC.ticks("95000.10"),
        time_in_force=TimeInForce.IOC,
    )
    engine.orders.register(order, clock.now_ns())
    venue.send(order)

    def deliver(drop_executions: bool) -> None:
        due = venue.next_due_ns()
        assert due is not None
        clock.advance_to(due + 20_000_000)
        for ts, _, raw in venue.pop_due(clock.now_ns()):
            if drop_executions and b'"topic":"execution"' in raw:
                continue
            for event in codec.parse(raw, ts):
                engine.handle(event)

    deliver(drop_executions=True)
    child = engine.orders.get("P1-1")
    assert child is not None and child.filled_lots == 0 and child.venue_cum_lots == BTC.lots("0.010")
    clock.advance_to(clock.now_ns() + 5 * NS_PER_S)  # past the fill grace: the tracker asks
    queries = [c for c in engine.commands_to_send() if isinstance(c, QueryOrder)]
    assert [q.client_order_id for q in queries] == ["P1-1"]
    venue.send(queries[0])
    deliver(drop_executions=False)
    assert child.status is S.FILLED and child.filled_lots == BTC.lots("0.010") == sum(f.qty_lots for f in child.fills)
    assert len({f.exec_id for f in child.fills}) == len(child.fills) == 2
