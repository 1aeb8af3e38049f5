"""gunicorn's server hooks for ``broker serve`` with metrics on (``--config python:broker.ops.gunicornhooks``).

Only hooks live here: gunicorn reads every name of this module that is one of its settings.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from prometheus_client import multiprocess

#: Set by ``broker serve`` when it made the metrics directory itself: removed when gunicorn stops.
OWNED = "_BROKER_OWNS_METRICS_DIR"


def child_exit(_server: Any, worker: Any) -> None:
    """A worker has stopped: its live gauges (the database pool) no longer count."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)


def on_exit(_server: Any) -> None:
    """gunicorn stops: the directory ``broker serve`` made for this start goes with it."""
    owned = os.environ.get(OWNED)
    if owned and owned == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(owned, ignore_errors=True)
