"""ESIA links a registry asks for (the file import's and the API sync's ``esia_oid``).

A link lets its ESIA person into the account without comparing names, so a registry row that
names another person's oid hands them the account. A registry therefore writes links only when
its run says so explicitly (``broker registry import --allow-links``, ``"allow_links": true`` in
the API); otherwise the account is written and its ``esia_oid`` is not, with a warning naming the
row. Even then a registry never moves a link a person made (at login or in the link flow), and
each link it creates or moves is an audit event (``link_imported``: masked oids, where the link
came from, the row) in the transaction that writes it. A moved link ends the account's live
diary sessions, as unlinking does. An ``esia_oid`` equal to the account's link changes nothing
and says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite

import matching
from broker.db.models import AuditEvent, EsiaLink
from broker.oidc import sessions
from broker.staff import audit
from broker.staff.audit import Action

if TYPE_CHECKING:
    from sqlalchemy import Connection

KEPT = "the account was linked by its owner at login; that link is kept"
_LINKS = EsiaLink.__table__
_CURRENT = select(_LINKS.c.account_id, _LINKS.c.oid, _LINKS.c.source, _LINKS.c.linked_at).where(
    _LINKS.c.account_id.in_(bindparam("ids", expanding=True))
)
_CHUNK = 1000  # ids per lookup: well under any database's limit on bound parameters


@dataclass(frozen=True, slots=True)
class Wanted:
    """A row's ``esia_oid``; ``key`` is the row's line (file) or index (API)."""

    key: int
    account_id: str
    oid: str


@dataclass(frozen=True, slots=True)
class Held:
    oid: str
    source: str
    linked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Change:
    """A link to create (``before`` None) or move."""

    key: int
    account_id: str
    oid: str
    before: Held | None


@dataclass(slots=True)
class LinkCounts:
    created: int = 0
    moved: int = 0
    unchanged: int = 0
    kept: int = 0  # a person's link, not moved
    ignored: int = 0  # not allowed in this run
    sessions_ended: int = 0

    def add(self, other: LinkCounts) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def plan(
    connection: Connection, wanted: list[Wanted], *, allow: bool, refused: str, counts: LinkCounts
) -> tuple[list[Change], list[tuple[int, str]]]:
    """The links to write, and (key, why) for rows whose ``esia_oid`` will not be written.

    ``refused`` says why for a run that may not link (it names that run's switch).
    """
    held: dict[str, Held] = {}
    ids = sorted({item.account_id for item in wanted})
    for start in range(0, len(ids), _CHUNK):
        for row in connection.execute(_CURRENT, {"ids": ids[start : start + _CHUNK]}):
            held[row.account_id] = Held(row.oid, row.source, row.linked_at)
    changes: list[Change] = []
    notes: list[tuple[int, str]] = []
    for item in wanted:
        old = held.get(item.account_id)
        if old is not None and old.oid == item.oid:
            counts.unchanged += 1
        elif old is not None and old.source != "import":
            counts.kept += 1
            notes.append((item.key, KEPT))
        elif not allow:
            counts.ignored += 1
            notes.append((item.key, refused))
        else:
            changes.append(Change(item.key, item.account_id, item.oid, old))
            held[item.account_id] = Held(item.oid, "import", None)  # a later row of the batch moves this one
    return changes, notes


def apply(
    connection: Connection,
    changes: list[Change],
    *,
    event: int,
    key_name: str,
    actor: str | None,
    now: datetime,
) -> LinkCounts:
    """Write ``changes`` in the caller's transaction, each audited; a move ends the account's
    live sessions. ``event`` is the run's audit event, kept on the link (``import_event``).

    A link a person made in the meantime is left alone (the upsert's condition) and not audited.
    """
    counts = LinkCounts()
    if not changes:
        return counts
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_LINKS)
    upsert = statement.on_conflict_do_update(
        index_elements=["account_id"],
        set_={
            "oid": statement.excluded.oid,
            "tier": None,
            "source": statement.excluded.source,
            "linked_at": statement.excluded.linked_at,
            "import_event": statement.excluded.import_event,
        },
        where=(_LINKS.c.oid != statement.excluded.oid) & (_LINKS.c.source == "import"),
    ).returning(_LINKS.c.account_id, _LINKS.c.oid)
    rows = [
        {"account_id": c.account_id, "oid": c.oid, "tier": None, "source": "import", "linked_at": now, "import_event": event}
        for c in changes
    ]
    done = {(row.account_id, row.oid) for row in connection.execute(upsert, rows)}
    events = []
    for change in changes:
        if (change.account_id, change.oid) not in done:
            continue
        ended = 0
        if change.before is None:
            counts.created += 1
            before: dict[str, Any] = {"linked": False}
        else:
            counts.moved += 1
            ended = sessions.end_live_sessions(connection, change.account_id, now)
            counts.sessions_ended += ended
            before = {
                "linked": True,
                "oid": matching.mask_oid(change.before.oid),
                "source": change.before.source,
                "linked_at": change.before.linked_at,
            }
        after = {
            "linked": True,
            "oid": matching.mask_oid(change.oid),
            "source": "import",
            "import_event": event,
            key_name: change.key,
            "sessions_ended": ended,
        }
        events.append(audit.event_values(Action.LINK_IMPORTED, f"account:{change.account_id}", before=before, after=after, actor=actor))
    if events:
        connection.execute(insert(AuditEvent.__table__), events)
    return counts
