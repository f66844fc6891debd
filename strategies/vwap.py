"""VWAP: TWAP's mechanics on a schedule that follows the market's intraday volume profile.

The window is cut into the same number of slices as a TWAP (``min(20, max(5, T // 60))``),
and each slice's target is the parent's quantity times the share of the window's expected
volume that falls in it, from a ``VolumeProfile`` built from recorded public trades or klines
(``strategies.profile``). Slices are not randomised: the profile already sets their sizes.
They sum exactly to the parent, on the lot grid, with tiny slices merged into neighbours.

Without a profile, or with one whose data saw no volume in the window's time of day, the
schedule falls back to the documented U-shape (``profile.u_shape``) and a note says so. A
profile that covers the window only in part is used, the unobserved buckets borrowing the
mean rate, and a note says that too.

Everything else (slice children, carry-over, the final IOC half an interval before the
deadline, pausing on a book that is not SYNCED) is TWAP's.
"""

from __future__ import annotations

from typing import ClassVar

from engine.parent import ParentPlan
from strategies.profile import VolumeProfile, u_shape
from strategies.twap import Twap

__all__ = ["Vwap"]


class Vwap(Twap):
    name = "vwap"
    jitter: ClassVar[float] = 0.0

    def __init__(self, plan: ParentPlan, *, seed: int = 0, profile: VolumeProfile | None = None) -> None:
        self.given_profile = profile
        self.profile: VolumeProfile = profile if profile is not None else u_shape()
        self.fell_back = False
        super().__init__(plan, seed=seed)

    def slice_weights(self, n: int) -> list[float]:
        start, end = self.plan.start_ns, self.plan.deadline_ns
        given = self.given_profile
        if given is None:
            self._fall_back("no volume profile was given")
        elif not given.has_volume(start, end):
            self._fall_back(f"the profile ({given.source}) saw no volume at this time of day")
        else:
            partly = "" if given.covers(start, end) else "; it covers the window only in part"
            self.note(f"vwap: following the volume profile from {given.source}{partly}")
        weights = self.profile.weights_for(start, end, n)
        self.note("vwap: slice weights " + ", ".join(f"{w:.3f}" for w in weights))
        return weights

    def _fall_back(self, why: str) -> None:
        self.fell_back = True
        self.profile = u_shape()
        self.note(f"vwap: {why}; falling back to the U-shape profile (strategies.profile.u_shape)")
