"""Pending logins: what the broker keeps of a login between the person's steps.

A pending login lives where every broker instance finds it (the database, or Redis), single
use, short-lived, and bound to the browser by an ``HttpOnly`` cookie whose value only the
browser has (the store keeps its HMAC). Once ESIA has answered and the engine has decided, the login
may still wait on one of the broker's own pages (the chooser, the invite code, the contacts):
what those pages need is its :class:`Stage`, kept in the row's ``stage`` column.

A login that ends refused is not forgotten at once: its row keeps the refusal (:class:`Ended`:
the reason and the attempt's reference code, no personal data) for ``REFUSAL_KEPT_SECONDS``, so
that the same browser reloading the callback (or coming back to it) sees the same refusal, and
the page can still answer the portal's authorization request (its redirect URI and state are
in the row). Only the browser whose binding cookie matches the row ever sees it.

Where the rows live is the :class:`PendingLogins` port's business, chosen once in the composition
root (``broker.wiring``): the database by default (``broker.login.sqlstore``), or Redis when
``REDIS_URL`` is set (``broker.login.redisstore``, docs/adr/0022). Nothing here commits: every
function writes into the unit of work of the login step that calls it (the database's transaction;
Redis's writes are applied with its commit and undone if it rolls back), and ``broker.login.flow``
commits once per step of the person's way.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import insert, select, update

from broker import services
from broker.config import LOGIN_COOKIE
from broker.db.models import EsiaLink
from broker.extensions import db
from broker.keyring import Keyring
from broker.web import logs
from providers import AuthorizationRequest

_LINKS = EsiaLink.__table__
#: One ``start`` in this many also deletes the expired pending logins (the database's store only).
SWEEP_EVERY = 64

BINDING_COOKIE = LOGIN_COOKIE  # its plain name: broker.web.cookies names it on the wire


@dataclass(frozen=True, slots=True)
class Started:
    url: str  # where to send the browser (ESIA)
    state: str  # ESIA's state: the pending login's key
    binding: str  # the browser's secret that ties the pending login to it (kept as an HMAC)


class Step(StrEnum):
    """Which of the broker's pages a decided login waits on (the values are the stored ``outcome``)."""

    CHOOSE_ACCOUNT = "choose_account"  # the chooser: the person holds several accounts
    INVITE_CODE = "invite_code"  # the school's invite code, before a child's first link
    CONFIRM = "linked"  # the first link: the person confirms contacts, then is signed in
    SIGN_IN = "signed_in"  # through an existing link: signed in at once (never stored)


@dataclass(frozen=True, slots=True)
class Stage:
    """What a decided login still needs on the broker's pages, kept server-side until done.

    Made from ESIA's answer and the decision at the callback; each page moves it on (the
    chooser narrows ``account_ids`` to one, the invite code adds ``invite_id``).
    """

    step: Step
    attempt_id: int  # the login's one attempt row
    account_ids: tuple[str, ...]  # the chooser's candidates, or the one account to link or enter
    oid: str  # the ESIA person
    tier: str | None
    amr: str | None
    auth_time: float | None  # when ESIA last asked the person to authenticate, if it said
    email: str | None  # the contacts ESIA gave
    mobile: str | None
    reference: str | None = None  # the attempt's reference code (None in stages stored before it was kept)
    tries: int = 0  # invite codes typed at this login
    invite_id: int | None = None  # the right invite code, spent with the link

    def to_json(self) -> dict[str, Any]:
        """The ``stage`` column's value (the one place a stage is written as JSON)."""
        stored: dict[str, Any] = {
            "outcome": str(self.step),
            "attempt_id": self.attempt_id,
            "account_ids": list(self.account_ids),
            "oid": self.oid,
            "tier": self.tier,
            "amr": self.amr,
            "auth_time": self.auth_time,
            "email": self.email,
            "mobile": self.mobile,
            "tries": self.tries,  # read by advance_stage's compare-and-set
        }
        if self.reference is not None:
            stored["reference"] = self.reference
        if self.invite_id is not None:
            stored["invite_id"] = self.invite_id
        return stored

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> Stage:
        """A stage as :meth:`to_json` wrote it (the one place a stage is read from JSON)."""
        return cls(
            step=Step(stored["outcome"]),
            attempt_id=int(stored["attempt_id"]),
            account_ids=tuple(stored["account_ids"]),
            oid=stored["oid"],
            tier=stored.get("tier"),
            amr=stored.get("amr"),
            auth_time=stored.get("auth_time"),
            email=stored.get("email"),
            mobile=stored.get("mobile"),
            reference=stored.get("reference"),
            tries=int(stored.get("tries") or 0),
            invite_id=stored.get("invite_id"),
        )


#: The ``stage`` column's ``outcome`` of a login that ended refused (:class:`Ended`).
REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Ended:
    """A login that ended refused, kept for its browser's reloads: the reason and the reference code."""

    reason: str
    reference: str
    other_person: bool = False  # the link flow met another person at ESIA (the page says so)

    def to_json(self) -> dict[str, Any]:
        return {"outcome": REFUSED, "reason": self.reason, "reference": self.reference, "other_person": self.other_person}


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
    stage: Stage | None
    ended: Ended | None = None  # the login ended refused (``stage`` is None then)

    @classmethod
    def from_row(cls, row: Any) -> Pending:
        values = {name: getattr(row, name) for name in cls.__slots__ if name != "ended"}
        stored = row.stage
        if stored is not None and stored.get("outcome") == REFUSED:
            values["stage"] = None
            values["ended"] = Ended(str(stored["reason"]), str(stored["reference"]), bool(stored.get("other_person")))
        else:
            values["stage"] = Stage.from_json(stored) if stored is not None else None
        return cls(**values)

    @property
    def flow(self) -> str:
        """``link`` (the link flow, for one account) or ``login``."""
        return "link" if self.link_account else "login"


class PendingLogins(Protocol):
    """Where pending logins are kept: a port with two adapters (``SqlPendingLogins``, ``RedisPendingLogins``).

    Each method is one statement's worth of work on one pending login, with the guarantees the
    functions above promise: ``claim``, ``redeem`` and ``advance`` are atomic compare-and-sets whose
    result is known at once; the other writes belong to the step's unit of work (seen by others
    once it commits, never if it rolls back). ``stage`` values are :meth:`Stage.to_json`'s (or
    :meth:`Ended.to_json`'s) dicts; instants are the service clock's.
    """

    def insert(self, row: dict[str, Any]) -> None:
        """Keep a new pending login (``row`` holds every field of :class:`Pending`, ``stage`` as JSON)."""

    def sweep(self, now: datetime) -> None:
        """Forget the pending logins expired before ``now`` (where nothing expires them by itself)."""

    def claim(self, state: str, digests: list[str], now: datetime) -> Pending | None:
        """Consume the unconsumed, unexpired login ``state`` if its browser digest is one of ``digests``."""

    def redeem(self, state: str, ticket_digests: list[str], browser_digest: str, now: datetime, expires_at: datetime) -> Pending | None:
        """Rebind the unconsumed, unexpired link ticket ``state`` to a browser, if its digest is one of ``ticket_digests``."""

    def find(self, state: str) -> Pending | None:
        """The login ``state`` as kept, whatever its state (the caller checks the binding and the expiry)."""

    def set_stage(self, state: str, stage: dict[str, Any]) -> None:
        """Replace the login's stage."""

    def end(self, state: str, ended: dict[str, Any], now: datetime, expires_at: datetime) -> None:
        """Keep the login's refusal until ``expires_at``; consumed now."""

    def advance(self, state: str, stage: dict[str, Any], step: str, tries: int, now: datetime) -> bool:
        """Replace the stage only if it is at ``step`` with ``tries`` tries; whether it was replaced."""

    def drop(self, state: str) -> None:
        """Forget the login."""

    def count_waiting(self, now: datetime) -> int:
        """How many logins are gone to ESIA and not back yet (unexpired, unclaimed): the metrics' gauge."""

    def unreachable(self) -> str | None:
        """Why the store cannot be used now (for ``/readyz``), or None when it answers."""


def _store() -> PendingLogins:
    return services.current().pending_logins


def _keys() -> Keyring:
    """The per-purpose keys (broker/keyring.py): digests are made under the current key of
    their purpose and accepted under its fallbacks too (rotation)."""
    return services.current().keyring


def start(client_id: str, portal_request: dict[str, str], region: str, link_account: str | None = None) -> Started:
    """Create a pending login and the ESIA authorization URL to send the browser to."""
    request = services.current().esia.authorize()
    binding = secrets.token_urlsafe(32)
    now = services.current().clock()
    if secrets.randbelow(SWEEP_EVERY) == 0:  # keep the table small without a statement per login
        _store().sweep(now)
    _insert_pending(request, _keys().browser_binding.digest(binding), client_id, portal_request, region, link_account,
                    now, current_app.config["PENDING_LOGIN_SECONDS"])  # fmt: skip
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
    _store().insert(
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
    ticket is single use and short-lived. Nothing is signed yet: the browser that redeems the
    ticket gets a pending login of its own, with ESIA's authorization request made (and signed)
    then, so that a failing signer is that browser's page, not the portal's 500.
    """
    ticket = secrets.token_urlsafe(32)
    request = AuthorizationRequest(url="", state=secrets.token_urlsafe(32), nonce="-", code_verifier=None, timestamp="")
    _insert_pending(request, _keys().link_ticket.digest(ticket), client_id, {"return_to": return_to}, region, account_id,
                    services.current().clock(), LINK_TICKET_SECONDS)  # fmt: skip
    return request.state, ticket


def redeem_link_ticket(state: str | None, ticket: str | None) -> tuple[Pending, str] | None:
    """Bind the link flow's pending login to this browser; return it and the browser's secret."""
    if not state or not ticket or len(state) > 64:
        return None
    binding = secrets.token_urlsafe(32)
    now = services.current().clock()
    redeemed = _store().redeem(state, list(_keys().link_ticket.digests(ticket)), _keys().browser_binding.digest(binding), now,
                               now + timedelta(seconds=current_app.config["PENDING_LOGIN_SECONDS"]))  # fmt: skip
    return (redeemed, binding) if redeemed is not None else None


def claim(state: str | None, binding: str | None) -> Pending | None:
    """The pending login ESIA's callback names, if this browser started it; single use.

    ``None`` for an unknown, expired, replayed or foreign ``state`` (and nothing is changed).
    The caller commits the claim at once: the calls to ESIA that follow must not hold a transaction.
    """
    if not state or not binding or len(state) > 64:
        return None
    now = services.current().clock()
    digests = list(_keys().browser_binding.digests(binding))
    return _store().claim(state, digests, now)


def staged(state: str | None, binding: str | None) -> Pending | None:
    """A claimed pending login that is waiting on one of the broker's pages."""
    if not state or not binding:
        return None
    login = _store().find(state)
    if (
        login is None
        or login.stage is None
        or not _keys().browser_binding.verify(binding, login.browser_digest)
        or login.expires_at <= services.current().clock()
    ):
        return None
    if login.stage is not None and login.stage.reference is not None:
        logs.note(reference=login.stage.reference)  # the later pages' log lines name their login too
    return login


def end(pending: Pending, ended: Ended) -> None:
    """The login ended refused: keep the refusal (and the portal's request) for this browser's
    reloads, for ``REFUSAL_KEPT_SECONDS``; it can never be claimed or staged again."""
    now = services.current().clock()
    _store().end(pending.state, ended.to_json(), now, now + timedelta(seconds=int(current_app.config["REFUSAL_KEPT_SECONDS"])))


def refused_at_start(client_id: str, portal_request: dict[str, str], region: str, ended: Ended) -> tuple[str, str]:
    """A login refused before ESIA (its region is off): a row that only keeps the refusal and the
    portal's request for this browser's reloads; returns (state, binding) for its cookie."""
    state, binding = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = services.current().clock()
    _store().insert(
        dict(state=state, browser_digest=_keys().browser_binding.digest(binding), client_id=client_id,
             portal_request=portal_request, region=region, link_account=None, esia_nonce="-", esia_code_verifier=None,
             created_at=now, expires_at=now + timedelta(seconds=int(current_app.config["REFUSAL_KEPT_SECONDS"])),
             consumed_at=now, stage=ended.to_json()),
    )  # fmt: skip
    return state, binding


def ended(state: str | None, binding: str | None) -> Pending | None:
    """The login ``state`` if it ended refused and ``binding`` is the secret of the browser that
    started it (None for any other browser, or once the refusal is no longer kept)."""
    if not state or not binding or len(state) > 64:
        return None
    login = _store().find(state)
    if login is None or login.expires_at <= services.current().clock():
        return None
    if not _keys().browser_binding.verify(binding, login.browser_digest):
        return None
    return login if login.ended is not None else None


def set_stage(pending: Pending, stage: Stage) -> Pending:
    """Keep what the person still has to do here."""
    _store().set_stage(pending.state, stage.to_json())
    return dataclasses.replace(pending, stage=stage)


def advance_stage(pending: Pending, stage: Stage, *, step: Step, tries: int) -> Pending | None:
    """Replace the stage only if it is still at ``step`` with ``tries`` tries.

    A compare-and-set: of two submissions of one page racing, one wins and the other gets None
    (on PostgreSQL the loser waits for the winner's row lock, then finds the stage changed; in
    Redis the winner holds the login until its step ends, and the loser fails at once), so
    neither can undo the other's step (a wrong code's count overwriting a just-set ``linked``).
    """
    changed = _store().advance(pending.state, stage.to_json(), str(step), tries, services.current().clock())
    return dataclasses.replace(pending, stage=stage) if changed else None


def drop(pending: Pending) -> None:
    """Forget a pending login."""
    _store().drop(pending.state)


def link_accounts(oid: str, account_ids: list[str], tier: str | None, source: str) -> list[str]:
    """Record that ESIA person ``oid`` holds these accounts (first login or link flow).

    Returns the accounts that turned out to be linked to another person meanwhile (between the
    decision and now): they keep their link, and the caller must not sign anyone in to them.
    """
    now = services.current().clock()
    taken = []
    for account_id in account_ids:
        current = db.session.execute(select(_LINKS.c.oid).where(_LINKS.c.account_id == account_id)).scalar()
        if current is None:
            db.session.execute(insert(_LINKS).values(account_id=account_id, oid=oid, tier=tier, source=source, linked_at=now))
        elif current == oid:
            db.session.execute(update(_LINKS).where(_LINKS.c.account_id == account_id).values(tier=tier))
        else:
            taken.append(account_id)
    return taken
