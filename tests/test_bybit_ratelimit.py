"""Client-side rate limits: nothing dropped, cancels first, budgets and the venue's headers respected."""

from __future__ import annotations

from feeds.bybit.ratelimit import IP_BAN_MS, Priority, RateLimiter

CREATE, AMEND, CANCEL, REALTIME = "/v5/order/create", "/v5/order/amend", "/v5/order/cancel", "/v5/order/realtime"


def test_waiting_requests_leave_cancels_first_then_queries_amends_and_new_orders() -> None:
    limiter: RateLimiter[str] = RateLimiter()
    limiter.on_ip_ban(0)
    limiter.submit(CREATE, Priority.CREATE, "new-1")
    limiter.submit(AMEND, Priority.AMEND, "amend-1")
    limiter.submit(REALTIME, Priority.QUERY, "query-1")
    limiter.submit(CANCEL, Priority.CANCEL, "cancel-1")
    limiter.submit(CREATE, Priority.CREATE, "new-2")
    assert limiter.release(IP_BAN_MS - 1) == []  # a 403 stops everything for ten minutes
    assert limiter.next_release_ms(0) == IP_BAN_MS
    released = [item for _, item in limiter.release(IP_BAN_MS)]
    assert released == ["cancel-1", "query-1", "amend-1", "new-1", "new-2"]
    assert limiter.pending() == 0


def test_an_endpoint_never_exceeds_its_rolling_second_and_a_full_one_holds_back_no_other() -> None:
    limiter: RateLimiter[int] = RateLimiter()
    for n in range(25):
        limiter.submit(CREATE, Priority.CREATE, n)
    limiter.submit(CANCEL, Priority.CANCEL, 99)
    first = limiter.release(0)
    assert [item for _, item in first] == [99, *range(10)]  # 10 creates a second on linear
    assert limiter.release(999) == []
    assert limiter.next_release_ms(999) == 1000
    assert [item for _, item in limiter.release(1000)] == list(range(10, 20))
    assert limiter.headroom(CREATE, 1000) == 0 and limiter.headroom(CANCEL, 1000) == 10


def test_10006_pauses_the_endpoint_until_its_reset_and_the_refused_request_goes_first_after() -> None:
    limiter: RateLimiter[str] = RateLimiter()
    limiter.submit(CREATE, Priority.CREATE, "a")
    limiter.submit(CREATE, Priority.CREATE, "b")
    assert [item for _, item in limiter.release(0)] == ["a", "b"]
    limiter.on_rate_limited(CREATE, reset_ms=700, now_ms=5)  # "a" came back 10006
    limiter.retry(CREATE, Priority.CREATE, "a")
    limiter.submit(CREATE, Priority.CREATE, "c")
    assert limiter.release(699) == []
    assert [item for _, item in limiter.release(700)] == ["a", "c"]
    assert limiter.rate_limited == 1


def test_the_venue_headers_set_the_limit_and_pause_an_exhausted_endpoint() -> None:
    limiter: RateLimiter[int] = RateLimiter()
    limiter.on_headers(CREATE, limit=20, remaining=5, reset_ms=0)  # a VIP account: 20 a second
    for n in range(30):
        limiter.submit(CREATE, Priority.CREATE, n)
    assert len(limiter.release(0)) == 20
    limiter.on_headers(CREATE, limit=20, remaining=0, reset_ms=1500)  # the venue counts more than we did
    assert limiter.release(1200) == []
    assert len(limiter.release(1500)) == 10


def test_the_ip_budget_of_600_per_five_seconds_holds_across_endpoints() -> None:
    limiter: RateLimiter[int] = RateLimiter({"/a": 1000, "/b": 1000})
    for n in range(800):
        limiter.submit("/a" if n % 2 else "/b", Priority.QUERY, n)
    assert len(limiter.release(0)) == 600
    assert limiter.release(4999) == []
    assert limiter.next_release_ms(4999) == 5000
    assert len(limiter.release(5000)) == 200
