"""``/metrics``: what the broker does, in Prometheus' text format, for a scraper only.

Off unless configured: with neither ``METRICS_TOKEN`` nor ``METRICS_ALLOW`` the endpoint does
not exist (404) and nothing is counted. With ``METRICS_TOKEN`` a scrape must send
``Authorization: Bearer <token>`` (compared in constant time; otherwise 401). With
``METRICS_ALLOW`` the client's address (``request.remote_addr``, as ``broker.web.proxies`` makes
it: a forwarded header counts only from a trusted proxy) must be in one of the networks
(otherwise 404, as if off). With both, both are needed.

What is measured, and where from (the login flow itself writes nothing for it):

* ``broker_logins_total{outcome, reason, region, flow, esia_flow}``: each login attempt as it is
  recorded (the ``login_attempts`` INSERT, read by a SQLAlchemy event as the log lines read the
  reference), that is as ESIA's answer was decided. ``flow`` is ``login`` or ``link``;
  ``esia_flow`` the instance's ``ESIA_FLOW``.
* ``broker_logins_changed_total{outcome, reason}``: an attempt's outcome changed later, on the
  broker's own pages (a wrong invite code, ``reauthentication_required``, an invite code accepted):
  the ``login_attempts`` UPDATE that sets ``outcome``.
* ``broker_esia_call_seconds{call, result}``: each HTTP call to ESIA, until its answer is read,
  timed by the sender the provider is built with (:class:`TimedSender`; ``call``: token, person,
  contacts, documents; ``result``: ok, refused (4xx, or an answer over the size cap),
  unavailable (5xx, 429, no answer)).
* ``broker_decision_seconds{outcome}``: per decided login, the time its whole decision took
  (``broker.login.decisions.decide``: the region's policies, the registry's lookups and the
  matching engine), reported by :func:`note_decision`.
* ``broker_requests_seconds{step, status}``: each request of a login step (``logs.STEPS``), by
  status class, from the ``request_done`` signal the request log line also listens to.
* ``broker_rate_limit_hits_total{endpoint, per}``: each 429 of the rate limits.
* ``broker_pending_logins``: logins gone to ESIA and not back yet (unexpired, unclaimed), one
  query per scrape (or one ``SCAN`` of the prefix with pending logins in Redis).
* ``broker_db_pool_connections{state}`` and ``broker_db_pool_size``: this process's SQLAlchemy
  pool, set as each request ends and at the scrape.

Every label is a closed set (outcomes, reason codes, federal subject codes, endpoint names);
anything else is counted as ``other``. No oid, account, address, portal or person is a label.

Under ``broker serve`` (gunicorn, several worker processes) ``PROMETHEUS_MULTIPROC_DIR`` is set
and each process writes its values to files there; a scrape, whichever worker answers it, sums
them (counters and histograms over every worker that ever ran, the pool over the live ones).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, abort, current_app, g, has_request_context, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Insert, Update, event

import matching
from broker import services
from broker.db.models import LoginAttempt
from broker.extensions import db
from broker.web import logs, proxies, ratelimits
from providers import ProviderError, UpstreamUnavailableError

if TYPE_CHECKING:
    from prometheus_client import Metric

    from providers.connections import Answer
    from providers.transport import Sender

Network = proxies.Network

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "other"
#: The classic text format, which every Prometheus reads (what ``generate_latest`` writes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_REGION = re.compile(r"[0-9]{2}")
_OUTCOMES = frozenset(str(outcome) for outcome in matching.Outcome)
_REASONS = frozenset(str(reason) for reason in matching.Reason)
_FLOWS = frozenset({"login", "link"})
_STEPS = frozenset(logs.STEPS.values())
MIN_TOKEN_LENGTH = 32

LOGINS = Counter(
    "broker_logins",
    "Login attempts as recorded (ESIA's answer decided), by outcome, refusal reason, region, flow and ESIA flow.",
    ["outcome", "reason", "region", "flow", "esia_flow"],
    registry=None,
)
ESIA_CALLS = Histogram(
    "broker_esia_call_seconds",
    "HTTP calls to ESIA, until the answer's headers, by call and result.",
    ["call", "result"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0),
    registry=None,
)
DECISIONS = Histogram(
    "broker_decision_seconds",
    "Per decided login, the time its whole decision took (lookups and matching), by outcome.",
    ["outcome"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=None,
)
REQUESTS = Histogram(
    "broker_requests_seconds",
    "Requests of the login's steps, answered, by step and status class.",
    ["step", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0),
    registry=None,
)
CHANGED = Counter(
    "broker_logins_changed",
    "Login attempts whose outcome changed after they were recorded (refused on the broker's pages, an invite code "
    "accepted), by the new outcome and reason.",
    ["outcome", "reason"],
    registry=None,
)
RATE_LIMIT_HITS = Counter(
    "broker_rate_limit_hits",
    "Requests refused by a rate limit (429), by endpoint and what was counted (address or portal).",
    ["endpoint", "per"],
    registry=None,
)
POOL_CONNECTIONS = Gauge(
    "broker_db_pool_connections",
    "Database connections of the processes' pools: checked out (in use) or idle in the pool.",
    ["state"],
    multiprocess_mode="livesum",
    registry=None,
)
POOL_SIZE = Gauge(
    "broker_db_pool_size", "The processes' database pool sizes (without overflow).", multiprocess_mode="livesum", registry=None
)
#: The metrics each process counts (the pending logins are read at the scrape instead).
COUNTED = (LOGINS, CHANGED, ESIA_CALLS, DECISIONS, REQUESTS, RATE_LIMIT_HITS, POOL_CONNECTIONS, POOL_SIZE)


# --- the config --------------------------------------------------------------------------------


def parse_allow(value: Any) -> tuple[Network, ...]:
    """``METRICS_ALLOW`` as networks: a list, or text separated by commas or spaces; ValueError says what is wrong."""
    if value is None or value == "" or value == []:
        return ()
    return proxies.parse_networks(value, "must be a list of networks such as 10.0.0.0/8 (or the same as text, separated by commas)")


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``METRICS_TOKEN`` and ``METRICS_ALLOW``, each naming its key."""
    problems = []
    token = config.get("METRICS_TOKEN")
    if token not in (None, "") and (not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH or not token.isprintable()):
        problems.append(
            f"METRICS_TOKEN: must be text of at least {MIN_TOKEN_LENGTH} characters, such as the output of "
            '`python -c "import secrets; print(secrets.token_urlsafe(32))"`'
        )
    try:
        parse_allow(config.get("METRICS_ALLOW"))
    except ValueError as exc:
        problems.append(f"METRICS_ALLOW: {exc}")
    return problems


def is_enabled(config: Mapping[str, Any]) -> bool:
    return bool(config.get("METRICS_TOKEN") or config.get("METRICS_ALLOW"))


# --- setting up ---------------------------------------------------------------------------------

bp = Blueprint("metrics", __name__)


def init_app(app: Flask) -> None:
    """Serve ``/metrics`` and count, if ``METRICS_TOKEN`` or ``METRICS_ALLOW`` is set; else nothing at all."""
    if not is_enabled(app.config):
        return
    app.extensions["metrics"] = Scrape(
        token=app.config.get("METRICS_TOKEN") or None,
        allow=parse_allow(app.config.get("METRICS_ALLOW")),
        esia_flow=str(app.config["ESIA_FLOW"]) if app.config["ESIA_FLOW"] in ("current", "legacy") else OTHER,
    )
    app.register_blueprint(bp)
    with app.app_context():
        if not event.contains(db.engine, "before_execute", _attempt_inserted):
            event.listen(db.engine, "before_execute", _attempt_inserted)


class Scrape:
    """One app's metrics settings: who may scrape, and the label it gives its ESIA flow."""

    def __init__(self, *, token: str | None, allow: tuple[Network, ...], esia_flow: str) -> None:
        self.token_digest = hashlib.sha256(token.encode()).digest() if token else None
        self.allow = allow
        self.esia_flow = esia_flow

    def admits(self, authorization: str | None, address: str | None) -> int | None:
        """None if the scrape may go on; else the status to answer (404 outside METRICS_ALLOW, 401 without the token)."""
        if self.allow and not proxies.in_networks(address, self.allow):
            return 404
        if self.token_digest is not None:
            scheme, _, given = (authorization or "").partition(" ")
            digest = hashlib.sha256(given.strip().encode()).digest()
            if scheme.lower() != "bearer" or not hmac.compare_digest(digest, self.token_digest):
                return 401
        return None


def _settings() -> Scrape | None:
    found: Scrape | None = current_app.extensions.get("metrics")
    return found


# --- the scrape ---------------------------------------------------------------------------------


@bp.get("/metrics")
def scrape() -> Response:
    settings = _settings()
    if settings is None:  # pragma: no cover - the blueprint is registered only when on
        abort(404)
    refused = settings.admits(request.headers.get("Authorization"), request.remote_addr)
    if refused == 401:
        return Response("A bearer token is needed.\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"},
                        mimetype="text/plain")  # fmt: skip
    if refused is not None:
        abort(refused)
    note_pool()
    body = generate_latest(registry())
    return Response(body, 200, {"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


def registry() -> CollectorRegistry:
    """What a scrape reports: every process's counted values (multi-process mode) or this one's, and the pending logins."""
    found = CollectorRegistry()  # no auto_describe: it would run the pending query twice
    if os.environ.get(MULTIPROCESS_DIR):
        MultiProcessCollector(found)
    else:
        for metric in COUNTED:
            found.register(metric)
    found.register(PendingLogins())
    return found


class PendingLogins(Collector):
    """``broker_pending_logins``: counted by the pending logins' store (one query, or one ``SCAN`` of
    Redis), at the scrape, in the scraping process only."""

    def collect(self) -> Iterable[Metric]:
        count = services.current().pending_logins.count_waiting(services.current().clock())
        yield GaugeMetricFamily("broker_pending_logins", "Logins gone to ESIA and not back yet (unexpired, unclaimed).", value=count)


def note_pool() -> None:
    """This process's pool, now (a pool without these figures, such as SQLite's in tests, is skipped)."""
    pool = db.engine.pool
    checked_out, size, idle = (getattr(pool, name, None) for name in ("checkedout", "size", "checkedin"))
    if not (callable(checked_out) and callable(size) and callable(idle)):
        return
    POOL_CONNECTIONS.labels("checked_out").set(checked_out())
    POOL_CONNECTIONS.labels("idle").set(idle())
    POOL_SIZE.set(size())


# --- what is counted ------------------------------------------------------------------------------


def _attempt_inserted(_conn: Any, statement: Any, multiparams: Any, params: Any, _options: Any) -> None:
    """A login attempt recorded: count it, and its decision's time; its outcome changed: count that."""
    if not (isinstance(statement, (Insert, Update)) and statement.table is LoginAttempt.__table__ and has_request_context()):
        return
    settings = _settings()
    if settings is None:
        return
    if isinstance(statement, Update):
        changed = statement.compile().params  # the values the UPDATE sets (the flow passes them inline)
        if changed.get("outcome"):
            reason = _closed(changed.get("reason"), _REASONS) if changed.get("reason") else ""
            CHANGED.labels(_closed(changed["outcome"], _OUTCOMES), reason).inc()
        return
    rows = multiparams or [params]
    values = rows[-1] if isinstance(rows, (list, tuple)) and rows else {}
    if not isinstance(values, dict):
        return
    outcome = _closed(values.get("outcome"), _OUTCOMES)
    reason = _closed(values.get("reason"), _REASONS) if values.get("reason") else ""
    region = str(values.get("region") or "")
    region = region if not region or _REGION.fullmatch(region) else OTHER
    LOGINS.labels(outcome, reason, region, _closed(values.get("flow"), _FLOWS), settings.esia_flow).inc()
    spent = g.pop(_DECISION_TIME, None)
    if spent is not None:  # decided in this request (an ESIA failure records no decision)
        DECISIONS.labels(outcome).observe(spent)


def _closed(value: object, allowed: frozenset[str]) -> str:
    return value if isinstance(value, str) and value in allowed else OTHER


@logs.request_done.connect
def _request_done(app: Flask, done: logs.RequestDone) -> None:
    if "metrics" not in app.extensions:
        return
    if done.step in _STEPS:
        REQUESTS.labels(done.step, f"{done.status // 100}xx").observe(done.seconds)
    note_pool()


@ratelimits.limit_hit.connect
def _limit_hit(app: Flask, endpoint: str | None, per: str) -> None:
    if "metrics" not in app.extensions:
        return
    known = endpoint if endpoint is not None and endpoint in app.view_functions else OTHER
    RATE_LIMIT_HITS.labels(known, per).inc()


# --- ESIA calls and the registry, timed from outside ----------------------------------------------


def esia_call(url: str) -> str:
    """Which of ESIA's calls ``url`` is (never the oid in it)."""
    path = url.split("?", 1)[0].rstrip("/")
    if path.endswith("/te"):
        return "token"
    if "/rs/prns/" in path:
        last = path.rsplit("/", 1)[-1]
        return {"ctts": "contacts", "docs": "documents"}.get(last, "person")
    return OTHER


class TimedSender:
    """The ESIA client's sender (any :class:`~providers.transport.Sender`, the lean one by default),
    each call's time into ``broker_esia_call_seconds``, by its result."""

    def __init__(self, inner: Sender) -> None:
        self.inner = inner

    def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        timeout: tuple[float, float],
        max_bytes: int,
        what: str,
    ) -> Answer:
        started = time.perf_counter()
        call = esia_call(url)
        try:
            answer = self.inner.send(method, url, headers, body, timeout=timeout, max_bytes=max_bytes, what=what)
        except UpstreamUnavailableError:
            ESIA_CALLS.labels(call, "unavailable").observe(time.perf_counter() - started)
            raise
        except ProviderError:  # an answer the broker will not take (larger than the cap)
            ESIA_CALLS.labels(call, "refused").observe(time.perf_counter() - started)
            raise
        status = answer.status
        result = "unavailable" if status >= 500 or status == 429 else "refused" if status >= 400 else "ok"
        ESIA_CALLS.labels(call, result).observe(time.perf_counter() - started)
        return answer


_DECISION_TIME = "broker_metrics_decision_seconds"


def note_decision(seconds: float) -> None:
    """How long this request's decision took (``broker.login.decisions.decide``, the registry's
    lookups included), observed when its attempt is recorded, by the attempt's outcome."""
    if has_request_context() and "metrics" in current_app.extensions:
        setattr(g, _DECISION_TIME, seconds)
