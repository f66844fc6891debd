"""TCA figures, worked out by hand.

The instrument prints prices with 2 decimals and whole-coin sizes (XRP-like), and the arrival
mid is 62.5 ticks (bid 0.62, ask 0.63): half a tick, 0.625, chosen so that 10_000 / P0 = 16_000
and every expected figure below is exact. Fees are Bybit's sign: paid > 0, rebate < 0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal

import pytest

from engine.clock import NS_PER_S
from engine.commands import SubmitOrder
from engine.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.instrument import Instrument
from engine.orders import ChildOrder, Fill
from engine.parent import ParentOrder, ParentPlan, RoutingConfig, StrategyName
from engine.tape import TapeReading
from engine.tca import NS_PER_DAY, ExecutionReport, PerformanceLog, analyse

D = Decimal
T0 = 1_700_000_000 * NS_PER_S
XRP = Instrument(symbol="XRPUSDT", price_scale=2, qty_scale=0, min_qty_lots=1)
HALF_TICK_MID = D("62.5")  # 0.625


def make_plan(
    side: Side, qty: str = "1000", *, arrival_ticks: Decimal = HALF_TICK_MID, parent_id: str = "P1"
) -> ParentPlan:
    parent = ParentOrder(
        parent_id=parent_id,
        symbol="XRPUSDT",
        side=side,
        qty=D(qty),
        config=RoutingConfig(strategy=StrategyName.TWAP, max_slippage=D("0.05")),
    )
    return parent.plan(XRP, arrival_mid_ticks=arrival_ticks, start_ns=T0)


def child(
    plan: ParentPlan,
    seq: int,
    price_ticks: int,
    qty_lots: int,
    fills: Sequence[tuple[int, int, str, bool, int]] = (),
    *,
    tif: TimeInForce = TimeInForce.GTC,
) -> ChildOrder:
    """A child with fills given as (price_ticks, qty_lots, fee, is_maker, seconds after T0)."""
    command = SubmitOrder(
        client_order_id=f"{plan.parent_id}-{seq}",
        parent_id=plan.parent_id,
        symbol=plan.symbol,
        side=plan.side,
        order_type=OrderType.LIMIT,
        qty_lots=qty_lots,
        price_ticks=price_ticks,
        time_in_force=tif,
    )
    order = ChildOrder(command, T0 + seq * NS_PER_S)
    for n, (price, qty, fee, is_maker, at_s) in enumerate(fills):
        order.fills.append(Fill(f"{order.client_order_id}-x{n}", price, qty, D(fee), is_maker, T0 + at_s * NS_PER_S))
        order.filled_lots += qty
        order.notional += price * qty
    if order.filled_lots == qty_lots:
        order.status = OrderStatus.FILLED
    else:
        order.status = OrderStatus.CANCELLED
    return order


def tape(volume: str, notional: str, at_s: int = 0) -> TapeReading:
    return TapeReading(T0 + at_s * NS_PER_S, D(volume), D(notional), 0)


START = tape("10000", "6200")


def run(
    plan: ParentPlan,
    children: Sequence[ChildOrder],
    *,
    end_reading: TapeReading | None = None,
    end_mid_ticks: Decimal | None = None,
    end_s: int = 60,
    strategy: str = "twap",
) -> ExecutionReport:
    return analyse(
        plan,
        children,
        start_reading=START,
        end_reading=end_reading if end_reading is not None else tape("14000", "8760", end_s),
        end_mid_ticks=end_mid_ticks,
        end_ns=T0 + end_s * NS_PER_S,
        strategy_used=strategy,
        selection_reason="test",
    )


# -- a buy, partially filled, price moved against us --------------------------------------------


def test_buy_partial_fill_with_fees_vwap_and_opportunity_cost() -> None:
    """Buy 1000 at P0 = 0.625; 600 @ 0.63 (taker, fee 0.2268) and 200 @ 0.62 (maker, rebate 0.0124).

    F = 800, notional = 378 + 124 = 502, avg = 0.6275 -> slippage (0.6275-0.625)*16000 = 40 bps.
    Market over the interval: 4000 traded for 2560 -> VWAP 0.64 -> (0.6275-0.64)/0.64 = -195.3125 bps.
    Execution cost 502 - 500 = 2; fees 0.2144; 200 unfilled marked at end mid 0.635: 200*0.01 = 2.
    Shortfall 4.2144 on 625 of paper notional -> 4.2144*16 = 67.4304 bps.
    """
    plan = make_plan(Side.BUY)
    children = [
        child(plan, 1, 63, 600, [(63, 600, "0.2268", False, 5)]),
        child(plan, 2, 62, 400, [(62, 200, "-0.0124", True, 20)]),
        child(plan, 3, 61, 100),  # never filled: counts as a child, not in any figure
    ]
    report = run(plan, children, end_reading=tape("14000", "8760"), end_mid_ticks=D("63.5"))
    assert report.target_qty == 1000
    assert report.filled_qty == 800
    assert report.unfilled_qty == 200
    assert report.fill_rate == D("0.8")
    assert not report.completed
    assert report.arrival_mid == D("0.625")
    assert report.avg_price == D("0.6275")
    assert report.slippage_bps == 40
    assert report.interval_vwap == D("0.64")
    assert report.market_volume == 4000
    assert report.vs_vwap_bps == D("-195.3125")
    assert report.fees == D("0.2144")
    assert report.execution_cost == 2
    assert report.end_mid == D("0.635")
    assert report.opportunity_cost == 2
    assert report.shortfall == D("4.2144")
    assert report.shortfall_bps == D("67.4304")
    assert report.child_orders == 3
    assert report.fills == 2
    assert report.maker_share == D("0.25")
    assert report.taker_share == D("0.75")
    assert report.first_fill_ns == T0 + 5 * NS_PER_S
    assert report.last_fill_ns == T0 + 20 * NS_PER_S
    assert report.duration_s == 60  # not completed: start to the end of the interval


def test_buy_to_dict_is_json_ready_with_decimal_strings() -> None:
    plan = make_plan(Side.BUY)
    children = [
        child(plan, 1, 63, 600, [(63, 600, "0.2268", False, 5)]),
        child(plan, 2, 62, 200, [(62, 200, "-0.0124", True, 20)]),
    ]
    data = run(plan, children, end_mid_ticks=D("63.5")).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["side"] == "Buy"
    assert data["arrival_mid"] == "0.625"
    assert data["end_mid"] == "0.635"
    assert data["avg_price"] == "0.62750000"  # price_scale 2 + 6 decimals
    assert data["slippage_bps"] == "40.0000"
    assert data["vs_vwap_bps"] == "-195.3125"
    assert data["fill_rate"] == "0.800000"
    assert data["maker_share"] == "0.250000"
    assert data["fees"] == "0.2144"
    assert data["shortfall_bps"] == "67.4304"
    assert data["duration_s"] == "60.000"
    assert data["child_orders"] == 2
    assert data["completed"] is False
    floats = [key for key, value in data.items() if isinstance(value, float)]
    assert floats == []


def test_to_dict_names_the_strategy_used() -> None:
    """The execution-core issue named the key ``strategy_used``: what worked the order (SMART's choice)."""
    plan = make_plan(Side.BUY)
    data = run(plan, [child(plan, 1, 63, 1000, [(63, 1000, "0", False, 1)])], strategy="iceberg").to_dict()
    assert data["strategy_used"] == "iceberg"
    assert "strategy" not in data


# -- participation -------------------------------------------------------------------------------


def test_participation_is_our_fills_over_the_market_volume() -> None:
    """800 filled while the market traded 4000: participation 0.2. The parent (1000) is exactly a
    quarter of the volume, the edge of the warning: no warning."""
    plan = make_plan(Side.BUY)
    plan.notes.append("twap: a plan note")
    children = [child(plan, 1, 63, 1000, [(63, 800, "0", False, 5)])]
    report = run(plan, children, end_reading=tape("14000", "8760"), end_mid_ticks=D("63"))
    assert report.market_volume == 4000
    assert report.participation == D("0.2")
    assert report.warnings == ()
    data = report.to_dict()
    assert data["participation"] == "0.200000"
    assert data["notes"] == ["twap: a plan note"]


def test_a_parent_large_against_the_market_volume_is_warned_about() -> None:
    """The market traded 3000: the parent (1000), worked by two children, is a third of it, over the
    quarter. The warning says so, and follows the plan's notes in the JSON."""
    plan = make_plan(Side.BUY)
    plan.notes.append("twap: a plan note")
    children = [
        child(plan, 1, 63, 500, [(63, 300, "0", False, 5)]),
        child(plan, 2, 63, 500, [(63, 300, "0", False, 9)]),
    ]
    report = run(plan, children, end_reading=tape("13000", "7000"), end_mid_ticks=D("63"))
    assert report.participation == D("0.2")  # 600 / 3000: under the quarter, but the parent is not
    assert report.notes == ("twap: a plan note",)
    (warning,) = report.warnings
    assert "33.3 % of the 3000" in warning and "20.0 %" in warning and "no fill model is trustworthy" in warning
    assert report.to_dict()["notes"] == ["twap: a plan note", warning]
    # maker fills above a quarter of the volume warn whatever the children: the tape cannot back them
    heavy = run(plan, [child(plan, 1, 63, 1000, [(63, 1000, "0", True, 5)])], end_reading=tape("12000", "7000"))
    assert heavy.participation == D("0.5")
    assert len(heavy.warnings) == 1 and "maker fills (1000) are 50.0 %" in heavy.warnings[0]


def test_one_child_taking_displayed_liquidity_is_not_warned_about() -> None:
    """A DIRECT IOC filled from the book as shown in a few ms: the market traded nothing meanwhile, but
    its fills do not depend on how the market would have traded, so no warning (it was a false alarm)."""
    plan = make_plan(Side.BUY)
    report = run(plan, [child(plan, 1, 63, 1000, [(63, 1000, "0", False, 5)])], end_reading=START)
    assert report.market_volume == 0 and report.participation is None
    assert report.warnings == ()


def test_fills_while_the_market_traded_nothing_are_warned_about() -> None:
    """No market trades in the interval (the XRPUSDT sample has none): participation is unknown
    (null), and filling anything as maker there is the least trustworthy case of all."""
    plan = make_plan(Side.SELL)
    report = run(plan, [child(plan, 1, 62, 1000, [(62, 400, "0", True, 5)])], end_reading=START)
    assert report.market_volume == 0
    assert report.participation is None
    assert report.to_dict()["participation"] is None
    (warning,) = report.warnings
    assert "the market traded nothing" in warning and "filled 400 as maker" in warning
    assert report.to_dict()["notes"] == [warning]


# -- a sell, completed -------------------------------------------------------------------------


def test_sell_completed_mirrors_the_sign_convention() -> None:
    """Sell 1000 at P0 = 0.625; 600 @ 0.62 (taker, fee 0.2232), 400 @ 0.63 (maker, rebate 0.0252).

    Notional 372 + 252 = 624, avg 0.624: sold below the mid, a cost of 0.001*16000 = +16 bps.
    VWAP 0.64: -(0.624-0.64)/0.64 = +250 bps (worse than the market). Execution cost
    -(624 - 625) = 1, fees 0.198, nothing unfilled so no opportunity cost even though the mid
    moved: shortfall 1.198 -> 1.198*16 = 19.168 bps. Completed at the last fill, 30 s in.
    """
    plan = make_plan(Side.SELL)
    children = [
        child(plan, 1, 62, 600, [(62, 600, "0.2232", False, 3)]),
        child(plan, 2, 63, 400, [(63, 150, "-0.00945", True, 10), (63, 250, "-0.01575", True, 30)]),
    ]
    report = run(plan, children, end_reading=tape("14000", "8760"), end_mid_ticks=D("70"), end_s=90)
    assert report.completed
    assert report.fill_rate == 1
    assert report.avg_price == D("0.624")
    assert report.slippage_bps == 16
    assert report.vs_vwap_bps == 250
    assert report.execution_cost == 1
    assert report.fees == D("0.198")
    assert report.opportunity_cost == 0
    assert report.shortfall == D("1.198")
    assert report.shortfall_bps == D("19.168")
    assert report.maker_share == D("0.4")
    assert report.taker_share == D("0.6")
    assert report.fills == 3
    assert report.duration_s == 30  # completed: start to the last fill, not to end_ns


def test_sell_without_fills_price_moved_our_way() -> None:
    """Nothing sold; the mid rose to 0.645, so not selling saved -(0.645-0.625)*1000 = -20: -320 bps."""
    plan = make_plan(Side.SELL)
    report = run(plan, [child(plan, 1, 64, 1000)], end_mid_ticks=D("64.5"), end_s=300)
    assert report.filled_qty == 0
    assert report.fill_rate == 0
    assert report.avg_price is None
    assert report.slippage_bps is None
    assert report.vs_vwap_bps is None
    assert report.maker_share is None and report.taker_share is None
    assert report.first_fill_ns is None and report.last_fill_ns is None
    assert report.fees == 0
    assert report.execution_cost == 0
    assert report.opportunity_cost == -20
    assert report.shortfall_bps == -320
    assert report.duration_s == 300
    data = report.to_dict()
    assert data["execution_cost"] == "0.000"  # a sell's zero cost is never written "-0.000"
    assert data["avg_price"] is None
    assert data["shortfall_bps"] == "-320.0000"


def test_no_end_mid_leaves_the_shortfall_of_an_unfilled_part_unknown() -> None:
    plan = make_plan(Side.BUY)
    report = run(plan, [child(plan, 1, 63, 500, [(63, 500, "0", False, 1)])], end_mid_ticks=None)
    assert report.execution_cost == D("2.5")
    assert report.opportunity_cost is None
    assert report.shortfall is None
    assert report.shortfall_bps is None
    # filled completely, the end mid is not needed
    full = run(plan, [child(plan, 1, 63, 1000, [(63, 1000, "0", False, 1)])], end_mid_ticks=None)
    assert full.opportunity_cost == 0
    assert full.shortfall_bps == D("0.005") / D("0.625") * 10_000  # = 80


def test_no_market_trades_means_no_vwap() -> None:
    plan = make_plan(Side.BUY)
    report = run(plan, [child(plan, 1, 63, 1000, [(63, 1000, "0", False, 1)])], end_reading=START)
    assert report.interval_vwap is None
    assert report.vs_vwap_bps is None
    assert report.market_volume == 0
    assert report.slippage_bps == 80


def test_buy_and_sell_mirrored_around_the_mid_cost_the_same() -> None:
    """A buy filled d above the mid and a sell filled d below it have the same cost figures."""
    buy_plan, sell_plan = make_plan(Side.BUY, parent_id="B"), make_plan(Side.SELL, parent_id="S")
    buy = run(buy_plan, [child(buy_plan, 1, 64, 700, [(64, 700, "0.1", False, 2)])], end_mid_ticks=D("65"))
    sell = run(sell_plan, [child(sell_plan, 1, 61, 700, [(61, 700, "0.1", False, 2)])], end_mid_ticks=D("60"))
    for name in ("slippage_bps", "execution_cost", "opportunity_cost", "shortfall", "shortfall_bps"):
        assert getattr(buy, name) == getattr(sell, name), name
    assert buy.slippage_bps == D("0.015") * 16000  # 240 bps


def test_half_tick_arrival_mid_is_exact_at_finer_scales() -> None:
    """BTC-like: bid 100.00, ask 100.01 -> 10000.5 ticks = 100.005, kept exactly."""
    btc = Instrument(symbol="XRPUSDT", price_scale=2, qty_scale=3, min_qty_lots=1)
    parent = ParentOrder(
        parent_id="H",
        symbol="XRPUSDT",
        side=Side.BUY,
        qty=D("0.002"),
        config=RoutingConfig(strategy=StrategyName.DIRECT),
    )
    plan = parent.plan(btc, arrival_mid_ticks=D("10000.5"), start_ns=T0)
    report = run(plan, [child(plan, 1, 10001, 2, [(10001, 2, "0.00012", False, 1)])])
    assert report.arrival_mid == D("100.005")
    assert report.avg_price == D("100.01")
    assert report.slippage_bps is not None
    assert abs(report.slippage_bps - D(50) / D("100.005")) < D("1e-25")  # 0.005 / 100.005 * 10_000
    assert report.to_dict()["slippage_bps"] == "0.5000"  # 0.49997500...
    assert report.to_dict()["fees"] == "0.00012"


# -- the performance log ---------------------------------------------------------------------


def report_for(
    strategy: str, *, end_s: int, fill_lots: int, price_ticks: int = 63, parent_id: str = "P"
) -> ExecutionReport:
    plan = make_plan(Side.BUY, parent_id=parent_id)
    fills = [(price_ticks, fill_lots, "0", True, 10)] if fill_lots else []
    return run(
        plan, [child(plan, 1, price_ticks, 1000, fills)], end_mid_ticks=D("62.5"), end_s=end_s, strategy=strategy
    )


def test_performance_summary_per_strategy_over_a_window() -> None:
    day_s = NS_PER_DAY // NS_PER_S
    log = PerformanceLog()
    # TWAP: filled 1000 in 10 s at +80 bps, 500 over 40 s at +80 bps, nothing over 100 s (no slippage)
    log.append(report_for("twap", end_s=40, fill_lots=1000, parent_id="A"))
    log.append(report_for("twap", end_s=40, fill_lots=500, parent_id="B"))
    log.append(report_for("twap", end_s=100, fill_lots=0, parent_id="C"))
    # POV: filled at 0.62 (-80 bps: better than the mid)
    log.append(report_for("pov", end_s=50, fill_lots=1000, price_ticks=62, parent_id="D"))
    # too old for a 1-day window seen from 2 days in
    log.append(report_for("twap", end_s=-day_s, fill_lots=1000, parent_id="E"))
    now_ns = T0 + day_s * NS_PER_S
    summary = log.summary(1, now_ns)
    assert list(summary) == ["pov", "twap"]
    twap = summary["twap"]
    assert twap.count == 3
    assert twap.avg_fill_rate == D("1.5") / 3  # (1 + 0.5 + 0) / 3
    assert twap.avg_execution_time_s == (10 + 40 + 100) / D(3)
    assert twap.avg_slippage_bps == 80  # the unfilled parent has no slippage to average
    assert summary["pov"].avg_slippage_bps == -80
    assert summary["pov"].avg_execution_time_s == 10
    # the window: 3 days back includes the old one; the boundary is inclusive
    assert log.summary(3, now_ns)["twap"].count == 4
    assert log.summary(2, now_ns)["twap"].count == 4  # ended exactly 2 days before now
    early = log.summary(1, T0 - NS_PER_S)  # reports that end after "now" are not in the window
    assert list(early) == ["twap"]
    assert early["twap"].count == 1
    assert log.summary(0, now_ns) == {}


def test_performance_summary_json() -> None:
    log = PerformanceLog()
    log.append(report_for("twap", end_s=40, fill_lots=1000, parent_id="A"))
    log.append(report_for("twap", end_s=40, fill_lots=500, parent_id="B"))
    log.append(report_for("sniper", end_s=5, fill_lots=0, parent_id="C"))
    now_ns = T0 + 3600 * NS_PER_S
    document = json.loads(log.to_json(7, now_ns))
    assert document["days"] == 7
    assert document["now_ns"] == now_ns
    assert document["strategies"] == {
        "sniper": {"count": 1, "avg_fill_rate": "0.000000", "avg_execution_time_s": "5.000", "avg_slippage_bps": None},
        "twap": {
            "count": 2,
            "avg_fill_rate": "0.750000",
            "avg_execution_time_s": "25.000",
            "avg_slippage_bps": "80.0000",
        },
    }
    assert "reports" not in document
    full = json.loads(log.to_json(7, now_ns, include_reports=True))
    assert [item["parent_id"] for item in full["reports"]] == ["A", "B", "C"]
    assert [item["strategy_used"] for item in full["reports"]] == ["twap", "twap", "sniper"]


def test_performance_log_prune_and_bad_window() -> None:
    log = PerformanceLog()
    log.append(report_for("twap", end_s=0, fill_lots=0, parent_id="A"))
    log.append(report_for("twap", end_s=2 * 86_400, fill_lots=0, parent_id="B"))
    assert log.prune(1, T0 + 2 * NS_PER_DAY) == 1
    assert [report.parent_id for report in log.reports] == ["B"]
    with pytest.raises(ValueError, match="days"):
        log.summary(-1, T0)
