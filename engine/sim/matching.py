"""A venue-neutral matching engine for backtests: our orders against a replayed L2 book and tape.

No wire format, no I/O, no clock: every entry point takes the exchange time ``now_ns`` and
returns a list of small frozen reports (``Accepted``, ``Refused``, ``Filled``,
``StatusChanged``), each carrying a ``SimOrder`` snapshot of the order after the change. The
wire layer (``feeds.bybit.sim_venue``) turns them into venue messages. Prices and sizes are
integer ticks and lots of the symbol's ``Instrument``; money is exact ``Decimal``.

The exchange's view of the market is its own ``OrderBook`` per symbol, fed by ``on_book`` with
the replayed messages (the first depth seen for a symbol; other depths are ignored), and the
public tape, fed by ``on_trade``. The replay does not know about us, so the model has to say
what our orders would have done to it and it to them. The rules, in order of appearance:

Aggressive orders
    The aggressive part of any order walks the opposite side from the best level while the
    price is within its limit (a buy takes asks <= limit), filling at each level's price, level
    by level, partially where a level has less than we need. Taker fee = price * qty * taker
    rate, exact, in quote currency; a fee rate below zero is a rebate (a negative fee).
    Market orders walk without a limit but never beyond the book: what the book cannot fill is
    cancelled (market orders are IOC, as on Bybit). IOC: the remainder is cancelled, the fills
    kept. FOK: unless the whole quantity is available within the limit, nothing fills and the
    order is cancelled with ``EC_CancelForNoFullFill``. PostOnly: if it would cross (a buy at or
    above the best available ask) it is cancelled with ``EC_PostOnlyWillTakeLiquidity``,
    otherwise it rests. GTC: takes what crosses and rests the rest. Our own resting orders are
    not matched against (no self-trade; they are not in the replayed book either).

Consumed liquidity
    Per (symbol, book side, price) we keep the lots our orders took there; what is available at
    a level is ``book size - consumed`` (never below zero). The replayed book never learns of
    our fills, so the lots we took stay in its sizes, and a level that is re-stated or grows
    does not give them back: new orders join behind, and only the growth is new liquidity.
    After every book message each consumed level is capped at the level's new size (if it
    shrank below what we took, at least the difference has left, and the risk-averse
    assumption is that what left was not ours), and a level that is gone (deleted, or absent
    from a snapshot) forgets its consumption. So our own fills never take the same lots twice
    (nautilus#2564, two orders filled from the same liquidity). Taking lots from a level also
    moves our own resting orders at that level forward by as much (takers consume the front
    of the queue).

Resting orders and the queue (risk-averse, after hftbacktest's ``RiskAdverseQueueModel``)
    * On resting, ``queue_ahead`` = the available size at our price on our side of the book
      (0 if there is no level). If the book is not synced (no snapshot yet, or a gap) the queue
      is unknown: it is set to ``UNKNOWN_QUEUE`` and the next snapshot caps it to the size then.
    * A public trade at our price whose taker is on the other side (taker Sell for our resting
      buy) reduces ``queue_ahead`` by the trade quantity; the part of the trade beyond the
      queue fills us, at our price, as maker. A trade strictly through our price (a taker Sell
      below our buy) means our whole level was taken: our queue is gone and we fill up to the
      trade quantity. Trades whose taker is on our side, block trades and RPI trades (neither
      touches the public book) do nothing.
    * One trade is one budget: our orders it reaches are served best price first, then in
      queue order, and every lot it fills of ours is a lot it cannot fill again. The queue
      ahead of a later order of ours at the same price shrinks by the trade's volume less what
      our earlier orders took (the public orders ahead of both are the same orders).
    * Size decreases not explained by trades are cancellations. Where in the queue a cancelled
      order stood is unknown; the risk-averse choice assumes it stood *behind* us, so it does
      not move us forward. So a book message only lowers ``queue_ahead`` when it leaves our
      level with less (available) size ``s`` than the queue we think is ahead of us: then
      ``queue_ahead = s``, since no more can be ahead of us than is there. Increases never move
      us back (new orders join behind us).
    * Liquidity the book shows strictly through our price (asks below our resting buy) would
      have traded with us: we fill from it, at our own price as maker, up to its available size
      (levels best first, our orders in priority order), and those lots are then consumed like
      a taker's, so they fill nothing again until the level shows more. A book that only
      touches our price (best ask == our buy) fills nothing: only trades do. (The old rule,
      "a book that moves through our price fills us completely", invented fills of any size:
      a 1,000,000 BTC iceberg filled in 86 s while the market traded 89 BTC.)
    * The invariant, checked by a property test (``tests/test_fill_model.py``): over any
      interval, our maker fills at a price P never exceed the volume the market traded at or
      through P with the taker on the other side, plus the liquidity the book showed arriving
      strictly through P.
    * Our own resting orders are never part of the replayed book's sizes.

    Known limitation: a trade is assumed to be seen before the book message that reflects it
    (Bybit publishes trades as they happen and books in 10-100 ms batches, so this is the usual
    order). If a book message showing the size taken by a trade comes first, the queue is
    capped by the book and then reduced again by the trade, which can fill us a little early.

Amend, cancel, cancel-all
    The new quantity must stay above the filled quantity (else 110064). A price change or a
    quantity increase loses the queue position: the order re-queues behind the size at its
    (new) price, and a new price that crosses trades as a taker first (a PostOnly is cancelled
    instead). A quantity decrease keeps the position. Amend or cancel of an unknown or closed
    order is refused with 110001. Cancel-all cancels the symbol's open orders, oldest first,
    and reports nothing for a symbol with none.

Validation (code 10001 unless noted)
    Unknown symbol; empty client order id; duplicate client order id (110072); quantity not a
    positive multiple of the quantity step, or outside the instrument's min/max; a limit order
    without a price or off the tick grid; a market order with a price; RPI time in force; a
    limit order's notional under the instrument minimum (110094). ``reduce_only`` is carried
    but not enforced: the simulator keeps no position.

Determinism: order ids ``sim-<n>`` and exec ids ``sim-exec-<n>`` come from counters, orders are
served in a fixed priority order, and nothing is random. ``seed`` is stored for fill models
that draw random numbers; the current model draws none, so equal inputs give equal outputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import Final

from engine.book import OrderBook
from engine.commands import AmendOrder, CancelAllOrders, CancelOrder, SubmitOrder
from engine.enums import BookState, OrderStatus, OrderType, Side, TimeInForce
from engine.events import BookDelta, TradePrinted
from engine.instrument import Instrument
from engine.numbers import ScaleError, to_decimal

__all__ = [
    "MatchingEngine",
    "Fees",
    "SimOrder",
    "Accepted",
    "Refused",
    "Filled",
    "StatusChanged",
    "Report",
    "UNKNOWN_QUEUE",
    "CODE_PARAMS",
    "CODE_NO_ORDER",
    "CODE_AMEND_QTY",
    "CODE_DUPLICATE_ID",
    "CODE_MIN_NOTIONAL",
    "CANCEL_BY_USER",
    "REASON_USER_CANCEL",
    "REASON_NO_IMMEDIATE_QTY",
    "REASON_NO_FULL_FILL",
    "REASON_POST_ONLY",
    "value_of",
]

UNKNOWN_QUEUE: Final = 2**62
"""``queue_ahead`` of an order that rested while the book was not synced (capped by the next snapshot)."""

# Refusal codes, numbered as Bybit numbers them so the wire layer passes them through.
CODE_PARAMS: Final = 10001
CODE_NO_ORDER: Final = 110001
CODE_AMEND_QTY: Final = 110064
CODE_DUPLICATE_ID: Final = 110072
CODE_MIN_NOTIONAL: Final = 110094

# Why an order closed (Bybit's cancelType / rejectReason vocabulary; "" = nothing to say).
CANCEL_BY_USER: Final = "CancelByUser"
REASON_USER_CANCEL: Final = "EC_PerCancelRequest"
REASON_NO_IMMEDIATE_QTY: Final = "EC_NoImmediateQtyToFill"
REASON_NO_FULL_FILL: Final = "EC_CancelForNoFullFill"
REASON_POST_ONLY: Final = "EC_PostOnlyWillTakeLiquidity"

_CLOSED: Final = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})
_EXACT: Final = Context(prec=200, traps=[Inexact, InvalidOperation])
"""Fee arithmetic: wide enough for any price * qty * rate, and loud if it ever had to round."""


@dataclass(frozen=True, slots=True)
class Fees:
    """Fee rates as fractions of the traded value (0.00055 = 5.5 bp); negative = rebate."""

    maker: Decimal
    taker: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class SimOrder:
    """One simulated order as the exchange sees it, at one moment."""

    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce  # market orders are IOC
    price_ticks: int | None  # None for market orders
    qty_lots: int
    filled_lots: int
    notional: int  # sum(price_ticks * qty_lots) over fills, exact
    fees: Decimal
    status: OrderStatus
    reduce_only: bool
    created_ns: int
    updated_ns: int

    @property
    def is_open(self) -> bool:
        return self.status not in _CLOSED

    @property
    def leaves_lots(self) -> int:
        """What can still fill: 0 once the order is closed."""
        return self.qty_lots - self.filled_lots if self.is_open else 0

    @property
    def avg_price_ticks(self) -> Decimal | None:
        """Average fill price in (fractional) ticks; None before the first fill."""
        return Decimal(self.notional) / self.filled_lots if self.filled_lots else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """A create, amend or cancel was accepted; ``order`` is the order before it took effect."""

    command: SubmitOrder | AmendOrder | CancelOrder
    order: SimOrder
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    """A create, amend or cancel was refused and changed nothing. ``order``: the order it named, if any."""

    command: SubmitOrder | AmendOrder | CancelOrder
    code: int
    message: str
    ts_ns: int
    order: SimOrder | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Filled:
    """One fill. ``order`` is the order right after it; ``seq`` is shared by fills made together."""

    order: SimOrder
    exec_id: str
    seq: int
    price_ticks: int
    qty_lots: int
    value: Decimal  # price * qty in quote currency, exact
    fee: Decimal
    fee_rate: Decimal
    is_maker: bool
    ts_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChanged:
    """The order's state after a create, amend, cancel or fills: what an order stream reports.

    Emitted once per order per operation, after that operation's fills, even when only the
    quantity or price changed (an amend). ``cancel_type``/``reject_reason`` say why an order
    closed ("" when there is nothing to say).
    """

    order: SimOrder
    status: OrderStatus
    ts_ns: int
    cancel_type: str = ""
    reject_reason: str = ""


Report = Accepted | Refused | Filled | StatusChanged


class _Order:
    """The mutable order behind the snapshots."""

    __slots__ = (
        "client_order_id",
        "created_ns",
        "fees",
        "filled",
        "notional",
        "number",
        "order_id",
        "order_type",
        "price",
        "priority",
        "qty",
        "queue_ahead",
        "reduce_only",
        "side",
        "status",
        "symbol",
        "tif",
        "updated_ns",
    )

    def __init__(self, number: int, command: SubmitOrder, now_ns: int) -> None:
        self.number = number
        self.order_id = f"sim-{number}"
        self.client_order_id = command.client_order_id
        self.symbol = command.symbol
        self.side = command.side
        self.order_type = command.order_type
        self.tif = TimeInForce.IOC if command.order_type is OrderType.MARKET else command.time_in_force
        self.price = command.price_ticks
        self.qty = command.qty_lots
        self.filled = 0
        self.notional = 0
        self.fees = Decimal(0)
        self.status = OrderStatus.NEW
        self.reduce_only = command.reduce_only
        self.created_ns = now_ns
        self.updated_ns = now_ns
        self.queue_ahead = 0
        self.priority = 0  # time priority among our orders; renewed when the order re-queues

    @property
    def is_open(self) -> bool:
        return self.status not in _CLOSED

    @property
    def leaves(self) -> int:
        return self.qty - self.filled

    def sort_key(self) -> tuple[int, int]:
        """Price priority (best first), then time priority."""
        return -self.side.sign * (self.price or 0), self.priority

    def snapshot(self) -> SimOrder:
        return SimOrder(
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            time_in_force=self.tif,
            price_ticks=self.price,
            qty_lots=self.qty,
            filled_lots=self.filled,
            notional=self.notional,
            fees=self.fees,
            status=self.status,
            reduce_only=self.reduce_only,
            created_ns=self.created_ns,
            updated_ns=self.updated_ns,
        )


class MatchingEngine:
    """Our orders against replayed books and trades. See the module docstring for the model."""

    def __init__(self, instruments: Mapping[str, Instrument], fees: Fees, *, seed: int = 0) -> None:
        # The caller's registry itself when it is a dict: a backtest shares one between the engine
        # and the venue, so rules the engine learns (from a snapshot) are the venue's at once.
        self.instruments: dict[str, Instrument] = instruments if isinstance(instruments, dict) else dict(instruments)
        self._shared: set[str] = set()
        self.fees = fees
        self.seed = seed
        self._books: dict[str, OrderBook] = {}
        self._consumed: dict[str, dict[tuple[Side, int], int]] = {}
        self._orders: dict[str, _Order] = {}  # every order ever accepted, by client order id
        self._fills: dict[str, list[Filled]] = {}  # every fill of each, for queries
        self._resting: dict[str, list[_Order]] = {}  # open resting orders by symbol
        self._order_count = 0
        self._exec_count = 0
        self._seq = 0
        self._priority = 0
        self.ignored_book_messages = 0  # unknown symbol, or another depth than the book's
        self.ignored_trades = 0  # block/RPI trades, unknown symbols, off-grid numbers

    # -- questions (for drivers and tests) --------------------------------------------------
    def order(self, client_order_id: str) -> SimOrder | None:
        order = self._orders.get(client_order_id)
        return None if order is None else order.snapshot()

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        """Resting orders, in priority order per symbol."""
        symbols = [symbol] if symbol is not None else list(self._resting)
        return [o.snapshot() for s in symbols for o in sorted(self._resting.get(s, ()), key=_Order.sort_key)]

    def fills_of(self, client_order_id: str) -> list[Filled]:
        """Every fill of an order, oldest first: what Bybit's execution list would return for it."""
        return list(self._fills.get(client_order_id, ()))

    def queue_ahead(self, client_order_id: str) -> int | None:
        """Lots ahead of a resting order (``UNKNOWN_QUEUE`` if unknown); None if it is not resting."""
        order = self._orders.get(client_order_id)
        if order is None or order not in self._resting.get(order.symbol, ()):
            return None
        return order.queue_ahead

    def book(self, symbol: str) -> OrderBook | None:
        """The exchange's replayed book of ``symbol`` (read it, do not feed it)."""
        return self._books.get(symbol)

    def available(self, symbol: str, side: Side, price_ticks: int) -> int:
        """Lots at ``price_ticks`` on ``side`` that our takers have not consumed (0 without a synced book)."""
        book = self._books.get(symbol)
        if book is None or not book.is_synced:
            return 0
        size = book.side(side).size_at(price_ticks)
        consumed = self._consumed.get(symbol)
        if consumed:
            size -= consumed.get((side, price_ticks), 0)
        return max(size, 0)

    def consumed(self, symbol: str, side: Side, price_ticks: int) -> int:
        """Lots our takers consumed at that level since the book last refreshed it."""
        return self._consumed.get(symbol, {}).get((side, price_ticks), 0)

    # -- market data --------------------------------------------------------------------------
    def wants_market(self, symbol: str) -> bool:
        """Whether a market event of ``symbol`` can change anything here.

        Not when the book is the engine's own (already updated) and nothing of ours rests there
        or has consumed liquidity: then the event can neither fill us nor refresh a level, and a
        backtest skips the call (most of its events, when a strategy is not resting orders).
        """
        return symbol not in self._shared or bool(self._resting.get(symbol)) or bool(self._consumed.get(symbol))

    def instrument(self, symbol: str) -> Instrument | None:
        """The symbol's rules: as given, else as its book inferred them from the first snapshot.

        A venue that shares the engine's book may never see a book message of its own before the
        first order arrives, so the rules are looked up where they are, not only learnt in
        ``on_book`` (else the first order of a backtest was refused as an unknown symbol).
        """
        instrument = self.instruments.get(symbol)
        if instrument is None:
            book = self._books.get(symbol)
            if book is not None and book.instrument is not None:
                instrument = self.instruments[symbol] = book.instrument
        return instrument

    def share_book(self, book: OrderBook) -> None:
        """Match against the engine's own book of ``book.symbol`` instead of a copy of it.

        Valid only when the engine sees market data at the exchange's time (no market-data
        latency): the two books would be identical, and applying every message twice is a large
        share of a backtest's cost. The engine applies each message before the venue sees it.
        """
        self._books[book.symbol] = book
        self._shared.add(book.symbol)

    def on_book(self, delta: BookDelta, now_ns: int) -> list[Report]:
        """Apply a replayed book message; refresh consumed levels, cap queues, fill crossed orders."""
        symbol = delta.symbol
        book = self._books.get(symbol)
        if book is None:
            # Without rules for the symbol the book infers its scales from the first snapshot,
            # exactly as the engine's own book does, and those become the venue's rules too.
            book = self._books[symbol] = OrderBook(symbol, delta.depth, self.instruments.get(symbol))
        elif delta.depth != book.depth:
            self.ignored_book_messages += 1
            return []
        if symbol in self._shared:
            if book.state is not BookState.SYNCED:
                return []  # the engine applied it (or dropped it); nothing to match against
        elif not book.apply(delta):
            return []  # dropped, or the book broke: nothing known has changed
        self.instrument(symbol)  # learn the rules the book inferred, if they were not given
        consumed = self._consumed.get(symbol)
        if consumed:
            self._settle_consumed(book, consumed)
        resting = self._resting.get(symbol)
        if not resting:
            return []
        # Capping a queue at its level's current size is idempotent (the cap only ever lowers
        # it), so there is no need to work out which levels this message touched: one lookup
        # per resting order. A level the message did not touch caps nothing new.
        for order in resting:
            order.queue_ahead = min(order.queue_ahead, self.available(symbol, order.side, order.price or 0))
        return self._fill_crossed(symbol, now_ns)

    def on_trade(self, trade: TradePrinted, now_ns: int) -> list[Report]:
        """A public trade: shrink the queues it passes and fill the orders it reaches."""
        resting = self._resting.get(trade.symbol)
        if trade.is_block_trade or trade.is_rpi:
            self.ignored_trades += 1
            return []
        if not resting:
            return []
        instrument = self.instrument(trade.symbol)
        if instrument is None:
            self.ignored_trades += 1
            return []
        try:
            price, budget = instrument.ticks(trade.price), instrument.lots(trade.qty)
        except ScaleError:
            self.ignored_trades += 1
            return []
        maker_side = trade.taker_side.opposite
        reached = sorted(
            (o for o in resting if o.side is maker_side and maker_side.sign * ((o.price or 0) - price) >= 0),
            key=_Order.sort_key,
        )
        reports: list[Report] = []
        filled: list[_Order] = []
        seq = 0
        for order in reached:
            if budget <= 0:
                break
            if order.price != price:  # the trade went through our price: our whole level was taken
                order.queue_ahead = 0
                lots = min(order.leaves, budget)
            else:
                passed = min(order.queue_ahead, budget)
                order.queue_ahead -= passed
                lots = min(order.leaves, budget - passed)
            if lots > 0:
                seq = seq or self._next_seq()
                self._fill(order, order.price or 0, lots, True, now_ns, seq, reports)
                budget -= lots
                filled.append(order)
        return self._after_fills(trade.symbol, filled, now_ns, reports)

    # -- orders -------------------------------------------------------------------------------
    def submit(self, cmd: SubmitOrder, now_ns: int) -> list[Report]:
        refusal = self._check_submit(cmd)
        if refusal is not None:
            return [Refused(command=cmd, code=refusal[0], message=refusal[1], ts_ns=now_ns)]
        self._order_count += 1
        order = self._orders[cmd.client_order_id] = _Order(self._order_count, cmd, now_ns)
        reports: list[Report] = [Accepted(command=cmd, order=order.snapshot(), ts_ns=now_ns)]
        self._execute(order, now_ns, reports)
        return reports

    def amend(self, cmd: AmendOrder, now_ns: int) -> list[Report]:
        order = self._open_order(cmd.client_order_id, cmd.symbol)
        if order is None:
            return [self._no_order(cmd, now_ns)]
        instrument = self.instruments[order.symbol]
        qty = order.qty if cmd.qty_lots is None else cmd.qty_lots
        price = order.price if cmd.price_ticks is None else cmd.price_ticks
        refusal = _check_qty(instrument, qty, order.order_type) or _check_price(instrument, price, order.order_type)
        if refusal is None and qty <= order.filled:
            refusal = CODE_AMEND_QTY, "the amended qty must be greater than the filled qty"
        if refusal is None and qty == order.qty and price == order.price:
            refusal = CODE_PARAMS, "the order remains unchanged: the amended values match the existing ones"
        if refusal is not None:
            return [Refused(command=cmd, code=refusal[0], message=refusal[1], ts_ns=now_ns, order=order.snapshot())]
        reports: list[Report] = [Accepted(command=cmd, order=order.snapshot(), ts_ns=now_ns)]
        requeue = price != order.price or qty > order.qty
        order.qty, order.updated_ns = qty, now_ns
        if price != order.price:
            order.price = price
            self._unrest(order)
            self._execute(order, now_ns, reports)  # takes what the new price crosses, rests the rest
            return reports
        if requeue:
            self._queue_up(order)
        reports.append(StatusChanged(order=order.snapshot(), status=order.status, ts_ns=now_ns))
        return reports

    def cancel(self, cmd: CancelOrder, now_ns: int) -> list[Report]:
        order = self._open_order(cmd.client_order_id, cmd.symbol)
        if order is None:
            return [self._no_order(cmd, now_ns)]
        reports: list[Report] = [Accepted(command=cmd, order=order.snapshot(), ts_ns=now_ns)]
        self._close(order, now_ns, reports, CANCEL_BY_USER, REASON_USER_CANCEL)
        return reports

    def cancel_all(self, cmd: CancelAllOrders, now_ns: int) -> list[Report]:
        """Cancel every open order of the symbol, oldest first; [] if there is none."""
        reports: list[Report] = []
        for order in sorted(self._resting.get(cmd.symbol, ()), key=lambda o: o.number):
            self._close(order, now_ns, reports, CANCEL_BY_USER, REASON_USER_CANCEL)
        return reports

    # -- mechanics ----------------------------------------------------------------------------
    def _execute(self, order: _Order, now_ns: int, reports: list[Report]) -> None:
        """Run a new (or re-priced) order against the book by its time in force, then report it."""
        tif = order.tif
        if tif is TimeInForce.POST_ONLY:
            best = self._best_available(order.symbol, order.side.opposite)
            if best is not None and order.side.sign * (best - (order.price or 0)) <= 0:
                self._close(order, now_ns, reports, "", REASON_POST_ONLY)
                return
        elif tif is TimeInForce.FOK:
            if self._takeable(order) < order.leaves:
                self._close(order, now_ns, reports, "", REASON_NO_FULL_FILL)
                return
            self._take(order, now_ns, reports)
        else:
            self._take(order, now_ns, reports)
        if order.leaves == 0:
            order.status = OrderStatus.FILLED
        elif tif is TimeInForce.IOC:
            self._close(order, now_ns, reports, "", REASON_NO_IMMEDIATE_QTY)
            return
        else:
            self._queue_up(order)
        reports.append(StatusChanged(order=order.snapshot(), status=order.status, ts_ns=now_ns))

    def _walk(self, order: _Order) -> Iterator[tuple[int, int]]:
        """(price, available lots) of the opposite side within the order's limit, best first."""
        book = self._books.get(order.symbol)
        if book is None or not book.is_synced:
            return
        side = order.side.opposite
        book_side = book.side(side)
        levels = (
            book_side.levels() if order.price is None else book_side.levels_within_key(book_side.sign * order.price)
        )
        consumed = self._consumed.get(order.symbol) or {}
        for price, size in levels:
            available = size - consumed.get((side, price), 0)
            if available > 0:
                yield price, available

    def _takeable(self, order: _Order) -> int:
        total = 0
        for _, available in self._walk(order):
            total += available
            if total >= order.leaves:
                break
        return total

    def _take(self, order: _Order, now_ns: int, reports: list[Report]) -> None:
        """Fill the order as a taker, level by level, and record what it consumed."""
        takes: list[tuple[int, int]] = []
        need = order.leaves
        for price, available in self._walk(order):
            if need <= 0:
                break
            lots = min(need, available)
            takes.append((price, lots))
            need -= lots
        if not takes:
            return
        seq = self._next_seq()
        for price, lots in takes:
            self._consume(order.symbol, order.side.opposite, price, lots)
            self._fill(order, price, lots, False, now_ns, seq, reports)

    def _consume(self, symbol: str, side: Side, price: int, lots: int) -> None:
        consumed = self._consumed.setdefault(symbol, {})
        consumed[(side, price)] = consumed.get((side, price), 0) + lots
        for order in self._resting.get(symbol, ()):  # our own orders there move up the queue
            if order.side is side and order.price == price:
                order.queue_ahead = max(order.queue_ahead - lots, 0)

    def _fill(
        self, order: _Order, price: int, lots: int, is_maker: bool, now_ns: int, seq: int, reports: list[Report]
    ) -> None:
        instrument = self.instruments[order.symbol]
        value = instrument.notional(price, lots)
        rate = self.fees.maker if is_maker else self.fees.taker
        fee = _EXACT.multiply(value, rate)
        order.filled += lots
        order.notional += price * lots
        order.fees = _EXACT.add(order.fees, fee)
        order.updated_ns = now_ns
        order.status = OrderStatus.FILLED if order.leaves == 0 else OrderStatus.PARTIALLY_FILLED
        self._exec_count += 1
        filled = Filled(
            order=order.snapshot(),
            exec_id=f"sim-exec-{self._exec_count}",
            seq=seq,
            price_ticks=price,
            qty_lots=lots,
            value=value,
            fee=fee,
            fee_rate=rate,
            is_maker=is_maker,
            ts_ns=now_ns,
        )
        reports.append(filled)
        self._fills.setdefault(order.client_order_id, []).append(filled)

    def _fill_crossed(self, symbol: str, now_ns: int) -> list[Report]:
        """Fill resting orders from the liquidity the book shows strictly through their price.

        Only up to that liquidity's available size, at the order's own price (as maker), and the
        lots are then consumed like a taker's, so the same lots never fill twice. Orders are
        served in priority order (best price, then time), each taking the crossing levels best
        first.
        """
        reports: list[Report] = []
        filled: list[_Order] = []
        seq = 0
        for order in sorted(self._resting[symbol], key=_Order.sort_key):
            opposite = order.side.opposite
            price = order.price or 0
            crossing = 0
            for level_price, available in list(self._walk_through(symbol, opposite, price)):
                lots = min(order.leaves - crossing, available)
                self._consume(symbol, opposite, level_price, lots)
                crossing += lots
                if crossing >= order.leaves:
                    break
            if crossing <= 0:
                continue
            seq = seq or self._next_seq()
            self._fill(order, price, crossing, True, now_ns, seq, reports)
            filled.append(order)
        return self._after_fills(symbol, filled, now_ns, reports)

    def _walk_through(self, symbol: str, side: Side, price: int) -> Iterator[tuple[int, int]]:
        """Available levels of ``side`` strictly better (for a taker) than ``price``."""
        book = self._books[symbol]
        book_side = book.side(side)
        consumed = self._consumed.get(symbol) or {}
        for level_price, size in book_side.levels_within_key(book_side.sign * price - 1):
            available = size - consumed.get((side, level_price), 0)
            if available > 0:
                yield level_price, available

    def _after_fills(self, symbol: str, filled: list[_Order], now_ns: int, reports: list[Report]) -> list[Report]:
        """One status report per filled order; closed orders leave the resting list."""
        for order in filled:
            reports.append(StatusChanged(order=order.snapshot(), status=order.status, ts_ns=now_ns))
        if filled:
            self._resting[symbol] = [o for o in self._resting[symbol] if o.is_open]
        return reports

    def _best_available(self, symbol: str, side: Side) -> int | None:
        """Best price of ``side`` with lots our takers have not consumed; None if none or unsynced."""
        book = self._books.get(symbol)
        if book is None or not book.is_synced:
            return None
        consumed = self._consumed.get(symbol)
        for price, size in book.side(side).levels():
            if not consumed or size > consumed.get((side, price), 0):
                return price
        return None

    def _queue_up(self, order: _Order) -> None:
        """Rest (or re-queue) the order behind everything now at its price."""
        book = self._books.get(order.symbol)
        if book is None or not book.is_synced:
            order.queue_ahead = UNKNOWN_QUEUE
        else:
            order.queue_ahead = self.available(order.symbol, order.side, order.price or 0)
        self._priority += 1
        order.priority = self._priority
        resting = self._resting.setdefault(order.symbol, [])
        if order not in resting:
            resting.append(order)

    def _unrest(self, order: _Order) -> None:
        resting = self._resting.get(order.symbol)
        if resting and order in resting:
            resting.remove(order)

    def _close(self, order: _Order, now_ns: int, reports: list[Report], cancel_type: str, reason: str) -> None:
        order.status = OrderStatus.CANCELLED
        order.updated_ns = now_ns
        self._unrest(order)
        reports.append(
            StatusChanged(
                order=order.snapshot(),
                status=order.status,
                ts_ns=now_ns,
                cancel_type=cancel_type,
                reject_reason=reason,
            )
        )

    def _open_order(self, client_order_id: str, symbol: str) -> _Order | None:
        order = self._orders.get(client_order_id)
        return order if order is not None and order.symbol == symbol and order.is_open else None

    def _no_order(self, cmd: AmendOrder | CancelOrder, now_ns: int) -> Refused:
        known = self._orders.get(cmd.client_order_id)
        return Refused(
            command=cmd,
            code=CODE_NO_ORDER,
            message="order does not exist",
            ts_ns=now_ns,
            order=None if known is None else known.snapshot(),
        )

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _check_submit(self, cmd: SubmitOrder) -> tuple[int, str] | None:
        instrument = self.instrument(cmd.symbol)
        if instrument is None:
            return CODE_PARAMS, f"unknown symbol {cmd.symbol}"
        if not cmd.client_order_id:
            return CODE_PARAMS, "a client order id is required"
        if cmd.client_order_id in self._orders:
            return CODE_DUPLICATE_ID, "duplicate client order id"
        if cmd.order_type is OrderType.LIMIT and cmd.time_in_force is TimeInForce.RPI:
            return CODE_PARAMS, "RPI orders are not simulated"
        refusal = _check_price(instrument, cmd.price_ticks, cmd.order_type) or _check_qty(
            instrument, cmd.qty_lots, cmd.order_type
        )
        if refusal is not None:
            return refusal
        if cmd.price_ticks is not None and instrument.notional(cmd.price_ticks, cmd.qty_lots) < instrument.min_notional:
            return CODE_MIN_NOTIONAL, f"order value under the minimum {instrument.min_notional}"
        return None

    @staticmethod
    def _settle_consumed(book: OrderBook, consumed: dict[tuple[Side, int], int]) -> None:
        """After a book message: no level can hold more of the lots we took than it now shows.

        The replayed book never learns of our fills, so the lots we took stay in its sizes. When a
        level shrinks below what we took, at least the difference has left it (cancelled, or
        taken by others), so at most its new size of ours can remain: the risk-averse assumption
        is that what left was not what we took. Growth never gives lots back (new orders join
        behind), and a level that is gone (deleted, or absent from a snapshot) forgets them.
        Capping is idempotent, so every message simply caps every consumed level of the book.
        """
        for key, lots in list(consumed.items()):
            side, price = key
            size = book.side(side).size_at(price)
            if size <= 0:
                del consumed[key]
            elif size < lots:
                consumed[key] = size


def _check_price(instrument: Instrument, price: int | None, order_type: OrderType) -> tuple[int, str] | None:
    if order_type is OrderType.MARKET:
        return None if price is None else (CODE_PARAMS, "a market order takes no price")
    if price is None:
        return CODE_PARAMS, "a limit order needs a price"
    if price <= 0 or price % instrument.price_step_ticks:
        return CODE_PARAMS, f"price {instrument.format_price(price)} is off the tick grid"
    return None


def _check_qty(instrument: Instrument, qty: int, order_type: OrderType) -> tuple[int, str] | None:
    if qty <= 0 or qty % instrument.qty_step_lots:
        return CODE_PARAMS, f"qty {instrument.format_qty(qty)} is not a positive multiple of the qty step"
    if qty < instrument.min_qty_lots:
        return CODE_PARAMS, f"qty {instrument.format_qty(qty)} is under the minimum"
    cap = instrument.max_market_qty_lots if order_type is OrderType.MARKET else None
    cap = cap if cap is not None else instrument.max_qty_lots
    if cap is not None and qty > cap:
        return CODE_PARAMS, f"qty {instrument.format_qty(qty)} is over the maximum"
    return None


def value_of(instrument: Instrument, notional: int) -> Decimal:
    """Quote value of a ``notional`` in tick*lot units (``SimOrder.notional``), exact."""
    return to_decimal(notional, instrument.price_scale + instrument.qty_scale)
