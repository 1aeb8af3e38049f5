"""The broker as the portals' OpenID Connect provider, on Authlib's server parts.

Authorization code with PKCE (S256 only, for every client), id_tokens signed RS256 with the
broker's keys (JWKS at ``/oidc/jwks``), userinfo, and discovery. The id_token's ``sub`` is the
diary account id; its claims carry role, region, school, the ESIA tier (``acr``) and ``amr``,
never names or contacts (those come from userinfo: portals put id_tokens into URLs).
Codes and access tokens are stored as digests. A redeemed code is marked spent and kept until
it expires: a second exchange of it by its client is a replay, which revokes the access tokens
and the refresh token family issued from it (RFC 6749 §4.1.2); another client presenting it is
only refused. Public clients (the mobile app) that ask for ``offline_access`` also get a refresh
token, rotated on every use (``broker.oidc.refresh``, ADR 0020); confidential portals get none.
A client revokes its own tokens at ``/oidc/revoke`` (RFC 7009, :class:`Revocation`).
Authorization responses, errors included, carry ``iss`` (RFC 9207).
Rows are written and read with Core statements (every login passes here); the callers commit
(the login flow, or the token endpoint through ``broker.oidc.authorization``).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError, OAuth2Request, TokenMixin, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload, OAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, Response, current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import bindparam, delete, insert, select, update

from broker import services
from broker.db.dml import execute_dml
from broker.db.models import AccessToken, Account, AuthorizationCode, DiarySession
from broker.digests import digest
from broker.extensions import db
from broker.oidc import refresh
from broker.oidc.clients import SCOPES, PortalClient
from broker.oidc.sessions import LiveSession

if TYPE_CHECKING:
    from collections.abc import Mapping

CODE_SECONDS = 60
_CODES = AuthorizationCode.__table__
_TOKENS = AccessToken.__table__
_SESSIONS = DiarySession.__table__
_ACCOUNTS = Account.__table__
#: The account's columns the claims are made of.
_CLAIM_COLUMNS = tuple(
    _ACCOUNTS.c[name].label(f"claim_{name}")
    for name in ("id", "role", "region", "school_id", "last_name", "first_name", "middle_name", "login")
)
# The statements every login runs, built once (see broker.login.pending).
_INSERT_CODE = insert(_CODES)
_REDEEM_CODE = (
    update(_CODES)
    .where(
        _CODES.c.code_digest == bindparam("digest"),
        _CODES.c.client_id == bindparam("client"),
        _CODES.c.redeemed_at.is_(None),
    )
    .values(redeemed_at=bindparam("now"))
    .returning(*_CODES.c)
)
_SPENT_CODE = select(_CODES.c.client_id).where(_CODES.c.code_digest == bindparam("digest"), _CODES.c.redeemed_at.is_not(None))
_REVOKE_CODE_TOKENS = delete(_TOKENS).where(_TOKENS.c.code_digest == bindparam("digest"))
_NONCE_USED = (
    select(_CODES.c.code_digest).where(_CODES.c.client_id == bindparam("client"), _CODES.c.nonce == bindparam("used_nonce")).limit(1)
)
_SIGNED_IN = (
    select(*_SESSIONS.c, *_CLAIM_COLUMNS)
    .join(_ACCOUNTS, _ACCOUNTS.c.id == _SESSIONS.c.account_id)
    .where(_SESSIONS.c.id == bindparam("key"))
)
_INSERT_TOKEN = insert(_TOKENS)
_SELECT_TOKEN = select(*_TOKENS.c).where(_TOKENS.c.token_digest == bindparam("digest"))
_DELETE_TOKEN = delete(_TOKENS).where(_TOKENS.c.token_digest == bindparam("digest"))
#: How a client may authenticate at the token and revocation endpoints (each client by the one
#: kind it is registered as: ``PortalClient.check_endpoint_auth_method``).
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccountClaims:
    """The diary account's fields the id_token and userinfo are made of."""

    id: str
    role: str
    region: str
    school_id: str | None
    last_name: str
    first_name: str
    middle_name: str
    login: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session and its account: who the portal's tokens speak for."""

    session: LiveSession
    account: AccountClaims

    @property
    def id(self) -> str:
        return self.session.id


def signed_in(session_id: str) -> SignedIn | None:
    """The session ``session_id`` with its account's claims, one query; None if gone."""
    row = db.session.execute(_SIGNED_IN, {"key": session_id}).first()
    if row is None:
        return None
    account = AccountClaims(**{name: getattr(row, f"claim_{name}") for name in AccountClaims.__slots__})
    return SignedIn(LiveSession.from_row(row), account)


@dataclass(frozen=True, slots=True)
class RedeemedCode:
    """An authorization code as Authlib's grant and OIDC extension read it."""

    code_digest: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    signed_in: SignedIn
    auth_time: int

    @property
    def acr(self) -> str:
        return self.signed_in.session.tier

    @property
    def amr(self) -> str:
        return self.signed_in.session.amr

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return [self.amr.lower()]


@dataclass(frozen=True, slots=True)
class Freshness:
    """How recent a login the portal asks for (OIDC Core §3.1.2.1: ``prompt`` and ``max_age``).

    ``silent`` (``prompt=none``): no page may be shown, so the answer is a code from the live
    session or an error. ``forced`` (``prompt=login``, or ``max_age=0``, which means the same):
    a new ESIA login whatever session there is. ``max_age``: the person's authentication (the
    session's ``auth_time``: when ESIA last asked them) must be no older than that many seconds.

    A new ESIA login is not always a new authentication: ESIA's single sign-on may answer
    without asking the person (and ESIA documents no ``prompt`` to forbid that, so none is
    sent). :meth:`met_by` checks what ESIA says against what the portal asked.
    """

    silent: bool = False
    forced: bool = False
    max_age: int | None = None

    @classmethod
    def of(cls, grant: Any) -> Freshness:
        """Read a validated authorization request; a malformed ``max_age`` is the portal's error."""
        try:
            return cls.asked(grant.request.payload.data)
        except ValueError:
            raise InvalidRequestError(
                "max_age must be a whole number of seconds.",
                redirect_uri=grant.redirect_uri,
                state=grant.request.payload.state,
            ) from None

    @classmethod
    def asked(cls, data: Mapping[str, Any]) -> Freshness:
        """What the request's ``prompt`` and ``max_age`` ask for; ValueError for a malformed ``max_age``.

        A request kept with a pending login was read by :meth:`of` when it arrived, so it reads again here.
        """
        prompts = (data.get("prompt") or "").split()
        raw = data.get("max_age")
        max_age = None
        if raw is not None:
            if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
                raise ValueError("max_age must be a whole number of seconds")
            max_age = int(raw)
        return cls(silent="none" in prompts, forced="login" in prompts or max_age == 0, max_age=max_age)

    def allows(self, session: LiveSession, now: datetime) -> bool:
        """Whether ``session``'s login may answer this request without a new one."""
        if self.forced:
            return False
        return self.max_age is None or int(now.timestamp()) - auth_time(session) <= self.max_age

    def met_by(self, authenticated: float, login_started: datetime, now: datetime) -> bool:
        """Whether an ESIA login begun at ``login_started`` for this very request, in which ESIA
        last asked the person at ``authenticated`` (Unix time), gives what was asked: for
        ``forced``, ESIA asked the person after the login began (give or take
        ``CLOCK_SKEW_SECONDS`` between ESIA's clock and ours); for ``max_age``, ESIA asked them
        no longer ago than that."""
        if self.forced and authenticated < login_started.timestamp() - CLOCK_SKEW_SECONDS:
            return False
        # max_age=0 is forced (above); any other max_age is measured as OIDC Core says.
        return not self.max_age or int(now.timestamp()) - authenticated <= self.max_age


#: How far ESIA's clock may be behind ours when a forced login's auth_time is compared with the
#: moment the broker sent the person to ESIA (the ESIA token checks' default leeway).
CLOCK_SKEW_SECONDS = 60


def auth_time(session: LiveSession) -> int:
    """When ESIA last asked the person to authenticate, for this session (the id_token's ``auth_time``).

    ESIA's ``auth_time`` from the login that made the session (its single sign-on may answer
    without asking), or the session's start where ESIA said nothing.
    """
    return int(session.auth_time.timestamp())


class S256Challenge(CodeChallenge):
    """PKCE with S256 for every client, confidential portals included (OAuth 2.1's advice).

    Authlib requires it of public clients only; a missing method would mean ``plain``.
    """

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


def random_token(*_: Any, **__: Any) -> str:
    """256 random bits, URL-safe (Authlib's default draws 42 characters one call at a time)."""
    return secrets.token_urlsafe(32)


def _client_id(request: OAuth2Request) -> str:
    """The id of the portal Authlib has found for ``request`` (it does so before any grant step)."""
    assert request.client is not None
    return request.client.get_client_id()


def _payload(request: OAuth2Request) -> OAuth2Payload:
    """``request``'s parameters, which Authlib sets on every request it builds."""
    assert request.payload is not None
    return request.payload


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def generate_authorization_code(self) -> str:
        return random_token()

    def generate_token(
        self,
        user: Any = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        """The token response; a refresh token only for a public client that asked for ``offline_access``.

        OIDC Core §11: ``offline_access`` asks for a refresh token. A confidential portal's
        ``offline_access`` never reaches here (``PortalClient.get_allowed_scope`` drops it).
        """
        client = self.request.client
        assert isinstance(client, PortalClient)  # Authlib found it before any grant step
        wanted = refresh.OFFLINE_ACCESS in (scope or "").split() and client.check_grant_type(refresh.GRANT_TYPE)
        return super().generate_token(user, scope, grant_type, expires_in, include_refresh_token and wanted)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        session = request.user
        assert isinstance(session, LiveSession)  # the login flow grants the code to the live session
        payload = _payload(request)
        save_code(code, _client_id(request), payload.data, request.scope or "", session)

    def query_authorization_code(self, code: str, client: ClientMixin) -> RedeemedCode | None:
        # Single use: the row is marked spent as it is read, and only an unspent row of this
        # client is read (another client's attempt neither spends nor replays it: RFC 6749
        # §4.1.3, the code was issued to one client). The token endpoint commits whatever the
        # answer, so a code is spent even by its client's failed exchange. Two exchanges at
        # once: the second waits on the first's row lock, then finds the code spent, and by
        # then the first's token is committed, so the replay revokes it.
        code_digest = digest(code)
        now = services.current().clock()
        row = db.session.execute(_REDEEM_CODE, {"digest": code_digest, "client": client.get_client_id(), "now": now}).first()
        if row is None:
            revoke_replayed(code_digest, client.get_client_id())
            return None
        if row.expires_at <= services.current().clock():
            return None
        found = signed_in(row.session_id)
        if found is None:
            return None
        return RedeemedCode(
            code_digest=code_digest,
            client_id=row.client_id,
            redirect_uri=row.redirect_uri,
            scope=row.scope,
            nonce=row.nonce,
            code_challenge=row.code_challenge,
            code_challenge_method=row.code_challenge_method,
            signed_in=found,
            auth_time=row.auth_time,
        )

    def delete_authorization_code(self, authorization_code: RedeemedCode) -> None:
        """Already marked spent when it was read; ``broker purge`` deletes it once expired."""

    def authenticate_user(self, authorization_code: RedeemedCode) -> SignedIn | None:
        found = authorization_code.signed_in
        return found if found.session.revoked_at is None else None


def save_code(code: str, client_id: str, portal_request: Mapping[str, Any], scope: str, session: LiveSession) -> None:
    """Keep authorization code ``code`` for the portal's request, granted to ``session`` (as a digest).

    ``scope``: what the client may have of the scope it asked (``PortalClient.get_allowed_scope``).
    The caller commits (the login flow).
    """
    db.session.execute(
        _INSERT_CODE,
        dict(
            code_digest=digest(code),
            client_id=client_id,
            redirect_uri=portal_request.get("redirect_uri") or "",
            scope=scope,
            nonce=portal_request.get("nonce"),
            code_challenge=portal_request.get("code_challenge"),
            code_challenge_method=portal_request.get("code_challenge_method"),
            session_id=session.id,
            auth_time=auth_time(session),
            expires_at=services.current().clock() + timedelta(seconds=CODE_SECONDS),
        ),
    )


def revoke_replayed(code_digest: str, client_id: str) -> None:
    """If ``client_id`` redeemed this code before, this is a replay: revoke what it bought.

    RFC 6749 §4.1.2: "If an authorization code is used more than once, the authorization
    server MUST deny the request and SHOULD revoke (when possible) all tokens previously issued
    based on that authorization code" — the client's code, exchanged by that client. Another
    client presenting it (a leaked code) is only refused: it must not be able to end the
    first client's tokens. What it bought: its access tokens and its refresh token family (with
    the family's later access tokens); the id_token is a signed statement and cannot be taken
    back. The token endpoint commits.
    """
    spent = db.session.execute(_SPENT_CODE, {"digest": code_digest}).first()
    if spent is None:
        return  # unknown, unspent, or expired and purged: nothing was issued that we can find
    if spent.client_id != client_id:
        log.warning("client %s presented a spent authorization code of client %s: refused, nothing revoked", client_id, spent.client_id)
        return
    revoked = execute_dml(db.session, _REVOKE_CODE_TOKENS, {"digest": code_digest}).rowcount
    families = refresh.end_for_code(db.session, code_digest, services.current().clock())
    log.warning(
        "an authorization code of client %s was replayed: %d access token(s), %d refresh token family revoked",
        spent.client_id, revoked, families,
    )  # fmt: skip


class RefreshGrant(grants.RefreshTokenGrant):
    """``grant_type=refresh_token`` for public clients: each refresh spends the token presented and
    issues the next one of its family (RFC 9700 §4.14.2); see :mod:`broker.oidc.refresh`.

    Whatever is refused answers ``invalid_grant``: an unknown, spent, expired or revoked token,
    another client's, or one whose account was blocked or unlinked or whose diary session ended.
    No id_token is issued on refresh (OIDC Core §12.2 makes it optional).
    """

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: a new refresh token with every access token

    def authenticate_refresh_token(self, refresh_token: str) -> refresh.Family | None:  # type: ignore[override]
        family = refresh.redeem(refresh_token, _client_id(self.request))
        if family is None:
            return None
        found = signed_in(family.session_id)
        if found is None or found.session.revoked_at is not None:  # logout ends it too; whatever ended the session
            refresh.end_families(db.session, refresh.family_is(family.id), services.current().clock())
            return None
        self._signed_in = found
        return family

    def authenticate_user(self, refresh_token: refresh.Family) -> SignedIn:
        return self._signed_in

    def revoke_old_credential(self, refresh_token: TokenMixin) -> None:
        """Spent already, as it was read (:func:`broker.oidc.refresh.redeem`)."""


class DiaryOpenIDCode(OpenIDCode):
    def resolve_client_private_key(self, client: PortalClient) -> Any:
        return services.current().signing_keys.active

    def get_client_algorithm(self, client: PortalClient) -> str:
        return "RS256"

    def get_encode_header(self, client: PortalClient) -> dict[str, str]:
        return {"alg": "RS256", "kid": services.current().signing_keys.active_kid, "typ": "JWT"}

    def get_client_claims(self, client: PortalClient) -> dict[str, Any]:
        now = int(services.current().clock().timestamp())
        return {
            "iss": current_app.config["OIDC_ISSUER"],
            "aud": client.client_id,
            "iat": now,
            "exp": now + current_app.config["ID_TOKEN_SECONDS"],
        }

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        used = db.session.execute(_NONCE_USED, {"client": _payload(request).client_id, "used_nonce": nonce})
        return used.first() is not None

    def generate_user_info(self, user: SignedIn, scope: str) -> UserInfo:
        # Authlib adds this to the id_token: only what signs the person in, whatever the scope.
        return id_token_claims(user)


def id_token_claims(user: SignedIn) -> UserInfo:
    """The account claims an id_token carries: the diary account id and what it may do.

    No names, login, e-mail or phone: portals send the id_token back in a URL (logout's
    ``id_token_hint``), where it lands in access logs and browser history. The scope's claims
    come from ``/oidc/userinfo`` (OIDC Core §5.4: with ``response_type=code`` they are returned
    from the UserInfo endpoint).
    """
    session, account = user.session, user.account
    return UserInfo(
        sub=account.id,
        role=account.role,
        region=account.region,
        school_id=account.school_id,
        acr=session.tier,
        amr=[session.amr.lower()],
    )


def user_info(user: SignedIn, scope: str) -> UserInfo:
    """The claims about a session's account that ``scope`` opens (the UserInfo endpoint's answer)."""
    session, account = user.session, user.account
    info = id_token_claims(user)
    scopes = set(scope.split())
    if "profile" in scopes:
        info.update(
            family_name=account.last_name,
            given_name=account.first_name,
            middle_name=account.middle_name or None,
            preferred_username=account.login,
        )
    if "email" in scopes and session.claims.get("email"):
        info.update(email=session.claims["email"], email_verified=bool(session.claims.get("email_verified")))
    if "phone" in scopes and session.claims.get("phone_number"):
        info.update(
            phone_number=session.claims["phone_number"],
            phone_number_verified=bool(session.claims.get("phone_number_verified")),
        )
    return info


class StoredToken:
    """An access token row and who it speaks for, as Authlib's resource protector reads it."""

    def __init__(self, row: Any, user: SignedIn | None) -> None:
        self.row = row
        self.user = user

    def is_expired(self) -> bool:
        return self.row.expires_at <= services.current().clock()

    def is_revoked(self) -> bool:
        return self.user is None or self.user.session.revoked_at is not None

    def get_scope(self) -> str:
        return self.row.scope


class TokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> StoredToken | None:
        row = db.session.execute(_SELECT_TOKEN, {"digest": digest(token_string)}).first()
        return StoredToken(row, signed_in(row.session_id)) if row else None


ACCESS_TOKEN, REFRESH_TOKEN = "access_token", "refresh_token"


@dataclass(frozen=True, slots=True)
class Revocable:
    """A token a client asked to revoke, as found: an access token (by its digest) and the refresh
    token family it was issued in, if any; or a refresh token's family."""

    kind: str  # ACCESS_TOKEN or REFRESH_TOKEN: what the token turned out to be, whatever the hint said
    client_id: str
    family_id: int | None
    access_digest: str | None = None

    def check_client(self, client: ClientMixin) -> bool:
        return bool(self.client_id == client.get_client_id())


class Revocation(RevocationEndpoint):
    """OAuth 2.0 Token Revocation (RFC 7009) at ``/oidc/revoke``: a client ends its own tokens.

    The client authenticates as at the token endpoint: a public client (the mobile app) by
    ``client_id`` alone, a confidential portal with its secret, never without (Authlib accepts
    ``none`` only from a client whose token endpoint method it is); a wrong secret is 401
    ``invalid_client``. A refresh token, spent or current, ends its whole family and the family's
    access tokens. An access token is deleted, and if it was issued in a refresh token family, the
    family ends too (RFC 7009 §2.1 allows it; ADR 0020: whichever token the app sends at logout
    ends its session). ``token_type_hint`` says where to look first, and the other kind is looked
    up too (§2.1); an unknown hint is ignored. An unknown, expired or already revoked token, and
    another client's token, answer 200 alike and nothing is revoked (§2.2): the answer tells a
    client nothing about tokens it does not hold, and no client can end another's session. The
    view commits.
    """

    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def check_params(self, request: OAuth2Request, client: ClientMixin) -> None:
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token'.")
        # RFC 7009 §2.1: "An invalid token type hint value is ignored" (Authlib refuses it).

    def authenticate_token(self, request: OAuth2Request, client: ClientMixin) -> Revocable | None:
        self.check_params(request, client)
        found = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if found is not None and not found.check_client(client):
            # Authlib answers invalid_grant; RFC 7009 §2.2 lets us answer as for an invalid token.
            asking = client.get_client_id()
            log.warning("client %s asked to revoke a token (%s) of client %s: nothing revoked", asking, found.kind, found.client_id)
            return None
        return found

    def query_token(self, token_string: str, token_type_hint: str | None) -> Revocable | None:
        lookups = [_revocable_refresh_token, _revocable_access_token]
        if token_type_hint != REFRESH_TOKEN:
            lookups.reverse()  # most revoked tokens are access tokens: those first, unless hinted
        for lookup in lookups:
            found = lookup(token_string)
            if found is not None:
                return found
        return None

    def revoke_token(self, token: Revocable, request: OAuth2Request) -> None:
        now = services.current().clock()
        deleted = execute_dml(db.session, _DELETE_TOKEN, {"digest": token.access_digest}).rowcount if token.access_digest else 0
        families = refresh.end_families(db.session, refresh.family_is(token.family_id), now) if token.family_id is not None else 0
        log.info(
            "client %s revoked a token (%s): %d access token(s) deleted, %d refresh token family ended",
            token.client_id, token.kind, deleted, families,
        )  # fmt: skip


def _revocable_access_token(token_string: str) -> Revocable | None:
    token_digest = digest(token_string)
    row = db.session.execute(_SELECT_TOKEN, {"digest": token_digest}).first()
    return Revocable(ACCESS_TOKEN, row.client_id, row.family_id, token_digest) if row is not None else None


def _revocable_refresh_token(token_string: str) -> Revocable | None:
    found = refresh.owner(token_string)
    return Revocable(REFRESH_TOKEN, found.client_id, found.family_id) if found is not None else None


class StoredAuthorizationRequest(OAuth2Request):
    """A portal's authorization request kept while the person was away at ESIA."""

    payload: BasicOAuth2Payload

    def __init__(self, uri: str, args: dict[str, str]) -> None:
        super().__init__("GET", uri, headers={})
        self._args: dict[str, str | None] = {**args}
        self.payload = BasicOAuth2Payload(args)

    @property
    def args(self) -> dict[str, str | None]:
        return self._args


def _save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    now = services.current().clock()
    code: RedeemedCode | None = getattr(request, "authorization_code", None)
    family: refresh.Family | None = getattr(request, "refresh_token", None)
    user = request.user
    assert isinstance(user, SignedIn)  # CodeGrant or RefreshGrant.authenticate_user found it
    family_id = family.id if family is not None else None
    if "refresh_token" in token:
        if family is not None:
            refresh.continue_family(family, token["refresh_token"])
        else:
            family_id = refresh.start_family(
                token["refresh_token"],
                client_id=_client_id(request),
                account_id=user.account.id,
                session_id=user.id,
                scope=token.get("scope", ""),
                code_digest=code.code_digest if code is not None else None,
            )
    db.session.execute(
        _INSERT_TOKEN,
        dict(
            token_digest=digest(token["access_token"]),
            client_id=_client_id(request),
            scope=token.get("scope", ""),
            session_id=user.id,
            code_digest=code.code_digest if code is not None else None,
            family_id=family_id,
            issued_at=now,
            expires_at=now + timedelta(seconds=int(token["expires_in"])),
        ),
    )  # the token endpoint commits (broker.oidc.authorization.token_response)


def create_server(app: Flask, clients: dict[str, PortalClient]) -> tuple[AuthorizationServer, ResourceProtector]:
    seconds = app.config["ACCESS_TOKEN_SECONDS"]
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"authorization_code": seconds, refresh.GRANT_TYPE: seconds})
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(SCOPES))
    app.config.setdefault("OAUTH2_ACCESS_TOKEN_GENERATOR", random_token)
    app.config.setdefault("OAUTH2_REFRESH_TOKEN_GENERATOR", random_token)  # CodeGrant.generate_token says when
    server = AuthorizationServer(app, query_client=clients.get, save_token=_save_token)
    server.register_grant(CodeGrant, [DiaryOpenIDCode(require_nonce=False), S256Challenge(required=True)])
    server.register_grant(RefreshGrant)
    server.register_endpoint(Revocation)
    server.register_extension(IssuerInResponse())
    protector = ResourceProtector()
    protector.register_token_validator(TokenValidator())
    return server, protector


class IssuerInResponse(IssuerParameter):
    """``iss`` in every authorization response, errors included (RFC 9207 §2): a portal that
    talks to more than one provider can tell which one answered (mix-up attacks)."""

    def get_issuer(self) -> str:
        return str(current_app.config["OIDC_ISSUER"])


def error_response(server: AuthorizationServer, error: OAuth2Error) -> Response:
    """Send an authorization error back to the portal, with ``iss`` as every answer has it.

    For errors raised before ``create_authorization_response`` (which adds ``iss`` itself).
    """
    # Authlib's stubs ask for a request; handle_error_response only passes it to get_error_uri, which ignores it.
    response = server.handle_error_response(None, error)  # type: ignore[arg-type]
    assert isinstance(response, Response)  # the Flask integration answers with a Flask Response
    IssuerInResponse().add_issuer_parameter(server, response)
    return response


def read_id_token_hint(hint: str) -> dict[str, Any] | None:
    """The claims of an id_token this broker signed, expired or not; None for any other.

    RP-Initiated Logout §2: the OP must check that it issued the hint; an expired one is
    accepted (the portal may have kept it past its expiry), a forged or foreign one is not.
    """
    keys = services.current().signing_keys
    if not keys or len(hint) > 8192:
        return None
    try:
        token = jwt.decode(hint, KeySet.import_key_set(keys.jwks()), algorithms=["RS256"])
    except (JoseError, ValueError):
        return None
    claims = dict(token.claims)
    if claims.get("iss") != current_app.config["OIDC_ISSUER"] or not isinstance(claims.get("sub"), str):
        return None
    return claims


def audience(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [a for a in aud or () if isinstance(a, str)]


def discovery(issuer: str, url_for: Any) -> dict[str, Any]:
    """The OpenID Provider metadata (``/.well-known/openid-configuration``)."""
    return {
        "issuer": issuer,
        "authorization_endpoint": url_for("oidc.authorize"),
        "token_endpoint": url_for("oidc.token"),
        "userinfo_endpoint": url_for("oidc.userinfo"),
        "jwks_uri": url_for("oidc.jwks"),
        "end_session_endpoint": url_for("oidc.logout"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", refresh.GRANT_TYPE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": list(SCOPES),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint": url_for("oidc.revoke"),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,  # RFC 9207 §3
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "role",
            "region",
            "school_id",
            "family_name",
            "given_name",
            "middle_name",
            "preferred_username",
            "email",
            "email_verified",
            "phone_number",
            "phone_number_verified",
        ],  # fmt: skip
        "acr_values_supported": ["simplified", "standard", "verified"],
    }
