"""Intraday volume profiles for VWAP: how traded volume is spread over the (UTC) day.

A ``VolumeProfile`` is a volume *rate* (base units per second) for each time-of-day bucket.
Build one with numpy from recorded public trades (``from_trades``: ``(ts_ns, qty)`` pairs) or
from klines (``from_klines``: ``(start_ms, volume)`` with the kline interval, 96 buckets of 15
minutes by default). Each bucket's rate is the volume seen in it divided by the time the data
actually covered it, so a recording that covers part of a bucket, or more days of some buckets
than of others, does not skew the shape. Buckets the data never covered are *unobserved*: they
borrow the mean rate of the observed ones, and ``covers`` says whether a window lies entirely
in observed buckets.

Bucket size from the data. A bucket's rate is flat, so a profile says nothing about how volume
moves within one bucket: a 4-minute VWAP inside one 15-minute bucket got equal slices however
uneven the recorded volume was. ``from_trades`` therefore picks the bucket size from the data:
the finest of ``BUCKET_SECONDS`` (1 s to 1 h, all dividing the day) whose buckets hold, on
average, at least ``MIN_TRADES_PER_BUCKET`` trades (a count that varies by about 10% from one
bucket to the next by chance alone), and the coarsest if none does. A busy recording of a few
minutes gets buckets of a few seconds, enough to shape slices of a minute; months of a quiet
symbol get 15-minute or hourly buckets. Pass ``buckets`` to fix the size instead.

``weights_for(start_ns, end_ns, n)`` integrates the rate over ``n`` equal slices of a window
and returns their shares of the window's volume (summing to 1): the slice weights of a VWAP.

``u_shape(buckets)`` is the documented fallback when no data is available: the classic
intraday "U", heavier at both ends of the day than in its middle. Bucket ``b`` (centre ``x``
in [0, 1) of the UTC day) gets rate ``1 + 2 * (2x - 1)**2``: three times the midday rate at
the day's roll (00:00 UTC, where Asian trading opens and perpetual funding settles), the
lowest around 12:00 UTC. Crypto trades around the clock, so this is a stand-in, not a measured
shape; over a window of minutes it is nearly flat, so the fallback VWAP is nearly a TWAP.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "VolumeProfile",
    "u_shape",
    "bucket_seconds_for",
    "BUCKET_SECONDS",
    "DEFAULT_BUCKETS",
    "DAY_NS",
    "MIN_TRADES_PER_BUCKET",
]

DAY_NS: Final = 86_400 * 1_000_000_000
DEFAULT_BUCKETS: Final = 96  # 15-minute buckets: klines and the U-shape fallback
BUCKET_SECONDS: Final = (1, 5, 10, 15, 30, 60, 300, 900, 1_800, 3_600)
"""The bucket sizes ``from_trades`` chooses from (each divides the day)."""
MIN_TRADES_PER_BUCKET: Final = 100
"""Trades an average bucket must hold for its rate to be worth following (see the module doc)."""

FloatArray = npt.NDArray[np.float64]
Quantity = Decimal | float | int


class VolumeProfile:
    """Volume rate per time-of-day bucket (UTC). ``rates[b]`` is volume per second in bucket ``b``."""

    def __init__(self, rates: Iterable[float], *, observed: Iterable[bool] | None = None, source: str = "given"):
        values = np.asarray(list(rates), dtype=np.float64)
        if values.ndim != 1 or len(values) == 0:
            raise ValueError("a volume profile needs at least one bucket")
        if DAY_NS % len(values):
            raise ValueError(f"{len(values)} buckets do not divide the day into whole nanoseconds")
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError("volume rates must be finite and non-negative")
        seen = np.ones(len(values), dtype=bool) if observed is None else np.asarray(list(observed), dtype=bool)
        if seen.shape != values.shape:
            raise ValueError("observed must have one flag per bucket")
        self.buckets = len(values)
        self.bucket_ns = DAY_NS // self.buckets
        self.observed = seen
        self.source = source
        self.measured = values.copy()
        self.measured[~seen] = 0.0
        filled = values.copy()
        if seen.any() and not seen.all():
            filled[~seen] = float(values[seen].mean())
        self.rates = filled

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_trades(cls, trades: Iterable[tuple[int, Quantity]], *, buckets: int | None = None) -> VolumeProfile:
        """A profile from public trades ``(ts_ns, qty)``, taken as one continuous recording.

        The recording is assumed to cover every moment from its first to its last trade, so a
        quiet bucket inside it counts as observed with little volume. ``buckets`` (per day)
        defaults to the size the data supports (``bucket_seconds_for``).
        """
        pairs = [(int(ts), float(qty)) for ts, qty in trades]
        if not pairs:
            raise ValueError("no trades to build a volume profile from")
        ts = np.array([ts for ts, _ in pairs], dtype=np.int64)
        qty = np.array([qty for _, qty in pairs], dtype=np.float64)
        first, last = int(ts.min()), int(ts.max()) + 1
        if buckets is None:
            buckets = 86_400 // bucket_seconds_for(len(pairs), last - first)
        bucket_ns = _bucket_ns(buckets)
        volume = np.bincount((ts % DAY_NS) // bucket_ns, weights=qty, minlength=buckets).astype(np.float64)
        coverage = _coverage(np.array([first], dtype=np.int64), np.array([last], dtype=np.int64), buckets)
        return cls._from_totals(volume, coverage, f"{len(pairs)} trades in {_duration(bucket_ns)} buckets")

    @classmethod
    def from_klines(
        cls, klines: Iterable[tuple[int, Quantity]], *, interval_s: int, buckets: int = DEFAULT_BUCKETS
    ) -> VolumeProfile:
        """A profile from klines ``(start_ms, volume)`` of ``interval_s`` each (Bybit's kline rows).

        A kline's volume is spread evenly over its interval, so klines longer than a bucket
        still land in the right buckets.
        """
        rows = [(int(start_ms), float(volume)) for start_ms, volume in klines]
        if not rows:
            raise ValueError("no klines to build a volume profile from")
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        starts = np.array([start for start, _ in rows], dtype=np.int64) * 1_000_000
        volumes = np.array([volume for _, volume in rows], dtype=np.float64)
        interval_ns = interval_s * 1_000_000_000
        bucket_ns = _bucket_ns(buckets)
        piece_ns = min(interval_ns, bucket_ns)
        pieces = -(-interval_ns // piece_ns)
        offsets = (np.arange(pieces, dtype=np.int64) * interval_ns) // pieces
        widths = np.diff(np.append(offsets, interval_ns)).astype(np.float64)
        piece_starts = starts[:, None] + offsets[None, :]
        piece_volumes = volumes[:, None] * (widths / interval_ns)[None, :]
        mid = (piece_starts + (widths.astype(np.int64) // 2)[None, :]).ravel()
        volume = np.bincount((mid % DAY_NS) // bucket_ns, weights=piece_volumes.ravel(), minlength=buckets).astype(
            np.float64
        )
        coverage = _coverage(starts, starts + interval_ns, buckets)
        return cls._from_totals(volume, coverage, f"{len(rows)} klines of {interval_s}s")

    @classmethod
    def _from_totals(cls, volume: FloatArray, coverage_s: FloatArray, source: str) -> VolumeProfile:
        observed = coverage_s > 0
        rates = np.zeros_like(volume)
        rates[observed] = volume[observed] / coverage_s[observed]
        return cls(rates.tolist(), observed=observed.tolist(), source=source)

    # -- queries --------------------------------------------------------------------------
    def covers(self, start_ns: int, end_ns: int) -> bool:
        """Whether every bucket the window touches was observed in the data."""
        if end_ns <= start_ns:
            return bool(self.observed[(start_ns % DAY_NS) // self.bucket_ns])
        first = start_ns // self.bucket_ns
        last = (end_ns - 1) // self.bucket_ns
        if last - first + 1 >= self.buckets:
            return bool(self.observed.all())
        indices = np.arange(first, last + 1, dtype=np.int64) % self.buckets
        return bool(self.observed[indices].all())

    def has_volume(self, start_ns: int, end_ns: int) -> bool:
        """Whether the data saw any volume in the window's buckets (else the profile says nothing)."""
        if end_ns <= start_ns:
            return False
        ends = self._integral(np.array([start_ns, end_ns], dtype=np.int64), self.measured)
        return bool(ends[1] - ends[0] > 0)

    def weights_for(self, start_ns: int, end_ns: int, n_slices: int) -> list[float]:
        """Each of ``n_slices`` equal slices' share of the window's expected volume (sums to 1).

        Equal shares if the window is empty or the profile expects no volume in it.
        """
        if n_slices <= 0:
            raise ValueError("n_slices must be positive")
        if end_ns <= start_ns:
            return [1.0 / n_slices] * n_slices
        edges = np.array([start_ns + (end_ns - start_ns) * i // n_slices for i in range(n_slices + 1)], dtype=np.int64)
        volumes = np.diff(self._integral(edges, self.rates))
        total = float(volumes.sum())
        if total <= 0:
            return [1.0 / n_slices] * n_slices
        return [float(v) / total for v in volumes]

    def _integral(self, times_ns: npt.NDArray[np.int64], rates: FloatArray) -> FloatArray:
        """Expected volume from the start of ``times_ns[0]``'s day to each time (vectorised)."""
        day0 = int(times_ns[0]) // DAY_NS
        per_bucket = rates * (self.bucket_ns / 1e9)
        prefix = np.concatenate(([0.0], np.cumsum(per_bucket)))
        day_total = float(prefix[-1])
        days = times_ns // DAY_NS - day0
        tod = times_ns % DAY_NS
        bucket = tod // self.bucket_ns
        into = (tod - bucket * self.bucket_ns) / 1e9
        result: FloatArray = days * day_total + prefix[bucket] + rates[bucket] * into
        return result

    def __repr__(self) -> str:
        return f"<VolumeProfile {self.buckets} buckets from {self.source}, {int(self.observed.sum())} observed>"


def u_shape(buckets: int = DEFAULT_BUCKETS) -> VolumeProfile:
    """The documented fallback shape (see the module doc): rate ``1 + 2 * (2x - 1)**2`` per bucket."""
    _bucket_ns(buckets)
    centres = (np.arange(buckets, dtype=np.float64) + 0.5) / buckets
    rates = 1.0 + 2.0 * (2.0 * centres - 1.0) ** 2
    return VolumeProfile(rates.tolist(), source="U-shape fallback")


def bucket_seconds_for(trades: int, span_ns: int) -> int:
    """The finest of ``BUCKET_SECONDS`` whose buckets hold ``MIN_TRADES_PER_BUCKET`` trades on average.

    ``trades`` recorded over ``span_ns`` fill ``span / size`` buckets (at most a day's worth:
    later days fall into the same time-of-day buckets). The coarsest size if none is enough.
    """
    for seconds in BUCKET_SECONDS:
        size_ns = seconds * 1_000_000_000
        filled = min(max(-(-span_ns // size_ns), 1), DAY_NS // size_ns)
        if trades >= MIN_TRADES_PER_BUCKET * filled:
            return seconds
    return BUCKET_SECONDS[-1]


def _duration(ns: int) -> str:
    seconds = ns // 1_000_000_000
    if seconds % 3_600 == 0:
        return f"{seconds // 3_600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _bucket_ns(buckets: int) -> int:
    if buckets <= 0 or DAY_NS % buckets:
        raise ValueError(f"{buckets} buckets do not divide the day into whole nanoseconds")
    return DAY_NS // buckets


def _coverage(starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64], buckets: int) -> FloatArray:
    """Seconds of each time-of-day bucket covered by the intervals [starts, ends) (assumed disjoint)."""
    bucket_ns = DAY_NS // buckets
    covered = np.zeros(buckets, dtype=np.float64)
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        if end <= start:
            continue
        edges = np.arange(start // bucket_ns, (end - 1) // bucket_ns + 1, dtype=np.int64) * bucket_ns
        overlap = np.minimum(edges + bucket_ns, end) - np.maximum(edges, start)
        covered += np.bincount((edges // bucket_ns) % buckets, weights=overlap / 1e9, minlength=buckets)
    return covered
