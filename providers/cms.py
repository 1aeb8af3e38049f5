"""Checking a detached CMS ``client_secret`` against our own certificate, before it is sent.

A signing tool (``openssl cms``, CryptoPro's ``cryptcp`` or ``csptest -sfsign``) writes a CMS
SignedData; the legacy flow sends it as ``client_secret``
(docs/esia.md, 'client_secret signing'). Before it leaves, the signer checks here that it is
what ESIA wants: detached (no content), signed by the registered certificate (named by issuer
and serial or by key identifier, and embedded, if at all, unchanged), with Streebog-256 under a
GOST key or SHA-2 under an RSA one, and that the signature verifies over the data (through the
signed attributes' ``messageDigest`` when there are signed attributes).
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from providers import der
from providers.gost import GOST3410_2012_256, GostKeyError, GostPublicKey, streebog256

_SIGNED_DATA = "1.2.840.113549.1.7.2"
_DATA = "1.2.840.113549.1.7.1"
_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
STREEBOG_256 = "1.2.643.7.1.1.2.2"
_GOST_SIGNATURES = {GOST3410_2012_256, "1.2.643.7.1.1.3.2"}  # the key's OID, or "signwithdigest"
_SHA2 = {
    "2.16.840.1.101.3.4.2.1": ("sha256", hashes.SHA256),
    "2.16.840.1.101.3.4.2.2": ("sha384", hashes.SHA384),
    "2.16.840.1.101.3.4.2.3": ("sha512", hashes.SHA512),
}
_RSA_SIGNATURES = {"1.2.840.113549.1.1.1", "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13"}
#: Names of digests a tool may pick by mistake, for the error message.
_DIGEST_NAMES = {
    STREEBOG_256: "Streebog-256",
    "1.2.643.7.1.1.2.3": "Streebog-512",
    "1.2.643.2.2.9": "GOST R 34.11-94",
    "1.3.14.3.2.26": "SHA-1",
    **{oid: name.upper().replace("SHA", "SHA-") for oid, (name, _) in _SHA2.items()},
}


class CmsError(ValueError):
    """The CMS signature is malformed, not detached, made by another key, with the wrong digest or over other data."""


def encode(tag: int, content: bytes) -> bytes:
    """One DER element: ``tag``, the definite length, ``content``."""
    if len(content) < 0x80:
        return bytes([tag, len(content)]) + content
    size = len(content).to_bytes((len(content).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def verify_detached(signature: bytes, data: bytes, certificate_der: bytes) -> None:
    """Raise :class:`CmsError` unless ``signature`` is a detached CMS over ``data`` by ``certificate_der``."""
    try:
        _verify(signature, data, certificate_der)
    except (der.DerError, IndexError) as exc:
        raise CmsError(f"it is not a DER CMS SignedData ({exc})") from None


def _verify(signature: bytes, data: bytes, certificate_der: bytes) -> None:
    content_info = der.parse(signature).expect(der.SEQUENCE).children()
    if content_info[0].oid() != _SIGNED_DATA:
        raise CmsError("it is a CMS message, but not SignedData")
    signed_data = content_info[1].expect(0xA0).children()[0].expect(der.SEQUENCE).children()
    encapsulated = signed_data[2].expect(der.SEQUENCE).children()
    if encapsulated[0].oid() != _DATA:
        raise CmsError("the signed content type is not data")
    if len(encapsulated) > 1:
        raise CmsError("it carries the signed content: ESIA wants a detached signature")
    for item in signed_data[3:-1]:
        if item.tag == 0xA0:
            embedded = [encode(child.tag, child.content) for child in item.children()]
            if embedded and certificate_der not in embedded:
                raise CmsError("the certificate embedded in it is not the registered one")
    signer_infos = signed_data[-1].expect(0x31).children()
    if len(signer_infos) != 1:
        raise CmsError(f"it has {len(signer_infos)} signers; ESIA expects exactly one")
    _check_signer(signer_infos[0].expect(der.SEQUENCE).children(), data, certificate_der)


def _check_signer(parts: list[der.Node], data: bytes, certificate_der: bytes) -> None:
    certificate = x509.load_der_x509_certificate(certificate_der)
    _check_identifier(parts[1], certificate)
    digest_oid = parts[2].expect(der.SEQUENCE).children()[0].oid()
    index = 3
    attributes = None
    if parts[index].tag == 0xA0:
        attributes = parts[index]
        index += 1
    signature_oid = parts[index].expect(der.SEQUENCE).children()[0].oid()
    value = parts[index + 1].expect(der.OCTET_STRING).content
    gost = certificate.public_key_algorithm_oid.dotted_string == GOST3410_2012_256
    digest_name = _DIGEST_NAMES.get(digest_oid, digest_oid)
    if gost and (digest_oid != STREEBOG_256 or signature_oid not in _GOST_SIGNATURES):
        raise CmsError(f"it is made with {digest_name}; a GOST certificate needs GOST R 34.10-2012 with Streebog-256")
    if not gost and (digest_oid not in _SHA2 or signature_oid not in _RSA_SIGNATURES):
        raise CmsError(f"it is made with {digest_name}; an RSA certificate needs an RSA signature with SHA-2")
    digest = streebog256(data) if gost else hashlib.new(_SHA2[digest_oid][0], data).digest()
    if attributes is None:
        signed = data
    else:
        _check_attributes(attributes, digest)
        signed = encode(0x31, attributes.content)  # the attributes re-tagged as a SET OF (RFC 5652 §5.4)
    if gost:
        try:
            verified = GostPublicKey.from_certificate(certificate_der).verify(signed, value)
        except GostKeyError as exc:
            raise CmsError(f"the certificate's GOST key is unusable ({exc})") from None
        if not verified:
            raise CmsError("its GOST signature does not verify with the registered certificate")
        return
    try:
        key = certificate.public_key()
    except UnsupportedAlgorithm:
        key = None
    if not isinstance(key, rsa.RSAPublicKey):
        raise CmsError("the registered certificate has neither a GOST nor an RSA key")
    try:
        key.verify(value, signed, padding.PKCS1v15(), _SHA2[digest_oid][1]())
    except InvalidSignature:
        raise CmsError("its RSA signature does not verify with the registered certificate") from None


def _check_identifier(identifier: der.Node, certificate: x509.Certificate) -> None:
    if identifier.tag == der.SEQUENCE:
        issuer, serial = identifier.children()
        ours = certificate.issuer.public_bytes() == encode(issuer.tag, issuer.content)
        if ours and int.from_bytes(serial.expect(der.INTEGER).content, "big", signed=True) == certificate.serial_number:
            return
    elif identifier.tag == 0x80:
        try:
            key_id = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            key_id = None
        if identifier.content == key_id:
            return
    raise CmsError("it names another signer than the registered certificate")


def _check_attributes(attributes: der.Node, digest: bytes) -> None:
    found: dict[str, der.Node] = {}
    for attribute in attributes.children():
        kind, values = attribute.expect(der.SEQUENCE).children()
        found[kind.oid()] = values.children()[0]
    if _MESSAGE_DIGEST not in found or found[_MESSAGE_DIGEST].expect(der.OCTET_STRING).content != digest:
        raise CmsError("its signed messageDigest is not the digest of the data")
    if _CONTENT_TYPE in found and found[_CONTENT_TYPE].oid() != _DATA:
        raise CmsError("its signed contentType is not data")
