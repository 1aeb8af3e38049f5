"""`make run` end to end: ``examples/run_demo.py`` on free loopback ports in a temporary folder,
and logins through the demo portal over real HTTP (portal → broker → mock ESIA → broker → portal).
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from examples.demo import ensure_dev_config
from examples.localhost import free_port
from tests.examples.demo import ROOT, STOP_SECONDS, Demo, launch, server_groups, terminate, wait_until_ready
from tests.opensslgost import Openssl

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


def test_make_run_prints_the_decision_table_the_staff_pages_and_the_portal_to_open(demo: Demo) -> None:
    output = demo.output
    assert re.findall(r"https?://\S+", output) == [demo.broker + "/admin", demo.portal + "/"]
    assert re.search(r"namesake-1\s+signed_in\s+d-016", output)
    assert "test1234" in output and "teen-simple (tier_insufficient)" in output


def test_make_run_runs_esias_current_flow_by_default_and_says_how_to_run_the_legacy_one(demo: Demo) -> None:
    """GOST client_secret (gost-raw) registered with a GOST certificate only, and GOST tokens the
    broker can check with the mock's GOST certificate only: a login (the tests below) can take no
    RSA path."""
    assert "ESIA flow: current (GOST R 34.10-2012 client_secret, GOST-signed ESIA tokens" in demo.output
    assert "the legacy flow:  DEMO_ESIA_FLOW=legacy make run\n" in demo.output
    broker = demo.environ(1)
    assert (broker["BROKER_ESIA_FLOW"], broker["BROKER_ESIA_SIGNER"]) == ("current", "gost-raw")
    assert [Path(path).name for path in json.loads(broker["BROKER_ESIA_TOKEN_CERTIFICATE_FILES"])] == ["esia-gost.cer"]
    mock = tomllib.loads(Path(demo.environ(0)["MOCK_ESIA_CONFIG_FILE"]).read_text(encoding="utf-8"))
    assert mock["CLIENTS"]["DIARY01"]["jwt_alg"] == "GOST3410_2012_256"
    assert mock["CLIENTS"]["DIARY01"]["certificate_files"] == ["esia-gost.cer"]
    key = Path(broker["BROKER_ESIA_KEY_FILE"])
    assert key.parent == demo.folder / "instance" / "demo" and key.stat().st_mode & 0o777 == 0o600


def test_the_demos_gost_certificate_and_key_are_what_openssl_makes_and_checks(demo: Demo, openssl: Openssl) -> None:
    """The pair `broker esia keygen --self-signed` would write: OpenSSL's GOST engine checks the
    certificate's own signature and signs with the key what the certificate verifies."""
    broker = demo.environ(1)
    key, certificate = broker["BROKER_ESIA_KEY_FILE"], broker["BROKER_ESIA_CERTIFICATE_FILE"]
    assert openssl.run("verify", "-check_ss_sig", "-CAfile", certificate, certificate).stdout.strip().endswith(b": OK")
    text = openssl.run("x509", "-in", certificate, "-noout", "-text").stdout.decode()
    assert "GOST R 34.10-2012 with GOST R 34.11-2012 (256 bit)" in text and "CryptoPro-A" in text and "CN = DIARY01" in text
    public = demo.folder / "esia-gost.pub"
    public.write_bytes(openssl.run("x509", "-in", certificate, "-pubkey", "-noout").stdout)
    signature = demo.folder / "signature"
    openssl.run("dgst", "-md_gost12_256", "-sign", key, "-out", str(signature), data=b"client_secret input")
    checked = openssl.run("dgst", "-md_gost12_256", "-verify", str(public), "-signature", str(signature), data=b"client_secret input")
    assert checked.stdout.strip() == b"Verified OK"


def test_demo_esia_flow_legacy_runs_the_legacy_flow_and_a_linked_person_signs_in(legacy_demo: Demo, browser: requests.Session) -> None:
    assert "ESIA flow: legacy (RSA detached CMS client_secret, RS256 ESIA tokens)" in legacy_demo.output
    assert "the current flow, as in production:  make run (DEMO_ESIA_FLOW unset)\n" in legacy_demo.output
    broker = legacy_demo.environ(1)
    assert (broker["BROKER_ESIA_FLOW"], broker["BROKER_ESIA_SIGNER"]) == ("legacy", "rsa-cms")
    page = log_in(legacy_demo, browser, "namesake-1")
    assert page.status_code == 200 and page.url == legacy_demo.portal + "/me" and "<code>d-016</code>" in page.text


@pytest.mark.parametrize("started", ["demo", "legacy_demo"])
def test_broker_esia_check_passes_on_the_demos_own_settings(started: str, request: pytest.FixtureRequest) -> None:
    """What an operator runs before going live, on the demo broker's config and environment."""
    demo: Demo = request.getfixturevalue(started)
    program = Path(sys.executable).with_name("broker")
    run = subprocess.run([str(program), "esia", "check"], env=demo.environ(1), cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=False)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ESIA keys are in order." in run.stdout and "DIARY01" in run.stdout


def test_an_unknown_esia_flow_stops_the_demo_with_one_line_naming_the_variable(tmp_path: Path) -> None:
    ports = {name: str(free_port()) for name in ("DEMO_ESIA_PORT", "DEMO_BROKER_PORT", "DEMO_PORTAL_PORT")}
    process = launch(tmp_path, DEMO_ESIA_FLOW="gost\nrsa", **ports)
    try:
        assert process.wait(timeout=STOP_SECONDS) == 1
    finally:
        terminate(process)
    output = (tmp_path / "run_demo.out").read_text(encoding="utf-8")
    assert output == "make run: DEMO_ESIA_FLOW='gost\\nrsa' is not an ESIA flow: choose current (the default) or legacy.\n"
    assert not (tmp_path / "instance").exists(), "nothing is prepared for an unknown flow"


def test_every_example_person_is_a_test_person_at_the_mock_esia(demo: Demo) -> None:
    """Each line of the decision table can be reached by logging in: none is left out of the hints."""
    table = re.findall(r"^  ([a-z0-9-]+) +[a-z_]+ ", demo.output, re.MULTILINE)
    hints = demo.output.split("Тестовые люди", 1)[1]
    assert len(table) == len(list((ROOT / "examples" / "persons").glob("*.json")))
    assert all(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", hints) for name in table), hints


def test_the_printed_command_creates_a_staff_login_that_signs_in_at_the_printed_address(demo: Demo, browser: requests.Session) -> None:
    lines = demo.output.splitlines()
    command = next(line for line in lines if " staff create admin --role admin" in line).split()
    settings = dict(word.split("=", 1) for word in command if "=" in word and not word.startswith("-"))
    program = [word for word in command if "=" not in word] + ["--password-file", "-"]  # instead of the prompt
    run = subprocess.run(program, input="correct horse battery\n", env={**os.environ, **settings}, cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    page = browser.get(demo.broker + "/admin")
    assert page.url.startswith(demo.broker + "/admin/login")
    data = {"csrf_token": csrf(page.text), "login": "admin", "password": "correct horse battery"}
    home = browser.post(demo.broker + "/admin/login", data=data)
    assert home.url == demo.broker + "/admin/" and "admin" in home.text


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
    ordinary = browser.post(demo.portal + "/login", data={"login": "teen-simple.diary", "password": "test1234"})
    assert ordinary.url == demo.portal + "/me" and "<code>d-003</code>" in ordinary.text
    assert "Привязать аккаунт портала Госуслуги" in ordinary.text


def portal_state(demo: Demo, browser: requests.Session) -> str:
    """Start a login at the portal and stop before the broker: the state the portal sent."""
    start = browser.get(demo.portal + "/login/esia", params={"region": "77"}, allow_redirects=False)
    assert start.headers["Location"].startswith(demo.broker + "/oidc/authorize?")
    return parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("access_denied", "Войти через Госуслуги не получилось"),
        ("temporarily_unavailable", "временно недоступен"),
        ("login_required", "Войти через Госуслуги не получилось"),
    ],  # fmt: skip
)
def test_the_brokers_error_response_is_said_in_russian_with_its_reason_and_the_password_login(
    demo: Demo, browser: requests.Session, error: str, words: str
) -> None:
    """OIDC Core 3.1.2.6: the broker sends the person back with error, error_description and state."""
    state = portal_state(demo, browser)
    query = {"error": error, "error_description": "tier_insufficient", "state": state}
    page = browser.get(demo.portal + "/callback", params=query)
    assert page.status_code == 200 and words in page.text and "Вы не вошли в дневник" in page.text
    assert "стандартная или подтверждённая учётная запись" in page.text and 'href="/login"' in page.text
    assert "tier_insufficient" not in page.text and error not in page.text
    again = browser.get(demo.portal + "/callback", params=query)
    assert again.status_code == 400 and "tier_insufficient" not in again.text, "a state is answered once"


def test_an_error_description_the_portal_does_not_know_is_not_shown(demo: Demo, browser: requests.Session) -> None:
    query = {"error": "access_denied", "error_description": "x" * 500, "state": portal_state(demo, browser)}
    page = browser.get(demo.portal + "/callback", params=query)
    assert page.status_code == 200 and "Войти через Госуслуги не получилось" in page.text and "xxx" not in page.text


def test_the_brokers_pages_show_the_demo_portals_support_contact(demo: Demo, browser: requests.Session) -> None:
    page = log_in(demo, browser, "teen-simple")
    assert "Код обращения" in page.text and "8 800 100-00-00" in page.text and "help@diary.example" in page.text


def test_the_portals_initiate_login_starts_a_login_at_the_demo_broker(demo: Demo, browser: requests.Session) -> None:
    answer = browser.get(demo.portal + "/login/initiate", params={"iss": demo.broker}, allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"].startswith(demo.broker + "/oidc/authorize?")


def test_a_refusals_try_again_starts_a_fresh_login_at_the_demo_portal(demo: Demo, browser: requests.Session) -> None:
    page = log_in(demo, browser, "teen-simple")
    links = dict(
        (html.unescape(text).strip(), html.unescape(href))
        for href, text in re.findall(r'<a[^>]*href="([^"]+)"[^>]*>([^<]+)</a>', page.text)
    )
    assert links["Попробовать ещё раз"] == demo.portal + "/login/initiate?" + urlencode({"iss": demo.broker})
    fresh = browser.get(links["Попробовать ещё раз"], allow_redirects=False)
    assert fresh.status_code == 302 and fresh.headers["Location"].startswith(demo.broker + "/oidc/authorize?")


def test_an_error_response_to_a_login_this_browser_did_not_start_shows_none_of_its_words(demo: Demo, browser: requests.Session) -> None:
    portal_state(demo, browser)
    query = {"error": "access_denied", "error_description": "Позвоните по номеру 8-800-…", "state": "forged"}
    page = browser.get(demo.portal + "/callback", params=query)
    assert page.status_code == 400 and "Позвоните" not in page.text and "Начните вход заново" in page.text


def test_a_wrong_password_or_a_blocked_account_does_not_open_the_portal(demo: Demo, browser: requests.Session) -> None:
    wrong = browser.post(demo.portal + "/login", data={"login": "kid.diary", "password": "test12345"})
    assert wrong.status_code == 401 and "Неверный логин или пароль" in wrong.text
    blocked = browser.post(demo.portal + "/login", data={"login": "blocked.diary", "password": "test1234"})
    assert blocked.status_code == 403 and "заблокирован" in blocked.text
    assert browser.get(demo.portal + "/me").url == demo.portal + "/"


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


def test_the_login_load_benchmark_compares_both_flows_set_up_as_make_run_sets_them_up() -> None:
    command = [sys.executable, str(ROOT / "bench" / "login_load.py"), "--flows", "legacy,current", "--rounds", "1",
               "--users", "1", "--seconds", "1", "--warmup", "2"]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    for flow in ("legacy", "current"):
        assert re.search(rf"broker CPU per login, {flow}: [0-9.]+ ms", run.stdout), run.stdout
    assert re.search(r"current / legacy: [0-9.]+ \(target: at most 1.5", run.stdout), run.stdout
    assert re.findall(r"errors: (\d+)", run.stdout) == ["0", "0"], run.stdout


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


OTHER_PORTAL = """
[OIDC_CLIENTS.other-portal]
name = "Другой портал"
redirect_uris = ["http://127.0.0.1:9/callback"]
regions = ["77"]
login_url = "http://127.0.0.1:9/login"
"""


def test_a_portal_registered_in_the_instance_config_is_served_beside_the_demo_portal(tmp_path: Path) -> None:
    """The documented way ([OIDC_CLIENTS.x] in instance/config.toml, or BROKER_OIDC_CLIENTS) neither
    crashes the demo nor is replaced by it."""
    config = ensure_dev_config(tmp_path / "instance")  # what the first `make run` writes
    config.write_text(config.read_text(encoding="utf-8") + OTHER_PORTAL, encoding="utf-8")
    third = {
        "third-portal": {
            "name": "Третий",
            "redirect_uris": ["http://127.0.0.1:9/callback"],
            "regions": ["77"],
            "login_url": "http://127.0.0.1:9/login",
        }
    }
    ports = {name: free_port() for name in ("DEMO_ESIA_PORT", "DEMO_BROKER_PORT", "DEMO_PORTAL_PORT")}
    process = launch(tmp_path, BROKER_OIDC_CLIENTS=json.dumps(third), **{name: str(port) for name, port in ports.items()})
    try:
        wait_until_ready(tmp_path, process)
        esia, broker, portal = (f"http://127.0.0.1:{port}" for port in ports.values())
        with requests.Session() as browser:
            browser.trust_env = False
            query = {"client_id": "other-portal", "redirect_uri": "http://127.0.0.1:9/callback", "response_type": "code",
                     "scope": "openid", "state": "s", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                     "code_challenge_method": "S256", "region": "77"}  # fmt: skip
            for client_id in ("other-portal", "third-portal"):
                other = browser.get(broker + "/oidc/authorize", params={**query, "client_id": client_id}, allow_redirects=False)
                assert other.is_redirect and other.headers["Location"].startswith(esia + "/"), other.text
            ours = browser.get(portal + "/login/esia", params={"region": "77"})
            assert ours.url.startswith(esia + "/login?")
    finally:
        terminate(process)


def test_a_portal_registered_under_the_demo_portals_own_client_id_is_refused_with_a_message(tmp_path: Path) -> None:
    config = ensure_dev_config(tmp_path / "instance")
    config.write_text(config.read_text(encoding="utf-8") + OTHER_PORTAL.replace("other-portal", "diary-demo"), encoding="utf-8")
    process = launch(tmp_path, **{name: str(free_port()) for name in ("DEMO_ESIA_PORT", "DEMO_BROKER_PORT", "DEMO_PORTAL_PORT")})
    try:
        assert process.wait(timeout=STOP_SECONDS * 3) == 1
    finally:
        terminate(process)
    output = (tmp_path / "run_demo.out").read_text(encoding="utf-8")
    assert "'diary-demo' is the demo portal's own client_id" in output and "Traceback" not in output, output


def test_a_malformed_portal_in_the_instance_config_stops_the_demo_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    config = ensure_dev_config(tmp_path / "instance")
    config.write_text(config.read_text(encoding="utf-8") + '\n[OIDC_CLIENTS.other-portal]\nname = "Без адресов"\n', encoding="utf-8")
    process = launch(tmp_path, **{name: str(free_port()) for name in ("DEMO_ESIA_PORT", "DEMO_BROKER_PORT", "DEMO_PORTAL_PORT")})
    try:
        assert process.wait(timeout=STOP_SECONDS * 3) == 1
    finally:
        terminate(process)
    output = (tmp_path / "run_demo.out").read_text(encoding="utf-8")
    assert output.startswith("make run: ") and "other-portal" in output and "Traceback" not in output, output
