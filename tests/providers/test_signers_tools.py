"""Signers that call a certified tool: OpenSSL's GOST engine for real, CryptoPro's csptest and
cryptcp through the stand-ins in tests/cryptopro, any command; what they check before a signature
leaves, how they fail, and what they never show or pass on."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path
from typing import Any

import pytest

from broker.errors import ConfigError
from broker.wiring import make_signer
from providers.cms import CmsError, verify_detached
from providers.toolsigners import (
    CryptcpCmsSigner,
    CsptestCmsSigner,
    CsptestRawSigner,
    OpensslCmsSigner,
    OpensslRawSigner,
    SignerConfigError,
    SignerError,
    SignerSettings,
    ToolSigner,
    build_signer,
    quote_stderr,
)
from tests.esiaspec import gost_verify, pem_body
from tests.keymaterial import write_rsa_pair
from tests.opensslgost import Openssl

from .upstream import DATA

MESSAGE = b"DIARY01openid fullname2026.01.01 00:00:00 +00000b9a6c2e-4f3d-4e1a-8b7c-6d5e4f3a2b1chttps://broker.test/cb"
CRYPTOPRO = Path(__file__).resolve().parents[1] / "cryptopro"
KEY, CERTIFICATE = DATA / "client-gost.key", DATA / "client-gost.cer"
CERTIFICATE_DER = pem_body(CERTIFICATE.read_text())
STREEBOG_256_OID = bytes.fromhex("06082a85030701010202")
STREEBOG_512_OID = bytes.fromhex("06082a85030701010203")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The stand-ins' CryptoPro store: the GOST test pair as container ``diary``."""
    folder = tmp_path / "store"
    folder.mkdir()
    (folder / "diary.key").write_bytes(KEY.read_bytes())
    (folder / "diary.cer").write_bytes(CERTIFICATE.read_bytes())
    return folder


def signer(kind: str, **settings: Any) -> Any:
    return build_signer(SignerSettings(kind=kind, certificate_file=settings.pop("certificate_file", CERTIFICATE), **settings))


def standin(kind: str, store: Path, fault: str = "", **settings: Any) -> Any:
    tool = CRYPTOPRO / ("cryptcp" if kind.startswith("cryptcp") else "csptest")
    env = {"CRYPTOPRO_STANDIN_STORE": str(store), "CRYPTOPRO_STANDIN_FAULT": fault}
    if kind == "csptest-raw":
        settings.setdefault("container", "\\\\.\\HDIMAGE\\diary")
    return signer(kind, command=str(tool), env=env, **settings)


def script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# -- each tool, for real or through its stand-in ---------------------------------------------


def test_openssl_raw_signs_s_then_r_as_the_current_flow_wants(openssl: Openssl) -> None:
    made = signer("openssl-raw", key_file=KEY, openssl_conf=openssl.config)
    assert isinstance(made, OpensslRawSigner) and made.signature_format == "raw"
    signature = made.sign(MESSAGE)
    assert len(signature) == 64 and gost_verify(CERTIFICATE_DER, MESSAGE, signature)


def test_openssl_loads_the_gost_engine_by_itself_without_an_openssl_conf(openssl: Openssl) -> None:
    assert gost_verify(CERTIFICATE_DER, MESSAGE, signer("openssl-raw", key_file=KEY).sign(MESSAGE))


def test_openssl_cms_is_detached_streebog_and_verifies_with_openssl(openssl: Openssl, tmp_path: Path) -> None:
    made = signer("openssl-cms", key_file=KEY)
    assert isinstance(made, OpensslCmsSigner) and made.signature_format == "cms"
    (tmp_path / "sig").write_bytes(made.sign(MESSAGE))
    (tmp_path / "data").write_bytes(MESSAGE)
    printed = openssl.run("cms", "-cmsout", "-print", "-inform", "DER", "-in", str(tmp_path / "sig")).stdout
    assert b"eContent: <ABSENT>" in printed and b"digestAlgorithm: \n          algorithm: GOST R 34.11-2012 with 256 bit hash" in printed
    verify = ["cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig"), "-noverify"]
    assert openssl.run(*verify, "-content", str(tmp_path / "data")).returncode == 0


def test_csptest_raw_output_is_reversed_back_into_openssls_order(openssl: Openssl, store: Path) -> None:
    made = standin("csptest-raw", store)
    assert isinstance(made, CsptestRawSigner)
    assert gost_verify(CERTIFICATE_DER, MESSAGE, made.sign(MESSAGE))


@pytest.mark.parametrize(("kind", "kind_class"), [("csptest-cms", CsptestCmsSigner), ("cryptcp-cms", CryptcpCmsSigner)])
def test_cryptopro_cms_is_found_by_the_certificates_thumbprint_and_checked(
    openssl: Openssl, store: Path, kind: str, kind_class: type[ToolSigner]
) -> None:
    made = standin(kind, store)
    assert isinstance(made, kind_class)
    verify_detached(made.sign(MESSAGE), MESSAGE, CERTIFICATE_DER)


def test_a_wrong_thumbprint_is_cryptopros_own_error_quoted(openssl: Openssl, store: Path) -> None:
    with pytest.raises(SignerError, match="Cannot find certificate with thumbprint 0{40}.*0x80092004"):
        standin("cryptcp-cms", store, thumbprint="0" * 40).sign(MESSAGE)


def test_the_default_thumbprint_is_the_certificates_sha1(store: Path) -> None:
    made = standin("csptest-cms", store)
    assert made._argv(Path("/x"))[made._argv(Path("/x")).index("-my") + 1] == hashlib.sha1(CERTIFICATE_DER).hexdigest()


def test_a_generic_command_signs_with_its_placeholders_filled(openssl: Openssl) -> None:
    argv = ["openssl", "dgst", "-md_gost12_256", "-sign", str(KEY), "-out", "{signature}", "{data}"]
    made = signer("command-raw", command=argv, env={"OPENSSL_CONF": str(openssl.config)})
    assert gost_verify(CERTIFICATE_DER, MESSAGE, made.sign(MESSAGE))


def test_a_generic_command_with_reversed_output_is_reversed_back(openssl: Openssl, store: Path) -> None:
    argv = [str(CRYPTOPRO / "csptest"), "-keyset", "-sign", "GOST12_256", "-container", "diary", "-keytype", "exchange",
            "-in", "{data}", "-out", "{signature}"]  # fmt: skip
    made = signer("command-raw", command=argv, env={"CRYPTOPRO_STANDIN_STORE": str(store)}, reversed=True)
    assert gost_verify(CERTIFICATE_DER, MESSAGE, made.sign(MESSAGE))


# -- what is checked before a signature leaves ------------------------------------------------


def test_output_in_the_wrong_byte_order_is_refused_and_said_so(openssl: Openssl, store: Path) -> None:
    with pytest.raises(SignerError, match="verifies byte-reversed"):
        standin("csptest-raw", store, fault="unreversed").sign(MESSAGE)


def test_output_of_the_wrong_length_is_refused(openssl: Openssl, store: Path) -> None:
    with pytest.raises(SignerError, match="wrote 15 bytes; a raw GOST R 34.10-2012 \\(256\\) signature has 64"):
        standin("csptest-raw", store, fault="garbage").sign(MESSAGE)


def test_output_that_is_no_cms_is_refused(openssl: Openssl, store: Path) -> None:
    with pytest.raises(SignerError, match="CMS signature the tool wrote is unusable: it is not a DER CMS"):
        standin("cryptcp-cms", store, fault="garbage").sign(MESSAGE)


def test_a_tool_that_writes_nothing_is_a_failure(openssl: Openssl, store: Path) -> None:
    with pytest.raises(SignerError, match="exited 0 but wrote no signature"):
        standin("csptest-cms", store, fault="nothing").sign(MESSAGE)


def test_a_signature_by_another_key_is_refused_before_it_is_sent(openssl: Openssl, store: Path) -> None:
    (store / "diary.key").write_bytes((DATA / "esia-gost.key").read_bytes())  # the container holds another key
    with pytest.raises(SignerError, match="does not verify with the registered certificate \\(a key of another"):
        standin("csptest-raw", store).sign(MESSAGE)


def test_a_cms_signed_with_the_wrong_hash_is_refused_naming_it(openssl: Openssl) -> None:
    before, after = signer("openssl-cms", key_file=KEY).sign(MESSAGE).split(CERTIFICATE_DER)  # the certificate stays as it is
    wrong = before.replace(STREEBOG_256_OID, STREEBOG_512_OID) + CERTIFICATE_DER + after.replace(STREEBOG_256_OID, STREEBOG_512_OID)
    with pytest.raises(CmsError, match="made with Streebog-512; a GOST certificate needs .* Streebog-256"):
        verify_detached(wrong, MESSAGE, CERTIFICATE_DER)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (["-nodetach"], "carries the signed content"),
        (["-in", "{certificate}"], "messageDigest is not the digest"),
    ],
)
def test_a_cms_that_is_attached_or_over_other_data_is_refused(openssl: Openssl, change: list[str], words: str) -> None:
    # sh -c COMMAND $0 $1 $2: the data ($2) is signed, or the certificate ($0) in its place.
    signed = '"$0"' if change[0] == "-in" else '"$2"'
    extra = " ".join(change) if change[0] != "-in" else ""
    command = (f"openssl cms -sign -binary -outform DER -md md_gost12_256 -signer \"$0\" -inkey {KEY} -in {signed} "
               f'-out "$1" {extra}')  # fmt: skip
    argv = ["/bin/sh", "-c", command, "{certificate}", "{signature}", "{data}"]
    made = signer("command-cms", command=argv, env={"OPENSSL_CONF": str(openssl.config)})
    with pytest.raises(SignerError, match=words):
        made.sign(MESSAGE)


def test_a_cms_by_another_certificate_is_refused(openssl: Openssl, tmp_path: Path) -> None:
    other = signer("openssl-cms", key_file=DATA / "esia-gost.key", certificate_file=DATA / "esia-gost.cer").sign(MESSAGE)
    with pytest.raises(CmsError, match="embedded in it is not the registered one"):
        verify_detached(other, MESSAGE, CERTIFICATE_DER)


# -- how tools fail ------------------------------------------------------------------------------


def test_a_missing_tool_is_named(tmp_path: Path) -> None:
    with pytest.raises(SignerError, match=f"the signing tool {tmp_path}/csptest is not installed"):
        signer("csptest-raw", command=str(tmp_path / "csptest"), container="diary").sign(MESSAGE)


def test_a_tool_that_hangs_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    slow = script(tmp_path, "slow", "echo thinking >&2; sleep 10")
    started = __import__("time").monotonic()
    with pytest.raises(SignerError, match="slow did not finish within 0.5 s"):
        signer("command-raw", command=[str(slow), "{data}", "{signature}"], timeout=0.5).sign(MESSAGE)
    assert __import__("time").monotonic() - started < 5


def test_a_failing_tool_is_quoted_from_its_stderr(openssl: Openssl, store: Path) -> None:
    with pytest.raises(SignerError, match="csptest failed \\(exit status 1\\); stderr: .*PIN is not remembered.*0x80090019"):
        standin("csptest-raw", store, fault="fail").sign(MESSAGE)


def test_a_private_key_a_tool_prints_is_never_quoted(tmp_path: Path) -> None:
    leaky = script(tmp_path, "leaky", f"cat {KEY} >&2; echo after >&2; exit 3")
    with pytest.raises(SignerError) as raised:
        signer("command-raw", command=[str(leaky), "{data}", "{signature}"]).sign(MESSAGE)
    secret = "".join(KEY.read_text().splitlines()[1:-1])
    assert "[a private key, not shown] after" in str(raised.value)
    assert secret[:20] not in str(raised.value) and "PRIVATE KEY" not in str(raised.value)


def test_stderr_is_quoted_on_one_line_and_cut_to_its_end() -> None:
    quoted = quote_stderr(b"first\n" + b"x" * 1000 + b"\nlast line\n")
    assert "\n" not in quoted and quoted.endswith("last line") and len(quoted) <= 601


def test_the_tool_sees_neither_the_brokers_secrets_nor_a_secret_on_its_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_SECRET_KEY", "do-not-leak")
    record = script(tmp_path, "openssl", f'env > {tmp_path}/env; echo "$@" > {tmp_path}/argv; exit 1')
    with pytest.raises(SignerError):
        signer("openssl-raw", command=str(record), key_file=KEY, env={"EXTRA": "yes"}).sign(MESSAGE)
    env, argv = (tmp_path / "env").read_text(), (tmp_path / "argv").read_text()
    assert "do-not-leak" not in env and "EXTRA=yes" in env and "PATH=" in env and "OPENSSL_CONF=" in env
    assert str(KEY) in argv and "PRIVATE" not in argv
    for kind in ("csptest-raw", "csptest-cms", "cryptcp-cms"):
        made = signer(kind, command=str(record), container="diary")
        assert not {"-password", "-passwd", "-pin", "-pwd"} & set(made._argv(tmp_path))


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "settings", "setting", "words"),
    [
        ("sha1-cms", {}, "kind", "unknown signer 'sha1-cms'"),
        ("csptest-raw", {}, "container", "needs the CryptoPro container"),
        ("cryptcp-cms", {"thumbprint": "abc"}, "thumbprint", "40 hex digits"),
        ("command-raw", {"command": "openssl dgst"}, "command", "argv as a list"),
        ("command-raw", {"command": ["sign", "{data}"]}, "command", "name {data} .* and {signature}"),
        ("openssl-raw", {}, "key_file", "needs the system's private key"),
        ("openssl-raw", {"key_file": DATA / "esia-gost.key"}, "key_and_certificate", "does not belong"),
        ("openssl-raw", {"key_file": KEY, "openssl_conf": "/absent.cnf"}, "openssl_conf", "not a readable file"),
        ("openssl-raw", {"key_file": KEY, "timeout": 0}, "timeout", "between 0 and 120"),
        ("csptest-raw", {"container": "c", "certificate_file": "/absent.cer"}, "certificate_file", "cannot read the certificate"),
    ],
)
def test_a_setting_that_cannot_work_is_refused_naming_it(kind: str, settings: dict[str, Any], setting: str, words: str) -> None:
    with pytest.raises(SignerConfigError, match=words) as raised:
        signer(kind, **settings)
    assert raised.value.setting == setting


def test_a_raw_signer_refuses_an_rsa_certificate(tmp_path: Path) -> None:
    _, rsa_certificate = write_rsa_pair(tmp_path, "rsa", "RSA system")
    with pytest.raises(SignerConfigError, match="makes GOST signatures; this certificate has no GOST key"):
        signer("csptest-raw", container="c", certificate_file=rsa_certificate)


def test_the_brokers_config_error_names_the_key_to_set() -> None:
    config: dict[str, Any] = {
        "ESIA_SIGNER": "csptest-raw", "ESIA_CERTIFICATE_FILE": str(CERTIFICATE), "ESIA_KEY_FILE": None,
        "ESIA_SIGNER_COMMAND": None, "ESIA_SIGNER_TIMEOUT": 10, "ESIA_SIGNER_CONTAINER": None, "ESIA_SIGNER_THUMBPRINT": None,
        "ESIA_OPENSSL_CONF": None, "ESIA_SIGNER_ENV": {}, "ESIA_SIGNER_REVERSED": False,
    }  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        make_signer(config)
    message = str(raised.value)
    assert message.startswith("ESIA_SIGNER_CONTAINER: ") and "BROKER_ESIA_SIGNER_CONTAINER" in message and "\n" not in message


def test_signers_show_their_certificate_not_their_setup(store: Path) -> None:
    made = standin("csptest-raw", store)
    assert repr(made) == "CsptestRawSigner(certificate='C=RU,O=Test diary,CN=DIARY01 test system')"


def test_an_rsa_cms_is_checked_the_same_way(rsa_signer: Any) -> None:
    signature = rsa_signer.sign(MESSAGE)
    verify_detached(signature, MESSAGE, rsa_signer.certificate_der)
    with pytest.raises(CmsError, match="messageDigest is not the digest of the data"):
        verify_detached(signature, MESSAGE + b"x", rsa_signer.certificate_der)
    with pytest.raises(CmsError, match="names another signer|not the registered one"):
        verify_detached(signature, MESSAGE, CERTIFICATE_DER)


def test_the_signed_string_a_tool_echoes_is_never_quoted(tmp_path: Path) -> None:
    """The token request's string ends with the authorization code: it stays out of errors and logs."""
    echo = script(tmp_path, "echo-sign", 'printf "cannot sign: " >&2; cat "$1" >&2; exit 1')
    with pytest.raises(SignerError) as raised:
        signer("command-raw", command=[str(echo), "{data}", "{signature}"]).sign(MESSAGE)
    assert str(raised.value).endswith("stderr: cannot sign: [the signed data]")


def test_a_generic_tool_named_by_a_relative_path_is_found_from_its_private_folder(
    openssl: Openssl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    script(tmp_path, "sign", f'OPENSSL_CONF={openssl.config} openssl dgst -md_gost12_256 -sign {KEY} -out "$2" "$1"')
    made = signer("command-raw", command=["./sign", "{data}", "{signature}"])
    assert gost_verify(CERTIFICATE_DER, MESSAGE, made.sign(MESSAGE))
