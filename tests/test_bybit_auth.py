"""Signing: fixed vectors (pinned hex digests computed once with ``openssl dgst -sha256 -hmac``),
an independent ``hmac`` computation in each test, and the exact strings Bybit signs."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from pathlib import Path

import orjson
import pytest

from feeds.bybit import auth as auth_module
from feeds.bybit.auth import (
    Credentials,
    rest_signature,
    rest_string_to_sign,
    sign,
    ws_auth_signature,
)
from feeds.bybit.outgoing import auth as auth_frame

AUTH_FIXTURE = Path(__file__).parent / "fixtures" / "bybit" / "ws" / "bybit_docs" / "wstrade_auth_request.json"

SECRET = "test-secret-0123456789"
DOC_KEY = "XXXXXXXXXX"
DOC_TS = 1658384314791
DOC_RECV_WINDOW = 5000
DOC_QUERY = "category=option&symbol=BTC-29JUL22-25000-C"
DOC_PLAIN_TEXT = "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"


def _reference_hmac(secret: str, payload: str) -> str:
    return hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).hexdigest()


# -- sign ------------------------------------------------------------------------------------------


def test_sign_matches_rfc4231_test_case_2() -> None:
    """sign() is plain HMAC-SHA256 in lowercase hex: RFC 4231's published vector comes out exactly."""
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign("Jefe", "what do ya want for nothing?") == expected


@pytest.mark.parametrize(
    ("secret", "payload"),
    [(SECRET, ""), (SECRET, DOC_PLAIN_TEXT), ("k" * 200, "x" * 5000), ("s", '{"a":"b"}')],
)
def test_sign_agrees_with_stdlib_hmac(secret: str, payload: str) -> None:
    """sign() equals an independent hmac.new(...).hexdigest() and is 64 lowercase hex characters."""
    digest = sign(secret, payload)
    assert digest == _reference_hmac(secret, payload)
    assert len(digest) == 64
    assert digest == digest.lower()
    int(digest, 16)


def test_sign_encodes_non_ascii_as_utf8() -> None:
    """Secret and payload are UTF-8 encoded (pinned digest: a latin-1 or escaped encoding would differ)."""
    expected = "673d243df343bf821b48504b6b1fee83aa050715f945577f90ab627360345550"
    assert sign("clé", "prix=10€") == expected


@pytest.mark.parametrize(("secret", "payload"), [(b"secret", "p"), ("secret", b"p"), (None, "p")])
def test_sign_rejects_non_str(secret: object, payload: object) -> None:
    """Bytes or None are refused rather than signed through str(): b'x' would sign the text "b'x'"."""
    with pytest.raises(TypeError):
        sign(secret, payload)  # type: ignore[arg-type]


# -- websocket auth ------------------------------------------------------------------------------


def test_ws_auth_signature_pinned_vector() -> None:
    """HMAC of "GET/realtime" + expires, pinned and cross-checked against stdlib hmac."""
    expected = "ef238779b7f7f7c62df9a960af568b75f56c12405ad847fa442e0226d5947d60"
    assert ws_auth_signature(SECRET, 1711010121452) == expected
    assert expected == _reference_hmac(SECRET, "GET/realtime1711010121452")


@pytest.mark.parametrize("expires", [True, 1711010121452.0, "1711010121452", None])
def test_ws_auth_signature_rejects_non_int_expiry(expires: object) -> None:
    """A bool/float/str expiry would stringify differently from the int Bybit re-signs: TypeError."""
    with pytest.raises(TypeError):
        ws_auth_signature(SECRET, expires)  # type: ignore[arg-type]


@pytest.mark.parametrize("expires", [0, -1])
def test_ws_auth_signature_rejects_non_positive_expiry(expires: int) -> None:
    """An expiry of 0 or less is always in the past: refused with ValueError."""
    with pytest.raises(ValueError, match="positive"):
        ws_auth_signature(SECRET, expires)


def test_auth_frame_has_the_documented_fixture_shape() -> None:
    """The auth frame has the doc example's keys and arg types: [key: str, expires: int, signature: hex]."""
    fixture = json.loads(AUTH_FIXTURE.read_text())
    frame = orjson.loads(auth_frame(Credentials("XXXXXX", SECRET), 1711010121452))
    assert set(frame) == set(fixture) == {"op", "args"}
    assert frame["op"] == fixture["op"] == "auth"
    assert [type(a) for a in frame["args"]] == [type(a) for a in fixture["args"]] == [str, int, str]
    key, expires, signature = frame["args"]
    assert (key, expires) == ("XXXXXX", 1711010121452)
    assert signature == _reference_hmac(SECRET, f"GET/realtime{expires}")
    assert len(signature) == len(fixture["args"][2]) == 64


# -- REST ------------------------------------------------------------------------------------------


def test_rest_string_to_sign_matches_doc_example() -> None:
    """The string to sign is timestamp + key + recv_window + query, exactly Bybit's documented plain text."""
    assert rest_string_to_sign(DOC_TS, DOC_KEY, DOC_RECV_WINDOW, DOC_QUERY) == DOC_PLAIN_TEXT


def test_rest_signature_of_doc_example_with_fixed_secret() -> None:
    """The GET signature of the doc example is the HMAC of the documented plain text (pinned)."""
    expected = "44cd56dd7f586d4c0f7374b4ea02c8605d31f5c1eb48ef865cfd2236378f1678"
    assert rest_signature(SECRET, DOC_TS, DOC_KEY, DOC_RECV_WINDOW, DOC_QUERY) == expected
    assert expected == _reference_hmac(SECRET, DOC_PLAIN_TEXT)


def test_rest_signature_signs_the_raw_post_body() -> None:
    """For POST the raw JSON body is appended verbatim, with no re-serialisation (pinned digest)."""
    body = '{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"0.001"}'
    expected = "ec56eb5fda9cbb5294e0d73a34dfd27ef59adf63e5e4586c25f9fc0117bfb128"
    assert rest_signature(SECRET, DOC_TS, DOC_KEY, DOC_RECV_WINDOW, body) == expected
    assert expected == _reference_hmac(SECRET, f"{DOC_TS}{DOC_KEY}{DOC_RECV_WINDOW}{body}")


def test_rest_signature_changes_with_recv_window() -> None:
    """recv_window is part of the signed text: signing 5000 and sending 10000 cannot verify."""
    assert rest_signature(SECRET, DOC_TS, DOC_KEY, 5000, "") != rest_signature(SECRET, DOC_TS, DOC_KEY, 10000, "")


@pytest.mark.parametrize(
    ("timestamp", "recv_window"), [(float(DOC_TS), 5000), (DOC_TS, 5000.0), (True, 5000), (str(DOC_TS), 5000)]
)
def test_rest_signing_rejects_non_int_milliseconds(timestamp: object, recv_window: object) -> None:
    """Timestamps and windows must be ints: str(1658384314791.0) would sign '...791.0'."""
    with pytest.raises(TypeError):
        rest_string_to_sign(timestamp, DOC_KEY, recv_window, DOC_QUERY)  # type: ignore[arg-type]


def test_signing_never_reads_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """All signing functions work with every clock in ``time`` broken: timestamps only come from arguments."""

    def broken_clock() -> float:
        raise AssertionError("auth read the clock")

    for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter"):
        monkeypatch.setattr(time, name, broken_clock)
    assert ws_auth_signature(SECRET, 1) == ws_auth_signature(SECRET, 1)
    assert rest_signature(SECRET, DOC_TS, DOC_KEY, DOC_RECV_WINDOW, DOC_QUERY)
    assert not hasattr(auth_module, "time") and not hasattr(auth_module, "datetime")


# -- Credentials -----------------------------------------------------------------------------------


def test_credentials_repr_and_str_hide_the_secret() -> None:
    """Neither repr, str, f-string nor a container's repr (what loggers print) contains the secret."""
    creds = Credentials(api_key="my-key", api_secret="super-secret-value")
    renderings = [repr(creds), str(creds), f"{creds}", repr([creds]), repr({"c": creds})]
    for text in renderings:
        assert "super-secret-value" not in text
        assert "my-key" in text
        assert "redacted" in text


def test_credentials_are_frozen() -> None:
    """Credentials cannot be mutated after construction (they are shared by reconnecting tasks)."""
    creds = Credentials(api_key="k", api_secret="s")
    with pytest.raises(dataclasses.FrozenInstanceError):
        creds.api_secret = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("api_key", "api_secret"), [("", "s"), ("k", ""), ("k ", "s"), ("k", "s\n"), ("k", None), (None, "s")]
)
def test_credentials_reject_empty_or_padded_values(api_key: object, api_secret: object) -> None:
    """Empty values and stray whitespace (a newline from a secrets file) are refused up front."""
    with pytest.raises(ValueError, match="Credentials"):
        Credentials(api_key=api_key, api_secret=api_secret)  # type: ignore[arg-type]
