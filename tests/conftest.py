"""Shared test paths. Tests never touch the network; everything they read lives in the repo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "bybit"
REPLAY_DATA = REPO / "replay_data"
XRP_SAMPLE = REPLAY_DATA / "xrpusdt-ob500.data.zip"


@pytest.fixture
def xrp_sample() -> Path:
    return XRP_SAMPLE


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures structlog for the process; put the defaults back after every test."""
    yield
    structlog.reset_defaults()
