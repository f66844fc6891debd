"""The simulated venue refuses only what Bybit would refuse, whatever the start, rules and latency.

A backtest's venue shares the engine's book when there is no market-data latency, and learns the
instrument's rules from that book when no instruments file is given. Once it did not learn them
before the first order arrived, and refused it with "10001 unknown symbol" (the first POV child
on the bundled file, one child of the README's SMART example, and DIRECT, TWAP and VWAP started
four minutes into the demo feed). Children the desk let through are valid for the instrument, so
the venue must accept every one of them: no child may end Rejected.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from engine.book import OrderBook
from engine.clock import NS_PER_MS, NS_PER_S, SimClock
from engine.commands import SubmitOrder
from engine.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.events import BookDelta, TradeApiReplied
from engine.parent import ParentOrder, RoutingConfig, StrategyName, Urgency
from engine.runtime.backtest import Backtest, BacktestSettings
from feeds.bybit.codec import BybitCodec
from feeds.bybit.sim_venue import SimBybit
from feeds.replay import open_records
from tests.conftest import REPLAY_DATA
from tests.strategy_harness import BTC

RECORDS = list(itertools.islice(open_records(REPLAY_DATA / "btcusdt-5min.rec.gz"), 9_000))
FIRST_NS = RECORDS[0][0]


@pytest.mark.parametrize("md_latency_ms", [0, 20])
@pytest.mark.parametrize("with_instruments", [False, True])
@pytest.mark.parametrize("start_s", [0, 17, 40])
@pytest.mark.parametrize("strategy", list(StrategyName))
def test_the_venue_never_refuses_a_child_the_desk_let_through(
    strategy: StrategyName, start_s: int, with_instruments: bool, md_latency_ms: int
) -> None:
    parent = ParentOrder(
        parent_id="V1",
        symbol="BTCUSDT",
        side=Side.BUY if start_s % 2 else Side.SELL,
        qty=Decimal(2),
        config=RoutingConfig(
            strategy=strategy,
            urgency=Urgency.MEDIUM,
            time_limit_s=15,
            max_slippage=Decimal("0.001"),
            participation_rate=Decimal("0.2"),
            chunk_size=Decimal("0.5"),
        ),
    )
    settings = BacktestSettings(
        seed=1,
        start_ns=FIRST_NS + start_s * NS_PER_S if start_s else None,
        market_data_latency_ns=md_latency_ms * NS_PER_MS,
    )
    backtest = Backtest(parent, settings=settings, instruments={"BTCUSDT": BTC} if with_instruments else None)
    out = backtest.run(RECORDS).to_dict()
    assert out["children"], out["outcome"]
    rejected = [child for child in out["children"] if child["status"] == OrderStatus.REJECTED.value]
    assert rejected == [], out["notes"]
    assert not [note for note in out["notes"] if "rejected" in note or "unknown symbol" in note]
    assert Decimal(out["filled_qty"]) > 0


def test_a_venue_sharing_a_book_it_never_saw_a_message_of_learns_its_rules_from_it() -> None:
    """The first order reaches a venue that shares the engine's book before any market event does."""
    book = OrderBook("BTCUSDT", 50, None)  # rules inferred from the snapshot, as without --instruments
    book.apply(snapshot())
    clock = SimClock(1_733_011_200 * NS_PER_S)
    venue = SimBybit({}, order_latency_ns=NS_PER_MS, response_latency_ns=NS_PER_MS, clock=clock)
    venue.share_book(book)
    order = SubmitOrder(
        client_order_id="V1-1",
        parent_id="V1",
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        qty_lots=500,
        price_ticks=9_500_000,
        time_in_force=TimeInForce.GTC,
    )
    venue.send(order)
    frames = venue.pop_due(clock.now_ns() + 2 * NS_PER_MS)
    replies = [event for _, _, raw in frames for event in BybitCodec().parse(raw, 0)]
    assert [(r.ret_code, r.message) for r in replies if isinstance(r, TradeApiReplied)] == [(0, "OK")]


def snapshot() -> BookDelta:
    return BookDelta(
        ts_event_ns=0,
        ts_recv_ns=0,
        symbol="BTCUSDT",
        depth=50,
        is_snapshot=True,
        bids=[("95000.00", "1.000")],
        asks=[("95000.10", "0.200")],
        update_id=1,
        seq=1,
    )
