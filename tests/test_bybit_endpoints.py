"""Endpoints: Bybit's environments, or a TOML file naming every URL, checked before anything connects."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeds.bybit.endpoints import Endpoints, EndpointsError, load_endpoints
from feeds.bybit.topics import Category

GOOD = """
[endpoints]
public_linear = "ws://127.0.0.1:9000/v5/public/linear"
public_spot   = "ws://127.0.0.1:9000/v5/public/spot"
private       = "ws://127.0.0.1:9000/v5/private"
trade         = "ws://127.0.0.1:9000/v5/trade"
rest          = "http://127.0.0.1:9000/"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "endpoints.toml"
    path.write_text(text)
    return path


def test_the_issue_example_loads(tmp_path: Path) -> None:
    endpoints = load_endpoints(write(tmp_path, GOOD))
    assert endpoints.public_url(Category.LINEAR) == "ws://127.0.0.1:9000/v5/public/linear"
    assert endpoints.trade == "ws://127.0.0.1:9000/v5/trade" and endpoints.rest == "http://127.0.0.1:9000"
    with pytest.raises(EndpointsError, match="no public_option endpoint"):
        endpoints.public_url(Category.OPTION)


def test_without_trade_orders_go_over_rest(tmp_path: Path) -> None:
    text = "\n".join(line for line in GOOD.splitlines() if not line.startswith("trade"))
    assert load_endpoints(write(tmp_path, text)).trade is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("public_spot", "publik_spot"), "unknown key endpoints.publik_spot"),
        (GOOD.replace('rest          = "http://127.0.0.1:9000/"', ""), "endpoints.rest is required"),
        (GOOD.replace('"ws://127.0.0.1:9000/v5/private"', '"http://127.0.0.1:9000/v5/private"'), "endpoints.private"),
        (GOOD.replace('"http://127.0.0.1:9000/"', "9000"), "endpoints.rest must be a URL string"),
        ("[endpoints]\nprivate = 'ws://h/p'\nrest = 'http://h'\n", "at least one public stream"),
        ("endpoints = 3\n", "needs an \\[endpoints\\] table"),
        ("[endpoints\n", "not a readable TOML file"),
    ],
)
def test_mistakes_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(EndpointsError, match=message) as info:
        load_endpoints(path)
    assert str(info.value).startswith(str(path))


def test_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EndpointsError, match="no such file"):
        load_endpoints(tmp_path / "nope.toml")


def test_environments_name_bybits_urls_and_demo_has_no_trade_socket() -> None:
    testnet = Endpoints.for_environment("testnet")
    assert testnet.public_url(Category.LINEAR).endswith("/v5/public/linear") and "testnet" in testnet.private
    assert testnet.trade is not None and testnet.trade.endswith("/v5/trade")
    assert Endpoints.for_environment("demo").trade is None
