"""Configuration: the only module that reads the environment.

Order (as Flask's tutorial): ``DEFAULTS`` -> the TOML file named by ``BROKER_CONFIG`` (or
``instance/config.toml`` when it exists) -> ``BROKER_*`` environment variables -> ``test_config``.
``DATABASE_URL`` (or ``BROKER_DATABASE_URL``) sets ``SQLALCHEMY_DATABASE_URI``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from broker.errors import ConfigError

DEFAULTS: dict[str, Any] = {
    # Signs the broker's cookies. Secret: no default.
    "SECRET_KEY": None,
    # Key of the HMAC under which SNILS is stored and looked up. Secret: no default. Changing it
    # makes every stored SNILS digest unusable (re-import the registry after a change).
    "SNILS_HASH_KEY": None,
    # Database; None means a SQLite file in the instance folder.
    "SQLALCHEMY_DATABASE_URI": None,
    "SQLALCHEMY_ENGINE_OPTIONS": {},
    # How long a broker process trusts its copy of the regions table (seconds).
    "REGION_CACHE_SECONDS": 5.0,
    # Rows written per transaction by `broker registry import`.
    "IMPORT_BATCH_SIZE": 5000,
}

REQUIRED = ("SECRET_KEY", "SNILS_HASH_KEY")


def load(app: Flask, test_config: Mapping[str, Any] | None) -> None:
    """Fill ``app.config`` in the documented order."""
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        path = os.environ.get("BROKER_CONFIG") or str(Path(app.instance_path) / "config.toml")
        if os.environ.get("BROKER_CONFIG") or Path(path).exists():
            _load_toml(app, path)
        app.config.from_prefixed_env("BROKER")
        url = os.environ.get("BROKER_DATABASE_URL") or os.environ.get("DATABASE_URL")
        if url:
            app.config["SQLALCHEMY_DATABASE_URI"] = url
    else:
        app.config.from_mapping(test_config)
    if app.config.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'broker.sqlite3'}"


def _load_toml(app: Flask, path: str) -> None:
    try:
        with open(path, "rb") as handle:
            values = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"BROKER_CONFIG names {path}, which does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    app.config.from_mapping({key: value for key, value in values.items() if key.isupper()})


def validate(config: Mapping[str, Any]) -> None:
    """Raise one :class:`ConfigError` naming every missing required key."""
    if config.get("TESTING"):
        return
    missing = [key for key in REQUIRED if not config.get(key)]
    if missing:
        names = ", ".join(missing)
        envs = ", ".join(f"BROKER_{key}" for key in missing)
        raise ConfigError(
            f"{names} not set. Set {envs} in the environment or put the keys in the file named "
            "by BROKER_CONFIG (see config.example.toml)."
        )
