"""The pending logins' contract, held by both stores: the database's and Redis's (docs/adr/0022).

Each test runs once per store: ``sql`` always, ``redis`` against the test Redis (TEST_REDIS_URL;
skipped without it, failed under REQUIRE_REDIS=1). The functions under test are
``broker.login.pending``'s, as the login steps call them: each step's writes are committed (or
rolled back) as the step's unit of work.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask, current_app
from sqlalchemy import event, func, select

from broker import create_app, services
from broker.db.models import LoginAttempt, PendingLogin
from broker.errors import ConfigError
from broker.extensions import db
from broker.keyring import make_keyring
from broker.login import attempts, pending
from broker.login.pending import Ended, Stage, Step
from broker.login.redisstore import HOLD_SECONDS, TTL_SLACK, RedisPendingLogins, RedisUnavailableError
from broker.login.sqlstore import SqlPendingLogins
from broker.web import metrics
from examples.localhost import free_port
from matching import Reason
from providers import AuthorizationRequest
from tests.clock import FrozenClock
from tests.databases import TEST_SNILS_KEY, MigratedDatabases
from tests.redisdb import pending_logins_in_redis, require_redis

PORTAL_REQUEST = {"client_id": "portal", "redirect_uri": "https://portal.test/cb", "state": "p-state"}
STAGE = Stage(Step.CHOOSE_ACCOUNT, attempt_id=7, account_ids=("acc-1", "acc-2"), oid="1000", tier="verified", amr="PWD",
              auth_time=None, email="a@b.ru", mobile=None, reference="ABCD-EFGH")  # fmt: skip
INVITE = Stage(Step.INVITE_CODE, attempt_id=7, account_ids=("acc-1",), oid="1000", tier="verified", amr="PWD",
               auth_time=None, email=None, mobile=None, reference="ABCD-EFGH")  # fmt: skip
REFUSAL = Ended("tier_insufficient", "ABCD-EFGH")


class FakeEsia:
    """ESIA's authorize step only (a pending login's start needs nothing else of it)."""

    def __init__(self) -> None:
        self.made = 0

    def authorize(self) -> AuthorizationRequest:
        self.made += 1
        return AuthorizationRequest(url=f"https://esia.test/aas?n={self.made}", state=f"state-{self.made:04d}-0000-0000",
                                    nonce=f"nonce-{self.made}", code_verifier="verifier", timestamp="")  # fmt: skip


def broker_app(database: str, **config: Any) -> Flask:
    app = create_app({"TESTING": True, "SECRET_KEY": "old-secret", "SNILS_HASH_KEY": TEST_SNILS_KEY,
                      "SQLALCHEMY_DATABASE_URI": database, **config})  # fmt: skip
    with app.app_context():
        services.current().esia = FakeEsia()  # type: ignore[assignment]
        services.current().clock = FrozenClock()
    return app


@pytest.fixture(params=["sql", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, tmp_path: Path, migrated: MigratedDatabases) -> Iterator[str]:
    """``sql`` or ``redis``: a broker app whose pending logins live there, in its app context."""
    config = pending_logins_in_redis(require_redis()) if request.param == "redis" else {}
    app = broker_app(migrated.copy("sqlite", tmp_path), **config)
    with app.app_context():
        yield request.param
        db.session.remove()
        db.engine.dispose()


def clock() -> FrozenClock:
    found = services.current().clock
    assert isinstance(found, FrozenClock)
    return found


def started() -> pending.Started:
    """A login gone to ESIA (committed, as ``flow.start`` does)."""
    login = pending.start("portal", PORTAL_REQUEST, "77")
    db.session.commit()
    return login


def staged_at(stage: Stage) -> tuple[pending.Started, pending.Pending]:
    """A login ESIA answered and the engine sent to ``stage``'s page (committed)."""
    login = started()
    claimed = pending.claim(login.state, login.binding)
    db.session.commit()
    assert claimed is not None
    waiting = pending.set_stage(claimed, stage)
    db.session.commit()
    return login, waiting


def record_attempt() -> None:
    """A login step's own database write: an attempt row."""
    attempts.record("portal", "77", clock().now, "login", reason=Reason.ESIA_ERROR, detail="test")


def kept_values(state: str, kind: str) -> str:
    """Everything stored of the login ``state``, as text (the row, or the Redis hash)."""
    if kind == "sql":
        row = db.session.execute(select(*PendingLogin.__table__.c).where(PendingLogin.state == state)).one()
        return json.dumps([str(value) for value in row])
    store = services.current().pending_logins
    assert isinstance(store, RedisPendingLogins)
    return json.dumps(redis.Redis.from_url(require_redis(), decode_responses=True).hgetall(store.key(state)))


# --- start and claim ---------------------------------------------------------------------------


def test_a_started_login_is_claimed_once_by_its_browser(store: str) -> None:
    login = started()
    claimed = pending.claim(login.state, login.binding)
    db.session.commit()
    assert claimed is not None
    assert (claimed.client_id, claimed.region, claimed.portal_request) == ("portal", "77", PORTAL_REQUEST)
    assert claimed.esia_nonce == "nonce-1" and claimed.esia_code_verifier == "verifier" and claimed.consumed_at == clock().now
    assert claimed.created_at == clock().now and claimed.expires_at == clock().now + timedelta(seconds=900)
    assert pending.claim(login.state, login.binding) is None  # single use


def test_another_browser_cannot_claim_a_login_and_its_try_leaves_it_claimable(store: str) -> None:
    login = started()
    assert pending.claim(login.state, "another-browsers-secret") is None
    assert pending.claim(login.state, None) is None and pending.claim(None, login.binding) is None
    assert pending.claim("x" * 65, login.binding) is None
    assert pending.claim(login.state, login.binding) is not None


def test_an_expired_login_is_not_claimed(store: str) -> None:
    login = started()
    clock().advance(900)
    assert pending.claim(login.state, login.binding) is None


def test_a_binding_made_under_the_previous_secret_is_still_accepted_after_rotation(store: str) -> None:
    login = started()
    services.current().keyring = make_keyring({"SECRET_KEY": "new-secret", "SECRET_KEY_FALLBACKS": ["old-secret"], "OID_HASH_KEY": "o"})
    assert pending.claim(login.state, login.binding) is not None


def test_only_the_bindings_keyed_digest_is_kept_never_the_binding(store: str) -> None:
    login = started()
    kept = kept_values(login.state, store)
    assert login.binding not in kept
    assert services.current().keyring.browser_binding.digest(login.binding) in kept


# --- the link flow's ticket ---------------------------------------------------------------------


def test_a_link_ticket_is_redeemed_once_and_binds_the_login_to_the_redeeming_browser(store: str) -> None:
    state, ticket = pending.issue_link_ticket("portal", "acc-1", "77", "https://portal.test/linked")
    db.session.commit()
    assert pending.redeem_link_ticket(state, "a-forged-ticket") is None
    redeemed = pending.redeem_link_ticket(state, ticket)
    db.session.commit()
    assert redeemed is not None
    login, binding = redeemed
    assert login.link_account == "acc-1" and login.portal_request == {"return_to": "https://portal.test/linked"}
    assert services.current().keyring.browser_binding.verify(binding, login.browser_digest)
    assert login.expires_at == clock().now + timedelta(seconds=900)
    assert pending.redeem_link_ticket(state, ticket) is None  # single use


def test_a_link_ticket_expires_after_two_minutes(store: str) -> None:
    state, ticket = pending.issue_link_ticket("portal", "acc-1", "77", "https://portal.test/linked")
    db.session.commit()
    clock().advance(pending.LINK_TICKET_SECONDS)
    assert pending.redeem_link_ticket(state, ticket) is None


def test_a_login_that_is_no_link_ticket_is_not_redeemed(store: str) -> None:
    login = started()
    assert pending.redeem_link_ticket(login.state, login.binding) is None


def test_only_an_unconsumed_link_flow_login_is_redeemed_by_a_ticket(store: str) -> None:
    """Even a pending login whose kept digest is a ticket's is redeemed only if it is the link flow's and unused."""
    digest = services.current().keyring.link_ticket.digest("ticket")
    now = clock().now
    row = dict(client_id="portal", portal_request={"return_to": "https://portal.test/linked"}, region="77", esia_nonce="-",
               esia_code_verifier=None, created_at=now, expires_at=now + timedelta(seconds=120), stage=None,
               browser_digest=digest)  # fmt: skip
    services.current().pending_logins.insert({**row, "state": "not-a-link", "link_account": None, "consumed_at": None})
    services.current().pending_logins.insert({**row, "state": "used-link", "link_account": "acc-1", "consumed_at": now})
    services.current().pending_logins.insert({**row, "state": "open-link", "link_account": "acc-1", "consumed_at": None})
    db.session.commit()
    assert pending.redeem_link_ticket("not-a-link", "ticket") is None
    assert pending.redeem_link_ticket("used-link", "ticket") is None
    assert pending.redeem_link_ticket("open-link", "ticket") is not None


# --- stages ------------------------------------------------------------------------------------


def test_a_staged_login_is_read_by_its_browser_until_it_expires(store: str) -> None:
    login, _ = staged_at(STAGE)
    found = pending.staged(login.state, login.binding)
    assert found is not None and found.stage == STAGE
    assert pending.staged(login.state, "another-browsers-secret") is None
    clock().advance(900)
    assert pending.staged(login.state, login.binding) is None


def test_a_claimed_login_without_a_stage_waits_on_no_page(store: str) -> None:
    login = started()
    assert pending.staged(login.state, login.binding) is None
    pending.claim(login.state, login.binding)
    db.session.commit()
    assert pending.staged(login.state, login.binding) is None


def test_advance_stage_replaces_the_stage_only_from_the_step_and_tries_it_names(store: str) -> None:
    login, waiting = staged_at(INVITE)
    first = pending.advance_stage(waiting, Stage(**{**_fields(INVITE), "tries": 1}), step=Step.INVITE_CODE, tries=0)
    db.session.commit()
    assert first is not None
    again = pending.advance_stage(waiting, Stage(**{**_fields(INVITE), "tries": 1}), step=Step.INVITE_CODE, tries=0)
    db.session.rollback()
    assert again is None  # the same try, submitted twice, counts once
    assert pending.advance_stage(waiting, STAGE, step=Step.CHOOSE_ACCOUNT, tries=1) is None  # not at that step
    db.session.rollback()
    found = pending.staged(login.state, login.binding)
    assert found is not None and found.stage is not None and found.stage.tries == 1


def _fields(stage: Stage) -> dict[str, Any]:
    return {name: getattr(stage, name) for name in Stage.__slots__}


def test_a_second_step_cannot_advance_a_stage_another_step_took_and_has_not_committed(store: str, tmp_path: Path) -> None:
    """As on PostgreSQL, where the loser waits for the winner's row lock and then finds the stage changed."""
    if store == "sql":
        pytest.skip("SQLite takes one writer at a time: the second step would wait for the database's lock")
    login, waiting = staged_at(INVITE)
    tried = Stage(**{**_fields(INVITE), "tries": 1})
    assert pending.advance_stage(waiting, tried, step=Step.INVITE_CODE, tries=0) is not None
    with current_app_context():  # another request, another unit of work
        assert pending.advance_stage(waiting, tried, step=Step.INVITE_CODE, tries=0) is None
        assert pending.advance_stage(waiting, Stage(**{**_fields(INVITE), "tries": 2}), step=Step.INVITE_CODE, tries=1) is None
    right = pending.set_stage(waiting, Stage(**{**_fields(INVITE), "step": Step.CONFIRM, "tries": 1}))
    db.session.commit()
    found = pending.staged(login.state, login.binding)
    assert right.stage is not None and found is not None and found.stage == right.stage
    with current_app_context():  # the hold ended with the commit: the stage is simply at another step now
        assert pending.advance_stage(waiting, Stage(**{**_fields(INVITE), "tries": 2}), step=Step.INVITE_CODE, tries=1) is None


def test_a_step_that_wrote_after_another_took_the_stage_wins_as_if_it_had_waited_for_it(store: str) -> None:
    """On PostgreSQL the second writer waits for the first's row lock and commits last: its write stays."""
    if store == "sql":
        pytest.skip("SQLite takes one writer at a time: the second step would wait for the database's lock")
    login, waiting = staged_at(INVITE)
    assert pending.advance_stage(waiting, Stage(**{**_fields(INVITE), "tries": 1}), step=Step.INVITE_CODE, tries=0) is not None
    with current_app_context():  # another step (the chooser's «Это не я», say) ends the login meanwhile
        pending.end(waiting, REFUSAL)
        db.session.commit()
    pending.set_stage(waiting, Stage(**{**_fields(INVITE), "step": Step.CONFIRM, "tries": 1}))
    db.session.commit()
    kept = pending.ended(login.state, login.binding)
    assert kept is not None and kept.ended == REFUSAL


def test_a_rolled_back_step_never_brings_back_a_login_another_step_dropped_meanwhile(store: str) -> None:
    if store == "sql":
        pytest.skip("SQLite takes one writer at a time: the second step would wait for the database's lock")
    login, waiting = staged_at(INVITE)
    assert pending.advance_stage(waiting, Stage(**{**_fields(INVITE), "tries": 1}), step=Step.INVITE_CODE, tries=0) is not None
    with current_app_context():
        pending.drop(waiting)
        db.session.commit()
    db.session.rollback()
    assert services.current().pending_logins.find(login.state) is None


def test_a_hold_left_by_a_step_that_never_ended_lapses(store: str) -> None:
    if store == "sql":
        pytest.skip("Redis's hold only: the database's row lock ends with its connection")
    login, waiting = staged_at(INVITE)
    tried = Stage(**{**_fields(INVITE), "tries": 1})
    assert pending.advance_stage(waiting, tried, step=Step.INVITE_CODE, tries=0) is not None
    db.session.info.clear()  # the step's process died: neither its commit nor its rollback runs
    db.session.commit()
    with current_app_context():
        assert pending.advance_stage(waiting, Stage(**{**_fields(INVITE), "tries": 2}), step=Step.INVITE_CODE, tries=1) is None
        clock().advance(HOLD_SECONDS)
        assert pending.advance_stage(waiting, Stage(**{**_fields(INVITE), "tries": 2}), step=Step.INVITE_CODE, tries=1) is not None
        db.session.commit()


def current_app_context() -> Any:
    """Another app context of the same app: another request's session, and so another unit of work."""
    return current_app.app_context()


# --- ends --------------------------------------------------------------------------------------


def test_an_ended_login_keeps_its_refusal_for_its_browser_only_and_is_never_claimed_again(store: str) -> None:
    login = started()
    claimed = pending.claim(login.state, login.binding)
    db.session.commit()
    assert claimed is not None
    pending.end(claimed, REFUSAL)
    db.session.commit()
    kept = pending.ended(login.state, login.binding)
    assert kept is not None and kept.ended == REFUSAL and kept.stage is None and kept.portal_request == PORTAL_REQUEST
    assert pending.ended(login.state, "another-browsers-secret") is None
    assert pending.claim(login.state, login.binding) is None and pending.staged(login.state, login.binding) is None
    clock().advance(3600)
    assert pending.ended(login.state, login.binding) is None


def test_a_login_refused_at_start_is_kept_for_its_browsers_reloads(store: str) -> None:
    state, binding = pending.refused_at_start("portal", PORTAL_REQUEST, "77", REFUSAL)
    db.session.commit()
    kept = pending.ended(state, binding)
    assert kept is not None and kept.ended == REFUSAL and kept.client_id == "portal"
    assert pending.claim(state, binding) is None


def test_a_dropped_login_is_gone(store: str) -> None:
    login, waiting = staged_at(STAGE)
    pending.drop(waiting)
    db.session.commit()
    assert pending.staged(login.state, login.binding) is None and pending.claim(login.state, login.binding) is None
    assert services.current().pending_logins.find(login.state) is None


# --- the unit of work: nothing of a rolled-back step is seen -------------------------------------


def test_a_rolled_back_steps_writes_are_never_seen(store: str) -> None:
    login, waiting = staged_at(STAGE)
    other = pending.start("portal", PORTAL_REQUEST, "77")
    pending.set_stage(waiting, Stage(**{**_fields(STAGE), "step": Step.CONFIRM, "account_ids": ("acc-1",), "attempt_id": 99}))
    db.session.rollback()
    db.session.commit()  # a later commit of the same session applies nothing of it either
    found = pending.staged(login.state, login.binding)
    assert found is not None and found.stage == STAGE
    assert pending.claim(other.state, other.binding) is None


def test_a_rolled_back_claim_and_ticket_are_as_they_were(store: str) -> None:
    login = started()
    assert pending.claim(login.state, login.binding) is not None
    db.session.rollback()
    assert pending.claim(login.state, login.binding) is not None
    db.session.commit()
    state, ticket = pending.issue_link_ticket("portal", "acc-1", "77", "https://portal.test/linked")
    db.session.commit()
    assert pending.redeem_link_ticket(state, ticket) is not None
    db.session.rollback()  # as flow.open_link does when ESIA's request cannot be signed
    assert pending.redeem_link_ticket(state, ticket) is not None


def test_a_rolled_back_advance_gives_the_try_back(store: str) -> None:
    login, waiting = staged_at(INVITE)
    tried = Stage(**{**_fields(INVITE), "tries": 1})
    assert pending.advance_stage(waiting, tried, step=Step.INVITE_CODE, tries=0) is not None
    db.session.rollback()
    assert pending.advance_stage(waiting, tried, step=Step.INVITE_CODE, tries=0) is not None
    db.session.commit()


def test_a_step_whose_database_commit_fails_leaves_no_pending_write(store: str) -> None:
    """Redis's writes are applied just before the database's COMMIT: a COMMIT that then fails undoes them."""
    login, waiting = staged_at(STAGE)
    other = pending.start("portal", PORTAL_REQUEST, "77")
    pending.set_stage(waiting, Stage(**{**_fields(STAGE), "step": Step.CONFIRM, "account_ids": ("acc-1",), "attempt_id": 99}))
    record_attempt()  # the step's own database write

    def failing_commit(connection: Any) -> None:
        raise RuntimeError("the database went away at COMMIT")

    event.listen(db.engine, "commit", failing_commit)
    try:
        with pytest.raises(RuntimeError):
            db.session.commit()
    finally:
        event.remove(db.engine, "commit", failing_commit)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == 0
    found = pending.staged(login.state, login.binding)
    assert found is not None and found.stage == STAGE
    assert pending.claim(other.state, other.binding) is None


# --- counting, expiry, sharing -----------------------------------------------------------------


def test_the_gauge_counts_the_logins_gone_to_esia_and_not_back(store: str) -> None:
    first, second = started(), started()
    pending.claim(first.state, first.binding)
    db.session.commit()
    assert services.current().pending_logins.count_waiting(clock()()) == 1
    assert metrics.registry().get_sample_value("broker_pending_logins") == 1
    clock().advance(900)
    assert services.current().pending_logins.count_waiting(clock()()) == 0
    assert pending.claim(second.state, second.binding) is None  # expired, as the gauge said


def test_a_redis_key_expires_by_itself_a_minute_after_its_login(store: str) -> None:
    if store == "sql":
        pytest.skip("rows are swept (pending.start, broker purge); Redis keys expire by their TTL")
    login = started()
    store_object = services.current().pending_logins
    assert isinstance(store_object, RedisPendingLogins)
    client = redis.Redis.from_url(require_redis())
    ttl = client.pttl(store_object.key(login.state)) / 1000
    assert 900 < ttl <= 900 + TTL_SLACK.total_seconds()


def test_two_deployments_sharing_a_redis_never_see_each_others_logins(store: str, tmp_path: Path, migrated: MigratedDatabases) -> None:
    if store == "sql":
        pytest.skip("each deployment has a database of its own")
    login = started()
    other = broker_app(migrated.copy("sqlite", tmp_path, "other.sqlite3"), **pending_logins_in_redis(require_redis()))
    with other.app_context():
        services.current().keyring = make_keyring({"SECRET_KEY": "old-secret", "OID_HASH_KEY": "o"})
        assert pending.claim(login.state, login.binding) is None
        assert services.current().pending_logins.count_waiting(clock()()) == 0
        db.session.remove()
    assert pending.claim(login.state, login.binding) is not None


# --- Redis down --------------------------------------------------------------------------------


@pytest.fixture
def down() -> Callable[[], RedisPendingLogins]:
    """``down()``: a store on a Redis that is down (a closed port), put in place of the app's."""

    def put() -> RedisPendingLogins:
        store = RedisPendingLogins.from_url(f"redis://127.0.0.1:{free_port()}/0", "test-down", 0.2)
        services.current().pending_logins = store
        return store

    return put


def test_with_redis_down_a_step_fails_whole_and_the_database_keeps_nothing_of_it(store: str, down: Callable[[], Any]) -> None:
    if store == "sql":
        pytest.skip("Redis only")
    down()
    pending.start("portal", PORTAL_REQUEST, "77")  # queued: nothing reaches Redis before the commit
    record_attempt()  # the step's own database write
    with pytest.raises(RedisUnavailableError):
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == 0
    with pytest.raises(RedisUnavailableError):
        pending.claim("state-0001-0000-0000", "binding")
    assert services.current().pending_logins.unreachable() == "unreachable (ConnectionError)"


# --- wiring ------------------------------------------------------------------------------------


def test_the_store_is_chosen_once_by_redis_url(tmp_path: Path, migrated: MigratedDatabases) -> None:
    database = migrated.copy("sqlite", tmp_path)
    with broker_app(database).app_context():
        assert isinstance(services.current().pending_logins, SqlPendingLogins)
        db.session.remove()
    with broker_app(database, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").app_context():  # built, not yet called
        assert isinstance(services.current().pending_logins, RedisPendingLogins)
        db.session.remove()


@pytest.mark.parametrize("prefix", ["", "a*b", "has space", "x" * 65, 7])
def test_a_key_prefix_that_is_no_plain_word_is_refused_at_start(prefix: object, tmp_path: Path, migrated: MigratedDatabases) -> None:
    with pytest.raises(ConfigError, match="REDIS_KEY_PREFIX"):
        broker_app(migrated.copy("sqlite", tmp_path), REDIS_KEY_PREFIX=prefix)
