"""With pending logins in Redis and Redis down, a person meets the named "service unavailable" page
(``redis_unavailable``, 503), never a 500, and the broker keeps nothing of the step it could not
finish (no attempt, no link, no session); ``/readyz`` says Redis is unreachable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from broker import services
from broker.db.models import DiarySession, EsiaLink, LoginAttempt
from broker.extensions import db
from broker.login.redisstore import RedisPendingLogins
from examples.localhost import free_port
from tests.databases import MigratedDatabases
from tests.redisdb import pending_logins_in_redis, require_redis
from tests.world import BROKER, PORTAL_CALLBACK, World, csrf, log_in, opened_world, start_login

pytestmark = pytest.mark.flow


def closed_port_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


Opener = Callable[[str], AbstractContextManager[World]]


@pytest.fixture
def open_world(material: dict[str, Path], tmp_path: Path, migrated: MigratedDatabases) -> Iterator[Opener]:
    """``open_world(redis_url)``: the flow tests' world with its pending logins in the Redis at ``redis_url``."""

    def opened(url: str) -> AbstractContextManager[World]:
        config = {**pending_logins_in_redis(url), "REDIS_TIMEOUT": 0.2}
        return opened_world(material, migrated.copy("sqlite", tmp_path), broker_config=config)

    yield opened


def redis_goes_down(world: World) -> None:
    with world.broker.app_context():
        services.current().pending_logins = RedisPendingLogins.from_url(closed_port_url(), "down", 0.2)


def counted(world: World, model: Any) -> int:
    with world.broker.app_context():
        found = db.session.scalar(select(func.count()).select_from(model))
        db.session.remove()
        return int(found or 0)


def assert_unavailable_page(page: requests.Response) -> None:
    assert page.status_code == 503
    assert "Сервис входа недоступен" in page.text and "redis_unavailable" in page.text


def test_with_redis_down_a_login_cannot_start_and_the_person_is_told_the_service_is_unavailable(open_world: Opener) -> None:
    with open_world(closed_port_url()) as world:
        _, page = start_login(world)
        assert_unavailable_page(page)
        assert counted(world, LoginAttempt) == 0


def test_readyz_says_redis_is_unreachable_when_pending_logins_live_there(open_world: Opener) -> None:
    with open_world(closed_port_url()):
        answer = requests.get(f"{BROKER}/readyz")
        assert answer.status_code == 503
        assert answer.json() == {"status": "unavailable", "redis": "unreachable (ConnectionError)"}


@pytest.mark.redis
def test_readyz_is_ready_with_redis_answering(open_world: Opener) -> None:
    with open_world(require_redis()):
        assert requests.get(f"{BROKER}/readyz").json() == {"status": "ok"}


@pytest.mark.redis
def test_redis_going_down_while_the_person_is_at_esia_fails_the_callback_whole(open_world: Opener) -> None:
    with open_world(require_redis()) as world:
        _, response = start_login(world)
        at_esia = world.follow(response, lambda url: urlsplit(url).path == "/login")
        assert isinstance(at_esia, str)
        redis_goes_down(world)
        answer = world.go(at_esia, data={"login": "adult-verified", "password": "test1234"})
        page = world.follow(answer, lambda url: url.startswith(PORTAL_CALLBACK))
        assert isinstance(page, requests.Response)
        assert_unavailable_page(page)
        assert counted(world, LoginAttempt) == 0  # nothing recorded: the login was never claimed


@pytest.mark.redis
def test_redis_going_down_on_the_first_link_page_writes_no_link_and_signs_no_one_in(open_world: Opener) -> None:
    with open_world(require_redis()) as world:
        login = log_in(world, "adult-verified")
        assert login.page is not None and login.page.url == f"{BROKER}/auth/confirm"
        links, sessions = counted(world, EsiaLink), counted(world, DiarySession)
        redis_goes_down(world)
        page = world.go(f"{BROKER}/auth/confirm", data={"csrf_token": csrf(login.page.text), "phone": "+79161234567", "email": "a@b.ru"})
        assert_unavailable_page(page)
        assert (counted(world, EsiaLink), counted(world, DiarySession)) == (links, sessions)
