"""Rate limits: one table of limits by endpoint, per client address and per portal, and the 429 answers.

Flask-Limiter counts; this module says what. ``LIMITS`` names each limited endpoint (or a whole
blueprint, ``"api.*"``) and the config keys of its limits. The values
are read from the config on every request, so an operator's (or a test's) change applies at once.

Per address: ``request.remote_addr`` (as ``broker.web.proxies`` makes it behind a proxy), IPv6 per
/64, because one subscriber gets a whole /64. Per portal: the registered ``client_id`` the
request names (HTTP Basic, the form or the query); a request naming no registered portal is
counted per address only. A portal's counter is charged only for requests its address limits
let through, so that one flooding address cannot use up a portal's share, and one school's
NAT cannot starve its region.

A refusal is a 429 with ``Retry-After``: a Russian page for a person's browser, OAuth-style JSON
for a portal's back end (``broker.errors.OAUTH_ENDPOINTS``, the one list of them), the API's one
error shape for the API. Each is logged with the endpoint
and the limit, never the address or the portal's request.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from blinker import Namespace
from flask import Blueprint, current_app, jsonify, request
from flask_limiter import Limiter, RateLimitExceeded

from broker import services
from broker.errors import OAUTH_ENDPOINTS, ErrorSchema
from broker.web.pages import render_too_many

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Flask, Response
    from flask_limiter import RequestLimit, RouteLimit

log = logging.getLogger(__name__)

CODE = "rate_limited"

#: Sent with each 429: ``limit_hit.send(app, endpoint=..., per="address" | "portal")`` (the metrics count it).
limit_hit = Namespace().signal("broker-rate-limit-hit")


@dataclass(frozen=True, slots=True)
class Rule:
    """The limits of one endpoint: config keys of its per-address and per-portal limits."""

    per_address: str
    per_portal: str | None
    methods: tuple[str, ...] | None = None  # None: every method


#: Every limited endpoint. "name.*" is a whole blueprint, all its views sharing one counter.
LIMITS: dict[str, Rule] = {
    "oidc.authorize": Rule("RATE_LIMIT_LOGIN_PER_ADDRESS", "RATE_LIMIT_LOGIN_PER_PORTAL"),
    "auth.esia_callback": Rule("RATE_LIMIT_LOGIN_PER_ADDRESS", None),
    "auth.link": Rule("RATE_LIMIT_LOGIN_PER_ADDRESS", None),
    # The broker's own pages of a login: their posts (a school's invite code, the account chosen,
    # the contacts confirmed, «Это не я», «Выйти из Госуслуг» on the link flow's refusal). The invite
    # code has its own limits per login and per account too.
    "auth.invite": Rule("RATE_LIMIT_LOGIN_PER_ADDRESS", None, methods=("POST",)),
    "auth.choose": Rule("RATE_LIMIT_LOGIN_PER_ADDRESS", None, methods=("POST",)),
    "auth.confirm": Rule("RATE_LIMIT_LOGIN_PER_ADDRESS", None, methods=("POST",)),
    "auth.not_me": Rule("RATE_LIMIT_LOGIN_PER_ADDRESS", None, methods=("POST",)),
    "auth.esia_logout": Rule("RATE_LIMIT_LOGIN_PER_ADDRESS", None, methods=("POST",)),
    "oidc.logout": Rule("RATE_LIMIT_LOGIN_PER_ADDRESS", None),
    "oidc.token": Rule("RATE_LIMIT_BACK_CHANNEL_PER_ADDRESS", "RATE_LIMIT_BACK_CHANNEL_PER_PORTAL"),
    "oidc.revoke": Rule("RATE_LIMIT_BACK_CHANNEL_PER_ADDRESS", "RATE_LIMIT_BACK_CHANNEL_PER_PORTAL"),
    "oidc.start_link": Rule("RATE_LIMIT_BACK_CHANNEL_PER_ADDRESS", "RATE_LIMIT_BACK_CHANNEL_PER_PORTAL"),
    "oidc.userinfo": Rule("RATE_LIMIT_BACK_CHANNEL_PER_ADDRESS", None),
    "admin.login": Rule("RATE_LIMIT_STAFF_LOGIN_PER_ADDRESS", None, methods=("POST",)),
    "api.*": Rule("RATE_LIMIT_API_PER_ADDRESS", None),
}

_ADDRESS, _PORTAL = "address:", "portal:"


def init_app(app: Flask) -> Limiter:
    """Count the requests of every endpoint in ``LIMITS`` (call after the blueprints are registered)."""
    url = app.config["REDIS_URL"]
    timeout = float(app.config["REDIS_TIMEOUT"])
    limiter = Limiter(
        by_address,
        storage_uri=url or "memory://",
        # Flask-Limiter types the options as str | int, but redis takes its socket timeouts in (float) seconds.
        storage_options={"socket_connect_timeout": timeout, "socket_timeout": timeout} if url else {},  # type: ignore[dict-item]
        # Exact: the requests of the last window, so no burst at a window's edge (a fixed window
        # lets twice the limit through there, the sliding counter one more), and Retry-After is
        # when the oldest of them leaves. It keeps one timestamp per request counted.
        strategy="moving-window",
        key_prefix="broker",
        # Redis down: the same limits in this process's memory, Redis retried with back-off; and
        # a failure of the limiter itself is logged, never a refused login (see config.py).
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        enabled=bool(app.config["RATE_LIMITS_ENABLED"]),
    )
    limiter.init_app(app)
    app.extensions["ratelimits"] = limiter
    for name, rule in LIMITS.items():
        _apply(app, limiter, name, rule)
    app.register_error_handler(RateLimitExceeded, too_many_requests)
    logging.getLogger("flask-limiter").addFilter(_no_addresses)
    return limiter


def _apply(app: Flask, limiter: Limiter, name: str, rule: Rule) -> None:
    """Register ``rule``'s limits on the view ``name``, or on the blueprint ``name`` minus ".*"."""
    blueprint = name[:-2] if name.endswith(".*") else None
    methods = list(rule.methods) if rule.methods else None
    limits = [_limit(limiter, rule.per_address, blueprint, key_func=by_address, methods=methods)]
    if rule.per_portal:
        limits.append(
            _limit(limiter, rule.per_portal, blueprint, key_func=by_portal, methods=methods,
                   exempt_when=_no_portal, deduct_when=_served)
        )  # fmt: skip
    if blueprint is not None:
        target = app.blueprints[blueprint]
        assert isinstance(target, Blueprint)  # Flask types app.blueprints with its sans-IO base class
        for limit in limits:
            limit(target)
        return
    if name not in app.view_functions:
        raise LookupError(f"broker.web.ratelimits.LIMITS names {name}, which is no endpoint of the app")
    view = app.view_functions[name]
    for limit in limits:
        # Flask-Limiter keeps the view's signature (Callable[P, R]), but mypy solves R over Flask's
        # sync-or-async RouteCallable union as one callable returning either, which is neither member.
        view = limit(view)  # type: ignore[assignment]  # each wrapper registers its limit; the innermost checks them all
    app.view_functions[name] = view


def _limit(limiter: Limiter, key: str, blueprint: str | None, **options: Any) -> RouteLimit:
    """A limit read from config ``key``; for a blueprint, one counter shared by all its views."""
    if blueprint is not None:
        return limiter.shared_limit(_configured(key), scope=blueprint, **options)
    return limiter.limit(_configured(key), **options)


def _configured(key: str) -> Callable[[], str]:
    """The limit under config ``key``, read per request ("" switches it off)."""
    return lambda: str(current_app.config[key] or "")


def _no_portal() -> bool:
    return claimed_portal() is None


def _served(response: Response) -> bool:
    """Charge a portal's counter only for requests that were not refused."""
    return response.status_code != 429


# --- who is counted ----------------------------------------------------------------------------


def by_address() -> str:
    """The client's address; an IPv6 address by its /64 (one subscriber's network)."""
    text = request.remote_addr or "unknown"
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return _ADDRESS + text[:64]
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is None:
        return _ADDRESS + str(ipaddress.IPv6Network((found, 64), strict=False))
    return _ADDRESS + str(found.ipv4_mapped if isinstance(found, ipaddress.IPv6Address) else found)


def by_portal() -> str:
    return _PORTAL + (claimed_portal() or "")


def claimed_portal() -> str | None:
    """The registered portal a request names (HTTP Basic, then the form or query), or None.

    Claimed, not proven: the views authenticate later. Unregistered names are not counted per
    portal, so that made-up ones add no counters.
    """
    auth = request.authorization
    claimed = auth.username if auth is not None and auth.type == "basic" else None
    claimed = claimed or request.values.get("client_id")
    return claimed if claimed and claimed in services.current().clients else None


# --- the answer ----------------------------------------------------------------------------------


def too_many_requests(error: RateLimitExceeded) -> Any:
    """429 with Retry-After, in the shape the endpoint's clients read."""
    limiter: Limiter = current_app.extensions["ratelimits"]
    breached = limiter.current_limit
    seconds = _retry_after(breached)
    per_portal = breached is not None and any(str(arg).startswith(_PORTAL) for arg in breached.request_args)
    # Counted in the log, with no personal data: the endpoint and the limit, not the address.
    log.warning("rate limit hit on %s: %s per %s", request.endpoint, error.limit.limit, "portal" if per_portal else "address")
    limit_hit.send(current_app._get_current_object(), endpoint=request.endpoint, per="portal" if per_portal else "address")  # type: ignore[attr-defined]
    headers = {"Retry-After": str(seconds), "Cache-Control": "no-store"}
    english = f"Too many requests {'for this portal' if per_portal else 'from this address'}; retry after {seconds} seconds."
    if request.endpoint in OAUTH_ENDPOINTS:
        return jsonify(error=CODE, error_description=english), 429, headers
    if request.blueprint == "api":
        body = ErrorSchema().dump({"error": CODE, "error_description": english, "errors": []})
        return jsonify(body), 429, headers
    from_portal = request.blueprint != "admin"  # a person's login starts again on the portal
    return render_too_many(per_portal=per_portal, wait=wait_ru(seconds), from_portal=from_portal, code=CODE, headers=headers)


def _retry_after(breached: RequestLimit | None) -> int:
    """Whole seconds until the breached limit lets a request through again (at least 1)."""
    if breached is None:
        return 60
    try:
        return max(1, math.ceil(breached.window.reset_time - time.time()))
    except Exception:  # noqa: BLE001 - the storage failed just now: a cautious guess, not a 500
        log.warning("rate limit storage unreadable while answering 429")
        return 60


def wait_ru(seconds: int) -> str:
    """ "через 40 секунд", "через 2 минуты": when to try again, in Russian."""
    if seconds < 60:
        return f"через {seconds} {_plural(seconds, 'секунду', 'секунды', 'секунд')}"
    minutes = math.ceil(seconds / 60)
    return f"через {minutes} {_plural(minutes, 'минуту', 'минуты', 'минут')}"


def _plural(n: int, one: str, few: str, many: str) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def _no_addresses(record: logging.LogRecord) -> bool:
    """Drop Flask-Limiter's own "exceeded" line: it names the counted key (an address)."""
    return not str(record.msg).startswith("ratelimit %s (%s) exceeded")
