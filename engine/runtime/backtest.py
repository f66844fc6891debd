"""Backtest: one parent order worked against recorded market data and a simulated Bybit.

The same engine, codec, books, desk and strategies as live trading; only the edges differ: a
``SimClock``, the ``SimBybit`` venue (matching against the replayed book, latency, fees), and
recorded frames as the market. It is a discrete-event simulation with four sources of work:

* market records, seen by the venue at their time ``t`` (the exchange's view) and by the
  engine at ``t + market_data_latency`` (what our process would have received);
* the venue's output (trade-API replies, order and execution pushes), parsed by the live codec;
* the engine's timers (strategy wake-ups, deadlines, book silence);
* commands the engine emits, sent to the venue at once (they reach it after order latency).

Work is done in time order. At equal times the venue's output goes first, then timers, then
market data, as an exchange's acknowledgements are already on the wire when a timer fires.
The parent starts at the first SYNCED book (at or after ``start_ns`` if given) and the run ends
when its strategy is done and the venue has nothing left to say, or when the data runs out.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine.clock import NS_PER_MS, NS_PER_S, SimClock
from engine.commands import ResyncBook
from engine.desk import StrategySummary
from engine.engine import Engine
from engine.enums import BookState
from engine.events import BookDelta, Event, ParentFinished
from engine.instrument import Instrument
from engine.market import DEFAULT_STALE_AFTER_NS
from engine.orders import ChildOrder
from engine.parent import ParentOrder, ParentPlan
from engine.report import ReportSeries
from engine.tape import TapeReading
from engine.tca import ExecutionReport, analyse
from engine.venue import Venue
from feeds.bybit.codec import BybitCodec
from feeds.bybit.sim_venue import SimBybit
from strategies import make_strategy
from strategies.profile import VolumeProfile

__all__ = ["Backtest", "BacktestSettings", "BacktestResult", "Record"]

Record = tuple[int, str, bytes]
DRAIN_AFTER_DATA_NS = 60_000 * NS_PER_MS  # after the data ends, let the venue and timers finish
_NEVER = 1 << 126


@dataclass(frozen=True, kw_only=True)
class BacktestSettings:
    order_latency_ns: int = 5 * NS_PER_MS
    response_latency_ns: int = 5 * NS_PER_MS
    market_data_latency_ns: int = 0
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.00055")
    seed: int = 0
    start_ns: int | None = None
    stale_after_ns: int = DEFAULT_STALE_AFTER_NS

    def __post_init__(self) -> None:
        for name in ("order_latency_ns", "response_latency_ns", "market_data_latency_ns"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


@dataclass
class BacktestResult:
    parent: ParentOrder
    settings: BacktestSettings
    plan: ParentPlan | None
    report: ExecutionReport | None
    children: list[ChildOrder]
    series: ReportSeries | None
    messages: int
    wall_s: float
    outcome: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``backtest --json`` object: inputs, TCA, children and fills (decimal strings)."""
        plan = self.plan
        instrument = plan.instrument if plan else None
        config = self.parent.config
        out: dict[str, Any] = {
            "inputs": {
                "symbol": self.parent.symbol,
                "side": self.parent.side.value,
                "qty": str(self.parent.qty),
                "strategy": config.strategy.value,
                "urgency": config.urgency.value,
                "time_limit_s": config.time_limit_s,
                "max_slippage": str(config.max_slippage),
                "participation_rate": str(config.participation_rate),
                "chunk_size": _opt_str(config.chunk_size),
                "min_fill_size": _opt_str(config.min_fill_size),
                "limit_price": _opt_str(config.limit_price),
                "latency_ms": self.settings.order_latency_ns / NS_PER_MS,
                "market_data_latency_ms": self.settings.market_data_latency_ns / NS_PER_MS,
                "fees": [str(self.settings.maker_fee), str(self.settings.taker_fee)],
                "seed": self.settings.seed,
            },
            "outcome": self.outcome,
            "messages": self.messages,
            "wall_s": round(self.wall_s, 3),
        }
        if self.report is not None:
            out.update(self.report.to_dict())
        if plan is not None and instrument is not None:
            out["band"] = instrument.format_price(plan.band_ticks)  # the worst price any child may fill at
        out["children"] = [_child_dict(child, instrument) for child in self.children]
        out["fills"] = [
            {
                "execId": fill.exec_id,
                "orderLinkId": child.client_order_id,
                "price": instrument.format_price(fill.price_ticks) if instrument else str(fill.price_ticks),
                "qty": instrument.format_qty(fill.qty_lots) if instrument else str(fill.qty_lots),
                "ts_ns": fill.ts_ns,
                "is_maker": fill.is_maker,
            }
            for child in self.children
            for fill in child.fills
        ]
        out["notes"] = list(self.notes)
        return out


class Backtest:
    def __init__(
        self,
        parent: ParentOrder,
        *,
        settings: BacktestSettings | None = None,
        instruments: Mapping[str, Instrument] | None = None,
        profile: VolumeProfile | None = None,
    ) -> None:
        self.parent = parent
        self.settings = settings or BacktestSettings()
        self.clock = SimClock()
        self.codec = BybitCodec()
        self._instruments: dict[str, Instrument] = dict(instruments or {})
        self.engine = Engine(self.clock, instruments=self._instruments, stale_after_ns=self.settings.stale_after_ns)
        self.venue = SimBybit(
            self._instruments,
            order_latency_ns=self.settings.order_latency_ns,
            response_latency_ns=self.settings.response_latency_ns,
            maker_fee=self.settings.maker_fee,
            taker_fee=self.settings.taker_fee,
            seed=self.settings.seed,
            clock=self.clock,
        )
        self._profile = profile
        self._delayed: list[tuple[int, int, list[Event]]] = []
        self._order = itertools.count()
        self.plan: ParentPlan | None = None
        self._finished_ns: int | None = None
        self._start_reading: TapeReading | None = None
        self._mids: list[tuple[int, Decimal]] = []
        self._last_touch: tuple[int | None, int | None] = (None, None)
        self._shared_books: set[str] = set()
        self._start_ns = self.settings.start_ns or 0
        self.resyncs_ignored = 0
        # What the data held, to say why a parent never started: every symbol it had a market
        # message for, and the receive time of its last record (None: no records at all).
        self.data_symbols: set[str] = set()
        self.data_last_ns: int | None = None
        self.engine.watch_trades(parent.symbol)
        self.engine.bus.subscribe(ParentFinished, self._on_finished)
        self.engine.bus.subscribe(BookDelta, self._sample_mid, symbol=parent.symbol)

    # -- the run ------------------------------------------------------------------------------
    def run(self, records: Iterable[Record], progress: Callable[[int], None] | None = None) -> BacktestResult:
        started = time.perf_counter()
        count = 0
        last_ts = 0
        for ts_ns, _stream, raw in records:
            ts_ns = max(ts_ns, self.clock.now_ns())  # noqa: PLW2901 - simulated time never runs back
            self._run_until(ts_ns)
            self._market(ts_ns, raw)
            count += 1
            last_ts = ts_ns
            if progress is not None and not count % 16384:
                progress(count)
            if self._done():
                break
        if count:
            self.data_last_ns = last_ts
        self._run_until(max(last_ts, self.clock.now_ns()) + DRAIN_AFTER_DATA_NS, stop_when_done=True)
        return self._result(count, time.perf_counter() - started)

    def _market(self, ts_ns: int, raw: bytes) -> None:
        latency = self.settings.market_data_latency_ns
        self.clock.set_time(ts_ns)
        events = self.codec.parse(raw, ts_ns + latency)
        symbols = self.data_symbols
        for event in events:
            symbol = getattr(event, "symbol", None)
            if symbol is not None:
                symbols.add(symbol)
        if latency:
            for event in events:
                self.venue.on_market(event, ts_ns)
            heapq.heappush(self._delayed, (ts_ns + latency, next(self._order), events))
            return
        # No market-data latency: engine and exchange see the market at the same instant, so
        # the venue matches against the engine's own book, which must have the message first.
        # (Commands the engine sends now reach the venue only after order latency.)
        self._deliver(events)
        venue = self.venue
        for event in events:
            if type(event) is BookDelta and event.symbol not in self._shared_books:
                self._share_book(event)
            symbol = getattr(event, "symbol", None)
            if symbol is not None and venue.wants_market(symbol):
                venue.on_market(event, ts_ns)

    def _share_book(self, delta: BookDelta) -> None:
        book = self.engine.books.book(delta.symbol, delta.depth)
        if book is not None:
            self.venue.share_book(book)
            self._shared_books.add(delta.symbol)

    def _deliver(self, events: list[Event]) -> None:
        handle, outbox = self.engine.handle, self.engine.outbox
        for event in events:
            handle(event)
            if outbox:
                self._flush()
        if self.plan is None and self._start_ns <= self.clock.now_ns():
            self._maybe_start()

    def _run_until(self, until_ns: int, *, stop_when_done: bool = False) -> None:
        """Do all venue output, timers and delayed market data due at or before ``until_ns``."""
        while not (stop_when_done and self._done()):
            venue_at = self.venue.next_due_ns()
            timer_at = self.clock.next_deadline_ns()
            delayed_at = self._delayed[0][0] if self._delayed else None
            now = min(
                venue_at if venue_at is not None else _NEVER,
                timer_at if timer_at is not None else _NEVER,
                delayed_at if delayed_at is not None else _NEVER,
            )
            if now > until_ns:
                return
            if venue_at == now:
                self.clock.set_time(now)
                for record_ns, _stream, frame in self.venue.pop_due(now):
                    self._deliver(self.codec.parse(frame, record_ns))
            elif timer_at == now:
                self.clock.advance_to(now)
                self._flush()
                self._maybe_start()
            else:
                self.clock.set_time(now)
                _, _, events = heapq.heappop(self._delayed)
                self._deliver(events)

    def _flush(self) -> None:
        venue: Venue = self.venue  # the engine's side of the venue is the live gateway's: send only
        for command in self.engine.commands_to_send():
            if isinstance(command, ResyncBook):
                self.resyncs_ignored += 1  # a replay cannot ask for a snapshot: wait for the next one
            else:
                venue.send(command)

    # -- the parent ---------------------------------------------------------------------------
    def _maybe_start(self) -> None:
        if self.plan is not None:
            return
        start_ns = self.settings.start_ns
        if start_ns is not None and self.clock.now_ns() < start_ns:
            return
        book = self.engine.books.book(self.parent.symbol)
        if book is None or book.state is not BookState.SYNCED or book.mid_ticks() is None:
            return
        if book.instrument is not None:
            self._instruments.setdefault(self.parent.symbol, book.instrument)
        tape_symbol = self.parent.symbol
        self.plan = self.engine.start_parent(
            self.parent, lambda plan: make_strategy(plan, seed=self.settings.seed, profile=self._profile)
        )
        tape = self.engine.tapes[tape_symbol]
        self._start_reading = tape.reading(self.clock.now_ns())
        self._flush()

    def _on_finished(self, event: ParentFinished) -> None:
        if event.parent_id == self.parent.parent_id:
            self._finished_ns = event.ts_event_ns

    def _done(self) -> bool:
        return self._finished_ns is not None and self.venue.next_due_ns() is None

    def _sample_mid(self, event: BookDelta) -> None:
        """Record the mid for the report, only when the touch moved (most updates do not move it)."""
        if self.plan is None:
            return
        book = self.engine.books.book(event.symbol)
        if book is None:
            return
        touch = (book.best_bid_ticks, book.best_ask_ticks)
        if touch != self._last_touch:
            self._last_touch = touch
            mid = book.mid_ticks()
            if mid is not None:
                self._mids.append((self.clock.now_ns(), mid))

    # -- results ------------------------------------------------------------------------------
    def _result(self, messages: int, wall_s: float) -> BacktestResult:
        plan = self.plan
        if plan is None:
            return BacktestResult(
                parent=self.parent,
                settings=self.settings,
                plan=None,
                report=None,
                children=[],
                series=None,
                messages=messages,
                wall_s=wall_s,
                outcome=f"not started: {self._why_not_started()}",
            )
        working = self.engine.desk.parents[plan.parent_id]
        strategy = working.strategy
        children = list(self.engine.orders.children(plan.parent_id))
        end_ns = self._finished_ns if self._finished_ns is not None else self.clock.now_ns()
        tape = self.engine.tapes[plan.symbol]
        book = self.engine.books.book(plan.symbol)
        end_mid = book.mid_ticks() if book is not None and book.state is BookState.SYNCED else None
        summary = strategy.summary()
        assert self._start_reading is not None
        report = analyse(
            plan,
            children,
            start_reading=self._start_reading,
            end_reading=tape.reading(end_ns),
            end_mid_ticks=end_mid,
            end_ns=end_ns,
            strategy_used=summary.strategy_used,
            selection_reason=summary.reason,
        )
        outcome = strategy.outcome if self._finished_ns is not None else "data ended before the parent finished"
        return BacktestResult(
            parent=self.parent,
            settings=self.settings,
            plan=plan,
            report=report,
            children=children,
            series=self._series(plan, children, summary),
            messages=messages,
            wall_s=wall_s,
            outcome=outcome,
            notes=[*report.notes, *report.warnings],
        )

    def _why_not_started(self) -> str:
        """Why the parent never started, in terms of what the data held."""
        symbol = self.parent.symbol
        start_ns = self.settings.start_ns
        if not self.data_symbols:
            return "the files hold no market data"
        if symbol not in self.data_symbols:
            return f"the files hold no data for {symbol}; they hold {', '.join(sorted(self.data_symbols))}"
        if self.engine.books.book(symbol) is None:
            return f"the files hold no order book for {symbol} (only trades), and a backtest needs one"
        if start_ns is not None and self.data_last_ns is not None and start_ns > self.data_last_ns:
            return f"the data ends at {utc_time(self.data_last_ns)}, before --start {utc_time(start_ns)}"
        after = f" at or after --start {utc_time(start_ns)}" if start_ns is not None else ""
        return f"the {symbol} book never became SYNCED{after}"

    def _series(self, plan: ParentPlan, children: list[ChildOrder], summary: StrategySummary) -> ReportSeries:
        """The charts' data: the mids sampled while the parent worked, the strategy's schedule if it has one."""
        return ReportSeries.from_plan(plan, children, self._mids, schedule_lots=summary.schedule or None)


def _child_dict(child: ChildOrder, instrument: Instrument | None) -> dict[str, Any]:
    price = child.price_ticks
    return {
        "orderLinkId": child.client_order_id,
        "type": child.order_type.value,
        "tif": child.time_in_force.value,
        "price": None if price is None else (instrument.format_price(price) if instrument else str(price)),
        "qty": instrument.format_qty(child.qty_lots) if instrument else str(child.qty_lots),
        "status": child.status.value,
        "filled": instrument.format_qty(child.filled_lots) if instrument else str(child.filled_lots),
    }


def utc_time(ts_ns: int) -> str:
    """``ts_ns`` as ISO-8601 UTC to the millisecond, e.g. 2024-12-01T00:05:00.000Z."""
    try:
        moment = datetime.fromtimestamp(ts_ns // NS_PER_S, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return f"{ts_ns} ns after the epoch"  # beyond what a calendar date can show
    millis = ts_ns % NS_PER_S // NS_PER_MS
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


def _opt_str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
