"""The audit log: every staff action with who, when, from where, and what it was before and after.

A row is added in the same transaction as the change it describes (``record`` adds, the caller
commits), so there is never a change without its row nor a row without its change. The log is
append-only: the ORM session refuses to update or delete an :class:`AuditEvent` (the guards
below) and the database refuses updates (migration 0004). Only the retention purge deletes, and
it has to say so with the execution option :data:`PURGE_OPTION`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from flask import has_request_context, request
from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from broker import services
from broker.db.models import AuditEvent
from broker.errors import BrokerError
from broker.extensions import db

# ``db.session.execute(delete(AuditEvent).where(...).execution_options(**{PURGE_OPTION: True}))``
PURGE_OPTION = "audit_retention_purge"
_ACTOR_KEY = "broker.audit_actor"  # in the WSGI environ: one value per request
_ACTION = re.compile(r"[a-z][a-z0-9_]{1,47}")


class Action(StrEnum):
    """The stable action codes (snake_case, like the refusal reasons). Add, never rename."""

    STAFF_LOGIN = "staff_login"
    STAFF_LOGIN_FAILED = "staff_login_failed"
    STAFF_LOGOUT = "staff_logout"
    STAFF_CREATED = "staff_created"
    STAFF_CHANGED = "staff_changed"
    STAFF_DISABLED = "staff_disabled"
    STAFF_ENABLED = "staff_enabled"
    STAFF_PASSWORD_SET = "staff_password_set"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    REGION_CHANGED = "region_changed"
    ACCOUNT_UNLINKED = "account_unlinked"
    REGISTRY_UPSERTED = "registry_upserted"
    REGISTRY_IMPORT_STARTED = "registry_import_started"
    REGISTRY_IMPORTED = "registry_imported"
    LINK_IMPORTED = "link_imported"
    RETENTION_PURGE = "retention_purge"
    INVITE_ISSUED = "invite_issued"
    INVITE_REVOKED = "invite_revoked"
    INVITE_USED = "invite_used"
    OID_DIGESTS_REHASHED = "oid_digests_rehashed"


LABELS_RU: dict[str, str] = {
    Action.STAFF_LOGIN: "Вход сотрудника",
    Action.STAFF_LOGIN_FAILED: "Неудачная попытка входа",
    Action.STAFF_LOGOUT: "Выход сотрудника",
    Action.STAFF_CREATED: "Сотрудник добавлен",
    Action.STAFF_CHANGED: "Сотрудник изменён",
    Action.STAFF_DISABLED: "Сотрудник отключён",
    Action.STAFF_ENABLED: "Сотрудник снова допущен",
    Action.STAFF_PASSWORD_SET: "Пароль задан",
    Action.TOKEN_CREATED: "Токен API выпущен",
    Action.TOKEN_REVOKED: "Токен API отозван",
    Action.REGION_CHANGED: "Регион изменён",
    Action.ACCOUNT_UNLINKED: "Связь с Госуслугами снята",
    Action.REGISTRY_UPSERTED: "Реестр дневника обновлён через API",
    Action.REGISTRY_IMPORT_STARTED: "Начата загрузка файла реестра",
    Action.REGISTRY_IMPORTED: "Файл реестра загружен",
    Action.LINK_IMPORTED: "Связь с Госуслугами задана реестром",
    Action.RETENTION_PURGE: "Удалены записи с истёкшим сроком хранения",
    Action.INVITE_ISSUED: "Код приглашения выпущен",
    Action.INVITE_REVOKED: "Код приглашения отозван",
    Action.INVITE_USED: "Код приглашения использован при первом входе",
    Action.OID_DIGESTS_REHASHED: "Хеши oid в попытках входа переведены на новый ключ",
}


class AuditAppendOnlyError(BrokerError):
    code = "audit_append_only"
    description = "Audit events are append-only: they are never changed or deleted."


def set_request_actor(actor: str) -> None:
    """Name who acts in this request (``broker.staff.access`` does, once it knows the principal)."""
    request.environ[_ACTOR_KEY] = actor


def request_actor() -> str | None:
    return request.environ.get(_ACTOR_KEY) if has_request_context() else None


def record(
    action: Action | str,
    target: str | None = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    comment: str | None = None,
    actor: str | None = None,
    source: str | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction; the caller commits it with the change.

    ``actor`` and ``source`` default to the signed-in staff member (or API token) and the
    client address of the current request; outside a request ``actor`` is required (the CLI
    passes ``cli:<os user>``). ``before`` and ``after`` must hold masked values only: never a
    password, token, full SNILS or registry name.
    """
    row = AuditEvent(**event_values(action, target, before=before, after=after, comment=comment, actor=actor, source=source))
    db.session.add(row)
    return row


def event_values(
    action: Action | str,
    target: str | None = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    comment: str | None = None,
    actor: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The columns of the event :func:`record` adds, checked and shaped the same way, for a writer
    that inserts on its own connection in the transaction of its change (the registry import)."""
    actor = actor or request_actor()
    if not actor:
        raise ValueError("audit.record needs an actor outside a signed-in staff request")
    if not _ACTION.fullmatch(str(action)):
        raise ValueError(f"audit action {action!r} is not a snake_case code")
    if source is None and has_request_context():
        source = request.remote_addr
    return {
        "at": services.current().clock(),
        "actor": actor[:128],
        "action": str(action),
        "target": target[:128] if target else None,
        "before": _plain(before),
        "after": _plain(after),
        "source": source[:64] if source else None,
        "comment": comment[:1000] if comment else None,
    }


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[AuditEvent]
    page: int
    has_next: bool


def find_events(*, action: str | None = None, actor: str | None = None, page: int = 1, per_page: int = 50) -> EventPage:
    """Audit events, newest first, optionally of one action and of actors starting with ``actor``."""
    page = max(page, 1)
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if action:
        query = query.where(AuditEvent.action == action)
    if actor:
        escaped = actor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(AuditEvent.actor.like(escaped + "%", escape="\\"))
    rows = list(db.session.scalars(query.offset((page - 1) * per_page).limit(per_page + 1)))
    return EventPage(events=rows[:per_page], page=page, has_next=len(rows) > per_page)


def _plain(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """JSON-ready: dates as ISO 8601, tuples and sets as lists."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=_encode, ensure_ascii=False))


def _encode(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# --- append-only guards (every Session, installed when this module is imported) -----------------


@event.listens_for(Session, "before_flush")
def _refuse_changed_rows(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    for row in session.deleted:
        if isinstance(row, AuditEvent):
            raise AuditAppendOnlyError(f"audit event {row.id} cannot be deleted")
    for row in session.dirty:
        if isinstance(row, AuditEvent) and session.is_modified(row):
            raise AuditAppendOnlyError(f"audit event {row.id} cannot be changed")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    if not any(mapper.class_ is AuditEvent for mapper in state.all_mappers):
        return
    if state.is_delete and state.execution_options.get(PURGE_OPTION):
        return
    raise AuditAppendOnlyError("audit events cannot be changed or deleted in bulk (only the retention purge deletes)")
