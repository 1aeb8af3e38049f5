"""The mock's DER reader and writer, and its scope notation, on generated input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_esia import der
from mock_esia.scopes import KNOWN_SCOPES, from_per_subject, parse_scope, per_subject

first_arcs = st.one_of(st.tuples(st.integers(0, 1), st.integers(0, 39)), st.tuples(st.just(2), st.integers(0, 10**6)))
oids = st.tuples(first_arcs, st.lists(st.integers(0, 2**40), max_size=8)).map(lambda t: ".".join(map(str, [*t[0], *t[1]])))


@given(st.integers(-(2**300), 2**300))
def test_integers_survive_a_round_trip(value):
    assert der.as_int(der.read(der.integer(value))) == value


@given(oids)
def test_object_identifiers_survive_a_round_trip(dotted):
    assert der.as_oid(der.read(der.oid(dotted))) == dotted


@pytest.mark.parametrize(
    ("dotted", "encoding"),
    [
        ("1.2.840.113549.1.7.2", "06092a864886f70d010702"),  # signedData, as OpenSSL writes it
        ("1.2.643.7.1.1.2.2", "06082a85030701010202"),  # Streebog-256
        ("2.999.3", "0603883703"),  # X.690 8.19.5 example
    ],
)
def test_object_identifiers_are_encoded_as_x690_says(dotted, encoding):
    assert der.oid(dotted).hex() == encoding


@given(st.binary(max_size=70000), st.sampled_from([der.OCTET_STRING, der.SEQUENCE, der.context(3)]))
def test_any_length_is_encoded_and_read_back(content, tag):
    element = der.read(der.encode(tag, content))

    assert (element.tag, element.content) == (tag, content)


def test_indefinite_lengths_from_streaming_writers_are_read():
    inner = der.integer(5) + der.octets(b"abc")
    element = der.read(bytes([der.SEQUENCE, 0x80]) + inner + b"\x00\x00")

    assert [der.as_int(element.children()[0]), der.as_octets(element.children()[1])] == [5, b"abc"]


@pytest.mark.parametrize(
    "data",
    [b"", b"\x30", b"\x30\x05\x02\x01", b"\x02\x01\x05\x00", b"\x1f\x01\x00", b"\x30\x85\x00\x00\x00\x00\x01"],
)
def test_broken_encodings_are_refused(data):
    with pytest.raises(der.DerError):
        der.read(data)


@given(st.lists(st.sampled_from(sorted(KNOWN_SCOPES)), min_size=1, unique=True), st.integers(1, 10**10))
def test_granted_scopes_survive_the_per_subject_form(names, oid):
    claim = per_subject(names, oid)

    assert from_per_subject(claim) == (tuple(names), {str(oid)} if set(names) - {"openid"} else set())
    assert parse_scope(claim) == tuple(names)
