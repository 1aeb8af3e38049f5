"""Fixtures for the gost library's tests: the engine in process, or a skip (a failure under REQUIRE_GOST_ENGINE=1)."""

from __future__ import annotations

import os

import pytest

from gost import engine


@pytest.fixture(scope="session")
def gost_engine() -> engine.Engine:
    loaded = engine.load()
    if loaded is None:
        problem = "OpenSSL's GOST engine (Debian libengine-gost-openssl) cannot be loaded in process"
        if os.environ.get("REQUIRE_GOST_ENGINE") == "1":
            pytest.fail(f"REQUIRE_GOST_ENGINE=1 but {problem}")
        pytest.skip(problem)
    return loaded
