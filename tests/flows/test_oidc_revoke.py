"""Token revocation (RFC 7009) at ``/oidc/revoke``: the mobile app ends its session without the
browser, a portal ends its access token, and no client can end another's tokens (ADR 0020)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from tests.databases import DATABASES, MigratedDatabases
from tests.flows.mobileapp import APP, APP_CALLBACK, DAY, families, frozen, refresh, refused, sign_in, userinfo
from tests.world import BROKER, PORTAL, PORTAL_CALLBACK, PORTAL_SECRET, World, opened_world

pytestmark = pytest.mark.flow

REVOKE = f"{BROKER}/oidc/revoke"
OTHER_APP = "other-app"


@pytest.fixture(params=DATABASES)
def world(request: pytest.FixtureRequest, material: dict[str, Path], tmp_path: Path, migrated: MigratedDatabases) -> Iterator[World]:
    """The mobile app and another public app (no secrets) next to a confidential portal."""
    app = {"redirect_uris": [APP_CALLBACK], "regions": ["77"], "login_url": f"{PORTAL}/login", "name": "Дневник"}
    clients = {
        APP: app,
        OTHER_APP: app | {"name": "Другое приложение"},
        "portal": {
            "redirect_uris": [PORTAL_CALLBACK],
            "regions": ["77"],
            "login_url": f"{PORTAL}/login",
            "secret_sha256": hashlib.sha256(PORTAL_SECRET.encode()).hexdigest(),
        },
    }
    with opened_world(material, migrated.copy(request.param, tmp_path), broker_config={"OIDC_CLIENTS": clients}) as opened:
        yield opened


def revoke(
    token: str, hint: str | None = None, *, client_id: str = APP, auth: tuple[str, str] | None = None, **form: str
) -> requests.Response:
    """A revocation request as any client may send it, read raw: ``client_id`` in the form
    (public clients), or HTTP Basic with ``auth``."""
    data = {"token": token, **({"token_type_hint": hint} if hint else {}), **form}
    if auth is None:
        data["client_id"] = client_id
    return requests.post(REVOKE, data=data, auth=auth)


def app_session() -> OAuth2Session:
    return OAuth2Session(client_id=APP, token_endpoint_auth_method="none")


def test_discovery_lists_the_revocation_endpoint_and_its_client_authentication(world: World) -> None:
    metadata = requests.get(f"{BROKER}/.well-known/openid-configuration").json()
    assert metadata["revocation_endpoint"] == REVOKE
    assert metadata["revocation_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post", "none"]


# --- the app's session ----------------------------------------------------------------------------


def test_revoking_the_refresh_token_ends_its_family_and_the_familys_access_tokens(world: World, caplog: pytest.LogCaptureFixture) -> None:
    client, first = sign_in(world)
    second = client.refresh_token(f"{BROKER}/oidc/token", refresh_token=first["refresh_token"])
    with caplog.at_level(logging.DEBUG):
        answer = app_session().revoke_token(REVOKE, token=second["refresh_token"], token_type_hint="refresh_token")
    assert answer.status_code == 200 and answer.json() == {} and answer.headers["Cache-Control"] == "no-store"
    assert refused(refresh(second["refresh_token"]))
    assert [userinfo(token["access_token"]) for token in (first, second)] == [401, 401]
    assert families(world)[0].revoked_at is not None
    assert "client diary-app revoked a token (refresh_token): 0 access token(s) deleted, 1 refresh token family ended" in caplog.text
    assert all(token[kind] not in caplog.text for token in (first, second) for kind in ("access_token", "refresh_token"))


def test_a_spent_refresh_token_of_the_family_revokes_it_too(world: World) -> None:
    client, first = sign_in(world)
    second = client.refresh_token(f"{BROKER}/oidc/token", refresh_token=first["refresh_token"])
    assert revoke(first["refresh_token"], "refresh_token").status_code == 200
    assert refused(refresh(second["refresh_token"]))
    assert userinfo(second["access_token"]) == 401


def test_revoking_the_apps_access_token_ends_it_and_the_family_it_was_issued_in(world: World) -> None:
    _, token = sign_in(world)
    answer = app_session().revoke_token(REVOKE, token=token["access_token"], token_type_hint="access_token")
    assert answer.status_code == 200
    assert userinfo(token["access_token"]) == 401
    assert refused(refresh(token["refresh_token"]))  # whichever token the app sends at logout ends its session


def test_the_app_ends_its_session_after_the_browsers_diary_session_expired(world: World) -> None:
    """The gap logout left (ADR 0020): with no diary session to end, the family still ends."""
    clock = frozen(world)
    _, token = sign_in(world)
    clock.advance(DAY)
    assert revoke(token["refresh_token"]).status_code == 200
    assert refused(refresh(token["refresh_token"]))


def test_unknown_and_already_revoked_tokens_answer_200(world: World) -> None:
    _, token = sign_in(world)
    assert revoke(secrets.token_urlsafe(32)).status_code == 200
    assert revoke(secrets.token_urlsafe(32), "refresh_token").status_code == 200
    assert families(world)[0].revoked_at is None  # nothing of the app's was touched
    assert revoke(token["refresh_token"]).status_code == 200
    assert [revoke(token[kind]).status_code for kind in ("refresh_token", "access_token")] == [200, 200]


def test_the_hint_says_where_to_look_first_but_a_wrong_one_still_finds_the_token(world: World) -> None:
    _, access_hinted_as_refresh = sign_in(world, scope="openid profile")  # no family: only the access token
    assert revoke(access_hinted_as_refresh["access_token"], "refresh_token").status_code == 200
    assert userinfo(access_hinted_as_refresh["access_token"]) == 401
    _, refresh_hinted_as_access = sign_in(world)
    assert revoke(refresh_hinted_as_access["refresh_token"], "access_token").status_code == 200
    assert refused(refresh(refresh_hinted_as_access["refresh_token"]))


def test_a_hint_the_broker_does_not_know_is_ignored(world: World) -> None:
    """RFC 7009 §2.1: "An invalid token type hint value is ignored" (Authlib would refuse it)."""
    _, token = sign_in(world)
    assert revoke(token["refresh_token"], "id_token").status_code == 200
    assert refused(refresh(token["refresh_token"]))


def test_a_request_without_a_token_is_invalid_request(world: World) -> None:
    answer = requests.post(REVOKE, data={"client_id": APP})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


# --- whose token ------------------------------------------------------------------------------------


def test_another_client_revoking_the_apps_tokens_gets_200_and_ends_nothing(world: World, caplog: pytest.LogCaptureFixture) -> None:
    _, token = sign_in(world)
    with caplog.at_level(logging.WARNING, logger="broker.oidc"):
        for kind in ("refresh_token", "access_token"):
            assert revoke(token[kind], kind, client_id=OTHER_APP).status_code == 200
            assert revoke(token[kind], kind, auth=("portal", PORTAL_SECRET)).status_code == 200
    assert "client other-app asked to revoke a token (refresh_token) of client diary-app: nothing revoked" in caplog.text
    assert "client portal asked to revoke a token (access_token) of client diary-app: nothing revoked" in caplog.text
    assert userinfo(token["access_token"]) == 200
    assert families(world)[0].revoked_at is None
    assert refresh(token["refresh_token"]).ok


def test_the_app_revoking_a_portals_access_token_gets_200_and_ends_nothing(world: World) -> None:
    _, token = sign_in(world, client_id="portal")
    assert revoke(token["access_token"]).status_code == 200
    assert userinfo(token["access_token"]) == 200


# --- client authentication ----------------------------------------------------------------------------


def test_a_portal_revokes_its_access_token_with_its_secret_by_basic_or_post_and_only_that_one(world: World) -> None:
    _, first = sign_in(world, client_id="portal")
    _, second = sign_in(world, client_id="portal")
    _, third = sign_in(world, client_id="portal")
    portal: dict[str, Any] = {"client_id": "portal", "client_secret": PORTAL_SECRET}
    assert OAuth2Session(**portal).revoke_token(REVOKE, token=first["access_token"]).status_code == 200
    posted = OAuth2Session(**portal, revocation_endpoint_auth_method="client_secret_post")
    assert posted.revoke_token(REVOKE, token=second["access_token"]).status_code == 200
    assert [userinfo(token["access_token"]) for token in (first, second, third)] == [401, 401, 200]


def test_a_wrong_secret_or_none_for_a_confidential_portal_is_invalid_client_and_revokes_nothing(world: World) -> None:
    _, token = sign_in(world, client_id="portal")
    wrong = revoke(token["access_token"], auth=("portal", "a guess"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    posted = revoke(token["access_token"], client_id="portal", client_secret="a guess")
    assert posted.status_code == 401 and posted.json()["error"] == "invalid_client"
    without = revoke(token["access_token"], client_id="portal")  # a confidential client must authenticate
    assert without.status_code == 401 and without.json()["error"] == "invalid_client"
    assert userinfo(token["access_token"]) == 200


def test_the_app_needs_no_secret_and_a_request_naming_no_client_is_refused(world: World) -> None:
    _, token = sign_in(world)
    nobody = requests.post(REVOKE, data={"token": token["refresh_token"]})
    assert nobody.status_code == 401 and nobody.json()["error"] == "invalid_client"
    unknown = revoke(token["refresh_token"], client_id="no-such-app")
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_client"  # no credentials sent: RFC 6749 §5.2
    assert refresh(token["refresh_token"]).ok
