"""Client-side rate limiting for Bybit requests, without I/O: what may go out now, and when to ask again.

Bybit limits each account per endpoint over a rolling second (create/amend/cancel 10/s on
linear by default; the queries 50/s) and each IP to 600 requests per 5 s. Breaking the first
costs a refusal (10006) and breaking the second an HTTP 403 and a ban of about ten minutes, both
while orders are on the line. So requests wait here, never get dropped, and leave:

* by priority: cancels, then queries (they settle orders whose state we do not know), then
  amends, then new orders (a cancel reduces risk; a new order can wait); FIFO within a priority;
* only while their endpoint's rolling-second budget and the IP's rolling five-second budget have
  room. A request whose endpoint is full does not hold back requests for other endpoints;
* never during a pause: 10006 pauses its endpoint until ``X-Bapi-Limit-Reset-Timestamp``, and
  HTTP 403 pauses everything for ``IP_BAN_MS``. The refused request goes back to the front of
  its priority class (``retry``), so it is sent again once the pause lifts, before newer ones.

Every answer's ``X-Bapi-Limit-*`` headers update the endpoint's limit (a VIP account's is
higher) and, when the venue says nothing remains, pause it until the reset it names: the
venue's count wins over ours. Time is an argument (ms); the driver calls ``release(now)`` and
sleeps until ``next_release_ms(now)``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, Generic, TypeVar

__all__ = ["Priority", "RateLimiter", "DEFAULT_LIMITS", "IP_LIMIT", "IP_WINDOW_MS", "IP_BAN_MS"]

T = TypeVar("T")

WINDOW_MS: Final = 1000
IP_LIMIT: Final = 600
IP_WINDOW_MS: Final = 5000
IP_BAN_MS: Final = 10 * 60 * 1000
DEFAULT_LIMITS: Final[Mapping[str, int]] = {
    "/v5/order/create": 10,
    "/v5/order/amend": 10,
    "/v5/order/cancel": 10,
    "/v5/order/cancel-all": 10,
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/execution/list": 50,
    "/v5/position/list": 50,
    "/v5/account/wallet-balance": 50,
    "/v5/account/fee-rate": 5,
}
"""Bybit's per-account limits per second (UTA, non-VIP, linear); the answers' headers correct them."""
_UNLISTED_LIMIT: Final = 10


class Priority(IntEnum):
    CANCEL = 0
    QUERY = 1
    AMEND = 2
    CREATE = 3


@dataclass
class _Endpoint:
    limit: int
    sent: deque[int] = field(default_factory=deque)  # send times (ms) within the rolling window
    paused_until_ms: int = 0

    def has_room(self, now_ms: int) -> bool:
        _expire(self.sent, now_ms - WINDOW_MS)
        return now_ms >= self.paused_until_ms and len(self.sent) < self.limit

    def ready_at(self, now_ms: int) -> int:
        """Earliest time this endpoint could send again (now if it has room)."""
        at = max(now_ms, self.paused_until_ms)
        if len(self.sent) >= self.limit:
            at = max(at, self.sent[len(self.sent) - self.limit] + WINDOW_MS)
        return at


class RateLimiter(Generic[T]):
    """Queues requests (any ``T``: frames, request objects) per endpoint and priority; see the module doc."""

    def __init__(self, limits: Mapping[str, int] = DEFAULT_LIMITS, *, ip_limit: int = IP_LIMIT) -> None:
        self._limits = dict(limits)
        self._endpoints: dict[str, _Endpoint] = {}
        self._ip_sent: deque[int] = deque()
        self._ip_limit = ip_limit
        self._paused_until_ms = 0  # everything (an IP ban)
        self._queues: dict[Priority, deque[tuple[str, T]]] = {priority: deque() for priority in Priority}
        self.rate_limited = 0
        self.ip_bans = 0

    # -- in -----------------------------------------------------------------------------------
    def submit(self, endpoint: str, priority: Priority, item: T) -> None:
        """Queue a request; it leaves through ``release`` as soon as the budgets allow."""
        self._queues[priority].append((endpoint, item))

    def retry(self, endpoint: str, priority: Priority, item: T) -> None:
        """Put a refused (10006, 403) request back at the front of its class: never dropped, not overtaken."""
        self._queues[priority].appendleft((endpoint, item))

    # -- what the venue says ------------------------------------------------------------------------
    def on_headers(self, endpoint: str, limit: int | None, remaining: int | None, reset_ms: int | None) -> None:
        """``X-Bapi-Limit``, ``-Status`` and ``-Reset-Timestamp`` of an answer from ``endpoint``."""
        state = self._endpoint(endpoint)
        if limit is not None and limit > 0:
            state.limit = self._limits[endpoint] = limit
        if remaining is not None and remaining <= 0 and reset_ms is not None:
            state.paused_until_ms = max(state.paused_until_ms, reset_ms)

    def on_rate_limited(self, endpoint: str, reset_ms: int | None, now_ms: int) -> None:
        """10006: the endpoint's budget is spent until ``reset_ms`` (a full window if unknown)."""
        self.rate_limited += 1
        state = self._endpoint(endpoint)
        state.paused_until_ms = max(state.paused_until_ms, reset_ms if reset_ms is not None else now_ms + WINDOW_MS)

    def on_ip_ban(self, now_ms: int) -> None:
        """HTTP 403 "access too frequent": stop all traffic for ``IP_BAN_MS``."""
        self.ip_bans += 1
        self._paused_until_ms = max(self._paused_until_ms, now_ms + IP_BAN_MS)

    # -- out ----------------------------------------------------------------------------------------
    def release(self, now_ms: int) -> list[tuple[str, T]]:
        """Every queued request that may go now, in the order to send them; their budgets are charged."""
        out: list[tuple[str, T]] = []
        if now_ms < self._paused_until_ms:
            return out
        _expire(self._ip_sent, now_ms - IP_WINDOW_MS)
        for queue in self._queues.values():  # priorities in order
            kept: deque[tuple[str, T]] = deque()
            while queue:
                endpoint, item = queue.popleft()
                state = self._endpoint(endpoint)
                if len(self._ip_sent) < self._ip_limit and state.has_room(now_ms):
                    state.sent.append(now_ms)
                    self._ip_sent.append(now_ms)
                    out.append((endpoint, item))
                else:
                    kept.append((endpoint, item))
            queue.extend(kept)
        return out

    def next_release_ms(self, now_ms: int) -> int | None:
        """When ``release`` may next return something; None when nothing waits."""
        waiting = [endpoint for queue in self._queues.values() for endpoint, _ in queue]
        if not waiting:
            return None
        at = min(self._endpoint(endpoint).ready_at(now_ms) for endpoint in waiting)
        if len(self._ip_sent) >= self._ip_limit:
            at = max(at, self._ip_sent[len(self._ip_sent) - self._ip_limit] + IP_WINDOW_MS)
        return max(at, self._paused_until_ms)

    def pending(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def headroom(self, endpoint: str, now_ms: int) -> int:
        """Requests ``endpoint`` could still send in the current window (0 while paused)."""
        state = self._endpoint(endpoint)
        if now_ms < max(state.paused_until_ms, self._paused_until_ms):
            return 0
        _expire(state.sent, now_ms - WINDOW_MS)
        return max(state.limit - len(state.sent), 0)

    def _endpoint(self, endpoint: str) -> _Endpoint:
        state = self._endpoints.get(endpoint)
        if state is None:
            state = self._endpoints[endpoint] = _Endpoint(self._limits.get(endpoint, _UNLISTED_LIMIT))
        return state


def _expire(sent: deque[int], before_ms: int) -> None:
    while sent and sent[0] <= before_ms:
        sent.popleft()
