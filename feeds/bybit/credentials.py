"""API keys come from the environment or a file, never from the command line, and never into a log.

A key on the command line ends up in shell history and in every ``ps`` listing on the host, so
no option takes one. ``load_credentials`` reads ``BYBIT_API_KEY`` / ``BYBIT_API_SECRET`` (or other
variable names, as the daemon's ``[credentials]`` table may say) or a TOML file with ``api_key``
and ``api_secret`` (top level or under ``[credentials]``). A file that others on the host can
read is refused: the secret would not be secret. Errors name the variable, the file or the key
that is wrong, never a value. ``Credentials`` redacts the secret in ``repr``.
"""

from __future__ import annotations

import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from feeds.bybit.auth import Credentials

__all__ = ["CredentialsError", "load_credentials", "KEY_VAR", "SECRET_VAR"]

KEY_VAR: Final = "BYBIT_API_KEY"
SECRET_VAR: Final = "BYBIT_API_SECRET"


class CredentialsError(ValueError):
    """Missing or unusable credentials; the message names where they were looked for, never a value."""


def load_credentials(
    environ: Mapping[str, str],
    *,
    path: str | Path | None = None,
    key_var: str = KEY_VAR,
    secret_var: str = SECRET_VAR,
) -> Credentials:
    """Credentials from ``path`` if given, else from the environment variables ``key_var`` and ``secret_var``."""
    if path is not None:
        return _from_file(Path(path))
    missing = [name for name in (key_var, secret_var) if not environ.get(name)]
    if missing:
        raise CredentialsError(f"set {' and '.join(missing)} in the environment (or give a credentials file)")
    return _checked(environ[key_var], environ[secret_var], f"{key_var}/{secret_var}")


def _from_file(path: Path) -> Credentials:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CredentialsError(f"{path}: no such credentials file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"{path}: cannot read the credentials file: {exc.__class__.__name__}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(f"{path}: others on this host can read it; chmod 600 {path}")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CredentialsError(f"{path}: not a TOML file: {exc}") from None  # positions only, no values
    table = document.get("credentials", document)
    if not isinstance(table, dict):
        raise CredentialsError(f"{path}: [credentials] must be a table")
    for name in ("api_key", "api_secret"):
        if not isinstance(table.get(name), str) or not table[name]:
            raise CredentialsError(f"{path}: {name} is missing or not a string")
    return _checked(table["api_key"], table["api_secret"], str(path))


def _checked(key: str, secret: str, source: str) -> Credentials:
    try:
        return Credentials(api_key=key, api_secret=secret)
    except ValueError:
        raise CredentialsError(f"{source}: the key or secret is empty or has surrounding spaces") from None
