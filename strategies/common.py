"""Helpers the working strategies share, on top of ``strategies.base``.

``WorkingStrategy`` adds what TWAP, VWAP, ICEBERG, SNIPER and POV all need the same way:

* the urgency, read once: *aggressive* (high, immediate) takes with IOCs at the band's edge,
  *patient* (low) never finishes with a taking order;
* *live* children: open with something left to fill. A child whose last fill has just been
  booked is still open until its Filled status follows, but it shows nothing any more;
* child sizes: floored to the lot step and never under the smallest child we send
  (``min_child_lots``: the venue minimum, its minimum notional, and min_fill_size). The
  parent's final remainder is the one exception to min_fill_size: it may be smaller, since the
  parent could otherwise never complete; the venue's own minimums always hold;
* ``join`` (a GTC limit at our touch: the back of the queue, never crossing) and ``take`` (IOC
  limits at the band's edge), both split to respect the venue's maximum order size;
* ``trim_overcommit``: a late fill of a child we had given up on (a cancel that lost the race)
  can leave more resting than the parent still needs; the newest children are cancelled until
  what rests fits again;
* ``sending_book``: the SYNCED book to send on, noting once when sending pauses and resumes.

``FinishingStrategy`` is the one finish/retry/stop mechanism of TWAP, VWAP, SNIPER and POV.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import ClassVar, Final

from engine.book import OrderBook
from engine.clock import NS_PER_S
from engine.commands import Command
from engine.desk import MarketView
from engine.enums import OrderStatus, Side, TimeInForce
from engine.events import ChildDenied, ChildStatusChanged
from engine.orders import ChildOrder
from engine.parent import ParentPlan, Urgency
from strategies.base import BaseStrategy, StrategyState, split_evenly

__all__ = ["WorkingStrategy", "FinishingStrategy", "MAX_REJECTS", "FINISH_LEAD_MAX_NS"]

MAX_REJECTS: Final = 3
"""Children the venue (or the desk) may refuse before a strategy gives up and reports."""

FINISH_LEAD_MAX_NS: Final = 5 * NS_PER_S
"""How long before the deadline SNIPER and POV send their finishing IOC (at most)."""

_NOTIONAL_CUSHION: Final = Decimal("0.9")
"""Minimum-notional sizing assumes the price may fall 10% below the arrival (a lower bound)."""


class WorkingStrategy(BaseStrategy):
    """A ``BaseStrategy`` with the sizing, pricing and bookkeeping helpers shared by the algos."""

    # -- urgency --------------------------------------------------------------------------
    @property
    def urgency(self) -> Urgency:
        return self.plan.config.urgency

    @property
    def aggressive(self) -> bool:
        """High and immediate urgency take liquidity (IOC at the band's edge) instead of joining."""
        return self.urgency in (Urgency.HIGH, Urgency.IMMEDIATE)

    @property
    def patient(self) -> bool:
        """Low urgency never sends a finishing IOC: what is left at the deadline is reported unfilled."""
        return self.urgency is Urgency.LOW

    refusals = 0

    def refused(self, view: MarketView, why: str, then: str) -> list[Command] | None:
        """Count a child the venue rejected or the desk refused; the ``MAX_REJECTS``-th stops the parent.

        Returns the stop's commands at the limit; otherwise notes ``why`` and what happens ``then``
        and returns None, so the caller can arrange the retry.
        """
        self.refusals += 1
        if self.refusals >= MAX_REJECTS:
            return self.stop(view, f"{self.refusals} children refused; last: {why}")
        self.note(f"{self.name}: {why}; {then}")
        return None

    def stop(self, view: MarketView, reason: str) -> list[Command]:
        """As ``BaseStrategy.stop``; at low urgency the time limit says why nothing was taken at the end."""
        if reason == "time limit" and self.patient and self.remaining_lots > 0:
            reason = "time limit; low urgency: no finishing IOC, the remainder is reported unfilled"
        return super().stop(view, reason)

    # -- children -------------------------------------------------------------------------
    _paused = False

    def sending_book(self, view: MarketView) -> OrderBook | None:
        """The SYNCED book to send on, or None; notes once when sending pauses and once when it resumes."""
        book = self.book(view)
        if book is None:
            if not self._paused:
                self._paused = True
                self.note(f"{self.name}: book not SYNCED; pausing")
            return None
        if self._paused:
            self._paused = False
            self.note(f"{self.name}: book SYNCED again; resuming")
        return book

    def live_children(self, view: MarketView) -> list[ChildOrder]:
        """Open children with something left to fill (what still shows on the venue)."""
        return [child for child in self.open_children(view) if child.leaves_lots > 0]

    _venue_min_lots: int | None = None

    def venue_min_lots(self) -> int:
        """The smallest child the venue accepts: its minimum quantity and notional, on the lot grid."""
        if self._venue_min_lots is None:
            self._venue_min_lots = self._compute_venue_min_lots()
        return self._venue_min_lots

    def _compute_venue_min_lots(self) -> int:
        plan, instrument = self.plan, self.plan.instrument
        step = instrument.qty_step_lots
        lots = max(instrument.min_qty_lots, step)
        if instrument.min_notional > 0:
            reference = min(plan.arrival_mid_ticks, Decimal(plan.band_ticks)) * _NOTIONAL_CUSHION
            per_lot = instrument.notional(max(int(reference), 1), 1)
            needed = int((instrument.min_notional / per_lot).to_integral_value(rounding=ROUND_CEILING))
            lots = max(lots, needed)
        return -(-lots // step) * step

    def min_child_lots(self) -> int:
        """The smallest child we choose to send: the venue minimums and min_fill_size."""
        step = self.plan.instrument.qty_step_lots
        lots = max(self.venue_min_lots(), self.plan.min_fill_lots)
        return -(-lots // step) * step

    def child_lots(self, lots: int) -> int:
        """``lots`` floored to the lot step; 0 if under the smallest child we send.

        The parent's final remainder only has to meet the venue's minimums (see the module doc).
        """
        lots = self.plan.instrument.qty_floor(max(lots, 0))
        if lots <= 0:
            return 0
        minimum = self.venue_min_lots() if lots >= self.remaining_lots else self.min_child_lots()
        return lots if lots >= minimum else 0

    def _pieces(self, lots: int) -> list[int]:
        """``lots`` in near-equal pieces on the lot grid, none above the venue's maximum size."""
        instrument = self.plan.instrument
        maximum = instrument.max_qty_lots
        if maximum is None or lots <= maximum:
            return [lots]
        maximum = instrument.qty_floor(maximum)
        parts = -(-lots // maximum)
        return [piece for piece in split_evenly(lots, parts, instrument.qty_step_lots) if piece > 0]

    # -- prices and orders ------------------------------------------------------------------
    def join_price(self, book: OrderBook) -> int | None:
        """Our touch (the back of the queue), inside the band; one tick off the far touch if our side is empty."""
        price = self.touch(book)
        if price is None:
            far = self.far_touch(book)
            if far is None:
                return None
            step = self.plan.instrument.price_step_ticks
            price = far - step if self.plan.side is Side.BUY else far + step
        price = self.clamp_to_band(price)
        return price if price > 0 else None

    def join(self, lots: int, book: OrderBook, why: str) -> list[Command]:
        """Rest ``lots`` at our touch (GTC). Nothing if the book has no price to join."""
        price = self.join_price(book)
        if price is None:
            return []
        return [self.limit(piece, price, TimeInForce.GTC, why) for piece in self._pieces(lots)]

    def take(self, lots: int, why: str) -> list[Command]:
        """Take ``lots`` with IOC limits at the band's edge (a 'market' child)."""
        return [self.marketable(piece, why) for piece in self._pieces(lots)]

    def cancel_live(self, view: MarketView, why: str) -> list[Command]:
        return [self.cancel(child, why) for child in self.live_children(view)]

    def trim_overcommit(self, view: MarketView) -> list[Command]:
        """Cancel the newest live children while more rests than the parent still needs."""
        excess = self.open_lots(view) - self.remaining_lots
        if excess <= 0:
            return []
        commands: list[Command] = []
        for child in reversed(self.live_children(view)):
            if excess <= 0:
                break
            commands.append(self.cancel(child, "a late fill: more rests than the parent needs"))
            excess -= child.leaves_lots
        resting, needed = self.qty(self.open_lots(view)), self.qty(self.remaining_lots)
        self.note(f"{self.name}: a late fill left {resting} resting for {needed} needed")
        return commands

    # -- time -----------------------------------------------------------------------------
    def finish_lead_ns(self) -> int:
        """How long before the deadline the finishing IOC goes: 10% of the window, at most 5 s."""
        window = max(self.plan.deadline_ns - self.plan.start_ns, 0)
        return min(FINISH_LEAD_MAX_NS, window // 10)


class FinishingStrategy(WorkingStrategy):
    """A strategy whose work ends with one final child for everything still unfilled.

    From ``finish_at_ns`` (the deadline minus ``finish_lead()``) the strategy is ``finishing``:
    it stops its own work (and pulls what rests, with ``cancel_before_finish``), sends the final
    child (``finish_send``) once nothing else is in flight and the book is SYNCED, sends it again
    on a later event after a refusal (``refusal``), and stops when a final IOC has come back with
    the rest beyond the band (``finish_done``). At the deadline it stops.

    * SNIPER and POV: the final child is a band-capped IOC shortly before the deadline
      (``finish_lead_ns()``). Low urgency has no finishing step: ``finish_at_ns`` is the
      deadline, and what is left is reported unfilled.
    * TWAP and VWAP: finishing is the last slice, half an interval before the deadline, at every
      urgency; at low urgency the final child re-posts at the touch instead of taking
      (``finish_passively``).
    """

    retry_note: ClassVar[str] = "trying again on the next event"
    cancel_before_finish: ClassVar[bool] = False  # whether resting children are pulled first

    def __init__(self, plan: ParentPlan, *, seed: int = 0) -> None:
        super().__init__(plan, seed=seed)
        self.finish_at_ns = plan.deadline_ns - self.finish_lead()
        self.finishing = False
        self._finish_due = False

    def finish_lead(self) -> int:
        """How long before the deadline finishing starts; 0 (low urgency) means no finishing step."""
        return 0 if self.patient else self.finish_lead_ns()

    @property
    def finish_passively(self) -> bool:
        """Whether the final child joins the touch (GTC) instead of taking with a band-capped IOC."""
        return False

    @property
    def finish_due(self) -> bool:
        """A final child is owed: it goes out on the next event where nothing is in flight."""
        return self._finish_due

    def on_timer(self, view: MarketView) -> list[Command]:
        now = view.now_ns
        if now >= self.plan.deadline_ns:
            return self.stop(view, "time limit")
        if now < self.finish_at_ns or self.finishing:
            return []
        return self.begin_finishing(view)

    def begin_finishing(self, view: MarketView) -> list[Command]:
        """Enter the finishing step: the final child is due; the next wake-up is the deadline."""
        self.finishing = True
        self._finish_due = True
        self.wakeup_at_ns = self.plan.deadline_ns
        how = "a re-post at the touch (low urgency: no taking)" if self.finish_passively else "a band-capped IOC"
        self.note(f"{self.name}: time limit near; finishing {self.qty(self.remaining_lots)} with {how}")
        pulled = self.cancel_live(view, f"{self.name} finishing") if self.cancel_before_finish else []
        return pulled + self.finish_send(view)

    def finish_again(self) -> None:
        """Owe the final child again (after a refusal or a trim); before finishing there is none to owe."""
        if self.finishing:
            self._finish_due = True

    def on_denied(self, denied: ChildDenied, view: MarketView) -> list[Command]:
        return self.refusal(view, f"child {denied.client_order_id} refused by the desk: {denied.reason}")

    def retry_plan(self) -> str:
        """What happens after a refused child (the note's second half)."""
        return self.retry_note

    def refusal(self, view: MarketView, why: str) -> list[Command]:
        """A child refused or rejected: count it, and owe the final child again if that was it."""
        stopping = self.refused(view, why, self.retry_plan())
        if stopping is not None:
            return stopping
        self.finish_again()
        return []

    def finish_done(self, change: ChildStatusChanged, view: MarketView) -> list[Command]:
        """What a finishing strategy does when a child ends: retry, send the final child, or stop."""
        if change.new is OrderStatus.REJECTED:
            return self.refusal(view, f"child {change.client_order_id} rejected: {change.reason}")
        commands = self.finish_send(view)
        if commands:
            return commands
        if (
            self.finishing
            and not self.finish_passively
            and not self._finish_due
            and self.remaining_lots > 0
            and not self.live_children(view)
        ):
            return self.stop(view, f"final IOC done; {self.qty(self.remaining_lots)} is beyond the band")
        return []

    def finish_send(self, view: MarketView) -> list[Command]:
        """The final child for everything unfilled, if it is due and can go now."""
        if not self._finish_due or self.state is not StrategyState.WORKING:
            return []
        if self.live_children(view):
            return []  # after what is in flight
        book = self.sending_book(view)
        if book is None:
            return []  # on the next book event
        lots = self.child_lots(self.free_lots(view))
        if lots == 0:
            self._finish_due = False
            if self.remaining_lots > 0:
                return self.stop(view, f"the remaining {self.qty(self.remaining_lots)} is under the venue minimum")
            return []
        label = f"{self.name} final"
        commands = self.join(lots, book, label) if self.finish_passively else self.take(lots, label)
        self._finish_due = not commands  # a book with no price to join: again on the next book event
        return commands
