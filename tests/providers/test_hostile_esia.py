"""A hostile or broken ESIA: every forged, foreign, stale or inconsistent answer is refused.

Each case runs a whole login (exchange → person → contacts) against an ESIA that answers only
the calls up to the failing step: the refusal must come at that step, with the right error, and
nothing after it may be called.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import responses
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from matching import Reason
from providers import (
    AuthorizationRequest,
    EsiaProvider,
    InvalidUpstreamResponseError,
    ProviderError,
    SignatureError,
    StateMismatchError,
    TokenClaimsError,
)
from tests.esiaspec import b64url, gost_sign
from tests.keymaterial import make_rsa_key

from .factory import ProviderFactory
from .upstream import (
    ABSENT,
    BASE_URL,
    CLIENT_ID,
    GOST,
    OID,
    OTHER_OID,
    RS256,
    Upstream,
    person_document,
)

TE = f"{BASE_URL}/aas/oauth2/v3/te"
PRNS = f"{BASE_URL}/rs/prns/{OID}"
CTTS = f"{BASE_URL}/rs/prns/{OID}/ctts"
CODE = "opaque-authorization-code-42"
NOW = "now"  # placeholder for the clock in time claims, resolved per test
AUTH_STATE = "the authorization request's state"  # placeholder, resolved per test


def log_in(provider: EsiaProvider, request: AuthorizationRequest | None = None) -> None:
    request = request or provider.authorize()
    tokens = provider.exchange_code(CODE, request)
    provider.fetch_person(tokens)
    provider.fetch_contacts(tokens)


def forged_signature(token: str) -> str:
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}.{b64url(bytes(raw))}"


def foreign_rsa(upstream: Upstream, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Signed with an RSA key ESIA does not have."""
    token = upstream.sign(header, claims)
    head, body, _ = token.split(".")
    key = make_rsa_key()
    return f"{head}.{body}.{b64url(key.sign(f'{head}.{body}'.encode(), padding.PKCS1v15(), hashes.SHA256()))}"


def foreign_gost(upstream: Upstream, header: dict[str, Any], claims: dict[str, Any]) -> str:
    token = upstream.sign(header, claims, alg=GOST)
    head, body, _ = token.split(".")
    return f"{head}.{body}.{b64url(gost_sign(0x1234567890ABCDEF, f'{head}.{body}'.encode()))}"


def raw_claims(claims_json: str) -> Callable[[Upstream], str]:
    """An access token whose payload is exactly ``claims_json`` (validly signed)."""

    def make(upstream: Upstream) -> str:
        head = b64url(json.dumps(upstream.header("access")).encode())
        body = b64url(claims_json.encode())
        signature = upstream.keys.rsa_key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{b64url(signature)}"

    return make


@dataclass(frozen=True)
class Case:
    """What ESIA answers and what the client must do about it."""

    answer: Callable[[Upstream], dict[str, Any]]  # overrides of the token response
    error: type[ProviderError]
    detail: str | None = None  # the claim or field named by the error
    person: dict[str, Any] | None = None  # when set, the person API answers with this
    person_headers: dict[str, str] = field(default_factory=dict)


def access(**claims: Any) -> Callable[[Upstream], dict[str, Any]]:
    return lambda up: {"access_token": up.access_token(**_times(up, claims))}


def identity(**claims: Any) -> Callable[[Upstream], dict[str, Any]]:
    return lambda up: {"id_token": up.id_token(**_times(up, claims))}


def access_header(**header: Any) -> Callable[[Upstream], dict[str, Any]]:
    """An access token with ``header`` changed, validly signed with ESIA's RSA key."""
    return lambda up: {"access_token": up.sign(up.header("access", **header), up.access_claims(), alg=RS256)}


def _times(upstream: Upstream, claims: dict[str, Any]) -> dict[str, Any]:
    now = int(upstream.now())
    return {name: now + value[1] if isinstance(value, tuple) and value[0] == NOW else value for name, value in claims.items()}


SUBJECT = {"urn:esia:sbj:typ": "P", "urn:esia:sbj:oid": OID}
JWK = {"kty": "oct", "k": "c2VjcmV0"}

CASES: dict[str, Case] = {
    # -- signatures ------------------------------------------------------------------------
    "forged access token signature": Case(lambda up: {"access_token": forged_signature(up.access_token())}, SignatureError),
    "forged id_token signature": Case(lambda up: {"id_token": forged_signature(up.id_token())}, SignatureError),
    "absent signature": Case(lambda up: {"access_token": up.access_token().rsplit(".", 1)[0] + "."}, SignatureError),
    "alg none": Case(lambda up: {"access_token": up.sign(up.header("access", alg="none"), up.access_claims())}, SignatureError),
    "HS256 keyed with ESIA's public key": Case(
        lambda up: {"access_token": up.sign(up.header("access", alg="HS256"), up.access_claims())}, SignatureError
    ),
    "RS256 header over a GOST signature": Case(
        lambda up: {"access_token": up.sign(up.header("access", alg=RS256), up.access_claims(), alg=GOST)},
        SignatureError,
    ),
    "alg RS512": Case(access_header(alg="RS512"), SignatureError),
    "alg PS256": Case(access_header(alg="PS256"), SignatureError),
    "alg GOST3410_2012_512": Case(access_header(alg="GOST3410_2012_512"), SignatureError),
    "alg missing": Case(access_header(alg=ABSENT), SignatureError),
    "alg as a list": Case(access_header(alg=[RS256]), SignatureError),
    "header offers jwk": Case(access_header(jwk=JWK), SignatureError),
    "header offers jku": Case(access_header(jku="https://evil.test/jwks.json"), SignatureError),
    "header offers x5u": Case(access_header(x5u="https://evil.test/esia.cer"), SignatureError),
    "header offers x5c": Case(access_header(x5c=["MIIB"]), SignatureError),
    "header has crit": Case(access_header(crit=["exp"]), SignatureError),
    "RSA key ESIA does not have": Case(
        lambda up: {"access_token": foreign_rsa(up, up.header("access"), up.access_claims())}, SignatureError
    ),
    "GOST key ESIA does not have": Case(
        lambda up: {"id_token": foreign_gost(up, up.header("id", alg=GOST), up.id_claims())}, SignatureError
    ),
    # -- structure -------------------------------------------------------------------------
    "access token missing": Case(lambda up: {"access_token": ABSENT}, InvalidUpstreamResponseError, "access_token"),
    "id_token missing": Case(lambda up: {"id_token": ABSENT}, InvalidUpstreamResponseError, "id_token"),
    "access token not a JWT": Case(lambda up: {"access_token": "opaque"}, InvalidUpstreamResponseError, "access_token"),
    "claims not JSON": Case(lambda up: {"access_token": raw_claims("{'iss': 1}")(up)}, InvalidUpstreamResponseError, "access_token"),
    "duplicate claims": Case(
        lambda up: {"access_token": raw_claims('{"client_id": "OTHER", "client_id": "DIARY01"}')(up)},
        InvalidUpstreamResponseError,
        "access_token",
    ),
    "claims nested beyond the parser's depth": Case(
        # 20,000 deep (well past the parser's recursion limit), short enough to pass the size cap
        lambda up: {"access_token": raw_claims('{"a":' * 20000 + "1" + "}" * 20000)(up)},
        InvalidUpstreamResponseError,
        "access_token",
    ),
    "exp is Infinity": Case(lambda up: {"access_token": raw_claims('{"exp": Infinity}')(up)}, InvalidUpstreamResponseError, "access_token"),
    "id_token passed off as the access token": Case(lambda up: {"access_token": up.id_token()}, TokenClaimsError, "sbt"),
    "token_type is not Bearer": Case(lambda up: {"token_type": "mac"}, InvalidUpstreamResponseError, "token_type"),
    # -- state -----------------------------------------------------------------------------
    "state echo missing": Case(lambda up: {"state": ABSENT}, StateMismatchError),
    "state echo of another request": Case(lambda up: {"state": "2d1c0b9a-8f7e-4d6c-b5a4-938271605f4e"}, StateMismatchError),
    "state echo is the authorization request's": Case(lambda up: {"state": AUTH_STATE}, StateMismatchError),
    # -- issuer, audience, times -----------------------------------------------------------
    "production issuer on the test stand": Case(access(iss="http://esia.gosuslugi.ru/"), TokenClaimsError, "iss"),
    "issuer without trailing slash": Case(identity(iss="http://esia-portal1.test.gosuslugi.ru"), TokenClaimsError, "iss"),
    "issuer over https": Case(access(iss="https://esia-portal1.test.gosuslugi.ru/"), TokenClaimsError, "iss"),
    "issuer missing": Case(identity(iss=ABSENT), TokenClaimsError, "iss"),
    "id_token for another system": Case(identity(aud="DIARY99"), TokenClaimsError, "aud"),
    "id_token for several systems": Case(identity(aud=[CLIENT_ID, "DIARY99"]), TokenClaimsError, "aud"),
    "id_token without aud": Case(identity(aud=ABSENT), TokenClaimsError, "aud"),
    "access token for another system": Case(access(client_id="DIARY99"), TokenClaimsError, "client_id"),
    "access token without client_id": Case(access(client_id=ABSENT), TokenClaimsError, "client_id"),
    "access token expired beyond the leeway": Case(access(exp=(NOW, -61)), TokenClaimsError, "exp"),
    "id_token expired beyond the leeway": Case(identity(exp=(NOW, -3600)), TokenClaimsError, "exp"),
    "exp missing": Case(access(exp=ABSENT), TokenClaimsError, "exp"),
    "exp as a string": Case(identity(exp="9999999999"), TokenClaimsError, "exp"),
    "exp as true": Case(access(exp=True), TokenClaimsError, "exp"),
    "exp beyond any float": Case(access(exp=10**400), TokenClaimsError, "exp"),
    "iat far in the future": Case(access(iat=(NOW, 3600)), TokenClaimsError, "iat"),
    "iat missing": Case(identity(iat=ABSENT), TokenClaimsError, "iat"),
    "nbf in the future": Case(identity(nbf=(NOW, 600)), TokenClaimsError, "nbf"),
    "auth_time beyond the leeway in the future": Case(identity(auth_time=(NOW, 61)), TokenClaimsError, "auth_time"),
    "auth_time as a string": Case(identity(auth_time="1735725590"), TokenClaimsError, "auth_time"),
    "auth_time zero": Case(identity(auth_time=0), TokenClaimsError, "auth_time"),
    "auth_time negative": Case(identity(auth_time=-5), TokenClaimsError, "auth_time"),
    # -- nonce -----------------------------------------------------------------------------
    "nonce of another login": Case(identity(nonce="0f3c9d2e8b7a"), TokenClaimsError, "nonce"),
    "nonce not a string": Case(identity(nonce=42), TokenClaimsError, "nonce"),
    # -- who the tokens are about ------------------------------------------------------------
    "id_token sub names another person": Case(identity(sub=OTHER_OID), TokenClaimsError, "sub"),
    "urn:esia:sbj names another person": Case(
        identity(**{"urn:esia:sbj": {**SUBJECT, "urn:esia:sbj:oid": OTHER_OID}}), TokenClaimsError, "sub"
    ),
    "access token names another person": Case(access(**{"urn:esia:sbj_id": OTHER_OID}), TokenClaimsError, "sub"),
    "access token names nobody": Case(access(**{"urn:esia:sbj_id": ABSENT}), TokenClaimsError, "urn:esia:sbj_id"),
    "id_token without sub": Case(identity(sub=ABSENT), TokenClaimsError, "sub"),
    "id_token without urn:esia:sbj": Case(identity(**{"urn:esia:sbj": ABSENT}), TokenClaimsError, "urn:esia:sbj"),
    "urn:esia:sbj without oid": Case(identity(**{"urn:esia:sbj": {"urn:esia:sbj:typ": "P"}}), TokenClaimsError, "urn:esia:sbj:oid"),
    "oid that is not a number": Case(access(**{"urn:esia:sbj_id": "1000300005; DROP"}), TokenClaimsError),
    "oid true": Case(identity(sub=True), TokenClaimsError, "sub"),
    "oid of 25 digits": Case(access(**{"urn:esia:sbj_id": 10**24}), TokenClaimsError, "urn:esia:sbj_id"),
    "oid zero": Case(identity(sub=0), TokenClaimsError, "sub"),
    # -- the person API about someone else ---------------------------------------------------
    "Location names another person": Case(
        lambda up: {},
        InvalidUpstreamResponseError,
        "Location",
        person=person_document(),
        person_headers={"Location": f"https://esia.test:443/rs/prns/{OTHER_OID}"},
    ),
    "element URL names another person": Case(
        lambda up: {},
        InvalidUpstreamResponseError,
        "elements",
        person=person_document(
            trusted=True,
            documents={"size": 1, "elements": [f"https://esia.test:443/rs/prns/{OTHER_OID}/docs/500061"]},
        ),
    ),
    "person data names another oid": Case(lambda up: {}, InvalidUpstreamResponseError, "oid", person=person_document(oid=OTHER_OID)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_refuses_a_hostile_answer_and_calls_nothing_after_it(
    http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream, name: str
) -> None:
    case = CASES[name]
    provider = make_provider()
    request = provider.authorize()
    answer = case.answer(upstream)
    if answer.get("state") == AUTH_STATE:
        answer["state"] = request.state
    http.add_callback(responses.POST, TE, callback=upstream.token_endpoint(**answer))
    if case.person is not None:
        headers = {"Content-Type": "application/json", **case.person_headers}
        http.add(responses.GET, PRNS, body=json.dumps(case.person), headers=headers)
    with pytest.raises(case.error) as info:
        log_in(provider, request)
    assert type(info.value) is case.error
    assert info.value.reason is Reason.ESIA_ERROR
    detail = getattr(info.value, "claim", None) or getattr(info.value, "field", None)
    if case.detail is not None:
        assert detail == case.detail
    assert [call.request.method for call in http.calls] == ["POST"] + (["GET"] if case.person is not None else [])
    shown = str(info.value)
    assert CODE not in shown and "eyJ" not in shown and "Соколова" not in shown and "167-890" not in shown


@pytest.mark.parametrize(
    "name",
    ["forged access token signature", "GOST key ESIA does not have", "alg none", "production issuer on the test stand"],
)
def test_refuses_the_same_way_when_esia_signs_with_gost(
    http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream, name: str
) -> None:
    upstream.alg = GOST
    http.add_callback(responses.POST, TE, callback=upstream.token_endpoint(**CASES[name].answer(upstream)))
    with pytest.raises(CASES[name].error):
        log_in(make_provider())
    assert len(http.calls) == 1


def test_a_well_behaved_esia_passes_the_same_login(
    http: responses.RequestsMock, make_provider: ProviderFactory, upstream: Upstream
) -> None:
    """The baseline every hostile case departs from, so that each refusal has one cause."""
    http.add_callback(responses.POST, TE, callback=upstream.token_endpoint())
    http.add(responses.GET, PRNS, json=person_document(), headers={"Location": f"https://esia.test:443/rs/prns/{OID}"})
    http.add(responses.GET, CTTS, json={"stateFacts": ["hasSize"], "size": 0})
    log_in(make_provider())
    assert len(http.calls) == 3
