"""Helpers shared by the benchmark scripts in ``bench/``: feeds, timing, tables, machine facts.

Benchmarks here run on a shared, noisy machine, so every figure a script reports is a ratio
against a baseline timed in the same run: variants are timed round-robin (each rep runs every
variant once, in rotating order) and compared by their medians.

Feeds are generated once by ``bench/gen_feed.py`` and cached under
``$BYBIT_ROUTER_BENCH_CACHE`` (default ``/tmp/bybit-router-bench``); the cache key includes a
hash of the generator, so editing it never serves a stale feed.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.metadata
import itertools
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import orjson
import structlog

from feeds.replay import open_records

__all__ = [
    "REPO_ROOT",
    "GEN_FEED",
    "XRP_SAMPLE",
    "Record",
    "cache_dir",
    "feed_path",
    "xrp_loop_lines",
    "xrp_loop_path",
    "load_records",
    "file_sha256",
    "round_robin",
    "median",
    "Table",
    "machine_info",
    "configure_logging",
]

Record = tuple[int, str, bytes]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
GEN_FEED: Final = REPO_ROOT / "bench" / "gen_feed.py"
XRP_SAMPLE: Final = REPO_ROOT / "replay_data" / "xrpusdt-ob500.data.zip"
DEFAULT_CACHE: Final = Path("/tmp/bybit-router-bench")
CACHE_ENV: Final = "BYBIT_ROUTER_BENCH_CACHE"


# -- feeds ------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where generated feeds live: ``$BYBIT_ROUTER_BENCH_CACHE`` or /tmp/bybit-router-bench."""
    path = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _generator_tag() -> str:
    return hashlib.sha256(GEN_FEED.read_bytes()).hexdigest()[:10]


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def feed_path(lines: int, seed: int, profile: str | None = None) -> Path:
    """A ``gen_feed.py`` feed of ``lines`` lines, generated on first use and cached.

    The generator writes to a temporary name that is renamed into place only when it succeeded,
    so an interrupted run never leaves a partial feed in the cache.
    """
    name = f"gen_{profile or 'brief'}_{lines}l_s{seed}_{_generator_tag()}.jsonl"
    path = cache_dir() / name
    if path.is_file():
        return path
    temp = _temp_name(path)
    command = [sys.executable, str(GEN_FEED), "--out", str(temp), "--lines", str(lines), "--seed", str(seed)]
    if profile is not None:
        command += ["--profile", profile]
    print(f"generating {path} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"gen_feed.py failed ({done.returncode}): {done.stderr.strip()}")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    print(f"  {done.stdout.strip()} (total {time.perf_counter() - started:.1f}s)", file=sys.stderr, flush=True)
    return path


_SHIFTED: Final = re.compile(rb'"(ts|cts|u|seq)":([0-9]+)')
"""The four numbers a loop shifts. The leading quote is part of the key: ``"cts"`` is no ``"ts"``."""


def _xrp_sample_lines() -> list[bytes]:
    """The sample's 50 lines, each without its CRLF terminator (as the replay reader yields them)."""
    with zipfile.ZipFile(XRP_SAMPLE) as archive:
        (member,) = archive.namelist()
        data = archive.read(member)
    return [line.rstrip(b"\r") for line in data.split(b"\n") if line.strip()]


def _numbers(line: bytes) -> dict[bytes, int]:
    found: dict[bytes, int] = {}
    for match in _SHIFTED.finditer(line):
        key = match.group(1)
        if key in found:
            raise ValueError(f"{key!r} occurs twice in an XRP line")
        found[key] = int(match.group(2))
    if len(found) != 4:
        raise ValueError(f"XRP line lacks one of ts/cts/u/seq: {sorted(found)}")
    return found


def xrp_loop_lines(loops: int) -> list[bytes]:
    """Bybit's real XRPUSDT ob500 sample repeated ``loops`` times, continuing monotonically.

    Each loop starts with the sample's snapshot again. ``ts`` and ``cts`` move on by the sample's
    span plus 100 ms, ``u`` by its 50 ids and ``seq`` by its span plus one, so u is contiguous
    across the whole result and ts/cts/seq keep increasing; every other byte of every line is
    the sample's. The result is checked: every line parses and says what it should.
    """
    if loops < 1:
        raise ValueError("loops must be >= 1")
    sample = _xrp_sample_lines()
    numbers = [_numbers(line) for line in sample]
    first, last = numbers[0], numbers[-1]
    if any(later[b"u"] != earlier[b"u"] + 1 for earlier, later in itertools.pairwise(numbers)):
        raise ValueError("the XRP sample's u is not contiguous")
    period_ms = max(last[b"ts"] - first[b"ts"], last[b"cts"] - first[b"cts"]) + 100
    shift_per_loop = {
        b"ts": period_ms,
        b"cts": period_ms,
        b"u": last[b"u"] - first[b"u"] + 1,
        b"seq": last[b"seq"] - first[b"seq"] + 1,
    }
    out: list[bytes] = []
    for loop in range(loops):
        if loop == 0:
            out.extend(sample)
            continue
        shift = {key: step * loop for key, step in shift_per_loop.items()}

        def shifted(match: re.Match[bytes], shift: dict[bytes, int] = shift) -> bytes:
            key = match.group(1)
            return b'"%s":%d' % (key, int(match.group(2)) + shift[key])

        out.extend(_SHIFTED.sub(shifted, line) for line in sample)
    _check_xrp_loop(out, len(sample), first[b"u"])
    return out


def _check_xrp_loop(lines: Sequence[bytes], per_loop: int, first_u: int) -> None:
    previous_ts = previous_cts = previous_seq = -1
    for index, line in enumerate(lines):
        message = orjson.loads(line)
        data = message["data"]
        expect_u = first_u + index
        expect_type = "snapshot" if index % per_loop == 0 else "delta"
        if data["u"] != expect_u or message["type"] != expect_type:
            raise ValueError(f"looped XRP line {index}: u={data['u']} {message['type']}, want {expect_u}")
        ts, cts, seq = message["ts"], message["cts"], data["seq"]
        if ts < previous_ts or cts < previous_cts or seq <= previous_seq:
            raise ValueError(f"looped XRP line {index}: ts/cts/seq went backwards")
        previous_ts, previous_cts, previous_seq = ts, cts, seq


def xrp_loop_path(loops: int) -> Path:
    """``xrp_loop_lines(loops)`` as a cached JSON-lines file (for the end-to-end-from-file figure)."""
    sample_tag = hashlib.sha256(XRP_SAMPLE.read_bytes()).hexdigest()[:10]
    path = cache_dir() / f"xrp_loop_{loops}x_{sample_tag}.jsonl"
    if path.is_file():
        return path
    temp = _temp_name(path)
    try:
        with temp.open("wb") as file:
            for line in xrp_loop_lines(loops):
                file.write(line + b"\n")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def load_records(path: Path) -> list[Record]:
    """Every record of ``path`` as the ``replay`` command reads it (``feeds.replay.open_records``)."""
    return list(open_records(path))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# -- timing -----------------------------------------------------------------------------------


def round_robin(
    variants: dict[str, Callable[[], object]],
    reps: int,
    progress: Callable[[int, str, float], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of every variant, one call per variant per rep, in rotating order.

    Rep ``r`` starts with variant ``r mod n``, so no variant always runs first (cold) or right
    after the same neighbour. ``gc.collect()`` runs before every call, so no variant pays for
    another's garbage. ``result[name][r]`` is rep ``r``'s time, whatever position it ran in.
    """
    if reps < 1:
        raise ValueError("reps must be >= 1")
    names = list(variants)
    times: dict[str, list[float]] = {name: [0.0] * reps for name in names}
    for rep in range(reps):
        start = rep % len(names)
        for name in names[start:] + names[:start]:
            gc.collect()
            call = variants[name]
            started = time.perf_counter()
            call()
            elapsed = time.perf_counter() - started
            times[name][rep] = elapsed
            if progress is not None:
                progress(rep, name, elapsed)
    return times


def median(values: Iterable[float]) -> float:
    return float(statistics.median(values))


# -- output -----------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> str:
    """min / median / max, to show the noise of a per-rep figure."""
    return f"{min(values):.3f} / {median(values):.3f} / {max(values):.3f}"


def rate_tables(
    times: dict[str, list[float]],
    counts: dict[str, int],
    baseline: str,
    pairs: dict[str, tuple[str, str]],
    *,
    unit: str,
) -> tuple[Table, Table, dict[str, dict[str, Any]]]:
    """The two tables every benchmark prints, and the ratios as JSON.

    ``unit`` is singular ("msg"). A variant's rate is ``counts[variant] / seconds``; a ratio is
    variant rate / baseline rate, both of medians and within each rep (the reps ran round-robin,
    so a rep shares its noise).
    """
    med = {name: median(values) for name, values in times.items()}
    rate = {name: counts[name] / med[name] for name in times}
    table = Table(
        ["variant", "median s", "min s", "max s", f"{unit}s", f"{unit}s/s", f"µs/{unit}", f"rate ÷ {baseline}"]
    )
    for name, values in times.items():
        table.add(
            name,
            f"{med[name]:.3f}",
            f"{min(values):.3f}",
            f"{max(values):.3f}",
            f"{counts[name]:,}",
            f"{rate[name]:,.0f}",
            f"{1e6 / rate[name]:.2f}",
            f"{rate[name] / rate[baseline]:.3f}",
        )
    ratio_table = Table(["rate ratio", "of medians", "per rep min / median / max"])
    ratios: dict[str, dict[str, Any]] = {}
    for label, (variant, base) in pairs.items():
        per_rep = [
            (counts[variant] / own) / (counts[base] / other)
            for own, other in zip(times[variant], times[base], strict=True)
        ]
        of_medians = rate[variant] / rate[base]
        ratio_table.add(label, f"{of_medians:.3f}", spread(per_rep))
        ratios[label] = {"of_medians": of_medians, "per_rep": per_rep}
    return table, ratio_table, ratios


class Table:
    """Aligned plain-text table: text columns left-aligned, the others right-aligned."""

    def __init__(self, headers: Sequence[str], align: str | None = None) -> None:
        self.headers = list(headers)
        self.align = align or "l" + "r" * (len(self.headers) - 1)
        if len(self.align) != len(self.headers):
            raise ValueError("one alignment letter (l/r) per column")
        self.rows: list[list[str]] = []

    def add(self, *cells: object) -> None:
        if len(cells) != len(self.headers):
            raise ValueError(f"expected {len(self.headers)} cells, got {len(cells)}")
        self.rows.append([str(cell) for cell in cells])

    def render(self, indent: str = "") -> str:
        widths = [max(len(row[i]) for row in [self.headers, *self.rows]) for i in range(len(self.headers))]

        def line(cells: Sequence[str]) -> str:
            parts = [
                cell.ljust(width) if how == "l" else cell.rjust(width)
                for cell, width, how in zip(cells, widths, self.align, strict=True)
            ]
            return (indent + "  ".join(parts)).rstrip()

        rule = indent + "  ".join("-" * width for width in widths)
        return "\n".join([line(self.headers), rule, *(line(row) for row in self.rows)]) + "\n"


def configure_logging(level: Literal["debug", "info", "warning", "error"]) -> None:
    """structlog to stderr (stdout carries the benchmark's report), at ``level`` and above."""
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


# -- the machine ------------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, str]:
    """Interpreter, build and library facts that make a run's figures comparable (or not)."""
    config_args = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    pgo = "--enable-optimizations" in config_args
    lto = "--with-lto" in config_args
    try:
        usable_cpus = str(len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        usable_cpus = "n/a"
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "compiler": platform.python_compiler(),
        "build": f"PGO={'yes' if pgo else 'no'} LTO={'yes' if lto else 'no'}",
        "config_args": config_args,
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": f"{os.cpu_count()} (usable: {usable_cpus})",
        "orjson": _version("orjson"),
        "msgspec": _version("msgspec"),
        "sortedcontainers": _version("sortedcontainers"),
        "structlog": _version("structlog"),
    }
