"""Staff accounts: admins, regional operators and support agents; their passwords and lock-out.

Every change is audited in the same transaction (``broker.staff.audit``) and committed here. Web
pages and the CLI share these functions, so the rules hold whichever door is used: an
operator needs regions, nobody else has them, passwords are long, the last active admin stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from broker import services
from broker.db.models import ApiToken, AuditEvent, Region, Staff
from broker.errors import InputError
from broker.extensions import db
from broker.staff import audit
from broker.staff import sessions as staffsessions
from broker.staff.audit import Action

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_REGION_SPLIT = re.compile(r"[\s,;]+")


class Role(StrEnum):
    ADMIN = "admin"  # manages staff; may do everything
    OPERATOR = "operator"  # switches ESIA login in their regions, unlinks accounts there
    SUPPORT = "support"  # reads diagnostics in every region, masked; changes nothing


ROLE_LABELS_RU: dict[str, str] = {
    Role.ADMIN: "администратор",
    Role.OPERATOR: "региональный оператор",
    Role.SUPPORT: "поддержка",
}


class StaffInputError(InputError):
    """Bad staff input: ``StaffInputError(field, why, why_ru)``, the Russian text for the pages."""


# --- reading ---------------------------------------------------------------------------------


def find_staff(login: str) -> Staff | None:
    login = (login or "").strip().lower()
    if not _LOGIN.fullmatch(login):
        return None
    return db.session.scalar(select(Staff).where(Staff.login == login))


def find_staff_by_id(staff_id: int) -> Staff | None:
    return db.session.get(Staff, staff_id)


def get_staff(login: str) -> Staff:
    member = find_staff(login)
    if member is None:
        raise StaffInputError("login", f"no staff member {login!r} (see `broker staff list`)", "Такого сотрудника нет.")
    return member


def all_staff() -> list[Staff]:
    return list(db.session.scalars(select(Staff).order_by(Staff.login)))


def is_locked(member: Staff, now: datetime | None = None) -> bool:
    now = now or services.current().clock()
    return member.locked_until is not None and member.locked_until > now


def snapshot(member: Staff) -> dict[str, Any]:
    """What the audit log keeps of a staff member: never the password hash."""
    return {
        "login": member.login,
        "name": member.name,
        "role": member.role,
        "regions": list(member.regions or []),
        "disabled": member.disabled_at is not None,
    }


# --- validation ------------------------------------------------------------------------------


def check_login(login: str) -> str:
    login = (login or "").strip().lower()
    if not _LOGIN.fullmatch(login):
        raise StaffInputError(
            "login",
            "2 to 64 characters: lower-case Latin letters, digits, '.', '-' or '_', starting with a letter or digit",
            "Логин: от 2 до 64 знаков — строчные латинские буквы, цифры, точка, дефис или подчёркивание.",
        )
    return login


def check_password(password: str, login: str) -> None:
    """Refuse a weak password: short, of few distinct characters, or containing the login."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffInputError(
            "password",
            f"must be at least {MIN_PASSWORD_LENGTH} characters",
            f"Пароль должен быть не короче {MIN_PASSWORD_LENGTH} знаков.",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise StaffInputError(
            "password", f"must be at most {MAX_PASSWORD_LENGTH} characters", f"Пароль длиннее {MAX_PASSWORD_LENGTH} знаков."
        )
    if len(set(password)) < 5 or login.lower() in password.lower():
        raise StaffInputError(
            "password",
            "is too easy to guess (it repeats a few characters or contains the login)",
            "Пароль слишком простой: в нём мало разных знаков или он содержит логин.",
        )


def check_role(role: str) -> Role:
    try:
        return Role(str(role).strip().lower())
    except ValueError:
        raise StaffInputError(
            "role", "must be admin, operator or support", "Выберите роль: администратор, оператор или поддержка."
        ) from None


def check_regions(role: Role, codes: Iterable[str]) -> list[str]:
    """The region codes of an operator (given as a list or as text "77, 50"), checked and sorted."""
    wanted = sorted({code for text in codes for code in _REGION_SPLIT.split(text or "") if code})
    if role is not Role.OPERATOR:
        if wanted:
            raise StaffInputError(
                "regions",
                "only an operator has regions (admins and support see every region)",
                "Регионы задаются только региональному оператору: администратор и поддержка видят все регионы.",
            )
        return []
    if not wanted:
        raise StaffInputError("regions", "an operator needs at least one region code", "Укажите хотя бы один код региона оператора.")
    known = set(db.session.scalars(select(Region.code)))  # the table itself: staff sits below the regions wing
    unknown = [code for code in wanted if code not in known]
    if unknown:
        raise StaffInputError(
            "regions",
            f"{', '.join(unknown)}: not a federal subject code (see `broker regions list`)",
            f"Нет региона с кодом {', '.join(unknown)}. Код — две цифры, например 77.",
        )
    return wanted


def check_name(name: str | None) -> str:
    name = " ".join((name or "").split())
    if len(name) > 128 or any(not ch.isprintable() for ch in name):
        raise StaffInputError("name", "at most 128 printable characters", "Имя: не более 128 знаков.")
    return name


# --- changing ----------------------------------------------------------------------------------


def create_staff(
    login: str,
    *,
    role: str,
    password: str,
    name: str = "",
    regions: Iterable[str] = (),
    actor: str | None = None,
) -> Staff:
    """Create a staff member and audit it; every field is checked before anything is written."""
    login = check_login(login)
    checked_role = check_role(role)
    codes = check_regions(checked_role, regions)
    name = check_name(name)
    check_password(password, login)
    if find_staff(login) is not None:
        raise StaffInputError("login", f"{login!r} exists already", "Сотрудник с таким логином уже есть.")
    member = Staff(
        login=login,
        name=name,
        role=checked_role.value,
        regions=codes,
        password_hash=generate_password_hash(password, method="scrypt"),
        failed_logins=0,
        created_at=services.current().clock(),
    )
    db.session.add(member)
    audit.record(Action.STAFF_CREATED, f"staff:{login}", after=snapshot(member), actor=actor)
    db.session.commit()
    return member


def change_staff(
    member: Staff,
    *,
    role: str,
    regions: Iterable[str],
    name: str | None = None,
    by: Staff | None = None,
    actor: str | None = None,
) -> Staff:
    """Change a member's role, regions and name, audited with before and after."""
    checked_role = check_role(role)
    codes = check_regions(checked_role, regions)
    new_name = check_name(name) if name is not None else member.name
    if checked_role != member.role:
        _keep_an_admin(member, by, "role")
    before = snapshot(member)
    member.role, member.regions, member.name = checked_role.value, codes, new_name
    after = snapshot(member)
    if after != before:
        audit.record(Action.STAFF_CHANGED, f"staff:{member.login}", before=before, after=after, actor=actor)
    db.session.commit()
    return member


def disable_staff(member: Staff, *, by: Staff | None = None, actor: str | None = None) -> Staff:
    """Disable a member: their sessions end now and their API tokens are revoked for good (enabling
    them again later brings back no token that might have leaked meanwhile)."""
    if member.disabled_at is not None:
        return member
    _keep_an_admin(member, by, "disabled")
    before = snapshot(member)
    member.disabled_at = services.current().clock()
    staffsessions.end_all(member.id)
    audit.record(Action.STAFF_DISABLED, f"staff:{member.login}", before=before, after=snapshot(member), actor=actor)
    live = select(ApiToken).where(ApiToken.staff_id == member.id, ApiToken.revoked_at.is_(None))
    for token in db.session.scalars(live):
        token.revoked_at = member.disabled_at
        audit.record(
            Action.TOKEN_REVOKED, f"token:{token.prefix}",
            before={"staff": member.login, "name": token.name, "revoked": False},
            after={"revoked": True, "because": "staff_disabled"}, actor=actor,
        )  # fmt: skip
    db.session.commit()
    return member


def enable_staff(member: Staff, *, actor: str | None = None) -> Staff:
    if member.disabled_at is None:
        return member
    before = snapshot(member)
    member.disabled_at = None
    audit.record(Action.STAFF_ENABLED, f"staff:{member.login}", before=before, after=snapshot(member), actor=actor)
    db.session.commit()
    return member


def set_password(
    member: Staff,
    password: str,
    *,
    repeated: str | None = None,
    by: Staff | None = None,
    actor: str | None = None,
) -> None:
    """Set a new password: unlocks the login and ends the member's sessions.

    ``repeated`` is the password typed a second time, where a form asks for it; ``by`` is the
    admin setting it for a colleague, who may not use this door for their own password (the
    password page asks for the current one). The audit event never holds the password.
    """
    if by is not None and by.id == member.id:
        raise StaffInputError(
            "password",
            "change your own password on /admin/password (it asks for the current one)",
            "Свой пароль меняйте на странице «Пароль»: там нужен текущий пароль.",
        )
    if repeated is not None and repeated != password:
        raise StaffInputError("password2", "the passwords differ", "Пароли не совпадают.")
    check_password(password, member.login)
    comment = "unlocked" if is_locked(member) else None
    member.password_hash = generate_password_hash(password, method="scrypt")
    member.failed_logins = 0
    member.locked_until = None
    staffsessions.end_all(member.id)
    audit.record(Action.STAFF_PASSWORD_SET, f"staff:{member.login}", actor=actor, comment=comment)
    db.session.commit()


def change_own_password(member: Staff, current: str, new: str) -> bool:
    """Set ``new`` if ``current`` is right. A wrong ``current`` counts towards lock-out as a
    failed login does (someone holding a stolen session must not be able to guess the password
    at leisure); at the lock, the member's sessions end."""
    if not check_password_hash(member.password_hash, current):
        if _count_failure(member, services.current().clock(), "wrong current password on the password page", actor=member.login):
            staffsessions.end_all(member.id)
            db.session.commit()
        return False
    set_password(member, new)
    return True


def _count_failure(member: Staff, now: datetime, comment: str, *, actor: str) -> bool:
    """Count a wrong password (audited, committed); lock the member at the limit. True if locked."""
    config = current_app.config
    # Counted in SQL, so that failures arriving at once from several workers all count.
    member.failed_logins = Staff.failed_logins + 1
    db.session.flush()
    after: dict[str, Any] = {"failed_logins": member.failed_logins}
    locked = member.failed_logins >= int(config["STAFF_MAX_FAILED_LOGINS"])
    if locked:
        member.failed_logins = 0
        member.locked_until = now + timedelta(seconds=float(config["STAFF_LOCKOUT_SECONDS"]))
        after["locked_until"] = member.locked_until
        comment += "; locked"
    audit.record(Action.STAFF_LOGIN_FAILED, f"staff:{member.login}", after=after, actor=actor, comment=comment)
    db.session.commit()
    return locked


def _keep_an_admin(member: Staff, by: Staff | None, field: str) -> None:
    """Refuse to demote or disable oneself, or the last active admin."""
    if by is not None and by.id == member.id:
        raise StaffInputError(
            field,
            "you cannot change your own role or disable yourself",
            "Нельзя изменить собственную роль или отключить самого себя: попросите другого администратора.",
        )
    if member.role == Role.ADMIN and member.disabled_at is None:
        others = db.session.scalar(
            select(func.count())
            .select_from(Staff)
            .where(Staff.role == Role.ADMIN.value, Staff.disabled_at.is_(None), Staff.id != member.id)
        )
        if not others:
            raise StaffInputError(
                field,
                f"{member.login} is the last active admin; create another admin first",
                "Это последний действующий администратор: сначала добавьте другого.",
            )


# --- signing in --------------------------------------------------------------------------------


def is_throttled(source: str, now: datetime) -> bool:
    """Whether ``source`` (a client address) failed to sign in too often lately.

    Lock-out protects one login; this protects the service from one address trying many (and
    from filling the audit log): past ``STAFF_MAX_FAILURES_PER_ADDRESS`` failed logins within
    ``STAFF_LOCKOUT_SECONDS``, the address's attempts are refused unread until the window moves.
    """
    config = current_app.config
    since = now - timedelta(seconds=float(config["STAFF_LOCKOUT_SECONDS"]))
    failures = db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == Action.STAFF_LOGIN_FAILED.value, AuditEvent.at >= since, AuditEvent.source == source)
    )
    return (failures or 0) >= int(config["STAFF_MAX_FAILURES_PER_ADDRESS"])


def authenticate(login: str, password: str, *, source: str | None = None) -> Staff | None:
    """The staff member with this login and password, or None; failures count towards lock-out.

    The caller shows the same message for every failure (unknown login, wrong password,
    locked, disabled), and an unknown login costs the same hashing time, so neither the
    answer nor its timing tells whether a login exists. Every attempt is audited.
    """
    now = services.current().clock()
    if source is not None and is_throttled(source, now):
        return None  # too many failures from this address: not even looked at, nothing written
    member = find_staff(login)
    if member is None or member.disabled_at is not None or is_locked(member, now):
        check_password_hash(_decoy_hash(), password)
        why = "unknown login" if member is None else ("disabled" if member.disabled_at is not None else "locked")
        target = f"staff:{member.login}" if member is not None else None
        audit.record(Action.STAFF_LOGIN_FAILED, target, actor="anonymous", comment=why)
        db.session.commit()
        return None
    if not check_password_hash(member.password_hash, password):
        _count_failure(member, now, "wrong password", actor="anonymous")
        return None
    member.failed_logins = 0
    member.locked_until = None
    member.last_login_at = now
    audit.record(Action.STAFF_LOGIN, f"staff:{member.login}", actor=member.login)
    db.session.commit()
    return member


@cache
def _decoy_hash() -> str:
    return generate_password_hash("not a password of anyone", method="scrypt")
