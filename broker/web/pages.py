"""The broker's HTML problem pages: one renderer, one template family (``alert.html``).

Every page that tells a person something went wrong goes through here: an error (``error.html``:
a title, a message and a code), a refusal of a login (``refusal.html``: the reason's texts from
``matching.REFUSALS`` and the attempt's reference code) and too many requests
(``too_many.html``). Each returns a Flask answer tuple ``(html, status, headers)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, render_template

import matching
from broker.web import statuses

if TYPE_CHECKING:
    from collections.abc import Mapping

Page = tuple[str, int, dict[str, str]]


def retry_after() -> dict[str, str]:
    """``Retry-After`` for an answer meaning "try again later"."""
    return {"Retry-After": str(int(current_app.config["RETRY_AFTER_SECONDS"]))}


def render_error(title: str, message: str, code: str | None, status: int, headers: Mapping[str, str] | None = None) -> Page:
    """An error page: what happened (``title``), what to do (``message``) and the error's code."""
    return render_template("error.html", title=title, message=message, code=code), status, dict(headers or {})


def render_refusal(reason: matching.Reason, reference: str, login_url: str | None) -> Page:
    """The refusal page for ``reason``, with the HTTP status it means (``broker.web.statuses``).

    ``login_url``: the portal's password login, offered instead (None: no portal to go back to).
    """
    status = statuses.status_of(reason)
    page = render_template("refusal.html", refusal=matching.REFUSALS[reason], reference=reference, login_url=login_url)
    return page, status, retry_after() if status in statuses.RETRY_LATER else {}


def render_too_many(*, per_portal: bool, wait: str, from_portal: bool, code: str, headers: Mapping[str, str]) -> Page:
    """429: too many requests from this address (or through this portal); try again ``wait``."""
    page = render_template("too_many.html", per_portal=per_portal, wait=wait, from_portal=from_portal, code=code)
    return page, 429, dict(headers)
