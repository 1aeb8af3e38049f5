"""A loopback HTTP/1.1 server whose every answer a test scripts, byte for byte, for the ESIA client's own HTTP.

A WSGI server cannot misbehave on purpose (stall, close a kept-alive connection, stream without
end, lie about a length); this one runs ``handle(peer)`` on a thread per connection, and the
handler reads requests and writes what it likes. It counts the connections and records the
requests. With ``tls``, it speaks HTTPS with that context (tests make their own CA, below).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class Peer:
    """One accepted connection: read the client's requests, write answers."""

    def __init__(self, sock: socket.socket, server: RawServer) -> None:
        self.sock = sock
        self.server = server
        self.reader = sock.makefile("rb")

    def request(self) -> Request | None:
        """The next request, or None when the client closed the connection."""
        try:
            line = self.reader.readline()
            if not line:
                return None
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (header := self.reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = header.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = self.reader.read(int(headers.get("content-length", "0")))
        except (OSError, ValueError):
            return None
        found = Request(method, target, headers, body)
        self.server.requests.append(found)
        return found

    def send(self, data: bytes) -> bool:
        """Write ``data``; False once the client is gone."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def answer(self, status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> bool:
        """A whole answer with a Content-Length (JSON unless ``headers`` say otherwise)."""
        fields = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}
        head = f"HTTP/1.1 {status} Status\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        return self.send(head.encode("latin-1") + body)

    def close(self) -> None:
        with suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


@dataclass
class RawServer:
    handle: Callable[[Peer], None]
    url: str = ""
    connections: int = 0
    requests: list[Request] = field(default_factory=list)


@contextmanager
def raw_server(handle: Callable[[Peer], None], tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> Iterator[RawServer]:
    """Serve on a free loopback port; ``handle`` runs once per accepted connection."""
    server = RawServer(handle)
    listener = socket.create_server((host, 0))
    listener.settimeout(0.05)
    server.url = f"{'https' if tls else 'http'}://{host}:{listener.getsockname()[1]}"
    stopping = threading.Event()
    peers: list[Peer] = []

    def serve(sock: socket.socket) -> None:
        try:
            if tls is not None:
                sock = tls.wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError):
            sock.close()  # the client refused our certificate
            return
        peer = Peer(sock, server)
        peers.append(peer)
        try:
            handle(peer)
        finally:
            peer.close()

    def accept() -> None:
        while not stopping.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(10)
            server.connections += 1
            threading.Thread(target=serve, args=(sock,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stopping.set()
        thread.join(timeout=5)
        listener.close()
        for peer in peers:
            peer.close()


def keep_answering(status: int = 200, body: bytes = b'{"ok": true}', headers: dict[str, str] | None = None) -> Callable[[Peer], None]:
    """A handler answering every request on a connection alike, keeping it open."""

    def handle(peer: Peer) -> None:
        while peer.request() is not None:
            if not peer.answer(status, body, headers):
                return

    return handle


@dataclass(frozen=True)
class TestCa:
    """A CA of this test run and a server certificate it issued for 127.0.0.1 and localhost."""

    __test__ = False

    ca_file: Path
    server_context: ssl.SSLContext


def make_test_ca(folder: Path) -> TestCa:
    """A CA and a server certificate (EC P-256) signed by it, written to ``folder``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ESIA client tests CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, chain_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_file, key_file)
    return TestCa(ca_file, context)
