"""Rate limits: one table of limits by endpoint, per client address and per portal, and the 429 answers.

``LIMITS`` names each limited endpoint (or a whole blueprint, ``"api.*"``) and the config keys of
its limits. The values are read from the config on every request, so an operator's (or a test's)
change applies at once (a changed limit is a new counter).

Per address: ``request.remote_addr`` (as ``broker.web.proxies`` makes it behind a proxy), IPv6 per
/64, because one subscriber gets a whole /64. Per portal: the registered ``client_id`` the
request names (HTTP Basic, the form or the query); a request naming no registered portal is
counted per address only. A portal's counter is charged only for requests its address limits
let through, so that one flooding address cannot use up a portal's share, and one school's
NAT cannot starve its region.

Counting is a moving window (exact: the requests of the last window, so no burst at a window's
edge, and Retry-After is when the oldest of them leaves), in this process's memory
(:class:`MemoryWindows`) or, with ``REDIS_URL``, in Redis through the ``limits`` library's moving
window, shared by every process. Redis down: the same limits in this process's memory, Redis
tried again every ``REDIS_RETRY_SECONDS``; a failure of the counting itself is logged, never a
refused login. One ``before_request`` and one ``after_request`` hook do it all: looking the
endpoint up in the table, one hit per address limit, one test per portal limit and its charge
once the answer is known (docs/adr/0023: what Flask-Limiter, which did this before, cost per request).

A refusal is a 429 with ``Retry-After``: a Russian page for a person's browser, OAuth-style JSON
for a portal's back end (``broker.errors.OAUTH_ENDPOINTS``, the one list of them), the API's one
error shape for the API. Each is logged with the endpoint
and the limit, never the address or the portal's request.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from blinker import Namespace
from flask import current_app, g, jsonify, request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from broker import services
from broker.errors import OAUTH_ENDPOINTS, ErrorSchema
from broker.web.pages import render_too_many

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Flask, Response

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
#: How long Redis is left alone after it failed, the limits counted in memory meanwhile: 1, 2, 4 … 32 s.
REDIS_RETRY_SECONDS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
_CHARGE = "broker_ratelimit_charge"  # g: the portal counter to charge once the answer is known
_CLAIMED = "broker_claimed_portal"  # g: the registered portal the request names (claimed_portal)


class TooManyRequestsError(Exception):
    """A limit refused the request (answered by :func:`too_many_requests`)."""

    def __init__(self, limit: RateLimitItem, per: str, seconds: int) -> None:
        super().__init__(f"{limit} per {per}")
        self.limit = limit
        self.per = per  # "address" or "portal"
        self.seconds = seconds  # until the limit lets a request through again


class Windows(Protocol):
    """Moving-window counters: ``hit`` counts a request if the window has room."""

    def hit(self, limit: RateLimitItem, *keys: str) -> bool: ...

    def test(self, limit: RateLimitItem, *keys: str) -> bool: ...

    def reset_at(self, limit: RateLimitItem, *keys: str) -> float: ...


class MemoryWindows:
    """Moving windows in this process's memory: per counter, the times of the requests of its last window.

    Expired times are dropped as a counter is touched, and counters whose every request has left
    their window are swept every ``SWEEP_EVERY`` hits: no thread, no timer (the ``limits``
    library's memory storage starts a timer thread per hit). Thread-safe (gunicorn's threads share it).
    """

    SWEEP_EVERY = 10_000

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._times: dict[str, tuple[float, deque[float]]] = {}  # key: (its window in seconds, the times in it)
        self._lock = threading.Lock()
        self._hits = 0
        self._clock = clock

    def _window(self, limit: RateLimitItem, keys: tuple[str, ...], now: float) -> deque[float]:
        key = limit.key_for(*keys)
        found = self._times.get(key)
        if found is None:
            found = self._times[key] = (float(limit.get_expiry()), deque())
        seconds, times = found
        while times and times[0] <= now - seconds:
            times.popleft()
        return times

    def hit(self, limit: RateLimitItem, *keys: str) -> bool:
        now = self._clock()
        with self._lock:
            times = self._window(limit, keys, now)
            if len(times) >= limit.amount:
                return False
            times.append(now)
            self._hits += 1
            if self._hits % self.SWEEP_EVERY == 0:
                self._sweep(now)
            return True

    def test(self, limit: RateLimitItem, *keys: str) -> bool:
        with self._lock:
            return len(self._window(limit, keys, self._clock())) < limit.amount

    def reset_at(self, limit: RateLimitItem, *keys: str) -> float:
        now = self._clock()
        with self._lock:
            times = self._window(limit, keys, now)
            return times[0] + limit.get_expiry() if times else now

    def _sweep(self, now: float) -> None:
        """Forget the counters whose every request has left their window (they count nothing)."""
        idle = [key for key, (seconds, times) in self._times.items() if not times or times[-1] <= now - seconds]
        for key in idle:
            del self._times[key]

    def __len__(self) -> int:
        """How many counters are kept."""
        return len(self._times)


class StorageWindows:
    """Moving windows in a ``limits`` storage (Redis), shared by every process that uses it."""

    def __init__(self, url: str, timeout: float) -> None:
        storage = storage_from_string(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    def hit(self, limit: RateLimitItem, *keys: str) -> bool:
        return self._limiter.hit(limit, *keys)

    def test(self, limit: RateLimitItem, *keys: str) -> bool:
        return self._limiter.test(limit, *keys)

    def reset_at(self, limit: RateLimitItem, *keys: str) -> float:
        return float(self._limiter.get_window_stats(limit, *keys).reset_time)


@dataclass
class Counting:
    """This app's rate limiting (``app.extensions["ratelimits"]``): where it counts, and since when Redis is down."""

    primary: Windows
    fallback: MemoryWindows | None  # with Redis: the limits in memory while it is down
    prefix: str  # every counter's key starts so (REDIS_KEY_PREFIX: deployments sharing a Redis count apart)
    down_until: float = 0.0
    failures: int = 0  # Redis's failures in a row (each leaves it alone longer)

    def windows(self) -> Windows:
        if self.fallback is not None and time.monotonic() < self.down_until:
            return self.fallback
        return self.primary

    def counted(self, windows: Windows) -> None:
        if windows is self.primary:
            self.failures = 0

    def failed(self) -> Windows | None:
        """The counting failed: Redis is left alone for a while; the windows to count in meanwhile."""
        if self.fallback is None:
            return None
        log.warning("Rate limit storage unreachable - falling back to in-memory storage")
        self.down_until = time.monotonic() + REDIS_RETRY_SECONDS[min(self.failures, len(REDIS_RETRY_SECONDS) - 1)]
        self.failures += 1
        return self.fallback


def init_app(app: Flask) -> Counting | None:
    """Count the requests of every endpoint in ``LIMITS`` (call after the blueprints are registered)."""
    for name in LIMITS:
        if not name.endswith(".*") and name not in app.view_functions:
            raise LookupError(f"broker.web.ratelimits.LIMITS names {name}, which is no endpoint of the app")
        if name.endswith(".*") and name[:-2] not in app.blueprints:
            raise LookupError(f"broker.web.ratelimits.LIMITS names {name}, which is no blueprint of the app")
    app.register_error_handler(TooManyRequestsError, too_many_requests)
    if not app.config["RATE_LIMITS_ENABLED"]:
        return None
    url, prefix = app.config["REDIS_URL"], str(app.config["REDIS_KEY_PREFIX"])
    if url:
        counting = Counting(StorageWindows(url, float(app.config["REDIS_TIMEOUT"])), MemoryWindows(), prefix)
    else:
        counting = Counting(MemoryWindows(), None, prefix)
    app.extensions["ratelimits"] = counting
    app.before_request(_check)
    app.after_request(_charge)
    return counting


@lru_cache(maxsize=64)
def _parsed(text: str) -> tuple[RateLimitItem, ...]:
    """A config's limit string ("300 per minute", "10/second; 1000/hour"), parsed once."""
    return tuple(parse_many(text))


def _rule() -> tuple[str, Rule] | None:
    """The limited endpoint (or blueprint) this request is for, and its rule; None if unlimited."""
    endpoint = request.endpoint
    if endpoint is None:
        return None
    rule = LIMITS.get(endpoint)
    scope = endpoint
    if rule is None and request.blueprint is not None:
        scope = request.blueprint + ".*"
        rule = LIMITS.get(scope)
    if rule is None or (rule.methods is not None and request.method not in rule.methods):
        return None
    return scope, rule


def _check() -> None:
    """``before_request``: count the request against its address's limit; test its portal's."""
    found = _rule()
    if found is None:
        return
    scope, rule = found
    counting: Counting = current_app.extensions["ratelimits"]
    config = current_app.config
    per_address = config[rule.per_address]
    per_portal = config[rule.per_portal] if rule.per_portal else None
    try:
        portal = claimed_portal() if per_portal else None
    except Exception:  # noqa: BLE001 - an unreadable body: the view's own answer says so; counted per address only
        portal = None
    windows = counting.windows()
    try:
        _count(windows, counting.prefix, scope, per_address, per_portal, portal)
    except TooManyRequestsError:
        counting.counted(windows)
        raise
    except Exception:  # noqa: BLE001 - Redis down, or the counting broke: never a refused login
        fallback = counting.failed()
        if fallback is None:
            log.exception("rate limits could not be counted: the request goes on")
            return
        try:
            _count(fallback, counting.prefix, scope, per_address, per_portal, portal)
        except TooManyRequestsError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("rate limits could not be counted: the request goes on")
    else:
        counting.counted(windows)


def _count(windows: Windows, prefix: str, scope: str, per_address: str, per_portal: str | None, portal: str | None) -> None:
    if per_address:
        keys = (prefix, by_address(), scope)
        for limit in _parsed(str(per_address)):
            if not windows.hit(limit, *keys):
                raise TooManyRequestsError(limit, "address", _retry_after(windows, limit, keys))
    if per_portal and portal is not None:
        keys = (prefix, _PORTAL + portal, scope)
        limits = _parsed(str(per_portal))
        for limit in limits:
            if not windows.test(limit, *keys):
                raise TooManyRequestsError(limit, "portal", _retry_after(windows, limit, keys))
        setattr(g, _CHARGE, (windows, limits, keys))


def _charge(response: Response) -> Response:
    """``after_request``: charge the portal's counter for a request that was served (not refused)."""
    charge = g.pop(_CHARGE, None)
    if charge is not None and response.status_code != 429:
        windows, limits, keys = charge
        try:
            for limit in limits:
                windows.hit(limit, *keys)
        except Exception:  # noqa: BLE001 - Redis down: this one request goes uncounted for its portal
            log.warning("rate limit storage unreachable while charging a portal's counter")
    return response


def _retry_after(windows: Windows, limit: RateLimitItem, keys: tuple[str, ...]) -> int:
    """Whole seconds until ``limit`` lets a request through again (at least 1)."""
    try:
        return max(1, math.ceil(windows.reset_at(limit, *keys) - time.time()))
    except Exception:  # noqa: BLE001 - the storage failed just now: a cautious guess, not a 500
        log.warning("rate limit storage unreachable while answering 429")
        return 60


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


def claimed_portal() -> str | None:
    """The registered portal a request names (HTTP Basic, then the form or query), or None.

    Claimed, not proven: the views authenticate later. Unregistered names are not counted per
    portal, so that made-up ones add no counters.
    """
    if _CLAIMED in g:  # read once per request (the log context and the limits both ask)
        return g.get(_CLAIMED)
    auth = request.authorization
    claimed = auth.username if auth is not None and auth.type == "basic" else None
    claimed = claimed or request.values.get("client_id")
    found = claimed if claimed and claimed in services.current().clients else None
    setattr(g, _CLAIMED, found)
    return found


# --- the answer ----------------------------------------------------------------------------------


def too_many_requests(error: TooManyRequestsError) -> Any:
    """429 with Retry-After, in the shape the endpoint's clients read."""
    seconds, per_portal = error.seconds, error.per == "portal"
    # Counted in the log, with no personal data: the endpoint and the limit, not the address.
    log.warning("rate limit hit on %s: %s per %s", request.endpoint, error.limit, error.per)
    limit_hit.send(current_app._get_current_object(), endpoint=request.endpoint, per=error.per)  # type: ignore[attr-defined]
    headers = {"Retry-After": str(seconds), "Cache-Control": "no-store"}
    english = f"Too many requests {'for this portal' if per_portal else 'from this address'}; retry after {seconds} seconds."
    if request.endpoint in OAUTH_ENDPOINTS:
        return jsonify(error=CODE, error_description=english), 429, headers
    if request.blueprint == "api":
        body = ErrorSchema().dump({"error": CODE, "error_description": english, "errors": []})
        return jsonify(body), 429, headers
    from_portal = request.blueprint != "admin"  # a person's login starts again on the portal
    return render_too_many(per_portal=per_portal, wait=wait_ru(seconds), from_portal=from_portal, code=CODE, headers=headers)


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
