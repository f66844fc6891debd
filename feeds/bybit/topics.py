"""Where to connect and what to subscribe to on Bybit v5 websockets. Pure lookups, no I/O.

Names are checked here, before they reach the wire, because Bybit's answer to a bad topic is
a failed ack at best (``handler not found``) and silence at worst: a book that never starts
looks exactly like a quiet market. The environment is always an explicit argument so that
nothing connects to mainnet by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "Category",
    "Environment",
    "UnsupportedEndpointError",
    "ORDERBOOK_DEPTHS",
    "KLINE_INTERVALS",
    "parse_category",
    "parse_environment",
    "validate_symbol",
    "public_url",
    "private_url",
    "trade_url",
    "orderbook_topic",
    "trade_topic",
    "ticker_topic",
    "kline_topic",
    "price_limit_topic",
]


class Category(StrEnum):
    """Bybit v5 product categories; one public connection serves exactly one of them."""

    SPOT = "spot"
    LINEAR = "linear"
    INVERSE = "inverse"
    OPTION = "option"


class Environment(StrEnum):
    MAINNET = "mainnet"
    TESTNET = "testnet"
    DEMO = "demo"  # mainnet-hosted paper account: own private stream, mainnet public data


class UnsupportedEndpointError(ValueError):
    """The environment has no such endpoint (the message says what to use instead)."""


@dataclass(frozen=True, slots=True)
class _Hosts:
    """Websocket hosts of one environment; ``trade`` is None where the trade API does not exist."""

    public: str
    private: str
    trade: str | None


_MAINNET_HOST: Final = "wss://stream.bybit.com"
_HOSTS: Final = {
    Environment.MAINNET: _Hosts(public=_MAINNET_HOST, private=_MAINNET_HOST, trade=_MAINNET_HOST),
    Environment.TESTNET: _Hosts(
        public="wss://stream-testnet.bybit.com",
        private="wss://stream-testnet.bybit.com",
        trade="wss://stream-testnet.bybit.com",
    ),
    Environment.DEMO: _Hosts(public=_MAINNET_HOST, private="wss://stream-demo.bybit.com", trade=None),
}

ORDERBOOK_DEPTHS: Final = {
    Category.SPOT: frozenset({1, 50, 200, 1000}),
    Category.LINEAR: frozenset({1, 50, 200, 1000}),
    Category.INVERSE: frozenset({1, 50, 200, 1000}),
    Category.OPTION: frozenset({25, 100}),
}
"""Currently served depths. Level 500 was removed for futures on 2025-09-11; asking for it fails."""

KLINE_INTERVALS: Final = ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M")

_SYMBOL: Final = re.compile(r"[A-Z0-9][A-Z0-9-]*")
"""Bybit symbols are upper-case ASCII letters, digits and dashes (options: BTC-29JUL22-25000-C).

The check exists mainly to keep '.' and spaces out: a dot would shift every later field of
the topic name and subscribe to something else, or to nothing.
"""


def parse_category(category: Category | str) -> Category:
    """The category for a wire string, or ValueError naming the accepted values."""
    try:
        return Category(category)
    except ValueError:
        raise ValueError(f"unknown category {category!r}; expected one of {_names(Category)}") from None


def parse_environment(env: Environment | str) -> Environment:
    """The environment for a name, or ValueError naming the accepted values."""
    try:
        return Environment(env)
    except ValueError:
        raise ValueError(f"unknown environment {env!r}; expected one of {_names(Environment)}") from None


def validate_symbol(symbol: str) -> str:
    """``symbol`` unchanged if it looks like a Bybit symbol, else ValueError."""
    if type(symbol) is not str or _SYMBOL.fullmatch(symbol) is None:
        raise ValueError(f"invalid symbol {symbol!r}: expected upper-case letters, digits and '-'")
    return symbol


# -- endpoints -------------------------------------------------------------------------------


def public_url(category: Category | str, env: Environment | str) -> str:
    """Public market-data stream of one category (demo accounts read mainnet public data)."""
    hosts = _HOSTS[parse_environment(env)]
    return f"{hosts.public}/v5/public/{parse_category(category).value}"


def private_url(env: Environment | str) -> str:
    """Private stream (order, execution, position, wallet); needs ``op: auth`` first."""
    return f"{_HOSTS[parse_environment(env)].private}/v5/private"


def trade_url(env: Environment | str) -> str:
    """Order-entry websocket. Demo trading has none, so asking for it raises instead of guessing."""
    environment = parse_environment(env)
    host = _HOSTS[environment].trade
    if host is None:
        raise UnsupportedEndpointError(
            f"the {environment.value} environment has no websocket trade API; place orders over REST"
        )
    return f"{host}/v5/trade"


# -- topic names -------------------------------------------------------------------------------


def orderbook_topic(symbol: str, depth: int, *, category: Category | str) -> str:
    """``orderbook.{depth}.{symbol}``; the depth must be one the category serves."""
    cat = parse_category(category)
    allowed = ORDERBOOK_DEPTHS[cat]
    if type(depth) is not int or depth not in allowed:
        raise ValueError(f"orderbook depth {depth!r} is not available for {cat.value}; choose one of {sorted(allowed)}")
    return f"orderbook.{depth}.{validate_symbol(symbol)}"


def trade_topic(symbol: str) -> str:
    """``publicTrade.{symbol}`` (not ``trade.``: that prefix does not exist in v5)."""
    return f"publicTrade.{validate_symbol(symbol)}"


def ticker_topic(symbol: str) -> str:
    """``tickers.{symbol}`` (plural, unlike the other prefixes)."""
    return f"tickers.{validate_symbol(symbol)}"


def kline_topic(symbol: str, interval: str) -> str:
    """``kline.{interval}.{symbol}``; ``interval`` is Bybit's string ("1", "60", "D", ...)."""
    if interval not in KLINE_INTERVALS:
        raise ValueError(f"kline interval {interval!r} is not supported; choose one of {KLINE_INTERVALS}")
    return f"kline.{interval}.{validate_symbol(symbol)}"


def price_limit_topic(symbol: str) -> str:
    """``priceLimit.{symbol}``: the live order price band, used to pre-clip limit prices."""
    return f"priceLimit.{validate_symbol(symbol)}"


def _names(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]
