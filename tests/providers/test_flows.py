"""Complete logins against the mock ESIA, in both flows, with RSA- and GOST-signed tokens.

The mock (``mock_esia``) is an independent ESIA look-alike: it checks our CMS and raw GOST
signatures, PKCE, timestamps and states for real, and signs its tokens with its own keys.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from matching import Reason, Tier
from providers import (
    ConsentDeclinedError,
    EsiaContacts,
    EsiaProvider,
    EsiaTokens,
    InvalidUpstreamResponseError,
    ProviderError,
    SignatureError,
    StateMismatchError,
    TokenClaimsError,
    UpstreamRefusedError,
    UpstreamUnavailableError,
)
from tests.clock import FakeClock

from .factory import ProviderFactory
from .mockesia import MOCK_CLIENTS, MockEsia
from .upstream import REDIRECT_URI

pytestmark = pytest.mark.flow


def provider_for(esia: MockEsia, make_provider: ProviderFactory, client_id: str, **overrides: object) -> EsiaProvider:
    flow = MOCK_CLIENTS[client_id][0]
    return make_provider(client_id=client_id, flow=flow, certificate_files=esia.certificate_files, **overrides)


def log_in(esia: MockEsia, provider: EsiaProvider, login: str) -> EsiaTokens:
    request = provider.authorize()
    code = provider.parse_callback(esia.log_in(request.url, login), request)
    return provider.exchange_code(code, request)


@pytest.mark.parametrize("client_id", list(MOCK_CLIENTS))
def test_a_confirmed_adult_logs_in(esia: MockEsia, make_provider: ProviderFactory, client_id: str) -> None:
    provider = provider_for(esia, make_provider, client_id)
    tokens = log_in(esia, provider, "adult-verified")
    person = provider.fetch_person(tokens)
    contacts = provider.fetch_contacts(tokens)
    assert (tokens.oid, tokens.amr, tokens.id_claims["urn:esia:sbj"]["urn:esia:sbj:lvl"]) == (
        "1000300005",
        ("PWD",),
        "PR",
    )
    assert (person.oid, person.tier, person.last_name, person.first_name, person.middle_name) == (
        "1000300005", Tier.VERIFIED, "Петров", "Иван", "Николаевич",
    )  # fmt: skip
    assert (person.birth_date, person.snils) == (date(1985, 7, 14), "156-789-014 13")
    assert contacts == EsiaContacts(email="ivan.petrov@example.org", mobile="+7(900)0000051")


@pytest.mark.parametrize("client_id", list(MOCK_CLIENTS))
def test_a_profile_is_the_person_and_contacts_in_one_call(esia: MockEsia, make_provider: ProviderFactory, client_id: str) -> None:
    provider = provider_for(esia, make_provider, client_id)
    tokens = log_in(esia, provider, "adult-verified")
    assert provider.fetch_profile(tokens) == (provider.fetch_person(tokens), provider.fetch_contacts(tokens))


@pytest.mark.parametrize(
    ("login", "tier"),
    [
        ("kid", Tier.SIMPLIFIED),  # child account, birth certificate not verified
        ("teen-simple", Tier.SIMPLIFIED),  # SNILS, passport not verified
        ("teen-standard", Tier.STANDARD),  # SNILS and a verified passport
        ("adult-standard", Tier.STANDARD),
        ("adult-simple", Tier.SIMPLIFIED),
        ("teen-verified", Tier.VERIFIED),
    ],
)
def test_the_tier_follows_the_rule(esia: MockEsia, make_provider: ProviderFactory, login: str, tier: Tier) -> None:
    provider = provider_for(esia, make_provider, "LEGACY01")
    assert provider.fetch_person(log_in(esia, provider, login)).tier is tier


def test_a_person_without_birth_date_or_snils_maps_to_unknowns(esia: MockEsia, make_provider: ProviderFactory) -> None:
    provider = provider_for(esia, make_provider, "LEGACY01")
    person = provider.fetch_person(log_in(esia, provider, "no-birthdate"))
    assert (person.tier, person.birth_date, person.snils) == (Tier.SIMPLIFIED, None, None)


def test_contacts_keep_only_verified_ones(esia: MockEsia, make_provider: ProviderFactory) -> None:
    provider = provider_for(esia, make_provider, "LEGACY01")
    contacts = provider.fetch_contacts(log_in(esia, provider, "teen-simple"))  # e-mail not verified
    assert contacts == EsiaContacts(email=None, mobile="+7(900)0000031")


@pytest.mark.parametrize("client_id", ["LEGACY01", "DIARY02"])
def test_a_person_who_declines_consent_is_esia_denied(esia: MockEsia, make_provider: ProviderFactory, client_id: str) -> None:
    provider = provider_for(esia, make_provider, client_id)
    request = provider.authorize()
    with pytest.raises(ConsentDeclinedError) as info:
        provider.parse_callback(esia.log_in(request.url, "decline"), request)
    assert (info.value.reason, info.value.esia_code) == (Reason.ESIA_DENIED, "ESIA-007004")


def test_confirmed_accounts_only_refuses_an_unconfirmed_one_at_esia(esia: MockEsia, make_provider: ProviderFactory) -> None:
    provider = provider_for(esia, make_provider, "DIARY03", person_filter="conf_acc")
    request = provider.authorize()
    with pytest.raises(UpstreamRefusedError) as info:
        provider.parse_callback(esia.log_in(request.url, "adult-standard"), request)
    assert (info.value.esia_code, info.value.reason) == ("ESIA-007055", Reason.ESIA_ERROR)
    assert log_in(esia, provider, "adult-verified").oid == "1000300005"


def test_a_replayed_code_is_refused_by_esia(esia: MockEsia, make_provider: ProviderFactory) -> None:
    provider = provider_for(esia, make_provider, "DIARY03")
    request = provider.authorize()
    code = provider.parse_callback(esia.log_in(request.url, "adult-verified"), request)
    provider.exchange_code(code, request)
    with pytest.raises(UpstreamRefusedError) as info:
        provider.exchange_code(code, request)
    assert info.value.esia_code == "ESIA-007011"


def test_a_code_injected_into_another_login_fails_pkce(esia: MockEsia, make_provider: ProviderFactory) -> None:
    provider = provider_for(esia, make_provider, "DIARY03")
    victim = provider.authorize()
    attacker = provider.authorize()
    code = provider.parse_callback(esia.log_in(attacker.url, "adult-verified"), attacker)
    with pytest.raises(UpstreamRefusedError) as info:
        provider.exchange_code(code, victim)
    assert info.value.esia_code == "ESIA-007040"


def test_a_callback_for_another_login_is_refused(esia: MockEsia, make_provider: ProviderFactory) -> None:
    provider = provider_for(esia, make_provider, "LEGACY01")
    mine, theirs = provider.authorize(), provider.authorize()
    with pytest.raises(StateMismatchError):
        provider.parse_callback(esia.log_in(theirs.url, "adult-verified"), mine)


def test_an_expired_access_token_is_refused_by_the_person_api(
    make_esia: Callable[..., MockEsia], make_provider: ProviderFactory, clock: FakeClock
) -> None:
    esia = make_esia(CLOCK=clock)
    provider = provider_for(esia, make_provider, "DIARY03")
    tokens = log_in(esia, provider, "adult-verified")
    clock.advance(3601)
    with pytest.raises(UpstreamRefusedError) as info:
        provider.fetch_person(tokens)
    assert info.value.status == 401


@pytest.mark.parametrize(
    ("client_id", "fault", "error", "detail"),
    [
        ("DIARY03", "status=503", UpstreamUnavailableError, None),
        ("DIARY03", "html", UpstreamUnavailableError, None),
        ("DIARY03", "malformed_json", InvalidUpstreamResponseError, None),
        ("DIARY03", "wrong_state", StateMismatchError, None),
        ("DIARY03", "wrong_iss", TokenClaimsError, "iss"),
        ("DIARY02", "wrong_iss", TokenClaimsError, "iss"),
        ("DIARY03", "wrong_aud", TokenClaimsError, "client_id"),
        ("DIARY03", "expired", TokenClaimsError, "exp"),
        ("DIARY03", "oid_mismatch", TokenClaimsError, "sub"),
        ("DIARY03", "wrong_nonce", TokenClaimsError, "nonce"),
        ("LEGACY01", "foreign_signature", SignatureError, None),
        ("DIARY02", "foreign_signature", SignatureError, None),
    ],
)
def test_a_faulty_token_endpoint_fails_the_login(
    make_esia: Callable[..., MockEsia],
    make_provider: ProviderFactory,
    client_id: str,
    fault: str,
    error: type[ProviderError],
    detail: str | None,
) -> None:
    esia = make_esia(FAULTS={"te": fault})
    provider = provider_for(esia, make_provider, client_id)
    with pytest.raises(error) as info:
        log_in(esia, provider, "adult-verified")
    assert type(info.value) is error
    assert getattr(info.value, "claim", None) == detail
    expected = Reason.ESIA_UNAVAILABLE if error is UpstreamUnavailableError else Reason.ESIA_ERROR
    assert info.value.reason is expected
    if fault == "foreign_signature":
        assert provider.certificates.reads == 2


@pytest.mark.parametrize(
    ("fault", "error"),
    [("person_mismatch", InvalidUpstreamResponseError), ("status=503", UpstreamUnavailableError)],
)
def test_a_faulty_person_api_fails_the_login(
    make_esia: Callable[..., MockEsia], make_provider: ProviderFactory, fault: str, error: type[ProviderError]
) -> None:
    esia = make_esia(FAULTS={"prns": fault})
    provider = provider_for(esia, make_provider, "DIARY03")
    tokens = log_in(esia, provider, "adult-verified")
    with pytest.raises(error):
        provider.fetch_person(tokens)


def test_logout_returns_to_the_given_url(esia: MockEsia, make_provider: ProviderFactory) -> None:
    provider = provider_for(esia, make_provider, "DIARY03")
    answer = esia.browser.get(provider.logout_url(REDIRECT_URI), allow_redirects=False)
    assert (answer.status_code, answer.headers["Location"]) == (302, REDIRECT_URI)
