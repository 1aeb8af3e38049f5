"""``Services`` is built whole by ``create_app``: no field left empty, absent collaborators say what to configure."""

from __future__ import annotations

import ast
import dataclasses
from datetime import UTC
from pathlib import Path

import pytest
from flask import Flask

import broker
from broker import services
from broker.errors import ConfigError


def test_every_collaborator_is_there_when_create_app_returns(app: Flask) -> None:
    wired = services.current()
    assert [f.name for f in dataclasses.fields(wired) if getattr(wired, f.name) is None] == []


def test_the_clock_gives_aware_utc(app: Flask) -> None:
    assert services.current().clock().tzinfo is UTC


def test_without_esia_configured_using_it_says_what_to_set(app: Flask) -> None:
    assert not app.config["ESIA_BASE_URL"]
    with pytest.raises(ConfigError, match="ESIA is not configured: set ESIA_BASE_URL, ESIA_CLIENT_ID"):
        services.current().esia.authorize()
    with pytest.raises(ConfigError, match="ESIA is not configured"):
        services.current().esia.logout_url("https://broker.test/oidc/logged-out")


def test_without_signing_keys_the_jwks_is_empty_and_signing_says_what_to_set(app: Flask) -> None:
    assert app.test_client().get("/oidc/jwks").get_json() == {"keys": []}
    with pytest.raises(ConfigError, match="OIDC_SIGNING_KEY_FILES is empty. Create a key with `broker keys generate FILE`"):
        services.current().signing_keys.active  # noqa: B018


def test_importing_services_imports_no_wing() -> None:
    """Its collaborators' types are imported for annotations only (under ``TYPE_CHECKING``)."""
    tree = ast.parse((Path(broker.__file__).parent / "services.py").read_text(encoding="utf-8"))
    at_runtime = [node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module] + [
        alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names
    ]
    assert [name for name in at_runtime if name.split(".")[0] in {"broker", "matching", "providers"}] == []
