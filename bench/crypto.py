"""GOST signing, verification and Streebog-256, side by side: the gost library through OpenSSL's
engine in process and in pure Python, PyPI's ``gostcrypto``, the ``openssl`` command per call,
and RSA-2048 for reference.

    .venv/bin/python bench/crypto.py [--count 300] [--slow-count 20]

Every figure is CPU time per call in this process (``time.process_time``) after a warm-up that
also builds the pure-Python tables (and the verifying key's own table, built at its second use;
"verify, new key" verifies under keys never seen before, each once), except the ``openssl`` column: wall time per call of a
child process (what shelling out per signature would cost a request). The message is the
``client_secret`` input of an ESIA authorization request (about 110 bytes); keys are on
CryptoPro-A (OpenSSL's ``paramset:A``), as ESIA's are. The targets of issue #14: pure Python at
least 10× faster than ``gostcrypto`` for signing and for verification, 3× for Streebog over a
short message.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import machine  # noqa: E402
from bench.certificates import self_signed_rsa  # noqa: E402
from gost import curves, engine, signature, streebog  # noqa: E402
from providers.toolsigners import OPENSSL_GOST_CONF  # noqa: E402

MESSAGE = b"openid fullname birthdate gender snils2026.12.07 09:00:00 +0300DIARY01" + b"a3f1c8d0-0000-4000-8000-000000000001"
CURVE = curves.BY_OID["1.2.643.2.2.35.1"]
TARGETS = {"sign": 10.0, "verify": 10.0, "verify, new key": 10.0, "Streebog-256": 3.0}
NEW_KEYS = 40


def cpu_per_call(call: Callable[[], object], count: int) -> float:
    for _ in range(max(3, count // 10)):
        call()
    started = time.process_time()
    for _ in range(count):
        call()
    return (time.process_time() - started) / count


def wall_per_call(call: Callable[[], object], count: int) -> float:
    call()
    started = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - started) / count


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms" if seconds >= 1e-5 else f"{seconds * 1e6:.2f} µs"


def pem(der: bytes, label: str) -> str:
    body = base64.encodebytes(der).decode().replace("\n", "")
    return f"-----BEGIN {label}-----\n" + "\n".join(body[i : i + 64] for i in range(0, len(body), 64)) + f"\n-----END {label}-----\n"


def new_keys() -> list[tuple[curves.Affine, bytes]]:
    """Keys never seen before, each with a signature over MESSAGE: verification without a key's own table."""
    pairs = []
    for _ in range(NEW_KEYS):
        d = 1 + int.from_bytes(os.urandom(32), "big") % (CURVE.q - 1)
        pairs.append((signature.public_key(CURVE, d), signature.sign(CURVE, d, streebog.streebog256(MESSAGE))))
    return pairs


def each_once(verify: Callable[[curves.Affine, bytes], bool], pairs: list[tuple[curves.Affine, bytes]]) -> float:
    """CPU per verification when every key is used once."""
    started = time.process_time()
    for point, made in pairs:
        assert verify(point, made)
    return (time.process_time() - started) / len(pairs)


def ours_pure(d: int, point: curves.Affine, count: int) -> dict[str, float]:
    digest = streebog.streebog256(MESSAGE)
    made = signature.sign(CURVE, d, digest)
    return {
        "sign": cpu_per_call(lambda: signature.sign(CURVE, d, streebog.streebog256(MESSAGE)), count),
        "verify": cpu_per_call(lambda: signature.verify(CURVE, point, streebog.streebog256(MESSAGE), made), count),
        "verify, new key": each_once(lambda key, made: signature.verify(CURVE, key, streebog.streebog256(MESSAGE), made), new_keys()),
        "Streebog-256": cpu_per_call(lambda: streebog.streebog256(MESSAGE), count * 10),
    }


def ours_engine(d: int, point: curves.Affine, count: int) -> dict[str, float] | None:
    loaded = engine.load()
    if loaded is None:
        return None
    made = loaded.sign(CURVE, d, loaded.streebog256(MESSAGE))
    return {
        "sign": cpu_per_call(lambda: loaded.sign(CURVE, d, loaded.streebog256(MESSAGE)), count * 3),
        "verify": cpu_per_call(lambda: loaded.verify(CURVE, point, loaded.streebog256(MESSAGE), made), count * 3),
        "verify, new key": each_once(lambda key, made: loaded.verify(CURVE, key, loaded.streebog256(MESSAGE), made), new_keys()),
        "Streebog-256": cpu_per_call(lambda: loaded.streebog256(MESSAGE), count * 30),
    }


def gostcrypto(d: int, point: curves.Affine, count: int) -> dict[str, float]:
    """The same operations through gostcrypto, with the byte-order conversions it needs (docs/esia.md)."""
    from gostcrypto import gosthash, gostsignature

    engine_ = gostsignature.new(gostsignature.MODE_256, gostsignature.CURVES_R_1323565_1_024_2019["id-tc26-gost-3410-2012-256-paramSetB"])
    public = point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")

    def digest() -> bytes:
        return bytes(gosthash.new("streebog256", data=bytearray(MESSAGE)).digest())

    def sign() -> bytes:
        r_s = engine_.sign(bytearray(d.to_bytes(32, "big")), bytearray(digest()[::-1]))
        return bytes(r_s[32:] + r_s[:32])

    made = sign()

    def verify() -> bool:
        return bool(engine_.verify(bytearray(public), bytearray(digest()[::-1]), bytearray(made[32:] + made[:32])))

    assert verify()
    seconds = cpu_per_call(verify, count)  # gostcrypto keeps nothing per key
    return {
        "sign": cpu_per_call(sign, count),
        "verify": seconds,
        "verify, new key": seconds,
        "Streebog-256": cpu_per_call(digest, count * 10),
    }


def openssl_command(d: int, point: curves.Affine, count: int, folder: Path) -> dict[str, float] | None:
    config = folder / "gost.cnf"
    config.write_text(OPENSSL_GOST_CONF)
    env = {"OPENSSL_CONF": str(config), "PATH": "/usr/bin:/bin"}
    (folder / "key.pem").write_text(pem(engine.private_key_der(CURVE, d), "PRIVATE KEY"))
    (folder / "public.pem").write_text(pem(engine.public_key_der(CURVE, point), "PUBLIC KEY"))
    message = folder / "message"
    message.write_bytes(MESSAGE)

    def run(*args: str) -> bytes:
        done = subprocess.run(["openssl", "dgst", "-md_gost12_256", *args], capture_output=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.decode(errors="replace"))
        return done.stdout

    try:
        (folder / "signature").write_bytes(run("-sign", str(folder / "key.pem"), str(message)))
    except (OSError, RuntimeError):
        return None
    verify = ("-verify", str(folder / "public.pem"), "-signature", str(folder / "signature"), str(message))
    assert run(*verify).strip() == b"Verified OK"
    seconds = wall_per_call(lambda: run(*verify), count)  # every call a new process
    return {
        "sign": wall_per_call(lambda: run("-sign", str(folder / "key.pem"), str(message)), count),
        "verify": seconds,
        "verify, new key": seconds,
        "Streebog-256": wall_per_call(lambda: run("-r", str(message)), count),
    }


def rsa_reference(count: int) -> dict[str, float]:
    """RSA-2048: the broker's CMS client_secret signer, an RS256 verification, SHA-256."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from providers.signing import RsaCmsSigner

    key, certificate = self_signed_rsa("bench")
    signer = RsaCmsSigner(key, certificate)
    public = key.public_key()
    made = key.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    seconds = cpu_per_call(lambda: public.verify(made, MESSAGE, padding.PKCS1v15(), hashes.SHA256()), count)
    return {
        "sign": cpu_per_call(lambda: signer.sign(MESSAGE), count),
        "verify": seconds,
        "verify, new key": seconds,
        "Streebog-256": cpu_per_call(lambda: hashlib.sha256(MESSAGE).digest(), count * 10),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300, help="calls per figure for our pure Python and RSA (the engine: 3×)")
    parser.add_argument("--slow-count", type=int, default=20, help="calls per figure for gostcrypto and the openssl command")
    args = parser.parse_args()

    print(f"machine: {machine.describe()}")
    print(f"message: {len(MESSAGE)} bytes; curve {CURVE.name}; CPU per call unless said otherwise")
    started = time.process_time()
    CURVE.multiply_base(1)
    print(f"one-time cost per process: the base point's table for {CURVE.name}, {(time.process_time() - started) * 1000:.0f} ms")
    d = 1 + int.from_bytes(os.urandom(32), "big") % (CURVE.q - 1)
    point = signature.public_key(CURVE, d)

    with tempfile.TemporaryDirectory(prefix="bench-crypto-") as folder:
        columns: dict[str, dict[str, float] | None] = {
            "ours, engine in process": ours_engine(d, point, args.count),
            "ours, pure Python": ours_pure(d, point, args.count),
            "gostcrypto": gostcrypto(d, point, args.slow_count),
            "openssl command (wall)": openssl_command(d, point, args.slow_count, Path(folder)),
            "RSA-2048 (reference)": rsa_reference(args.count),
        }
    width = 26
    print()
    print(f"{'':<16}" + "".join(f"{name:>{width}}" for name in columns))
    for operation in TARGETS:
        cells = []
        for figures in columns.values():
            cells.append(milliseconds(figures[operation]) if figures is not None else "not installed")
        print(f"{operation:<16}" + "".join(f"{cell:>{width}}" for cell in cells))
    print(f"{'':<16}" + f"{'':>{width * 4}}" + f"{'(CMS; RS256; SHA-256)':>{width}}")
    print()
    pure, reference = columns["ours, pure Python"], columns["gostcrypto"]
    assert pure is not None and reference is not None
    met = True
    for operation, target in TARGETS.items():
        ratio = reference[operation] / pure[operation]
        met &= ratio >= target
        print(f"pure Python against gostcrypto, {operation}: {ratio:.1f}× faster (target: at least {target:.0f}×)")
    engine_figures = columns["ours, engine in process"]
    if engine_figures is not None:
        for operation in TARGETS:
            print(f"engine in process against pure Python, {operation}: {pure[operation] / engine_figures[operation]:.1f}× faster")
    print("targets met" if met else "TARGETS NOT MET")


if __name__ == "__main__":
    main()
