"""Credentials from the environment or a private file; errors that name where, never a secret."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from feeds.bybit.credentials import CredentialsError, load_credentials

SECRET = "s3cr3t-value-never-printed"


def test_from_the_environment_and_the_secret_never_shows() -> None:
    credentials = load_credentials({"BYBIT_API_KEY": "key1", "BYBIT_API_SECRET": SECRET})
    assert credentials.api_key == "key1" and credentials.api_secret == SECRET
    assert SECRET not in repr(credentials) and SECRET not in str(credentials)


def test_missing_variables_are_named() -> None:
    with pytest.raises(CredentialsError, match="set BYBIT_API_SECRET in the environment"):
        load_credentials({"BYBIT_API_KEY": "key1"})
    with pytest.raises(CredentialsError, match="MY_KEY and MY_SECRET"):
        load_credentials({}, key_var="MY_KEY", secret_var="MY_SECRET")


def test_a_secret_with_a_stray_newline_is_refused_without_printing_it() -> None:
    with pytest.raises(CredentialsError) as info:
        load_credentials({"BYBIT_API_KEY": "key1", "BYBIT_API_SECRET": SECRET + "\n"})
    assert SECRET not in str(info.value)


def test_from_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "bybit.toml"
    path.write_text(f'[credentials]\napi_key = "key2"\napi_secret = "{SECRET}"\n')
    os.chmod(path, 0o600)
    assert load_credentials({}, path=path).api_key == "key2"


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bybit.toml"
    path.write_text(f'api_key = "key2"\napi_secret = "{SECRET}"\n')
    os.chmod(path, 0o644)
    with pytest.raises(CredentialsError, match="chmod 600"):
        load_credentials({}, path=path)


@pytest.mark.parametrize(
    ("text", "message"),
    [('api_key = "k"\n', "api_secret is missing"), ("api_key = \n", "not a TOML file"), ("credentials = 1\n", "table")],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bybit.toml"
    path.write_text(text)
    os.chmod(path, 0o600)
    with pytest.raises(CredentialsError, match=message) as info:
        load_credentials({}, path=path)
    assert SECRET not in str(info.value)
    with pytest.raises(CredentialsError, match="no such credentials file"):
        load_credentials({}, path=tmp_path / "absent.toml")
