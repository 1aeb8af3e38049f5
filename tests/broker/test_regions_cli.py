"""`broker regions`: switch ESIA login per federal subject."""

from __future__ import annotations

from flask.testing import FlaskCliRunner

from broker.extensions import db
from broker.models import Region


def test_enables_and_disables_a_region_recording_who_and_when(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["regions", "enable", "39", "41"])
    assert result.exit_code == 0, result.output
    assert "39 Калининградская область: ESIA login enabled" in result.output
    db.session.remove()
    region = db.session.get(Region, "41")
    assert region is not None and region.enabled and region.changed_by.startswith("cli:") and region.changed_at
    assert runner.invoke(args=["regions", "disable", "41"]).exit_code == 0
    db.session.remove()
    assert not db.session.get(Region, "41").enabled  # type: ignore[union-attr]


def test_lists_all_regions_or_only_the_enabled_ones(runner: FlaskCliRunner) -> None:
    runner.invoke(args=["regions", "enable", "77"])
    every = runner.invoke(args=["regions", "list"]).output.splitlines()
    enabled = runner.invoke(args=["regions", "list", "--enabled"]).output.splitlines()
    assert len(every) == 89
    assert enabled == ["77  on   Europe/Moscow        Москва"]


def test_an_unknown_code_changes_no_region(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["regions", "enable", "77", "99"])
    assert result.exit_code == 1
    assert "region: '99' is not a federal subject code" in result.output
    db.session.remove()
    assert not db.session.get(Region, "77").enabled  # type: ignore[union-attr]
