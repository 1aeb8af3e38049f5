"""ESIA's error codes, their OAuth ``error`` values and texts, and the mock's exceptions.

Texts are ESIA's where a source shows them (docs/esia.md), including the backtick ESIA uses as
an apostrophe in "doesn`t" and the enum names some codes carry instead of prose.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One ESIA error: the ``ESIA-0070xx`` code, the OAuth ``error`` and the description text."""

    code: str
    error: str
    text: str


_CODES = [
    ErrorCode("ESIA-007002", "unauthorized_client", "The information system is unknown or has no certificate registered."),
    ErrorCode(
        "ESIA-007003",
        "invalid_request",
        "The request contains an invalid parameter value or a parameter more than once",
    ),
    ErrorCode("ESIA-007004", "access_denied", "The resource owner or authorization server denied the request."),
    ErrorCode(
        "ESIA-007005",
        "unauthorized_client",
        "The client is not authorized to request an access token using this method.",
    ),
    ErrorCode("ESIA-007006", "invalid_scope", "The requested scope is invalid, unknown, or malformed."),
    ErrorCode(
        "ESIA-007007",
        "server_error",
        "The authorization server encountered an unexpected condition that prevented it from fulfilling the request.",
    ),
    ErrorCode(
        "ESIA-007008",
        "temporarily_unavailable",
        "The authorization server is currently unable to handle the request due to a temporary overloading or maintenance of the server.",
    ),
    ErrorCode(
        "ESIA-007009",
        "unsupported_grant_type",
        "The authorization grant type is not supported by the authorization server.",
    ),
    ErrorCode(
        "ESIA-007011",
        "invalid_grant",
        "The provided authorization grant or refresh token is invalid, expired, revoked, does not match "
        "the redirection URI used in the authorization request, or was issued to another client.",
    ),
    ErrorCode(
        "ESIA-007012",
        "unsupported_response_type",
        "The authorization server does not support obtaining an authorization code using this method.",
    ),
    ErrorCode("ESIA-007014", "invalid_request", "The request doesn`t contain the mandatory parameter"),
    ErrorCode("ESIA-007015", "invalid_request", "The request time is wrong (timestamp is out of the allowed window)."),
    ErrorCode("ESIA-007019", "invalid_scope", "OAuthErrorEnum.noGrants"),
    ErrorCode("ESIA-007023", "invalid_request", "The redirect_uri is not allowed for the information system."),
    ErrorCode("ESIA-007039", "invalid_request", "The initial authorization request had no code_challenge."),
    ErrorCode("ESIA-007040", "invalid_grant", "The code_verifier does not match the code_challenge."),
    ErrorCode("ESIA-007053", "access_denied", "OAuthErrorEnum.clientSecretWrong"),
    ErrorCode(
        "ESIA-007055",
        "access_denied",
        "Вход в систему осуществляется с неподтвержденной учетной записью",
    ),
    ErrorCode("ESIA-007062", "access_denied", "The user type does not match the person_filter of the request."),
]

#: Every ESIA error code the mock produces, by code.
CODES: dict[str, ErrorCode] = {item.code: item for item in _CODES}


class EsiaError(Exception):
    """A request that ESIA refuses, with the code and text ESIA answers with.

    ``missing`` names the parameters behind ESIA-007014, ``detail`` replaces the standard text.
    """

    def __init__(self, code: str, *, missing: Iterable[str] = (), detail: str | None = None):
        self.entry = CODES[code]
        self.missing = tuple(missing)
        self.detail = detail
        super().__init__(self.description)

    @property
    def code(self) -> str:
        return self.entry.code

    @property
    def error(self) -> str:
        return self.entry.error

    @property
    def description(self) -> str:
        if self.missing:
            # ESIA-007014: The request doesn`t contain the mandatory parameter [state, client_id].
            return f"{self.code}: {self.entry.text} [{', '.join(self.missing)}]."
        return f"{self.code}: {self.detail or self.entry.text}"


class ConfigError(ValueError):
    """The mock's configuration or persons file is unusable; the message says how to fix it."""
