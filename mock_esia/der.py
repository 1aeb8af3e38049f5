"""A small ASN.1 DER reader and writer: enough for X.509 certificates, CMS and GOST keys.

`cryptography` cannot load GOST keys, so the mock reads certificates, CMS ``SignedData`` and
PKCS#8 GOST keys itself and writes its own self-signed GOST certificate. Only single-octet tags
(tag numbers below 31) occur in those structures, so only those are supported. The reader also
accepts BER indefinite lengths, which some CMS writers produce in streaming mode.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# Universal tags, as identifier octets.
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
SEQUENCE = 0x30
SET = 0x31


class DerError(ValueError):
    """The bytes are not the ASN.1 structure the caller expected."""


def context(number: int, *, constructed: bool = True) -> int:
    """Return the identifier octet of context-specific tag ``[number]``."""
    return 0x80 | (0x20 if constructed else 0) | number


@dataclass(frozen=True, slots=True)
class Element:
    """One decoded TLV: its identifier octet, its content octets and its whole encoding."""

    tag: int
    content: bytes
    encoded: bytes

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def children(self) -> list[Element]:
        """Decode the content of a constructed element as a list of elements."""
        if not self.constructed:
            raise DerError(f"tag 0x{self.tag:02x} is primitive, it has no children")
        return read_all(self.content)

    def expect(self, tag: int) -> Element:
        """Return self if it carries ``tag``, else raise."""
        if self.tag != tag:
            raise DerError(f"expected tag 0x{tag:02x}, found 0x{self.tag:02x}")
        return self


def read(data: bytes) -> Element:
    """Decode exactly one element; trailing bytes are an error."""
    element, end = _read_one(data, 0)
    if end != len(data):
        raise DerError(f"{len(data) - end} trailing bytes after the element")
    return element


def read_all(data: bytes) -> list[Element]:
    """Decode a concatenation of elements."""
    elements = []
    offset = 0
    while offset < len(data):
        element, offset = _read_one(data, offset)
        elements.append(element)
    return elements


def _read_one(data: bytes, start: int) -> tuple[Element, int]:
    if start + 2 > len(data):
        raise DerError("truncated element header")
    tag = data[start]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-octet tags are not supported")
    first = data[start + 1]
    offset = start + 2
    if first == 0x80:
        if not tag & 0x20:
            raise DerError("indefinite length on a primitive element")
        children = []
        while True:
            if data[offset : offset + 2] == b"\x00\x00":
                end = offset + 2
                break
            child, offset = _read_one(data, offset)
            children.append(child.encoded)
        return Element(tag, b"".join(children), bytes(data[start:end])), end
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise DerError("bad length octets")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    else:
        length = first
    end = offset + length
    if end > len(data):
        raise DerError("element runs past the end of the data")
    return Element(tag, bytes(data[offset:end]), bytes(data[start:end])), end


# -- decoding primitives -------------------------------------------------------------------


def as_int(element: Element) -> int:
    element.expect(INTEGER)
    if not element.content:
        raise DerError("empty INTEGER")
    return int.from_bytes(element.content, "big", signed=True)


def as_oid(element: Element) -> str:
    element.expect(OBJECT_IDENTIFIER)
    arcs: list[int] = []
    value = 0
    for octet in element.content:
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise DerError("empty OBJECT IDENTIFIER")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def as_octets(element: Element) -> bytes:
    return element.expect(OCTET_STRING).content


def as_bits(element: Element) -> bytes:
    content = element.expect(BIT_STRING).content
    if not content or content[0] != 0:
        raise DerError("BIT STRING with unused bits")
    return content[1:]


def as_time(element: Element) -> dt.datetime:
    text = element.content.decode("ascii")
    if element.tag == UTC_TIME:
        parsed = dt.datetime.strptime(text, "%y%m%d%H%M%SZ")
    elif element.tag == GENERALIZED_TIME:
        parsed = dt.datetime.strptime(text, "%Y%m%d%H%M%SZ")
    else:
        raise DerError(f"tag 0x{element.tag:02x} is not a time")
    return parsed.replace(tzinfo=dt.UTC)


# -- encoding ------------------------------------------------------------------------------


def encode(tag: int, content: bytes) -> bytes:
    """Encode one TLV with a definite length."""
    length = len(content)
    if length < 0x80:
        header = bytes([tag, length])
    else:
        octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
        header = bytes([tag, 0x80 | len(octets)]) + octets
    return header + content


def sequence(*parts: bytes) -> bytes:
    return encode(SEQUENCE, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    # DER sorts the encodings of a SET OF.
    return encode(SET, b"".join(sorted(parts)))


def integer(value: int) -> bytes:
    length = value.bit_length() // 8 + 1
    return encode(INTEGER, value.to_bytes(length, "big", signed=True))


def oid(dotted: str) -> bytes:
    arcs = [int(part) for part in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return encode(OBJECT_IDENTIFIER, bytes(body))


def octets(value: bytes) -> bytes:
    return encode(OCTET_STRING, value)


def bits(value: bytes) -> bytes:
    return encode(BIT_STRING, b"\x00" + value)


def null() -> bytes:
    return encode(NULL, b"")


def boolean(value: bool) -> bytes:
    return encode(BOOLEAN, b"\xff" if value else b"\x00")


def utf8(text: str) -> bytes:
    return encode(UTF8_STRING, text.encode("utf-8"))


def printable(text: str) -> bytes:
    return encode(PRINTABLE_STRING, text.encode("ascii"))


def time(moment: dt.datetime) -> bytes:
    """Encode a time as X.509 wants it: UTCTime up to 2049, GeneralizedTime after."""
    moment = moment.astimezone(dt.UTC)
    if moment.year < 2050:
        return encode(UTC_TIME, moment.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return encode(GENERALIZED_TIME, moment.strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def explicit(number: int, inner: bytes) -> bytes:
    return encode(context(number), inner)
