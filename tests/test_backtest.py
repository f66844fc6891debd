"""Backtests end to end: recorded data, the live pipeline, the simulated Bybit, every strategy."""

from __future__ import annotations

import itertools
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.cli import main
from engine.enums import Side
from engine.parent import ParentOrder, RoutingConfig, StrategyName, Urgency
from engine.runtime.backtest import Backtest, BacktestSettings
from feeds.replay import open_records
from tests.conftest import REPLAY_DATA, XRP_SAMPLE

DEMO = REPLAY_DATA / "btcusdt-5min.rec.gz"
RECORDS = list(itertools.islice(open_records(DEMO), 16_000))  # the first two minutes or so


def run(strategy: StrategyName, side: Side = Side.BUY, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "strategy": strategy,
        "urgency": Urgency.MEDIUM,
        "max_slippage": Decimal("0.001"),
        "time_limit_s": 90,
        "participation_rate": Decimal("0.15"),
        "chunk_size": Decimal("0.5"),
    }
    settings = overrides.pop("settings", BacktestSettings(seed=3))
    config.update(overrides)
    parent = ParentOrder(parent_id="T1", symbol="BTCUSDT", side=side, qty=Decimal(3), config=RoutingConfig(**config))
    return Backtest(parent, settings=settings).run(RECORDS).to_dict()


def check_invariants(out: dict[str, Any], side: Side) -> None:
    fills = out["fills"]
    filled = Decimal(out["filled_qty"])
    assert sum((Decimal(f["qty"]) for f in fills), Decimal(0)) == filled
    assert filled <= Decimal(out["target_qty"])
    band = Decimal(out["band"])
    for fill in fills:
        price = Decimal(fill["price"])
        assert price <= band if side is Side.BUY else price >= band, (fill, band)
    for child in out["children"]:
        assert Decimal(child["filled"]) <= Decimal(child["qty"])
        price = Decimal(child["price"])
        assert price <= band if side is Side.BUY else price >= band, (child, band)
    ids = [child["orderLinkId"] for child in out["children"]]
    assert len(ids) == len(set(ids)) and all(len(i) <= 36 for i in ids)


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
@pytest.mark.parametrize("strategy", list(StrategyName))
def test_every_strategy_fills_inside_the_band_and_never_overfills(strategy: StrategyName, side: Side) -> None:
    """Both sides, every strategy: fills sum to filled_qty <= qty, and no fill or child crosses the band."""
    out = run(strategy, side)
    check_invariants(out, side)
    assert out["outcome"] in ("filled", "partially filled", "unfilled")
    assert Decimal(out["filled_qty"]) > 0


@pytest.mark.parametrize("strategy", [StrategyName.TWAP, StrategyName.SMART, StrategyName.POV])
def test_same_seed_same_json(strategy: StrategyName) -> None:
    """A backtest is deterministic: same inputs and seed give the same JSON (wall time aside)."""
    first, second = run(strategy), run(strategy)
    first.pop("wall_s")
    second.pop("wall_s")
    assert first["children"] and first["fills"], "a run that sent nothing would be trivially repeatable"
    assert first == second


def test_a_different_seed_changes_twap_slices() -> None:
    """TWAP's ±20% slice sizes come from the seed."""
    sizes = {
        seed: [c["qty"] for c in run(StrategyName.TWAP, settings=BacktestSettings(seed=seed))["children"]]
        for seed in (1, 2)
    }
    assert sizes[1] != sizes[2]


def test_smart_records_its_choice_and_reason() -> None:
    """SMART's choice and the reason for it are in the output and in the notes."""
    out = run(StrategyName.SMART)
    assert out["strategy_used"] in {name.value for name in StrategyName} - {"smart"}  # what worked it, not SMART
    assert "strategy" not in out  # the key the execution-core issue named is strategy_used
    assert out["inputs"]["strategy"] == "smart"  # what was requested
    assert out["selection_reason"]
    assert any(note.startswith("SMART chose") for note in out["notes"])


def test_latency_and_fees_are_applied() -> None:
    """Taker fills pay the taker rate; market-data latency delays the start; a rebate is a negative fee."""
    fast = run(StrategyName.DIRECT)
    slow = run(
        StrategyName.DIRECT, settings=BacktestSettings(market_data_latency_ns=50_000_000, taker_fee=Decimal("-0.0001"))
    )
    assert Decimal(fast["fees"]) > 0
    assert Decimal(slow["fees"]) < 0
    assert slow["start_ns"] - fast["start_ns"] >= 50_000_000


def test_a_parent_on_a_symbol_without_data_never_starts() -> None:
    """No book for the symbol: the result says it never started, with no children."""
    parent = ParentOrder(
        parent_id="T1", symbol="ETHUSDT", side=Side.BUY, qty=Decimal(1),
        config=RoutingConfig(strategy=StrategyName.DIRECT),
    )  # fmt: skip
    result = Backtest(parent).run(RECORDS[:100])
    assert result.outcome.startswith("not started")
    assert result.to_dict()["children"] == []


def test_cli_backtest_json_and_html_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`backtest --json --report` prints the documented fields and writes a self-contained page."""
    report = tmp_path / "report.html"
    argv = [
        "backtest", str(XRP_SAMPLE), "--symbol", "XRPUSDT", "--side", "Sell", "--qty", "20000",
        "--strategy", "sniper", "--time-limit", "3", "--max-slippage", "0.002", "--json", "--report", str(report),
    ]  # fmt: skip
    assert main(argv) == 0
    out = orjson.loads(capsys.readouterr().out)
    for key in (
        "inputs", "strategy_used", "selection_reason", "filled_qty", "fill_rate", "participation", "avg_price",
        "arrival_mid",
        "slippage_bps", "interval_vwap", "vs_vwap_bps", "fees", "shortfall_bps", "child_orders", "duration_s",
        "wall_s", "children", "fills",
    ):  # fmt: skip
        assert key in out, key
    assert set(out["children"][0]) == {"orderLinkId", "type", "tif", "price", "qty", "status", "filled"}
    assert set(out["fills"][0]) == {"execId", "orderLinkId", "price", "qty", "ts_ns", "is_maker"}
    check_invariants(out, Side.SELL)
    page = report.read_text()
    HTMLParser().feed(page)
    assert "<svg" in page and "http://" not in page and "https://" not in page


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--participation-rate", "1.5"], "argument --participation-rate: must be in (0, 1]"),
        (["--time-limit", "-5"], "argument --time-limit: must be >= 0"),
        (["--qty", "0"], "argument --qty: must be positive"),
        (["--fees", "0.1"], "argument --fees: must be MAKER,TAKER"),
        (["--start", "yesterday"], "argument --start: 'yesterday' is neither an ISO-8601 time"),
        (["--latency-ms", "-1"], "argument --latency-ms: must be >= 0"),
    ],
)
def test_cli_rejects_bad_parent_orders_clearly(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad parameter is one line on stderr and exit code 2; nothing runs."""
    argv = ["backtest", str(XRP_SAMPLE), "--symbol", "XRPUSDT", "--side", "Buy", "--qty", "100", "--strategy", "twap"]
    assert main([*argv, *extra]) == 2
    assert message in capsys.readouterr().err
