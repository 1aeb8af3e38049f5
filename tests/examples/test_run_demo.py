"""`make run` end to end: ``examples/run_demo.py`` on free loopback ports in a temporary folder,
and logins through the demo portal over real HTTP (portal → broker → mock ESIA → broker → portal).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.examples.demo import ROOT, STOP_SECONDS, Demo, free_port, launch, server_groups, terminate, wait_until_ready

pytestmark = pytest.mark.flow


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    """A fresh browser: its own cookies for 127.0.0.1 (the three servers share the host)."""
    with requests.Session() as session:
        session.trust_env = False  # no proxy for loopback
        yield session


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has a CSRF token"
    return match.group(1)


def log_in(demo: Demo, browser: requests.Session, person: str, region: str = "77") -> requests.Response:
    """Portal home → «Войти через Госуслуги» (with the region) → the mock's login form → wherever it ends."""
    home = browser.get(demo.portal + "/")
    assert home.status_code == 200 and "Войти через Госуслуги" in home.text
    form = re.search(r'<form class="card" method="get" action="([^"]+)"', home.text)
    assert form, "the home page has the login form"
    at_esia = browser.get(demo.portal + form.group(1), params={"region": region})
    assert at_esia.status_code == 200 and at_esia.url.startswith(demo.esia + "/login?"), at_esia.url
    return browser.post(at_esia.url, data={"login": person, "password": "test1234"})


def test_make_run_prints_the_decision_table_and_one_url_to_open(demo: Demo) -> None:
    output = demo.output
    assert re.findall(r"https?://\S+", output) == [demo.portal + "/"]
    assert re.search(r"namesake-1\s+signed_in\s+d-016", output)
    assert "test1234" in output and "teen-simple (tier_insufficient)" in output


def test_a_linked_person_lands_in_the_portal_and_logs_out_through_the_broker(demo: Demo, browser: requests.Session) -> None:
    page = log_in(demo, browser, "namesake-1")
    assert page.status_code == 200 and page.url == demo.portal + "/me"
    assert "<code>d-016</code>" in page.text and "подтверждённая" in page.text
    home = browser.post(demo.portal + "/logout")
    hops = [hop.url.split("?")[0] for hop in home.history]
    assert hops[1:] == [demo.broker + "/oidc/logout", demo.esia + "/idp/ext/Logout", demo.broker + "/oidc/logged-out"]
    assert home.url == demo.portal + "/" and "Войти через Госуслуги" in home.text
    again = browser.get(demo.portal + "/login/esia", params={"region": "77"})
    assert again.url.startswith(demo.esia + "/login?"), "after logout the broker sends the person to ESIA again"


def test_a_first_login_confirms_phone_and_email_at_the_broker(demo: Demo, browser: requests.Session) -> None:
    page = log_in(demo, browser, "adult-verified")
    assert page.url == demo.broker + "/auth/confirm" and "Петров Иван Николаевич" in page.text
    data = {"csrf_token": csrf(page.text), "phone": "+7 900 000-00-05", "email": "ivan@example.org"}
    portal = browser.post(demo.broker + "/auth/confirm", data=data)
    assert portal.url == demo.portal + "/me"
    assert "<code>d-005</code>" in portal.text and "+79000000005" in portal.text and "ivan@example.org" in portal.text


def test_a_refusal_gives_a_reference_and_links_to_the_portals_ordinary_login(demo: Demo, browser: requests.Session) -> None:
    page = log_in(demo, browser, "teen-simple")
    assert page.url.startswith(demo.broker + "/auth/esia/callback?")
    assert "Код обращения" in page.text and re.search(r'class="ref">[0-9A-Z]{4}-[0-9A-Z]{4}<', page.text)
    assert f'href="{demo.portal}/login"' in page.text
    ordinary = browser.get(demo.portal + "/login")
    assert ordinary.status_code == 200 and "входа по логину и паролю нет" in ordinary.text


def test_without_a_region_the_broker_asks_for_one(demo: Demo, browser: requests.Session) -> None:
    page = browser.get(demo.portal + "/login/esia", params={"region": ""})
    assert page.url.startswith(demo.broker + "/oidc/authorize?") and "Выберите свой регион" in page.text


def test_the_servers_log_no_codes_states_names_snils_or_birth_dates(demo: Demo, browser: requests.Session) -> None:
    log_in(demo, browser, "namesake-1")  # Иванов Сергей Петрович, 1980-05-15, SNILS 245-678-903 16
    logs = demo.logs()
    assert "code=" not in logs and "state=" not in logs and "Иванов" not in logs
    assert all(text not in logs for text in ("245-678-903", "24567890316", "1980-05-15", "15.05.1980"))


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_the_login_load_benchmark_runs_against_the_demo(demo: Demo) -> None:
    _esia, broker, portal = demo.servers
    environ = dict(item.split(b"=", 1) for item in Path(f"/proc/{portal}/environ").read_bytes().split(b"\0") if b"=" in item)
    command = [
        sys.executable, str(ROOT / "bench" / "login_load.py"), "--broker", demo.broker,
        "--redirect-uri", demo.portal + "/callback",
        # one glued word: a secret may begin with "-"
        f"--client-secret={environ[b'DIARY_PORTAL_CLIENT_SECRET'].decode()}",
        "--broker-pids", ",".join(map(str, [broker, *children(broker)])), "--esia-match", demo.esia.rsplit(":", 1)[1],
        "--users", "2", "--seconds", "2",
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    found = re.search(r"logins: (\d+) \([0-9.]+/s\), errors: (\d+)", run.stdout)
    assert found and int(found.group(1)) > 0 and found.group(2) == "0", run.stdout
    assert "ms per login" in run.stdout and "mock ESIA" in run.stdout


def test_sigterm_stops_all_three_servers(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(3)]
    process = launch(tmp_path, **dict(zip(("DEMO_ESIA_PORT", "DEMO_BROKER_PORT", "DEMO_PORTAL_PORT"), map(str, ports), strict=True)))
    try:
        wait_until_ready(tmp_path, process)
        groups = server_groups(process)
        assert len(groups) == 3
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=STOP_SECONDS) == 0
        for group in groups:  # gunicorn's workers included
            with pytest.raises(ProcessLookupError):
                os.killpg(group, 0)
        for port in ports:
            with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
                probe.connect(("127.0.0.1", port))
        assert "Stopped." in (tmp_path / "run_demo.out").read_text(encoding="utf-8")
    finally:
        terminate(process)


def test_a_busy_port_is_refused_with_the_variable_to_change(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = launch(tmp_path, DEMO_ESIA_PORT=str(free_port()), DEMO_BROKER_PORT=str(port), DEMO_PORTAL_PORT=str(free_port()))
        try:
            assert process.wait(timeout=STOP_SECONDS) == 1
        finally:
            terminate(process)
    output = (tmp_path / "run_demo.out").read_text(encoding="utf-8")
    assert f"Port {port} on 127.0.0.1 (the broker) is busy" in output and "DEMO_BROKER_PORT=" in output
    assert not (tmp_path / "instance").exists(), "nothing is prepared when a port is busy"
