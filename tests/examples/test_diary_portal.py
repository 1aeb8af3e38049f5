"""The demo portal on its own (Flask's test client): its password login and its link button."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask.testing import FlaskClient

import matching
from examples.diary_portal import REASONS, create_app
from examples.localhost import free_port
from tests.examples.demo import ROOT


@pytest.fixture
def portal() -> FlaskClient:
    settings: dict[str, Any] = {
        "BROKER_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "CLIENT_ID": "diary-demo",
        "CLIENT_SECRET": "secret",
        "PUBLIC_URL": "http://portal.test",
        "SECRET_KEY": "test",
        "ACCOUNTS_FILE": str(ROOT / "examples" / "registry.csv"),
        "PASSWORD": "test1234",
    }
    return create_app(settings).test_client()


def test_every_setting_is_required() -> None:
    with pytest.raises(RuntimeError, match="DIARY_PORTAL_ACCOUNTS_FILE"):
        create_app({"BROKER_URL": "x", "CLIENT_ID": "x", "CLIENT_SECRET": "x", "PUBLIC_URL": "x", "SECRET_KEY": "x", "PASSWORD": "x"})


def test_the_password_login_takes_a_registry_login_in_any_case(portal: FlaskClient) -> None:
    page = portal.post("/login", data={"login": " Kid.Diary ", "password": "test1234"}, follow_redirects=True)
    assert page.request.path == "/me" and "<code>d-001</code>" in page.text


def test_when_the_broker_cannot_be_asked_the_link_button_says_so_and_keeps_the_session(portal: FlaskClient) -> None:
    portal.post("/login", data={"login": "teen-verified.diary", "password": "test1234"})
    page = portal.post("/link", follow_redirects=True)
    assert page.request.path == "/me" and "Привязать аккаунт сейчас не получилось" in page.text and "d-004" in page.text
    assert "не получилось" not in portal.get("/me").text, "said once"


def test_the_link_button_needs_a_password_session(portal: FlaskClient) -> None:
    page = portal.post("/link")
    assert page.status_code == 302 and page.headers["Location"] == "/"


def metadata(portal: FlaskClient) -> str:
    """The broker's discovery document, served to the portal by ``responses``; its issuer."""
    issuer = portal.application.config["BROKER_URL"]
    responses.add(responses.GET, issuer + "/.well-known/openid-configuration", json={
        "issuer": issuer, "authorization_endpoint": issuer + "/oidc/authorize", "token_endpoint": issuer + "/oidc/token",
        "jwks_uri": issuer + "/oidc/jwks", "end_session_endpoint": issuer + "/oidc/logout",
    })  # fmt: skip
    return str(issuer)


def started(answer: Any) -> dict[str, str]:
    """The authorization request a portal's redirect starts, as its query."""
    assert answer.status_code == 302, answer.status_code
    url = urlsplit(answer.headers["Location"])
    return {name: values[0] for name, values in parse_qs(url.query).items()} | {"endpoint": url.path}


@responses.activate
def test_the_brokers_initiate_login_starts_a_brand_new_login_each_time(portal: FlaskClient) -> None:
    issuer = metadata(portal)
    first, second = (started(portal.get("/login/initiate", query_string={"iss": issuer})) for _ in range(2))
    assert first["endpoint"] == second["endpoint"] == "/oidc/authorize"
    assert first["redirect_uri"] == "http://portal.test/callback" and first["code_challenge_method"] == "S256"
    for fresh in ("state", "nonce", "code_challenge"):
        assert first[fresh] and first[fresh] != second[fresh], fresh


@responses.activate
@pytest.mark.parametrize("query", [{"iss": "https://evil.example"}, {}, {"iss": "http://portal.test"}])
def test_an_initiate_login_from_another_issuer_starts_nothing_and_echoes_nothing(portal: FlaskClient, query: dict[str, str]) -> None:
    metadata(portal)
    answer = portal.get("/login/initiate", query_string=query)
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert "не от сервиса входа" in answer.text and "evil" not in answer.text and "portal.test" not in answer.text


def error_response(portal: FlaskClient, **query: str) -> Any:
    """The broker's OIDC error response to a login this browser started."""
    state = started(portal.get("/login/esia", query_string={"region": "77"}))["state"]
    return portal.get("/callback", query_string={"error": "access_denied", "state": state} | query)


@responses.activate
def test_the_brokers_error_response_reads_as_russian_words_with_the_code_for_support(portal: FlaskClient) -> None:
    metadata(portal)
    page = error_response(portal, error_description="tier_insufficient", reference="7K3M9QXT").text
    assert "Войти через Госуслуги не получилось" in page and "стандартная или подтверждённая учётная запись" in page
    assert "Код для поддержки: <strong>7K3M-9QXT</strong>" in page and 'href="/login"' in page
    assert "tier_insufficient" not in page and "access_denied" not in page


@responses.activate
def test_an_unknown_reason_or_a_reference_not_of_the_brokers_shape_is_never_shown(portal: FlaskClient) -> None:
    metadata(portal)
    page = error_response(portal, error_description="Позвоните по номеру 8-800", reference="Звоните 8-800-000").text
    assert "Войти через Госуслуги не получилось" in page and 'href="/login"' in page
    assert "Позвоните" not in page and "Звоните" not in page and "Код для поддержки" not in page


def test_the_portal_has_words_for_every_reason_the_broker_can_give() -> None:
    assert set(REASONS) == {str(reason) for reason in matching.Reason}


def test_after_a_link_the_account_page_no_longer_offers_the_link(portal: FlaskClient) -> None:
    portal.post("/login", data={"login": "kid.diary", "password": "test1234"})
    assert "Привяжите аккаунт" in portal.get("/me").text
    page = portal.get("/me", query_string={"linked": "d-001"}).text
    assert "Аккаунт портала Госуслуги привязан" in page and "Привяжите" not in page and 'action="/link"' not in page
    later = portal.get("/me").text
    assert "привязан" in later and "Привяжите" not in later and 'action="/link"' not in later


def test_another_accounts_link_changes_nothing(portal: FlaskClient) -> None:
    portal.post("/login", data={"login": "kid.diary", "password": "test1234"})
    page = portal.get("/me", query_string={"linked": "d-002"}).text
    assert "Привяжите аккаунт" in page and "привязан" not in page


def test_a_failed_link_is_said_in_russian_on_the_account_page(portal: FlaskClient) -> None:
    portal.post("/login", data={"login": "kid.diary", "password": "test1234"})
    query = {"error": "access_denied", "error_description": "linked_elsewhere", "reference": "7K3M-9QXT"}
    page = portal.get("/me", query_string=query).text
    assert "Привязать аккаунт портала Госуслуги не получилось" in page and "уже привязан к другой учётной записи" in page
    assert "7K3M-9QXT" in page and "linked_elsewhere" not in page and "access_denied" not in page
    assert "Привяжите аккаунт" in page
