"""The broker's log lines: plain text or JSON lines (``LOG_FORMAT``), each with its login's context.

Every line written while a request is served carries what is known of the login it belongs to:
``reference`` (the attempt's reference code, the one the person reads out to support),
``client`` (the registered portal) and ``step`` (which step of the login). Nothing else of the
request is added: no address, no path or query (ESIA's code and state travel in the callback's
query), no name, SNILS, code or token. Each request ends with one line of its own
(``LOG_REQUESTS``): method, endpoint, status and duration, with the same context; it takes the
place of an access log, which would copy query strings.

Where the context comes from:

* ``client``: the registered portal the request names (HTTP Basic, then ``client_id``), as the
  per-portal rate limits read it; a name that is not registered is never written.
* ``reference`` and ``client`` of a login once ESIA has answered: read from the attempt row as it
  is inserted (a SQLAlchemy event on ``login_attempts``), so the flow writes nothing for it.
* ``step``: the login step the endpoint serves (``STEPS``).
* Anything the login code knows better (a later page of the same login, whose attempt was
  recorded earlier) it gives with :func:`note`.

When a request ends, :data:`request_done` is sent with a :class:`RequestDone`; the request line
is one receiver, and metrics can be another, counting the same requests with the same labels.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from blinker import Namespace
from flask import Flask, Response, current_app, g, has_app_context, has_request_context, request
from sqlalchemy import Insert, event

from broker.db.models import LoginAttempt
from broker.web import ratelimits

if TYPE_CHECKING:
    from sqlalchemy import Engine

FIELDS = ("reference", "client", "step")  # the login's context, in the order lines show it

#: The login steps, by the endpoint that serves each.
STEPS = {
    "oidc.authorize": "authorize",
    "auth.esia_callback": "esia_callback",
    "auth.choose": "choose_account",
    "auth.invite": "invite_code",
    "auth.confirm": "confirm_contacts",
    "oidc.token": "token",
    "oidc.userinfo": "userinfo",
    "oidc.start_link": "link_start",
    "auth.link": "link",
    "oidc.logout": "logout",
}

signals = Namespace()
#: Sent once per request, after its answer is made: ``request_done.send(app, done=RequestDone(...))``.
request_done = signals.signal("broker-request-done")

_CONTEXT = "broker_log_context"
_STARTED = "broker_log_started"
_MARK = "_broker_handler"


def note(*, reference: str | None = None, client: str | None = None, step: str | None = None) -> None:
    """Tell the log lines of this request which login they belong to (what is given; None keeps).

    Outside a request (a command) it does nothing.
    """
    if not has_request_context():
        return
    context = g.setdefault(_CONTEXT, {})
    for key, value in (("reference", reference), ("client", client), ("step", step)):
        if value is not None:
            context[key] = value


def context() -> dict[str, str]:
    """The current request's login context (empty outside a request)."""
    if not has_request_context():
        return {}
    return dict(g.get(_CONTEXT) or {})


@dataclass(frozen=True, slots=True)
class RequestDone:
    """One request, answered: what a log line or a metric says about it."""

    method: str
    endpoint: str | None
    status: int
    seconds: float
    reference: str | None
    client: str | None
    step: str | None


# --- setting up ---------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Format the process's log lines as ``LOG_FORMAT`` says, and give this app's requests their context."""
    configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    app.before_request(_started)
    app.after_request(_done)


def configure(fmt: str, level: str) -> None:
    """One handler on the root logger, writing to standard error in ``fmt``; the broker's loggers at ``level``.

    Idempotent (an app built twice keeps one handler, in the last app's format). Other libraries'
    loggers keep their own levels: Werkzeug's development server would otherwise log each URL
    with its query.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, _MARK, False)), None)
    if handler is None:
        handler = _StandardError()
        setattr(handler, _MARK, True)
        handler.addFilter(LoginContext())
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logging.getLogger("broker").setLevel(level)


def listen_for_attempts(engine: Engine) -> None:
    """Read each login attempt's reference code and portal as the row is inserted."""
    if not event.contains(engine, "before_execute", _attempt_inserted):
        event.listen(engine, "before_execute", _attempt_inserted)


def _attempt_inserted(_conn: Any, statement: Any, multiparams: Any, params: Any, _options: Any) -> None:
    if not (isinstance(statement, Insert) and statement.table is LoginAttempt.__table__ and has_request_context()):
        return
    rows = multiparams or [params]
    values = rows[-1] if isinstance(rows, (list, tuple)) and rows else {}
    if isinstance(values, dict):
        note(reference=values.get("reference"), client=values.get("client_id"))


# --- each request -------------------------------------------------------------------------------


def _started() -> None:
    g.setdefault(_STARTED, time.perf_counter())
    step = STEPS.get(request.endpoint or "")
    if step is not None:
        note(step=step, client=_claimed_portal())


def _done(response: Response) -> Response:
    started = g.get(_STARTED)
    found = context()
    done = RequestDone(
        method=request.method,
        endpoint=request.endpoint,
        status=response.status_code,
        seconds=time.perf_counter() - started if started is not None else 0.0,
        reference=found.get("reference"),
        client=found.get("client"),
        step=found.get("step"),
    )
    request_done.send(current_app._get_current_object(), done=done)  # type: ignore[attr-defined]
    return response


_requests = logging.getLogger("broker.requests")


@request_done.connect
def _log_request(app: Flask, done: RequestDone) -> None:
    """The request's own line (``LOG_REQUESTS``)."""
    if not app.config["LOG_REQUESTS"]:
        return
    _requests.info(
        "%s %s %s %.1f ms",
        done.method,
        done.endpoint or "(no endpoint)",
        done.status,
        done.seconds * 1000,
        extra={"method": done.method, "endpoint": done.endpoint, "status": done.status, "duration_ms": round(done.seconds * 1000, 1)},
    )


def _claimed_portal() -> str | None:
    """The registered portal the request names, as the per-portal limits count it (never an unregistered name)."""
    try:
        return ratelimits.claimed_portal()
    except Exception:  # an unreadable body: the request's own answer says so, the log line goes without
        return None


# --- the lines ----------------------------------------------------------------------------------


class LoginContext(logging.Filter):
    """Puts the request's login context on every record (attributes ``reference``, ``client``, ``step``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        found = context() if has_app_context() else {}
        for key in FIELDS:
            if not hasattr(record, key):
                setattr(record, key, found.get(key))
        return True


#: Extra attributes a record may carry into a JSON line (the request line's).
_EXTRA = ("method", "endpoint", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the login's context, and the request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in (*FIELDS, *_EXTRA):
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger [reference client step]: message``, the brackets only when known."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(login)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        known = [str(getattr(record, key)) for key in FIELDS if getattr(record, key, None)]
        record.login = f" [{' '.join(known)}]" if known else ""
        return super().format(record)


class _StandardError(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is written (as logging's last resort does)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass
