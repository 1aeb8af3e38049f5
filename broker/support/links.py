"""A diary account's ESIA link as staff see and change it: the masked account card, and unlink.

Shared by the support pages and the JSON API, so nothing here reads the Flask request: callers
pass the acting staff member. What a card shows (152-FZ, the least that lets staff help): the
account's id, login, role, region, school, status, gender and SNILS tail as the registry keeps
them; names masked as the decision trace masks them (first letter of each part), the birth year
and today's age, never the full date; the ESIA oid masked to its last four characters. Every
role sees the same card: support staff diagnose, operators switch regions and unlink, and none
of them needs more; the school's diary administrator, who corrects records, sees them in the
diary itself.

Unlinking removes the link (the person's next ESIA login matches afresh, or links another ESIA
account), ends the broker's live diary sessions of the account (a person linked by mistake is
signed out at once), and is audited with before/after and the mandatory reason, in one commit.
Admins may unlink anywhere, operators within their regions, support never.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select

import matching
from broker import services
from broker.db.dml import execute_dml
from broker.db.models import Account, AuditEvent, EsiaLink, Staff
from broker.errors import BrokerError, InputError
from broker.extensions import db
from broker.oidc import sessions
from broker.regions import policies as regions
from broker.staff import access, audit
from broker.staff.audit import Action
from broker.support import glossary

MAX_COMMENT = 1000


class AccountNotFoundError(InputError):
    code = "account_not_found"
    status = 404

    def __init__(self, account_id: str) -> None:
        super().__init__("account", f"no diary account {account_id!r}", "Такого аккаунта в реестре дневника нет.")


class UnlinkError(InputError):
    """The unlink cannot be done as asked; nothing was written."""

    code = "unlink_refused"


class UnlinkForbiddenError(BrokerError):
    code = "forbidden"
    description = "Only an admin, or an operator of the account's region, may unlink it."
    status = 403


@dataclass(frozen=True, slots=True)
class ImportRun:
    """The registry run that wrote a link (source ``import``), from the audit log."""

    event: int  # registry_import_started (a file) or registry_upserted (the API)
    door: str | None  # "file", "api", or None once the retention purge deleted the event
    actor: str | None
    at: datetime | None
    file_sha256: str | None  # a file run's digest, once the run finished


@dataclass(frozen=True, slots=True)
class LinkCard:
    oid_masked: str
    tier: str | None
    source: str  # import, login or link
    linked_at: datetime  # aware
    run: ImportRun | None = None  # for source import: which run (links older than 0009 have none)


def _link_card(link: EsiaLink) -> LinkCard:
    """The link as a card shows it: the oid masked, the time aware, an import's run."""
    run = _import_run(link.import_event) if link.source == "import" and link.import_event is not None else None
    return LinkCard(oid_masked=matching.mask_oid(link.oid), tier=link.tier, source=link.source, linked_at=link.linked_at, run=run)


def _import_run(event_id: int) -> ImportRun:
    event = db.session.get(AuditEvent, event_id)
    if event is None:
        return ImportRun(event_id, None, None, None, None)
    if event.action != Action.REGISTRY_IMPORT_STARTED:
        return ImportRun(event_id, "api", event.actor, event.at, None)
    finished = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == Action.REGISTRY_IMPORTED, AuditEvent.target == f"import:{event_id}")
    ).first()
    digest = (finished.after or {}).get("file_sha256") if finished is not None else None
    return ImportRun(event_id, "file", event.actor, event.at, digest)


@dataclass(frozen=True, slots=True)
class AccountCard:
    """An account as staff pages show it: masked where the registry holds personal data."""

    id: str
    login: str
    role: str
    region: str
    region_name: str | None
    school_id: str | None
    name_masked: str  # "Л******* М***** И*******"
    birth_year: int | None
    age_today: int | None  # in the account's region's time zone
    gender: str | None
    snils_masked: str | None
    snils_valid: bool
    status: str
    updated_at: datetime
    link: LinkCard | None

    @property
    def is_attached(self) -> bool:
        return bool(self.school_id)


def account_card(account_id: str, *, at: datetime | None = None) -> AccountCard:
    """The card of account ``account_id``; raises :class:`AccountNotFoundError`.

    Callers check the region scope (:func:`broker.staff.access.can_view_region` on ``card.region``).
    """
    account = db.session.get(Account, account_id) if isinstance(account_id, str) else None
    if account is None:
        raise AccountNotFoundError(account_id)
    link = db.session.get(EsiaLink, account.id)
    policy = regions.policies().get(account.region)
    today = matching.local_date(at or services.current().clock(), policy.timezone if policy else "Europe/Moscow")
    names = (account.last_name, account.first_name, account.middle_name)
    return AccountCard(
        id=account.id,
        login=account.login,
        role=account.role,
        region=account.region,
        region_name=policy.name if policy else None,
        school_id=account.school_id or None,
        name_masked=" ".join(matching.mask_name(part) for part in names if part) or "—",
        birth_year=account.birth_date.year if isinstance(account.birth_date, date) else None,
        age_today=matching.age_on(account.birth_date, today) if isinstance(account.birth_date, date) else None,
        gender=account.gender or None,
        snils_masked=account.snils_masked,
        snils_valid=account.snils_valid,
        status=account.status,
        updated_at=account.updated_at,
        link=_link_card(link) if link is not None else None,
    )


def can_unlink(member: Staff, region: str) -> bool:
    """Admins anywhere, operators in their regions; support never."""
    return access.can_manage_region(member, region)


def unlink(account_id: str, *, comment: str, by: Staff, actor: str | None = None, expected: str | None = None) -> LinkCard:
    """Remove the account's ESIA link, end its live diary sessions, audit it; commit.

    ``comment`` (why) is mandatory. Raises :class:`UnlinkForbiddenError` if ``by`` may not
    unlink in the account's region, :class:`UnlinkError` for a missing comment or an account
    without a link or whose link is no longer ``expected`` (:func:`link_fingerprint` of the link a
    confirmation page showed), :class:`AccountNotFoundError`; nothing is written then. Returns the
    removed link (masked).
    """
    account = db.session.get(Account, account_id) if isinstance(account_id, str) else None
    if account is None:
        raise AccountNotFoundError(account_id)
    if not can_unlink(by, account.region):
        raise UnlinkForbiddenError()
    comment = checked_comment(comment)
    link = db.session.get(EsiaLink, account.id)
    if link is None:
        raise UnlinkError("account", "the account has no ESIA link", glossary.UNLINK_RU["no_link"])
    removed = _link_card(link)
    if expected is not None and expected != link_fingerprint(removed):  # not the link the confirmation showed
        raise UnlinkError("account", "the link changed since the confirmation; reload", glossary.UNLINK_RU["changed"])
    table = EsiaLink.__table__
    gone = execute_dml(db.session, delete(table).where(table.c.account_id == account.id, table.c.oid == link.oid))
    if gone.rowcount != 1:  # unlinked or relinked meanwhile by someone else
        db.session.rollback()
        raise UnlinkError("account", "the link changed meanwhile; reload", glossary.UNLINK_RU["changed"])
    db.session.expunge(link)
    ended = sessions.end_live_sessions(db.session, account.id, services.current().clock())
    audit.record(
        Action.ACCOUNT_UNLINKED,
        f"account:{account.id}",
        before={
            "linked": True,
            "oid": removed.oid_masked,
            "tier": removed.tier,
            "source": removed.source,
            "linked_at": removed.linked_at,
        },
        after={"linked": False, "sessions_ended": ended},
        comment=comment,
        actor=actor,
    )
    db.session.commit()
    return removed


def checked_comment(comment: str | None) -> str:
    """An unlink's reason with its spaces tidied; raises :class:`UnlinkError` if empty or too long."""
    comment = " ".join((comment or "").split())
    if not comment:
        raise UnlinkError("comment", "a reason is required", glossary.UNLINK_RU["no_reason"])
    if len(comment) > MAX_COMMENT:
        raise UnlinkError("comment", f"at most {MAX_COMMENT} characters", glossary.UNLINK_RU["long_reason"].format(most=MAX_COMMENT))
    return comment


def link_fingerprint(link: LinkCard) -> str:
    """What names one link between confirming and doing an unlink: its masked oid and when it was made."""
    return f"{link.oid_masked}@{link.linked_at.isoformat()}"


@dataclass(frozen=True, slots=True)
class UnlinkEffects:
    """What unlinking an account would do, for the confirmation page (nothing is changed to learn it)."""

    link: LinkCard
    fingerprint: str
    live_sessions: int  # the broker's live diary sessions of the account, ended at once
    first_link_rule: str | None  # under 14 in a region with a first-link rule: "link_required" or "invite_code"


def unlink_effects(card: AccountCard) -> UnlinkEffects:
    """What unlinking ``card``'s link would do; the card must have a link."""
    assert card.link is not None
    policy = regions.policies().get(card.region)
    rule: str | None = None
    if policy is not None and card.age_today is not None and not matching.is_adult(card.age_today):
        if not policy.auto_link_under_14:
            rule = "link_required"
        elif policy.under_14_first_link is matching.FirstLink.INVITE_CODE:
            rule = "invite_code"
    return UnlinkEffects(card.link, link_fingerprint(card.link), sessions.live_sessions(card.id), rule)


@dataclass(frozen=True, slots=True)
class LastUnlink:
    """The account's latest unlink, from the audit log: who, when, why, and which link it removed."""

    event: int
    at: datetime
    actor: str  # a staff login, ``cli:<user>`` or ``token:<prefix>``
    actor_name: str | None  # the staff member's name, when the actor is one
    comment: str
    oid_masked: str | None
    sessions_ended: int | None


def last_unlink(account_id: str) -> LastUnlink | None:
    """The latest ``account_unlinked`` audit event of the account, if the log still holds one."""
    event = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == Action.ACCOUNT_UNLINKED, AuditEvent.target == f"account:{account_id}")
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(1)
    ).first()
    if event is None:
        return None
    name = db.session.scalars(select(Staff.name).where(Staff.login == event.actor)).first()
    before, after = event.before or {}, event.after or {}
    ended = after.get("sessions_ended")
    return LastUnlink(
        event=event.id,
        at=event.at,
        actor=event.actor,
        actor_name=name or None,
        comment=event.comment or "",
        oid_masked=str(before["oid"]) if before.get("oid") else None,
        sessions_ended=ended if isinstance(ended, int) else None,
    )
