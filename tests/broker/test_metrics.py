"""``/metrics`` (broker/web/metrics.py): off unless configured, for the scraper only, its config
errors, the rate-limit hits and the pool, the Grafana dashboard's queries, and the sum over
gunicorn's workers under ``broker serve``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from flask import Flask, g
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, insert, update

import matching
from broker import create_app
from broker.db.models import LoginAttempt
from broker.errors import ConfigError
from broker.extensions import db
from broker.login import attempts, decisions
from broker.ops import gunicornhooks, serve
from broker.web import metrics
from examples.localhost import children, free_port
from providers import UpstreamUnavailableError
from providers.connections import Answer, ConnectionSender
from providers.transport import RequestsSender, make_sender
from tests.broker.served import ROOT, environment, wait_for
from tests.builders import make_person
from tests.databases import TEST_SNILS_KEY, MigratedDatabases
from tests.liveserver import serving

TOKEN = "t" * 40
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SCRAPER, STRANGER, PROXY = "10.0.0.7", "192.0.2.9", "172.16.0.2"


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """``make_app(**config)``: brokers on the test's migrated database (SQLite; PostgreSQL too with TEST_DATABASE_URL)."""
    made: list[Flask] = []

    def make(**config: Any) -> Flask:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "SNILS_HASH_KEY": TEST_SNILS_KEY,
                "SQLALCHEMY_DATABASE_URI": database_url,
                **config,
            }
        )
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def get(client: FlaskClient, address: str = SCRAPER, **kwargs: Any) -> Any:
    return client.get("/metrics", environ_base={"REMOTE_ADDR": address}, **kwargs)


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


# --- off, and who may scrape -----------------------------------------------------------------------


def test_without_a_token_or_networks_metrics_are_off_and_nothing_is_counted(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert get(app.test_client()).status_code == 404
    assert "metrics" not in app.extensions
    with app.app_context():
        assert not event.contains(db.engine, "before_execute", metrics._attempt_inserted)
    with app.test_request_context("/"):
        decisions.decide(make_person(), "77", datetime.now(UTC))
        assert not hasattr(g, "broker_metrics_decision_seconds")  # nothing noted for nobody to read


def test_the_whole_decision_is_timed_even_one_that_looks_nothing_up(make_app: Callable[..., Flask]) -> None:
    """A refusal on the region alone runs no registry lookup, yet its decision took time: it is observed."""
    app = make_app(METRICS_TOKEN=TOKEN)
    before = get(app.test_client(), headers=BEARER).text
    with app.test_request_context("/"):
        decision = decisions.decide(make_person(), "77", datetime.now(UTC))  # region 77 is off in a new database
        assert decision.reason is matching.Reason.REGION_DISABLED
        attempts.record("diary-demo", "77", datetime.now(UTC), "login", decision=decision)
        db.session.rollback()
    after = get(app.test_client(), headers=BEARER).text
    name = "broker_decision_seconds"
    assert sample(after, f"{name}_count", outcome="refused") - sample(before, f"{name}_count", outcome="refused") == 1
    assert sample(after, f"{name}_sum", outcome="refused") > sample(before, f"{name}_sum", outcome="refused")


def test_a_token_is_needed_and_compared_whole(make_app: Callable[..., Flask]) -> None:
    client = make_app(METRICS_TOKEN=TOKEN).test_client()
    missing = get(client)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "broker_" not in missing.text
    assert get(client, headers={"Authorization": f"Bearer {TOKEN[:-1]}"}).status_code == 401
    assert get(client, headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    assert get(client, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    answer = get(client, headers=BEARER)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert "broker_pending_logins" in families(answer.text)


def test_only_the_allowed_networks_may_scrape_compared_as_addresses_not_text(make_app: Callable[..., Flask]) -> None:
    client = make_app(METRICS_ALLOW="10.0.0.7, 2001:db8::/32").test_client()
    assert get(client, SCRAPER).status_code == 200
    assert get(client, "::ffff:10.0.0.7").status_code == 200  # a dual-stack socket's peer
    assert get(client, "2001:db8::5").status_code == 200
    assert get(client, "10.0.0.70").status_code == 404  # begins with the allowed text, is another address
    assert get(client, STRANGER).status_code == 404


def test_a_forwarded_address_counts_only_from_a_trusted_proxy(make_app: Callable[..., Flask]) -> None:
    untrusting = make_app(METRICS_ALLOW=SCRAPER).test_client()
    assert get(untrusting, STRANGER, headers={"X-Forwarded-For": SCRAPER}).status_code == 404
    trusting = make_app(METRICS_ALLOW=SCRAPER, TRUSTED_PROXIES="172.16.0.0/12").test_client()
    assert get(trusting, STRANGER, headers={"X-Forwarded-For": SCRAPER}).status_code == 404  # not the proxy
    assert get(trusting, PROXY, headers={"X-Forwarded-For": SCRAPER}).status_code == 200
    assert get(trusting, PROXY, headers={"X-Forwarded-For": STRANGER}).status_code == 404


def test_with_both_a_scrape_needs_the_network_and_the_token(make_app: Callable[..., Flask]) -> None:
    client = make_app(METRICS_ALLOW=SCRAPER, METRICS_TOKEN=TOKEN).test_client()
    assert get(client, SCRAPER).status_code == 401
    assert get(client, STRANGER, headers=BEARER).status_code == 404
    assert get(client, SCRAPER, headers=BEARER).status_code == 200


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN"),
        ({"METRICS_TOKEN": 12345678901234567890123456789012345}, "METRICS_TOKEN"),
        ({"METRICS_ALLOW": "10.0.0.0/33"}, "METRICS_ALLOW"),
        ({"METRICS_ALLOW": "intranet"}, "METRICS_ALLOW"),
        ({"METRICS_ALLOW": "10.0.0.1/8"}, "METRICS_ALLOW"),  # host bits set: a typo, not a network
        ({"METRICS_ALLOW": 10}, "METRICS_ALLOW"),
    ],
)
def test_a_metrics_setting_the_broker_cannot_use_is_refused_in_one_line_naming_its_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", **config})
    assert str(error.value).startswith(f"{key}:") and "\n" not in str(error.value)


# --- what is counted ----------------------------------------------------------------------------------


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0


def test_each_rate_limit_hit_is_counted_by_endpoint_and_what_was_counted(make_app: Callable[..., Flask]) -> None:
    client = make_app(METRICS_TOKEN=TOKEN, RATE_LIMIT_BACK_CHANNEL_PER_ADDRESS="1 per minute").test_client()
    before = sample(get(client, headers=BEARER).text, "broker_rate_limit_hits_total", endpoint="oidc.token", per="address")
    statuses = [client.post("/oidc/token", environ_base={"REMOTE_ADDR": STRANGER}).status_code for _ in range(3)]
    assert statuses[0] != 429 and statuses[1:] == [429, 429]
    after = sample(get(client, headers=BEARER).text, "broker_rate_limit_hits_total", endpoint="oidc.token", per="address")
    assert after - before == 2


def test_the_pool_is_this_processes_pool(make_app: Callable[..., Flask]) -> None:
    app = make_app(METRICS_TOKEN=TOKEN)
    text = get(app.test_client(), headers=BEARER).text
    with app.app_context():
        size = db.engine.pool.size()  # type: ignore[attr-defined]
    assert sample(text, "broker_db_pool_size") == size
    assert ("broker_db_pool_connections", "checked_out") in {
        (found.name, found.labels.get("state")) for family in text_string_to_metric_families(text) for found in family.samples
    }


@pytest.mark.parametrize(
    ("url", "call"),
    [
        ("https://esia.test/aas/oauth2/v3/te", "token"),
        ("https://esia.test/aas/oauth2/te", "token"),
        ("https://esia.test/rs/prns/1000299703?embed=(documents.elements)", "person"),
        ("https://esia.test/rs/prns/1000299703/ctts?embed=(elements)", "contacts"),
        ("https://esia.test/rs/prns/1000299703/docs?embed=(elements)", "documents"),
        ("https://esia.test/somewhere/1000299703", "other"),
    ],
)
def test_an_esia_call_is_named_by_its_kind_never_by_the_oid_in_its_url(url: str, call: str) -> None:
    assert metrics.esia_call(url) == call


def test_labels_outside_their_closed_sets_are_counted_as_other(make_app: Callable[..., Flask]) -> None:
    """An attempt row with values no login writes (a made-up reason, a region name, an unknown
    outcome) adds no series of its own: labels stay bounded whatever reaches the table."""
    app = make_app(METRICS_TOKEN=TOKEN)
    odd = labels_of(outcome="other", reason="other", region="other", flow="other", esia_flow="current")
    plain = labels_of(outcome="refused", reason="esia_unavailable", region="", flow="login", esia_flow="current")
    before = get(app.test_client(), headers=BEARER).text
    with app.test_request_context("/"):
        for outcome, reason, region, flow in (("hacked", "1000299703", "ZZ", "d-016"), ("refused", "esia_unavailable", None, "login")):
            db.session.execute(insert(LoginAttempt.__table__), {  # as the login records one: the values as parameters
                "reference": f"REF-{len(outcome)}", "started_at": datetime.now(UTC), "client_id": "unregistered", "flow": flow,
                "region": region, "outcome": outcome, "reason": reason, "candidate_ids": [], "trace": []})  # fmt: skip
        db.session.rollback()
    after = get(app.test_client(), headers=BEARER).text
    assert sample(after, "broker_logins_total", **odd) - sample(before, "broker_logins_total", **odd) == 1
    assert sample(after, "broker_logins_total", **plain) - sample(before, "broker_logins_total", **plain) == 1
    assert "ZZ" not in after and "1000299703" not in after and "unregistered" not in after
    # An attempt without a decision (ESIA failed: no checks, no lookups) is not a decision.
    decided = "broker_decision_seconds_count"
    assert sample(after, decided, outcome="refused") == sample(before, decided, outcome="refused")


def test_an_outcome_changed_later_is_counted_by_its_new_outcome_and_reason(make_app: Callable[..., Flask]) -> None:
    app = make_app(METRICS_TOKEN=TOKEN)
    table = LoginAttempt.__table__
    before = get(app.test_client(), headers=BEARER).text
    with app.test_request_context("/"):
        db.session.execute(update(table).where(table.c.id == 1).values(outcome="refused", reason="invite_code_invalid", detail="x"))
        db.session.execute(update(table).where(table.c.id == 1).values(outcome="linked", reason=None))
        db.session.execute(update(table).where(table.c.id == 1).values(account_id="d-016"))  # not an outcome
        db.session.rollback()
    after = get(app.test_client(), headers=BEARER).text
    name = "broker_logins_changed_total"
    for labels in ({"outcome": "refused", "reason": "invite_code_invalid"}, {"outcome": "linked", "reason": ""}):
        assert sample(after, name, **labels) - sample(before, name, **labels) == 1
    assert "d-016" not in after


def labels_of(**given: str) -> dict[str, str]:
    return given


def test_a_scrape_reads_the_pending_logins_with_one_query(make_app: Callable[..., Flask]) -> None:
    app = make_app(METRICS_TOKEN=TOKEN)
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert get(app.test_client(), headers=BEARER).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len([text for text in statements if "pending_logins" in text]) == 1


@responses.activate
def test_esia_calls_are_timed_by_result_also_when_esia_does_not_answer() -> None:
    sender = metrics.TimedSender(RequestsSender(requests.Session()))
    token, person = "https://esia.test/aas/oauth2/v3/te", "https://esia.test/rs/prns/1000299703"
    responses.post(token, status=400, json={"error": "invalid_grant"})
    responses.get(person, status=503)
    responses.get(person + "/ctts", body=requests.ConnectionError("refused"))
    before = {key: counted(*key) for key in (("token", "refused"), ("person", "unavailable"), ("contacts", "unavailable"))}
    assert send(sender, "POST", token).status == 400
    assert send(sender, "GET", person).status == 503
    with pytest.raises(UpstreamUnavailableError):
        send(sender, "GET", person + "/ctts")
    assert {key: counted(*key) - value for key, value in before.items()} == dict.fromkeys(before, 1.0)


def test_the_lean_sender_that_the_broker_builds_by_default_is_timed_over_real_http() -> None:
    """make_sender gives the lean sender (no proxy), and TimedSender times it: metrics no longer swap it for requests."""

    def esia(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"oid": 1000299703}']

    sender = metrics.TimedSender(make_sender(None, None))
    assert isinstance(sender.inner, ConnectionSender)
    with serving(esia) as base:
        before = counted("person", "ok")
        assert send(sender, "GET", base + "/rs/prns/1000299703").status == 200
    assert counted("person", "ok") - before == 1.0


def send(sender: metrics.TimedSender, method: str, url: str) -> Answer:
    return sender.send(method, url, {}, None, timeout=(2.0, 2.0), max_bytes=10_000, what="the test's call")


def counted(call: str, result: str) -> float:
    return sum(
        found.value for family in metrics.ESIA_CALLS.collect() for found in family.samples
        if found.name.endswith("_count") and found.labels == {"call": call, "result": result}
    )  # fmt: skip


# --- the dashboard ------------------------------------------------------------------------------------

DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"


def exposed_names(text: str) -> set[str]:
    """Every series name a scrape offers (counters' _total, histograms' _bucket/_count/_sum)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


def test_every_metric_the_grafana_dashboard_queries_is_in_a_scrape(make_app: Callable[..., Flask]) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(expressions) >= 6
    queried = {name for expr in expressions for name in re.findall(r"\bbroker_[a-z_]+", expr)}
    offered = exposed_names(get(make_app(METRICS_TOKEN=TOKEN).test_client(), headers=BEARER).text)
    assert queried and queried <= offered, queried - offered
    for name in ("broker_logins_total", "broker_esia_call_seconds_bucket", "broker_rate_limit_hits_total",
                 "broker_pending_logins", "broker_db_pool_connections"):  # fmt: skip
        assert name in queried, f"the dashboard shows {name}"


# --- under broker serve: several processes -------------------------------------------------------------


def test_broker_serve_with_metrics_adds_the_hooks_and_a_fresh_directory(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    off = serve.gunicorn_command(make_app(), binds=["127.0.0.1:1"], workers=1, threads=1, timeout=1, graceful_timeout=1, keep_alive=1)
    assert "--config" not in off
    on = serve.gunicorn_command(make_app(METRICS_TOKEN=TOKEN), binds=["127.0.0.1:1"], workers=1, threads=1, timeout=1,
                                graceful_timeout=1, keep_alive=1)  # fmt: skip
    assert on[on.index("--config") + 1] == "python:broker.ops.gunicornhooks"

    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_99999.db").write_bytes(b"old")
    environ = {metrics.MULTIPROCESS_DIR: str(given)}
    assert serve.prepare_metrics_directory(environ) == given and list(given.iterdir()) == []  # a new start counts from zero

    environ = {}
    made = serve.prepare_metrics_directory(environ)
    assert made.is_dir() and environ[metrics.MULTIPROCESS_DIR] == str(made)
    (made / "counter_1.db").write_bytes(b"")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in environ.items():
            patch.setenv(key, value)
        gunicornhooks.on_exit(None)
    assert not made.exists()  # the directory of this start goes when gunicorn stops


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the workers from /proc")
def test_under_broker_serve_a_scrape_sums_every_worker_that_counted(tmp_path: Path, migrated: MigratedDatabases) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_99999.db").write_bytes(b"stale")  # a previous start's: removed
    port = free_port()
    env = environment(tmp_path, migrated.copy("sqlite", tmp_path), BROKER_METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(folder))
    # Each worker is replaced after 4 requests, so 20 requests are answered by at least 5 processes.
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "1", "--graceful-timeout", "5",
            "--", "--max-requests", "4"]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-c", "from broker.cli import main; main()", *args],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def scraped() -> bool:
            try:
                return requests.get(f"{url}/metrics", headers=BEARER, timeout=5).status_code == 200
            except requests.ConnectionError:
                return process.poll() is not None

        wait_for(scraped)
        assert process.poll() is None, process.communicate()[1]
        statuses = {requests.get(f"{url}/oidc/authorize", timeout=10, headers={"Connection": "close"}).status_code for _ in range(20)}
        assert len(statuses) == 1
        status = f"{statuses.pop() // 100}xx"
        pids = {int(match) for name in folder.glob("*.db") for match in re.findall(r"_(\d+)\.db$", name.name)}
        assert 99999 not in pids and len(pids) >= 5, pids

        def live_gauges_only_of_live_workers() -> bool:  # child_exit marked the replaced workers dead
            live = {int(name.stem.rsplit("_", 1)[1]) for name in folder.glob("gauge_livesum_*.db")}
            return bool(live) and live <= children(process.pid) | {process.pid}  # the master's, at import: 0

        wait_for(live_gauges_only_of_live_workers, 20)
        for _ in range(3):  # whichever worker answers, the same sum
            text = requests.get(f"{url}/metrics", headers=BEARER, timeout=10).text
            assert sample(text, "broker_requests_seconds_count", step="authorize", status=status) == 20
            assert sample(text, "broker_db_pool_size") > 0  # the live workers' pools
    finally:
        if process.poll() is None:
            process.terminate()
        process.communicate(timeout=30)  # waits, and closes the pipes
