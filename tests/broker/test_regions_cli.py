"""`broker regions`: switch ESIA login per federal subject, audited with a comment."""

from __future__ import annotations

import getpass

from flask.testing import FlaskCliRunner

from broker.db.models import Region
from broker.extensions import db
from tests.broker.staffing import audit_rows


def test_enables_and_disables_a_region_recording_who_and_when(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["regions", "enable", "39", "41", "--comment", "по письму №15"])
    assert result.exit_code == 0, result.output
    assert "39 Калининградская область: ESIA login enabled" in result.output
    db.session.remove()
    region = db.session.get(Region, "41")
    assert region is not None and region.enabled and region.changed_by.startswith("cli:") and region.changed_at
    assert runner.invoke(args=["regions", "disable", "41", "--comment", "откат"]).exit_code == 0
    db.session.remove()
    assert not db.session.get(Region, "41").enabled


def test_every_switch_is_audited_with_the_os_user_and_the_comment(runner: FlaskCliRunner) -> None:
    runner.invoke(args=["regions", "enable", "39", "41", "--comment", "по письму №15"])
    runner.invoke(args=["regions", "disable", "41", "--comment", "откат"])
    events = [(e.actor, e.target, e.before, e.after, e.comment) for e in audit_rows("region_changed")]
    actor = f"cli:{getpass.getuser()}"
    off, on = {"enabled": False, "policy": {}}, {"enabled": True, "policy": {}}
    assert events == [
        (actor, "region:39", off, on, "по письму №15"),
        (actor, "region:41", off, on, "по письму №15"),
        (actor, "region:41", on, off, "откат"),
    ]


def test_the_comment_is_required_and_a_blank_one_changes_nothing(runner: FlaskCliRunner) -> None:
    missing = runner.invoke(args=["regions", "enable", "39"])
    assert missing.exit_code == 2 and "--comment" in missing.output
    blank = runner.invoke(args=["regions", "enable", "39", "--comment", "  "])
    assert blank.exit_code == 1 and "comment: is required" in blank.output
    db.session.remove()
    assert not db.session.get(Region, "39").enabled
    assert audit_rows("region_changed") == []


def test_switching_to_the_current_state_writes_nothing(runner: FlaskCliRunner) -> None:
    runner.invoke(args=["regions", "enable", "39", "--comment", "первый раз"])
    again = runner.invoke(args=["regions", "enable", "39", "--comment", "второй раз"])
    assert again.exit_code == 0 and "39 Калининградская область: ESIA login was enabled already" in again.output
    assert [e.comment for e in audit_rows("region_changed")] == ["первый раз"]


def test_lists_all_regions_or_only_the_enabled_ones(runner: FlaskCliRunner) -> None:
    runner.invoke(args=["regions", "enable", "77", "--comment", "test"])
    every = runner.invoke(args=["regions", "list"]).output.splitlines()
    enabled = runner.invoke(args=["regions", "list", "--enabled"]).output.splitlines()
    assert len(every) == 89
    assert enabled == ["77  on   Europe/Moscow        Москва"]


def test_an_unknown_code_changes_no_region(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["regions", "enable", "77", "99", "--comment", "test"])
    assert result.exit_code == 1
    assert "region: '99' is not a federal subject code" in result.output
    db.session.remove()
    assert not db.session.get(Region, "77").enabled
    assert audit_rows("region_changed") == []
