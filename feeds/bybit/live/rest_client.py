"""The REST driver: a thin aiohttp loop around the sans-I/O ``feeds.bybit.rest``.

``RestClient.call`` sends a ``RestRequest`` exactly as built (method, ``target`` verbatim,
headers, body: Bybit checks the signature over those bytes, so nothing may re-quote them) and
reads the answer with ``parse_response``. Every answer's ``X-Bapi-Limit*`` headers go to the
shared ``RateLimiter``; a 10006 pauses the endpoint until the reset Bybit names and an HTTP 403
pauses everything (an IP ban). The client never retries by itself: the owner of the request
(``LiveVenue``) puts it back in the limiter's queue, so a refused order waits and is never dropped.

Signing timestamps come from Bybit's clock, not ours: ``sync_clock`` measures the offset from
``/v5/market/time`` (``ClockSkew``, keeping the tightest measurement) and
``signing_timestamp_ms`` applies it. Errors name the method and path, never a header: the
request carries the key and the signature, and no message built here includes them.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Final

import aiohttp
import structlog
from yarl import URL

from engine.clock import NS_PER_MS, Clock, LiveClock
from engine.instrument import Instrument
from feeds.bybit.ratelimit import RateLimiter
from feeds.bybit.rest import (
    ClockSkew,
    CursorPager,
    ErrorAction,
    Page,
    RestRequest,
    RestResponse,
    get_instruments_info,
    get_server_time,
    instruments_page,
    merge_instruments,
    parse_response,
    parse_server_time,
)

__all__ = ["RestClient", "RestTransportError", "DEFAULT_REST_TIMEOUT_S"]

log = structlog.get_logger("feeds.bybit.live.rest")

DEFAULT_REST_TIMEOUT_S: Final = 10.0


class RestTransportError(Exception):
    """No answer was read (connection refused or reset, timeout): whether the request took effect is unknown.

    The message names the method, the path and the cause's type only; never a header or the body.
    """


class RestClient:
    """Bybit's REST API over one ``aiohttp.ClientSession`` (its own unless ``session`` is given).

    ``limiter`` (shared with whoever queues requests) learns every answer's budget headers and
    every 10006 / HTTP 403. ``clock`` is our clock (``LiveClock`` by default); ``skew`` the last
    best measurement of Bybit's against it (None until ``sync_clock``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        limiter: RateLimiter[Any] | None = None,
        session: aiohttp.ClientSession | None = None,
        clock: Clock | None = None,
        timeout_s: float = DEFAULT_REST_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter: RateLimiter[Any] = limiter if limiter is not None else RateLimiter()
        self.clock: Clock = clock if clock is not None else LiveClock()
        self.skew: ClockSkew | None = None
        self.calls = 0
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._own_session:
            await session.close()

    def now_ms(self) -> int:
        """Our clock, epoch ms (the limiter's time)."""
        return self.clock.now_ns() // NS_PER_MS

    def signing_timestamp_ms(self) -> int:
        """``X-BAPI-TIMESTAMP`` for a request signed now: Bybit's clock, never ahead of it (ours until synced)."""
        local = self.now_ms()
        return local if self.skew is None else self.skew.signing_timestamp_ms(local)

    async def call(self, request: RestRequest) -> RestResponse:
        """Send ``request`` verbatim and read the answer; the limiter hears what it says about budgets.

        Raises ``RestTransportError`` when no answer was read, ``RestError`` (from ``parse_response``)
        when a 200 answer is not a Bybit envelope. A Bybit error answer is returned, not raised.
        """
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._own_session = True
        url = URL(request.url(self.base_url), encoded=True)
        self.calls += 1
        try:
            async with session.request(
                request.method, url, headers=request.headers, data=request.body or None, timeout=self._timeout
            ) as answer:
                body = await answer.read()
                status, headers = answer.status, dict(answer.headers.items())
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RestTransportError(f"{request.method} {request.path}: no answer ({type(exc).__name__})") from None
        response = parse_response(status, headers, body)
        self._tell_limiter(request.path, response)
        return response

    def _tell_limiter(self, path: str, response: RestResponse) -> None:
        limit = response.rate_limit
        reset_ms = None if limit.reset_ms is None else self.local_ms(limit.reset_ms)
        self.limiter.on_headers(path, limit.limit, limit.remaining, reset_ms)
        action = response.action
        if action is ErrorAction.RETRY_AFTER_RESET:
            log.warning("rate limited", path=path, reset_ms=reset_ms)
            self.limiter.on_rate_limited(path, reset_ms, self.now_ms())
        elif action is ErrorAction.IP_BANNED:
            log.error("IP banned by Bybit: all REST traffic paused", path=path, status=response.http_status)
            self.limiter.on_ip_ban(self.now_ms())

    def local_ms(self, server_ms: int) -> int:
        """A time Bybit named (a budget reset) on our clock."""
        return server_ms if self.skew is None else server_ms - self.skew.offset_ms

    async def sync_clock(self) -> ClockSkew:
        """Measure Bybit's clock against ours; keep the tightest measurement so far and return it."""
        sent = self.now_ms()
        response = await self.call(get_server_time())
        received = self.now_ms()
        measured = ClockSkew.measure(sent, max(received, sent), parse_server_time(response))
        self.skew = measured if self.skew is None else self.skew.better(measured)
        return self.skew

    async def instruments(self, category: str, *, symbol: str | None = None) -> dict[str, Instrument]:
        """Every instrument of ``category`` (or one ``symbol``), following the cursors to the end."""
        pager = CursorPager()
        pages: list[Page[Instrument]] = []
        while not pager.done:
            request = get_instruments_info(category=category, symbol=symbol, limit=1000, cursor=pager.cursor)
            response = await self.call(request)
            if not response.ok:
                raise RestTransportError(
                    f"GET {request.path}: HTTP {response.http_status}, retCode {response.ret_code} {response.ret_msg!r}"
                )
            page = instruments_page(response)
            pages.append(page)
            pager.advance(page)
        return merge_instruments(pages)
