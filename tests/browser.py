"""Headless Chromium (Debian's, never a downloaded build) and the checks every page passes in it.

Without Chromium or axe-core the browser tests are skipped, unless REQUIRE_BROWSER=1 (as in CI),
where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
#: The sizes every person's page is checked at: a phone and a desktop.
SIZES = {"phone": PHONE, "desktop": DESKTOP}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def require(what: str, present: bool) -> None:
    """Skip the test when ``what`` is missing, or fail it under REQUIRE_BROWSER=1."""
    if not present:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"{what} is missing but REQUIRE_BROWSER=1")
        pytest.skip(f"{what} is not installed (apt-get install chromium; npm ci)")


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """Chromium, headless, through Playwright."""
    require("/usr/bin/chromium", CHROMIUM.exists())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def phone_page(chromium: Any) -> Iterator[Any]:
    """A page in a fresh context: a phone's viewport, Russian locale; axe-core must be there."""
    with sized_page(chromium, PHONE) as page:
        yield page


@contextmanager
def sized_page(chromium: Any, viewport: dict[str, int]) -> Iterator[Any]:
    """A page in a fresh context of the given viewport (``PHONE``, ``DESKTOP``), Russian locale."""
    require("axe-core (node_modules)", AXE.exists())
    context = chromium.new_context(viewport=viewport, locale="ru-RU")
    # Every page notes what its Content-Security-Policy refused (the script comes from DevTools:
    # no CSP applies to it), for ``check_page``.
    context.add_init_script(CSP_LISTENER)
    yield context.new_page()
    context.close()


CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.effectiveDirective} refused ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
});
"""


def check_page(page: Any) -> None:
    """In Russian, no sideways scrolling on a phone, nothing refused by the page's CSP, no serious axe violation."""
    refused = page.evaluate("window.__cspViolations || []")
    assert refused == [], refused  # first: a stylesheet the CSP refused would break the checks below
    assert page.evaluate("document.documentElement.lang") == "ru"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    # Evaluated through DevTools, not a <script> tag: the broker's CSP allows no script at all.
    page.evaluate(AXE.read_text() + "\n;undefined")
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], serious
