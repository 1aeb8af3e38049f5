"""``/metrics`` through real logins (broker/web/metrics.py): each login, ESIA call, decision and
step moves its series by exactly one, and nothing of the person is in the scrape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from broker.db.models import LoginAttempt
from broker.extensions import db
from tests.databases import MigratedDatabases
from tests.world import BROKER, World, log_in, opened_world, start_login

pytestmark = pytest.mark.flow

TOKEN = "metrics-token-" + "x" * 32
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def metered(material: dict[str, Path], tmp_path: Path, migrated: MigratedDatabases) -> Iterator[World]:
    with opened_world(material, migrated.copy("sqlite", tmp_path), broker_config={"METRICS_TOKEN": TOKEN}) as world:
        yield world


def scrape_text() -> str:
    answer = requests.get(f"{BROKER}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return answer.text


def samples(text: str) -> Samples:
    """Every sample of the exposition, by name and labels (parsed as a scraper parses it)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def moved(before: Samples, after: Samples) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples that changed, by how much (created timestamps and sums left out)."""
    changed = {}
    for key, value in after.items():
        if key[0].endswith(("_created", "_sum", "_bucket")):
            continue
        delta = value - before.get(key, 0.0)
        if delta:
            changed[key] = delta
    return changed


def labels(**given: str) -> frozenset[tuple[str, str]]:
    return frozenset(given.items())


def test_a_signed_in_and_a_refused_login_move_their_counters_and_histograms_by_exactly_one(metered: World) -> None:
    before = samples(scrape_text())
    assert log_in(metered, "namesake-1").callback is not None  # an existing link: signed in
    metered.browser = requests.Session()  # another person's browser
    refused = log_in(metered, "teen-simple")
    assert refused.page is not None and refused.page.status_code == 403
    text = scrape_text()
    with metered.broker.app_context():
        reason = db.session.execute(select(LoginAttempt.reason).where(LoginAttempt.outcome == "refused")).scalar_one()
    assert reason
    changed = moved(before, samples(text))
    flow = metered.broker.config["ESIA_FLOW"]
    signed_in = labels(outcome="signed_in", reason="", region="77", flow="login", esia_flow=flow)
    refusal = labels(outcome="refused", reason=reason, region="77", flow="login", esia_flow=flow)
    assert changed.pop(("broker_logins_total", signed_in)) == 1
    assert changed.pop(("broker_logins_total", refusal)) == 1
    assert changed.pop(("broker_decision_seconds_count", labels(outcome="signed_in"))) == 1
    assert changed.pop(("broker_decision_seconds_count", labels(outcome="refused"))) == 1
    # Each login: one token request and one read of the person (contacts embedded) at ESIA.
    assert changed.pop(("broker_esia_call_seconds_count", labels(call="token", result="ok"))) == 2
    assert changed.pop(("broker_esia_call_seconds_count", labels(call="person", result="ok"))) == 2
    # Each login: /oidc/authorize (a redirect to ESIA) and the callback (to the portal; the refusal's page).
    assert changed.pop(("broker_requests_seconds_count", labels(step="authorize", status="3xx"))) == 2
    assert changed.pop(("broker_requests_seconds_count", labels(step="esia_callback", status="3xx"))) == 1
    assert changed.pop(("broker_requests_seconds_count", labels(step="esia_callback", status="4xx"))) == 1
    assert changed == {}, "nothing else moved"


def test_pending_logins_are_the_logins_gone_to_esia_and_not_back(metered: World) -> None:
    assert samples(scrape_text())[("broker_pending_logins", frozenset())] == 0
    start_login(metered)
    start_login(metered)
    assert samples(scrape_text())[("broker_pending_logins", frozenset())] == 2
    log_in(metered, "namesake-1")
    assert samples(scrape_text())[("broker_pending_logins", frozenset())] == 2  # its own came back


def test_the_scrape_holds_no_account_oid_reference_or_portal(metered: World) -> None:
    log_in(metered, "namesake-1")
    metered.browser = requests.Session()
    log_in(metered, "teen-simple")
    text = scrape_text()
    with metered.broker.app_context():
        rows = db.session.execute(select(LoginAttempt.reference, LoginAttempt.account_id, LoginAttempt.client_id)).all()
    for reference, account_id, client_id in rows:
        assert reference not in text
        assert account_id is None or account_id not in text
        assert f'"{client_id}"' not in text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for name, value in sample.labels.items():
                assert not any(ch.isdigit() for ch in value) or name in ("region", "le", "status"), (name, value)
