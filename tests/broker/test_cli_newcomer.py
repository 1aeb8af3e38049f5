"""A newcomer's first ``broker`` commands, run as the console script runs them, with no config at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def broker(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``broker ARGS`` in ``tmp_path`` with no configuration: no BROKER_* but ``env``, and an empty config file.

    The broker reads ``instance/config.toml`` of the checkout when there is one (``make run``
    writes it with development secrets), so ``BROKER_CONFIG`` names an empty file instead.
    """
    empty = tmp_path / "empty.toml"
    empty.touch()
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("BROKER_", "FLASK_"))}
    clean.pop("DATABASE_URL", None)
    clean.update(PYTHONPATH=str(ROOT), BROKER_CONFIG=str(empty), **env)
    return subprocess.run(
        [sys.executable, "-c", "from broker.cli import main; main()", *args],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


SECRETS = {"BROKER_SECRET_KEY": "s" * 32, "BROKER_SNILS_HASH_KEY": "n" * 32, "BROKER_OID_HASH_KEY": "o" * 32}


def test_help_works_without_config_and_lists_the_brokers_commands(tmp_path: Path) -> None:
    result = broker(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    for command in ("db", "registry", "regions", "preflight", "invites", "simulate", "staff", "tokens", "purge", "keys"):
        assert f"\n  {command} " in result.stdout
    assert "Traceback" not in result.stderr


def test_a_commands_help_works_without_config(tmp_path: Path) -> None:
    for args in (("keys", "generate", "--help"), ("regions", "list", "--help"), ("db", "--help")):
        result = broker(tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert "Usage:" in result.stdout
        assert result.stderr == ""


def test_keys_generate_writes_a_key_without_config(tmp_path: Path) -> None:
    result = broker(tmp_path, "keys", "generate", "signing.pem")
    assert result.returncode == 0, result.stderr
    assert "new RSA key, kid" in result.stdout
    assert (tmp_path / "signing.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_a_command_needing_the_app_without_secret_key_says_in_one_line_what_to_set(tmp_path: Path) -> None:
    for args in (("db", "upgrade"), ("regions", "list"), ("keys", "rehash-oids"), ("routes",)):
        result = broker(tmp_path, *args, BROKER_SNILS_HASH_KEY="n" * 32, BROKER_OID_HASH_KEY="o" * 32)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("Error: SECRET_KEY is not set. Set BROKER_SECRET_KEY")
        assert "BROKER_CONFIG" in lines[0]
        assert not (tmp_path / "instance").exists()  # nothing was made before the refusal


def test_a_missing_signing_key_file_is_one_line_naming_the_file_and_the_key(tmp_path: Path) -> None:
    missing = tmp_path / "absent.pem"
    result = broker(tmp_path, "regions", "list", **SECRETS, BROKER_OIDC_SIGNING_KEY_FILES=f'["{missing}"]')
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"Error: OIDC_SIGNING_KEY_FILES: cannot read {missing}: No such file or directory"]


def test_a_missing_esia_key_file_is_one_line_naming_the_file_and_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "absent-esia.key"
    result = broker(
        tmp_path,
        "regions",
        "list",
        **SECRETS,
        BROKER_ESIA_BASE_URL="https://esia.example",
        BROKER_ESIA_CLIENT_ID="DIARY",
        BROKER_ESIA_KEY_FILE=str(missing),
        BROKER_ESIA_CERTIFICATE_FILE=str(tmp_path / "absent.crt"),
        BROKER_ESIA_REDIRECT_URI="https://broker.example/auth/callback",
        BROKER_ESIA_TOKEN_CERTIFICATE_FILES='["/absent-token.crt"]',
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ESIA_KEY_FILE") and str(missing) in lines[0] and "BROKER_ESIA_KEY_FILE" in lines[0]
