"""The README's tour: screenshots of the main pages, made from the real pages (`make screenshots`).

Starts ``make run``'s demo (``examples/run_demo.py``) in a temporary folder on free loopback
ports, clicks through it in headless Chromium (Debian's ``/usr/bin/chromium`` through
Playwright) at a phone's size, and writes PNGs into ``docs/images/``: the portal's start page, a
refusal, the first login's confirmation, the account chooser, the portal after the login, a
region's figures and an attempt on the staff pages. Run it after changing any of those pages;
the demo stops when it is done. ``--out FOLDER`` writes elsewhere.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script (make screenshots): the project's packages

from examples.localhost import free_port  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
#: The longest picture: two phone screens (the staff pages run long on a phone).
TALLEST = 2 * PHONE["height"]
PASSWORD = "test1234"  # the demo's test persons' (examples/run_demo.py prints it)
STAFF_PASSWORD = "screenshots-only-" + os.urandom(6).hex()
READY_MARK = "Откройте / open:"
START_SECONDS = 90.0


@contextmanager
def running_demo(folder: Path) -> Iterator[dict[str, str]]:
    """``make run`` in ``folder``: yields the three base URLs and the broker's environment."""
    ports = {name: str(free_port()) for name in ("DEMO_ESIA_PORT", "DEMO_BROKER_PORT", "DEMO_PORTAL_PORT")}
    output = folder / "run_demo.out"
    env = {**os.environ, "DEMO_INSTANCE_DIR": str(folder / "instance"), **ports}
    with output.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-u", str(ROOT / "examples" / "run_demo.py")], cwd=ROOT, env=env,
                                   stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + START_SECONDS
        while READY_MARK not in output.read_text(encoding="utf-8", errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"The demo did not start:\n{output.read_text(encoding='utf-8', errors='replace')}")
            time.sleep(0.2)
        yield {
            "esia": f"http://127.0.0.1:{ports['DEMO_ESIA_PORT']}",
            "broker": f"http://127.0.0.1:{ports['DEMO_BROKER_PORT']}",
            "portal": f"http://127.0.0.1:{ports['DEMO_PORTAL_PORT']}",
            "BROKER_CONFIG": str(folder / "instance" / "config.toml"),
            "BROKER_DATABASE_URL": f"sqlite:///{folder / 'instance' / 'broker.sqlite3'}",
        }
    finally:
        process.send_signal(signal.SIGTERM)  # the demo stops its three servers
        process.wait(timeout=30)


def create_staff(demo: dict[str, str]) -> None:
    """An admin for the staff pages, as ``make run`` tells a newcomer to create one."""
    env = {**os.environ, "BROKER_CONFIG": demo["BROKER_CONFIG"], "BROKER_DATABASE_URL": demo["BROKER_DATABASE_URL"]}
    command = [str(Path(sys.executable).with_name("broker")), "staff", "create", "admin", "--role", "admin",
               "--name", "Администратор демо", "--password-file", "-"]  # fmt: skip
    subprocess.run(command, input=STAFF_PASSWORD + "\n", env=env, cwd=ROOT, check=True, capture_output=True, text=True)


def esia_login(page: Any, demo: dict[str, str], login: str) -> None:
    page.goto(demo["portal"] + "/")
    page.select_option("#region", "77")
    page.get_by_role("button", name="Войти через Госуслуги").click()
    page.wait_for_url(re.compile(re.escape(demo["esia"]) + "/login"))
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Войти", exact=True).click()


def tour(chromium: Any, demo: dict[str, str], out: Path) -> list[Path]:
    """Click through the demo; one picture per main page."""
    written: list[Path] = []
    context = chromium.new_context(viewport=PHONE, locale="ru-RU")
    page = context.new_page()

    def shot(name: str, part: str | None = None) -> None:
        """The page from its top, at most TALLEST high; or only ``part`` (a CSS selector) if the page has it."""
        page.wait_for_load_state("networkidle")
        page.evaluate("document.activeElement && document.activeElement.blur()")  # no focus ring in the picture
        path = out / f"{name}.png"
        options = {"path": str(path), "animations": "disabled", "caret": "hide"}
        found = page.locator(part) if part else None
        if found is not None and found.count() == 1:
            found.screenshot(**options)
        else:
            height = min(TALLEST, page.evaluate("document.documentElement.scrollHeight"))
            page.screenshot(full_page=True, clip={"x": 0, "y": 0, "width": PHONE["width"], "height": height}, **options)
        written.append(path)

    page.goto(demo["portal"] + "/")
    shot("portal")
    esia_login(page, demo, "teen-simple")  # 15, a simplified ESIA account: not enough from 14
    page.wait_for_url(re.compile(re.escape(demo["broker"]) + "/"))
    reference = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}", page.inner_text("body"))  # the code for support
    if reference is None:
        raise SystemExit(f"The refusal page at {page.url} shows no reference code.")
    shot("refusal")
    context.clear_cookies()
    esia_login(page, demo, "teacher")  # one person, a teacher's and a parent's account
    page.wait_for_url(demo["broker"] + "/auth/choose")
    shot("chooser")
    page.locator("form:has(input[name=account_id]) button[type=submit]").click()
    page.wait_for_url(demo["broker"] + "/auth/confirm")
    page.fill("#phone", "+7 900 000-00-08")
    page.fill("#email", "olga@example.org")
    shot("confirm")
    page.locator("form:has(#email) button[type=submit]").click()
    page.wait_for_url(demo["portal"] + "/me")
    shot("signed-in")
    for login in ("namesake-1", "blocked", "no-account", "adult-simple"):  # more figures for the region
        context.clear_cookies()
        esia_login(page, demo, login)
        page.wait_for_load_state("networkidle")
    context.clear_cookies()
    page.goto(demo["broker"] + "/admin/login")
    page.fill("#login", "admin")
    page.fill("#password", STAFF_PASSWORD)
    page.locator("form:has(#password) button[type=submit]").click()
    page.wait_for_url(demo["broker"] + "/admin/")
    page.goto(demo["broker"] + "/regions/77")
    shot("region", "section:has(#figures-heading)")
    page.goto(demo["broker"] + f"/support/attempts/{reference.group(0)}")
    shot("attempt")
    context.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="where the PNGs go (docs/images/)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as folder, running_demo(Path(folder)) as demo:
        create_staff(demo)
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
            written = tour(chromium, demo, args.out)
            chromium.close()
    for path in written:
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"{shown}  {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
