"""The person API, /rs/prns/{oid} and its collections (docs/esia.md, 'Person data')."""

from __future__ import annotations

import re

import pytest

from .esia_test_client import Jwt

FULL = "openid fullname birthdate gender snils id_doc email mobile addresses"
BASE = "http://esia.test:80"


@pytest.fixture
def login(esia):
    def log_in(login: str = "adult-verified", scope: str = FULL) -> tuple[int, str]:
        access = esia.login_and_exchange("v1", scope, login)["access_token"]
        return Jwt.parse(access).claims["urn:esia:sbj_id"], access

    return log_in


def test_the_person_carries_esias_fields_and_headers(esia, login):
    oid, token = login()

    answer = esia.person_api(f"/rs/prns/{oid}", token)

    assert answer.status_code == 200
    body = answer.json()
    assert body == {
        "stateFacts": ["EntityRoot"],
        "firstName": "Иван",
        "lastName": "Петров",
        "middleName": "Николаевич",
        "birthDate": "14.07.1985",
        "gender": "M",
        "trusted": True,
        "citizenship": "RUS",
        "snils": "156-789-014 13",
        "updatedOn": 1767225600,
        "status": "REGISTERED",
        "verifying": False,
        "rIdDoc": 500051,
        "containsUpCfmCode": False,
        "eTag": body["eTag"],
    }
    assert re.fullmatch(r"[0-9A-F]{40}", body["eTag"])
    assert answer.headers["ETag"] == body["eTag"]
    assert answer.headers["Content-Type"] == f'application/json; schema="{BASE}/rs/model/prn/Person-3"'
    assert answer.headers["Location"] == f"{BASE}/rs/prns/{oid}"
    assert f'<{BASE}/rs/prns/{oid}/ctts>;rel=contacts;schema="{BASE}/rs/model/ctts/Contacts-1"' in answer.headers["Link"]
    assert "no-store" in answer.headers["Cache-Control"]


def test_fields_appear_only_for_granted_scopes(esia, login):
    oid, token = login("adult-verified", "openid fullname")

    body = esia.person_api(f"/rs/prns/{oid}", token).json()

    assert {"firstName", "lastName", "middleName"} <= set(body)
    assert not {"birthDate", "gender", "snils", "citizenship", "inn"} & set(body)
    assert {"trusted", "rIdDoc", "status", "updatedOn", "verifying", "stateFacts", "eTag"} <= set(body)


def test_an_unconfirmed_account_says_trusted_false(esia, login):
    oid, token = login("adult-simple")

    body = esia.person_api(f"/rs/prns/{oid}", token).json()

    assert body["trusted"] is False and "snils" not in body and "rIdDoc" not in body


def test_a_collection_lists_its_elements_as_urls_that_can_be_followed(esia, login):
    oid, token = login()

    collection = esia.person_api(f"/rs/prns/{oid}/ctts", token).json()

    assert collection["stateFacts"] == ["hasSize"] and collection["size"] == 2
    assert collection["elements"] == [f"{BASE}/rs/prns/{oid}/ctts/700051", f"{BASE}/rs/prns/{oid}/ctts/700052"]
    element = esia.http.get(collection["elements"][1], headers={"Authorization": f"Bearer {token}"}).json()
    assert element == {
        "stateFacts": ["Identifiable"],
        "id": 700052,
        "type": "EML",
        "vrfStu": "VERIFIED",
        "value": "ivan.petrov@example.org",
        "eTag": element["eTag"],
    }


def test_a_collection_embeds_its_elements_on_request(esia, login):
    oid, token = login()

    documents = esia.person_api(f"/rs/prns/{oid}/docs", token, embed="(elements)").json()

    assert documents["size"] == 1
    passport = documents["elements"][0]
    assert passport["stateFacts"] == ["EntityRoot"]
    assert (passport["id"], passport["type"], passport["vrfStu"]) == (500051, "RF_PASSPORT", "VERIFIED")
    assert {"series", "number", "issueDate", "issueId", "issuedBy", "eTag"} <= set(passport)


def test_a_person_embeds_collections_in_one_call(esia, login):
    oid, token = login("teacher", FULL + " kid_fullname kid_birthdate")

    body = esia.person_api(f"/rs/prns/{oid}", token, embed="(documents.elements,contacts.elements,addresses,kids.elements)").json()

    assert [d["type"] for d in body["documents"]["elements"]] == ["RF_PASSPORT"]
    assert {c["type"] for c in body["contacts"]["elements"]} == {"MBT", "EML"}
    assert body["addresses"]["elements"] == [f"{BASE}/rs/prns/{oid}/addrs/900081"]
    assert body["kids"]["elements"][0] == {
        "stateFacts": ["Identifiable"],
        "id": 600081,
        "lastName": "Лебедев",
        "firstName": "Максим",
        "middleName": "Игоревич",
        "birthDate": "14.05.2016",
        "eTag": body["kids"]["elements"][0]["eTag"],
    }


def test_an_embed_leaves_out_collections_no_scope_opens(esia, login):
    oid, token = login("adult-verified", "openid fullname")

    body = esia.person_api(f"/rs/prns/{oid}", token, embed="(documents.elements,contacts.elements)").json()

    assert "documents" not in body and "contacts" not in body


def test_contacts_show_only_the_types_the_scopes_open(esia, login):
    oid, token = login("adult-verified", "openid email")

    body = esia.person_api(f"/rs/prns/{oid}/ctts", token, embed="(elements)").json()

    assert [c["type"] for c in body["elements"]] == ["EML"]
    assert esia.person_api(f"/rs/prns/{oid}/ctts/700051", token).status_code == 403


def test_a_collection_without_its_scope_is_403(esia, login):
    oid, token = login("adult-verified", "openid fullname")

    for segment in ("docs", "ctts", "addrs", "kids"):
        assert esia.person_api(f"/rs/prns/{oid}/{segment}", token).status_code == 403


def test_a_child_account_shows_its_birth_certificate_only_with_birth_cert_doc(esia, login):
    oid, token = login("kid", "openid fullname id_doc birth_cert_doc")

    body = esia.person_api(f"/rs/prns/{oid}", token, embed="(documents.elements)").json()

    assert [d["type"] for d in body["documents"]["elements"]] == ["BRTH_CERT"]
    assert body["rIdDoc"] == body["documents"]["elements"][0]["id"]


def test_an_empty_collection_has_size_zero_and_no_elements(esia, login):
    oid, token = login("adult-simple", "openid fullname id_doc")

    body = esia.person_api(f"/rs/prns/{oid}/docs", token).json()

    assert body["stateFacts"] == ["hasSize"] and body["size"] == 0 and "elements" not in body


def test_etags_are_stable_and_follow_the_content(esia, login):
    oid, token = login()
    _, narrow = login("adult-verified", "openid fullname")

    first = esia.person_api(f"/rs/prns/{oid}", token).headers["ETag"]
    second = esia.person_api(f"/rs/prns/{oid}", token).headers["ETag"]
    other = esia.person_api(f"/rs/prns/{oid}", narrow).headers["ETag"]

    assert first == second != other


def test_no_token_is_401(esia):
    answer = esia.person_api("/rs/prns/1000300005", None)

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJ1cm46ZXNpYTpzYmpfaWQiOjF9."])
def test_a_malformed_or_unsigned_token_is_401(esia, token):
    assert esia.person_api("/rs/prns/1000300005", token).status_code == 401


def test_a_token_of_another_person_is_403(esia, login):
    _, token = login("adult-verified")

    assert esia.person_api("/rs/prns/1000300006", token).status_code == 403
    assert esia.person_api("/rs/prns/1000300006/ctts", token).status_code == 403


def test_an_expired_access_token_is_401(esia, login, clock):
    oid, token = login()
    clock.advance(3601)

    assert esia.person_api(f"/rs/prns/{oid}", token).status_code == 401


def test_an_unknown_element_or_collection_is_404(esia, login):
    oid, token = login()

    assert esia.person_api(f"/rs/prns/{oid}/ctts/1", token).status_code == 404
    assert esia.person_api(f"/rs/prns/{oid}/secrets", token).status_code == 404


def test_person_data_matches_the_token_oid_in_every_place(esia, login):
    """The same oid in both tokens, the path, Location and element URLs (docs/esia.md, 'Person data')."""
    body = esia.login_and_exchange("v2", FULL, "yo")
    oid = Jwt.parse(body["access_token"]).claims["urn:esia:sbj_id"]
    id_claims = Jwt.parse(body["id_token"]).claims

    answer = esia.person_api(f"/rs/prns/{oid}/ctts", body["access_token"])

    assert oid == id_claims["sub"] == id_claims["urn:esia:sbj"]["urn:esia:sbj:oid"] == 1000300009
    assert answer.headers["Location"].endswith(f"/rs/prns/{oid}/ctts")
    assert all(f"/rs/prns/{oid}/ctts/" in url for url in answer.json()["elements"])
    assert esia.person_api(f"/rs/prns/{oid}", body["access_token"]).json()["lastName"] == "Сёмина"


def test_a_configured_public_url_is_used_in_links(make_app, client_for):
    esia = client_for(make_app(PUBLIC_URL="https://esia-portal1.test.gosuslugi.ru:443"))
    access = esia.login_and_exchange("v1", "openid fullname", "adult-verified")["access_token"]

    answer = esia.person_api("/rs/prns/1000300005", access)

    assert answer.headers["Location"] == "https://esia-portal1.test.gosuslugi.ru:443/rs/prns/1000300005"
