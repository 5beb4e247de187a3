"""WebSocket connections served to an ASGI application, over real sockets.

``app`` below is served by ``manycore serve`` on every engine, with the
WebSocket flags (``--ws-max-size``, ``--ws-ping-interval``, ...) a test needs.
The client is the ``websockets`` library's asyncio client, or a raw socket
where the test is about bytes the library would not send (a bad handshake, a
client that never answers a ping).  The in-memory tests drive a
``WebSocketSession`` directly; ``Harness`` hands it a connection there as the
ASGI server does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import signal
import socket
import struct
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Response

from manycore.asgi.websocket import ClientDisconnected, WebSocketSession
from manycore.testing import ServerProcess
from manycore.transport import Transport

try:  # the test process has tests/ on its path; the server imports this file by path
    from conftest import ENGINES
except ImportError:  # pragma: no cover
    ENGINES = ("inline",)

HERE = os.path.abspath(__file__)
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
DEADLINE = 20.0


# ------------------------------------------------------------------ the application


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """One ASGI app; the path picks the behaviour, ``?id=`` names the connection in the log."""
    if scope["type"] == "http":  # a request the server did not take for a WebSocket handshake
        body = b"plain HTTP"
        headers = [(b"content-length", b"%d" % len(body)), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    assert scope["type"] == "websocket"
    query = parse_qs(scope["query_string"].decode())
    token = query.get("id", ["-"])[0]
    path = scope["path"]
    assert (await receive())["type"] == "websocket.connect"
    if path == "/hold":  # answers the handshake only when the client has gone
        print(f"holding {token}", flush=True)
        await receive()
        return
    if path == "/reject":
        await send({"type": "websocket.close", "code": 1000})
        return
    if path == "/custom":
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"x-why", b"no token"),
                    *([(b"content-length", b"7")] if "length" in query else []),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"go ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"away"})
        return
    if path == "/raise":
        raise ValueError("the application failed before accepting")
    if path == "/silent":
        return
    headers = [(b"x-harness", b"yes")] if "headers" in query else []
    subprotocol = scope["subprotocols"][0] if scope["subprotocols"] else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol, "headers": headers})
    if path == "/invalid":
        await send({"type": "websocket.send"})
    if path == "/return":
        return
    if path == "/scope":
        shown = {k: scope[k] for k in ("type", "scheme", "subprotocols", "path", "query_string")}
        shown["extensions"] = sorted(scope["extensions"])
        shown["spec_version"] = scope["asgi"]["spec_version"]
        await send({"type": "websocket.send", "text": repr(shown)})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            print(f"disconnect {token} {message['code']} {message.get('reason')!r}", flush=True)
            return
        text = message.get("text")
        if text is not None and text.startswith("close:"):
            _, code, reason = text.split(":", 2)
            await send({"type": "websocket.close", "code": int(code), "reason": reason})
            continue
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


# ------------------------------------------------------------------ the harness


def http_scope(head: bytes, transport: Any) -> tuple[dict[str, Any], list[tuple[bytes, bytes]]]:
    """A minimal ASGI http scope and the header pairs of one request head."""
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, version = request_line.split(" ")
    headers = []
    for line in lines:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower().encode("latin-1"), value.strip().encode("latin-1")))
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": version.removeprefix("HTTP/"),
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": transport.peername,
        "server": transport.sockname,
        "extensions": {"http.response.pathsend": {}},
    }
    return scope, headers


class Harness:
    """In memory: reads a request head and hands the connection to a WebSocketSession."""

    def __init__(self) -> None:
        self.head = b""
        self.session: WebSocketSession | None = None

    def data_received(self, transport: Any, data: bytes) -> None:
        if self.session is not None:
            self.session.data_received(data)
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            return
        scope, headers = http_scope(self.head[:end], transport)
        self.session = WebSocketSession(app, scope, transport, transport.loop, ping_interval=None)
        self.session.start(headers, self.head[end + 4 :])

    def connection_lost(self, transport: Any, exc: BaseException | None) -> None:
        if self.session is not None:
            self.session.connection_lost(exc)


# ------------------------------------------------------------------ fixtures and helpers


Serve = Callable[..., ServerProcess]


def serve_app(engine: str, *flags: str) -> ServerProcess:
    """``manycore serve`` of this file's ``app`` on ``engine``, with ``flags``."""
    workers = 1 if engine == "inline" else 2
    args = ["--lifespan", "off", *flags]
    return ServerProcess(f"{HERE}:app", engine=engine, workers=workers, args=args)


@pytest.fixture(scope="module", params=ENGINES)
def servers(request: pytest.FixtureRequest) -> Iterator[Serve]:
    """Per engine, one server per set of flags, started when first asked for and kept for
    the whole module (starting one per test is slow)."""
    started: dict[tuple[str, ...], ServerProcess] = {}
    with contextlib.ExitStack() as stack:

        def serve(*flags: str) -> ServerProcess:
            if flags not in started:
                started[flags] = stack.enter_context(serve_app(request.param, *flags))
            return started[flags]

        yield serve


@pytest.fixture
def server(servers: Serve) -> ServerProcess:
    """The server with every WebSocket setting at its default."""
    return servers()


def url(server: ServerProcess, path: str) -> str:
    return f"ws://{server.host}:{server.port}{path}"


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, DEADLINE))


def token() -> str:
    return uuid.uuid4().hex[:12]


def close_code(server: ServerProcess, path: str) -> int | None:
    """The code the server closes with, on a connection where the client only waits."""

    async def go() -> int | None:
        async with ws_connect(url(server, path)) as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code

    return run(go())


def refusal(server: ServerProcess, path: str) -> Response:
    """The HTTP response the handshake to ``path`` is refused with."""

    async def go() -> Response:
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(url(server, path)):
                pass
        return refused.value.response

    return run(go())


def handshake_request(path: str = "/echo", **changes: str | None) -> tuple[bytes, bytes]:
    """A raw opening handshake and the Sec-WebSocket-Accept its answer must carry."""
    key = base64.b64encode(os.urandom(16))
    fields: dict[str, str | None] = {
        "Host": "localhost",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key.decode(),
        "Sec-WebSocket-Version": "13",
    }
    method = changes.pop("method", None) or "GET"
    fields.update(changes)
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in fields.items() if value is not None]
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), accept


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 §5.2)."""
    mask = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        header = struct.pack("!BB", first, 0x80 | len(payload))
    else:
        header = struct.pack("!BBH", first, 0x80 | 126, len(payload))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_head(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """The opcode and payload of one (unmasked) server frame."""
    first, second = read_exactly(sock, 2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", read_exactly(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", read_exactly(sock, 8))
    return first & 0x0F, read_exactly(sock, length)


def raw_connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(server.address, timeout=DEADLINE)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


@contextlib.contextmanager
def raw_websocket(server: ServerProcess, path: str = "/echo") -> Iterator[socket.socket]:
    """A raw socket past its handshake to ``path``: the server answered 101."""
    with raw_connect(server) as sock:
        request, _ = handshake_request(path)
        sock.sendall(request)
        assert read_head(sock).startswith(b"HTTP/1.1 101 ")
        yield sock


def recv_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


# ------------------------------------------------------------------ messages


def test_text_and_binary_messages_are_echoed(server):
    async def go():
        async with ws_connect(url(server, "/echo"), compression=None) as ws:
            await ws.send("hello, world")
            assert await ws.recv() == "hello, world"
            await ws.send(b"\x00\xff" * 1000)
            assert await ws.recv() == b"\x00\xff" * 1000
            await ws.send("ünïcödé ✓")
            assert await ws.recv() == "ünïcödé ✓"

    run(go())


def test_fragmented_messages_arrive_whole(server):
    async def go():
        async with ws_connect(url(server, "/echo"), compression=None) as ws:
            await ws.send(["frag", "men", "ted ✓"])
            assert await ws.recv() == "fragmented ✓"
            await ws.send([b"\x01", b"\x02\x03", b""])
            assert await ws.recv() == b"\x01\x02\x03"

    run(go())


def test_a_text_message_split_inside_a_character_is_reassembled(server):
    """Fragments may split a UTF-8 sequence; only the whole message must be valid."""
    encoded = "✓".encode()
    with raw_websocket(server) as sock:
        sock.sendall(client_frame(0x1, encoded[:1], fin=False) + client_frame(0x0, encoded[1:]))
        assert read_frame(sock) == (0x1, encoded)


def test_subprotocol_and_extra_headers_reach_the_client(server):
    async def go():
        async with ws_connect(
            url(server, "/echo?headers=1"), subprotocols=["chat.v2", "chat.v1"]
        ) as ws:
            assert ws.subprotocol == "chat.v2"
            assert ws.response.headers["x-harness"] == "yes"

    run(go())


def test_the_scope_is_a_websocket_scope(server):
    async def go():
        async with ws_connect(url(server, "/scope?a=1"), subprotocols=["p1", "p2"]) as ws:
            return await ws.recv()

    shown = eval(run(go()))  # a repr of plain values
    assert shown == {
        "type": "websocket",
        "scheme": "ws",
        "subprotocols": ["p1", "p2"],
        "path": "/scope",
        "query_string": b"a=1",
        "extensions": ["websocket.http.response"],
        "spec_version": "2.4",
    }


def test_permessage_deflate_is_negotiated_and_used(servers):
    server = servers()
    message = "compress me " * 500

    async def go(path):
        async with ws_connect(url(server, path), compression="deflate") as ws:
            await ws.send(message)
            assert await ws.recv() == message
            return ws.response.headers.get("Sec-WebSocket-Extensions")

    negotiated = run(go("/echo"))
    assert negotiated is not None and negotiated.startswith("permessage-deflate")
    server = servers("--no-ws-per-message-deflate")
    assert run(go("/echo")) is None


def test_compressed_frames_are_smaller_on_the_wire(server):
    """The server's answer to a compressible message is deflated (RFC 7692 §6.1: RSV1)."""
    with raw_connect(server) as sock:
        request, _ = handshake_request(
            "/echo", **{"Sec-WebSocket-Extensions": "permessage-deflate"}
        )
        sock.sendall(request)
        head = read_head(sock)
        assert b"sec-websocket-extensions: permessage-deflate" in head.lower()
        sock.sendall(client_frame(0x2, b"a" * 4000))
        first = read_exactly(sock, 1)[0]
        assert first & 0x40, "RSV1 marks a compressed message"
        assert first & 0x0F == 0x2


# ------------------------------------------------------------------ control frames


def test_a_ping_is_answered_with_a_pong(server):
    async def go():
        async with ws_connect(url(server, "/echo"), ping_interval=None) as ws:
            pong = await ws.ping(b"are you there")
            await pong

    run(go())


def test_no_pong_within_the_timeout_closes_the_connection(servers):
    server = servers("--ws-ping-interval", "0.2", "--ws-ping-timeout", "0.3")
    with raw_websocket(server) as sock:
        opcode, _ = read_frame(sock)
        assert opcode == 0x9  # the server's ping, left unanswered
        frames = []
        while (frame := read_frame(sock))[0] == 0x9:
            frames.append(frame)
        opcode, payload = frame
        assert opcode == 0x8
        assert struct.unpack("!H", payload[:2])[0] == 1011
        assert recv_all(sock) == b""  # and the connection ends


def test_a_client_that_answers_pings_is_pinged_again(servers):
    server = servers("--ws-ping-interval", "0.2", "--ws-ping-timeout", "5")
    with raw_websocket(server) as sock:
        for _ in range(3):
            opcode, payload = read_frame(sock)
            assert opcode == 0x9
            sock.sendall(client_frame(0xA, payload))
        sock.sendall(client_frame(0x1, b"still here"))
        while (frame := read_frame(sock))[0] == 0x9:
            pass
        assert frame == (0x1, b"still here")


# ------------------------------------------------------------------ closing


def test_the_application_closes_with_a_code_and_reason(server):
    name = token()

    async def go():
        async with ws_connect(url(server, f"/echo?id={name}")) as ws:
            await ws.send("close:4001:see you")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code, ws.close_reason

    assert run(go()) == (4001, "see you")
    server.wait_for_log(f"disconnect {name} 4001 'see you'")


def test_the_client_close_code_reaches_the_application(server):
    name = token()

    async def go():
        async with ws_connect(url(server, f"/echo?id={name}")) as ws:
            await ws.close(code=4002, reason="done here")

    run(go())
    server.wait_for_log(f"disconnect {name} 4002 'done here'")


def test_a_vanishing_client_is_a_disconnect_for_the_application(server):
    name = token()
    with raw_websocket(server, f"/echo?id={name}"):
        pass  # and the client vanishes
    server.wait_for_log(f"disconnect {name} 1006 ''")


def test_an_application_that_returns_closes_normally(server):
    assert close_code(server, "/return") == 1000


def test_a_message_over_the_limit_closes_with_1009(servers):
    server = servers("--ws-max-size", "1024")
    name = token()

    async def go():
        async with ws_connect(url(server, f"/echo?id={name}"), compression=None) as ws:
            await ws.send("x" * 1024)
            assert await ws.recv() == "x" * 1024
            await ws.send(["x" * 600, "x" * 600])  # too big only as a whole
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert run(go()) == 1009
    server.wait_for_log(f"disconnect {name} 1009")


def test_the_limit_counts_a_compressed_message_after_decompression(servers):
    server = servers("--ws-max-size", "1024")

    async def go():
        async with ws_connect(url(server, "/echo"), compression="deflate") as ws:
            assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage")
            await ws.send("x" * 5000)  # a few dozen bytes on the wire
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert run(go()) == 1009


# ------------------------------------------------------------------ refusing


def test_close_before_accept_is_an_http_403(server):
    assert refusal(server, "/reject").status_code == 403


@pytest.mark.parametrize("path", ["/custom", "/custom?length=1"])
def test_the_application_can_refuse_with_its_own_http_response(server, path):
    """Chunked when the application gives no length, as given when it does."""
    response = refusal(server, path)
    assert response.status_code == 401
    assert response.headers["x-why"] == "no token"
    assert response.body == b"go away"


@pytest.mark.parametrize(
    ("changes", "status", "header"),
    [
        ({"Sec-WebSocket-Version": "8"}, 426, b"sec-websocket-version: 13"),
        ({"Sec-WebSocket-Version": None}, 426, b"sec-websocket-version: 13"),
        ({"Sec-WebSocket-Key": None}, 400, b"content-type: text/plain"),
        ({"Sec-WebSocket-Key": "c2hvcnQ="}, 400, b"content-type: text/plain"),
        ({"method": "POST"}, 405, b"allow: GET"),
    ],
)
def test_an_invalid_handshake_is_refused_with_a_reason(server, changes, status, header):
    request, _ = handshake_request("/echo", **changes)
    with raw_connect(server) as sock:
        sock.sendall(request)
        answer = recv_all(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), answer
    assert header.lower() in head.lower()
    assert body.strip(), "the body says what was wrong"


@pytest.mark.parametrize("changes", [{"Connection": "keep-alive"}, {"Upgrade": "h2c"}])
def test_a_request_that_does_not_ask_to_upgrade_to_websocket_is_plain_http(server, changes):
    """Without both Upgrade: websocket and Connection: Upgrade there is no handshake
    (RFC 6455 section 4.2.1): the application answers it in an http scope."""
    request, _ = handshake_request("/echo", **changes)
    with raw_connect(server) as sock:
        sock.sendall(request)
        answer = recv_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"\r\n\r\nplain HTTP")


# ------------------------------------------------------------------ application faults


def test_an_invalid_message_closes_the_connection_and_the_worker_serves_on(server):
    assert close_code(server, "/invalid") == 1011
    server.wait_for_log("sent an invalid WebSocket message: websocket.send needs exactly one")

    async def echo():
        async with ws_connect(url(server, "/echo")) as ws:
            await ws.send("alive")
            return await ws.recv()

    assert run(echo()) == "alive"


@pytest.mark.parametrize("path", ["/raise", "/silent"])
def test_an_application_that_fails_before_accepting_gets_a_500(server, path):
    assert refusal(server, path).status_code == 500


# ------------------------------------------------------------------ bytes in any pieces


def test_the_handshake_and_frames_fed_byte_by_byte(server):
    request, accept = handshake_request("/echo")
    with raw_connect(server) as sock:
        for i in range(len(request)):
            sock.sendall(request[i : i + 1])
        head = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"sec-websocket-accept: " + accept in head
        frame = client_frame(0x1, b"one byte at a time")
        for i in range(len(frame)):
            sock.sendall(frame[i : i + 1])
        assert read_frame(sock) == (0x1, b"one byte at a time")


class _Sink:
    """The loop side of an in-memory transport: records writes and flow control."""

    def __init__(self) -> None:
        self.output = bytearray()
        self.closed = False
        self.paused = False

    def write(self, data: bytes) -> None:
        self.output += data

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.output += chunk

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name in ("peername", "sockname") else default


def memory_session(
    application: Any, loop: asyncio.AbstractEventLoop
) -> tuple[WebSocketSession, _Sink, Transport]:
    """A started session on an in-memory transport, once its 101 is out."""
    sink = _Sink()
    transport = Transport(sink, loop)
    request = handshake_request("/echo")[0]
    scope, headers = http_scope(request.split(b"\r\n\r\n")[0], transport)
    session = WebSocketSession(application, scope, transport, loop, ping_interval=None)
    session.start(headers, b"")
    return session, sink, transport


def application_running() -> bool:
    """Whether a session's application task is still running on this loop."""
    return any("WebSocketSession._run" in repr(task.get_coro()) for task in asyncio.all_tasks())


async def until(condition: Any) -> None:
    """Let the loop run until ``condition()`` holds (the test's deadline bounds it)."""
    while not condition():
        await asyncio.sleep(0)


def test_the_handshake_and_a_frame_split_at_every_boundary():
    """In memory: every split of handshake + frame gives the same 101 and echo."""
    request, accept = handshake_request("/echo")
    frame = client_frame(0x1, b"split")
    wire = request + frame

    async def one(split: int) -> bytes:
        loop = asyncio.get_running_loop()
        harness = Harness()
        sink = _Sink()
        transport = Transport(sink, loop)
        for piece in (wire[:split], wire[split:]):
            if piece:
                harness.data_received(transport, piece)
            await asyncio.sleep(0)  # let the application's task run
        await until(lambda: sink.output.endswith(b"split"))
        harness.connection_lost(transport, None)
        await until(lambda: not application_running())
        return bytes(sink.output)

    async def every() -> list[bytes]:
        return [await one(split) for split in range(len(wire) + 1)]

    for output in asyncio.run(every()):
        head, _, rest = output.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"sec-websocket-accept: " + accept in head
        assert rest == b"\x81\x05split"


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """The (opcode, payload) of each unmasked server frame in ``data``."""
    frames = []
    at = 0
    while at < len(data):
        length = data[at + 1] & 0x7F
        start = at + 2
        if length == 126:
            (length,) = struct.unpack("!H", data[start : start + 2])
            start += 2
        frames.append((data[at] & 0x0F, data[start : start + length]))
        at = start + length
    return frames


def test_messages_mixed_with_control_frames_and_fragments_at_every_split():
    """In memory: whole messages (7- and 16-bit lengths, empty, text and binary), a ping,
    a fragmented text split inside a character: fed whole, byte by byte and cut at every
    boundary, every message is echoed once, in order, and the ping is answered."""
    snowman = "\u2603".encode()
    wire = b"".join(
        (
            client_frame(0x1, b"first"),
            client_frame(0x2, bytes(range(200))),
            client_frame(0x9, b"ping"),
            client_frame(0x2, b""),
            client_frame(0x1, b"x" + snowman[:1], fin=False),
            client_frame(0x0, snowman[1:], fin=True),
            client_frame(0x1, b"last"),
        )
    )
    expected = [
        (0x1, b"first"),
        (0x2, bytes(range(200))),
        (0x2, b""),
        (0x1, b"x" + snowman),
        (0x1, b"last"),
    ]

    async def one(pieces: list[bytes]) -> list[tuple[int, bytes]]:
        session, sink, _ = memory_session(app, asyncio.get_running_loop())
        await until(lambda: b"\r\n\r\n" in sink.output)
        opened = len(sink.output)
        for piece in pieces:
            session.data_received(piece)
            await asyncio.sleep(0)
        await until(lambda: sink.output.endswith(b"last"))
        frames = server_frames(bytes(sink.output[opened:]))
        session.connection_lost(None)
        await until(lambda: not application_running())
        return frames

    async def every() -> None:
        cuts = [[wire], [wire[i : i + 1] for i in range(len(wire))]]
        cuts += [[wire[:split], wire[split:]] for split in range(1, len(wire))]
        for pieces in cuts:
            frames = await one(pieces)
            assert [frame for frame in frames if frame[0] != 0xA] == expected
            assert frames.count((0xA, b"ping")) == 1

    asyncio.run(asyncio.wait_for(every(), DEADLINE * 3))


def test_send_waits_while_the_transport_is_paused():
    async def go() -> None:
        session, sink, transport = memory_session(app, asyncio.get_running_loop())
        await until(lambda: b"\r\n\r\n" in sink.output)
        transport.set_writing_paused(True)  # the loop says its buffer is full
        session.data_received(client_frame(0x1, b"first"))
        await until(lambda: sink.output.endswith(b"first"))
        session.data_received(client_frame(0x1, b"second"))
        for _ in range(50):
            await asyncio.sleep(0)
        assert not sink.output.endswith(b"second"), "the app's first send is still waiting"
        transport.set_writing_paused(False)
        await until(lambda: sink.output.endswith(b"second"))

    asyncio.run(asyncio.wait_for(go(), DEADLINE))


@pytest.mark.parametrize("ended_by", ["client", "application"])
def test_send_after_the_connection_ended_raises_oserror(ended_by):
    """ASGI websocket spec 2.4: ``send`` on a closed connection raises an OSError."""

    async def go() -> None:
        outcome: list[BaseException] = []

        async def late_sender(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            if ended_by == "client":
                assert (await receive())["type"] == "websocket.disconnect"
            else:
                await send({"type": "websocket.close", "code": 1000})
            try:
                await send({"type": "websocket.send", "text": "too late"})
            except OSError as exc:
                outcome.append(exc)

        session, sink, _ = memory_session(late_sender, asyncio.get_running_loop())
        if ended_by == "client":
            await until(lambda: b"\r\n\r\n" in sink.output)
            session.connection_lost(None)
        await until(lambda: outcome)
        assert isinstance(outcome[0], ClientDisconnected)
        assert b"too late" not in sink.output
        if ended_by == "application":
            session.connection_lost(None)

    asyncio.run(asyncio.wait_for(go(), DEADLINE))


def test_invalid_utf8_text_closes_with_1007(server):
    name = token()
    with raw_websocket(server, f"/echo?id={name}") as sock:
        sock.sendall(client_frame(0x1, b"bad \xff byte"))
        opcode, payload = read_frame(sock)
        assert opcode == 0x8
        assert struct.unpack("!H", payload[:2])[0] == 1007
    server.wait_for_log(f"disconnect {name} 1007")


def test_reading_pauses_while_the_application_leaves_messages_unread():
    async def go() -> None:
        reading = asyncio.Event()
        received: list[str] = []

        async def slow_reader(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            await reading.wait()
            while (message := await receive())["type"] == "websocket.receive":
                received.append(message["text"])

        session, sink, _ = memory_session(slow_reader, asyncio.get_running_loop())
        await until(lambda: b"\r\n\r\n" in sink.output)
        for i in range(40):
            session.data_received(client_frame(0x1, b"%d" % i))
        assert sink.paused, "too many unread messages pause reading"
        reading.set()
        await until(lambda: len(received) == 40)
        assert not sink.paused
        assert received == [str(i) for i in range(40)]
        session.connection_lost(None)

    asyncio.run(asyncio.wait_for(go(), DEADLINE))


@settings(max_examples=150, deadline=None)
@given(garbage=st.binary(min_size=1, max_size=300), cut=st.integers(min_value=0, max_value=300))
def test_any_bytes_from_the_client_end_in_a_close_never_an_exception(garbage, cut):
    """Whatever follows the handshake, the session answers with frames and never raises."""

    async def go() -> None:
        session, sink, _ = memory_session(app, asyncio.get_running_loop())
        await until(lambda: b"\r\n\r\n" in sink.output)
        opened = len(sink.output)
        session.data_received(garbage[:cut])
        session.data_received(garbage[cut:])
        await asyncio.sleep(0)
        after = bytes(sink.output[opened:])
        if sink.closed:
            assert b"\x88" in after, "a protocol error is answered with a close frame"
        session.connection_lost(None)
        await until(lambda: not application_running())

    asyncio.run(asyncio.wait_for(go(), DEADLINE))


def test_shutdown_closes_an_open_connection_with_1001():
    async def go() -> None:
        session, sink, _ = memory_session(app, asyncio.get_running_loop())
        await until(lambda: b"\r\n\r\n" in sink.output)
        opened = len(sink.output)
        session.shutdown()
        assert bytes(sink.output[opened : opened + 4]) == b"\x88\x16\x03\xe9"  # close, 1001
        session.data_received(client_frame(0x8, struct.pack("!H", 1001)))
        await until(lambda: sink.closed)
        session.connection_lost(None)
        await until(lambda: not application_running())

    asyncio.run(asyncio.wait_for(go(), DEADLINE))


def test_stopping_the_server_closes_an_open_websocket_with_1001(engine):
    """The worker does not wait out the grace period (60 s here) on an open WebSocket."""
    name = token()
    with (
        serve_app(engine, "--grace", "60") as server,
        raw_websocket(server, f"/echo?id={name}") as sock,
    ):
        sock.sendall(client_frame(0x1, b"before the stop"))
        assert read_frame(sock) == (0x1, b"before the stop")
        server.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        opcode, payload = read_frame(sock)
        assert opcode == 0x8
        assert struct.unpack("!H", payload[:2])[0] == 1001  # Going Away
        sock.sendall(client_frame(0x8, payload[:2]))
        assert recv_all(sock) == b""
        server.wait_for_log(f"disconnect {name} 1001")
        assert server.stop(timeout=DEADLINE) == 0


def test_stopping_the_server_refuses_a_pending_handshake_with_503(engine):
    name = token()
    with serve_app(engine, "--grace", "60") as server, raw_connect(server) as sock:
        request, _ = handshake_request(f"/hold?id={name}")
        sock.sendall(request)
        server.wait_for_log(f"holding {name}")
        server.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        answer = recv_all(sock)
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert b"\r\nretry-after: 1\r\n" in answer.lower()
        assert server.stop(timeout=DEADLINE) == 0


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        ({"type": "websocket.send"}, "exactly one of bytes"),
        ({"type": "websocket.send", "text": b"bytes as text"}, "exactly one of bytes"),
        ({"type": "websocket.send", "text": "a", "bytes": b"b"}, "exactly one of bytes"),
        ({"type": "websocket.accept"}, "is not a message to send on an open WebSocket"),
        ({"type": "http.response.start", "status": 200}, "is not a message to send"),
        ({"type": ["unhashable"]}, "is not a message to send"),
        ("websocket.send", "is not a message to send"),
        ({"type": "websocket.close", "code": "1000"}, "code must be int"),
        ({"type": "websocket.close", "code": 1005}, "websocket.close:"),
    ],
)
def test_an_invalid_message_after_accepting_is_logged_and_closes_with_1011(
    message, complaint, caplog
):
    async def go() -> list[BaseException]:
        raised: list[BaseException] = []

        async def wrong(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            try:
                await send(message)
            except Exception as exc:
                raised.append(exc)

        session, sink, _ = memory_session(wrong, asyncio.get_running_loop())
        await until(lambda: raised)
        head = bytes(sink.output).partition(b"\r\n\r\n")[2]
        assert head[:4] == b"\x88\x02\x03\xf3", "a close frame with 1011"
        session.connection_lost(None)
        await until(lambda: not application_running())
        return raised

    with caplog.at_level("ERROR", logger="manycore.asgi"):
        [error] = asyncio.run(asyncio.wait_for(go(), DEADLINE))
    assert isinstance(error, RuntimeError)
    assert complaint in str(error)
    assert complaint in caplog.text


@pytest.mark.parametrize(
    "message",
    [
        {"type": "websocket.send", "text": "not yet"},
        {"type": "websocket.accept", "subprotocol": 7},
        {"type": "websocket.accept", "headers": [("str", "pairs")]},
        {"type": "websocket.accept", "headers": [(b"x", b"split\r\nline")]},
        {"type": "websocket.http.response.start", "status": "200"},
        {"type": "websocket.http.response.start", "status": 101},
        {"type": "websocket.http.response.body", "body": b""},
    ],
)
def test_an_invalid_message_before_accepting_is_an_http_500(message, caplog):
    async def go() -> bytes:
        async def wrong(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            with pytest.raises(RuntimeError):
                await send(message)

        session, sink, _ = memory_session(wrong, asyncio.get_running_loop())
        await until(lambda: not application_running())
        session.connection_lost(None)
        assert sink.closed
        return bytes(sink.output)

    with caplog.at_level("ERROR", logger="manycore.asgi"):
        output = asyncio.run(asyncio.wait_for(go(), DEADLINE))
    assert output.startswith(b"HTTP/1.1 500 ")
    assert "invalid WebSocket message" in caplog.text


def test_a_missing_pong_is_no_failure_while_reading_is_paused():
    """The pong may wait unread behind messages the application has not taken yet."""

    async def go() -> None:
        reading = asyncio.Event()

        async def slow_reader(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            await reading.wait()
            while (await receive())["type"] == "websocket.receive":
                pass

        loop = asyncio.get_running_loop()
        sink = _Sink()
        transport = Transport(sink, loop)
        request = handshake_request("/echo")[0]
        scope, headers = http_scope(request.split(b"\r\n\r\n")[0], transport)
        session = WebSocketSession(
            slow_reader, scope, transport, loop, ping_interval=0.05, ping_timeout=0.07
        )
        session.start(headers, b"")
        await until(lambda: b"\r\n\r\n" in sink.output)
        for i in range(40):
            session.data_received(client_frame(0x1, b"%d" % i))
        assert sink.paused
        # Pings go on past the timeout, and the connection stays open.
        await until(lambda: sink.output.count(b"\x89\x04") >= 4 or sink.closed)
        assert not sink.closed
        reading.set()  # reading resumes, and still no pong comes: now the client is gone
        await until(lambda: sink.closed)
        assert b"\x88\x18\x03\xf3keepalive ping timeout" in sink.output
        session.connection_lost(None)
        await until(lambda: not application_running())

    asyncio.run(asyncio.wait_for(go(), DEADLINE))
