"""POV: keep our fills at ``participation_rate`` of the market's traded volume.

The target is ``participation_rate x`` the volume the public tape has printed since the
parent started (``view.tape(symbol)``; it includes our own prints, so the rate is our share of
all volume), capped at the parent. On every trade the strategy compares what it has filled
with the target. When it is behind by more than the tolerance, ``max(smallest child, 5% of
the target)``, it sends one child for exactly the shortfall, so it never gets ahead of the
target; within the tolerance it waits. Children are IOCs at the band's edge, except at low
urgency, where they join the touch and are re-posted at the new touch when the market trades
away from them. One child at a time; nothing goes out on a book that is not SYNCED.

``summary().schedule`` is the target as it evolved: ``(start, 0)``, then a point whenever the
target has grown by at least 1/``MAX_SCHEDULE_POINTS`` of the parent since the last one (so it
stays small on a busy tape), the latest target, and the whole parent from the moment the
finishing IOC is due.

The strategy runs until the parent is filled or the time limit. Shortly before it (10% of
the window, at most 5 s) what is still unfilled goes as one band-capped IOC, and the rest is
reported unfilled; at low urgency there is no finishing IOC and the remainder is reported
unfilled at the deadline.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from engine.book import OrderBook
from engine.commands import Command
from engine.desk import MarketView, StrategySummary
from engine.enums import OrderStatus, Side
from engine.events import ChildFilled, ChildStatusChanged, TradePrinted
from engine.orders import ChildOrder
from engine.parent import ParentPlan
from strategies.base import StrategyState
from strategies.common import FinishingStrategy

__all__ = ["Pov", "TOLERANCE", "MAX_SCHEDULE_POINTS"]

TOLERANCE = Decimal("0.05")
"""How far behind the target (as a fraction of it) POV lets itself fall before catching up."""

MAX_SCHEDULE_POINTS = 256
"""The recorded schedule keeps about this many points, whatever the number of trades."""


class Pov(FinishingStrategy):
    name = "pov"
    retry_note = "trying again on the next trade"
    cancel_before_finish = True  # a join resting at the touch gives way to the finishing IOC

    def __init__(self, plan: ParentPlan, *, seed: int = 0) -> None:
        super().__init__(plan, seed=seed)
        self.rate = plan.config.participation_rate
        self.start_volume = Decimal(0)
        self._repegging: set[str] = set()
        self._schedule: list[tuple[int, int]] = []  # (ts_ns, target lots) as the target grew
        self._schedule_step = max(1, plan.qty_lots // MAX_SCHEDULE_POINTS)
        self._latest_target: tuple[int, int] | None = None

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

    def summary(self) -> StrategySummary:
        """The target cumulative quantity as it evolved with the market's volume (see the module doc)."""
        schedule = list(self._schedule)
        latest = self._latest_target
        if latest is not None and (not schedule or latest[1] > schedule[-1][1]):
            schedule.append(latest)
        return replace(super().summary(), schedule=tuple(schedule))

    def _record_target(self, now_ns: int, target: int) -> None:
        self._latest_target = (now_ns, target)
        if not self._schedule or target - self._schedule[-1][1] >= self._schedule_step:
            self._schedule.append((now_ns, target))
        elif target >= self.plan.qty_lots > self._schedule[-1][1]:
            self._schedule.append((now_ns, target))  # the end of the schedule, however small the step

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
        self._record_target(view.now_ns, 0)
        return self._follow(view)

    def on_trade(self, trade: TradePrinted, view: MarketView) -> list[Command]:
        if self.finishing:
            return self.finish_send(view)
        target = self.target_lots(view)
        self._record_target(view.now_ns, target)  # only a trade moves the target
        return self._follow(view, target=target)

    def begin_finishing(self, view: MarketView) -> list[Command]:
        self._record_target(view.now_ns, self.plan.qty_lots)  # the finishing IOC is for all the rest
        return super().begin_finishing(view)

    def on_book(self, view: MarketView) -> list[Command]:
        return self.finish_send(view) if self.finishing else self._follow(view, repeg=False)

    def on_fill(self, fill: ChildFilled, view: MarketView) -> list[Command]:
        return self.trim_overcommit(view)

    def on_child_done(self, change: ChildStatusChanged, view: MarketView) -> list[Command]:
        repegged = change.client_order_id in self._repegging
        self._repegging.discard(change.client_order_id)
        if self.state is not StrategyState.WORKING:
            return []
        if not self.finishing and change.new is not OrderStatus.REJECTED:
            # Re-post a join we moved; an IOC that came back short waits for the next trade
            # (the book it missed has not changed, so sending again now would only loop).
            return self._follow(view, repeg=False) if repegged else []
        return self.finish_done(change, view)

    def _follow(self, view: MarketView, *, repeg: bool = True, target: int | None = None) -> list[Command]:
        if self.state is not StrategyState.WORKING or self.finishing:
            return []
        book = self.book(view)
        live = self.live_children(view)
        if live:
            return self._repeg(live, book) if repeg and self.patient and book is not None else []
        if book is None:
            return []
        if target is None:
            target = self.target_lots(view)
        behind = target - self.filled_lots
        if behind <= self.tolerance_lots(target):
            return []
        lots = self.child_lots(min(behind, self.free_lots(view)))
        if lots == 0 or (not self.patient and self.available_in_band(book) == 0):
            return []  # nothing to send, or nothing inside the band to take: wait for the market
        why = f"pov: {self.qty(self.filled_lots)} filled of a {self.qty(target)} target"
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
                commands.append(self.cancel(child, f"pov: the touch moved to {self.px(price)}; re-posting"))
        return commands
