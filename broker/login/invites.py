"""Invite codes: the one-time code a school hands to a family for a child's first link.

In a region whose policy has ``under_14_first_link = invite_code``, simplified ESIA accounts
(self-declared names and birth dates) link an under-14 diary account on the first ESIA login
only when the person also types the code the school issued for that very account.

* A code is 10 characters of Crockford's base32 (``7KQ4M-2XH9D``): 50 bits, read and typed
  without confusion (``O`` is read as ``0``, ``I`` and ``L`` as ``1``; spaces and dashes are
  ignored). With at most ``INVITE_MAX_FAILURES_PER_ACCOUNT_ALL_PERSONS`` (50) wrong codes per
  account per window (a day), from however many ESIA persons, over a code's life of at most
  ``INVITE_CODE_MAX_DAYS`` (90), guessing has a chance below 1e-11 (4,500 / 2**50).
* Wrong codes are counted per (account, ESIA person): past ``INVITE_MAX_FAILURES_PER_ACCOUNT``
  a person guessing locks only themselves, so an attacker with a simplified ESIA account claiming
  the child's name and birth date cannot lock the family out by typing wrong codes.
* Only an HMAC of ``account id + code`` is stored, under the invite codes' own key (derived from
  ``SECRET_KEY``, broker/keyring.py; codes issued under a key in ``SECRET_KEY_FALLBACKS`` still
  count): a code is valid for its own account only, and a copy of the database does not reveal
  codes (50 bits would not stand an offline search against a plain hash). The code is shown once, to the staff member who issued it,
  and never written to logs or the audit log.
* Single use (``used_at`` set by one conditional UPDATE, in the transaction that writes the link at
  ``/auth/confirm``: the code page only checks it), expiring, revocable; issuing a new code
  revokes the account's earlier live ones. Issue, revoke and use are audit events.
* Staff who manage the account's region (its operators, admins) issue and revoke; every staff
  member who sees the region may list (support reads, as everywhere).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import delete, func, select, update

from broker import services
from broker.db.models import Account, InviteCode, InviteFailure
from broker.errors import BrokerError, InputError, InvalidFieldsError
from broker.extensions import db
from broker.login import attempts
from broker.staff import access, audit
from broker.staff.audit import Action

if TYPE_CHECKING:
    from collections.abc import Collection

    from sqlalchemy import ColumnElement

    from broker.db.models import Staff

ALPHABET = attempts.REFERENCE_ALPHABET  # Crockford's base32: no I, L, O, U
CODE_LENGTH = 10  # 50 bits
_READ_AS = {"O": "0", "I": "1", "L": "1"}  # Crockford's decoding of the look-alikes
MAX_TYPED_LENGTH = 32  # what the form accepts at all (spaces and dashes included)
MAX_ROW_ID = 2**63 - 1  # a row id is a 64-bit integer in the database: a larger one names no code


class InviteAccessError(BrokerError):
    code = "forbidden"
    description = "Your role or regions do not allow this for the account's region."
    status = 403


class InviteNotFoundError(InputError):
    code = "not_found"
    status = 404


class Redeemed(StrEnum):
    """What became of a typed code."""

    RIGHT = "right"  # right and live: the login may link, and spends it at /auth/confirm (spend)
    WRONG = "wrong"  # no live code of these accounts is this one (counted)
    LOCKED = "locked"  # too many wrong codes for the account lately: not even checked


@dataclass(frozen=True, slots=True)
class Issued:
    invite: InviteCode
    code: str  # shown once


@dataclass(frozen=True, slots=True)
class Redemption:
    result: Redeemed
    account_id: str | None = None
    invite_id: int | None = None


def format_code(raw: str) -> str:
    return f"{raw[:5]}-{raw[5:]}"


def normalise_code(typed: str) -> str | None:
    """The code as typed, read the Crockford way; None if it cannot be a code at all."""
    if not isinstance(typed, str) or len(typed) > MAX_TYPED_LENGTH:
        return None
    text = "".join(ch for ch in typed.upper() if ch not in " -\t")
    text = "".join(_READ_AS.get(ch, ch) for ch in text)
    if len(text) != CODE_LENGTH or any(ch not in ALPHABET for ch in text):
        return None
    return text


def code_digest(account_id: str, code: str) -> str:
    """The stored form of a (normalised) code: keyed, and bound to its account."""
    return services.current().keyring.invite_code.digest(f"{account_id}:{code}")


def code_digests(account_id: str, code: str) -> tuple[str, ...]:
    """The forms a code may be stored in: under the current key and each fallback (rotation)."""
    return services.current().keyring.invite_code.digests(f"{account_id}:{code}")


def status_of(invite: InviteCode, now: datetime | None = None) -> str:
    """``live``, ``used``, ``revoked`` or ``expired``."""
    now = now or services.current().clock()
    if invite.used_at is not None:
        return "used"
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at <= now:
        return "expired"
    return "live"


# --- staff: issue, list, revoke ------------------------------------------------------------------


def issue(account_id: str, *, days: int | None, actor_staff: Staff | None, actor: str | None = None) -> Issued:
    """A new code for ``account_id`` (committed, audited); the account's earlier live codes are revoked.

    The wrong codes typed for the account so far are forgotten with them: they were guesses at the
    old code and say nothing about the new one, and so a school can lift a lock-out that
    impostors caused by issuing a new code.

    ``actor_staff`` must manage the account's region (InviteAccessError); the CLI passes None and
    ``actor="cli:<user>"``.
    """
    account = _account(account_id, actor_staff)
    _require(actor_staff, account.region, manage=True)
    actor = _actor(actor_staff, actor)
    longest = int(current_app.config["INVITE_CODE_MAX_DAYS"])
    days = int(current_app.config["INVITE_CODE_DAYS"]) if days is None else days
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= longest:
        raise InvalidFieldsError("days", f"must be a whole number from 1 to {longest}",
                                 f"Срок действия кода: от 1 до {longest} дней.")  # fmt: skip
    now = services.current().clock()
    replaced = list(db.session.scalars(select(InviteCode.id).where(*_live(now), InviteCode.account_id == account.id)))
    if replaced:
        db.session.execute(update(InviteCode).where(InviteCode.id.in_(replaced)).values(revoked_at=now, revoked_by=actor[:128]))
    db.session.execute(delete(InviteFailure).where(InviteFailure.account_id == account.id))
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    invite = InviteCode(
        account_id=account.id, digest=code_digest(account.id, code), issued_by=actor[:128],
        issued_at=now, expires_at=now + timedelta(days=days),
    )  # fmt: skip
    db.session.add(invite)
    db.session.flush()
    audit.record(
        Action.INVITE_ISSUED, f"account:{account.id}",
        after={"invite": invite.id, "expires_at": invite.expires_at, "replaced": replaced}, actor=actor,
    )  # fmt: skip
    db.session.commit()
    return Issued(invite, format_code(code))


def list_invites(*, staff: Staff | None, account_id: str | None = None, school_id: str | None = None, limit: int = 200) -> list[InviteCode]:
    """Codes of one account or one school, newest first, within the regions ``staff`` sees (None: all).

    An account that does not exist or lies outside those regions is not found, alike.
    """
    if not account_id and not school_id:
        raise InputError("account_id", "give account_id or school_id", "Укажите аккаунт или школу.")
    if account_id:
        _account(account_id, staff)
    query = select(InviteCode).join(Account, Account.id == InviteCode.account_id)
    if account_id:
        query = query.where(InviteCode.account_id == account_id)
    if school_id:
        query = query.where(Account.school_id == school_id)
    if staff is not None:
        scope = access.visible_regions(staff)
        if scope is not None:
            query = query.where(Account.region.in_(sorted(scope)))
    return list(db.session.scalars(query.order_by(InviteCode.id.desc()).limit(limit)))


def revoke(invite_id: int, *, actor_staff: Staff | None, actor: str | None = None) -> InviteCode:
    """Revoke a code for good (committed, audited); revoking a used or revoked code changes nothing.

    An id that names no code, cannot be a row id, or names a code of an account outside the
    regions ``actor_staff`` sees is not found, alike.
    """
    known = isinstance(invite_id, int) and not isinstance(invite_id, bool) and 1 <= invite_id <= MAX_ROW_ID
    invite = db.session.get(InviteCode, invite_id) if known else None
    account = db.session.get(Account, invite.account_id) if invite is not None else None
    if invite is None or account is None or not _sees(actor_staff, account.region):
        raise InviteNotFoundError("invite", "no invite code has this id", "Такого кода приглашения нет.")
    _require(actor_staff, account.region, manage=True)
    actor = _actor(actor_staff, actor)
    if invite.used_at is not None or invite.revoked_at is not None:
        return invite
    before = status_of(invite)
    invite.revoked_at = services.current().clock()
    invite.revoked_by = actor[:128]
    audit.record(
        Action.INVITE_REVOKED, f"account:{account.id}",
        before={"invite": invite.id, "status": before}, after={"invite": invite.id, "status": "revoked"}, actor=actor,
    )  # fmt: skip
    db.session.commit()
    return invite


# --- the person: redeem ---------------------------------------------------------------------------


def redeem(account_ids: Collection[str], typed: str, *, reference: str, oid: str) -> Redemption:
    """Use the code ESIA person ``oid`` typed at a login that waits for one of ``account_ids`` (the login flow commits).

    A wrong code is counted against each of these accounts for this person. Past
    ``INVITE_MAX_FAILURES_PER_ACCOUNT`` of this person's wrong codes for an account, or past
    ``INVITE_MAX_FAILURES_PER_ACCOUNT_ALL_PERSONS`` of everyone's, no code is checked for it until
    the window has passed: one person guessing locks only themselves (not the family, another ESIA
    person), and guessing from many ESIA accounts still stops at the ceiling. A right code is only
    found here, not spent: :func:`spend` spends it in the transaction that writes the link, so a
    person who abandons the contacts page (or whose link fails) has not burned it.
    """
    now = services.current().clock()
    accounts = sorted(set(account_ids))
    if not accounts:
        return Redemption(Redeemed.WRONG)
    persons = services.current().keyring.oid
    if any(_is_locked(account, persons.digests(oid), now) for account in accounts):
        return Redemption(Redeemed.LOCKED)
    code = normalise_code(typed)
    if code is not None:
        for account in accounts:
            found = db.session.execute(
                select(InviteCode.id)
                .where(*_live(now), InviteCode.account_id == account, InviteCode.digest.in_(code_digests(account, code)))
            ).scalar()  # fmt: skip
            if found is not None:
                return Redemption(Redeemed.RIGHT, account, found)
    person = persons.digest(oid)
    for account in accounts:
        db.session.add(InviteFailure(account_id=account, person_digest=person, at=now))
    return Redemption(Redeemed.WRONG)


def spend(invite_id: int, account_id: str, *, reference: str) -> bool:
    """Mark the code used, in the transaction that writes the link (the login flow commits); False if it
    is no longer live (another login used it meanwhile, or it was revoked or expired).

    One conditional UPDATE, so two logins cannot both use it; its use is audited (actor: the
    login's attempt reference).
    """
    now = services.current().clock()
    used = db.session.execute(
        update(InviteCode)
        .where(*_live(now), InviteCode.id == invite_id, InviteCode.account_id == account_id)
        .values(used_at=now)
        .returning(InviteCode.id)
        .execution_options(synchronize_session="fetch")  # a loaded row's times may be naive (SQLite)
    ).scalar()
    if used is None:
        return False
    audit.record(Action.INVITE_USED, f"account:{account_id}", after={"invite": used}, actor=f"login:{reference}")
    return True


def _is_locked(account_id: str, person_digests: Collection[str], now: datetime) -> bool:
    """Too many wrong codes for the account lately: from this person (its digests under every oid
    key, for rotation), or from everyone together."""
    config = current_app.config
    window = timedelta(seconds=float(config["INVITE_FAILURE_WINDOW_SECONDS"]))
    db.session.execute(delete(InviteFailure).where(InviteFailure.account_id == account_id, InviteFailure.at < now - window))
    counted = select(func.count()).select_from(InviteFailure).where(InviteFailure.account_id == account_id)
    everyone = int(db.session.scalar(counted) or 0)
    if everyone >= int(config["INVITE_MAX_FAILURES_PER_ACCOUNT_ALL_PERSONS"]):
        return True
    theirs = int(db.session.scalar(counted.where(InviteFailure.person_digest.in_(list(person_digests)))) or 0)
    return theirs >= int(config["INVITE_MAX_FAILURES_PER_ACCOUNT"])


def _live(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (InviteCode.used_at.is_(None), InviteCode.revoked_at.is_(None), InviteCode.expires_at > now)


def _account(account_id: str, member: Staff | None) -> Account:
    """The account, if ``member`` sees its region (None: the CLI sees all).

    One outside their regions is answered exactly as one that does not exist, so that staff
    cannot probe other regions' account ids for existence or region (as broker/registry/sync.py does).
    """
    account = db.session.get(Account, account_id) if isinstance(account_id, str) and account_id else None
    if account is None or not _sees(member, account.region):
        raise InviteNotFoundError("account_id", "no diary account has this id", "Такого аккаунта нет.")
    return account


def _sees(member: Staff | None, region: str) -> bool:
    return member is None or access.can_view_region(member, region)


def _require(member: Staff | None, region: str, *, manage: bool) -> None:
    if member is None:  # the CLI: the server's shell
        return
    allowed = access.can_manage_region(member, region) if manage else access.can_view_region(member, region)
    if member.disabled_at is not None or not allowed:
        raise InviteAccessError(f"the account's region {region} is outside your regions")


def _actor(member: Staff | None, actor: str | None) -> str:
    found = actor or audit.request_actor() or (member.login if member is not None else None)
    if not found:
        raise ValueError("invites need actor_staff or an actor")
    return found
