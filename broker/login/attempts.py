"""Login attempts: one row per login, whatever its end, with a short reference code and the masked trace.

The person reads the reference code out to support (Crockford's base32, read aloud without
confusion); support finds the row by it and sees the decision field by field, masked. Nothing
here commits except ``refusal_attempt`` (an attempt that is a whole unit of work by itself): the
rest writes into the transaction of the login step that calls it (``broker.login.flow``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

import matching
from broker import services
from broker.db.dml import execute_dml
from broker.db.models import LoginAttempt
from broker.extensions import db

_ATTEMPTS = LoginAttempt.__table__
# Built once, as every login runs it (see broker.login.pending).
_INSERT_ATTEMPT = insert(_ATTEMPTS)

# Crockford's base32 without I, L, O, U: read aloud over the phone without confusion.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: ``detail`` of an attempt the person ended with «Это не я» (its outcome stays as decided; never completed).
NOT_ME = "not_me"
#: ``detail`` of a link flow refused because another person was signed in to ESIA (a parent for a
#: child): the refusal page says so instead of the reason's words, and support shows the same.
ANOTHER_PERSON = "another_person_at_esia"
#: ``detail`` of a lean row (:func:`record` with ``signed_in_by_link``): a sign-in through a link
#: the person already had, completed at ESIA's callback; its checks all passed and are not kept.
BY_LINK = "signed_in_by_link"


@dataclass(frozen=True, slots=True)
class Attempt:
    """The recorded attempt: its row id and the reference code the person sees."""

    id: int
    reference: str


def new_reference() -> str:
    code = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


def record(
    client_id: str,
    region: str | None,
    started_at: datetime,
    flow: str,
    *,
    decision: matching.Decision | None = None,
    reason: matching.Reason | None = None,
    detail: str | None = None,
    oid: str | None = None,
    snils_digest: str | None = None,
    tier: str | None = None,
    signed_in_by_link: bool = False,
) -> Attempt:
    """Write one attempt row (never a name, SNILS or token: the trace is masked already).

    It must be the first write of its transaction: a reference code that is already taken
    rolls the transaction back and draws again. The login step commits.

    ``signed_in_by_link``: the decision signs the person in through the link they already have,
    and the caller signs them in within this transaction: the row is written completed (no
    UPDATE later) and lean (docs/adr/0023): outcome, times, portal, region, flow, the account,
    the oid's digest, tier and age, ``detail`` :data:`BY_LINK`; no trace, candidates or SNILS
    digest. Every check of such a login passed, and the link it went through is the evidence
    that stays (``esia_links``); a first link, a chooser and every refusal keep the whole trace.
    """
    now = services.current().clock()
    if signed_in_by_link and (decision is None or decision.reason is not None or decision.outcome is not matching.Outcome.SIGNED_IN):
        raise ValueError("only a decision that signs the person in is recorded as a sign-in through a link")
    # The accounts the attempt concerns: a granted login's are the decision's (the one entered,
    # or the chooser's candidates); a refusal's are the ones its checks compared, so that
    # support finds a refusal by the account it was about.
    if decision is None:
        involved: list[str] = []
    elif decision.reason is None:
        involved = list(decision.account_ids)
    else:
        involved = list(dict.fromkeys([*decision.account_ids, *(c.account_id for c in decision.checks if c.account_id)]))
    values = dict(
        started_at=started_at,
        finished_at=now,
        client_id=client_id,
        flow=flow,
        region=region or None,
        outcome=str(decision.outcome) if decision else str(matching.Outcome.REFUSED),
        reason=str(decision.reason) if decision and decision.reason else (str(reason) if reason else None),
        account_id=involved[0] if len(involved) == 1 else None,
        candidate_ids=involved,
        oid_digest=services.current().keyring.oid.digest(oid) if oid else None,
        snils_digest=snils_digest,
        tier=tier,
        age=decision.age if decision else None,
        trace=[check.as_dict() for check in decision.checks] if decision and not signed_in_by_link else [],
        detail=detail,
    )
    if signed_in_by_link:
        values.update(candidate_ids=[], snils_digest=None, detail=BY_LINK, completed_at=now)
    for _ in range(5):
        reference = new_reference()
        try:
            result = execute_dml(db.session, _INSERT_ATTEMPT, {"reference": reference, **values})
        except IntegrityError:  # a reference code collision: draw again
            db.session.rollback()
            continue
        key = result.inserted_primary_key
        assert key is not None  # a single-row INSERT always reports the key it inserted
        return Attempt(int(key[0]), reference)
    raise RuntimeError("could not draw a unique attempt reference")


def snils_digest_of(person: matching.Person) -> str | None:
    """The keyed digest of the SNILS ESIA gave for ``person``; None without one or if it is not valid."""
    if not person.snils:
        return None
    try:
        return services.current().registry.snils_digest(matching.parse_snils(person.snils))
    except matching.InvalidSnilsError:
        return None


def complete_attempt(attempt_id: int, account_id: str | None = None) -> None:
    """The person got in: signed in to the diary (or, in the link flow, the link is written).

    Until then an attempt's outcome is only what the broker decided, and a first link never
    confirmed, a chooser never answered or «Это не я» is no success; the figures count the
    attempts marked here (``completed_at``). ``account_id``: the account entered, when the
    decision did not name it alone (after a chooser). One UPDATE, in the login step's commit.
    """
    values: dict[str, object] = {"completed_at": services.current().clock()}
    if account_id is not None:
        values["account_id"] = account_id
    db.session.execute(update(_ATTEMPTS).where(_ATTEMPTS.c.id == attempt_id).values(**values))


def set_detail(attempt_id: int, detail: str) -> None:
    """What the attempt's ``detail`` says of how it ended, e.g. the page variant the person saw (the login step commits)."""
    db.session.execute(update(_ATTEMPTS).where(_ATTEMPTS.c.id == attempt_id).values(detail=detail))


def refusal_attempt(client_id: str, region: str | None, reason: matching.Reason, detail: str) -> Attempt:
    """Record an attempt that ended before a pending login existed or could be found: a unit of
    work of its own, committed here."""
    attempt = record(client_id, region, services.current().clock(), "login", reason=reason, detail=detail)
    db.session.commit()
    return attempt


def refuse_attempt(attempt_id: int, reason: matching.Reason, detail: str, check: matching.Check) -> None:
    """An attempt recorded with its decision ends refused after all, for ``reason``: the same row,
    with ``check`` added to its trace saying why (the login step commits)."""
    trace = db.session.execute(select(_ATTEMPTS.c.trace).where(_ATTEMPTS.c.id == attempt_id)).scalar() or []
    db.session.execute(
        update(_ATTEMPTS)
        .where(_ATTEMPTS.c.id == attempt_id)
        .values(outcome=str(matching.Outcome.REFUSED), reason=str(reason), detail=detail,
                trace=[*trace, check.as_dict()], finished_at=services.current().clock())
    )  # fmt: skip


def refuse_invited_attempt(attempt_id: int, detail: str) -> None:
    """The attempt that waited for an invite code ends without one: refused ``invite_code_invalid``,
    with one more check in its trace; the same row, so one login stays one attempt (the login step commits)."""
    check = matching.Check("invite_code", matching.CheckResult.FAIL, f"no valid invite code was entered ({detail})")
    refuse_attempt(attempt_id, matching.Reason.INVITE_CODE_INVALID, detail, check)


def settle_invited_attempt(attempt_id: int, account_id: str) -> None:
    """The attempt that waited for an invite code now links ``account_id``: its outcome, and one
    more check in its trace saying why (the login step commits)."""
    trace = db.session.execute(select(_ATTEMPTS.c.trace).where(_ATTEMPTS.c.id == attempt_id)).scalar() or []
    check = matching.Check("invite_code", matching.CheckResult.PASS,
                           "the school's invite code for this account was entered", (), matching.AccountId(account_id))  # fmt: skip
    db.session.execute(
        update(_ATTEMPTS)
        .where(_ATTEMPTS.c.id == attempt_id)
        .values(outcome=str(matching.Outcome.LINKED), reason=None, account_id=account_id, candidate_ids=[account_id],
                trace=[*trace, check.as_dict()], finished_at=services.current().clock())
    )  # fmt: skip


def reference_of(attempt_id: int) -> str:
    """The reference code of attempt ``attempt_id`` (the one the person reads out to support)."""
    return str(db.session.execute(select(_ATTEMPTS.c.reference).where(_ATTEMPTS.c.id == attempt_id)).scalar_one())


def note_attempt(attempt_id: int, detail: str, check: matching.Check) -> None:
    """An attempt recorded with its decision ends on the person's word (``detail``), its outcome
    as decided: the same row, with ``check`` added to its trace (the login step commits)."""
    trace = db.session.execute(select(_ATTEMPTS.c.trace).where(_ATTEMPTS.c.id == attempt_id)).scalar() or []
    db.session.execute(
        update(_ATTEMPTS)
        .where(_ATTEMPTS.c.id == attempt_id)
        .values(detail=detail, trace=[*trace, check.as_dict()], finished_at=services.current().clock())
    )
