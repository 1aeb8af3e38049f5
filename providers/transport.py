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

The bytes travel through a :class:`Sender`: by default :class:`providers.connections.ConnectionSender`
(keep-alive ``http.client``, docs/adr/0024-a-lean-http-client-for-esia.md), or a
:class:`RequestsSender` on a ``requests.Session`` (an ``https://`` proxy; a session the caller
configured, such as the tests' one that ``responses`` routes).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote_plus, urlsplit

import requests

from providers.base import InvalidUpstreamResponseError, ResponseTooLargeError, UpstreamRefusedError, UpstreamUnavailableError
from providers.connections import Answer, ConnectionSender

#: ESIA's codes meaning "try again later" rather than "your request is wrong" (docs/esia.md).
UNAVAILABLE_CODES = frozenset({"ESIA-007007", "ESIA-007008"})
_ESIA_CODE = re.compile(r"ESIA-[0-9]{6}")
_OAUTH_ERROR = re.compile(r"[a-z_]{1,64}")  # as RFC 6749 §4.1.2.1 and ESIA spell them
_log = logging.getLogger(__name__)
_CHUNK = 16 * 1024
#: What ``quote_plus`` leaves as it is (RFC 3986 unreserved characters).
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]*")


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


class Sender(Protocol):
    """Sends one request and reads its answer up to ``max_bytes``; every failure is a provider error.

    :class:`providers.connections.ConnectionSender` (keep-alive ``http.client``, the default) and
    :class:`RequestsSender` (a ``requests.Session``: an ``https://`` proxy, or a session someone
    else configured) are the two.
    """

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
    ) -> Answer: ...


def make_sender(proxy: str | None, ca_bundle: str | None) -> Sender:
    """The sender for ESIA_PROXY and ESIA_CA_BUNDLE: the lean one, or requests through an ``https://`` proxy.

    ``http.client`` cannot speak TLS to a proxy and TLS through it at once; urllib3 can.
    """
    if proxy is not None and urlsplit(proxy).scheme == "https":
        return RequestsSender(requests_session(proxy, ca_bundle))
    return ConnectionSender(proxy=proxy, ca_bundle=ca_bundle)


def requests_session(proxy: str | None, ca_bundle: str | None) -> requests.Session:
    """A keep-alive session with one explicit route to ESIA.

    ``trust_env`` off: requests would otherwise look up proxy variables, ``.netrc`` and CA
    bundle settings in the environment on every call (a fifth of a call's CPU time).
    """
    session = requests.Session()
    session.trust_env = False
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    if ca_bundle:
        session.verify = ca_bundle
    return session


class Transport:
    """Sends requests to ESIA with fixed timeouts and reads the answers as JSON objects."""

    USER_AGENT = "diary-esia-broker"

    def __init__(self, sender: Sender, *, connect_timeout: float, read_timeout: float, max_response_bytes: int) -> None:
        self._sender = sender
        self._timeout = (connect_timeout, read_timeout)
        self._max_bytes = max_response_bytes

    def post_form(self, url: str, form: Mapping[str, str], what: str) -> JsonAnswer:
        """POST a form once (never retried); ``what`` names the request in errors."""
        headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        return _read(self._send("POST", url, what, headers, form_of(form).encode("ascii")), what)

    def get_json(self, url: str, what: str, *, headers: Mapping[str, str], params: Mapping[str, str]) -> JsonAnswer:
        """GET a JSON resource; one retry after a connection error, a timeout or a 5xx."""
        target = f"{url}?{form_of(params)}" if params else url
        try:
            response = self._send("GET", target, what, headers)
        except UpstreamUnavailableError as exc:
            _log.info("ESIA did not answer %s (%s); retrying once", what, exc)
        else:
            if response.status < 500:
                return _read(response, what)
            _log.info("ESIA answered %s with HTTP %s; retrying once", what, response.status)
        return _read(self._send("GET", target, what, headers), what)

    def _send(self, method: str, url: str, what: str, headers: Mapping[str, str], body: bytes | None = None) -> Answer:
        sent = {"User-Agent": self.USER_AGENT, **headers}
        return self._sender.send(method, url, sent, body, timeout=self._timeout, max_bytes=self._max_bytes, what=what)


class RequestsSender:
    """A :class:`Sender` on a ``requests.Session`` (its pool, proxy and CA bundle); redirects not followed.

    Requests are prepared here, not by ``Session.request``: that merges session headers,
    cookies and hooks on every call, and ESIA needs none of them.
    """

    def __init__(self, session: requests.Session) -> None:
        self.session = session

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
        try:
            prepared = requests.Request(method, url, headers=dict(headers), data=body).prepare()
            response = self.session.send(prepared, timeout=timeout, allow_redirects=False, stream=True)
            with response:  # closed (the connection freed) however the reading ends
                return Answer(response.status_code, response.headers, _bounded_body(response, max_bytes, what))
        except requests.Timeout as exc:
            raise UpstreamUnavailableError(f"ESIA did not answer {what} in time") from exc
        except requests.ConnectionError as exc:
            raise UpstreamUnavailableError(f"ESIA could not be reached for {what}") from exc
        except requests.RequestException as exc:
            raise UpstreamUnavailableError(f"The request for {what} failed: {type(exc).__name__}") from exc


def _bounded_body(response: requests.Response, max_bytes: int, what: str) -> bytes:
    """The answer's body, read in chunks and never past the cap (whatever Content-Length says)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLargeError(what, max_bytes)
    body = bytearray()
    for chunk in response.iter_content(_CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise ResponseTooLargeError(what, max_bytes)
    return bytes(body)


def form_of(fields: Mapping[str, str]) -> str:
    """``urlencode(fields)``, the same text, quoting only the names and values that need it.

    Most of what the client sends is already URL-safe (base64url signatures, UUIDs, nonces);
    ``quote_plus`` costs a few microseconds a value even then.
    """
    return "&".join(f"{_quoted(name)}={_quoted(value)}" for name, value in fields.items())


def _quoted(text: str) -> str:
    return text if _URL_SAFE.fullmatch(text) else quote_plus(text)


def _read(response: Answer, what: str) -> JsonAnswer:
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
