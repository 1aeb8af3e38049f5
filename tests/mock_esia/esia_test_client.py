"""An ESIA client for testing the mock, written from docs/esia.md alone and sharing no code with it.

Plain ``requests`` for HTTP, ``cryptography`` for RSA CMS, the raw GOST recipe from
``tests/esiaspec.py`` (``gostcrypto``; shared with the provider tests' ESIA, a test module too),
and a hand-rolled JWT reader. It never imports ``mock_esia`` (nor ``providers``): agreeing with
our own code would prove nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from tests.esiaspec import (
    CRYPTOPRO_A,
    b64url,
    gost_private_scalar,
    gost_sign,
    gost_verify,
    pem_body,
    streebog,
    unb64url,
)

DATA = Path(__file__).parent / "data"
MSK = dt.timezone(dt.timedelta(hours=3))


def esia_timestamp(moment: float, tz: dt.tzinfo = MSK) -> str:
    return dt.datetime.fromtimestamp(moment, tz).strftime("%Y.%m.%d %H:%M:%S %z")


# -- signers ---------------------------------------------------------------------------------


@dataclass
class RsaSigner:
    """Detached CMS with RSA-SHA256, as the legacy flow's libraries produce it."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    attributes: bool = True

    def sign(self, message: bytes) -> bytes:
        options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
        if not self.attributes:
            options.append(pkcs7.PKCS7Options.NoAttributes)
        builder = pkcs7.PKCS7SignatureBuilder().set_data(message).add_signer(self.certificate, self.key, hashes.SHA256())
        return builder.sign(serialization.Encoding.DER, options)

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass
class GostSigner:
    """Raw GOST R 34.10-2012 (256): Streebog digest reversed in, ``r||s`` swapped to ``s||r`` out."""

    key_path: Path
    certificate_path: Path
    paramset: str = CRYPTOPRO_A
    d: int = field(init=False)

    def __post_init__(self) -> None:
        self.d = gost_private_scalar(self.key_path)

    def sign(self, message: bytes) -> bytes:
        return gost_sign(self.d, message, self.paramset)

    @property
    def certificate_der(self) -> bytes:
        return pem_body(self.certificate_path.read_text())

    @property
    def certificate_hash(self) -> str:
        """``client_certificate_hash``: Streebog-256 of the DER certificate, uppercase hex."""
        return streebog(self.certificate_der).hex().upper()

    @property
    def pem(self) -> str:
        return self.certificate_path.read_text()


#: The fields a ``client_secret`` signs, concatenated in this order (docs/esia.md): v1, v2
#: authorization and v3 refresh (as ilimurzin/esia signs a refresh), v3 token (``+ code``).
V1_SIGNED = ("scope", "timestamp", "client_id", "state")
V2_SIGNED = ("client_id", "scope", "timestamp", "state", "redirect_uri")
V3_SIGNED = (*V2_SIGNED, "code")


def add_client_secret(
    fields: dict[str, str], overrides: dict[str, str], order: tuple[str, ...], signer: RsaSigner | GostSigner
) -> dict[str, str]:
    """Apply ``overrides`` to ``fields`` and add a ``client_secret`` over ``order``, unless one is given."""
    fields.update(overrides)
    message = "".join(fields[name] for name in order)
    fields.setdefault("client_secret", b64url(signer.sign(message.encode())))
    return fields


# -- HTTP -------------------------------------------------------------------------------------


class FlaskAdapter(BaseAdapter):
    """A ``requests`` transport that hands requests to a Flask test client (no sockets)."""

    def __init__(self, app: Any):
        super().__init__()
        self._client = app.test_client()

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        assert request.url is not None  # a prepared request always has its URL
        url = urlsplit(request.url)
        answer = self._client.open(
            url.path,
            base_url=f"{url.scheme}://{url.netloc}",
            method=request.method,
            query_string=url.query,
            headers=dict(request.headers),
            data=request.body,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for name, value in answer.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        response.headers = headers
        response._content = answer.get_data()
        response.url = request.url
        response.request = request
        response.encoding = requests.utils.get_encoding_from_headers(headers)
        response.reason = answer.status.partition(" ")[2]
        answer.close()
        return response

    def close(self) -> None:
        pass


# -- the client -------------------------------------------------------------------------------


@dataclass
class EsiaTestClient:
    """Speaks ESIA's protocol to ``base_url`` the way client libraries do."""

    http: requests.Session
    base_url: str
    client_id: str
    redirect_uri: str
    rsa: RsaSigner
    gost: GostSigner
    clock: Any = None

    def now(self) -> float:
        return self.clock() if self.clock is not None else time.time()

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    # authorization ---------------------------------------------------------------------------

    def v1_params(self, scope: str, **overrides: str) -> dict[str, str]:
        params = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "response_type": "code",
            "state": str(uuid.uuid4()),
            "timestamp": esia_timestamp(self.now()),
            "access_type": "online",
        }
        return add_client_secret(params, overrides, V1_SIGNED, self.rsa)

    def v2_params(self, scope: str, *, code_challenge: str | None = None, **overrides: str) -> dict[str, str]:
        params = {
            "client_id": self.client_id,
            "client_certificate_hash": self.gost.certificate_hash,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "response_type": "code",
            "state": str(uuid.uuid4()),
            "timestamp": esia_timestamp(self.now()),
            "access_type": "online",
        }
        if code_challenge:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        return add_client_secret(params, overrides, V2_SIGNED, self.gost)

    def authorize(self, flow: str, params: dict[str, str], **kwargs: Any) -> requests.Response:
        path = "/aas/oauth2/ac" if flow == "v1" else "/aas/oauth2/v2/ac"
        return self.http.get(self.url(path), params=params, allow_redirects=False, **kwargs)

    def log_in(
        self,
        login_page: requests.Response,
        *,
        login: str | None = None,
        password: str = "test1234",
        person: int | None = None,
        fault: str = "",
        **kwargs: Any,
    ) -> requests.Response:
        """POST the login form the authorization redirect led to."""
        assert login_page.status_code == 302, login_page.text
        location = urlsplit(login_page.headers["Location"])
        rid = parse_qs(location.query)["rid"][0]
        form = {"rid": rid, "fault": fault}
        if person is not None:
            form["person"] = str(person)
        else:
            form.update(login=login or "", password=password)
        return self.http.post(self.url(location.path), data=form, allow_redirects=False, **kwargs)

    def code_for(
        self, flow: str, scope: str, login: str, *, code_challenge: str | None = None, **overrides: str
    ) -> tuple[str, dict[str, str]]:
        if flow == "v1":
            params = self.v1_params(scope, **overrides)
        else:
            params = self.v2_params(scope, code_challenge=code_challenge, **overrides)
        answer = self.log_in(self.authorize(flow, params), login=login)
        callback = redirect_query(answer)
        assert "code" in callback, callback
        assert callback["state"] == params["state"]
        return callback["code"], params

    # token -----------------------------------------------------------------------------------

    def v1_token_form(self, code: str, scope: str, **overrides: str) -> dict[str, str]:
        form = {
            "client_id": self.client_id,
            "code": code,
            "grant_type": "authorization_code",
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": str(uuid.uuid4()),
            "timestamp": esia_timestamp(self.now()),
            "token_type": "Bearer",
        }
        return add_client_secret(form, overrides, V1_SIGNED, self.rsa)

    def v3_token_form(self, code: str, scope: str, **overrides: str) -> dict[str, str]:
        form = {
            "client_id": self.client_id,
            "code": code,
            "grant_type": "authorization_code",
            "client_certificate_hash": self.gost.certificate_hash,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": str(uuid.uuid4()),
            "timestamp": esia_timestamp(self.now()),
            "token_type": "Bearer",
        }
        return add_client_secret(form, overrides, V3_SIGNED, self.gost)

    def v3_refresh_form(self, refresh_token: str, scope: str, **overrides: str) -> dict[str, str]:
        """ilimurzin/esia's refresh: signs client_id+scope+timestamp+state+redirect_uri."""
        form = {
            "client_id": self.client_id,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_certificate_hash": self.gost.certificate_hash,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": str(uuid.uuid4()),
            "timestamp": esia_timestamp(self.now()),
            "token_type": "Bearer",
        }
        return add_client_secret(form, overrides, V2_SIGNED, self.gost)

    def token(self, flow: str, form: dict[str, str], **kwargs: Any) -> requests.Response:
        path = "/aas/oauth2/te" if flow == "v1" else "/aas/oauth2/v3/te"
        return self.http.post(self.url(path), data=form, allow_redirects=False, **kwargs)

    def login_and_exchange(self, flow: str, scope: str, login: str, **token_overrides: str) -> dict[str, Any]:
        verifier = b64url(secrets.token_bytes(32)) if flow == "v2" else None
        challenge = b64url(hashlib.sha256(verifier.encode()).digest()) if verifier else None
        code, _ = self.code_for(flow, scope, login, code_challenge=challenge)
        if flow == "v1":
            form = self.v1_token_form(code, scope, **token_overrides)
        else:
            form = self.v3_token_form(code, scope, code_verifier=verifier or "", **token_overrides)
        answer = self.token("v1" if flow == "v1" else "v3", form)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["state"] == form["state"]
        return body

    # person API ------------------------------------------------------------------------------

    def person_api(self, path: str, token: str | None, **params: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.get(self.url(path), headers=headers, params=params or None)


def redirect_query(answer: requests.Response) -> dict[str, str]:
    """The query parameters of a redirect back to the client."""
    assert answer.status_code == 302, (answer.status_code, answer.text[:500])
    return {key: values[0] for key, values in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


@dataclass(frozen=True)
class Jwt:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @classmethod
    def parse(cls, token: str) -> Jwt:
        head, body, signature = token.split(".")
        return cls(json.loads(unb64url(head)), json.loads(unb64url(body)), f"{head}.{body}".encode(), unb64url(signature))

    def verifies_with_rsa(self, certificate_pem: str) -> bool:
        key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        try:
            key.verify(self.signature, self.signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True

    def verifies_with_gost(self, certificate_pem: str) -> bool:
        return gost_verify(pem_body(certificate_pem), self.signing_input, self.signature)
