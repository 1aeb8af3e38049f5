"""The current ESIA flow (v2/ac + v3/te, raw GOST client_secret, PKCE), with RS256 and with
GOST-signed ESIA tokens: the same logins end the same way as in the legacy flow. And every
certified signer (OpenSSL's GOST engine, CryptoPro's csptest and cryptcp through their
stand-ins in tests/cryptopro, any command) through a whole login in the flow it serves."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

import matching
from broker.db.models import LoginAttempt
from broker.extensions import db
from tests.databases import MigratedDatabases
from tests.opensslgost import Openssl
from tests.world import (
    ESIA,
    GOST_CLIENT,
    World,
    ask_link,
    confirm_contacts,
    log_in,
    opened_world,
    query_of,
    start_login,
    verify_id_token,
)

pytestmark = pytest.mark.flow
GOST_SETUPS = ["current-gost-rs256", "current-gost-gost"]


@pytest.mark.parametrize("esia_setup", GOST_SETUPS)
def test_a_linked_person_signs_in(world: World) -> None:
    login = log_in(world, "namesake-1")
    assert login.callback is not None
    assert verify_id_token(login.token()["id_token"], login.nonce)["sub"] == "d-016"


@pytest.mark.parametrize("esia_setup", GOST_SETUPS)
def test_a_first_login_is_confirmed_and_linked(world: World) -> None:
    login = confirm_contacts(world, log_in(world, "adult-standard"), "+79000000006", "m@example.org")
    claims = verify_id_token(login.token()["id_token"])
    assert (claims["sub"], claims["acr"]) == ("d-006", "standard")


@pytest.mark.parametrize("esia_setup", GOST_SETUPS)
def test_a_refusal_is_the_same_in_the_current_flow(world: World) -> None:
    login = log_in(world, "teen-simple")
    assert login.page is not None and "упрощённая" in login.page.text


# -- the certified signers, each in the flow it serves (docs/esia.md, 'Signing tools') ----------

CRYPTOPRO = Path(__file__).resolve().parents[1] / "cryptopro"
CONTAINER = "\\\\.\\HDIMAGE\\diary"


def signer_config(name: str, store: Path, openssl_conf: Path) -> tuple[str, dict[str, Any]]:
    """The world's setup (flow, registered certificate) and the broker's signer keys for ``name``."""
    standin = {"ESIA_SIGNER_ENV": {"CRYPTOPRO_STANDIN_STORE": str(store)}}
    key = str(GOST_CLIENT / "client-gost.key")
    configs: dict[str, tuple[str, dict[str, Any]]] = {
        "openssl-raw": ("current-gost-gost", {}),
        "openssl-cms": ("legacy-gost", {}),
        "csptest-raw": (
            "current-gost-rs256",
            {"ESIA_SIGNER_COMMAND": str(CRYPTOPRO / "csptest"), "ESIA_SIGNER_CONTAINER": CONTAINER, **standin},
        ),
        "csptest-cms": ("legacy-gost", {"ESIA_SIGNER_COMMAND": str(CRYPTOPRO / "csptest"), **standin}),
        "cryptcp-cms": ("legacy-gost", {"ESIA_SIGNER_COMMAND": str(CRYPTOPRO / "cryptcp"), **standin}),
        "command-raw": (
            "current-gost-rs256",
            {
                "ESIA_SIGNER_COMMAND": ["openssl", "dgst", "-md_gost12_256", "-sign", key, "-out", "{signature}", "{data}"],
                "ESIA_SIGNER_ENV": {"OPENSSL_CONF": str(openssl_conf)},
            },
        ),
        "command-cms": (
            "legacy-gost",
            {
                "ESIA_SIGNER_COMMAND": [
                    "openssl",
                    "cms",
                    "-sign",
                    "-binary",
                    "-outform",
                    "DER",
                    "-md",
                    "md_gost12_256",
                    "-noattr",
                    "-signer",
                    "{certificate}",
                    "-inkey",
                    key,
                    "-in",
                    "{data}",
                    "-out",
                    "{signature}",
                ],  # fmt: skip
                "ESIA_SIGNER_ENV": {"OPENSSL_CONF": str(openssl_conf)},
            },
        ),
    }
    setup, extra = configs[name]
    return setup, {"ESIA_SIGNER": name, **extra}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The CryptoPro stand-ins' key store: the GOST test pair as container ``diary``."""
    folder = tmp_path / "cryptopro"
    folder.mkdir()
    for suffix in ("key", "cer"):
        (folder / f"diary.{suffix}").write_bytes((GOST_CLIENT / f"client-gost.{suffix}").read_bytes())
    return folder


@contextmanager
def signer_world(
    name: str, store: Path, openssl: Openssl, material: dict[str, Path], migrated: MigratedDatabases, tmp_path: Path, **env: str
) -> Iterator[World]:
    setup, config = signer_config(name, store, openssl.config)
    config["ESIA_SIGNER_ENV"] = {**config.get("ESIA_SIGNER_ENV", {}), **env}
    with opened_world(material, migrated.copy("sqlite", tmp_path), setup, config) as world:
        yield world


@pytest.mark.parametrize(
    "signer", ["openssl-raw", "openssl-cms", "csptest-raw", "csptest-cms", "cryptcp-cms", "command-raw", "command-cms"]
)
def test_each_certified_signer_signs_a_whole_login_in_its_flow(
    signer: str, store: Path, openssl: Openssl, material: dict[str, Path], migrated: MigratedDatabases, tmp_path: Path
) -> None:
    with signer_world(signer, store, openssl, material, migrated, tmp_path) as world:
        assert type(world.broker.extensions["broker"].esia.config.signer).__name__ != "GostRawSigner"
        login = log_in(world, "namesake-1")
        assert login.callback is not None, login.page.text if login.page is not None else None
        assert verify_id_token(login.token()["id_token"], login.nonce)["sub"] == "d-016"


def test_a_failing_signing_tool_stops_the_login_before_esia_and_names_the_cause_in_the_log(
    store: Path, openssl: Openssl, material: dict[str, Path], migrated: MigratedDatabases, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    with signer_world("csptest-raw", store, openssl, material, migrated, tmp_path, CRYPTOPRO_STANDIN_FAULT="fail") as world:
        _, response = start_login(world)
        assert urlsplit(response.headers.get("Location", "")).netloc != urlsplit(ESIA).netloc
        assert response.status_code == 503 and "Госуслуги" in response.text
        assert "0x80090019" in caplog.text and "csptest failed" in caplog.text


def test_a_failing_signing_tool_in_the_link_flow_refuses_on_the_persons_page_recorded_once(
    store: Path, openssl: Openssl, material: dict[str, Path], migrated: MigratedDatabases, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """The portal's back channel signs nothing: the browser redeeming the ticket has ESIA's request
    signed, and a failing tool is that person's «Госуслуги недоступны» page, as at /oidc/authorize."""
    with signer_world("csptest-raw", store, openssl, material, migrated, tmp_path, CRYPTOPRO_STANDIN_FAULT="fail") as world:
        asked = ask_link("d-001")
        assert asked.status_code == 200, asked.text
        url = asked.json()["url"]
        page = world.go(url)
        assert page.status_code == 503 and int(page.headers["Retry-After"]) > 0
        text = html.unescape(page.text)
        assert matching.REFUSALS[matching.Reason.ESIA_UNAVAILABLE].message_ru in text
        assert "Привязать аккаунт Госуслуг не получилось" in text
        back = re.search(r'<a class="button[^"]*" href="([^"]+)">Вернуться в дневник</a>', page.text)
        assert back is not None
        reference = re.search(r'<span class="ref">([0-9A-Z]{4}-[0-9A-Z]{4})</span>', page.text)
        assert reference is not None
        assert query_of(html.unescape(back.group(1))) == {
            "error": "access_denied",
            "error_description": "esia_unavailable",
            "reference": reference.group(1),
        }
        assert "csptest failed" in caplog.text
        with world.broker.app_context():
            [attempt] = db.session.scalars(select(LoginAttempt)).all()
            assert (attempt.reference, attempt.flow, attempt.region) == (reference.group(1), "link", "77")
            assert (attempt.reason, attempt.detail) == ("esia_unavailable", "signer_failed")
            db.session.remove()

        again = world.go(url)  # a reload: the same page, nothing recorded again
        assert again.status_code == 503 and reference.group(1) in again.text
        assert requests.get(url, allow_redirects=False).status_code == 400  # another browser: the ticket is spent
        with world.broker.app_context():
            assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == 1
            db.session.remove()
