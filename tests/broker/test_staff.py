"""Staff accounts: creation rules, passwords, lock-out, and the `broker staff` commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from broker.db.models import Staff, StaffSession
from broker.extensions import db
from broker.staff import accounts as staff
from broker.staff.accounts import StaffInputError
from tests.broker.staffing import PASSWORD, audit_rows, make_staff


def count_staff() -> int:
    return db.session.scalar(select(func.count()).select_from(Staff)) or 0


def test_creates_a_member_with_a_scrypt_hash_and_audits_it(app: Flask) -> None:
    member = make_staff("ivanov", role="operator", regions=("77", "50"), name="Иванов И.")
    assert member.password_hash.startswith("scrypt:") and PASSWORD not in member.password_hash
    assert member.regions == ["50", "77"]
    [event] = audit_rows("staff_created")
    assert (event.actor, event.target) == ("cli:test", "staff:ivanov")
    assert event.after == {"login": "ivanov", "name": "Иванов И.", "role": "operator", "regions": ["50", "77"], "disabled": False}
    assert "password" not in str(event.after)


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short-pass1", "at least 12 characters"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
        ("ivanov-password-1", "too easy to guess"),
    ],
)
def test_refuses_a_weak_password_and_writes_nothing(app: Flask, password: str, why: str) -> None:
    with pytest.raises(StaffInputError, match=why) as caught:
        make_staff("ivanov", role="support", password=password)
    assert caught.value.field == "password"
    assert count_staff() == 0 and audit_rows() == []


@pytest.mark.parametrize(
    ("role", "regions", "field", "why"),
    [
        ("operator", (), "regions", "needs at least one region"),
        ("operator", ("77", "99"), "regions", "99: not a federal subject code"),
        ("admin", ("77",), "regions", "only an operator has regions"),
        ("support", ("77",), "regions", "only an operator has regions"),
        ("root", (), "role", "admin, operator or support"),
    ],
)
def test_refuses_roles_and_regions_that_do_not_fit(app: Flask, role: str, regions: tuple[str, ...], field: str, why: str) -> None:
    with pytest.raises(StaffInputError, match=why) as caught:
        make_staff("ivanov", role=role, regions=regions)
    [bad] = caught.value.bad_fields
    assert (bad.field, caught.value.field) == (field, field) and bad.why_ru and bad.why_ru == caught.value.why_ru
    assert caught.value.why_ru_by_field() == {field: bad.why_ru}
    assert count_staff() == 0


@pytest.mark.parametrize("login", ["", "a", "Ivanov Ivan", "-dash", "иванов", "x" * 65])
def test_refuses_a_login_of_the_wrong_shape(app: Flask, login: str) -> None:
    with pytest.raises(StaffInputError, match="2 to 64 characters"):
        make_staff(login, role="support")


def test_refuses_a_second_member_with_the_same_login(app: Flask) -> None:
    make_staff("ivanov", role="support")
    with pytest.raises(StaffInputError, match="exists already"):
        make_staff("IVANOV", role="admin")
    assert count_staff() == 1


def test_signs_in_with_the_right_password_and_audits_it(app: Flask) -> None:
    make_staff("ivanov", role="support")
    assert staff.authenticate("ivanov", "wrong password!!") is None
    member = staff.authenticate(" Ivanov ", PASSWORD)
    assert member is not None and member.login == "ivanov" and member.last_login_at is not None
    assert member.failed_logins == 0
    assert [(e.action, e.actor, e.comment) for e in audit_rows()[1:]] == [
        ("staff_login_failed", "anonymous", "wrong password"),
        ("staff_login", "ivanov", None),
    ]


def test_locks_the_login_after_too_many_failures_even_for_the_right_password(app: Flask) -> None:
    app.config.update(STAFF_MAX_FAILED_LOGINS=3, STAFF_LOCKOUT_SECONDS=600)
    make_staff("ivanov", role="support")
    for _ in range(3):
        assert staff.authenticate("ivanov", "wrong password!!") is None
    member = staff.find_staff("ivanov")
    assert member is not None and staff.is_locked(member)
    assert staff.authenticate("ivanov", PASSWORD) is None
    failures = audit_rows("staff_login_failed")
    assert [e.comment for e in failures] == ["wrong password", "wrong password", "wrong password; locked", "locked"]
    assert failures[1].after == {"failed_logins": 2}
    assert "locked_until" in failures[2].after


def test_a_lock_ends_after_the_lockout_period(app: Flask) -> None:
    member = make_staff("ivanov", role="support")
    member.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    assert staff.authenticate("ivanov", PASSWORD) is not None
    assert staff.find_staff("ivanov").locked_until is None


def test_a_success_resets_the_failure_count(app: Flask) -> None:
    app.config.update(STAFF_MAX_FAILED_LOGINS=3)
    make_staff("ivanov", role="support")
    for _ in range(2):
        staff.authenticate("ivanov", "wrong password!!")
    assert staff.authenticate("ivanov", PASSWORD) is not None
    for _ in range(2):
        staff.authenticate("ivanov", "wrong password!!")
    assert not staff.is_locked(staff.find_staff("ivanov"))  # type: ignore[arg-type]


def test_a_disabled_member_or_an_unknown_login_cannot_sign_in(app: Flask) -> None:
    make_staff("boss", role="admin")
    member = make_staff("ivanov", role="support")
    staff.disable_staff(member, actor="cli:test")
    assert staff.authenticate("ivanov", PASSWORD) is None
    assert staff.authenticate("nobody", PASSWORD) is None
    failures = audit_rows("staff_login_failed")
    assert [(e.target, e.comment) for e in failures] == [("staff:ivanov", "disabled"), (None, "unknown login")]


def test_the_last_active_admin_cannot_be_demoted_or_disabled(app: Flask) -> None:
    boss = make_staff("boss", role="admin")
    with pytest.raises(StaffInputError, match="last active admin"):
        staff.change_staff(boss, role="support", regions=(), actor="cli:test")
    with pytest.raises(StaffInputError, match="last active admin"):
        staff.disable_staff(boss, actor="cli:test")
    make_staff("deputy", role="admin")
    staff.change_staff(boss, role="support", regions=(), actor="cli:test")
    assert staff.find_staff("boss").role == "support"


def test_a_member_cannot_demote_or_disable_themselves(app: Flask) -> None:
    boss = make_staff("boss", role="admin")
    make_staff("deputy", role="admin")
    with pytest.raises(StaffInputError, match="your own role"):
        staff.change_staff(boss, role="operator", regions=("77",), by=boss, actor="boss")
    with pytest.raises(StaffInputError, match="disable yourself"):
        staff.disable_staff(boss, by=boss, actor="boss")


def test_a_change_is_audited_with_before_and_after(app: Flask) -> None:
    make_staff("boss", role="admin")
    member = make_staff("ivanov", role="operator", regions=("77",))
    staff.change_staff(
        member,
        role="operator",
        regions=("77", "78"),
        name="Иванов",
        actor="boss",
    )
    [event] = audit_rows("staff_changed")
    assert (event.before["regions"], event.after["regions"]) == (["77"], ["77", "78"])
    assert (event.before["name"], event.after["name"]) == ("", "Иванов")


def test_a_new_password_unlocks_and_ends_every_session(app: Flask) -> None:
    member = make_staff("ivanov", role="support")
    member.locked_until = datetime.now(UTC) + timedelta(hours=1)
    now = datetime.now(UTC)
    db.session.add(StaffSession(id="a" * 64, staff_id=member.id, created_at=now, expires_at=now + timedelta(hours=1), last_seen_at=now))
    db.session.commit()
    staff.set_password(member, "another long passphrase", actor="cli:test")
    assert not staff.is_locked(member)
    assert db.session.get(StaffSession, "a" * 64).ended_at is not None
    assert staff.authenticate("ivanov", "another long passphrase") is not None
    assert audit_rows("staff_password_set")[0].after is None


# --- the commands ------------------------------------------------------------------------------


def test_staff_create_asks_for_the_password_twice_and_audits_the_os_user(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["staff", "create", "ivanov", "--role", "operator", "--region", "77", "--region", "50", "--name", "Иванов"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "ivanov: operator created in regions 50, 77" in result.output
    assert PASSWORD not in result.output
    [event] = audit_rows("staff_created")
    assert event.actor.startswith("cli:") and event.source is None
    assert staff.authenticate("ivanov", PASSWORD) is not None


def test_staff_create_reads_the_password_from_a_file_or_standard_input(runner: FlaskCliRunner, tmp_path: object) -> None:
    path = f"{tmp_path}/password"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(PASSWORD + "\n")
    assert runner.invoke(args=["staff", "create", "boss", "--role", "admin", "--password-file", path]).exit_code == 0
    result = runner.invoke(args=["staff", "create", "help", "--role", "support", "--password-file", "-"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert staff.authenticate("help", PASSWORD) is not None


def test_staff_create_refuses_a_weak_password_or_a_bad_region_and_writes_nothing(runner: FlaskCliRunner) -> None:
    weak = runner.invoke(args=["staff", "create", "ivanov", "--role", "support", "--password-file", "-"], input="short\n")
    assert weak.exit_code == 1 and "password: must be at least 12 characters" in weak.output
    region = runner.invoke(
        args=["staff", "create", "ivanov", "--role", "operator", "--region", "99", "--password-file", "-"], input=PASSWORD + "\n"
    )
    assert region.exit_code == 1 and "regions: 99: not a federal subject code" in region.output
    assert count_staff() == 0 and audit_rows() == []


def test_staff_list_shows_role_regions_and_state(runner: FlaskCliRunner, app: Flask) -> None:
    make_staff("boss", role="admin")
    member = make_staff("ivanov", role="operator", regions=("77",))
    staff.disable_staff(member, actor="cli:test")
    lines = runner.invoke(args=["staff", "list"]).output.splitlines()
    assert lines[0].split()[:4] == ["boss", "admin", "all", "active"]
    assert lines[1].split()[:4] == ["ivanov", "operator", "77", "disabled"]


def test_staff_set_password_disable_and_enable(runner: FlaskCliRunner, app: Flask) -> None:
    make_staff("boss", role="admin")
    make_staff("ivanov", role="support")
    result = runner.invoke(args=["staff", "set-password", "ivanov"], input="new long passphrase\nnew long passphrase\n")
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["staff", "disable", "ivanov"]).output == "ivanov: disabled\n"
    assert staff.authenticate("ivanov", "new long passphrase") is None
    assert runner.invoke(args=["staff", "enable", "ivanov"]).exit_code == 0
    assert staff.authenticate("ivanov", "new long passphrase") is not None
    actions = [e.action for e in audit_rows() if e.actor.startswith("cli:") and e.actor != "cli:test"]
    assert actions == ["staff_password_set", "staff_disabled", "staff_enabled"]


def test_an_unknown_login_is_named(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["staff", "disable", "nobody"])
    assert result.exit_code == 1 and "login: no staff member 'nobody'" in result.output
