"""``broker esia keygen``: a GOST R 34.10-2012 key for a new connection to ESIA, and its request or test certificate.

OpenSSL with Debian's GOST engine (``libengine-gost-openssl``) makes them, with the commands
README.md's 'ESIA keys and registration' shows. The key is written owner-only (0600) and never
overwritten; with ``self_signed`` the certificate is for ESIA's test environment (production
needs a certificate from an accredited CA, issued on the request).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from broker.errors import ConfigError, InputError
from providers import client_certificate_hash
from providers.toolsigners import OPENSSL_GOST_CONF, quote_stderr, read_certificate

#: The curve: CryptoPro-A (OpenSSL's paramset A), which every GOST tool and ESIA know.
PARAMSET = "A"
_SUBJECT_VALUE = re.compile(r"[^/\\+=\n\r]{1,64}")


@dataclass(frozen=True, slots=True)
class NewKey:
    key: Path
    request: Path | None
    certificate: Path | None
    certificate_hash: str | None


def generate(
    folder: Path,
    *,
    name: str,
    common_name: str,
    organization: str,
    self_signed: bool = False,
    days: int = 365,
    openssl: str = "openssl",
) -> NewKey:
    """Write ``NAME.key`` (0600) and ``NAME.csr``, or ``NAME.cer`` when ``self_signed``, into ``folder``."""
    for field, value in (("--common-name", common_name), ("--organization", organization)):
        if not _SUBJECT_VALUE.fullmatch(value):
            raise InputError(field, "must be 1 to 64 characters without / \\ + = or line breaks")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        raise InputError("--name", "must be a file name of letters, digits, '.', '_' or '-'")
    if not 1 <= days <= 3650:
        raise InputError("--days", "must be between 1 and 3650")
    if shutil.which(openssl) is None:
        raise ConfigError(f"{openssl} is not installed: `apt-get install openssl libengine-gost-openssl` (Debian).")
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / f"{name}.key"
    output = folder / (f"{name}.cer" if self_signed else f"{name}.csr")
    for path in (key, output):
        if path.exists():
            raise InputError("--out", f"{path} exists; a key or certificate is never overwritten")
    subject = f"/CN={common_name}/O={organization}/C=RU"
    with tempfile.TemporaryDirectory(prefix="esia-keygen-") as scratch:
        conf = Path(scratch) / "gost.cnf"
        conf.write_text(OPENSSL_GOST_CONF)
        env = {"OPENSSL_CONF": str(conf), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        probe = _run([openssl, "list", "-digest-algorithms"], env)
        if b"md_gost12_256" not in probe.stdout:
            raise ConfigError("OpenSSL's GOST engine is not installed: `apt-get install libengine-gost-openssl` (Debian).")
        descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # owner-only before a byte is written
        os.close(descriptor)
        try:
            _run([openssl, "genpkey", "-algorithm", "gost2012_256", "-pkeyopt", f"paramset:{PARAMSET}", "-out", str(key)], env)
            request = [openssl, "req", "-new", "-key", str(key), "-md_gost12_256", "-subj", subject, "-utf8", "-out", str(output)]
            if self_signed:
                request[2:3] = ["-new", "-x509", "-days", str(days)]
            _run(request, env)
        except ConfigError:
            key.unlink(missing_ok=True)
            output.unlink(missing_ok=True)
            raise
    if not self_signed:
        return NewKey(key, output, None, None)
    return NewKey(key, None, output, client_certificate_hash(read_certificate(output)))


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=60, check=False)
    if done.returncode != 0:
        raise ConfigError(f"openssl {argv[1]} failed: {quote_stderr(done.stderr)}")
    return done
