"""Running the mock on its own, and registering client systems through config."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import mock_esia
from mock_esia.errors import ConfigError

from .esia_test_client import DATA

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.flow
def test_python_m_mock_esia_serves_on_loopback_and_writes_its_keys(tmp_path):
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "diary.cer").write_bytes((DATA / "client-gost.cer").read_bytes())
    (tmp_path / "mock.toml").write_text(
        '[CLIENTS.DIARY01]\nname = "Дневник"\ncertificate_files = ["certs/diary.cer"]\n'
        'redirect_uris = ["http://127.0.0.1:5000/callback"]\nscopes = ["openid", "fullname"]\n',
        encoding="utf-8",
    )
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mock_esia",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--config",
            str(tmp_path / "mock.toml"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        index = None
        for _ in range(100):
            try:
                index = requests.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert index is not None and index.status_code == 200
        assert "DIARY01" in index.text
        certificate = requests.get(f"http://127.0.0.1:{port}/__mock__/esia.cer", timeout=5).text
        assert requests.get(f"http://127.0.0.1:{port}/rs/prns/1000300005?embed=(elements)", timeout=5).status_code == 401
        assert certificate == (tmp_path / "data" / "esia-rsa.cer").read_text()
        for name in ("esia-rsa.key", "esia-gost.key", "esia-gost.cer", "jwks.json"):
            assert (tmp_path / "data" / name).exists()
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert f"Mock ESIA on http://127.0.0.1:{port}/" in output
    assert "GET /__mock__/esia.cer HTTP/1.1" in output
    assert "GET /rs/prns/{oid} HTTP/1.1" in output
    assert "1000300005" not in output and "embed" not in output


def test_a_non_loopback_host_needs_an_explicit_flag():
    result = subprocess.run([sys.executable, "-m", "mock_esia", "--host", "0.0.0.0"], cwd=ROOT, capture_output=True, timeout=30)

    assert result.returncode == 2 and b"--allow-remote" in result.stderr


def test_a_bad_config_file_stops_the_mock_with_a_message(tmp_path):
    (tmp_path / "mock.json").write_text('{"CLIENTS": {"X": {"redirect_uris": ["http://x.test/"]}}}')

    result = subprocess.run(
        [sys.executable, "-m", "mock_esia", "--config", str(tmp_path / "mock.json"), "--data-dir", str(tmp_path / "d")],
        cwd=ROOT,
        capture_output=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert b"CLIENTS['X'] has no certificate" in result.stderr


def test_keys_generated_once_are_reused(tmp_path):
    first = mock_esia.create_app({"DATA_DIR": str(tmp_path)}).extensions["mock_esia"].keys
    second = mock_esia.create_app({"DATA_DIR": str(tmp_path)}).extensions["mock_esia"].keys

    assert first.rsa_certificate_pem == second.rsa_certificate_pem
    assert first.gost_certificate_pem == second.gost_certificate_pem
    assert first.gost_key.public_key() == second.gost_key.public_key()


@pytest.mark.parametrize(
    ("client", "message"),
    [
        ({"redirect_uris": ["http://x.test/"]}, "has no certificate"),
        ({"certificates": ["not a pem"], "redirect_uris": ["http://x.test/"]}, "is not a PEM certificate"),
        ({"certificate_files": ["client-gost.cer"]}, "has no redirect_uris"),
        ({"certificate_files": ["client-gost.cer"], "redirect_uris": ["http://x.test/"], "scopes": ["magic"]}, "unknown ESIA scopes"),
        ({"certificate_files": ["client-gost.cer"], "redirect_uris": ["http://x.test/"], "jwt_alg": "HS256"}, "jwt_alg"),
        ({"certificate_files": ["client-gost.cer"], "redirect_uris": ["http://x.test/"], "colour": "red"}, "unknown keys"),
    ],
)
def test_a_bad_client_registration_is_refused_with_a_message(data_dir, client, message, monkeypatch):
    monkeypatch.chdir(DATA)

    with pytest.raises(ConfigError, match=message):
        mock_esia.create_app({"DATA_DIR": str(data_dir), "CLIENTS": {"X": client}})


def test_bad_settings_are_all_reported_at_once(data_dir):
    with pytest.raises(ConfigError) as caught:
        mock_esia.create_app({"DATA_DIR": str(data_dir), "ISSUER": "http://esia.test", "CONSENT": "maybe", "CODE_TTL": -1})

    assert all(key in str(caught.value) for key in ("ISSUER", "CONSENT", "CODE_TTL"))


def test_the_environment_configures_the_mock_when_no_test_config_is_given(monkeypatch, data_dir):
    monkeypatch.setenv("MOCK_ESIA_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MOCK_ESIA_ISSUER", "http://esia.gosuslugi.ru/")

    app = mock_esia.create_app()

    assert app.config["ISSUER"] == "http://esia.gosuslugi.ru/"


def test_a_toml_config_file_registers_clients_and_faults(tmp_path, data_dir, client_for):
    (tmp_path / "mock.toml").write_text(
        f'ISSUER = "http://esia.gosuslugi.ru/"\nPERSON_FAULTS = {{1000300006 = {{te = "status=500"}}}}\n'
        f'[CLIENTS.DIARY01]\ncertificate_files = ["{DATA / "client-gost.cer"}"]\n'
        'redirect_uris = ["http://diary.test/"]\nscopes = ["openid", "fullname"]\njwt_alg = "GOST3410_2012_256"\n',
        encoding="utf-8",
    )

    app = mock_esia.create_app({"CONFIG_FILE": str(tmp_path / "mock.toml"), "DATA_DIR": str(data_dir)})
    esia = client_for(app, redirect_uri="http://diary.test/esia")
    code, _ = esia.code_for("v2", "openid", "adult-standard")

    assert app.config["ISSUER"] == "http://esia.gosuslugi.ru/"
    assert app.extensions["mock_esia"].clients["DIARY01"].jwt_alg == "GOST3410_2012_256"
    assert esia.token("v3", esia.v3_token_form(code, "openid")).status_code == 500


def test_an_unknown_key_in_a_config_file_is_refused(tmp_path):
    (tmp_path / "mock.json").write_text('{"CLEINTS": {}}')

    with pytest.raises(ConfigError, match="unknown keys"):
        mock_esia.create_app({"CONFIG_FILE": str(tmp_path / "mock.json")})
