"""The curve arithmetic behind the signatures: every fast path agrees with plain double-and-add."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gost import curves

CURVE = curves.BY_OID["1.2.643.2.2.35.1"]  # CryptoPro-A, the one ESIA and OpenSSL's paramset:A use


def slow_multiply(curve: curves.Curve, k: int, point: curves.Affine) -> curves.Affine | None:
    """Affine double-and-add with a modular inverse per step: slow, and plainly the textbook."""
    result: curves.Affine | None = None
    addend: curves.Affine | None = point
    while k:
        if k & 1:
            result = slow_add(curve, result, addend)
        addend = slow_add(curve, addend, addend)
        k >>= 1
    return result


def slow_add(curve: curves.Curve, one: curves.Affine | None, two: curves.Affine | None) -> curves.Affine | None:
    p = curve.p
    if one is None:
        return two
    if two is None:
        return one
    (x1, y1), (x2, y2) = one, two
    if x1 == x2 and (y1 + y2) % p == 0:
        return None
    if one == two:
        slope = (3 * x1 * x1 + curve.a) * pow(2 * y1, -1, p) % p
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, p) % p
    x3 = (slope * slope - x1 - x2) % p
    return x3, (slope * (x1 - x3) - y1) % p


@pytest.mark.parametrize("curve", [pytest.param(c, id=c.name) for c in curves.CURVES])
def test_each_base_point_has_the_order_its_parameter_set_says(curve: curves.Curve) -> None:
    base = (curve.x, curve.y)
    assert curve.contains(base)
    assert curve.multiply(curve.q, base) is None
    assert curve.multiply(curve.q + 1, base) == base
    assert curve.multiply(curve.q - 1, base) == curve.multiply_base(curve.q - 1) == (curve.x, curve.p - curve.y)


@pytest.mark.parametrize("k", [1, 2, 3, 127, 128, 129, 255, 256, 257, 2**128 + 1, CURVE.q - 2, CURVE.q - 1, CURVE.q + 5])
def test_the_base_point_table_and_the_simultaneous_multiplication_agree_with_double_and_add(k: int) -> None:
    base = (CURVE.x, CURVE.y)
    expected = slow_multiply(CURVE, k % CURVE.q, base)

    assert CURVE.multiply_base(k) == expected
    assert CURVE.multiply(k, base) == expected
    assert CURVE.multiply_two(k, 0, base) == expected


def test_a_sum_that_meets_its_own_negation_is_the_point_at_infinity() -> None:
    """u·P + v·Q with Q = P and v = -u: the mixed addition's special cases."""
    base = (CURVE.x, CURVE.y)
    assert CURVE.multiply_two(5, CURVE.q - 5, base) is None
    assert CURVE.multiply_two(5, 5, base) == slow_multiply(CURVE, 10, base)  # the doubling inside an addition
    assert CURVE.multiply_two(0, 0, base) is None


@settings(max_examples=30, deadline=None)
@given(u=st.integers(min_value=0, max_value=2**256), v=st.integers(min_value=0, max_value=2**256), d=st.integers(min_value=1))
def test_u_p_plus_v_q_is_what_two_separate_multiplications_add_up_to(u: int, v: int, d: int) -> None:
    key = CURVE.multiply_base(d % (CURVE.q - 1) + 1)
    assert key is not None
    expected = slow_add(CURVE, slow_multiply(CURVE, u % CURVE.q, (CURVE.x, CURVE.y)), slow_multiply(CURVE, v % CURVE.q, key))
    assert CURVE.multiply_two(u, v, key) == expected


def test_a_curve_whose_base_point_is_not_on_it_is_refused() -> None:
    with pytest.raises(ValueError, match="not on the curve"):
        curves.Curve("broken", p=CURVE.p, a=CURVE.a, b=CURVE.b, q=CURVE.q, x=CURVE.x, y=CURVE.y + 1)


def test_a_key_verified_against_again_gets_its_own_table_and_the_same_answers() -> None:
    """The second use of a key builds its table (the first goes through the simultaneous multiplication)."""
    key = CURVE.multiply_base(0xFEEDFACE)
    assert key is not None
    expected = slow_add(CURVE, slow_multiply(CURVE, 12345, (CURVE.x, CURVE.y)), slow_multiply(CURVE, CURVE.q - 678, key))
    first = CURVE.multiply_two(12345, CURVE.q - 678, key)
    assert (CURVE, key) not in curves._tables  # a key used once builds nothing
    answers = [first] + [CURVE.multiply_two(12345, CURVE.q - 678, key) for _ in range(2)]

    assert (CURVE, key) in curves._tables
    assert answers == [expected] * 3
