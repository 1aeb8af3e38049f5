"""The test Redis: its URL, the skip-or-fail rule, and which flow tests also run with pending logins in Redis.

``TEST_REDIS_URL`` (or ``REDIS_URL``) names it; without one, tests that need it are skipped, and
fail instead under ``REQUIRE_REDIS=1`` (as in CI). Each app a test makes uses a key prefix of its
own (``REDIS_KEY_PREFIX``), so tests never see each other's keys and nothing is flushed: keys
expire by their TTL.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytest
import redis

REDIS_URL = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")

#: The flow tests the ``redis`` pass (``.ci/run``) runs again with pending logins in Redis: start →
#: callback → chooser, invite code, contacts → token; refusals kept for reloads; the link flow.
#: (test_not_me.py reads the ``pending_logins`` table itself, so it stays with the database.)
REDIS_FLOWS = (
    "tests/flows/test_login.py",
    "tests/flows/test_link.py",
    "tests/flows/test_invite_codes.py",
    "tests/flows/test_confirm_page.py",
    "tests/flows/test_refusal_ways.py",
    "tests/flows/test_outcomes.py",
)


def require_redis() -> str:
    """The test Redis's URL; skips the test without one (fails it under REQUIRE_REDIS=1) or if it does not answer."""
    if not REDIS_URL:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail("REQUIRE_REDIS=1 but neither TEST_REDIS_URL nor REDIS_URL is set")
        pytest.skip("set TEST_REDIS_URL (or REDIS_URL), e.g. redis://127.0.0.1:6379/0, to run against Redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"the test Redis at {REDIS_URL} does not answer: {exc}")
    return REDIS_URL


def pending_logins_in_redis(url: str) -> dict[str, Any]:
    """A broker's config keys for pending logins in the Redis at ``url``, under a prefix of this app's own."""
    return {"REDIS_URL": url, "REDIS_KEY_PREFIX": f"test-{secrets.token_hex(6)}"}


def is_redis_flow(nodeid: str) -> bool:
    return nodeid.split("::", 1)[0] in REDIS_FLOWS
