"""Faults on demand: a slow, failing, lying or broken ESIA, for tests, demos and benchmarks.

No fault is ever active unless something below switches it on. A fault is written as
comma-separated switches, e.g. ``latency=0.5,status=503`` or ``wrong_iss``:

=====================  ======================================================================
``latency=S``          answer S seconds late
``timeout[=S]``        hold the request S seconds (default ``FAULT_TIMEOUT``, 30) then 504
``status=N``           answer HTTP N instead: an nginx-style HTML page for 5xx (and for any
                       status outside the token endpoint and person API), ESIA-style JSON there
``html``               answer 200 with an HTML maintenance page instead of JSON or a redirect
``error_rate=P``       apply ``status``/``html`` only with probability P (alone: 503 at rate P)
``malformed_json``     cut a JSON answer off in the middle
``wrong_iss``          tokens carry the other ESIA environment's ``iss``
``wrong_aud``          id_token ``aud`` and access token ``client_id`` name another system
``expired``            tokens expired 10 minutes ago
``foreign_signature``  tokens signed by a key that is not ESIA's
``oid_mismatch``       the id_token names another person than the access token
``wrong_state``        the token response echoes a state that was not sent
``wrong_nonce``        the id_token carries a ``nonce`` (ESIA sends none) that matches nothing
``old_auth_time``      the id_token's ``auth_time`` is an hour before the login: what ESIA's
                       single sign-on sends when it signs the person in without asking again
                       (not a fault of ESIA's, but a case a client must handle)
``person_mismatch``    the person API answers with another person's data and oid
=====================  ======================================================================

Endpoint groups: ``ac`` (``/aas/oauth2/ac``, ``/aas/oauth2/v2/ac``), ``login`` (login and
consent pages), ``te`` (``/aas/oauth2/te``, ``/aas/oauth2/v3/te``), ``prns`` (``/rs/…``),
``logout`` (``/idp/ext/Logout``). The ``/__mock__`` endpoints are never faulted.

Ways to switch a fault on, all merged for a request:

* per request: header ``X-Mock-Esia-Fault: <fault>`` or query parameter ``mock_esia_fault``;
* at run time: ``POST /__mock__/faults`` with ``{"fault": "<fault>", "endpoints": ["te"],
  "count": 1}`` (``count`` omitted: until ``DELETE /__mock__/faults``);
* per login: the fault chosen on the login page applies to that login's token exchange and
  person API calls;
* per person: config ``PERSON_FAULTS = {oid: "<fault>" or {group: "<fault>"}}``;
* always: config ``FAULTS = "<fault>"`` or ``{group: "<fault>"}``.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Flask, Response, abort, current_app, g, render_template, request

HEADER = "X-Mock-Esia-Fault"
QUERY_PARAMETER = "mock_esia_fault"
GROUPS = ("ac", "login", "te", "prns", "logout")
TOKEN_FLAGS = frozenset(
    {"wrong_iss", "wrong_aud", "expired", "foreign_signature", "oid_mismatch", "wrong_state", "wrong_nonce", "old_auth_time"}
)
_FLAGS = TOKEN_FLAGS | {"person_mismatch"}
_SWITCHES = ("latency", "timeout", "status", "html", "error_rate", "malformed_json", *sorted(_FLAGS))


#: Faults a person may pick on the login page for the rest of that login: key → (label, faults).
LOGIN_PAGE_FAULTS: dict[str, tuple[str, dict[str, str]]] = {
    "": ("Без сбоев", {}),
    "te-503": ("Обмен кода: ЕСИА недоступна (HTTP 503)", {"te": "status=503"}),
    "te-timeout": ("Обмен кода: ЕСИА не отвечает (таймаут)", {"te": "timeout"}),
    "te-html": ("Обмен кода: HTML-страница вместо JSON", {"te": "html"}),
    "te-malformed": ("Обмен кода: испорченный JSON", {"te": "malformed_json"}),
    "wrong-iss": ("Токены: чужой издатель (iss)", {"te": "wrong_iss"}),
    "wrong-aud": ("Токены: выданы другой системе (aud)", {"te": "wrong_aud"}),
    "expired": ("Токены: срок действия истёк", {"te": "expired"}),
    "foreign-signature": ("Токены: подписаны не ключом ЕСИА", {"te": "foreign_signature"}),
    "oid-mismatch": ("Токены: id_token о другом человеке", {"te": "oid_mismatch"}),
    "wrong-state": ("Ответ на обмен кода: чужой state", {"te": "wrong_state"}),
    "wrong-nonce": ("id_token: неожиданный nonce", {"te": "wrong_nonce"}),
    "old-auth-time": ("Единый вход: пароль не спрошен, вход час назад (auth_time)", {"te": "old_auth_time"}),
    "prns-503": ("Данные о человеке: ЕСИА недоступна (HTTP 503)", {"prns": "status=503"}),
    "person-mismatch": ("Данные о человеке: данные другого человека", {"prns": "person_mismatch"}),
    "slow": ("ЕСИА отвечает медленно (2 с)", {"te": "latency=2", "prns": "latency=2"}),
}


class FaultSpecError(ValueError):
    """A fault string names an unknown switch or a bad value."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A set of fault switches (empty: behave like ESIA)."""

    latency: float = 0.0
    timeout: float | None = None
    status: int | None = None
    html: bool = False
    error_rate: float | None = None
    malformed_json: bool = False
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_empty(self) -> bool:
        return self == Fault()

    def merge(self, other: Fault) -> Fault:
        return Fault(
            latency=max(self.latency, other.latency),
            timeout=other.timeout if other.timeout is not None else self.timeout,
            status=other.status if other.status is not None else self.status,
            html=self.html or other.html,
            error_rate=other.error_rate if other.error_rate is not None else self.error_rate,
            malformed_json=self.malformed_json or other.malformed_json,
            flags=self.flags | other.flags,
        )

    def interrupts(self) -> bool:
        return self.timeout is not None or self.status is not None or self.html or self.error_rate is not None


def parse_fault(spec: str, *, default_timeout: float = 30.0) -> Fault:
    """Parse ``latency=0.5,status=503,wrong_iss``; raise :class:`FaultSpecError` naming the problem."""
    fault = Fault()
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, has_value, value = (piece.strip() for piece in item.partition("="))
        try:
            if name == "latency":
                fault = replace(fault, latency=_seconds(value))
            elif name == "timeout":
                fault = replace(fault, timeout=_seconds(value) if has_value else default_timeout)
            elif name == "status":
                status = int(value)
                if not 400 <= status <= 599:
                    raise ValueError(value)
                fault = replace(fault, status=status)
            elif name == "error_rate":
                rate = float(value)
                if not 0.0 <= rate <= 1.0:
                    raise ValueError(value)
                fault = replace(fault, error_rate=rate)
            elif name == "html" and not has_value:
                fault = replace(fault, html=True)
            elif name == "malformed_json" and not has_value:
                fault = replace(fault, malformed_json=True)
            elif name in _FLAGS and not has_value:
                fault = replace(fault, flags=fault.flags | {name})
            else:
                raise FaultSpecError(f"unknown fault switch {item!r}; known: {', '.join(_SWITCHES)}")
        except ValueError as exc:
            if isinstance(exc, FaultSpecError):
                raise
            raise FaultSpecError(f"bad value in fault switch {item!r}") from exc
    return fault


def _seconds(value: str) -> float:
    seconds = float(value)
    if not 0.0 <= seconds <= 600.0:
        raise ValueError(value)
    return seconds


def parse_by_group(value: str | Mapping[str, str] | None, *, default_timeout: float) -> dict[str, Fault]:
    """Read a config value: one fault for every group, or a fault per group."""
    if not value:
        return {}
    if isinstance(value, str):
        fault = parse_fault(value, default_timeout=default_timeout)
        return {group: fault for group in GROUPS}
    faults = {}
    for group, spec in value.items():
        if group not in GROUPS:
            raise FaultSpecError(f"unknown endpoint group {group!r}; known: {', '.join(GROUPS)}")
        faults[group] = parse_fault(spec, default_timeout=default_timeout)
    return faults


@dataclass(slots=True)
class _BoardEntry:
    id: int
    spec: str
    fault: Fault
    groups: frozenset[str]
    remaining: int | None


class FaultBoard:
    """Faults switched on at run time through ``/__mock__/faults``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_BoardEntry] = []
        self._ids = itertools.count(1)

    def add(self, spec: str, groups: Iterable[str], count: int | None, *, default_timeout: float) -> dict[str, Any]:
        fault = parse_fault(spec, default_timeout=default_timeout)
        chosen = frozenset(groups) or frozenset(GROUPS)
        unknown = chosen - set(GROUPS)
        if unknown:
            raise FaultSpecError(f"unknown endpoint groups {sorted(unknown)}; known: {', '.join(GROUPS)}")
        if count is not None and count < 1:
            raise FaultSpecError("count must be a positive number of requests, or omitted")
        with self._lock:
            entry = _BoardEntry(next(self._ids), spec, fault, chosen, count)
            self._entries.append(entry)
        return _describe(entry)

    def take(self, group: str) -> Fault:
        """Return the faults for one request to ``group``, using up counted entries."""
        fault = Fault()
        with self._lock:
            for entry in list(self._entries):
                if group not in entry.groups:
                    continue
                fault = fault.merge(entry.fault)
                if entry.remaining is not None:
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        self._entries.remove(entry)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_describe(entry) for entry in self._entries]


def _describe(entry: _BoardEntry) -> dict[str, Any]:
    return {"id": entry.id, "fault": entry.spec, "endpoints": sorted(entry.groups), "count": entry.remaining}


# -- Flask wiring ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Settings:
    person_faults: dict[int, dict[str, Fault]]
    rng: random.Random
    timeout: float


def group_of(path: str) -> str | None:
    if path in ("/aas/oauth2/ac", "/aas/oauth2/v2/ac"):
        return "ac"
    if path in ("/aas/oauth2/te", "/aas/oauth2/v3/te"):
        return "te"
    if path.startswith("/login"):
        return "login"
    if path.startswith("/rs/"):
        return "prns"
    if path.startswith("/idp/ext/Logout"):
        return "logout"
    return None


def install(app: Flask, board: FaultBoard, rng: random.Random) -> None:
    """Hook faults into every request of ``app``."""
    timeout = float(app.config["FAULT_TIMEOUT"])
    configured = parse_by_group(app.config["FAULTS"], default_timeout=timeout)
    person_faults = {int(oid): parse_by_group(spec, default_timeout=timeout) for oid, spec in app.config["PERSON_FAULTS"].items()}
    app.extensions["mock_esia.faults"] = _Settings(person_faults, rng, timeout)

    @app.before_request
    def _begin() -> Response | None:
        group = group_of(request.path)
        g.mock_fault_group = group
        g.mock_fault = Fault()
        if group is None:
            return None
        fault = configured.get(group, Fault()).merge(board.take(group))
        for spec in (request.headers.get(HEADER), request.args.get(QUERY_PARAMETER)):
            if spec:
                try:
                    fault = fault.merge(parse_fault(spec, default_timeout=timeout))
                except FaultSpecError as exc:
                    return Response(f"{HEADER}: {exc}\n", status=400, mimetype="text/plain")
        return _apply(fault)

    @app.after_request
    def _finish(response: Response) -> Response:
        fault: Fault = g.get("mock_fault", Fault())
        if fault.malformed_json and response.mimetype == "application/json" and not response.direct_passthrough:
            body = response.get_data()
            response.set_data(body[: max(1, len(body) // 2)])
        if fault.latency:
            time.sleep(fault.latency)
        return response


def apply(extra: Fault) -> None:
    """Add faults found once the request's person or login is known; may end the request."""
    response = _apply(extra)
    if response is not None:
        abort(response)


def for_subject(oid: int, login_faults: Mapping[str, str]) -> Fault:
    """Faults of a person and of their login, in the current request's group."""
    return for_person(oid).merge(for_login(login_faults))


def for_person(oid: int) -> Fault:
    """Faults configured for a person (``PERSON_FAULTS``) in the current request's group."""
    settings: _Settings = current_app.extensions["mock_esia.faults"]
    return settings.person_faults.get(oid, {}).get(g.get("mock_fault_group") or "", Fault())


def for_login(faults: Mapping[str, str]) -> Fault:
    """Faults chosen on the login page, for the current request's group."""
    settings: _Settings = current_app.extensions["mock_esia.faults"]
    spec = faults.get(g.get("mock_fault_group") or "")
    return parse_fault(spec, default_timeout=settings.timeout) if spec else Fault()


def current() -> Fault:
    return g.get("mock_fault", Fault())


def _apply(extra: Fault) -> Response | None:
    g.mock_fault = current().merge(extra)
    if not extra.interrupts():
        return None
    rng = current_app.extensions["mock_esia.faults"].rng
    if extra.timeout is not None:
        time.sleep(extra.timeout)
        return _error_page(504)
    if extra.error_rate is not None and rng.random() >= extra.error_rate:
        return None
    if extra.status is not None:
        return _error_page(extra.status)
    if extra.html:
        return Response(render_template("maintenance.html"), status=200, mimetype="text/html")
    return _error_page(503)


_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def _error_page(status: int) -> Response:
    group = g.get("mock_fault_group")
    if status < 500 and group in ("te", "prns"):
        body = {"error": "server_error", "error_description": f"ESIA-007007: HTTP {status} (mock fault)"}
        return Response(json.dumps(body), status=status, mimetype="application/json")
    reason = _REASONS.get(status, "Error")
    page = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(page, status=status, mimetype="text/html")
