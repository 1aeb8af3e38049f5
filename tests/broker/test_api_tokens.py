"""API tokens: shown once, stored as a digest, refused once expired or revoked, scoped like their owner."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from flask import Blueprint, Flask, Response, jsonify
from flask.testing import FlaskCliRunner
from sqlalchemy import inspect, select, text

from broker.db.models import ApiToken
from broker.extensions import db
from broker.staff import access, audit
from broker.staff import accounts as staff
from broker.staff import tokens as apitokens
from broker.staff.accounts import Role, StaffInputError
from broker.staff.audit import Action
from broker.web import csrf
from tests.broker.staffing import audit_rows, make_staff


def api_app(app: Flask) -> None:
    """A stand-in for the JSON API: one route any staff may call, one for operators."""
    bp = csrf.exempt(Blueprint("api_test", __name__, url_prefix="/api-test"))

    @bp.get("/whoami")
    @access.token_required()
    def whoami() -> Response:
        member = access.current_staff()
        token = access.current_token()
        return jsonify(login=member.login, token=token.prefix)

    @bp.post("/regions/<code>")
    @access.token_required(Role.OPERATOR)
    def change_region(code: str) -> Response:
        access.require_region(code, manage=True)
        audit.record(Action.REGION_CHANGED, f"region:{code}", after={"enabled": True})
        db.session.commit()
        return jsonify(ok=True)

    app.register_blueprint(bp)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_new_token_is_returned_once_and_only_its_digest_is_stored(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    member = make_staff("sync", role="operator", regions=("77",))
    token, clear = apitokens.create_token(member, name="синхронизация реестра", days=30, actor="cli:test")
    assert clear.startswith("brk_") and len(clear) == 47
    assert token.prefix == clear[:12] and token.digest == apitokens.digest(clear)
    # Nowhere in the database, nowhere in the logs.
    with db.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f"SELECT * FROM {table}")):
                assert not any(clear in str(value) for value in row), table
    assert clear not in caplog.text
    [event] = audit_rows("token_created")
    assert event.target == f"token:{token.prefix}" and event.after["staff"] == "sync"


@pytest.mark.parametrize(
    ("name", "days", "field"),
    [("", 30, "name"), ("x" * 65, 30, "name"), ("sync", 0, "days"), ("sync", 366, "days")],
)
def test_refuses_a_token_without_a_name_or_with_a_lifetime_out_of_bounds(app: Flask, name: str, days: int, field: str) -> None:
    member = make_staff("sync", role="support")
    with pytest.raises(StaffInputError) as caught:
        apitokens.create_token(member, name=name, days=days, actor="cli:test")
    assert caught.value.field == field
    assert db.session.scalars(select(ApiToken)).all() == []


def test_verifies_a_live_token_and_notes_when_it_was_used(app: Flask) -> None:
    _, clear = apitokens.create_token(make_staff("sync", role="support"), name="sync", days=1, actor="cli:test")
    token = apitokens.verify_token(clear)
    assert token is not None and token.last_used_at is not None


@pytest.mark.parametrize("presented", [None, "", "brk_unknown", "not-a-token", "brk_" + "x" * 200])
def test_refuses_what_is_not_a_known_token(app: Flask, presented: str | None) -> None:
    assert apitokens.verify_token(presented) is None


def test_refuses_an_expired_a_revoked_or_a_disabled_owners_token(app: Flask) -> None:
    make_staff("boss", role="admin")
    member = make_staff("sync", role="support")
    expired, expired_clear = apitokens.create_token(member, name="old", days=1, actor="cli:test")
    expired.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    revoked, revoked_clear = apitokens.create_token(member, name="revoked", days=1, actor="cli:test")
    apitokens.revoke_token(revoked, actor="cli:test")
    _, live_clear = apitokens.create_token(member, name="live", days=1, actor="cli:test")
    assert apitokens.verify_token(expired_clear) is None
    assert apitokens.verify_token(revoked_clear) is None
    assert apitokens.verify_token(live_clear) is not None
    [event] = audit_rows("token_revoked")
    assert event.target == f"token:{revoked.prefix}" and event.after == {"revoked": True}
    staff.disable_staff(member, actor="cli:test")
    assert apitokens.verify_token(live_clear) is None


def test_disabling_a_member_revokes_their_tokens_for_good(app: Flask) -> None:
    make_staff("boss", role="admin")
    member = make_staff("sync", role="support")
    live, clear = apitokens.create_token(member, name="live", days=1, actor="cli:test")
    staff.disable_staff(member, actor="cli:test")
    staff.enable_staff(member, actor="cli:test")
    assert apitokens.verify_token(clear) is None  # a token that leaked meanwhile stays dead
    [event] = audit_rows("token_revoked")
    assert event.target == f"token:{live.prefix}" and event.after == {"revoked": True, "because": "staff_disabled"}


def test_the_api_guard_yields_the_owner_and_refuses_a_missing_expired_or_revoked_token(app: Flask) -> None:
    api_app(app)
    client = app.test_client()
    member = make_staff("sync", role="support")
    token, clear = apitokens.create_token(member, name="sync", days=1, actor="cli:test")
    answer = client.get("/api-test/whoami", headers=bearer(clear))
    assert answer.status_code == 200 and answer.json == {"login": "sync", "token": token.prefix}

    missing = client.get("/api-test/whoami")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == 'Bearer realm="broker"'
    wrong = client.get("/api-test/whoami", headers=bearer("brk_forged"))
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    assert client.get("/api-test/whoami", headers={"Authorization": f"Basic {clear}"}).status_code == 401

    apitokens.revoke_token(token, actor="cli:test")
    assert client.get("/api-test/whoami", headers=bearer(clear)).status_code == 401
    _, expiring = apitokens.create_token(member, name="short", days=1, actor="cli:test")
    stored = db.session.scalar(select(ApiToken).where(ApiToken.digest == apitokens.digest(expiring)))
    stored.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.commit()
    assert client.get("/api-test/whoami", headers=bearer(expiring)).status_code == 401


def test_a_token_acts_with_its_owners_role_and_regions_and_is_named_in_the_audit(app: Flask) -> None:
    api_app(app)
    client = app.test_client()
    _, support = apitokens.create_token(make_staff("help", role="support"), name="t", days=1, actor="cli:test")
    operator_token, operator = apitokens.create_token(
        make_staff("ivanov", role="operator", regions=("77",)), name="t", days=1, actor="cli:test"
    )
    refused = client.post("/api-test/regions/77", headers=bearer(support))
    assert refused.status_code == 403 and refused.json["error"] == "insufficient_scope"
    other = client.post("/api-test/regions/78", headers=bearer(operator))  # JSON for a token, whatever Accept says
    assert other.status_code == 403 and other.json["error"] == "forbidden"
    assert client.post("/api-test/regions/77", headers=bearer(operator)).status_code == 200  # no CSRF token: exempt
    [event] = audit_rows("region_changed")
    assert (event.actor, event.target) == (f"token:{operator_token.prefix}", "region:77")


def test_tokens_create_prints_the_token_once_and_list_never_shows_it(runner: FlaskCliRunner, app: Flask) -> None:
    make_staff("sync", role="support")
    result = runner.invoke(args=["tokens", "create", "--staff", "sync", "--name", "registry sync", "--days", "90"])
    assert result.exit_code == 0, result.output
    clear = result.stdout.strip()
    assert clear.startswith("brk_") and apitokens.verify_token(clear) is not None
    assert "shown only now" in result.stderr
    [event] = audit_rows("token_created")
    assert event.actor.startswith("cli:") and clear not in str(event.after)
    listed = runner.invoke(args=["tokens", "list"]).output
    assert clear[:12] in listed and clear not in listed and "live" in listed
    token_id = listed.split()[0]
    assert runner.invoke(args=["tokens", "revoke", token_id]).exit_code == 0
    assert apitokens.verify_token(clear) is None
    assert "revoked" in runner.invoke(args=["tokens", "list", "--staff", "sync"]).output


def test_tokens_create_names_a_bad_lifetime(runner: FlaskCliRunner, app: Flask) -> None:
    make_staff("sync", role="support")
    result = runner.invoke(args=["tokens", "create", "--staff", "sync", "--name", "x", "--days", "9999"])
    assert result.exit_code == 1 and "days: a whole number from 1 to 365" in result.output
