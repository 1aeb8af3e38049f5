"""Every module imports on its own, in a fresh interpreter (no import cycle hidden by the order
in which ``create_app`` happens to import them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for package in ("broker", "matching", "providers", "mock_esia", "gost")
    for path in (ROOT / package).rglob("*.py")
    if "migrations" not in path.parts
)


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    # One interpreter per module would take a minute; one per module, importing nothing else
    # first, is what catches a cycle: run them in a single child, each in a clean module table.
    script = (
        "import importlib, sys\n"
        "base = set(sys.modules)\n"
        "failed = []\n"
        "ours = ('broker', 'matching', 'providers', 'mock_esia', 'gost')\n"
        f"for name in {MODULES!r}:\n"
        "    for loaded in [m for m in sys.modules if m not in base and m.split('.')[0] in ours]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "", run.stdout
