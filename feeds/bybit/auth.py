"""Bybit v5 request signing: HMAC-SHA256 over exactly the bytes Bybit will verify. No clock, no I/O.

Every timestamp and expiry is an argument. A signer that read the clock itself could not be
tested against fixed vectors, and the caller has to know the exact timestamp it signed anyway,
because the same value goes into the ``X-BAPI-TIMESTAMP`` header or the auth frame next to
the signature. Only system-generated (HMAC) keys are supported; Bybit's self-generated RSA keys
sign differently (base64 RSA-SHA256) and are not used by this engine.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

__all__ = [
    "Credentials",
    "sign",
    "ws_auth_signature",
    "rest_string_to_sign",
    "rest_signature",
]

WS_AUTH_PREFIX: Final = "GET/realtime"
"""Fixed text Bybit prepends to the expiry when it verifies a websocket auth signature."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """An API key pair. The secret never appears in ``repr``/``str``, so it cannot leak into logs.

    The key itself is shown: it is sent in clear in every auth frame and REST header, and
    seeing which key a connection used is what an operator needs when debugging.
    """

    api_key: str
    api_secret: str

    def __post_init__(self) -> None:
        for name in ("api_key", "api_secret"):
            value = getattr(self, name)
            if type(value) is not str or not value or value != value.strip():
                # A stray newline from a secrets file signs fine locally and fails with 10003/10004.
                raise ValueError(f"Credentials.{name} must be a non-empty string without surrounding spaces")

    def __repr__(self) -> str:
        return f"Credentials(api_key={self.api_key!r}, api_secret=<redacted>)"

    __str__ = __repr__


def sign(secret: str, payload: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``payload`` keyed with ``secret`` (both UTF-8), as Bybit expects."""
    _require_str("secret", secret)
    _require_str("payload", payload)
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def ws_auth_signature(secret: str, expires_ms: int) -> str:
    """Signature for the websocket ``auth`` op: HMAC of ``"GET/realtime" + str(expires_ms)``.

    ``expires_ms`` must be the very integer sent in the auth frame; a bool or float would
    stringify differently from what Bybit re-computes, so they are rejected.
    """
    _require_ms("expires_ms", expires_ms)
    return sign(secret, f"{WS_AUTH_PREFIX}{expires_ms}")


def rest_string_to_sign(timestamp_ms: int, api_key: str, recv_window_ms: int, payload: str) -> str:
    """``timestamp + api_key + recv_window + payload``, no separators.

    ``payload`` is the query string exactly as sent (no leading ``?``) for GET, or the raw JSON
    body exactly as sent for POST: Bybit signs the bytes it receives, so re-serialising the body
    after signing is the classic cause of retCode 10004.
    """
    _require_ms("timestamp_ms", timestamp_ms)
    _require_ms("recv_window_ms", recv_window_ms)
    _require_str("api_key", api_key)
    _require_str("payload", payload)
    return f"{timestamp_ms}{api_key}{recv_window_ms}{payload}"


def rest_signature(secret: str, timestamp_ms: int, api_key: str, recv_window_ms: int, payload: str) -> str:
    """``X-BAPI-SIGN`` value for a REST request (see ``rest_string_to_sign`` for ``payload``)."""
    return sign(secret, rest_string_to_sign(timestamp_ms, api_key, recv_window_ms, payload))


def _require_str(name: str, value: object) -> None:
    if type(value) is not str:
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")


def _require_ms(name: str, value: object) -> None:
    """Millisecond values must be real positive ints: ``str(True)`` or ``str(1.0e12)`` would sign garbage."""
    if type(value) is not int:
        raise TypeError(f"{name} must be an int (milliseconds), got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
