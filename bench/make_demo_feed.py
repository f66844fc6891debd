"""Build ``replay_data/btcusdt-5min.rec.gz``: five minutes of generated BTCUSDT book and trades.

The frames come from ``bench/gen_feed.py`` (seeded, so the file is reproducible) and are
stored in our own recording format, as the live recorder would write them: each frame gets a
local receive time of its venue ``ts`` plus a simulated network delay (2-6 ms, seeded). Receive
times never decrease, as on a real socket.

    python3 bench/make_demo_feed.py [--out replay_data/btcusdt-5min.rec.gz] [--minutes 5]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feeds.replay.recording import RecordingWriter  # noqa: E402

DELTAS_PER_SECOND = 100  # gen_feed's default ("brief") profile
TRADE_SHARE = 0.2  # about one line in five is a publicTrade message


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "replay_data" / "btcusdt-5min.rec.gz")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    lines = int(args.minutes * 60 * DELTAS_PER_SECOND / (1 - TRADE_SHARE))
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "feed.jsonl"
        generator = [sys.executable, str(ROOT / "bench" / "gen_feed.py"), "--out", str(raw_path)]
        subprocess.run([*generator, "--lines", str(lines), "--seed", str(args.seed)], check=True)
        frames = raw_path.read_bytes().splitlines()
    rng = random.Random(args.seed)
    args.out.unlink(missing_ok=True)
    last_ns = 0
    metadata = {"source": "bench/gen_feed.py", "seed": args.seed, "symbol": "BTCUSDT", "latency_ms": [2, 6]}
    with RecordingWriter(args.out, metadata=metadata) as writer:
        for frame in frames:
            venue_ns = orjson.loads(frame)["ts"] * 1_000_000
            last_ns = max(last_ns, venue_ns + rng.randint(2_000_000, 6_000_000))
            writer.write(last_ns, "linear", frame)
    size_mb = args.out.stat().st_size / 1e6
    print(f"wrote {args.out} ({len(frames)} frames, {size_mb:.1f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
