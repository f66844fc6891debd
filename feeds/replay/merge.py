"""Several record streams as one, in receive-time order: books, trades and recordings interleave
as they would have arrived.

Inputs must each be sorted by ``ts_recv_ns`` (every reader in this package guarantees it).
Ties are broken by argument order, then by order within an input, so a replay is
deterministic: the same files in the same order always give the same event sequence.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import Final

from feeds.replay.recording import Record

__all__ = ["merge_records"]

_RECV_TIME: Final = itemgetter(0)


def merge_records(*iterables: Iterable[Record]) -> Iterator[Record]:
    """One stream ordered by ``ts_recv_ns``, stable across and within inputs.

    A single input is returned as is (``iter`` of it): the common one-file replay pays nothing.
    """
    if len(iterables) == 1:
        return iter(iterables[0])
    return heapq.merge(*iterables, key=_RECV_TIME)
