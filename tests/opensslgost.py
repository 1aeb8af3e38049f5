"""The ``openssl`` command with Debian's GOST engine, for interop tests against a second implementation.

Without it the tests that need it are skipped, unless REQUIRE_GOST_ENGINE=1 (as in CI), where
they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

OPENSSL_GOST_CONF = """openssl_conf = openssl_def
[openssl_def]
engines = engine_section
[engine_section]
gost = gost_section
[gost_section]
engine_id = gost
default_algorithms = ALL
"""


@dataclass
class Openssl:
    """The ``openssl`` command with the GOST engine loaded through a config file."""

    config: Path

    def run(self, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["openssl", *args],
            input=data,
            capture_output=True,
            env={"OPENSSL_CONF": str(self.config), "PATH": "/usr/bin:/bin"},
            timeout=30,
            check=False,
        )


def gost_openssl(folder: Path) -> Openssl:
    """OpenSSL with its GOST config written to ``folder``; skip (or fail) the test if it can't do GOST."""
    config = folder / "gost.cnf"
    config.write_text(OPENSSL_GOST_CONF)
    tool = Openssl(config)
    problem = None
    if shutil.which("openssl") is None:
        problem = "the openssl command is not installed"
    else:
        probe = tool.run("list", "-digest-algorithms")
        if probe.returncode != 0 or b"md_gost12_256" not in probe.stdout:
            problem = "OpenSSL's GOST engine (Debian libengine-gost-openssl) is not available"
    if problem:
        if os.environ.get("REQUIRE_GOST_ENGINE") == "1":
            pytest.fail(f"REQUIRE_GOST_ENGINE=1 but {problem}")
        pytest.skip(problem)
    return tool
