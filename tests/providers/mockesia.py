"""The mock ESIA for the provider's flow tests: its registered client systems, started behind ``responses``, and a browser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

import mock_esia
from tests.routing import route

from .factory import SCOPES
from .upstream import BASE_URL, DATA, REDIRECT_URI

if TYPE_CHECKING:
    from pathlib import Path

    import responses

#: Client systems registered with the mock: flow and the algorithm ESIA signs their tokens with.
MOCK_CLIENTS = {
    "LEGACY01": ("legacy", "RS256"),
    "DIARY02": ("current", "GOST3410_2012_256"),
    "DIARY03": ("current", "RS256"),
}


@dataclass
class MockEsia:
    """The mock ESIA behind ``responses``, and a browser to click through its login page."""

    app: Any
    data_dir: Path
    browser: requests.Session

    @property
    def certificate_files(self) -> tuple[str, ...]:
        """ESIA's token-signing certificates as the mock writes them (RSA and GOST, PEM)."""
        return (str(self.data_dir / "esia-rsa.cer"), str(self.data_dir / "esia-gost.cer"))

    def log_in(self, url: str, login: str, password: str = "test1234") -> dict[str, str]:
        """Follow the authorization URL to the login form, log in, return the callback's query."""
        page = self.browser.get(url, allow_redirects=False)
        assert page.status_code == 302, page.text[:500]
        form_url = urljoin(url, page.headers["Location"])
        assert urlsplit(form_url).path == "/login"
        answer = self.browser.post(form_url, data={"login": login, "password": password}, allow_redirects=False)
        assert answer.status_code == 302, answer.text[:500]
        callback = urlsplit(answer.headers["Location"])
        assert f"{callback.scheme}://{callback.netloc}{callback.path}" == REDIRECT_URI
        return {name: values[0] for name, values in parse_qs(callback.query).items()}


def start_mock_esia(routes: responses.RequestsMock, data_dir: Path, rsa_certificate: Path, **overrides: Any) -> MockEsia:
    """Start the mock with ``MOCK_CLIENTS`` registered and route ESIA's address to it alone.

    ``rsa_certificate`` is the legacy clients' certificate (the current ones use the GOST one in
    ``DATA``); ``overrides`` go to the mock's config.
    """
    app = mock_esia.create_app(mock_config(data_dir, rsa_certificate, **overrides))
    routes.reset()
    route(routes, BASE_URL, app)
    return MockEsia(app, data_dir, requests.Session())


def mock_config(data_dir: Path, rsa_certificate: Path, **overrides: Any) -> dict[str, Any]:
    """The mock's config with ``MOCK_CLIENTS`` registered (see :func:`start_mock_esia`)."""
    certificates = {
        "legacy": [rsa_certificate.read_text()],
        "current": [(DATA / "client-gost.cer").read_text()],
    }
    config: dict[str, Any] = {
        "TESTING": True,
        "DATA_DIR": str(data_dir),
        "CLIENTS": {
            client_id: {
                "certificates": certificates[flow],
                "redirect_uris": [REDIRECT_URI],
                "scopes": list(SCOPES),
                "jwt_alg": alg,
            }
            for client_id, (flow, alg) in MOCK_CLIENTS.items()
        },
    }
    config.update(overrides)
    return config
