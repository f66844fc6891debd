#!/usr/bin/env python3
"""Deterministic generator of a realistic Bybit v5 *linear* public feed (JSON lines).

Output format is exactly the raw Bybit v5 websocket payload, one message per line,
as in Bybit's own ob500 history files (and nautilus' tests/test_data/bybit/xrpusdt-ob500.data):

  {"topic":"orderbook.200.BTCUSDT","type":"snapshot","ts":..,"data":{"s":"BTCUSDT","b":[["95000.00","1.234"],..],"a":[..],"u":1,"seq":..},"cts":..}
  {"topic":"orderbook.200.BTCUSDT","type":"delta","ts":..,"data":{"s":"BTCUSDT","b":[..],"a":[..],"u":2,"seq":..},"cts":..}
  {"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":..,"data":[{"T":..,"s":"BTCUSDT","S":"Buy","v":"0.010","p":"95000.10","L":"PlusTick","i":"<uuid>","BT":false}]}

Book model (stdlib only, fixed seed => byte-identical output for the same arguments):
  * a window of exactly --depth levels per side is maintained, as Bybit does: when a level
    leaves the window (price move / deletion) a qty "0" is sent for it and the next level beyond
    the window is sent as an insert, so levels inserted == levels deleted over time (this is what
    the real XRPUSDT ob500 sample shows: 18 inserts, 18 deletes, 2930 qty updates in 49 deltas);
  * which level a change hits is drawn from the empirical distribution of "rank distance from the
    touch / depth" measured on the real XRPUSDT ob500 sample (see shape_stats.py), so most changes
    are qty updates spread over the top ~40% of the book, ~3% at the touch itself;
  * --profile brief (default): ~100 deltas/s, 1-6 level changes per delta (+ the extra levels a price
    move implies), i.e. the brief's "orderbook.200 at 100/s" shape;
    --profile xrp: 10 deltas/s (Bybit documents 100 ms pushes for depth 200/500 on linear) and the
    per-delta level count resampled from the XRP sample, scaled by depth/500;
  * occasional price moves (touch moves 1-3 ticks: the crossed levels are deleted on one side and
    inserted on the other), and interleaved publicTrade messages (trades at the touch; the touch
    qty is reduced in the next delta).
  * u increments by 1 per orderbook message, seq strictly increases, cts <= ts.

Usage:
  python bench/gen_feed.py --out /tmp/feeds/btc_gen_1m.jsonl --lines 1000000 --seed 42
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import sys
import time

# Empirical quantiles of (rank distance from touch) / depth for changed levels in the real
# XRPUSDT ob500 sample (2966 level changes in 49 deltas), computed by shape_stats.py.
# (quantile, fraction-of-depth); rank 0 == touch.
XRP_DIST_QUANTILES = [
    (0.00, 0.000),
    (0.03, 0.000),
    (0.05, 0.004),
    (0.10, 0.008),
    (0.25, 0.034),
    (0.50, 0.142),
    (0.75, 0.278),
    (0.90, 0.366),
    (0.95, 0.396),
    (0.99, 0.792),
    (1.00, 0.998),
]
# Per-delta levels changed (bids+asks) in the XRP ob500 sample (depth 500, 100 ms pushes).
XRP_LEVELS_PER_DELTA = [
    4,
    7,
    11,
    12,
    12,
    13,
    14,
    15,
    17,
    17,
    19,
    21,
    21,
    22,
    22,
    22,
    25,
    27,
    27,
    28,
    29,
    29,
    29,
    29,
    29,
    31,
    31,
    31,
    31,
    32,
    33,
    34,
    35,
    36,
    36,
    37,
    37,
    40,
    40,
    47,
    54,
    62,
    100,
    162,
    174,
    339,
    343,
    345,
    355,
]


def draw_rank_frac(rng: random.Random) -> float:
    u = rng.random()
    for (q0, f0), (q1, f1) in zip(XRP_DIST_QUANTILES, XRP_DIST_QUANTILES[1:]):
        if u <= q1:
            if q1 == q0:
                return f1
            return f0 + (f1 - f0) * (u - q0) / (q1 - q0)
    return XRP_DIST_QUANTILES[-1][1]


class Side:
    """One side of the generator's book: sorted tick list (best first) + qty map (int lots)."""

    __slots__ = ("is_bid", "keys", "qty")

    def __init__(self, is_bid: bool):
        self.is_bid = is_bid
        self.keys: list[int] = []  # sorted best-first via sign trick: stores -tick for bids
        self.qty: dict[int, int] = {}

    def _k(self, tick: int) -> int:
        return -tick if self.is_bid else tick

    def best(self) -> int:
        k = self.keys[0]
        return -k if self.is_bid else k

    def worst(self) -> int:
        k = self.keys[-1]
        return -k if self.is_bid else k

    def tick_at(self, rank: int) -> int:
        k = self.keys[rank]
        return -k if self.is_bid else k

    def set(self, tick: int, q: int) -> None:
        if tick not in self.qty:
            bisect.insort(self.keys, self._k(tick))
        self.qty[tick] = q

    def delete(self, tick: int) -> None:
        if tick in self.qty:
            del self.qty[tick]
            k = self._k(tick)
            i = bisect.bisect_left(self.keys, k)
            del self.keys[i]


class Gen:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.depth = args.depth
        self.tick_dec = args.price_decimals
        self.tick_scale = 10**args.price_decimals  # price string = tick_units / scale
        self.tick = args.tick_units  # tick size in price units (e.g. 10 => 0.10 with 2 decimals)
        self.qdec = args.qty_decimals
        self.qscale = 10**args.qty_decimals
        self.bids = Side(True)
        self.asks = Side(False)
        self.u = 0
        self.seq = args.seed_seq
        self.ts = args.start_ms
        self.last_trade_px = None
        self.pending_touch: dict[tuple[bool, int], int] = {}

    # ---- formatting helpers (fixed decimals, as Bybit sends them) -----------------
    def px(self, tick: int) -> str:
        v = tick * self.tick
        return f"{v // self.tick_scale}.{v % self.tick_scale:0{self.tick_dec}d}"

    def qs(self, q: int) -> str:
        if q == 0:
            return "0"
        return f"{q // self.qscale}.{q % self.qscale:0{self.qdec}d}"

    def rand_qty(self, rank: int) -> int:
        # lognormal-ish sizes, a bit bigger away from the touch; in lots of 10**-qdec
        r = self.rng
        base = r.lognormvariate(0.0, 1.3) * (0.6 + min(rank, 50) / 25.0)
        return max(1, int(base * self.qscale * 0.5))

    # ---- book maintenance -----------------------------------------------------------
    def enforce_window(self, side: Side, out: dict[int, int]) -> None:
        """Keep exactly depth levels: delete beyond depth, insert at the far end if short."""
        while len(side.keys) > self.depth:
            t = side.worst()
            side.delete(t)
            out[t] = 0
        while len(side.keys) < self.depth:
            t = side.worst() + (-1 if side.is_bid else 1) * (1 + (self.rng.random() < 0.15))
            q = self.rand_qty(self.depth)
            side.set(t, q)
            out[t] = q

    def snapshot(self) -> str:
        mid = self.a.start_price_ticks
        rng = self.rng
        t = mid
        for i in range(self.depth):
            self.bids.set(t, self.rand_qty(i))
            t -= 1 + (rng.random() < 0.03 and i > 20)  # dense near touch, a few gaps deeper
        t = mid + 1
        for i in range(self.depth):
            self.asks.set(t, self.rand_qty(i))
            t += 1 + (rng.random() < 0.03 and i > 20)
        self.u = 1
        b = ",".join(f'["{self.px(-k)}","{self.qs(self.bids.qty[-k])}"]' for k in self.bids.keys)
        a = ",".join(f'["{self.px(k)}","{self.qs(self.asks.qty[k])}"]' for k in self.asks.keys)
        return self._book_line("snapshot", b, a)

    def _book_line(self, typ: str, b: str, a: str) -> str:
        ts = self.ts
        cts = ts - self.rng.randint(1, 12)
        self.seq += self.rng.randint(1, 400)
        return (
            f'{{"topic":"orderbook.{self.a.topic_depth}.{self.a.symbol}","type":"{typ}","ts":{ts},'
            f'"data":{{"s":"{self.a.symbol}","b":[{b}],"a":[{a}],"u":{self.u},"seq":{self.seq}}},'
            f'"cts":{cts}}}'
        )

    def move_price(self, up: bool, m: int, ob: dict, oa: dict) -> None:
        """Touch moves m ticks: levels crossed are removed from one side and re-appear on the other."""
        rng = self.rng
        if up:
            new_bid = self.bids.best() + m
            # remove asks <= new_bid
            while self.asks.keys and self.asks.best() <= new_bid:
                t = self.asks.best()
                self.asks.delete(t)
                oa[t] = 0
            for t in range(self.bids.best() + 1, new_bid + 1):
                q = self.rand_qty(0)
                self.bids.set(t, q)
                ob[t] = q
            if self.asks.best() > new_bid + 1 and rng.random() < 0.7:
                t = new_bid + 1
                q = self.rand_qty(0)
                self.asks.set(t, q)
                oa[t] = q
        else:
            new_ask = self.asks.best() - m
            while self.bids.keys and self.bids.best() >= new_ask:
                t = self.bids.best()
                self.bids.delete(t)
                ob[t] = 0
            for t in range(new_ask, self.asks.best()):
                q = self.rand_qty(0)
                self.asks.set(t, q)
                oa[t] = q
            if self.bids.best() < new_ask - 1 and rng.random() < 0.7:
                t = new_ask - 1
                q = self.rand_qty(0)
                self.bids.set(t, q)
                ob[t] = q

    def delta(self) -> str:
        rng = self.rng
        a = self.a
        ob: dict[int, int] = {}
        oa: dict[int, int] = {}
        # apply pending touch reductions caused by trades
        for (is_bid, t), q in self.pending_touch.items():
            side = self.bids if is_bid else self.asks
            if t in side.qty:
                if q <= 0:
                    side.delete(t)
                    (ob if is_bid else oa)[t] = 0
                else:
                    side.set(t, q)
                    (ob if is_bid else oa)[t] = q
        self.pending_touch.clear()
        if a.profile == "xrp":
            n = max(1, round(rng.choice(XRP_LEVELS_PER_DELTA) * self.depth / 500))
        else:
            n = rng.randint(1, 6)
        if rng.random() < a.move_prob:
            self.move_price(rng.random() < 0.5, rng.choice((1, 1, 1, 2, 2, 3)), ob, oa)
        for _ in range(n):
            is_bid = rng.random() < 0.5
            side = self.bids if is_bid else self.asks
            out = ob if is_bid else oa
            rank = min(len(side.keys) - 1, int(draw_rank_frac(rng) * self.depth))
            t = side.tick_at(rank)
            r = rng.random()
            if r < a.del_prob and rank > 0:
                side.delete(t)
                out[t] = 0
            elif r < a.del_prob + a.ins_prob and rank > 0:
                # new level in a gap next to rank (if any gap), else qty update
                nt = t + (1 if is_bid else -1)
                if nt not in side.qty and (rank == 0 or nt != side.tick_at(rank - 1)):
                    q = self.rand_qty(rank)
                    side.set(nt, q)
                    out[nt] = q
                else:
                    q = self.rand_qty(rank)
                    side.set(t, q)
                    out[t] = q
            else:
                q = (
                    max(1, int(side.qty[t] * rng.uniform(0.3, 1.8)))
                    if rng.random() < 0.6
                    else self.rand_qty(rank)
                )
                side.set(t, q)
                out[t] = q
        # never leave the book crossed / one-sided
        if self.bids.best() >= self.asks.best():
            self.move_price(False, 1, ob, oa)
        # optional: liquidity providers step inside a wide spread (keeps small-lot books realistic)
        if a.max_spread_ticks and self.asks.best() - self.bids.best() > a.max_spread_ticks:
            if rng.random() < 0.5:
                t, side, out = self.bids.best() + 1, self.bids, ob
            else:
                t, side, out = self.asks.best() - 1, self.asks, oa
            q = self.rand_qty(0)
            side.set(t, q)
            out[t] = q
        if self.bids.best() <= 0:
            raise SystemExit("gen_feed: the price walked to zero; use a higher --start-price-ticks")
        self.enforce_window(self.bids, ob)
        self.enforce_window(self.asks, oa)
        self.u += 1
        b = ",".join(f'["{self.px(t)}","{self.qs(ob[t])}"]' for t in sorted(ob, reverse=True))
        s = ",".join(f'["{self.px(t)}","{self.qs(oa[t])}"]' for t in sorted(oa))
        return self._book_line("delta", b, s)

    def trade(self) -> str:
        rng = self.rng
        buy = rng.random() < 0.5
        k = 1 if rng.random() < 0.7 else rng.randint(2, 4)
        side = self.asks if buy else self.bids
        t = side.best()
        parts = []
        T = self.ts - rng.randint(0, 3)
        remaining = side.qty[t]
        for _ in range(k):
            v = max(1, min(remaining, int(rng.lognormvariate(0, 1.5) * self.qscale * 0.01) + 1))
            remaining -= v
            p = self.px(t)
            if self.last_trade_px is None or t == self.last_trade_px:
                tick_dir = "ZeroPlusTick" if buy else "ZeroMinusTick"
            else:
                tick_dir = "PlusTick" if t > self.last_trade_px else "MinusTick"
            self.last_trade_px = t
            uid = "%032x" % rng.getrandbits(128)
            uid = f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:]}"
            parts.append(
                f'{{"T":{T},"s":"{self.a.symbol}","S":"{"Buy" if buy else "Sell"}","v":"{self.qs(v)}",'
                f'"p":"{p}","L":"{tick_dir}","i":"{uid}","BT":false}}'
            )
            if remaining <= 0:
                break
        self.pending_touch[(not buy, t)] = remaining
        return (
            f'{{"topic":"publicTrade.{self.a.symbol}","type":"snapshot","ts":{self.ts},'
            f'"data":[{",".join(parts)}]}}'
        )

    def run(self, out) -> dict:
        a = self.a
        rng = self.rng
        interval = 1000.0 / a.rate
        lines = 0
        n_book = n_trade = 0
        out.write(self.snapshot() + "\n")
        lines += 1
        n_book += 1
        tclock = float(self.ts)
        while lines < a.lines:
            # trades arrive between book pushes
            if rng.random() < a.trade_prob:
                self.ts = int(tclock) + rng.randint(0, max(0, int(interval) - 1))
                out.write(self.trade() + "\n")
                n_trade += 1
                lines += 1
                if lines >= a.lines:
                    break
            tclock += interval * rng.uniform(0.8, 1.2)
            self.ts = max(self.ts, int(tclock))
            out.write(self.delta() + "\n")
            n_book += 1
            lines += 1
        return {"lines": lines, "book": n_book, "trades": n_trade}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="/tmp/feeds/btc_gen_1m.jsonl")
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--profile", choices=("brief", "xrp"), default="brief")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--depth", type=int, default=200)
    p.add_argument("--topic-depth", type=int, default=None, help="N in orderbook.N (default: --depth)")
    p.add_argument("--rate", type=float, default=None, help="deltas per second (brief: 100, xrp: 10)")
    p.add_argument("--trade-prob", type=float, default=0.25, help="P(a trade message precedes a delta)")
    p.add_argument("--move-prob", type=float, default=0.03, help="P(touch moves 1-3 ticks) per delta")
    p.add_argument(
        "--max-spread-ticks",
        type=int,
        default=0,
        help="if > 0, a level is posted inside any spread wider than this many ticks (default: off)",
    )
    p.add_argument("--del-prob", type=float, default=0.01)
    p.add_argument("--ins-prob", type=float, default=0.01)
    p.add_argument("--price-decimals", type=int, default=2)
    p.add_argument(
        "--tick-units", type=int, default=10, help="tick in units of 10**-price_decimals (10 => 0.10)"
    )
    p.add_argument("--qty-decimals", type=int, default=3)
    p.add_argument(
        "--start-price-ticks", type=int, default=950000, help="best bid in ticks (950000 => 95000.00)"
    )
    p.add_argument("--start-ms", type=int, default=1733011200000)
    p.add_argument("--seed-seq", type=int, default=130020238981)
    args = p.parse_args(argv)
    if args.topic_depth is None:
        args.topic_depth = args.depth
    if args.rate is None:
        args.rate = 10.0 if args.profile == "xrp" else 100.0
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    t0 = time.perf_counter()
    with open(args.out, "w", buffering=1 << 20) as f:
        stats = Gen(args).run(f)
    dt = time.perf_counter() - t0
    size = os.path.getsize(args.out)
    print(
        f"wrote {args.out}: {stats['lines']} lines ({stats['book']} orderbook, {stats['trades']} publicTrade), "
        f"{size / 1e6:.1f} MB, avg {size / stats['lines']:.0f} B/line, in {dt:.1f}s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
