"""A refusal survives reload and Back, and leads back to the portal in OIDC terms (issue #12, items 1-3).

* The same browser reloading a refused callback (or coming back to it) sees the same refusal,
  reference code and buttons, and nothing new is recorded; any other browser sees only "the login
  has expired".
* «Вернуться на сайт» answers the portal's authorization request with an OIDC error response
  (OIDC Core §3.1.2.6): ``access_denied`` (``temporarily_unavailable`` when ESIA is down), the
  reason code as ``error_description`` and the request's ``state``, at its registered redirect
  URI only. The portal here is a standard one: Authlib's Flask client.
* «Вернуться на сайт» also carries the attempt's reference code (``reference``), so that the
  portal can show the code its support searches by.
* «Попробовать ещё раз» is a fresh login started by the portal (its ``initiate_login_uri``, with
  ``iss``), never the portal's old request again; without one, the portal's login page.
* The link flow that meets another person at ESIA says so, and leads out of Gosuslugi and back
  to the diary.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterator
from datetime import date
from urllib.parse import urlsplit

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import func, select

import matching
from broker import services
from broker.config import LOGIN_COOKIE, cookie_name
from broker.db.models import Account, LoginAttempt
from broker.extensions import db
from broker.login import flow
from broker.oidc.clients import Support
from tests.flows.authlib_portal import portal_app, start_at_portal
from tests.world import (
    BROKER,
    ESIA,
    PORTAL,
    PORTAL_CALLBACK,
    World,
    ask_link,
    link_through_esia,
    log_in,
    query_of,
    start_login,
    verify_id_token,
)

pytestmark = pytest.mark.flow


@pytest.fixture
def portal() -> Iterator[FlaskClient]:
    """The portal's side of the person's browser (Authlib's Flask client: tests/flows/authlib_portal.py)."""
    with portal_app().test_client() as browser:
        yield browser


def refused_at_esia(world: World, at_esia: str, person: str, **form: str) -> requests.Response:
    answer = world.go(at_esia, data={"login": person, "password": "test1234", **form})
    page = world.follow(answer, lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(page, requests.Response) and "Код обращения" in page.text
    return page


def button(page: requests.Response, text: str) -> str | None:
    """The href of the page's link ``text``, unescaped; None if the page has none."""
    found = re.search(r'<a class="button[^"]*" href="([^"]+)">' + re.escape(text) + "</a>", page.text)
    return html.unescape(found.group(1)) if found else None


def reference_of(page: requests.Response) -> str:
    found = re.search(r'<span class="ref">([0-9A-Z]{4}-[0-9A-Z]{4})</span>', page.text)
    assert found, "the page shows a reference code"
    return found.group(1)


def attempts(world: World) -> int:
    with world.broker.app_context():
        return db.session.scalar(select(func.count()).select_from(LoginAttempt)) or 0


def cookie_value(world: World, plain: str) -> str | None:
    return world.browser.cookies.get(cookie_name(world.broker.config, plain), domain="broker.test")


def ways(page: requests.Response) -> tuple[str | None, ...]:
    return tuple(button(page, text) for text in ("Попробовать ещё раз", "Войти по логину и паролю", "Вернуться на сайт"))


# -- 1. a refusal survives reload and Back ----------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "reason"),
    [
        ("teen-simple", matching.Reason.TIER_INSUFFICIENT),  # the engine's decision
        ("decline", matching.Reason.ESIA_DENIED),  # ESIA's error callback
        ("teen-verified", matching.Reason.SNILS_MISSING_IN_DIARY),
    ],
)
def test_a_reload_of_a_refused_callback_shows_the_same_refusal_and_records_nothing(
    world: World, person: str, reason: matching.Reason
) -> None:
    page = log_in(world, person).page
    assert page is not None and page.status_code == 403 and attempts(world) == 1
    for _ in range(2):  # F5, twice
        again = world.go(page.url)
        assert again.status_code == 403
        assert reference_of(again) == reference_of(page) and ways(again) == ways(page)
        assert matching.REFUSALS[reason].message_ru in html.unescape(again.text)
    assert None not in ways(page) and attempts(world) == 1


def test_esia_answering_the_same_state_again_shows_the_same_refusal(world: World) -> None:
    """Back to ESIA, whose single sign-on sends the browser back with a new code and the same state."""
    page = log_in(world, "teen-simple").page
    assert page is not None
    state = query_of(page.url)["state"]
    again = world.go(f"{BROKER}/auth/esia/callback?code=another-code&state={state}")
    assert again.status_code == 403 and reference_of(again) == reference_of(page) and attempts(world) == 1


def test_another_browser_with_the_refused_callback_sees_only_that_the_login_expired(world: World) -> None:
    page = log_in(world, "teen-simple").page
    assert page is not None
    stranger = requests.get(page.url, allow_redirects=False)  # no binding cookie
    assert stranger.status_code == 400 and "Сеанс входа истёк" in stranger.text
    assert reference_of(page) not in stranger.text and "Вернуться на сайт" not in stranger.text
    # Nor one holding a binding cookie for the same state with another secret.
    state = query_of(page.url)["state"]
    name = next(c.name for c in world.browser.cookies if c.name.endswith("broker_login"))
    forged = requests.get(page.url, cookies={name: f"{state}.not-the-secret"}, allow_redirects=False)
    assert forged.status_code == 400 and reference_of(page) not in forged.text
    assert attempts(world) == 1


def test_a_refusal_is_kept_only_for_its_time_and_then_the_login_has_expired(world: World) -> None:
    world.broker.config["REFUSAL_KEPT_SECONDS"] = 0
    page = log_in(world, "teen-simple").page
    assert page is not None
    again = world.go(page.url)
    assert again.status_code == 400 and "Сеанс входа истёк" in again.text and attempts(world) == 1


def test_the_refusal_page_keeps_the_browsers_binding_for_its_reloads(world: World) -> None:
    world.broker.config["REFUSAL_KEPT_SECONDS"] = 7200
    page = log_in(world, "teen-simple").page
    assert page is not None
    cookie = re.search(r"broker_login=[^;]+;([^,]|, \d)*", page.headers.get("Set-Cookie", ""))
    assert cookie is not None and "Max-Age=7200" in cookie.group(0) and "HttpOnly" in cookie.group(0)


# -- 2. the way back to the portal, in OIDC terms --------------------------------------------------


def test_back_to_the_site_answers_the_portals_request_with_access_denied_and_the_reason_code(world: World, portal: FlaskClient) -> None:
    page = refused_at_esia(world, start_at_portal(world, portal), "teen-simple")
    back = button(page, "Вернуться на сайт")
    assert back is not None and back.startswith(PORTAL_CALLBACK + "?")
    answer = query_of(back)
    # The reason code and the attempt's reference code: nothing of the person (their name, ESIA's data).
    assert set(answer) == {"error", "error_description", "state", "iss", "reference"}
    assert (answer["error"], answer["error_description"], answer["iss"]) == ("access_denied", "tier_insufficient", BROKER)
    assert answer["reference"] == reference_of(page)
    arrived = portal.get(back)
    assert arrived.status_code == 401 and arrived.json == {"error": "access_denied", "description": "tier_insufficient"}


def test_back_to_the_site_says_temporarily_unavailable_when_esia_is_down(world: World, portal: FlaskClient) -> None:
    at_esia = start_at_portal(world, portal)
    assert requests.post(f"{ESIA}/__mock__/faults", json={"fault": "status=503", "endpoints": ["te"], "count": 2}).ok
    page = refused_at_esia(world, at_esia, "adult-verified")
    assert page.status_code == 503
    back = button(page, "Вернуться на сайт")
    assert back is not None
    arrived = portal.get(back)
    assert arrived.json == {"error": "temporarily_unavailable", "description": "esia_unavailable"}
    assert query_of(back)["reference"] == reference_of(page)


def test_try_again_after_back_to_the_site_is_a_fresh_login_the_portal_accepts(world: World, portal: FlaskClient) -> None:
    page = refused_at_esia(world, start_at_portal(world, portal), "decline")  # esia_denied: the person said no
    back, retry = button(page, "Вернуться на сайт"), button(page, "Попробовать ещё раз")
    assert back is not None and retry is not None
    assert portal.get(back).status_code == 401  # the portal has answered its request: that state is spent
    # Back to the refusal, then «Попробовать ещё раз»: the portal's initiate_login_uri, with iss only.
    assert retry.startswith(f"{PORTAL}/initiate?") and query_of(retry) == {"iss": BROKER}
    fresh = portal.get(retry)
    assert fresh.status_code == 302 and fresh.location.startswith(f"{BROKER}/oidc/authorize?")
    assert query_of(fresh.location)["state"] != query_of(back)["state"]  # a new state (and nonce, PKCE)
    at_esia = world.follow(world.go(fresh.location), lambda url: urlsplit(url).path == "/login")
    assert isinstance(at_esia, str)
    answer = world.go(at_esia, data={"login": "namesake-1", "password": "test1234"})
    callback = world.follow(answer, lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(callback, str)
    arrived = portal.get(callback)  # the portal's own new state, nonce and PKCE verifier: it signs in
    assert arrived.status_code == 200 and arrived.json == {"sub": "d-016"}
    assert attempts(world) == 2


def test_try_again_without_an_initiate_login_uri_is_the_portals_login_page(world: World) -> None:
    with world.broker.app_context():
        clients = services.current().clients
        clients["portal"] = dataclasses.replace(clients["portal"], initiate_login_uri=None)
    page = log_in(world, "teen-simple").page
    assert page is not None and button(page, "Попробовать ещё раз") == f"{PORTAL}/login"


def test_the_password_login_is_the_portals_registered_one(world: World) -> None:
    page = log_in(world, "teen-simple").page
    assert page is not None and button(page, "Войти по логину и паролю") == f"{PORTAL}/login"


def test_a_portal_that_changed_its_redirect_uris_gets_no_error_response(world: World) -> None:
    page = log_in(world, "teen-simple").page
    assert page is not None
    with world.broker.app_context():
        clients = services.current().clients
        clients["portal"] = dataclasses.replace(clients["portal"], redirect_uris=("https://portal.test/new-callback",))
    again = world.go(page.url)
    assert again.status_code == 403 and reference_of(again) == reference_of(page)
    assert button(again, "Вернуться на сайт") is None and "portal.test/callback" not in again.text


def test_a_disabled_region_leads_back_with_access_denied_and_to_a_fresh_login(world: World, portal: FlaskClient) -> None:
    with world.broker.app_context():
        clients = services.current().clients
        clients["portal"] = dataclasses.replace(clients["portal"], regions=frozenset({"77", "50", "39"}))
    answer = portal.get(f"{PORTAL}/start")
    page = world.go(answer.location.replace("region=77", "region=39"))  # 39 is not enabled
    assert page.status_code == 403 and "Вход через Госуслуги в вашем регионе пока не подключён" in page.text
    back, retry = button(page, "Вернуться на сайт"), button(page, "Попробовать ещё раз")
    assert back is not None and retry is not None
    assert portal.get(back).json == {"error": "access_denied", "description": "region_disabled"}
    assert query_of(back)["reference"] == reference_of(page)
    assert retry == f"{PORTAL}/initiate?iss={BROKER.replace(':', '%3A').replace('/', '%2F')}"


def test_the_page_names_the_portal_and_its_support_next_to_the_reference(world: World) -> None:
    with world.broker.app_context():
        clients = services.current().clients
        support = Support(phone="8 800 100-00-00", url="https://portal.test/help", email="help@portal.test")
        clients["portal"] = dataclasses.replace(clients["portal"], name="Дневник.Тест", support=support,
                                                logo_url="https://cdn.portal.test/logo.svg")  # fmt: skip
    page = log_in(world, "teen-simple").page
    assert page is not None
    text = html.unescape(page.text)
    assert "назовите его в поддержке портала «Дневник.Тест»" in text
    support_part = text.split("назовите его в поддержке")[1].split("</dd>")[0]
    assert 'href="tel:88001000000"' in support_part and "8 800 100-00-00" in support_part
    assert 'href="mailto:help@portal.test"' in support_part and 'href="https://portal.test/help"' in support_part
    assert '<img class="logo" src="https://cdn.portal.test/logo.svg" alt=""' in text and "Дневник.Тест · вход" in text
    # The page policy lets that logo's origin in, and nothing else.
    assert "img-src 'self' https://cdn.portal.test;" in page.headers["Content-Security-Policy"]


# -- 3. the link flow tells the truth ---------------------------------------------------------------


def test_a_parent_linking_a_childs_account_reads_that_gosuslugi_has_another_person(world: World) -> None:
    page = link_through_esia(world, "d-001", "adult-verified")  # the child's diary, the parent at ESIA
    assert isinstance(page, requests.Response) and page.status_code == 403
    text = html.unescape(page.text)
    assert "Привязать аккаунт Госуслуг не получилось" in text and "Войти через Госуслуги не получилось" not in text
    assert "вход в учётную запись другого человека" in text and "Выйдите из Госуслуг" in text
    assert "дневника самого ребёнка" in text and "исправить ФИО" not in text and "администратор" not in text
    back = button(page, "Вернуться в дневник")
    assert back is not None and back.startswith(f"{PORTAL}/settings?")
    assert query_of(back) == {"error": "access_denied", "error_description": "name_mismatch", "reference": reference_of(page)}
    assert button(page, "Попробовать ещё раз") is None  # the diary starts a link, never the broker


def test_signing_out_of_gosuslugi_leads_back_to_the_diary(world: World) -> None:
    page = link_through_esia(world, "d-001", "adult-verified")
    assert isinstance(page, requests.Response)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None and 'action="/auth/esia/logout"' in page.text
    assert world.go(f"{BROKER}/auth/esia/logout", data={"csrf_token": "forged"}).status_code == 400
    out = world.go(f"{BROKER}/auth/esia/logout", data={"csrf_token": token.group(1)})
    assert out.status_code == 303 and out.headers["Location"].startswith(f"{ESIA}/idp/ext/Logout?")
    back = world.follow(out, lambda url: url.startswith(f"{PORTAL}/settings"))
    assert back == f"{PORTAL}/settings"


def test_one_field_that_differs_in_the_link_flow_is_still_the_registrys_to_fix(world: World) -> None:
    with world.broker.app_context():
        account = db.session.get(Account, "d-001")
        assert account is not None
        account.birth_date = date(2016, 5, 15)  # a typo in the registry: the name is the child's
        db.session.commit()
    page = link_through_esia(world, "d-001", "kid")
    assert isinstance(page, requests.Response) and page.status_code == 403
    text = html.unescape(page.text)
    assert matching.REFUSALS[matching.Reason.BIRTHDATE_MISMATCH].message_ru in text and "другого человека" not in text
    assert "Выйти из Госуслуг" not in text and button(page, "Вернуться в дневник") is not None


def test_a_stranger_cannot_sign_a_browser_out_of_gosuslugi_without_its_refusal(world: World) -> None:
    url = ask_link("d-001").json()["url"]
    assert world.go(url).status_code == 302  # a link flow under way, not refused
    assert world.go(f"{BROKER}/auth/esia/logout", data={"csrf_token": "x"}).status_code == 400


@pytest.mark.parametrize(
    ("failed", "another"),
    [
        ({"first_name", "birth_date"}, True),
        ({"last_name", "first_name", "middle_name"}, False),  # one field: the name
        ({"birth_date"}, False),
        ({"snils", "gender"}, True),
        ({"tier"}, False),
    ],
)
def test_another_person_is_two_or_more_fields_of_identity_that_differ(failed: set[str], another: bool) -> None:
    checks = tuple(matching.Check(name, matching.CheckResult.FAIL, "differ") for name in sorted(failed))
    decision = matching.Decision(matching.Outcome.REFUSED, matching.Reason.NAME_MISMATCH, (), checks, 40)
    assert flow.another_person(decision) is another


def test_a_reload_of_a_disabled_regions_refusal_shows_the_same_refusal_and_records_nothing(world: World, portal: FlaskClient) -> None:
    with world.broker.app_context():
        clients = services.current().clients
        clients["portal"] = dataclasses.replace(clients["portal"], regions=frozenset({"77", "50", "39"}))
    authorize = portal.get(f"{PORTAL}/start").location.replace("region=77", "region=39")
    page = world.go(authorize)
    assert page.status_code == 403 and attempts(world) == 1
    again = world.go(authorize)
    assert again.status_code == 403 and reference_of(again) == reference_of(page) and ways(again) == ways(page)
    assert attempts(world) == 1
    # Another browser, or another request of the portal, is a login of its own.
    assert reference_of(requests.get(authorize, allow_redirects=False)) != reference_of(page)
    other = world.go(authorize.replace("region=39", "region=39&prompt=login"))
    assert other.status_code == 403 and reference_of(other) != reference_of(page) and attempts(world) == 3


def test_a_disabled_regions_refusal_in_another_tab_leaves_a_login_at_esia_to_finish(world: World, portal: FlaskClient) -> None:
    """Tab A is at ESIA's login page; tab B of the same browser asks for a region that is off. The
    refusal binds itself by a cookie of its own: tab A's binding cookie is left alone, its login
    finishes, and tab B's reload still shows the same refusal."""
    with world.broker.app_context():
        clients = services.current().clients
        clients["portal"] = dataclasses.replace(clients["portal"], regions=frozenset({"77", "50", "39"}))
    tab_a, response = start_login(world, "77")
    at_esia = world.follow(response, lambda url: urlsplit(url).path == "/login")
    assert isinstance(at_esia, str)
    binding = cookie_value(world, LOGIN_COOKIE)

    authorize = portal.get(f"{PORTAL}/start").location.replace("region=77", "region=39")
    refused = world.go(authorize)  # tab B
    assert refused.status_code == 403 and attempts(world) == 1
    set_cookies = refused.headers.get("Set-Cookie", "")
    assert set_cookies.startswith("__Host-broker_refusal=") and "broker_login" not in set_cookies
    assert all(attribute in set_cookies for attribute in ("Secure", "HttpOnly", "Path=/", "SameSite=Lax", "Max-Age=3600"))
    assert cookie_value(world, LOGIN_COOKIE) == binding

    answer = world.go(at_esia, data={"login": "namesake-1", "password": "test1234"})  # tab A goes on
    callback = world.follow(answer, lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(callback, str) and query_of(callback)["state"] == tab_a.state
    tab_a.callback = callback
    assert verify_id_token(tab_a.token()["id_token"], tab_a.nonce)["sub"] == "d-016"

    again = world.go(authorize)  # tab B reloaded, after tab A's login ended and took its cookie away
    assert again.status_code == 403 and reference_of(again) == reference_of(refused) and attempts(world) == 2


def test_a_disabled_regions_refusal_replayed_leaves_the_login_cookie_alone(world: World, portal: FlaskClient) -> None:
    with world.broker.app_context():
        clients = services.current().clients
        clients["portal"] = dataclasses.replace(clients["portal"], regions=frozenset({"77", "50", "39"}))
    authorize = portal.get(f"{PORTAL}/start").location.replace("region=77", "region=39")
    world.go(authorize)
    _, response = start_login(world, "77")  # then a login of this browser goes to ESIA
    assert urlsplit(response.headers["Location"]).netloc == urlsplit(ESIA).netloc
    binding = cookie_value(world, LOGIN_COOKIE)
    again = world.go(authorize)
    assert again.status_code == 403 and "broker_login" not in again.headers.get("Set-Cookie", "")
    assert cookie_value(world, LOGIN_COOKIE) == binding
