"""The broker's log lines (broker/web/logs.py): JSON lines carrying the login's reference code,
portal and step, and never a person's data, a code or a token, through real logins."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from broker import create_app
from broker.db.models import Account, LoginAttempt
from broker.errors import ConfigError
from broker.extensions import db
from broker.web import logs
from tests.world import BROKER, ESIA, EXAMPLES, World, confirm_contacts, log_in

pytestmark = pytest.mark.flow

PHONE, EMAIL = "+7 916 555-12-34", "petrov.parent@example.ru"


@pytest.fixture
def json_logs() -> Iterator[None]:
    """JSON lines for the test (the handler is the process's; the next app built sets its own format)."""
    logs.configure("json", "INFO")
    yield
    logs.configure("text", "INFO")


@pytest.fixture
def visited(world: World) -> list[str]:
    """Every URL the person's browser was answered from (the queries carry ESIA's and the broker's codes)."""
    urls: list[str] = []

    def keep(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        urls.append(response.url)
        urls.extend(response.headers.get("Location", "") for _ in [0])

    world.browser.hooks["response"].append(keep)
    return urls


def lines_of(text: str) -> list[dict[str, Any]]:
    """Every line of standard error, each of which must be one JSON object."""
    parsed = []
    for line in text.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= record.keys(), line
        parsed.append(record)
    return parsed


def person(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / "persons" / f"{name}.json").read_text(encoding="utf-8"))
    return data


def secrets_of(data: dict[str, Any], urls: list[str], *more: str) -> list[str]:
    """What must never be logged: the person's names, birth date, oid, the query values of the login's URLs, and ``more``."""
    day, month, year = data["birthDate"].split(".")
    found = [data["lastName"], data["firstName"], data["middleName"], data["birthDate"], f"{year}-{month}-{day}", str(data["oid"])]
    for url in urls:
        found += [value for _, value in parse_qsl(urlsplit(url).query) if len(value) >= 8]
    return [*found, *(value for value in more if value)]


def snils_anywhere(snils: str) -> re.Pattern[str]:
    """The SNILS's eleven digits, whatever is between them (dashes, spaces, nothing)."""
    return re.compile(r"[\s\-_.]*".join(re.escape(digit) for digit in re.sub(r"\D", "", snils)))


def attempt_reference(world: World) -> str:
    with world.broker.app_context():
        return db.session.execute(select(LoginAttempt.reference).order_by(LoginAttempt.id.desc())).scalars().first() or ""


def request_lines(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["endpoint"]: record for record in records if record["logger"] == "broker.requests"}


def test_a_signed_in_login_logs_json_lines_with_its_reference_portal_and_steps_and_nothing_personal(
    world: World, visited: list[str], json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    login = confirm_contacts(world, log_in(world, "adult-verified"), PHONE, EMAIL)
    token = login.token()
    records = lines_of(capsys.readouterr().err)

    lines = request_lines(records)
    reference = attempt_reference(world)
    assert lines["oidc.authorize"] | {"time": 0, "duration_ms": 0} == {
        "time": 0, "duration_ms": 0, "level": "INFO", "logger": "broker.requests", "method": "GET",
        "endpoint": "oidc.authorize", "status": 302, "client": "portal", "step": "authorize",
        "message": lines["oidc.authorize"]["message"],
    }  # fmt: skip
    assert (lines["auth.esia_callback"]["reference"], lines["auth.esia_callback"]["client"]) == (reference, "portal")
    assert lines["auth.esia_callback"]["step"] == "esia_callback"
    assert (lines["auth.confirm"]["step"], lines["auth.confirm"]["reference"]) == ("confirm_contacts", reference)
    assert (lines["oidc.token"]["client"], lines["oidc.token"]["step"], lines["oidc.token"]["status"]) == ("portal", "token", 200)

    text = "\n".join(json.dumps(record, ensure_ascii=False) for record in records)
    data = person("adult-verified")
    assert not snils_anywhere(data["snils"]).search(text)
    cookies = [cookie.value or "" for cookie in world.browser.cookies]
    for secret in secrets_of(data, visited, PHONE, EMAIL, "9165551234", token["access_token"], token["id_token"], *cookies):
        assert secret not in text


@pytest.mark.parametrize(
    ("arrange", "status"),
    [
        pytest.param(lambda world: delete_account(world, "d-005"), 403, id="no_account"),
        pytest.param(lambda world: requests.post(f"{ESIA}/__mock__/faults", json={"fault": "status=503", "endpoints": ["te"], "count": 2}),
                     503, id="esia_unavailable"),
    ],
)  # fmt: skip
def test_a_refused_login_logs_its_reference_portal_and_step_and_nothing_personal(
    world: World, visited: list[str], json_logs: None, capsys: pytest.CaptureFixture[str], arrange: Any, status: int
) -> None:
    arrange(world)
    capsys.readouterr()
    login = log_in(world, "adult-verified")
    assert login.page is not None and login.page.status_code == status
    records = lines_of(capsys.readouterr().err)

    reference = attempt_reference(world)
    assert reference in login.page.text
    during_callback = [record for record in records if record.get("step") == "esia_callback"]
    assert during_callback and all(record["reference"] == reference and record["client"] == "portal" for record in during_callback)
    assert request_lines(records)["auth.esia_callback"]["status"] == status
    text = "\n".join(json.dumps(record, ensure_ascii=False) for record in records)
    data = person("adult-verified")
    assert not snils_anywhere(data["snils"]).search(text)
    for secret in secrets_of(data, visited, *(cookie.value or "" for cookie in world.browser.cookies)):
        assert secret not in text


def delete_account(world: World, account_id: str) -> None:
    with world.broker.app_context():
        db.session.delete(db.session.get(Account, account_id))
        db.session.commit()


def test_a_callback_that_matches_no_login_logs_no_reference(world: World, json_logs: None, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    world.go(f"{BROKER}/auth/esia/callback?code=made-up-code-123&state=made-up-state-456")
    records = lines_of(capsys.readouterr().err)
    assert [(r["endpoint"], r["status"], r["step"], "reference" in r) for r in records if r["logger"] == "broker.requests"] == [
        ("auth.esia_callback", 400, "esia_callback", False)
    ]
    assert "made-up" not in json.dumps(records)


# --- the setting, the setter and the plain format ------------------------------------------------


def make_app(tmp_path: Path, **config: Any) -> Flask:
    keys = {"SECRET_KEY": "logs", "SNILS_HASH_KEY": "logs-snils", "OID_HASH_KEY": "logs-oid"}
    return create_app({"TESTING": True, **keys, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/logs.sqlite3", **config})


def test_log_format_json_makes_every_line_json_with_what_the_login_code_notes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app(tmp_path, LOG_FORMAT="json")
    capsys.readouterr()
    with app.test_request_context("/auth/choose"):
        logs.note(reference="AB12-CD34", client="portal", step="choose_account")
        logging.getLogger("broker.login.flow").warning("something about %s", "the login")
    logging.getLogger("broker.keyring").warning("outside any request")
    lines = lines_of(capsys.readouterr().err)
    [inside] = [line for line in lines if line["logger"] == "broker.login.flow"]
    [outside] = [line for line in lines if line["logger"] == "broker.keyring"]
    assert {key: inside[key] for key in ("level", "logger", "message", "reference", "client", "step")} == {
        "level": "WARNING", "logger": "broker.login.flow", "message": "something about the login",
        "reference": "AB12-CD34", "client": "portal", "step": "choose_account",
    }  # fmt: skip
    assert "reference" not in outside and outside["message"] == "outside any request"


def test_plain_text_lines_show_the_login_in_brackets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app(tmp_path, LOG_FORMAT="text")
    capsys.readouterr()
    with app.test_request_context("/"):
        logs.note(reference="AB12-CD34", step="invite_code")
        logging.getLogger("broker.login.flow").warning("hello")
    [line] = [line for line in capsys.readouterr().err.splitlines() if "broker.login.flow" in line]
    assert line.endswith("WARNING broker.login.flow [AB12-CD34 invite_code]: hello")


def test_log_requests_off_leaves_out_the_request_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app(tmp_path, LOG_FORMAT="json", LOG_REQUESTS=False)
    app.test_client().get("/healthz")
    assert "broker.requests" not in capsys.readouterr().err
    app = make_app(tmp_path, LOG_FORMAT="json")
    app.test_client().get("/healthz")
    [line] = [line for line in lines_of(capsys.readouterr().err) if line["logger"] == "broker.requests"]
    assert (line["endpoint"], line["status"], "client" in line, "step" in line) == ("health.healthz", 200, False, False)


@pytest.mark.parametrize(("key", "value"), [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "chatty")])
def test_an_unknown_log_setting_is_refused_naming_its_key(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key}: must be one of"):
        make_app(tmp_path, **{key: value})


def test_a_portal_name_that_is_not_registered_is_never_logged(world: World, json_logs: None, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    world.go(f"{BROKER}/oidc/authorize?client_id=Петров-Иван-1561&response_type=code&region=77")
    [line] = [record for record in lines_of(capsys.readouterr().err) if record["logger"] == "broker.requests"]
    assert (line["endpoint"], line["step"], "client" in line) == ("oidc.authorize", "authorize", False)
    assert "Петров" not in json.dumps(line, ensure_ascii=False)
