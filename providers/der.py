"""Just enough of a DER reader to find GOST keys in certificates and PKCS#8 files.

``cryptography`` parses X.509 and PKCS#8 but refuses GOST R 34.10-2012 keys, so the few fields
the GOST signer and the token verifier need are read here: a tag, its content, a SEQUENCE's
children, an OBJECT IDENTIFIER. Definite lengths only, as DER requires (X.690 §10.1).
"""

from __future__ import annotations

from dataclasses import dataclass

INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
OBJECT_IDENTIFIER = 0x06
SEQUENCE = 0x30


class DerError(ValueError):
    """The bytes are not the DER structure that was expected."""


@dataclass(frozen=True, slots=True)
class Node:
    """One DER element: its tag byte and its content octets."""

    tag: int
    content: bytes

    def expect(self, tag: int) -> Node:
        if self.tag != tag:
            raise DerError(f"expected tag 0x{tag:02x}, found 0x{self.tag:02x}")
        return self

    def children(self) -> list[Node]:
        """The elements inside a constructed element, in order."""
        if not self.tag & 0x20:
            raise DerError(f"tag 0x{self.tag:02x} is not constructed")
        nodes = []
        offset = 0
        while offset < len(self.content):
            node, offset = _read_at(self.content, offset)
            nodes.append(node)
        return nodes

    def oid(self) -> str:
        """The dotted form of an OBJECT IDENTIFIER."""
        body = self.expect(OBJECT_IDENTIFIER).content
        if not body or body[-1] & 0x80:
            raise DerError("truncated object identifier")
        arcs: list[int] = []
        value = 0
        for byte in body:
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                arcs.append(value)
                value = 0
        first = min(arcs[0] // 40, 2)
        return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))

    def bit_string_bytes(self) -> bytes:
        """The bytes of a BIT STRING without unused bits."""
        body = self.expect(BIT_STRING).content
        if not body or body[0] != 0:
            raise DerError("a key's BIT STRING must have no unused bits")
        return body[1:]


def parse(data: bytes) -> Node:
    """Read exactly one element that fills ``data``."""
    node, end = _read_at(data, 0)
    if end != len(data):
        raise DerError("trailing bytes after the element")
    return node


def _read_at(data: bytes, offset: int) -> tuple[Node, int]:
    if offset + 2 > len(data):
        raise DerError("truncated element")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not used in these structures")
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise DerError("bad length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    end = offset + length
    if end > len(data):
        raise DerError("content runs past the end")
    return Node(tag, data[offset:end]), end
