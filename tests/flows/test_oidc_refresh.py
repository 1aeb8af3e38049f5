"""The mobile app's session: refresh tokens for a public client that asks for ``offline_access``,
rotated on every use with reuse detection (RFC 9700 §4.14), bounded in lifetime, and ended by
logout, unlink and a blocked account (ADR 0020)."""

from __future__ import annotations

import csv
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from sqlalchemy import create_engine, select, text, update

from broker import services
from broker.db.models import Account, DiarySession, EsiaLink, RefreshToken
from broker.extensions import db
from broker.support import links as support_links
from tests.broker.staffing import bearer, make_staff
from tests.databases import DATABASES, POSTGRES_URL, MigratedDatabases
from tests.flows.mobileapp import ACCOUNT, APP, APP_CALLBACK, DAY, families, frozen, refresh, refused, sign_in, userinfo
from tests.world import BROKER, EXAMPLES, PORTAL, PORTAL_CALLBACK, PORTAL_SECRET, World, opened_world

pytestmark = pytest.mark.flow


@pytest.fixture(params=DATABASES)
def world(request: pytest.FixtureRequest, material: dict[str, Path], tmp_path: Path, migrated: MigratedDatabases) -> Iterator[World]:
    """The flow tests' world with the diary's mobile app registered (public: no secret) next to a portal,
    on SQLite and (with TEST_DATABASE_URL) on PostgreSQL."""
    clients = {
        APP: {"redirect_uris": [APP_CALLBACK], "regions": ["77"], "login_url": f"{PORTAL}/login", "name": "Дневник"},
        "portal": {
            "redirect_uris": [PORTAL_CALLBACK],
            "regions": ["77"],
            "login_url": f"{PORTAL}/login",
            "secret_sha256": hashlib.sha256(PORTAL_SECRET.encode()).hexdigest(),
        },
    }
    with opened_world(material, migrated.copy(request.param, tmp_path), broker_config={"OIDC_CLIENTS": clients}) as opened:
        yield opened


# --- getting and rotating -----------------------------------------------------------------------


def test_discovery_lists_the_refresh_grant_and_offline_access(world: World) -> None:
    metadata = requests.get(f"{BROKER}/.well-known/openid-configuration").json()
    assert metadata["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert "offline_access" in metadata["scopes_supported"]


def test_the_app_gets_a_refresh_token_and_every_refresh_gives_a_new_one(world: World) -> None:
    client, first = sign_in(world)
    assert first["refresh_token"] and "offline_access" in first["scope"].split()
    assert userinfo(first["access_token"]) == 200
    second = client.refresh_token(f"{BROKER}/oidc/token", refresh_token=first["refresh_token"])
    third = client.refresh_token(f"{BROKER}/oidc/token", refresh_token=second["refresh_token"])
    tokens = [first, second, third]
    assert len({token["refresh_token"] for token in tokens}) == 3 and len({token["access_token"] for token in tokens}) == 3
    assert third["expires_in"] == 600 and third["scope"] == first["scope"]
    assert userinfo(third["access_token"]) == 200
    assert [len(families(world))] == [1]  # one grant, one family


def test_a_refresh_may_narrow_the_scope_but_not_widen_it(world: World) -> None:
    client, first = sign_in(world, scope="openid offline_access")
    narrowed = client.refresh_token(f"{BROKER}/oidc/token", refresh_token=first["refresh_token"], scope="openid")
    assert narrowed["scope"] == "openid"
    with pytest.raises(OAuthError, match="invalid_scope"):
        client.refresh_token(f"{BROKER}/oidc/token", refresh_token=narrowed["refresh_token"], scope="openid profile")


def test_only_the_hash_of_a_refresh_token_is_stored(world: World) -> None:
    _, token = sign_in(world)
    with world.broker.app_context():
        [stored] = db.session.scalars(select(RefreshToken.digest)).all()
        db.session.remove()
    assert token["refresh_token"] not in stored
    assert stored != hashlib.sha256(token["refresh_token"].encode()).hexdigest()  # keyed: the database alone cannot check one


def test_without_offline_access_the_app_gets_no_refresh_token(world: World) -> None:
    _, token = sign_in(world, scope="openid profile")
    assert "refresh_token" not in token and families(world) == []


def test_a_confidential_portal_gets_no_refresh_token_and_may_not_refresh(world: World) -> None:
    _, token = sign_in(world, client_id="portal")
    assert "refresh_token" not in token and "offline_access" not in token["scope"].split()  # OIDC Core §11: ignored
    _, app_token = sign_in(world)
    answer = refresh(app_token["refresh_token"], auth=("portal", PORTAL_SECRET))
    assert answer.status_code == 400 and answer.json()["error"] == "unauthorized_client"
    assert refresh(app_token["refresh_token"]).ok  # the app's token was not touched


def test_another_client_presenting_the_token_is_refused_and_ends_nothing(world: World) -> None:
    with world.broker.app_context():
        services.current().clients["other-app"] = (
            services.current()
            .clients[APP]
            .__class__(client_id="other-app", name="Другое", redirect_uris=(APP_CALLBACK,), regions=frozenset({"77"}), login_url=PORTAL)
        )
    _, token = sign_in(world)
    assert refused(refresh(token["refresh_token"], client_id="other-app"))
    assert refresh(token["refresh_token"]).ok


# --- reuse ------------------------------------------------------------------------------------------


def test_a_spent_refresh_token_presented_again_ends_the_family_the_newest_token_too(world: World, caplog: pytest.LogCaptureFixture) -> None:
    client, first = sign_in(world)
    second = client.refresh_token(f"{BROKER}/oidc/token", refresh_token=first["refresh_token"])
    third = client.refresh_token(f"{BROKER}/oidc/token", refresh_token=second["refresh_token"])
    with caplog.at_level(logging.INFO, logger="broker.oidc"):
        assert refused(refresh(first["refresh_token"]))  # an attacker's copy, or the app's: two parties hold it
    assert refused(refresh(third["refresh_token"]))  # the newest is dead too
    assert [userinfo(token["access_token"]) for token in (first, second, third)] == [401, 401, 401]
    [family] = families(world)
    assert family.revoked_at is not None
    assert "presented a spent refresh token again" in caplog.text
    assert all(token["refresh_token"] not in caplog.text for token in (first, second, third))


def test_the_same_token_refreshed_twice_in_a_row_ends_the_family(world: World) -> None:
    _, first = sign_in(world)
    assert refresh(first["refresh_token"]).ok
    answer = refresh(first["refresh_token"])
    assert refused(answer)
    assert families(world)[0].revoked_at is not None


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="row locks between two transactions: PostgreSQL (TEST_DATABASE_URL)")
@pytest.mark.parametrize("world", ["postgresql"], indirect=True)
def test_of_two_refreshes_at_once_with_one_token_the_later_ends_the_family(world: World) -> None:
    """The app's request and a thief's arrive together: one spends the token, the other finds it
    spent once the first commits (it waits on the row's lock) and ends the family."""
    _, token = sign_in(world)
    with world.broker.app_context():
        digest = services.current().keyring.refresh_token.digest(token["refresh_token"])
        url = world.broker.config["SQLALCHEMY_DATABASE_URI"]
    other = create_engine(url)
    answers: list[requests.Response] = []
    try:
        with other.connect() as first:  # the first request, between spending the token and its commit
            spent = first.execute(
                text("UPDATE oidc_refresh_tokens SET used_at = now() WHERE digest = :digest AND used_at IS NULL"), {"digest": digest}
            )
            assert spent.rowcount == 1
            second = threading.Thread(target=lambda: answers.append(refresh(token["refresh_token"])))
            second.start()
            waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
            for _ in range(200):
                if first.execute(waiting).scalar_one():
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the second refresh never waited on the token's row")
            first.commit()
            second.join(30)
    finally:
        other.dispose()
    assert refused(answers[0])
    assert families(world)[0].revoked_at is not None


def test_an_unknown_refresh_token_is_refused(world: World) -> None:
    sign_in(world)
    assert refused(refresh(secrets.token_urlsafe(32)))
    assert families(world)[0].revoked_at is None


def test_a_replayed_code_ends_the_family_it_started(world: World) -> None:
    client = OAuth2Session(client_id=APP, scope="openid offline_access", redirect_uri=APP_CALLBACK, code_challenge_method="S256",
                           token_endpoint_auth_method="none")  # fmt: skip
    verifier = secrets.token_urlsafe(48)
    url, _ = client.create_authorization_url(f"{BROKER}/oidc/authorize", code_verifier=verifier, region="77")
    at_esia = world.follow(world.go(url), lambda u: urlsplit(u).path == "/login")
    assert isinstance(at_esia, str)
    callback = world.follow(world.go(at_esia, data={"login": "namesake-1", "password": "test1234"}), lambda u: u.startswith(APP_CALLBACK))
    assert isinstance(callback, str)
    token = client.fetch_token(f"{BROKER}/oidc/token", authorization_response=callback, code_verifier=verifier)
    code = dict(part.split("=", 1) for part in urlsplit(callback).query.split("&"))["code"]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": APP_CALLBACK, "code_verifier": verifier, "client_id": APP}
    assert requests.post(f"{BROKER}/oidc/token", data=exchange).status_code == 400
    assert refused(refresh(token["refresh_token"]))


# --- lifetime ---------------------------------------------------------------------------------------


def test_the_family_ends_after_refresh_token_days_however_often_it_is_used(world: World) -> None:
    clock = frozen(world)
    client, token = sign_in(world)
    for _ in range(2):  # days 10 and 20: well within the idle lifetime each time
        clock.advance(10 * DAY)
        token = client.refresh_token(f"{BROKER}/oidc/token", refresh_token=token["refresh_token"])
    clock.advance(10 * DAY)  # day 30: REFRESH_TOKEN_DAYS
    assert refused(refresh(token["refresh_token"]))


def test_the_family_ends_once_the_app_has_not_refreshed_for_the_idle_days(world: World) -> None:
    clock = frozen(world)
    _, token = sign_in(world)
    clock.advance(14 * DAY - 60)
    token = refresh(token["refresh_token"]).json()
    assert token["refresh_token"]
    clock.advance(14 * DAY)  # REFRESH_TOKEN_IDLE_DAYS since the last refresh
    assert refused(refresh(token["refresh_token"]))


def test_the_family_outlives_the_browsers_diary_session(world: World) -> None:
    clock = frozen(world)
    _, token = sign_in(world)
    clock.advance(2 * DAY)  # SESSION_SECONDS (8 h) long gone
    answer = refresh(token["refresh_token"])
    assert answer.ok and userinfo(answer.json()["access_token"]) == 200


# --- logout, unlink, a blocked account -------------------------------------------------------------


def test_logout_ends_the_family(world: World) -> None:
    _, token = sign_in(world)
    query = urlencode({"id_token_hint": token["id_token"], "client_id": APP})
    assert world.go(f"{BROKER}/oidc/logout?{query}").status_code == 303
    assert families(world)[0].revoked_at is not None
    assert refused(refresh(token["refresh_token"]))


def test_an_unlink_ends_the_family_even_after_the_diary_session_expired(world: World) -> None:
    clock = frozen(world)
    _, token = sign_in(world)
    clock.advance(DAY)  # the diary session has expired: only the family is left to end
    with world.broker.app_context():
        support_links.unlink(ACCOUNT, comment="the person asked", by=make_staff("boss"), actor="cli:test")
        db.session.remove()
    assert families(world)[0].revoked_at is not None
    assert refused(refresh(token["refresh_token"]))


def test_a_registry_import_blocking_the_account_ends_the_family_and_its_access_tokens(world: World, tmp_path: Path) -> None:
    _, token = sign_in(world)
    with (EXAMPLES / "registry.csv").open(encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    [row] = [dict(row, status="blocked") for row in rows if row["id"] == ACCOUNT]
    path = tmp_path / "blocked.csv"
    with path.open("w", encoding="utf-8", newline="") as target:
        writer = csv.DictWriter(target, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    with world.broker.app_context():
        result = world.broker.test_cli_runner().invoke(args=["registry", "import", "--allow-links", str(path)])
        db.session.remove()
    assert result.exit_code == 0, result.output
    assert families(world)[0].revoked_at is not None
    assert userinfo(token["access_token"]) == 401  # the family's access token went with it
    assert refused(refresh(token["refresh_token"]))


def test_the_sync_api_blocking_the_account_ends_the_family(world: World) -> None:
    _, token = sign_in(world)
    with (EXAMPLES / "registry.csv").open(encoding="utf-8") as source:
        [row] = [row for row in csv.DictReader(source) if row["id"] == ACCOUNT]
    account = {key: value or None for key, value in row.items()} | {"status": "blocked", "middle_name": row["middle_name"]}
    with world.broker.app_context():
        headers = bearer("sync", "admin")
        db.session.remove()
    answer = requests.post(f"{BROKER}/api/v1/registry/accounts", json={"accounts": [account], "allow_links": True}, headers=headers)
    assert answer.ok, answer.text
    assert families(world)[0].revoked_at is not None
    assert userinfo(token["access_token"]) == 401


def test_a_refresh_checks_the_account_is_still_active_and_linked_and_its_session_not_ended(world: World) -> None:
    """Whatever ended the account's standing without ending its families: the refresh itself refuses."""
    _, blocked = sign_in(world)
    with world.broker.app_context():
        db.session.execute(update(Account).where(Account.id == ACCOUNT).values(status="blocked"))
        db.session.commit()
    assert refused(refresh(blocked["refresh_token"]))
    with world.broker.app_context():
        db.session.execute(update(Account).where(Account.id == ACCOUNT).values(status="active"))
        db.session.commit()
    _, unlinked = sign_in(world)
    with world.broker.app_context():
        db.session.execute(
            update(EsiaLink).where(EsiaLink.account_id == ACCOUNT).values(linked_at=services.current().clock() + timedelta(seconds=1))
        )
        db.session.commit()  # a link made after the family began: not the one the family came from
    assert refused(refresh(unlinked["refresh_token"]))
    with world.broker.app_context():
        db.session.execute(
            update(EsiaLink).where(EsiaLink.account_id == ACCOUNT).values(linked_at=services.current().clock() - timedelta(days=1))
        )
        db.session.commit()
    _, ended = sign_in(world)
    with world.broker.app_context():
        db.session.execute(update(DiarySession).values(revoked_at=services.current().clock()))
        db.session.commit()  # the diary session ended without ending its families
    assert refused(refresh(ended["refresh_token"]))
