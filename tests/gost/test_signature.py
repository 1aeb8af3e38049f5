"""GOST R 34.10-2012 signatures: the standard's examples, the checks verification makes, a round
trip on every named curve, and agreement with OpenSSL's engine in process, both ways."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gost
from gost import curves, engine, signature, streebog

# GOST R 34.10-2012, Appendix A.1: the 256-bit example on its test curve.
TEST_256 = curves.Curve(
    "A.1",
    p=0x8000000000000000000000000000000000000000000000000000000000000431,
    a=0x7,
    b=0x5FBFF498AA938CE739B8E022FBAFEF40563F6E6A3472FC2A514C0CE9DAE23B7E,
    q=0x8000000000000000000000000000000150FE8A1892976154C59CFC193ACCF5B3,
    x=0x2,
    y=0x08E2A8A0E65147D4BD6316030E16D19C85C97F0A9CA267122B96ABBCEA7E8FC8,
)
EXAMPLE_256: dict[str, Any] = {
    "d": 0x7A929ADE789BB9BE10ED359DD39A72C11B60961F49397EEE1D19CE9891EC3B28,
    "q": (
        0x7F2B49E270DB6D90D8595BEC458B50C58585BA1D4E9B788F6689DBD8E56FD80B,
        0x26F1B489D6701DD185C8413A977B3CBBAF64D1C593D26627DFFB101A87FF77DA,
    ),
    "e": 0x2DFBC1B372D89A1188C09C52E0EEC61FCE52032AB1022E8E67ECE6672B043EE5,
    "k": 0x77105C9B20BCD3122823C8CF6FCC7B956DE33814E95B7FE64FED924594DCEAB3,
    "r": 0x41AA28D2F1AB148280CD9ED56FEDA41974053554A42767B83AD043FD39DC0493,
    "s": 0x01456C64BA4642A1653C235A98A60249BCD6D3F746B631DF928014F6C5BF9C40,
}

# Appendix A.2: the 512-bit example on its test curve.
TEST_512 = curves.Curve(
    "A.2",
    p=0x4531ACD1FE0023C7550D267B6B2FEE80922B14B2FFB90F04D4EB7C09B5D2D15DF1D852741AF4704A0458047E80E4546D35B8336FAC224DD81664BBF528BE6373,
    a=0x7,
    b=0x1CFF0806A31116DA29D8CFA54E57EB748BC5F377E49400FDD788B649ECA1AC4361834013B2AD7322480A89CA58E0CF74BC9E540C2ADD6897FAD0A3084F302ADC,
    q=0x4531ACD1FE0023C7550D267B6B2FEE80922B14B2FFB90F04D4EB7C09B5D2D15DA82F2D7ECB1DBAC719905C5EECC423F1D86E25EDBE23C595D644AAF187E6E6DF,
    x=0x24D19CC64572EE30F396BF6EBBFD7A6C5213B3B3D7057CC825F91093A68CD762FD60611262CD838DC6B60AA7EEE804E28BC849977FAC33B4B530F1B120248A9A,
    y=0x2BB312A43BD2CE6E0D020613C857ACDDCFBF061E91E5F2C3F32447C259F39B2C83AB156D77F1496BF7EB3351E1EE4E43DC1A18B91B24640B6DBB92CB1ADD371E,
)
EXAMPLE_512: dict[str, Any] = {
    "d": 0x0BA6048AADAE241BA40936D47756D7C93091A0E8514669700EE7508E508B102072E8123B2200A0563322DAD2827E2714A2636B7BFD18AADFC62967821FA18DD4,
    "q": (
        0x115DC5BC96760C7B48598D8AB9E740D4C4A85A65BE33C1815B5C320C854621DD5A515856D13314AF69BC5B924C8B4DDFF75C45415C1D9DD9DD33612CD530EFE1,
        0x37C7C90CD40B0F5621DC3AC1B751CFA0E2634FA0503B3D52639F5D7FB72AFD61EA199441D943FFE7F0C70A2759A3CDB84C114E1F9339FDF27F35ECA93677BEEC,
    ),
    "e": 0x3754F3CFACC9E0615C4F4A7C4D8DAB531B09B6F9C170C533A71D147035B0C5917184EE536593F4414339976C647C5D5A407ADEDB1D560C4FC6777D2972075B8C,
    "k": 0x0359E7F4B1410FEACC570456C6801496946312120B39D019D455986E364F365886748ED7A44B3E794434006011842286212273A6D14CF70EA3AF71BB1AE679F1,
    "r": 0x2F86FA60A081091A23DD795E1E3C689EE512A3C82EE0DCC2643C78EEA8FCACD35492558486B20F1C9EC197C90699850260C93BCBCD9C5C3317E19344E173AE36,
    "s": 0x1081B394696FFE8E6585E7A9362D26B6325F56778AADBC081C0BFBE933D52FF5823CE288E8C4F362526080DF7F70CE406A6EEB1F56919CB92A9853BDE73E5B4A,
}
EXAMPLES = [(TEST_256, EXAMPLE_256), (TEST_512, EXAMPLE_512)]
NAMED = [pytest.param(curve, id=curve.name) for curve in curves.CURVES]


def digest_of(curve: curves.Curve, e: int) -> bytes:
    """The digest bytes whose little-endian number is the standard's e."""
    return e.to_bytes(curve.size, "little")


def s_then_r(curve: curves.Curve, s: int, r: int) -> bytes:
    return s.to_bytes(curve.size, "big") + r.to_bytes(curve.size, "big")


def hash_for(curve: curves.Curve, message: bytes) -> bytes:
    return streebog.streebog256(message) if curve.size == 32 else streebog.streebog512(message)


@pytest.mark.parametrize(("curve", "example"), EXAMPLES, ids=["A.1-256", "A.2-512"])
def test_the_standards_examples_are_reproduced_in_openssl_byte_order(curve: curves.Curve, example: dict[str, Any]) -> None:
    digest = digest_of(curve, example["e"])
    made = signature.sign(curve, example["d"], digest, k=example["k"])

    assert signature.public_key(curve, example["d"]) == example["q"]
    assert made == s_then_r(curve, example["s"], example["r"])
    assert signature.verify(curve, example["q"], digest, made)
    assert gost.sign(curve, example["d"], digest, k=example["k"]) == made  # a curve without OID stays in Python


@pytest.mark.parametrize(("curve", "example"), EXAMPLES, ids=["A.1-256", "A.2-512"])
def test_verification_refuses_what_the_standard_refuses(curve: curves.Curve, example: dict[str, Any]) -> None:
    digest, q, point = digest_of(curve, example["e"]), curve.q, example["q"]
    r, s = example["r"], example["s"]
    good = s_then_r(curve, s, r)
    assert signature.verify(curve, point, digest, good)

    assert not signature.verify(curve, point, digest[:-1] + b"\x00", good)  # another digest
    assert not signature.verify(curve, point, digest, s_then_r(curve, r, s))  # r || s
    assert not signature.verify(curve, point, digest, good[:-1])  # short
    assert not signature.verify(curve, point, digest, good + b"\x00")  # long
    assert not signature.verify(curve, (point[0], point[1] + 1), digest, good)  # a key off the curve
    for bad_s, bad_r in [(0, r), (s, 0), (q, r), (s, q), (s + q, r), (s, r + q)]:
        if max(bad_s, bad_r).bit_length() <= 8 * curve.size:
            assert not signature.verify(curve, point, digest, s_then_r(curve, bad_s, bad_r)), (bad_s, bad_r)


def test_a_digest_that_is_zero_modulo_q_is_signed_as_one() -> None:
    """The standard's rule: e = 0 is replaced by e = 1."""
    curve, example = TEST_256, EXAMPLE_256
    zero = signature.sign(curve, example["d"], bytes(32), k=example["k"])
    one = signature.sign(curve, example["d"], digest_of(curve, 1), k=example["k"])
    multiple_of_q = signature.sign(curve, example["d"], digest_of(curve, curve.q), k=example["k"])

    assert zero == one == multiple_of_q
    assert signature.verify(curve, example["q"], bytes(32), zero)


def test_a_private_key_outside_one_to_q_is_refused() -> None:
    curve = curves.CURVES[0]
    for d in (0, curve.q, curve.q + 1, -1):
        with pytest.raises(ValueError, match="between 0 and q"):
            signature.sign(curve, d, bytes(32))
        with pytest.raises(ValueError, match="between 0 and q"):
            signature.public_key(curve, d)


@pytest.mark.parametrize("curve", NAMED)
def test_every_named_curve_signs_and_verifies_and_notices_a_changed_message(curve: curves.Curve) -> None:
    d = 0x1D2C3B4A5968778695A4B3C2D1E0F00112233445566778899AABBCCDDEEFF % curve.q
    point = signature.public_key(curve, d)
    made = signature.sign(curve, d, hash_for(curve, b"message"))

    assert signature.verify(curve, point, hash_for(curve, b"message"), made)
    assert not signature.verify(curve, point, hash_for(curve, b"messagE"), made)


@settings(max_examples=25, deadline=None)
@given(
    curve=st.sampled_from([c for c in curves.CURVES if c.size == 32]),
    d=st.integers(min_value=1),
    message=st.binary(max_size=200),
    flip=st.integers(min_value=0, max_value=8 * 200 - 1),
)
def test_round_trip_and_a_tampered_message_fails(curve: curves.Curve, d: int, message: bytes, flip: int) -> None:
    d = d % (curve.q - 1) + 1
    point = signature.public_key(curve, d)
    made = signature.sign(curve, d, streebog.streebog256(message))
    assert signature.verify(curve, point, streebog.streebog256(message), made)

    tampered = bytearray(message or b"\x00")
    tampered[flip // 8 % len(tampered)] ^= 1 << (flip % 8)
    assert not signature.verify(curve, point, streebog.streebog256(bytes(tampered)), made)


@pytest.mark.parametrize("curve", NAMED)
def test_the_engine_verifies_pure_python_signatures_and_pure_python_the_engines(gost_engine: engine.Engine, curve: curves.Curve) -> None:
    d = 0xC0FFEE1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF % curve.q
    point = signature.public_key(curve, d)
    digest = hash_for(curve, b"client_idscope2026.01.01 12:00:00 +0300state")
    ours, engines = signature.sign(curve, d, digest), gost_engine.sign(curve, d, digest)

    assert gost_engine.verify(curve, point, digest, ours)
    assert signature.verify(curve, point, digest, engines)
    assert not gost_engine.verify(curve, point, hash_for(curve, b"other"), ours)
    assert not signature.verify(curve, point, hash_for(curve, b"other"), engines)


def test_the_engine_path_keeps_the_standards_range_checks(gost_engine: engine.Engine) -> None:
    curve = curves.CURVES[0]
    d = 123456789
    point, digest = signature.public_key(curve, d), streebog.streebog256(b"m")
    s, r = int.from_bytes(gost_engine.sign(curve, d, digest)[:32], "big"), 1
    for bad_s, bad_r in [(0, r), (s, 0), (curve.q, r), (s, curve.q)]:
        assert not gost_engine.verify(curve, point, digest, s_then_r(curve, bad_s, bad_r))
    assert not gost_engine.verify(curve, (point[0], point[1] ^ 1), digest, gost_engine.sign(curve, d, digest))


def test_a_fixed_k_that_gives_s_zero_is_refused_as_the_standard_says() -> None:
    curve, example = TEST_256, EXAMPLE_256
    k, d, q = example["k"], example["d"], curve.q
    point = curve.multiply_base(k)
    assert point is not None
    r = point[0] % q
    e = -r * d * pow(k, -1, q) % q  # r·d + k·e ≡ 0 (mod q)

    with pytest.raises(ValueError, match="another"):
        signature.sign(curve, d, digest_of(curve, e), k=k)


def test_a_key_of_small_order_is_refused_without_building_a_broken_table() -> None:
    """TC26-256-A has cofactor 4: q·R for a point R of the curve is a point of order 2 or 4."""
    curve = curves.BY_OID["1.2.643.7.1.2.1.1.1"]
    small = None
    for x in range(1, 200):
        rhs = (x * x * x + curve.a * x + curve.b) % curve.p
        y = pow(rhs, (curve.p + 1) // 4, curve.p)  # p ≡ 3 (mod 4)
        if y * y % curve.p == rhs:
            small = curve.multiply(curve.q, (x, y))
            if small is not None:
                break
    assert small is not None and curve.contains(small)
    made = signature.sign(curve, 12345, streebog.streebog256(b"m"))

    assert [signature.verify(curve, small, streebog.streebog256(b"m"), made) for _ in range(3)] == [False] * 3


def test_the_engine_keeps_a_few_keys_and_lets_the_others_go(gost_engine: engine.Engine) -> None:
    curve = curves.CURVES[0]
    digest = streebog.streebog256(b"m")
    pairs = [(signature.public_key(curve, d), signature.sign(curve, d, digest)) for d in range(1000, 1000 + 2 * engine._CACHED_KEYS)]

    assert all(gost_engine.verify(curve, point, digest, made) for point, made in pairs)
    assert len(gost_engine._keys) <= engine._CACHED_KEYS
    assert all(gost_engine.verify(curve, point, digest, made) for point, made in pairs[:2])  # evicted, read again
