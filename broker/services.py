"""The collaborators each app uses, built whole once in ``create_app`` (svcs' idea, by hand).

This module holds the ``Services`` record and ``current()`` only. ``broker.wiring`` builds the
record; the wings read it through ``current()``. The collaborators' types are imported for
annotations only, so that a wing importing this module imports no other wing through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector

    import matching
    from broker.clock import Clock
    from broker.keyring import Keyring
    from broker.login.pending import PendingLogins
    from broker.oidc.clients import PortalClient
    from broker.oidc.keys import SigningKeys
    from broker.regions.policies import RegionCache
    from providers import Provider


@dataclass(slots=True)
class Services:
    """Every collaborator, complete: an absent one is a null object that says what to configure."""

    clock: Clock
    registry: matching.Registry
    snils_key: bytes
    keyring: Keyring
    clients: dict[str, PortalClient]  # one dict, shared with the authorization server (query_client)
    #: No keys on an instance without portals: the JWKS is empty and signing raises ConfigError.
    signing_keys: SigningKeys
    #: ESIA, or on a staff-only instance a stand-in that raises ConfigError when used.
    esia: Provider
    oidc: AuthorizationServer
    resource_protector: ResourceProtector
    region_cache: RegionCache
    #: Where pending logins are kept: the database, or Redis when REDIS_URL is set (docs/adr/0022).
    pending_logins: PendingLogins


def current() -> Services:
    """The services of the current app."""
    return current_app.extensions["broker"]
