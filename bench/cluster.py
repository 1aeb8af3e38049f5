"""The servers of ``bench/login_load.py``: the mock ESIA and broker instances, set up as `make run` sets them up.

``examples/run_demo.py`` prepares the instance folder (config, migrated database, the demo
registry, the keys of the ESIA flow) and describes the servers; :func:`started` runs the mock
ESIA and ``N`` ``broker serve`` processes on free ports, with one config (the same SECRET_KEY and
keys) and one database, behind one public address where nothing listens (the load generator is
the load balancer: ``bench/balancer.py``). An :class:`Instance` restarts as an orchestrator
restarts one: SIGTERM, wait for the exit, start again, wait for ``/readyz``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.config import RATE_LIMIT_KEYS
from examples.localhost import children, free_port

ROOT = Path(__file__).resolve().parent.parent
#: A rate limit far above any load of this machine: the limiter counts (its cost and its calls to
#: Redis are in the figures) and never refuses.
FAR_LIMIT = "1000000 per minute"
STOP_SECONDS = 60.0


def demo_module() -> Any:
    """examples/run_demo.py, whose setup `make run` uses: the same servers, settings and registry."""
    sys.path.insert(0, str(ROOT / "examples"))
    import run_demo  # type: ignore[import-not-found]

    return run_demo


def prepare_instance(run_demo: Any, instance: Path) -> tuple[Path, Any]:
    """Config, migrated database and the demo registry, as `make run` prepares them (its output
    hidden; the database is ``DEMO_DATABASE_URL``'s, as there); returns the config's path and the
    registry's verdicts."""
    from broker import create_app

    config_path = run_demo.ensure_dev_config(instance)
    os.environ.update({k: v for k, v in run_demo.base_env(instance).items() if k.startswith("BROKER_")})
    with contextlib.redirect_stdout(io.StringIO()):
        verdicts = run_demo.report(create_app(), config_path)
    return config_path, verdicts


@dataclass
class Instance:
    """One server process (gunicorn's master, its workers under it), restartable on its port."""

    server: Any  # run_demo.Server
    run_demo: Any
    process: subprocess.Popen[bytes] | None = None

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def start(self) -> None:
        self.process = self.run_demo.start(self.server)
        self.run_demo.wait_until_ready(self.server, self.process)

    def stop(self) -> int:
        """SIGTERM, as an orchestrator stops an instance; wait for the exit and return its code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_SECONDS)

    def pids(self) -> list[int]:
        """The master and its workers now."""
        if self.process is None or self.process.poll() is not None:
            return []
        return [self.process.pid, *sorted(children(self.process.pid))]


@dataclass(frozen=True, slots=True)
class Settings:
    """What ``--instances`` runs: the ESIA flow, the brokers' shape and stores."""

    flow: str
    instances: int
    workers: int  # per instance
    threads: int
    database_url: str | None  # None: a SQLite file in the instance folder
    redis_url: str | None
    gost_backend: str
    rate_limits: str  # "off", or "far": on, far above the load


@dataclass
class Cluster:
    """The running servers and what a portal needs to log in through them."""

    public: str  # host:port of the brokers' one public address
    mock: Instance
    instances: list[Instance]
    client_secret: str
    redirect_uri: str
    database_url: str
    log_folder: Path
    exits: list[int] = field(default_factory=list)  # the exit codes of restarted instances

    def broker_pids(self) -> list[int]:
        return [pid for instance in self.instances for pid in instance.pids()]

    def broker_processes(self) -> dict[int, str]:
        """Each broker process now, named: "broker 1 master", "broker 1 worker"."""
        return {
            pid: f"{instance.server.name} {'worker' if number else 'master'}"
            for instance in self.instances
            for number, pid in enumerate(instance.pids())
        }


def broker_command(port: int, settings: Settings) -> list[str]:
    """``broker serve`` on ``port``, from this tree (its defaults but the shape)."""
    return [sys.executable, "-c", "from broker.cli import main; main()", "serve", "--bind", f"127.0.0.1:{port}",
            "--workers", str(settings.workers), "--threads", str(settings.threads)]  # fmt: skip


def broker_env(template: dict[str, str], settings: Settings) -> dict[str, str]:
    env = {**template, "GOST_BACKEND": settings.gost_backend, "PYTHONPATH": str(ROOT)}
    if settings.rate_limits == "off":
        env["BROKER_RATE_LIMITS_ENABLED"] = "false"  # every user comes from one address
    else:
        env.update({f"BROKER_{key}": FAR_LIMIT for key in RATE_LIMIT_KEYS})
    if settings.redis_url:
        env["BROKER_REDIS_URL"] = settings.redis_url
    return env


@contextlib.contextmanager
def started(folder: Path, settings: Settings, secret: str) -> Iterator[Cluster]:
    """The mock ESIA and ``settings.instances`` brokers, ready; all stopped after."""
    run_demo = demo_module()
    if settings.database_url:
        os.environ["DEMO_DATABASE_URL"] = settings.database_url
    prepared = prepare_instance(run_demo, folder)
    ports = run_demo.Ports(free_port(), free_port(), free_port())  # the brokers' public one: nothing listens there
    config_path, verdicts = prepared
    flow = run_demo.FLOWS[settings.flow]
    env = run_demo.broker_settings(folder, ports, secret, config_path, flow)
    mock, template = run_demo.make_servers(folder, ports, env, secret, verdicts, flow)[:2]  # no portal
    mock.env["GOST_BACKEND"] = settings.gost_backend
    instances = []
    for number in range(1, settings.instances + 1):
        port = free_port()
        server = dataclasses.replace(
            template, name=f"broker {number}", port=port, command=broker_command(port, settings),
            env=broker_env(template.env, settings), log=template.log.with_name(f"broker-{number}.log"),
        )  # fmt: skip
        instances.append(Instance(server, run_demo))
    cluster = Cluster(
        public=f"127.0.0.1:{ports.broker}",
        mock=Instance(mock, run_demo),
        instances=instances,
        client_secret=secret,
        redirect_uri=f"http://127.0.0.1:{ports.portal}/callback",  # registered; the portal itself is not started
        database_url=template.env["BROKER_DATABASE_URL"],
        log_folder=template.log.parent,
    )
    try:
        for instance in [cluster.mock, *instances]:
            instance.start()
        yield cluster
    finally:
        run_demo.stop([instance.process for instance in [cluster.mock, *instances] if instance.process is not None])
