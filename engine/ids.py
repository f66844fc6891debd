"""Deterministic identifiers: parent ids, child orderLinkIds and trade-API request ids.

A child's ``orderLinkId`` is ``<parent_id>-<seq>``: unique per account as long as parent ids
are, readable in Bybit's UI, and enough to re-attach a child to its parent after a restart.
It is at most ``MAX_CHILD_ID`` characters (Bybit allows 36) so that request ids, which prefix
the child id with the operation, also fit in 36. Nothing here uses randomness or the clock.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "MAX_CHILD_ID",
    "MAX_PARENT_ID",
    "validate_parent_id",
    "child_id",
    "parse_child_id",
    "request_id",
    "client_id_of_request",
]

MAX_CHILD_ID: Final = 30
MAX_SEQ_DIGITS: Final = 5
MAX_PARENT_ID: Final = MAX_CHILD_ID - 1 - MAX_SEQ_DIGITS
_PARENT_ID: Final = re.compile(rf"[A-Za-z0-9_]{{1,{MAX_PARENT_ID}}}")
_REQUEST_PREFIX: Final = {"order.create": "", "order.cancel": "x", "order.amend": "a"}


def validate_parent_id(parent_id: str) -> str:
    """A parent id: 1-24 letters, digits or ``_`` (no ``-``, which separates the child's seq)."""
    if not isinstance(parent_id, str) or not _PARENT_ID.fullmatch(parent_id):
        raise ValueError(f"parent id must be 1-{MAX_PARENT_ID} characters of [A-Za-z0-9_], got {parent_id!r}")
    return parent_id


def child_id(parent_id: str, seq: int) -> str:
    """orderLinkId of the ``seq``-th child (1-based) of ``parent_id``."""
    if not 1 <= seq < 10**MAX_SEQ_DIGITS:
        raise ValueError(f"child sequence {seq} out of range 1..{10**MAX_SEQ_DIGITS - 1}")
    return f"{parent_id}-{seq}"


def parse_child_id(client_order_id: str) -> tuple[str, int] | None:
    """(parent_id, seq) of one of our child ids, or None for any other orderLinkId."""
    parent_id, dash, seq = client_order_id.rpartition("-")
    if not dash or not seq.isdigit() or not seq.isascii() or not _PARENT_ID.fullmatch(parent_id):
        return None
    return parent_id, int(seq)


def request_id(op: str, client_order_id: str, attempt: int = 0) -> str:
    """The trade-API reqId for ``op`` on a child: unique per request, and mapping back to it.

    Creates use the child id itself; cancels and amends prefix it (``x``/``a<n>``), so a
    reply, success or not, always says which order it is about.
    """
    prefix = _REQUEST_PREFIX[op]
    if op == "order.amend":
        prefix = f"a{attempt}"
    return f"{prefix}:{client_order_id}" if prefix else client_order_id


def client_id_of_request(req_id: str) -> str:
    """The child id a reqId was made for (the inverse of ``request_id``)."""
    _, colon, rest = req_id.partition(":")
    return rest if colon else req_id
