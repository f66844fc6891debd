"""Backtest throughput against the bare replay rate, measured in the same run.

The requirement: a TWAP and a SNIPER backtest over the 1M-line ``gen_feed.py`` feed run at
>= 0.80x the bare replay rate ("strategies must not make the pipeline slow"). Rates are market
records processed per second.

Variants, timed round-robin (each rep runs each once, rotating the order), all over the same
records already in memory (what ``open_records`` yields for the feed):

* ``replay``: a fresh ``Replay()`` (parse, book, bus; no subscriber): **the baseline**;
* ``backtest, no parent``: a fresh ``Backtest`` whose parent is due to start only after the
  data ends, so it never starts: the backtest harness (simulated venue with its own book, the
  event loop) without any strategy work. A diagnostic, without a target;
* ``backtest TWAP``: a fresh ``Backtest`` of a BTCUSDT buy worked by TWAP;
* ``backtest SNIPER``: a fresh ``Backtest`` of a BTCUSDT buy worked by SNIPER.

A ``Backtest`` stops reading once its parent is finished, so both parents are sized to be still
working when the data ends: the time limit is 1.1 x the feed's span + 120 s, so TWAP's last
slice and finishing IOC and SNIPER's finishing IOC all fall after the data (and after the 60 s
the backtest drains once the data is over). SNIPER looks at the book on every book and trade
event, but its threshold (min_fill_size) is set so that it fires only now and then. Every run
is checked: the replay's counts and final book, each backtest's outcome (identical in every
rep), and how much of the feed ran with the parent working (reported, not required).
"""

from __future__ import annotations

import argparse
import bisect
import gc
import itertools
import math
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import orjson
from common import (
    Record,
    configure_logging,
    feed_path,
    file_sha256,
    load_records,
    machine_info,
    median,
    rate_tables,
    round_robin,
    spread,
)

from engine.clock import NS_PER_S
from engine.enums import BookState, Side
from engine.parent import ParentOrder, RoutingConfig, StrategyName, Urgency
from engine.runtime.backtest import DRAIN_AFTER_DATA_NS, Backtest, BacktestResult, BacktestSettings
from engine.runtime.replay import Replay
from strategies.sniper import Sniper
from strategies.twap import Twap

TARGET_RATIO: Final = 0.80

REPLAY: Final = "replay"
IDLE: Final = "backtest, no parent"
TWAP: Final = "backtest TWAP"
SNIPER: Final = "backtest SNIPER"
TARGETED: Final = (TWAP, SNIPER)

SYMBOL: Final = "BTCUSDT"
STILL_WORKING: Final = "data ended before the parent finished"  # Backtest's outcome for a parent still working
NOT_STARTED_PREFIX: Final = "not started"

QUICK_LINES: Final = 100_000
QUICK_REPS: Final = 2
DEFAULT_LINES: Final = 1_000_000
DEFAULT_REPS: Final = 3

TIME_LIMIT_FACTOR: Final = 1.1
TIME_LIMIT_EXTRA_S: Final = 120

TWAP_QTY: Final = Decimal("50")
SNIPER_QTY: Final = Decimal("1000")
MAX_SLIPPAGE: Final = Decimal("0.001")  # the CLI default: a band of +/- 0.1% around the arrival mid
SNIPER_MIN_FILL: Final = Decimal("900")  # in-band ask size needed before a shot: rare on this feed
SNIPER_PARTICIPATION: Final = Decimal("0.002")  # each shot takes 0.2% of what shows in the band


class BenchError(RuntimeError):
    """A run did not do what the benchmark claims to measure."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


# -- the feed ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedFacts:
    path: Path
    lines: int
    first_ns: int
    last_ns: int
    timestamps: list[int]

    @property
    def span_s(self) -> float:
        return (self.last_ns - self.first_ns) / NS_PER_S


def feed_facts(path: Path, records: Sequence[Record]) -> FeedFacts:
    check(len(records) > 1, f"{path}: fewer than two records")
    timestamps = [record[0] for record in records]
    check(
        all(earlier <= later for earlier, later in itertools.pairwise(timestamps)),
        "record times go backwards: coverage by time would be wrong",
    )
    return FeedFacts(path, len(records), timestamps[0], timestamps[-1], timestamps)


def time_limit_s(facts: FeedFacts) -> int:
    """Long enough that every scheduled end (TWAP's last slice, both finishing IOCs) is after the data."""
    return math.ceil(facts.span_s * TIME_LIMIT_FACTOR) + TIME_LIMIT_EXTRA_S


def twap_parent(limit_s: int) -> ParentOrder:
    return ParentOrder(
        parent_id="bench_twap",
        symbol=SYMBOL,
        side=Side.BUY,
        qty=TWAP_QTY,
        config=RoutingConfig(
            strategy=StrategyName.TWAP,
            urgency=Urgency.MEDIUM,
            max_slippage=MAX_SLIPPAGE,
            time_limit_s=limit_s,
        ),
    )


def sniper_parent(limit_s: int) -> ParentOrder:
    return ParentOrder(
        parent_id="bench_sniper",
        symbol=SYMBOL,
        side=Side.BUY,
        qty=SNIPER_QTY,
        config=RoutingConfig(
            strategy=StrategyName.SNIPER,
            urgency=Urgency.MEDIUM,
            max_slippage=MAX_SLIPPAGE,
            time_limit_s=limit_s,
            min_fill_size=SNIPER_MIN_FILL,
            participation_rate=SNIPER_PARTICIPATION,
        ),
    )


def describe(parent: ParentOrder) -> str:
    config = parent.config
    text = (
        f"{parent.side.value} {parent.qty} {parent.symbol} {config.strategy.value}, {config.urgency.value} urgency, "
        f"band {config.max_slippage}, time limit {config.time_limit_s} s"
    )
    if config.strategy is StrategyName.SNIPER:
        text += f", min_fill_size {config.min_fill_size}, participation {config.participation_rate}"
    return text


# -- the variants -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayOutcome:
    """What must be identical across every replay run."""

    messages: int
    book_messages: int
    trade_messages: int
    best_bid_ticks: int | None
    best_ask_ticks: int | None


@dataclass(frozen=True)
class BacktestOutcome:
    """What must be identical across every run of one backtest (it is deterministic)."""

    outcome: str
    messages: int
    started: bool
    start_ns: int | None
    end_ns: int | None  # when the parent finished, or the clock at the end if it is still working
    still_working: bool
    filled_qty: str | None
    target_qty: str | None
    child_orders: int
    fills: int
    maker_share: str | None
    avg_price: str | None
    slippage_bps: str | None
    detail: str  # what the strategy did, in its own terms (schedule, shots)


class Runs:
    """The records (in memory, untimed), the parents, and the timed variants."""

    def __init__(self, facts: FeedFacts, records: list[Record]) -> None:
        self.facts = facts
        self.records = records
        self.limit_s = time_limit_s(facts)
        self.parents = {TWAP: twap_parent(self.limit_s), SNIPER: sniper_parent(self.limit_s)}
        # never due: the harness runs, the parent never starts
        self.idle_start_ns = facts.last_ns + DRAIN_AFTER_DATA_NS + 3600 * NS_PER_S
        self.replay_outcomes: set[ReplayOutcome] = set()
        self.outcomes: dict[str, set[BacktestOutcome]] = {IDLE: set(), TWAP: set(), SNIPER: set()}
        self.loop_s: dict[str, list[float]] = {IDLE: [], TWAP: [], SNIPER: []}

    def variants(self) -> dict[str, Callable[[], object]]:
        return {
            REPLAY: self.replay,
            IDLE: self.idle,
            TWAP: lambda: self.backtest(TWAP, self.parents[TWAP], BacktestSettings()),
            SNIPER: lambda: self.backtest(SNIPER, self.parents[SNIPER], BacktestSettings()),
        }

    def replay(self) -> object:
        replay = Replay()
        report = replay.run(self.records)
        lines = self.facts.lines
        check(report.messages == lines, f"replayed {report.messages} records, the feed has {lines}")
        check(report.book_messages + report.trade_messages == lines, "book + trade messages != lines")
        check(report.malformed == 0 and report.ignored_messages == 0, "malformed or ignored frames")
        book = replay.engine.books.book(SYMBOL)
        check(book is not None and book.state is BookState.SYNCED, f"the {SYMBOL} book did not end SYNCED")
        assert book is not None
        self.replay_outcomes.add(
            ReplayOutcome(
                report.messages, report.book_messages, report.trade_messages, book.best_bid_ticks, book.best_ask_ticks
            )
        )
        return report

    def idle(self) -> object:
        settings = BacktestSettings(start_ns=self.idle_start_ns)
        return self.backtest(IDLE, self.parents[TWAP], settings)

    def backtest(self, name: str, parent: ParentOrder, settings: BacktestSettings) -> object:
        backtest = Backtest(parent, settings=settings)
        result = backtest.run(self.records)
        self.loop_s[name].append(result.wall_s)
        self.outcomes[name].add(backtest_outcome(backtest, result))
        return result


def backtest_outcome(backtest: Backtest, result: BacktestResult) -> BacktestOutcome:
    plan, report = result.plan, result.report
    if plan is None or report is None:
        return BacktestOutcome(
            outcome=result.outcome,
            messages=result.messages,
            started=False,
            start_ns=None,
            end_ns=None,
            still_working=False,
            filled_qty=None,
            target_qty=None,
            child_orders=0,
            fills=0,
            maker_share=None,
            avg_price=None,
            slippage_bps=None,
            detail="",
        )
    strategy = backtest.engine.desk.parents[plan.parent_id].strategy
    detail = ""
    if isinstance(strategy, Twap):
        detail = (
            f"{len(strategy.slice_lots)} slices, one every {strategy.interval_ns / NS_PER_S:g} s; "
            f"last slice at +{(strategy.slice_times_ns[-1] - plan.start_ns) / NS_PER_S:g} s, "
            f"final IOC at +{(strategy.finish_at_ns - plan.start_ns) / NS_PER_S:g} s"
        )
    elif isinstance(strategy, Sniper):
        detail = (
            f"{strategy.snipes} shots (IOCs) once >= {strategy.threshold_lots} lots showed within the band; "
            f"final IOC at +{(strategy.finish_at_ns - plan.start_ns) / NS_PER_S:g} s"
        )
    return BacktestOutcome(
        outcome=result.outcome,
        messages=result.messages,
        started=True,
        start_ns=plan.start_ns,
        end_ns=report.end_ns,
        still_working=result.outcome == STILL_WORKING,
        filled_qty=str(report.filled_qty),
        target_qty=str(report.target_qty),
        child_orders=report.child_orders,
        fills=report.fills,
        maker_share=None if report.maker_share is None else f"{report.maker_share:.3f}",
        avg_price=None if report.avg_price is None else f"{report.avg_price:.2f}",
        slippage_bps=None if report.slippage_bps is None else f"{report.slippage_bps:.2f}",
        detail=detail,
    )


# -- coverage ---------------------------------------------------------------------------------


def coverage(facts: FeedFacts, outcome: BacktestOutcome) -> dict[str, Any]:
    """Which records the parent was working for: after the one it started on, up to its end."""
    if not outcome.started or outcome.start_ns is None:
        return {"working_records": 0, "fraction": 0.0, "text": "the parent never started"}
    timestamps = facts.timestamps
    start_index = bisect.bisect_left(timestamps, outcome.start_ns)  # it starts while this record is handled
    if outcome.still_working:
        end_index = outcome.messages - 1
        end_text = "still working after the last record"
    else:
        assert outcome.end_ns is not None
        end_index = min(bisect.bisect_right(timestamps, outcome.end_ns), outcome.messages) - 1
        after_data = outcome.end_ns > facts.last_ns
        end_text = f"finished at +{(outcome.end_ns - facts.first_ns) / NS_PER_S:.3f} s " + (
            "(after the data)" if after_data else f"(the data runs to +{facts.span_s:.3f} s)"
        )
    working = max(end_index - start_index, 0)
    fraction = working / facts.lines
    text = (
        f"started on record {start_index + 1:,}, {end_text}: working for {working:,} of {facts.lines:,} "
        f"records ({100 * fraction:.2f}%); {outcome.messages:,} records read"
    )
    return {
        "start_record": start_index + 1,
        "end_record": end_index + 1,
        "working_records": working,
        "fraction": fraction,
        "whole_feed_read": outcome.messages == facts.lines,
        "text": text,
    }


# -- reporting --------------------------------------------------------------------------------


def summarize(runs: Runs, times: dict[str, list[float]]) -> dict[str, Any]:
    facts = runs.facts
    check(len(runs.replay_outcomes) == 1, f"replay runs disagree: {runs.replay_outcomes}")
    (replay_outcome,) = runs.replay_outcomes
    outcomes: dict[str, BacktestOutcome] = {}
    for name, seen in runs.outcomes.items():
        check(len(seen) == 1, f"{name} runs disagree: {seen}")
        (outcomes[name],) = seen
    check(not outcomes[IDLE].started, f"the idle backtest started its parent: {outcomes[IDLE]}")
    check(outcomes[IDLE].messages == facts.lines, "the idle backtest did not read the whole feed")
    for name in TARGETED:
        check(outcomes[name].started, f"{name}: {outcomes[name].outcome}")
    records = {REPLAY: replay_outcome.messages, **{name: outcome.messages for name, outcome in outcomes.items()}}
    # rate = records processed / seconds; a backtest whose parent finished early reads fewer records
    pairs = {
        "TWAP/replay": (TWAP, REPLAY),
        "SNIPER/replay": (SNIPER, REPLAY),
        "no parent/replay": (IDLE, REPLAY),
        "TWAP/no parent": (TWAP, IDLE),
        "SNIPER/no parent": (SNIPER, IDLE),
    }
    table, ratio_table, ratio_json = rate_tables(times, records, REPLAY, pairs, unit="record")
    med = {name: median(values) for name, values in times.items()}
    rate = {name: records[name] / med[name] for name in times}
    verdicts = {
        name: "PASS" if ratio_json[f"{name.split()[-1]}/replay"]["of_medians"] >= TARGET_RATIO else "FAIL"
        for name in TARGETED
    }

    print(f"\n== GEN: {facts.path}")
    print(
        f"   {facts.lines:,} records ({replay_outcome.book_messages:,} orderbook + "
        f"{replay_outcome.trade_messages:,} publicTrade) over {facts.span_s:,.3f} s of market time; "
        f"final touch (ticks) {replay_outcome.best_bid_ticks} / {replay_outcome.best_ask_ticks}"
    )
    print("   rates: market records processed per second; every run's outcome identical across reps\n")
    print(table.render("   "))
    print(ratio_table.render("   "))
    for name in TARGETED:
        got = ratio_json[f"{name.split()[-1]}/replay"]["of_medians"]
        print(f"   target: {name} rate >= {TARGET_RATIO:.2f}x replay rate -> {got:.3f}x  {verdicts[name]}")

    backtests: dict[str, Any] = {}
    print("\n== what the backtests did")
    for name, outcome in outcomes.items():
        cover = coverage(facts, outcome)
        loop = median(runs.loop_s[name])
        after_loop = med[name] - loop
        backtests[name] = {
            "parent": describe(runs.parents[TWAP if name == IDLE else name]),
            "outcome": asdict(outcome),
            "coverage": cover,
            "median_loop_s": loop,
            "loop_s": runs.loop_s[name],
        }
        print(f"   {name}: {backtests[name]['parent']}")
        if name == IDLE:
            due_s = (runs.idle_start_ns - facts.first_ns) / NS_PER_S
            print(f"     parent due only at +{due_s:,.0f} s, after the data, so it never starts")
            print(f"     (Backtest's own words: {outcome.outcome!r})")
        else:
            print(f"     outcome: {outcome.outcome}")
            print(
                f"     filled {outcome.filled_qty} of {outcome.target_qty}, children {outcome.child_orders}, "
                f"fills {outcome.fills}, maker share {outcome.maker_share}, avg price {outcome.avg_price}, "
                f"slippage {outcome.slippage_bps} bps vs arrival"
            )
            print(f"     {outcome.detail}")
            print(f"     {cover['text']}")
        print(f"     median {after_loop:.3f} s of the {med[name]:.3f} s came after the event loop (TCA, report series)")
    return {
        "path": str(facts.path),
        "lines": facts.lines,
        "span_s": facts.span_s,
        "time_limit_s": runs.limit_s,
        "book_messages": replay_outcome.book_messages,
        "trade_messages": replay_outcome.trade_messages,
        "final_touch_ticks": [replay_outcome.best_bid_ticks, replay_outcome.best_ask_ticks],
        "records": records,
        "times_s": times,
        "median_s": med,
        "records_per_s": rate,
        "ratios": ratio_json,
        "target": TARGET_RATIO,
        "verdicts": verdicts,
        "backtests": backtests,
    }


def print_summary(results: dict[str, Any]) -> None:
    gen = results["gen"]
    ratios, verdicts, backtests = gen["ratios"], gen["verdicts"], gen["backtests"]

    def working(name: str) -> str:
        cover = backtests[name]["coverage"]
        if backtests[name]["outcome"]["still_working"]:
            return "working to the end of the data"
        return f"working for {100 * cover['fraction']:.1f}% of the records"

    def did(name: str) -> str:
        outcome = backtests[name]["outcome"]
        return (
            f"{outcome['filled_qty']} of {outcome['target_qty']} filled, {outcome['child_orders']} children, "
            f"{outcome['fills']} fills"
        )

    lines = [
        f"command: {results['command']}",
        f"reps: {results['reps']} round-robin; figures are medians; ratios compare rates within this run",
        f"GEN ({gen['lines']:,} lines, sha256 {gen['sha256'][:12]}, {gen['span_s']:,.0f} s of market time, "
        f"parents' time limit {gen['time_limit_s']} s)",
    ]
    for name in TARGETED:
        short = name.split()[-1]
        lines.append(
            f"{short}/replay {ratios[f'{short}/replay']['of_medians']:.3f}x (target >= {TARGET_RATIO:.2f}: "
            f"{verdicts[name]}; per rep {spread(ratios[f'{short}/replay']['per_rep'])}); "
            f"{short}/no-parent {ratios[f'{short}/no parent']['of_medians']:.3f}x; "
            f"{did(name)}; {working(name)}"
        )
    lines.append(f"no-parent backtest/replay {ratios['no parent/replay']['of_medians']:.3f}x (the harness alone)")
    lines.append("records/s: " + ", ".join(f"{name} {value:,.0f}" for name, value in gen["records_per_s"].items()))
    lines.append("machine:")
    lines.extend(f"  {key}: {value}" for key, value in results["machine"].items())
    print("\n== summary")
    print("\n".join("   " + line for line in lines))


# -- main -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(
            "TWAP and SNIPER backtest throughput (market records/s) as a ratio to the bare replay rate "
            f"measured in the same run (target >= {TARGET_RATIO:.2f}x on the gen_feed.py feed)."
        )
    )
    parser.add_argument("--lines", type=int, help=f"GEN feed lines (default: {DEFAULT_LINES}, --quick: {QUICK_LINES})")
    parser.add_argument("--seed", type=int, default=42, help="GEN feed seed (default: %(default)s)")
    parser.add_argument("--reps", type=int, help=f"round-robin reps (default: {DEFAULT_REPS}, --quick: {QUICK_REPS})")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_LINES:,} lines, {QUICK_REPS} reps")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write every raw timing, ratio and outcome here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    lines = args.lines if args.lines is not None else (QUICK_LINES if args.quick else DEFAULT_LINES)
    reps = args.reps if args.reps is not None else (QUICK_REPS if args.quick else DEFAULT_REPS)
    if lines < 2 or reps < 1:
        raise SystemExit("--lines must be >= 2 and --reps >= 1")
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    info = machine_info()
    configure_logging("warning")  # the reader's one-off warnings (e.g. held receive times) go to stderr
    results: dict[str, Any] = {"command": command, "machine": info, "reps": reps}

    path = feed_path(lines, args.seed)
    print(f"loading {path} ...", file=sys.stderr, flush=True)
    records = load_records(path)
    check(len(records) == lines, f"{path}: {len(records)} records, expected {lines}")
    facts = feed_facts(path, records)
    sha256 = file_sha256(path)
    configure_logging("error")
    runs = Runs(facts, records)
    print(f"backtest throughput: {command}")
    print(f"   TWAP:   {describe(runs.parents[TWAP])}")
    print(f"   SNIPER: {describe(runs.parents[SNIPER])}")
    print(f"   time limit = ceil({TIME_LIMIT_FACTOR} x {facts.span_s:,.3f} s of data) + {TIME_LIMIT_EXTRA_S} s")

    def progress(rep: int, name: str, seconds: float) -> None:
        print(f"  [GEN] rep {rep + 1}/{reps} {name:<20} {seconds:8.3f} s", file=sys.stderr, flush=True)

    gc.collect()
    gc.freeze()  # the in-memory records are not the pipeline's objects: keep them out of its GC passes
    try:
        times = round_robin(runs.variants(), reps, progress)
    finally:
        gc.unfreeze()
    results["gen"] = summarize(runs, times)
    results["gen"]["sha256"] = sha256
    results["gen"]["seed"] = args.seed
    print_summary(results)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"\nraw timings, ratios and outcomes written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
