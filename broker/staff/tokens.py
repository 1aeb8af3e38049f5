"""API tokens: bearer tokens for automation (a sync job, a script) that act as their owner.

A token is ``brk_`` and 43 random URL-safe characters (256 bits). It is shown once, when it is
created; the table keeps its SHA-256 (a token that random needs no salt or slow hash) and its
first 12 characters, which name it on screen and in the audit log (``token:brk_AbCdEfGh``).
A token works until it expires or is revoked, and only while its owner is active; it has its
owner's role and regions, whatever they are at the time of use.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from broker import services
from broker.db.models import ApiToken, Staff
from broker.digests import digest
from broker.extensions import db
from broker.staff import audit
from broker.staff.accounts import StaffInputError
from broker.staff.audit import Action

SCHEME = "brk_"
PREFIX_LENGTH = 12
_MAX_LENGTH = 128  # longer input is not a token: not even hashed
# last_used_at is written at most this often: an API call is not worth a write every time.
_TOUCH_SECONDS = 60


def create_token(member: Staff, *, name: str, days: int, actor: str | None = None) -> tuple[ApiToken, str]:
    """Issue a token for ``member``; return the row and the clear token (shown once, never kept)."""
    name = " ".join((name or "").split())
    if not name or len(name) > 64 or any(not ch.isprintable() for ch in name):
        raise StaffInputError("name", "1 to 64 printable characters", "Название токена: от 1 до 64 знаков.")
    longest = int(current_app.config["STAFF_TOKEN_MAX_DAYS"])
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= longest:
        raise StaffInputError("days", f"a whole number from 1 to {longest}", f"Срок действия: от 1 до {longest} дней.")
    if member.disabled_at is not None:
        raise StaffInputError("staff", f"{member.login} is disabled", "Сотрудник отключён.")
    clear = SCHEME + secrets.token_urlsafe(32)
    now = services.current().clock()
    token = ApiToken(
        staff_id=member.id,
        name=name,
        prefix=clear[:PREFIX_LENGTH],
        digest=digest(clear),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    db.session.add(token)
    audit.record(
        Action.TOKEN_CREATED,
        f"token:{token.prefix}",
        after={"staff": member.login, "name": name, "expires_at": token.expires_at},
        actor=actor,
    )
    db.session.commit()
    return token, clear


def verify_token(clear: str | None) -> ApiToken | None:
    """The live token behind a clear value, or None: unknown, expired, revoked, or owner disabled."""
    if not clear or not clear.startswith(SCHEME) or len(clear) > _MAX_LENGTH:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.digest == digest(clear)))
    now = services.current().clock()
    if token is None or not is_live(token, now):
        return None
    owner = db.session.get(Staff, token.staff_id)
    if owner is None or owner.disabled_at is not None:
        return None
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= _TOUCH_SECONDS:
        token.last_used_at = now
        db.session.commit()
    return token


def is_live(token: ApiToken, now: datetime | None = None) -> bool:
    now = now or services.current().clock()
    return token.revoked_at is None and token.expires_at > now


def revoke_token(token: ApiToken, *, actor: str | None = None) -> ApiToken:
    """Revoke a token for good (audited); revoking it again changes nothing."""
    if token.revoked_at is not None:
        return token
    token.revoked_at = services.current().clock()
    owner = db.session.get(Staff, token.staff_id)
    audit.record(
        Action.TOKEN_REVOKED,
        f"token:{token.prefix}",
        before={"staff": owner.login if owner else None, "name": token.name, "revoked": False},
        after={"revoked": True},
        actor=actor,
    )
    db.session.commit()
    return token


def tokens_of(member: Staff) -> list[ApiToken]:
    """A member's tokens, newest first."""
    return list(db.session.scalars(select(ApiToken).where(ApiToken.staff_id == member.id).order_by(ApiToken.id.desc())))


def find_token(token_id: int) -> ApiToken | None:
    return db.session.get(ApiToken, token_id)
