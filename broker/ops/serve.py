"""``broker serve``: the broker under gunicorn, with the defaults a production instance wants.

The command checks the config and the schema first (one line naming what to fix), then replaces
itself with a gunicorn master serving ``broker:create_app()``; every worker reads the same
config (``BROKER_CONFIG``, ``BROKER_*``) and builds its own app. Signals are gunicorn's: SIGTERM
stops gracefully (requests in flight get ``--graceful-timeout``), SIGHUP starts new workers with
the code and config on disk and retires the old ones once they have answered, SIGTTIN/SIGTTOU add
or remove a worker.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

import click
import gunicorn  # type: ignore[import-untyped]  # no stubs
from flask import Flask, current_app
from gunicorn import glogging

from broker import commandline, config
from broker.extensions import db
from broker.ops import gunicornhooks as hooks
from broker.web import logs, metrics, proxies

#: Threads per worker. The login waits on ESIA for most of its time (two calls at the callback),
#: so each worker serves several logins at once; 2 workers × 4 threads served the most logins on
#: 2 cores (docs/benchmarks.md: 85/s, against 34/s for 4 workers × 1 thread).
THREADS = 4
#: A worker silent this long is killed and replaced (gunicorn's heartbeat).
TIMEOUT = 30
#: After SIGTERM or SIGHUP, how long a worker may finish what it is answering: a callback makes
#: two calls to ESIA, each up to ESIA_CONNECT_TIMEOUT + ESIA_READ_TIMEOUT (13 s by default).
GRACEFUL_TIMEOUT = 30
#: How long an idle connection from the proxy is kept: longer than the proxy keeps its idle
#: upstream connections (nginx: 60 s), so the proxy never sends on one the broker has closed.
KEEP_ALIVE = 75


def default_workers() -> int:
    """One worker per core this process may run on (each with :data:`THREADS` threads)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def forwarded_allow_ips(trusted: proxies.TrustedProxies) -> str:
    """gunicorn's ``--forwarded-allow-ips`` for the broker's ``TRUSTED_PROXIES``: the same peers
    (networks as gunicorn reads them since 24.1.1; setup.cfg asks for it).

    gunicorn believes the scheme headers (X-Forwarded-Proto) and the PROXY protocol only from
    these. None by default, as the broker believes no X-Forwarded-For; any peer with a hop
    count (the network in front lets only the proxy reach the broker); else the same networks.
    """
    if isinstance(trusted, int):
        return "*" if trusted else ""
    return ",".join(str(network) for network in trusted)


def gunicorn_command(
    app: Flask, *, binds: Sequence[str], workers: int, threads: int, timeout: int, graceful_timeout: int, keep_alive: int,
    extra: Sequence[str] = (),
) -> list[str]:  # fmt: skip
    """The gunicorn command line ``broker serve`` runs (``extra`` goes last, before the app)."""
    command = [sys.executable, "-m", "gunicorn"]
    for bind in binds:
        command += ["--bind", bind]
    command += [
        "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
        "--timeout", str(timeout), "--graceful-timeout", str(graceful_timeout), "--keep-alive", str(keep_alive),
        "--forwarded-allow-ips", forwarded_allow_ips(proxies.parse_trusted_proxies(app.config["TRUSTED_PROXIES"])),
        # gunicorn's own lines (starts, stops, worker timeouts) on standard error, as the broker's;
        # no access log: it would copy query strings, which carry ESIA's codes (LOG_REQUESTS instead).
        "--error-logfile", "-", "--log-level", str(app.config["LOG_LEVEL"]).lower(),
        "--logger-class", f"{__name__}.GunicornLogger",
    ]  # fmt: skip
    if metrics.is_enabled(app.config):
        command += ["--config", f"python:{hooks.__name__}"]  # marks a stopped worker's live gauges dead
    if tuple(gunicorn.version_info) >= (25, 1):
        command.append("--no-control-socket")  # one per host by default: several instances would share it
    return [*command, *extra, "broker:create_app()"]


@click.command("serve", context_settings={"ignore_unknown_options": True})
@click.option(
    "--bind",
    "-b",
    "binds",
    multiple=True,
    default=["127.0.0.1:5000"],
    show_default=True,
    help="Address to listen on (HOST:PORT or unix:PATH); repeat for several.",
)
@click.option("--workers", "-w", type=click.IntRange(min=1), default=None, help="Worker processes. Default: one per CPU core available.")
@click.option("--threads", type=click.IntRange(min=1), default=THREADS, show_default=True, help="Threads per worker.")
@click.option(
    "--timeout",
    type=click.IntRange(min=1),
    default=TIMEOUT,
    show_default=True,
    help="Seconds of silence after which a worker is killed and replaced.",
)
@click.option(
    "--graceful-timeout",
    type=click.IntRange(min=1),
    default=GRACEFUL_TIMEOUT,
    show_default=True,
    help="Seconds a worker has to finish its requests after SIGTERM or SIGHUP.",
)
@click.option(
    "--keep-alive",
    type=click.IntRange(min=0),
    default=KEEP_ALIVE,
    show_default=True,
    help="Seconds an idle connection is kept (above the proxy's upstream idle timeout).",
)
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
@commandline.needs_schema
def serve_command(binds: tuple[str, ...], workers: int | None, threads: int, timeout: int, graceful_timeout: int,
                  keep_alive: int, gunicorn_args: tuple[str, ...]) -> None:  # fmt: skip
    """Serve the broker under gunicorn (run `broker db upgrade` first).

    gunicorn trusts forwarded headers from the same proxies as TRUSTED_PROXIES. SIGTERM stops
    gracefully, SIGHUP reloads code and config without dropping a request. Other gunicorn
    options may follow `--`, e.g. `broker serve -- --max-requests 10000`.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    command = gunicorn_command(
        app, binds=binds, workers=workers or default_workers(), threads=threads, timeout=timeout,
        graceful_timeout=graceful_timeout, keep_alive=keep_alive, extra=gunicorn_args,
    )  # fmt: skip
    if metrics.is_enabled(app.config):
        prepare_metrics_directory(os.environ)
    db.engine.dispose()  # the workers open their own connections
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)


def prepare_metrics_directory(environ: MutableMapping[str, str]) -> Path:
    """Where the workers write their metrics (``PROMETHEUS_MULTIPROC_DIR``), empty for this start.

    The operator's directory if the variable is set (its old files removed: a new start counts
    from zero, as one process would), else a new one of this start's own, removed when gunicorn
    stops (``broker.ops.gunicornhooks``).
    """
    given = environ.get(metrics.MULTIPROCESS_DIR)
    if given:
        folder = Path(given)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="broker-metrics-"))
        environ[metrics.MULTIPROCESS_DIR] = str(folder)
        environ[hooks.OWNED] = str(folder)
    return folder


class GunicornLogger(glogging.Logger):
    """gunicorn's logger, its lines in the broker's ``LOG_FORMAT`` (read from the same config)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        app = Flask("broker", instance_relative_config=True)  # the same instance folder as create_app's
        config.load(app, None)
        formatter = logs.JsonFormatter() if app.config["LOG_FORMAT"] == "json" else logs.TextFormatter()
        for handler in self.error_log.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setFormatter(formatter)
