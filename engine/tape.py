"""The public trade tape of one symbol: traded volume, VWAP and recent volatility.

POV follows the market's volume, TCA needs the market VWAP over an interval, and SMART wants
realised volatility. All three come from here. Volume and notional are exact (``Decimal``) and
cumulative, so an interval is a difference of two readings. Volatility is an analytic estimate,
never sent to the venue, so it is computed in floats with numpy.
"""

from __future__ import annotations

import math
from collections import deque
from decimal import Decimal

import numpy as np

from engine.clock import NS_PER_S
from engine.events import TradePrinted

__all__ = ["TradeTape", "TapeReading"]


class TapeReading:
    """Cumulative volume and notional at one moment; subtract two for an interval."""

    __slots__ = ("notional", "trades", "ts_ns", "volume")

    def __init__(self, ts_ns: int, volume: Decimal, notional: Decimal, trades: int) -> None:
        self.ts_ns = ts_ns
        self.volume = volume
        self.notional = notional
        self.trades = trades

    def vwap_since(self, earlier: TapeReading) -> Decimal | None:
        """Market VWAP between ``earlier`` and this reading (None if nothing traded)."""
        volume = self.volume - earlier.volume
        return (self.notional - earlier.notional) / volume if volume > 0 else None


class TradeTape:
    """Running totals of one symbol's public trades, plus a window of recent prices."""

    def __init__(self, symbol: str, *, window_ns: int = 300 * NS_PER_S, max_points: int = 20_000) -> None:
        self.symbol = symbol
        self.volume = Decimal(0)
        self.notional = Decimal(0)
        self.trades = 0
        self.last_price: Decimal | None = None
        self.last_ts_ns = 0
        self._window_ns = window_ns
        self._recent: deque[tuple[int, Decimal]] = deque(maxlen=max_points)  # floats only when asked

    def add(self, trade: TradePrinted) -> None:
        self.volume += trade.qty
        self.notional += trade.price * trade.qty
        self.trades += 1
        self.last_price = trade.price
        self.last_ts_ns = trade.ts_event_ns
        self._recent.append((trade.ts_event_ns, trade.price))

    def reading(self, ts_ns: int) -> TapeReading:
        return TapeReading(ts_ns, self.volume, self.notional, self.trades)

    def volatility(self, now_ns: int, horizon_s: float = 60.0) -> float | None:
        """Realised volatility of trade prices over the window, scaled to ``horizon_s``.

        The standard deviation of log returns between consecutive one-second buckets (last
        trade of each second), times sqrt(horizon in seconds). None with fewer than 10 buckets.
        """
        start = now_ns - self._window_ns
        points = [(ts, price) for ts, price in self._recent if start <= ts <= now_ns]
        if len(points) < 2:
            return None
        seconds = np.array([ts // NS_PER_S for ts, _ in points], dtype=np.int64)
        prices = np.array([float(price) for _, price in points], dtype=np.float64)
        last_of_second = np.flatnonzero(np.append(seconds[1:] != seconds[:-1], True))
        buckets = prices[last_of_second]
        if len(buckets) < 10:
            return None
        returns = np.diff(np.log(buckets))
        return float(returns.std(ddof=1) * math.sqrt(horizon_s))
