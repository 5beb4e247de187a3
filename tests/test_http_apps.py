"""Applications the HTTP tests serve, and small helpers to talk to them.

The classes here are started by ``ServerProcess("tests/test_http_apps.py:App")``
in the real-socket tests and instantiated directly in the in-memory ones; the
tests at the bottom check that they are valid protocol classes.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from pathlib import Path

from manycore.http import HTTPError, HttpServer, Request, Response, route, static, stats_route
from manycore.testing import MemoryTransport, check_protocol, feed

HERE = Path(__file__).resolve().parent
APPS = f"{__file__}:App"
STATIC_ROOT = os.environ.get("HTTP_TEST_STATIC", "")


class App(HttpServer):
    """Every kind of handler the tests need."""

    max_body_size = 64 * 1024
    max_head_size = 8 * 1024
    max_url_length = 2 * 1024
    header_timeout = float(os.environ.get("HTTP_TEST_HEADER_TIMEOUT", "10"))
    body_timeout = float(os.environ.get("HTTP_TEST_BODY_TIMEOUT", "30"))
    keepalive_timeout = float(os.environ.get("HTTP_TEST_KEEPALIVE_TIMEOUT", "15"))
    send_timeout = float(os.environ.get("HTTP_TEST_SEND_TIMEOUT", "60"))
    access_log = bool(os.environ.get("HTTP_TEST_ACCESS_LOG"))

    @route("/plaintext")
    def plaintext(self, request: Request) -> Response:
        return Response(b"Hello, World!", content_type="text/plain")

    @route("/plaintext-bytearray")
    def plaintext_bytearray(self, request: Request) -> Response:
        return Response(bytearray(b"Hello, bytearray!"), content_type="text/plain")

    @route("/json")
    def json(self, request: Request) -> dict:
        return {"message": "Hello, World!"}

    @route("/text")
    def text(self, request: Request) -> str:
        return "héllo"

    @route("/bytes")
    def raw_bytes(self, request: Request) -> bytes:
        return b"\x00\x01\x02"

    @route("/none")
    def nothing(self, request: Request) -> None:
        return None

    @route("/list")
    def a_list(self, request: Request) -> list:
        return [1, 2, 3]

    @route("/items/{id:int}", methods=["GET", "PUT", "DELETE"])
    def item(self, request: Request, id: int) -> dict:
        return {"id": id, "method": request.method}

    @route("/files/{rest:path}")
    def files(self, request: Request, rest: str) -> dict:
        return {"rest": rest}

    @route("/users/{name}/posts/{n:int}")
    def post(self, request: Request, name: str, n: int) -> dict:
        return {"name": name, "n": n}

    @route("/echo", methods=["POST", "PUT"])
    def echo(self, request: Request) -> Response:
        return Response(request.body, content_type="application/octet-stream")

    @route("/echo-json", methods=["POST"])
    def echo_json(self, request: Request) -> dict:
        return {"got": request.json()}

    @route("/inspect", methods=["GET", "POST"])
    def inspect(self, request: Request) -> dict:
        return {
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path.decode("latin-1"),
            "query": request.query.items(),
            "headers": request.headers.items(),
            "body": request.text(),
            "version": request.version,
            "client": list(request.client) if request.client else None,
        }

    @route("/status/{code:int}")
    def status(self, request: Request, code: int) -> Response:
        return Response(f"status {code}", status=code)

    @route("/error/{code:int}")
    def error(self, request: Request, code: int) -> Response:
        raise HTTPError(code, "as you asked")

    @route("/boom")
    def boom(self, request: Request) -> Response:
        raise RuntimeError("secret detail that must not leak")

    @route("/bad-header")
    def bad_header(self, request: Request) -> Response:
        return Response(b"x", headers={"X-Injected": "a\r\nSet-Cookie: evil=1"})

    @route("/headers")
    def with_headers(self, request: Request) -> Response:
        return Response(
            b"ok",
            headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Thing", "yes")],
            content_type="text/plain",
        )

    @route("/close")
    def close(self, request: Request) -> Response:
        return Response(b"bye", headers={"Connection": "close"})

    @route("/big/{n:int}")
    def big(self, request: Request, n: int) -> bytes:
        return b"x" * n

    @route("/sleep/{ms:int}")
    async def sleep(self, request: Request, ms: int) -> dict:
        await asyncio.sleep(ms / 1000)
        return {"slept": ms}

    @route("/async-boom")
    async def async_boom(self, request: Request) -> dict:
        await asyncio.sleep(0)
        raise RuntimeError("async secret")

    @route("/stream/{n:int}")
    def stream(self, request: Request, n: int) -> Response:
        def chunks():
            for i in range(n):
                yield f"line {i}\n"

        return Response.stream(chunks(), content_type="text/plain")

    @route("/astream/{n:int}")
    def astream(self, request: Request, n: int) -> Response:
        async def chunks():
            for i in range(n):
                await asyncio.sleep(0)
                yield b"%d," % i

        return Response.stream(chunks())

    @route("/file/{name}")
    def file(self, request: Request, name: str) -> Response:
        if not STATIC_ROOT:
            raise HTTPError(404, "no static root configured")
        return Response.file(os.path.join(STATIC_ROOT, name), request)

    stats = stats_route("/stats")
    if STATIC_ROOT:
        assets = static("/assets", STATIC_ROOT)


class TinyLimits(App):
    """The same application with small limits, for 413/414/431 tests."""

    max_body_size = 100
    max_head_size = 512
    max_url_length = 128
    max_header_count = 10


# ------------------------------------------------------------------ helpers
_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")


def feed_all(app: HttpServer, data: bytes, transport: MemoryTransport | None = None):
    """Feed ``data`` in one read; returns the transport (output in ``.output``)."""
    return feed(app, data, transport or MemoryTransport())


def feed_bytewise(app: HttpServer, data: bytes) -> MemoryTransport:
    transport = MemoryTransport()
    for i in range(len(data)):
        if transport.closed:
            break
        feed(app, data[i : i + 1], transport)
    return transport


def split_responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Parse a byte stream of HTTP/1.1 responses (Content-Length or chunked bodies)."""
    responses = []
    pos = 0
    while pos < len(data):
        end = data.index(b"\r\n\r\n", pos)
        head = data[pos:end].decode("latin-1").split("\r\n")
        status = int(head[0].split(" ")[1])
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            headers[key] = (headers[key] + ", " if key in headers else "") + value.strip()
        pos = end + 4
        if status in (204, 304) or 100 <= status < 200:
            body = b""
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                eol = data.index(b"\r\n", pos)
                size = int(data[pos:eol].split(b";")[0], 16)
                pos = eol + 2
                if size == 0:
                    pos = data.index(b"\r\n", pos) + 2
                    break
                body += data[pos : pos + size]
                pos += size + 2
        else:
            length = int(headers.get("content-length", "0"))
            body = data[pos : pos + length]
            pos += length
        responses.append((status, headers, body))
    return responses


def statuses(data: bytes) -> list[int]:
    return [int(m) for m in _STATUS.findall(data)]


def request(path: str = "/plaintext", method: str = "GET", headers: str = "", body: bytes = b""):
    """A request as bytes; ``headers`` are extra CRLF-terminated lines."""
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    return f"{method} {path} HTTP/1.1\r\nHost: test\r\n{headers}{length}\r\n".encode() + body


def recv_responses(sock: socket.socket, count: int, timeout: float = 20.0) -> bytes:
    """Read until ``count`` complete responses arrived (or the peer closed)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if len(split_responses(data)) >= count:
                return data
        except (ValueError, IndexError):
            pass
        chunk = sock.recv(1 << 16)
        if not chunk:
            return data
        data += chunk
    return data


# ------------------------------------------------------------------ the apps are protocols
def test_apps_are_valid_protocol_classes():
    assert check_protocol(App) == []
    assert check_protocol(TinyLimits) == []


def test_split_responses_reads_chunked_and_lengths():
    wire = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\n\r\n"
    )
    assert [(s, b) for s, _, b in split_responses(wire)] == [
        (200, b"ok"),
        (200, b"abc"),
        (204, b""),
    ]
