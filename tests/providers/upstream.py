"""ESIA's side of the protocol for the unit tests: its keys, its tokens and its answers.

Written from docs/esia.md, sharing no code with ``providers`` (agreeing with our own code would prove
nothing): RS256 with ``cryptography``, GOST3410_2012_256 with the byte-order recipe in
``tests/esiaspec.py`` (``gostcrypto``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.esiaspec import b64url, gost_sign

DATA = Path(__file__).parent / "data"
BASE_URL = "https://esia.test"
ISSUER = "http://esia-portal1.test.gosuslugi.ru/"
CLIENT_ID = "DIARY01"
REDIRECT_URI = "https://diary.test/auth/esia/callback"
OID = 1000300005
OTHER_OID = 1000300006
RS256 = "RS256"
GOST = "GOST3410_2012_256"
#: Remove a claim or header parameter in ``claims(...)``/``header(...)`` overrides.
ABSENT: Any = object()


def _apply(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(base)
    for name, value in overrides.items():
        if value is ABSENT:
            values.pop(name, None)
        else:
            values[name] = value
    return values


@dataclass
class EsiaKeys:
    """ESIA's token-signing keys and where their certificates lie on disk."""

    rsa_key: rsa.RSAPrivateKey
    rsa_certificate_path: Path
    gost_d: int
    gost_certificate_path: Path

    @property
    def certificate_files(self) -> tuple[str, ...]:
        return (str(self.rsa_certificate_path), str(self.gost_certificate_path))

    def rsa_public_pem(self) -> bytes:
        return self.rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class Upstream:
    """ESIA minting tokens and token responses at a given moment."""

    keys: EsiaKeys
    now: Callable[[], float]
    alg: str = RS256

    def header(self, subtype: str, **overrides: Any) -> dict[str, Any]:
        base = {"ver": 1 if subtype == "access" else 0, "typ": "JWT", "sbt": subtype, "alg": self.alg}
        return _apply(base, overrides)

    def access_claims(self, **overrides: Any) -> dict[str, Any]:
        iat = int(self.now())
        base = {
            "nbf": iat,
            "scope": f"openid fullname?oid={OID} birthdate?oid={OID}",
            "iss": ISSUER,
            "urn:esia:sid": "0b9a6c2e-4f3d-4e1a-8b7c-6d5e4f3a2b1c",
            "urn:esia:sbj_id": OID,
            "exp": iat + 3600,
            "iat": iat,
            "client_id": CLIENT_ID,
        }
        return _apply(base, overrides)

    def id_claims(self, **overrides: Any) -> dict[str, Any]:
        iat = int(self.now())
        subject = {
            "urn:esia:sbj:typ": "P",
            "urn:esia:sbj:is_tru": True,
            "urn:esia:sbj:oid": OID,
            "urn:esia:sbj:nam": f"OID.{OID}",
            "urn:esia:sbj:lvl": "PR",
        }
        base = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": OID,
            "nbf": iat,
            "iat": iat,
            "exp": iat + 10800,
            "auth_time": iat - 5,
            "amr": "PWD",
            "urn:esia:amd": "PWD",
            "urn:esia:sid": "0b9a6c2e-4f3d-4e1a-8b7c-6d5e4f3a2b1c",
            "urn:esia:sbj": subject,
        }
        return _apply(base, overrides)

    def sign(self, header: Mapping[str, Any], claims: Mapping[str, Any], *, alg: str | None = None) -> str:
        """A compact JWS over ``header`` and ``claims``; ``alg`` chooses the key (default: the header's)."""
        signing_input = f"{_segment(header)}.{_segment(claims)}"
        chosen = alg or str(header.get("alg"))
        data = signing_input.encode("ascii")
        if chosen == RS256:
            signature = self.keys.rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        elif chosen == GOST:
            signature = gost_sign(self.keys.gost_d, data)
        elif chosen == "HS256":
            # The classic confusion attack: HMAC keyed with the verifier's public key.
            signature = hmac.new(self.keys.rsa_public_pem(), data, hashlib.sha256).digest()
        elif chosen == "none":
            signature = b""
        else:
            raise ValueError(chosen)
        return f"{signing_input}.{b64url(signature)}"

    def access_token(self, *, header: Mapping[str, Any] | None = None, **claims: Any) -> str:
        return self.sign(header or self.header("access"), self.access_claims(**claims))

    def id_token(self, *, header: Mapping[str, Any] | None = None, **claims: Any) -> str:
        return self.sign(header or self.header("id"), self.id_claims(**claims))

    def token_response(self, echo: str, **overrides: Any) -> dict[str, Any]:
        """A token response echoing ``echo`` as its state; ``overrides`` replace or remove fields."""
        base = {
            "access_token": self.access_token(),
            "id_token": self.id_token(),
            "refresh_token": "5b0e8a52-1f0c-4f7e-9d2a-3c4b5a6d7e8f",
            "state": echo,
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        return _apply(base, overrides)

    def token_endpoint(self, **overrides: Any) -> Callable[[Any], tuple[int, dict[str, str], str]]:
        """A ``responses`` callback answering a token request, echoing its state.

        ``overrides`` replace parts of the answer; a callable override is called with the request's form.
        """

        def answer(request: Any) -> tuple[int, dict[str, str], str]:
            form = form_of(request)
            values = {name: value(form) if callable(value) else value for name, value in overrides.items()}
            body = self.token_response(form["state"], **values)
            return 200, {"Content-Type": "application/json"}, json.dumps(body)

        return answer


def form_of(request: Any) -> dict[str, str]:
    """The form fields of a captured ``requests`` request (one value each)."""
    body = request.body if isinstance(request.body, str) else request.body.decode("utf-8")
    return {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()}


def _segment(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def person_document(**overrides: Any) -> dict[str, Any]:
    """``/rs/prns/{oid}?embed=(documents.elements)`` of a standard (not confirmed) account."""
    base = {
        "stateFacts": ["EntityRoot"],
        "firstName": "Марина",
        "lastName": "Соколова",
        "middleName": "Викторовна",
        "birthDate": "03.11.1979",
        "gender": "F",
        "trusted": False,
        "snils": "167-890-125 19",
        "updatedOn": 1767225600,
        "status": "REGISTERED",
        "verifying": False,
        "rIdDoc": 500061,
        "containsUpCfmCode": False,
        "documents": {
            "stateFacts": ["hasSize"],
            "size": 1,
            "elements": [
                {"stateFacts": ["EntityRoot"], "id": 500061, "type": "RF_PASSPORT", "vrfStu": "VERIFIED",
                 "series": "4500", "number": "000106", "eTag": "A" * 40},
            ],
            "eTag": "B" * 40,
        },
        "eTag": "C" * 40,
    }  # fmt: skip
    return _apply(base, overrides)


def load_certificate_pem(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())
