"""How ESIA answers: redirects back to the client, JSON bodies and its own error pages."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Response, redirect, render_template

from mock_esia.errors import EsiaError

if TYPE_CHECKING:
    import werkzeug

_NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, proxy-revalidate, max-age=0", "Pragma": "no-cache"}


def redirect_back(redirect_uri: str, params: Sequence[tuple[str, str]]) -> werkzeug.Response:
    """302 to the client's ``redirect_uri`` with ``params`` added to its query."""
    separator = "&" if "?" in redirect_uri else "?"
    return redirect(f"{redirect_uri}{separator}{urlencode(params)}", code=302)


def error_redirect(redirect_uri: str, error: EsiaError, state: str | None) -> werkzeug.Response:
    """``redirect_uri?error=…&error_description=ESIA-0070xx: …&state=…`` (docs/esia.md)."""
    params = [("error", error.error), ("error_description", error.description)]
    if state:
        params.append(("state", state))
    return redirect_back(redirect_uri, params)


def error_page(error: EsiaError, status: int = 400) -> Response:
    """ESIA's own page for an error that cannot go back to the client."""
    return Response(render_template("error.html", error=error), status=status, mimetype="text/html")


def json_answer(body: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status=status, mimetype="application/json")
    response.headers.update(_NO_STORE)
    if headers:
        response.headers.update(headers)
    return response


def token_error(error: EsiaError, state: str | None) -> Response:
    """The token endpoint's 400: ``{"error", "error_description", "state"}``."""
    body = {"error": error.error, "error_description": error.description}
    if state:
        body["state"] = state
    return json_answer(body, status=400)
