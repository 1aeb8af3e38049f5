"""The diary's sync job: a batch of registry rows upserted all or nothing (the JSON API's door).

Each row goes through :class:`broker.importer.RowParser`, the file import's validator, so the
two doors accept the same rows. On top of the file import's rules a batch is refused whole,
with one bad field each, when an id or a login is given twice, a login belongs to another
account, or a row would write (or take over, by its id) an account outside the regions the
caller may manage; an account outside them is never named, nor its region. Links a person made
at login are never moved by a batch (a warning says so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from broker import audit, importer, regions, services
from broker.errors import BadField, InvalidFieldsError
from broker.extensions import db
from broker.models import Account

Row = tuple[int, dict[str, Any], str | None]  # (index in the batch, account values, linked oid)


class BatchError(InvalidFieldsError):
    """The batch was refused: ``bad_fields`` names every bad field (``accounts.<index>.<field>``,
    in the batch's order); nothing was written. The API answers 422."""


@dataclass(frozen=True, slots=True)
class Upserted:
    written: int
    links: int
    warnings: list[BadField] = field(default_factory=list)


def upsert_batch(raws: Sequence[Mapping[str, Any]], *, may_manage: Callable[[str], bool]) -> Upserted:
    """Validate and upsert ``raws`` in the caller's transaction, audited; the caller commits.

    ``may_manage(region)`` says whether the caller may write accounts of that region.
    Raises :class:`BatchError` (nothing written) if any row is refused.
    """
    parser = importer.RowParser(
        regions=frozenset(region.code for region in regions.all_regions()),
        snils_key=services.current().snils_key,
        today=datetime.now(timezone.utc).date(),
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
    written, links = _write(rows, warnings)
    audit.record(audit.Action.REGISTRY_UPSERTED, "registry", after={"written": written, "links": links})
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
    owners = db.session.execute(
        select(table.c.login, table.c.id, table.c.region).where(table.c.login.in_(list(wanted)))
    )
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


def _write(rows: list[Row], warnings: list[BadField]) -> tuple[int, int]:
    """Upsert the accounts and their links in the session's transaction."""
    connection = db.session.connection()
    writer = importer.Writer(connection, bulk=False)
    now = datetime.now(timezone.utc)
    linked = [account["id"] for _, account, oid in rows if oid]
    kept = {row.account_id for row in connection.execute(writer.kept_links, {"ids": linked})} if linked else set()
    links = []
    for index, account, oid in rows:
        if oid is None:
            continue
        if account["id"] in kept:
            warnings.append(_problem(index, "esia_oid", "the account was linked by its owner at login; that link is kept"))
            continue
        links.append({"account_id": account["id"], "oid": oid, "tier": None, "source": "import", "linked_at": now})
    writer.write([writer.shape(account, now) for _, account, _ in rows], links)
    return len(rows), len(links)
