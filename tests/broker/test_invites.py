"""Invite codes: issued, listed and revoked by staff of the account's region through the
service, the CLI and the API; stored as a keyed digest bound to the account; single use; audited."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from broker import services
from broker.api import openapi
from broker.db.models import InviteCode, InviteFailure, PendingLogin
from broker.errors import InvalidFieldsError
from broker.extensions import db
from broker.keyring import Keys
from broker.login import invites
from broker.login import pending as login
from broker.login.pending import Stage, Step
from tests.broker.diaryaccounts import add_account
from tests.broker.staffing import audit_rows, bearer, make_staff

PARENT = "1000000001"  # the family's ESIA oid
ATTACKER = "1000000666"  # a simplified ESIA account claiming the child's name and birth date
CODE = re.compile(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}")


@pytest.fixture
def accounts(app: Flask) -> Flask:
    add_account("kid-77")
    add_account("kid-50", region="50", school_id="sch-2")
    return app


# --- the code ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("7KQ4M-2XH9D", "7KQ4M2XH9D"),
        (" 7kq4m 2xh9d ", "7KQ4M2XH9D"),
        ("7KQ4M-2XH9O", "7KQ4M2XH90"),  # O read as zero
        ("7KQ4M-2XH9I", "7KQ4M2XH91"),  # I and L read as one
        ("7KQ4M-2XH9L", "7KQ4M2XH91"),
        ("7KQ4M-2XH9U", None),  # U is not in the alphabet
        ("7KQ4M-2XH9", None),
        ("7KQ4M-2XH9DD", None),
        ("x" * 100, None),
        ("", None),
    ],
)
def test_a_typed_code_is_read_the_crockford_way(typed: str, expected: str | None) -> None:
    assert invites.normalise_code(typed) == expected


def test_an_issued_code_is_readable_shown_once_and_stored_only_as_a_keyed_digest(accounts: Flask) -> None:
    issued = invites.issue("kid-77", days=None, actor_staff=None, actor="cli:school")
    assert CODE.fullmatch(issued.code)
    raw = issued.code.replace("-", "")
    row = db.session.scalars(select(InviteCode)).one()
    assert row.digest == invites.code_digest("kid-77", raw)
    assert row.digest not in (hashlib.sha256(raw.encode()).hexdigest(), hashlib.sha256(issued.code.encode()).hexdigest())
    assert row.digest != invites.code_digest("kid-50", raw)  # bound to its account
    assert (row.issued_by, invites.status_of(row)) == ("cli:school", "live")
    assert (row.expires_at.replace(tzinfo=UTC) - row.issued_at.replace(tzinfo=UTC)).days == 30
    [event] = audit_rows("invite_issued")
    assert event.target == "account:kid-77" and event.actor == "cli:school"
    assert raw not in str(event.after) and issued.code not in str(event.after)


def test_a_new_code_revokes_the_accounts_earlier_live_code(accounts: Flask) -> None:
    first = invites.issue("kid-77", days=7, actor_staff=None, actor="cli:school")
    second = invites.issue("kid-77", days=7, actor_staff=None, actor="cli:school")
    assert invites.status_of(db.session.get_one(InviteCode, first.invite.id)) == "revoked"
    assert audit_rows("invite_issued")[-1].after["replaced"] == [first.invite.id]
    assert invites.redeem(["kid-77"], first.code, reference="REF1-0001", oid=PARENT).result is invites.Redeemed.WRONG
    assert invites.redeem(["kid-77"], second.code, reference="REF1-0002", oid=PARENT).result is invites.Redeemed.RIGHT


def test_a_code_is_found_for_its_own_account_only_and_spent_once_and_its_use_is_audited(accounts: Flask) -> None:
    issued = invites.issue("kid-77", days=7, actor_staff=None, actor="cli:school")
    assert invites.redeem(["kid-50"], issued.code, reference="REF1-0001", oid=PARENT).result is invites.Redeemed.WRONG
    found = invites.redeem(["kid-77"], issued.code.lower(), reference="REF1-0002", oid=PARENT)
    assert (found.result, found.account_id, found.invite_id) == (invites.Redeemed.RIGHT, "kid-77", issued.invite.id)
    assert invites.status_of(db.session.get_one(InviteCode, issued.invite.id)) == "live"  # found, not spent
    assert not audit_rows("invite_used")
    assert not invites.spend(issued.invite.id, "kid-50", reference="REF1-0002")  # its own account only
    assert invites.spend(issued.invite.id, "kid-77", reference="REF1-0002")
    db.session.commit()
    assert not invites.spend(issued.invite.id, "kid-77", reference="REF1-0003")  # once
    assert invites.redeem(["kid-77"], issued.code, reference="REF1-0003", oid=PARENT).result is invites.Redeemed.WRONG
    [event] = audit_rows("invite_used")
    assert (event.target, event.actor, event.after) == ("account:kid-77", "login:REF1-0002", {"invite": issued.invite.id})


def test_an_expired_code_is_refused(accounts: Flask) -> None:
    issued = invites.issue("kid-77", days=1, actor_staff=None, actor="cli:school")
    issued.invite.expires_at = datetime(2020, 1, 1, tzinfo=UTC)
    db.session.commit()
    assert invites.redeem(["kid-77"], issued.code, reference="REF1-0001", oid=PARENT).result is invites.Redeemed.WRONG


def test_a_persons_wrong_codes_lock_that_person_out_of_the_account_for_the_window_even_with_the_right_code(
    accounts: Flask,
) -> None:
    accounts.config["INVITE_MAX_FAILURES_PER_ACCOUNT"] = 3
    issued = invites.issue("kid-77", days=7, actor_staff=None, actor="cli:school")
    for _ in range(3):
        assert invites.redeem(["kid-77"], "AAAAA-AAAAA", reference="REF1-0001", oid=ATTACKER).result is invites.Redeemed.WRONG
    assert invites.redeem(["kid-77"], issued.code, reference="REF1-0002", oid=ATTACKER).result is invites.Redeemed.LOCKED
    assert invites.redeem(["kid-50"], "AAAAA-AAAAA", reference="REF1-0003", oid=ATTACKER).result is invites.Redeemed.WRONG
    accounts.config["INVITE_FAILURE_WINDOW_SECONDS"] = 0  # the window has passed
    assert invites.redeem(["kid-77"], issued.code, reference="REF1-0004", oid=ATTACKER).result is invites.Redeemed.RIGHT


def test_a_person_guessing_does_not_lock_the_family_out(accounts: Flask) -> None:
    """The attacker (another ESIA person) runs out of tries; the parent's right code still opens the account."""
    accounts.config["INVITE_MAX_FAILURES_PER_ACCOUNT"] = 3
    issued = invites.issue("kid-77", days=7, actor_staff=None, actor="cli:school")
    for _ in range(5):
        invites.redeem(["kid-77"], "AAAAA-AAAAA", reference="REF1-0001", oid=ATTACKER)
    assert invites.redeem(["kid-77"], issued.code, reference="REF1-0002", oid=ATTACKER).result is invites.Redeemed.LOCKED
    assert invites.redeem(["kid-77"], issued.code, reference="REF1-0003", oid=PARENT).result is invites.Redeemed.RIGHT


def test_wrong_codes_from_many_persons_lock_the_account_for_everyone_at_the_ceiling(accounts: Flask) -> None:
    accounts.config.update(INVITE_MAX_FAILURES_PER_ACCOUNT=3, INVITE_MAX_FAILURES_PER_ACCOUNT_ALL_PERSONS=6)
    issued = invites.issue("kid-77", days=7, actor_staff=None, actor="cli:school")
    for person in range(6):  # six ESIA accounts, one wrong code each: none reaches its own limit
        assert invites.redeem(["kid-77"], "AAAAA-AAAAA", reference="REF1-0001", oid=f"bot-{person}").result is invites.Redeemed.WRONG
    assert invites.redeem(["kid-77"], issued.code, reference="REF1-0002", oid=PARENT).result is invites.Redeemed.LOCKED
    assert invites.redeem(["kid-50"], "AAAAA-AAAAA", reference="REF1-0003", oid=PARENT).result is invites.Redeemed.WRONG


def test_a_new_code_lifts_a_lock_out_that_guesses_at_the_old_one_caused(accounts: Flask) -> None:
    """Guesses at a revoked code say nothing about the new one: the school can always let the family in."""
    accounts.config.update(INVITE_MAX_FAILURES_PER_ACCOUNT=3, INVITE_MAX_FAILURES_PER_ACCOUNT_ALL_PERSONS=6)
    invites.issue("kid-77", days=7, actor_staff=None, actor="cli:school")
    for person in range(6):
        invites.redeem(["kid-77"], "AAAAA-AAAAA", reference="REF1-0001", oid=f"bot-{person}")
    renewed = invites.issue("kid-77", days=7, actor_staff=None, actor="cli:school")
    assert invites.redeem(["kid-77"], renewed.code, reference="REF1-0002", oid=PARENT).result is invites.Redeemed.RIGHT


def test_a_wrong_code_is_kept_with_the_persons_keyed_oid_digest_only(accounts: Flask) -> None:
    invites.redeem(["kid-77"], "AAAAA-AAAAA", reference="REF1-0001", oid=PARENT)
    [failure] = db.session.scalars(select(InviteFailure)).all()
    assert failure.person_digest == services.current().keyring.oid.digest(PARENT) and PARENT not in failure.person_digest


def test_a_persons_wrong_codes_count_across_an_oid_key_rotation(accounts: Flask) -> None:
    accounts.config["INVITE_MAX_FAILURES_PER_ACCOUNT"] = 2
    issued = invites.issue("kid-77", days=7, actor_staff=None, actor="cli:school")
    for _ in range(2):
        invites.redeem(["kid-77"], "AAAAA-AAAAA", reference="REF1-0001", oid=ATTACKER)
    keyring = services.current().keyring
    old = keyring.oid
    services.current().keyring = dataclasses.replace(keyring, oid=Keys((b"a-new-oid-key-of-32-bytes-......", *old.keys)))
    assert invites.redeem(["kid-77"], issued.code, reference="REF1-0002", oid=ATTACKER).result is invites.Redeemed.LOCKED


def staged_login(stage: Stage) -> login.Pending:
    now = datetime.now(UTC)
    db.session.add(PendingLogin(state="st-1", browser_digest="b", client_id="portal", portal_request={}, region="77",
                                esia_nonce="n", created_at=now, expires_at=now, consumed_at=now, stage=stage.to_json()))  # fmt: skip
    db.session.commit()
    return login.Pending.from_row(db.session.execute(select(*PendingLogin.__table__.c)).one())


def stored_stage() -> Stage:
    db.session.expire_all()
    return Stage.from_json(db.session.scalars(select(PendingLogin.stage)).one())


def test_a_stale_wrong_code_cannot_overwrite_a_stage_a_right_code_moved_on(accounts: Flask) -> None:
    """The code page's try is a compare-and-set on the stage: of two submissions read at tries 0,
    one takes the try; the other, and any submission after the stage became linked, changes nothing."""
    invite = Stage(Step.INVITE_CODE, attempt_id=1, account_ids=("kid-77",), oid=ATTACKER, tier="simplified", amr="PWD",
                   auth_time=None, email=None, mobile=None, reference="REF1-0001", tries=0)  # fmt: skip
    pending = staged_login(invite)
    assert login.advance_stage(pending, dataclasses.replace(invite, tries=1), step=Step.INVITE_CODE, tries=0) is not None
    assert login.advance_stage(pending, dataclasses.replace(invite, tries=1), step=Step.INVITE_CODE, tries=0) is None  # lost the race
    linked = dataclasses.replace(invite, tries=1, step=Step.CONFIRM)
    login.set_stage(pending, linked)
    db.session.commit()
    assert login.advance_stage(pending, dataclasses.replace(invite, tries=2), step=Step.INVITE_CODE, tries=1) is None
    db.session.commit()
    assert stored_stage() == linked


@pytest.mark.parametrize("days", [0, -1, 91, True, 10**30])
def test_a_lifetime_outside_the_limit_is_refused_as_an_invalid_field(accounts: Flask, days: int) -> None:
    with pytest.raises(InvalidFieldsError) as caught:
        invites.issue("kid-77", days=days, actor_staff=None, actor="cli:school")
    assert caught.value.field == "days" and caught.value.status == 422
    assert db.session.scalars(select(InviteCode)).all() == []


def test_only_staff_who_manage_the_accounts_region_issue_and_revoke(accounts: Flask) -> None:
    operator = make_staff("op77", role="operator", regions=("77",))
    support = make_staff("help", role="support")
    issued = invites.issue("kid-77", days=7, actor_staff=operator)
    with pytest.raises(invites.InviteNotFoundError):  # outside the operator's regions: as if it did not exist
        invites.issue("kid-50", days=7, actor_staff=operator)
    with pytest.raises(invites.InviteAccessError):
        invites.issue("kid-77", days=7, actor_staff=support)
    with pytest.raises(invites.InviteAccessError):
        invites.revoke(issued.invite.id, actor_staff=support)
    assert invites.status_of(invites.revoke(issued.invite.id, actor_staff=operator)) == "revoked"
    [event] = audit_rows("invite_revoked")
    assert event.actor == "op77" and event.after == {"invite": issued.invite.id, "status": "revoked"}


# --- the CLI -------------------------------------------------------------------------------------


def test_the_cli_issues_lists_and_revokes(accounts: Flask, runner: FlaskCliRunner) -> None:
    issued = runner.invoke(args=["invites", "issue", "--account", "kid-77", "--days", "5"])
    assert issued.exit_code == 0, issued.output
    code = issued.stdout.strip()
    assert CODE.fullmatch(code)  # alone on standard output
    listed = runner.invoke(args=["invites", "list", "--account", "kid-77"])
    assert listed.exit_code == 0 and "\tkid-77\tlive\tcli:" in listed.output and code not in listed.output
    assert "kid-77" in runner.invoke(args=["invites", "list", "--school", "sch-1"]).output
    invite_id = db.session.scalars(select(InviteCode.id)).one()
    revoked = runner.invoke(args=["invites", "revoke", str(invite_id)])
    assert revoked.exit_code == 0 and "\trevoked\t" in revoked.output
    unknown = runner.invoke(args=["invites", "issue", "--account", "nobody"])
    assert unknown.exit_code == 1 and "no diary account" in unknown.output


# --- the API -------------------------------------------------------------------------------------


def test_the_api_issues_lists_and_revokes_within_the_tokens_regions(accounts: Flask) -> None:
    client: FlaskClient = accounts.test_client()
    operator = bearer("op77", "operator", ("77",))
    answer = client.post("/api/v1/invites", json={"account_id": "kid-77", "days": 3}, headers=operator)
    assert answer.status_code == 201, answer.json
    body = answer.json
    assert CODE.fullmatch(body["code"]) and (body["account_id"], body["status"]) == ("kid-77", "live")

    listed = client.get("/api/v1/invites?account_id=kid-77", headers=operator)
    assert listed.status_code == 200 and [i["id"] for i in listed.json["invites"]] == [body["id"]]
    assert "code" not in listed.json["invites"][0] and body["code"] not in listed.get_data(as_text=True)

    support = bearer("help", "support")
    assert client.get("/api/v1/invites?school_id=sch-1", headers=support).json["invites"][0]["id"] == body["id"]
    assert client.post("/api/v1/invites", json={"account_id": "kid-77"}, headers=support).status_code == 403
    assert client.delete(f"/api/v1/invites/{body['id']}", headers=support).status_code == 403

    other = bearer("op50", "operator", ("50",))
    assert client.get("/api/v1/invites?school_id=sch-1", headers=other).json == {"invites": []}

    revoked = client.delete(f"/api/v1/invites/{body['id']}", headers=operator)
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    assert client.delete("/api/v1/invites/999", headers=operator).status_code == 404
    assert client.post("/api/v1/invites", json={"account_id": "nobody"}, headers=operator).status_code == 404
    too_long = client.post("/api/v1/invites", json={"account_id": "kid-77", "days": 1000}, headers=operator)
    assert too_long.status_code == 422 and too_long.json["error"] == "invalid_request"
    assert [e["field"] for e in too_long.json["errors"]] == ["days"]
    assert client.get("/api/v1/invites", headers=operator).status_code == 400
    assert client.get("/api/v1/invites?account_id=kid-77").status_code == 401
    assert [e.actor for e in audit_rows("invite_issued")] == [f"token:{e.actor[6:]}" for e in audit_rows("invite_issued")]


def test_an_account_outside_the_tokens_regions_is_answered_as_one_that_does_not_exist(accounts: Flask) -> None:
    """Issue, list and revoke: an operator of 77 cannot tell kid-50 (region 50) from no account at all."""
    client: FlaskClient = accounts.test_client()
    theirs = invites.issue("kid-50", days=7, actor_staff=None, actor="cli:school").invite.id
    operator = bearer("op77", "operator", ("77",))
    for foreign, unknown in [
        (client.post("/api/v1/invites", json={"account_id": "kid-50"}, headers=operator),
         client.post("/api/v1/invites", json={"account_id": "nobody"}, headers=operator)),
        (client.get("/api/v1/invites?account_id=kid-50", headers=operator),
         client.get("/api/v1/invites?account_id=nobody", headers=operator)),
        (client.delete(f"/api/v1/invites/{theirs}", headers=operator),
         client.delete(f"/api/v1/invites/{theirs + 1000}", headers=operator)),
    ]:  # fmt: skip
        assert (foreign.status_code, foreign.json) == (unknown.status_code, unknown.json)
        assert foreign.status_code == 404 and foreign.json["error"] == "not_found"
        assert "50" not in foreign.get_data(as_text=True)
    assert invites.status_of(db.session.get_one(InviteCode, theirs)) == "live"
    assert audit_rows("invite_issued")[-1].target == "account:kid-50" and not audit_rows("invite_revoked")


@pytest.mark.parametrize("invite_id", ["99999999999999999999999", str(2**63), str(2**64), "0"])
def test_an_invite_id_beyond_a_row_id_is_not_found_in_the_api_and_the_cli(accounts: Flask, runner: FlaskCliRunner, invite_id: str) -> None:
    invites.issue("kid-77", days=7, actor_staff=None, actor="cli:school")
    answer = accounts.test_client().delete(f"/api/v1/invites/{invite_id}", headers=bearer("op77", "operator", ("77",)))
    assert answer.status_code == 404 and answer.is_json and answer.json["error"] == "not_found"
    revoked = runner.invoke(args=["invites", "revoke", invite_id])
    assert revoked.exit_code == 1 and "no invite code has this id" in revoked.output
    assert invites.status_of(db.session.scalars(select(InviteCode)).one()) == "live"


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("POST", "/api/v1/invites", {"account_id": "kid\u000077"}, "account_id"),
        ("GET", "/api/v1/invites?account_id=kid%0077", None, "account_id"),
        ("GET", "/api/v1/invites?school_id=sch%001", None, "school_id"),
    ],
)
def test_an_id_with_a_nul_is_an_invalid_field_not_a_database_error(
    accounts: Flask, method: str, url: str, body: dict[str, str] | None, field: str
) -> None:
    """PostgreSQL refuses NUL in text: the id is refused as a field before any query."""
    answer = accounts.test_client().open(url, method=method, json=body, headers=bearer("op77", "operator", ("77",)))
    assert answer.status_code == 422 and [e["field"] for e in answer.json["errors"]] == [field]


def test_the_openapi_document_describes_the_invite_endpoints() -> None:
    document = openapi.document()
    assert set(document["paths"]["/invites"]) == {"post", "get"}
    assert "delete" in document["paths"]["/invites/{invite_id}"]
    assert "code" in document["components"]["schemas"]["InviteIssued"]["properties"]
    assert "code" not in document["components"]["schemas"]["Invite"]["properties"]
