"""Checks ESIA applies to the parameters of its authorization and token requests.

The functions here raise :class:`~mock_esia.errors.EsiaError` with the code ESIA answers
with; the endpoints decide whether that becomes a redirect or a JSON 400.

Signed strings (docs/esia.md): the legacy flow signs ``scope + timestamp + client_id + state``
as detached CMS; the current flow signs ``client_id + scope [+ scope_org] + timestamp + state +
redirect_uri [+ code]`` as a raw GOST signature. Where client libraries disagree (docs/esia.md)
every variant seen in the wild is accepted: fr05t1k/esia 3.x signs the legacy string at the
v2/v3 endpoints; refresh requests sign with either ``redirect_uri`` (ilimurzin/esia) or the
``refresh_token`` (AISGorod) at the end; ``client_secret`` may be unpadded base64url, padded
base64url or plain base64.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from mock_esia.certificates import Certificate
from mock_esia.clients import ClientSystem
from mock_esia.cms import CmsError, verify_detached
from mock_esia.errors import EsiaError
from mock_esia.gost import GostPublicKey
from mock_esia.scopes import KNOWN_SCOPES, parse_scope

#: ESIA's timestamp format, e.g. ``2025.09.02 13:00:29 +0300`` (docs/esia.md, 'Authorization request').
TIMESTAMP_FORMAT = "%Y.%m.%d %H:%M:%S %z"
#: ``person_filter`` values (base64 in the request).
PERSON_FILTERS = ("conf_acc", "acc_kid", "acc_not_kid")

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TIMESTAMP = re.compile(r"^\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}$")
_PKCE_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


class Parameters(Protocol):
    """Request parameters as Flask gives them (``request.args``, ``request.form``)."""

    def get(self, key: str, default: str, /) -> str: ...

    def getlist(self, key: str, /) -> list[str]: ...


def single_values(params: Parameters, names: Sequence[str]) -> dict[str, str]:
    """Return one value per known parameter; a repeated one is ESIA-007003."""
    values = {}
    for name in names:
        found = params.getlist(name)
        if len(found) > 1:
            raise EsiaError("ESIA-007003", detail=f"The parameter {name} is given more than once.")
        if found:
            values[name] = found[0]
    return values


def require(values: Mapping[str, str], names: Sequence[str]) -> None:
    """Raise ESIA-007014 listing every mandatory parameter that is absent or empty."""
    missing = [name for name in names if not values.get(name)]
    if missing:
        raise EsiaError("ESIA-007014", missing=missing)


def check_timestamp(value: str, now: float, window: float) -> None:
    """A malformed timestamp is reported as missing (ESIA-007014), a skewed one as ESIA-007015."""
    if not _TIMESTAMP.match(value):
        raise EsiaError("ESIA-007014", missing=["timestamp"])
    try:
        moment = dt.datetime.strptime(value, TIMESTAMP_FORMAT).timestamp()
    except ValueError:
        raise EsiaError("ESIA-007014", missing=["timestamp"]) from None
    if abs(moment - now) > window:
        raise EsiaError("ESIA-007015")


def check_state(value: str) -> None:
    if not _UUID.match(value):
        raise EsiaError("ESIA-007003", detail="The state must be a UUID.")


def decode_secret(value: str) -> bytes:
    """Decode ``client_secret`` written as base64url (with or without padding) or base64."""
    text = value.strip().replace(" ", "+")
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise EsiaError("ESIA-007053") from None


def parse_scopes(value: str, client: ClientSystem) -> tuple[str, ...]:
    """Unknown scopes are ESIA-007006; known ones the system was not granted are ESIA-007019."""
    names = parse_scope(value)
    if not names:
        raise EsiaError("ESIA-007014", missing=["scope"])
    unknown = [name for name in names if name not in KNOWN_SCOPES]
    if unknown:
        raise EsiaError("ESIA-007006", detail=f"Unknown scope {', '.join(unknown)}.")
    if any(name not in client.scopes for name in names):
        raise EsiaError("ESIA-007019")
    return names


def parse_person_filter(value: str | None) -> str | None:
    if not value:
        return None
    if value in PERSON_FILTERS:
        return value
    try:
        decoded = base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        decoded = ""
    if decoded not in PERSON_FILTERS:
        raise EsiaError("ESIA-007003", detail="person_filter must be base64 of conf_acc, acc_kid or acc_not_kid.")
    return decoded


def check_code_challenge(challenge: str | None, method: str | None) -> str | None:
    """PKCE at ``/v2/ac``: only S256 (RFC 7636), 43 base64url characters."""
    if not challenge:
        if method:
            raise EsiaError("ESIA-007003", detail="code_challenge_method without code_challenge.")
        return None
    if (method or "S256") != "S256" or not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge):
        raise EsiaError("ESIA-007003", detail="code_challenge must be an S256 challenge.")
    return challenge


def check_code_verifier(challenge: str | None, verifier: str | None) -> None:
    """PKCE at ``/v3/te``: ESIA-007039 for a verifier without a challenge, 007040 on mismatch."""
    if challenge is None:
        if verifier:
            raise EsiaError("ESIA-007039")
        return
    if not verifier or not _PKCE_VERIFIER.match(verifier):
        raise EsiaError("ESIA-007040")
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    if not hmac.compare_digest(computed, challenge):
        raise EsiaError("ESIA-007040")


def verify_cms_secret(client: ClientSystem, secret: str, messages: Sequence[str], now: float) -> Certificate:
    """Verify the legacy flow's detached CMS over any of ``messages``; else ESIA-007053."""
    signature = decode_secret(secret)
    certificates = client.valid_certificates(now)
    for message in messages:
        try:
            return verify_detached(signature, message.encode("utf-8"), certificates)
        except CmsError:
            continue
    raise EsiaError("ESIA-007053")


def verify_raw_secret(client: ClientSystem, certificate_hash: str | None, secret: str, messages: Sequence[str], now: float) -> Certificate:
    """Verify the current flow's raw GOST signature; the hash picks the certificate.

    Without a hash (refresh requests by some clients) every GOST certificate of the system
    is tried. Anything that does not verify is ESIA-007053.
    """
    signature = decode_secret(secret)
    if certificate_hash is not None:
        chosen = client.certificate_by_hash(certificate_hash)
        candidates: tuple[Certificate, ...] = (chosen,) if chosen is not None else ()
    else:
        candidates = client.certificates
    for certificate in candidates:
        if not certificate.is_valid_at(now) or not isinstance(certificate.public_key, GostPublicKey):
            continue
        for message in messages:
            if certificate.public_key.verify(message.encode("utf-8"), signature):
                return certificate
    raise EsiaError("ESIA-007053")


def legacy_message(values: Mapping[str, str]) -> str:
    return values["scope"] + values["timestamp"] + values["client_id"] + values["state"]


def authorization_messages(flow: str, values: Mapping[str, str]) -> list[str]:
    """Strings a client may have signed for ``/ac`` (v1) or ``/v2/ac`` (v2)."""
    if flow == "v1":
        return [legacy_message(values)]
    current = (
        values["client_id"] + values["scope"] + values.get("scope_org", "") + values["timestamp"] + values["state"] + values["redirect_uri"]
    )
    return [current, legacy_message(values)]


def token_messages(flow: str, values: Mapping[str, str]) -> list[str]:
    """Strings a client may have signed for ``/te`` (v1) or ``/v3/te`` (v3)."""
    if flow == "v1":
        return [legacy_message(values)]
    head = values["client_id"] + values["scope"] + values.get("scope_org", "") + values["timestamp"] + values["state"]
    if values.get("grant_type") == "refresh_token":
        messages = [head + values.get("redirect_uri", ""), head + values["refresh_token"]]
    else:
        messages = [head + values["redirect_uri"] + values["code"]]
    return [*dict.fromkeys(messages), legacy_message(values)]
