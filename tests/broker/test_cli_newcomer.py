"""A newcomer's first ``broker`` commands, run as the console script runs them, with no config at all."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from broker import cli

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
    for command in ("db", "registry", "regions", "preflight", "invites", "simulate", "staff", "tokens", "purge", "keys", "esia"):
        assert f"\n  {command} " in result.stdout
    assert "Traceback" not in result.stderr


def test_a_commands_help_works_without_config(tmp_path: Path) -> None:
    for args in (
        ("keys", "generate", "--help"),
        ("regions", "list", "--help"),
        ("db", "--help"),
        ("esia", "check", "--help"),
        ("esia", "keygen", "--help"),
    ):
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


# --- the README's account of them ----------------------------------------------------------------

NAME = re.compile(r"[a-z][a-z-]*")


def leaf_commands(command: click.Command, path: tuple[str, ...], no_app: bool = False) -> Iterator[tuple[str, bool]]:
    """``command``'s runnable commands as typed after ``broker`` ("db upgrade", "purge"), and
    whether each runs without the app (it or its group is in ``cli.NEEDS_NO_APP``)."""
    no_app = no_app or command in cli.NEEDS_NO_APP
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from leaf_commands(sub, (*path, name), no_app)
    else:
        yield " ".join(path), no_app


def broker_commands() -> dict[str, bool]:
    return dict(pair for name, command in cli._catalogue().items() for pair in leaf_commands(command, (name,)))


def readme_commands() -> set[str]:
    """The commands the README's table names: "`broker staff create …` / `list`" is staff create and staff list."""
    named = set()
    for row in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if not row.startswith("| `broker "):
            continue
        first, *others = re.findall(r"`([^`]+)`", re.split(r"(?<!\\)\|", row)[1])
        words: list[str] = []
        for word in first.split()[1:]:
            if not NAME.fullmatch(word):
                break
            words.append(word)
        named.add(" ".join(words))
        group = words[:-1] if len(words) > 1 else words
        named.update(" ".join([*group, other.split()[0]]) for other in others)
    return named


def test_the_readme_table_names_every_command_of_the_broker() -> None:
    commands = broker_commands()
    assert {"esia check", "esia keygen", "keys generate"} <= set(commands)
    assert sorted(set(commands) - readme_commands()) == []


def test_the_readme_says_which_commands_run_without_the_secrets() -> None:
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    sentence = text[text.index("`broker --help`, any command's `--help`") :].partition("; every other command")[0]
    no_app = sorted(path for path, runs_alone in broker_commands().items() if runs_alone)
    assert no_app == ["esia check", "esia keygen", "keys generate"]
    assert [path for path in no_app if f"`broker {path}`" not in sentence] == []
