"""Endpoint URLs (the table in docs/bybit_v5.md §1.2) and topic names with their validation."""

from __future__ import annotations

import pytest

from feeds.bybit.topics import (
    Category,
    Environment,
    UnsupportedEndpointError,
    kline_topic,
    orderbook_topic,
    price_limit_topic,
    private_url,
    public_url,
    ticker_topic,
    trade_topic,
    trade_url,
)

# -- endpoints -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "env", "url"),
    [
        ("spot", "mainnet", "wss://stream.bybit.com/v5/public/spot"),
        ("linear", "mainnet", "wss://stream.bybit.com/v5/public/linear"),
        ("inverse", "mainnet", "wss://stream.bybit.com/v5/public/inverse"),
        ("option", "mainnet", "wss://stream.bybit.com/v5/public/option"),
        ("spot", "testnet", "wss://stream-testnet.bybit.com/v5/public/spot"),
        ("linear", "testnet", "wss://stream-testnet.bybit.com/v5/public/linear"),
        ("inverse", "testnet", "wss://stream-testnet.bybit.com/v5/public/inverse"),
        ("option", "testnet", "wss://stream-testnet.bybit.com/v5/public/option"),
        ("spot", "demo", "wss://stream.bybit.com/v5/public/spot"),
        ("linear", "demo", "wss://stream.bybit.com/v5/public/linear"),
        ("inverse", "demo", "wss://stream.bybit.com/v5/public/inverse"),
        ("option", "demo", "wss://stream.bybit.com/v5/public/option"),
    ],
)
def test_public_url_table(category: str, env: str, url: str) -> None:
    """Public stream URLs per category and environment; demo accounts read mainnet public data."""
    assert public_url(category, env) == url


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ("mainnet", "wss://stream.bybit.com/v5/private"),
        ("testnet", "wss://stream-testnet.bybit.com/v5/private"),
        ("demo", "wss://stream-demo.bybit.com/v5/private"),
    ],
)
def test_private_url_table(env: str, url: str) -> None:
    """Private stream URL per environment; demo has its own host."""
    assert private_url(env) == url


@pytest.mark.parametrize(
    ("env", "url"),
    [("mainnet", "wss://stream.bybit.com/v5/trade"), ("testnet", "wss://stream-testnet.bybit.com/v5/trade")],
)
def test_trade_url_table(env: str, url: str) -> None:
    """Trade (order entry) websocket URL on mainnet and testnet."""
    assert trade_url(env) == url


def test_demo_has_no_trade_websocket() -> None:
    """trade_url('demo') raises (a ValueError) whose message points to REST, instead of guessing a host."""
    with pytest.raises(UnsupportedEndpointError, match="REST") as info:
        trade_url("demo")
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnsupportedEndpointError):
        trade_url(Environment.DEMO)


def test_enums_and_strings_are_interchangeable() -> None:
    """Category/Environment members and their wire strings select the same endpoint."""
    assert public_url(Category.LINEAR, Environment.TESTNET) == public_url("linear", "testnet")
    assert private_url(Environment.MAINNET) == private_url("mainnet")


@pytest.mark.parametrize(("category", "env"), [("Linear", "mainnet"), ("futures", "mainnet"), ("spot", "prod")])
def test_unknown_category_or_environment_is_rejected(category: str, env: str) -> None:
    """Misspelt names fail loudly, listing the accepted values, rather than building a wrong URL."""
    with pytest.raises(ValueError, match="expected one of"):
        public_url(category, env)


# -- order book topics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "depths"),
    [
        ("spot", (1, 50, 200, 1000)),
        ("linear", (1, 50, 200, 1000)),
        ("inverse", (1, 50, 200, 1000)),
        ("option", (25, 100)),
    ],
)
def test_orderbook_topic_accepts_served_depths(category: str, depths: tuple[int, ...]) -> None:
    """Every depth the doc lists for a category builds ``orderbook.{depth}.{symbol}``."""
    for depth in depths:
        assert orderbook_topic("BTCUSDT", depth, category=category) == f"orderbook.{depth}.BTCUSDT"


@pytest.mark.parametrize(
    ("category", "depth"),
    [
        ("linear", 500),  # removed 2025-09-11
        ("linear", 25),
        ("inverse", 100),
        ("spot", 25),
        ("spot", 500),
        ("option", 1),
        ("option", 50),
        ("option", 200),
        ("linear", 0),
        ("linear", -50),
    ],
)
def test_orderbook_topic_rejects_depths_the_category_does_not_serve(category: str, depth: int) -> None:
    """A depth not served by the category raises ValueError naming the category and the valid depths."""
    with pytest.raises(ValueError, match=rf"{depth}.*{category}.*\[") as info:
        orderbook_topic("BTCUSDT", depth, category=category)
    assert "choose one of" in str(info.value)


@pytest.mark.parametrize("depth", [True, 50.0, "50"])
def test_orderbook_topic_rejects_non_int_depth(depth: object) -> None:
    """True == 1 and 50.0 == 50 in Python; neither may slip through as a depth."""
    with pytest.raises(ValueError, match="depth"):
        orderbook_topic("BTCUSDT", depth, category="linear")  # type: ignore[arg-type]


# -- other topics --------------------------------------------------------------------------------------


def test_simple_topic_names() -> None:
    """Exact v5 prefixes: publicTrade (not trade), tickers (plural), kline.{interval}, priceLimit."""
    assert trade_topic("BTCUSDT") == "publicTrade.BTCUSDT"
    assert ticker_topic("ETHUSDT") == "tickers.ETHUSDT"
    assert kline_topic("BTCUSDT", "60") == "kline.60.BTCUSDT"
    assert kline_topic("BTCUSDT", "D") == "kline.D.BTCUSDT"
    assert price_limit_topic("SOLUSDT") == "priceLimit.SOLUSDT"
    assert trade_topic("BTC-29JUL22-25000-C") == "publicTrade.BTC-29JUL22-25000-C"
    assert ticker_topic("1000PEPEUSDT") == "tickers.1000PEPEUSDT"


@pytest.mark.parametrize("interval", ["2", "1h", "d", "", 1])
def test_kline_topic_rejects_unknown_intervals(interval: object) -> None:
    """Only Bybit's interval strings are accepted; an int 1 or '1h' would subscribe to nothing."""
    with pytest.raises(ValueError, match="interval"):
        kline_topic("BTCUSDT", interval)  # type: ignore[arg-type]


@pytest.mark.parametrize("symbol", ["btcusdt", "BTC.USDT", "BTC USDT", "", " BTCUSDT", "BTCUSDT\n", "ÉTHUSDT", None])
def test_topic_builders_reject_malformed_symbols(symbol: object) -> None:
    """Lower case, dots, spaces, non-ASCII or empty symbols raise instead of forming a wrong topic."""
    builders = [
        lambda s: orderbook_topic(s, 50, category="linear"),
        trade_topic,
        ticker_topic,
        lambda s: kline_topic(s, "1"),
        price_limit_topic,
    ]
    for build in builders:
        with pytest.raises(ValueError, match="symbol"):
            build(symbol)
