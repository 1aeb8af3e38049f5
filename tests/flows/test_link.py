"""The link flow ("Привязать аккаунт портала Госуслуги"): a person signed in to the diary with a
password links their ESIA account to that diary account."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from broker.db.models import EsiaLink
from broker.extensions import db
from tests.world import PORTAL, PORTAL_SECRET, World, ask_link, link_through_esia, log_in, query_of

pytestmark = pytest.mark.flow


def test_an_account_without_snils_is_linked_and_the_next_login_goes_straight_in(world: World) -> None:
    assert log_in(world, "teen-verified").page is not None  # refused: snils_missing_in_diary
    back = link_through_esia(world, "d-004", "teen-verified")
    assert isinstance(back, str) and query_of(back)["linked"] == "d-004"
    with world.broker.app_context():
        link = db.session.scalars(select(EsiaLink).where(EsiaLink.account_id == "d-004")).one()
        assert (link.oid, link.source) == ("1000300004", "link")
    login = log_in(world, "teen-verified")
    assert login.callback is not None


def test_the_link_flow_refuses_a_person_who_is_not_that_account(world: World) -> None:
    page = link_through_esia(world, "d-004", "adult-verified")
    assert not isinstance(page, str) and page.status_code == 403
    assert "Привязать аккаунт Госуслуг не получилось" in page.text and "другого человека" in page.text


@pytest.mark.parametrize(
    ("account_id", "return_to", "secret", "status"),
    [
        ("d-004", "https://evil.test/steal", PORTAL_SECRET, 400),
        ("d-004", "javascript:alert(1)", PORTAL_SECRET, 400),
        ("d-004", "http://[", PORTAL_SECRET, 400),  # unparsable: refused, never a 500
        ("d-004", "https://portal.test/sett\nings", PORTAL_SECRET, 400),  # urlsplit drops it; a redirect would 500
        ("d-004", " https://portal.test/settings", PORTAL_SECRET, 400),
        ("d-004", "https://portal.test:0/settings", PORTAL_SECRET, 400),
        ("d-004", "https://portal.test:99999/settings", PORTAL_SECRET, 400),
        ("d-004", "https://portal.test@evil.test/settings", PORTAL_SECRET, 400),
        ("d-004", "https://evil.test@portal.test/settings", PORTAL_SECRET, 400),  # user info: refused
        ("d-004", "https://portal.test:443/settings", PORTAL_SECRET, 200),  # the same origin, port spelt out
        ("d-004", f"{PORTAL}/settings", "wrong", 401),
        ("nobody", f"{PORTAL}/settings", PORTAL_SECRET, 400),
        ("d-028", f"{PORTAL}/settings", PORTAL_SECRET, 200),  # region 39 is among the portal's regions
    ],
)
def test_the_portal_must_authenticate_and_stay_on_its_origin(
    world: World, account_id: str, return_to: str, secret: str, status: int
) -> None:
    assert ask_link(account_id, return_to, secret).status_code == status


def test_a_link_ticket_is_used_once(world: World) -> None:
    url = ask_link("d-004").json()["url"]
    assert world.go(url).status_code == 302
    assert requests.get(url, allow_redirects=False).status_code == 400
