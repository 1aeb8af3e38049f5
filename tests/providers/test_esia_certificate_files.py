"""ESIA's token-signing certificates: read from the esia.zip ESIA publishes as well as from files,
several at once; one near its end warned about, one past it refused."""

from __future__ import annotations

import datetime as dt
import logging
import time
import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from providers import ProviderConfigError
from providers.certificates import GOST_JWS_ALG, RS256, EsiaCertificates

from .upstream import DATA

GOST_NAME = "ГОСТ_PROD_25_26.cer"


def rsa_certificate(folder: Path, name: str, *, days_left: float, encoding: serialization.Encoding = serialization.Encoding.PEM) -> Path:
    """An RSA certificate (as ESIA's RSA_PROD_*.cer) that ends ``days_left`` days from now."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"ESIA {name}")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=days_left))
        .sign(key, hashes.SHA256())
    )
    path = folder / name
    path.write_bytes(certificate.public_bytes(encoding))
    return path


def esia_zip(folder: Path, rsa_file: Path) -> Path:
    """An archive like ESIA's esia.zip: an RSA .cer, its .jwk, and a GOST .cer named in CP866 (no UTF-8 flag)."""
    path = folder / "esia.zip"
    placeholder = "X" * len(GOST_NAME.split("_")[0]) + GOST_NAME[len(GOST_NAME.split("_")[0]) :]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("RSA_PROD_2025.cer", rsa_file.read_bytes())
        archive.writestr("RSA_PROD_2025_JWK.jwk", '{"kty": "RSA"}')
        archive.writestr(placeholder, (DATA / "esia-gost.cer").read_bytes())
    # Windows' archivers write Cyrillic names in CP866 without the UTF-8 flag, as ESIA's archive has them.
    path.write_bytes(path.read_bytes().replace(placeholder.encode("ascii"), GOST_NAME.encode("cp866")))
    return path


def test_the_archive_esia_publishes_is_read_whole(tmp_path: Path) -> None:
    archive = esia_zip(tmp_path, rsa_certificate(tmp_path, "rsa.cer", days_left=300))
    store = EsiaCertificates([archive])
    assert sorted(c.source for c in store.certificates) == sorted([f"{archive}:RSA_PROD_2025.cer", f"{archive}:{GOST_NAME}"])
    assert {c.algorithm for c in store.certificates} == {RS256, GOST_JWS_ALG}


def test_archives_and_files_together(tmp_path: Path) -> None:
    archive = esia_zip(tmp_path, rsa_certificate(tmp_path, "rsa.cer", days_left=300))
    der = rsa_certificate(tmp_path, "next.cer", days_left=700, encoding=serialization.Encoding.DER)
    store = EsiaCertificates([archive, der, DATA / "esia-gost.cer"])
    assert len(store.certificates) == 4 and len(store.for_algorithm(RS256)) == 2


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"PK\x03\x04 broken", "holds no certificate|Cannot read the ESIA certificate archive"), (None, "holds no certificate")],
)
def test_an_archive_without_certificates_is_refused_with_its_name(tmp_path: Path, content: bytes | None, words: str) -> None:
    path = tmp_path / "esia.zip"
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("README.txt", "no certificates here")
    else:
        path.write_bytes(content)
    with pytest.raises(ProviderConfigError, match=words):
        EsiaCertificates([path])


def test_an_oversized_archive_member_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "esia.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("huge.cer", b"0" * (2 * 1024 * 1024))
    with pytest.raises(ProviderConfigError, match="huge.cer is too large"):
        EsiaCertificates([path])


def test_a_certificate_near_its_end_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    soon = rsa_certificate(tmp_path, "soon.cer", days_left=12.5)
    with caplog.at_level(logging.WARNING, logger="providers.certificates"):
        store = EsiaCertificates([soon, DATA / "esia-gost.cer"], warn_days=30)
    [notice] = store.notices()
    assert (notice.kind, notice.source) == ("expiring", str(soon))
    assert "soon.cer (CN=ESIA soon.cer) expires on" in caplog.text and "in 12 days" in caplog.text
    assert len(store.for_algorithm(RS256)) == 1  # still used until its end


def test_the_warning_window_is_the_configured_one(tmp_path: Path) -> None:
    soon = rsa_certificate(tmp_path, "soon.cer", days_left=20)
    assert EsiaCertificates([soon], warn_days=10).notices() == []
    assert [n.kind for n in EsiaCertificates([soon], warn_days=30).notices()] == ["expiring"]


def test_an_expired_certificate_is_refused_with_a_clear_message(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old = rsa_certificate(tmp_path, "old.cer", days_left=-3)
    current = rsa_certificate(tmp_path, "current.cer", days_left=300)
    with caplog.at_level(logging.ERROR, logger="providers.certificates"):
        store = EsiaCertificates([old, current])
    assert [c.source for c in store.for_algorithm(RS256)] == [str(current)]
    assert [(n.kind, n.source) for n in store.notices()] == [("expired", str(old))]
    assert f"ESIA's certificate {old} (CN=ESIA old.cer) expired on" in caplog.text and "is refused" in caplog.text


def test_a_certificate_that_expires_while_the_broker_runs_stops_verifying(tmp_path: Path) -> None:
    now = [time.time()]
    store = EsiaCertificates([rsa_certificate(tmp_path, "ending.cer", days_left=1)], clock=lambda: now[0])
    assert len(store.for_algorithm(RS256)) == 1
    now[0] += 2 * 86400
    assert store.for_algorithm(RS256) == ()
    assert store.notices()[0].kind == "expired"


def test_only_expired_certificates_stop_the_client_from_starting(tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError, match="old.cer .* expired on .* ESIA_TOKEN_CERTIFICATE_FILES"):
        EsiaCertificates([rsa_certificate(tmp_path, "old.cer", days_left=-1)])


def test_a_reread_repeats_no_warning_already_given(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    soon = rsa_certificate(tmp_path, "soon.cer", days_left=5)
    store = EsiaCertificates([soon])  # warns once here
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="providers.certificates"):
        store.reload()
        assert caplog.text == ""
        rsa_certificate(tmp_path, "soon.cer", days_left=3)  # another certificate in the same file
        store.reload()
    assert "soon.cer (CN=ESIA soon.cer) expires on" in caplog.text
