"""Links a registry writes (file import and API sync): only when the run allows them, never over a
person's link, each audited with its run, a moved link ending the account's sessions; every file
import run is audited with its actor, the file's digest and its counts."""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from broker.db.models import AuditEvent, DiarySession, EsiaLink
from broker.extensions import db
from broker.oidc import sessions
from tests.broker.registry_files import row, write_csv


def events(action: str) -> list[AuditEvent]:
    db.session.remove()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def link_of(account_id: str) -> EsiaLink | None:
    db.session.remove()
    return db.session.get(EsiaLink, account_id)


def imported(runner: FlaskCliRunner, path: Path, *flags: str) -> str:
    result = runner.invoke(args=["registry", "import", *flags, str(path)])
    assert result.exit_code == 0, result.output
    return result.output


def test_without_allow_links_a_file_writes_the_account_but_not_its_link(runner: FlaskCliRunner, tmp_path: Path) -> None:
    output = imported(runner, write_csv(tmp_path / "r.csv", [row(esia_oid="1000100001")]))
    assert "warning: line 2: esia_oid: not linked: a registry file writes links only with --allow-links" in output
    assert "1 accounts written, 0 links" in output
    assert link_of("acc-1") is None and events("link_imported") == []


def test_without_allow_links_a_file_never_moves_a_link(runner: FlaskCliRunner, tmp_path: Path) -> None:
    """The reported attack: a row with another person's oid moved the account's link, silently."""
    imported(runner, write_csv(tmp_path / "a.csv", [row(esia_oid="1000100001")]), "--allow-links")
    output = imported(runner, write_csv(tmp_path / "b.csv", [row(esia_oid="1000666666")]))
    assert "line 2: esia_oid: not linked" in output
    link = link_of("acc-1")
    assert link is not None and link.oid == "1000100001"


def test_an_oid_the_account_is_linked_to_already_changes_nothing_and_says_nothing(runner: FlaskCliRunner, tmp_path: Path) -> None:
    imported(runner, write_csv(tmp_path / "a.csv", [row(esia_oid="1000100001")]), "--allow-links")
    output = imported(runner, write_csv(tmp_path / "a.csv", [row(esia_oid="1000100001")]))
    assert "warning:" not in output and len(events("link_imported")) == 1


def test_a_link_a_file_creates_is_audited_with_its_run_and_masked_oid(runner: FlaskCliRunner, tmp_path: Path) -> None:
    imported(runner, write_csv(tmp_path / "r.csv", [row(esia_oid="1000100001")]), "--allow-links")
    (started,) = events("registry_import_started")
    (event,) = events("link_imported")
    assert (event.target, event.actor, event.before) == ("account:acc-1", started.actor, {"linked": False})
    assert event.after == {"linked": True, "oid": "******0001", "source": "import", "import_event": started.id,
                           "line": 2, "sessions_ended": 0}  # fmt: skip
    link = link_of("acc-1")
    assert link is not None and (link.source, link.import_event) == ("import", started.id)


def test_a_moved_link_is_audited_and_ends_the_accounts_live_sessions(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    imported(runner, write_csv(tmp_path / "a.csv", [row(esia_oid="1000100001")]), "--allow-links")
    sessions.create_session("acc-1", tier="verified", amr="PWD", attempt_id=None)
    db.session.commit()
    output = imported(runner, write_csv(tmp_path / "b.csv", [row(esia_oid="1000200002")]), "--allow-links")
    assert "1 moved (1 sessions ended)" in output
    moved = events("link_imported")[-1]
    assert moved.before is not None and (moved.before["oid"], moved.before["source"]) == ("******0001", "import")
    assert moved.after is not None and (moved.after["oid"], moved.after["sessions_ended"]) == ("******0002", 1)
    db.session.remove()
    live = db.session.scalars(select(DiarySession).where(DiarySession.revoked_at.is_(None))).all()
    assert live == []


def test_every_import_run_is_audited_with_actor_file_digest_and_counts(runner: FlaskCliRunner, tmp_path: Path) -> None:
    imported(runner, write_csv(tmp_path / "a.csv", [row()]))
    path = write_csv(tmp_path / "b.csv", [row(status="blocked"), row(id="acc-2", login="x", snils=""),
                                           row(id="acc-3", login="y", role="pupil"),
                                           row(id="acc-4", login="z", snils="", esia_oid="7")])  # fmt: skip
    result = runner.invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 1  # one row rejected
    started, finished = events("registry_import_started")[-1], events("registry_imported")[-1]
    assert started.actor.startswith("cli:") and finished.actor == started.actor
    assert (started.after, finished.target) == ({"allow_links": False}, f"import:{started.id}")
    assert finished.after == {
        "completed": True, "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "rows": 4, "inserted": 2, "updated": 1, "rejected": 1, "warnings": 1, "allow_links": False,
        "links_created": 0, "links_moved": 0, "links_not_allowed": 1, "links_kept": 0, "sessions_ended": 0,
    }  # fmt: skip
    assert f"audit event {started.id}, file SHA-256 {hashlib.sha256(path.read_bytes()).hexdigest()}" in result.output


def test_a_run_that_stops_is_audited_as_incomplete(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [row(id=f"acc-{n}", login=f"l-{n}", snils="") for n in range(1000)])
    with path.open("ab") as handle:
        handle.write("acc-x,Тестов".encode("cp1251") + b"\n")  # far past the header: found mid-run
    result = runner.invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 1 and "not UTF-8" in result.output
    (finished,) = events("registry_imported")
    assert finished.after is not None and finished.after["completed"] is False and finished.after["file_sha256"] is None
