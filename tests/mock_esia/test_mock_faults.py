"""Faults on demand: per request, at run time, per login, per person and by config; never by default."""

from __future__ import annotations

import json
import time

import pytest
import requests

from mock_esia.scenarios import FaultSpecError, parse_fault

from .esia_test_client import EsiaTestClient, Jwt
from .registration import CLIENT_ID, REDIRECT_URI

SCOPE = "openid fullname birthdate"
FAULT = "X-Mock-Esia-Fault"


def exchange(esia: EsiaTestClient, *, login: str = "adult-verified", fault: str = "", headers=None):
    code, _ = esia.code_for("v1", SCOPE, login) if not fault else _code_with_login_fault(esia, login, fault)
    form = esia.v1_token_form(code, SCOPE)
    return form, esia.token("v1", form, headers=headers or {})


def _code_with_login_fault(esia: EsiaTestClient, login: str, fault: str) -> tuple[str, dict]:
    params = esia.v1_params(SCOPE)
    answer = esia.log_in(esia.authorize("v1", params), login=login, fault=fault)
    return answer.headers["Location"].split("code=")[1].split("&")[0], params


def test_no_fault_is_active_by_default(esia):
    form, answer = exchange(esia)
    body = answer.json()
    access, id_token = Jwt.parse(body["access_token"]), Jwt.parse(body["id_token"])
    certificate = esia.http.get(esia.url("/__mock__/esia.cer")).text

    assert answer.status_code == 200 and body["state"] == form["state"]
    assert access.verifies_with_rsa(certificate) and id_token.verifies_with_rsa(certificate)
    assert "nonce" not in id_token.claims
    assert esia.http.get(esia.url("/__mock__/faults")).json()["faults"] == []


@pytest.mark.parametrize("spec", ["latency=abc", "status=200", "error_rate=2", "explode", "html=1", "timeout=9999"])
def test_a_bad_fault_switch_is_refused_with_a_message(esia, spec):
    answer = esia.http.get(esia.url("/aas/oauth2/ac"), headers={FAULT: spec})

    assert answer.status_code == 400
    assert FAULT in answer.text
    with pytest.raises(FaultSpecError):
        parse_fault(spec)


def test_status_503_gives_an_html_error_page_instead_of_json(esia):
    _, answer = exchange(esia, headers={FAULT: "status=503"})

    assert answer.status_code == 503
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "503 Service Temporarily Unavailable" in answer.text


def test_a_5xx_fault_does_not_use_the_code_up(esia):
    code, _ = esia.code_for("v1", SCOPE, "adult-verified")

    failed = esia.token("v1", esia.v1_token_form(code, SCOPE), headers={FAULT: "status=502"})
    retried = esia.token("v1", esia.v1_token_form(code, SCOPE))

    assert failed.status_code == 502 and retried.status_code == 200


def test_html_answers_200_with_a_maintenance_page(esia):
    _, answer = exchange(esia, headers={FAULT: "html"})

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.text)


def test_malformed_json_cuts_the_body_off(esia):
    _, answer = exchange(esia, headers={FAULT: "malformed_json"})

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.text)


def test_a_4xx_status_at_the_token_endpoint_is_json(esia):
    _, answer = exchange(esia, headers={FAULT: "status=429"})

    assert answer.status_code == 429 and answer.json()["error"] == "server_error"


def test_latency_delays_the_answer(esia):
    started = time.monotonic()
    answer = esia.http.get(esia.url("/rs/prns/1000300005"), headers={FAULT: "latency=0.3"})

    assert time.monotonic() - started >= 0.3
    assert answer.status_code == 401


def test_a_query_flag_works_like_the_header(esia):
    params = esia.v1_params(SCOPE)
    params["mock_esia_fault"] = "status=500"

    assert esia.authorize("v1", params).status_code == 500


def test_error_rate_fails_a_seeded_share_of_requests(make_app, client_for):
    esia = client_for(make_app(FAULT_SEED=7))
    statuses = [esia.http.get(esia.url("/rs/prns/1"), headers={FAULT: "error_rate=0.5"}).status_code for _ in range(40)]

    assert set(statuses) == {401, 503}
    assert 8 <= statuses.count(503) <= 32
    assert {esia.http.get(esia.url("/rs/prns/1"), headers={FAULT: "error_rate=0"}).status_code for _ in range(10)} == {401}


@pytest.mark.flow
def test_timeout_holds_the_request_until_the_client_gives_up(live_server, make_app, rsa_signer, gost_signer):
    base = live_server(make_app(CLOCK=None, FAULT_TIMEOUT=0.25))  # the real clock
    esia = EsiaTestClient(requests.Session(), base, CLIENT_ID, REDIRECT_URI, rsa_signer, gost_signer)

    with pytest.raises(requests.exceptions.ReadTimeout):
        esia.http.get(esia.url("/rs/prns/1000300005"), headers={FAULT: "timeout=1"}, timeout=0.3)
    answer = esia.http.get(esia.url("/rs/prns/1000300005"), headers={FAULT: "timeout"}, timeout=5)
    assert answer.status_code == 504 and "Gateway Time-out" in answer.text


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        ("wrong_iss", lambda a, i, form: a.claims["iss"] == i.claims["iss"] == "http://esia.gosuslugi.ru/"),
        ("wrong_aud", lambda a, i, form: i.claims["aud"] != "DIARY01" and a.claims["client_id"] != "DIARY01"),
        ("expired", lambda a, i, form: a.claims["exp"] < time.time() - 60 and i.claims["exp"] < time.time() - 60),
        ("oid_mismatch", lambda a, i, form: i.claims["sub"] != a.claims["urn:esia:sbj_id"] == 1000300005),
        ("wrong_nonce", lambda a, i, form: isinstance(i.claims["nonce"], str)),
        ("old_auth_time", lambda a, i, form: i.claims["auth_time"] <= i.claims["iat"] - 3600),
    ],
)
def test_token_faults_spoil_the_claims(esia, spec, check):
    form, answer = exchange(esia, headers={FAULT: spec})
    body = answer.json()

    assert check(Jwt.parse(body["access_token"]), Jwt.parse(body["id_token"]), form)


def test_foreign_signature_tokens_do_not_verify_with_esias_certificate(esia):
    _, answer = exchange(esia, headers={FAULT: "foreign_signature"})
    certificate = esia.http.get(esia.url("/__mock__/esia.cer")).text
    body = answer.json()

    assert not Jwt.parse(body["access_token"]).verifies_with_rsa(certificate)
    assert not Jwt.parse(body["id_token"]).verifies_with_rsa(certificate)
    assert esia.person_api("/rs/prns/1000300005", body["access_token"]).status_code == 401


def test_wrong_state_echoes_a_state_that_was_not_sent(esia):
    form, answer = exchange(esia, headers={FAULT: "wrong_state"})

    assert answer.json()["state"] != form["state"]


def test_person_mismatch_answers_with_another_persons_data_and_oid(esia):
    _, answer = exchange(esia)
    token = answer.json()["access_token"]

    person = esia.person_api("/rs/prns/1000300005", token)
    honest = esia.http.get(esia.url("/rs/prns/1000300005"), headers={"Authorization": f"Bearer {token}"})
    lying = esia.http.get(esia.url("/rs/prns/1000300005"), headers={"Authorization": f"Bearer {token}", FAULT: "person_mismatch"})

    assert person.json() == honest.json()
    assert lying.status_code == 200
    assert not lying.headers["Location"].endswith("/1000300005")
    assert lying.json()["lastName"] != honest.json()["lastName"]


def test_a_run_time_fault_applies_to_the_next_requests_then_stops(esia):
    added = esia.http.post(esia.url("/__mock__/faults"), json={"fault": "status=503", "endpoints": ["te"], "count": 1})
    assert added.status_code == 201 and added.json()["endpoints"] == ["te"]

    _, first = exchange(esia)
    _, second = exchange(esia)

    assert (first.status_code, second.status_code) == (503, 200)


def test_a_run_time_fault_without_count_lasts_until_cleared(esia):
    esia.http.post(esia.url("/__mock__/faults"), json={"fault": "html", "endpoints": ["prns"]})
    assert esia.person_api("/rs/prns/1", None).headers["Content-Type"].startswith("text/html")
    assert esia.person_api("/rs/prns/1", None).headers["Content-Type"].startswith("text/html")

    assert esia.http.delete(esia.url("/__mock__/faults")).status_code == 204

    assert esia.person_api("/rs/prns/1", None).status_code == 401


@pytest.mark.parametrize(
    "payload",
    [{"fault": "explode"}, {"fault": "html", "endpoints": ["nowhere"]}, {"fault": "html", "count": 0}, ["html"]],
)
def test_a_bad_run_time_fault_is_refused(esia, payload):
    assert esia.http.post(esia.url("/__mock__/faults"), json=payload).status_code == 400


def test_a_fault_chosen_on_the_login_page_follows_that_login(esia):
    form, failing = exchange(esia, fault="te-503")
    _, fine = exchange(esia)

    assert failing.status_code == 503 and fine.status_code == 200


def test_a_login_page_fault_for_the_person_api(esia):
    _, answer = exchange(esia, fault="person-mismatch")
    token = answer.json()["access_token"]

    assert esia.person_api("/rs/prns/1000300005", token).json()["lastName"] != "Петров"


def test_a_fault_bound_to_a_person_hits_only_that_person(make_app, client_for):
    esia = client_for(make_app(PERSON_FAULTS={1000300006: {"te": "status=500"}}))

    _, other = exchange(esia, login="adult-verified")
    _, bound = exchange(esia, login="adult-standard")

    assert (other.status_code, bound.status_code) == (200, 500)


def test_a_configured_fault_is_always_on_for_its_endpoints(make_app, client_for):
    esia = client_for(make_app(FAULTS={"prns": "status=503"}))

    _, answer = exchange(esia)

    assert answer.status_code == 200
    assert esia.person_api("/rs/prns/1000300005", answer.json()["access_token"]).status_code == 503


def test_the_mock_endpoints_are_never_faulted(esia):
    esia.http.post(esia.url("/__mock__/faults"), json={"fault": "status=503"})

    assert esia.http.get(esia.url("/__mock__/healthz"), headers={FAULT: "status=500"}).status_code == 200
