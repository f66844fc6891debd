"""Simulated exchange for backtests: a venue-neutral matching engine (``engine.sim.matching``).

The Bybit-shaped venue built on it lives in ``feeds.bybit.sim_venue``.
"""

from __future__ import annotations

from engine.sim.matching import (
    UNKNOWN_QUEUE,
    Accepted,
    Fees,
    Filled,
    MatchingEngine,
    Refused,
    Report,
    SimOrder,
    StatusChanged,
)

__all__ = [
    "MatchingEngine",
    "Fees",
    "SimOrder",
    "Accepted",
    "Refused",
    "Filled",
    "StatusChanged",
    "Report",
    "UNKNOWN_QUEUE",
]
