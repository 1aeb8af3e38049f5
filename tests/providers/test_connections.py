"""The ESIA client's own HTTP (providers/connections.py) against live loopback servers.

Timeouts, the size cap, the retry rules, the answers that mean "unavailable", kept-alive
connections the server closed, TLS verification and the proxy, each on real sockets; and a
whole login against the mock ESIA served on a port.
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import mock_esia
from matching import Reason
from providers import (
    EsiaProvider,
    ProviderConfigError,
    ResponseTooLargeError,
    UpstreamRefusedError,
    UpstreamUnavailableError,
)
from providers.connections import ConnectionSender
from providers.transport import RequestsSender, Transport, make_sender
from tests.liveserver import serving

from .factory import ProviderFactory
from .mockesia import MockEsia, mock_config
from .rawhttp import Peer, RawServer, TestCa, keep_answering, make_test_ca, raw_server

CAP = 64 * 1024
PERSON = {"lastName": "Соколова", "trusted": True}


def transport_for(sender: ConnectionSender, *, read_timeout: float = 5.0, cap: int = CAP) -> Transport:
    return Transport(sender, connect_timeout=2.0, read_timeout=read_timeout, max_response_bytes=cap)


@pytest.fixture
def lean() -> Iterator[Callable[..., ConnectionSender]]:
    """``lean(**settings)``: a sender whose connections (this thread's) are closed after the test."""
    made: list[ConnectionSender] = []

    def make(**settings: Any) -> ConnectionSender:
        made.append(ConnectionSender(**settings))
        return made[-1]

    yield make
    for sender in made:
        sender.close()


def get(transport: Transport, server: RawServer, path: str = "/rs/prns/1000299703") -> dict[str, Any]:
    return dict(
        transport.get_json(server.url + path, "the person data", headers={"Accept": "application/json"}, params={"embed": "(a)"}).body
    )


def post(transport: Transport, server: RawServer) -> dict[str, Any]:
    return dict(transport.post_form(server.url + "/aas/oauth2/te", {"code": "c0de", "scope": "openid fullname"}, "the token request").body)


def call(transport: Transport, server: RawServer, method: str) -> dict[str, Any]:
    return get(transport, server) if method == "GET" else post(transport, server)


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCa:
    return make_test_ca(tmp_path_factory.mktemp("esia_tls"))


# -- requests and kept-alive connections ---------------------------------------------------------


def test_reads_and_the_token_request_share_one_kept_alive_connection(lean: Callable[..., ConnectionSender]) -> None:
    with raw_server(keep_answering(body=json.dumps(PERSON).encode())) as server:
        transport = transport_for(lean())
        assert get(transport, server) == PERSON
        assert post(transport, server) == PERSON
        assert get(transport, server) == PERSON
    assert server.connections == 1
    read, token = server.requests[0], server.requests[1]
    assert (read.method, read.target) == ("GET", "/rs/prns/1000299703?embed=%28a%29")
    assert read.headers["host"] == server.url.removeprefix("http://")
    assert (read.headers["user-agent"], read.headers["accept-encoding"]) == ("diary-esia-broker", "identity")
    assert (token.method, token.body) == ("POST", b"code=c0de&scope=openid+fullname")
    assert token.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token.headers["content-length"] == str(len(token.body))


def test_each_thread_keeps_its_own_connection() -> None:
    sender = ConnectionSender()
    with raw_server(keep_answering()) as server:

        def twice() -> None:
            transport = transport_for(sender)
            get(transport, server)
            get(transport, server)
            sender.close()

        threads = [threading.Thread(target=twice) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert (server.connections, len(server.requests)) == (2, 4)


def test_answer_headers_are_read_in_any_case(lean: Callable[..., ConnectionSender]) -> None:
    handler = keep_answering(headers={"location": "https://esia.test/rs/prns/1", "X-Esia": "a"})
    with raw_server(handler) as server:
        answer = transport_for(lean()).get_json(server.url + "/rs/prns/1", "the person data", headers={}, params={})
    assert (answer.headers["Location"], answer.headers.get("x-esia"), answer.headers.get("nothing")) == (
        "https://esia.test/rs/prns/1",
        "a",
        None,
    )


def closes_when_idle(answered: threading.Event) -> Callable[[Peer], None]:
    """Answer one request with a kept-alive answer, then close the connection (as a server's idle timeout does)."""

    def handle(peer: Peer) -> None:
        if peer.request() is not None:
            peer.answer(200, b'{"ok": true}')
        peer.close()
        answered.set()

    return handle


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_connection_the_server_closed_while_idle_is_replaced_before_anything_is_sent(
    lean: Callable[..., ConnectionSender], method: str
) -> None:
    answered = threading.Event()
    with raw_server(closes_when_idle(answered)) as server:
        transport = transport_for(lean())
        get(transport, server)
        assert answered.wait(5)
        time.sleep(0.05)  # the FIN has reached our socket
        assert call(transport, server, method) == {"ok": True}
    assert (server.connections, [r.method for r in server.requests]) == (2, ["GET", method])


def drops_the_second_request() -> Callable[[Peer], None]:
    """Answer a connection's first request; read its second and close without a word."""

    def handle(peer: Peer) -> None:
        if peer.request() is not None:
            peer.answer(200, b'{"ok": true}')
        peer.request()

    return handle


def test_a_read_the_server_dropped_on_a_kept_alive_connection_is_sent_once_more_on_a_new_one(lean: Callable[..., ConnectionSender]) -> None:
    with raw_server(drops_the_second_request()) as server:
        transport = transport_for(lean())
        get(transport, server)
        assert get(transport, server) == {"ok": True}
    assert (server.connections, len(server.requests)) == (2, 3)


def test_a_dropped_kept_alive_connection_does_not_use_up_the_read_s_one_retry(lean: Callable[..., ConnectionSender]) -> None:
    connections = iter(range(100))

    def handle(peer: Peer) -> None:
        if next(connections) == 0:  # the first: one answer, then the next request dropped
            drops_the_second_request()(peer)
            return
        answers_in_turn((503, b"{}", {}), OK)(peer)  # the new one: a 5xx first, retried

    with raw_server(handle) as server:
        transport = transport_for(lean())
        get(transport, server)
        assert get(transport, server) == {"ok": True}
    assert (server.connections, len(server.requests)) == (2, 4)


def test_a_token_request_the_server_dropped_is_not_sent_again(lean: Callable[..., ConnectionSender]) -> None:
    with raw_server(drops_the_second_request()) as server:
        transport = transport_for(lean())
        get(transport, server)
        with pytest.raises(UpstreamUnavailableError, match="could not be reached for the token request"):
            post(transport, server)
    assert [r.method for r in server.requests] == ["GET", "POST"]


# -- timeouts and refused connections -----------------------------------------------------------


def never_answers(peer: Peer) -> None:
    while peer.request() is not None:
        pass  # read, and wait for the next request (the client gives up first)


@pytest.mark.parametrize(("method", "sent"), [("GET", 2), ("POST", 1)])
def test_no_answer_within_the_read_timeout_is_unavailable_and_only_a_read_is_tried_again(
    lean: Callable[..., ConnectionSender], method: str, sent: int
) -> None:
    with raw_server(never_answers) as server:
        with pytest.raises(UpstreamUnavailableError, match="did not answer .* in time") as raised:
            call(transport_for(lean(), read_timeout=0.2), server, method)
    assert raised.value.reason is Reason.ESIA_UNAVAILABLE
    assert len(server.requests) == sent


def test_a_connection_never_accepted_is_unavailable_after_the_connect_timeout(lean: Callable[..., ConnectionSender]) -> None:
    """The accept queue of a listener that never accepts is full: the handshake waits, and the
    connect timeout ends it (with the hour-long read timeout instead, this test would hang)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        queued = [socket.socket() for _ in range(4)]
        try:
            for waiting in queued:
                waiting.setblocking(False)
                waiting.connect_ex(("127.0.0.1", port))
            time.sleep(0.1)
            transport = Transport(lean(), connect_timeout=0.2, read_timeout=3600, max_response_bytes=CAP)
            with pytest.raises(UpstreamUnavailableError, match="did not answer the person data in time") as raised:
                get(transport, RawServer(never_answers, url=f"http://127.0.0.1:{port}"))
        finally:
            for waiting in queued:
                waiting.close()
    assert isinstance(raised.value.__cause__, TimeoutError)


def test_a_closed_port_is_unavailable(lean: Callable[..., ConnectionSender]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: refused
        server = RawServer(never_answers, url=f"http://127.0.0.1:{port}")
        with pytest.raises(UpstreamUnavailableError, match="could not be reached for the person data"):
            get(transport_for(lean()), server)


# -- what the answers mean ----------------------------------------------------------------------


def answers_in_turn(*answers: tuple[int, bytes, dict[str, str]]) -> Callable[[Peer], None]:
    """Answer the server's requests (over any connections) with ``answers`` in turn, the last one after that."""
    queue = list(answers)
    lock = threading.Lock()

    def handle(peer: Peer) -> None:
        while peer.request() is not None:
            with lock:
                status, body, headers = queue.pop(0) if len(queue) > 1 else queue[0]
            if not peer.answer(status, body, headers):
                return

    return handle


OK: tuple[int, bytes, dict[str, str]] = (200, b'{"ok": true}', {})


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_read_answered_with_a_5xx_is_tried_once_more(lean: Callable[..., ConnectionSender], status: int) -> None:
    with raw_server(answers_in_turn((status, b"{}", {}), OK)) as server:
        assert get(transport_for(lean()), server) == {"ok": True}
    assert len(server.requests) == 2


def test_a_token_request_answered_with_a_5xx_is_not_sent_again(lean: Callable[..., ConnectionSender]) -> None:
    with raw_server(answers_in_turn((503, b"{}", {}), OK)) as server:
        with pytest.raises(UpstreamUnavailableError, match="HTTP 503"):
            post(transport_for(lean()), server)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("answer", "error", "reason"),
    [
        ((429, b"{}", {"Retry-After": "5"}), UpstreamUnavailableError, Reason.ESIA_UNAVAILABLE),
        ((302, b"", {"Location": "https://elsewhere.test/"}), UpstreamUnavailableError, Reason.ESIA_UNAVAILABLE),
        ((200, b"<html>maintenance</html>", {"Content-Type": "text/html"}), UpstreamUnavailableError, Reason.ESIA_UNAVAILABLE),
        ((400, b'{"error": "invalid_grant", "error_description": "ESIA-007011: used"}', {}), UpstreamRefusedError, Reason.ESIA_ERROR),
    ],
    ids=["429", "redirect", "html", "esia-error"],
)
def test_answers_keep_their_meaning_and_none_is_followed_or_retried(
    lean: Callable[..., ConnectionSender], answer: tuple[int, bytes, dict[str, str]], error: type[Exception], reason: Reason
) -> None:
    with raw_server(answers_in_turn(answer, OK)) as server:
        with pytest.raises(error) as raised:
            get(transport_for(lean()), server)
    assert getattr(raised.value, "reason", None) is reason
    assert len(server.requests) == 1


# -- the size cap --------------------------------------------------------------------------------


@pytest.mark.parametrize(("over", "accepted"), [(0, True), (1, False)])
def test_a_declared_length_past_the_cap_is_refused_unread_and_the_cap_itself_is_read(
    lean: Callable[..., ConnectionSender], over: int, accepted: bool
) -> None:
    document = json.dumps({"x": "a" * 100}).encode()
    with raw_server(keep_answering(body=document)) as server:
        transport = transport_for(lean(), cap=len(document) - over)
        if accepted:
            assert get(transport, server)["x"] == "a" * 100
        else:
            with pytest.raises(ResponseTooLargeError) as raised:
                get(transport, server)
            assert raised.value.reason is Reason.ESIA_ERROR
        get(transport_for(lean()), server)


def endless(framing: str, sent: list[int]) -> Callable[[Peer], None]:
    """Stream a JSON string without end, chunked or up to the connection's end, counting the bytes."""

    def handle(peer: Peer) -> None:
        peer.request()
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += b"Transfer-Encoding: chunked\r\n\r\n" if framing == "chunked" else b"Connection: close\r\n\r\n"
        peer.send(head)
        piece = b'{"x": "' + b"a" * 65529
        while sent[0] < 512 * 1024 * 1024:
            data = b"%x\r\n%s\r\n" % (len(piece), piece) if framing == "chunked" else piece
            if not peer.send(data):
                return
            sent[0] += len(data)
            piece = b"a" * 65536

    return handle


@pytest.mark.parametrize("framing", ["chunked", "until-close"])
def test_an_answer_without_a_length_is_read_no_further_than_the_cap(lean: Callable[..., ConnectionSender], framing: str) -> None:
    sent = [0]
    with raw_server(endless(framing, sent)) as server:
        with pytest.raises(ResponseTooLargeError):
            get(transport_for(lean()), server)
        time.sleep(0.1)
        assert sent[0] < 32 * 1024 * 1024  # stopped near the cap (and the sockets' buffers), not at 512 MiB
    assert len(server.requests) == 1  # too large is not "unavailable": not tried again


def chunked(pieces: list[bytes]) -> Callable[[Peer], None]:
    def handle(peer: Peer) -> None:
        while peer.request() is not None:
            body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + body)

    return handle


def test_a_chunked_answer_within_the_cap_is_read_whole_and_the_connection_kept(lean: Callable[..., ConnectionSender]) -> None:
    document = json.dumps({"x": "b" * 40000}).encode()
    with raw_server(chunked([document[:7], document[7:30000], document[30000:]])) as server:
        transport = transport_for(lean())
        assert get(transport, server)["x"] == "b" * 40000
        assert get(transport, server)["x"] == "b" * 40000
    assert server.connections == 1


def test_a_compressed_answer_is_decoded_and_its_decoded_size_is_capped(lean: Callable[..., ConnectionSender]) -> None:
    small = gzip.compress(json.dumps(PERSON).encode())
    bomb = gzip.compress(json.dumps({"x": "0" * (4 * CAP)}).encode())
    assert len(bomb) < CAP
    headers = {"Content-Encoding": "gzip"}
    with raw_server(answers_in_turn((200, small, headers), (200, bomb, headers))) as server:
        transport = transport_for(lean())
        assert get(transport, server) == PERSON
        with pytest.raises(ResponseTooLargeError):
            get(transport, server)


# -- TLS and the proxy ------------------------------------------------------------------------


def test_an_esia_certificate_no_trusted_ca_issued_is_refused(lean: Callable[..., ConnectionSender], test_ca: TestCa) -> None:
    with raw_server(keep_answering(), tls=test_ca.server_context) as server:
        with pytest.raises(UpstreamUnavailableError, match="could not be reached") as raised:
            get(transport_for(lean()), server)  # certifi's bundle
    assert isinstance(raised.value.__cause__, ssl.SSLCertVerificationError)
    assert server.requests == []


def test_the_configured_ca_bundle_lets_the_client_verify_esia(lean: Callable[..., ConnectionSender], test_ca: TestCa) -> None:
    with raw_server(keep_answering(body=json.dumps(PERSON).encode()), tls=test_ca.server_context) as server:
        assert get(transport_for(lean(ca_bundle=str(test_ca.ca_file))), server) == PERSON


def test_a_certificate_for_another_host_is_refused_even_from_the_right_ca(lean: Callable[..., ConnectionSender], test_ca: TestCa) -> None:
    with raw_server(keep_answering(), tls=test_ca.server_context, host="127.0.0.2") as server:  # issued for 127.0.0.1
        with pytest.raises(UpstreamUnavailableError) as raised:
            get(transport_for(lean(ca_bundle=str(test_ca.ca_file))), server)
    assert isinstance(raised.value.__cause__, ssl.SSLCertVerificationError)


def test_a_ca_bundle_without_a_certificate_is_a_config_error(tmp_path: Path) -> None:
    bundle = tmp_path / "empty.pem"
    bundle.write_text("not a certificate\n")
    with pytest.raises(ProviderConfigError, match="ca_bundle"):
        ConnectionSender(ca_bundle=str(bundle))


def test_plain_http_through_the_proxy_names_the_origin_and_the_proxy_credentials(lean: Callable[..., ConnectionSender]) -> None:
    with raw_server(keep_answering()) as proxy:
        sender = lean(proxy=proxy.url.replace("http://", "http://ops:s%40cret@"))
        transport_for(sender).get_json("http://esia.invalid:8080/rs/prns/1", "the person data", headers={}, params={})
    (request,) = proxy.requests
    assert request.target == "http://esia.invalid:8080/rs/prns/1"
    assert request.headers["proxy-authorization"] == "Basic b3BzOnNAY3JldA=="  # ops:s@cret


def tunnel(connects: list[str]) -> Callable[[Peer], None]:
    """An HTTP proxy's CONNECT: relay bytes both ways to the host named."""

    def handle(peer: Peer) -> None:
        request = peer.request()
        if request is None or request.method != "CONNECT":
            return
        connects.append(request.target)
        host, port = request.target.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as upstream:
            peer.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
            threading.Thread(target=relay, args=(upstream, peer.sock), daemon=True).start()
            relay(peer.sock, upstream)

    return handle


def relay(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        return


def test_https_through_the_proxy_tunnels_and_verifies_esia_not_the_proxy(lean: Callable[..., ConnectionSender], test_ca: TestCa) -> None:
    connects: list[str] = []
    with (
        raw_server(keep_answering(body=json.dumps(PERSON).encode()), tls=test_ca.server_context) as esia,
        raw_server(tunnel(connects)) as proxy,
    ):
        transport = transport_for(lean(proxy=proxy.url, ca_bundle=str(test_ca.ca_file)))
        assert get(transport, esia) == PERSON
        assert get(transport, esia) == PERSON
    assert connects == [esia.url.removeprefix("https://")]
    assert esia.connections == 1


def test_an_https_proxy_keeps_the_requests_sender_and_an_http_one_the_lean_one() -> None:
    assert isinstance(make_sender("https://proxy.internal:3128", None), RequestsSender)
    assert isinstance(make_sender("http://proxy.internal:3128", None), ConnectionSender)
    assert isinstance(make_sender(None, None), ConnectionSender)


# -- a whole login, as the broker makes it ------------------------------------------------------


@pytest.fixture
def live_esia(mock_data_dir: Path, rsa_client_files: tuple[Path, Path]) -> Iterator[tuple[str, MockEsia]]:
    """The mock ESIA on a loopback port (its public address that port's)."""
    apps: dict[str, Any] = {}
    with serving(lambda environ, start_response: apps["esia"](environ, start_response)) as url:
        apps["esia"] = mock_esia.create_app(mock_config(mock_data_dir, rsa_client_files[1], PUBLIC_URL=url))
        yield url, MockEsia(apps["esia"], mock_data_dir, requests.Session())


@pytest.mark.flow
@pytest.mark.parametrize(("client_id", "flow"), [("LEGACY01", "legacy"), ("DIARY03", "current")])
def test_a_login_through_the_lean_client_reaches_the_live_mock_esia(
    live_esia: tuple[str, MockEsia], make_provider: ProviderFactory, client_id: str, flow: str
) -> None:
    url, esia = live_esia
    provider: EsiaProvider = make_provider.lean(base_url=url, client_id=client_id, flow=flow, certificate_files=esia.certificate_files)
    request = provider.authorize()
    code = provider.parse_callback(esia.log_in(request.url, "adult-verified"), request)
    tokens = provider.exchange_code(code, request)
    person, contacts = provider.fetch_profile(tokens)
    assert (tokens.oid, person.oid, person.last_name) == ("1000300005", "1000300005", "Петров")
    assert contacts.email is not None
