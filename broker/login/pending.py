"""The login through ESIA: start it, take ESIA's answer, decide, and record the attempt.

A pending login lives in the database (any broker instance can finish it), single use,
short-lived, and bound to the browser by an ``HttpOnly`` cookie whose value only the browser
has (the table keeps its HMAC). Every attempt, whatever its end, becomes a ``login_attempts``
row with a short reference code and the decision's masked trace.

This is the hot path of every login, so it speaks SQL through Core statements built once
(``RETURNING`` where a row is both changed and read). Who commits: the steps that stand alone
commit themselves (``start``, the link ticket's issue and redemption, ``refusal_attempt``, and
``claim``, which must be committed before ESIA is called, so that no transaction is held open
across the calls); the rest (``record``, ``set_stage``, ``drop``, ``link_accounts``,
``set_attempt_account``) write into the view's transaction, which commits once per step of
the person's way.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

import matching
from broker import services
from broker.login import decisions
from broker.config import LOGIN_COOKIE
from broker.extensions import db
from broker.keyring import Keyring
from broker.db.models import EsiaLink, LoginAttempt, PendingLogin
from broker.oidc.sessions import as_utc
from providers import AuthorizationRequest, EsiaContacts, ProviderError

_PENDING = PendingLogin.__table__
_ATTEMPTS = LoginAttempt.__table__
_LINKS = EsiaLink.__table__
#: One ``start`` in this many also deletes the expired pending logins (an indexed range delete).
SWEEP_EVERY = 64

# The statements every login runs, built once: SQLAlchemy then skips building them and finds
# their compiled form by a cache key memoised on the statement object.
_INSERT_PENDING = insert(_PENDING)
_SWEEP_PENDING = delete(_PENDING).where(_PENDING.c.expires_at < bindparam("now"))
_CLAIM_PENDING = (
    update(_PENDING)
    .where(
        _PENDING.c.state == bindparam("key"),
        _PENDING.c.browser_digest.in_(bindparam("digests", expanding=True)),
        _PENDING.c.consumed_at.is_(None),
        _PENDING.c.expires_at > bindparam("now"),
    )
    .values(consumed_at=bindparam("now"))
    .returning(*_PENDING.c)
)
_STAGE_PENDING = update(_PENDING).where(_PENDING.c.state == bindparam("key")).values(stage=bindparam("new_stage"))
_DROP_PENDING = delete(_PENDING).where(_PENDING.c.state == bindparam("key"))
_INSERT_ATTEMPT = insert(_ATTEMPTS)

log = logging.getLogger(__name__)

BINDING_COOKIE = LOGIN_COOKIE  # its plain name: broker.web.cookies names it on the wire
# Crockford's base32 without I, L, O, U: read aloud over the phone without confusion.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class Started:
    url: str  # where to send the browser (ESIA)
    state: str  # ESIA's state: the pending login's key
    binding: str  # the browser's secret that ties the pending login to it (kept as an HMAC)


@dataclass(frozen=True, slots=True)
class Pending:
    """A pending login as read from its row."""

    state: str
    browser_digest: str
    client_id: str
    portal_request: dict[str, Any]
    region: str
    link_account: str | None
    esia_nonce: str
    esia_code_verifier: str | None
    created_at: datetime
    expires_at: datetime
    consumed_at: datetime | None
    stage: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Any) -> Pending:
        return cls(**{name: getattr(row, name) for name in cls.__slots__})  # type: ignore[attr-defined]

    @property
    def flow(self) -> str:
        """``link`` (the link flow, for one account) or ``login``."""
        return "link" if self.link_account else "login"


@dataclass(frozen=True, slots=True)
class Attempt:
    """The recorded attempt: its row id and the reference code the person sees."""

    id: int
    reference: str


@dataclass(frozen=True, slots=True)
class Finished:
    """What the callback learned: the pending login, the attempt and, if ESIA answered, more."""

    pending: Pending
    attempt: Attempt
    reason: matching.Reason | None  # the refusal's reason (the decision's, or the ESIA step's)
    decision: matching.Decision | None
    oid: str | None = None
    contacts: EsiaContacts | None = None
    tier: str | None = None
    amr: str = "PWD"
    auth_time: float | None = None  # when ESIA last asked the person to authenticate, if it said


def _keys() -> Keyring:
    """The per-purpose keys (broker/keyring.py): digests are made under the current key of
    their purpose and accepted under its fallbacks too (rotation)."""
    return services.current().keyring


def new_reference() -> str:
    code = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


def start(client_id: str, portal_request: dict[str, str], region: str, link_account: str | None = None) -> Started:
    """Create a pending login and the ESIA authorization URL to send the browser to."""
    request = services.current().esia.authorize()
    binding = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    if secrets.randbelow(SWEEP_EVERY) == 0:  # keep the table small without a statement per login
        db.session.execute(_SWEEP_PENDING, {"now": now})
    _insert_pending(request, _keys().browser_binding.digest(binding), client_id, portal_request, region, link_account,
                    now, current_app.config["PENDING_LOGIN_SECONDS"])  # fmt: skip
    db.session.commit()
    return Started(url=request.url, state=request.state, binding=binding)


def _insert_pending(
    request: AuthorizationRequest,
    browser_digest: str,
    client_id: str,
    portal_request: dict[str, Any],
    region: str,
    link_account: str | None,
    now: datetime,
    seconds: float,
) -> None:
    db.session.execute(
        _INSERT_PENDING,
        dict(
            state=request.state,
            browser_digest=browser_digest,
            client_id=client_id,
            portal_request=portal_request,
            region=region,
            link_account=link_account,
            esia_nonce=request.nonce,
            esia_code_verifier=request.code_verifier,
            created_at=now,
            expires_at=now + timedelta(seconds=seconds),
            consumed_at=None,
            stage=None,
        ),
    )


LINK_TICKET_SECONDS = 120


def issue_link_ticket(client_id: str, account_id: str, region: str, return_to: str) -> tuple[str, str]:
    """The link flow's first step, asked by the portal for a person signed in with a password.

    Returns (state, ticket): the portal sends the browser to ``/auth/link`` with both. The
    ticket is single use and short-lived; the pending login is bound to the browser that
    redeems it.
    """
    request = services.current().esia.authorize()
    ticket = secrets.token_urlsafe(32)
    portal_request = {"return_to": return_to, "esia_url": request.url}
    _insert_pending(request, _keys().link_ticket.digest(ticket), client_id, portal_request, region, account_id,
                    datetime.now(timezone.utc), LINK_TICKET_SECONDS)  # fmt: skip
    db.session.commit()
    return request.state, ticket


def redeem_link_ticket(state: str | None, ticket: str | None) -> tuple[Pending, str] | None:
    """Bind the link flow's pending login to this browser; return it and the browser's secret."""
    if not state or not ticket or len(state) > 64:
        return None
    binding = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    row = db.session.execute(
        update(_PENDING)
        .where(
            _PENDING.c.state == state,
            _PENDING.c.browser_digest.in_(_keys().link_ticket.digests(ticket)),
            _PENDING.c.link_account.is_not(None),
            _PENDING.c.consumed_at.is_(None),
            _PENDING.c.expires_at > now,
        )
        .values(
            browser_digest=_keys().browser_binding.digest(binding),
            expires_at=now + timedelta(seconds=current_app.config["PENDING_LOGIN_SECONDS"]),
        )
        .returning(*_PENDING.c)
    ).first()
    db.session.commit()
    return (Pending.from_row(row), binding) if row is not None else None


def claim(state: str | None, binding: str | None) -> Pending | None:
    """The pending login ESIA's callback names, if this browser started it; single use.

    ``None`` for an unknown, expired, replayed or foreign ``state`` (and nothing is changed).
    The claim is committed at once: the calls to ESIA that follow must not hold a transaction.
    """
    if not state or not binding or len(state) > 64:
        return None
    now = datetime.now(timezone.utc)
    digests = list(_keys().browser_binding.digests(binding))
    row = db.session.execute(_CLAIM_PENDING, {"key": state, "digests": digests, "now": now}).first()
    db.session.commit()
    return Pending.from_row(row) if row is not None else None


def staged(state: str | None, binding: str | None) -> Pending | None:
    """A claimed pending login that is waiting on one of the broker's pages."""
    if not state or not binding:
        return None
    row = db.session.execute(select(*_PENDING.c).where(_PENDING.c.state == state)).first()
    if (
        row is None
        or row.stage is None
        or not _keys().browser_binding.verify(binding, row.browser_digest)
        or as_utc(row.expires_at) <= datetime.now(timezone.utc)
    ):
        return None
    return Pending.from_row(row)


def set_stage(pending: Pending, stage: dict[str, Any]) -> Pending:
    """Keep what the person still has to do here (the view commits)."""
    db.session.execute(_STAGE_PENDING, {"key": pending.state, "new_stage": stage})
    return dataclasses.replace(pending, stage=stage)


def advance_stage(pending: Pending, stage: dict[str, Any], *, outcome: str, tries: int) -> Pending | None:
    """Replace the stage only if it is still ``outcome`` with ``tries`` tries (the view commits).

    A compare-and-set: of two submissions of one page racing, one wins and the other gets None
    (on PostgreSQL the loser waits for the winner's row lock, then finds the stage changed), so
    neither can undo the other's step (a wrong code's count overwriting a just-set ``linked``).
    """
    changed = db.session.execute(
        update(_PENDING)
        .where(
            _PENDING.c.state == pending.state,
            _PENDING.c.stage["outcome"].as_string() == outcome,
            _PENDING.c.stage["tries"].as_integer() == tries,
        )
        .values(stage=stage)
    ).rowcount
    return dataclasses.replace(pending, stage=stage) if changed == 1 else None


def drop(pending: Pending) -> None:
    """Forget a pending login (the view commits)."""
    db.session.execute(_DROP_PENDING, {"key": pending.state})



def finish(pending: Pending, args: dict[str, str]) -> Finished:
    """Complete ESIA's part and decide; record the attempt whatever happens (the view commits)."""
    esia = services.current().esia
    request = AuthorizationRequest(
        url="", state=pending.state, nonce=pending.esia_nonce, code_verifier=pending.esia_code_verifier, timestamp=""
    )
    flow = pending.flow
    try:
        code = esia.parse_callback(args, request)
        tokens = esia.exchange_code(code, request)
        person, contacts = esia.fetch_profile(tokens)
    except ProviderError as exc:
        attempt = record(pending.client_id, pending.region, pending.created_at, flow, reason=exc.reason,
                         detail=exc.esia_code or exc.code)
        log.info("attempt %s: ESIA step failed: %s", attempt.reference, exc.code)
        return Finished(pending, attempt, exc.reason, None)
    decision = decisions.decide(
        person,
        pending.region,
        datetime.now(timezone.utc),
        link_account=matching.AccountId(pending.link_account) if pending.link_account else None,
    )
    attempt = record(
        pending.client_id,
        pending.region,
        pending.created_at,
        flow,
        decision=decision,
        oid=person.oid,
        snils_digest=snils_digest_of(person),
        tier=str(person.tier),
    )
    amr = tokens.amr[0] if tokens.amr else "PWD"
    return Finished(
        pending, attempt, decision.reason, decision, person.oid, contacts, str(person.tier), amr, tokens.auth_time
    )


def snils_digest_of(person: matching.Person) -> str | None:
    """The keyed digest of the SNILS ESIA gave for ``person``; None without one or if it is not valid."""
    if not person.snils:
        return None
    try:
        return services.current().registry.snils_digest(matching.parse_snils(person.snils))
    except matching.InvalidSnilsError:
        return None


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
) -> Attempt:
    """Write one attempt row (never a name, SNILS or token: the trace is masked already).

    It must be the first write of its transaction: a reference code that is already taken
    rolls the transaction back and draws again. The view commits.
    """
    now = datetime.now(timezone.utc)
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
        started_at=as_utc(started_at),
        finished_at=now,
        client_id=client_id,
        flow=flow,
        region=region or None,
        outcome=str(decision.outcome) if decision else str(matching.Outcome.REFUSED),
        reason=str(decision.reason) if decision and decision.reason else (str(reason) if reason else None),
        account_id=involved[0] if len(involved) == 1 else None,
        candidate_ids=involved,
        oid_digest=_keys().oid.digest(oid) if oid else None,
        snils_digest=snils_digest,
        tier=tier,
        age=decision.age if decision else None,
        trace=[check.as_dict() for check in decision.checks] if decision else [],
        detail=detail,
    )
    for _ in range(5):
        reference = new_reference()
        try:
            result = db.session.execute(_INSERT_ATTEMPT, {"reference": reference, **values})
        except IntegrityError:  # a reference code collision: draw again
            db.session.rollback()
            continue
        return Attempt(int(result.inserted_primary_key[0]), reference)
    raise RuntimeError("could not draw a unique attempt reference")


def set_attempt_account(attempt_id: int, account_id: str) -> None:
    """The account the person entered (after a chooser, the one chosen)."""
    db.session.execute(update(_ATTEMPTS).where(_ATTEMPTS.c.id == attempt_id).values(account_id=account_id))


def refusal_attempt(client_id: str, region: str | None, reason: matching.Reason, detail: str) -> Attempt:
    """Record an attempt that ended before a pending login existed or could be found (commits)."""
    attempt = record(client_id, region, datetime.now(timezone.utc), "login", reason=reason, detail=detail)
    db.session.commit()
    return attempt


def link_accounts(oid: str, account_ids: list[str], tier: str | None, source: str) -> list[str]:
    """Record that ESIA person ``oid`` holds these accounts (first login or link flow).

    Returns the accounts that turned out to be linked to another person meanwhile (between the
    decision and now): they keep their link, and the caller must not sign anyone in to them.
    The view commits.
    """
    now = datetime.now(timezone.utc)
    taken = []
    for account_id in account_ids:
        current = db.session.execute(select(_LINKS.c.oid).where(_LINKS.c.account_id == account_id)).scalar()
        if current is None:
            db.session.execute(
                insert(_LINKS).values(account_id=account_id, oid=oid, tier=tier, source=source, linked_at=now)
            )
        elif current == oid:
            db.session.execute(update(_LINKS).where(_LINKS.c.account_id == account_id).values(tier=tier))
        else:
            taken.append(account_id)
    return taken


def is_waiting_for_invite(finished: Finished) -> bool:
    """The decision asks for the school's invite code for one of the accounts it names."""
    decision = finished.decision
    return (
        decision is not None
        and decision.reason is matching.Reason.INVITE_CODE_REQUIRED
        and bool(decision.account_ids)
        and not finished.pending.link_account  # the link flow never asks (the password proved the account)
    )


def settle_invited_attempt(attempt_id: int, account_id: str) -> None:
    """The attempt that waited for an invite code now links ``account_id``: its outcome, and one
    more check in its trace saying why (the view commits)."""
    trace = db.session.execute(select(_ATTEMPTS.c.trace).where(_ATTEMPTS.c.id == attempt_id)).scalar() or []
    check = matching.Check("invite_code", matching.CheckResult.PASS,
                           "the school's invite code for this account was entered", (), matching.AccountId(account_id))  # fmt: skip
    db.session.execute(
        update(_ATTEMPTS)
        .where(_ATTEMPTS.c.id == attempt_id)
        .values(outcome=str(matching.Outcome.LINKED), reason=None, account_id=account_id, candidate_ids=[account_id],
                trace=[*trace, check.as_dict()], finished_at=datetime.now(timezone.utc))
    )  # fmt: skip


def refuse_invited_attempt(attempt_id: int, detail: str) -> None:
    """The attempt that waited for an invite code ends without one: refused ``invite_code_invalid``,
    with one more check in its trace; the same row, so one login stays one attempt (the view commits)."""
    check = matching.Check("invite_code", matching.CheckResult.FAIL, f"no valid invite code was entered ({detail})")
    refuse_attempt(attempt_id, matching.Reason.INVITE_CODE_INVALID, detail, check)


def reference_of(attempt_id: int) -> str:
    """The reference code of attempt ``attempt_id`` (the one the person reads out to support)."""
    return str(db.session.execute(select(_ATTEMPTS.c.reference).where(_ATTEMPTS.c.id == attempt_id)).scalar_one())


def refuse_attempt(attempt_id: int, reason: matching.Reason, detail: str, check: matching.Check) -> None:
    """An attempt recorded with its decision ends refused after all, for ``reason``: the same row,
    with ``check`` added to its trace saying why (the view commits)."""
    trace = db.session.execute(select(_ATTEMPTS.c.trace).where(_ATTEMPTS.c.id == attempt_id)).scalar() or []
    db.session.execute(
        update(_ATTEMPTS)
        .where(_ATTEMPTS.c.id == attempt_id)
        .values(outcome=str(matching.Outcome.REFUSED), reason=str(reason), detail=detail,
                trace=[*trace, check.as_dict()], finished_at=datetime.now(timezone.utc))
    )  # fmt: skip


def stage_data(finished: Finished) -> dict[str, Any]:
    """What the broker's pages need after the decision (kept server-side until done)."""
    if finished.decision is None or finished.oid is None:
        raise ValueError("only a decided login has a stage")
    contacts = finished.contacts or EsiaContacts()
    return {
        "attempt_id": finished.attempt.id,
        "outcome": str(finished.decision.outcome),
        "account_ids": list(finished.decision.account_ids),
        "oid": finished.oid,
        "tier": finished.tier,
        "amr": finished.amr,
        "auth_time": finished.auth_time,
        "email": contacts.email,
        "mobile": contacts.mobile,
    }
