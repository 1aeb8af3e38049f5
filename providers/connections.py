"""HTTP/1.1 to ESIA on the standard library's ``http.client``: one keep-alive connection per thread and origin.

The broker makes three calls to ESIA per login (the token request, the person, perhaps the
contacts). Through ``requests`` each costs about 0.5 ms of CPU before any byte is sent
(docs/benchmarks.md, 'A lean HTTP client for ESIA (#13 item 6)'); ``http.client`` does the same HTTP for about
a quarter of that. What ``requests`` and urllib3 gave the transport is kept here, explicitly
(docs/adr/0024-a-lean-http-client-for-esia.md):

* HTTPS with the certificate and host name verified, against ``ca_bundle`` or else certifi's
  bundle (what a ``requests.Session`` with ``trust_env`` off used); nothing is read from the
  environment;
* an ``http://`` proxy: HTTPS through a ``CONNECT`` tunnel, plain HTTP in absolute form, its
  ``user:password`` as ``Proxy-Authorization: Basic`` (an ``https://`` proxy, TLS to the proxy
  itself, stays with ``requests``: :func:`providers.transport.make_sender`);
* a connect timeout (TCP, the tunnel and the TLS handshake) and a read timeout for every wait on
  the answer;
* the body read in chunks, never past the cap, whether its length is declared or not (chunked,
  or up to the connection's end), and gzip or deflate decoded within the cap, as urllib3 would;
* redirects are answers, never followed;
* a connection the server closed while it sat idle: probed before each use, so nothing is sent
  on it (the token request is then sent once, on a new connection); a read (GET) whose
  reused connection fails before any answer arrives is sent once more on a new connection.

Each thread keeps its own connections (gunicorn's threads never share one), and a process
forked after a call opens its own.
"""

from __future__ import annotations

import base64
import http.client
import os
import select
import ssl
import threading
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import certifi

from providers.base import ProviderConfigError, ResponseTooLargeError, UpstreamUnavailableError

_CHUNK = 16 * 1024
#: What a server closing a kept-alive connection looks like to the next request on it.
_DROPPED = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, http.client.BadStatusLine)


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back: the status, the headers and the body as far as it was read."""

    status: int
    headers: Mapping[str, str]
    content: bytes


class Headers(Mapping[str, str]):
    """An answer's headers, looked up by name in any case (repeated ones joined by a comma, as urllib3 does)."""

    __slots__ = ("_items",)

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            key = name.lower()
            if key in items:
                value = f"{items[key][1]}, {value}"
            items[key] = (name, value)
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(frozen=True, slots=True)
class _Route:
    """How to reach one origin: the host to connect to, and the request target's prefix there."""

    host: str
    port: int
    tls: bool
    tunnel: tuple[str, int] | None  # the origin, when a proxy's CONNECT leads there
    absolute: str  # "" or "http://host:port" (plain HTTP through a proxy names the origin)


class ConnectionSender:
    """Sends one request at a time per thread on a kept-alive ``http.client`` connection to each origin."""

    def __init__(self, *, proxy: str | None = None, ca_bundle: str | None = None) -> None:
        try:
            self._context = ssl.create_default_context(cafile=ca_bundle or certifi.where())
        except (ssl.SSLError, OSError) as exc:
            raise ProviderConfigError(f"ca_bundle {ca_bundle} holds no PEM certificate to check ESIA's against.") from exc
        self._proxy = urlsplit(proxy) if proxy else None
        if self._proxy is not None and self._proxy.scheme != "http":
            raise ProviderConfigError("ConnectionSender takes an http:// proxy only (an https:// one goes through requests).")
        self._proxy_headers: dict[str, str] = {}
        if self._proxy is not None and self._proxy.username is not None:
            user_password = f"{unquote(self._proxy.username)}:{unquote(self._proxy.password or '')}"
            self._proxy_headers["Proxy-Authorization"] = "Basic " + base64.b64encode(user_password.encode("utf-8")).decode("ascii")
        self._routes: dict[str, _Route] = {}
        self._local = threading.local()

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
        """Send one request and read its answer (up to ``max_bytes``); a failure is an UpstreamUnavailableError."""
        rest = url.partition("://")[2]
        authority, _, path = rest.partition("/")  # path: the rest, query included
        origin = url[: len(url) - len(rest) + len(authority)]
        route = self._routes.get(origin) or self._route(origin)
        target = f"{route.absolute}/{path}"
        sent = dict(headers)
        if route.absolute:
            sent.update(self._proxy_headers)
        connection, reused = self._connection(origin, route, timeout)
        if reused and _is_dropped(connection):
            connection.close()  # the server closed it while it sat idle: nothing was sent on it
            reused = False
        try:
            return self._exchange(connection, method, target, sent, body, timeout, max_bytes, what)
        except _DroppedError as dropped:
            if not (reused and method == "GET"):
                raise dropped.error from dropped.__cause__
        # A read on a kept-alive connection the server had closed, unanswered: once more, on a new one.
        return self._exchange(connection, method, target, sent, body, timeout, max_bytes, what)

    def close(self) -> None:
        """Close this thread's connections."""
        for connection in getattr(self._local, "connections", {}).values():
            connection.close()
        self._local.connections = {}

    # -- connections -------------------------------------------------------------------------

    def _route(self, origin: str) -> _Route:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamUnavailableError(f"{origin} is not an http(s) address")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        if self._proxy is None:
            route = _Route(parts.hostname, port, tls, None, "")
        else:
            proxy_host, proxy_port = self._proxy.hostname or "", self._proxy.port or 80
            if tls:
                route = _Route(proxy_host, proxy_port, True, (parts.hostname, port), "")
            else:
                route = _Route(proxy_host, proxy_port, False, None, origin)
        self._routes[origin] = route
        return route

    def _connection(self, origin: str, route: _Route, timeout: tuple[float, float]) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection to ``origin`` and whether it was used before (open, not new)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # a new thread, or a process forked from ours
            local.pid, local.connections = os.getpid(), {}
        connection: http.client.HTTPConnection | None = local.connections.get(origin)
        if connection is not None:
            return connection, connection.sock is not None
        if route.tls:
            connection = http.client.HTTPSConnection(route.host, route.port, timeout=timeout[0], context=self._context)
        else:
            connection = http.client.HTTPConnection(route.host, route.port, timeout=timeout[0])
        if route.tunnel is not None:
            connection.set_tunnel(*route.tunnel, headers=self._proxy_headers)
        local.connections[origin] = connection
        return connection, False

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: tuple[float, float],
        max_bytes: int,
        what: str,
    ) -> Answer:
        fresh = connection.sock is None
        try:
            if fresh:
                connection.timeout = timeout[0]
                connection.connect()  # TCP, the proxy's tunnel and the TLS handshake: the connect timeout
                connection.sock.settimeout(timeout[1])  # every wait on the answer from here on
            connection.putrequest(method, target, skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.putheader("Accept-Encoding", "identity")  # as urllib3 asks; a compressed answer is still read
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
        except TimeoutError as exc:
            connection.close()
            raise UpstreamUnavailableError(f"ESIA did not answer {what} in time") from exc
        except _DROPPED as exc:
            connection.close()
            error = UpstreamUnavailableError(f"ESIA could not be reached for {what}")
            if fresh:
                raise error from exc
            raise _DroppedError(error) from exc
        except (OSError, http.client.HTTPException) as exc:  # refused, unresolved, TLS not verified, a broken answer
            connection.close()
            raise UpstreamUnavailableError(f"ESIA could not be reached for {what}") from exc
        try:
            return Answer(response.status, Headers(response.getheaders()), _bounded_body(response, max_bytes, what))
        except TimeoutError as exc:
            raise UpstreamUnavailableError(f"ESIA did not answer {what} in time") from exc
        except (OSError, http.client.HTTPException, zlib.error) as exc:
            raise UpstreamUnavailableError(f"ESIA could not be reached for {what}") from exc
        finally:
            if not response.isclosed():  # the body was not read to its end: the connection cannot carry another request
                connection.close()


class _DroppedError(Exception):
    """A kept-alive connection failed before any answer arrived (carries the error to raise if not resent)."""

    def __init__(self, error: UpstreamUnavailableError) -> None:
        super().__init__(str(error))
        self.error = error


def _is_dropped(connection: http.client.HTTPConnection) -> bool:
    """Has the server closed (or written on) this idle connection? Then it cannot carry a request.

    Between requests an idle connection has nothing to read; anything readable is its end (or
    bytes nobody asked for), which is urllib3's test too (``is_connection_dropped``).
    """
    sock = connection.sock
    if sock is None:
        return True
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _bounded_body(response: http.client.HTTPResponse, max_bytes: int, what: str) -> bytes:
    """The answer's body, never read past ``max_bytes`` (whatever Content-Length says), decoded if compressed."""
    if response.length is not None and response.length > max_bytes:
        raise ResponseTooLargeError(what, max_bytes)
    encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    decoder = _decoder(encoding)
    if decoder is None and response.length is not None:
        return response.read()  # declared, and within the cap: read exactly that much
    body = bytearray()
    while True:
        chunk = response.read(min(_CHUNK, max_bytes + 1 - len(body)) if decoder is None else _CHUNK)
        if not chunk:
            break
        if decoder is not None:
            chunk = decoder.decompress(chunk, max_bytes + 1 - len(body))
        body += chunk
        if len(body) > max_bytes:
            raise ResponseTooLargeError(what, max_bytes)
    return bytes(body)


def _decoder(encoding: str) -> zlib._Decompress | None:
    """A decoder for gzip or (zlib) deflate, codings urllib3 decodes by default; None: the body as it is."""
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None
