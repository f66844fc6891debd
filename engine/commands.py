"""What the engine asks its drivers and venues to do. Imperative names; immutable values.

Order commands carry integers (ticks and lots of the symbol's instrument), never floats; the
venue adapter formats them as the exact decimal strings Bybit wants. ``client_order_id`` is the
Bybit ``orderLinkId`` and identifies the order everywhere.
"""

from __future__ import annotations

import msgspec

from engine.enums import OrderType, Side, TimeInForce

__all__ = [
    "Command",
    "ResyncBook",
    "SubmitOrder",
    "AmendOrder",
    "CancelOrder",
    "CancelAllOrders",
    "QueryOrder",
    "OrderCommand",
]


class Command(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag_field="command", tag=True):
    """Base of all commands. ``reason`` is for humans and logs."""

    reason: str = ""


class ResyncBook(Command, frozen=True, kw_only=True, gc=False):
    """The local book of ``symbol`` at ``depth`` is invalid: fetch a fresh snapshot.

    A live feed resubscribes the topic (Bybit answers with a snapshot); a replay waits for the
    next snapshot in the file.
    """

    symbol: str
    depth: int


class SubmitOrder(Command, frozen=True, kw_only=True, gc=False):
    """Place one child order. ``price_ticks`` is required for limit orders, None for market."""

    client_order_id: str
    parent_id: str
    symbol: str
    side: Side
    order_type: OrderType
    qty_lots: int
    price_ticks: int | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False


class AmendOrder(Command, frozen=True, kw_only=True, gc=False):
    """Change a resting order's total quantity and/or price (None = unchanged)."""

    client_order_id: str
    symbol: str
    qty_lots: int | None = None
    price_ticks: int | None = None


class CancelOrder(Command, frozen=True, kw_only=True, gc=False):
    client_order_id: str
    symbol: str


class CancelAllOrders(Command, frozen=True, kw_only=True, gc=False):
    symbol: str


class QueryOrder(Command, frozen=True, kw_only=True, gc=False):
    """Ask the venue what became of one child: never send it again, find out.

    Raised when a child heard nothing within the ack deadline, when the order stream reports
    more filled than the executions we have, and when a cancel is refused because the order no
    longer exists. The driver asks Bybit's REST API (``order/realtime``, then ``order/history``,
    and ``execution/list`` for the order) and hands the answers back to the engine as
    ``OrderUpdated`` / ``OrderFilled`` events, through the same de-duplication as the streams.
    """

    client_order_id: str
    symbol: str


OrderCommand = SubmitOrder | AmendOrder | CancelOrder | CancelAllOrders
