"""The provider error family: every upstream failure has a stable code."""

from __future__ import annotations


class ProviderError(Exception):
    """Base of all upstream failures."""

    code = "provider_error"
    description = "The identity provider failed."


class InvalidUpstreamResponseError(ProviderError):
    """The provider answered, but what it sent is unusable; ``field`` names the culprit."""

    code = "invalid_upstream_response"
    description = "The identity provider's response is not usable."

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why
