"""Streebog (GOST R 34.11-2012): the standard's examples, and agreement with two other implementations."""

from __future__ import annotations

import pytest
from gostcrypto import gosthash
from hypothesis import given, settings
from hypothesis import strategies as st

from gost import engine, streebog

# GOST R 34.11-2012, Appendix A: M1 (63 ASCII digits) and M2 (72 bytes of CP1251 text). The
# digests as byte strings, as OpenSSL prints them (the standard prints the numbers, reversed).
M1 = b"012345678901234567890123456789012345678901234567890123456789012"
M2 = bytes.fromhex(
    "d1e520e2e5f2f0e82c20d1f2f0e8e1eee6e820e2edf3f6e82c20e2e5fef2fa20f120eceef0ff20f1f2f0e5ebe0ece820ede020f5f0e0e1f0fbff20efebfaeafb20c8e3eef0e5e2fb"
)
VECTORS = [
    (256, M1, "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"),
    (256, M2, "9dd2fe4e90409e5da87f53976d7405b0c0cac628fc669a741d50063c557e8f50"),
    (
        512,
        M1,
        "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48",
    ),
    (
        512,
        M2,
        "1e88e62226bfca6f9994f1f2d51569e0daf8475a3b0fe61a5300eee46d961376035fe83549ada2b8620fcd7c496ce5b33f0cb9dddc2b6460143b03dabac9fb28",
    ),
]


def reference(size: int, data: bytes) -> bytes:
    return bytes(gosthash.new(f"streebog{size}", data=bytearray(data)).digest())


@pytest.mark.parametrize(("size", "message", "expected"), VECTORS)
def test_pure_python_streebog_gives_the_standards_digests(size: int, message: bytes, expected: str) -> None:
    function = streebog.streebog256 if size == 256 else streebog.streebog512
    assert function(message).hex() == expected


@pytest.mark.parametrize(("size", "message", "expected"), VECTORS)
def test_the_engine_gives_the_standards_digests(gost_engine: engine.Engine, size: int, message: bytes, expected: str) -> None:
    function = gost_engine.streebog256 if size == 256 else gost_engine.streebog512
    assert function(message).hex() == expected


@pytest.mark.parametrize("length", [0, 1, 31, 32, 63, 64, 65, 127, 128, 129, 1000])
def test_every_length_around_the_block_boundaries_agrees_with_gostcrypto(length: int) -> None:
    """The first block's precomputed key schedule, the padding and the final N and Σ, whatever the length."""
    data = bytes((7 * i + length) % 256 for i in range(length))
    assert streebog.streebog256(data) == reference(256, data)
    assert streebog.streebog512(data) == reference(512, data)


def test_sigma_wraps_around_at_512_bits() -> None:
    """Σ is a sum modulo 2^512: blocks of 0xff bytes carry out of it."""
    data = b"\xff" * 64 * 3 + b"\xfe"
    assert streebog.streebog256(data) == reference(256, data)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300))
def test_pure_python_and_gostcrypto_agree_on_any_message(data: bytes) -> None:
    assert streebog.streebog256(data) == reference(256, data)


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=300))
def test_pure_python_and_the_engine_agree_on_any_message(gost_engine: engine.Engine, data: bytes) -> None:
    assert streebog.streebog256(data) == gost_engine.streebog256(data)
    assert streebog.streebog512(data) == gost_engine.streebog512(data)
