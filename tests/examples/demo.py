"""`make run` in a temporary folder: ``examples/run_demo.py`` on free loopback ports, started and stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "run_demo.py"
READY_MARK = "Откройте / open:"
START_SECONDS = 60.0
STOP_SECONDS = 20.0


@dataclass
class Demo:
    folder: Path
    esia: str
    broker: str
    portal: str
    servers: list[int]  # the process ids of the mock ESIA, the broker and the portal (gunicorn masters)

    @property
    def output(self) -> str:
        return (self.folder / "run_demo.out").read_text(encoding="utf-8", errors="replace")

    def environ(self, server: int) -> dict[str, str]:
        """The environment the script gave a server (0: the mock ESIA, 1: the broker, 2: the portal)."""
        raw = Path(f"/proc/{self.servers[server]}/environ").read_bytes()
        return dict(item.decode().split("=", 1) for item in raw.split(b"\0") if b"=" in item)

    def logs(self) -> str:
        return "".join(
            path.read_text(encoding="utf-8", errors="replace") for path in sorted((self.folder / "instance" / "demo" / "log").glob("*.log"))
        )


def launch(folder: Path, **env: str) -> subprocess.Popen[bytes]:
    """Run the script in a session of its own: what reaches pytest's terminal does not reach it."""
    with (folder / "run_demo.out").open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-u", str(SCRIPT)],
            cwd=ROOT,
            env={**os.environ, "DEMO_INSTANCE_DIR": str(folder / "instance"), **env},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_ready(folder: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    output = folder / "run_demo.out"
    while READY_MARK not in output.read_text(encoding="utf-8", errors="replace"):
        assert process.poll() is None, f"run_demo.py exited with {process.returncode}:\n{output.read_text()}"
        assert time.monotonic() < deadline, f"run_demo.py did not get ready:\n{output.read_text()}"
        time.sleep(0.1)


def server_groups(process: subprocess.Popen[bytes]) -> list[int]:
    """The servers the script started: each leads a process group of its own (Linux's /proc)."""
    try:
        return [int(pid) for pid in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
    except OSError:  # the script has exited
        return []


def terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the script and wait; if it hangs, kill it and the servers' process groups."""
    groups = server_groups(process)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        for group in [process.pid, *groups]:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass  # that group is gone already
        process.wait()
