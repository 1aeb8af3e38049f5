"""Root fixtures: the broker app on SQLite (and on PostgreSQL when TEST_DATABASE_URL is set), and
what several test packages share: the flow tests' world, a live server, Chromium, and OpenSSL's GOST engine."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from tests.browser import launched_chromium, phone_page
from tests.databases import DATABASES, MigratedDatabases, running_app
from tests.liveserver import serving
from tests.opensslgost import Openssl, gost_openssl
from tests.redisdb import is_redis_flow, pending_logins_in_redis, require_redis
from tests.world import DEFAULT_SETUP, World, make_material, opened_world


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedDatabases]:
    """Databases at the head revision, copied from templates migrated once per session (tests/databases.py)."""
    databases = MigratedDatabases(tmp_path_factory.mktemp("migrated"))
    yield databases
    databases.close()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, migrated: MigratedDatabases) -> str:
    """A database of the test's own at the head revision: SQLite, and PostgreSQL with TEST_DATABASE_URL."""
    return migrated.copy(request.param, tmp_path)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    with running_app(database_url, migrated=True) as app:
        yield app


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


# -- the flow tests' world: portal → broker → mock ESIA, over ``responses`` (tests/world.py) ----


@pytest.fixture(scope="session")
def material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Keys made once per session: the broker's ESIA client pair and its id_token key."""
    return make_material(tmp_path_factory.mktemp("flow-keys"))


@pytest.fixture
def esia_setup() -> str:
    """The ESIA setup of a test; override with ``@pytest.mark.parametrize("esia_setup", [...])``."""
    return DEFAULT_SETUP


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``redis`` the flow tests that also run with pending logins in Redis (tests/redisdb.py)."""
    for item in items:
        if "world" in getattr(item, "fixturenames", ()) and is_redis_flow(item.nodeid):
            item.add_marker(pytest.mark.redis)


@pytest.fixture
def world(
    request: pytest.FixtureRequest, material: dict[str, Path], tmp_path: Path, esia_setup: str, migrated: MigratedDatabases
) -> Iterator[World]:
    """The flow tests' world; a ``redis`` test keeps its pending logins in Redis when REDIS_URL is set (the CI's Redis pass)."""
    in_redis = request.node.get_closest_marker("redis") is not None and bool(os.environ.get("REDIS_URL"))
    config = pending_logins_in_redis(require_redis()) if in_redis else None
    with opened_world(material, migrated.copy("sqlite", tmp_path), esia_setup, config) as world:
        yield world  # its REDIS_KEY_PREFIX is its own: the rate limits' counters in that Redis too start at none


# -- real sockets and a real browser ------------------------------------------------------------


@pytest.fixture
def live_server() -> Iterator[Callable[[Any], str]]:
    """``live_server(app)`` serves a WSGI app on a loopback port until the test ends; gives its base URL."""
    with ExitStack() as servers:
        yield lambda app: servers.enter_context(serving(app))


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Chromium, one per module; skipped without it unless REQUIRE_BROWSER=1."""
    with launched_chromium() as launched:
        yield launched


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A phone-sized page in Russian, in a context of its own; axe-core is there for ``check_page``."""
    with phone_page(chromium) as page:
        yield page


@pytest.fixture(scope="session")
def openssl(tmp_path_factory: pytest.TempPathFactory) -> Openssl:
    """OpenSSL with Debian's GOST engine; skipped without it unless REQUIRE_GOST_ENGINE=1."""
    return gost_openssl(tmp_path_factory.mktemp("openssl"))
