"""``broker serve`` (broker/ops/serve.py): gunicorn in front of ``create_app``, its defaults, and its signals."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from broker import create_app
from broker.ops import serve
from examples.localhost import children, free_port
from tests.broker.served import answers, environment, wait_for
from tests.databases import MigratedDatabases


@pytest.fixture
def served(tmp_path: Path, migrated: MigratedDatabases) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``broker serve`` with one worker on a loopback port, JSON logs, a migrated SQLite database."""
    port = free_port()
    env = environment(tmp_path, migrated.copy("sqlite", tmp_path), BROKER_LOG_FORMAT="json")
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2", "--graceful-timeout", "5"]
    process = subprocess.Popen(
        [sys.executable, "-c", "from broker.cli import main; main()", *args],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{url}/healthz") or process.poll() is not None)
        assert process.poll() is None, process.communicate()[1]
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the workers from /proc")
def test_broker_serve_answers_reloads_on_sighup_without_a_gap_and_stops_on_sigterm(served: tuple[subprocess.Popen[str], str]) -> None:
    process, url = served
    assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{url}/readyz", timeout=5).json() == {"status": "ok"}
    wait_for(lambda: len(children(process.pid)) == 1)
    [before] = children(process.pid)  # the command became gunicorn's master: the workers are its children

    process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200  # answering all through the reload
        workers = children(process.pid)
        if len(workers) == 1 and before not in workers:
            break
    [after] = children(process.pid)
    assert after != before
    assert requests.get(f"{url}/healthz", timeout=10).status_code == 200

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    _, errors = process.communicate()
    lines = [json.loads(line) for line in errors.splitlines() if line.strip()]  # gunicorn's own lines in LOG_FORMAT too
    messages = " | ".join(line["message"] for line in lines)
    assert "Handling signal: hup" in messages and "Handling signal: term" in messages and "Shutting down" in messages
    assert any(line.get("endpoint") == "health.healthz" and line["status"] == 200 for line in lines)
    assert not any(line["logger"] == "gunicorn.access" for line in lines)  # no access log: queries carry ESIA's codes


def test_broker_serve_refuses_a_database_before_its_migrations_in_one_line(tmp_path: Path) -> None:
    env = environment(tmp_path, f"sqlite:///{tmp_path}/empty.sqlite3")
    result = subprocess.run(
        [sys.executable, "-c", "from broker.cli import main; main()", "serve", "--bind", f"127.0.0.1:{free_port()}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "broker db upgrade" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- the command line it runs ---------------------------------------------------------------------


def make_app(tmp_path: Path, **config: object) -> Flask:
    keys = {"SECRET_KEY": "serve", "SNILS_HASH_KEY": "serve-snils", "OID_HASH_KEY": "serve-oid"}
    return create_app({"TESTING": True, **keys, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/serve.sqlite3", **config})


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.mark.parametrize(
    ("trusted", "allowed"),
    [(0, ""), (None, ""), (1, "*"), (2, "*"), (["10.0.0.0/8", "192.168.1.5"], "10.0.0.0/8,192.168.1.5/32"), ("::1", "::1/128")],
)
def test_gunicorn_believes_forwarded_headers_from_the_proxies_the_broker_trusts(tmp_path: Path, trusted: object, allowed: str) -> None:
    command = serve.gunicorn_command(make_app(tmp_path, TRUSTED_PROXIES=trusted), binds=["127.0.0.1:5000"], workers=1, threads=1,
                                     timeout=30, graceful_timeout=30, keep_alive=75)  # fmt: skip
    assert option(command, "--forwarded-allow-ips") == allowed
    for network in filter(None, allowed.split(",")):
        assert network == "*" or ipaddress.ip_network(network)


def test_gunicorn_runs_the_app_factory_with_the_defaults_and_no_access_log(tmp_path: Path) -> None:
    command = serve.gunicorn_command(make_app(tmp_path, LOG_LEVEL="WARNING"), binds=["0.0.0.0:8000", "unix:/run/broker.sock"],
                                     workers=3, threads=4, timeout=30, graceful_timeout=30, keep_alive=75,
                                     extra=["--max-requests", "100"])  # fmt: skip
    assert command[:3] == [sys.executable, "-m", "gunicorn"] and command[-1] == "broker:create_app()"
    assert command[-3:-1] == ["--max-requests", "100"]
    assert [command[i + 1] for i, arg in enumerate(command) if arg == "--bind"] == ["0.0.0.0:8000", "unix:/run/broker.sock"]
    assert (option(command, "--workers"), option(command, "--worker-class"), option(command, "--threads")) == ("3", "gthread", "4")
    assert (option(command, "--graceful-timeout"), option(command, "--keep-alive"), option(command, "--log-level")) == (
        "30",
        "75",
        "warning",
    )
    assert option(command, "--logger-class") == "broker.ops.serve.GunicornLogger"
    assert not any(arg.startswith("--access-log") for arg in command)


def test_the_default_is_one_worker_per_available_core() -> None:
    assert serve.default_workers() == len(os.sched_getaffinity(0))
