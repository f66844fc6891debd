"""Live public market data into the engine: books, trades and tickers of one category's symbols.

The driver is glue and nothing else. Frames from the stream go through the codec into
``Engine.handle``; the engine's commands are drained after every frame and whenever
``Engine.on_command`` says a timer queued one. ``ResyncBook`` for one of our books becomes a
resubscription of that topic alone (Bybit answers with a fresh snapshot while every other topic
keeps flowing); every other command belongs to another driver and is handed to
``on_other_command``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Final

import structlog

from engine.commands import Command, ResyncBook
from engine.engine import Engine
from engine.enums import ConnectionState
from engine.events import ConnectionStateChanged, Event
from feeds.bybit.codec import BybitCodec
from feeds.bybit.live.connection import (
    DEFAULT_PUBLIC_MAX_SILENCE_S,
    BybitStream,
    StreamCounters,
    StreamSpec,
    StreamTiming,
)
from feeds.bybit.topics import (
    Category,
    Environment,
    orderbook_topic,
    parse_category,
    public_url,
    ticker_topic,
    trade_topic,
    validate_symbol,
)

__all__ = ["PublicFeed", "DEFAULT_BOOK_DEPTHS", "public_topics"]

log = structlog.get_logger("feeds.bybit.live")

DEFAULT_BOOK_DEPTHS: Final = {
    Category.SPOT: 50,
    Category.LINEAR: 50,
    Category.INVERSE: 50,
    Category.OPTION: 25,
}
"""50 levels every 20 ms: deep enough to sweep a child order, fast enough to trade on. Options
serve only 25 and 100."""

CommandHandler = Callable[[Command], None]


def public_topics(category: Category | str, symbols: Iterable[str], depth: int) -> dict[str, tuple[str, ...]]:
    """Topics per symbol: ``orderbook.<depth>``, ``publicTrade``, ``tickers`` (validated).

    Option trades are published per base coin (``publicTrade.BTC``), so that topic is shared by
    every option of the coin and listed once, under the first symbol that needs it.
    """
    cat = parse_category(category)
    seen: set[str] = set()
    topics: dict[str, tuple[str, ...]] = {}
    for symbol in symbols:
        validate_symbol(symbol)
        trades = trade_topic(symbol.split("-")[0] if cat is Category.OPTION else symbol)
        names = [orderbook_topic(symbol, depth, category=cat), trades, ticker_topic(symbol)]
        topics[symbol] = tuple(name for name in names if name not in seen)
        seen.update(names)
    if not topics:
        raise ValueError("PublicFeed needs at least one symbol")
    return topics


class PublicFeed:
    """One public connection for ``symbols`` of ``category``, feeding ``engine``.

    The feed becomes the engine's command drainer (``engine.on_command``), so commands that are
    not its own go to ``on_other_command``; without one they are logged as errors and dropped,
    which is only right for a data-only session. The endpoint is the ``env``'s (never a default:
    nothing connects to mainnet unasked) unless ``url`` names one.
    """

    def __init__(
        self,
        engine: Engine,
        category: Category | str,
        symbols: Iterable[str],
        *,
        env: Environment | str | None = None,
        depth: int | None = None,
        url: str | None = None,
        timing: StreamTiming | None = None,
        max_silence_s: float | None = DEFAULT_PUBLIC_MAX_SILENCE_S,
        rng: random.Random | None = None,
        on_other_command: CommandHandler | None = None,
        on_raw: Callable[[bytes, int], None] | None = None,
    ) -> None:
        if engine.on_command is not None:
            raise ValueError("engine.on_command is already set: one driver must drain the engine's commands")
        cat = parse_category(category)
        if env is not None and url is None:
            endpoint = public_url(cat, env)
        elif env is None and url is not None:
            endpoint = url
        else:
            raise ValueError("pass exactly one of env (Bybit's endpoint) and url (any other)")
        self.category = cat
        self.depth = depth if depth is not None else DEFAULT_BOOK_DEPTHS[cat]
        by_symbol = public_topics(cat, symbols, self.depth)
        self.symbols = tuple(by_symbol)
        self._book_topics = {
            (symbol, self.depth): orderbook_topic(symbol, self.depth, category=cat) for symbol in by_symbol
        }
        self.engine = engine
        self.codec = BybitCodec(symbols=self.symbols)
        self.commands_dropped = 0
        self._on_other_command = on_other_command
        self._on_raw = on_raw  # every received frame, verbatim, before the engine sees it (a recorder)
        self._drain_scheduled = False
        spec = StreamSpec(
            name=f"public.{cat.value}",
            url=endpoint,
            scope=cat,
            topics=tuple(topic for names in by_symbol.values() for topic in names),
            max_silence_s=max_silence_s,
        )
        self.stream = BybitStream(
            spec,
            on_frame=self._on_frame,
            on_event=self._on_connection,
            timing=timing,
            parse=self.codec.parse,
            clock=engine.clock,
            rng=rng,
        )
        for symbol in self.symbols:
            engine.watch_trades(symbol)  # trades are subscribed for the tape: volume, VWAP, volatility
        engine.on_command = self._wake

    @property
    def counters(self) -> StreamCounters:
        return self.stream.counters

    def start(self) -> None:
        self.stream.start()

    async def close(self) -> None:
        await self.stream.close()

    async def wait_live(self) -> None:
        await self.stream.wait_live()

    async def __aenter__(self) -> PublicFeed:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- frames in, commands out ---------------------------------------------------------------------
    def _on_connection(self, event: Event) -> None:
        """Connection state to the engine; a dropped connection first invalidates the books it fed."""
        if isinstance(event, ConnectionStateChanged) and event.state is ConnectionState.DISCONNECTED:
            for symbol, depth in self._book_topics:
                book = self.engine.books.book(symbol, depth)
                if book is not None:
                    book.disconnect(f"{event.stream} disconnected: {event.reason}" if event.reason else "disconnected")
        self.engine.handle(event)

    def _on_frame(self, raw: bytes, ts_recv_ns: int, events: list[Event]) -> None:
        if self._on_raw is not None:
            self._on_raw(raw, ts_recv_ns)
        handle = self.engine.handle
        for event in events:
            handle(event)
        self._drain()

    def _wake(self) -> None:
        """``engine.on_command``: runs inside the engine (mid-event or in a timer), so only schedule.

        Acting on a command from inside the engine would run driver code halfway through an
        engine state change; the drain runs right after, on the next loop iteration.
        """
        if self._drain_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven synchronously (no loop): nothing to defer to
            self._drain()
            return
        self._drain_scheduled = True
        loop.call_soon(self._drain)

    def _drain(self) -> None:
        self._drain_scheduled = False
        for command in self.engine.commands_to_send():
            topic = self._book_topics.get((command.symbol, command.depth)) if isinstance(command, ResyncBook) else None
            if topic is not None:
                started = self.stream.resubscribe(topic)
                log.info("book resync", topic=topic, resubscribed=started, reason=command.reason)
            elif self._on_other_command is not None:
                self._on_other_command(command)
            else:
                self.commands_dropped += 1
                log.error("no driver for command: dropped", command=type(command).__name__, detail=repr(command))
