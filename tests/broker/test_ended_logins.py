"""A login that ended refused: its row keeps the refusal for its own browser only, for a while, and
can never be claimed or staged again (``broker.login.pending`` ``end`` and ``ended``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from flask import Flask
from sqlalchemy import select

from broker import services
from broker.db.models import PendingLogin
from broker.extensions import db
from broker.login import pending
from broker.login.pending import Ended, Stage, Step

BINDING = "the-browsers-secret"
REFUSAL = Ended("tier_insufficient", "ABCD-EFGH")


def claimed_login() -> pending.Pending:
    """A login ESIA has just answered: claimed by the browser holding ``BINDING``."""
    now = datetime.now(UTC)
    digest = services.current().keyring.browser_binding.digest(BINDING)
    db.session.add(PendingLogin(state="st-1", browser_digest=digest, client_id="portal", portal_request={"state": "p"},
                                region="77", esia_nonce="n", created_at=now, expires_at=now + timedelta(minutes=15)))  # fmt: skip
    db.session.commit()
    login = pending.claim("st-1", BINDING)
    assert login is not None
    return login


def test_an_ended_login_is_read_back_by_its_browser_with_its_refusal_and_the_portals_request(app: Flask) -> None:
    pending.end(claimed_login(), REFUSAL)
    db.session.commit()
    login = pending.ended("st-1", BINDING)
    assert login is not None and login.ended == REFUSAL and login.stage is None
    assert login.portal_request == {"state": "p"} and login.consumed_at is not None


def test_no_other_browser_reads_an_ended_login(app: Flask) -> None:
    pending.end(claimed_login(), REFUSAL)
    db.session.commit()
    assert pending.ended("st-1", "another-secret") is None
    assert pending.ended("st-1", None) is None and pending.ended(None, BINDING) is None
    assert pending.ended("st-2", BINDING) is None


def test_an_ended_login_is_never_claimed_nor_waits_on_a_page_again(app: Flask) -> None:
    pending.end(claimed_login(), REFUSAL)
    db.session.commit()
    assert pending.claim("st-1", BINDING) is None
    staged = pending.staged("st-1", BINDING)
    assert staged is None or staged.stage is None  # no step's page finds it waiting


def test_an_ended_login_is_kept_for_refusal_kept_seconds(app: Flask) -> None:
    app.config["REFUSAL_KEPT_SECONDS"] = 3600
    pending.end(claimed_login(), REFUSAL)
    db.session.commit()
    expires = db.session.scalars(select(PendingLogin.expires_at)).one()
    assert timedelta(minutes=59) < expires.replace(tzinfo=UTC) - datetime.now(UTC) <= timedelta(hours=1)
    app.config["REFUSAL_KEPT_SECONDS"] = 0
    pending.end(pending.Pending.from_row(db.session.execute(select(*PendingLogin.__table__.c)).one()), REFUSAL)
    db.session.commit()
    assert pending.ended("st-1", BINDING) is None


def test_the_link_flows_other_person_is_kept_with_the_refusal(app: Flask) -> None:
    pending.end(claimed_login(), Ended("name_mismatch", "ABCD-EFGH", other_person=True))
    db.session.commit()
    login = pending.ended("st-1", BINDING)
    assert login is not None and login.ended == Ended("name_mismatch", "ABCD-EFGH", True)


def test_a_stage_is_still_read_as_a_stage() -> None:
    stage = Stage(Step.CONFIRM, attempt_id=7, account_ids=("acc-1",), oid="1000", tier="verified", amr="PWD",
                  auth_time=None, email=None, mobile=None)  # fmt: skip

    now = datetime.now(UTC)
    row = SimpleNamespace(state="s", browser_digest="d", client_id="portal", portal_request={}, region="77", link_account=None,
                          esia_nonce="n", esia_code_verifier=None, created_at=now, expires_at=now, consumed_at=None,
                          stage=stage.to_json())  # fmt: skip
    read = pending.Pending.from_row(row)
    assert read.stage == stage and read.ended is None
