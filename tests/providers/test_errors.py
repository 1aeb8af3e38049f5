"""The provider error family: stable codes, and the public reason the broker shows for each."""

from __future__ import annotations

import pytest

import providers
from matching import REFUSALS, Reason
from providers import (
    ConsentDeclinedError,
    InvalidUpstreamResponseError,
    ProviderConfigError,
    ProviderError,
    ResponseTooLargeError,
    SignatureError,
    StateMismatchError,
    TokenClaimsError,
    UpstreamRefusedError,
    UpstreamUnavailableError,
)

FAMILY = {
    ProviderError: ("provider_error", Reason.ESIA_ERROR),
    ProviderConfigError: ("provider_config", Reason.ESIA_ERROR),
    InvalidUpstreamResponseError: ("invalid_upstream_response", Reason.ESIA_ERROR),
    ResponseTooLargeError: ("upstream_response_too_large", Reason.ESIA_ERROR),
    UpstreamUnavailableError: ("upstream_unavailable", Reason.ESIA_UNAVAILABLE),
    UpstreamRefusedError: ("upstream_refused", Reason.ESIA_ERROR),
    ConsentDeclinedError: ("consent_declined", Reason.ESIA_DENIED),
    StateMismatchError: ("state_mismatch", Reason.ESIA_ERROR),
    SignatureError: ("invalid_signature", Reason.ESIA_ERROR),
    TokenClaimsError: ("invalid_token_claims", Reason.ESIA_ERROR),
}


@pytest.mark.parametrize(("error", "expected"), FAMILY.items(), ids=[error.__name__ for error in FAMILY])
def test_each_error_has_a_stable_code_description_and_reason(error: type[ProviderError], expected: tuple[str, Reason]) -> None:
    assert (error.code, error.reason) == expected
    assert issubclass(error, ProviderError) and error.description.endswith(".")
    assert error.reason in REFUSALS  # the broker has a message for it


def test_the_package_exports_every_error_and_no_code_repeats() -> None:
    exported = {getattr(providers, name) for name in providers.__all__}
    errors = {item for item in exported if isinstance(item, type) and issubclass(item, ProviderError)}
    assert errors == set(FAMILY)
    assert len({error.code for error in errors}) == len(errors)


def test_errors_carry_what_the_broker_and_support_need() -> None:
    refused = UpstreamRefusedError("ESIA refused the token request: ESIA-007011", esia_code="ESIA-007011",
                                   error="invalid_grant", status=400)  # fmt: skip
    assert (refused.esia_code, refused.error, refused.status) == ("ESIA-007011", "invalid_grant", 400)
    claims = TokenClaimsError("iss", "not the configured issuer")
    assert (claims.claim, claims.why, str(claims)) == (
        "iss",
        "not the configured issuer",
        "iss: not the configured issuer",
    )
    assert ConsentDeclinedError("declined", esia_code="ESIA-007004").reason is Reason.ESIA_DENIED
    assert isinstance(ConsentDeclinedError("declined"), UpstreamRefusedError)
    assert UpstreamUnavailableError("down", status=503).status == 503
    assert ProviderError("x").esia_code is None
