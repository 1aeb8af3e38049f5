"""HTTP to ESIA: explicit timeouts, one retry for idempotent reads, every failure as a provider error.

How answers are read (docs/esia.md, 'Errors and reason codes'):

* no answer in time, no connection, a 5xx, a 429, a redirect, or an HTML page where JSON was
  expected → :class:`UpstreamUnavailableError` (``esia_unavailable``);
* a 4xx with ESIA's JSON error (``{"error", "error_description": "ESIA-0070xx: …"}``) or any
  other 4xx → :class:`UpstreamRefusedError` carrying the ESIA code (``esia_error``), except
  ESIA-007007/007008 (server error, overload), which are ``esia_unavailable``;
* a 2xx whose body is not a JSON object → :class:`InvalidUpstreamResponseError`;
* any answer longer than ``max_response_bytes`` → :class:`ResponseTooLargeError` (``esia_error``),
  read no further than the cap: ESIA's answers are a few kilobytes, and a broker that reads a
  huge or endless body whole would spend its memory on it.

Only reads (GET) are retried, once, and only after a connection error, a timeout or a 5xx. The
token request is never retried: a code is single-use, and a retry after a lost answer would
only earn ESIA-007011.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests

from providers.base import InvalidUpstreamResponseError, ResponseTooLargeError, UpstreamRefusedError, UpstreamUnavailableError

#: ESIA's codes meaning "try again later" rather than "your request is wrong" (docs/esia.md).
UNAVAILABLE_CODES = frozenset({"ESIA-007007", "ESIA-007008"})
_ESIA_CODE = re.compile(r"ESIA-[0-9]{6}")
_OAUTH_ERROR = re.compile(r"[a-z_]{1,64}")  # as RFC 6749 §4.1.2.1 and ESIA spell them
_log = logging.getLogger(__name__)
_CHUNK = 16 * 1024


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    """A JSON object ESIA answered with, and the headers that came with it."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str]


def esia_code_of(description: object) -> str | None:
    """The ``ESIA-NNNNNN`` code in the first 11 characters of an ``error_description``."""
    if not isinstance(description, str):
        return None
    head = description[:11]
    return head if _ESIA_CODE.fullmatch(head) else None


def oauth_error_of(value: object) -> str | None:
    """An OAuth ``error`` value if it looks like one (it may come through the browser)."""
    return value if isinstance(value, str) and _OAUTH_ERROR.fullmatch(value) else None


def refusal(
    esia_code: str | None, error: str | None, what: str, *, status: int | None = None
) -> UpstreamRefusedError | UpstreamUnavailableError:
    """The provider error for an ESIA error answer (redirect or JSON)."""
    named = esia_code or error or "an unnamed error"
    if esia_code in UNAVAILABLE_CODES or error in ("server_error", "temporarily_unavailable"):
        return UpstreamUnavailableError(f"ESIA could not serve {what}: {named}", status=status, esia_code=esia_code)
    return UpstreamRefusedError(f"ESIA refused {what}: {named}", esia_code=esia_code, error=error, status=status)


class Transport:
    """Sends requests to ESIA with fixed timeouts and reads the answers as JSON objects.

    Requests are prepared here, not by ``Session.request``: that merges session headers,
    cookies and hooks on every call, and ESIA needs none of them (about a third of a call's
    CPU time). The session still supplies its connection pool, proxy and CA bundle.
    """

    USER_AGENT = "diary-esia-broker"

    def __init__(self, session: requests.Session, *, connect_timeout: float, read_timeout: float, max_response_bytes: int) -> None:
        self._session = session
        self._timeout = (connect_timeout, read_timeout)
        self._max_bytes = max_response_bytes

    def post_form(self, url: str, form: Mapping[str, str], what: str) -> JsonAnswer:
        """POST a form once (never retried); ``what`` names the request in errors."""
        body = urlencode(form).encode("ascii")
        headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        return _read(self._send("POST", url, what, headers, body), what)

    def get_json(self, url: str, what: str, *, headers: Mapping[str, str], params: Mapping[str, str]) -> JsonAnswer:
        """GET a JSON resource; one retry after a connection error, a timeout or a 5xx."""
        target = f"{url}?{urlencode(params)}" if params else url
        try:
            response = self._send("GET", target, what, headers)
        except UpstreamUnavailableError as exc:
            _log.info("ESIA did not answer %s (%s); retrying once", what, exc)
        else:
            if response.status < 500:
                return _read(response, what)
            _log.info("ESIA answered %s with HTTP %s; retrying once", what, response.status)
        return _read(self._send("GET", target, what, headers), what)

    def _send(self, method: str, url: str, what: str, headers: Mapping[str, str], body: bytes | None = None) -> _Answer:
        sent = {"User-Agent": self.USER_AGENT, **headers}
        try:
            prepared = requests.Request(method, url, headers=sent, data=body).prepare()
            response = self._session.send(prepared, timeout=self._timeout, allow_redirects=False, stream=True)
            with response:  # closed (the connection freed) however the reading ends
                return _Answer(response.status_code, response.headers, self._bounded_body(response, what))
        except requests.Timeout as exc:
            raise UpstreamUnavailableError(f"ESIA did not answer {what} in time") from exc
        except requests.ConnectionError as exc:
            raise UpstreamUnavailableError(f"ESIA could not be reached for {what}") from exc
        except requests.RequestException as exc:
            raise UpstreamUnavailableError(f"The request for {what} failed: {type(exc).__name__}") from exc

    def _bounded_body(self, response: requests.Response, what: str) -> bytes:
        """The answer's body, read in chunks and never past the cap (whatever Content-Length says)."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise ResponseTooLargeError(what, self._max_bytes)
        body = bytearray()
        for chunk in response.iter_content(_CHUNK):
            body += chunk
            if len(body) > self._max_bytes:
                raise ResponseTooLargeError(what, self._max_bytes)
        return bytes(body)


@dataclass(frozen=True, slots=True)
class _Answer:
    """What came back: the status, the headers and the body as far as it was read."""

    status: int
    headers: Mapping[str, str]
    content: bytes


def _read(response: _Answer, what: str) -> JsonAnswer:
    status = response.status
    if status >= 500 or status == 429 or 300 <= status < 400:
        raise UpstreamUnavailableError(f"ESIA answered {what} with HTTP {status}", status=status)
    content_type = response.headers.get("Content-Type", "").lower()
    body = response.content
    looks_like_html = "html" in content_type or body.lstrip()[:1] == b"<"
    if status >= 400:
        answer = None if looks_like_html else _json_or_none(body)
        if answer is None:
            raise UpstreamRefusedError(f"ESIA refused {what} with HTTP {status}", status=status)
        raise refusal(esia_code_of(answer.get("error_description")), oauth_error_of(answer.get("error")), what, status=status)
    if looks_like_html:
        # A maintenance page may come as 200 text/html: HTML instead of JSON is esia_unavailable (docs/esia.md).
        raise UpstreamUnavailableError(f"ESIA answered {what} with an HTML page instead of JSON", status=status)
    answer = _json_or_none(body)
    if answer is None:
        raise InvalidUpstreamResponseError("(body)", f"the answer to {what} is not a JSON object")
    return JsonAnswer(status, answer, response.headers)


def _json_or_none(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
