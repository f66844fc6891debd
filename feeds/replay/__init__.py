"""Replay inputs: our recordings and Bybit's public archives, as ``(ts_recv_ns, stream, raw)``
records that go through the same parser as live frames."""

from feeds.replay.history import (
    DEFAULT_REORDER_WINDOW,
    HISTORY_STREAM,
    RecordKind,
    detect_kind,
    open_records,
    read_json_frames,
    read_orderbook_history,
    read_trade_csv,
    symbol_from_file_name,
)
from feeds.replay.merge import merge_records
from feeds.replay.recording import (
    RECORDING_MAGIC,
    RECORDING_VERSION,
    Record,
    RecordingWriter,
    ReplayDataError,
    read_recording,
    read_recording_metadata,
)

__all__ = [
    "Record",
    "ReplayDataError",
    "RecordKind",
    "RecordingWriter",
    "RECORDING_MAGIC",
    "RECORDING_VERSION",
    "read_recording",
    "read_recording_metadata",
    "read_json_frames",
    "read_orderbook_history",
    "read_trade_csv",
    "symbol_from_file_name",
    "HISTORY_STREAM",
    "DEFAULT_REORDER_WINDOW",
    "detect_kind",
    "open_records",
    "merge_records",
]
