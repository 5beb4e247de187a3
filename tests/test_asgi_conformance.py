"""The same raw requests to a reference server and to the server under test, compared.

The reference is uvicorn for ASGI and gunicorn for WSGI; the server under test is the one
``serving.SERVER_UNDER_TEST`` names (manycore on every engine, or, in peer mode, a second
instance of the reference, which proves the suite). Both serve the apps in
``tests/apps/frameworks/conformance_*.py``. A reply is compared as status, headers and
body, with these differences accepted because the specification leaves them open:

* ``Date`` and ``Server`` are dropped (each server writes its own);
* header order is compared per field name only (RFC 9110 §5.3: the order of fields with
  different names is not significant; the order of a repeated name is, and is kept);
* ``Connection: keep-alive`` is dropped: it is HTTP/1.1's default (RFC 9112 §9.3), so a
  server may send it or not; ``Connection: close`` is kept and compared;
* the reason phrase is not compared (RFC 9112 §4: a client SHOULD ignore it);
* a chunked body is compared decoded (chunk sizes are the server's choice, RFC 9112 §7.1);
* for a bad request, only the status and that the server closes the connection are
  compared: the error page is each server's own;
* ``x-body-messages`` (how many pieces the app was handed a body in) differs with the
  server's reads; it is only required to be more than one for a large upload.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

import serving
from conftest import ENGINES
from manycore.testing import ServerProcess
from serving import CONFORMANCE_ASGI, CONFORMANCE_WSGI

DROPPED_HEADERS = {"date", "server", "x-body-messages"}
TIMEOUT = 30.0


# ---------------------------------------------------------------- the wire
@dataclass
class Reply:
    """One response as the comparison sees it."""

    version: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    interim: list[int] = field(default_factory=list)  # the 1xx statuses before it
    raw_headers: list[tuple[str, str]] = field(default_factory=list, compare=False)

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.raw_headers if n == name), None)


def normalise(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    kept = [
        (name, value)
        for name, value in headers
        if name not in DROPPED_HEADERS and (name, value.lower()) != ("connection", "keep-alive")
    ]
    return sorted(kept, key=lambda pair: pair[0])  # stable: a repeated name keeps its order


class Wire:
    """A client connection that sends bytes as told and reads replies exactly."""

    def __init__(
        self, address: tuple[str, int], *, receive_buffer: int | None = None, slow: bool = False
    ) -> None:
        self.slow = slow  # a client that takes its time: small reads, a pause after each
        self.sock = socket.socket()
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def send(self, data: bytes, delivery: str = "whole") -> None:
        if delivery == "whole":
            self.sock.sendall(data)
        else:  # one byte per write: every boundary a parser can meet
            for i in range(len(data)):
                self.sock.sendall(data[i : i + 1])

    def _fill(self) -> bool:
        chunk = self.sock.recv(16384 if self.slow else 65536)
        self.buffer += chunk
        if self.slow:
            time.sleep(0.001)
        return bool(chunk)

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before {marker!r}; got {self.buffer[:200]!r}")
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise ConnectionError(f"closed after {len(self.buffer)} of {size} body bytes")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self._until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                while self._until(b"\r\n"):  # trailer fields, up to the empty line
                    pass
                return bytes(body)
            body += self._exactly(size)
            assert self._exactly(2) == b"\r\n"

    def reply(self, *, head: bool = False, interim_only: bool = False) -> Reply:
        """The next response (after any 1xx ones), its body read as its framing says."""
        interim: list[int] = []
        while True:
            lines = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
            version, status_text = lines[0].split(" ", 2)[:2]
            status = int(status_text)
            headers = [
                (name.strip().lower(), value.strip())
                for name, _, value in (line.partition(":") for line in lines[1:])
            ]
            if 100 <= status < 200:
                interim.append(status)
                if interim_only:
                    return Reply(version, status, [], b"", interim)
                continue
            break
        values = dict(headers)
        if head or status in (204, 304):
            body = b""
        elif values.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked()
        elif "content-length" in values:
            body = self._exactly(int(values["content-length"]))
        else:
            while self._fill():
                pass
            body, self.buffer = self.buffer, b""
        return Reply(version, status, normalise(headers), body, interim, headers)

    def closed_by_server(self) -> bool:
        """True once the server closes (or resets) the connection, within the timeout."""
        try:
            while self._fill():
                pass
        except ConnectionResetError:
            pass
        except TimeoutError:
            return False
        return True


# ---------------------------------------------------------------- servers
@dataclass(frozen=True)
class Pair:
    interface: str
    reference: ServerProcess
    under_test: ServerProcess


def _pairs() -> list[tuple[str, str]]:
    """(interface, candidate): the server under test on every engine, or the peer again."""
    candidates = ["peer"] if serving.SERVER_UNDER_TEST == "peer" else list(ENGINES)
    return [(interface, c) for interface in ("asgi", "wsgi") for c in candidates]


@pytest.fixture(scope="module", params=_pairs(), ids=lambda p: "-".join(p))
def pair(request) -> Iterator[Pair]:
    interface, candidate = request.param
    app = CONFORMANCE_ASGI if interface == "asgi" else CONFORMANCE_WSGI
    reference = serving.start(app, server="peer")
    try:
        if candidate == "peer":
            under_test = serving.start(app, server="peer")
        else:
            workers = 1 if candidate == "inline" else 2
            under_test = serving.start(app, server="manycore", engine=candidate, workers=workers)
        try:
            yield Pair(interface, reference, under_test)
        finally:
            under_test.stop()
    finally:
        reference.stop()


Case = Callable[[tuple[str, int]], object]


def same_on_both(pair: Pair, case: Case) -> object:
    """Run ``case`` against both servers, require the same outcome, and return it."""
    expected = case(pair.reference.address)
    got = case(pair.under_test.address)
    assert got == expected, f"reference: {expected!r}\nserver under test: {got!r}"
    return got


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body_pieces: list[bytes], trailer: bytes = b"") -> bytes:
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in body_pieces if p)
    return encoded + b"0\r\n" + trailer + b"\r\n"


DELIVERIES = ["whole", "bytewise"]


def peer_quirk(pair: Pair, interfaces: set[str], what: str) -> None:
    """Where the reference itself departs from the RFC, the RFC is the expectation.

    In peer mode the server under test is that reference, so the check is an expected
    failure there, with the reason; against manycore it is a plain assertion.
    """
    if serving.SERVER_UNDER_TEST == "peer" and pair.interface in interfaces:
        pytest.xfail(f"{what} (accepted difference of the reference server)")


# ---------------------------------------------------------------- the cases
@pytest.mark.parametrize("delivery", DELIVERIES)
def test_simple_get(pair, delivery):
    def case(address):
        with Wire(address) as wire:
            wire.send(request("GET", "/"), delivery)
            return wire.reply()

    reply = same_on_both(pair, case)
    assert (reply.status, reply.body) == (200, b"Hello, World!")


def test_head_has_the_get_headers_and_no_body(pair):
    def case(address):
        with Wire(address) as wire:
            wire.send(request("HEAD", "/"))
            head = wire.reply(head=True)
            wire.send(request("GET", "/"))  # the connection is still in step
            return head, wire.reply()

    head, get = same_on_both(pair, case)
    assert head.body == b"" and head.header("content-length") == "13"
    assert get.body == b"Hello, World!"


def test_keep_alive_answers_requests_one_after_another(pair):
    def case(address):
        with Wire(address) as wire:
            replies = []
            for body in (b"one", b"two" * 1000, b"three"):
                wire.send(request("POST", "/echo", body=body))
                replies.append(wire.reply())
            return replies

    replies = same_on_both(pair, case)
    assert [r.body for r in replies] == [b"one", b"two" * 1000, b"three"]


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_pipelined_requests_are_answered_in_order(pair, delivery):
    def case(address):
        with Wire(address) as wire:
            wire.send(
                request("GET", "/")
                + request("POST", "/echo", body=b"pipelined body")
                + request("GET", "/headers", "X-Dup: a", "X-Mixed-Case: Yes", "x-dup: b")
                + request("GET", "/stream"),
                delivery,
            )
            return [wire.reply() for _ in range(4)]

    replies = same_on_both(pair, case)
    assert [r.status for r in replies] == [200] * 4
    assert replies[1].body == b"pipelined body"


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_chunked_request_body(pair, delivery):
    pieces = [b"Hello", b", ", b"chunked " * 300, b"world"]

    def case(address):
        with Wire(address) as wire:
            wire.send(
                request("POST", "/echo", "Transfer-Encoding: chunked")
                + chunked(pieces, trailer=b"X-Checksum: 1\r\n"),
                delivery,
            )
            return wire.reply()

    assert same_on_both(pair, case).body == b"".join(pieces)


def test_expect_100_continue(pair):
    body = b"x" * 5000

    def case(address):
        with Wire(address) as wire:
            wire.send(
                request("POST", "/echo", "Expect: 100-continue", f"Content-Length: {len(body)}")
            )
            interim = wire.reply(interim_only=True)
            wire.send(body)
            return interim, wire.reply()

    interim, final = same_on_both(pair, case)
    assert interim.interim == [100]
    assert final.body == body


def test_streamed_response(pair):
    def case(address):
        with Wire(address) as wire:
            wire.send(request("GET", "/stream"))
            return wire.reply()

    reply = same_on_both(pair, case)
    assert reply.header("transfer-encoding") == "chunked"
    assert reply.body == b"".join(b"line %d\n" % n for n in range(10))


def test_streamed_response_to_http_1_0_ends_with_the_connection(pair):
    def case(address):
        with Wire(address) as wire:
            wire.send(b"GET /stream HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return wire.reply(), wire.closed_by_server()

    (expected, _), (reply, closed) = case(pair.reference.address), case(pair.under_test.address)
    assert (reply.status, reply.body) == (expected.status, expected.body)
    assert reply.body == b"".join(b"line %d\n" % n for n in range(10))
    peer_quirk(pair, {"asgi"}, "uvicorn sends Transfer-Encoding: chunked to an HTTP/1.0 client")
    # RFC 9112 §6.1: no Transfer-Encoding in a response to an HTTP/1.0 request; the close
    # delimits the body.
    assert reply.header("transfer-encoding") is None and closed


@pytest.mark.parametrize("status", [204, 304, 404])
def test_status_without_body(pair, status):
    def case(address):
        with Wire(address) as wire:
            wire.send(request("GET", f"/status/{status}") + request("GET", "/"))
            return wire.reply(), wire.reply()

    first, second = same_on_both(pair, case)
    assert first.status == status and second.body == b"Hello, World!"


def test_request_headers_reach_the_app_lower_cased_in_arrival_order(pair):
    def case(address):
        with Wire(address) as wire:
            wire.send(request("GET", "/headers", "X-B: 2", "X-A: 1", "X-B: 3", "Accept: */*"))
            return wire.reply()

    assert same_on_both(pair, case).status == 200


def test_what_the_app_is_told_about_the_request(pair):
    """The ASGI scope (or WSGI environ): a percent-encoded path, a query, repeated headers."""
    path = "/scope" if pair.interface == "asgi" else "/environ"
    target = f"{path}/caf%C3%A9%20au%2Flait?q=a%20b&q=2&empty="
    headers = ("X-Repeat: 1", "Content-Type: text/plain", "X-Repeat: 2", "X-Mixed-CASE: v")

    def case(address):
        with Wire(address) as wire:
            wire.send(request("POST", target, *headers, body=b"hello"))
            return json.loads(wire.reply().body)

    told = same_on_both(pair, case)
    if pair.interface == "asgi":
        assert told["path"] == "/scope/café au/lait"
        assert told["raw_path"] == target.split("?")[0]
        assert ["x-repeat", "1"] in told["headers"] and ["x-repeat", "2"] in told["headers"]


def test_file_response(pair, tmp_path):
    """A file sent by ``http.response.pathsend`` (ASGI, where offered) or
    ``wsgi.file_wrapper`` (WSGI) arrives as the same bytes."""
    content = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "payload.bin"
    path.write_bytes(content)

    def case(address):
        with Wire(address) as wire:
            wire.send(request("GET", f"/file?{path}") + request("HEAD", f"/file?{path}"))
            return wire.reply(), wire.reply(head=True)

    whole, head = same_on_both(pair, case)
    assert whole.body == content and head.header("content-length") == str(len(content))


def test_expect_100_continue_is_not_sent_when_the_app_does_not_read(pair):
    if pair.interface == "wsgi":
        pytest.skip("gunicorn answers 100 Continue before the app runs; PEP 3333 allows both")

    def case(address):
        with Wire(address) as wire:
            wire.send(request("POST", "/", "Expect: 100-continue", "Content-Length: 5"))
            return wire.reply()

    reply = same_on_both(pair, case)
    assert reply.interim == [] and reply.body == b"Hello, World!"


def test_slow_reader_gets_every_byte(pair):
    size = 4 * 1024 * 1024

    def case(address):
        with Wire(address, receive_buffer=8192, slow=True) as wire:
            wire.send(request("GET", f"/big?{size}"))
            return wire.reply()

    reply = same_on_both(pair, case)
    assert len(reply.body) == size and reply.body == (bytes(range(256)) * (size // 256))


def test_large_streamed_upload(pair):
    piece = os.urandom(64 * 1024)
    pieces = 256  # 16 MiB
    expected = hashlib.sha256(piece * pieces).hexdigest()

    def case(address):
        with Wire(address) as wire:
            wire.send(request("POST", "/upload", "Transfer-Encoding: chunked"))
            for _ in range(pieces):
                wire.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            wire.send(b"0\r\n\r\n")
            return wire.reply()

    reply = same_on_both(pair, case)
    assert json.loads(reply.body) == {"size": len(piece) * pieces, "sha256": expected}
    # Streamed to the app as it arrived, not handed over in one piece at the end.
    assert int(reply.header("x-body-messages")) > 1


def test_client_gone_mid_body_is_seen_as_http_disconnect(pair, tmp_path):
    if pair.interface == "wsgi":
        pytest.skip("a WSGI app learns of a gone client only as a short read")

    def case(address):
        log = tmp_path / f"disconnect-{address[1]}.txt"
        with Wire(address) as wire:
            wire.send(request("POST", f"/disconnect?{log}", "Content-Length: 1000000"))
            wire.send(b"x" * 10000)
        deadline = time.monotonic() + TIMEOUT
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return log.read_text() if log.exists() else "(the app saw nothing)"

    assert same_on_both(pair, case) == "http.disconnect"


BAD_REQUESTS = {
    "garbage request line": b"NOT HTTP AT ALL\r\n\r\n",
    "space before colon": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "header without colon": b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
    "content-length not a number": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
    "two different content-lengths": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
    ),
    "bad chunk size": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\nabc\r\n0\r\n\r\n"
    ),
    # RFC 9112 §6.1: a request with both may be smuggling; rejecting it is the safe reading.
    "content-length and chunked": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    ),
    "negative content-length": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "bare LF line ends": b"GET / HTTP/1.1\nHost: x\n\n",
    "NUL in a field value": b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
}

# Bad requests a reference server answers anyway: the RFC says 400, and the server under
# test must say it. Each names the interfaces whose reference is lenient.
LENIENT_REFERENCE = {
    # RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request without Host ...
    "no Host": (b"GET / HTTP/1.1\r\nX: y\r\n\r\n", {"asgi", "wsgi"}),
    # ... and to one with more than one Host field line.
    "two Hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", {"asgi"}),
}


@pytest.mark.parametrize("path", ["/raise", "/no-response"])
def test_app_that_fails_before_responding_gets_a_500(pair, path):
    def case(address):
        with Wire(address) as wire:
            wire.send(request("GET", path))
            status = wire.reply().status
        with Wire(address) as wire:
            wire.send(request("GET", "/"))
            return status, wire.reply().body

    assert same_on_both(pair, case) == (500, b"Hello, World!")


@pytest.mark.parametrize("name", list(LENIENT_REFERENCE))
def test_bad_request_a_reference_lets_through_is_still_a_400(pair, name):
    data, lenient = LENIENT_REFERENCE[name]
    with Wire(pair.under_test.address) as wire:
        wire.send(data)
        reply = wire.reply()
        closed = wire.closed_by_server()
    peer_quirk(pair, lenient, f"the reference answers a request with {name}")
    assert (reply.status, closed) == (400, True)


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_request_is_a_400_and_a_closed_connection(pair, name):
    def case(address):
        with Wire(address) as wire:
            wire.send(BAD_REQUESTS[name])
            reply = wire.reply()
            closed = wire.closed_by_server()
        with Wire(address) as wire:  # and the server goes on serving
            wire.send(request("GET", "/"))
            return reply.status, closed, wire.reply().body

    assert same_on_both(pair, case) == (400, True, b"Hello, World!")
