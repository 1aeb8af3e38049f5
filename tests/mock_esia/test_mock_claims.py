"""Token headers and claims, as in ESIA's captured tokens (docs/esia.md, 'Token checks')."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.esiaspec import unb64url
from tests.opensslgost import Openssl

from .esia_test_client import Jwt
from .registration import GOST_CLIENT_ID, GOST_REDIRECT_URI

SCOPE = "openid fullname birthdate gender snils"


@pytest.fixture
def tokens(esia):
    body = esia.login_and_exchange("v1", SCOPE, "adult-verified")
    return Jwt.parse(body["access_token"]), Jwt.parse(body["id_token"])


def test_the_access_token_has_esias_header_and_claims(tokens, clock):
    access, _ = tokens

    assert access.header == {"ver": 1, "typ": "JWT", "sbt": "access", "alg": "RS256"}
    claims = access.claims
    assert set(claims) == {"nbf", "scope", "iss", "urn:esia:sid", "urn:esia:sbj_id", "exp", "iat", "client_id"}
    assert claims["iss"] == "http://esia-portal1.test.gosuslugi.ru/"
    assert claims["client_id"] == "DIARY01"
    assert claims["urn:esia:sbj_id"] == 1000300005 and isinstance(claims["urn:esia:sbj_id"], int)
    assert claims["scope"] == ("openid fullname?oid=1000300005 birthdate?oid=1000300005 gender?oid=1000300005 snils?oid=1000300005")
    assert claims["iat"] == claims["nbf"] == int(clock())
    assert claims["exp"] == claims["iat"] + 3600
    assert uuid.UUID(claims["urn:esia:sid"])


def test_the_id_token_has_esias_header_and_claims_and_no_nonce(tokens, clock):
    access, id_token = tokens

    assert id_token.header == {"ver": 0, "typ": "JWT", "sbt": "id", "alg": "RS256"}
    claims = id_token.claims
    assert set(claims) == {
        "iss",
        "aud",
        "sub",
        "nbf",
        "iat",
        "exp",
        "auth_time",
        "amr",
        "urn:esia:amd",
        "urn:esia:sid",
        "urn:esia:sbj",
    }
    assert claims["aud"] == "DIARY01"
    assert claims["sub"] == 1000300005
    assert claims["amr"] == "PWD" and claims["urn:esia:amd"] == "PWD"
    assert claims["exp"] == claims["iat"] + 10800
    assert claims["auth_time"] <= claims["iat"]
    assert claims["urn:esia:sid"] == access.claims["urn:esia:sid"]
    assert claims["urn:esia:sbj"] == {
        "urn:esia:sbj:typ": "P",
        "urn:esia:sbj:is_tru": True,
        "urn:esia:sbj:oid": 1000300005,
        "urn:esia:sbj:nam": "OID.1000300005",
        "urn:esia:sbj:lvl": "PR",
    }


@pytest.mark.parametrize(
    ("login", "level", "confirmed"),
    [("adult-standard", "P", False), ("adult-simple", "P", False), ("kid", "KD", False), ("teen-verified", "PR", True)],
)
def test_the_subject_object_marks_confirmation_and_level(esia, login, level, confirmed):
    subject = Jwt.parse(esia.login_and_exchange("v1", "openid", login)["id_token"]).claims["urn:esia:sbj"]

    assert subject["urn:esia:sbj:lvl"] == level
    assert ("urn:esia:sbj:is_tru" in subject) is confirmed


def test_rs256_tokens_verify_with_the_published_certificate_and_jwks(esia, tokens):
    certificate = esia.http.get(esia.url("/__mock__/esia.cer")).text
    jwks = esia.http.get(esia.url("/__mock__/jwks.json")).json()
    jwk = jwks["keys"][0]
    key = rsa.RSAPublicNumbers(int.from_bytes(unb64url(jwk["e"]), "big"), int.from_bytes(unb64url(jwk["n"]), "big")).public_key()

    for token in tokens:
        assert token.verifies_with_rsa(certificate)
        key.verify(token.signature, token.signing_input, padding.PKCS1v15(), hashes.SHA256())
    assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256" and "d" not in jwk


def test_the_certificates_are_written_to_the_data_directory(app, data_dir, esia):
    assert (data_dir / "esia-rsa.cer").read_text() == esia.http.get(esia.url("/__mock__/esia.cer")).text
    assert (data_dir / "esia-gost.cer").read_text() == esia.http.get(esia.url("/__mock__/esia-gost.cer")).text
    assert (data_dir / "esia-rsa.key").stat().st_mode & 0o077 == 0


def test_a_gost_token_verifies_with_openssl_dgst_as_php_clients_check_it(app, client_for, openssl: Openssl, tmp_path: Path):
    esia = client_for(app, client_id=GOST_CLIENT_ID, redirect_uri=GOST_REDIRECT_URI)
    token = Jwt.parse(esia.login_and_exchange("v1", "openid", "adult-verified")["access_token"])
    (tmp_path / "esia.cer").write_text(esia.http.get(esia.url("/__mock__/esia-gost.cer")).text)
    (tmp_path / "public.pem").write_bytes(openssl.run("x509", "-in", str(tmp_path / "esia.cer"), "-pubkey", "-noout").stdout)
    (tmp_path / "input").write_bytes(token.signing_input)
    (tmp_path / "signature").write_bytes(token.signature)

    verified = openssl.run(
        "dgst",
        "-md_gost12_256",
        "-verify",
        str(tmp_path / "public.pem"),
        "-signature",
        str(tmp_path / "signature"),
        str(tmp_path / "input"),
    )

    assert verified.stdout.strip() == b"Verified OK", verified.stderr


def test_the_issuer_follows_config(make_app, client_for):
    esia = client_for(make_app(ISSUER="http://esia.gosuslugi.ru/"))

    body = esia.login_and_exchange("v1", "openid", "adult-verified")

    assert Jwt.parse(body["access_token"]).claims["iss"] == "http://esia.gosuslugi.ru/"
    assert Jwt.parse(body["id_token"]).claims["iss"] == "http://esia.gosuslugi.ru/"
