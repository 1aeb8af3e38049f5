"""GOST R 34.11-2012 (Streebog), 256- and 512-bit digests, table-driven (RFC 6986).

A digest is returned as the byte string OpenSSL prints. The standard writes its numbers
big-endian and reads a message as a little-endian number, so here the bytes of a message and
of a digest are in memory order and every 512-bit value is a Python ``int`` read little-endian:
the standard's numbers themselves.

Speed comes from the usual table form of the round function: the S-box, the byte transposition
and the linear map L are folded into eight tables of 256 64-bit words (one per input row), so
``LPS(x)`` is 64 look-ups joined by XOR into eight words. The key schedule of the first block (the initial value, ``N = 0``) is the same for
every message and is computed once per digest size.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

_MASK = (1 << 512) - 1

# The S-box π (RFC 6986 §6.2).
_PI = bytes.fromhex(
    "fceedd11cf6e3116fbc4fada23c5044de977f0db932e99ba1736f1bb14cd5fc1f918655ae25cef21811c3c428b018e4f058402aee36a8fa0060bed987fd4d31f"
    "eb342c51eac848abf22a68a2fd3aceccb5700e56080c7612bf7213479cb75d8715a19629107b9ac7f391786f9d9eb2b13275193dff358a7e6d54c680c3bd0d57"
    "dff524a93ea843c9d779d6f67c22b903e00fecde7a94b0bcdce828504e330a4aa79760731e0062441ab83882649f2641ad454692275e552f8ca3a57d69d5953b"
    "0758b34086ac1df730376be488d9e789e11b83494c3ff8fe8d53aa90cad88561207167a42d2b095bcb9b25d0bee56c5259a674d2e6f4b4c0d166afc2394b63b6"
)

# The rows of the matrix A of the linear map l (RFC 6986 §6.4): bit 63 of a word selects A[0].
_A = (
    0x8E20FAA72BA0B470,
    0x47107DDD9B505A38,
    0xAD08B0E0C3282D1C,
    0xD8045870EF14980E,
    0x6C022C38F90A4C07,
    0x3601161CF205268D,
    0x1B8E0B0E798C13C8,
    0x83478B07B2468764,
    0xA011D380818E8F40,
    0x5086E740CE47C920,
    0x2843FD2067ADEA10,
    0x14AFF010BDD87508,
    0x0AD97808D06CB404,
    0x05E23C0468365A02,
    0x8C711E02341B2D01,
    0x46B60F011A83988E,
    0x90DAB52A387AE76F,
    0x486DD4151C3DFDB9,
    0x24B86A840E90F0D2,
    0x125C354207487869,
    0x092E94218D243CBA,
    0x8A174A9EC8121E5D,
    0x4585254F64090FA0,
    0xACCC9CA9328A8950,
    0x9D4DF05D5F661451,
    0xC0A878A0A1330AA6,
    0x60543C50DE970553,
    0x302A1E286FC58CA7,
    0x18150F14B9EC46DD,
    0x0C84890AD27623E0,
    0x0642CA05693B9F70,
    0x0321658CBA93C138,
    0x86275DF09CE8AAA8,
    0x439DA0784E745554,
    0xAFC0503C273AA42A,
    0xD960281E9D1D5215,
    0xE230140FC0802984,
    0x71180A8960409A42,
    0xB60C05CA30204D21,
    0x5B068C651810A89E,
    0x456C34887A3805B9,
    0xAC361A443D1C8CD2,
    0x561B0D22900E4669,
    0x2B838811480723BA,
    0x9BCF4486248D9F5D,
    0xC3E9224312C8C1A0,
    0xEFFA11AF0964EE50,
    0xF97D86D98A327728,
    0xE4FA2054A80B329C,
    0x727D102A548B194E,
    0x39B008152ACB8227,
    0x9258048415EB419D,
    0x492C024284FBAEC0,
    0xAA16012142F35760,
    0x550B8E9E21F7A530,
    0xA48B474F9EF5DC18,
    0x70A6A56E2440598E,
    0x3853DC371220A247,
    0x1CA76E95091051AD,
    0x0EDD37C48A08A6D8,
    0x07E095624504536C,
    0x8D70C431AC02A736,
    0xC83862965601DD1B,
    0x641C314B2B8EE083,
)

# The round constants C1..C12 (RFC 6986 §6.6), as the standard writes them.
_C = (
    0xB1085BDA1ECADAE9EBCB2F81C0657C1F2F6A76432E45D016714EB88D7585C4FC4B7CE09192676901A2422A08A460D31505767436CC744D23DD806559F2A64507,
    0x6FA3B58AA99D2F1A4FE39D460F70B5D7F3FEEA720A232B9861D55E0F16B501319AB5176B12D699585CB561C2DB0AA7CA55DDA21BD7CBCD56E679047021B19BB7,
    0xF574DCAC2BCE2FC70A39FC286A3D843506F15E5F529C1F8BF2EA7514B1297B7BD3E20FE490359EB1C1C93A376062DB09C2B6F443867ADB31991E96F50ABA0AB2,
    0xEF1FDFB3E81566D2F948E1A05D71E4DD488E857E335C3C7D9D721CAD685E353FA9D72C82ED03D675D8B71333935203BE3453EAA193E837F1220CBEBC84E3D12E,
    0x4BEA6BACAD4747999A3F410C6CA923637F151C1F1686104A359E35D7800FFFBDBFCD1747253AF5A3DFFF00B723271A167A56A27EA9EA63F5601758FD7C6CFE57,
    0xAE4FAEAE1D3AD3D96FA4C33B7A3039C02D66C4F95142A46C187F9AB49AF08EC6CFFAA6B71C9AB7B40AF21F66C2BEC6B6BF71C57236904F35FA68407A46647D6E,
    0xF4C70E16EEAAC5EC51AC86FEBF240954399EC6C7E6BF87C9D3473E33197A93C90992ABC52D822C3706476983284A05043517454CA23C4AF38886564D3A14D493,
    0x9B1F5B424D93C9A703E7AA020C6E41414EB7F8719C36DE1E89B4443B4DDBC49AF4892BCB929B069069D18D2BD1A5C42F36ACC2355951A8D9A47F0DD4BF02E71E,
    0x378F5A541631229B944C9AD8EC165FDE3A7D3A1B258942243CD955B7E00D0984800A440BDBB2CEB17B2B8A9AA6079C540E38DC92CB1F2A607261445183235ADB,
    0xABBEDEA680056F52382AE548B2E4F3F38941E71CFF8A78DB1FFFE18A1B3361039FE76702AF69334B7A1E6C303B7652F43698FAD1153BB6C374B4C7FB98459CED,
    0x7BCD9ED0EFC889FB3002C6CD635AFE94D8FA6BBBEBAB076120018021148466798A1D71EFEA48B9CAEFBACD1D7D476E98DEA2594AC06FD85D6BCAA4CD81F32D1B,
    0x378EE767F11631BAD21380B00449B17ACDA43C32BCDF1D77F82012D430219F9B5D80EF9D1891CC86E71DA4AA88E12852FAF417D5D9B21B9948BC924AF11BD720,
)


def _tables() -> tuple[tuple[int, ...], ...]:
    """For each input row t: the 64-bit output word that a byte of row t alone gives, for each of its 256 values.

    S and the transposition τ send byte (t, i) (row t, column i) to byte (i, t); l is linear, so
    output word i is ``T[0][byte(0, i)] ^ … ^ T[7][byte(7, i)]`` with the same eight tables for
    every word. Each table is built from the images of a byte's eight bits:
    ``table[v] = table[v without its lowest bit] ^ image[lowest bit]``.
    """
    tables = []
    for t in range(8):
        # Bit j of byte t of a word selects row 63 - (8t + j) of A.
        images = [_A[63 - 8 * t - bit] for bit in range(8)]
        linear = [0] * 256
        for value in range(1, 256):
            lowest = (value & -value).bit_length() - 1
            linear[value] = linear[value & (value - 1)] ^ images[lowest]
        tables.append(tuple(linear[_PI[value]] for value in range(256)))
    return tuple(tables)


def _make_lps(tables: tuple[tuple[int, ...], ...]) -> Callable[[int], int]:
    """L(P(S(x))) of a 512-bit number: 64 look-ups in eight small tables, eight 64-bit words.

    Written out in full, with the tables in local names: in pure Python the look-ups and the
    XORs of small numbers are what a round costs, and nothing else should.
    """
    t0, t1, t2, t3, t4, t5, t6, t7 = tables
    pack = struct.Struct("<8Q").pack
    from_bytes = int.from_bytes

    def lps(x: int) -> int:
        # fmt: off
        (
            b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15,
            b16, b17, b18, b19, b20, b21, b22, b23, b24, b25, b26, b27, b28, b29, b30, b31,
            b32, b33, b34, b35, b36, b37, b38, b39, b40, b41, b42, b43, b44, b45, b46, b47,
            b48, b49, b50, b51, b52, b53, b54, b55, b56, b57, b58, b59, b60, b61, b62, b63,
        ) = x.to_bytes(64, "little")
        return from_bytes(pack(
            t0[b0] ^ t1[b8] ^ t2[b16] ^ t3[b24] ^ t4[b32] ^ t5[b40] ^ t6[b48] ^ t7[b56],
            t0[b1] ^ t1[b9] ^ t2[b17] ^ t3[b25] ^ t4[b33] ^ t5[b41] ^ t6[b49] ^ t7[b57],
            t0[b2] ^ t1[b10] ^ t2[b18] ^ t3[b26] ^ t4[b34] ^ t5[b42] ^ t6[b50] ^ t7[b58],
            t0[b3] ^ t1[b11] ^ t2[b19] ^ t3[b27] ^ t4[b35] ^ t5[b43] ^ t6[b51] ^ t7[b59],
            t0[b4] ^ t1[b12] ^ t2[b20] ^ t3[b28] ^ t4[b36] ^ t5[b44] ^ t6[b52] ^ t7[b60],
            t0[b5] ^ t1[b13] ^ t2[b21] ^ t3[b29] ^ t4[b37] ^ t5[b45] ^ t6[b53] ^ t7[b61],
            t0[b6] ^ t1[b14] ^ t2[b22] ^ t3[b30] ^ t4[b38] ^ t5[b46] ^ t6[b54] ^ t7[b62],
            t0[b7] ^ t1[b15] ^ t2[b23] ^ t3[b31] ^ t4[b39] ^ t5[b47] ^ t6[b55] ^ t7[b63],
        ), "little")
        # fmt: on

    return lps


_lps = _make_lps(_tables())


def _keys(k: int) -> tuple[int, ...]:
    """The round keys K1..K13 of E that follow from ``K1 = k``."""
    keys = [k]
    for c in _C:
        k = _lps(k ^ c)
        keys.append(k)
    return tuple(keys)


def _compress(n: int, h: int, m: int) -> int:
    """The compression function g_N(h, m) = E(LPS(h ⊕ N), m) ⊕ h ⊕ m."""
    lps = _lps
    k = lps(h ^ n)
    state = m
    for c in _C:
        state = lps(k ^ state)
        k = lps(k ^ c)
    return k ^ state ^ h ^ m


def _compress_first(keys: tuple[int, ...], h: int, m: int) -> int:
    """g_0(IV, m) with the round keys of the initial value, computed once."""
    lps = _lps
    state = m
    for key in keys[:12]:
        state = lps(key ^ state)
    return keys[12] ^ state ^ h ^ m


_IV = {256: int.from_bytes(b"\x01" * 64, "little"), 512: 0}
_FIRST_KEYS = {size: _keys(_lps(iv)) for size, iv in _IV.items()}


def _digest(data: bytes, size: int) -> int:
    full = len(data) - len(data) % 64
    tail = data[full:]
    blocks = [int.from_bytes(data[offset : offset + 64], "little") for offset in range(0, full, 64)]
    blocks.append(int.from_bytes(tail, "little") | 1 << (8 * len(tail)))  # the padding: a 1 bit above the message
    h = _compress_first(_FIRST_KEYS[size], _IV[size], blocks[0])  # h = IV and N = 0: round keys known in advance
    n = 0
    for m in blocks[1:]:
        n += 512
        h = _compress(n, h, m)
    n = (n + 8 * len(tail)) & _MASK
    h = _compress(0, h, n)
    return _compress(0, h, sum(blocks) & _MASK)


def streebog256(data: bytes) -> bytes:
    """The 256-bit digest of ``data``, bytes as OpenSSL prints them."""
    return (_digest(data, 256) >> 256).to_bytes(32, "little")


def streebog512(data: bytes) -> bytes:
    """The 512-bit digest of ``data``, bytes as OpenSSL prints them."""
    return _digest(data, 512).to_bytes(64, "little")
