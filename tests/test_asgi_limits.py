"""Time limits of an ASGI connection, and the WebSocket hand-over, on a real event loop."""

from __future__ import annotations

import sys
import types

import pytest

from asgi_helpers import Connection, parse_responses
from manycore.asgi import websocket_hook

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


async def hello(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"read %d" % len(body)})


def ended(conn: Connection):
    return lambda: conn.transport.closed or conn.transport.aborted


@pytest.mark.parametrize(
    ("limits", "request_bytes", "reason"),
    [
        pytest.param(
            {"header_timeout": 0.2}, b"GET / HTTP/1.1\r\nHo", b"head", id="head-takes-too-long"
        ),
        pytest.param(
            {"body_timeout": 0.2},
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
            b"body",
            id="body-stops-arriving",
        ),
        pytest.param(
            {"body_grace": 0.2, "body_min_rate": 1000.0, "body_timeout": 30.0},
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc",
            b"slowly",
            id="body-trickles-too-slowly",
        ),
    ],
)
def test_a_request_that_is_too_slow_is_408(limits, request_bytes, reason):
    conn = Connection(hello, **limits)
    try:
        conn.send(request_bytes)
        conn.run_until(ended(conn))
        [(status, _, body)] = parse_responses(conn.take())
        assert status == 408 and reason in body
    finally:
        conn.close()


def test_an_idle_keep_alive_connection_closes():
    conn = Connection(hello, keepalive_timeout=0.2)
    try:
        conn.send(GET)
        assert parse_responses(conn.take())[0][0] == 200
        conn.run_until(ended(conn))
        assert conn.take() == b""
    finally:
        conn.close()


def test_a_client_that_stops_reading_is_dropped():
    async def stream(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while True:
            await send({"type": "http.response.body", "body": b"x" * 1000, "more_body": True})

    conn = Connection(stream, send_timeout=0.2)
    try:
        conn.transport.set_writing_paused(True)
        conn.send(GET)
        conn.run_until(ended(conn))
        assert conn.transport.aborted
    finally:
        conn.close()


class FakeSession:
    """Records what the connection hands a WebSocket session."""

    made: list[FakeSession] = []

    def __init__(self, app, scope, transport, loop, *, max_message_size, **options):
        self.scope = scope
        self.max_message_size = max_message_size
        self.options = options
        self.started = None
        self.data = []
        self.lost = []
        FakeSession.made.append(self)

    def start(self, headers, leftover):
        self.started = (headers, leftover)

    def data_received(self, data):
        self.data.append(data)

    def connection_lost(self, exc):
        self.lost.append(exc)


UPGRADE = (
    b"GET /chat?room=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.fixture
def websocket_module(monkeypatch):
    module = types.ModuleType("manycore.asgi.websocket")
    module.WebSocketSession = FakeSession  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "manycore.asgi.websocket", module)
    monkeypatch.setattr(websocket_hook, "_found", websocket_hook._MISSING)
    FakeSession.made = []
    yield
    monkeypatch.setattr(websocket_hook, "_found", websocket_hook._MISSING)


def test_an_upgrade_to_websocket_is_handed_to_the_session(websocket_module):
    conn = Connection(hello, websocket_max_message_size=1234)
    try:
        conn.send(UPGRADE + b"\x81\x05hello")
        [session] = FakeSession.made
        assert session.scope["type"] == "websocket"
        assert session.scope["scheme"] == "ws"
        assert session.scope["path"] == "/chat" and session.scope["query_string"] == b"room=1"
        assert session.max_message_size == 1234
        assert session.options == {
            "ping_interval": 20.0,
            "ping_timeout": 20.0,
            "per_message_deflate": True,
        }
        headers, leftover = session.started
        assert (b"upgrade", b"websocket") in headers
        assert leftover == b"\x81\x05hello"
        conn.send(b"\x81\x02hi")
        assert session.data == [b"\x81\x02hi"]
        conn.protocol.connection_lost(conn.transport, None)
        assert session.lost == [None]
        assert conn.take() == b""  # the session answers the handshake, not the connection
    finally:
        conn.close()


def test_without_websocket_support_an_upgrade_is_plain_http(monkeypatch):
    monkeypatch.setattr(websocket_hook, "_found", None)
    scopes = []

    async def app(scope, receive, send):
        scopes.append(scope["type"])
        await hello(scope, receive, send)

    conn = Connection(app)
    try:
        conn.send(UPGRADE + GET)
        assert scopes == ["http", "http"]
        assert [status for status, _, _ in parse_responses(conn.take())] == [200, 200]
    finally:
        conn.close()


def test_upgrade_websocket_without_connection_upgrade_is_plain_http(websocket_module):
    conn = Connection(hello)
    try:
        conn.send(UPGRADE.replace(b"Connection: Upgrade\r\n", b"") + GET)
        assert FakeSession.made == []
        assert [status for status, _, _ in parse_responses(conn.take())] == [200, 200]
    finally:
        conn.close()
