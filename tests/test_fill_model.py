"""The fill model's invariant: our maker fills are backed by the market, whatever the feed and orders.

Over any interval, maker fills at a price P never exceed what the market traded at or through P
(taker on the other side) plus the liquidity the book showed crossing P as it arrived. The
property test drives the matching engine with random books, trades and orders of every size
(``tests.fill_audit.FillAudit`` checks after every step); the regressions run the bundled data
through the whole backtest with orders far larger than the market, which is where the old rule
("a book moving through our price fills us completely") invented fills.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.commands import CancelOrder, SubmitOrder
from engine.enums import OrderType, Side, TimeInForce
from engine.events import BookDelta, TradePrinted
from engine.instrument import Instrument
from engine.parent import ParentOrder, RoutingConfig, StrategyName
from engine.runtime.backtest import Backtest, BacktestSettings
from engine.sim import Fees, Report
from feeds.replay import open_records
from tests.fill_audit import FillAudit

SYM = "BTCUSDT"
INST = Instrument(symbol=SYM, price_scale=1, qty_scale=0, price_step_ticks=5, max_qty_lots=10**9)
FEES = Fees(maker=Decimal("0.0002"), taker=Decimal("0.00055"))
DATA = Path(__file__).resolve().parent.parent / "replay_data"

PRICES = st.integers(min_value=196, max_value=204).map(lambda n: n * 5)  # 98.0 .. 102.0 on the 0.5 grid
SIZES = st.integers(min_value=0, max_value=12)
LEVELS = st.lists(st.tuples(PRICES, SIZES), max_size=5)
SIDES = st.sampled_from([Side.BUY, Side.SELL])
OP = st.one_of(
    st.tuples(st.just("book"), LEVELS, LEVELS, st.booleans()),
    st.tuples(st.just("trade"), PRICES, st.integers(min_value=1, max_value=15), SIDES),
    st.tuples(
        st.just("order"),
        SIDES,
        PRICES,
        st.sampled_from([1, 3, 10, 1000, 10**6]),  # up to far more than the market ever shows
        st.sampled_from([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.POST_ONLY, TimeInForce.IOC]),
    ),
    st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=20)),
)


def _text(ticks: int) -> str:
    return INST.format_price(ticks)


def _book(u: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]], snapshot: bool) -> BookDelta:
    if snapshot:  # a snapshot lists positive sizes only
        bids, asks = [(p, q) for p, q in bids if q], [(p, q) for p, q in asks if q]
    return BookDelta(
        ts_event_ns=u,
        ts_recv_ns=u,
        symbol=SYM,
        depth=50,
        is_snapshot=snapshot,
        bids=[(_text(p), str(q)) for p, q in dict(bids).items()],
        asks=[(_text(p), str(q)) for p, q in dict(asks).items()],
        update_id=u,
        seq=u,
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(OP, min_size=1, max_size=60))
def test_maker_fills_never_exceed_what_the_market_traded_or_showed_crossing(ops: list[tuple[Any, ...]]) -> None:
    sim = FillAudit({SYM: INST}, FEES)
    sim.on_book(_book(1, [(995, 5), (990, 6)], [(1000, 3), (1005, 5)], True), 0)
    u, ids = 1, []
    for now, op in enumerate(ops, start=1):
        match op:
            case ("book", bids, asks, snapshot):
                u += 1
                sim.on_book(_book(u, list(bids), list(asks), bool(snapshot)), now)
            case ("trade", price, qty, taker):
                trade = TradePrinted(
                    ts_event_ns=now,
                    ts_recv_ns=now,
                    symbol=SYM,
                    trade_id=f"t{now}",
                    price=Decimal(_text(price)),
                    qty=Decimal(qty),
                    taker_side=taker,
                )
                sim.on_trade(trade, now)
            case ("order", side, price, qty, tif):
                coid = f"o{now}"
                ids.append(coid)
                submit = SubmitOrder(
                    client_order_id=coid,
                    parent_id="p",
                    symbol=SYM,
                    side=side,
                    order_type=OrderType.LIMIT,
                    qty_lots=qty,
                    price_ticks=price,
                    time_in_force=tif,
                )
                sim.submit(submit, now)
            case ("cancel", index):
                if ids:
                    sim.cancel(CancelOrder(client_order_id=ids[index % len(ids)], symbol=SYM), now)
        sim.check()


def test_the_audit_catches_a_model_that_fills_a_crossed_order_completely() -> None:
    """The check can fail: the old rule (fill everything once the book moves through us) breaks it."""

    class OldRule(FillAudit):
        def _fill_crossed(self, symbol: str, now_ns: int) -> list[Report]:
            reports: list[Report] = []
            for order in list(self._resting[symbol]):
                best = self._best_available(symbol, order.side.opposite)
                if best is not None and order.side.sign * ((order.price or 0) - best) > 0:
                    self._fill(order, order.price or 0, order.leaves, True, now_ns, self._next_seq(), reports)
            return self._after_fills(symbol, [o for o in self._resting[symbol] if not o.leaves], now_ns, reports)

    sim = OldRule({SYM: INST}, FEES)
    sim.on_book(_book(1, [(995, 5)], [(1000, 3)], True), 0)
    sim.submit(
        SubmitOrder(
            client_order_id="big",
            parent_id="p",
            symbol=SYM,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            qty_lots=1000,
            price_ticks=995,
        ),
        1,
    )
    try:
        sim.on_book(_book(2, [(995, 0)], [(1000, 0), (990, 1)], False), 2)
    except AssertionError as failure:
        assert "exceed the market's offer" in str(failure)
    else:
        raise AssertionError("the audit let 1000 lots fill against 1 lot of crossing liquidity")


# -- huge orders on the bundled data, through the whole backtest ------------------------------------


def _audited_backtest(path: Path, symbol: str, side: Side, qty: str, **config: Any) -> tuple[dict[str, Any], FillAudit]:
    parent = ParentOrder(
        parent_id="BIG",
        symbol=symbol,
        side=side,
        qty=Decimal(qty),
        config=RoutingConfig(**config),
    )
    backtest = Backtest(parent, settings=BacktestSettings())
    audit = FillAudit(backtest.venue.matching.instruments, backtest.venue.matching.fees)
    backtest.venue.matching = audit
    backtest.venue.instruments = audit.instruments
    result = backtest.run(open_records(path))
    return result.to_dict(), audit


def test_a_huge_iceberg_on_the_bundled_btcusdt_fills_only_what_the_market_offered() -> None:
    """Buy 1e6 BTC as an iceberg of 1e5: once it filled all 1e6 as maker in 86 s, with 89 BTC traded."""
    out, audit = _audited_backtest(
        DATA / "btcusdt-5min.rec.gz",
        SYM,
        Side.BUY,
        "1000000",
        strategy=StrategyName.ICEBERG,
        chunk_size=Decimal(100000),
        time_limit_s=240,
    )
    assert audit.checks > 0 and audit.maker_filled > 0
    assert Decimal(out["filled_qty"]) < 1_000_000
    assert out["outcome"] == "partially filled"
    offered = sum(offer.bound for offer in audit.offers.values())
    assert audit.maker_filled <= offered


def test_a_twap_of_1e12_btc_fills_only_what_the_market_offered() -> None:
    """TWAP with --qty 1e12 once "filled" 1e12; now its resting slices fill only what the market backs."""
    out, audit = _audited_backtest(
        DATA / "btcusdt-5min.rec.gz", SYM, Side.BUY, "1e12", strategy=StrategyName.TWAP, time_limit_s=60
    )
    assert audit.maker_filled > 0 and audit.checks > 0
    assert Decimal(out["filled_qty"]) < 10_000
    assert any(note.startswith("warning:") for note in out["notes"])


def test_an_iceberg_sell_on_the_xrp_sample_without_trades_fills_only_on_bids_crossing_it() -> None:
    """The XRPUSDT sample has no trades: every maker fill must be backed by bids shown above our ask."""
    out, audit = _audited_backtest(
        DATA / "xrpusdt-ob500.data.zip",
        "XRPUSDT",
        Side.SELL,
        "20000",
        strategy=StrategyName.ICEBERG,
        time_limit_s=4,
        max_slippage=Decimal("0.002"),
    )
    assert all(offer.traded == 0 for offer in audit.offers.values())
    assert audit.maker_filled <= sum(offer.crossing for offer in audit.offers.values())
    assert out["market_volume"] == "0"
