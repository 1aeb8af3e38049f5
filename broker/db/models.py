"""The broker's tables (docs/architecture.md, 'Data'). Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.db.types import UtcDateTime
from broker.extensions import Base, db

# Type checkers cannot take a base class from an instance attribute (python/mypy#8603), so they
# see the declarative base that db.Model is built from; at run time the models subclass db.Model.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model


class Region(Model):
    """A federal subject and whether ESIA login is switched on there."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(default=False)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    changed_by: Mapped[str | None] = mapped_column(String(128))
    changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Account(Model):
    """A diary account. Names are kept as given and as a normalised lookup key.

    SNILS is never stored in clear: ``snils_digest`` is an HMAC under ``SNILS_HASH_KEY`` and
    ``snils_masked`` keeps the last four digits for display.
    """

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    school_id: Mapped[str | None] = mapped_column(String(64))
    last_name: Mapped[str] = mapped_column(String(128))
    first_name: Mapped[str] = mapped_column(String(128))
    middle_name: Mapped[str] = mapped_column(String(128), default="")
    name_key: Mapped[str] = mapped_column(String(400))
    short_key: Mapped[str] = mapped_column(String(260), server_default="")  # surname|given name
    birth_date: Mapped[date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(1))
    snils_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    snils_masked: Mapped[str | None] = mapped_column(String(16))
    snils_valid: Mapped[bool] = mapped_column(default=True)  # False: bad checksum, never matched
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_accounts_name_key_birth_date", "name_key", "birth_date"),
        Index("ix_accounts_short_key_birth_date", "short_key", "birth_date"),
        Index("ix_accounts_region", "region"),  # a region's accounts: pre-flight
    )


class EsiaLink(Model):
    """An ESIA person (oid) linked to a diary account.

    An account has at most one link; one ESIA person may hold several accounts (a teacher who
    is also a parent), so ``oid`` is indexed, not unique.
    """

    __tablename__ = "esia_links"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    oid: Mapped[str] = mapped_column(String(32), index=True)
    tier: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # "import", "login" or "link"
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # source "import": the audit event of the file import run or API sync that wrote the link
    import_event: Mapped[int | None] = mapped_column()


class PendingLogin(Model):
    """A login on its way through ESIA: single use, short-lived, bound to one browser.

    ``state`` is the ESIA ``state`` of the authorization request; ``browser_digest`` is the
    HMAC of the value in the browser's binding cookie, so a callback from another browser (or
    a replayed one, after the row is gone) is refused.
    """

    __tablename__ = "pending_logins"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_digest: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    portal_request: Mapped[dict[str, Any]] = mapped_column(JSON)
    region: Mapped[str] = mapped_column(String(2))
    link_account: Mapped[str | None] = mapped_column(String(64))
    esia_nonce: Mapped[str] = mapped_column(String(64))
    esia_code_verifier: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # Set once, atomically, when ESIA's callback arrives: a second callback finds it set.
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # After the decision: what the person still has to do here (confirm contacts, choose).
    stage: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class LoginAttempt(Model):
    """Every login or link attempt, whatever its end, with its masked decision trace."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    client_id: Mapped[str] = mapped_column(String(64))
    flow: Mapped[str] = mapped_column(String(8))  # "login" or "link"
    region: Mapped[str | None] = mapped_column(String(2))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    account_id: Mapped[str | None] = mapped_column(String(64), index=True)
    candidate_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    oid_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    snils_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    tier: Mapped[str | None] = mapped_column(String(16))
    age: Mapped[int | None]
    trace: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    detail: Mapped[str | None] = mapped_column(String(200))  # e.g. the provider error code
    # When the person got in: signed in to the diary (the portal got its code) or, in the link
    # flow, the link was written. None: refused, or a step the person never finished (the first
    # link's confirmation, the chooser, «Это не я»). The figures' successes are these.
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    # A region's attempts over a time range: the operators' figures and the support search;
    # a refusal reason's latest attempts, whatever the region: the support search.
    __table_args__ = (
        Index("ix_login_attempts_region_started_at", "region", "started_at"),
        Index("ix_login_attempts_reason_started_at", "reason", "started_at"),
    )


class DiarySession(Model):
    """A diary session the broker issued: the SSO session behind the portal's tokens."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # digest of the cookie value
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    # Indexed: purging an attempt clears this column in the sessions that name it.
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("login_attempts.id", ondelete="SET NULL"), index=True)
    tier: Mapped[str] = mapped_column(String(16))
    amr: Mapped[str] = mapped_column(String(16))
    claims: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # phone and e-mail confirmed
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # When ESIA last asked the person to authenticate (its id_token's auth_time; ESIA's single
    # sign-on may answer a login without asking), else the session's start: the id_token's
    # auth_time, and what max_age is measured from.
    auth_time: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuthorizationCode(Model):
    """An OIDC authorization code handed to a portal (stored as a digest, single use).

    A redeemed code is kept, with ``redeemed_at``, until it expires: a second exchange of it
    is a replay, and revokes the access tokens issued from it (RFC 6749 §4.1.2).
    """

    __tablename__ = "oidc_codes"

    code_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(512))
    scope: Mapped[str] = mapped_column(String(256))
    nonce: Mapped[str | None] = mapped_column(String(256))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    auth_time: Mapped[int]
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    # Every authorization checks that its nonce was not used by the same client before.
    __table_args__ = (Index("ix_oidc_codes_client_id_nonce", "client_id", "nonce"),)


class AccessToken(Model):
    """An access token issued to a portal, for userinfo (stored as a digest)."""

    __tablename__ = "oidc_tokens"

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(256))
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    # The code it was issued for (no foreign key: the code row goes long before the token).
    # Indexed: a replayed code revokes its tokens.
    code_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    # The refresh token family it was issued in, if any (no foreign key: a revoked family's
    # tokens are deleted with it, by broker.oidc.refresh). Indexed: a family's end revokes them.
    family_id: Mapped[int | None] = mapped_column(index=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RefreshFamily(Model):
    """A public client's refresh tokens for one grant (an authorization code), rotated on every use.

    The family lives until ``expires_at`` (``REFRESH_TOKEN_DAYS`` after the code was exchanged)
    or until its current token idles past ``idle_expires_at``, whichever comes first, or until
    it is revoked (a rotated-out token presented again, logout, unlink, a blocked account).
    """

    __tablename__ = "oidc_refresh_families"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(256))
    # The code it was issued for (indexed: a replayed code revokes the family too).
    code_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    idle_expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RefreshToken(Model):
    """One refresh token of a family, as the keyed digest of the token (never the token).

    ``used_at`` is set when it is exchanged; it is kept, spent, for as long as its family lives:
    presented again, it revokes the family (RFC 9700 §4.14.2).
    """

    __tablename__ = "oidc_refresh_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("oidc_refresh_families.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Staff(Model):
    """A member of staff: an admin, a regional operator or a support agent (issue #5).

    ``regions`` lists an operator's region codes; admins and support staff see every region
    and keep it empty. The password is kept only as a werkzeug scrypt hash.
    """

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(16))
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str] = mapped_column(String(256))
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (CheckConstraint("role IN ('admin', 'operator', 'support')", name="role"),)


class StaffSession(Model):
    """A staff member's signed-in session; the Flask session holds the value, this its digest.

    Kept on the server so that logout, disabling a member or a new password end it at once.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie value
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)  # absolute timeout
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)  # idle timeout
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    source: Mapped[str | None] = mapped_column(String(64))


class ApiToken(Model):
    """A bearer token for automation. It acts as its owner: same role, same regions.

    Only the SHA-256 of the token is stored, with its first characters (``prefix``) to tell
    tokens apart on screen and in the audit log.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditEvent(Model):
    """One staff action, append-only: the app never updates or deletes a row.

    ``actor`` is a staff login, ``cli:<os user>`` or ``token:<prefix>``; ``target`` names
    what was acted on (``staff:<login>``, ``token:<prefix>``, ``region:<code>``,
    ``account:<id>``). ``before`` and ``after`` hold masked values only.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    target: Mapped[str | None] = mapped_column(String(128))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    source: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(String(1000))


class InviteCode(Model):
    """A one-time code the school hands to a family for a child's first link.

    Only an HMAC of the code, bound to its account, is kept (``broker.login.invites``); the code itself
    is shown once, to the staff member who issued it. Single use: ``used_at`` is set atomically.
    """

    __tablename__ = "invite_codes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by: Mapped[str] = mapped_column(String(128))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(128))


class InviteFailure(Model):
    """One wrong invite code typed for an account by one ESIA person, counted over a window: per
    (account, person), so that a person guessing locks only themselves however many logins they
    start, and per account over all persons, a higher ceiling against guessing from many ESIA
    accounts. The person is kept only as the keyed digest of their oid (``OID_HASH_KEY``)."""

    __tablename__ = "invite_failures"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(64))
    person_digest: Mapped[str | None] = mapped_column(String(64))  # always set by broker.login.invites.redeem
    at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_invite_failures_account_id_at", "account_id", "at"),
        Index("ix_invite_failures_account_id_person_digest_at", "account_id", "person_digest", "at"),
    )
