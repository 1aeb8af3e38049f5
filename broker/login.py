"""The login through ESIA: start it, take ESIA's answer, decide, and record the attempt.

A pending login lives in the database (any broker instance can finish it), single use,
short-lived, and bound to the browser by an ``HttpOnly`` cookie whose value only the browser
has (the table keeps its HMAC). Every attempt, whatever its end, becomes a ``login_attempts``
row with a short reference code and the decision's masked trace.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import current_app
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

import matching
from broker import decisions, services
from broker.extensions import db
from broker.models import EsiaLink, LoginAttempt, PendingLogin
from broker.sessions import as_utc
from providers import AuthorizationRequest, EsiaContacts, ProviderError

log = logging.getLogger(__name__)

BINDING_COOKIE = "broker_login"
# Crockford's base32 without I, L, O, U: read aloud over the phone without confusion.
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class Started:
    url: str  # where to send the browser (ESIA)
    state: str  # ESIA's state: the pending login's key
    binding: str  # the browser's secret that ties the pending login to it (kept as an HMAC)


@dataclass(frozen=True, slots=True)
class Finished:
    """What the callback learned: the pending login, the attempt and, if ESIA answered, more."""

    pending: PendingLogin
    attempt: LoginAttempt
    decision: matching.Decision | None
    oid: str | None = None
    contacts: EsiaContacts | None = None
    tier: str | None = None
    amr: str = "PWD"


def keyed(value: str) -> str:
    """HMAC of a value the database must be able to compare but not reveal."""
    return hmac.new(str(current_app.config["SECRET_KEY"]).encode(), value.encode(), hashlib.sha256).hexdigest()


def new_reference() -> str:
    code = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


def start(client_id: str, portal_request: dict[str, str], region: str, link_account: str | None = None) -> Started:
    """Create a pending login and the ESIA authorization URL to send the browser to."""
    request = services.current().esia.authorize()
    binding = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    db.session.execute(delete(PendingLogin).where(PendingLogin.expires_at < now))  # keep the table small
    db.session.add(
        PendingLogin(
            state=request.state,
            browser_digest=keyed(binding),
            client_id=client_id,
            portal_request=portal_request,
            region=region,
            link_account=link_account,
            esia_nonce=request.nonce,
            esia_code_verifier=request.code_verifier,
            created_at=now,
            expires_at=now + timedelta(seconds=current_app.config["PENDING_LOGIN_SECONDS"]),
        )
    )
    db.session.commit()
    return Started(url=request.url, state=request.state, binding=binding)


LINK_TICKET_SECONDS = 120


def issue_link_ticket(client_id: str, account_id: str, region: str, return_to: str) -> tuple[str, str]:
    """The link flow's first step, asked by the portal for a person signed in with a password.

    Returns (state, ticket): the portal sends the browser to ``/auth/link`` with both. The
    ticket is single use and short-lived; the pending login is bound to the browser that
    redeems it.
    """
    request = services.current().esia.authorize()
    ticket = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    db.session.add(
        PendingLogin(
            state=request.state,
            browser_digest=keyed("ticket:" + ticket),
            client_id=client_id,
            portal_request={"return_to": return_to, "esia_url": request.url},
            region=region,
            link_account=account_id,
            esia_nonce=request.nonce,
            esia_code_verifier=request.code_verifier,
            created_at=now,
            expires_at=now + timedelta(seconds=LINK_TICKET_SECONDS),
        )
    )
    db.session.commit()
    return request.state, ticket


def redeem_link_ticket(state: str | None, ticket: str | None) -> tuple[PendingLogin, str] | None:
    """Bind the link flow's pending login to this browser; return it and the browser's secret."""
    if not state or not ticket or len(state) > 64:
        return None
    binding = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    bound = db.session.execute(
        update(PendingLogin)
        .where(
            PendingLogin.state == state,
            PendingLogin.browser_digest == keyed("ticket:" + ticket),
            PendingLogin.link_account.is_not(None),
            PendingLogin.consumed_at.is_(None),
            PendingLogin.expires_at > now,
        )
        .values(
            browser_digest=keyed(binding),
            expires_at=now + timedelta(seconds=current_app.config["PENDING_LOGIN_SECONDS"]),
        )
    )
    db.session.commit()
    if bound.rowcount != 1:
        return None
    pending = db.session.get(PendingLogin, state)
    return (pending, binding) if pending is not None else None


def claim(state: str | None, binding: str | None) -> PendingLogin | None:
    """The pending login ESIA's callback names, if this browser started it; single use.

    ``None`` for an unknown, expired, replayed or foreign ``state`` (and nothing is changed).
    """
    if not state or not binding or len(state) > 64:
        return None
    now = datetime.now(timezone.utc)
    claimed = db.session.execute(
        update(PendingLogin)
        .where(
            PendingLogin.state == state,
            PendingLogin.browser_digest == keyed(binding),
            PendingLogin.consumed_at.is_(None),
            PendingLogin.expires_at > now,
        )
        .values(consumed_at=now)
    )
    db.session.commit()
    if claimed.rowcount != 1:
        return None
    return db.session.get(PendingLogin, state)


def staged(state: str | None, binding: str | None) -> PendingLogin | None:
    """A claimed pending login that is waiting on one of the broker's pages."""
    if not state or not binding:
        return None
    pending = db.session.get(PendingLogin, state)
    if (
        pending is None
        or pending.stage is None
        or not hmac.compare_digest(pending.browser_digest, keyed(binding))
        or as_utc(pending.expires_at) <= datetime.now(timezone.utc)
    ):
        return None
    return pending


def finish(pending: PendingLogin, args: dict[str, str]) -> Finished:
    """Complete ESIA's part and decide; record the attempt whatever happens."""
    esia = services.current().esia
    request = AuthorizationRequest(
        url="", state=pending.state, nonce=pending.esia_nonce, code_verifier=pending.esia_code_verifier, timestamp=""
    )
    flow = "link" if pending.link_account else "login"
    try:
        code = esia.parse_callback(args, request)
        tokens = esia.exchange_code(code, request)
        person = esia.fetch_person(tokens)
        contacts = esia.fetch_contacts(tokens) if flow == "login" else EsiaContacts()
    except ProviderError as exc:
        log.info("[%s] ESIA step failed: %s", pending.state[:8], exc.code)
        attempt = record(pending.client_id, pending.region, pending.created_at, flow, reason=exc.reason,
                         detail=exc.esia_code or exc.code)
        return Finished(pending, attempt, None)
    decision = decisions.decide(
        person,
        pending.region,
        datetime.now(timezone.utc),
        link_account=matching.AccountId(pending.link_account) if pending.link_account else None,
    )
    snils_digest = None
    if person.snils:
        try:
            snils_digest = services.current().registry.snils_digest(matching.parse_snils(person.snils))
        except matching.InvalidSnilsError:
            pass
    attempt = record(
        pending.client_id,
        pending.region,
        pending.created_at,
        flow,
        decision=decision,
        oid=person.oid,
        snils_digest=snils_digest,
        tier=str(person.tier),
    )
    amr = tokens.amr[0] if tokens.amr else "PWD"
    return Finished(pending, attempt, decision, person.oid, contacts, str(person.tier), amr)


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
) -> LoginAttempt:
    """Write one attempt row (never a name, SNILS or token: the trace is masked already)."""
    now = datetime.now(timezone.utc)
    for _ in range(5):
        attempt = LoginAttempt(
            reference=new_reference(),
            started_at=as_utc(started_at),
            finished_at=now,
            client_id=client_id,
            flow=flow,
            region=region or None,
            outcome=str(decision.outcome) if decision else str(matching.Outcome.REFUSED),
            reason=str(decision.reason) if decision and decision.reason else (str(reason) if reason else None),
            account_id=decision.account_ids[0] if decision and len(decision.account_ids) == 1 else None,
            candidate_ids=list(decision.account_ids) if decision else [],
            oid_digest=keyed(oid) if oid else None,
            snils_digest=snils_digest,
            tier=tier,
            age=decision.age if decision else None,
            trace=[check.as_dict() for check in decision.checks] if decision else [],
            detail=detail,
        )
        db.session.add(attempt)
        try:
            db.session.commit()
            return attempt
        except IntegrityError:  # a reference code collision: draw again
            db.session.rollback()
    raise RuntimeError("could not draw a unique attempt reference")


def refusal_attempt(client_id: str, region: str | None, reason: matching.Reason, detail: str) -> LoginAttempt:
    """Record an attempt that ended before a pending login existed or could be found."""
    return record(client_id, region, datetime.now(timezone.utc), "login", reason=reason, detail=detail)


def link_accounts(oid: str, account_ids: list[str], tier: str | None, source: str) -> None:
    """Record that ESIA person ``oid`` holds these accounts (first login or link flow)."""
    now = datetime.now(timezone.utc)
    for account_id in account_ids:
        link = db.session.get(EsiaLink, account_id)
        if link is None:
            db.session.add(EsiaLink(account_id=account_id, oid=oid, tier=tier, source=source, linked_at=now))
        elif link.oid == oid:
            link.tier = tier
    db.session.flush()


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
        "email": contacts.email,
        "mobile": contacts.mobile,
    }
