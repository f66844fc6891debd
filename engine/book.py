"""A self-checking L2 order book for one symbol at one depth, with Bybit's exact semantics.

Rules (Bybit v5 ``orderbook.{depth}.{symbol}``):

* A snapshot replaces the book. So does any message with ``u == 1`` (the venue restarted its
  book service). A snapshot that repeats the last ``u`` is fine: level-1 streams re-send one
  every 3 s when nothing changed, and history files end with one.
* A delta sets each level's absolute size; size 0 deletes the level. Deleting a level we do
  not have is tolerated and counted (``absent_deletes``).
* A delta must carry ``u == last_u + 1``. ``u <= last_u`` is a stale or repeated message: it
  is dropped and counted (``stale_dropped``), the book is unharmed. ``u > last_u + 1`` is a
  gap: the book goes RESYNCING and ignores deltas until the next snapshot.
* A crossed book (best bid >= best ask) or an unparseable level is an integrity error,
  handled like a gap.

Prices and sizes are integer ticks and lots (see ``engine.instrument``). Each side keeps its
levels under a *signed key*: ``+price`` for asks and ``-price`` for bids, so on both sides the
best level has the smallest key and "further from the touch" means "larger key". That makes
every query one loop for both sides. Queries touch only the levels they report on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from enum import Enum
from itertools import islice
from typing import Final, cast

from sortedcontainers import SortedList

from engine.enums import BookState, Side
from engine.events import BookDelta
from engine.instrument import Instrument
from engine.numbers import FixedMemo, FixedMemos, ScaleError

__all__ = ["OrderBook", "BookSide", "BookTrigger", "BookTransition", "SweepResult", "Level"]

Level = tuple[int, int]
"""(price_ticks, size_lots)."""

SYNCED: Final = BookState.SYNCED
RESYNCING: Final = BookState.RESYNCING
STALE: Final = BookState.STALE


class BookTrigger(Enum):
    """What happened to the book; the transition table maps (state, trigger) to a state."""

    SNAPSHOT = "snapshot"
    DELTA = "delta"
    GAP = "gap"
    CROSSED = "crossed"
    BAD_DATA = "bad data"
    SILENCE = "silence"
    DISCONNECTED = "disconnected"  # the feed that kept it current is gone: nothing says it still is


TRANSITIONS: Final[dict[tuple[BookState, BookTrigger], BookState]] = {
    (RESYNCING, BookTrigger.SNAPSHOT): SYNCED,
    (SYNCED, BookTrigger.SNAPSHOT): SYNCED,
    (STALE, BookTrigger.SNAPSHOT): SYNCED,
    (SYNCED, BookTrigger.DELTA): SYNCED,
    (STALE, BookTrigger.DELTA): SYNCED,  # the feed is talking again, in sequence
    (SYNCED, BookTrigger.GAP): RESYNCING,
    (STALE, BookTrigger.GAP): RESYNCING,
    (SYNCED, BookTrigger.CROSSED): RESYNCING,
    (STALE, BookTrigger.CROSSED): RESYNCING,
    (RESYNCING, BookTrigger.CROSSED): RESYNCING,  # a crossed snapshot: still waiting for a good one
    (SYNCED, BookTrigger.BAD_DATA): RESYNCING,
    (STALE, BookTrigger.BAD_DATA): RESYNCING,
    (RESYNCING, BookTrigger.BAD_DATA): RESYNCING,  # e.g. an unreadable snapshot
    (SYNCED, BookTrigger.SILENCE): STALE,
    (STALE, BookTrigger.SILENCE): STALE,
    (RESYNCING, BookTrigger.SILENCE): RESYNCING,
    (SYNCED, BookTrigger.DISCONNECTED): RESYNCING,
    (STALE, BookTrigger.DISCONNECTED): RESYNCING,
    (RESYNCING, BookTrigger.DISCONNECTED): RESYNCING,
}


class BookTransition:
    """A state change of one book, handed to the book's ``on_transition`` callback."""

    __slots__ = ("new", "old", "reason", "trigger")

    def __init__(self, old: BookState, new: BookState, trigger: BookTrigger, reason: str) -> None:
        self.old, self.new, self.trigger, self.reason = old, new, trigger, reason

    def __repr__(self) -> str:
        return f"BookTransition({self.old} -> {self.new}: {self.reason})"


class SweepResult:
    """Cost of taking ``filled_lots`` from one side, best level first."""

    __slots__ = ("filled_lots", "levels", "notional", "worst_price_ticks")

    def __init__(self, filled_lots: int, notional: int, worst_price_ticks: int | None, levels: int) -> None:
        self.filled_lots = filled_lots
        self.notional = notional  # sum(price_ticks * lots): exact, in tick*lot units
        self.worst_price_ticks = worst_price_ticks
        self.levels = levels

    @property
    def average_price_ticks(self) -> Decimal | None:
        """Exact average price in (fractional) ticks, or None if nothing was available."""
        return Decimal(self.notional) / self.filled_lots if self.filled_lots else None


class BookSide:
    """One side's levels: lots by signed key, the keys in order, and the best key.

    ``best_key`` follows inserts and deletes, so reading the touch never searches ``keys``;
    only inserting or deleting a level touches the sorted keys. ``key_memo`` turns the venue's
    price strings into signed keys for this side (it may be shared with other books).
    """

    __slots__ = (
        "absent_deletes",
        "best_key",
        "key_memo",
        "keys",
        "side",
        "sign",
        "sizes",
        "watch_key",
        "watch_total",
    )

    def __init__(self, side: Side, key_memo: FixedMemo) -> None:
        self.side = side
        self.sign = -1 if side is Side.BUY else 1
        self.sizes: dict[int, int] = {}
        self.keys = SortedList()
        self.key_memo = key_memo
        self.best_key: int | None = None
        self.absent_deletes = 0
        # One watched depth: the total size of levels up to ``watch_key``, kept current as the
        # side changes, so "how much is there up to this price" is O(1) for whoever asks often.
        self.watch_key: int | None = None
        self.watch_total = 0

    def __len__(self) -> int:
        return len(self.sizes)

    # -- mutation (by OrderBook) ----------------------------------------------------------
    def insert(self, key: int, size: int) -> None:
        self.sizes[key] = size
        self.keys.add(key)
        if self.best_key is None or key < self.best_key:
            self.best_key = key

    def delete(self, key: int) -> None:
        del self.sizes[key]
        self.keys.remove(key)
        if key == self.best_key:
            self.best_key = self.keys[0] if self.sizes else None

    def load(self, levels: Sequence[Sequence[str]], size_memo: FixedMemo) -> None:
        """Replace every level (a snapshot), sorting once instead of inserting one by one.

        A snapshot whose strings are all memoised (a re-sent or resync snapshot) is rebuilt
        with C-level bulk operations; anything unusual takes the per-level path.
        """
        self.clear()
        if not levels:
            return
        if not self._load_memoised(levels, size_memo):
            key_of, size_of, sizes = self.key_memo.get, size_memo.get, self.sizes
            for price_text, size_text in levels:
                key, size = key_of(price_text), size_of(size_text)
                if size:
                    sizes[key] = size  # a repeated price: the last one stands, as a delta would
            self.keys.update(sizes)
        self.best_key = self.keys[0] if self.sizes else None
        self.recount_watch()

    def _load_memoised(self, levels: Sequence[Sequence[str]], size_memo: FixedMemo) -> bool:
        prices, size_texts = zip(*levels, strict=True)
        found_keys = list(map(self.key_memo.values.get, prices))
        found_lots = list(map(size_memo.values.get, size_texts))
        if None in found_keys or None in found_lots or 0 in found_lots:
            return False
        keys = cast(list[int], found_keys)
        self.sizes.update(zip(keys, cast(list[int], found_lots), strict=True))
        if len(self.sizes) != len(keys):
            self.sizes.clear()  # a price listed twice: let the per-level path decide
            return False
        self.keys.update(keys)
        return True

    def clear(self) -> None:
        self.sizes.clear()
        self.keys.clear()
        self.best_key = None
        self.watch_total = 0

    def watch(self, key: int) -> None:
        """Keep the size up to ``key`` (signed) current from now on; replaces any earlier watch."""
        self.watch_key = key
        self.recount_watch()

    def recount_watch(self) -> None:
        key = self.watch_key
        if key is not None:
            sizes = self.sizes
            self.watch_total = sum(sizes[k] for k in self.keys.irange(maximum=key))

    def apply_watched(self, levels: Sequence[Sequence[str]], size_memo: FixedMemo) -> None:
        """The hot loop of ``OrderBook.apply`` for a watched side: the same, plus the watched total."""
        assert self.watch_key is not None
        watch, total = self.watch_key, self.watch_total
        sizes, key_memo = self.sizes, self.key_memo
        key_of, size_of = key_memo.values.get, size_memo.values.get
        try:
            for price_text, size_text in levels:
                key = key_of(price_text)
                if key is None:
                    key = key_memo.miss(price_text)
                size = size_of(size_text)
                if size is None:
                    size = size_memo.miss(size_text)
                old = sizes.get(key, 0)
                if size:
                    if old:
                        sizes[key] = size
                    else:
                        self.insert(key, size)
                elif old:
                    self.delete(key)
                else:
                    self.absent_deletes += 1
                if key <= watch:
                    total += size - old
        finally:
            self.watch_total = total

    # -- reading --------------------------------------------------------------------------
    def size_at(self, price_ticks: int) -> int:
        """Lots resting at ``price_ticks`` (0 if no level there)."""
        return self.sizes.get(self.sign * price_ticks, 0)

    def levels(self, n: int | None = None) -> Iterator[Level]:
        """(price_ticks, size_lots) from the touch outwards, at most ``n``."""
        sign, sizes = self.sign, self.sizes
        for key in islice(self.keys, n):
            yield sign * key, sizes[key]

    def levels_within_key(self, max_key: int) -> Iterator[Level]:
        """Levels from the touch out to ``max_key`` (inclusive), in signed-key terms."""
        sign, sizes = self.sign, self.sizes
        for key in self.keys.irange(maximum=max_key):
            yield sign * key, sizes[key]


class OrderBook:
    """One symbol's book at one depth. Feed it ``BookDelta`` s; ask it questions in ticks/lots."""

    __slots__ = (
        "_has_rules",
        "_memos",
        "_next_update_id",
        "_size_memo",
        "asks",
        "bad_data",
        "best_ask_ticks",
        "best_bid_ticks",
        "bids",
        "crossed",
        "depth",
        "gaps",
        "instrument",
        "last_seq",
        "last_update_id",
        "last_update_ns",
        "on_transition",
        "resets",
        "snapshots",
        "stale_dropped",
        "state",
        "symbol",
        "unsynced_dropped",
    )

    def __init__(
        self,
        symbol: str,
        depth: int,
        instrument: Instrument | None = None,
        on_transition: Callable[[OrderBook, BookTransition], None] | None = None,
        memos: FixedMemos | None = None,
    ) -> None:
        self.symbol = symbol
        self.on_transition = on_transition
        self.depth = depth
        self.instrument = instrument
        self._has_rules = instrument is not None and not instrument.inferred
        self._memos = memos if memos is not None else FixedMemos()
        self.bids = BookSide(Side.BUY, self._memos.prices(0, -1))
        self.asks = BookSide(Side.SELL, self._memos.prices(0, 1))
        self._size_memo = self._memos.sizes(0)
        if instrument is not None:
            self._use_scales(instrument)
        self.state = RESYNCING  # until the first snapshot
        self.last_update_id = 0
        self.last_seq = 0
        self.last_update_ns = 0
        self.best_bid_ticks: int | None = None  # the touch, refreshed by every applied message
        self.best_ask_ticks: int | None = None
        # The only u a delta may carry to take the fast path; None while RESYNCING or STALE,
        # so those states cost nothing on the hot path and are handled in _out_of_sequence.
        self._next_update_id: int | None = None
        self.snapshots = 0
        self.resets = 0  # snapshots after the first: venue re-sends, u == 1 restarts, resyncs
        self.gaps = 0
        self.stale_dropped = 0
        self.unsynced_dropped = 0  # deltas ignored while waiting for a snapshot
        self.crossed = 0
        self.bad_data = 0

    @property
    def absent_deletes(self) -> int:
        """Deletes of levels the book did not have (tolerated: Bybit sends them)."""
        return self.bids.absent_deletes + self.asks.absent_deletes

    # -- applying venue messages ------------------------------------------------------------
    def apply(self, msg: BookDelta) -> bool:
        """Apply one message; True if it changed the book and the book is usable.

        False means the message was dropped (stale, duplicate, or arriving while RESYNCING),
        which leaves the book exactly as it was, or that it broke the book (gap, crossed,
        unreadable), which empties it and moves it to RESYNCING. State changes go to
        ``on_transition`` before this returns.

        This is the engine's hottest code: the next in-sequence delta is applied right here,
        two memo lookups and one dict write per level for a size update; everything else
        (snapshots, gaps, inserts, deletes, unseen strings) is handed to a named method.
        """
        update_id = msg.update_id
        if update_id != self._next_update_id or msg.is_snapshot or update_id == 1:
            return self._apply_out_of_line(msg)
        size_memo = self._size_memo
        size_of = size_memo.values.get
        try:
            for book_side, levels in ((self.bids, msg.bids), (self.asks, msg.asks)):
                if book_side.watch_key is not None:
                    book_side.apply_watched(levels, size_memo)
                    continue
                sizes = book_side.sizes
                key_memo = book_side.key_memo
                key_of = key_memo.values.get
                for price_text, size_text in levels:
                    key = key_of(price_text)
                    if key is None:
                        key = key_memo.miss(price_text)
                    size = size_of(size_text)
                    if size is None:
                        size = size_memo.miss(size_text)
                    if size:
                        if key in sizes:
                            sizes[key] = size
                        else:
                            book_side.insert(key, size)
                    elif key in sizes:
                        book_side.delete(key)
                    else:
                        book_side.absent_deletes += 1
        except (ValueError, TypeError) as exc:
            self.bad_data += 1
            return self._invalidate(BookTrigger.BAD_DATA, f"unreadable level at u={update_id}: {exc}")
        return self._after_levels(msg)

    def _after_levels(self, msg: BookDelta) -> bool:
        """Record the message as applied and refresh the touch; an integrity error resyncs."""
        update_id = msg.update_id
        self.last_update_id = update_id
        self._next_update_id = update_id + 1
        self.last_seq = msg.seq
        self.last_update_ns = msg.ts_recv_ns
        bid = self.bids.best_key
        ask = self.best_ask_ticks = self.asks.best_key
        if bid is None:
            self.best_bid_ticks = None
            return True
        self.best_bid_ticks = -bid
        if ask is not None and ask + bid <= 0:  # keys: -bid, +ask
            self.crossed += 1
            return self._invalidate(BookTrigger.CROSSED, f"crossed at u={update_id}: bid {-bid} >= ask {ask}")
        return True

    def _apply_out_of_line(self, msg: BookDelta) -> bool:
        if msg.is_snapshot or msg.update_id == 1:
            return self._load_snapshot(msg)
        return self._out_of_sequence(msg)

    def _out_of_sequence(self, msg: BookDelta) -> bool:
        """Every delta that is not simply the next one: resyncing, stale, duplicate, gap, revival."""
        state = self.state
        if state is RESYNCING:
            self.unsynced_dropped += 1
            return False
        update_id, last = msg.update_id, self.last_update_id
        if update_id <= last:
            self.stale_dropped += 1
            return False
        if update_id > last + 1:
            self.gaps += 1
            return self._invalidate(BookTrigger.GAP, f"gap: u={update_id} after u={last}")
        # The next delta after a silence: apply it, and only if the book is still sound say it is
        # SYNCED again (a broken one goes straight from STALE to RESYNCING).
        self._next_update_id = update_id
        if not self.apply(msg):
            return False
        self._move(BookTrigger.DELTA, f"delta u={update_id} after silence")
        return True

    def _load_snapshot(self, msg: BookDelta) -> bool:
        self.snapshots += 1
        if self.snapshots > 1:
            self.resets += 1
        previous = self.instrument
        if previous is None:
            self._fit_scale(msg)
        try:
            self._load_levels(msg)
        except ScaleError as exc:
            if not self._fit_scale(msg):
                return self._unreadable_snapshot(msg, str(exc), previous)
            try:
                self._load_levels(msg)
            except (ValueError, TypeError) as retry_exc:
                return self._unreadable_snapshot(msg, str(retry_exc), previous)
        except (ValueError, TypeError) as exc:
            return self._unreadable_snapshot(msg, str(exc), previous)
        if not self._after_levels(msg):
            return False
        self._move(BookTrigger.SNAPSHOT, f"snapshot u={msg.update_id}")
        return True

    def _load_levels(self, msg: BookDelta) -> None:
        self.bids.load(msg.bids, self._size_memo)
        self.asks.load(msg.asks, self._size_memo)

    def _unreadable_snapshot(self, msg: BookDelta, why: str, previous: Instrument | None) -> bool:
        """Reject a snapshot, undoing any scale it made us infer: junk must not set the units."""
        self.bad_data += 1
        if self.instrument is not previous:
            self.instrument = previous
            self._use_scales(previous)
        return self._invalidate(BookTrigger.BAD_DATA, f"unreadable snapshot at u={msg.update_id}: {why}")

    def _fit_scale(self, msg: BookDelta) -> bool:
        """Without venue rules, size the integer scale from a snapshot (never narrower).

        Runs for the first snapshot and again only when one does not fit the current scale,
        so a stream of snapshots is not re-scanned. Returns whether the scale changed.
        """
        if self._has_rules:
            return False
        try:
            levels = [*msg.bids, *msg.asks]
            if self.instrument is None:
                fitted = Instrument.inferred_from_levels(self.symbol, levels)
            else:
                fitted = self.instrument.widened_for(levels)
        except (ValueError, TypeError, AttributeError):
            return False  # the load itself will report the bad level
        if fitted is self.instrument:
            return False
        self.instrument = fitted
        self._use_scales(fitted)
        return True

    def _use_scales(self, instrument: Instrument | None) -> None:
        price_scale = 0 if instrument is None else instrument.price_scale
        qty_scale = 0 if instrument is None else instrument.qty_scale
        self.bids.key_memo = self._memos.prices(price_scale, -1)
        self.asks.key_memo = self._memos.prices(price_scale, 1)
        self._size_memo = self._memos.sizes(qty_scale)

    def _clear_levels(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.best_bid_ticks = self.best_ask_ticks = None

    def _invalidate(self, trigger: BookTrigger, reason: str) -> bool:
        self._clear_levels()  # last_update_id stays, for the record; RESYNCING guards the rest
        self._move(trigger, reason)
        return False

    def _move(self, trigger: BookTrigger, reason: str) -> None:
        old = self.state
        new = TRANSITIONS[(old, trigger)]
        self._next_update_id = self.last_update_id + 1 if new is SYNCED else None
        if new is not old:
            self.state = new
            if self.on_transition is not None:
                self.on_transition(self, BookTransition(old, new, trigger, reason))

    def disconnect(self, reason: str) -> None:
        """The connection feeding this book dropped: empty it and wait for the reconnect's snapshot.

        Deltas missed while disconnected can never be replayed, so the book is no longer known to
        be right; RESYNCING (published, as every state change) pauses strategies at once instead
        of letting them trade on a frozen book until the silence sweep calls it STALE.
        """
        self._invalidate(BookTrigger.DISCONNECTED, reason)

    # -- time ---------------------------------------------------------------------------
    def check_silence(self, now_ns: int, stale_after_ns: int) -> bool:
        """Mark the book STALE if nothing was applied for ``stale_after_ns``; True if it is now."""
        if self.state is SYNCED and now_ns - self.last_update_ns >= stale_after_ns:
            silent_s = (now_ns - self.last_update_ns) / 1e9
            self._move(BookTrigger.SILENCE, f"no update for {silent_s:.3f}s")
        return self.state is STALE

    # -- queries (integers) ---------------------------------------------------------------
    @property
    def is_synced(self) -> bool:
        return self.state is SYNCED

    def side(self, side: Side) -> BookSide:
        return self.bids if side is Side.BUY else self.asks

    def best_bid(self) -> Level | None:
        key = self.bids.best_key
        return None if key is None else (-key, self.bids.sizes[key])

    def best_ask(self) -> Level | None:
        key = self.asks.best_key
        return None if key is None else (key, self.asks.sizes[key])

    def mid_ticks(self) -> Decimal | None:
        """(best bid + best ask) / 2 in ticks; may be a half tick."""
        bid, ask = self.best_bid_ticks, self.best_ask_ticks
        if bid is None or ask is None:
            return None
        return Decimal(bid + ask) / 2

    def spread_ticks(self) -> int | None:
        bid, ask = self.best_bid_ticks, self.best_ask_ticks
        return None if bid is None or ask is None else ask - bid

    def spread_bps(self) -> Decimal | None:
        """Spread relative to the mid, in basis points."""
        mid = self.mid_ticks()
        spread = self.spread_ticks()
        if mid is None or spread is None or mid <= 0:
            return None
        return Decimal(spread) * 10_000 / mid

    def microprice_ticks(self) -> Decimal | None:
        """Size-weighted mid: leans towards the side with less size (the likely next move)."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        (bid_px, bid_sz), (ask_px, ask_sz) = bid, ask
        return Decimal(bid_px * ask_sz + ask_px * bid_sz) / (bid_sz + ask_sz)

    def imbalance(self, levels: int = 1) -> Decimal | None:
        """(bid size - ask size) / (bid size + ask size) over the top ``levels`` of each side."""
        bid_size = sum(size for _, size in self.bids.levels(levels))
        ask_size = sum(size for _, size in self.asks.levels(levels))
        total = bid_size + ask_size
        return None if total == 0 else Decimal(bid_size - ask_size) / total

    def top(self, side: Side, n: int) -> list[Level]:
        return list(self.side(side).levels(n))

    def size_within_bps(self, side: Side, bps: Decimal | int) -> int:
        """Total size on ``side`` priced within ``bps`` of that side's best price."""
        book_side = self.side(side)
        best = book_side.best_key
        if best is None:
            return 0
        reach = int(abs(best) * Decimal(bps) / 10_000)  # whole ticks, rounded towards the touch
        return sum(size for _, size in book_side.levels_within_key(best + reach))

    def watch_size_within_price(self, side: Side, limit_ticks: int) -> None:
        """Make ``size_within_price(side, limit_ticks)`` O(1) from now on (one watch per side).

        For a caller that asks on every update, such as the band's depth for a sniping parent.
        The cost moves to the updates of that side, which stay O(levels changed).
        """
        book_side = self.side(side)
        book_side.watch(book_side.sign * limit_ticks)

    def size_within_price(self, side: Side, limit_ticks: int) -> int:
        """Total size on ``side`` at prices no worse than ``limit_ticks`` for a taker.

        For asks (what a buyer takes) that is price <= limit; for bids, price >= limit.
        """
        book_side = self.side(side)
        if book_side.watch_key == book_side.sign * limit_ticks:
            return book_side.watch_total
        return sum(size for _, size in book_side.levels_within_key(book_side.sign * limit_ticks))

    def sweep(self, side: Side, qty_lots: int, limit_ticks: int | None = None) -> SweepResult:
        """What taking ``qty_lots`` from ``side`` would cost, optionally no worse than a limit."""
        book_side = self.side(side)
        levels = (
            book_side.levels() if limit_ticks is None else book_side.levels_within_key(book_side.sign * limit_ticks)
        )
        remaining, notional, worst, used = qty_lots, 0, None, 0
        for price, size in levels:
            if remaining <= 0:
                break
            take = min(remaining, size)
            notional += price * take
            remaining -= take
            worst = price
            used += 1
        return SweepResult(qty_lots - remaining, notional, worst, used)

    # -- presentation -------------------------------------------------------------------
    def snapshot_strings(self, n: int) -> tuple[list[list[str]], list[list[str]]]:
        """Top ``n`` bids and asks as ``[price, size]`` decimal strings."""
        instrument = self.instrument
        if instrument is None:
            return [], []
        fp, fq = instrument.format_price, instrument.format_qty
        return (
            [[fp(p), fq(q)] for p, q in self.bids.levels(n)],
            [[fp(p), fq(q)] for p, q in self.asks.levels(n)],
        )
