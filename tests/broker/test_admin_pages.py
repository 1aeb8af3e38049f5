"""The staff pages: sign-in, sessions, CSRF, staff and token management, the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from broker import services
from broker.db.models import AuditEvent, Staff, StaffSession
from broker.extensions import db
from broker.staff import accounts as staff
from broker.staff import tokens as apitokens
from tests.broker.staffing import ADDRESS, PASSWORD, StaffBrowser, audit_rows, make_staff
from tests.clock import FrozenClock

NEW_STAFF = {
    "login": "petrov",
    "name": "Петров П.",
    "role": "operator",
    "regions": "77, 50",
    "password": "a long enough passphrase",
    "password2": "a long enough passphrase",
}


def count(model: type) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def signed_in(browser: StaffBrowser, login: str = "boss") -> StaffBrowser:
    answer = browser.login(login)
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/", answer.get_data(as_text=True)
    return browser


# --- signing in --------------------------------------------------------------------------------


def test_the_login_page_is_russian_labelled_never_cached_nor_framed(app: Flask, browser: StaffBrowser) -> None:
    page = browser.get("/admin/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<html lang="ru">' in html
    assert '<label for="login">Логин</label>' in html and '<label for="password">Пароль</label>' in html
    assert "<h1>Вход для сотрудников</h1>" in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_signs_in_audits_the_address_and_rotates_the_session(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    browser.get("/admin/login")
    before = browser.csrf()
    signed_in(browser)
    home = browser.get("/admin/")
    assert home.status_code == 200 and "Вы вошли как <strong>boss</strong>" in home.get_data(as_text=True)
    assert browser.csrf() and browser.csrf() != before  # a fresh Flask session, a fresh token
    [event] = audit_rows("staff_login")
    assert (event.actor, event.target, event.source) == ("boss", "staff:boss", ADDRESS)
    [row] = db.session.scalars(select(StaffSession)).all()
    assert row.source == ADDRESS and row.ended_at is None


def test_a_wrong_password_and_an_unknown_login_read_the_same(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    wrong = browser.login("boss", "not the password").get_data(as_text=True)
    unknown = browser.login("nobody", "not the password").get_data(as_text=True)
    assert "Неверный логин или пароль" in wrong
    assert _message(wrong) == _message(unknown)
    assert browser.get("/admin/").status_code == 302


def _message(html: str) -> str:
    start = html.index('role="alert"')
    return html[start : html.index("</p>", start)]


def test_locks_out_after_repeated_failures(app: Flask, browser: StaffBrowser) -> None:
    app.config.update(STAFF_MAX_FAILED_LOGINS=3)
    make_staff("boss", role="admin")
    for _ in range(3):
        browser.login("boss", "not the password")
    answer = browser.login("boss")
    assert answer.status_code == 200 and "Неверный логин или пароль" in answer.get_data(as_text=True)
    assert browser.get("/admin/").status_code == 302
    assert audit_rows("staff_login_failed")[-1].comment == "locked"


def test_returns_to_the_page_asked_for_but_never_to_another_site(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    asked = browser.get("/admin/audit?action=staff_login")
    assert asked.status_code == 302 and asked.headers["Location"].startswith("/admin/login?next=")
    assert browser.login(next="/admin/audit?action=staff_login").headers["Location"] == "/admin/audit?action=staff_login"
    browser.logout()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        assert browser.login(next=target).headers["Location"] == "/admin/"
        browser.logout()


# --- sessions ----------------------------------------------------------------------------------


def test_a_session_ends_at_the_absolute_timeout(app: Flask, browser: StaffBrowser) -> None:
    app.config.update(STAFF_SESSION_SECONDS=3600, STAFF_IDLE_SECONDS=1800)
    clock = services.current().clock = FrozenClock()
    make_staff("boss", role="admin")
    signed_in(browser)
    for seconds in (1700, 1700, 199):  # used every half hour or less: never idle
        clock.advance(seconds)
        assert browser.get("/admin/").status_code == 200
    clock.advance(2)  # 3601 seconds after signing in
    answer = browser.get("/admin/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/admin/login")


def test_a_session_ends_after_being_idle(app: Flask, browser: StaffBrowser) -> None:
    app.config.update(STAFF_IDLE_SECONDS=600)
    clock = services.current().clock = FrozenClock()
    make_staff("boss", role="admin")
    signed_in(browser)
    clock.advance(599)
    assert browser.get("/admin/").status_code == 200
    clock.advance(601)
    assert browser.get("/admin/").status_code == 302


def test_the_session_lifetime_follows_the_configuration(app: Flask, browser: StaffBrowser) -> None:
    app.config.update(STAFF_SESSION_SECONDS=120)
    make_staff("boss", role="admin")
    signed_in(browser)
    row = db.session.scalars(select(StaffSession)).one()
    assert abs((row.expires_at - row.created_at).total_seconds() - 120) < 1


def test_logout_ends_the_session_for_good(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    signed_in(browser)
    browser.get("/admin/")
    with browser.client.session_transaction() as session:
        stolen = dict(session)
    answer = browser.logout()
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/login"
    assert browser.get("/admin/").status_code == 302
    with browser.client.session_transaction() as session:  # the old cookie, replayed
        session.update(stolen)
    assert browser.get("/admin/").status_code == 302
    assert [e.action for e in audit_rows()][-2:] == ["staff_login", "staff_logout"]


def test_the_session_cookie_follows_cookie_secure(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    cookie = browser.login().headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


# --- CSRF --------------------------------------------------------------------------------------


def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    signed_in(browser)
    events = count(AuditEvent)
    answer = browser.client.post("/admin/staff/new", data=NEW_STAFF)
    assert answer.status_code == 400 and "csrf_failed" in answer.get_data(as_text=True)
    wrong = browser.client.post("/admin/staff/new", data={**NEW_STAFF, "csrf_token": "forged"})
    assert wrong.status_code == 400
    assert browser.client.post("/admin/logout").status_code == 400
    assert staff.find_staff("petrov") is None and count(AuditEvent) == events
    assert browser.get("/admin/").status_code == 200  # still signed in: the logout was refused too


def test_the_login_form_needs_the_csrf_token_too(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    answer = browser.client.post("/admin/login", data={"login": "boss", "password": PASSWORD})
    assert answer.status_code == 400 and audit_rows("staff_login") == []


def test_every_form_post_outside_oidc_auth_and_the_api_needs_the_csrf_token(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    signed_in(browser)
    checked = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        if "POST" not in (rule.methods or ()) or blueprint in {"oidc", "auth", "api"}:
            continue
        path = rule.rule.replace("<login>", "boss").replace("<int:token_id>", "1")
        assert browser.client.post(path, data={"login": "x"}).status_code == 400, path
        checked.append(path)
    assert "/admin/logout" in checked and "/admin/staff/new" in checked


def test_the_api_takes_no_cookies_so_it_needs_no_csrf_token_but_a_bearer_token(app: Flask, browser: StaffBrowser) -> None:
    """A signed-in staff browser's cookies do not open the API: only a bearer token does."""
    make_staff("boss", role="admin")
    signed_in(browser)
    posts = [r for r in app.url_map.iter_rules() if "POST" in (r.methods or ()) and r.endpoint.startswith("api.")]
    assert posts
    for rule in posts:
        answer = browser.client.post(rule.rule, json={})
        assert answer.status_code == 401 and "csrf_failed" not in answer.get_data(as_text=True), rule.rule


def test_the_portal_and_login_endpoints_need_no_csrf_token(app: Flask) -> None:
    """They have their own protections (client authentication, state bound to the browser)."""
    client = app.test_client()
    posts = [r for r in app.url_map.iter_rules() if "POST" in (r.methods or ()) and r.endpoint.split(".")[0] in {"oidc", "auth"}]
    assert any(r.rule == "/oidc/token" for r in posts)
    for rule in posts:
        answer = client.post(rule.rule, data={"grant_type": "authorization_code", "code": "x"})
        assert "csrf_failed" not in answer.get_data(as_text=True), rule.rule
    assert client.post("/oidc/token", data={"grant_type": "authorization_code", "code": "x"}).is_json


# --- roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["operator", "support"])
@pytest.mark.parametrize("path", ["/admin/staff", "/admin/staff/new", "/admin/staff/boss", "/admin/audit"])
def test_only_admins_open_staff_management_and_the_audit_log(app: Flask, browser: StaffBrowser, role: str, path: str) -> None:
    make_staff("boss", role="admin")
    make_staff("someone", role=role, regions=("77",) if role == "operator" else ())
    signed_in(browser, "someone")
    answer = browser.get(path)
    assert answer.status_code == 403 and "Недостаточно прав" in answer.get_data(as_text=True)


@pytest.mark.parametrize("role", ["operator", "support"])
def test_a_non_admin_cannot_change_staff(app: Flask, browser: StaffBrowser, role: str) -> None:
    make_staff("boss", role="admin")
    make_staff("someone", role=role, regions=("77",) if role == "operator" else ())
    signed_in(browser, "someone")
    assert browser.post("/admin/staff/new", NEW_STAFF).status_code == 403
    assert browser.post("/admin/staff/boss", {"role": "support", "regions": ""}).status_code == 403
    assert browser.post("/admin/staff/boss/disable").status_code == 403
    assert staff.find_staff("petrov") is None and staff.find_staff("boss").role == "admin"
    assert audit_rows("staff_changed") == [] and audit_rows("staff_disabled") == []


def test_the_start_page_lists_what_each_role_may_do(app: Flask, browser: StaffBrowser, other_browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    make_staff("ivanov", role="operator", regions=("77", "41"))
    admin_home = signed_in(browser).get("/admin/").get_data(as_text=True)
    assert 'href="/admin/staff"' in admin_home and 'href="/admin/audit"' in admin_home
    operator_home = signed_in(other_browser, "ivanov").get("/admin/").get_data(as_text=True)
    assert "41 — Камчатский край" in operator_home and "77 — Москва" in operator_home
    assert 'href="/admin/staff"' not in operator_home and 'href="/admin/tokens"' in operator_home


# --- staff management --------------------------------------------------------------------------


def test_an_admin_adds_a_member_audited_with_the_address(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    signed_in(browser)
    answer = browser.post("/admin/staff/new", NEW_STAFF)
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/staff/petrov"
    member = staff.find_staff("petrov")
    assert member is not None and member.regions == ["50", "77"] and member.role == "operator"
    event = audit_rows("staff_created")[-1]
    assert (event.actor, event.target, event.source) == ("boss", "staff:petrov", ADDRESS)
    assert "a long enough passphrase" not in str(event.after)
    listing = browser.get("/admin/staff").get_data(as_text=True)
    assert "petrov" in listing and "50, 77" in listing


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"password": "short", "password2": "short"}, "не короче 12 знаков"),
        ({"password2": "something else entirely"}, "Пароли не совпадают"),
        ({"regions": ""}, "хотя бы один код региона"),
        ({"regions": "99"}, "Нет региона с кодом 99"),
        ({"role": "support"}, "только региональному оператору"),
        ({"login": "Петров"}, "строчные латинские буквы"),
    ],
)
def test_a_bad_new_member_form_is_shown_again_with_the_reason(
    app: Flask, browser: StaffBrowser, change: dict[str, str], message: str
) -> None:
    make_staff("boss", role="admin")
    signed_in(browser)
    answer = browser.post("/admin/staff/new", {**NEW_STAFF, **change})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400 and message in html and 'aria-invalid="true"' in html
    assert count(Staff) == 1 and audit_rows("staff_created")[-1].target == "staff:boss"


def test_an_admin_changes_role_and_regions_audited_before_and_after(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    make_staff("ivanov", role="operator", regions=("77",))
    signed_in(browser)
    answer = browser.post("/admin/staff/ivanov", {"name": "", "role": "operator", "regions": "77 78"})
    assert answer.status_code == 302
    assert staff.find_staff("ivanov").regions == ["77", "78"]
    [event] = audit_rows("staff_changed")
    assert (event.before["regions"], event.after["regions"], event.actor, event.source) == (["77"], ["77", "78"], "boss", ADDRESS)


def test_an_admin_cannot_demote_or_disable_themselves(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    make_staff("deputy", role="admin")
    signed_in(browser)
    demote = browser.post("/admin/staff/boss", {"role": "support", "regions": ""})
    assert demote.status_code == 400 and "собственную роль" in demote.get_data(as_text=True)
    assert browser.post("/admin/staff/boss/disable").status_code == 400
    assert staff.find_staff("boss").disabled_at is None


def test_disabling_a_member_ends_their_session_at_once(app: Flask, browser: StaffBrowser, other_browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    make_staff("ivanov", role="support")
    signed_in(other_browser, "ivanov")
    assert other_browser.get("/admin/").status_code == 200
    signed_in(browser)
    assert browser.post("/admin/staff/ivanov/disable").status_code == 302
    assert other_browser.get("/admin/").status_code == 302
    assert other_browser.login("ivanov").status_code == 200  # refused: the login form again
    assert browser.post("/admin/staff/ivanov/enable").status_code == 302
    actions = [e.action for e in audit_rows() if e.target == "staff:ivanov"]
    assert actions[-3:] == ["staff_disabled", "staff_login_failed", "staff_enabled"]


def test_a_member_changes_their_own_password_and_signs_in_again(app: Flask, browser: StaffBrowser) -> None:
    make_staff("ivanov", role="support")
    signed_in(browser, "ivanov")
    wrong = browser.post("/admin/password", {"current": "not it", "password": "new long passphrase", "password2": "new long passphrase"})
    assert wrong.status_code == 400 and "Текущий пароль введён неверно" in wrong.get_data(as_text=True)
    answer = browser.post("/admin/password", {"current": PASSWORD, "password": "new long passphrase", "password2": "new long passphrase"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/login"
    assert browser.get("/admin/").status_code == 302
    assert browser.login("ivanov", "new long passphrase").status_code == 302
    assert audit_rows("staff_password_set")[-1].actor == "ivanov"


def test_guessing_the_current_password_on_the_password_page_locks_the_member_out(app: Flask, browser: StaffBrowser) -> None:
    app.config.update(STAFF_MAX_FAILED_LOGINS=3, STAFF_LOCKOUT_SECONDS=600)
    make_staff("ivanov", role="support")
    signed_in(browser, "ivanov")
    for _ in range(3):
        browser.post("/admin/password", {"current": "a guess", "password": "new long passphrase", "password2": "new long passphrase"})
    assert browser.get("/admin/").status_code == 302  # the (possibly stolen) session has ended
    assert browser.login("ivanov").status_code != 302  # and the right password waits for the lock
    comments = [event.comment for event in audit_rows("staff_login_failed")]
    assert comments[:3] == ["wrong current password on the password page"] * 2 + ["wrong current password on the password page; locked"]


def test_one_address_that_fails_too_often_is_refused_unread(app: Flask, browser: StaffBrowser, other_browser: StaffBrowser) -> None:
    app.config.update(STAFF_MAX_FAILURES_PER_ADDRESS=4)
    for login in ("a", "b", "c", "d"):  # four logins tried, one failure each: no login locked
        browser.login(login, "a guess")
    make_staff("ivanov", role="support")
    before = len(audit_rows("staff_login_failed"))
    assert browser.login("ivanov").status_code == 200  # the right password, from that address: refused
    assert len(audit_rows("staff_login_failed")) == before  # and nothing written
    assert other_browser.login("ivanov").status_code == 302  # another address is not affected


# --- API tokens --------------------------------------------------------------------------------


def test_a_new_token_is_shown_once_then_only_its_prefix(app: Flask, browser: StaffBrowser) -> None:
    make_staff("ivanov", role="operator", regions=("77",))
    signed_in(browser, "ivanov")
    created = browser.post("/admin/tokens", {"name": "синхронизация", "days": "30"})
    html = created.get_data(as_text=True)
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    clear = html.split('id="new-token">', 1)[1].split("<", 1)[0]
    assert clear.startswith("brk_") and apitokens.verify_token(clear) is not None
    later = browser.get("/admin/tokens").get_data(as_text=True)
    assert clear not in later and clear[:12] in later and "синхронизация" in later
    [event] = audit_rows("token_created")
    assert (event.actor, event.source) == ("ivanov", ADDRESS) and clear not in str(event.after)


def test_a_bad_token_form_names_the_field(app: Flask, browser: StaffBrowser) -> None:
    make_staff("ivanov", role="support")
    signed_in(browser, "ivanov")
    answer = browser.post("/admin/tokens", {"name": "x", "days": "many"})
    assert answer.status_code == 400 and "целое число дней" in answer.get_data(as_text=True)
    assert audit_rows("token_created") == []


def test_tokens_are_revoked_by_their_owner_or_an_admin_only(app: Flask, browser: StaffBrowser, other_browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    owner = make_staff("ivanov", role="support")
    make_staff("petrov", role="operator", regions=("77",))
    first, first_clear = apitokens.create_token(owner, name="one", days=1, actor="cli:test")
    second, second_clear = apitokens.create_token(owner, name="two", days=1, actor="cli:test")
    signed_in(other_browser, "petrov")
    assert other_browser.post(f"/admin/tokens/{first.id}/revoke").status_code == 403
    assert apitokens.verify_token(first_clear) is not None
    signed_in(browser)
    assert "one" in browser.get("/admin/staff/ivanov").get_data(as_text=True)
    answer = browser.post(f"/admin/tokens/{first.id}/revoke")
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/staff/ivanov"
    assert apitokens.verify_token(first_clear) is None
    browser.logout()
    signed_in(browser, "ivanov")
    assert browser.post(f"/admin/tokens/{second.id}/revoke").headers["Location"] == "/admin/tokens"
    assert apitokens.verify_token(second_clear) is None
    assert [e.actor for e in audit_rows("token_revoked")] == ["boss", "ivanov"]


# --- the audit log -----------------------------------------------------------------------------


def test_the_audit_log_shows_newest_first_filters_and_pages(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    for n in range(55):
        make_staff(f"member{n:02}", role="support")
    signed_in(browser)
    first = browser.get("/admin/audit").get_data(as_text=True)
    assert first.index("staff:boss") < first.index("staff:member54") < first.index("staff:member10")
    assert "staff:member04" not in first and "Старее →" in first
    second = browser.get("/admin/audit?page=2").get_data(as_text=True)
    assert "staff:member04" in second and "Старее →" not in second
    logins = browser.get("/admin/audit?action=staff_login").get_data(as_text=True)
    assert "staff:boss" in logins and "staff:member01" not in logins
    by_actor = browser.get("/admin/audit?actor=cli:").get_data(as_text=True)
    assert "staff:member50" in by_actor and "Вход сотрудника" not in by_actor.split("<tbody>", 1)[1]
    assert browser.get("/admin/audit?page=-3&action=nonsense").status_code == 200


# --- an admin sets a colleague's password ------------------------------------------------------

NEW_PASSWORD = "a fresh long passphrase"


def _live_sessions(login: str) -> int:
    db.session.expire_all()
    member = staff.find_staff(login)
    assert member is not None
    live = select(func.count()).select_from(StaffSession).where(StaffSession.staff_id == member.id, StaffSession.ended_at.is_(None))
    return db.session.scalar(live) or 0


def test_the_staff_page_offers_an_admin_a_csrf_protected_new_password_form(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    make_staff("ivanov", role="support")
    html = signed_in(browser).get("/admin/staff/ivanov").get_data(as_text=True)
    form = html.split('action="/admin/staff/ivanov/password"', 1)[1].split("</form>", 1)[0]
    assert f'name="csrf_token" value="{browser.csrf()}"' in form
    assert '<label for="password">Новый пароль</label>' in form and '<label for="password2">Новый пароль ещё раз</label>' in form
    assert form.count('autocomplete="new-password"') == 2 and "Задать новый пароль</button>" in form


def test_an_admin_sets_a_colleagues_password_unlocking_them_and_ending_every_session(
    app: Flask, browser: StaffBrowser, other_browser: StaffBrowser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    make_staff("boss", role="admin")
    make_staff("ivanov", role="support")
    signed_in(other_browser, "ivanov")
    second = StaffBrowser(app.test_client())
    signed_in(second, "ivanov")
    member = staff.find_staff("ivanov")
    assert member is not None
    member.failed_logins, member.locked_until = 2, datetime.now(UTC) + timedelta(minutes=10)
    db.session.commit()
    assert _live_sessions("ivanov") == 2
    signed_in(browser)
    answer = browser.post("/admin/staff/ivanov/password", {"password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/staff/ivanov"
    assert NEW_PASSWORD not in answer.headers["Location"]
    page = browser.get("/admin/staff/ivanov").get_data(as_text=True)
    assert "Новый пароль сотрудника ivanov задан: все его сеансы завершены" in page and NEW_PASSWORD not in page
    db.session.expire_all()
    member = db.session.get_one(Staff, member.id)  # read again: the view changed the row
    assert (member.failed_logins, member.locked_until) == (0, None)
    assert _live_sessions("ivanov") == 0
    assert other_browser.get("/admin/").status_code == 302 and second.get("/admin/").status_code == 302
    assert other_browser.login("ivanov", PASSWORD).status_code == 200  # the old password: refused
    assert other_browser.login("ivanov", NEW_PASSWORD).status_code == 302
    assert browser.get("/admin/").status_code == 200  # the admin's own session goes on
    [event] = audit_rows("staff_password_set")
    assert (event.actor, event.target, event.source) == ("boss", "staff:ivanov", ADDRESS)
    assert (event.before, event.after, event.comment) == (None, None, "unlocked")
    assert NEW_PASSWORD not in caplog.text
    assert all(NEW_PASSWORD not in str(value) for row in audit_rows() for value in (row.before, row.after, row.comment))


@pytest.mark.parametrize(
    ("typed", "field", "message"),
    [
        ({"password": NEW_PASSWORD, "password2": NEW_PASSWORD + "!"}, "password2", "Пароли не совпадают."),
        ({"password": "short", "password2": "short"}, "password", "не короче 12 знаков"),
        ({"password": "ivanov's own passphrase", "password2": "ivanov's own passphrase"}, "password", "содержит логин"),
        ({"password2": NEW_PASSWORD}, "password2", "Пароли не совпадают."),
    ],
)
def test_a_bad_new_password_names_the_field_and_writes_nothing(
    app: Flask, browser: StaffBrowser, other_browser: StaffBrowser, typed: dict[str, str], field: str, message: str
) -> None:
    make_staff("boss", role="admin")
    member = make_staff("ivanov", role="support")
    password_hash = member.password_hash
    signed_in(other_browser, "ivanov")
    signed_in(browser)
    events = count(AuditEvent)
    answer = browser.post("/admin/staff/ivanov/password", typed)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400 and message in html
    assert f'id="{field}-error" role="alert"' in html and html.count('aria-invalid="true"') == 1
    assert all(value not in html for value in typed.values())
    db.session.expire_all()
    assert member.password_hash == password_hash and count(AuditEvent) == events
    assert _live_sessions("ivanov") == 1 and other_browser.get("/admin/").status_code == 200


@pytest.mark.parametrize("role", ["operator", "support"])
def test_only_an_admin_sets_a_colleagues_password(app: Flask, browser: StaffBrowser, role: str) -> None:
    make_staff("boss", role="admin")
    make_staff("ivanov", role="support")
    make_staff("someone", role=role, regions=("77",) if role == "operator" else ())
    signed_in(browser, "someone")
    events = count(AuditEvent)
    for login in ("ivanov", "boss"):
        answer = browser.post(f"/admin/staff/{login}/password", {"password": NEW_PASSWORD, "password2": NEW_PASSWORD})
        assert answer.status_code == 403 and "Недостаточно прав" in answer.get_data(as_text=True)
    assert count(AuditEvent) == events and staff.authenticate("ivanov", NEW_PASSWORD) is None


def test_a_new_password_without_the_csrf_token_is_refused(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    member = make_staff("ivanov", role="support")
    password_hash = member.password_hash
    signed_in(browser)
    events = count(AuditEvent)
    typed = {"password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    answer = browser.client.post("/admin/staff/ivanov/password", data=typed)
    assert answer.status_code == 400 and "csrf_failed" in answer.get_data(as_text=True)
    assert browser.client.post("/admin/staff/ivanov/password", data={**typed, "csrf_token": "forged"}).status_code == 400
    db.session.expire_all()
    assert member.password_hash == password_hash and count(AuditEvent) == events


def test_an_admin_changes_their_own_password_on_the_password_page_only(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    signed_in(browser)
    own = browser.get("/admin/staff/boss").get_data(as_text=True)
    assert "/admin/staff/boss/password" not in own and 'href="/admin/password"' in own
    events = count(AuditEvent)
    answer = browser.post("/admin/staff/boss/password", {"password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400 and 'class="field-error" role="alert">Свой пароль меняйте на странице' in html
    assert count(AuditEvent) == events and _live_sessions("boss") == 1
    assert browser.get("/admin/").status_code == 200 and staff.authenticate("boss", NEW_PASSWORD) is None


def test_setting_the_password_of_an_unknown_member_is_not_found(app: Flask, browser: StaffBrowser) -> None:
    make_staff("boss", role="admin")
    signed_in(browser)
    assert browser.post("/admin/staff/nobody/password", {"password": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code == 404
