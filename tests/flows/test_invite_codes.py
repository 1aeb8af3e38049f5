"""A child's first link with the school's invite code, end to end: in a region whose
policy has ``under_14_first_link = invite_code``, ESIA login asks for the code before the contacts
page; the code opens its own account once; wrong codes end in ``invite_code_invalid``."""

from __future__ import annotations

import dataclasses
import html

import pytest
import requests
from sqlalchemy import select

import matching
from broker.db.models import AuditEvent, EsiaLink, InviteCode, LoginAttempt
from broker.extensions import db
from broker.login import invites
from broker.regions import admin as regionadmin
from mock_esia import services as mock_services
from tests.world import BROKER, World, csrf, link_through_esia, log_in, query_of

pytestmark = pytest.mark.flow

KID_ACCOUNT = "d-001"  # the example registry's child in region 77 (mock person "kid")


def set_policy(world: World, policy: dict[str, object]) -> None:
    with world.broker.app_context():
        regionadmin.change_region("77", enabled=None, policy=policy, comment="flow test", actor_staff=None, actor="cli:ops")
        db.session.remove()


def issue_code(world: World, account_id: str = KID_ACCOUNT) -> str:
    with world.broker.app_context():
        code = invites.issue(account_id, days=7, actor_staff=None, actor="cli:school").code
        db.session.remove()
        return code


def attempts(world: World) -> list[tuple[str, str | None, str | None, str | None]]:
    with world.broker.app_context():
        rows = db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id)).all()
        return [(a.outcome, a.reason, a.account_id, a.detail) for a in rows]


def links_of(world: World, account_id: str) -> list[str]:
    with world.broker.app_context():
        return [link.source for link in db.session.scalars(select(EsiaLink).where(EsiaLink.account_id == account_id))]


def at_code_page(world: World) -> str:
    login = log_in(world, "kid")
    assert login.callback is None and login.page is not None and login.page.url == f"{BROKER}/auth/invite"
    return login.page.text


def type_code(world: World, page: str, code: str) -> requests.Response:
    return world.go(f"{BROKER}/auth/invite", data={"csrf_token": csrf(page), "code": code})


@pytest.fixture
def invite_region(world: World) -> World:
    set_policy(world, {"under_14_first_link": "invite_code"})
    return world


def test_the_childs_first_login_asks_for_the_code_then_links_once_and_the_code_is_spent(invite_region: World) -> None:
    world = invite_region
    code = issue_code(world)
    page = at_code_page(world)
    assert 'label for="code"' in page and "код приглашения" in html.unescape(page).lower()
    assert code not in page and links_of(world, KID_ACCOUNT) == []

    typed = code.lower().replace("-", " ")  # as a parent may type it
    answer = type_code(world, page, typed)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/auth/confirm")
    confirm = world.go(f"{BROKER}/auth/confirm")
    done = world.go(f"{BROKER}/auth/confirm", data={"csrf_token": csrf(confirm.text), "phone": "+79000000001", "email": "k@example.org"})
    end = world.follow(done, lambda url: url.startswith("https://portal.test/callback"))
    assert isinstance(end, str) and "code" in query_of(end)
    assert links_of(world, KID_ACCOUNT) == ["login"]
    assert attempts(world) == [("linked", None, KID_ACCOUNT, None)]  # the attempt that waited now says linked
    with world.broker.app_context():
        trace = db.session.scalars(select(LoginAttempt)).one().trace
        assert trace[-1]["field"] == "invite_code" and trace[-1]["result"] == "pass"
        [used] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "invite_used")).all()
        assert used.target == f"account:{KID_ACCOUNT}" and used.actor.startswith("login:")
        assert code not in str(used.after) and code.replace("-", "") not in str(used.after)
        assert db.session.scalars(select(InviteCode)).one().used_at is not None

    # The next login goes through the link: no code asked.
    world.browser.cookies.clear()  # a new browser: no broker session to skip ESIA with
    again = log_in(world, "kid")
    assert again.callback is not None and attempts(world)[-1][:2] == ("signed_in", None)


def at_contacts_page(world: World, code: str) -> str:
    page = at_code_page(world)
    answer = type_code(world, page, code)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/auth/confirm")
    return world.go(f"{BROKER}/auth/confirm").text


def confirm_contacts(world: World, page: str) -> requests.Response:
    return world.go(f"{BROKER}/auth/confirm", data={"csrf_token": csrf(page), "phone": "+79000000001", "email": "k@example.org"})


def test_a_code_is_spent_only_with_the_link_so_an_abandoned_contacts_page_does_not_burn_it(invite_region: World) -> None:
    world = invite_region
    code = issue_code(world)
    at_contacts_page(world, code)
    with world.broker.app_context():
        assert db.session.scalars(select(InviteCode)).one().used_at is None  # checked, not spent
    world.browser.cookies.clear()  # that login is abandoned on the contacts page: nothing linked
    page = at_contacts_page(world, code)  # the same code still opens the account
    end = world.follow(confirm_contacts(world, page), lambda url: url.startswith("https://portal.test/callback"))
    assert isinstance(end, str) and links_of(world, KID_ACCOUNT) == ["login"]
    with world.broker.app_context():
        assert db.session.scalars(select(InviteCode)).one().used_at is not None


def test_a_code_used_by_another_login_meanwhile_is_refused_at_the_contacts_page(invite_region: World) -> None:
    world = invite_region
    code = issue_code(world)
    first = at_contacts_page(world, code)
    first_browser = world.browser.cookies.copy()
    world.browser.cookies.clear()
    second = at_contacts_page(world, code)  # a second login with the same code, before the first confirms
    end = world.follow(confirm_contacts(world, second), lambda url: url.startswith("https://portal.test/callback"))
    assert isinstance(end, str)
    world.browser.cookies = first_browser
    answer = confirm_contacts(world, first)
    assert answer.status_code == 403
    assert attempts(world) == [("refused", "invite_code_invalid", KID_ACCOUNT, "invite_code_used_meanwhile"),
                               ("linked", None, KID_ACCOUNT, None)]  # fmt: skip
    with world.broker.app_context():
        refused = db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id)).first()
        assert refused is not None and refused.reference in html.unescape(answer.text)
        assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "invite_used")).all()) == 1


def test_wrong_codes_end_the_login_with_invite_code_invalid_in_its_one_attempt_row_and_its_reference(
    invite_region: World,
) -> None:
    world = invite_region
    issue_code(world)
    page = at_code_page(world)
    for left in (2, 1):
        answer = type_code(world, page, "AAAAA-AAAAA")
        assert answer.status_code == 400 and f"Осталось попыток: {left}" in html.unescape(answer.text)
        assert 'aria-invalid="true"' in answer.text
    answer = type_code(world, page, "AAAAA-AAAAA")
    assert answer.status_code == 403
    text = html.unescape(answer.text)
    words = matching.REFUSALS[matching.Reason.INVITE_CODE_INVALID]
    assert words.message_ru in text and words.next_step_ru in text and "Код обращения" in text
    # One login, one attempt: the row that waited for the code now says why it ended.
    assert attempts(world) == [("refused", "invite_code_invalid", KID_ACCOUNT, "invite_code_wrong")]
    with world.broker.app_context():
        attempt = db.session.scalars(select(LoginAttempt)).one()
        assert attempt.reference in text
        assert attempt.trace[-1]["field"] == "invite_code" and attempt.trace[-1]["result"] == "fail"
    assert links_of(world, KID_ACCOUNT) == []
    # The form sent again (a reload of the refusal) shows the same refusal, and no code is tried.
    again = type_code(world, page, "AAAAA-AAAAA")
    assert again.status_code == 403 and attempt.reference in again.text
    assert attempts(world) == [("refused", "invite_code_invalid", KID_ACCOUNT, "invite_code_wrong")]
    assert links_of(world, KID_ACCOUNT) == []


def test_past_the_per_person_limit_even_the_right_code_is_refused(invite_region: World) -> None:
    world = invite_region
    world.broker.config.update(INVITE_MAX_TRIES_PER_LOGIN=10, INVITE_MAX_FAILURES_PER_ACCOUNT=2)
    code = issue_code(world)
    page = at_code_page(world)
    assert type_code(world, page, "AAAAA-AAAAA").status_code == 400
    world.browser.cookies.clear()
    page = at_code_page(world)  # a new login does not reset the person's count
    assert type_code(world, page, "BBBBB-BBBBB").status_code == 400
    answer = type_code(world, page, code)
    assert answer.status_code == 403
    assert attempts(world)[-1] == ("refused", "invite_code_invalid", KID_ACCOUNT, "invite_code_locked")
    assert links_of(world, KID_ACCOUNT) == []


def add_impostor(world: World) -> str:
    """A second simplified ESIA account claiming the child's name and birth date (the attacker)."""
    with world.esia.app_context():
        esia = mock_services.current()
        kid = next(person for person in esia.persons if person.login == "kid")
        impostor = dataclasses.replace(kid, oid=1000300666, login="impostor")
        esia.persons = (*esia.persons, impostor)
        esia.persons_by_oid[impostor.oid] = impostor
    return impostor.login


def test_an_impostor_typing_wrong_codes_locks_only_themselves_not_the_family(invite_region: World) -> None:
    world = invite_region
    world.broker.config.update(INVITE_MAX_FAILURES_PER_ACCOUNT=3)
    code = issue_code(world)
    impostor = add_impostor(world)
    for _ in range(2):  # two logins' worth of wrong codes: past the impostor's own limit
        world.browser.cookies.clear()
        login = log_in(world, impostor)
        assert login.page is not None and login.page.url == f"{BROKER}/auth/invite"
        for _ in range(2):
            type_code(world, login.page.text, "AAAAA-AAAAA")
    world.browser.cookies.clear()
    login = log_in(world, impostor)
    assert login.page is not None
    assert type_code(world, login.page.text, code).status_code == 403  # locked: not even the right code
    assert attempts(world)[-1][1:] == ("invite_code_invalid", KID_ACCOUNT, "invite_code_locked")

    world.browser.cookies.clear()
    page = at_code_page(world)  # the family's ESIA account, the same day
    answer = type_code(world, page, code)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/auth/confirm")


def test_a_code_issued_for_another_account_does_not_open_this_one(invite_region: World) -> None:
    world = invite_region
    with world.broker.app_context():
        other = db.session.scalars(select(LoginAttempt.id)).first()  # nothing yet
        assert other is None
    code = issue_code(world, "d-002")
    page = at_code_page(world)
    assert type_code(world, page, code).status_code == 400
    assert links_of(world, KID_ACCOUNT) == []


def test_a_revoked_code_is_refused(invite_region: World) -> None:
    world = invite_region
    code = issue_code(world)
    with world.broker.app_context():
        invite = db.session.scalars(select(InviteCode)).one()
        invites.revoke(invite.id, actor_staff=None, actor="cli:school")
        db.session.remove()
    page = at_code_page(world)
    assert type_code(world, page, code).status_code == 400


def test_the_code_page_needs_the_csrf_token_and_the_pending_login(invite_region: World) -> None:
    world = invite_region
    code = issue_code(world)
    page = at_code_page(world)
    forged = world.go(f"{BROKER}/auth/invite", data={"csrf_token": "x", "code": code})
    assert forged.status_code == 400 and "Сеанс входа истёк" in html.unescape(forged.text)
    assert links_of(world, KID_ACCOUNT) == [] and csrf(page)
    world.browser.cookies.clear()
    assert world.go(f"{BROKER}/auth/invite").status_code == 400


def test_the_contacts_page_cannot_be_reached_before_the_code(invite_region: World) -> None:
    world = invite_region
    issue_code(world)
    at_code_page(world)
    skipped = world.go(f"{BROKER}/auth/confirm")
    assert skipped.status_code == 400 and links_of(world, KID_ACCOUNT) == []


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_account_chooser_cannot_be_used_to_skip_the_code(invite_region: World, method: str) -> None:
    """The chooser serves only a login the engine sent there; the code page's token does not open it."""
    world = invite_region
    issue_code(world)
    page = at_code_page(world)
    data = {"csrf_token": csrf(page), "account_id": KID_ACCOUNT} if method == "POST" else None
    answer = world.go(f"{BROKER}/auth/choose", data=data)
    assert answer.status_code == 400 and "d-001" not in answer.text
    assert world.go(f"{BROKER}/auth/confirm").status_code == 400
    assert links_of(world, KID_ACCOUNT) == []


def test_without_a_code_the_person_abandons_and_the_attempt_says_a_code_was_needed(invite_region: World) -> None:
    world = invite_region
    at_code_page(world)
    assert attempts(world) == [("refused", "invite_code_required", KID_ACCOUNT, None)]


def test_the_link_flow_needs_no_code(invite_region: World) -> None:
    """The portal's link flow starts from a diary session signed in with the account's password."""
    back = link_through_esia(invite_region, KID_ACCOUNT, "kid")
    assert isinstance(back, str) and query_of(back)["linked"] == KID_ACCOUNT
    assert links_of(invite_region, KID_ACCOUNT) == ["link"]


def test_with_the_link_flow_rule_on_no_code_is_asked_and_link_required_stands(world: World) -> None:
    set_policy(world, {"under_14_first_link": "invite_code", "auto_link_under_14": False})
    issue_code(world)
    login = log_in(world, "kid")
    assert login.page is not None and not login.page.url.endswith("/auth/invite")
    assert attempts(world)[-1][:2] == ("refused", "link_required")


def test_adults_are_never_asked_for_a_code(invite_region: World) -> None:
    log_in(invite_region, "adult-verified")
    assert attempts(invite_region)[-1][:2] == ("linked", None)
