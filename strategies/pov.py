"""POV: keep our fills at ``participation_rate`` of the market's traded volume.

The target is ``participation_rate x`` the volume the public tape has printed since the
parent started (``view.tape(symbol)``; it includes our own prints, so the rate is our share of
all volume), capped at the parent. On every trade the strategy compares what it has filled
with the target. When it is behind by more than the tolerance, ``max(smallest child, 5% of
the target)``, it sends one child for exactly the shortfall, so it never gets ahead of the
target; within the tolerance it waits. Children are IOCs at the band's edge, except at low
urgency, where they join the touch and are re-posted at the new touch when the market trades
away from them. One child at a time; nothing goes out on a book that is not SYNCED.

The strategy runs until the parent is filled or the time limit. Shortly before it (10% of
the window, at most 5 s) what is still unfilled goes as one band-capped IOC, and the rest is
reported unfilled; at low urgency there is no finishing IOC and the remainder is reported
unfilled at the deadline.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from engine.book import OrderBook
from engine.commands import Command
from engine.desk import MarketView
from engine.enums import OrderStatus, Side
from engine.events import ChildDenied, ChildFilled, ChildStatusChanged, TradePrinted
from engine.orders import ChildOrder
from engine.parent import ParentPlan
from strategies.base import StrategyState
from strategies.common import WorkingStrategy

__all__ = ["Pov", "TOLERANCE"]

TOLERANCE = Decimal("0.05")
"""How far behind the target (as a fraction of it) POV lets itself fall before catching up."""


class Pov(WorkingStrategy):
    name = "pov"

    def __init__(self, plan: ParentPlan, *, seed: int = 0) -> None:
        super().__init__(plan, seed=seed)
        self.rate = plan.config.participation_rate
        lead = 0 if self.patient else self.finish_lead_ns()
        self.finish_at_ns = plan.deadline_ns - lead
        self.start_volume = Decimal(0)
        self._finishing = False
        self._finish_due = False
        self._repegging: set[str] = set()

    # -- the target ---------------------------------------------------------------------------
    def market_lots(self, view: MarketView) -> int:
        """Lots the market has traded since the start (floored to whole lots)."""
        tape = view.tape(self.plan.symbol)
        if tape is None:
            return 0
        volume = (tape.volume - self.start_volume) * (Decimal(10) ** self.plan.instrument.qty_scale)
        return max(int(volume.to_integral_value(rounding=ROUND_FLOOR)), 0)

    def target_lots(self, view: MarketView) -> int:
        target = (self.rate * self.market_lots(view)).to_integral_value(rounding=ROUND_FLOOR)
        return min(int(target), self.plan.qty_lots)

    def tolerance_lots(self, target: int) -> int:
        slack = int((TOLERANCE * target).to_integral_value(rounding=ROUND_CEILING))
        return max(self.min_child_lots(), slack)

    # -- hooks ----------------------------------------------------------------------------------
    def on_start(self, view: MarketView) -> list[Command]:
        tape = view.tape(self.plan.symbol)
        self.start_volume = tape.volume if tape is not None else Decimal(0)  # a tape made later starts empty
        how = "joining the touch (low urgency)" if self.patient else "with IOCs at the band edge"
        self.note(f"pov: following {self.rate} of the traded volume {how}; tolerance 5% of the target")
        self.wakeup_at_ns = self.finish_at_ns
        return self._follow(view)

    def on_trade(self, trade: TradePrinted, view: MarketView) -> list[Command]:
        return self._finish_send(view) if self._finishing else self._follow(view)

    def on_book(self, view: MarketView) -> list[Command]:
        return self._finish_send(view) if self._finishing else self._follow(view, repeg=False)

    def on_fill(self, fill: ChildFilled, view: MarketView) -> list[Command]:
        return self.trim_overcommit(view)

    def on_timer(self, view: MarketView) -> list[Command]:
        now = view.now_ns
        if now >= self.plan.deadline_ns:
            return self.stop(view, "time limit")
        if now >= self.finish_at_ns and not self._finishing:
            self._finishing = True
            self._finish_due = True
            self.wakeup_at_ns = self.plan.deadline_ns
            self.note(f"pov: time limit near; finishing {self.remaining_lots} lots with a band-capped IOC")
            return self.cancel_live(view, "pov finishing") + self._finish_send(view)
        return []

    def on_child_done(self, change: ChildStatusChanged, view: MarketView) -> list[Command]:
        repegged = change.client_order_id in self._repegging
        self._repegging.discard(change.client_order_id)
        if self.state is not StrategyState.WORKING:
            return []
        if change.new is OrderStatus.REJECTED:
            return self._refused(view, f"child {change.client_order_id} rejected: {change.reason}")
        if not self._finishing:
            # Re-post a join we moved; an IOC that came back short waits for the next trade
            # (the book it missed has not changed, so sending again now would only loop).
            return self._follow(view, repeg=False) if repegged else []
        commands = self._finish_send(view)
        if commands:
            return commands
        if not self._finish_due and self.remaining_lots > 0 and not self.live_children(view):
            return self.stop(view, f"final IOC done; {self.remaining_lots} lots are beyond the band")
        return []

    def on_denied(self, denied: ChildDenied, view: MarketView) -> list[Command]:
        return self._refused(view, f"child {denied.client_order_id} refused by the desk: {denied.reason}")

    # -- mechanics --------------------------------------------------------------------------
    def _refused(self, view: MarketView, why: str) -> list[Command]:
        stopping = self.refused(view, why, "trying again on the next trade")
        if stopping is not None:
            return stopping
        if self._finishing:
            self._finish_due = True
        return []

    def _follow(self, view: MarketView, *, repeg: bool = True) -> list[Command]:
        if self.state is not StrategyState.WORKING or self._finishing:
            return []
        book = self.book(view)
        live = self.live_children(view)
        if live:
            return self._repeg(live, book) if repeg and self.patient and book is not None else []
        if book is None:
            return []
        target = self.target_lots(view)
        behind = target - self.filled_lots
        if behind <= self.tolerance_lots(target):
            return []
        lots = self.child_lots(min(behind, self.free_lots(view)))
        if lots == 0 or (not self.patient and self.available_in_band(book) == 0):
            return []  # nothing to send, or nothing inside the band to take: wait for the market
        why = f"pov: {self.filled_lots} filled of a {target}-lot target"
        return self.join(lots, book, why) if self.patient else self.take(lots, why)

    def _repeg(self, live: list[ChildOrder], book: OrderBook) -> list[Command]:
        """Cancel joins the market has traded away from; the shortfall is re-posted once they are gone."""
        price = self.join_price(book)
        if price is None:
            return []
        commands: list[Command] = []
        for child in live:
            behind = child.price_ticks is not None and (
                child.price_ticks < price if self.plan.side is Side.BUY else child.price_ticks > price
            )
            if behind and child.client_order_id not in self._repegging:
                self._repegging.add(child.client_order_id)
                commands.append(self.cancel(child, f"pov: the touch moved to {price}; re-posting"))
        return commands

    def _finish_send(self, view: MarketView) -> list[Command]:
        if not self._finish_due or self.state is not StrategyState.WORKING:
            return []
        if self.live_children(view) or self.book(view) is None:
            return []  # after what is in flight, or on the next book event
        lots = self.child_lots(self.free_lots(view))
        self._finish_due = False
        if lots == 0:
            if self.remaining_lots > 0:
                return self.stop(view, f"the remaining {self.remaining_lots} lots are under the venue minimum")
            return []
        return self.take(lots, "pov final")
