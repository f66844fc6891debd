"""What every routing strategy shares: a small lifecycle, child ids, and the safe ways to trade.

A strategy is a pure state machine: ``on_event(event, view)`` returns commands, and the time it
wants to be woken is ``wakeup_at_ns``. It never awaits, reads a clock, logs or draws random
numbers except from its own seeded generator. Decisions worth explaining go to ``plan.notes``.

Subclasses override the ``on_*`` hooks they need. The base class keeps the bookkeeping every
strategy needs the same way:

* ``filled_lots`` read through the view from the order tracker, the one owner of the count (it
  de-duplicates fills; a strategy that counted ``ChildFilled`` itself would keep a second
  count that drifts, e.g. past a late fill after it finished);
* children are ``<parent>-<n>`` limit orders; ``marketable(qty)`` is an IOC limit at the band's
  edge, which is how a "market" child is sent, so no fill can cross the band;
* ``book_ready`` is False unless the book is SYNCED, and nothing is sent when it is not;
* ``StopRequested`` (the deadline or an operator) cancels what rests; the strategy is DONE when
  the parent is filled, or when it is stopping and nothing is left open.

Notes never state as final what is not: when a stop is asked for, a child may still be in
flight (an IOC sent a moment before the deadline) and fill afterwards. So the stop note says
what has filled so far and what is still open or unconfirmed, and the closing note, written
when the strategy is DONE and nothing is open, says how much filled and how much did not. A
fill that still arrives after that (a cancel that lost the race) gets a note of its own with
the new tally, so the last note always matches the outcome.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from enum import StrEnum
from typing import ClassVar, Final

from engine.book import OrderBook
from engine.commands import CancelOrder, Command, SubmitOrder
from engine.desk import MarketView, StrategySummary
from engine.enums import BookState, OrderType, Side, TimeInForce
from engine.errors import InvalidTransition
from engine.events import (
    BookDelta,
    BookStateChanged,
    ChildDenied,
    ChildFilled,
    ChildRequestRefused,
    ChildStatusChanged,
    Event,
    ParentStarted,
    StopRequested,
    TimerFired,
    TradePrinted,
)
from engine.ids import child_id
from engine.orders import ChildOrder
from engine.parent import ParentPlan

__all__ = ["BaseStrategy", "StrategyState", "split_evenly", "chunks"]


class StrategyState(StrEnum):
    PENDING = "pending"
    WORKING = "working"
    STOPPING = "stopping"  # cancels sent, waiting for the venue to confirm
    DONE = "done"


_MOVES: Final = {
    StrategyState.PENDING: frozenset({StrategyState.WORKING, StrategyState.STOPPING, StrategyState.DONE}),
    StrategyState.WORKING: frozenset({StrategyState.STOPPING, StrategyState.DONE}),
    StrategyState.STOPPING: frozenset({StrategyState.DONE}),
    StrategyState.DONE: frozenset(),
}


class BaseStrategy:
    name: ClassVar[str] = "base"

    def __init__(self, plan: ParentPlan, *, seed: int = 0) -> None:
        self.plan = plan
        self.state = StrategyState.PENDING
        self.wakeup_at_ns: int | None = None
        self._view: MarketView | None = None  # the desk's view, from the first event on (for filled_lots)
        self._parent_id = plan.parent_id
        self.rng = random.Random(f"{seed}:{plan.parent_id}")
        self._next_seq = 1
        self.stop_reason = ""

    # -- the protocol the desk calls ------------------------------------------------------
    @property
    def wants_book(self) -> bool:
        """Whether book updates matter now (state changes always arrive). Skipping them is speed."""
        return True

    @property
    def wants_trades(self) -> bool:
        """Whether public trades matter now."""
        return True

    @property
    def finished(self) -> bool:
        return self.state is StrategyState.DONE

    @property
    def outcome(self) -> str:
        if self.filled_lots >= self.plan.qty_lots:
            return "filled"
        return "partially filled" if self.filled_lots else "unfilled"

    def summary(self) -> StrategySummary:
        """This strategy worked the parent because it was asked to; subclasses with a schedule add it."""
        return StrategySummary(strategy_used=self.name, reason=f"{self.name} was requested")

    def on_event(self, event: Event, view: MarketView) -> list[Command]:
        self._view = view
        if self.state is StrategyState.DONE:
            if isinstance(event, ChildFilled):
                late = self.qty(event.qty_lots)
                self.note(f"a late fill of {late} on {event.client_order_id} after the end: now {self._tally()}")
            return []
        match event:
            case ParentStarted():
                self._enter(StrategyState.WORKING)
                commands = self.on_start(view)
            case TimerFired():
                commands = self.on_timer(view) if self.state is StrategyState.WORKING else []
            case BookDelta() | BookStateChanged():
                commands = self.on_book(view) if self.state is StrategyState.WORKING else []
            case TradePrinted():
                commands = self.on_trade(event, view) if self.state is StrategyState.WORKING else []
            case ChildFilled():
                commands = self.on_fill(event, view) if self.state is StrategyState.WORKING else []
            case ChildStatusChanged():
                commands = self.on_child_done(event, view) if self._is_terminal(event) else []
            case ChildDenied():
                self.note(f"child {event.client_order_id} denied: {event.reason}")
                commands = self.on_denied(event, view) if self.state is StrategyState.WORKING else []
            case ChildRequestRefused():
                self.note(f"{event.op} of {event.client_order_id} refused by the venue: {event.code} {event.message}")
                commands = self.on_request_refused(event, view)
            case StopRequested():
                commands = self.stop(view, event.reason)
            case _:
                commands = []
        self._finish_if_complete(view)
        return commands

    # -- hooks (override what you need) -------------------------------------------------
    def on_start(self, view: MarketView) -> list[Command]:
        return []

    def on_timer(self, view: MarketView) -> list[Command]:
        return []

    def on_book(self, view: MarketView) -> list[Command]:
        return []

    def on_trade(self, trade: TradePrinted, view: MarketView) -> list[Command]:
        return []

    def on_fill(self, fill: ChildFilled, view: MarketView) -> list[Command]:
        return []

    def on_child_done(self, change: ChildStatusChanged, view: MarketView) -> list[Command]:
        return []

    def on_denied(self, denied: ChildDenied, view: MarketView) -> list[Command]:
        return []

    def on_request_refused(self, refused: ChildRequestRefused, view: MarketView) -> list[Command]:
        """A cancel or amend the venue refused. The child's state is unchanged: its order stream (or
        the tracker's query) settles it, so by default there is nothing to do but note it."""
        return []

    def stop(self, view: MarketView, reason: str) -> list[Command]:
        """Cancel every open child and finish once the venue has confirmed them all."""
        if self.state in (StrategyState.STOPPING, StrategyState.DONE):
            return []
        self.stop_reason = reason
        open_lots = self.open_lots(view)
        still = f"; {self.qty(open_lots)} still open or unconfirmed, cancelling" if open_lots else ""
        self.note(f"stopping ({reason}): {self.qty(self.filled_lots)} of {self.qty(self.plan.qty_lots)} filled{still}")
        self._enter(StrategyState.STOPPING)
        self.wakeup_at_ns = None
        return self.cancel_all(view)

    # -- quantities -----------------------------------------------------------------------
    @property
    def filled_lots(self) -> int:
        """Lots the parent has filled, as the order tracker booked them (0 before the first event)."""
        view = self._view
        return 0 if view is None else view.filled_lots(self._parent_id)

    @property
    def remaining_lots(self) -> int:
        """Lots of the parent not filled yet."""
        return self.plan.qty_lots - self.filled_lots

    def open_children(self, view: MarketView) -> list[ChildOrder]:
        return view.open_children(self.plan.parent_id)

    def open_lots(self, view: MarketView) -> int:
        return sum(child.leaves_lots for child in self.open_children(view))

    def free_lots(self, view: MarketView) -> int:
        """Lots neither filled nor resting: what a new child may take."""
        return self.remaining_lots - self.open_lots(view)

    def tradable(self, lots: int) -> int:
        """``lots`` rounded down to the lot step; 0 if under the venue minimum or min_fill_size."""
        instrument = self.plan.instrument
        lots = instrument.qty_floor(max(lots, 0))
        if lots < max(instrument.min_qty_lots, 1, self.plan.min_fill_lots):
            return 0
        if instrument.max_qty_lots is not None:
            lots = min(lots, instrument.qty_floor(instrument.max_qty_lots))
        return lots

    # -- prices ---------------------------------------------------------------------------
    def book(self, view: MarketView) -> OrderBook | None:
        """The parent's book if it is SYNCED (else None: do not send on a book we cannot trust)."""
        book = view.book(self.plan.symbol)
        if book is None or book.state is not BookState.SYNCED:
            return None
        return book

    def touch(self, book: OrderBook) -> int | None:
        """Our side's best price (the bid for a buy): where a passive child joins the queue."""
        return book.best_bid_ticks if self.plan.side is Side.BUY else book.best_ask_ticks

    def far_touch(self, book: OrderBook) -> int | None:
        """The opposite best price: what a taker pays."""
        return book.best_ask_ticks if self.plan.side is Side.BUY else book.best_bid_ticks

    def clamp_to_band(self, price_ticks: int) -> int:
        """The price moved inside the band and onto the tick grid, never the unsafe way."""
        plan, instrument = self.plan, self.plan.instrument
        if plan.side is Side.BUY:
            return instrument.price_floor(min(price_ticks, plan.band_ticks))
        return instrument.price_ceil(max(price_ticks, plan.band_ticks))

    def available_in_band(self, book: OrderBook) -> int:
        """Lots on the opposite side priced within the band: what could be taken right now."""
        opposite = Side.SELL if self.plan.side is Side.BUY else Side.BUY
        return book.size_within_price(opposite, self.plan.band_ticks)

    # -- commands -------------------------------------------------------------------------
    def limit(self, qty_lots: int, price_ticks: int, tif: TimeInForce = TimeInForce.GTC, why: str = "") -> SubmitOrder:
        seq = self._next_seq
        self._next_seq += 1
        return SubmitOrder(
            client_order_id=child_id(self.plan.parent_id, seq),
            parent_id=self.plan.parent_id,
            symbol=self.plan.symbol,
            side=self.plan.side,
            order_type=OrderType.LIMIT,
            qty_lots=qty_lots,
            price_ticks=price_ticks,
            time_in_force=tif,
            reason=why,
        )

    def marketable(self, qty_lots: int, why: str = "") -> SubmitOrder:
        """A 'market' child: IOC limit at the band's edge. Fills as far as the band allows."""
        return self.limit(qty_lots, self.clamp_to_band(self.plan.band_ticks), TimeInForce.IOC, why)

    def cancel(self, child: ChildOrder, why: str = "") -> CancelOrder:
        return CancelOrder(client_order_id=child.client_order_id, symbol=child.symbol, reason=why)

    def cancel_all(self, view: MarketView, why: str = "") -> list[Command]:
        return [self.cancel(child, why or "cancel all") for child in self.open_children(view)]

    def px(self, price_ticks: int) -> str:
        """A price as the venue writes it (notes speak the venue's units, never ticks)."""
        return self.plan.instrument.format_price(price_ticks)

    def qty(self, lots: int) -> str:
        """A size as the venue writes it (notes speak the venue's units, never lots)."""
        return self.plan.instrument.format_qty(lots)

    def note(self, text: str) -> None:
        """Record a decision and why (goes to the report)."""
        self.plan.notes.append(text)

    # -- lifecycle ------------------------------------------------------------------------
    def _enter(self, state: StrategyState) -> None:
        if state is self.state:
            return
        if state not in _MOVES[self.state]:
            raise InvalidTransition(f"{self.name} cannot go from {self.state} to {state}")
        self.state = state

    def _finish_if_complete(self, view: MarketView) -> None:
        state = self.state
        if state is StrategyState.DONE or (
            state is StrategyState.WORKING and view.filled_lots(self._parent_id) < self.plan.qty_lots
        ):
            return  # the common case (every event): one O(1) lookup, not a look at the children
        nothing_open = not self.open_children(view)
        if (self.remaining_lots <= 0 and nothing_open) or (self.state is StrategyState.STOPPING and nothing_open):
            self.wakeup_at_ns = None
            self._enter(StrategyState.DONE)
            self.note(f"{self.name} done: {self._tally()}")

    def _tally(self) -> str:
        """The outcome in the venue's units: what filled, of what, and what did not."""
        unfilled = f", {self.qty(self.remaining_lots)} unfilled" if self.remaining_lots > 0 else ""
        return f"{self.outcome}, {self.qty(self.filled_lots)} of {self.qty(self.plan.qty_lots)} filled{unfilled}"

    @staticmethod
    def _is_terminal(change: ChildStatusChanged) -> bool:
        return change.new.value in ("Filled", "Cancelled", "Rejected")


def split_evenly(total: int, parts: int, step: int = 1) -> list[int]:
    """``total`` in ``parts`` multiples of ``step`` that sum exactly to ``total`` (10, 4 -> 3,3,2,2).

    ``total`` must itself be a multiple of ``step``; leading parts get the extra steps.
    """
    if parts <= 0:
        raise ValueError("parts must be positive")
    units, rest = divmod(total, step)
    if rest:
        raise ValueError(f"{total} is not a multiple of {step}")
    base, extra = divmod(units, parts)
    return [(base + (1 if index < extra else 0)) * step for index in range(parts)]


def chunks(total: int, size: int) -> Iterable[int]:
    """``total`` in pieces of at most ``size`` (the last one smaller)."""
    while total > 0:
        piece = min(size, total)
        yield piece
        total -= piece
