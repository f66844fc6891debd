"""Shared test paths. Tests never touch the network; everything they read lives in the repo."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "bybit"
REPLAY_DATA = REPO / "replay_data"
XRP_SAMPLE = REPLAY_DATA / "xrpusdt-ob500.data.zip"


@pytest.fixture
def xrp_sample() -> Path:
    return XRP_SAMPLE
