"""Rate limits: per client address and per portal, the 429 answers, the log line, and the storage."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from limits import parse

from broker import config, create_app, services
from broker.errors import ConfigError
from broker.extensions import db
from broker.oidc.clients import PortalClient
from broker.web import ratelimits
from tests.broker.staffing import StaffBrowser
from tests.databases import TEST_SNILS_KEY, MigratedDatabases
from tests.redisdb import require_redis

SCHOOL = "203.0.113.40"
OTHER = "198.51.100.41"
PORTAL = PortalClient(
    client_id="diary-77", name="Дневник 77", redirect_uris=("https://d77.test/cb",), regions=frozenset({"77"}),
    login_url="https://d77.test/login", secret_sha256="0" * 64,
)  # fmt: skip


@pytest.fixture
def redis_url() -> str:
    """The test Redis (TEST_REDIS_URL or REDIS_URL); skipped without one, failed under REQUIRE_REDIS=1."""
    return require_redis()


@pytest.fixture
def make_app(tmp_path: Path, migrated: MigratedDatabases) -> Iterator[Callable[..., Flask]]:
    """``make_app(**config)``: a broker on a fresh migrated SQLite file, with two portals registered."""
    made: list[Flask] = []

    def make(**config: Any) -> Flask:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "SNILS_HASH_KEY": TEST_SNILS_KEY,
                "SQLALCHEMY_DATABASE_URI": migrated.copy("sqlite", tmp_path, f"broker{len(made)}.sqlite3"),
                **config,
            }
        )
        with app.app_context():
            clients = services.current().clients
            clients["diary-77"] = PORTAL
            clients["diary-50"] = replace(PORTAL, client_id="diary-50", regions=frozenset({"50"}))
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def get(client: FlaskClient, path: str, address: str = SCHOOL, **kwargs: Any) -> Any:
    return client.get(path, environ_base={"REMOTE_ADDR": address}, **kwargs)


def post(client: FlaskClient, path: str, address: str = SCHOOL, **kwargs: Any) -> Any:
    return client.post(path, environ_base={"REMOTE_ADDR": address}, **kwargs)


# --- per address ---------------------------------------------------------------------------------


def test_a_class_of_thirty_behind_one_school_address_passes_the_default_limits(make_app: Callable[..., Flask]) -> None:
    """At 8:00 thirty pupils start their login through one NAT address within the minute: the
    portal's authorize (twice: the region page, then the region), then ESIA's callback."""
    client = make_app().test_client()
    answers = []
    for _ in range(30):
        answers.append(get(client, "/oidc/authorize?client_id=diary-77").status_code)
        answers.append(get(client, "/oidc/authorize?client_id=diary-77&region=77").status_code)
        answers.append(get(client, "/auth/esia/callback?state=s&code=c").status_code)
    assert 429 not in answers


def test_one_address_is_held_to_the_default_limit_and_another_address_is_not(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    answers = [get(client, "/oidc/authorize?client_id=nope").status_code for _ in range(301)]
    assert 429 not in answers[:300] and answers[300] == 429
    assert get(client, "/oidc/authorize?client_id=nope", address=OTHER).status_code != 429


@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        ("GET", "/oidc/authorize?client_id=nope", "RATE_LIMIT_LOGIN_PER_ADDRESS"),
        ("GET", "/auth/esia/callback?state=forged&code=forged", "RATE_LIMIT_LOGIN_PER_ADDRESS"),
        ("GET", "/auth/link?state=forged&ticket=forged", "RATE_LIMIT_LOGIN_PER_ADDRESS"),
        ("POST", "/auth/invite", "RATE_LIMIT_LOGIN_PER_ADDRESS"),
        ("POST", "/auth/choose", "RATE_LIMIT_LOGIN_PER_ADDRESS"),
        ("POST", "/auth/confirm", "RATE_LIMIT_LOGIN_PER_ADDRESS"),
        ("POST", "/auth/not-me", "RATE_LIMIT_LOGIN_PER_ADDRESS"),
        ("POST", "/auth/esia/logout", "RATE_LIMIT_LOGIN_PER_ADDRESS"),
        ("GET", "/oidc/logout?client_id=nope", "RATE_LIMIT_LOGIN_PER_ADDRESS"),
        ("POST", "/admin/login", "RATE_LIMIT_STAFF_LOGIN_PER_ADDRESS"),
    ],
)
def test_a_browser_past_the_limit_gets_a_russian_page_that_says_when_to_try_again(
    make_app: Callable[..., Flask], method: str, path: str, key: str
) -> None:
    client = make_app(**{key: "2 per minute"}).test_client()
    client.environ_base["REMOTE_ADDR"] = SCHOOL
    if path == "/admin/login":  # the staff login's password posts, with the page's CSRF token
        answers = [StaffBrowser(client).login("boss", "a guess") for _ in range(3)]
    else:
        answers = [client.open(path, method=method, data={"code": "guess"} if method == "POST" else None) for _ in range(3)]
    assert 429 not in [answer.status_code for answer in answers[:2]]
    refused = answers[2]
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    html = refused.get_data(as_text=True)
    assert "Слишком много запросов" in html and "Повторите попытку через" in html and "rate_limited" in html
    assert ("вернитесь на портал" in html) == (not path.startswith("/admin"))


def test_the_staff_login_page_itself_is_not_limited_only_the_password_posts(make_app: Callable[..., Flask]) -> None:
    client = make_app(RATE_LIMIT_STAFF_LOGIN_PER_ADDRESS="1 per minute").test_client()
    browser = StaffBrowser(client)
    assert [client.get("/admin/login").status_code for _ in range(3)] == [200, 200, 200]
    assert browser.login("boss", "a guess").status_code == 200
    assert browser.login("boss", "a guess").status_code == 429
    assert client.get("/admin/login").status_code == 200


@pytest.mark.parametrize("path", ["/oidc/token", "/oidc/revoke", "/oidc/link", "/oidc/userinfo"])
def test_a_portal_back_end_past_the_limit_gets_oauth_json_with_retry_after(make_app: Callable[..., Flask], path: str) -> None:
    client = make_app(RATE_LIMIT_BACK_CHANNEL_PER_ADDRESS="1 per minute").test_client()
    assert post(client, path, data={"grant_type": "authorization_code"}).status_code != 429
    refused = post(client, path, data={"grant_type": "authorization_code"})
    assert refused.status_code == 429 and refused.headers["Cache-Control"] == "no-store"
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.json == {"error": "rate_limited", "error_description": refused.json["error_description"]}
    assert "retry after" in refused.json["error_description"]


def test_the_api_past_the_limit_answers_its_one_error_shape(make_app: Callable[..., Flask]) -> None:
    client = make_app(RATE_LIMIT_API_PER_ADDRESS="2 per minute").test_client()
    assert get(client, "/api/v1/regions").status_code == 401
    assert get(client, "/api/v1/openapi.json").status_code == 200  # the whole API shares one counter
    refused = get(client, "/api/v1/regions/77/figures")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json["error"] == "rate_limited" and refused.json["errors"] == []
    assert set(refused.json) == {"error", "error_description", "errors"}


def test_ipv6_addresses_are_counted_by_their_64_network(make_app: Callable[..., Flask]) -> None:
    client = make_app(RATE_LIMIT_LOGIN_PER_ADDRESS="2 per minute").test_client()
    for address in ("2001:db8:1:2::1", "2001:db8:1:2::ffff"):
        assert get(client, "/oidc/authorize", address=address).status_code != 429
    assert get(client, "/oidc/authorize", address="2001:db8:1:2:abcd::9").status_code == 429
    assert get(client, "/oidc/authorize", address="2001:db8:1:3::1").status_code != 429


def test_an_empty_limit_switches_it_off_and_so_does_rate_limits_enabled(make_app: Callable[..., Flask]) -> None:
    off = make_app(RATE_LIMIT_LOGIN_PER_ADDRESS="").test_client()
    assert 429 not in [get(off, "/oidc/authorize").status_code for _ in range(5)]
    disabled = make_app(RATE_LIMITS_ENABLED=False, RATE_LIMIT_LOGIN_PER_ADDRESS="1 per minute").test_client()
    assert 429 not in [get(disabled, "/oidc/authorize").status_code for _ in range(3)]


def test_a_changed_limit_applies_at_once_counting_afresh(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    assert [get(client, "/oidc/authorize").status_code == 429 for _ in range(3)] == [False] * 3
    app.config["RATE_LIMIT_LOGIN_PER_ADDRESS"] = "1 per minute"  # a new limit is a new counter
    assert [get(client, "/oidc/authorize").status_code == 429 for _ in range(2)] == [False, True]


# --- per portal ----------------------------------------------------------------------------------


def test_one_portal_past_its_share_is_refused_while_another_portal_is_served(make_app: Callable[..., Flask]) -> None:
    """Per-portal counters are independent of the address: many schools, one portal."""
    client = make_app(RATE_LIMIT_LOGIN_PER_PORTAL="3 per minute").test_client()
    schools = [f"203.0.113.{n}" for n in range(1, 5)]
    answers = [get(client, "/oidc/authorize?client_id=diary-77", address=school).status_code for school in schools]
    assert 429 not in answers[:3] and answers[3] == 429
    refused = get(client, "/oidc/authorize?client_id=diary-77", address=OTHER)
    assert refused.status_code == 429 and "Через этот портал" in refused.get_data(as_text=True)
    assert get(client, "/oidc/authorize?client_id=diary-50", address=OTHER).status_code != 429


def test_a_made_up_client_id_is_not_counted_per_portal(make_app: Callable[..., Flask]) -> None:
    client = make_app(RATE_LIMIT_LOGIN_PER_PORTAL="1 per minute").test_client()
    answers = [get(client, f"/oidc/authorize?client_id=made-up-{n}", address=f"203.0.113.{n}").status_code for n in range(4)]
    assert 429 not in answers


def test_a_flooding_address_does_not_use_up_its_portals_share(make_app: Callable[..., Flask]) -> None:
    """Requests an address limit refuses are not charged to the portal, whichever limit is checked first
    (here the per-portal minute window is checked before the per-address hour window)."""
    client = make_app(RATE_LIMIT_LOGIN_PER_ADDRESS="3 per hour", RATE_LIMIT_LOGIN_PER_PORTAL="5 per minute").test_client()
    flood = [get(client, "/oidc/authorize?client_id=diary-77").status_code for _ in range(10)]
    assert 429 not in flood[:3] and set(flood[3:]) == {429}
    assert [get(client, "/oidc/authorize?client_id=diary-77", address=OTHER).status_code == 429 for _ in range(2)] == [False, False]


def test_the_token_endpoint_counts_the_portal_named_in_http_basic(make_app: Callable[..., Flask]) -> None:
    client = make_app(RATE_LIMIT_BACK_CHANNEL_PER_PORTAL="2 per minute").test_client()
    form = {"grant_type": "authorization_code", "code": "x"}
    answers = [post(client, "/oidc/token", address=f"192.0.2.{n}", data=form, auth=("diary-77", "wrong")).status_code for n in range(3)]
    assert 429 not in answers[:2] and answers[2] == 429
    assert post(client, "/oidc/token", address=OTHER, data=form, auth=("diary-50", "wrong")).status_code != 429


# --- the log line --------------------------------------------------------------------------------


def test_a_refusal_is_logged_with_the_endpoint_and_the_limit_and_no_address(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(RATE_LIMIT_LOGIN_PER_ADDRESS="1 per minute").test_client()
    with caplog.at_level(logging.DEBUG):
        get(client, "/oidc/authorize?client_id=diary-77")
        get(client, "/oidc/authorize?client_id=diary-77")
    [line] = [record.getMessage() for record in caplog.records if "rate limit hit" in record.getMessage()]
    assert line == "rate limit hit on oidc.authorize: 1 per 1 minute per address"
    assert SCHOOL not in caplog.text


# --- config --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"RATE_LIMIT_LOGIN_PER_ADDRESS": "lots"}, "RATE_LIMIT_LOGIN_PER_ADDRESS"),
        ({"RATE_LIMIT_API_PER_ADDRESS": 600}, "RATE_LIMIT_API_PER_ADDRESS"),
        ({"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL"),
    ],
)
def test_a_limit_or_redis_url_the_broker_cannot_use_stops_it_at_start(config: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", **config})


def test_every_entry_of_the_table_is_an_endpoint_with_limits_checked_at_start(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    for name, rule in ratelimits.LIMITS.items():
        assert name in app.view_functions or (name.endswith(".*") and name[:-2] in app.blueprints), name
        assert {rule.per_address, rule.per_portal or rule.per_address} <= set(config.RATE_LIMIT_KEYS), name


def test_every_post_of_a_login_or_a_portal_is_in_the_table(make_app: Callable[..., Flask]) -> None:
    """A form added to a login's pages (``auth``) or an OIDC endpoint taking posts is limited like the others."""
    app = make_app()
    posts = [r for r in app.url_map.iter_rules() if r.endpoint.startswith(("auth.", "oidc.")) and "POST" in (r.methods or ())]
    assert "auth.not_me" in {r.endpoint for r in posts}
    assert [r.rule for r in posts if r.endpoint not in ratelimits.LIMITS] == []


# --- storage -------------------------------------------------------------------------------------


def test_in_memory_each_process_counts_alone(make_app: Callable[..., Flask]) -> None:
    """The default: two broker processes (two apps) do not share counters."""
    first, second = (make_app(RATE_LIMIT_LOGIN_PER_ADDRESS="1 per minute").test_client() for _ in range(2))
    assert get(first, "/oidc/authorize").status_code != 429
    assert get(second, "/oidc/authorize").status_code != 429
    assert get(first, "/oidc/authorize").status_code == 429


def test_with_redis_every_process_shares_the_counters(make_app: Callable[..., Flask], redis_url: str) -> None:
    address = f"100.{secrets.randbelow(64) + 64}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"  # not another run's
    config = {"REDIS_URL": redis_url, "RATE_LIMIT_LOGIN_PER_ADDRESS": "2 per minute"}
    first, second = (make_app(**config).test_client() for _ in range(2))
    assert get(first, "/oidc/authorize", address=address).status_code != 429
    assert get(second, "/oidc/authorize", address=address).status_code != 429
    refused = get(first, "/oidc/authorize", address=address)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert get(second, "/oidc/authorize", address=address).status_code == 429


def test_deployments_sharing_one_redis_under_their_own_key_prefix_count_apart(make_app: Callable[..., Flask], redis_url: str) -> None:
    address = f"100.{secrets.randbelow(64) + 64}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    config = {"REDIS_URL": redis_url, "RATE_LIMIT_LOGIN_PER_ADDRESS": "1 per minute"}
    staging = make_app(**config, REDIS_KEY_PREFIX=f"staging-{secrets.token_hex(4)}").test_client()
    production = make_app(**config, REDIS_KEY_PREFIX=f"production-{secrets.token_hex(4)}").test_client()
    assert get(staging, "/oidc/authorize", address=address).status_code != 429
    assert get(production, "/oidc/authorize", address=address).status_code != 429  # not staging's count
    assert get(staging, "/oidc/authorize", address=address).status_code == 429


def test_with_redis_unreachable_the_same_limits_hold_in_memory_and_logins_go_on(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(REDIS_URL="redis://127.0.0.1:1/0", RATE_LIMIT_LOGIN_PER_ADDRESS="2 per minute").test_client()
    answers = [get(client, "/oidc/authorize?client_id=nope").status_code for _ in range(3)]
    assert answers[:2] == [400, 400] and answers[2] == 429
    assert "falling back to in-memory storage" in caplog.text


# --- the windows in memory -----------------------------------------------------------------------


class Clock:
    """A clock the test moves (seconds)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_window_in_memory_lets_no_burst_through_at_its_edge_and_says_when_it_opens() -> None:
    clock = Clock()
    windows = ratelimits.MemoryWindows(clock)
    limit = parse("2 per minute")
    assert [windows.hit(limit, "a"), windows.hit(limit, "a")] == [True, True]
    clock.now += 59  # a fixed window would start afresh at the minute's edge here
    assert not windows.hit(limit, "a") and not windows.test(limit, "a")
    assert windows.reset_at(limit, "a") == 1_000_060.0 and windows.test(limit, "b")
    clock.now += 1
    assert windows.hit(limit, "a")  # the first request has left the window


def test_the_sweep_forgets_idle_counters_and_keeps_a_long_windows_requests() -> None:
    clock = Clock()
    windows = ratelimits.MemoryWindows(clock)
    windows.SWEEP_EVERY = 3
    minute, month = parse("5 per minute"), parse("1 per month")
    assert windows.hit(minute, "short") and windows.hit(month, "long")
    clock.now += 2 * 86400  # past the minute, inside the month
    assert windows.hit(minute, "other")  # the third hit sweeps
    assert len(windows) == 2 and not windows.hit(month, "long")  # the month's request still counts
