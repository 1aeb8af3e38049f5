"""The README's tour: its pictures are the ones `make screenshots` writes, from the real pages."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, require
from tests.examples.demo import ROOT

IMAGES = ROOT / "docs" / "images"
SCRIPT = ROOT / "examples" / "screenshots.py"
PHONE_WIDTH = 390
TALLEST = 2 * 844
LARGEST_BYTES = 200 * 1024


def shown_in_readme() -> set[str]:
    return set(re.findall(r"\]\(docs/images/([\w-]+\.png)\)", (ROOT / "README.md").read_text(encoding="utf-8")))


def size_of(png: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{png} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_the_readme_shows_every_picture_in_docs_images_and_only_those() -> None:
    assert shown_in_readme() == {path.name for path in IMAGES.glob("*.png")}


def test_the_script_names_every_picture_the_readme_shows() -> None:
    """A picture the script no longer makes would stay in the README, stale."""
    made = {f"{name}.png" for name in re.findall(r'shot\("([\w-]+)"', SCRIPT.read_text(encoding="utf-8"))}
    assert made == shown_in_readme()


@pytest.mark.browser
@pytest.mark.flow
def test_make_screenshots_writes_the_tours_pictures_from_the_running_demo_small_and_phone_sized(tmp_path: Path) -> None:
    require("/usr/bin/chromium", CHROMIUM.exists())
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=False)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    written = {path.name: path for path in tmp_path.glob("*.png")}
    assert set(written) == shown_in_readme()
    for name, path in written.items():
        width, height = size_of(path)
        assert width <= PHONE_WIDTH and height <= TALLEST, (name, width, height)
        assert path.stat().st_size < LARGEST_BYTES, name
