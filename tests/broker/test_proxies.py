"""Behind a reverse proxy: TRUSTED_PROXIES decides whose X-Forwarded-For is believed."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from broker import create_app
from broker.errors import ConfigError
from broker.extensions import db
from broker.web import proxies
from tests.broker.staffing import StaffBrowser, audit_rows, make_staff
from tests.databases import TEST_SNILS_KEY, MigratedDatabases

PROXY = "10.0.0.1"
ATTACKER = "203.0.113.66"
ADMIN = "198.51.100.7"


@pytest.fixture
def make_app(tmp_path: Path, migrated: MigratedDatabases) -> Iterator[Callable[..., Flask]]:
    """``make_app(**config)``: a broker on a fresh migrated SQLite file, its app context pushed until the test ends."""
    with ExitStack() as contexts:

        def make(**config: Any) -> Flask:
            app = create_app(
                {
                    "TESTING": True,
                    "SECRET_KEY": "test-secret",
                    "SNILS_HASH_KEY": TEST_SNILS_KEY,
                    "SQLALCHEMY_DATABASE_URI": migrated.copy("sqlite", tmp_path),
                    **config,
                }
            )
            contexts.enter_context(app.app_context())
            contexts.callback(db.engine.dispose)
            contexts.callback(db.session.remove)
            return app

        yield make


def browser_behind(app: Flask, forwarded_for: str, peer: str = PROXY) -> StaffBrowser:
    """A staff browser whose requests arrive from ``peer`` with ``X-Forwarded-For: forwarded_for``."""
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded_for)
    return StaffBrowser(client)


# --- the scenario ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "limits", "attempts"),
    [
        # The 31 failures against both defences at their defaults: the address's rate limit
        # (here per hour, so that no window edge falls mid-test) and its failure throttle (30).
        (1, {"RATE_LIMIT_STAFF_LOGIN_PER_ADDRESS": "30 per hour"}, 31),
        (["10.0.0.0/8"], {"RATE_LIMIT_STAFF_LOGIN_PER_ADDRESS": "5 per hour", "STAFF_MAX_FAILURES_PER_ADDRESS": 5}, 6),
        (1, {"RATE_LIMIT_STAFF_LOGIN_PER_ADDRESS": "", "STAFF_MAX_FAILURES_PER_ADDRESS": 5}, 6),  # the throttle alone
    ],
    ids=["hop-count", "networks", "throttle-only"],
)
def test_an_attackers_failed_staff_logins_behind_the_proxy_do_not_keep_the_admin_out(
    make_app: Callable[..., Flask], trusted: Any, limits: dict[str, Any], attempts: int
) -> None:
    """Failed logins from one forwarded address refuse that address, never the admin coming through
    the same proxy from another address; the audit names each real address, not the proxy's."""
    app = make_app(TRUSTED_PROXIES=trusted, **limits)
    make_staff("boss", role="admin")
    attacker = browser_behind(app, ATTACKER)
    for n in range(attempts):
        attacker.login(f"guess{n}", "a guess")
    assert attacker.login("boss").status_code in (200, 429)  # that address: refused even with the right password
    assert browser_behind(app, ADMIN).login("boss").status_code == 302
    [signed_in] = audit_rows("staff_login")
    assert signed_in.source == ADMIN
    failed = audit_rows("staff_login_failed")
    assert len(failed) == attempts - 1 and {event.source for event in failed} == {ATTACKER}


def test_without_trusted_proxies_a_forged_forwarded_for_is_ignored(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATE_LIMIT_STAFF_LOGIN_PER_ADDRESS="2 per minute")
    answers = [browser_behind(app, f"192.0.2.{n}", peer=ATTACKER).login("boss", "a guess").status_code for n in range(3)]
    assert answers == [200, 200, 429]  # a new forged address each time: still counted as the peer
    assert {event.source for event in audit_rows("staff_login_failed")} == {ATTACKER}


def test_with_networks_a_peer_outside_them_is_not_believed(make_app: Callable[..., Flask]) -> None:
    app = make_app(TRUSTED_PROXIES="10.0.0.0/8")
    browser_behind(app, ADMIN, peer=ATTACKER).login("boss", "a guess")
    browser_behind(app, ADMIN, peer="10.1.2.3").login("boss", "a guess")
    assert [event.source for event in audit_rows("staff_login_failed")] == [ATTACKER, ADMIN]


# --- which entry is the client's -----------------------------------------------------------------


def seen_address(trusted: Any, peer: str, forwarded: str | None) -> str | None:
    """``request.remote_addr`` as the app behind ``proxies.wrap`` sees it."""

    @Request.application
    def echo(request: Request) -> Response:
        return Response(request.remote_addr or "")

    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    wrapped = proxies.wrap(echo, proxies.parse_trusted_proxies(trusted))
    return Client(wrapped).get("/", headers=headers, environ_base={"REMOTE_ADDR": peer}).get_data(as_text=True)


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        (0, PROXY, ADMIN, PROXY),  # the default believes nobody
        (1, PROXY, f"6.6.6.6, {ADMIN}", ADMIN),  # one hop: the entry the proxy appended
        (2, PROXY, f"6.6.6.6, {ADMIN}, 10.0.0.2", ADMIN),  # two hops
        (2, PROXY, ADMIN, PROXY),  # fewer entries than hops: not believed
        (["10.0.0.0/8"], PROXY, f"6.6.6.6, {ADMIN}, 10.0.0.2", ADMIN),  # past every trusted proxy
        (["10.0.0.0/8"], PROXY, "10.0.0.3, 10.0.0.2", "10.0.0.3"),  # all trusted: the leftmost
        (["10.0.0.0/8"], ATTACKER, ADMIN, ATTACKER),  # a peer outside the networks
        (["10.0.0.0/8"], f"::ffff:{PROXY}", ADMIN, ADMIN),  # a dual-stack socket's view of the proxy
        (["10.0.0.0/8"], PROXY, None, PROXY),  # no header
        (["10.0.0.0/8", "2001:db8::/32"], "2001:db8::5", ADMIN, ADMIN),
    ],
)
def test_the_client_is_the_entry_trusted_proxies_reach(trusted: Any, peer: str, forwarded: str | None, client: str) -> None:
    assert seen_address(trusted, peer, forwarded) == client


# --- the setting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (None, 0),
        ("", 0),
        (0, 0),
        (2, 2),
        ("1", 1),
        ("10.0.0.0/8", (ipaddress.ip_network("10.0.0.0/8"),)),
        ("10.0.0.0/8, 192.168.1.5 ::1", tuple(map(ipaddress.ip_network, ["10.0.0.0/8", "192.168.1.5/32", "::1/128"]))),
        (["172.16.0.0/12"], (ipaddress.ip_network("172.16.0.0/12"),)),
    ],
)
def test_trusted_proxies_is_a_hop_count_or_networks(value: Any, parsed: Any) -> None:
    assert proxies.parse_trusted_proxies(value) == parsed


@pytest.mark.parametrize("value", [-1, 11, True, 2.5, "10.0.0.1/8", "the proxy", ["10.0.0.0/8", 7], {"a": 1}])
def test_a_trusted_proxies_the_broker_cannot_read_stops_it_at_start(value: Any) -> None:
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES: "):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "TRUSTED_PROXIES": value})


def test_trusted_proxies_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BROKER_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text('SECRET_KEY = "s"\nSNILS_HASH_KEY = "k"\nOID_HASH_KEY = "o"\n')
    monkeypatch.setenv("BROKER_DATABASE_URL", "sqlite://")
    monkeypatch.setenv("BROKER_TRUSTED_PROXIES", "10.0.0.0/8,192.168.0.0/16")
    app = create_app()
    assert isinstance(app.wsgi_app, proxies.TrustedNetworks)
    assert app.wsgi_app.networks == tuple(map(ipaddress.ip_network, ["10.0.0.0/8", "192.168.0.0/16"]))
