"""What the engine asks its drivers to do. Imperative names; immutable values."""

from __future__ import annotations

import msgspec

__all__ = ["Command", "ResyncBook"]


class Command(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag_field="command", tag=True):
    """Base of all commands. ``reason`` is for humans and logs."""

    reason: str = ""


class ResyncBook(Command, frozen=True, kw_only=True, gc=False):
    """The local book of ``symbol`` at ``depth`` is invalid: fetch a fresh snapshot.

    A live feed resubscribes the topic (Bybit answers with a snapshot); a replay waits for the
    next snapshot in the file.
    """

    symbol: str
    depth: int
