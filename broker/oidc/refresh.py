"""The mobile app's session: refresh token families, rotated on every use (ADR 0020).

A public client that asked for ``offline_access`` gets a refresh token with its first access
token: the start of a *family* (one per grant). Each refresh spends the token presented and
issues the next one in the family; a spent token presented again means that two parties hold
the family's tokens (RFC 9700 §4.14.2), and the whole family is revoked, its newest token and
its access tokens too. A family ends ``REFRESH_TOKEN_DAYS`` after it began, once its current
token is ``REFRESH_TOKEN_IDLE_DAYS`` unused, or when it is revoked: a replayed token or code,
logout (the diary session it came from ends), the app's own revocation request (RFC 7009,
``/oidc/revoke``: any token of the family, spent or current), an unlink or a moved link (the
account's families end), a blocked account (the registry writes it).

Only the keyed digest of a token is stored (HMAC-SHA256 under a key of its own purpose,
``broker.keyring``): the database alone can neither give a token back nor make a valid one.
Nothing here logs a token or its digest. Statements run in the caller's transaction; the token
endpoint (or the caller ending families) commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import TokenMixin
from flask import current_app
from sqlalchemy import bindparam, delete, insert, select, update

from broker import services
from broker.db.dml import execute_dml
from broker.db.models import AccessToken, Account, EsiaLink, RefreshFamily, RefreshToken
from broker.extensions import db

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import ColumnElement

    from broker.db.dml import Executor
    from broker.keyring import Keys

OFFLINE_ACCESS = "offline_access"
GRANT_TYPE = "refresh_token"
_FAMILIES = RefreshFamily.__table__
_REFRESH = RefreshToken.__table__
_ACCESS = AccessToken.__table__
_ACCOUNTS = Account.__table__
_LINKS = EsiaLink.__table__

_INSERT_FAMILY = insert(_FAMILIES).returning(_FAMILIES.c.id)
_INSERT_TOKEN = insert(_REFRESH)
_PRESENTED = (
    select(_REFRESH.c.digest, *(column.label(f"family_{column.name}") for column in _FAMILIES.c))
    .join(_FAMILIES, _FAMILIES.c.id == _REFRESH.c.family_id)
    .where(_REFRESH.c.digest.in_(bindparam("digests", expanding=True)))
)
_SPEND = update(_REFRESH).where(_REFRESH.c.digest == bindparam("spent"), _REFRESH.c.used_at.is_(None)).values(used_at=bindparam("now"))
_STANDING = (
    select(_ACCOUNTS.c.status, _LINKS.c.linked_at)
    .select_from(_ACCOUNTS.outerjoin(_LINKS, _LINKS.c.account_id == _ACCOUNTS.c.id))
    .where(_ACCOUNTS.c.id == bindparam("account"))
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Family(TokenMixin):
    """A live refresh token family, as the refresh grant reads it (Authlib's token object)."""

    id: int
    client_id: str
    account_id: str
    session_id: str
    scope: str
    created_at: datetime
    expires_at: datetime
    idle_expires_at: datetime

    def check_client(self, client: Any) -> bool:
        return bool(self.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return self.scope


def _keys() -> Keys:
    return services.current().keyring.refresh_token


def lifetimes() -> tuple[timedelta, timedelta]:
    """The families' absolute and idle lifetimes (``REFRESH_TOKEN_DAYS``, ``REFRESH_TOKEN_IDLE_DAYS``)."""
    config = current_app.config
    return timedelta(days=int(config["REFRESH_TOKEN_DAYS"])), timedelta(days=int(config["REFRESH_TOKEN_IDLE_DAYS"]))


def start_family(token: str, *, client_id: str, account_id: str, session_id: str, scope: str, code_digest: str | None) -> int:
    """Begin a family with its first refresh ``token``; return the family's id."""
    now = services.current().clock()
    absolute, idle = lifetimes()
    family_id: int = db.session.execute(
        _INSERT_FAMILY,
        dict(
            client_id=client_id,
            account_id=account_id,
            session_id=session_id,
            scope=scope,
            code_digest=code_digest,
            created_at=now,
            expires_at=now + absolute,
            idle_expires_at=now + idle,  # REFRESH_TOKEN_IDLE_DAYS <= REFRESH_TOKEN_DAYS (broker.config)
        ),
    ).scalar_one()
    db.session.execute(_INSERT_TOKEN, dict(digest=_keys().digest(token), family_id=family_id, issued_at=now))
    return family_id


def continue_family(family: Family, token: str) -> None:
    """The family's next refresh ``token``, issued as the one presented is spent: its idle time starts again."""
    now = services.current().clock()
    _, idle = lifetimes()
    db.session.execute(_INSERT_TOKEN, dict(digest=_keys().digest(token), family_id=family.id, issued_at=now))
    db.session.execute(update(_FAMILIES).where(_FAMILIES.c.id == family.id).values(idle_expires_at=min(now + idle, family.expires_at)))


@dataclass(frozen=True, slots=True)
class Owner:
    """Which family a refresh token belongs to and its client (for revocation, whatever the family's state)."""

    family_id: int
    client_id: str


def owner(token: str) -> Owner | None:
    """The family and client of refresh ``token``, spent or current, live or not; None if unknown."""
    row = db.session.execute(_PRESENTED, {"digests": list(_keys().digests(token))}).first()
    return Owner(row.family_id, row.family_client_id) if row is not None else None


def redeem(token: str, client_id: str) -> Family | None:
    """Spend the refresh ``token`` presented by ``client_id``; its live family, or None (``invalid_grant``).

    Refused: an unknown token; another client's (refused only: a leaked token must not let
    another client end this one's session, as with codes); a revoked or expired family's; a spent
    one, or one spent by a request at the same moment, which revokes its family (reuse); one whose
    account was blocked or unlinked, or whose diary session was ended (the family ends too).
    """
    now = services.current().clock()
    row = db.session.execute(_PRESENTED, {"digests": list(_keys().digests(token))}).first()
    if row is None:
        log.info("client %s presented an unknown refresh token: refused", client_id)
        return None
    family = Family(**{field.name: getattr(row, f"family_{field.name}") for field in fields(Family)})
    if family.client_id != client_id:
        log.warning("client %s presented a refresh token of client %s: refused, nothing revoked", client_id, family.client_id)
        return None
    if row.family_revoked_at is not None:
        log.info("client %s presented a refresh token of revoked family %d: refused", client_id, family.id)
        return None
    if execute_dml(db.session, _SPEND, {"spent": row.digest, "now": now}).rowcount != 1:
        # Spent before, or by a request at this very moment (the row lock makes this one wait
        # for the other's commit, and then it finds the token spent): two parties hold it.
        ended = end_families(db.session, family_is(family.id), now)
        log.warning("client %s presented a spent refresh token again: family %d revoked (%d)", client_id, family.id, ended)
        return None
    if now >= family.idle_expires_at:  # never later than expires_at: capped at every rotation
        log.info("client %s presented a refresh token of family %d past its lifetime: refused", client_id, family.id)
        return None
    why = _standing(family, now)
    if why is not None:
        end_families(db.session, family_is(family.id), now)
        log.info("client %s: refresh refused, family %d revoked: %s", client_id, family.id, why)
        return None
    return family


def _standing(family: Family, now: datetime) -> str | None:
    """Why the family's account may no longer be signed in to, or None if it may.

    The account must still exist, be active and be linked by a link older than the family (a
    link made since is another one: the one the family came from was removed or moved).
    """
    found = db.session.execute(_STANDING, {"account": family.account_id}).first()
    if found is None:
        return "the account is gone"
    if found.status != "active":
        return "the account is blocked"
    if found.linked_at is None or found.linked_at > family.created_at:
        return "the account's ESIA link was removed or replaced"
    return None


def end_families(executor: Executor, condition: ColumnElement[bool], now: datetime) -> int:
    """Revoke the live families matching ``condition`` and delete their access tokens; return how many."""
    ended = [
        row.id
        for row in executor.execute(
            update(_FAMILIES).where(condition, _FAMILIES.c.revoked_at.is_(None)).values(revoked_at=now).returning(_FAMILIES.c.id)
        )
    ]
    if ended:
        executor.execute(delete(_ACCESS).where(_ACCESS.c.family_id.in_(ended)))
    return len(ended)


def family_is(family_id: int) -> ColumnElement[bool]:
    """The condition naming one family, for :func:`end_families`."""
    return _FAMILIES.c.id == family_id


def end_for_session(executor: Executor, session_id: str, now: datetime) -> int:
    """End the families begun in diary session ``session_id`` (logout)."""
    return end_families(executor, _FAMILIES.c.session_id == session_id, now)


def end_for_account(executor: Executor, account_id: str, now: datetime) -> int:
    """End every family of the account (an unlink, a link moved to another person)."""
    return end_families(executor, _FAMILIES.c.account_id == account_id, now)


def end_for_code(executor: Executor, code_digest: str, now: datetime) -> int:
    """End the family issued for an authorization code (the code was replayed, RFC 6749 §4.1.2)."""
    return end_families(executor, _FAMILIES.c.code_digest == code_digest, now)


def end_blocked(executor: Executor, account_ids: Sequence[str], now: datetime) -> int:
    """End the families of those of ``account_ids`` that are blocked (the registry just wrote them)."""
    ended = 0
    ids = list(account_ids)
    for start in range(0, len(ids), 1000):  # well under any database's limit on bound parameters
        chunk = _FAMILIES.c.account_id.in_(ids[start : start + 1000])
        blocked = _FAMILIES.c.account_id.in_(select(_ACCOUNTS.c.id).where(_ACCOUNTS.c.status != "active"))
        ended += end_families(executor, chunk & blocked, now)
    return ended
