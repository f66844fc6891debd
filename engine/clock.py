"""Time, injected. The only module of the core that may read the wall clock.

Everything that needs "now" or "later" takes a ``Clock``. A backtest passes a ``SimClock`` that
the replay driver moves forward to each recorded receive time, firing the timers that fall due
on the way, in time order; live trading passes a ``LiveClock``. Code above this line cannot tell
the two apart, which is the point.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "TimerHandle", "SimClock", "LiveClock", "TimerCallback", "NS_PER_S", "NS_PER_MS"]

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

TimerCallback = Callable[[int], None]
"""Called with the time the timer was due (epoch ns)."""


class TimerHandle:
    """A scheduled callback; ``cancel()`` is idempotent and safe after it fired."""

    __slots__ = ("_native", "callback", "cancelled", "when_ns")

    def __init__(self, when_ns: int, callback: TimerCallback) -> None:
        self.when_ns = when_ns
        self.callback = callback
        self.cancelled = False
        self._native: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        self.cancelled = True
        if self._native is not None:
            self._native.cancel()


class Clock(Protocol):
    def now_ns(self) -> int:
        """Epoch nanoseconds; never goes backwards."""
        ...

    def call_at(self, when_ns: int, callback: TimerCallback) -> TimerHandle:
        """Run ``callback(when_ns)`` once the clock reaches ``when_ns`` (at once if already past)."""
        ...


class SimClock:
    """Simulated time that moves only when told to, firing due timers in (time, schedule) order."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._timers: list[tuple[int, int, TimerHandle]] = []
        self._order = itertools.count()

    def now_ns(self) -> int:
        return self._now

    def call_at(self, when_ns: int, callback: TimerCallback) -> TimerHandle:
        handle = TimerHandle(max(when_ns, self._now), callback)
        heapq.heappush(self._timers, (handle.when_ns, next(self._order), handle))
        return handle

    def next_deadline_ns(self) -> int | None:
        """When the earliest pending timer is due, or None."""
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    def set_time(self, ts_ns: int) -> None:
        """Move to ``ts_ns`` without firing timers due *at* ``ts_ns`` (they fire on advance_to).

        For drivers that order same-time work explicitly (a backtest delivers venue output
        before timers due at the same instant). Raises if a timer is due *before* ``ts_ns``:
        skipping it would break causality.
        """
        if ts_ns < self._now:
            raise ValueError(f"time can't go backwards: {ts_ns} < {self._now}")
        due = self.next_deadline_ns()
        if due is not None and due < ts_ns:
            raise ValueError(f"a timer is due at {due}, before {ts_ns}: advance_to() first")
        self._now = ts_ns

    def advance_to(self, ts_ns: int) -> None:
        """Move to ``ts_ns``, firing every timer due at or before it, each at its own due time.

        Raises ``ValueError`` if asked to go backwards: replayed data out of order is a bug in
        the reader, and hiding it would make a backtest silently non-causal.
        """
        if ts_ns < self._now:
            raise ValueError(f"time can't go backwards: {ts_ns} < {self._now}")
        timers = self._timers
        while timers and timers[0][0] <= ts_ns:
            when, _, handle = heapq.heappop(timers)
            if handle.cancelled:
                continue
            self._now = when
            handle.cancelled = True  # fired: a later cancel() is a no-op
            handle.callback(when)
        self._now = ts_ns


class LiveClock:
    """Wall-clock epoch ns that never goes backwards: a wall anchor plus the monotonic delta.

    ``call_at`` schedules on the running asyncio loop, so live timers need one.
    """

    def __init__(self) -> None:
        self._wall0 = time.time_ns()
        self._mono0 = time.monotonic_ns()

    def now_ns(self) -> int:
        return self._wall0 + (time.monotonic_ns() - self._mono0)

    def call_at(self, when_ns: int, callback: TimerCallback) -> TimerHandle:
        loop = asyncio.get_running_loop()
        handle = TimerHandle(when_ns, callback)
        delay_s = max(0, when_ns - self.now_ns()) / NS_PER_S

        def fire() -> None:
            if not handle.cancelled:
                handle.cancelled = True
                callback(when_ns)

        handle._native = loop.call_later(delay_s, fire)
        return handle
