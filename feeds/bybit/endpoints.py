"""Where to connect: Bybit's environments, or any Bybit-compatible server named in a TOML file.

``execute --endpoints FILE`` (and the daemon's ``[endpoints]`` table) take one table whose every
key is a full URL::

    [endpoints]
    public_linear = "ws://127.0.0.1:9000/v5/public/linear"
    public_spot   = "ws://127.0.0.1:9000/v5/public/spot"     # optional
    private       = "ws://127.0.0.1:9000/v5/private"
    trade         = "ws://127.0.0.1:9000/v5/trade"           # optional: without it, orders go over REST
    rest          = "http://127.0.0.1:9000"

A mistake is an ``EndpointsError`` that names the file and the key, raised before anything
connects: an unknown key (a typo must not silently fall back to a default), a missing
``private`` or ``rest``, no public stream at all, or a URL with the wrong scheme (websocket
streams are ``ws``/``wss``, REST is ``http``/``https``). ``Endpoints.for_environment`` gives
Bybit's own URLs for mainnet, testnet and demo (demo has no trade websocket: orders go over REST).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from feeds.bybit.rest import rest_base_url
from feeds.bybit.topics import (
    Category,
    Environment,
    UnsupportedEndpointError,
    parse_environment,
    private_url,
    public_url,
    trade_url,
)

__all__ = ["Endpoints", "EndpointsError", "load_endpoints", "endpoints_from_table"]

_PUBLIC_KEYS: Final = {f"public_{category.value}": category for category in Category}
_KEYS: Final = frozenset({*_PUBLIC_KEYS, "private", "trade", "rest"})
_WS: Final = ("ws", "wss")
_HTTP: Final = ("http", "https")


class EndpointsError(ValueError):
    """A bad endpoints file: the message names the file and the key."""


@dataclass(frozen=True)
class Endpoints:
    public: Mapping[Category, str]
    private: str
    rest: str
    trade: str | None = None  # None: place orders over REST
    source: str = field(default="", compare=False)  # the environment or file, for messages

    def public_url(self, category: Category) -> str:
        url = self.public.get(category)
        if url is None:
            raise EndpointsError(f"{self.source}: no public_{category.value} endpoint")
        return url

    @classmethod
    def for_environment(cls, env: Environment | str) -> Endpoints:
        environment = parse_environment(env)
        return cls(
            public={category: public_url(category, environment) for category in Category},
            private=private_url(environment),
            rest=rest_base_url(environment),
            trade=_trade_url(environment),
            source=environment.value,
        )


def _trade_url(environment: Environment) -> str | None:
    try:
        return trade_url(environment)
    except UnsupportedEndpointError:
        return None  # demo trading: orders over REST


def load_endpoints(path: str | Path) -> Endpoints:
    """The ``[endpoints]`` table of a TOML file (see the module doc); ``EndpointsError`` if it is wrong."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EndpointsError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EndpointsError(f"{path}: not a readable TOML file: {exc}") from exc
    table = document.get("endpoints")
    if not isinstance(table, dict):
        raise EndpointsError(f"{path}: needs an [endpoints] table")
    return endpoints_from_table(table, str(path))


def endpoints_from_table(table: Mapping[str, Any], source: str) -> Endpoints:
    """Validate an ``[endpoints]`` table (from a file, or the daemon's config)."""
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise EndpointsError(f"{source}: unknown key endpoints.{unknown[0]} (allowed: {', '.join(sorted(_KEYS))})")
    for key in ("private", "rest"):
        if key not in table:
            raise EndpointsError(f"{source}: endpoints.{key} is required")
    public = {category: _url(table, key, _WS, source) for key, category in _PUBLIC_KEYS.items() if key in table}
    if not public:
        raise EndpointsError(f"{source}: at least one public stream is required (e.g. endpoints.public_linear)")
    return Endpoints(
        public=public,
        private=_url(table, "private", _WS, source),
        rest=_url(table, "rest", _HTTP, source).rstrip("/"),
        trade=_url(table, "trade", _WS, source) if "trade" in table else None,
        source=source,
    )


def _url(table: Mapping[str, Any], key: str, schemes: tuple[str, ...], source: str) -> str:
    value = table[key]
    if not isinstance(value, str):
        raise EndpointsError(f"{source}: endpoints.{key} must be a URL string, got {value!r}")
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise EndpointsError(f"{source}: endpoints.{key} = {value!r} is not a {'/'.join(schemes)} URL")
    return value
