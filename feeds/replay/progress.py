"""How far a replay has read into its input files, for a progress bar.

Readers open files through ``open_metered``. While a ``ReadMeter`` is active (``with meter:``)
every byte they read from disk (compressed, as stored) is counted, so progress is the share of
the inputs' on-disk size consumed. Nothing is counted, and nothing is slower, without a meter.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from contextvars import ContextVar, Token
from pathlib import Path
from typing import BinaryIO, cast

__all__ = ["ReadMeter", "open_metered"]

_ACTIVE: ContextVar[ReadMeter | None] = ContextVar("bybit_router_read_meter", default=None)


class ReadMeter:
    """Bytes read so far against the total size of the files to be read."""

    def __init__(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        self.total_bytes = sum(Path(path).stat().st_size for path in paths)
        self.read_bytes = 0
        self._token: Token[ReadMeter | None] | None = None

    @property
    def fraction(self) -> float:
        return min(1.0, self.read_bytes / self.total_bytes) if self.total_bytes else 1.0

    def __enter__(self) -> ReadMeter:
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None


class _CountingReader(io.RawIOBase):
    def __init__(self, raw: io.FileIO, meter: ReadMeter) -> None:
        self._raw = raw
        self._meter = meter

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = self._raw.readinto(buffer) or 0
        self._meter.read_bytes += count
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_metered(path: str | os.PathLike[str]) -> BinaryIO:
    """``open(path, "rb")``, counted by the active ``ReadMeter`` if there is one."""
    meter = _ACTIVE.get()
    if meter is None:
        return open(path, "rb")
    return cast(BinaryIO, io.BufferedReader(_CountingReader(io.FileIO(path, "rb"), meter), 1 << 20))
