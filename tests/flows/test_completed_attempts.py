"""An attempt says whether the person got in (``completed_at``), not only what the broker decided.

The broker records an attempt when it decides; a first link never confirmed, a chooser never
answered and «Это не я» end without anyone getting in, and the region's figures count them as
attempts but not as successes. The person gets in when the diary session is made (the same
commit) or, in the link flow, when the link is written.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from broker import services
from broker.db.models import LoginAttempt
from broker.extensions import db
from broker.regions import admin as regionadmin
from tests.world import BROKER, World, confirm_contacts, csrf, link_through_esia, log_in

pytestmark = pytest.mark.flow


def the_attempts(world: World) -> list[tuple[str, str | None, bool]]:
    """Every attempt as (outcome, account entered or found, completed), oldest first."""
    with world.broker.app_context():
        rows = db.session.execute(select(LoginAttempt.outcome, LoginAttempt.account_id, LoginAttempt.completed_at)
                                  .order_by(LoginAttempt.id)).all()  # fmt: skip
        db.session.remove()
    return [(outcome, account, completed is not None) for outcome, account, completed in rows]


def successes(world: World) -> tuple[int, int]:
    with world.broker.app_context():
        found = regionadmin.figures("77", now=services.current().clock() + timedelta(seconds=1))
        db.session.remove()
    return found.successes("day"), found.day_total


def test_a_first_link_is_a_success_only_once_confirmed(world: World) -> None:
    login = log_in(world, "adult-verified")
    assert login.page is not None and login.page.url == f"{BROKER}/auth/confirm"
    assert the_attempts(world) == [("linked", "d-005", False)] and successes(world) == (0, 1)
    confirm_contacts(world, login, "+7 900 000-00-51", "ivan@example.org")
    assert the_attempts(world) == [("linked", "d-005", True)] and successes(world) == (1, 1)


def test_a_chooser_never_answered_and_not_me_are_no_successes(world: World) -> None:
    chooser = log_in(world, "teacher").page
    assert chooser is not None and chooser.url == f"{BROKER}/auth/choose"
    again = log_in(world, "teacher").page  # a new login in the same browser: the first is abandoned
    assert again is not None
    assert world.go(f"{BROKER}/auth/not-me", data={"csrf_token": csrf(again.text)}).status_code == 303
    assert [completed for _, _, completed in the_attempts(world)] == [False, False]
    assert successes(world) == (0, 2)


def test_a_chosen_account_is_a_success_once_confirmed(world: World) -> None:
    login = log_in(world, "teacher")
    assert login.page is not None
    answer = world.go(f"{BROKER}/auth/choose", data={"csrf_token": csrf(login.page.text), "account_id": "d-009"})
    confirm = world.follow(answer, lambda url: False)
    assert not isinstance(confirm, str)
    login.page = confirm
    confirm_contacts(world, login, "+79000000008", "o@example.org")
    assert the_attempts(world) == [("choose_account", "d-009", True)] and successes(world) == (1, 1)


def test_a_login_through_a_link_is_a_success(world: World) -> None:
    assert log_in(world, "namesake-1").callback is not None
    assert the_attempts(world) == [("signed_in", "d-016", True)] and successes(world) == (1, 1)


def test_the_link_flow_is_a_success_once_linked(world: World) -> None:
    back = link_through_esia(world, "d-004", "teen-verified")
    assert isinstance(back, str)
    assert the_attempts(world) == [("linked", "d-004", True)]
