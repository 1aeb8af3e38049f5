"""The diary's sync job: a batch of registry rows upserted all or nothing (the JSON API's door).

Each row goes through :class:`broker.importer.RowParser`, the file import's validator, so the
two doors accept the same rows. On top of the file import's rules a batch is refused whole,
with one problem per field, when an id or a login is given twice, a login belongs to another
account, or a row would write (or take over, by its id) an account outside the regions the
caller may manage. Links a person made at login are never moved by a batch (a warning says so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from broker import audit, importer, regions, services
from broker.errors import InputError
from broker.extensions import db
from broker.models import Account

Row = tuple[int, dict[str, Any], str | None]  # (index in the batch, account values, linked oid)


@dataclass(frozen=True, slots=True)
class Problem:
    """One bad or noteworthy field of a batch: ``accounts.<index>.<field>``."""

    index: int
    field: str
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "why": self.why}


class BatchError(InputError):
    """The batch was refused: ``problems`` names every bad field; nothing was written."""

    code = "invalid_request"
    status = 422

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(problems[0].field, problems[0].why)
        self.problems = sorted(problems, key=lambda problem: (problem.index, problem.field))


@dataclass(frozen=True, slots=True)
class Upserted:
    written: int
    links: int
    warnings: list[Problem] = field(default_factory=list)


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
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for index, raw in enumerate(raws):
        try:
            account, oid, warning = parser.parse(raw)
        except importer.RowError as exc:
            problems.append(Problem(index, f"accounts.{index}.{exc.field}", exc.why))
            continue
        if not may_manage(account["region"]):
            problems.append(Problem(index, f"accounts.{index}.region", "is outside the token's regions"))
            continue
        if warning:
            name, _, why = warning.partition(": ")
            warnings.append(Problem(index, f"accounts.{index}.{name}", why))
        rows.append((index, account, oid))
    problems += _given_twice(rows) + _taken_logins(rows) + _foreign_accounts(rows, may_manage)
    if problems:
        raise BatchError(problems)
    written, links = _write(rows, warnings)
    audit.record(audit.Action.REGISTRY_UPSERTED, "registry", after={"written": written, "links": links})
    return Upserted(written, links, warnings)


def _given_twice(rows: list[Row]) -> list[Problem]:
    problems = []
    for key in ("id", "login"):
        seen: dict[str, int] = {}
        for index, account, _ in rows:
            if account[key] in seen:
                problems.append(Problem(index, f"accounts.{index}.{key}", f"is given twice (also at accounts.{seen[account[key]]})"))
            seen.setdefault(account[key], index)
    return problems


def _taken_logins(rows: list[Row]) -> list[Problem]:
    """Logins that belong to another account already (logins are unique in the registry)."""
    wanted = {account["login"]: (index, account["id"]) for index, account, _ in rows}
    if not wanted:
        return []
    table = Account.__table__
    owners = db.session.execute(select(table.c.login, table.c.id).where(table.c.login.in_(list(wanted))))
    return [
        Problem(wanted[login][0], f"accounts.{wanted[login][0]}.login", "already belongs to another account")
        for login, owner in owners
        if owner != wanted[login][1]
    ]


def _foreign_accounts(rows: list[Row], may_manage: Callable[[str], bool]) -> list[Problem]:
    """Stored accounts outside the caller's regions: an operator may not take one over by sending
    its id with a region of theirs (that would move the account and could relink it)."""
    ids = {account["id"]: index for index, account, _ in rows}
    if not ids:
        return []
    table = Account.__table__
    stored = db.session.execute(select(table.c.id, table.c.region).where(table.c.id.in_(list(ids))))
    return [
        Problem(ids[account_id], f"accounts.{ids[account_id]}.id", "belongs to a region outside the token's regions")
        for account_id, region in stored
        if not may_manage(region)
    ]


def _write(rows: list[Row], warnings: list[Problem]) -> tuple[int, int]:
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
            warnings.append(Problem(index, f"accounts.{index}.esia_oid", "the account was linked by its owner at login; that link is kept"))
            continue
        links.append({"account_id": account["id"], "oid": oid, "tier": None, "source": "import", "linked_at": now})
    writer.write([writer.shape(account, now) for _, account, _ in rows], links)
    return len(rows), len(links)
