"""The Venue seam: where the engine's commands go, whatever is behind it.

The engine emits commands and never waits for a venue. A venue takes each command with
``send`` and answers later, as frames its driver feeds back through the same codec as any
other venue message: trade-API replies, ``order`` and ``execution`` pushes. Both the simulated
Bybit (``feeds.bybit.sim_venue.SimBybit``) and the live gateway implement exactly this, so the
engine, the desk and the strategies cannot tell a backtest from live trading, and a backtest
sends nothing the live gateway could not send. (The backtest driver also plays the market's part
for the simulated exchange, feeding it market data and collecting its frames; that is the
simulated world's side, not the engine's.)
"""

from __future__ import annotations

from typing import Protocol

from engine.commands import Command

__all__ = ["Venue"]


class Venue(Protocol):
    def send(self, command: Command) -> None:
        """Send ``command`` now; its outcome arrives later as venue frames. Never blocks, never raises
        for a command the venue refuses (the refusal is a frame like any other)."""
        ...
