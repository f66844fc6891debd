"""Routing strategies: pure state machines the desk drives (see ``strategies.base``).

``make_strategy(plan, seed=..., profile=...)`` builds the strategy a parent's config names;
``REGISTRY`` maps each ``StrategyName`` to its class. VWAP and SMART take the volume profile
(SMART so it can hand it to a VWAP it chooses).
"""

from __future__ import annotations

from engine.desk import Strategy
from engine.parent import ParentPlan, StrategyName
from strategies.base import BaseStrategy
from strategies.direct import Direct
from strategies.iceberg import Iceberg
from strategies.pov import Pov
from strategies.profile import VolumeProfile
from strategies.smart import Smart
from strategies.sniper import Sniper
from strategies.twap import Twap
from strategies.vwap import Vwap

__all__ = ["REGISTRY", "make_strategy"]

REGISTRY: dict[StrategyName, type[BaseStrategy]] = {
    StrategyName.DIRECT: Direct,
    StrategyName.TWAP: Twap,
    StrategyName.VWAP: Vwap,
    StrategyName.ICEBERG: Iceberg,
    StrategyName.SNIPER: Sniper,
    StrategyName.POV: Pov,
    StrategyName.SMART: Smart,
}


def make_strategy(plan: ParentPlan, *, seed: int = 0, profile: VolumeProfile | None = None) -> Strategy:
    """The strategy ``plan.config.strategy`` names, seeded with ``seed``."""
    name = plan.config.strategy
    if name is StrategyName.VWAP:
        return Vwap(plan, seed=seed, profile=profile)
    if name is StrategyName.SMART:
        return Smart(plan, seed=seed, profile=profile)
    return REGISTRY[name](plan, seed=seed)
