"""Verification of detached CMS (PKCS#7) signatures, the legacy flow's ``client_secret``.

A client of ``/aas/oauth2/ac`` and ``/aas/oauth2/te`` signs ``scope + timestamp + client_id +
state`` as CMS ``SignedData`` without the content, usually with its certificate embedded
(docs/esia.md). Signers differ in whether they add signed attributes (``openssl smime`` does
unless ``-noattr``), so both forms are accepted. RSA (with SHA-256/384/512) is verified by
`cryptography`; GOST R 34.10-2012 (256) with Streebog-256 by :mod:`mock_esia.gost`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from mock_esia import der
from mock_esia.certificates import Certificate
from mock_esia.gost import GOST3410_2012_256, SIGNWITHDIGEST_2012_256, STREEBOG_256, GostPublicKey, streebog256

_SIGNED_DATA = "1.2.840.113549.1.7.2"
_DATA = "1.2.840.113549.1.7.1"
_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"

_DIGESTS = {
    "2.16.840.1.101.3.4.2.1": ("sha256", hashes.SHA256),
    "2.16.840.1.101.3.4.2.2": ("sha384", hashes.SHA384),
    "2.16.840.1.101.3.4.2.3": ("sha512", hashes.SHA512),
    STREEBOG_256: ("streebog256", None),
}
_RSA_SIGNATURES = {
    "1.2.840.113549.1.1.1",  # rsaEncryption
    "1.2.840.113549.1.1.11",  # sha256WithRSAEncryption
    "1.2.840.113549.1.1.12",  # sha384WithRSAEncryption
    "1.2.840.113549.1.1.13",  # sha512WithRSAEncryption
}
_GOST_SIGNATURES = {GOST3410_2012_256, SIGNWITHDIGEST_2012_256}


class CmsError(ValueError):
    """The CMS signature is malformed, unsupported, made by another key or over other data."""


def verify_detached(signature: bytes, content: bytes, registered: Sequence[Certificate]) -> Certificate:
    """Verify ``signature`` over ``content`` by one of the ``registered`` certificates.

    The signer is found by the ``SignerIdentifier`` (issuer and serial, or key identifier)
    among the registered certificates; a certificate embedded in the message counts only if
    it is one of them. Returns the certificate that verified.
    """
    try:
        signed_data, embedded = _signed_data(signature)
        signer_infos = signed_data[-1].expect(der.SET).children()
        if not signer_infos:
            raise CmsError("the CMS message has no signer")
        for signer_info in signer_infos:
            certificate = _signer_certificate(signer_info, registered)
            if certificate is None:
                continue
            if embedded and certificate.der not in embedded:
                raise CmsError("the embedded certificate differs from the registered one")
            _check_signer(signer_info, content, certificate)
            return certificate
    except der.DerError as exc:
        raise CmsError(f"malformed CMS: {exc}") from exc
    raise CmsError("the CMS message is not signed by a certificate registered for the system")


def _signed_data(signature: bytes) -> tuple[list[der.Element], set[bytes]]:
    content_info = der.read(signature).expect(der.SEQUENCE).children()
    if der.as_oid(content_info[0]) != _SIGNED_DATA:
        raise CmsError("the CMS message is not SignedData")
    signed_data = content_info[1].expect(der.context(0)).children()[0].expect(der.SEQUENCE).children()
    encapsulated = signed_data[2].children()
    if der.as_oid(encapsulated[0]) != _DATA:
        raise CmsError("the signed content type is not data")
    if len(encapsulated) > 1:
        raise CmsError("the CMS message is not detached: it carries its content")
    embedded: set[bytes] = set()
    for item in signed_data[3:-1]:
        if item.tag == der.context(0):
            embedded.update(child.encoded for child in item.children())
    return signed_data, embedded


def _signer_certificate(signer_info: der.Element, registered: Sequence[Certificate]) -> Certificate | None:
    identifier = signer_info.children()[1]
    if identifier.tag == der.SEQUENCE:
        issuer, serial = identifier.children()
        for certificate in registered:
            if certificate.issuer_der == issuer.encoded and certificate.serial == der.as_int(serial):
                return certificate
    elif identifier.tag == der.context(0, constructed=False):
        for certificate in registered:
            if certificate.subject_key_id == identifier.content:
                return certificate
    return None


def _check_signer(signer_info: der.Element, content: bytes, certificate: Certificate) -> None:
    parts = signer_info.children()
    digest_oid = der.as_oid(parts[2].children()[0])
    if digest_oid not in _DIGESTS:
        raise CmsError(f"unsupported digest algorithm {digest_oid}")
    index = 3
    signed_attributes = None
    if parts[index].tag == der.context(0):
        signed_attributes = parts[index]
        index += 1
    signature_oid = der.as_oid(parts[index].children()[0])
    value = der.as_octets(parts[index + 1])

    if signed_attributes is None:
        signed = content
    else:
        _check_attributes(signed_attributes, _digest(digest_oid, content))
        # The signature covers the attributes re-tagged as a SET OF (RFC 5652 §5.4).
        signed = der.encode(der.SET, signed_attributes.content)

    public_key = certificate.public_key
    if isinstance(public_key, GostPublicKey):
        if signature_oid not in _GOST_SIGNATURES or digest_oid != STREEBOG_256:
            raise CmsError("a GOST certificate needs a GOST R 34.10-2012 signature with Streebog-256")
        if not public_key.verify(signed, value):
            raise CmsError("the GOST signature does not verify")
        return
    if signature_oid not in _RSA_SIGNATURES or _DIGESTS[digest_oid][1] is None:
        raise CmsError("an RSA certificate needs an RSA signature with SHA-2")
    algorithm = _DIGESTS[digest_oid][1]
    assert algorithm is not None
    try:
        public_key.verify(value, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise CmsError("the RSA signature does not verify") from None


def _check_attributes(attributes: der.Element, expected_digest: bytes) -> None:
    found: dict[str, der.Element] = {}
    for attribute in attributes.children():
        kind, values = attribute.children()
        found[der.as_oid(kind)] = values.children()[0]
    if _MESSAGE_DIGEST not in found or der.as_octets(found[_MESSAGE_DIGEST]) != expected_digest:
        raise CmsError("the signed messageDigest attribute does not match the content")
    if _CONTENT_TYPE in found and der.as_oid(found[_CONTENT_TYPE]) != _DATA:
        raise CmsError("the signed contentType attribute is not data")


def _digest(digest_oid: str, content: bytes) -> bytes:
    name = _DIGESTS[digest_oid][0]
    if name == "streebog256":
        return streebog256(content)
    return hashlib.new(name, content).digest()
