"""The elliptic curves of GOST R 34.10-2012 and fast scalar multiplication on them, in pure Python.

Points are added in Jacobian projective coordinates (``x = X/Z²``, ``y = Y/Z³``), so that no
modular inverse is needed until the end: one inverse per scalar multiplication instead of one
per addition. Two precomputations make the multiplications short:

* **The base point's table** (per curve, built on first use): for each 8-bit window i of a
  scalar, the affine points ``j·2^(8i)·P`` for j = 1..128. A scalar in signed base-256 digits
  makes ``k·P`` a sum of about ``bits/8`` table points: no doublings at all (signing, keys).
* **Verification's simultaneous multiplication** ``u·P + v·Q``: both scalars in width-w NAF,
  one chain of doublings shared by both, adding the odd multiples of P (a fixed table, w = 8)
  and of Q (w = 5, computed per key and kept for the last few keys). A key verified against
  again (a process has a handful: ESIA's token keys, a client system's) gets a table like the
  base point's at its second use, and then ``u·P + v·Q`` is two short runs of additions.

The arithmetic is not constant-time (module docstring of :mod:`gost`).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

#: Jacobian point ``(X, Y, Z)``; ``Z == 0`` is the point at infinity.
Jacobian = tuple[int, int, int]
Affine = tuple[int, int]

_INFINITY: Jacobian = (1, 1, 0)
_COMB_BITS = 8  # base-point table: window width
_BASE_NAF = 8  # odd multiples of the base point for verification: width
_KEY_NAF = 5  # odd multiples of a public key: width


@dataclass(frozen=True, eq=False)
class Curve:
    """``y² = x³ + ax + b`` over GF(p), base point ``(x, y)`` of prime order ``q``."""

    name: str
    p: int
    a: int
    b: int
    q: int
    x: int
    y: int
    #: Object identifiers this parameter set is known by (empty for the standard's test curves).
    oids: tuple[str, ...] = ()
    size: int = field(init=False)  # bytes per coordinate and per signature half

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", 64 if self.p.bit_length() > 256 else 32)
        if not self.contains((self.x, self.y)):
            raise ValueError(f"the base point of {self.name} is not on the curve")

    def __repr__(self) -> str:
        return f"Curve({self.name!r})"

    def contains(self, point: Affine) -> bool:
        x, y = point
        p = self.p
        return 0 <= x < p and 0 <= y < p and (y * y - (x * x + self.a) * x - self.b) % p == 0

    # --- the arithmetic ----------------------------------------------------------------------

    def _double(self, point: Jacobian) -> Jacobian:
        X, Y, Z = point
        if not Y or not Z:
            return _INFINITY
        p = self.p
        yy = Y * Y % p
        s = 4 * X * yy % p
        zz = Z * Z % p
        m = (3 * X * X + self.a * zz * zz) % p
        x3 = (m * m - 2 * s) % p
        return x3, (m * (s - x3) - 8 * yy * yy) % p, 2 * Y * Z % p

    def _add_affine(self, point: Jacobian, other: Affine) -> Jacobian:
        """``point + other``, ``other`` affine (a "mixed" addition)."""
        X1, Y1, Z1 = point
        x2, y2 = other
        if not Z1:
            return x2, y2, 1
        p = self.p
        zz = Z1 * Z1 % p
        h = (x2 * zz - X1) % p
        r = (y2 * zz * Z1 - Y1) % p
        if not h:
            return self._double(point) if not r else _INFINITY
        hh = h * h % p
        hhh = h * hh % p
        v = X1 * hh % p
        x3 = (r * r - hhh - 2 * v) % p
        return x3, (r * (v - x3) - Y1 * hhh) % p, Z1 * h % p

    def _add(self, point: Jacobian, other: Jacobian) -> Jacobian:
        X1, Y1, Z1 = point
        X2, Y2, Z2 = other
        if not Z1:
            return other
        if not Z2:
            return point
        p = self.p
        z1z1, z2z2 = Z1 * Z1 % p, Z2 * Z2 % p
        u1, u2 = X1 * z2z2 % p, X2 * z1z1 % p
        s1, s2 = Y1 * Z2 * z2z2 % p, Y2 * Z1 * z1z1 % p
        h, r = (u2 - u1) % p, (s2 - s1) % p
        if not h:
            return self._double(point) if not r else _INFINITY
        hh = h * h % p
        hhh = h * hh % p
        v = u1 * hh % p
        x3 = (r * r - hhh - 2 * v) % p
        return x3, (r * (v - x3) - s1 * hhh) % p, Z1 * Z2 * h % p

    def to_affine(self, point: Jacobian) -> Affine | None:
        """The affine point, or None for the point at infinity."""
        X, Y, Z = point
        if not Z:
            return None
        p = self.p
        zi = pow(Z, -1, p)
        zi2 = zi * zi % p
        return X * zi2 % p, Y * zi2 * zi % p

    def _all_to_affine(self, points: list[Jacobian]) -> list[Affine]:
        """Many finite points to affine with one inverse (Montgomery's trick)."""
        p = self.p
        prefix = [1]
        for _, _, z in points:
            prefix.append(prefix[-1] * z % p)
        inverse = pow(prefix[-1], -1, p)
        result: list[Affine] = [(0, 0)] * len(points)
        for i in range(len(points) - 1, -1, -1):
            X, Y, Z = points[i]
            zi = inverse * prefix[i] % p
            inverse = inverse * Z % p
            zi2 = zi * zi % p
            result[i] = (X * zi2 % p, Y * zi2 * zi % p)
        return result

    def _odd_multiples(self, point: Affine, width: int) -> list[Affine]:
        """``P, 3P, 5P, …, (2^(w-1) - 1)P`` in affine coordinates."""
        start: Jacobian = (point[0], point[1], 1)
        twice = self._double(start)
        points = [start]
        for _ in range((1 << (width - 2)) - 1):
            points.append(self._add(points[-1], twice))
        return self._all_to_affine(points)

    # --- fixed points: the base point, and keys verified against again and again -------------------

    def _comb_of(self, point: Affine) -> list[list[Affine]]:
        """``table[i][j - 1] = j·2^(8i)·Q`` for j = 1..128, for every window i of a scalar < q."""
        windows = -(-self.q.bit_length() // _COMB_BITS) + 1  # a signed digit may carry into one more
        table = []
        base: Affine | None = point
        for _ in range(windows):
            if base is None:
                break
            row: list[Jacobian] = [(base[0], base[1], 1)]
            for _ in range((1 << (_COMB_BITS - 1)) - 1):
                row.append(self._add_affine(row[-1], base))
            if not all(z for _, _, z in row):
                break  # Q of small order (a key outside the subgroup): the table stops short
            table.append(self._all_to_affine(row))
            base = self.to_affine(self._double(row[-1]))  # 2·(128·base) is the next window's base
        return table

    @functools.cached_property
    def _comb(self) -> list[list[Affine]]:
        return self._comb_of((self.x, self.y))

    @functools.cached_property
    def _base_odd(self) -> list[Affine]:
        return self._odd_multiples((self.x, self.y), _BASE_NAF)

    def _sum_from_comb(self, table: list[list[Affine]], k: int) -> Jacobian | None:
        """``k·Q`` from Q's table, one mixed addition per signed base-256 digit; None if the table is too short."""
        p = self.p
        acc = _INFINITY
        full = 1 << _COMB_BITS
        half = full >> 1
        for row in table:
            if not k:
                break
            digit = k & (full - 1)
            k >>= _COMB_BITS
            if digit > half:
                digit -= full
                k += 1
            if digit > 0:
                acc = self._add_affine(acc, row[digit - 1])
            elif digit < 0:
                x, y = row[-digit - 1]
                acc = self._add_affine(acc, (x, p - y))
        return acc if not k else None

    def multiply_base(self, k: int) -> Affine | None:
        """``k·P`` for the base point P: a sum of table points in signed base-256 digits, no doublings."""
        acc = self._sum_from_comb(self._comb, k % self.q)
        assert acc is not None  # the base point's table covers every scalar below q
        return self.to_affine(acc)

    # --- verification --------------------------------------------------------------------------

    def multiply_two(self, u: int, v: int, point: Affine) -> Affine | None:
        """``u·P + v·Q`` for the base point P and a point Q.

        A key seen for the first time: one chain of doublings shared by both scalars, adding odd
        multiples of P and of Q (width-w NAF). A key seen again (the few a process verifies
        against: ESIA's, a client system's) gets a table like the base point's, and the sum is
        two short runs of additions without doublings.
        """
        u, v = u % self.q, v % self.q
        table = _fixed_table(self, point)
        if table is not None:
            other = self._sum_from_comb(table, v)
            if other is not None:
                acc = self._sum_from_comb(self._comb, u)
                assert acc is not None
                return self.to_affine(self._add(acc, other))
        return self._simultaneous(u, v, point)

    def _simultaneous(self, u: int, v: int, point: Affine) -> Affine | None:
        """``u·P + v·Q`` by interleaved width-w NAF: one chain of doublings for both scalars."""
        p = self.p
        adds: dict[int, list[Affine]] = {}
        for scalar, width, odd in ((u, _BASE_NAF, self._base_odd), (v, _KEY_NAF, _key_odd(self, point))):
            for position, digit in _naf(scalar, width):
                x, y = odd[abs(digit) >> 1]
                adds.setdefault(position, []).append((x, y) if digit > 0 else (x, p - y))
        total = _INFINITY
        double, add = self._double, self._add_affine
        for position in range(max(adds, default=-1), -1, -1):
            total = double(total)
            for addend in adds.get(position, ()):
                total = add(total, addend)
        return self.to_affine(total)

    def multiply(self, k: int, point: Affine) -> Affine | None:
        """``k·Q`` for any point Q of the curve and any ``k >= 0`` (not reduced modulo q)."""
        return self._simultaneous(0, k, point)


def _naf(k: int, width: int) -> list[tuple[int, int]]:
    """The non-zero digits of ``k`` in width-w NAF, as (bit position, odd digit) pairs."""
    digits = []
    full = 1 << width
    half = full >> 1
    position = 0
    while k:
        zeros = (k & -k).bit_length() - 1
        k >>= zeros
        position += zeros
        digit = k & (full - 1)
        if digit >= half:
            digit -= full
        digits.append((position, digit))
        k -= digit
        # k is now divisible by 2^w: the next w bits hold no digit.
        k >>= width
        position += width
    return digits


@functools.lru_cache(maxsize=16)
def _key_odd(curve: Curve, point: Affine) -> list[Affine]:
    """The odd multiples of a public key, kept for the last few keys."""
    return curve._odd_multiples(point, _KEY_NAF)


_FIXED_AFTER = 2  # a key's table is built at its second verification
_TABLES = 4  # tables kept, each about 0.5 MB for a 256-bit curve
_SEEN_LIMIT = 64
_seen: OrderedDict[tuple[Curve, Affine], int] = OrderedDict()
_tables: OrderedDict[tuple[Curve, Affine], list[list[Affine]]] = OrderedDict()
_lock = threading.Lock()


def _fixed_table(curve: Curve, point: Affine) -> list[list[Affine]] | None:
    """The table of a key verified against before: about 30 ms to build, then a tenth of the time per verification.

    Built at a key's second use, so that checking many keys once each builds none.
    """
    key = (curve, point)  # the curve itself (compared by identity), so that its id is never reused
    with _lock:
        table = _tables.get(key)
        if table is not None:
            _tables.move_to_end(key)
            return table
        seen = _seen.pop(key, 0) + 1
        _seen[key] = seen
        while len(_seen) > _SEEN_LIMIT:
            _seen.popitem(last=False)
    if seen < _FIXED_AFTER:
        return None
    table = curve._comb_of(point)
    with _lock:
        _tables[key] = table
        while len(_tables) > _TABLES:
            _tables.popitem(last=False)
    return table


#: The named parameter sets (RFC 4357 §11.4, RFC 7836 Appendix A). CryptoPro-A is TC26's
#: 256-bit set B and OpenSSL's ``paramset:A``; the key-exchange sets XchA and XchB are
#: CryptoPro-A and -C.
CURVES: tuple[Curve, ...] = (
    Curve(
        "CryptoPro-A",
        p=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD97,
        a=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD94,
        b=0xA6,
        q=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF6C611070995AD10045841B09B761B893,
        x=0x1,
        y=0x8D91E471E0989CDA27DF505A453F2B7635294F2DDF23E3B122ACC99C9E9F1E14,
        oids=("1.2.643.2.2.35.1", "1.2.643.2.2.36.0", "1.2.643.7.1.2.1.1.2"),
    ),
    Curve(
        "CryptoPro-B",
        p=0x8000000000000000000000000000000000000000000000000000000000000C99,
        a=0x8000000000000000000000000000000000000000000000000000000000000C96,
        b=0x3E1AF419A269A5F866A7D3C25C3DF80AE979259373FF2B182F49D4CE7E1BBC8B,
        q=0x800000000000000000000000000000015F700CFFF1A624E5E497161BCC8A198F,
        x=0x1,
        y=0x3FA8124359F96680B83D1C3EB2C070E5C545C9858D03ECFB744BF8D717717EFC,
        oids=("1.2.643.2.2.35.2", "1.2.643.7.1.2.1.1.3"),
    ),
    Curve(
        "CryptoPro-C",
        p=0x9B9F605F5A858107AB1EC85E6B41C8AACF846E86789051D37998F7B9022D759B,
        a=0x9B9F605F5A858107AB1EC85E6B41C8AACF846E86789051D37998F7B9022D7598,
        b=0x805A,
        q=0x9B9F605F5A858107AB1EC85E6B41C8AA582CA3511EDDFB74F02F3A6598980BB9,
        x=0x0,
        y=0x41ECE55743711A8C3CBF3783CD08C0EE4D4DC440D4641A8F366E550DFDB3BB67,
        oids=("1.2.643.2.2.35.3", "1.2.643.2.2.36.1", "1.2.643.7.1.2.1.1.4"),
    ),
    Curve(
        "TC26-256-A",  # a twisted Edwards curve, here in its Weierstrass form
        p=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD97,
        a=0xC2173F1513981673AF4892C23035A27CE25E2013BF95AA33B22C656F277E7335,
        b=0x295F9BAE7428ED9CCC20E7C359A9D41A22FCCD9108E17BF7BA9337A6F8AE9513,
        q=0x400000000000000000000000000000000FD8CDDFC87B6635C115AF556C360C67,
        x=0x91E38443A5E82C0D880923425712B2BB658B9196932E02C78B2582FE742DAA28,
        y=0x32879423AB1A0375895786C4BB46E9565FDE0B5344766740AF268ADB32322E5C,
        oids=("1.2.643.7.1.2.1.1.1",),
    ),
    Curve(
        "TC26-512-A",
        p=int("F" * 125 + "DC7", 16),
        a=int("F" * 125 + "DC4", 16),
        b=0xE8C2505DEDFC86DDC1BD0B2B6667F1DA34B82574761CB0E879BD081CFD0B6265EE3CB090F30D27614CB4574010DA90DD862EF9D4EBEE4761503190785A71C760,
        q=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF27E69532F48D89116FF22B8D4E0560609B4B38ABFAD2B85DCACDB1411F10B275,
        x=0x3,
        y=0x7503CFE87A836AE3A61B8816E25450E6CE5E1C93ACF1ABC1778064FDCBEFA921DF1626BE4FD036E93D75E6A50E3A41E98028FE5FC235F5B889A589CB5215F2A4,
        oids=("1.2.643.7.1.2.1.2.1",),
    ),
    Curve(
        "TC26-512-B",
        p=(1 << 511) + 0x6F,
        a=(1 << 511) + 0x6C,
        b=0x687D1B459DC841457E3E06CF6F5E2517B97C7D614AF138BCBF85DC806C4B289F3E965D2DB1416D217F8B276FAD1AB69C50F78BEE1FA3106EFB8CCBC7C5140116,
        q=0x800000000000000000000000000000000000000000000000000000000000000149A1EC142565A545ACFDB77BD9D40CFA8B996712101BEA0EC6346C54374F25BD,
        x=0x2,
        y=0x1A8F7EDA389B094C2C071E3647A8940F3C123B697578C213BE6DD9E6C8EC7335DCB228FD1EDF4A39152CBCAAF8C0398828041055F94CEEEC7E21340780FE41BD,
        oids=("1.2.643.7.1.2.1.2.2",),
    ),
    Curve(
        "TC26-512-C",  # a twisted Edwards curve, here in its Weierstrass form
        p=int("F" * 125 + "DC7", 16),
        a=0xDC9203E514A721875485A529D2C722FB187BC8980EB866644DE41C68E143064546E861C0E2C9EDD92ADE71F46FCF50FF2AD97F951FDA9F2A2EB6546F39689BD3,
        b=0xB4C4EE28CEBC6C2C8AC12952CF37F16AC7EFB6A9F69F4B57FFDA2E4F0DE5ADE038CBC2FFF719D2C18DE0284B8BFEF3B52B8CC7A5F5BF0A3C8D2319A5312557E1,
        q=0x3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC98CDBA46506AB004C33A9FF5147502CC8EDA9E7A769A12694623CEF47F023ED,
        x=0xE2E31EDFC23DE7BDEBE241CE593EF5DE2295B7A9CBAEF021D385F7074CEA043AA27272A7AE602BF2A7B9033DB9ED3610C6FB85487EAE97AAC5BC7928C1950148,
        y=0xF5CE40D95B5EB899ABBCCFF5911CB8577939804D6527378B8C108C3D2090FF9BE18E2D33E3021ED2EF32D85822423B6304F726AA854BAE07D0396E9A9ADDC40F,
        oids=("1.2.643.7.1.2.1.2.3",),
    ),
)

#: Parameter sets by object identifier.
BY_OID: dict[str, Curve] = {oid: curve for curve in CURVES for oid in curve.oids}
