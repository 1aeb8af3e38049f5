"""The ESIA client's and the mock's GOST keys agree through the shared gost library, whichever
implementation it runs on: what one signs the other verifies, in ESIA's byte order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gost
from mock_esia.gost import GostPrivateKey as MockKey
from mock_esia.gost import GostPublicKey as MockPublicKey
from providers.gost import GostPrivateKey, GostPublicKey

CRYPTOPRO_A = "1.2.643.2.2.35.1"


@pytest.fixture(params=["python", "engine"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "engine" and gost.engine.load() is None:
        pytest.skip("OpenSSL's GOST engine cannot be loaded in process")
    monkeypatch.setenv("GOST_BACKEND", request.param)
    gost._engine_in_use.cache_clear()
    assert gost.backend() == request.param
    yield request.param
    monkeypatch.delenv("GOST_BACKEND")
    gost._engine_in_use.cache_clear()


def as_provider_key(public: MockPublicKey) -> GostPublicKey:
    return GostPublicKey(public.paramset, public.x.to_bytes(32, "big") + public.y.to_bytes(32, "big"))


def test_what_the_mock_signs_the_client_verifies_and_the_other_way(backend: str) -> None:
    mock_key = MockKey.generate()
    client_key = GostPrivateKey(CRYPTOPRO_A, mock_key.d)
    message = b"client_idscope2026.12.07 09:00:00 +0300state"

    assert client_key.public_key() == as_provider_key(mock_key.public_key())
    assert client_key.public_key().verify(message, mock_key.sign(message))
    assert mock_key.public_key().verify(message, client_key.sign(message))
    assert not client_key.public_key().verify(message + b".", mock_key.sign(message))


@settings(max_examples=15, deadline=None)
@given(message=st.binary(max_size=300), d=st.integers(min_value=1, max_value=2**255))
def test_round_trip_through_the_client_key_fails_on_any_other_message(message: bytes, d: int) -> None:
    key = GostPrivateKey(CRYPTOPRO_A, d)
    public = key.public_key()
    signature = key.sign(message)

    assert public.verify(message, signature)
    assert not public.verify(message + b"\x00", signature)
    assert not public.verify(message, signature[32:] + signature[:32])
