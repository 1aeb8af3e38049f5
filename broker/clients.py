"""The diary portals (and the diary's mobile app) registered as OIDC clients of the broker.

Each comes from config (``OIDC_CLIENTS``), with exact redirect URIs and the regions it serves.
A confidential client is registered with the SHA-256 of its secret (``secret_sha256``), never
the secret itself; a client without one is public (the mobile app) and must use PKCE.
Native apps may use loopback redirects on any port (RFC 8252 §7.3).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from broker.errors import ConfigError

SCOPES = ("openid", "profile", "email", "phone")
_LOOPBACK = {"127.0.0.1", "[::1]", "::1"}


@dataclass(frozen=True, slots=True)
class PortalClient:
    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    regions: frozenset[str]
    login_url: str  # the portal's ordinary login by login and password
    post_logout_redirect_uris: tuple[str, ...] = ()
    secret_sha256: str | None = None

    @property
    def is_public(self) -> bool:
        return self.secret_sha256 is None

    # --- Authlib's ClientMixin -------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

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
        return grant_type == "authorization_code"

    def may_serve(self, region: str) -> bool:
        return region in self.regions

    def check_post_logout_redirect_uri(self, uri: str) -> bool:
        return uri in self.post_logout_redirect_uris


def _same_loopback(requested: str, registered: str) -> bool:
    """A loopback redirect matches on scheme, host and path, whatever the port (RFC 8252)."""
    a, b = urlsplit(requested), urlsplit(registered)
    return (
        a.scheme == b.scheme == "http"
        and a.hostname is not None
        and a.netloc.rsplit(":", 1)[0] in _LOOPBACK
        and a.netloc.rsplit(":", 1)[0] == b.netloc.rsplit(":", 1)[0]
        and a.path == b.path
        and not a.query
        and not a.fragment
    )


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
        clients[client_id] = PortalClient(
            client_id=client_id,
            name=str(values.get("name") or client_id),
            redirect_uris=redirect_uris,
            regions=regions,
            login_url=str(values["login_url"]),
            post_logout_redirect_uris=tuple(values.get("post_logout_redirect_uris") or ()),
            secret_sha256=secret,
        )
    return clients
