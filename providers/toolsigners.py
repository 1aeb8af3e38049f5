"""Signers that call a certified signing tool: OpenSSL with the GOST engine, CryptoPro, or any other.

Production in Russia needs certified cryptography (docs/esia.md, 'Signing tools'), which lives
in command-line tools, not in Python. Each signer here writes the string to sign into a
private temporary folder, runs the tool with a timeout and without a shell, reads what it
wrote, and checks it before it goes to ESIA: the length and format (64 bytes of raw GOST, or a
detached CMS), and that it verifies with the registered certificate. A failure is a
:class:`SignerError` naming the cause and quoting the tool's stderr.

No secret is ever on a command line: keys are files (OpenSSL) or CryptoPro containers whose
PIN the CSP keeps; the tool gets a small environment of its own (``PATH``, ``HOME``, locale,
and what ``env`` adds), never the broker's.

========================  =====  ==================================================================
kind                      flow   command (``DATA``, ``SIG``: files in the private folder)
========================  =====  ==================================================================
``openssl-raw``           cur.   ``openssl dgst -md_gost12_256 -sign KEY -out SIG DATA``
``openssl-cms``           leg.   ``openssl cms -sign -binary -outform DER -md md_gost12_256
                                 -signer CERT -inkey KEY -in DATA -out SIG``
``csptest-raw``           cur.   ``csptest -keyset -sign GOST12_256 -container NAME -keytype exchange
                                 -in DATA -out SIG`` (the output is byte-reversed)
``csptest-cms``           leg.   ``csptest -sfsign -sign -detached -add -alg GOST12_256 -my THUMB
                                 -in DATA -out SIG``
``cryptcp-cms``           leg.   ``cryptcp -sign -thumbprint THUMB -nochain -norev -der -detached
                                 -cert DATA SIG``
``command-raw``/``-cms``  both   the configured argv, with ``{data}``, ``{signature}``, ``{certificate}``
========================  =====  ==================================================================
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from matching import Reason
from providers.base import ProviderConfigError, ProviderError
from providers.certificates import certificates_in
from providers.cms import CmsError, verify_detached
from providers.gost import GOST3410_2012_256, GostKeyError, GostPublicKey
from providers.signing import SignatureFormat, Signer, load_signer

_log = logging.getLogger(__name__)

#: Every signer kind, and the ``client_secret`` format it makes.
KINDS: dict[str, SignatureFormat] = {
    "gost-raw": "raw",
    "rsa-cms": "cms",
    "openssl-raw": "raw",
    "openssl-cms": "cms",
    "csptest-raw": "raw",
    "csptest-cms": "cms",
    "cryptcp-cms": "cms",
    "command-raw": "raw",
    "command-cms": "cms",
}
#: The tool each kind calls unless ``command`` names another.
DEFAULT_TOOLS = {"openssl": "openssl", "csptest": "/opt/cprocsp/bin/amd64/csptest", "cryptcp": "/opt/cprocsp/bin/amd64/cryptcp"}
#: An OpenSSL config loading Debian's GOST engine (libengine-gost-openssl) for every algorithm.
OPENSSL_GOST_CONF = """openssl_conf = openssl_def
[openssl_def]
engines = engine_section
[engine_section]
gost = gost_section
[gost_section]
engine_id = gost
default_algorithms = ALL
"""
#: The environment variables a tool inherits from the broker's (the rest, secrets among them, stay behind).
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "LD_LIBRARY_PATH")
#: How much of a tool's stderr an error quotes.
STDERR_QUOTE = 600
_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S)
_PLACEHOLDERS = ("{data}", "{signature}", "{certificate}")


class SignerError(ProviderError):
    """The signing tool failed or wrote something ESIA would refuse; nothing was sent to ESIA.

    ``reason`` is ``esia_unavailable``: the person can only try again later, and the operator
    finds the cause (with the tool's stderr) in the log.
    """

    code = "signer_failed"
    description = "The signing tool failed; nothing was sent to ESIA."
    reason = Reason.ESIA_UNAVAILABLE


class SignerConfigError(ProviderConfigError):
    """A signer setting is unusable; ``setting`` names it (a :class:`SignerSettings` field)."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True, slots=True)
class SignerSettings:
    """How to build the signer of one deployment; the broker fills it from its ``ESIA_SIGNER*`` keys."""

    kind: str
    certificate_file: str | Path | None
    key_file: str | Path | None = None
    #: The tool: a path (``openssl``, ``csptest``, ``cryptcp`` kinds) or an argv (``command-*``).
    command: str | Sequence[str] | None = None
    timeout: float = 10.0
    #: The CryptoPro container (``csptest-raw``), e.g. ``\\\\.\\HDIMAGE\\diary``.
    container: str | None = None
    #: The certificate's SHA-1 thumbprint in the CryptoPro store (``*-cms`` kinds); default: computed.
    thumbprint: str | None = None
    #: An OpenSSL config that loads the GOST engine; default: one written for each call.
    openssl_conf: str | Path | None = None
    #: Extra environment variables for the tool (never secrets: they would sit in the config).
    env: Mapping[str, str] = field(default_factory=dict)
    #: ``command-raw`` only: the tool writes the signature byte-reversed, as CryptoPro does.
    reversed: bool = False


def build_signer(settings: SignerSettings) -> Signer:
    """The signer ``settings.kind`` names; :class:`SignerConfigError` names the setting that is wrong."""
    kind = settings.kind
    if kind not in KINDS:
        raise SignerConfigError("kind", f"unknown signer {kind!r}; choose one of {', '.join(KINDS)}.")
    if not settings.certificate_file:
        raise SignerConfigError("certificate_file", "the system's certificate file is not set.")
    if kind in ("gost-raw", "rsa-cms", "openssl-raw", "openssl-cms") and not settings.key_file:
        raise SignerConfigError("key_file", f"the {kind} signer needs the system's private key file.")
    if kind in ("gost-raw", "rsa-cms"):
        assert settings.key_file is not None
        try:
            return load_signer(kind, settings.key_file, settings.certificate_file)  # type: ignore[arg-type]
        except ProviderConfigError as exc:
            raise SignerConfigError("key_and_certificate", str(exc)) from None
    if not isinstance(settings.timeout, (int, float)) or not 0 < settings.timeout <= 120:
        raise SignerConfigError("timeout", "the signer's timeout must be between 0 and 120 seconds.")
    if not isinstance(settings.env, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in settings.env.items()):
        raise SignerConfigError("env", "the tool's environment must map names to strings.")
    certificate_der = read_certificate(settings.certificate_file)
    tool = _tool(settings)
    common = {"certificate_der": certificate_der, "timeout": float(settings.timeout), "env": dict(settings.env)}
    if kind.startswith("openssl-"):
        key_file = Path(str(settings.key_file)).resolve()  # the tool runs in its private folder
        if not key_file.is_file():
            raise SignerConfigError("key_file", f"cannot read the private key {key_file}.")
        conf = Path(settings.openssl_conf).resolve() if settings.openssl_conf else None
        if conf is not None and not conf.is_file():
            raise SignerConfigError("openssl_conf", f"the OpenSSL config {conf} is not a readable file.")
        _check_pair(key_file, settings.certificate_file, certificate_der)
        signer_class = OpensslRawSigner if kind == "openssl-raw" else OpensslCmsSigner
        return signer_class(tool[0], key_file, conf, **common)
    if kind == "csptest-raw":
        if not settings.container:
            raise SignerConfigError("container", "the csptest-raw signer needs the CryptoPro container's name.")
        return CsptestRawSigner(tool[0], settings.container, **common)
    if kind in ("csptest-cms", "cryptcp-cms"):
        thumbprint = settings.thumbprint or sha1_thumbprint(certificate_der)
        if not re.fullmatch(r"[0-9a-fA-F]{40}", thumbprint):
            raise SignerConfigError("thumbprint", "the thumbprint must be 40 hex digits (the certificate's SHA-1).")
        return (CsptestCmsSigner if kind == "csptest-cms" else CryptcpCmsSigner)(tool[0], thumbprint, **common)
    return GenericCommandSigner(tool, KINDS[kind], reversed_output=settings.reversed, **common)


def read_certificate(path: str | Path) -> bytes:
    """The one certificate (PEM or DER) in ``path``, DER."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SignerConfigError("certificate_file", f"cannot read the certificate {path}: {exc.strerror}.") from None
    found = certificates_in(data)
    if len(found) != 1:
        raise SignerConfigError("certificate_file", f"{path} must hold exactly one certificate (PEM or DER), found {len(found)}.")
    try:
        x509.load_der_x509_certificate(found[0])
    except ValueError as exc:
        raise SignerConfigError("certificate_file", f"{path} is not a readable X.509 certificate ({exc}).") from None
    return found[0]


def _check_pair(key_file: Path, certificate_file: str | Path, certificate_der: bytes) -> None:
    """Refuse a key file that does not belong to the certificate, before any tool runs."""
    gost = x509.load_der_x509_certificate(certificate_der).public_key_algorithm_oid.dotted_string == GOST3410_2012_256
    try:
        load_signer("gost-raw" if gost else "rsa-cms", key_file, certificate_file)
    except ProviderConfigError as exc:
        raise SignerConfigError("key_and_certificate", str(exc)) from None


def sha1_thumbprint(certificate_der: bytes) -> str:
    """The certificate's SHA-1 thumbprint, as CryptoPro's store names it (lowercase hex)."""
    return hashlib.sha1(certificate_der, usedforsecurity=False).hexdigest()


def _tool(settings: SignerSettings) -> list[str]:
    command = settings.command
    if settings.kind.startswith("command-"):
        if isinstance(command, str) or not command or not all(isinstance(part, str) and part for part in command):
            raise SignerConfigError("command", f"the {settings.kind} signer needs the tool's argv as a list of strings.")
        argv = [str(Path(command[0]).resolve()) if os.sep in command[0] else command[0], *command[1:]]  # runs in its private folder
        if "{signature}" not in " ".join(argv) or "{data}" not in " ".join(argv):
            raise SignerConfigError("command", "the command must name {data} (the file to sign) and {signature} (where to write).")
        return argv
    if command is None:
        return [DEFAULT_TOOLS[settings.kind.split("-")[0]]]
    if not isinstance(command, str) or not command:
        raise SignerConfigError("command", f"the {settings.kind} signer's command is the tool's path, a string.")
    return [str(Path(command).resolve()) if os.sep in command else command]  # the tool runs in its private folder


def tool_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The tool's environment: a few of the broker's variables, and ``extra``."""
    env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(extra)
    return env


def quote_stderr(stderr: bytes, hide: bytes = b"") -> str:
    """The end of a tool's stderr, for an error message: decoded, one line, private keys and
    ``hide`` (the signed string: the token request's carries the authorization code) cut out."""
    cleaned = _PRIVATE_KEY.sub(b"[a private key, not shown]", stderr)
    if hide:
        cleaned = cleaned.replace(hide, b"[the signed data]")
    text = " ".join(cleaned.decode("utf-8", "replace").split())
    if len(text) > STDERR_QUOTE:
        text = "…" + text[-STDERR_QUOTE:]
    return text or "(nothing on stderr)"


def run_tool(
    argv: Sequence[str], *, timeout: float, env: Mapping[str, str], cwd: Path, hide: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` (no shell, no stdin) within ``timeout``; raise :class:`SignerError` unless it exits 0."""
    name = Path(argv[0]).name
    try:
        done = subprocess.run(
            list(argv), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, env=dict(env), cwd=cwd, check=False
        )
    except FileNotFoundError:
        raise _failed(f"the signing tool {argv[0]} is not installed (or not on PATH)") from None
    except PermissionError:
        raise _failed(f"the signing tool {argv[0]} may not be run (is it executable?)") from None
    except subprocess.TimeoutExpired as exc:
        raise _failed(f"{name} did not finish within {timeout:g} s; stderr: {quote_stderr(exc.stderr or b'', hide)}") from None
    if done.returncode != 0:
        raise _failed(f"{name} failed (exit status {done.returncode}); stderr: {quote_stderr(done.stderr, hide)}")
    return done


def _failed(message: str) -> SignerError:
    _log.error("ESIA client_secret not signed: %s", message)
    return SignerError(message)


class ToolSigner:
    """What every tool signer shares: the private folder, the run, and the check before sending."""

    signature_format: SignatureFormat
    kind: str

    def __init__(self, *, certificate_der: bytes, timeout: float, env: Mapping[str, str]) -> None:
        self._certificate_der = certificate_der
        self._timeout = timeout
        self._env = tool_environment(env)
        self._gost_key: GostPublicKey | None = None
        is_gost = x509.load_der_x509_certificate(certificate_der).public_key_algorithm_oid.dotted_string == GOST3410_2012_256
        if is_gost:
            try:
                self._gost_key = GostPublicKey.from_certificate(certificate_der)
            except GostKeyError as exc:
                raise SignerConfigError("certificate_file", f"the certificate's GOST key is unusable: {exc}.") from None
        elif self.signature_format == "raw":
            raise SignerConfigError("certificate_file", f"the {self.kind} signer makes GOST signatures; this certificate has no GOST key.")

    @property
    def certificate_der(self) -> bytes:
        return self._certificate_der

    def sign(self, data: bytes) -> bytes:
        with tempfile.TemporaryDirectory(prefix="esia-sign-") as name:  # mode 0700
            folder = Path(name)
            (folder / "data").write_bytes(data)
            argv = self._argv(folder)
            done = run_tool(argv, timeout=self._timeout, env=self._tool_env(folder), cwd=folder, hide=data)
            written = folder / "signature"
            if not written.is_file():
                raise _failed(f"{Path(argv[0]).name} exited 0 but wrote no signature; stderr: {quote_stderr(done.stderr, data)}")
            output = written.read_bytes()
        signature = self._decode(output)
        self.check(data, signature)
        return signature

    def check(self, data: bytes, signature: bytes) -> None:
        """Raise :class:`SignerError` unless ``signature`` is what ESIA accepts for ``data`` from our certificate."""
        if self.signature_format == "raw":
            if len(signature) != 64:
                raise _failed(f"the tool wrote {len(signature)} bytes; a raw GOST R 34.10-2012 (256) signature has 64")
            assert self._gost_key is not None
            if not self._gost_key.verify(data, signature):
                hint = (
                    " (it verifies byte-reversed: the tool's byte order differs from OpenSSL's)"
                    if self._gost_key.verify(data, signature[::-1])
                    else " (a key of another certificate, or a digest other than Streebog-256)"
                )
                raise _failed("the signature does not verify with the registered certificate" + hint)
            return
        try:
            verify_detached(signature, data, self._certificate_der)
        except CmsError as exc:
            raise _failed(f"the CMS signature the tool wrote is unusable: {exc}") from None

    def _argv(self, folder: Path) -> list[str]:
        raise NotImplementedError

    def _tool_env(self, folder: Path) -> dict[str, str]:
        return self._env

    def _decode(self, output: bytes) -> bytes:
        return output

    def __repr__(self) -> str:
        subject = x509.load_der_x509_certificate(self._certificate_der).subject.rfc4514_string()
        return f"{type(self).__name__}(certificate={subject!r})"


class _Openssl(ToolSigner):
    def __init__(self, openssl: str, key_file: Path, conf: Path | None, **common: object) -> None:
        self._openssl = openssl
        self._key_file = key_file
        self._conf = conf
        super().__init__(**common)  # type: ignore[arg-type]

    def _tool_env(self, folder: Path) -> dict[str, str]:
        conf = self._conf
        if conf is None:
            conf = folder / "gost.cnf"
            conf.write_text(OPENSSL_GOST_CONF)
        return {**self._env, "OPENSSL_CONF": str(conf)}


class OpensslRawSigner(_Openssl):
    """``openssl dgst -md_gost12_256 -sign``: raw ``s || r``, used as is (current flow)."""

    signature_format: SignatureFormat = "raw"
    kind = "openssl-raw"

    def _argv(self, folder: Path) -> list[str]:
        return [
            self._openssl,
            "dgst",
            "-md_gost12_256",
            "-sign",
            str(self._key_file),
            "-out",
            str(folder / "signature"),
            str(folder / "data"),
        ]


class OpensslCmsSigner(_Openssl):
    """``openssl cms -sign``: detached DER CMS, Streebog-256 (SHA-256 for an RSA key), certificate embedded (legacy flow)."""

    signature_format: SignatureFormat = "cms"
    kind = "openssl-cms"

    def _argv(self, folder: Path) -> list[str]:
        certificate = folder / "certificate.pem"
        pem = x509.load_der_x509_certificate(self._certificate_der).public_bytes(serialization.Encoding.PEM)
        certificate.write_bytes(pem)
        digest = "md_gost12_256" if self._gost_key is not None else "sha256"
        return [
            self._openssl, "cms", "-sign", "-binary", "-outform", "DER", "-md", digest, "-signer", str(certificate),
            "-inkey", str(self._key_file), "-in", str(folder / "data"), "-out", str(folder / "signature"),
        ]  # fmt: skip


class CsptestRawSigner(ToolSigner):
    """CryptoPro ``csptest -keyset -sign GOST12_256``: raw, written byte-reversed, reversed back (current flow)."""

    signature_format: SignatureFormat = "raw"
    kind = "csptest-raw"

    def __init__(self, csptest: str, container: str, **common: object) -> None:
        self._csptest = csptest
        self._container = container
        super().__init__(**common)  # type: ignore[arg-type]

    def _argv(self, folder: Path) -> list[str]:
        return [
            self._csptest, "-keyset", "-sign", "GOST12_256", "-container", self._container, "-keytype", "exchange",
            "-in", str(folder / "data"), "-out", str(folder / "signature"),
        ]  # fmt: skip

    def _decode(self, output: bytes) -> bytes:
        return output[::-1]  # CryptoPro writes the signature little-endian as a whole (docs/esia.md)


class CsptestCmsSigner(ToolSigner):
    """CryptoPro ``csptest -sfsign -sign -detached``: detached DER CMS by the certificate's thumbprint (legacy flow)."""

    signature_format: SignatureFormat = "cms"
    kind = "csptest-cms"

    def __init__(self, csptest: str, thumbprint: str, **common: object) -> None:
        self._csptest = csptest
        self._thumbprint = thumbprint
        super().__init__(**common)  # type: ignore[arg-type]

    def _argv(self, folder: Path) -> list[str]:
        return [
            self._csptest, "-sfsign", "-sign", "-detached", "-add", "-alg", "GOST12_256", "-my", self._thumbprint,
            "-in", str(folder / "data"), "-out", str(folder / "signature"),
        ]  # fmt: skip


class CryptcpCmsSigner(ToolSigner):
    """CryptoPro ``cryptcp -sign -detached -der``: detached DER CMS by the certificate's thumbprint (legacy flow)."""

    signature_format: SignatureFormat = "cms"
    kind = "cryptcp-cms"

    def __init__(self, cryptcp: str, thumbprint: str, **common: object) -> None:
        self._cryptcp = cryptcp
        self._thumbprint = thumbprint
        super().__init__(**common)  # type: ignore[arg-type]

    def _argv(self, folder: Path) -> list[str]:
        return [
            self._cryptcp, "-sign", "-thumbprint", self._thumbprint, "-nochain", "-norev", "-der", "-detached", "-cert",
            str(folder / "data"), str(folder / "signature"),
        ]  # fmt: skip


class GenericCommandSigner(ToolSigner):
    """Any other certified tool: the configured argv with ``{data}``, ``{signature}`` and ``{certificate}`` filled in."""

    def __init__(self, argv: Sequence[str], signature_format: SignatureFormat, *, reversed_output: bool, **common: object) -> None:
        self._template = list(argv)
        self.signature_format = signature_format
        self.kind = f"command-{signature_format}"
        self._reversed = reversed_output
        super().__init__(**common)  # type: ignore[arg-type]

    def _argv(self, folder: Path) -> list[str]:
        certificate = folder / "certificate.der"
        certificate.write_bytes(self._certificate_der)
        paths = {"{data}": folder / "data", "{signature}": folder / "signature", "{certificate}": certificate}
        argv = []
        for part in self._template:
            for placeholder in _PLACEHOLDERS:
                part = part.replace(placeholder, str(paths[placeholder]))
            argv.append(part)
        return argv

    def _decode(self, output: bytes) -> bytes:
        return output[::-1] if self._reversed else output
