"""``broker esia check``: is everything needed to sign ESIA's requests and read its tokens in order?

It reads the configured certificate, builds the configured signer (key file, CryptoPro container
or tool), signs a sample string of the configured flow, verifies the signature with the
certificate on its own, and reads ESIA's token-signing certificates. Each finding is one line in
plain words; an ``error`` is something ESIA (or the broker) would refuse.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509

from broker.errors import BrokerError
from providers import ProviderConfigError, Signer, client_certificate_hash
from providers.certificates import read_certificates
from providers.cms import CmsError, verify_detached
from providers.gost import GOST3410_2012_256, GostKeyError, GostPublicKey
from providers.toolsigners import KINDS, SignerConfigError, SignerError, read_certificate, sha1_thumbprint

Level = Literal["ok", "info", "warning", "error"]
#: Flows and the signature format each needs (docs/esia.md, 'The two flows').
_FORMATS = {"current": "raw", "legacy": "cms"}


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    text: str

    def __str__(self) -> str:
        return f"{self.level}: {self.text}"


def check(config: Mapping[str, Any], make_signer: Callable[[Mapping[str, Any]], Signer], now: dt.datetime) -> list[Finding]:
    """Every finding about the ESIA_* keys, in the order an operator fixes them."""
    findings: list[Finding] = []
    flow = config.get("ESIA_FLOW", "current")
    kind = config.get("ESIA_SIGNER")
    if flow not in _FORMATS:
        return [Finding("error", f"ESIA_FLOW is {flow!r}; it must be 'current' (v2/ac + v3/te) or 'legacy' (ac + te).")]
    if kind not in KINDS:
        return [Finding("error", f"ESIA_SIGNER is {kind!r}; choose one of {', '.join(KINDS)}.")]
    if KINDS[kind] != _FORMATS[flow]:
        fitting = ", ".join(name for name, form in KINDS.items() if form == _FORMATS[flow])
        return [Finding("error", f"ESIA_SIGNER {kind} does not fit the {flow} flow (ESIA_FLOW); it needs one of {fitting}.")]
    findings.append(Finding("info", f"flow: {flow}; signer: {kind}"))
    certificate_der = _certificate(config, flow, now, findings)
    if certificate_der is not None:
        _signer(config, flow, certificate_der, make_signer, findings)
    _token_certificates(config, now, findings)
    return findings


def _signer(
    config: Mapping[str, Any],
    flow: str,
    certificate_der: bytes,
    make_signer: Callable[[Mapping[str, Any]], Signer],
    findings: list[Finding],
) -> None:
    try:
        signer = make_signer(config)
    except (BrokerError, ProviderConfigError) as exc:
        findings.append(Finding("error", f"the signer cannot be built: {exc}"))
        return
    if signer.certificate_der != certificate_der:
        findings.append(Finding("error", "the signer's certificate is not ESIA_CERTIFICATE_FILE's."))
        return
    _sample(config, flow, signer, findings)


def _certificate(config: Mapping[str, Any], flow: str, now: dt.datetime, findings: list[Finding]) -> bytes | None:
    """Read and describe our certificate: subject, validity, hashes, key; None when it is unusable."""
    path = config.get("ESIA_CERTIFICATE_FILE")
    if not path:
        findings.append(Finding("error", "ESIA_CERTIFICATE_FILE is not set: name the certificate registered for the system."))
        return None
    try:
        certificate_der = read_certificate(path)
    except SignerConfigError as exc:
        findings.append(Finding("error", f"ESIA_CERTIFICATE_FILE: {exc}"))
        return None
    certificate = x509.load_der_x509_certificate(certificate_der)
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    findings.append(Finding("info", f"certificate {path}: subject {certificate.subject.rfc4514_string()}"))
    findings.append(
        Finding("info", f"issuer {certificate.issuer.rfc4514_string()}; valid {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
    )
    findings.append(
        Finding("info", f"client_certificate_hash {client_certificate_hash(certificate_der)} (Streebog-256 of the DER certificate)")
    )
    findings.append(Finding("info", f"SHA-1 thumbprint {sha1_thumbprint(certificate_der)} (how CryptoPro's store names it)"))
    if now < start:
        findings.append(Finding("error", f"the certificate is not valid yet: it starts on {start:%Y-%m-%d %H:%M} UTC."))
    elif now > end:
        findings.append(Finding("error", f"the certificate expired on {end:%Y-%m-%d}: ESIA refuses its signatures. Register a new one."))
    elif end - now < dt.timedelta(days=int(config.get("ESIA_CERTIFICATE_WARN_DAYS", 30))):
        findings.append(
            Finding("warning", f"the certificate expires on {end:%Y-%m-%d}, in {(end - now).days} days: register its successor now.")
        )
    gost = certificate.public_key_algorithm_oid.dotted_string == GOST3410_2012_256
    if gost:
        try:
            GostPublicKey.from_certificate(certificate_der)
        except GostKeyError as exc:
            findings.append(Finding("error", f"the certificate's GOST key is unusable: {exc}."))
            return None
        findings.append(Finding("info", "key: GOST R 34.10-2012 (256 bits)"))
    elif flow == "current":
        findings.append(
            Finding(
                "error",
                "the certificate has an RSA key where ESIA requires GOST R 34.10-2012 (256): the current flow signs with GOST only.",
            )
        )
        return None
    else:
        findings.append(
            Finding(
                "warning",
                "the certificate has an RSA key: ESIA requires GOST R 34.10-2012 certificates since 2020; "
                "only old registrations and the mock accept RSA.",
            )
        )
    if certificate.issuer == certificate.subject:
        findings.append(
            Finding(
                "warning",
                "the certificate is self-signed: ESIA's test environment takes it, production requires one from an accredited CA.",
            )
        )
    return certificate_der


def _sample(config: Mapping[str, Any], flow: str, signer: Signer, findings: list[Finding]) -> None:
    """Sign a string shaped like the flow's, and verify the result with the certificate independently of the signer."""
    client_id, scope = str(config.get("ESIA_CLIENT_ID") or "CHECK"), " ".join(config.get("ESIA_SCOPES") or ["openid"])
    timestamp, state = dt.datetime.now(dt.UTC).strftime("%Y.%m.%d %H:%M:%S %z"), str(uuid.uuid4())
    if flow == "current":
        sample = client_id + scope + timestamp + state + str(config.get("ESIA_REDIRECT_URI") or "")
    else:
        sample = scope + timestamp + client_id + state
    data = sample.encode("utf-8")
    try:
        signature = signer.sign(data)
    except SignerError as exc:
        findings.append(Finding("error", f"signing a sample failed: {exc}"))
        return
    problem = _verify(signer, data, signature)
    if problem:
        findings.append(Finding("error", f"the sample signature does not verify with the certificate: {problem}"))
        return
    what = "a raw GOST signature (64 bytes)" if signer.signature_format == "raw" else f"a detached CMS ({len(signature)} bytes)"
    findings.append(Finding("ok", f"signed a sample of the {flow} flow: {what}, verified with the certificate"))


def _verify(signer: Signer, data: bytes, signature: bytes) -> str | None:
    if signer.signature_format == "cms":
        try:
            verify_detached(signature, data, signer.certificate_der)
        except CmsError as exc:
            return str(exc)
        return None
    if len(signature) != 64:
        return f"it has {len(signature)} bytes, a raw GOST signature 64"
    key = GostPublicKey.from_certificate(signer.certificate_der)
    if key.verify(data, signature):
        return None
    if key.verify(data, signature[::-1]):
        return "it is byte-reversed (CryptoPro's order): reverse it (csptest-raw does; for command-raw set ESIA_SIGNER_REVERSED)"
    return "made with another key, or over another digest than Streebog-256"


def _token_certificates(config: Mapping[str, Any], now: dt.datetime, findings: list[Finding]) -> None:
    files = config.get("ESIA_TOKEN_CERTIFICATE_FILES") or []
    if not files:
        findings.append(
            Finding("error", "ESIA_TOKEN_CERTIFICATE_FILES is empty: name ESIA's certificates (or esia.zip) to verify its tokens.")
        )
        return
    try:
        certificates = read_certificates([Path(name) for name in files])
    except ProviderConfigError as exc:
        findings.append(Finding("error", f"ESIA_TOKEN_CERTIFICATE_FILES: {exc}"))
        return
    warn = dt.timedelta(days=int(config.get("ESIA_CERTIFICATE_WARN_DAYS", 30)))
    usable = 0
    for certificate in certificates:
        end = certificate.not_after
        described = f"ESIA's certificate {certificate.source} ({certificate.algorithm}, {certificate.subject})"
        if end is not None and end < now:
            findings.append(
                Finding("error", f"{described} expired on {end:%Y-%m-%d} and is refused: remove it, or add ESIA's current ones.")
            )
            continue
        usable += 1
        if end is not None and end - now < warn:
            findings.append(
                Finding("warning", f"{described} expires on {end:%Y-%m-%d}, in {(end - now).days} days: add ESIA's next certificate.")
            )
        else:
            until = f" until {end:%Y-%m-%d}" if end else ""
            findings.append(Finding("ok", f"{described} verifies tokens{until}"))
    if not usable:
        findings.append(Finding("error", "no usable ESIA certificate remains: no token from ESIA could be verified."))
