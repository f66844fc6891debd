"""SMART: choose a strategy from the market at the start, then hand every event to it.

When the parent starts (on the first SYNCED book) SMART measures:

* the spread in bps (``OrderBook.spread_bps``);
* the depth: lots on the top ten levels of the opposite side (asks for a buy), and the
  part of it priced inside the band (``available_in_band``): what could be taken right now;
* the realised volatility of recent trades (``TradeTape.volatility``) over the order's own
  horizon, ``max(time_limit, 60 s)``;
* the urgency, the time limit and the order's size against the depth.

It picks with ``choose`` (a pure function of those inputs), records the inputs, the rule
that fired and the choice in the notes ("SMART chose ICEBERG because ...") and exposes them as
``chosen``, ``rule``, ``reason`` and ``inputs``. The chosen strategy is built on the same plan
(so child ids and notes continue) and gets every later event; SMART mirrors its timer, state
and outcome. Both read the filled quantity from the order tracker through the view.

The seed's rules, in order: IMMEDIATE -> DIRECT; qty > 0.5 x top-10 depth -> TWAP if
volatility > 2%, else ICEBERG; time_limit > 300 s -> VWAP; spread < 0.1% -> DIRECT; else TWAP.

The rules as implemented, in order, with what changed and why:

1. ``immediate``: IMMEDIATE urgency -> DIRECT when the band holds the whole quantity, else
   SNIPER. *Changed*: DIRECT sends one IOC and stops, so with less in the band than the order
   it fills only part and gives up. SNIPER keeps taking in-band liquidity as it refreshes and
   finishes with a band-capped IOC.
2. ``large``: qty > 0.5 x top-10 depth (or no depth at all) ->
   a. TWAP at HIGH urgency. *New*: an iceberg waits for others to trade into it, which high
      urgency does not want; TWAP's slices are then IOCs on a fixed schedule.
   b. TWAP when the volatility cannot be measured (too few recent trades). *New*: the seed
      treated "unknown" as calm; resting passively needs evidence that the market is calm.
   c. TWAP when volatile: sigma over the order's horizon above ``min(2%, max_slippage)``.
      *Changed*: the seed's "> 2%" had no horizon (2% a minute and 2% a day differ 38-fold).
      Measured over the order's own life and compared with the band's width, it says whether
      the price is likely to leave the band while a resting iceberg waits; 2% stays as a cap.
   d. TWAP when time is short for an iceberg: less than 30 s per visible slice
      (``ceil(qty / visible)`` slices). *New*: an iceberg refills only as the market trades
      through its queue; with a big order and little time it cannot finish, TWAP's final IOC
      can.
   e. ICEBERG otherwise (seed).
3. ``long``: time_limit > 300 s -> VWAP, except at HIGH urgency. *Changed*: the time limit is
   a cap, not a target; a high-urgency order should not stretch itself over it.
4. ``tight``: spread < 10 bps -> DIRECT if the band holds the whole quantity. *Changed*: a
   tight spread says nothing about depth; with less in the band than the order DIRECT fills
   only part, so it is SNIPER at HIGH urgency and TWAP otherwise.
5. ``default``: TWAP (seed).

The "large" rule is checked before the spread, as in the seed: a tight spread says nothing
when the order is large against the depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final

from engine.commands import Command
from engine.desk import MarketView, StrategySummary
from engine.events import (
    BookDelta,
    BookStateChanged,
    Event,
    ParentStarted,
    StopRequested,
    TimerFired,
    TradePrinted,
)
from engine.instrument import Instrument
from engine.parent import ParentPlan, StrategyName, Urgency
from strategies.base import BaseStrategy, StrategyState
from strategies.direct import Direct
from strategies.iceberg import Iceberg
from strategies.pov import Pov
from strategies.profile import VolumeProfile
from strategies.sniper import Sniper
from strategies.twap import Twap
from strategies.vwap import Vwap

__all__ = ["Smart", "MarketInputs", "Choice", "choose", "measure"]

DEPTH_LEVELS: Final = 10
LARGE_FRACTION: Final = Decimal("0.5")
LONG_TIME_S: Final = 300
TIGHT_SPREAD_BPS: Final = Decimal(10)  # 0.1%
VOLATILITY_CAP: Final = 0.02
MIN_HORIZON_S: Final = 60
ICEBERG_SECONDS_PER_SLICE: Final = 30


@dataclass(frozen=True, kw_only=True)
class MarketInputs:
    """What SMART decides on (lots of the parent's instrument, which writes them for the notes)."""

    instrument: Instrument
    qty_lots: int
    spread_bps: Decimal | None
    depth_lots: int  # top-10 levels of the opposite side
    band_lots: int  # opposite side priced within the band
    volatility: float | None  # sigma of log returns over horizon_s; None if too few trades
    horizon_s: int
    urgency: Urgency
    time_limit_s: int
    max_slippage: Decimal
    visible_lots: int  # what an iceberg would show

    @property
    def size_ratio(self) -> float:
        return math.inf if self.depth_lots <= 0 else self.qty_lots / self.depth_lots

    @property
    def volatility_threshold(self) -> float:
        return min(VOLATILITY_CAP, float(self.max_slippage)) if self.max_slippage > 0 else VOLATILITY_CAP

    @property
    def iceberg_slices(self) -> int:
        return -(-self.qty_lots // max(self.visible_lots, 1))

    def qty(self, lots: int) -> str:
        """A size as the venue writes it."""
        return self.instrument.format_qty(lots)

    def describe(self) -> str:
        spread = "n/a" if self.spread_bps is None else f"{self.spread_bps:.2f} bps"
        vol = "unknown" if self.volatility is None else f"{self.volatility:.4%}"
        return (
            f"qty {self.qty(self.qty_lots)}, spread {spread}, top-{DEPTH_LEVELS} depth {self.qty(self.depth_lots)} "
            f"(qty/depth {self.size_ratio:.2f}), in band {self.qty(self.band_lots)}, "
            f"sigma over {self.horizon_s}s {vol}, urgency {self.urgency}, time limit {self.time_limit_s}s"
        )


@dataclass(frozen=True, kw_only=True)
class Choice:
    strategy: StrategyName
    rule: str
    reason: str


def choose(inputs: MarketInputs) -> Choice:
    """The SMART rules (see the module doc), first match wins."""
    fits = inputs.qty_lots <= inputs.band_lots
    high = inputs.urgency is Urgency.HIGH
    if inputs.urgency is Urgency.IMMEDIATE:
        if fits:
            return Choice(
                strategy=StrategyName.DIRECT,
                rule="immediate",
                reason=f"urgency is immediate and the band holds the whole order ({inputs.qty(inputs.band_lots)})",
            )
        return Choice(
            strategy=StrategyName.SNIPER,
            rule="immediate",
            reason=(
                f"urgency is immediate but the band holds only {inputs.qty(inputs.band_lots)} "
                f"of {inputs.qty(inputs.qty_lots)}: "
                "DIRECT would fill part and stop; SNIPER takes liquidity as it returns and finishes with an IOC"
            ),
        )
    if inputs.depth_lots <= 0 or Decimal(inputs.qty_lots) > LARGE_FRACTION * inputs.depth_lots:
        large = f"the order is large against the depth (qty/top-{DEPTH_LEVELS} depth {inputs.size_ratio:.2f} > 0.5)"
        threshold = inputs.volatility_threshold
        if high:
            return Choice(
                strategy=StrategyName.TWAP,
                rule="large/high-urgency",
                reason=f"{large} and urgency is high: TWAP slices take with IOCs, an iceberg would wait",
            )
        if inputs.volatility is None:
            return Choice(
                strategy=StrategyName.TWAP,
                rule="large/volatility-unknown",
                reason=f"{large} and volatility is unknown (too few recent trades) to show it is calm enough to rest",
            )
        if inputs.volatility > threshold:
            return Choice(
                strategy=StrategyName.TWAP,
                rule="large/volatile",
                reason=(
                    f"{large} and volatile: sigma over {inputs.horizon_s}s {inputs.volatility:.4%} "
                    f"> {threshold:.4%}, so a resting order is likely to be left outside the band"
                ),
            )
        needed_s = ICEBERG_SECONDS_PER_SLICE * inputs.iceberg_slices
        if inputs.time_limit_s < needed_s:
            return Choice(
                strategy=StrategyName.TWAP,
                rule="large/short-time",
                reason=(
                    f"{large} but {inputs.time_limit_s}s is short for an iceberg of {inputs.iceberg_slices} slices "
                    f"(needs about {needed_s}s): TWAP's final IOC can finish it"
                ),
            )
        return Choice(
            strategy=StrategyName.ICEBERG,
            rule="large/calm",
            reason=(
                f"{large}, calm (sigma over {inputs.horizon_s}s {inputs.volatility:.4%} <= {threshold:.4%}) "
                f"and {inputs.time_limit_s}s is enough to rest {inputs.iceberg_slices} visible slices"
            ),
        )
    if inputs.time_limit_s > LONG_TIME_S and not high:
        return Choice(
            strategy=StrategyName.VWAP,
            rule="long",
            reason=f"the time limit {inputs.time_limit_s}s is long (> {LONG_TIME_S}s): follow the volume profile",
        )
    if inputs.spread_bps is not None and inputs.spread_bps < TIGHT_SPREAD_BPS:
        if fits:
            return Choice(
                strategy=StrategyName.DIRECT,
                rule="tight",
                reason=f"the spread is tight ({inputs.spread_bps:.2f} bps < 10) and the band holds the whole order",
            )
        return Choice(
            strategy=StrategyName.SNIPER if high else StrategyName.TWAP,
            rule="tight/thin-band",
            reason=(
                f"the spread is tight ({inputs.spread_bps:.2f} bps) but the band holds only "
                f"{inputs.qty(inputs.band_lots)} of {inputs.qty(inputs.qty_lots)}: DIRECT would fill part and stop"
            ),
        )
    return Choice(strategy=StrategyName.TWAP, rule="default", reason="no rule above applies: work it over time")


def measure(plan: ParentPlan, view: MarketView) -> MarketInputs | None:
    """The inputs from the parent's book and tape now; None unless the book is SYNCED."""
    book = view.book(plan.symbol)
    if book is None or not book.is_synced:
        return None
    opposite = plan.side.opposite
    time_limit_s = plan.config.time_limit_s
    horizon_s = max(time_limit_s, MIN_HORIZON_S)
    tape = view.tape(plan.symbol)
    volatility = tape.volatility(view.now_ns, horizon_s=float(horizon_s)) if tape is not None else None
    visible = plan.chunk_lots if plan.chunk_lots else plan.qty_lots // 10
    return MarketInputs(
        instrument=plan.instrument,
        qty_lots=plan.qty_lots,
        spread_bps=book.spread_bps(),
        depth_lots=sum(size for _, size in book.top(opposite, DEPTH_LEVELS)),
        band_lots=book.size_within_price(opposite, plan.band_ticks),
        volatility=volatility,
        horizon_s=horizon_s,
        urgency=plan.config.urgency,
        time_limit_s=time_limit_s,
        max_slippage=plan.config.max_slippage,
        visible_lots=max(visible, plan.min_fill_lots, 1),
    )


class Smart(BaseStrategy):
    name = "smart"

    def __init__(self, plan: ParentPlan, *, seed: int = 0, profile: VolumeProfile | None = None) -> None:
        super().__init__(plan, seed=seed)
        self.seed = seed
        self.profile = profile
        self.chosen: StrategyName | None = None
        self.rule = ""
        self.reason = ""
        self.inputs: MarketInputs | None = None
        self.delegate: BaseStrategy | None = None
        self._waiting_noted = False

    @property
    def finished(self) -> bool:
        return self.delegate.finished if self.delegate is not None else self.state is StrategyState.DONE

    @property
    def outcome(self) -> str:
        return self.delegate.outcome if self.delegate is not None else super().outcome

    @property
    def wants_book(self) -> bool:
        return self.delegate.wants_book if self.delegate is not None else True

    @property
    def wants_trades(self) -> bool:
        return self.delegate.wants_trades if self.delegate is not None else True

    def summary(self) -> StrategySummary:
        """The delegate's summary (its schedule), named and explained by SMART's choice."""
        if self.delegate is None or self.chosen is None:
            return StrategySummary(strategy_used=self.name, reason="SMART never saw a SYNCED book to choose from")
        return replace(self.delegate.summary(), strategy_used=self.chosen.value, reason=self.reason)

    def on_event(self, event: Event, view: MarketView) -> list[Command]:
        self._view = view
        if self.delegate is not None:
            return self._forward(event, view)
        if self.state is StrategyState.DONE:
            return []
        if isinstance(event, StopRequested):
            return super().on_event(event, view)  # nothing was sent: stop and finish
        if isinstance(event, ParentStarted):
            self._enter(StrategyState.WORKING)
        if self.state is not StrategyState.WORKING or not isinstance(
            event, ParentStarted | BookDelta | BookStateChanged | TradePrinted | TimerFired
        ):
            return []
        inputs = measure(self.plan, view)
        if inputs is None:
            if not self._waiting_noted:
                self._waiting_noted = True
                self.note("SMART: waiting for a SYNCED book before choosing")
            return []
        self._choose(inputs)
        start = (
            event
            if isinstance(event, ParentStarted)
            else ParentStarted(
                ts_event_ns=view.now_ns, ts_recv_ns=view.now_ns, parent_id=self.plan.parent_id, symbol=self.plan.symbol
            )
        )
        return self._forward(start, view)

    def _choose(self, inputs: MarketInputs) -> None:
        choice = choose(inputs)
        self.inputs = inputs
        self.chosen = choice.strategy
        self.rule = choice.rule
        self.reason = choice.reason
        profile_note = ""
        if choice.strategy is StrategyName.VWAP and self.profile is None:
            profile_note = " (no volume profile: VWAP will use the U-shape)"
        self.note(
            f"SMART chose {choice.strategy.name} because {choice.reason} [rule {choice.rule}]{profile_note}; "
            f"inputs: {inputs.describe()}"
        )
        self.delegate = self._build(choice.strategy)

    def _build(self, name: StrategyName) -> BaseStrategy:
        plan, seed = self.plan, self.seed
        if name is StrategyName.VWAP:
            return Vwap(plan, seed=seed, profile=self.profile)
        builders: dict[StrategyName, type[BaseStrategy]] = {
            StrategyName.DIRECT: Direct,
            StrategyName.TWAP: Twap,
            StrategyName.ICEBERG: Iceberg,
            StrategyName.SNIPER: Sniper,
            StrategyName.POV: Pov,
        }
        return builders[name](plan, seed=seed)

    def _forward(self, event: Event, view: MarketView) -> list[Command]:
        delegate = self.delegate
        assert delegate is not None
        commands = delegate.on_event(event, view)
        self.wakeup_at_ns = delegate.wakeup_at_ns
        self.stop_reason = delegate.stop_reason
        self.state = delegate.state
        return commands
