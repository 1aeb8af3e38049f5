"""Fixtures for the broker's tests: staff browsers, a registry for the pre-flight report, login
attempts for the support tests, and the flow tests' broker on a loopback port for Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

import matching
from broker import config
from broker.login import attempts
from tests.broker.attemptdata import (
    IVANOV,
    KID,
    NOW,
    ORLOVA,
    SIDOROV,
    TESTOV,
    attempt_for,
    import_rows,
    registry_rows,
    switch_region,
)  # fmt: skip
from tests.broker.registry_files import PREFLIGHT_ROWS, write_csv
from tests.broker.staffing import ADDRESS, StaffBrowser
from tests.world import World


@pytest.fixture
def browser(app: Flask) -> Iterator[StaffBrowser]:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ADDRESS
    yield StaffBrowser(client)


@pytest.fixture
def other_browser(app: Flask) -> Iterator[StaffBrowser]:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    yield StaffBrowser(client)


@pytest.fixture
def preflight_registry(runner: FlaskCliRunner, tmp_path: Path) -> FlaskCliRunner:
    """The broker's CLI, with PREFLIGHT_ROWS imported (an account for every finding)."""
    result = runner.invoke(args=["registry", "import", "--allow-links", str(write_csv(tmp_path / "registry.csv", PREFLIGHT_ROWS))])
    assert result.exit_code == 0, result.output
    return runner


@pytest.fixture
def attempts_registry(app: Flask, tmp_path: Path) -> Flask:
    """The app with the support tests' registry (tests/broker/attemptdata.py), regions 77 and 50 on."""
    import_rows(app, tmp_path, registry_rows())
    switch_region("77", True)
    switch_region("50", True)
    return app


@pytest.fixture
def made(attempts_registry: Flask) -> dict[str, attempts.Attempt]:
    """One attempt of each kind, oldest first, a minute apart."""
    start = NOW - timedelta(hours=1)
    people = {
        "chooser": (TESTOV, "77"),
        "simplified": (replace(TESTOV, tier=matching.Tier.SIMPLIFIED), "77"),
        "other_region": (IVANOV, "39"),
        "kid": (KID, "50"),
        "blocked": (ORLOVA, "77"),
        "no_snils": (SIDOROV, "77"),
    }
    made = {name: attempt_for(person, region, at=start + timedelta(minutes=n)) for n, (name, (person, region)) in enumerate(people.items())}
    made["esia_error"] = attempts.refusal_attempt("portal", None, matching.Reason.ESIA_ERROR, "state_unknown_or_replayed")
    return made


@pytest.fixture
def live_broker(world: World, live_server: Callable[[Any], str]) -> str:
    """The flow tests' broker on a loopback port, for Chromium; the same app and database."""
    # Plain HTTP on loopback: no cookie may be Secure (nor ``__Host-``) here, as with COOKIE_SECURE=false in dev.
    world.broker.config["COOKIE_SECURE"] = False
    world.broker.config.update(config.flask_cookie_settings(world.broker.config))
    return live_server(world.broker)
