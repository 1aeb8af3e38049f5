"""Building the ESIA client under test: an ``EsiaProvider`` with the test keys, clock and ESIA endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from providers import EsiaConfig, EsiaProvider

from .upstream import BASE_URL, CLIENT_ID, ISSUER, REDIRECT_URI

if TYPE_CHECKING:
    from providers import Signer
    from tests.clock import FakeClock

    from .upstream import EsiaKeys

#: The scopes our client system asks for (and the mock ESIA grants it).
SCOPES = ("openid", "fullname", "birthdate", "gender", "snils", "id_doc", "email", "mobile")


@dataclass
class ProviderFactory:
    """``make_provider(**overrides)``: a provider whose config takes ``overrides`` (``flow="legacy"`` signs with RSA)."""

    esia_keys: EsiaKeys
    rsa_signer: Signer
    gost_signer: Signer
    clock: FakeClock

    def config(self, **overrides: Any) -> EsiaConfig:
        flow = overrides.get("flow", "current")
        values: dict[str, Any] = {
            "base_url": BASE_URL,
            "client_id": CLIENT_ID,
            "signer": self.gost_signer if flow == "current" else self.rsa_signer,
            "redirect_uri": REDIRECT_URI,
            "issuer": ISSUER,
            "certificate_files": self.esia_keys.certificate_files,
            "scopes": SCOPES,
        }
        values.update(overrides)
        return EsiaConfig(**values)

    def __call__(self, **overrides: Any) -> EsiaProvider:
        """Sending through ``requests``, which the tests' ``responses`` routes."""
        return EsiaProvider(self.config(**overrides), requests.Session(), clock=self.clock)

    def lean(self, **overrides: Any) -> EsiaProvider:
        """Sending as in production (``http.client``): to a live server only."""
        return EsiaProvider(self.config(**overrides), clock=self.clock)
