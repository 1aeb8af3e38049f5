"""``broker esia check`` and ``broker esia keygen``, and /readyz naming ESIA's certificates near or past their end."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask

from broker import create_app
from broker.config import DEFAULTS
from broker.ops.esiacheck import Finding, check
from broker.wiring import make_signer
from mock_esia.certificates import make_gost_certificate, to_pem
from mock_esia.gost import GostPrivateKey as MockGostKey
from providers import client_certificate_hash, load_signer
from tests.databases import TEST_SNILS_KEY, MigratedDatabases
from tests.esiaspec import pem_body
from tests.keymaterial import write_rsa_pair
from tests.opensslgost import Openssl

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "providers" / "data"
CRYPTOPRO = ROOT / "tests" / "cryptopro"
KEY, CERTIFICATE = DATA / "client-gost.key", DATA / "client-gost.cer"
NOW = dt.datetime.now(dt.UTC)


def esia_config(**overrides: Any) -> dict[str, Any]:
    esia = {key: value for key, value in DEFAULTS.items() if key.startswith("ESIA_")}
    esia.update(
        ESIA_BASE_URL="https://esia.test",
        ESIA_CLIENT_ID="DIARY01",
        ESIA_KEY_FILE=str(KEY),
        ESIA_CERTIFICATE_FILE=str(CERTIFICATE),
        ESIA_REDIRECT_URI="https://broker.test/auth/esia/callback",
        ESIA_TOKEN_CERTIFICATE_FILES=[str(DATA / "esia-gost.cer")],
    )
    esia.update(overrides)
    return esia


def findings(**overrides: Any) -> list[Finding]:
    return check(esia_config(**overrides), make_signer, NOW)


def errors(**overrides: Any) -> list[str]:
    return [finding.text for finding in findings(**overrides) if finding.level == "error"]


def gost_pair(folder: Path, *, start: dt.datetime, end: dt.datetime) -> tuple[Path, Path]:
    """A GOST key and certificate valid from ``start`` to ``end`` (the mock's pure-Python tooling)."""
    key = MockGostKey.generate()
    certificate = make_gost_certificate(key, common_name="DIARY01", organization="Test", not_before=start, not_after=end, serial=9)
    (folder / "dated.key").write_text(to_pem(key.to_pkcs8(), "PRIVATE KEY"))
    (folder / "dated.cer").write_text(to_pem(certificate))
    return folder / "dated.key", folder / "dated.cer"


def rsa_token_certificate(folder: Path, name: str, days_left: float) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"ESIA {name}")])
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(NOW - dt.timedelta(days=400))
        .not_valid_after(NOW + dt.timedelta(days=days_left)).sign(key, hashes.SHA256())
    )  # fmt: skip
    path = folder / name
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


# -- esia check: what it prints, and each problem in plain words -------------------------------


def test_check_prints_the_certificate_and_signs_and_verifies_a_sample() -> None:
    texts = [str(finding) for finding in findings()]
    der = pem_body(CERTIFICATE.read_text())
    assert f"info: certificate {CERTIFICATE}: subject C=RU,O=Test diary,CN=DIARY01 test system" in texts
    assert any(text.startswith("info: issuer ") and " UTC" in text and " to " in text for text in texts)
    assert f"info: client_certificate_hash {client_certificate_hash(der)} (Streebog-256 of the DER certificate)" in texts
    assert "ok: signed a sample of the current flow: a raw GOST signature (64 bytes), verified with the certificate" in texts
    assert not [text for text in texts if text.startswith("error")]


def test_check_signs_the_legacy_flows_sample_as_cms(tmp_path: Path) -> None:
    key, certificate = write_rsa_pair(tmp_path, "legacy", "DIARY01 legacy")
    found = findings(ESIA_FLOW="legacy", ESIA_SIGNER="rsa-cms", ESIA_KEY_FILE=str(key), ESIA_CERTIFICATE_FILE=str(certificate))
    assert any(f.level == "ok" and "a detached CMS" in f.text for f in found)
    assert any(f.level == "warning" and "RSA key: ESIA requires GOST" in f.text for f in found)


@pytest.mark.parametrize(
    ("start_days", "end_days", "words"),
    [(-400, -2, "the certificate expired on"), (3, 400, "the certificate is not valid yet")],
)
def test_check_says_when_the_certificate_is_expired_or_not_yet_valid(tmp_path: Path, start_days: int, end_days: int, words: str) -> None:
    key, certificate = gost_pair(tmp_path, start=NOW + dt.timedelta(days=start_days), end=NOW + dt.timedelta(days=end_days))
    assert any(words in text for text in errors(ESIA_KEY_FILE=str(key), ESIA_CERTIFICATE_FILE=str(certificate)))


def test_check_warns_a_month_before_the_certificate_ends(tmp_path: Path) -> None:
    key, certificate = gost_pair(tmp_path, start=NOW - dt.timedelta(days=300), end=NOW + dt.timedelta(days=20))
    found = findings(ESIA_KEY_FILE=str(key), ESIA_CERTIFICATE_FILE=str(certificate))
    assert any(f.level == "warning" and "expires on" in f.text and "register its successor" in f.text for f in found)


def test_check_says_when_key_and_certificate_do_not_match() -> None:
    [text] = errors(ESIA_KEY_FILE=str(DATA / "esia-gost.key"))
    assert "does not belong to the client certificate" in text and "ESIA_KEY_FILE" in text


def test_check_says_when_the_certificate_is_rsa_where_gost_is_required(tmp_path: Path) -> None:
    key, certificate = write_rsa_pair(tmp_path, "rsa", "RSA system")
    [text] = errors(ESIA_KEY_FILE=str(key), ESIA_CERTIFICATE_FILE=str(certificate))
    assert "RSA key where ESIA requires GOST R 34.10-2012 (256)" in text


def test_check_says_when_the_signer_does_not_fit_the_flow() -> None:
    [text] = errors(ESIA_FLOW="legacy")
    assert text.startswith("ESIA_SIGNER gost-raw does not fit the legacy flow") and "openssl-cms" in text


def test_check_says_which_file_it_cannot_read(tmp_path: Path) -> None:
    [text] = errors(ESIA_CERTIFICATE_FILE=str(tmp_path / "absent.cer"))
    assert text == f"ESIA_CERTIFICATE_FILE: cannot read the certificate {tmp_path / 'absent.cer'}: No such file or directory."


def test_check_says_when_the_tool_is_missing(tmp_path: Path) -> None:
    [text] = errors(ESIA_SIGNER="csptest-raw", ESIA_SIGNER_COMMAND=str(tmp_path / "csptest"), ESIA_SIGNER_CONTAINER="diary")
    assert text == f"signing a sample failed: the signing tool {tmp_path / 'csptest'} is not installed (or not on PATH)"


def standin_store(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "diary.key").write_bytes(KEY.read_bytes())
    (tmp_path / "diary.cer").write_bytes(CERTIFICATE.read_bytes())
    return {"CRYPTOPRO_STANDIN_STORE": str(tmp_path)}


def test_check_quotes_a_failing_tool(tmp_path: Path, openssl: Openssl) -> None:
    env = {**standin_store(tmp_path), "CRYPTOPRO_STANDIN_FAULT": "fail"}
    [text] = errors(
        ESIA_SIGNER="csptest-raw", ESIA_SIGNER_COMMAND=str(CRYPTOPRO / "csptest"), ESIA_SIGNER_CONTAINER="diary", ESIA_SIGNER_ENV=env
    )
    assert text.startswith("signing a sample failed: csptest failed (exit status 1)") and "[ErrorCode: 0x80090019]" in text


def test_check_says_when_the_tools_byte_order_is_wrong(tmp_path: Path, openssl: Openssl) -> None:
    argv = [str(CRYPTOPRO / "csptest"), "-keyset", "-sign", "GOST12_256", "-container", "diary", "-keytype", "exchange",
            "-in", "{data}", "-out", "{signature}"]  # fmt: skip
    [text] = errors(ESIA_SIGNER="command-raw", ESIA_SIGNER_COMMAND=argv, ESIA_SIGNER_ENV=standin_store(tmp_path))
    assert "verifies byte-reversed" in text


def test_check_names_esias_certificates_expired_and_expiring(tmp_path: Path) -> None:
    old = rsa_token_certificate(tmp_path, "old.cer", -5)
    soon = rsa_token_certificate(tmp_path, "soon.cer", 10)
    found = findings(ESIA_TOKEN_CERTIFICATE_FILES=[str(old), str(soon), str(DATA / "esia-gost.cer")])
    assert any(f.level == "error" and "old.cer" in f.text and "expired on" in f.text and "refused" in f.text for f in found)
    assert any(f.level == "warning" and "soon.cer" in f.text and "in 9 days" in f.text for f in found)
    assert any(f.level == "ok" and "esia-gost.cer (GOST3410_2012_256" in f.text and "until 2046-11-23" in f.text for f in found)


def test_check_says_when_no_esia_certificate_is_configured() -> None:
    assert any("ESIA_TOKEN_CERTIFICATE_FILES is empty" in text for text in errors(ESIA_TOKEN_CERTIFICATE_FILES=[]))


# -- the commands, as the console script runs them (no app is built) ----------------------------


def broker(tmp_path: Path, *args: str, config: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    """``broker ARGS`` in ``tmp_path`` with ``config`` as its config file and no BROKER_* variables."""
    lines = [f"{key} = {value!r}".replace("'", '"') if isinstance(value, str) else f"{key} = {value!r}".replace("'", '"')
             for key, value in (config or {}).items()]  # fmt: skip
    (tmp_path / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BROKER_", "FLASK_"))}
    env.update(PYTHONPATH=str(ROOT), BROKER_CONFIG=str(tmp_path / "config.toml"))
    return subprocess.run(
        [sys.executable, "-c", "from broker.cli import main; main()", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def keys(tmp_path: Path, openssl: Openssl) -> Path:
    folder = tmp_path / "keys"
    result = broker(tmp_path, "esia", "keygen", "--out", str(folder), "--common-name", "DIARY01",
                    "--organization", "ООО «Дневник»", "--self-signed", "--days", "30")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder


def test_keygen_writes_an_owner_only_gost_key_and_a_test_certificate_that_sign(keys: Path, tmp_path: Path) -> None:
    key, certificate = keys / "esia.key", keys / "esia.cer"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    signer = load_signer("gost-raw", key, certificate)
    loaded = x509.load_pem_x509_certificate(certificate.read_bytes())
    assert loaded.subject.rfc4514_string() == "C=RU,O=ООО «Дневник»,CN=DIARY01" and loaded.issuer == loaded.subject
    assert signer.certificate_der == pem_body(certificate.read_text())


def test_keygen_then_check_is_in_order(keys: Path, tmp_path: Path) -> None:
    config = {
        "SECRET_KEY": "s" * 32,
        "ESIA_CLIENT_ID": "DIARY01",
        "ESIA_SIGNER": "openssl-raw",
        "ESIA_KEY_FILE": str(keys / "esia.key"),
        "ESIA_CERTIFICATE_FILE": str(keys / "esia.cer"),
        "ESIA_TOKEN_CERTIFICATE_FILES": [str(DATA / "esia-gost.cer")],
    }
    result = broker(tmp_path, "esia", "check", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: the certificate expires on" in result.stdout  # 30 days: within ESIA_CERTIFICATE_WARN_DAYS
    assert "warning: the certificate is self-signed" in result.stdout
    assert result.stdout.rstrip().endswith("ESIA keys are in order.")


def test_check_fails_with_the_problem_on_stderr_and_needs_no_working_broker(tmp_path: Path) -> None:
    config = {"ESIA_BASE_URL": "https://esia.test", "ESIA_KEY_FILE": str(DATA / "esia-gost.key"), "ESIA_CERTIFICATE_FILE": str(CERTIFICATE)}
    result = broker(tmp_path, "esia", "check", config=config)  # no secrets, no token certificates: the app could not start
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "error: the signer cannot be built: ESIA_KEY_FILE / ESIA_CERTIFICATE_FILE: The GOST private key does not belong" in result.stderr
    assert "Error: 2 problems with the ESIA keys; see above." in result.stderr


def test_keygen_writes_a_certificate_request(tmp_path: Path, openssl: Openssl) -> None:
    result = broker(tmp_path, "esia", "keygen", "--name", "diary", "--common-name", "DIARY01", "--organization", "Test")
    assert result.returncode == 0, result.stderr
    request = tmp_path / "diary.csr"
    assert "certificate request; have an accredited CA issue the certificate" in result.stdout
    checked = openssl.run("req", "-in", str(request), "-verify", "-noout", "-subject")
    assert checked.returncode == 0 and b"CN = DIARY01" in checked.stdout, checked.stderr
    assert stat.S_IMODE((tmp_path / "diary.key").stat().st_mode) == 0o600


def test_keygen_never_overwrites_a_key(keys: Path, tmp_path: Path) -> None:
    before = (keys / "esia.key").read_bytes()
    result = broker(tmp_path, "esia", "keygen", "--out", str(keys), "--common-name", "X", "--organization", "Y")
    assert result.returncode == 1 and "exists; a key or certificate is never overwritten" in result.stderr
    assert (keys / "esia.key").read_bytes() == before


def test_keygen_refuses_a_subject_that_would_inject_another_field(tmp_path: Path) -> None:
    result = broker(tmp_path, "esia", "keygen", "--common-name", "DIARY01/CN=evil", "--organization", "Y")
    assert result.returncode == 1 and "--common-name: must be 1 to 64 characters without /" in result.stderr
    assert not list(tmp_path.glob("esia.*"))


def test_keygen_says_how_to_get_openssl_when_it_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from broker.errors import ConfigError
    from broker.ops import esiakeys

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="apt-get install openssl libengine-gost-openssl"):
        esiakeys.generate(tmp_path, name="esia", common_name="A", organization="B")


# -- /readyz -----------------------------------------------------------------------------------


@pytest.fixture
def esia_app(tmp_path: Path, migrated: MigratedDatabases) -> Iterator[Any]:
    def make(token_files: list[str]) -> Flask:
        return create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "SNILS_HASH_KEY": TEST_SNILS_KEY,
                "SQLALCHEMY_DATABASE_URI": migrated.copy("sqlite", tmp_path),
                **esia_config(ESIA_TOKEN_CERTIFICATE_FILES=token_files),
            }
        )

    yield make


def test_readyz_names_esias_certificates_near_or_past_their_end_and_stays_ready(esia_app: Any, tmp_path: Path) -> None:
    old = rsa_token_certificate(tmp_path, "old.cer", -5)
    soon = rsa_token_certificate(tmp_path, "soon.cer", 10)
    answer = esia_app([str(old), str(soon), str(DATA / "esia-gost.cer")]).test_client().get("/readyz")
    assert answer.status_code == 200 and answer.json["status"] == "ok"
    assert [(entry["file"], entry["state"], entry["subject"]) for entry in answer.json["esia_certificates"]] == [
        ("old.cer", "expired", "CN=ESIA old.cer"),
        ("soon.cer", "expiring", "CN=ESIA soon.cer"),
    ]
    assert dt.datetime.fromisoformat(answer.json["esia_certificates"][1]["not_after"]) > NOW


def test_readyz_says_nothing_of_certificates_far_from_their_end(esia_app: Any) -> None:
    assert esia_app([str(DATA / "esia-gost.cer")]).test_client().get("/readyz").json == {"status": "ok"}


@pytest.mark.parametrize("value", ["30", -1, 400, True])
def test_a_warning_window_that_is_no_number_of_days_is_refused_naming_the_key(value: Any) -> None:
    from broker.errors import ConfigError
    from broker.wiring import make_esia_provider

    with pytest.raises(ConfigError, match="^ESIA_CERTIFICATE_WARN_DAYS: must be a whole number of days"):
        make_esia_provider(esia_config(ESIA_CERTIFICATE_WARN_DAYS=value))
