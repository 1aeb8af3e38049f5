"""How the tests register their client systems with the mock, and where they reach it."""

from __future__ import annotations

#: The in-process mock's base URL (requests go through a Flask test client, not the network).
BASE_URL = "http://esia.test"
CLIENT_ID = "DIARY01"
REDIRECT_URI = "http://diary.test/auth/esia/callback"
#: A second system, whose tokens ESIA signs with GOST.
GOST_CLIENT_ID = "DIARY02"
GOST_REDIRECT_URI = "http://gost-diary.test/esia/callback"
#: What DIARY01's application was granted; ``inn`` and ``vehicles`` are known but not granted.
GRANTED_SCOPES = (
    "openid fullname birthdate birthplace gender snils id_doc birth_cert_doc email mobile contacts "
    "addresses kid_fullname kid_birthdate kid_gender kid_snils"
)
#: What DIARY02 was granted.
PERSON_SCOPES = "openid fullname birthdate gender snils id_doc"
