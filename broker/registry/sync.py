"""The diary's sync job: a batch of registry rows upserted all or nothing (the JSON API's door).

Each row goes through :class:`broker.registry.importer.RowParser`, the file import's validator, so the
two doors accept the same rows. On top of the file import's rules a batch is refused whole,
with one bad field each, when an id or a login is given twice, a login belongs to another
account, or a row would write (or take over, by its id) an account outside the regions the
caller may manage; an account outside them is never named, nor its region.

Links follow the file import's rule (:mod:`broker.registry.links`): a batch writes its rows'
``esia_oid`` only when it says ``allow_links``, never moves a link a person made, audits each link
it creates or moves against the batch's ``registry_upserted`` event, and a moved link ends the
account's live sessions. Otherwise the accounts are written and a warning names each ``esia_oid``
left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select

from broker import services
from broker.db.models import Account, AuditEvent
from broker.errors import BadField, InvalidFieldsError
from broker.extensions import db
from broker.oidc import refresh
from broker.regions import policies as regions
from broker.registry import importer
from broker.registry import links as registrylinks
from broker.staff import audit

Row = tuple[int, dict[str, Any], str | None]  # (index in the batch, account values, linked oid)
NOT_ALLOWED = "not linked: links are written only when the request says allow_links: true (the account itself was written)"


class BatchError(InvalidFieldsError):
    """The batch was refused: ``bad_fields`` names every bad field (``accounts.<index>.<field>``,
    in the batch's order); nothing was written. The API answers 422."""


@dataclass(frozen=True, slots=True)
class Upserted:
    written: int
    links: int
    warnings: list[BadField] = field(default_factory=list)


def upsert_batch(raws: Sequence[Mapping[str, Any]], *, may_manage: Callable[[str], bool], allow_links: bool = False) -> Upserted:
    """Validate and upsert ``raws`` in one transaction, audited, and commit it (the sync API's unit of work).

    ``may_manage(region)`` says whether the caller may write accounts of that region;
    ``allow_links`` whether the rows' ``esia_oid`` may create or move links.
    Raises :class:`BatchError` (nothing written) if any row is refused.
    """
    parser = importer.RowParser(
        regions=frozenset(region.code for region in regions.all_regions()),
        snils_key=services.current().snils_key,
        today=services.current().clock().date(),
    )
    rows: list[Row] = []
    problems: list[BadField] = []
    warnings: list[BadField] = []
    for index, raw in enumerate(raws):
        try:
            account, oid, warning = parser.parse(raw)
        except importer.RowError as exc:
            problems.append(_problem(index, exc.field, exc.why))
            continue
        if not may_manage(account["region"]):
            problems.append(_problem(index, "region", "is outside the token's regions"))
            continue
        if warning:
            name, _, why = warning.partition(": ")
            warnings.append(_problem(index, name, why))
        rows.append((index, account, oid))
    problems += _given_twice(rows) + _taken_logins(rows, may_manage) + _foreign_accounts(rows, may_manage)
    if problems:
        raise BatchError(sorted(problems, key=lambda problem: (problem.index or 0, problem.field)))
    written, links = _write(rows, warnings, allow_links)
    db.session.commit()
    return Upserted(written, links, warnings)


def _problem(index: int, name: str, why: str) -> BadField:
    """A bad (or noteworthy) field of row ``index``: ``accounts.<index>.<name>``."""
    return BadField(f"accounts.{index}.{name}", why, index=index)


def _given_twice(rows: list[Row]) -> list[BadField]:
    problems = []
    for key in ("id", "login"):
        seen: dict[str, int] = {}
        for index, account, _ in rows:
            if account[key] in seen:
                problems.append(_problem(index, key, f"is given twice (also at accounts.{seen[account[key]]})"))
            seen.setdefault(account[key], index)
    return problems


def _taken_logins(rows: list[Row], may_manage: Callable[[str], bool]) -> list[BadField]:
    """Logins that belong to another account already (logins are unique in the whole registry).

    The owner is named only to a caller who may manage its region: an operator learns that a
    login is taken, never which account of another region holds it, or where.
    """
    wanted = {account["login"]: (index, account["id"]) for index, account, _ in rows}
    if not wanted:
        return []
    table = Account.__table__
    owners = db.session.execute(select(table.c.login, table.c.id, table.c.region).where(table.c.login.in_(list(wanted))))
    problems = []
    for login, owner, region in owners:
        index, account_id = wanted[login]
        if owner == account_id:
            continue
        if may_manage(region):
            why = f"already belongs to account {owner} (region {region}); send another login, or change that account's login first"
        else:  # an account the caller may not see: neither whose login it is nor where
            why = "is already taken by another account; send another login (logins are unique in the registry)"
        problems.append(_problem(index, "login", why))
    return problems


def _foreign_accounts(rows: list[Row], may_manage: Callable[[str], bool]) -> list[BadField]:
    """Stored accounts outside the caller's regions: an operator may not take one over by sending
    its id with a region of theirs (that would move the account and could relink it). The answer
    does not say where the account is."""
    ids = {account["id"]: index for index, account, _ in rows}
    if not ids:
        return []
    table = Account.__table__
    stored = db.session.execute(select(table.c.id, table.c.region).where(table.c.id.in_(list(ids))))
    why = "is taken by an account this token may not change; if the account moved to your region, ask an admin to move it"
    return [_problem(ids[account_id], "id", why) for account_id, region in stored if not may_manage(region)]


def _write(rows: list[Row], warnings: list[BadField], allow_links: bool) -> tuple[int, int]:
    """Upsert the accounts and their links in the session's transaction, audited.

    The batch's event is written first, so that each link can name it; its ``links`` are the
    links planned (a person's login in between may keep one, and then its ``link_imported``
    event is missing: those events are the exact record).
    """
    connection = db.session.connection()
    writer = importer.Writer(connection, bulk=False)
    now = services.current().clock()
    counts = registrylinks.LinkCounts()
    wanted = [registrylinks.Wanted(index, account["id"], oid) for index, account, oid in rows if oid]
    changes, notes = registrylinks.plan(connection, wanted, allow=allow_links, refused=NOT_ALLOWED, counts=counts)
    warnings += [_problem(index, "esia_oid", why) for index, why in notes]
    warnings.sort(key=lambda problem: (problem.index or 0, problem.field))
    after = {"written": len(rows), "links": len(changes), "allow_links": allow_links}
    if counts.ignored:
        after["links_not_allowed"] = counts.ignored
    event = connection.execute(
        insert(AuditEvent.__table__).returning(AuditEvent.id),
        audit.event_values(audit.Action.REGISTRY_UPSERTED, "registry", after=after),
    ).scalar_one()
    writer.write([writer.shape(account, now) for _, account, _ in rows])
    refresh.end_blocked(connection, [account["id"] for _, account, _ in rows], now)  # a blocked account's app sessions end
    done = registrylinks.apply(connection, changes, event=event, key_name="index", actor=audit.request_actor(), now=now)
    return len(rows), done.created + done.moved
