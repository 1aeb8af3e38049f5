"""The mock's configuration: every key with its default, config files, and validation.

The only module that reads the environment (``MOCK_ESIA_<KEY>``, values parsed as JSON where
they are JSON) and config files (TOML or JSON, the same keys at the top level).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from mock_esia.errors import ConfigError

DEFAULTS: dict[str, Any] = {
    # The iss of every token: environment-specific, http://, trailing slash (docs/esia.md, 'Token checks').
    "ISSUER": "http://esia-portal1.test.gosuslugi.ru/",
    # Base of the absolute URLs in person API answers; default: the URL the request came to.
    "PUBLIC_URL": None,
    # Where keys and certificates are written on first start; None keeps fresh keys in memory.
    "DATA_DIR": None,
    # Registered client systems (see mock_esia.clients for the shape).
    "CLIENTS": {},
    # A TOML or JSON file with any of these keys; relative paths in it resolve against its folder.
    "CONFIG_FILE": None,
    # The persons fixture; None is the bundled data/persons.json.
    "PERSONS_FILE": None,
    "CODE_TTL": 120,
    "LOGIN_TTL": 600,
    "ACCESS_TOKEN_TTL": 3600,
    "ID_TOKEN_TTL": 10800,
    "REFRESH_TOKEN_TTL": 86400,
    # Allowed skew of a request's timestamp, seconds (ESIA's own window is not published).
    "TIMESTAMP_WINDOW": 300,
    # "implicit": consent is assumed after login; "page": a one-click consent page is shown.
    "CONSENT": "implicit",
    # Faults (see mock_esia.scenarios): always on, per person, timeout length, random seed.
    "FAULTS": None,
    "PERSON_FAULTS": {},
    "FAULT_TIMEOUT": 30.0,
    "FAULT_SEED": None,
    # The /__mock__ endpoints (certificates, persons, run-time faults).
    "ADMIN_API": True,
    # A callable returning the time as epoch seconds; tests pass a fake clock.
    "CLOCK": None,
}


def load_config_file(path: Path | str) -> dict[str, Any]:
    """Read a TOML (``.toml``) or JSON config file."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
        data = tomllib.loads(text) if source.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot read the config file {source}: {exc}") from exc
    unknown = set(data) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"{source}: unknown keys {sorted(unknown)}; known: {sorted(DEFAULTS)}.")
    for key in ("DATA_DIR", "PERSONS_FILE"):
        if data.get(key) and not Path(data[key]).is_absolute():
            data[key] = str(source.parent / data[key])
    return data


#: Where ``python -m mock_esia`` keeps its keys when neither ``--data-dir`` nor the config file says.
DEFAULT_DATA_DIR = "instance/mock_esia"


def data_dir_of(command_line: str | None, config_file: str | None) -> Path:
    """The data directory of ``python -m mock_esia``: ``--data-dir``, else the config file's
    ``DATA_DIR`` (relative to the file), else ``instance/mock_esia`` under the current directory."""
    if command_line:
        return Path(command_line).resolve()
    if config_file:
        configured = load_config_file(config_file).get("DATA_DIR")
        if configured:
            return Path(configured).resolve()
    return Path(DEFAULT_DATA_DIR).resolve()


def validate(config: MutableMapping[str, Any]) -> None:
    """Raise one ConfigError listing every problem."""
    problems = []
    if not str(config["ISSUER"]).endswith("/"):
        problems.append("ISSUER must end with '/', as ESIA's does (http://esia-portal1.test.gosuslugi.ru/).")
    if config["CONSENT"] not in ("implicit", "page"):
        problems.append("CONSENT must be 'implicit' or 'page'.")
    for key in ("CODE_TTL", "LOGIN_TTL", "ACCESS_TOKEN_TTL", "ID_TOKEN_TTL", "REFRESH_TOKEN_TTL", "TIMESTAMP_WINDOW"):
        if not isinstance(config[key], (int, float)) or config[key] < 0:
            problems.append(f"{key} must be a number of seconds.")
    if not isinstance(config["CLIENTS"], Mapping):
        problems.append("CLIENTS must map a mnemonic to a client system.")
    if not isinstance(config["PERSON_FAULTS"], Mapping):
        problems.append("PERSON_FAULTS must map an oid to a fault.")
    if problems:
        raise ConfigError("Mock ESIA config: " + " ".join(problems))
