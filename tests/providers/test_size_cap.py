"""ESIA's answers are read up to a cap: a longer one is refused as esia_error, and read no further."""

from __future__ import annotations

import io
import json

import pytest
import requests
import responses

from matching import Reason
from providers import EsiaProvider, EsiaTokens, ProviderConfigError, ResponseTooLargeError
from providers.transport import RequestsSender, Transport

from .factory import ProviderFactory
from .upstream import BASE_URL, OID, Upstream, person_document

PRNS = f"{BASE_URL}/rs/prns/{OID}"
TE = f"{BASE_URL}/aas/oauth2/v3/te"
LOCATION = {"Location": f"https://esia.test:443/rs/prns/{OID}"}
CAP = 64 * 1024


class CountingStream(io.RawIOBase):
    """``size`` bytes of a JSON string, counting how many of them were read."""

    def __init__(self, size: int) -> None:
        self.size, self.sent = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.size - self.sent)
        buffer[:n] = (b'{"x":"' + b"a" * n)[:n] if self.sent == 0 else b"a" * n
        self.sent += n
        return n


@pytest.fixture
def logged_in(make_provider: ProviderFactory, upstream: Upstream) -> tuple[EsiaProvider, EsiaTokens]:
    provider = make_provider(max_response_bytes=CAP)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as token_only:
        token_only.add_callback(responses.POST, TE, callback=upstream.token_endpoint())
        tokens = provider.exchange_code("c0de", provider.authorize())
    return provider, tokens


def test_a_5_mib_person_answer_is_refused_as_esia_error_and_not_retried(
    http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]
) -> None:
    provider, tokens = logged_in
    huge = person_document(padding="x" * (5 * 1024 * 1024))
    http.add(responses.GET, PRNS, json=huge, headers=LOCATION)
    with pytest.raises(ResponseTooLargeError) as raised:
        provider.fetch_person(tokens)
    assert raised.value.reason is Reason.ESIA_ERROR and raised.value.code == "upstream_response_too_large"
    assert len(http.calls) == 1
    assert str(CAP) in str(raised.value)


def test_an_answer_without_a_length_is_read_no_further_than_the_cap(
    http: responses.RequestsMock, logged_in: tuple[EsiaProvider, EsiaTokens]
) -> None:
    provider, tokens = logged_in
    stream = CountingStream(50 * 1024 * 1024)
    http.add(responses.GET, PRNS, body=io.BufferedReader(stream), headers=LOCATION, auto_calculate_content_length=False)
    with pytest.raises(ResponseTooLargeError):
        provider.fetch_person(tokens)
    assert stream.sent < CAP + 256 * 1024  # stopped near the cap, not at 50 MiB


def test_a_token_answer_past_the_cap_is_refused(make_provider: ProviderFactory, http: responses.RequestsMock) -> None:
    provider = make_provider(max_response_bytes=CAP)
    http.add(responses.POST, TE, json={"access_token": "a" * CAP})
    with pytest.raises(ResponseTooLargeError) as raised:
        provider.exchange_code("c0de", provider.authorize())
    assert raised.value.reason is Reason.ESIA_ERROR


@pytest.mark.parametrize(("cap_over_length", "accepted"), [(0, True), (-1, False)])
def test_an_answer_of_exactly_the_cap_is_read_and_one_byte_more_is_not(
    http: responses.RequestsMock, cap_over_length: int, accepted: bool
) -> None:
    document = json.dumps(person_document()).encode()
    transport = Transport(
        RequestsSender(requests.Session()), connect_timeout=1, read_timeout=1, max_response_bytes=len(document) + cap_over_length
    )
    http.add(responses.GET, PRNS, body=document, content_type="application/json")
    if accepted:
        assert transport.get_json(PRNS, "the person", headers={}, params={}).body["lastName"] == "Соколова"
    else:
        with pytest.raises(ResponseTooLargeError):
            transport.get_json(PRNS, "the person", headers={}, params={})


@pytest.mark.parametrize("cap", [0, -1, 1.5])
def test_the_cap_must_be_a_positive_number_of_bytes(make_provider: ProviderFactory, cap: object) -> None:
    with pytest.raises(ProviderConfigError, match="max_response_bytes"):
        make_provider(max_response_bytes=cap)
