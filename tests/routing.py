"""HTTP between our apps without sockets: ``responses`` hands a host's requests to a Flask test client.

Every hop keeps real HTTP semantics (status, headers, redirects, form posts). The caller's
``requests.Session`` keeps the cookies, per host, as a browser does.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import responses

if TYPE_CHECKING:
    from collections.abc import Callable

    import requests
    from flask import Flask

    Forward = Callable[[requests.PreparedRequest], tuple[int, list[tuple[str, str]], bytes]]


def make_forwarder(app: Flask) -> Forward:
    """A ``responses`` callback that answers each request with ``app``."""
    client = app.test_client(use_cookies=False)  # the browser (requests) keeps the cookies

    def forward(request: requests.PreparedRequest) -> tuple[int, list[tuple[str, str]], bytes]:
        url = urlsplit(str(request.url))
        answer = client.open(
            url.path,
            base_url=f"{url.scheme}://{url.hostname}",
            method=str(request.method),
            query_string=url.query,
            headers=dict(request.headers),
            data=request.body,
        )
        # A list, not a dict: a response may set several cookies.
        headers = [(k, v) for k, v in answer.headers.items() if k.lower() != "content-length"]
        return answer.status_code, headers, answer.get_data()

    return forward


def route(routes: responses.RequestsMock, host: str, app: Flask) -> None:
    """Send GET and POST for ``host`` (``https://name``) to ``app``, with or without an explicit :443.

    ESIA writes element URLs with the port (``https://esia.test:443/rs/…``).
    """
    pattern = re.compile(re.escape(host) + r"(:443)?/.*")
    forward = make_forwarder(app)
    for method in (responses.GET, responses.POST):
        # responses takes a list of header pairs (it checks for one), though it annotates a Mapping.
        routes.add_callback(method, pattern, callback=forward)  # type: ignore[arg-type]
