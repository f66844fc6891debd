"""Replay throughput against the bare JSON parse rate, measured in the same run; book memory.

The requirement: the full replay pipeline (parse, book, bus, one subscriber reading the top of
book) runs at >= 0.40x the bare ``orjson.loads`` rate on a 1M-line ``gen_feed.py`` feed
(orderbook.200 + trades); the rate on Bybit's real XRPUSDT ob500 sample (looped) is reported
too; and 200 books of 200 levels a side stay under 15 MB of RSS.

Variants, timed round-robin per feed (each rep runs each once, rotating the order):

* ``orjson floor``: ``orjson.loads`` of every line (the baseline of the target ratio);
* ``msgspec floor``: ``msgspec.json.Decoder().decode`` of every line (the codec decodes with
  msgspec, so this is the fairer floor; reported for honesty);
* ``pipeline``: a fresh ``Replay`` with one ``BookDelta`` subscriber reading the touch, run over
  the records already in memory (what ``open_records`` yields for the feed);
* ``end-to-end from file``: the same, but reading the file as ``bybit-router replay`` does
  (``ReadMeter`` + ``open_records`` + ``merge_records``), so it includes reading and splitting.

Every pipeline run is checked (book SYNCED, message counts equal to the feed, nothing malformed,
the subscriber saw every book message) and must end on the same top of book as every other run.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec
import orjson
from common import (
    Record,
    Table,
    configure_logging,
    feed_path,
    file_sha256,
    load_records,
    machine_info,
    median,
    rate_tables,
    round_robin,
    xrp_loop_lines,
    xrp_loop_path,
)

from engine.book import OrderBook
from engine.clock import SimClock
from engine.enums import BookState
from engine.events import BookDelta
from engine.market import Books
from engine.runtime.replay import Replay, ReplayReport
from feeds.replay import merge_records, open_records
from feeds.replay.progress import ReadMeter

TARGET_RATIO: Final = 0.40
MEMORY_LIMIT_BYTES: Final = 15_000_000
MB: Final = 1_000_000
MIB: Final = 1 << 20

ORJSON: Final = "orjson floor"
MSGSPEC: Final = "msgspec floor"
PIPELINE: Final = "pipeline"
FROM_FILE: Final = "end-to-end from file"

MEMORY_BOOKS: Final = 200
MEMORY_LEVELS: Final = 200
MEMORY_DELTAS: Final = 300
MEMORY_RUNS: Final = 3


class BenchError(RuntimeError):
    """A run did not do what the benchmark claims to measure."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


# -- the pipeline under test ------------------------------------------------------------------


class TopReader:
    """The one subscriber: reads the touch of its book on every ``BookDelta`` it is given."""

    __slots__ = ("acc", "book", "books", "events")

    def __init__(self, replay: Replay) -> None:
        self.books = replay.engine.books
        self.book: OrderBook | None = None
        self.events = 0
        self.acc = 0

    def __call__(self, event: BookDelta) -> None:
        book = self.book
        if book is None:
            book = self.book = self.books.book(event.symbol)
            check(book is not None, f"no book for {event.symbol}")
        bid = book.best_bid_ticks  # type: ignore[union-attr]  # checked on first fetch
        ask = book.best_ask_ticks  # type: ignore[union-attr]
        if bid is not None and ask is not None:
            self.acc += ask - bid
        self.events += 1


@dataclass(frozen=True)
class Expect:
    """What a correct replay of a feed reports."""

    lines: int
    book_messages: int | None = None  # None: only book + trade == lines is required
    top: tuple[str, str] | None = None  # best bid / ask prices as the venue spells them


@dataclass(frozen=True)
class Outcome:
    """What must be identical across every pipeline run of one feed."""

    book_messages: int
    trade_messages: int
    best_bid_ticks: int | None
    best_ask_ticks: int | None
    subscriber_acc: int


def new_pipeline() -> tuple[Replay, TopReader]:
    replay = Replay()
    reader = TopReader(replay)
    replay.engine.bus.subscribe(BookDelta, reader)
    return replay, reader


def verify(replay: Replay, reader: TopReader, report: ReplayReport, expect: Expect) -> Outcome:
    check(report.messages == expect.lines, f"replayed {report.messages} records, the feed has {expect.lines}")
    check(
        report.book_messages + report.trade_messages == expect.lines,
        f"book {report.book_messages} + trade {report.trade_messages} != {expect.lines} lines",
    )
    check(report.malformed == 0, f"malformed frames: {report.malformed_reasons}")
    check(report.ignored_messages == 0, f"ignored frames: {report.ignored_reasons}")
    if expect.book_messages is not None:
        check(report.book_messages == expect.book_messages, f"{report.book_messages} book messages")
    books = list(replay.engine.books)
    check(len(books) == 1, f"expected one book, got {[book.symbol for book in books]}")
    book = books[0]
    check(book.state is BookState.SYNCED, f"final book state {book.state}, not SYNCED")
    check(book.gaps == 0 and book.crossed == 0 and book.bad_data == 0, "the book saw gaps or bad data")
    check(reader.book is book, "the subscriber did not read the replayed book")
    check(
        reader.events == report.book_messages,
        f"subscriber saw {reader.events} of {report.book_messages} book messages",
    )
    if expect.top is not None:
        bids, asks = book.snapshot_strings(1)
        check((bids[0][0], asks[0][0]) == expect.top, f"final touch {bids[:1]} / {asks[:1]}")
    return Outcome(
        report.book_messages,
        report.trade_messages,
        book.best_bid_ticks,
        book.best_ask_ticks,
        reader.acc,
    )


class Feed:
    """One feed's inputs (in memory, untimed) and its four timed variants."""

    def __init__(self, name: str, path: Path, records: list[Record], expect: Expect) -> None:
        self.name = name
        self.path = path
        self.records = records
        self.lines = [record[2] for record in records]
        self.expect = expect
        self.outcomes: set[Outcome] = set()
        self.sink = 0

    def variants(self) -> dict[str, Callable[[], object]]:
        return {
            ORJSON: self.orjson_floor,
            MSGSPEC: self.msgspec_floor,
            PIPELINE: self.pipeline,
            FROM_FILE: self.from_file,
        }

    def orjson_floor(self) -> object:
        loads = orjson.loads
        last: Any = None
        for line in self.lines:
            last = loads(line)
        self.sink += len(last)
        return last

    def msgspec_floor(self) -> object:
        decode = msgspec.json.Decoder().decode
        last: Any = None
        for line in self.lines:
            last = decode(line)
        self.sink += len(last)
        return last

    def pipeline(self) -> object:
        replay, reader = new_pipeline()
        report = replay.run(self.records)
        self.outcomes.add(verify(replay, reader, report, self.expect))
        return report

    def from_file(self) -> object:
        replay, reader = new_pipeline()
        with ReadMeter([self.path]):
            report = replay.run(merge_records(open_records(self.path)))
        self.outcomes.add(verify(replay, reader, report, self.expect))
        return report

    def levels_per_book_message(self) -> float:
        """Mean (bids + asks) per orderbook line, snapshots included (untimed, for the report)."""
        decode = msgspec.json.Decoder().decode
        levels = books = 0
        for line in self.lines:
            if line.startswith(b'{"topic":"orderbook.'):
                data = decode(line)["data"]
                levels += len(data["b"]) + len(data["a"])
                books += 1
        return levels / books if books else 0.0


# -- reporting --------------------------------------------------------------------------------


def summarize(feed: Feed, times: dict[str, list[float]], target: float | None) -> dict[str, Any]:
    lines = len(feed.lines)
    med = {name: median(values) for name, values in times.items()}
    ratios = {
        "pipeline/orjson": (PIPELINE, ORJSON),
        "pipeline/msgspec": (PIPELINE, MSGSPEC),
        "from_file/orjson": (FROM_FILE, ORJSON),
        "from_file/pipeline": (FROM_FILE, PIPELINE),
    }
    table, ratio_table, ratio_json = rate_tables(times, dict.fromkeys(times, lines), ORJSON, ratios, unit="msg")
    headline = med[ORJSON] / med[PIPELINE]
    verdict = None if target is None else ("PASS" if headline >= target else "FAIL")
    (outcome,) = feed.outcomes
    print(f"\n== {feed.name}: {feed.path}")
    print(f"   {lines:,} lines, {outcome.book_messages:,} orderbook + {outcome.trade_messages:,} publicTrade")
    touch = f"{outcome.best_bid_ticks} / {outcome.best_ask_ticks}"
    print(f"   final touch (ticks) {touch}, identical in every pipeline run\n")
    print(table.render("   "))
    print(ratio_table.render("   "))
    if verdict is not None:
        print(f"   target: pipeline rate >= {target:.2f}x orjson rate -> {headline:.3f}x  {verdict}")
    return {
        "path": str(feed.path),
        "lines": lines,
        "book_messages": outcome.book_messages,
        "trade_messages": outcome.trade_messages,
        "final_touch_ticks": [outcome.best_bid_ticks, outcome.best_ask_ticks],
        "times_s": times,
        "median_s": med,
        "msgs_per_s": {name: lines / seconds for name, seconds in med.items()},
        "ratios": ratio_json,
        "target": target,
        "verdict": verdict,
    }


def run_feed(feed: Feed, reps: int, target: float | None) -> dict[str, Any]:
    def progress(rep: int, name: str, seconds: float) -> None:
        print(f"  [{feed.name}] rep {rep + 1}/{reps} {name:<22} {seconds:8.3f} s", file=sys.stderr, flush=True)

    gc.collect()
    gc.freeze()  # the in-memory inputs are not the pipeline's objects: keep them out of its GC passes
    try:
        times = round_robin(feed.variants(), reps, progress)
    finally:
        gc.unfreeze()
    check(len(feed.outcomes) == 1, f"pipeline runs disagree: {feed.outcomes}")
    result = summarize(feed, times, target)
    result["levels_per_book_message"] = feed.levels_per_book_message()
    print(f"   levels per orderbook message (mean, snapshots included): {result['levels_per_book_message']:.1f}")
    return result


# -- memory -----------------------------------------------------------------------------------


def vm_rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError("no VmRSS in /proc/self/status")


def lots_text(lots: int) -> str:
    """Lots of 0.001 as a 3-decimal size string."""
    return f"{lots // 1000}.{lots % 1000:03d}"


def price_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class SyntheticBook:
    """Snapshot and delta messages for one symbol, keeping exactly ``levels`` a side like Bybit.

    Prices step 0.10 (2 decimals) from around 95000.00; sizes have 3 decimals and differ per
    level. A delta updates a few sizes near the touch; now and then it deletes one level and
    inserts one beyond the far end, as the venue's depth window does.
    """

    def __init__(self, symbol: str, levels: int, rng: random.Random, best_bid_cents: int) -> None:
        self.symbol = symbol
        self.rng = rng
        self.bids = [best_bid_cents - 10 * i for i in range(levels)]
        self.asks = [best_bid_cents + 10 + 10 * i for i in range(levels)]
        self.update_id = 1
        self.seq = 1_000_000

    def _size(self, rank: int) -> str:
        return lots_text(rank * 1000 + self.rng.randint(1, 999))

    def _message(self, bids: list[tuple[str, str]], asks: list[tuple[str, str]], snapshot: bool) -> BookDelta:
        self.seq += self.rng.randint(1, 50)
        ts = 1_733_011_200_000_000_000 + self.update_id * 100_000_000
        return BookDelta(
            ts_event_ns=ts,
            ts_recv_ns=ts,
            symbol=self.symbol,
            depth=MEMORY_LEVELS,
            is_snapshot=snapshot,
            bids=bids,
            asks=asks,
            update_id=self.update_id,
            seq=self.seq,
            ts_match_ns=ts,
        )

    def snapshot(self) -> BookDelta:
        return self._message(
            [(price_text(p), self._size(i)) for i, p in enumerate(self.bids)],
            [(price_text(p), self._size(i)) for i, p in enumerate(self.asks)],
            snapshot=True,
        )

    def delta(self) -> BookDelta:
        self.update_id += 1
        rng = self.rng
        changes: tuple[list[tuple[str, str]], list[tuple[str, str]]] = ([], [])
        for side, prices in enumerate((self.bids, self.asks)):
            for _ in range(rng.randint(1, 3)):
                rank = min(int(rng.expovariate(1 / 30)), len(prices) - 1)
                changes[side].append((price_text(prices[rank]), self._size(rank)))
            if rng.random() < 0.1:
                rank = rng.randrange(1, len(prices))
                changes[side].append((price_text(prices.pop(rank)), "0"))
                far = prices[-1] + (10 if side else -10)
                prices.append(far)
                changes[side].append((price_text(far), self._size(len(prices) - 1)))
        return self._message(changes[0], changes[1], snapshot=False)


def memory_child() -> dict[str, Any]:
    """Build the books in this (fresh) process and report its VmRSS growth.

    The message sources (a price list per symbol) exist before the baseline is read, so only
    what the books keep is counted: their levels plus their price and size memos. Messages are
    built on the fly and dropped once applied, as a live feed's would be. Deltas go round-robin
    over the books, as interleaved live updates do.
    """
    rng = random.Random(20241201)
    sources = [
        SyntheticBook(f"SYM{index:03d}", MEMORY_LEVELS, rng, 9_500_000 + 100 * index) for index in range(MEMORY_BOOKS)
    ]
    gc.collect()
    before = vm_rss_bytes()
    registry = Books(SimClock(), emit=lambda event: None, command=lambda command: None)
    books: list[OrderBook] = []
    for source in sources:
        book = registry.open(source.symbol, MEMORY_LEVELS)  # as the engine opens them: shared memos
        check(book.apply(source.snapshot()), f"{source.symbol}: snapshot rejected")
        books.append(book)
    gc.collect()
    after_snapshots = vm_rss_bytes()
    memo_after_snapshots = memo_entries(books)
    for _ in range(MEMORY_DELTAS):
        for book, source in zip(books, sources, strict=True):
            check(book.apply(source.delta()), f"{source.symbol}: delta rejected")
    gc.collect()
    after = vm_rss_bytes()
    for book in books:
        check(book.state is BookState.SYNCED, f"{book.symbol}: {book.state}")
        check(len(book.bids) == MEMORY_LEVELS and len(book.asks) == MEMORY_LEVELS, f"{book.symbol}: depth")
    return {
        "books": len(books),
        "levels": sum(len(book.bids) + len(book.asks) for book in books),
        "deltas_per_book": MEMORY_DELTAS,
        "rss_before": before,
        "rss_after_snapshots": after_snapshots,
        "rss_after": after,
        "rss_delta_snapshots": after_snapshots - before,
        "rss_delta": after - before,
        "memo_after_snapshots": memo_after_snapshots,
        "memo_after": memo_entries(books),
    }


def memo_entries(books: Sequence[OrderBook]) -> dict[str, int]:
    """Entries in the text -> number memos the books use (shared per scale, each bounded)."""
    price_memos = {id(side.key_memo): side.key_memo for book in books for side in (book.bids, book.asks)}
    size_memos = {id(book._size_memo): book._size_memo for book in books}
    return {
        "size_texts": sum(len(memo.values) for memo in size_memos.values()),
        "price_texts": sum(len(memo.values) for memo in price_memos.values()),
    }


def run_memory(runs: int) -> dict[str, Any]:
    children = []
    for run in range(runs):
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--memory-child"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"memory child failed: {done.stderr.strip()}")
        child = json.loads(done.stdout)
        print(
            f"  [memory] run {run + 1}/{runs}: +{child['rss_delta_snapshots'] / MB:.2f} MB after snapshots, "
            f"+{child['rss_delta'] / MB:.2f} MB after deltas",
            file=sys.stderr,
            flush=True,
        )
        children.append(child)
    levels = children[0]["levels"]
    table = Table(["after", "runs (MB)", "median MB", "MiB", "bytes/level", "size memo", "price memo"])
    medians: dict[str, float] = {}
    for label, key, memo in (
        ("snapshots", "rss_delta_snapshots", "memo_after_snapshots"),
        (f"+{MEMORY_DELTAS} deltas", "rss_delta", "memo_after"),
    ):
        deltas = [child[key] for child in children]
        medians[key] = median(deltas)
        table.add(
            label,
            " ".join(f"{d / MB:.2f}" for d in deltas),
            f"{medians[key] / MB:.2f}",
            f"{medians[key] / MIB:.2f}",
            f"{medians[key] / levels:.0f}",
            f"{children[0][memo]['size_texts']:,}",
            f"{children[0][memo]['price_texts']:,}",
        )
    delta = medians["rss_delta"]
    verdict = "PASS" if delta < MEMORY_LIMIT_BYTES else "FAIL"
    shape = f"{MEMORY_BOOKS} books x {MEMORY_LEVELS} levels a side ({levels:,} levels)"
    print(f"\n== memory: {shape}, built in a fresh process per run")
    print(f"   VmRSS growth, median of {runs} runs; memo columns: entries over all books\n")
    print(table.render("   "))
    limit = f"{MEMORY_LIMIT_BYTES / MB:.0f} MB"
    print(f"   limit: {limit} after snapshots + deltas -> {delta / MB:.2f} MB  {verdict}")
    return {
        "runs": children,
        "median_rss_delta_snapshots": medians["rss_delta_snapshots"],
        "median_rss_delta": delta,
        "bytes_per_level": delta / levels,
        "limit_bytes": MEMORY_LIMIT_BYTES,
        "verdict": verdict,
    }


# -- main -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(
            "Replay pipeline throughput as a ratio to the bare orjson parse rate measured in the same run "
            "(target >= 0.40x on the gen_feed.py feed), the looped real XRPUSDT sample, and book memory."
        )
    )
    parser.add_argument("--lines", type=int, default=1_000_000, help="GEN feed lines (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42, help="GEN feed seed (default: %(default)s)")
    parser.add_argument("--reps", type=int, default=5, help="round-robin reps per feed (default: %(default)s)")
    parser.add_argument(
        "--xrp-loops", type=int, default=1000, help="XRP sample loops, 50 lines each (default: %(default)s)"
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write every raw timing and ratio here")
    parser.add_argument("--skip-memory", action="store_true", help="skip the 200-book RSS measurement")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    return parser


def load_feed(name: str, path: Path, expect_lines: int, **expect: Any) -> Feed:
    print(f"loading {path} ...", file=sys.stderr, flush=True)
    records = load_records(path)
    check(len(records) == expect_lines, f"{path}: {len(records)} records, expected {expect_lines}")
    return Feed(name, path, records, Expect(lines=expect_lines, **expect))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child()))
        return 0
    if args.lines < 1 or args.reps < 1 or args.xrp_loops < 1:
        raise SystemExit("--lines, --reps and --xrp-loops must be >= 1")
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    info = machine_info()
    configure_logging("warning")  # the readers' one-off warnings (e.g. held receive times) go to stderr
    results: dict[str, Any] = {"command": command, "machine": info, "reps": args.reps}

    gen_path = feed_path(args.lines, args.seed)
    gen = load_feed("GEN", gen_path, args.lines)
    results["gen_sha256"] = file_sha256(gen_path)
    xrp_lines = xrp_loop_lines(args.xrp_loops)
    xrp = load_feed(
        f"XRP x{args.xrp_loops}",
        xrp_loop_path(args.xrp_loops),
        len(xrp_lines),
        book_messages=len(xrp_lines),
        top=("1.9537", "1.9538"),
    )
    check(xrp.lines == xrp_lines, "the XRP file's records differ from the looped lines")
    del xrp_lines
    configure_logging("error")  # timed runs re-read the files: do not re-log what was just reported

    print(f"replay throughput: {command}")
    results["gen"] = run_feed(gen, args.reps, TARGET_RATIO)
    results["gen"]["sha256"] = results.pop("gen_sha256")
    del gen
    gc.collect()
    results["xrp"] = run_feed(xrp, args.reps, None)
    del xrp
    gc.collect()
    if not args.skip_memory:
        results["memory"] = run_memory(MEMORY_RUNS)
    print_summary(results)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"\nraw timings and ratios written to {args.json}")
    return 0


def rates_line(name: str, feed: dict[str, Any]) -> str:
    rates = feed["msgs_per_s"]
    return f"{name} msgs/s: " + ", ".join(f"{variant} {rates[variant]:,.0f}" for variant in rates)


def print_summary(results: dict[str, Any]) -> None:
    gen, xrp = results["gen"], results["xrp"]
    lines = [
        f"command: {results['command']}",
        f"reps: {results['reps']} round-robin; figures are medians; ratios compare rates within this run",
        (
            f"GEN ({gen['lines']:,} lines, sha256 {gen['sha256'][:12]}): pipeline/orjson "
            f"{gen['ratios']['pipeline/orjson']['of_medians']:.3f}x (target >= {TARGET_RATIO:.2f}: "
            f"{gen['verdict']}), pipeline/msgspec {gen['ratios']['pipeline/msgspec']['of_medians']:.3f}x, "
            f"from-file/orjson {gen['ratios']['from_file/orjson']['of_medians']:.3f}x"
        ),
        rates_line("GEN", gen),
        (
            f"XRP ({xrp['lines']:,} lines, {xrp['levels_per_book_message']:.0f} levels/msg): pipeline/orjson "
            f"{xrp['ratios']['pipeline/orjson']['of_medians']:.3f}x, pipeline/msgspec "
            f"{xrp['ratios']['pipeline/msgspec']['of_medians']:.3f}x, from-file/orjson "
            f"{xrp['ratios']['from_file/orjson']['of_medians']:.3f}x"
        ),
        rates_line("XRP", xrp),
    ]
    memory = results.get("memory")
    if memory is not None:
        lines.append(
            f"memory: 200 books x 200 levels a side: +{memory['median_rss_delta'] / MB:.2f} MB RSS "
            f"after snapshot + {MEMORY_DELTAS} deltas each ({memory['bytes_per_level']:.0f} B/level), "
            f"limit 15 MB: {memory['verdict']}; "
            f"+{memory['median_rss_delta_snapshots'] / MB:.2f} MB after the snapshots alone"
        )
    else:
        lines.append("memory: skipped (--skip-memory)")
    lines.append("machine:")
    lines.extend(f"  {key}: {value}" for key, value in results["machine"].items())
    print("\n== summary")
    print("\n".join("   " + line for line in lines))


if __name__ == "__main__":
    sys.exit(main())
