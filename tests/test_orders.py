"""The child-order tracker against real venue orderings: races, duplicates, late and lost messages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.commands import SubmitOrder
from engine.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.events import ChildFilled, ChildStatusChanged, Event, OrderFilled, OrderUpdated, TradeApiReplied
from engine.ids import request_id
from engine.instrument import Instrument
from engine.orders import TRANSITIONS, OrderTracker

S = OrderStatus
BTC = Instrument(symbol="BTCUSDT", price_scale=2, qty_scale=3, price_step_ticks=10, qty_step_lots=1)


def make_tracker() -> tuple[OrderTracker, list[Event]]:
    events: list[Event] = []
    return OrderTracker(lambda symbol: BTC if symbol == "BTCUSDT" else None, events.append), events


def submit(tracker: OrderTracker, client_id: str = "P1-1", qty: str = "0.010", price: str = "95000.00") -> None:
    tracker.register(
        SubmitOrder(
            client_order_id=client_id,
            parent_id=client_id.split("-", maxsplit=1)[0],
            symbol="BTCUSDT",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            qty_lots=BTC.lots(qty),
            price_ticks=BTC.ticks(price),
            time_in_force=TimeInForce.GTC,
        ),
        now_ns=1,
    )


def update(
    status: S, cum: str = "0", *, link: str = "P1-1", order_id: str = "V1", ts: int = 10, **extra: str
) -> OrderUpdated:
    return OrderUpdated(
        ts_event_ns=ts,
        ts_recv_ns=ts,
        category="linear",
        symbol="BTCUSDT",
        order_id=order_id,
        order_link_id=link,
        side=Side.BUY,
        order_type="Limit",
        time_in_force="GTC",
        status=status,
        price=Decimal("95000.00"),
        qty=Decimal("0.010"),
        cum_exec_qty=Decimal(cum),
        cancel_type=extra.get("cancel_type", ""),
        reject_reason=extra.get("reject_reason", ""),
    )


def fill(
    exec_id: str, qty: str, *, link: str = "P1-1", order_id: str = "V1", price: str = "95000.00", ts: int = 10
) -> OrderFilled:
    return OrderFilled(
        ts_event_ns=ts,
        ts_recv_ns=ts,
        category="linear",
        symbol="BTCUSDT",
        exec_id=exec_id,
        order_id=order_id,
        order_link_id=link,
        side=Side.BUY,
        price=Decimal(price),
        qty=Decimal(qty),
        is_maker=True,
        fee=Decimal("0.019"),
    )


def statuses(events: list[Event]) -> list[tuple[S, S]]:
    return [(e.old, e.new) for e in events if isinstance(e, ChildStatusChanged)]


def fills(events: list[Event]) -> list[tuple[str, int, int]]:
    return [(e.exec_id, e.qty_lots, e.filled_lots) for e in events if isinstance(e, ChildFilled)]


def test_normal_life_new_partial_filled() -> None:
    """Ack, New, two fills: statuses move forward once each and fills are booked in lots and ticks."""
    tracker, events = make_tracker()
    submit(tracker)
    tracker.on_order_update(update(S.NEW))
    tracker.on_fill(fill("e1", "0.004"))
    tracker.on_order_update(update(S.PARTIALLY_FILLED, "0.004"))
    tracker.on_fill(fill("e2", "0.006"))
    tracker.on_order_update(update(S.FILLED, "0.010"))
    order = tracker.get("P1-1")
    assert order is not None
    assert statuses(events) == [(S.SENT, S.NEW), (S.NEW, S.PARTIALLY_FILLED), (S.PARTIALLY_FILLED, S.FILLED)]
    assert fills(events) == [("e1", 4, 4), ("e2", 6, 10)]
    assert (order.filled_lots, order.notional, order.fees) == (10, 9500000 * 10, Decimal("0.038"))
    assert order.venue_cum_lots == 10 and not order.is_open


def test_fill_before_the_ack_and_before_new() -> None:
    """A fill that beats every status message is booked; the late New is older news and ignored."""
    tracker, events = make_tracker()
    submit(tracker)
    tracker.on_fill(fill("e1", "0.004"))
    tracker.on_order_update(update(S.NEW))
    assert statuses(events) == [(S.SENT, S.PARTIALLY_FILLED)]
    assert tracker.stale_reports == 1


def test_maker_fill_without_link_id_waits_for_the_order_id() -> None:
    """execution.fast maker fills have no orderLinkId: held until the ack names the orderId."""
    tracker, events = make_tracker()
    submit(tracker)
    tracker.on_fill(fill("e1", "0.010", link=""))
    assert fills(events) == []
    ack = TradeApiReplied(
        ts_event_ns=11, ts_recv_ns=11, op="order.create", ret_code=0, message="OK",
        req_id=request_id("order.create", "P1-1"), order_id="V1", order_link_id="P1-1",
    )  # fmt: skip
    tracker.on_trade_reply(ack)
    assert fills(events) == [("e1", 10, 10)]
    assert statuses(events) == [(S.SENT, S.FILLED)]


def test_duplicate_executions_are_booked_once() -> None:
    """The same execId twice (reconnect replay, two topics) is one fill."""
    tracker, events = make_tracker()
    submit(tracker)
    tracker.on_fill(fill("e1", "0.004"))
    tracker.on_fill(fill("e1", "0.004"))
    order = tracker.get("P1-1")
    assert order is not None and order.filled_lots == 4
    assert tracker.duplicate_fills == 1
    assert len(fills(events)) == 1


def test_overfill_is_refused() -> None:
    """Fills beyond the order's quantity (distinct execIds) are cut at the quantity and counted."""
    tracker, events = make_tracker()
    submit(tracker)
    tracker.on_fill(fill("e1", "0.008"))
    tracker.on_fill(fill("e2", "0.005"))
    order = tracker.get("P1-1")
    assert order is not None
    assert order.filled_lots == 10
    assert tracker.refused_overfill_lots == 3
    assert fills(events) == [("e1", 8, 8), ("e2", 2, 10)]


def test_cancelled_with_fills_stays_cancelled() -> None:
    """Partially filled then cancelled: Cancelled, with the filled quantity kept."""
    tracker, _events = make_tracker()
    submit(tracker)
    tracker.on_order_update(update(S.NEW))
    tracker.on_fill(fill("e1", "0.004"))
    tracker.on_order_update(update(S.CANCELLED, "0.004", cancel_type="CancelByUser"))
    order = tracker.get("P1-1")
    assert order is not None
    assert (order.status, order.filled_lots, order.leaves_lots) == (S.CANCELLED, 4, 0)
    assert order.reason == "CancelByUser"


def test_cancel_that_loses_the_race_ends_filled() -> None:
    """Cancelled reported, then the fill that beat the cancel arrives: the order is Filled."""
    tracker, events = make_tracker()
    submit(tracker)
    tracker.on_order_update(update(S.NEW))
    tracker.on_order_update(update(S.CANCELLED, "0", cancel_type="CancelByUser"))
    tracker.on_fill(fill("e1", "0.010"))
    assert statuses(events) == [(S.SENT, S.NEW), (S.NEW, S.CANCELLED), (S.CANCELLED, S.FILLED)]


def test_two_filled_messages_and_a_filled_before_its_executions() -> None:
    """Filled twice (one carrying the lost cancel), and Filled before the fills: one FILLED, at the last fill."""
    tracker, events = make_tracker()
    submit(tracker)
    tracker.on_order_update(update(S.FILLED, "0.010"))
    assert statuses(events) == [(S.SENT, S.NEW)]  # cumulative qty without executions yet
    tracker.on_order_update(
        update(S.FILLED, "0.010", cancel_type="CancelByUser", reject_reason="EC_OrigClOrdIDDoesNotExist")
    )
    tracker.on_fill(fill("e1", "0.010"))
    tracker.on_order_update(update(S.FILLED, "0.010"))
    assert statuses(events) == [(S.SENT, S.NEW), (S.NEW, S.FILLED)]


def test_rejected_by_the_trade_api() -> None:
    """A refused create (non-zero retCode) rejects the child with the venue's reason."""
    tracker, _events = make_tracker()
    submit(tracker)
    refused = TradeApiReplied(
        ts_event_ns=11, ts_recv_ns=11, op="order.create", ret_code=110007, message="ab not enough for new order",
        req_id=request_id("order.create", "P1-1"),
    )  # fmt: skip
    tracker.on_trade_reply(refused)
    order = tracker.get("P1-1")
    assert order is not None and order.status is S.REJECTED
    assert order.reason == "110007 ab not enough for new order"


def test_reports_about_other_orders_are_ignored() -> None:
    """Orders placed by hand on the same account do not disturb ours; they are counted."""
    tracker, events = make_tracker()
    submit(tracker)
    tracker.on_order_update(update(S.NEW, link="manual-1", order_id="V9"))
    tracker.on_fill(fill("e9", "0.001", link="manual-1", order_id="V9"))
    assert events == []
    assert tracker.foreign_reports == 2


def test_statuses_never_move_back() -> None:
    """After Filled, a late New or PartiallyFilled changes nothing."""
    tracker, events = make_tracker()
    submit(tracker)
    tracker.on_fill(fill("e1", "0.010"))
    tracker.on_order_update(update(S.NEW))
    tracker.on_order_update(update(S.PARTIALLY_FILLED, "0.004"))
    assert statuses(events) == [(S.SENT, S.FILLED)]
    assert tracker.stale_reports == 2


def test_amend_confirmed_by_the_order_stream_updates_quantity_and_price() -> None:
    """The order stream carries the amended quantity and price; the tracker takes them."""
    tracker, _ = make_tracker()
    submit(tracker)
    amended = update(S.NEW)
    amended = OrderUpdated(
        **{
            **{f: getattr(amended, f) for f in amended.__struct_fields__},
            "qty": Decimal("0.020"),
            "price": Decimal("94990.00"),
        }
    )
    tracker.on_order_update(amended)
    order = tracker.get("P1-1")
    assert order is not None and (order.qty_lots, order.price_ticks) == (20, 9499000)


def test_duplicate_registration_is_a_bug() -> None:
    """Registering the same client id twice raises: ids are unique by construction."""
    tracker, _ = make_tracker()
    submit(tracker)
    with pytest.raises(ValueError, match="duplicate"):
        submit(tracker)


def test_transition_table_only_moves_forward() -> None:
    """No legal move returns to SENT or NEW, and terminal states lead nowhere but Cancelled->Filled."""
    for old, targets in TRANSITIONS.items():
        assert S.SENT not in targets
        if old is not S.SENT:
            assert S.NEW not in targets
    assert TRANSITIONS[S.FILLED] == frozenset() and TRANSITIONS[S.REJECTED] == frozenset()
    assert TRANSITIONS[S.CANCELLED] == frozenset({S.FILLED})


def test_each_parent_has_one_filled_total_kept_as_fills_are_booked() -> None:
    """The tracker owns the count: duplicates once, overfills refused, held fills when booked, per parent."""
    tracker, events = make_tracker()
    submit(tracker, "P1-1")
    submit(tracker, "P1-2")
    submit(tracker, "P2-1")
    tracker.on_fill(fill("e1", "0.004", link="P1-1"))
    tracker.on_fill(fill("e1", "0.004", link="P1-1"))  # the same execution again
    tracker.on_fill(fill("e2", "0.015", link="P1-2", order_id="V2"))  # 5 lots beyond the child: refused
    tracker.on_fill(fill("e3", "0.003", link="", order_id="V3"))  # P2-1's, waiting for its orderId
    assert (tracker.filled_lots("P1"), tracker.filled_lots("P2"), tracker.filled_lots("P9")) == (14, 0, 0)
    tracker.on_order_update(update(S.NEW, link="P2-1", order_id="V3"))
    assert tracker.filled_lots("P2") == 3
    booked = [e.qty_lots for e in events if isinstance(e, ChildFilled) and e.parent_id == "P1"]
    assert tracker.filled_lots("P1") == sum(booked) == 14
