"""Verifying ESIA's access token and id_token (docs/esia.md, 'Token checks').

ESIA signs its JWTs with ``RS256`` or with ``GOST3410_2012_256``, an algorithm JOSE never
registered (Streebog-256 and GOST R 34.10-2012 over the ASCII ``header.payload``, the
signature part being base64url of the 64-byte ``s || r``). No JOSE library verifies the latter,
so one small compact-JWS reader serves both, and the rules are explicit here:

* ``alg`` is exactly ``RS256`` or ``GOST3410_2012_256``; ``none``, ``HS*`` and the rest are
  refused before any key is touched, so an HMAC "keyed with the public key" can never verify;
* a header that offers its own key or key location (``jwk``, ``jku``, ``x5u``, ``x5c``) or a
  ``crit`` extension is refused: keys come from the configured ESIA certificates only;
* when no configured certificate verifies, the certificate files are re-read once (rotation);
* ``iss`` is compared exactly; the id_token's ``aud`` and the access token's ``client_id`` must
  be our client id; ``exp``, ``nbf`` and ``iat`` hold within the leeway;
* a ``nonce`` that comes back must be ours (its absence is fine: ESIA stopped sending it);
* the oid is the same in the access token's ``urn:esia:sbj_id`` and the id_token's ``sub`` and
  ``urn:esia:sbj`` → ``urn:esia:sbj:oid``;
* the id_token's ``auth_time`` (when ESIA last asked the person to authenticate: its single
  sign-on may answer a new login without asking, docs/adr/0014) is a positive time no later than
  now plus the leeway, and is read as no later than now. A time beyond the leeway is refused like
  an ``iat`` in the future: ESIA's clock or token is wrong, and a clamped value would make the
  login look fresher than anything ESIA said.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from providers.base import InvalidUpstreamResponseError, SignatureError, TokenClaimsError
from providers.certificates import GOST_JWS_ALG, RS256, EsiaCertificates

ALGORITHMS = frozenset({RS256, GOST_JWS_ALG})
#: Header parameters through which a token could name its own key; never honoured.
KEY_OFFERING_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c"})

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
#: A positive number of at most 19 digits: ESIA's oids are 64-bit integers.
_OID = re.compile(r"[1-9][0-9]{0,18}")
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Jwt:
    """A compact JWS split into its parts; nothing about it is trusted yet."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any] = field(repr=False)
    signing_input: bytes = field(repr=False)
    signature: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class VerifiedTokens:
    """The claims of a verified access token and id_token, and the oid they agree on."""

    access_claims: Mapping[str, Any] = field(repr=False)
    id_claims: Mapping[str, Any] = field(repr=False)
    oid: str
    #: When ESIA says the person authenticated (Unix time, never later than now); None if unsaid.
    auth_time: float | None = None


def parse_jwt(token: object, name: str) -> Jwt:
    """Split and decode a compact JWS; ``name`` says which token, for the error."""
    if not isinstance(token, str) or not token:
        raise InvalidUpstreamResponseError(name, "is missing or not a string")
    parts = token.split(".")
    if len(parts) != 3 or not all(_B64URL.fullmatch(part) for part in parts):
        raise InvalidUpstreamResponseError(name, "is not a compact JWT")
    try:
        header = _json_object(_b64url_decode(parts[0]))
        claims = _json_object(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, TypeError, RecursionError):
        raise InvalidUpstreamResponseError(name, "is not a compact JWT with JSON header and claims") from None
    return Jwt(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


class TokenVerifier:
    """Checks ESIA's tokens against the configured certificates, issuer, client id and clock."""

    def __init__(
        self,
        certificates: EsiaCertificates,
        *,
        issuer: str,
        client_id: str,
        leeway: float,
        clock: Callable[[], float],
    ) -> None:
        self._certificates = certificates
        self._issuer = issuer
        self._client_id = client_id
        self._leeway = leeway
        self._clock = clock

    def verify(self, access_token: object, id_token: object, *, nonce: str) -> VerifiedTokens:
        """Verify both tokens of one token response; the certificate files are re-read at most once."""
        access = parse_jwt(access_token, "access_token")
        reread = self._check_signature(access, "access_token", "access", may_reread=True)
        self._check_common_claims(access.claims, "access_token")
        if access.claims.get("client_id") != self._client_id:
            raise TokenClaimsError("client_id", "the access token was issued to another client system")
        access_oid = _oid(access.claims.get("urn:esia:sbj_id"), "urn:esia:sbj_id")

        identity = parse_jwt(id_token, "id_token")
        self._check_signature(identity, "id_token", "id", may_reread=not reread)
        self._check_common_claims(identity.claims, "id_token")
        audience = identity.claims.get("aud")
        if audience != self._client_id and audience != [self._client_id]:
            raise TokenClaimsError("aud", "the id_token was issued to another client system")
        returned_nonce = identity.claims.get("nonce")
        if returned_nonce is not None and not (
            isinstance(returned_nonce, str) and hmac.compare_digest(returned_nonce.encode(), nonce.encode())
        ):
            raise TokenClaimsError("nonce", "is not the nonce of this login")
        subject = identity.claims.get("urn:esia:sbj")
        if not isinstance(subject, Mapping):
            raise TokenClaimsError("urn:esia:sbj", "is missing from the id_token")
        oids = {
            access_oid,
            _oid(identity.claims.get("sub"), "sub"),
            _oid(subject.get("urn:esia:sbj:oid"), "urn:esia:sbj:oid"),
        }
        if len(oids) != 1:
            raise TokenClaimsError("sub", "the access token and the id_token name different persons")
        return VerifiedTokens(access.claims, identity.claims, access_oid, self._auth_time(identity.claims))

    def _auth_time(self, claims: Mapping[str, Any]) -> float | None:
        """The id_token's ``auth_time``, checked; within the leeway ahead of us it reads as now."""
        moment = _time(claims, "auth_time", "id_token", required=False)
        if moment is None:
            return None
        if moment <= 0:
            raise TokenClaimsError("auth_time", "is not a time in the id_token")
        now = self._clock()
        if moment > now + self._leeway:
            raise TokenClaimsError("auth_time", "the id_token says the person authenticated in the future")
        return min(moment, now)

    def _check_signature(self, jwt: Jwt, name: str, subtype: str, *, may_reread: bool) -> bool:
        """Refuse what ESIA would not send, then verify; return whether the files were re-read."""
        algorithm = jwt.header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
            raise SignatureError(f"{name}: the signature algorithm is not one ESIA uses (RS256, GOST3410_2012_256)")
        offered = KEY_OFFERING_HEADERS & set(jwt.header)
        if offered:
            raise SignatureError(f"{name}: the header offers a key ({', '.join(sorted(offered))}); refused")
        if "crit" in jwt.header:
            raise SignatureError(f"{name}: the header has critical extensions; refused")
        if "sbt" in jwt.header and jwt.header["sbt"] != subtype:
            raise TokenClaimsError("sbt", f"the {name} header says it is another kind of token")
        if not jwt.signature:
            raise SignatureError(f"{name}: the token is not signed")
        if self._verifies(jwt, algorithm):
            return False
        if may_reread:
            # ESIA may have rotated its key: read the certificate files again, once per response.
            _log.warning("No configured ESIA certificate verifies the %s (%s); re-reading the files", name, algorithm)
            self._certificates.reload()
            if self._verifies(jwt, algorithm):
                return True
        raise SignatureError(f"{name}: no configured ESIA certificate verifies the signature")

    def _verifies(self, jwt: Jwt, algorithm: str) -> bool:
        return any(certificate.verifies(jwt.signing_input, jwt.signature) for certificate in self._certificates.for_algorithm(algorithm))

    def _check_common_claims(self, claims: Mapping[str, Any], name: str) -> None:
        if claims.get("iss") != self._issuer:
            raise TokenClaimsError("iss", f"the {name} was not issued by the configured ESIA issuer")
        now = self._clock()
        expires = _time(claims, "exp", name, required=True)
        if expires is not None and now >= expires + self._leeway:
            raise TokenClaimsError("exp", f"the {name} has expired")
        not_before = _time(claims, "nbf", name, required=False)
        if not_before is not None and now + self._leeway < not_before:
            raise TokenClaimsError("nbf", f"the {name} is not valid yet")
        issued = _time(claims, "iat", name, required=True)
        if issued is not None and issued > now + self._leeway:
            raise TokenClaimsError("iat", f"the {name} is issued in the future")


def _time(claims: Mapping[str, Any], claim: str, name: str, *, required: bool) -> float | None:
    value = claims.get(claim)
    if value is None:
        if required:
            raise TokenClaimsError(claim, f"is missing from the {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TokenClaimsError(claim, f"is not a time in the {name}")
    try:
        moment = float(value)
    except OverflowError:
        moment = math.inf
    if not math.isfinite(moment):
        raise TokenClaimsError(claim, f"is not a time in the {name}")
    return moment


def _oid(value: object, claim: str) -> str:
    """An oid as ESIA writes it (a JSON number, sometimes a string of digits), as a string."""
    if value is None:
        raise TokenClaimsError(claim, "is missing: the tokens do not name the person")
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str) and _OID.fullmatch(text):
        return text
    raise TokenClaimsError(claim, "is not an oid")


def _b64url_decode(segment: str) -> bytes:
    if len(segment) % 4 == 1:
        raise ValueError("impossible base64url length")
    # The caller checked the alphabet, so decoding cannot skip characters silently.
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json_object(data: bytes) -> dict[str, Any]:
    value = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    if not isinstance(value, dict):
        raise TypeError("not a JSON object")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        # Which duplicate wins differs between parsers; refuse rather than guess (RFC 7519 §4).
        raise ValueError("duplicate member names")
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
