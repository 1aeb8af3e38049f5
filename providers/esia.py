"""The ESIA client: authorization URL, callback, code exchange, token checks and person data.

Two flows, chosen per deployment (docs/esia.md, 'The two flows'; docs/adr/0010):

* ``"current"``: ``GET /aas/oauth2/v2/ac`` + ``POST /aas/oauth2/v3/te``; ``client_secret`` is
  a raw GOST signature over ``client_id + scope + timestamp + state + redirect_uri`` (``+ code``
  at the token endpoint), sent with ``client_certificate_hash`` and PKCE (S256);
* ``"legacy"``: ``GET /aas/oauth2/ac`` + ``POST /aas/oauth2/te``; ``client_secret`` is a
  detached CMS over ``scope + timestamp + client_id + state``.

Every request carries a fresh UUID ``state`` (the token request a new one, docs/esia.md), a
timestamp in ESIA's ``yyyy.MM.dd HH:mm:ss Z`` and unpadded base64url signatures. Tokens are
verified by :mod:`providers.tokens`; HTTP goes through :mod:`providers.transport`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

import matching
from providers.base import (
    ConsentDeclinedError,
    InvalidUpstreamResponseError,
    ProviderConfigError,
    StateMismatchError,
)
from providers.certificates import EsiaCertificates
from providers.person import embedded_of, is_embedded, person_from_esia
from providers.signing import Signer, client_certificate_hash
from providers.tokens import TokenVerifier
from providers.transport import (
    JsonAnswer,
    RequestsSender,
    Sender,
    Transport,
    esia_code_of,
    form_of,
    make_sender,
    oauth_error_of,
    refusal,
)

Flow = Literal["current", "legacy"]
AccessType = Literal["online", "offline"]

#: ESIA's timestamp format, e.g. ``2025.09.02 13:00:29 +0000`` (docs/esia.md, 'Authorization request').
TIMESTAMP_FORMAT = "%Y.%m.%d %H:%M:%S %z"
#: ``person_filter`` values ESIA knows (docs/esia.md, 'Authorization request').
PERSON_FILTERS = ("conf_acc", "acc_kid", "acc_not_kid")
#: The person declined to share their data (docs/esia.md, 'Errors and reason codes').
CONSENT_DECLINED = "ESIA-007004"

_PATHS = {
    "current": ("/aas/oauth2/v2/ac", "/aas/oauth2/v3/te"),
    "legacy": ("/aas/oauth2/ac", "/aas/oauth2/te"),
}
_FORMATS = {"current": "raw", "legacy": "cms"}
_PERSON_URL = re.compile(r"/rs/prns/([0-9]+)(?=/|\?|$)")


@dataclass(frozen=True, slots=True)
class EsiaConfig:
    """Everything the ESIA client needs; the broker builds it from its config.

    ``issuer`` is compared exactly with the tokens' ``iss`` (``http://``, trailing slash:
    ``http://esia-portal1.test.gosuslugi.ru/`` on the test stand, ``http://esia.gosuslugi.ru/``
    in production). ``certificate_files`` are ESIA's token-signing certificates, RSA and/or GOST,
    PEM or DER, several for rotation.
    """

    base_url: str
    client_id: str
    signer: Signer
    redirect_uri: str
    issuer: str
    certificate_files: tuple[str | Path, ...]
    flow: Flow = "current"
    scopes: tuple[str, ...] = ("openid", "fullname", "birthdate", "gender", "snils", "id_doc")
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    #: The longest answer read from ESIA (bytes); a longer one is refused (esia_error) unread.
    max_response_bytes: int = 256 * 1024
    leeway: float = 60.0
    access_type: AccessType = "online"
    person_filter: str | None = None
    #: The outbound proxy to ESIA; environment proxy variables are not read.
    proxy: str | None = None
    #: A PEM bundle to check ESIA's TLS certificate against (default: certifi's).
    ca_bundle: str | None = None
    #: One of ESIA's certificates expiring within this many days is warned about (log, /readyz).
    certificate_warn_days: int = 30

    def __post_init__(self) -> None:
        problems = []
        if urlsplit(self.base_url).scheme not in ("http", "https") or not urlsplit(self.base_url).netloc:
            problems.append("base_url must be an http(s) URL such as https://esia-portal1.test.gosuslugi.ru.")
        if not self.client_id:
            problems.append("client_id (the system's mnemonic) is empty.")
        if urlsplit(self.redirect_uri).scheme not in ("http", "https"):
            problems.append("redirect_uri must be an absolute http(s) URL registered for the system.")
        if not self.issuer:
            problems.append("issuer is empty; ESIA's is e.g. http://esia.gosuslugi.ru/.")
        if not self.certificate_files:
            problems.append("certificate_files is empty; name ESIA's token-signing certificates.")
        if self.flow not in _PATHS:
            problems.append("flow must be 'current' (v2/ac + v3/te) or 'legacy' (ac + te).")
        elif getattr(self.signer, "signature_format", None) != _FORMATS[self.flow]:
            wanted = (
                "a raw GOST signer (gost-raw, openssl-raw, csptest-raw, command-raw)"
                if self.flow == "current"
                else "a CMS signer (rsa-cms, openssl-cms, csptest-cms, cryptcp-cms, command-cms)"
            )
            problems.append(f"the {self.flow} flow needs {wanted}.")
        if "openid" not in self.scopes:
            problems.append("scopes must include openid: the id_token is verified on every login.")
        if not all(scope and " " not in scope for scope in self.scopes):
            problems.append("scopes must be single words such as fullname.")
        if not (self.connect_timeout > 0 and self.read_timeout > 0):
            problems.append("connect_timeout and read_timeout must be positive seconds.")
        if not (isinstance(self.max_response_bytes, int) and self.max_response_bytes > 0):
            problems.append("max_response_bytes must be a positive number of bytes.")
        if not 0 <= self.leeway <= 300:
            problems.append("leeway must be between 0 and 300 seconds.")
        if self.access_type not in ("online", "offline"):
            problems.append("access_type must be online or offline.")
        if self.proxy is not None and (urlsplit(self.proxy).scheme not in ("http", "https") or not urlsplit(self.proxy).netloc):
            problems.append("proxy must be an http(s) URL such as http://proxy.internal:3128.")
        if self.ca_bundle is not None and not Path(self.ca_bundle).is_file():
            problems.append(f"ca_bundle {self.ca_bundle} is not a readable file.")
        if self.person_filter is not None and self.person_filter not in PERSON_FILTERS:
            problems.append(f"person_filter must be one of {', '.join(PERSON_FILTERS)} or None.")
        if problems:
            raise ProviderConfigError("ESIA client config: " + " ".join(problems))

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """One login's authorization request: where to send the browser and what to remember.

    The broker keeps ``state``, ``nonce`` and ``code_verifier`` server-side (single use, tied to
    the browser) until the callback.
    """

    url: str
    state: str
    nonce: str = field(repr=False)
    code_verifier: str | None = field(repr=False)
    timestamp: str


@dataclass(frozen=True, slots=True)
class EsiaTokens:
    """Verified tokens of one login, the oid they name and their checked claims."""

    access_token: str = field(repr=False)
    id_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    oid: matching.EsiaOid
    amr: tuple[str, ...]
    expires_at: float
    id_claims: Mapping[str, Any] = field(repr=False)
    access_claims: Mapping[str, Any] = field(repr=False)
    #: When ESIA last asked the person to authenticate (the id_token's ``auth_time``, Unix time,
    #: never later than now): ESIA's single sign-on may answer a login without asking again.
    #: None when ESIA did not say.
    auth_time: float | None = None


@dataclass(frozen=True, slots=True)
class EsiaContacts:
    """The person's verified contacts (ESIA marks only e-mail and mobile as verified)."""

    email: str | None = field(default=None, repr=False)
    mobile: str | None = field(default=None, repr=False)


def esia_timestamp(moment: float) -> str:
    """``yyyy.MM.dd HH:mm:ss Z`` in UTC, as Python and Go clients send it."""
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime(TIMESTAMP_FORMAT)


def b64url(data: bytes) -> str:
    """Unpadded base64url, as the client sends signatures (docs/esia.md, 'Authorization request')."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class EsiaProvider:
    """Talks to ESIA for one client system."""

    name = "esia"

    def __init__(self, config: EsiaConfig, sender: Sender | requests.Session | None = None, clock: Callable[[], float] = time.time) -> None:
        """``sender``: how requests reach ESIA; by default :func:`providers.transport.make_sender`'s for
        the config's proxy and CA bundle. A ``requests.Session`` is sent through as it is configured."""
        self.config = config
        self._clock = clock
        self._base_url = config.base_url.rstrip("/")
        #: ESIA's token-signing certificates (read now; re-read when none verifies a token).
        self.certificates = EsiaCertificates(config.certificate_files, clock=clock, warn_days=config.certificate_warn_days)
        self._verifier = TokenVerifier(
            self.certificates, issuer=config.issuer, client_id=config.client_id, leeway=config.leeway, clock=clock
        )
        if sender is None:
            sender = make_sender(config.proxy, config.ca_bundle)
        elif isinstance(sender, requests.Session):
            sender = RequestsSender(sender)
        self._transport = Transport(
            sender,
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            max_response_bytes=config.max_response_bytes,
        )
        self._certificate_hash = client_certificate_hash(config.signer.certificate_der)

    # -- authorization -----------------------------------------------------------------------

    def authorize(self) -> AuthorizationRequest:
        """Build the URL that sends the browser to ESIA's login."""
        config = self.config
        state = str(uuid.uuid4())
        nonce = secrets.token_urlsafe(32)
        timestamp = esia_timestamp(self._clock())
        params = {
            "client_id": config.client_id,
            "client_secret": self._secret(state=state, timestamp=timestamp),
            "redirect_uri": config.redirect_uri,
            "scope": config.scope,
            "response_type": "code",
            "state": state,
            "timestamp": timestamp,
            "access_type": config.access_type,
            "nonce": nonce,
        }
        verifier = None
        if config.flow == "current":
            # PKCE (RFC 7636): ESIA returns no nonce, so this is what binds the code to us (docs/esia.md).
            verifier = secrets.token_urlsafe(48)
            params["client_certificate_hash"] = self._certificate_hash
            params["code_challenge"] = b64url(hashlib.sha256(verifier.encode("ascii")).digest())
            params["code_challenge_method"] = "S256"
        if config.person_filter:
            params["person_filter"] = base64.b64encode(config.person_filter.encode("ascii")).decode("ascii")
        url = f"{self._base_url}{_PATHS[config.flow][0]}?{form_of(params)}"
        return AuthorizationRequest(url=url, state=state, nonce=nonce, code_verifier=verifier, timestamp=timestamp)

    def parse_callback(self, args: Mapping[str, str], request: AuthorizationRequest) -> str:
        """Check ESIA's redirect back to ``redirect_uri``; return the authorization code."""
        if not _same(args.get("state"), request.state):
            raise StateMismatchError("The callback's state is missing or belongs to another login.")
        error = args.get("error")
        if error is not None:
            esia_code = esia_code_of(args.get("error_description"))
            if esia_code == CONSENT_DECLINED:
                raise ConsentDeclinedError(
                    "The person declined to share their data at ESIA.", esia_code=esia_code, error=oauth_error_of(error)
                )
            raise refusal(esia_code, oauth_error_of(error), "the authorization request")
        code = args.get("code")
        if not code:
            raise InvalidUpstreamResponseError("code", "is missing from the callback")
        return code

    # -- token -------------------------------------------------------------------------------

    def exchange_code(self, code: str, request: AuthorizationRequest) -> EsiaTokens:
        """Exchange the code for tokens (never retried) and verify them."""
        config = self.config
        state = str(uuid.uuid4())  # a new state for the token request (docs/esia.md, 'Token request')
        timestamp = esia_timestamp(self._clock())
        form = {
            "client_id": config.client_id,
            "code": code,
            "grant_type": "authorization_code",
            "client_secret": self._secret(state=state, timestamp=timestamp, code=code),
            "state": state,
            "redirect_uri": config.redirect_uri,
            "scope": config.scope,
            "timestamp": timestamp,
            "token_type": "Bearer",
        }
        if config.flow == "current":
            form["client_certificate_hash"] = self._certificate_hash
            if request.code_verifier:
                form["code_verifier"] = request.code_verifier
        answer = self._transport.post_form(self._base_url + _PATHS[config.flow][1], form, "the token request")
        body = answer.body
        if not _same(body.get("state"), state):
            raise StateMismatchError("The token response does not echo the token request's state.")
        token_type = body.get("token_type")
        if token_type is not None and (not isinstance(token_type, str) or token_type.lower() != "bearer"):
            raise InvalidUpstreamResponseError("token_type", "is not Bearer")
        verified = self._verifier.verify(body.get("access_token"), body.get("id_token"), nonce=request.nonce)
        refresh_token = body.get("refresh_token")
        return EsiaTokens(
            access_token=str(body["access_token"]),
            id_token=str(body["id_token"]),
            refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
            oid=matching.EsiaOid(verified.oid),
            amr=_amr(verified.id_claims.get("amr")),
            expires_at=float(verified.access_claims["exp"]),
            id_claims=MappingProxyType(dict(verified.id_claims)),
            access_claims=MappingProxyType(dict(verified.access_claims)),
            auth_time=verified.auth_time,
        )

    # -- person API --------------------------------------------------------------------------

    def fetch_person(self, tokens: EsiaTokens) -> matching.Person:
        """Read ``/rs/prns/{oid}`` (documents embedded) and map it to the engine's person."""
        path = f"/rs/prns/{tokens.oid}"
        answer = self._read(tokens, path, "(documents.elements)", "the person data")
        return self._person(tokens, path, answer.body)

    def fetch_contacts(self, tokens: EsiaTokens) -> EsiaContacts:
        """Read ``/rs/prns/{oid}/ctts``; keep the verified e-mail and mobile only."""
        answer = self._read(tokens, f"/rs/prns/{tokens.oid}/ctts", "(elements)", "the person's contacts")
        return _verified_contacts(answer.body)

    def fetch_profile(self, tokens: EsiaTokens) -> tuple[matching.Person, EsiaContacts]:
        """The person and their verified contacts in one call (docs/esia.md, 'Person data').

        ``/rs/prns/{oid}?embed=(documents.elements,contacts.elements)``. Only where ESIA lists
        the contacts as URLs, or leaves them out although ``email``/``mobile`` were asked for,
        does a second call read ``/ctts``; documents given as URLs are read as in
        :meth:`fetch_person`.
        """
        path = f"/rs/prns/{tokens.oid}"
        answer = self._read(tokens, path, "(documents.elements,contacts.elements)", "the person data")
        person = self._person(tokens, path, answer.body)
        collection = answer.body.get("contacts")
        if isinstance(collection, Mapping) and is_embedded(collection):
            return person, _verified_contacts(collection)
        if {"email", "mobile"} & set(self.config.scopes):
            return person, self.fetch_contacts(tokens)
        return person, EsiaContacts()

    def logout_url(self, redirect_url: str) -> str:
        """Where to send the browser to end the ESIA session (note ``redirect_url``, docs/esia.md)."""
        return f"{self._base_url}/idp/ext/Logout?{form_of({'client_id': self.config.client_id, 'redirect_url': redirect_url})}"

    # -- helpers -----------------------------------------------------------------------------

    def _secret(self, *, state: str, timestamp: str, code: str | None = None) -> str:
        """``client_secret``: the signature of the flow's string (docs/esia.md, 'The two flows')."""
        config = self.config
        if config.flow == "legacy":
            message = config.scope + timestamp + config.client_id + state
        else:
            message = config.client_id + config.scope + timestamp + state + config.redirect_uri + (code or "")
        return b64url(config.signer.sign(message.encode("utf-8")))

    def _person(self, tokens: EsiaTokens, path: str, data: Mapping[str, Any]) -> matching.Person:
        documents: Sequence[Mapping[str, Any]] = ()
        if _needs_documents(data):
            # ESIA listed the documents as URLs; the tier rule needs them (docs/esia.md, 'Person data').
            docs = self._read(tokens, f"{path}/docs", "(elements)", "the person's documents")
            documents = embedded_of(docs.body)
        return person_from_esia(data, oid=tokens.oid, documents=documents)

    def _read(self, tokens: EsiaTokens, path: str, embed: str, what: str) -> JsonAnswer:
        answer = self._transport.get_json(
            self._base_url + path,
            what,
            headers={"Authorization": f"Bearer {tokens.access_token}", "Accept": "application/json"},
            params={"embed": embed},
        )
        _check_oid(answer, tokens.oid)
        return answer


def _amr(value: object) -> tuple[str, ...]:
    """How the person authenticated: ESIA sends a string (``PWD``, ``DS``), OIDC a list."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()


def _same(value: object, expected: str) -> bool:
    return isinstance(value, str) and hmac.compare_digest(value.encode("utf-8"), expected.encode("utf-8"))


def _check_oid(answer: JsonAnswer, oid: str) -> None:
    """Every oid a person API answer names (``Location``, element URLs) must be ours (docs/esia.md)."""
    location = answer.headers.get("Location")
    if location is not None:
        named = _PERSON_URL.findall(urlsplit(location).path)
        if not named or any(found != oid for found in named):
            raise InvalidUpstreamResponseError("Location", "names another person than the tokens")
    for text in _strings(answer.body):
        if text.startswith(("http://", "https://")) and any(found != oid for found in _PERSON_URL.findall(text)):
            raise InvalidUpstreamResponseError("elements", "name another person than the tokens")


def _strings(value: object) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _verified_contacts(collection: Mapping[str, Any]) -> EsiaContacts:
    """The first verified e-mail (``EML``) and mobile (``MBT``) of a contacts collection."""
    verified: dict[str, str | None] = {"EML": None, "MBT": None}
    for element in embedded_of(collection):
        kind, value = element.get("type"), element.get("value")
        if isinstance(kind, str) and kind in verified and verified[kind] is None and element.get("vrfStu") == "VERIFIED":
            if not isinstance(value, str) or not value:
                raise InvalidUpstreamResponseError("ctts.value", "must be a non-empty string")
            verified[kind] = value
    return EsiaContacts(email=verified["EML"], mobile=verified["MBT"])


def _needs_documents(data: Mapping[str, Any]) -> bool:
    """Do the documents matter for the tier, yet came as URLs only?"""
    collection = data.get("documents")
    if not isinstance(collection, Mapping) or data.get("trusted") is True:
        return False
    if not data.get("snils") or data.get("rIdDoc") is None:
        return False
    elements = collection.get("elements", [])
    return isinstance(elements, list) and any(isinstance(element, str) for element in elements)
