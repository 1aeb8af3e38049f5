"""What the CryptoPro stand-ins share: their key store, OpenSSL underneath, and CryptoPro's way of failing.

``csptest`` and ``cryptcp`` beside this file accept the command lines the broker calls
(docs/esia.md, 'Signing tools') and sign with OpenSSL's GOST engine. Their store is the folder
named by ``CRYPTOPRO_STANDIN_STORE``: ``NAME.key`` (PKCS#8 PEM) and ``NAME.cer`` (PEM) per
container; a certificate is found by its SHA-1 thumbprint as CryptoPro's ``My`` store finds it.
``CRYPTOPRO_STANDIN_FAULT`` makes them misbehave: ``fail`` (an error code, exit 1), ``hang``,
``garbage`` (a few bytes that are no signature), ``unreversed`` (csptest's raw output in
OpenSSL's order), ``nothing`` (exit 0 without writing).
Only the standard library: the stand-ins run under whatever ``python3`` is on PATH.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

GOST_CONF = """openssl_conf = openssl_def
[openssl_def]
engines = engine_section
[engine_section]
gost = gost_section
[gost_section]
engine_id = gost
default_algorithms = ALL
"""


def die(message: str, code: str = "0x80090016") -> NoReturn:
    """Fail as CryptoPro's tools do: the message and an error code, exit status 1."""
    print("An error occurred in running the program.", file=sys.stderr)
    print(message, file=sys.stderr)
    print(f"[ErrorCode: {code}]", file=sys.stderr)
    sys.exit(1)


def store() -> Path:
    folder = os.environ.get("CRYPTOPRO_STANDIN_STORE")
    if not folder or not Path(folder).is_dir():
        die("Keyset does not exist (no CRYPTOPRO_STANDIN_STORE)")
    return Path(folder)


def der_of(pem: bytes) -> bytes:
    body = pem.split(b"-----BEGIN CERTIFICATE-----")[1].split(b"-----END CERTIFICATE-----")[0]
    return base64.b64decode(b"".join(body.split()))


def by_container(name: str) -> tuple[Path, Path]:
    short = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    key, certificate = store() / f"{short}.key", store() / f"{short}.cer"
    if not key.is_file():
        die(f"Keyset {name} does not exist")
    return key, certificate


def by_thumbprint(thumbprint: str) -> tuple[Path, Path]:
    for certificate in sorted(store().glob("*.cer")):
        if hashlib.sha1(der_of(certificate.read_bytes())).hexdigest() == thumbprint.lower():
            return certificate.with_suffix(".key"), certificate
    die(f"Cannot find certificate with thumbprint {thumbprint} in store My", "0x80092004")


def option(args: list[str], name: str) -> str:
    if name not in args or args.index(name) + 1 >= len(args):
        die(f"Option {name} is required")
    return args[args.index(name) + 1]


def openssl(*args: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        conf = Path(folder) / "gost.cnf"
        conf.write_text(GOST_CONF)
        done = subprocess.run(
            ["openssl", *args], capture_output=True, env={"OPENSSL_CONF": str(conf), "PATH": "/usr/bin:/bin"}, check=False
        )
    if done.returncode != 0:
        die("Signing failed: " + done.stderr.decode(errors="replace").strip(), "0x8009000d")


def fault() -> str:
    return os.environ.get("CRYPTOPRO_STANDIN_FAULT", "")


def before_signing(out: Path) -> bool:
    """Apply a fault that replaces signing; True when the tool is done."""
    kind = fault()
    if kind == "fail":
        die("The keyset is not defined (the PIN is not remembered)", "0x80090019")
    if kind == "hang":
        time.sleep(60)
    if kind == "garbage":
        out.write_bytes(b"not a signature")
        return True
    return kind == "nothing"


def cms_sign(key: Path, certificate: Path, data: Path, out: Path) -> None:
    openssl("cms", "-sign", "-binary", "-outform", "DER", "-md", "md_gost12_256", "-signer", str(certificate),
            "-inkey", str(key), "-in", str(data), "-out", str(out))  # fmt: skip
