"""The load generator as the load balancer of ``bench/login_load.py --instances``: whom it sends a request to, and when again."""

from __future__ import annotations

import http.client
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.balancer import Balancer
from bench.cluster import free_port
from bench.login_load import Browser

PUBLIC = "broker.test:443"


class Echo(BaseHTTPRequestHandler):
    """Answers every request with the Host header it got, and counts them."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.headers["Host"])
        body = self.headers["Host"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Vanish(socketserver.StreamRequestHandler):
    """Reads a request and closes the connection without an answer (an instance killed mid-request)."""

    def handle(self) -> None:
        while self.rfile.readline() not in (b"\r\n", b""):
            pass


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def echo() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("SeenEcho", (Echo,), {"seen": seen})
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as address:
        yield address, seen


def test_instances_take_turns_and_one_out_of_the_rotation_is_skipped() -> None:
    rotation = [1, 1, 1]
    balancer = Balancer(PUBLIC, ["a", "b", "c"], rotation)
    assert [balancer.pick() for _ in range(4)] == ["a", "b", "c", "a"]
    rotation[1] = 0
    assert [balancer.pick() for _ in range(3)] == ["c", "a", "c"]


def test_an_instance_that_refused_a_connection_is_left_out_for_a_moment() -> None:
    now = [100.0]
    balancer = Balancer(PUBLIC, ["a", "b"], clock=lambda: now[0])
    balancer.refused("a")
    assert [balancer.pick() for _ in range(3)] == ["b", "b", "b"]
    now[0] += 1.5
    assert {balancer.pick() for _ in range(2)} == {"a", "b"}


def test_a_refused_connection_sends_the_request_to_the_next_instance_with_the_public_host() -> None:
    closed = f"127.0.0.1:{free_port()}"  # nothing listens: the connection is refused, nothing was sent
    with echo() as (address, seen):
        balancer = Balancer(PUBLIC, [closed, address])
        status, _, body = Browser(balancer).request("GET", f"http://{PUBLIC}/readyz")
    assert (status, body, seen) == (200, PUBLIC.encode(), [PUBLIC])
    assert balancer.refusals == 1


def test_a_request_an_instance_received_is_never_sent_to_another() -> None:
    with serving(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Vanish)) as vanishing, echo() as (address, seen):
        balancer = Balancer(PUBLIC, [vanishing, address])
        with pytest.raises(http.client.RemoteDisconnected):
            Browser(balancer).request("GET", f"http://{PUBLIC}/oidc/token")
    assert seen == [] and balancer.refusals == 0
