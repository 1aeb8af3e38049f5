"""ESIA's access tokens and id_tokens: their headers, claims and signatures (docs/esia.md, 'Token checks').

Headers carry ESIA's ``ver`` and ``sbt`` (``{"ver":1,"typ":"JWT","sbt":"access","alg":…}``,
``{"ver":0,"typ":"JWT","sbt":"id","alg":…}``), and no ``kid``. ``RS256`` is signed with
joserfc. ``GOST3410_2012_256`` is done by hand, as ESIA does it: the ASCII signing input
``base64url(header).base64url(payload)`` is hashed with Streebog-256 and signed with GOST
R 34.10-2012; the signature part is base64url (unpadded) of the 64-byte ``s || r``, both
halves big-endian, which is exactly what ``openssl dgst -md_gost12_256 -sign`` produces and
``openssl dgst -verify`` accepts.

The person API reads the mock's own access tokens back with :meth:`TokenIssuer.read_access_token`.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from mock_esia.gost import GostPrivateKey
from mock_esia.identities import Person
from mock_esia.keys import SigningKeys
from mock_esia.scopes import from_per_subject, per_subject

RS256 = "RS256"
GOST = "GOST3410_2012_256"

_REGISTRY = JWSRegistry(
    header_registry={
        "ver": HeaderParameter("ESIA token format version", "int"),
        "sbt": HeaderParameter("ESIA token subtype (access, id, refresh)", "str"),
    },
    algorithms=[RS256],
)
_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What the person API needs from a valid access token."""

    oid: int
    client_id: str
    sid: str
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TokenFaults:
    """Ways to spoil issued tokens on purpose (see :mod:`mock_esia.scenarios`)."""

    wrong_iss: bool = False
    wrong_aud: bool = False
    expired: bool = False
    foreign_signature: bool = False
    oid_mismatch: bool = False
    wrong_nonce: bool = False
    old_auth_time: bool = False


#: How long before the login ``old_auth_time`` says the person last typed their password.
OLD_AUTH_TIME_SECONDS = 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Signs ESIA-shaped tokens with the mock's keys and reads its access tokens back."""

    def __init__(self, keys: SigningKeys, issuer: str, clock: Callable[[], float], *, access_ttl: int, id_ttl: int):
        self._keys = keys
        self._rsa = RSAKey.import_key(keys.rsa_key)
        self._gost_public = keys.gost_key.public_key()
        self._issuer = issuer
        self._clock = clock
        self.access_ttl = access_ttl
        self.id_ttl = id_ttl
        self._foreign: tuple[RSAKey, GostPrivateKey] | None = None
        self._lock = threading.Lock()
        self._verified: OrderedDict[str, tuple[AccessClaims, float, float]] = OrderedDict()

    # -- issuing ---------------------------------------------------------------------------

    def access_token(
        self,
        *,
        person: Person,
        client_id: str,
        scopes: tuple[str, ...],
        sid: str,
        alg: str,
        faults: TokenFaults = TokenFaults(),
    ) -> str:
        now = int(self._clock())
        iat = now - self.access_ttl - 600 if faults.expired else now
        claims = {
            "nbf": iat,
            "scope": per_subject(scopes, person.oid),
            "iss": self._wrong_issuer() if faults.wrong_iss else self._issuer,
            "urn:esia:sid": sid,
            "urn:esia:sbj_id": person.oid,
            "exp": iat + self.access_ttl,
            "iat": iat,
            "client_id": _foreign_client(client_id) if faults.wrong_aud else client_id,
        }
        header = {"ver": 1, "typ": "JWT", "sbt": "access", "alg": alg}
        return self._sign(header, claims, foreign=faults.foreign_signature)

    def id_token(
        self,
        *,
        person: Person,
        client_id: str,
        sid: str,
        auth_time: int,
        alg: str,
        other_oid: int | None = None,
        faults: TokenFaults = TokenFaults(),
    ) -> str:
        now = int(self._clock())
        iat = now - self.id_ttl - 600 if faults.expired else now
        oid = other_oid if faults.oid_mismatch and other_oid is not None else person.oid
        subject: dict[str, Any] = {"urn:esia:sbj:typ": "P"}
        if person.trusted:
            subject["urn:esia:sbj:is_tru"] = True
        subject.update({"urn:esia:sbj:oid": oid, "urn:esia:sbj:nam": f"OID.{oid}", "urn:esia:sbj:lvl": person.level})
        claims: dict[str, Any] = {
            "iss": self._wrong_issuer() if faults.wrong_iss else self._issuer,
            "aud": _foreign_client(client_id) if faults.wrong_aud else client_id,
            "sub": oid,
            "nbf": iat,
            "iat": iat,
            "exp": iat + self.id_ttl,
            # ESIA's single sign-on: the person was asked an hour ago, not now (docs/adr/0014).
            "auth_time": auth_time - OLD_AUTH_TIME_SECONDS if faults.old_auth_time else auth_time,
            "amr": "PWD",
            "urn:esia:amd": "PWD",
            "urn:esia:sid": sid,
            "urn:esia:sbj": subject,
        }
        if faults.wrong_nonce:
            # ESIA stopped returning nonce in 2022; a nonce that comes back must match.
            claims["nonce"] = uuid.uuid4().hex
        header = {"ver": 0, "typ": "JWT", "sbt": "id", "alg": alg}
        return self._sign(header, claims, foreign=faults.foreign_signature)

    def _sign(self, header: dict[str, Any], claims: dict[str, Any], *, foreign: bool) -> str:
        rsa_key, gost_key = self._foreign_keys() if foreign else (self._rsa, self._keys.gost_key)
        if header["alg"] == RS256:
            return jwt.encode(header, claims, rsa_key, registry=_REGISTRY, default_type=None)
        signing_input = f"{_segment(header)}.{_segment(claims)}"
        return f"{signing_input}.{b64url(gost_key.sign(signing_input.encode('ascii')))}"

    def _foreign_keys(self) -> tuple[RSAKey, GostPrivateKey]:
        with self._lock:
            if self._foreign is None:
                self._foreign = (RSAKey.generate_key(2048), GostPrivateKey.generate())
            return self._foreign

    def _wrong_issuer(self) -> str:
        # The other ESIA environment's issuer: the mistake a misconfigured client makes.
        if self._issuer == "http://esia.gosuslugi.ru/":
            return "http://esia-portal1.test.gosuslugi.ru/"
        return "http://esia.gosuslugi.ru/"

    # -- reading back ----------------------------------------------------------------------

    def read_access_token(self, token: str) -> AccessClaims | None:
        """Verify one of the mock's access tokens; None if forged, malformed or expired.

        ``iss`` is not checked here: a client that accepted a token with a wrong issuer is
        the client's bug to expose, not the person API's.
        """
        now = self._clock()
        with self._lock:
            cached = self._verified.get(token)
        if cached is None:
            cached = self._verify(token)
            if cached is None:
                return None
            with self._lock:
                self._verified[token] = cached
                while len(self._verified) > _CACHE_SIZE:
                    self._verified.popitem(last=False)
        claims, not_before, expires = cached
        if not not_before <= now < expires:
            return None
        return claims

    def _verify(self, token: str) -> tuple[AccessClaims, float, float] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(b64url_decode(parts[0]))
            if header.get("sbt") != "access":
                return None
            if header.get("alg") == RS256:
                payload = jwt.decode(token, self._rsa, registry=_REGISTRY).claims
            elif header.get("alg") == GOST:
                signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
                if not self._gost_public.verify(signing_input, b64url_decode(parts[2])):
                    return None
                payload = json.loads(b64url_decode(parts[1]))
            else:
                return None
            names, _ = from_per_subject(payload["scope"])
            claims = AccessClaims(
                oid=int(payload["urn:esia:sbj_id"]),
                client_id=str(payload["client_id"]),
                sid=str(payload["urn:esia:sid"]),
                scopes=names,
            )
            return claims, float(payload["nbf"]), float(payload["exp"])
        except (JoseError, ValueError, KeyError, TypeError, UnicodeError):
            return None


def token_faults(flags: frozenset[str]) -> TokenFaults:
    return TokenFaults(
        wrong_iss="wrong_iss" in flags,
        wrong_aud="wrong_aud" in flags,
        expired="expired" in flags,
        foreign_signature="foreign_signature" in flags,
        oid_mismatch="oid_mismatch" in flags,
        wrong_nonce="wrong_nonce" in flags,
        old_auth_time="old_auth_time" in flags,
    )


def new_session_id() -> str:
    """ESIA's ``urn:esia:sid``: a UUID since 2022."""
    return str(uuid.uuid4())


def _segment(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _foreign_client(client_id: str) -> str:
    return f"{client_id}_OTHER"
