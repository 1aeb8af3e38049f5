"""A broker served by ``broker serve`` in a test: its config (the environment only), a free port, the
gunicorn workers under it, and waiting until it answers; shared by the serve and metrics tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"BROKER_SECRET_KEY": "s" * 32, "BROKER_SNILS_HASH_KEY": "n" * 32, "BROKER_OID_HASH_KEY": "o" * 32}


def environment(tmp_path: Path, database_url: str, **more: str) -> dict[str, str]:
    """The broker's config for a served instance: the environment only (an empty config file)."""
    empty = tmp_path / "empty.toml"
    empty.touch()
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("BROKER_", "FLASK_", "GUNICORN_", "PROMETHEUS_"))}
    clean.pop("DATABASE_URL", None)
    return {**clean, **SECRETS, "PYTHONPATH": str(ROOT), "BROKER_CONFIG": str(empty), "BROKER_DATABASE_URL": database_url, **more}


def wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("gave up waiting")


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False
