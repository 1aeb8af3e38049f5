"""Two broker instances on one PostgreSQL: any step of a login may land on either, and a restart loses nothing.

Two ``broker serve --workers 1`` processes, A and B, run with the same config (keys, portal, the
mock ESIA live on a loopback port) on one PostgreSQL database. The test is the load balancer in
front of them: the public address is ``FRONT`` (the issuer, ESIA's redirect URI), and each step of
the browser and the portal is sent to the instance the test picks. Everything a login needs
between steps is in the database (docs/adr/0002) or in the browser's cookies, signed with the
shared SECRET_KEY; nothing lives in one instance's memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

import mock_esia
from broker import create_app
from broker.extensions import db
from examples.localhost import free_port
from tests.databases import POSTGRES_URL, MigratedDatabases
from tests.liveserver import serving
from tests.world import EXAMPLES, PORTAL_CALLBACK, PORTAL_SECRET, csrf

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="two instances share one PostgreSQL database (TEST_DATABASE_URL)"),
]

ROOT = Path(__file__).resolve().parents[2]
#: The instances' one public address (a load balancer's): the issuer, and ESIA's way back.
FRONT = "https://broker.test"
START_SECONDS = 60.0
STOP_SECONDS = 30.0
TIMEOUT = 30  # every request the test sends


@dataclass
class Instance:
    """One ``broker serve`` process on a loopback port; restartable on the same port."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-c", "from broker.cli import main; main()", "serve", "--bind", f"127.0.0.1:{self.port}",
                   "--workers", "1", "--threads", "2", "--graceful-timeout", "5"]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.log.parent, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: gunicorn's worker is killed with it in kill()
            )  # fmt: skip
        deadline = time.monotonic() + START_SECONDS
        while not self._ready():
            assert self.process.poll() is None, f"broker {self.name} exited while starting:\n{self.log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"broker {self.name} did not answer /readyz:\n{self.log.read_text()[-3000:]}"
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM, as an orchestrator stops an instance, and wait for a clean exit."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=STOP_SECONDS) == 0

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # gone already
            self.process.wait(timeout=STOP_SECONDS)

    def _ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False


def at(instance: Instance, url: str) -> str:
    """``url`` at the front (or at either instance) as the load balancer sends it to ``instance``."""
    parts = urlsplit(urljoin(FRONT + "/", url))
    return instance.url + parts.path + (f"?{parts.query}" if parts.query else "")


def is_broker(url: str, instances: list[Instance]) -> bool:
    return url.startswith(FRONT) or any(url.startswith(instance.url) for instance in instances)


@dataclass
class Cluster:
    a: Instance
    b: Instance
    esia: str  # the mock ESIA's base URL

    @property
    def instances(self) -> list[Instance]:
        return [self.a, self.b]


def broker_settings(folder: Path, material: dict[str, Path], esia: str, database_url: str) -> dict[str, Any]:
    """The config both instances run with (and the seeding app too): one set of keys, one portal, one ESIA."""
    return {
        "SECRET_KEY": "two-instances-secret-" + "s" * 16,
        "SNILS_HASH_KEY": "two-instances-snils-" + "n" * 16,
        "OID_HASH_KEY": "two-instances-oid-" + "o" * 16,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "COOKIE_SECURE": False,  # plain HTTP on loopback
        "OIDC_ISSUER": FRONT,
        "OIDC_SIGNING_KEY_FILES": [str(material["oidc"])],
        "OIDC_CLIENTS": {
            "portal": {
                "redirect_uris": [PORTAL_CALLBACK],
                "regions": ["77"],
                "login_url": "https://portal.test/login",
                "secret_sha256": hashlib.sha256(PORTAL_SECRET.encode()).hexdigest(),
            }
        },
        "ESIA_BASE_URL": esia,
        "ESIA_CLIENT_ID": "DIARY01",
        "ESIA_FLOW": "legacy",
        "ESIA_SIGNER": "rsa-cms",
        "ESIA_KEY_FILE": str(material["key"]),
        "ESIA_CERTIFICATE_FILE": str(material["certificate"]),
        "ESIA_TOKEN_CERTIFICATE_FILES": [str(folder / "mock" / "esia-rsa.cer")],
        "ESIA_REDIRECT_URI": f"{FRONT}/auth/esia/callback",
    }


def instance_env(folder: Path, settings: dict[str, Any]) -> dict[str, str]:
    """``settings`` as ``BROKER_*`` variables (JSON, as Flask reads prefixed variables) over an empty config file."""
    empty = folder / "empty.toml"
    empty.touch()
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("BROKER_", "FLASK_", "GUNICORN_"))}
    clean.pop("DATABASE_URL", None)
    env = {**clean, "PYTHONPATH": str(ROOT), "BROKER_CONFIG": str(empty), "BROKER_DATABASE_URL": settings["SQLALCHEMY_DATABASE_URI"]}
    env.update({f"BROKER_{key}": json.dumps(value) for key, value in settings.items() if key != "SQLALCHEMY_DATABASE_URI"})
    return env


@contextmanager
def started_cluster(folder: Path, material: dict[str, Path], database_url: str) -> Iterator[Cluster]:
    """The mock ESIA live in a thread, the registry loaded, and brokers A and B started; all stopped after."""
    esia_app = mock_esia.create_app(
        {
            "TESTING": True,
            "DATA_DIR": str(folder / "mock"),
            "CLIENTS": {
                "DIARY01": {
                    "certificates": [material["certificate"].read_text()],
                    "redirect_uris": [f"{FRONT}/auth/esia/callback"],
                    "scopes": ["openid", "fullname", "birthdate", "gender", "snils", "id_doc", "email", "mobile"],
                    "jwt_alg": "RS256",
                }
            },
        }
    )
    with ExitStack() as stack:
        esia = stack.enter_context(serving(esia_app))
        settings = broker_settings(folder, material, esia, database_url)
        seeding = create_app(settings)
        with seeding.app_context():
            runner = seeding.test_cli_runner()
            assert runner.invoke(args=["registry", "import", "--allow-links", str(EXAMPLES / "registry.csv")]).exit_code == 0
            assert runner.invoke(args=["regions", "enable", "77", "--comment", "two instances"]).exit_code == 0
            db.session.remove()
            db.engine.dispose()
        env = instance_env(folder, settings)
        cluster = Cluster(Instance("A", free_port(), env, folder / "a.log"), Instance("B", free_port(), env, folder / "b.log"), esia)
        try:
            for instance in cluster.instances:
                instance.start()
            yield cluster
        finally:
            for instance in cluster.instances:
                instance.kill()
                if instance.log.exists():  # pytest shows it when the test fails
                    print(f"--- broker {instance.name}:\n{instance.log.read_text(errors='replace')[-5000:]}")


@pytest.fixture
def cluster(tmp_path: Path, material: dict[str, Path], migrated: MigratedDatabases) -> Iterator[Cluster]:
    with started_cluster(tmp_path, material, migrated.copy("postgresql", tmp_path)) as cluster:
        yield cluster


# --- the browser and the portal ----------------------------------------------------------------


@dataclass
class Login:
    browser: requests.Session
    portal: OAuth2Session
    verifier: str
    nonce: str


def go(browser: requests.Session, url: str, data: dict[str, str] | None = None) -> requests.Response:
    if data is None:
        return browser.get(url, allow_redirects=False, timeout=TIMEOUT)
    return browser.post(url, data=data, allow_redirects=False, timeout=TIMEOUT)


def follow(cluster: Cluster, browser: requests.Session, response: requests.Response, to: Instance,
           stop: Callable[[str], bool]) -> requests.Response | str:  # fmt: skip
    """Follow redirects, the broker's on instance ``to``, until one points where ``stop`` says."""
    while response.status_code in (301, 302, 303, 307):
        location = urljoin(response.url, response.headers["Location"])
        if stop(location):
            return location
        response = go(browser, at(to, location) if is_broker(location, cluster.instances) else location)
    return response


def at_mock_login(cluster: Cluster) -> Callable[[str], bool]:
    return lambda url: url.startswith(cluster.esia) and urlsplit(url).path == "/login"


def authorize(cluster: Cluster, on: Instance, browser: requests.Session | None = None,
              until: Callable[[str], bool] | None = None) -> tuple[Login, str]:  # fmt: skip
    """The portal sends a browser (a new one by default) to ``/oidc/authorize`` on instance ``on``:
    where the redirects lead, ESIA's login page unless ``until`` says otherwise."""
    portal = OAuth2Session(client_id="portal", client_secret=PORTAL_SECRET, scope="openid profile email phone",
                           redirect_uri=PORTAL_CALLBACK, code_challenge_method="S256")  # fmt: skip
    login = Login(browser or requests.Session(), portal, secrets.token_urlsafe(48), secrets.token_urlsafe(16))
    url, _ = portal.create_authorization_url(f"{FRONT}/oidc/authorize", code_verifier=login.verifier, nonce=login.nonce, region="77")
    end = follow(cluster, login.browser, go(login.browser, at(on, url)), on, until or at_mock_login(cluster))
    assert isinstance(end, str), "the broker sends the browser on (to ESIA's login page, or back to the portal)"
    return login, end


def sign_in_at_esia(cluster: Cluster, login: Login, at_esia: str, person: str) -> str:
    """The person signs in at the mock ESIA: the broker's callback URL (at the front) it sends the browser to."""
    answer = go(login.browser, at_esia, data={"login": person, "password": "test1234"})
    callback = follow(cluster, login.browser, answer, cluster.a, lambda url: is_broker(url, cluster.instances))
    assert isinstance(callback, str) and urlsplit(callback).path == "/auth/esia/callback"
    return callback


def token(login: Login, on: Instance, callback: str) -> dict[str, Any]:
    answer: dict[str, Any] = login.portal.fetch_token(
        f"{on.url}/oidc/token", authorization_response=callback, code_verifier=login.verifier, timeout=TIMEOUT
    )
    return answer


def verify(id_token: str, jwks: Any, nonce: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert (claims["iss"], claims["aud"], claims["nonce"]) == (FRONT, "portal", nonce)
    return claims


def userinfo(on: Instance, access_token: str) -> requests.Response:
    return requests.get(f"{on.url}/oidc/userinfo", headers={"Authorization": f"Bearer {access_token}"}, timeout=TIMEOUT)


# --- the test ----------------------------------------------------------------------------------


def test_a_login_may_take_each_step_on_either_instance_and_a_restarted_instance_loses_nothing(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    jwks = requests.get(f"{a.url}/oidc/jwks", timeout=TIMEOUT).json()
    assert jwks == requests.get(f"{b.url}/oidc/jwks", timeout=TIMEOUT).json() and jwks["keys"]

    # authorize on A, ESIA, the callback on B, the first link's page on A and its answer on B.
    login, at_esia = authorize(cluster, a)
    callback = sign_in_at_esia(cluster, login, at_esia, "adult-standard")
    answer = follow(cluster, login.browser, go(login.browser, at(b, callback)), b, lambda url: urlsplit(url).path == "/auth/confirm")
    assert isinstance(answer, str), "a first login asks to confirm the phone and e-mail"
    page = go(login.browser, at(a, answer))
    assert page.status_code == 200 and "csrf_token" in page.text
    contacts = {"csrf_token": csrf(page.text), "phone": "+79000000006", "email": "m@example.org"}
    sent = go(login.browser, at(b, "/auth/confirm"), data=contacts)
    back = follow(cluster, login.browser, sent, b, lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(back, str), "the confirmation leads back to the portal"

    # the code from B is redeemed on A; A's tokens are good on B, its id_token verifies with B's keys.
    tokens = token(login, a, back)
    claims = verify(tokens["id_token"], requests.get(f"{b.url}/oidc/jwks", timeout=TIMEOUT).json(), login.nonce)
    assert claims["sub"] == "d-006"
    assert userinfo(b, tokens["access_token"]).json()["sub"] == "d-006"

    # a second login stops after authorize on A; A is restarted; the login ends on the new A.
    second, at_esia = authorize(cluster, a)
    old = a.process
    a.stop()
    assert userinfo(b, tokens["access_token"]).status_code == 200  # B answers alone meanwhile
    a.start()
    assert a.process is not old and a.process is not None and a.process.pid != old.pid
    callback = sign_in_at_esia(cluster, second, at_esia, "adult-standard")
    back = follow(cluster, second.browser, go(second.browser, at(a, callback)), a, lambda url: url.startswith(PORTAL_CALLBACK))
    assert isinstance(back, str), "the person linked in the first login signs in at once"
    again = token(second, a, back)
    assert verify(again["id_token"], jwks, second.nonce)["sub"] == "d-006"
    assert userinfo(a, again["access_token"]).json()["sub"] == "d-006"

    # what the old A issued still holds on the new A: the first access token, the first browser's session.
    assert userinfo(a, tokens["access_token"]).json()["sub"] == "d-006"
    third, back = authorize(cluster, a, login.browser, until=lambda url: url.startswith(PORTAL_CALLBACK))  # no ESIA: its session
    assert verify(token(third, a, back)["id_token"], jwks, third.nonce)["sub"] == "d-006"
