"""The same raw requests to a reference server and to the server under test, compared.

The reference is uvicorn for ASGI and gunicorn for WSGI; the server under test is the one
``serving.SERVER_UNDER_TEST`` names (manycore on every engine, or, in peer mode, a second
instance of the reference, which proves the suite). Both serve the apps in
``tests/apps/frameworks/conformance_*.py``. A reply is compared as status, headers and
body, with these differences accepted because the specification leaves them open:

* ``Date`` and ``Server`` are dropped (each server writes its own);
* header order is compared per field name only (RFC 9110 §5.3: the order of fields with
  different names is not significant; the order of a repeated name is, and is kept);
* the values of ``Connection`` and ``Upgrade`` are compared lower-cased (RFC 9110 §7.6.1
  and §7.8: connection options and protocol names are case-insensitive);
* ``Connection: keep-alive`` is dropped: it is HTTP/1.1's default (RFC 9112 §9.3), so a
  server may send it or not; ``Connection: close`` is kept and compared;
* the reason phrase is not compared (RFC 9112 §4: a client SHOULD ignore it);
* a chunked body is compared decoded (chunk sizes are the server's choice, RFC 9112 §7.1);
* for a bad request, only the status and that the server closes the connection are
  compared: the error page is each server's own;
* an empty body the application ends in its first body message, with no length of its
  own, is framed by ``Content-Length: 0`` by manycore (it decides the framing from the
  first body message) and by ``Transfer-Encoding: chunked`` by uvicorn and gunicorn
  (they decide at the head); both delimit the same empty body (RFC 9112 §6.3), so
  :func:`framing_aside` leaves those two fields out where a test says so;
* ``x-body-messages`` (how many pieces the app was handed a body in) differs with the
  server's reads; it is only required to be more than one for a large upload.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import sysconfig
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
    lowered = [
        (name, value.lower() if name in ("connection", "upgrade") else value)
        for name, value in headers
    ]
    kept = [
        (name, value)
        for name, value in lowered
        if name not in DROPPED_HEADERS and (name, value) != ("connection", "keep-alive")
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
            if 100 <= status < 200 and status != 101:  # 101 ends HTTP on the connection
                interim.append(status)
                if interim_only:
                    return Reply(version, status, [], b"", interim)
                continue
            break
        values = dict(headers)
        if head or status in (101, 204, 304):
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


def test_requests_split_at_every_boundary(pair):
    """Two pipelined requests, one with a chunked body, in two writes split at every byte."""
    data = (
        request("POST", "/echo", "Transfer-Encoding: chunked")
        + chunked([b"split ", b"anywhere"], trailer=b"X-T: 1\r\n")
        + request("GET", "/")
    )

    def replies(address, first: bytes, rest: bytes):
        with Wire(address) as wire:
            wire.send(first)
            if rest:
                time.sleep(0.001)  # lets the first part be read on its own
                wire.send(rest)
            return [wire.reply(), wire.reply()]

    expected = replies(pair.reference.address, data, b"")
    assert [r.body for r in expected] == [b"split anywhere", b"Hello, World!"]
    for cut in range(1, len(data)):
        got = replies(pair.under_test.address, data[:cut], data[cut:])
        assert got == expected, f"split after byte {cut}: {data[:cut]!r}"


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


def framing_aside(reply: Reply) -> Reply:
    """``reply`` without ``Content-Length`` and ``Transfer-Encoding`` (see the module text)."""
    kept = [(n, v) for n, v in reply.headers if n not in ("content-length", "transfer-encoding")]
    return dataclasses.replace(reply, headers=kept)


@pytest.mark.parametrize("status", [204, 304, 404])
def test_status_without_body(pair, status):
    def case(address):
        with Wire(address) as wire:
            wire.send(request("GET", f"/status/{status}") + request("GET", "/"))
            return framing_aside(wire.reply()), wire.reply()

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


def skip_gunicorn_error_pages_on_free_threaded(pair: Pair) -> None:
    """gunicorn's own error pages on free-threaded CPython 3.14 end their head with a bare
    LF (``\\r\\n\\n``), so there is no reference answer to compare with."""
    if pair.interface == "wsgi" and sysconfig.get_config_var("Py_GIL_DISABLED"):
        pytest.skip("gunicorn's error pages on free-threaded CPython end their head with a bare LF")


@pytest.mark.parametrize("path", ["/raise", "/no-response"])
def test_app_that_fails_before_responding_gets_a_500(pair, path):
    skip_gunicorn_error_pages_on_free_threaded(pair)

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
    skip_gunicorn_error_pages_on_free_threaded(pair)

    def case(address):
        with Wire(address) as wire:
            wire.send(BAD_REQUESTS[name])
            reply = wire.reply()
            closed = wire.closed_by_server()
        with Wire(address) as wire:  # and the server goes on serving
            wire.send(request("GET", "/"))
            return reply.status, closed, wire.reply().body

    assert same_on_both(pair, case) == (400, True, b"Hello, World!")


# ---------------------------------------------------------------- WebSocket (RFC 6455)
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example: a known Sec-WebSocket-Accept
TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def upgrade(path: str, *headers: str) -> bytes:
    return request(
        "GET",
        path,
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {WS_KEY}",
        "Sec-WebSocket-Version: 13",
        *headers,
    )


def frame(opcode: int, payload: bytes, *, final: bool = True) -> bytes:
    """A client frame: masked, as RFC 6455 §5.3 requires of clients."""
    mask = b"\x37\xfa\x21\x3d"
    size = len(payload)
    if size < 126:
        length = bytes([0x80 | size])
    elif size < 1 << 16:
        length = bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + size.to_bytes(8, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([(0x80 if final else 0) | opcode]) + length + mask + masked


def read_frame(wire: Wire) -> tuple[int, bool, bytes]:
    """(opcode, final, payload) of the next server frame, which must be unmasked."""
    first, second = wire._exactly(2)
    assert not second & 0x80, "a server must not mask its frames (RFC 6455 §5.1)"
    size = second & 0x7F
    if size == 126:
        size = int.from_bytes(wire._exactly(2), "big")
    elif size == 127:
        size = int.from_bytes(wire._exactly(8), "big")
    return first & 0x0F, bool(first & 0x80), wire._exactly(size)


def read_message(wire: Wire) -> tuple[int, bytes]:
    """The next data or control message, fragments joined (the server may fragment)."""
    opcode, final, payload = read_frame(wire)
    while not final:
        more, final, piece = read_frame(wire)
        assert more == CONTINUATION
        payload += piece
    return opcode, payload


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


def asgi_only(pair: Pair) -> None:
    if pair.interface == "wsgi":
        pytest.skip("WebSocket is an ASGI interface")


def test_websocket_handshake_with_subprotocol_and_extra_header(pair):
    asgi_only(pair)

    def case(address):
        with Wire(address) as wire:
            wire.send(upgrade("/ws/echo", "Sec-WebSocket-Protocol: chat, superchat"))
            return wire.reply(head=True)

    reply = same_on_both(pair, case)
    assert reply.status == 101
    assert reply.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert reply.header("sec-websocket-protocol") == "chat"
    assert reply.header("x-extra") == "yes"


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_websocket_messages_fragments_and_ping(pair, delivery):
    asgi_only(pair)
    big = os.urandom(70_000)  # a 64-bit length

    def case(address):
        with Wire(address) as wire:
            wire.send(upgrade("/ws/echo"))
            wire.reply(head=True)
            wire.send(
                frame(TEXT, "héllo".encode())
                + frame(BINARY, big)
                + frame(TEXT, b"frag", final=False)
                + frame(PING, b"are you there")  # control frames may come between fragments
                + frame(CONTINUATION, b"mented"),
                delivery,
            )
            messages = [read_message(wire) for _ in range(4)]
            # The server answers a ping at once and the app's echoes when the app sends
            # them: where the pong falls among the echoes is each server's own.
            pongs = [m for m in messages if m[0] == PONG]
            return [m for m in messages if m[0] != PONG], pongs

    echoes, pongs = same_on_both(pair, case)
    assert echoes == [(TEXT, "héllo".encode()), (BINARY, big), (TEXT, b"fragmented")]
    assert pongs == [(PONG, b"are you there")]


def test_websocket_close_from_the_client(pair, tmp_path):
    asgi_only(pair)

    def case(address):
        log = tmp_path / f"ws-close-{address[1]}.txt"
        with Wire(address) as wire:
            wire.send(upgrade(f"/ws/echo?{log}"))
            wire.reply(head=True)
            wire.send(frame(CLOSE, close_payload(4001, b"client bye")))
            answer = read_frame(wire)
            closed = wire.closed_by_server()
        deadline = time.monotonic() + TIMEOUT
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return answer, closed, log.read_text() if log.exists() else "(the app saw nothing)"

    (opcode, _, payload), closed, seen = same_on_both(pair, case)
    assert opcode == CLOSE and payload[:2] == (4001).to_bytes(2, "big") and closed
    assert seen == "4001"


def test_websocket_close_from_the_app(pair):
    asgi_only(pair)

    def case(address):
        with Wire(address) as wire:
            wire.send(upgrade("/ws/close?4002"))
            wire.reply(head=True)
            answer = read_frame(wire)
            wire.send(frame(CLOSE, answer[2][:2]))
            return answer, wire.closed_by_server()

    assert same_on_both(pair, case) == ((CLOSE, True, close_payload(4002, b"bye")), True)


@pytest.mark.parametrize(("path", "status"), [("/ws/reject", 403), ("/ws/deny", 401)])
def test_websocket_refused_before_accept_is_an_http_response(pair, path, status):
    """A close before accept is a 403; the denial response extension sends the app's own."""
    asgi_only(pair)

    def case(address):
        with Wire(address) as wire:
            wire.send(upgrade(path))
            reply = wire.reply()
            return reply.status, reply.body

    got, body = same_on_both(pair, case)
    assert got == status and (body == b"denied" or status == 403)
