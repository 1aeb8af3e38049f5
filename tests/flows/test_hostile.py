"""What a hostile browser, portal or replay gets: a named refusal, never a session or a 500."""

from __future__ import annotations

from datetime import UTC
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from broker.db.models import DiarySession, LoginAttempt
from broker.extensions import db
from tests.world import BROKER, PORTAL_CALLBACK, World, csrf, log_in, query_of, start_login

pytestmark = pytest.mark.flow


def sessions_count(world: World) -> int:
    with world.broker.app_context():
        return db.session.scalar(select(func.count()).select_from(DiarySession)) or 0


def attempts_count(world: World) -> int:
    with world.broker.app_context():
        return db.session.scalar(select(func.count()).select_from(LoginAttempt)) or 0


def esia_callback_for(world: World, person: str) -> str:
    """Run a login up to ESIA's redirect back to the broker; return that callback URL."""
    _, response = start_login(world)
    at_esia = world.follow(response, lambda url: urlsplit(url).path == "/login")
    assert isinstance(at_esia, str)
    answer = world.go(at_esia, data={"login": person, "password": "test1234"})
    callback = answer.headers["Location"]
    assert callback.startswith(f"{BROKER}/auth/esia/callback")
    return callback


def test_a_replayed_esia_callback_is_told_to_start_again_and_not_recorded(world: World) -> None:
    callback = esia_callback_for(world, "namesake-1")
    first = world.follow(world.go(callback), lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(first, str)
    again = world.go(callback)
    assert again.status_code == 400 and "Сеанс входа истёк" in again.text
    assert sessions_count(world) == 1 and attempts_count(world) == 1  # the first login's only


def test_a_callback_in_another_browser_is_refused(world: World) -> None:
    callback = esia_callback_for(world, "namesake-1")
    stranger = requests.Session()
    answer = stranger.get(callback, allow_redirects=False)
    assert answer.status_code == 400 and "Сеанс входа истёк" in answer.text
    assert sessions_count(world) == 0 and attempts_count(world) == 0


def test_a_forged_state_is_refused_and_not_recorded(world: World) -> None:
    answer = world.go(f"{BROKER}/auth/esia/callback?code=x&state=00000000-0000-4000-8000-000000000000")
    assert answer.status_code == 400 and "начните вход заново" in answer.text
    assert attempts_count(world) == 0  # garbage callbacks must not fill the attempts table


def test_an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(world: World) -> None:
    answer = world.go(
        f"{BROKER}/oidc/authorize?response_type=code&client_id=portal&redirect_uri=https://evil.test/cb&scope=openid&region=77"
    )
    assert answer.status_code == 400 and "Портал отправил неверный запрос" in answer.text


def test_an_unknown_portal_gets_an_error_page(world: World) -> None:
    answer = world.go(f"{BROKER}/oidc/authorize?response_type=code&client_id=nobody&redirect_uri={PORTAL_CALLBACK}&scope=openid")
    assert answer.status_code == 400


def test_a_request_without_pkce_is_sent_back_to_the_portal_with_an_error(world: World) -> None:
    answer = world.go(
        f"{BROKER}/oidc/authorize?response_type=code&client_id=portal&redirect_uri={PORTAL_CALLBACK}&scope=openid&state=s1&region=77"
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(PORTAL_CALLBACK) and query_of(location)["error"] == "invalid_request"


def test_without_a_region_the_broker_asks_for_one(world: World) -> None:
    _, response = start_login(world, region=None)
    assert response.status_code == 200 and "Выберите свой регион" in response.text
    assert "Москва" in response.text and "Камчатский край" not in response.text  # only the portal's regions


def test_a_disabled_region_is_refused_with_the_ordinary_login_offered(world: World) -> None:
    _, response = start_login(world, region="39")
    assert response.status_code == 403  # a decision against the person
    assert "в вашем регионе пока не подключён" in response.text and "https://portal.test/login" in response.text


def test_a_code_is_redeemed_once(world: World) -> None:
    login = log_in(world, "namesake-1")
    login.token()
    with pytest.raises(Exception, match="invalid_grant"):
        login.token()


def test_userinfo_refuses_a_missing_or_unknown_token(world: World) -> None:
    assert requests.get(f"{BROKER}/oidc/userinfo").status_code == 401
    assert requests.get(f"{BROKER}/oidc/userinfo", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_a_token_request_without_the_pkce_verifier_is_refused(world: World) -> None:
    login = log_in(world, "namesake-1")
    assert login.callback is not None
    answer = requests.post(
        f"{BROKER}/oidc/token",
        data={"grant_type": "authorization_code", "code": query_of(login.callback)["code"], "redirect_uri": PORTAL_CALLBACK},
        auth=("portal", "portal-secret"),
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


def test_a_wrong_client_secret_is_refused(world: World) -> None:
    login = log_in(world, "namesake-1")
    assert login.callback is not None
    answer = requests.post(
        f"{BROKER}/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": query_of(login.callback)["code"],
            "redirect_uri": PORTAL_CALLBACK,
            "code_verifier": login.verifier,
        },
        auth=("portal", "wrong"),
    )
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


def test_a_portal_unregistered_while_the_person_was_at_esia_ends_the_login_without_a_500(world: World) -> None:
    callback = esia_callback_for(world, "namesake-1")
    with world.broker.app_context():
        from broker import services

        clients = services.current().clients
        removed = clients.pop("portal")
    try:
        answer = world.go(callback)
    finally:
        clients["portal"] = removed
    assert answer.status_code == 400 and "client_unregistered" in answer.text
    assert sessions_count(world) == 0
    with world.broker.app_context():
        attempt = db.session.scalars(select(LoginAttempt).order_by(LoginAttempt.id.desc())).first()
        assert attempt is not None and attempt.detail == "client_unregistered" and attempt.reference in answer.text


def test_an_account_linked_by_someone_else_while_the_person_confirmed_is_refused_without_a_session(world: World) -> None:
    from datetime import datetime

    from broker.db.models import EsiaLink

    login = log_in(world, "adult-verified")  # a first link: the confirmation page
    assert login.page is not None and login.page.url.endswith("/auth/confirm")
    with world.broker.app_context():  # meanwhile another ESIA person links the same account
        account_id = "d-005"
        db.session.add(EsiaLink(account_id=account_id, oid="1000999997", tier="verified", source="link",
                                linked_at=datetime.now(UTC)))  # fmt: skip
        db.session.commit()
    answer = world.go(
        f"{BROKER}/auth/confirm", data={"csrf_token": csrf(login.page.text), "phone": "+79000000005", "email": "i@example.org"}
    )
    assert answer.status_code == 403 and "Код обращения" in answer.text
    assert sessions_count(world) == 0
    with world.broker.app_context():
        [attempt] = db.session.scalars(select(LoginAttempt)).all()  # the login's one row, refused after all
        assert (attempt.outcome, attempt.reason, attempt.detail) == ("refused", "linked_elsewhere", "linked_meanwhile")
        assert attempt.reference in answer.text
        assert db.session.get(EsiaLink, account_id).oid == "1000999997"
