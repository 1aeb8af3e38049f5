"""The person API: person, documents and contacts, one retry for reads, failures as provider errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses

import providers.transport as transport
from matching import Gender, Reason, Tier
from providers import (
    EsiaContacts,
    EsiaProvider,
    EsiaTokens,
    InvalidUpstreamResponseError,
    ProviderConfigError,
    ProviderError,
    UpstreamRefusedError,
    UpstreamUnavailableError,
)

from .factory import ProviderFactory
from .upstream import BASE_URL, OID, OTHER_OID, Upstream, person_document

PRNS = f"{BASE_URL}/rs/prns/{OID}"
DOCS = f"{PRNS}/docs"
CTTS = f"{PRNS}/ctts"
LOCATION = {"Location": f"https://esia.test:443/rs/prns/{OID}"}


@pytest.fixture
def logged_in(make_provider: ProviderFactory, upstream: Upstream) -> tuple[EsiaProvider, EsiaTokens]:
    """A provider and the tokens of a finished exchange (made with its own fake ESIA)."""
    provider = make_provider()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as token_only:
        token_only.add_callback(responses.POST, f"{BASE_URL}/aas/oauth2/v3/te", callback=upstream.token_endpoint())
        tokens = provider.exchange_code("c0de", provider.authorize())
    return provider, tokens


def test_reads_the_person_with_embedded_documents_and_a_bearer_token(
    http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]
) -> None:
    provider, tokens = logged_in
    http.add(responses.GET, PRNS, json=person_document(), headers=LOCATION)
    person = provider.fetch_person(tokens)
    sent = http.calls[0].request
    assert sent.url == f"{PRNS}?embed=%28documents.elements%29"
    assert sent.headers["Authorization"] == f"Bearer {tokens.access_token}"
    assert (person.oid, person.tier, person.last_name, person.first_name, person.middle_name) == (
        str(OID), Tier.STANDARD, "Соколова", "Марина", "Викторовна",
    )  # fmt: skip
    assert (person.gender, person.snils, str(person.birth_date)) == (Gender.FEMALE, "167-890-125 19", "1979-11-03")


def test_reads_the_documents_apart_when_esia_lists_them_as_urls(
    http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]
) -> None:
    provider, tokens = logged_in
    listed = {"stateFacts": ["hasSize"], "size": 1, "elements": [f"https://esia.test:443/rs/prns/{OID}/docs/500061"]}
    http.add(responses.GET, PRNS, json=person_document(documents=listed), headers=LOCATION)
    embedded = {"size": 1, "elements": [{"id": 500061, "type": "RF_PASSPORT", "vrfStu": "VERIFIED"}]}
    http.add(responses.GET, DOCS, json=embedded, headers={"Location": f"https://esia.test:443/rs/prns/{OID}/docs"})
    assert provider.fetch_person(tokens).tier is Tier.STANDARD
    assert http.calls[1].request.url == f"{DOCS}?embed=%28elements%29"


@pytest.mark.parametrize(
    "overrides",
    [{"trusted": True}, {"snils": None}, {"rIdDoc": None}],
)
def test_does_not_read_documents_the_tier_does_not_need(
    http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens], overrides: dict[str, Any]
) -> None:
    provider, tokens = logged_in
    listed = {"size": 1, "elements": [f"https://esia.test:443/rs/prns/{OID}/docs/500061"]}
    http.add(responses.GET, PRNS, json=person_document(documents=listed, **overrides))
    provider.fetch_person(tokens)
    assert len(http.calls) == 1


def test_a_person_without_verified_documents_is_simplified(
    http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]
) -> None:
    provider, tokens = logged_in
    docs = {"size": 1, "elements": [{"id": 500061, "type": "RF_PASSPORT", "vrfStu": "NOT_VERIFIED"}]}
    http.add(responses.GET, PRNS, json=person_document(documents=docs))
    assert provider.fetch_person(tokens).tier is Tier.SIMPLIFIED


def test_keeps_only_verified_email_and_mobile(http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]) -> None:
    provider, tokens = logged_in
    elements = [
        {"id": 1, "type": "EML", "vrfStu": "NOT_VERIFIED", "value": "old@example.org"},
        {"id": 2, "type": "PHN", "vrfStu": "VERIFIED", "value": "+7(495)0000000"},
        {"id": 3, "type": "EML", "vrfStu": "VERIFIED", "value": "marina@example.org"},
        {"id": 4, "type": "MBT", "vrfStu": "NOT_VERIFIED", "value": "+7(900)1111111", "vrfValStu": "VERIFYING"},
        {"id": 5, "type": "CEM", "vrfStu": "VERIFIED", "value": "work@example.org"},
        {"id": 7, "type": ["EML"], "vrfStu": "VERIFIED", "value": "odd@example.org"},
        f"https://esia.test:443/rs/prns/{OID}/ctts/6",
    ]
    http.add(responses.GET, CTTS, json={"stateFacts": ["hasSize"], "size": 6, "elements": elements})
    contacts = provider.fetch_contacts(tokens)
    assert contacts == EsiaContacts(email="marina@example.org", mobile=None)
    assert http.calls[0].request.url == f"{CTTS}?embed=%28elements%29"
    assert "marina" not in repr(contacts)


def test_refuses_contacts_of_another_person(http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]) -> None:
    provider, tokens = logged_in
    http.add(responses.GET, CTTS, json={"size": 0}, headers={"Location": f"https://esia.test/rs/prns/{OTHER_OID}/ctts"})
    with pytest.raises(InvalidUpstreamResponseError) as info:
        provider.fetch_contacts(tokens)
    assert info.value.field == "Location"


def test_refuses_contacts_whose_elements_are_not_a_list(http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]) -> None:
    provider, tokens = logged_in
    http.add(responses.GET, CTTS, json={"size": 1, "elements": {"type": "EML"}})
    with pytest.raises(InvalidUpstreamResponseError) as info:
        provider.fetch_contacts(tokens)
    assert info.value.field == "elements"


def test_refuses_a_verified_contact_without_a_value(http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]) -> None:
    provider, tokens = logged_in
    http.add(responses.GET, CTTS, json={"size": 1, "elements": [{"type": "MBT", "vrfStu": "VERIFIED", "value": 7}]})
    with pytest.raises(InvalidUpstreamResponseError):
        provider.fetch_contacts(tokens)


def test_retries_a_read_once_after_a_timeout(http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]) -> None:
    provider, tokens = logged_in
    http.add(responses.GET, PRNS, body=requests.exceptions.ConnectTimeout("connect timed out"))
    http.add(responses.GET, PRNS, json=person_document(), headers=LOCATION)
    assert provider.fetch_person(tokens).oid == str(OID)
    assert len(http.calls) == 2


def test_retries_a_read_once_after_a_server_error(http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]) -> None:
    provider, tokens = logged_in
    http.add(responses.GET, CTTS, status=502, body="<html>Bad Gateway</html>", content_type="text/html")
    http.add(responses.GET, CTTS, json={"size": 0})
    assert provider.fetch_contacts(tokens) == EsiaContacts()
    assert len(http.calls) == 2


HTML = {"body": "<html><body>Технические работы</body></html>", "content_type": "text/html"}


@pytest.mark.parametrize(
    ("answers", "error", "status"),
    [
        ([{"body": requests.exceptions.ConnectTimeout()}] * 2, UpstreamUnavailableError, None),
        ([{"body": requests.exceptions.ReadTimeout()}] * 2, UpstreamUnavailableError, None),
        ([{"body": requests.exceptions.ConnectionError()}] * 2, UpstreamUnavailableError, None),
        ([{"status": 503, **HTML}] * 2, UpstreamUnavailableError, 503),
        ([{"body": requests.exceptions.ReadTimeout()}, {"status": 504, **HTML}], UpstreamUnavailableError, 504),
        ([{"status": 500, "json": {"error": "x"}}, {"status": 401, "json": {"error": "invalid_token"}}],
         UpstreamRefusedError, 401),
        ([{"status": 200, **HTML}], UpstreamUnavailableError, 200),
        ([{"status": 401, "json": {"error": "invalid_token", "error_description": "expired"}}], UpstreamRefusedError, 401),
        ([{"status": 403, "json": {"error": "insufficient_scope"}}], UpstreamRefusedError, 403),
        ([{"status": 404, "json": {"error": "not_found"}}], UpstreamRefusedError, 404),
        ([{"status": 200, "body": '{"firstName": "Мар', "content_type": "application/json"}],
         InvalidUpstreamResponseError, None),
        ([{"status": 200, "json": "person"}], InvalidUpstreamResponseError, None),
        ([{"status": 200, "body": "[" * 100000 + "]" * 100000, "content_type": "application/json"}],
         InvalidUpstreamResponseError, None),
        ([{"status": 200, "json": {**person_document(), "birthDate": "1979-11-03"}}], InvalidUpstreamResponseError, None),
    ],
)  # fmt: skip
def test_person_api_failures_are_provider_errors(
    http: responses.RequestsMock,
    logged_in: tuple[EsiaProvider, EsiaTokens],
    answers: list[dict[str, Any]],
    error: type[ProviderError],
    status: int | None,
) -> None:
    provider, tokens = logged_in
    for answer in answers:
        http.add(responses.GET, PRNS, **answer)
    with pytest.raises(error) as info:
        provider.fetch_person(tokens)
    assert type(info.value) is error and getattr(info.value, "status", None) == status
    assert len(http.calls) == len(answers)
    assert info.value.reason is (Reason.ESIA_UNAVAILABLE if error is UpstreamUnavailableError else Reason.ESIA_ERROR)
    assert tokens.access_token not in str(info.value)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Location": f"https://esia.test:443/rs/prns/{OTHER_OID}"}, person_document()),
        ({"Location": "https://esia.test:443/rs/model/prn/Person-3"}, person_document()),
        ({}, person_document(documents={"size": 1, "elements": [f"https://esia.test/rs/prns/{OTHER_OID}/docs/1"]})),
        ({}, person_document(addresses={"size": 1, "elements": [f"https://esia.test/rs/prns/{OTHER_OID}/addrs/9"]})),
    ],
)
def test_refuses_person_data_that_names_another_oid(
    http: responses.RequestsMock,
    logged_in: tuple[EsiaProvider, EsiaTokens],
    headers: dict[str, str],
    body: dict[str, Any],
) -> None:
    provider, tokens = logged_in
    http.add(responses.GET, PRNS, body=json.dumps(body), headers={"Content-Type": "application/json", **headers})
    with pytest.raises(InvalidUpstreamResponseError) as info:
        provider.fetch_person(tokens)
    assert info.value.field in ("Location", "elements") and info.value.reason is Reason.ESIA_ERROR


def test_a_profile_is_one_call_with_contacts_and_documents_embedded(
    http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]
) -> None:
    provider, tokens = logged_in
    contacts = {"size": 2, "elements": [
        {"id": 1, "type": "EML", "vrfStu": "VERIFIED", "value": "marina@example.org"},
        {"id": 2, "type": "MBT", "vrfStu": "NOT_VERIFIED", "value": "+7(900)1111111"},
    ]}  # fmt: skip
    http.add(responses.GET, PRNS, json=person_document(contacts=contacts), headers=LOCATION)
    person, found = provider.fetch_profile(tokens)
    assert len(http.calls) == 1
    assert http.calls[0].request.url == f"{PRNS}?embed=%28documents.elements%2Ccontacts.elements%29"
    assert (person.tier, person.last_name) == (Tier.STANDARD, "Соколова")
    assert found == EsiaContacts(email="marina@example.org", mobile=None)


def test_a_profile_reads_the_contacts_apart_when_esia_lists_them_as_urls(
    http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]
) -> None:
    provider, tokens = logged_in
    listed = {"size": 1, "elements": [f"https://esia.test:443/rs/prns/{OID}/ctts/1"]}
    http.add(responses.GET, PRNS, json=person_document(contacts=listed), headers=LOCATION)
    element = {"id": 1, "type": "MBT", "vrfStu": "VERIFIED", "value": "+7(900)2222222"}
    http.add(responses.GET, CTTS, json={"size": 1, "elements": [element]})
    _, found = provider.fetch_profile(tokens)
    assert found == EsiaContacts(email=None, mobile="+7(900)2222222")
    assert http.calls[1].request.url == f"{CTTS}?embed=%28elements%29"


def test_a_profile_without_contact_scopes_has_no_contacts_and_makes_no_second_call(
    http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream
) -> None:
    provider = make_provider(scopes=("openid", "fullname", "birthdate", "gender", "snils", "id_doc"))
    with responses.RequestsMock() as token_only:
        token_only.add_callback(responses.POST, f"{BASE_URL}/aas/oauth2/v3/te", callback=upstream.token_endpoint())
        tokens = provider.exchange_code("c0de", provider.authorize())
    http.add(responses.GET, PRNS, json=person_document(), headers=LOCATION)
    assert provider.fetch_profile(tokens)[1] == EsiaContacts()
    assert len(http.calls) == 1


def test_a_profile_refuses_embedded_contacts_that_name_another_person(
    http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]
) -> None:
    provider, tokens = logged_in
    listed = {"size": 1, "elements": [f"https://esia.test:443/rs/prns/{OTHER_OID}/ctts/1"]}
    http.add(responses.GET, PRNS, json=person_document(contacts=listed), headers=LOCATION)
    with pytest.raises(InvalidUpstreamResponseError) as info:
        provider.fetch_profile(tokens)
    assert info.value.field == "elements"


def test_the_requests_session_takes_its_proxy_and_ca_bundle_from_config_not_the_environment(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "esia-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("HTTPS_PROXY", "http://from-the-environment:1")
    sender = transport.make_sender("https://proxy.internal:3128", str(bundle))  # TLS to the proxy: urllib3's
    assert isinstance(sender, transport.RequestsSender)
    session = sender.session
    assert (session.trust_env, session.proxies["https"], session.verify) == (False, "https://proxy.internal:3128", str(bundle))
    assert transport.requests_session(None, None).proxies == {}


@pytest.mark.parametrize(("field", "value"), [("proxy", "proxy.internal:3128"), ("ca_bundle", "/nonexistent/ca.pem")])
def test_a_bad_proxy_or_ca_bundle_is_a_config_error(make_provider: ProviderFactory, field: str, value: str) -> None:
    with pytest.raises(ProviderConfigError, match=field):
        make_provider(**{field: value})
