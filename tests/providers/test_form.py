"""The client's form and query text is exactly what ``urlencode`` makes, though it quotes only what needs it."""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import urlencode

import pytest

from providers.transport import form_of


@pytest.mark.parametrize(
    "fields",
    [
        {"client_id": "DIARY01", "state": str(uuid.uuid4()), "nonce": secrets.token_urlsafe(32)},
        {"timestamp": "2025.09.02 13:00:29 +0000", "scope": "openid fullname", "redirect_uri": "https://diary.test/cb?a=1&b=2"},
        {"embed": "(documents.elements,contacts.elements)", "empty": "", "x~y": "a.b-c_d~e"},
        {"name": "Соколова", "slash/and%": "+=&;#", "unicode key ё": "\u00a0"},
    ],
)
def test_the_form_text_is_urlencode_s(fields: dict[str, str]) -> None:
    assert form_of(fields) == urlencode(fields)
