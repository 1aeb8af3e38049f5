"""Every outcome and every reason code, reached through a real login (portal → broker → mock ESIA).

The demo registry lines up with the mock's persons; a test that needs another registry state
changes one account first, as a school administrator would.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from broker.db.models import Account, EsiaLink, LoginAttempt, Region
from broker.extensions import db
from broker.login import attempts
from broker.web.statuses import status_of
from matching import Reason
from tests.world import ESIA, World, log_in

pytestmark = pytest.mark.flow


def change(world: World, account_id: str, **values: Any) -> None:
    with world.broker.app_context():
        account = db.session.get(Account, account_id)
        assert account is not None
        for key, value in values.items():
            setattr(account, key, value)
        db.session.commit()


def delete_account(world: World, account_id: str) -> None:
    with world.broker.app_context():
        db.session.delete(db.session.get(Account, account_id))
        db.session.commit()


def link_elsewhere(world: World, account_id: str) -> None:
    with world.broker.app_context():
        db.session.add(EsiaLink(account_id=account_id, oid="1000999998", source="login", linked_at=datetime.now(UTC)))
        db.session.commit()


def add_namesake_of_kid(world: World) -> None:
    with world.broker.app_context():
        kid = db.session.get(Account, "d-001")
        assert kid is not None
        twin = Account(**{c.name: getattr(kid, c.name) for c in Account.__table__.columns})
        twin.id, twin.login, twin.school_id = "d-901", "kid.twin", "sch-1002"
        db.session.add(twin)
        db.session.commit()


def require_link_flow_for_children(world: World) -> None:
    with world.broker.app_context():
        region = db.session.get(Region, "77")
        assert region is not None
        region.policy = {"auto_link_under_14": False}  # as an operator sets it on the region page
        db.session.commit()


def esia_fault(fault: str, endpoint: str) -> Callable[[World], None]:
    def arrange(world: World) -> None:
        answer = requests.post(f"{ESIA}/__mock__/faults", json={"fault": fault, "endpoints": [endpoint], "count": 2})
        assert answer.status_code < 300, answer.text

    return arrange


REFUSALS: list[tuple[str, Callable[[World], None] | None, str]] = [
    ("adult-verified", lambda w: delete_account(w, "d-005"), "no_account"),
    ("adult-verified", lambda w: change(w, "d-005", status="blocked"), "account_blocked"),
    ("adult-verified", lambda w: change(w, "d-005", school_id=None), "not_attached"),
    ("adult-verified", lambda w: change(w, "d-005", first_name="Пётр"), "name_mismatch"),
    ("adult-verified", lambda w: change(w, "d-005", gender="F"), "gender_mismatch"),
    ("adult-verified", lambda w: link_elsewhere(w, "d-005"), "linked_elsewhere"),
    ("adult-verified", lambda w: change(w, "d-005", region="39"), "region_disabled"),
    ("kid", lambda w: change(w, "d-001", birth_date=date(2016, 5, 15)), "birthdate_mismatch"),
    ("kid", add_namesake_of_kid, "ambiguous"),
    ("kid", require_link_flow_for_children, "link_required"),
    ("teen-standard", lambda w: change(w, "d-002", snils_digest="0" * 64), "snils_mismatch"),
    ("teen-verified", None, "snils_missing_in_diary"),
    ("teen-simple", None, "tier_insufficient"),
    ("adult-simple", None, "tier_insufficient"),
    ("no-birthdate", None, "esia_data_incomplete"),
    ("bad-snils", None, "esia_data_incomplete"),
    ("decline", None, "esia_denied"),
    ("adult-verified", esia_fault("status=503", "te"), "esia_unavailable"),
    ("adult-verified", esia_fault("status=503", "prns"), "esia_unavailable"),
    ("adult-verified", esia_fault("wrong_iss", "te"), "esia_error"),
    ("adult-verified", esia_fault("foreign_signature", "te"), "esia_error"),
    ("adult-verified", esia_fault("person_mismatch", "prns"), "esia_error"),
]


@pytest.mark.parametrize(("person", "arrange", "reason"), REFUSALS, ids=[f"{r[2]}-{r[0]}" for r in REFUSALS])
def test_every_reason_is_reached_and_recorded(world: World, person: str, arrange: Callable[[World], None] | None, reason: str) -> None:
    if arrange is not None:
        arrange(world)
    login = log_in(world, person)
    assert login.callback is None, "a refused login must not reach the portal"
    assert login.page is not None and "Код обращения" in login.page.text
    assert login.page.status_code == status_of(Reason(reason))  # 403, 502 or 503 (broker/web/statuses.py)
    assert ("Retry-After" in login.page.headers) == (reason == "esia_unavailable")
    with world.broker.app_context():
        attempt = db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id.desc())).first()
        assert attempt is not None and (attempt.outcome, attempt.reason) == ("refused", reason)
        assert attempt.reference in login.page.text
        made = select(func.count()).select_from(EsiaLink).where(EsiaLink.source == "login", EsiaLink.oid != "1000999998")
        assert db.session.scalar(made) == 0  # no link made by a refused login


@pytest.mark.parametrize(
    ("person", "outcome"),
    [("namesake-1", "signed_in"), ("kid", "linked"), ("teacher", "choose_account"), ("yo", "linked"), ("latin-letters", "linked")],
)
def test_every_granted_outcome_is_reached_and_recorded(world: World, person: str, outcome: str) -> None:
    log_in(world, person)
    with world.broker.app_context():
        attempt = db.session.scalars(select(LoginAttempt)).one()
        assert (attempt.outcome, attempt.reason) == (outcome, None)
        if outcome == "signed_in":  # through the link the person has: a lean row, completed (docs/adr/0023)
            assert attempt.trace == [] and attempt.detail == attempts.BY_LINK and attempt.completed_at is not None
            assert attempt.account_id and attempt.oid_digest and attempt.snils_digest is None and attempt.candidate_ids == []
            return
        assert attempt.trace and all("Сёмина" not in str(check) and "Лебедев" not in str(check) for check in attempt.trace)


def test_a_refusal_about_one_account_names_that_account_for_the_support_search(world: World) -> None:
    log_in(world, "teen-verified")  # 14+, the diary account has no SNILS: snils_missing_in_diary
    with world.broker.app_context():
        attempt = db.session.scalars(select(LoginAttempt)).one()
        compared = {check["account_id"] for check in attempt.trace if check.get("account_id")}
        assert attempt.reason == "snils_missing_in_diary" and len(compared) == 1
        assert attempt.account_id in compared and attempt.candidate_ids == [attempt.account_id]
