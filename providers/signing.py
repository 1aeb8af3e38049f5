"""How our system signs ``client_secret``: one small interface, one class per kind of signature.

ESIA identifies the client system by a signature over the request's parameters (docs/esia.md):

* the legacy flow (``/aas/oauth2/ac`` + ``/te``) wants a **detached CMS** (PKCS#7) SignedData
  with the signer's certificate embedded; :class:`RsaCmsSigner` makes it with RSA-SHA256;
* the current flow (``/aas/oauth2/v2/ac`` + ``/v3/te``) wants a **raw** 64-byte GOST R
  34.10-2012 (256) signature over Streebog-256, ``s || r`` as OpenSSL writes it, and the
  certificate's Streebog-256 hash in ``client_certificate_hash``; :class:`GostRawSigner` makes
  it in pure Python.

The signers that call a certified tool (OpenSSL's command line with the GOST engine, CryptoPro's
``csptest`` with its byte-reversed output and ``cryptcp``, any other command) fit the same
:class:`Signer` protocol: :mod:`providers.toolsigners`, whose ``build_signer`` also builds these two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from providers.base import ProviderConfigError
from providers.certificates import certificates_in, pem_blocks
from providers.gost import GostKeyError, GostPrivateKey, GostPublicKey, streebog256

SignatureFormat = Literal["cms", "raw"]
SignerKind = Literal["rsa-cms", "gost-raw"]


class Signer(Protocol):
    """Signs the strings ESIA asks the client system to sign."""

    #: ``"cms"`` (detached CMS, legacy flow) or ``"raw"`` (raw GOST, current flow).
    signature_format: SignatureFormat

    @property
    def certificate_der(self) -> bytes:
        """The client system's certificate, DER, as registered on ESIA's technology portal."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Return the signature bytes the flow sends (base64url-encoded by the caller)."""
        ...


def client_certificate_hash(certificate_der: bytes) -> str:
    """``client_certificate_hash``: Streebog-256 of the DER certificate, uppercase hex (docs/esia.md)."""
    return streebog256(certificate_der).hex().upper()


class RsaCmsSigner:
    """Detached CMS SignedData with RSA-SHA256 and the certificate embedded (legacy flow).

    Signed attributes (content type, signing time, message digest) are included, as
    ``openssl smime -sign -binary -outform DER`` does.
    """

    signature_format: SignatureFormat = "cms"

    def __init__(self, key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> None:
        if key.public_key().public_numbers() != _rsa_public_key(certificate).public_numbers():
            raise ProviderConfigError("The RSA private key does not belong to the client certificate.")
        self._key = key
        self._certificate = certificate

    @property
    def certificate_der(self) -> bytes:
        return self._certificate.public_bytes(serialization.Encoding.DER)

    def sign(self, data: bytes) -> bytes:
        builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(self._certificate, self._key, hashes.SHA256())
        options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoCapabilities]
        return builder.sign(serialization.Encoding.DER, options)

    def __repr__(self) -> str:
        return f"RsaCmsSigner(certificate={self._certificate.subject.rfc4514_string()!r})"


class GostRawSigner:
    """Raw GOST R 34.10-2012 (256) over Streebog-256, 64 bytes ``s || r`` (current flow)."""

    signature_format: SignatureFormat = "raw"

    def __init__(self, key: GostPrivateKey, certificate_der: bytes) -> None:
        try:
            public_key = GostPublicKey.from_certificate(certificate_der)
        except GostKeyError as exc:
            raise ProviderConfigError(f"The client certificate has no usable GOST key: {exc}.") from None
        if key.public_key() != public_key:
            raise ProviderConfigError("The GOST private key does not belong to the client certificate.")
        self._key = key
        self._certificate_der = certificate_der

    @property
    def certificate_der(self) -> bytes:
        return self._certificate_der

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def __repr__(self) -> str:
        return f"GostRawSigner(certificate_hash={client_certificate_hash(self._certificate_der)!r})"


def load_signer(kind: SignerKind, key_path: str | Path, certificate_path: str | Path, *, password: bytes | None = None) -> Signer:
    """Build a signer from a PEM private key and a PEM or DER certificate.

    ``kind`` is ``"rsa-cms"`` (legacy flow) or ``"gost-raw"`` (current flow). The GOST key is
    the unencrypted PKCS#8 that ``openssl genpkey -algorithm gost2012_256`` writes; ``password``
    applies to RSA keys only.
    """
    key_data = _read(key_path, "private key")
    certificate_der = _certificate_der(_read(certificate_path, "certificate"), certificate_path)
    if kind == "rsa-cms":
        try:
            key = serialization.load_pem_private_key(key_data, password=password)
            certificate = x509.load_der_x509_certificate(certificate_der)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ProviderConfigError(f"Cannot read the RSA key {key_path} or certificate {certificate_path}: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ProviderConfigError(f"{key_path} is not an RSA private key; the rsa-cms signer needs one.")
        return RsaCmsSigner(key, certificate)
    if kind == "gost-raw":
        blocks = pem_blocks(key_data, "PRIVATE KEY")
        if not blocks:
            raise ProviderConfigError(f"{key_path} holds no unencrypted PEM 'PRIVATE KEY' (PKCS#8); the gost-raw signer needs one.")
        try:
            gost_key = GostPrivateKey.from_pkcs8(blocks[0])
        except GostKeyError as exc:
            raise ProviderConfigError(f"{key_path}: {exc}.") from None
        return GostRawSigner(gost_key, certificate_der)
    raise ProviderConfigError(f"Unknown signer kind {kind!r}; choose 'rsa-cms' or 'gost-raw'.")


def _certificate_der(data: bytes, path: str | Path) -> bytes:
    found = certificates_in(data)
    if len(found) != 1:
        raise ProviderConfigError(f"{path} must hold exactly one certificate (PEM or DER), found {len(found)}.")
    return found[0]


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ProviderConfigError(f"Cannot read the {what} {path}: {exc.strerror}.") from None


def _rsa_public_key(certificate: x509.Certificate) -> rsa.RSAPublicKey:
    try:
        key = certificate.public_key()
    except UnsupportedAlgorithm:
        key = None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ProviderConfigError("The client certificate has no RSA key; the rsa-cms signer needs one.")
    return key
