"""Re-keying the stored oid digests: ``broker keys rehash-oids`` after ``OID_HASH_KEY`` changes.

``login_attempts.oid_digest`` and ``invite_failures.person_digest`` hold HMAC(key, oid), never the oid. After a new ``OID_HASH_KEY``
(the old key in ``OID_HASH_KEY_FALLBACKS``), searches look under every key; this moves what it
can to the current key, so that the fallback can go sooner. The broker knows an oid in clear
only for the persons linked to a diary account (``esia_links``): their attempts and their wrong
invite codes are re-keyed, batch by batch, each batch its own transaction. The attempts of persons who were never linked
cannot be re-keyed and stay findable through the fallback until retention deletes them
(``ATTEMPT_RETENTION_DAYS`` after the key changed; then drop the fallback). Their wrong invite
codes count only within ``INVITE_FAILURE_WINDOW_SECONDS`` anyway, under every key. Running it again
changes nothing more (idempotent); a run is audited (``oid_digests_rehashed``), a dry run is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, case, func, select, update

from broker import services
from broker.db.dml import execute_dml
from broker.db.models import EsiaLink, InviteFailure, LoginAttempt
from broker.errors import InputError
from broker.extensions import db
from broker.staff import audit
from broker.staff.audit import Action

_ATTEMPTS = LoginAttempt.__table__
_LINKS = EsiaLink.__table__
_FAILURES = InviteFailure.__table__
DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class RehashReport:
    linked_oids: int  # distinct oids of esia_links looked at
    attempts_rekeyed: int  # attempts moved (in a dry run: that would move) to the current key
    invite_failures_rekeyed: int  # wrong invite codes of those persons, likewise
    fallback_keys: int
    dry_run: bool


def rehash_oids(*, actor: str, batch_size: int = DEFAULT_BATCH_SIZE, dry_run: bool = False) -> RehashReport:
    """Move the oid digests of linked persons' attempts from the fallback keys to the current one."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError("--batch-size", f"must be a whole number of at least 1, not {batch_size!r}")
    keys = services.current().keyring.oid
    db.session.commit()  # start from a clean transaction: every batch is its own
    linked = moved = failures = 0
    last: str | None = None
    while keys.fallbacks:
        query = select(_LINKS.c.oid).distinct().order_by(_LINKS.c.oid).limit(batch_size)
        oids = list(db.session.scalars(query if last is None else query.where(_LINKS.c.oid > last)))
        if not oids:
            break
        linked += len(oids)
        renamed = {}  # old digest -> the current one
        for oid in oids:
            current, *olds = keys.digests(oid)
            renamed.update(dict.fromkeys(olds, current))
        if renamed:
            moved += _rekey(_ATTEMPTS.c.oid_digest, renamed, dry_run)
            failures += _rekey(_FAILURES.c.person_digest, renamed, dry_run)
            if not dry_run:
                db.session.commit()
        last = oids[-1]
        if len(oids) < batch_size:
            break
    report = RehashReport(linked, moved, failures, len(keys.fallbacks), dry_run)
    if not dry_run:
        audit.record(
            Action.OID_DIGESTS_REHASHED,
            None,
            after={
                "linked_oids": linked,
                "attempts_rekeyed": moved,
                "invite_failures_rekeyed": failures,
                "fallback_keys": len(keys.fallbacks),
            },
            actor=actor,
        )
        db.session.commit()
    return report


def _rekey(column: Column[Any], renamed: dict[str, str], dry_run: bool) -> int:
    """Move ``column``'s old digests to the current ones (in a dry run, count them); the rows touched."""
    if dry_run:
        return db.session.scalar(select(func.count()).select_from(column.table).where(column.in_(list(renamed)))) or 0
    statement = update(column.table).where(column.in_(list(renamed))).values({column.name: case(renamed, value=column, else_=column)})
    return execute_dml(db.session, statement).rowcount
