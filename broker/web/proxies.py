"""Behind a reverse proxy: which address is the client's (``TRUSTED_PROXIES``).

By default nothing in ``X-Forwarded-For`` is believed: the client is the TCP peer, so nobody can
forge an address by sending the header. With a count of proxy hops, Werkzeug's ``ProxyFix`` takes
that many steps back along the header. With the proxies' networks, the header is read only when
the peer is in them, from the right, past every address in them: the first address outside is the
client's. Every user of ``request.remote_addr`` (the rate limits, the staff login's address
throttle, the audit's ``source``) then sees the client, not the proxy. Only ``X-Forwarded-For``
is read: the broker builds its public URLs from ``OIDC_ISSUER``, never from Host or
X-Forwarded-Proto.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any

from werkzeug.http import parse_list_header
from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
TrustedProxies = int | tuple[Network, ...]

_SPLIT = re.compile(r"[\s,;]+")
MAX_HOPS = 10


def parse_trusted_proxies(value: Any) -> TrustedProxies:
    """``TRUSTED_PROXIES`` as a hop count or a tuple of networks; ValueError says what is wrong.

    Accepts 0 or None (believe no proxy), a whole number of hops (also as text, "1"), or networks
    and addresses as a list or as text separated by commas or spaces ("10.0.0.0/8, ::1").
    """
    if value is None or value == "" or value == []:
        return 0
    if isinstance(value, bool):
        raise ValueError("must be a number of proxy hops or a list of the proxies' networks, not true/false")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int):
        if not 0 <= value <= MAX_HOPS:
            raise ValueError(f"a number of proxy hops must be between 0 and {MAX_HOPS}, not {value}")
        return value
    return parse_networks(value, "must be a number of proxy hops or a list of the proxies' networks")


def parse_networks(value: Any, wrong_type: str) -> tuple[Network, ...]:
    """Networks and addresses, as a list or as text separated by commas or spaces ("10.0.0.0/8, ::1");
    ValueError says which one is wrong (``wrong_type`` when ``value`` is neither)."""
    if isinstance(value, str):
        texts: list[Any] = [text for text in _SPLIT.split(value.strip()) if text]
    elif isinstance(value, (list, tuple)):
        texts = list(value)
    else:
        raise ValueError(wrong_type)
    networks = []
    for text in texts:
        if not isinstance(text, str):
            raise ValueError(f"{text!r} is not a network such as 10.0.0.0/8")
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=True))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a network such as 10.0.0.0/8 or an address ({exc})") from None
    return tuple(networks)


def init_app(app: Flask) -> None:
    """Put the app behind the middleware ``TRUSTED_PROXIES`` asks for (none by default)."""
    # Flask documents wrapping wsgi_app in middleware so; mypy checks an instance's method assignment
    # against the unbound method (self included), so no callable fits (python/mypy#2427).
    app.wsgi_app = wrap(app.wsgi_app, parse_trusted_proxies(app.config["TRUSTED_PROXIES"]))  # type: ignore[method-assign,assignment]


def wrap(wsgi_app: WSGIApplication, trusted: TrustedProxies) -> WSGIApplication:
    """``wsgi_app`` behind the middleware that ``trusted`` asks for (itself if it trusts nobody)."""
    if isinstance(trusted, int):
        return ProxyFix(wsgi_app, x_for=trusted, x_proto=0, x_host=0, x_port=0, x_prefix=0) if trusted else wsgi_app
    return TrustedNetworks(wsgi_app, trusted)


class TrustedNetworks:
    """Believe ``X-Forwarded-For`` only from peers in ``networks``, and only as far as they reach.

    Walking the header from the right, each address in ``networks`` is one more proxy; the first
    one outside is the client. Then ``ProxyFix`` with that many hops does the rewrite (and keeps
    the original in ``werkzeug.proxy_fix.orig``).
    """

    def __init__(self, wsgi_app: WSGIApplication, networks: tuple[Network, ...]) -> None:
        self.wsgi_app = wsgi_app
        self.networks = networks

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        hops = self.hops(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR", ""))
        if not hops:
            return self.wsgi_app(environ, start_response)
        return ProxyFix(self.wsgi_app, x_for=hops, x_proto=0, x_host=0, x_port=0, x_prefix=0)(environ, start_response)

    def hops(self, peer: str | None, forwarded: str) -> int:
        """How many entries of ``forwarded``, from the right, to step back to the client (0: none)."""
        if not self.is_trusted(peer):
            return 0
        chain = parse_list_header(forwarded)  # as ProxyFix reads it
        hops = 0
        for entry in reversed(chain):
            hops += 1
            if not self.is_trusted(entry):
                break
        return hops

    def is_trusted(self, address: str | None) -> bool:
        return in_networks(address, self.networks)


def in_networks(address: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether ``address`` (a peer's, as text) is in one of ``networks``; an IPv4 peer of a
    dual-stack socket (``::ffff:10.0.0.1``) counts as its IPv4 address, and garbage as none."""
    try:
        found = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        found = found.ipv4_mapped
    return any(found in network for network in networks)
