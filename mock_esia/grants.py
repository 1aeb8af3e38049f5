"""What the mock remembers between requests: pending logins, codes and refresh tokens.

Everything lives in memory, in one process, behind one lock. Codes are single use: a second
use fails and revokes what the first use issued (RFC 6749 §4.1.2). Access tokens are not
stored; the person API verifies them as JWTs and consults only the revoked sessions here.
Expired entries are swept as new ones arrive, so a long benchmark does not grow memory.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

_SWEEP_EVERY = 512


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated ``/aas/oauth2/(v2/)ac`` request waiting for the person to log in."""

    id: str
    flow: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    access_type: str
    person_filter: str | None
    code_challenge: str | None
    expires_at: float


@dataclass(frozen=True, slots=True)
class Login:
    """A person's completed login for one authorization request: what a code stands for."""

    request: AuthorizationRequest
    oid: int
    sid: str
    auth_time: int
    #: Faults chosen on the login page, by endpoint group (see :mod:`mock_esia.scenarios`).
    faults: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    login: Login
    scopes: tuple[str, ...]
    expires_at: float


class GrantError(LookupError):
    """A code or refresh token is unknown, used, expired or revoked."""


class GrantStore:
    """In-memory, thread-safe store of pending requests, codes and refresh tokens."""

    def __init__(self, clock: Callable[[], float], *, code_ttl: float, refresh_ttl: float, session_ttl: float):
        self._clock = clock
        self._code_ttl = code_ttl
        self._refresh_ttl = refresh_ttl
        self._session_ttl = session_ttl
        self._lock = threading.Lock()
        self._requests: dict[str, AuthorizationRequest] = {}
        self._authenticated: dict[str, tuple[tuple[int, Mapping[str, str]], float]] = {}
        self._codes: dict[str, tuple[Login, float]] = {}
        self._used_codes: dict[str, tuple[str, float]] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._revoked: dict[str, float] = {}
        self._session_faults: dict[str, tuple[Mapping[str, str], float]] = {}
        self._writes = 0

    # -- pending authorization requests ----------------------------------------------------

    def add_request(self, request: AuthorizationRequest) -> None:
        with self._lock:
            self._requests[request.id] = request
            self._wrote()

    def get_request(self, request_id: str) -> AuthorizationRequest | None:
        with self._lock:
            request = self._requests.get(request_id)
            if request is None or request.expires_at < self._clock():
                return None
            return request

    def finish_request(self, request_id: str) -> None:
        with self._lock:
            self._requests.pop(request_id, None)
            self._authenticated.pop(request_id, None)

    def mark_authenticated(self, request_id: str, oid: int, faults: Mapping[str, str]) -> None:
        """Remember who logged in (and the faults they chose) while the consent page is shown."""
        with self._lock:
            request = self._requests.get(request_id)
            if request is not None:
                self._authenticated[request_id] = ((oid, faults), request.expires_at)
                self._wrote()

    def authenticated(self, request_id: str) -> tuple[int, Mapping[str, str]] | None:
        with self._lock:
            entry = self._authenticated.get(request_id)
            return entry[0] if entry and entry[1] >= self._clock() else None

    # -- codes -----------------------------------------------------------------------------

    def issue_code(self, login: Login) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = (login, self._clock() + self._code_ttl)
            if login.faults:
                self._session_faults[login.sid] = (login.faults, self._clock() + self._session_ttl)
            self._wrote()
        return code

    def peek_code(self, code: str) -> Login:
        """Return what a code stands for without using it up; a reused code revokes its session."""
        with self._lock:
            entry = self._codes.get(code)
            now = self._clock()
            if entry is None:
                used = self._used_codes.get(code)
                if used is not None:
                    self._revoked[used[0]] = now + self._session_ttl
                raise GrantError("unknown or already used code")
            login, expires_at = entry
            if expires_at < now:
                del self._codes[code]
                raise GrantError("expired code")
            return login

    def redeem_code(self, code: str) -> Login:
        """Use a code up; only one caller of many racing ones gets it."""
        with self._lock:
            entry = self._codes.pop(code, None)
            now = self._clock()
            if entry is None or entry[1] < now:
                raise GrantError("unknown, used or expired code")
            self._used_codes[code] = (entry[0].sid, now + self._code_ttl)
            return entry[0]

    # -- refresh tokens --------------------------------------------------------------------

    def issue_refresh_token(self, login: Login, scopes: tuple[str, ...]) -> str:
        token = str(uuid.uuid4())
        with self._lock:
            self._refresh[token] = RefreshGrant(login, scopes, self._clock() + self._refresh_ttl)
            self._wrote()
        return token

    def peek_refresh_token(self, token: str) -> RefreshGrant:
        with self._lock:
            grant = self._refresh.get(token)
            if grant is None or grant.expires_at < self._clock() or grant.login.sid in self._revoked:
                raise GrantError("unknown, used, expired or revoked refresh token")
            return grant

    def redeem_refresh_token(self, token: str) -> RefreshGrant:
        """Use a refresh token up (the mock rotates them)."""
        with self._lock:
            grant = self._refresh.pop(token, None)
            if grant is None or grant.expires_at < self._clock() or grant.login.sid in self._revoked:
                raise GrantError("unknown, used, expired or revoked refresh token")
            return grant

    # -- sessions --------------------------------------------------------------------------

    def is_revoked(self, sid: str) -> bool:
        with self._lock:
            return sid in self._revoked

    def session_faults(self, sid: str) -> Mapping[str, str]:
        with self._lock:
            entry = self._session_faults.get(sid)
            return entry[0] if entry else {}

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY:
            return
        now = self._clock()
        for key in [k for k, v in self._requests.items() if v.expires_at < now]:
            del self._requests[key]
        for store in (self._authenticated, self._codes, self._used_codes, self._session_faults):
            for key in [k for k, v in store.items() if v[1] < now]:
                del store[key]
        for key in [k for k, v in self._revoked.items() if v < now]:
            del self._revoked[key]
        for key in [k for k, v in self._refresh.items() if v.expires_at < now]:
            del self._refresh[key]
