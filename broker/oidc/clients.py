"""The diary portals (and the diary's mobile app) registered as OIDC clients of the broker.

Each comes from config (``OIDC_CLIENTS``), with exact redirect URIs and the regions it serves.
A confidential client is registered with the SHA-256 of its secret (``secret_sha256``), never
the secret itself; a client without one is public (the mobile app) and must use PKCE. A public
client that asks for ``offline_access`` gets refresh tokens (rotated, ``broker.oidc.refresh``); a
confidential portal's ``offline_access`` is dropped from its scope (OIDC Core §11: ignored), and
it may not use the refresh grant (ADR 0020).
Native apps may use loopback redirects on any port (RFC 8252 §7.3): the IP literals
``127.0.0.1`` and ``[::1]`` only, never ``localhost`` (a name that DNS or the hosts file may send
elsewhere, RFC 8252 §8.3). Every other redirect URI is compared as an exact string.

The people's pages name the portal: its display name (``name``), its support contact
(``support_phone``, ``support_url``, ``support_email``: any of them, shown next to the reference
code a person reads out to support) and optionally its logo (``logo_url``, an ``https`` image).

``initiate_login_uri`` (OpenID Connect Dynamic Client Registration's client metadata) is the
portal's address that starts a login of its own, with a new ``state``, ``nonce`` and PKCE
("Initiating Login from a Third Party", OIDC Core §4): the refusal pages' «Попробовать ещё раз»
goes there, with ``iss``, never replaying the portal's old request, whose ``state`` the portal
may have spent already. It must be on the origin of one of the portal's redirect URIs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.errors import ConfigError

SCOPES = ("openid", "profile", "email", "phone", "offline_access")
#: What only a public client is given (a confidential portal asking for it gets the rest).
PUBLIC_ONLY_SCOPES = frozenset({"offline_access"})
#: The grants: every client exchanges codes; only public clients refresh.
GRANTS = ("authorization_code", "refresh_token")
_LOOPBACK = frozenset({"127.0.0.1", "[::1]"})
# RFC 3986 Appendix B: a URI's five components, as every conforming parser splits them.
_URI = re.compile(r"^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$", re.DOTALL)
_PORT = re.compile(r"[0-9]{1,5}")
# A phone number as people write it: digits, spaces, brackets, dashes, a leading plus; 10 to 15 digits.
_SUPPORT_PHONE = re.compile(r"\+?[0-9][0-9 ()\-]{8,24}[0-9]")
_SUPPORT_EMAIL = re.compile(r"[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")


@dataclass(frozen=True, slots=True)
class Support:
    """Where a person reaches the portal's support: any of a phone, a web page and an e-mail."""

    phone: str | None = None
    url: str | None = None
    email: str | None = None

    def __bool__(self) -> bool:
        return bool(self.phone or self.url or self.email)

    @property
    def phone_href(self) -> str | None:
        """The phone as a ``tel:`` link (its digits and the leading plus only)."""
        if not self.phone:
            return None
        return "tel:" + ("+" if self.phone.startswith("+") else "") + "".join(c for c in self.phone if c.isdigit())


@dataclass(frozen=True, slots=True)
class PortalClient:
    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    regions: frozenset[str]
    login_url: str  # the portal's ordinary login by login and password
    post_logout_redirect_uris: tuple[str, ...] = ()
    secret_sha256: str | None = None
    support: Support = Support()  # the portal's support contact, shown on the people's pages
    logo_url: str | None = None  # the portal's logo (https), shown on the people's pages
    initiate_login_uri: str | None = None  # where the portal starts a fresh login of its own (OIDC Core §4)

    @property
    def is_public(self) -> bool:
        return self.secret_sha256 is None

    # --- Authlib's ClientMixin -------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES and (self.is_public or s not in PUBLIC_ONLY_SCOPES))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        if redirect_uri in self.redirect_uris:
            return True
        return self.is_public and any(_same_loopback(redirect_uri, uri) for uri in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_sha256 is None:
            return False
        digest = hashlib.sha256(client_secret.encode()).hexdigest()
        return hmac.compare_digest(digest, self.secret_sha256)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint != "token":
            return True
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == GRANTS[0] or (grant_type == GRANTS[1] and self.is_public)

    def may_serve(self, region: str) -> bool:
        return region in self.regions

    def check_post_logout_redirect_uri(self, uri: str) -> bool:
        return uri in self.post_logout_redirect_uris


def _same_loopback(requested: str, registered: str) -> bool:
    """A loopback redirect matches a registered one whatever its port (RFC 8252 §7.3).

    The requested URI is split as RFC 3986 says and must be ``http``, with no user info, the
    registered host exactly (``127.0.0.1`` or ``[::1]``, no other spelling of it), a port of
    digits or none, the registered path and query exactly, and no fragment. Anything a browser
    might read otherwise (``@``, ``\\``, ``%40``, spaces, other spellings of the address) fails.
    """
    if any(not "!" <= char <= "~" for char in requested):  # browsers drop tabs and newlines
        return False
    asked, known = _URI.match(requested), _URI.match(registered)
    if asked is None or known is None:  # never: the pattern matches every string
        return False
    scheme, authority, path, query, fragment = asked.groups()
    known_scheme, known_authority, known_path, known_query, _ = known.groups()
    if scheme != "http" or known_scheme != "http" or authority is None or known_authority is None:
        return False
    host, port = _host_and_port(authority)
    known_host, _ = _host_and_port(known_authority)
    return (
        host in _LOOPBACK  # user info ends up in the host or the port: refused either way
        and host == known_host
        and (port is None or (_PORT.fullmatch(port) is not None and 0 < int(port) < 65536))
        and path == known_path
        and query == known_query
        and fragment is None
    )


def _host_and_port(authority: str) -> tuple[str, str | None]:
    """Split ``host[:port]`` (an IPv6 literal keeps its brackets); the port as written, or None."""
    if authority.startswith("["):
        end = authority.find("]") + 1
        host, rest = (authority[:end], authority[end:]) if end else (authority, "")
        if rest and not rest.startswith(":"):
            return authority, None  # something after the literal: no host we know
        return host, rest[1:] if rest else None
    host, colon, port = authority.partition(":")
    return host, port if colon else None


def load_clients(config: Mapping[str, Mapping[str, Any]]) -> dict[str, PortalClient]:
    """Build the clients from ``OIDC_CLIENTS``; raise ConfigError naming the bad key."""
    clients = {}
    for client_id, values in config.items():
        where = f"OIDC_CLIENTS.{client_id}"
        redirect_uris = tuple(values.get("redirect_uris") or ())
        regions = frozenset(str(r) for r in values.get("regions") or ())
        if not redirect_uris:
            raise ConfigError(f"{where}.redirect_uris is empty; list the portal's exact callback URLs.")
        if not regions:
            raise ConfigError(f"{where}.regions is empty; list the region codes this portal serves.")
        if not values.get("login_url"):
            raise ConfigError(f"{where}.login_url is missing: the portal's ordinary login page.")
        secret = values.get("secret_sha256")
        if secret is not None and (len(secret) != 64 or any(c not in "0123456789abcdef" for c in secret)):
            raise ConfigError(f"{where}.secret_sha256 must be the 64 lowercase hex digits of SHA-256(secret).")
        name = values.get("name", client_id)
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise ConfigError(f"{where}.name must be the portal's display name (1 to 100 characters), as people know it.")
        clients[client_id] = PortalClient(
            client_id=client_id,
            name=name.strip(),
            redirect_uris=redirect_uris,
            regions=regions,
            login_url=str(values["login_url"]),
            post_logout_redirect_uris=tuple(values.get("post_logout_redirect_uris") or ()),
            secret_sha256=secret,
            support=_support(where, values),
            logo_url=_https_url(where, "logo_url", values.get("logo_url")),
            initiate_login_uri=_initiate_login_uri(where, values.get("initiate_login_uri"), redirect_uris),
        )
    return clients


def _support(where: str, values: Mapping[str, Any]) -> Support:
    """The portal's support contact from ``support_phone``, ``support_url``, ``support_email``."""
    phone, email = values.get("support_phone"), values.get("support_email")
    if phone is not None and (not isinstance(phone, str) or not _SUPPORT_PHONE.fullmatch(phone.strip())
                              or not 10 <= sum(c.isdigit() for c in phone) <= 15):  # fmt: skip
        raise ConfigError(f'{where}.support_phone must be a phone number of 10 to 15 digits, e.g. "8 800 100-00-00".')
    if email is not None and (not isinstance(email, str) or not _SUPPORT_EMAIL.fullmatch(email.strip())):
        raise ConfigError(f'{where}.support_email must be an e-mail address, e.g. "help@dnevnik.example".')
    return Support(
        phone=phone.strip() if phone else None,
        url=_https_url(where, "support_url", values.get("support_url")),
        email=email.strip() if email else None,
    )


def _initiate_login_uri(where: str, value: Any, redirect_uris: tuple[str, ...]) -> str | None:
    """The portal's third-party login initiation URI (OIDC Core §4), or None if not given.

    An absolute URL without user info or fragment, on the origin (scheme, host, port) of one of
    the portal's redirect URIs: the broker sends people there, so it is the portal's own address,
    https wherever the portal's redirect URIs are.
    """
    if value is None:
        return None
    target = _origin(value) if isinstance(value, str) else None
    if target is None or not any(target == _origin(uri) for uri in redirect_uris):
        raise ConfigError(
            f"{where}.initiate_login_uri must be an absolute URL without user info or fragment, "
            "on the origin (scheme, host and port) of one of the portal's redirect_uris."
        )
    return str(value)


def _origin(url: str) -> tuple[str, str, str] | None:
    """``(scheme, host, port)`` of an absolute http(s) URL as RFC 3986 splits it; None for anything else."""
    if any(not "!" <= char <= "~" for char in url):
        return None
    match = _URI.match(url)
    if match is None:
        return None
    scheme, authority, _, _, fragment = match.groups()
    if scheme not in ("http", "https") or not authority or "@" in authority or fragment is not None:
        return None
    host, port = _host_and_port(authority.lower())
    if not host or (port is not None and _PORT.fullmatch(port) is None):
        return None
    return scheme, host, port or ("443" if scheme == "https" else "80")


def _https_url(where: str, key: str, value: Any) -> str | None:
    """An absolute ``https`` URL (a link or an image on the people's pages), or None if not given."""
    if value is None:
        return None
    match = _URI.match(value) if isinstance(value, str) else None
    if (
        match is None
        or match.group(1) != "https"
        or not match.group(2)
        or "@" in match.group(2)
        or any(not "!" <= char <= "~" for char in value)
    ):
        raise ConfigError(f"{where}.{key} must be an absolute https:// URL without spaces or user info.")
    return str(value)
