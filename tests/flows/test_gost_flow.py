"""The current ESIA flow (v2/ac + v3/te, raw GOST client_secret, PKCE), with RS256 and with
GOST-signed ESIA tokens: the same logins end the same way as in the legacy flow."""

from __future__ import annotations

import pytest

from tests.world import World, confirm_contacts, log_in, verify_id_token

pytestmark = pytest.mark.flow
GOST_SETUPS = ["current-gost-rs256", "current-gost-gost"]


@pytest.mark.parametrize("esia_setup", GOST_SETUPS)
def test_a_linked_person_signs_in(world: World) -> None:
    login = log_in(world, "namesake-1")
    assert login.callback is not None
    assert verify_id_token(login.token()["id_token"], login.nonce)["sub"] == "d-016"


@pytest.mark.parametrize("esia_setup", GOST_SETUPS)
def test_a_first_login_is_confirmed_and_linked(world: World) -> None:
    login = confirm_contacts(world, log_in(world, "adult-standard"), "+79000000006", "m@example.org")
    claims = verify_id_token(login.token()["id_token"])
    assert (claims["sub"], claims["acr"]) == ("d-006", "standard")


@pytest.mark.parametrize("esia_setup", GOST_SETUPS)
def test_a_refusal_is_the_same_in_the_current_flow(world: World) -> None:
    login = log_in(world, "teen-simple")
    assert login.page is not None and "упрощённая" in login.page.text
