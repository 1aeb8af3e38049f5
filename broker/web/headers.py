"""Security headers on every answer: no framing, no sniffing, no referrer, no caching, HTTPS only.

Every page of the broker shows or carries something of one person (a name and birth date on the
confirmation page, a login code or state in the URL, a staff member's view of the registry), so
every answer gets the same protection; a view that sets one of these headers itself keeps its own.

* ``Content-Security-Policy``: nothing but the page's own stylesheets (``<style nonce>``, the
  nonce drawn once per request by ``csp_nonce()`` in the templates) and images from the broker;
  no script at all; ``frame-ancestors 'none'`` (with ``X-Frame-Options: DENY`` for old browsers)
  so that no site can frame the confirmation page and click through it. There is no
  ``form-action``: the confirmation's answer is a redirect to the portal, which it would block.
* ``Referrer-Policy: no-referrer``: ESIA's code and state, and the portals' state, are in URLs.
* ``Cache-Control: no-store``: neither a shared proxy nor the browser's history keeps a page
  (OIDC Core §3.1.3.3 asks it of the token and userinfo answers).
* ``Strict-Transport-Security`` only when ``COOKIE_SECURE``: then the broker is HTTPS only.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from flask import current_app, request

if TYPE_CHECKING:
    from flask import Flask, Response

_NONCE = "broker.csp_nonce"
STATIC = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def init_app(app: Flask) -> None:
    """Add the headers to every answer of ``app`` and give the templates ``csp_nonce()``."""
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(add_headers)


def csp_nonce() -> str:
    """This request's nonce for ``<style nonce="...">`` (the same for every block of one page).

    Kept in the request's environ, not in ``g``: an app context may outlive one request.
    """
    return str(request.environ.setdefault(_NONCE, secrets.token_urlsafe(16)))


def content_security_policy(nonce: str | None, image_origin: str | None = None) -> str:
    """The policy of an answer whose page used ``nonce`` (None: the page has no stylesheet);
    ``image_origin`` (``scheme://host[:port]``) may serve images besides the broker itself."""
    style = f"'nonce-{nonce}'" if nonce else "'none'"
    images = f"'self' {image_origin}" if image_origin else "'self'"
    return f"default-src 'none'; style-src {style}; img-src {images}; frame-ancestors 'none'; base-uri 'none'"


def add_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy(request.environ.get(_NONCE)))
    for name, value in STATIC.items():
        headers.setdefault(name, value)
    config = current_app.config
    if config["COOKIE_SECURE"]:
        headers.setdefault("Strict-Transport-Security", f"max-age={int(config['HSTS_SECONDS'])}")
    return response
