"""Closed vocabularies. Values equal Bybit's wire strings where Bybit has one."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "Side",
    "OrderType",
    "TimeInForce",
    "OrderStatus",
    "BookState",
    "ConnectionState",
]


class Side(StrEnum):
    BUY = "Buy"
    SELL = "Sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: turns "worse price" into one comparison for both sides."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "Market"
    LIMIT = "Limit"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    POST_ONLY = "PostOnly"
    RPI = "RPI"


class OrderStatus(StrEnum):
    """Bybit ``orderStatus`` plus the two local states before the venue has spoken."""

    CREATED = "Created"  # local: built, not yet sent
    SENT = "Sent"  # local: on the wire, no ack yet
    UNTRIGGERED = "Untriggered"
    TRIGGERED = "Triggered"
    NEW = "New"
    PARTIALLY_FILLED = "PartiallyFilled"
    FILLED = "Filled"
    CANCELLED = "Cancelled"
    PARTIALLY_FILLED_CANCELED = "PartiallyFilledCanceled"  # spot's name for a cancel after fills
    REJECTED = "Rejected"
    DEACTIVATED = "Deactivated"


class BookState(StrEnum):
    """Whether a local book can be trusted. Strategies send nothing unless it is SYNCED."""

    SYNCED = "SYNCED"  # built from a snapshot and every delta since, in order
    RESYNCING = "RESYNCING"  # no snapshot yet, or a gap/integrity error: waiting for a snapshot
    STALE = "STALE"  # consistent, but nothing heard for longer than the staleness limit


class ConnectionState(StrEnum):
    CONNECTING = "CONNECTING"
    AUTHENTICATING = "AUTHENTICATING"
    SUBSCRIBING = "SUBSCRIBING"
    LIVE = "LIVE"
    DISCONNECTED = "DISCONNECTED"
