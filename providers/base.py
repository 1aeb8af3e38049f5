"""The ``Provider`` port and the provider error family: every failure has a stable code and a reason.

``code`` and ``description`` are class attributes (Authlib's style), stable across releases, so
logs, metrics and support tools can key on them. ``reason`` is the public refusal vocabulary
(:class:`matching.Reason`) the broker shows: ``esia_denied`` when the person declined at ESIA,
``esia_unavailable`` when ESIA is slow, down or answers with an error page, and ``esia_error``
for everything that fails validation. The broker maps any :class:`ProviderError` by ``reason``
without knowing the subclasses.

Messages never carry tokens, codes, SNILS, names or other personal data (docs/architecture.md, 'Data').
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from matching import Reason

if TYPE_CHECKING:
    from matching import Person
    from providers.esia import AuthorizationRequest, EsiaContacts, EsiaTokens


class Provider(Protocol):
    """An upstream identity provider as the broker drives it, one login at a time.

    ``EsiaProvider`` is the adapter; broker tests may implement this with a hand-written fake.
    Every method raises only :class:`ProviderError` subclasses.
    """

    def authorize(self) -> AuthorizationRequest: ...

    def parse_callback(self, args: Mapping[str, str], request: AuthorizationRequest) -> str: ...

    def exchange_code(self, code: str, request: AuthorizationRequest) -> EsiaTokens: ...

    def fetch_person(self, tokens: EsiaTokens) -> Person: ...

    def fetch_contacts(self, tokens: EsiaTokens) -> EsiaContacts: ...

    def fetch_profile(self, tokens: EsiaTokens) -> tuple[Person, EsiaContacts]: ...

    def logout_url(self, redirect_url: str) -> str: ...


class ProviderError(Exception):
    """Base of all upstream failures."""

    code = "provider_error"
    description = "The identity provider failed."
    reason = Reason.ESIA_ERROR
    #: ESIA's own error code (``ESIA-007011``) when ESIA named one.
    esia_code: str | None = None


class ProviderConfigError(ProviderError):
    """The provider's configuration is unusable (a key, certificate or setting); fix it and restart."""

    code = "provider_config"
    description = "The identity provider client is misconfigured."


class InvalidUpstreamResponseError(ProviderError):
    """The provider answered, but what it sent is unusable; ``field`` names the culprit."""

    code = "invalid_upstream_response"
    description = "The identity provider's response is not usable."

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


class ResponseTooLargeError(InvalidUpstreamResponseError):
    """ESIA's answer is longer than the configured cap: it is not read to its end, and refused."""

    code = "upstream_response_too_large"
    description = "The identity provider's response is larger than the broker accepts."

    def __init__(self, what: str, limit: int) -> None:
        super().__init__("(body)", f"the answer to {what} is longer than {limit} bytes")
        self.limit = limit


class UpstreamUnavailableError(ProviderError):
    """ESIA did not answer in time, could not be reached, or answered with a server error page."""

    code = "upstream_unavailable"
    description = "The identity provider is unavailable; try again later."
    reason = Reason.ESIA_UNAVAILABLE

    def __init__(self, message: str, *, status: int | None = None, esia_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.esia_code = esia_code


class UpstreamRefusedError(ProviderError):
    """ESIA refused a request with an error of its own (an ESIA-0070xx code, a 4xx answer)."""

    code = "upstream_refused"
    description = "The identity provider refused the request."

    def __init__(self, message: str, *, esia_code: str | None = None, error: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.esia_code = esia_code
        #: The OAuth ``error`` value (``invalid_grant``), when ESIA sent one.
        self.error = error
        self.status = status


class ConsentDeclinedError(UpstreamRefusedError):
    """The person declined to share their data with us at ESIA (``access_denied``, ESIA-007004)."""

    code = "consent_declined"
    description = "The person declined the request at the identity provider."
    reason = Reason.ESIA_DENIED


class StateMismatchError(ProviderError):
    """A ``state`` that ESIA sent back is missing or is not the one we sent."""

    code = "state_mismatch"
    description = "The state returned by the identity provider does not match the request."


class SignatureError(ProviderError):
    """A token's signature is absent, of a refused kind, or made by no configured ESIA certificate."""

    code = "invalid_signature"
    description = "A token is not signed by the identity provider."


class TokenClaimsError(ProviderError):
    """A validly signed token says something we must not accept; ``claim`` names which claim."""

    code = "invalid_token_claims"
    description = "A token's claims are not acceptable."

    def __init__(self, claim: str, why: str) -> None:
        super().__init__(f"{claim}: {why}")
        self.claim = claim
        self.why = why
