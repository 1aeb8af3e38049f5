"""A region's policy override, end to end: with ``auto_link_under_14`` off, a child's first ESIA
login is refused (``link_required``) until the account is linked in the link flow."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

import matching
from broker.db.models import EsiaLink, LoginAttempt
from broker.extensions import db
from broker.regions import admin as regionadmin
from tests.world import World, link_through_esia, log_in, query_of

pytestmark = pytest.mark.flow


def set_auto_link(world: World, code: str, value: bool) -> None:
    with world.broker.app_context():
        regionadmin.change_region(code, enabled=None, policy={"auto_link_under_14": value},
                                  comment="flow test", actor_staff=None, actor="cli:ops")  # fmt: skip
        db.session.remove()


def last_attempt(world: World) -> tuple[str, str | None, str | None]:
    with world.broker.app_context():
        attempt = db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id.desc())).first()
        assert attempt is not None
        return attempt.outcome, attempt.reason, attempt.account_id


def links_of(world: World, account_id: str) -> list[tuple[str, str]]:
    with world.broker.app_context():
        return [(link.oid, link.source) for link in db.session.scalars(select(EsiaLink).where(EsiaLink.account_id == account_id))]


def test_a_childs_first_login_needs_the_link_flow_then_esia_login_signs_in(world: World) -> None:
    set_auto_link(world, "77", False)
    refused = log_in(world, "kid")
    assert refused.callback is None and refused.page is not None
    assert last_attempt(world)[:2] == ("refused", "link_required")
    page = html.unescape(refused.page.text)
    words = matching.REFUSALS[matching.Reason.LINK_REQUIRED]
    assert words.message_ru in page and words.next_step_ru in page and words.fixer_ru in page
    assert "Код обращения" in page and links_of(world, "d-001") == []

    back = link_through_esia(world, "d-001", "kid")  # signed in to the diary with the password
    assert isinstance(back, str) and query_of(back)["linked"] == "d-001"
    assert links_of(world, "d-001") == [("1000300001", "link")]

    login = log_in(world, "kid")
    assert login.callback is not None
    assert last_attempt(world) == ("signed_in", None, "d-001")


def test_with_the_override_on_the_childs_first_login_links_as_before(world: World) -> None:
    set_auto_link(world, "77", False)
    set_auto_link(world, "77", True)
    log_in(world, "kid")
    assert last_attempt(world)[:2] == ("linked", None)


def test_the_override_does_not_touch_adults(world: World) -> None:
    set_auto_link(world, "77", False)
    log_in(world, "adult-verified")
    assert last_attempt(world)[:2] == ("linked", None)
