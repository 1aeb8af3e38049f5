"""What the id_token says and what only userinfo says (OIDC Core §5.4).

Portals send the id_token back in a URL (logout's ``id_token_hint``), where it lands in access
logs and browser history: it carries what signs the person in, never names or contacts.
"""

from __future__ import annotations

import pytest

from tests.world import BROKER, World, confirm_contacts, log_in, verify_id_token

pytestmark = pytest.mark.flow

#: Every claim an id_token of the broker may carry (at_hash: Authlib binds the access token).
ID_TOKEN_CLAIMS = {
    "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "role", "region", "school_id",
}  # fmt: skip


def signed_in_with_contacts(world: World) -> dict[str, object]:
    """A first login (the person confirms a phone and an e-mail) with scope openid profile email phone."""
    login = confirm_contacts(world, log_in(world, "adult-verified"), "+79000000005", "ivan@example.org")
    tokens = login.token()
    return {"id_token": verify_id_token(tokens["id_token"], login.nonce), "userinfo": login.portal.get(f"{BROKER}/oidc/userinfo").json()}


def test_the_id_token_carries_no_names_login_or_contacts_whatever_the_scope(world: World) -> None:
    claims = signed_in_with_contacts(world)["id_token"]
    assert isinstance(claims, dict)
    assert set(claims) <= ID_TOKEN_CLAIMS, set(claims) - ID_TOKEN_CLAIMS
    assert (claims["sub"], claims["role"], claims["region"], claims["acr"], claims["amr"]) == ("d-005", "parent", "77", "verified", ["pwd"])
    assert "school_id" in claims and "auth_time" in claims


def test_names_login_and_contacts_come_from_userinfo(world: World) -> None:
    info = signed_in_with_contacts(world)["userinfo"]
    assert isinstance(info, dict)
    assert (info["sub"], info["family_name"], info["given_name"], info["middle_name"]) == ("d-005", "Петров", "Иван", "Николаевич")
    assert info["preferred_username"] and (info["email"], info["phone_number"]) == ("ivan@example.org", "+79000000005")
    assert (info["role"], info["region"], info["acr"]) == ("parent", "77", "verified")
