"""Fixtures for the demo's tests: the demo itself, started once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.examples.demo import Demo, free_port, launch, server_groups, terminate, wait_until_ready


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("demo")
    ports = {name: free_port() for name in ("DEMO_ESIA_PORT", "DEMO_BROKER_PORT", "DEMO_PORTAL_PORT")}
    process = launch(folder, **{name: str(port) for name, port in ports.items()})
    try:
        wait_until_ready(folder, process)
        esia, broker, portal = (f"http://127.0.0.1:{port}" for port in ports.values())
        yield Demo(folder, esia, broker, portal, server_groups(process))
    finally:
        terminate(process)
