"""Rotating SECRET_KEY mid-flight: with the old key among the fallbacks, logins in progress and
link tickets carry on; without it they are refused, and support still finds people by oid."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask

from broker.keyring import make_keyring
from broker.support import search as attemptsearch
from tests.world import BROKER, PORTAL, PORTAL_CALLBACK, World, ask_link, csrf, log_in, start_login

pytestmark = pytest.mark.flow

ROTATED = {"SECRET_KEY": "flow-secret-2", "SECRET_KEY_FALLBACKS": ["flow-secret"]}
ROTATED_WITHOUT_FALLBACK = {"SECRET_KEY": "flow-secret-2", "SECRET_KEY_FALLBACKS": []}


def restart(app: Flask, **settings: Any) -> None:
    """What a restart with changed settings does to the keys (Flask reads its own at each request)."""
    app.config.update(settings)
    app.extensions["broker"].keyring = make_keyring(app.config)


@pytest.fixture
def world(world: World) -> World:
    restart(world.broker, OID_HASH_KEY="flow-oid-key")  # a fixed oid key: it must survive the rotation
    return world


def at_esia(world: World) -> str:
    _, response = start_login(world)
    page = world.follow(response, lambda url: urlsplit(url).path == "/login")
    assert isinstance(page, str)
    return page


def test_a_login_that_was_at_esia_when_the_key_rotated_finishes(world: World) -> None:
    page = at_esia(world)
    restart(world.broker, **ROTATED)
    answer = world.go(page, data={"login": "namesake-1", "password": "test1234"})
    assert isinstance(world.follow(answer, lambda url: url.startswith(PORTAL_CALLBACK)), str)


def test_a_form_shown_before_the_key_rotated_is_accepted_after_it(world: World) -> None:
    login = log_in(world, "adult-verified")
    assert login.page is not None and login.page.url.endswith("/auth/confirm")
    restart(world.broker, **ROTATED)
    answer = world.go(f"{BROKER}/auth/confirm",
                      data={"csrf_token": csrf(login.page.text), "phone": "+79000000005", "email": "ivan@example.org"})  # fmt: skip
    assert isinstance(world.follow(answer, lambda url: url.startswith(PORTAL_CALLBACK)), str)


def test_a_link_ticket_issued_before_the_key_rotated_is_redeemed_after_it(world: World) -> None:
    url = ask_link("d-004").json()["url"]
    restart(world.broker, **ROTATED)
    assert world.go(url).status_code == 302


def test_without_the_old_key_logins_in_progress_end_but_support_still_finds_people_by_oid(world: World) -> None:
    signed_in = log_in(world, "namesake-1")
    assert signed_in.callback is not None
    world.browser = requests.Session()  # another person's browser
    page = at_esia(world)
    ticket_url = ask_link("d-004").json()["url"]

    restart(world.broker, **ROTATED_WITHOUT_FALLBACK)
    answer = world.go(page, data={"login": "adult-verified", "password": "test1234"})
    refused = world.follow(answer, lambda url: url.startswith(PORTAL))
    assert not isinstance(refused, str) and refused.status_code == 400  # state_unknown_or_replayed
    assert world.go(ticket_url).status_code == 400
    with world.broker.app_context():
        found = attemptsearch.search(attemptsearch.Criteria(oid="1000300015"), regions=None).attempts
        assert [(a.outcome, a.account_id) for a in found] == [("signed_in", "d-016")]
