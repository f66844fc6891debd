"""Reconnect delays: exponential backoff with full jitter. Pure arithmetic, no clock, no sleeping.

Full jitter (a uniform draw between zero and the exponential ceiling) spreads many clients that
lost the same server over the whole window instead of bunching them at its edge, which is what
Bybit's "no rapid connect/disconnect cycling, at most 500 connections per 5 minutes" asks of us.
The random source is injected so a test can predict every delay.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """``next_delay()`` for attempt n (from 0) is uniform in [0, min(cap, base * 2**n)]."""

    def __init__(self, base_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        if not 0 < base_s <= cap_s:
            raise ValueError(f"backoff needs 0 < base <= cap, got base={base_s} cap={cap_s}")
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempt = 0
        self._rng = rng if rng is not None else random.Random()

    def ceiling(self) -> float:
        """The largest delay the next attempt may draw."""
        # min() on the exponent first: 2**attempt would overflow a float after ~1000 failures.
        doublings = min(self.attempt, 64)
        return min(self.cap_s, self.base_s * 2.0**doublings)

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failed attempt."""
        delay = self._rng.uniform(0.0, self.ceiling())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Start again from ``base``: the last connection proved the server healthy."""
        self.attempt = 0
