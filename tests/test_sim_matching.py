"""The simulated matching engine: order types, book walking, consumed liquidity, the queue model.

Books are built by hand from ``BookDelta`` snapshots and deltas with string levels. Prices in the
tests read as decimal strings and are turned into ticks with the instrument (price scale 1, so
``"100.0"`` is 1000 ticks; order prices on a 0.5 grid); sizes are whole lots (qty scale 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec
import pytest

from engine.commands import AmendOrder, CancelAllOrders, CancelOrder, SubmitOrder
from engine.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.events import BookDelta, TradePrinted
from engine.instrument import Instrument
from engine.sim import UNKNOWN_QUEUE, Accepted, Fees, Filled, MatchingEngine, Refused, Report, StatusChanged

SYM = "BTCUSDT"
INST = Instrument(symbol=SYM, price_scale=1, qty_scale=0, price_step_ticks=5, max_qty_lots=1000)
FINE = Instrument(symbol="ETHUSDT", price_scale=2, qty_scale=3, qty_step_lots=10, min_notional=Decimal(5))
FEES = Fees(maker=Decimal("0.0002"), taker=Decimal("0.00055"))
Levels = Sequence[tuple[str, str]]

BIDS: Levels = (("99.5", "5"), ("98.5", "6"))
ASKS: Levels = (("100.0", "3"), ("100.5", "5"), ("101.0", "10"))
S, F = OrderStatus, OrderStatus.FILLED


def px(text: str) -> int:
    return INST.ticks(text)


def book(u: int, *, bids: Levels = (), asks: Levels = (), snapshot: bool = False, symbol: str = SYM) -> BookDelta:
    return BookDelta(
        ts_event_ns=u,
        ts_recv_ns=u,
        symbol=symbol,
        depth=50,
        is_snapshot=snapshot,
        bids=list(bids),
        asks=list(asks),
        update_id=u,
        seq=u,
    )


def trade(price: str, qty: str, taker: Side, *, symbol: str = SYM) -> TradePrinted:
    return TradePrinted(
        ts_event_ns=0,
        ts_recv_ns=0,
        symbol=symbol,
        trade_id="t",
        price=Decimal(price),
        qty=Decimal(qty),
        taker_side=taker,
    )


def order(
    coid: str,
    side: Side,
    qty: int,
    price: str | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    *,
    symbol: str = SYM,
    instrument: Instrument = INST,
) -> SubmitOrder:
    return SubmitOrder(
        client_order_id=coid,
        parent_id="p",
        symbol=symbol,
        side=side,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        qty_lots=qty,
        price_ticks=None if price is None else instrument.ticks(price),
        time_in_force=tif,
    )


def engine(*, bids: Levels = BIDS, asks: Levels = ASKS, fees: Fees = FEES) -> MatchingEngine:
    sim = MatchingEngine({SYM: INST, "ETHUSDT": FINE}, fees)
    sim.on_book(book(1, bids=bids, asks=asks, snapshot=True), 0)
    return sim


def fills(reports: list[Report]) -> list[tuple[int, int, bool]]:
    """(price ticks, lots, is_maker) of every fill."""
    return [(r.price_ticks, r.qty_lots, r.is_maker) for r in reports if isinstance(r, Filled)]


def last_status(reports: list[Report]) -> StatusChanged:
    changes = [r for r in reports if isinstance(r, StatusChanged)]
    assert changes, reports
    return changes[-1]


def refusal(reports: list[Report]) -> tuple[int, str]:
    assert len(reports) == 1 and isinstance(reports[0], Refused), reports
    return reports[0].code, reports[0].message


# -- aggressive orders --------------------------------------------------------------------------


def test_market_buy_walks_levels_with_partial_fills_and_exact_taker_fees() -> None:
    """A market buy of 10 takes 3 @ 100.0, 5 @ 100.5 and 2 of the 10 @ 101.0, fees exact per fill."""
    sim = engine()
    reports = sim.submit(order("m1", Side.BUY, 10), 7)
    assert isinstance(reports[0], Accepted)
    assert fills(reports) == [(px("100.0"), 3, False), (px("100.5"), 5, False), (px("101.0"), 2, False)]
    fees = [r.fee for r in reports if isinstance(r, Filled)]
    assert fees == [Decimal("0.165"), Decimal("0.276375"), Decimal("0.1111")]
    assert len({r.seq for r in reports if isinstance(r, Filled)}) == 1  # made together
    status = last_status(reports)
    assert status.status is F and status.order.filled_lots == 10 and status.order.leaves_lots == 0
    assert status.order.fees == Decimal("0.552475")
    assert status.order.notional == 3 * 1000 + 5 * 1005 + 2 * 1010
    assert status.order.time_in_force is TimeInForce.IOC
    assert sim.open_orders() == []


def test_market_order_never_walks_beyond_the_book() -> None:
    """A market buy larger than the whole ask side fills what is there; the rest is cancelled."""
    sim = engine()
    reports = sim.submit(order("m1", Side.BUY, 25), 0)
    assert sum(lots for _, lots, _ in fills(reports)) == 18
    status = last_status(reports)
    assert status.status is S.CANCELLED and status.order.filled_lots == 18
    assert status.reject_reason == "EC_NoImmediateQtyToFill"


def test_market_sell_walks_bids() -> None:
    """A market sell takes the bids from the best down."""
    reports = engine().submit(order("m1", Side.SELL, 7), 0)
    assert fills(reports) == [(px("99.5"), 5, False), (px("98.5"), 2, False)]


def test_limit_gtc_takes_what_crosses_and_rests_the_rest() -> None:
    """A GTC buy of 5 at 100.0 takes the 3 asks there and rests 2 at 100.0 (nothing bid there yet)."""
    sim = engine()
    reports = sim.submit(order("g1", Side.BUY, 5, "100.0"), 0)
    assert fills(reports) == [(px("100.0"), 3, False)]
    status = last_status(reports)
    assert status.status is S.PARTIALLY_FILLED and status.order.leaves_lots == 2
    assert sim.queue_ahead("g1") == 0
    assert [o.client_order_id for o in sim.open_orders(SYM)] == ["g1"]


def test_limit_that_does_not_cross_rests_behind_the_size_at_its_price() -> None:
    """A GTC buy at the best bid rests New behind the 5 lots already there."""
    sim = engine()
    reports = sim.submit(order("g1", Side.BUY, 2, "99.5"), 0)
    assert fills(reports) == []
    assert last_status(reports).status is S.NEW
    assert sim.queue_ahead("g1") == 5


def test_ioc_remainder_is_cancelled_with_the_fills_kept() -> None:
    """IOC buy 5 @ 100.0: 3 fill, 2 are cancelled; the order closes Cancelled with 3 filled."""
    sim = engine()
    reports = sim.submit(order("i1", Side.BUY, 5, "100.0", TimeInForce.IOC), 0)
    assert fills(reports) == [(px("100.0"), 3, False)]
    status = last_status(reports)
    assert status.status is S.CANCELLED and status.order.filled_lots == 3 and status.order.leaves_lots == 0
    assert status.reject_reason == "EC_NoImmediateQtyToFill"
    assert sim.open_orders() == []


def test_fok_fills_all_or_nothing() -> None:
    """FOK 9 within 100.5 (8 there): nothing fills, nothing is consumed; FOK 8 fills completely."""
    sim = engine()
    reports = sim.submit(order("f1", Side.BUY, 9, "100.5", TimeInForce.FOK), 0)
    assert fills(reports) == []
    status = last_status(reports)
    assert status.status is S.CANCELLED and status.reject_reason == "EC_CancelForNoFullFill"
    assert sim.consumed(SYM, Side.SELL, px("100.0")) == 0
    reports = sim.submit(order("f2", Side.BUY, 8, "100.5", TimeInForce.FOK), 0)
    assert fills(reports) == [(px("100.0"), 3, False), (px("100.5"), 5, False)]
    assert last_status(reports).status is F


def test_post_only_that_would_cross_is_cancelled_else_rests() -> None:
    """PostOnly buy at the best ask is cancelled (EC_PostOnlyWillTakeLiquidity); below it, it rests."""
    sim = engine()
    reports = sim.submit(order("p1", Side.BUY, 1, "100.0", TimeInForce.POST_ONLY), 0)
    assert fills(reports) == []
    status = last_status(reports)
    assert status.status is S.CANCELLED and status.reject_reason == "EC_PostOnlyWillTakeLiquidity"
    reports = sim.submit(order("p2", Side.SELL, 1, "100.0", TimeInForce.POST_ONLY), 0)
    assert last_status(reports).status is S.NEW and sim.queue_ahead("p2") == 3


# -- consumed liquidity ---------------------------------------------------------------------------


def test_consumed_liquidity_stays_gone_while_its_level_shows_it() -> None:
    """Lots we took stay unavailable: a level that grows or is re-stated does not give them back."""
    sim = engine()
    sim.submit(order("a", Side.BUY, 2, "100.0", TimeInForce.IOC), 0)
    assert sim.consumed(SYM, Side.SELL, px("100.0")) == 2
    assert sim.available(SYM, Side.SELL, px("100.0")) == 1
    reports = sim.submit(order("b", Side.BUY, 3, "100.5", TimeInForce.IOC), 0)
    assert fills(reports) == [(px("100.0"), 1, False), (px("100.5"), 2, False)]
    sim.on_book(book(2, asks=[("101.0", "9")]), 0)  # another level: 100.0 and 100.5 stay consumed
    reports = sim.submit(order("c", Side.BUY, 4, "100.5", TimeInForce.IOC), 0)
    assert fills(reports) == [(px("100.5"), 3, False)]
    sim.on_book(book(3, asks=[("100.0", "3")]), 0)  # re-stated at the same size: still ours
    assert sim.consumed(SYM, Side.SELL, px("100.0")) == 3
    sim.on_book(book(4, asks=[("100.0", "5")]), 0)  # it grows by 2: only the 2 new lots are there
    reports = sim.submit(order("d", Side.BUY, 4, "100.5", TimeInForce.IOC), 0)
    assert fills(reports) == [(px("100.0"), 2, False)]


def test_a_level_that_shrinks_below_what_we_took_caps_it_and_a_deleted_level_forgets_it() -> None:
    """At most the level's new size of our lots can still be in it; a level that is gone holds none."""
    sim = engine()
    sim.submit(order("a", Side.BUY, 8, "100.5", TimeInForce.IOC), 0)  # takes 3 @ 100.0 and 5 @ 100.5
    sim.on_book(book(2, asks=[("100.5", "2")]), 0)
    assert sim.consumed(SYM, Side.SELL, px("100.5")) == 2
    assert sim.available(SYM, Side.SELL, px("100.5")) == 0
    sim.on_book(book(3, asks=[("100.5", "4")]), 0)  # 2 new lots behind what we took
    assert sim.available(SYM, Side.SELL, px("100.5")) == 2
    sim.on_book(book(4, asks=[("100.0", "0")]), 0)
    assert sim.consumed(SYM, Side.SELL, px("100.0")) == 0
    sim.on_book(book(5, asks=[("100.0", "1")]), 0)
    assert sim.available(SYM, Side.SELL, px("100.0")) == 1


def test_a_snapshot_caps_every_consumed_level_at_its_size() -> None:
    """A snapshot is one more book message: levels it omits are gone, the others keep our lots."""
    sim = engine()
    sim.submit(order("a", Side.BUY, 8), 0)  # market: 3 @ 100.0, 5 @ 100.5
    assert sim.available(SYM, Side.SELL, px("100.5")) == 0
    sim.on_book(book(2, bids=BIDS, asks=[("100.5", "7"), ("101.0", "10")], snapshot=True), 0)
    assert sim.consumed(SYM, Side.SELL, px("100.0")) == 0
    assert sim.available(SYM, Side.SELL, px("100.5")) == 2


def test_post_only_checks_against_the_best_available_price() -> None:
    """With the 100.0 asks consumed by us, a PostOnly buy at 100.0 no longer crosses and rests."""
    sim = engine()
    sim.submit(order("a", Side.BUY, 3, "100.0", TimeInForce.IOC), 0)
    reports = sim.submit(order("p", Side.BUY, 1, "100.0", TimeInForce.POST_ONLY), 0)
    assert last_status(reports).status is S.NEW


def test_our_taker_moves_our_own_resting_order_up_the_queue() -> None:
    """Taking 2 of the 5 asks at 100.5 ahead of our resting sell there leaves 3 ahead of it."""
    sim = engine()
    sim.submit(order("s", Side.SELL, 1, "100.5"), 0)
    assert sim.queue_ahead("s") == 5
    sim.submit(order("m", Side.BUY, 5), 0)  # 3 @ 100.0, 2 @ 100.5
    assert sim.queue_ahead("s") == 3


# -- queue position -------------------------------------------------------------------------------


def test_resting_buy_behind_five_lots_fills_only_once_trades_clear_the_queue() -> None:
    """Behind 5: a 3-lot sell trade fills nothing (2 left ahead); a further 4-lot trade fills 2, as maker."""
    sim = engine()
    sim.submit(order("q", Side.BUY, 3, "99.5"), 0)
    assert sim.on_trade(trade("99.5", "3", Side.SELL), 1) == []
    assert sim.queue_ahead("q") == 2
    reports = sim.on_trade(trade("99.5", "4", Side.SELL), 2)
    assert fills(reports) == [(px("99.5"), 2, True)]
    fill = next(r for r in reports if isinstance(r, Filled))
    assert fill.fee == Decimal("0.0398") and fill.fee_rate == Decimal("0.0002")  # 2 * 99.5 * 0.0002
    assert fill.order.leaves_lots == 1 and fill.ts_ns == 2
    status = last_status(reports)
    assert status.status is S.PARTIALLY_FILLED and sim.queue_ahead("q") == 0


def test_trades_by_takers_on_our_side_or_at_other_prices_do_not_move_the_queue() -> None:
    """A taker Buy at our bid price, a sell trade above our bid and block/RPI trades change nothing."""
    sim = engine()
    sim.submit(order("q", Side.BUY, 3, "99.5"), 0)
    assert sim.on_trade(trade("99.5", "9", Side.BUY), 0) == []
    assert sim.on_trade(trade("100.0", "9", Side.SELL), 0) == []
    block = trade("99.5", "9", Side.SELL)
    assert sim.on_trade(msgspec.structs.replace(block, is_block_trade=True), 0) == []
    assert sim.on_trade(msgspec.structs.replace(block, is_rpi=True), 0) == []
    assert sim.queue_ahead("q") == 5


def test_size_decrease_caps_the_queue_and_increase_does_not_move_it() -> None:
    """Level 5 -> 8 keeps 5 ahead (newcomers queue behind); 8 -> 3 caps it at 3; a 4-lot trade then fills 1."""
    sim = engine()
    sim.submit(order("q", Side.BUY, 3, "99.5"), 0)
    sim.on_book(book(2, bids=[("99.5", "8")]), 0)
    assert sim.queue_ahead("q") == 5
    sim.on_book(book(3, bids=[("99.5", "3")]), 0)
    assert sim.queue_ahead("q") == 3
    sim.on_book(book(4, bids=[("99.5", "4")]), 0)
    assert sim.queue_ahead("q") == 3
    assert fills(sim.on_trade(trade("99.5", "4", Side.SELL), 0)) == [(px("99.5"), 1, True)]


def test_book_message_without_our_level_leaves_the_queue_alone() -> None:
    """A delta on other levels does not touch the queue, even if the book then holds less at our price."""
    sim = engine()
    sim.submit(order("q", Side.BUY, 3, "99.5"), 0)
    sim.on_trade(trade("99.5", "2", Side.SELL), 0)
    sim.on_book(book(2, bids=[("98.5", "1")]), 0)
    assert sim.queue_ahead("q") == 3


def test_trade_through_our_price_fills_up_to_the_trade_qty() -> None:
    """A taker sell at 98.5 went through our 99.5 bid: we fill 2 (the trade) then the last 3, at 99.5."""
    sim = engine()
    sim.submit(order("q", Side.BUY, 5, "99.5"), 0)
    reports = sim.on_trade(trade("98.5", "2", Side.SELL), 0)
    assert fills(reports) == [(px("99.5"), 2, True)]
    assert sim.queue_ahead("q") == 0
    reports = sim.on_trade(trade("98.0", "10", Side.SELL), 0)
    assert fills(reports) == [(px("99.5"), 3, True)]
    assert last_status(reports).status is F and sim.open_orders() == []


def test_book_moving_through_our_price_fills_only_the_crossing_size_and_touching_fills_nothing() -> None:
    """Best ask == our bid fills nothing; asks below our bid fill us up to their size, at our price, as maker."""
    sim = engine()
    sim.submit(order("q", Side.BUY, 5, "99.5"), 0)
    assert sim.on_book(book(2, bids=[("99.5", "0")], asks=[("99.5", "2")]), 0) == []
    assert sim.queue_ahead("q") == 0  # our level is empty: nothing is ahead of us any more
    reports = sim.on_book(book(3, asks=[("99.5", "0"), ("99.0", "1")]), 5)
    assert fills(reports) == [(px("99.5"), 1, True)]
    status = last_status(reports)
    assert status.status is S.PARTIALLY_FILLED and status.ts_ns == 5
    assert sim.consumed(SYM, Side.SELL, px("99.0")) == 1  # the crossing lots are ours now
    assert fills(sim.on_book(book(4, asks=[("99.0", "1")]), 6)) == []  # re-stated: the same lot, not a new one
    assert fills(sim.on_book(book(5, asks=[("99.0", "3")]), 7)) == [(px("99.5"), 2, True)]  # 2 new lots
    reports = sim.on_book(book(6, asks=[("99.0", "9")]), 8)
    assert fills(reports) == [(px("99.5"), 2, True)]  # 6 new lots, capped by the 2 we still need
    assert last_status(reports).status is F


def test_a_crossed_sell_fills_up_to_the_bids_above_it() -> None:
    """A resting sell of 4 at 100.5 fills 1 when a 1-lot bid shows at 101.0, the rest stays open."""
    sim = engine()
    sim.submit(order("s", Side.SELL, 4, "100.5"), 0)
    delta = book(2, bids=[("101.0", "1")], asks=[("100.0", "0"), ("100.5", "0"), ("101.0", "0"), ("101.5", "3")])
    assert fills(sim.on_book(delta, 0)) == [(px("100.5"), 1, True)]
    assert sim.order("s") is not None and sim.order("s").leaves_lots == 3  # type: ignore[union-attr]


def test_one_trade_does_not_fill_two_of_our_orders_with_the_same_lots() -> None:
    """Two buys of 3 behind the same 5 lots: an 8-lot trade fills the first 3 only; the next 2 lots go to the second."""
    sim = engine()
    sim.submit(order("a", Side.BUY, 3, "99.5"), 0)
    sim.submit(order("b", Side.BUY, 3, "99.5"), 0)
    reports = sim.on_trade(trade("99.5", "8", Side.SELL), 0)
    assert [(r.order.client_order_id, r.qty_lots) for r in reports if isinstance(r, Filled)] == [("a", 3)]
    assert sim.queue_ahead("b") == 0
    reports = sim.on_trade(trade("99.5", "2", Side.SELL), 0)
    assert [(r.order.client_order_id, r.qty_lots) for r in reports if isinstance(r, Filled)] == [("b", 2)]


def test_a_trade_serves_better_prices_first() -> None:
    """A 4-lot sell trade at 99.0 fills our 99.5 bid (it went through it) before our 99.0 bid (at its price)."""
    sim = engine()
    sim.submit(order("low", Side.BUY, 3, "99.0"), 0)  # no level at 99.0: nothing ahead
    sim.submit(order("high", Side.BUY, 3, "99.5"), 0)
    reports = sim.on_trade(trade("99.0", "4", Side.SELL), 0)
    assert [(r.order.client_order_id, r.qty_lots) for r in reports if isinstance(r, Filled)] == [
        ("high", 3),
        ("low", 1),
    ]


def test_order_resting_before_the_book_is_synced_waits_for_the_snapshot_to_know_its_queue() -> None:
    """Without a book the queue is unknown (no fill from trades at our price); the snapshot caps it."""
    sim = MatchingEngine({SYM: INST}, FEES)
    reports = sim.submit(order("q", Side.BUY, 2, "99.5"), 0)
    assert last_status(reports).status is S.NEW and sim.queue_ahead("q") == UNKNOWN_QUEUE
    assert sim.on_trade(trade("99.5", "50", Side.SELL), 0) == []
    sim.on_book(book(1, bids=BIDS, asks=ASKS, snapshot=True), 0)
    assert sim.queue_ahead("q") == 5


def test_market_order_without_a_book_is_cancelled_unfilled() -> None:
    """No synced book, nothing to take: a market order closes Cancelled with nothing filled."""
    sim = MatchingEngine({SYM: INST}, FEES)
    status = last_status(sim.submit(order("m", Side.BUY, 1), 0))
    assert status.status is S.CANCELLED and status.order.filled_lots == 0


# -- amend ------------------------------------------------------------------------------------------


def test_amend_qty_down_keeps_the_queue_position() -> None:
    """After a trade leaves 2 ahead, cutting the qty from 5 to 4 still leaves 2 ahead."""
    sim = engine()
    sim.submit(order("q", Side.BUY, 5, "99.5"), 0)
    sim.on_trade(trade("99.5", "3", Side.SELL), 0)
    reports = sim.amend(AmendOrder(client_order_id="q", symbol=SYM, qty_lots=4), 9)
    assert isinstance(reports[0], Accepted) and reports[0].order.qty_lots == 5
    status = last_status(reports)
    assert status.status is S.NEW and status.order.qty_lots == 4 and status.order.updated_ns == 9
    assert sim.queue_ahead("q") == 2


def test_amend_qty_up_requeues_behind_the_current_size() -> None:
    """Raising the qty loses the place: back behind the 5 the book shows at the price."""
    sim = engine()
    sim.submit(order("q", Side.BUY, 5, "99.5"), 0)
    sim.on_trade(trade("99.5", "3", Side.SELL), 0)
    sim.amend(AmendOrder(client_order_id="q", symbol=SYM, qty_lots=6), 0)
    assert sim.queue_ahead("q") == 5


def test_amend_price_requeues_at_the_new_price_and_goes_behind_our_other_orders() -> None:
    """A re-priced order queues behind the size at its new price and after our orders already there."""
    sim = engine()
    sim.submit(order("a", Side.BUY, 1, "98.5"), 0)
    sim.submit(order("b", Side.BUY, 1, "99.5"), 0)
    sim.amend(AmendOrder(client_order_id="b", symbol=SYM, price_ticks=px("98.5")), 0)
    assert sim.queue_ahead("b") == 6
    assert [o.client_order_id for o in sim.open_orders(SYM)] == ["a", "b"]
    assert sim.open_orders(SYM)[1].price_ticks == px("98.5")


def test_amend_to_a_crossing_price_takes_liquidity_first() -> None:
    """A resting buy re-priced to 100.0 takes the 3 asks there as taker and rests the rest at 100.0."""
    sim = engine()
    sim.submit(order("q", Side.BUY, 5, "99.5"), 0)
    reports = sim.amend(AmendOrder(client_order_id="q", symbol=SYM, price_ticks=px("100.0")), 0)
    assert isinstance(reports[0], Accepted)
    assert fills(reports) == [(px("100.0"), 3, False)]
    status = last_status(reports)
    assert status.status is S.PARTIALLY_FILLED and status.order.leaves_lots == 2
    assert sim.queue_ahead("q") == 0


def test_post_only_amended_to_cross_is_cancelled() -> None:
    """A PostOnly re-priced through the ask is cancelled rather than take liquidity."""
    sim = engine()
    sim.submit(order("p", Side.BUY, 1, "99.5", TimeInForce.POST_ONLY), 0)
    reports = sim.amend(AmendOrder(client_order_id="p", symbol=SYM, price_ticks=px("100.5")), 0)
    assert fills(reports) == []
    status = last_status(reports)
    assert status.status is S.CANCELLED and status.reject_reason == "EC_PostOnlyWillTakeLiquidity"


def test_amend_refusals() -> None:
    """qty <= filled: 110064; unknown or closed order: 110001; no change or off-grid: 10001."""
    sim = engine()
    sim.submit(order("q", Side.BUY, 5, "100.0"), 0)  # 3 filled, 2 resting
    assert refusal(sim.amend(AmendOrder(client_order_id="q", symbol=SYM, qty_lots=3), 0))[0] == 110064
    assert refusal(sim.amend(AmendOrder(client_order_id="q", symbol=SYM, qty_lots=5), 0))[0] == 10001
    assert refusal(sim.amend(AmendOrder(client_order_id="q", symbol=SYM, price_ticks=1003), 0))[0] == 10001
    assert refusal(sim.amend(AmendOrder(client_order_id="nope", symbol=SYM, qty_lots=3), 0)) == (
        110001,
        "order does not exist",
    )
    assert refusal(sim.amend(AmendOrder(client_order_id="q", symbol="ETHUSDT", qty_lots=9), 0))[0] == 110001
    sim.cancel(CancelOrder(client_order_id="q", symbol=SYM), 0)
    assert refusal(sim.amend(AmendOrder(client_order_id="q", symbol=SYM, qty_lots=9), 0))[0] == 110001
    refused = sim.amend(AmendOrder(client_order_id="q", symbol=SYM, qty_lots=9), 0)[0]
    assert isinstance(refused, Refused) and refused.order is not None and refused.order.status is S.CANCELLED


# -- cancel -----------------------------------------------------------------------------------------


def test_cancel_closes_the_order_and_a_second_cancel_is_refused() -> None:
    """Cancel: accepted, then Cancelled by user with the fills kept; again: 110001."""
    sim = engine()
    sim.submit(order("q", Side.BUY, 5, "100.0"), 0)
    reports = sim.cancel(CancelOrder(client_order_id="q", symbol=SYM), 3)
    assert isinstance(reports[0], Accepted)
    status = last_status(reports)
    assert (status.status, status.cancel_type, status.reject_reason) == (
        S.CANCELLED,
        "CancelByUser",
        "EC_PerCancelRequest",
    )
    assert status.order.filled_lots == 3 and status.order.leaves_lots == 0
    assert sim.open_orders() == [] and sim.queue_ahead("q") is None
    assert refusal(sim.cancel(CancelOrder(client_order_id="q", symbol=SYM), 4))[0] == 110001
    assert sim.on_trade(trade("100.0", "50", Side.SELL), 5) == []


def test_cancel_all_cancels_the_symbols_open_orders_oldest_first() -> None:
    """Two resting orders of the symbol are cancelled in creation order; the other symbol's order stays."""
    sim = engine()
    sim.on_book(book(1, bids=[("2000.00", "1.000")], asks=[("2001.00", "1.000")], snapshot=True, symbol="ETHUSDT"), 0)
    sim.submit(order("a", Side.BUY, 1, "99.5"), 0)
    sim.submit(order("b", Side.SELL, 1, "101.0"), 0)
    sim.submit(order("e", Side.BUY, 10, "1999.00", symbol="ETHUSDT", instrument=FINE), 0)
    sim.amend(AmendOrder(client_order_id="a", symbol=SYM, qty_lots=2), 0)  # re-queued, still the oldest
    reports = sim.cancel_all(CancelAllOrders(symbol=SYM), 0)
    assert [(r.order.client_order_id, r.status) for r in reports if isinstance(r, StatusChanged)] == [
        ("a", S.CANCELLED),
        ("b", S.CANCELLED),
    ]
    assert [o.client_order_id for o in sim.open_orders()] == ["e"]
    assert sim.cancel_all(CancelAllOrders(symbol=SYM), 0) == []


# -- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmd", "code"),
    [
        (order("x", Side.BUY, 1, "99.5", symbol="DOGEUSDT"), 10001),
        (order("x", Side.BUY, 0, "99.5"), 10001),
        (order("x", Side.BUY, -1, "99.5"), 10001),
        (order("x", Side.BUY, 1001, "99.5"), 10001),
        (order("x", Side.BUY, 15, "2000.00", symbol="ETHUSDT", instrument=FINE), 10001),  # qty step 0.01
        (order("x", Side.BUY, 1, "99.7"), 10001),  # tick grid 0.5
        (order("x", Side.BUY, 1, "0.0"), 10001),
        (order("x", Side.BUY, 1, "99.5", TimeInForce.RPI), 10001),
        (order("x", Side.BUY, 10, "100.00", symbol="ETHUSDT", instrument=FINE), 110094),  # 1 USDT < 5
        (order("", Side.BUY, 1, "99.5"), 10001),
    ],
)
def test_submit_refusals(cmd: SubmitOrder, code: int) -> None:
    """Malformed or out-of-rule orders are refused with Bybit's code and change nothing."""
    sim = engine()
    assert refusal(sim.submit(cmd, 0))[0] == code
    assert sim.open_orders() == [] and sim.order(cmd.client_order_id) is None


def test_limit_without_price_and_market_with_price_are_refused() -> None:
    """Price presence must match the order type (10001)."""
    sim = engine()
    no_price = SubmitOrder(
        client_order_id="l", parent_id="p", symbol=SYM, side=Side.BUY, order_type=OrderType.LIMIT, qty_lots=1
    )
    with_price = SubmitOrder(
        client_order_id="m",
        parent_id="p",
        symbol=SYM,
        side=Side.BUY,
        order_type=OrderType.MARKET,
        qty_lots=1,
        price_ticks=px("100.0"),
    )
    assert refusal(sim.submit(no_price, 0)) == (10001, "a limit order needs a price")
    assert refusal(sim.submit(with_price, 0)) == (10001, "a market order takes no price")


def test_duplicate_client_order_id_is_refused() -> None:
    """A client order id is used once, even after the first order closed (110072)."""
    sim = engine()
    sim.submit(order("d", Side.BUY, 1), 0)
    assert refusal(sim.submit(order("d", Side.BUY, 1, "99.5"), 0))[0] == 110072


# -- fees and determinism -----------------------------------------------------------------------------


def test_fee_arithmetic_is_exact_and_a_negative_rate_is_a_rebate() -> None:
    """0.5 BTC at 95900.1: value 47950.05, taker fee 26.3725275; a -0.0001 maker rate pays back."""
    btc = Instrument(symbol=SYM, price_scale=1, qty_scale=3)
    sim = MatchingEngine({SYM: btc}, Fees(maker=Decimal("-0.0001"), taker=Decimal("0.00055")))
    sim.on_book(book(1, bids=[("95900.0", "1.000")], asks=[("95900.1", "0.500")], snapshot=True), 0)
    reports = sim.submit(order("t", Side.BUY, 500, "95900.1", instrument=btc), 0)
    fill = next(r for r in reports if isinstance(r, Filled))
    assert (fill.value, fill.fee) == (Decimal("47950.05"), Decimal("26.3725275"))
    sim.submit(order("m", Side.BUY, 3, "95900.0", instrument=btc), 0)  # behind 1.000
    rebate = next(r for r in sim.on_trade(trade("95900.0", "1.003", Side.SELL), 0) if isinstance(r, Filled))
    assert (rebate.value, rebate.fee, rebate.is_maker) == (Decimal("287.7"), Decimal("-0.02877"), True)
    assert str(rebate.fee) == "-0.02877000"  # exact: nothing was rounded away


def test_results_are_identical_for_equal_inputs() -> None:
    """The same calls give equal reports, with ids from counters (sim-<n>, sim-exec-<n>)."""

    def run() -> list[Report]:
        sim = engine()
        out = sim.submit(order("a", Side.BUY, 4, "100.0"), 1)
        out += sim.submit(order("b", Side.SELL, 2, "100.5"), 2)
        out += sim.on_trade(trade("100.0", "1", Side.SELL), 3)
        out += sim.on_book(book(2, bids=[("99.5", "2")]), 4)
        out += sim.amend(AmendOrder(client_order_id="b", symbol=SYM, qty_lots=1), 5)
        return out

    first, second = run(), run()
    assert first == second
    assert [r.order.order_id for r in first if isinstance(r, Accepted)] == ["sim-1", "sim-2", "sim-2"]
    assert [r.exec_id for r in first if isinstance(r, Filled)] == ["sim-exec-1", "sim-exec-2"]
