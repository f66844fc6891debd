"""Our child orders: one explicit state machine, fed by whatever the venue says in whatever order.

Bybit reports an order on three independent channels: the trade-API reply (accepted or
refused), the ``order`` stream (status and cumulative quantity) and the ``execution`` streams
(each fill, with its price and fee). They arrive in any order, sometimes twice, sometimes late:

* a fill can arrive before the ack or the New status (the streams race);
* a cancel can lose the race to a fill: the order ends Cancelled with fills, or Filled, or is
  reported Filled twice (once with ``cancelType=CancelByUser``);
* ``execution.fast`` fills carry no orderLinkId for maker fills, only the venue's orderId.

So: fills are booked once per ``exec_id``, and never beyond the order's quantity (an overfill is
refused, logged and counted); a fill for an order we cannot place yet waits until its orderId
is known; and the status only moves forward along ``TRANSITIONS``. A venue report that would
move it backwards is a stale message: counted and ignored. Every change comes out as a
``ChildStatusChanged`` or ``ChildFilled`` event.

What the streams cannot settle is asked, never re-sent. With a clock, the tracker raises a
``QueryOrder`` command (the driver asks Bybit's REST API and feeds the answers back as events,
through the same de-duplication) when a child heard nothing within ``ack_timeout_ns``, when
the order stream reports more filled than the executions booked and ``fill_grace_ns`` has
passed without them (executions lost: the child would otherwise stay short forever), and when
a cancel is refused because the order no longer exists (110001). Refused cancels and amends
are published as ``ChildRequestRefused`` for the strategy. Our own children are recognised by
their orderLinkId (``<parent>-<seq>``) even when this process did not send them, for parents
the tracker knows or was told to ``claim`` (restart recovery): they are adopted from the
venue's record.

The tracker is the one owner of how much each parent has filled (``filled_lots(parent_id)``):
the desk and the strategies read it here, already de-duplicated, instead of counting
``ChildFilled`` events themselves (counts that drift apart the moment one of them misses an
event, such as a late fill after the parent finished).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import partial
from typing import Final

import structlog

from engine.clock import NS_PER_S, Clock
from engine.commands import Command, QueryOrder, SubmitOrder
from engine.enums import OrderStatus, OrderType, TimeInForce
from engine.events import (
    ChildFilled,
    ChildRequestRefused,
    ChildStatusChanged,
    Event,
    OrderFilled,
    OrderUpdated,
    TradeApiReplied,
)
from engine.ids import client_id_of_request, parse_child_id
from engine.instrument import Instrument
from engine.numbers import ScaleError

__all__ = ["ChildOrder", "Fill", "OrderTracker", "TRANSITIONS", "TERMINAL"]

log = structlog.get_logger("engine.orders")

S = OrderStatus
TERMINAL: Final = frozenset({S.FILLED, S.CANCELLED, S.REJECTED})
MAX_WAITING_ORDERS: Final = 1000
DEFAULT_ACK_TIMEOUT_NS: Final = 10 * NS_PER_S
"""A child that has heard nothing for this long is queried (Bybit acks in milliseconds)."""
DEFAULT_FILL_GRACE_NS: Final = 3 * NS_PER_S
"""How long executions may lag the order stream's cumulative quantity before they are pulled."""
CODE_ORDER_NOT_FOUND: Final = 110001

TRANSITIONS: Final[dict[OrderStatus, frozenset[OrderStatus]]] = {
    S.SENT: frozenset({S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED}),
    S.NEW: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED}),
    S.PARTIALLY_FILLED: frozenset({S.FILLED, S.CANCELLED}),
    S.CANCELLED: frozenset({S.FILLED}),  # a late fill completes an order whose cancel lost the race
    S.FILLED: frozenset(),
    S.REJECTED: frozenset(),
}
"""Legal moves. Anything else the venue reports is older news than what we know."""

_VENUE_STATUS: Final = {
    S.NEW: S.NEW,
    S.UNTRIGGERED: S.NEW,
    S.TRIGGERED: S.NEW,
    S.PARTIALLY_FILLED: S.PARTIALLY_FILLED,
    S.FILLED: S.FILLED,
    S.CANCELLED: S.CANCELLED,
    S.PARTIALLY_FILLED_CANCELED: S.CANCELLED,
    S.DEACTIVATED: S.CANCELLED,
    S.REJECTED: S.REJECTED,
}


class Fill:
    __slots__ = ("exec_id", "fee", "is_maker", "price_ticks", "qty_lots", "ts_ns")

    def __init__(self, exec_id: str, price_ticks: int, qty_lots: int, fee: Decimal, is_maker: bool, ts_ns: int):
        self.exec_id = exec_id
        self.price_ticks = price_ticks
        self.qty_lots = qty_lots
        self.fee = fee
        self.is_maker = is_maker
        self.ts_ns = ts_ns


class ChildOrder:
    """What we know of one child order. Mutated only by ``OrderTracker``."""

    __slots__ = (
        "client_order_id",
        "created_ns",
        "filled_lots",
        "fills",
        "heard",
        "notional",
        "order_type",
        "parent_id",
        "price_ticks",
        "qty_lots",
        "reason",
        "side",
        "status",
        "symbol",
        "time_in_force",
        "updated_ns",
        "venue_cum_lots",
        "venue_order_id",
    )

    def __init__(self, command: SubmitOrder, now_ns: int) -> None:
        self.client_order_id = command.client_order_id
        self.parent_id = command.parent_id
        self.symbol = command.symbol
        self.side = command.side
        self.order_type = command.order_type
        self.time_in_force = command.time_in_force
        self.qty_lots = command.qty_lots
        self.price_ticks = command.price_ticks
        self.status = S.SENT
        self.filled_lots = 0
        self.notional = 0  # sum(price_ticks * qty_lots) over fills
        self.venue_cum_lots = 0  # cumExecQty as the order stream last said
        self.venue_order_id = ""
        self.heard = False  # anything from the venue about it: a reply, an update, a fill
        self.fills: list[Fill] = []
        self.reason = ""
        self.created_ns = now_ns
        self.updated_ns = now_ns

    @property
    def leaves_lots(self) -> int:
        return 0 if self.status in TERMINAL else self.qty_lots - self.filled_lots

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    @property
    def fees(self) -> Decimal:
        return sum((fill.fee for fill in self.fills), Decimal(0))

    def __repr__(self) -> str:
        return (
            f"<ChildOrder {self.client_order_id} {self.side} {self.filled_lots}/{self.qty_lots} "
            f"@ {self.price_ticks} {self.status}>"
        )


class OrderTracker:
    """All our child orders, by orderLinkId, and the venue's orderId for each once known."""

    def __init__(
        self,
        instrument_of: Callable[[str], Instrument | None],
        emit: Callable[[Event], None],
        *,
        clock: Clock | None = None,
        command: Callable[[Command], None] | None = None,
        ack_timeout_ns: int = DEFAULT_ACK_TIMEOUT_NS,
        fill_grace_ns: int = DEFAULT_FILL_GRACE_NS,
    ) -> None:
        """``clock`` and ``command`` enable the deadlines that raise ``QueryOrder`` (see the module doc)."""
        self._instrument_of = instrument_of
        self._emit = emit
        self._clock = clock
        self._command = command
        self.ack_timeout_ns = ack_timeout_ns
        self.fill_grace_ns = fill_grace_ns
        self._claimed: set[str] = set()
        self._fill_checks: set[str] = set()  # children with a missing-executions check scheduled
        self.queries = 0
        self.adopted = 0
        self.orders: dict[str, ChildOrder] = {}
        self._by_parent: dict[str, list[ChildOrder]] = defaultdict(list)
        self._open_by_parent: dict[str, dict[str, ChildOrder]] = defaultdict(dict)  # strategies ask every event
        self._filled_by_parent: defaultdict[str, int] = defaultdict(int)  # the one count per parent
        self.filled_lots: Callable[[str], int] = self._filled_by_parent.__getitem__
        """Lots a parent's children have filled, each execution once: O(1), a C-level lookup, since
        strategies ask on every event (a parent nothing filled yet reads 0)."""
        self._by_venue_id: dict[str, str] = {}
        self._exec_ids: set[str] = set()
        self._waiting_fills: dict[str, list[OrderFilled]] = defaultdict(list)  # by venue orderId
        self.duplicate_fills = 0
        self.refused_overfill_lots = 0
        self.stale_reports = 0
        self.foreign_reports = 0  # about orders that are not ours

    # -- our side ---------------------------------------------------------------------------
    def register(self, command: SubmitOrder, now_ns: int) -> ChildOrder:
        """A child handed to the venue: it exists from now on, status SENT."""
        if command.client_order_id in self.orders:
            raise ValueError(f"duplicate client order id {command.client_order_id}")
        order = self._add(ChildOrder(command, now_ns))
        if self._clock is not None:
            self._clock.call_at(now_ns + self.ack_timeout_ns, partial(self._ack_deadline, order.client_order_id))
        return order

    def claim(self, parent_id: str) -> None:
        """Recognise ``parent_id``'s children from the venue's records though this process did not send them."""
        self._claimed.add(parent_id)

    def highest_seq(self, parent_id: str) -> int:
        """The highest child sequence number known for ``parent_id`` (0 if none): new children go above it."""
        seqs = [parsed[1] for c in self._by_parent.get(parent_id, ()) if (parsed := parse_child_id(c.client_order_id))]
        return max(seqs, default=0)

    def get(self, client_order_id: str) -> ChildOrder | None:
        return self.orders.get(client_order_id)

    def children(self, parent_id: str) -> Iterator[ChildOrder]:
        """Every child of ``parent_id``, in the order they were sent."""
        return iter(self._by_parent.get(parent_id, ()))

    def open_children(self, parent_id: str) -> list[ChildOrder]:
        """The children of ``parent_id`` not yet Filled, Cancelled or Rejected (kept as an index)."""
        open_orders = self._open_by_parent.get(parent_id)
        return list(open_orders.values()) if open_orders else []

    # -- what the venue says ----------------------------------------------------------------
    def on_trade_reply(self, reply: TradeApiReplied) -> None:
        """The trade API accepted or refused a request.

        A refused create rejects the child. A refused cancel or amend changes nothing here but
        is published for the strategy; a cancel refused because the order does not exist
        (110001) means it closed meanwhile, and the order is queried to learn how.
        """
        if reply.op not in ("order.create", "order.cancel", "order.amend") or not reply.req_id:
            return
        order = self.orders.get(client_id_of_request(reply.req_id))
        if order is None:
            self.foreign_reports += 1
            return
        if reply.op != "order.create":
            if reply.ret_code != 0:
                self._refused_request(order, reply)
            return
        order.heard = True
        if reply.order_id:
            self._learn_venue_id(order, reply.order_id, reply.ts_recv_ns)
        if reply.ret_code != 0:
            self._advance(order, S.REJECTED, reply.ts_recv_ns, f"{reply.ret_code} {reply.message}")

    def on_order_update(self, update: OrderUpdated) -> None:
        order = self.orders.get(update.order_link_id) if update.order_link_id else None
        if order is None:
            client_id = self._by_venue_id.get(update.order_id)
            order = self.orders.get(client_id) if client_id else None
        if order is None:
            order = self._adopt(update)
        if order is None:
            self.foreign_reports += 1
            return
        order.heard = True
        if update.order_id:
            self._learn_venue_id(order, update.order_id, update.ts_recv_ns)
        instrument = self._instrument_of(order.symbol)
        if instrument is not None:
            try:
                order.venue_cum_lots = max(order.venue_cum_lots, instrument.lots(update.cum_exec_qty))
                if order.is_open:
                    self._take_amendment(order, instrument, update)
            except ScaleError:
                log.warning("order update quantity off the lot grid", order=order.client_order_id)
        status = _VENUE_STATUS.get(update.status)
        if status is None:
            return
        reason = update.reject_reason if update.reject_reason not in ("", "EC_NoError") else update.cancel_type
        if status is S.FILLED and order.filled_lots < order.qty_lots:
            # Filled on the order stream before its executions arrived: keep the fills'
            # status, they will bring it to FILLED; meanwhile it is at least partially filled.
            status = S.PARTIALLY_FILLED
        if status is S.PARTIALLY_FILLED and order.filled_lots == 0:
            status = S.NEW  # cumulative quantity without fills yet: wait for the executions
        self._advance(order, status, update.ts_recv_ns, "" if reason == "UNKNOWN" else reason)
        if order.venue_cum_lots > order.filled_lots:
            self._expect_fills(order, update.ts_recv_ns)

    def on_fill(self, fill: OrderFilled) -> None:
        if fill.exec_id in self._exec_ids:
            self.duplicate_fills += 1
            return
        order = self.orders.get(fill.order_link_id) if fill.order_link_id else None
        if order is None:
            client_id = self._by_venue_id.get(fill.order_id)
            order = self.orders.get(client_id) if client_id else None
        if order is None:
            if fill.order_link_id and not self._is_ours(fill.order_link_id):
                self.foreign_reports += 1
                return
            self._wait_for_order_id(fill)  # its ack, or for a child to adopt, the order's own record
            return
        self._book_fill(order, fill)

    # -- what the streams cannot settle ---------------------------------------------------------
    def _ack_deadline(self, client_order_id: str, now_ns: int) -> None:
        order = self.orders[client_order_id]
        if order.status is S.SENT and not order.heard:
            self._query(order, f"no acknowledgement within {self.ack_timeout_ns / NS_PER_S:g}s")

    def _expect_fills(self, order: ChildOrder, now_ns: int) -> None:
        """The order stream is ahead of the executions: give them ``fill_grace_ns``, then pull them."""
        if self._clock is None or order.client_order_id in self._fill_checks:
            return
        self._fill_checks.add(order.client_order_id)
        self._clock.call_at(now_ns + self.fill_grace_ns, partial(self._fills_deadline, order.client_order_id))

    def _fills_deadline(self, client_order_id: str, now_ns: int) -> None:
        self._fill_checks.discard(client_order_id)
        order = self.orders[client_order_id]
        if order.venue_cum_lots > order.filled_lots:
            self._query(
                order,
                f"the order stream reports {order.venue_cum_lots} lots filled, executions {order.filled_lots}",
            )

    def _refused_request(self, order: ChildOrder, reply: TradeApiReplied) -> None:
        self._emit(
            ChildRequestRefused(
                ts_event_ns=reply.ts_event_ns,
                ts_recv_ns=reply.ts_recv_ns,
                client_order_id=order.client_order_id,
                parent_id=order.parent_id,
                symbol=order.symbol,
                op=reply.op,
                code=reply.ret_code,
                message=reply.message,
            )
        )
        if reply.op == "order.cancel" and reply.ret_code == CODE_ORDER_NOT_FOUND and order.is_open:
            self._query(order, f"cancel refused: {reply.ret_code} {reply.message}")

    def _query(self, order: ChildOrder, why: str) -> None:
        """Ask the venue about ``order`` (never re-send it)."""
        if self._command is None:
            return
        self.queries += 1
        log.warning("querying a child order", order=order.client_order_id, parent=order.parent_id, why=why)
        self._command(QueryOrder(client_order_id=order.client_order_id, symbol=order.symbol, reason=why))

    # -- our children sent by another process -----------------------------------------------
    def _is_ours(self, client_order_id: str) -> bool:
        parsed = parse_child_id(client_order_id)
        return parsed is not None and (parsed[0] in self._claimed or parsed[0] in self._by_parent)

    def _adopt(self, update: OrderUpdated) -> ChildOrder | None:
        """A child of ours this process did not send (a restart): known from the venue's record."""
        link_id = update.order_link_id
        parsed = parse_child_id(link_id) if link_id else None
        instrument = self._instrument_of(update.symbol)
        if parsed is None or not self._is_ours(link_id) or instrument is None:
            return None
        try:
            command = SubmitOrder(
                client_order_id=link_id,
                parent_id=parsed[0],
                symbol=update.symbol,
                side=update.side,
                order_type=OrderType(update.order_type),
                qty_lots=instrument.lots(update.qty),
                price_ticks=None if update.price is None or not update.price else instrument.ticks(update.price),
                time_in_force=TimeInForce(update.time_in_force),
                reduce_only=update.reduce_only,
                reason="adopted from the venue's record",
            )
        except (ValueError, ScaleError):
            log.warning("cannot adopt a child from its record", order=link_id)
            return None
        self.adopted += 1
        log.info("adopted a child sent by an earlier run", order=link_id, parent=parsed[0])
        return self._add(ChildOrder(command, update.ts_recv_ns))

    # -- mechanics ----------------------------------------------------------------------------
    def _add(self, order: ChildOrder) -> ChildOrder:
        self.orders[order.client_order_id] = order
        self._by_parent[order.parent_id].append(order)
        self._open_by_parent[order.parent_id][order.client_order_id] = order
        return order

    def _take_amendment(self, order: ChildOrder, instrument: Instrument, update: OrderUpdated) -> None:
        """The order stream carries the order's current quantity and price: an amend took effect."""
        qty_lots = instrument.lots(update.qty)
        if qty_lots != order.qty_lots and qty_lots >= order.filled_lots:
            order.qty_lots = qty_lots
        if update.price is not None and order.order_type is OrderType.LIMIT:
            order.price_ticks = instrument.ticks(update.price)

    def _wait_for_order_id(self, fill: OrderFilled) -> None:
        """Hold a fill whose order we cannot place yet (its ack is still on the way).

        Bounded: fills of orders that are not ours (placed by hand on the same account) would
        otherwise wait forever.
        """
        if fill.order_id not in self._waiting_fills and len(self._waiting_fills) >= MAX_WAITING_ORDERS:
            oldest = next(iter(self._waiting_fills))
            del self._waiting_fills[oldest]
            self.foreign_reports += 1
        self._waiting_fills[fill.order_id].append(fill)

    def _learn_venue_id(self, order: ChildOrder, venue_order_id: str, now_ns: int) -> None:
        if order.venue_order_id:
            return
        order.venue_order_id = venue_order_id
        self._by_venue_id[venue_order_id] = order.client_order_id
        for fill in self._waiting_fills.pop(venue_order_id, ()):
            self._book_fill(order, fill)

    def _book_fill(self, order: ChildOrder, fill: OrderFilled) -> None:
        instrument = self._instrument_of(order.symbol)
        if instrument is None:
            log.error("fill for a symbol without an instrument", order=order.client_order_id)
            return
        try:
            price_ticks = instrument.ticks(fill.price)
            qty_lots = instrument.lots(fill.qty)
        except ScaleError as exc:
            log.error("fill off the price or lot grid", order=order.client_order_id, error=str(exc))
            return
        self._exec_ids.add(fill.exec_id)
        room = order.qty_lots - order.filled_lots
        if qty_lots > room:
            self.refused_overfill_lots += qty_lots - room
            log.error(
                "fill beyond the order's quantity refused",
                order=order.client_order_id,
                exec_id=fill.exec_id,
                fill_lots=qty_lots,
                room_lots=room,
            )
            qty_lots = room
        if qty_lots <= 0:
            return
        order.heard = True
        fee = fill.fee if fill.fee is not None else Decimal(0)
        order.fills.append(Fill(fill.exec_id, price_ticks, qty_lots, fee, fill.is_maker, fill.ts_recv_ns))
        order.filled_lots += qty_lots
        order.notional += price_ticks * qty_lots
        self._filled_by_parent[order.parent_id] += qty_lots
        order.updated_ns = fill.ts_recv_ns
        self._emit(
            ChildFilled(
                ts_event_ns=fill.ts_event_ns,
                ts_recv_ns=fill.ts_recv_ns,
                client_order_id=order.client_order_id,
                parent_id=order.parent_id,
                symbol=order.symbol,
                side=order.side,
                exec_id=fill.exec_id,
                price_ticks=price_ticks,
                qty_lots=qty_lots,
                filled_lots=order.filled_lots,
                fee=fee,
                fee_currency=fill.fee_currency,
                is_maker=fill.is_maker,
            )
        )
        if order.filled_lots == order.qty_lots:
            self._advance(order, S.FILLED, fill.ts_recv_ns, "")
        elif order.status in (S.SENT, S.NEW):
            self._advance(order, S.PARTIALLY_FILLED, fill.ts_recv_ns, "")

    def _advance(self, order: ChildOrder, new: OrderStatus, now_ns: int, reason: str) -> None:
        old = order.status
        if new is old:
            return
        if new not in TRANSITIONS[old]:
            self.stale_reports += 1  # older news than what we know (statuses only move forward)
            return
        if new is S.FILLED and order.filled_lots < order.qty_lots:
            return  # only the fills themselves can complete an order
        order.status = new
        order.updated_ns = now_ns
        if new in TERMINAL:
            self._open_by_parent[order.parent_id].pop(order.client_order_id, None)
        if reason:
            order.reason = reason
        self._emit(
            ChildStatusChanged(
                ts_event_ns=now_ns,
                ts_recv_ns=now_ns,
                client_order_id=order.client_order_id,
                parent_id=order.parent_id,
                symbol=order.symbol,
                old=old,
                new=new,
                qty_lots=order.qty_lots,
                filled_lots=order.filled_lots,
                reason=reason,
            )
        )
