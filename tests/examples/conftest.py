"""Fixtures for the demo's tests: the demo itself, started once per module, in ESIA's current
flow (`make run`'s default) and, for the legacy flow's checks, with ``DEMO_ESIA_FLOW=legacy``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from examples.localhost import free_port
from tests.examples.demo import Demo, launch, server_groups, terminate, wait_until_ready


@contextmanager
def started_demo(tmp_path_factory: pytest.TempPathFactory, **env: str) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("demo")
    ports = {name: free_port() for name in ("DEMO_ESIA_PORT", "DEMO_BROKER_PORT", "DEMO_PORTAL_PORT")}
    process = launch(folder, **{name: str(port) for name, port in ports.items()}, **env)
    try:
        wait_until_ready(folder, process)
        esia, broker, portal = (f"http://127.0.0.1:{port}" for port in ports.values())
        yield Demo(folder, esia, broker, portal, server_groups(process))
    finally:
        terminate(process)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`make run` as it is typed: DEMO_ESIA_FLOW unset, whatever the test's environment says."""
    with started_demo(tmp_path_factory, DEMO_ESIA_FLOW="") as started:
        yield started


@pytest.fixture(scope="module")
def legacy_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with started_demo(tmp_path_factory, DEMO_ESIA_FLOW="legacy") as started:
        yield started
