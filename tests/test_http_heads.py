"""Response heads: no application value can add a header line, whatever the response kind.

Plain, file and streamed responses share one head builder; a CR, LF or NUL in a
header name or value, a content type or a file's Cache-Control or download name is
the application's mistake: a logged 500, never the injected line.
"""

from __future__ import annotations

import socket

import pytest

from conftest import ENGINES
from manycore.http import HttpServer, Request, Response, route
from manycore.http._errors import LocalProtocolError
from manycore.http._head_builder import HeaderBlock, build_head, head_prefix
from manycore.testing import MemoryTransport, ServerProcess, feed
from test_http_apps import recv_responses, request, split_responses

pytestmark = pytest.mark.timeout(120)

EVIL = "text/plain\r\nSet-Cookie: evil=1"
EVIL_VALUE = "1\r\nSet-Cookie: evil=1"
THIS_FILE = __file__


class InjectionApp(HttpServer):
    """One route per way an application value reaches a response head."""

    @route("/ok")
    def ok(self, request: Request) -> Response:
        return Response(b"fine", content_type="text/plain")

    @route("/plain/type")
    def plain_type(self, request: Request) -> Response:
        return Response(b"x", content_type=EVIL)

    @route("/plain/header")
    def plain_header(self, request: Request) -> Response:
        return Response(b"x", headers={"X-Note": EVIL_VALUE})

    @route("/plain/name")
    def plain_name(self, request: Request) -> Response:
        return Response(b"x", headers=[("X-Note\r\nSet-Cookie", "evil=1")])

    @route("/file/type")
    def file_type(self, request: Request) -> Response:
        return Response.file(THIS_FILE, content_type=EVIL)

    @route("/file/header")
    def file_header(self, request: Request) -> Response:
        return Response.file(THIS_FILE, headers={"X-Note": EVIL_VALUE})

    @route("/file/cache-control")
    def file_cache_control(self, request: Request) -> Response:
        return Response.file(THIS_FILE, cache_control="no-store\r\nSet-Cookie: evil=1")

    @route("/file/filename")
    def file_filename(self, request: Request) -> Response:
        return Response.file(THIS_FILE, filename="a\0\r\nSet-Cookie: evil=1")

    @route("/stream/type")
    def stream_type(self, request: Request) -> Response:
        return Response.stream([b"x"], content_type=EVIL)

    @route("/stream/nul")
    def stream_nul(self, request: Request) -> Response:
        return Response.stream([b"x"], content_type="text/plain\0Set-Cookie: evil=1")

    @route("/stream/header")
    def stream_header(self, request: Request) -> Response:
        return Response.stream([b"x"], headers=[("X-Note", EVIL_VALUE)])


INJECTING_ROUTES = [
    "/plain/type",
    "/plain/header",
    "/plain/name",
    "/file/type",
    "/file/header",
    "/file/cache-control",
    "/file/filename",
    "/stream/type",
    "/stream/nul",
    "/stream/header",
]


@pytest.fixture(scope="module", params=ENGINES)
def server(request):
    engine = request.param
    workers = 1 if engine == "inline" else 2
    with ServerProcess(f"{__file__}:InjectionApp", engine=engine, workers=workers) as proc:
        yield proc


@pytest.mark.parametrize("target", INJECTING_ROUTES)
def test_injected_header_lines_are_a_500_and_never_sent(server, target):
    with socket.create_connection(server.address, timeout=20) as sock:
        sock.sendall(request(target) + request("/ok"))
        data = recv_responses(sock, 2)
    assert b"evil" not in data.lower()
    (status, _, _), (next_status, _, next_body) = split_responses(data)
    assert status == 500
    assert (next_status, next_body) == (200, b"fine")  # the connection and worker go on
    server.wait_for_log("CR, LF or NUL")


# ------------------------------------------------------------------ the builder itself
@pytest.mark.parametrize("bad", ["\r", "\n", "\0", "a\r\nB: c"])
def test_every_field_is_checked_by_the_one_builder(bad):
    with pytest.raises(LocalProtocolError):
        HeaderBlock({"X-Note": bad})
    with pytest.raises(LocalProtocolError):
        HeaderBlock([(f"X{bad}", "1")])
    with pytest.raises(LocalProtocolError):
        build_head(200, f"text/plain{bad}", 0, None, (), 1)
    with pytest.raises(LocalProtocolError):
        build_head(200, f"text/plain{bad}", 0, None, (), None, chunked=True)
    with pytest.raises(LocalProtocolError):
        head_prefix(200, f"text/plain{bad}", 0)


def test_a_bad_content_type_never_reaches_the_cached_heads():
    """The hot path answers from cached prefixes: a refused type must not be cached."""

    class App(HttpServer):
        @route("/bad")
        def bad(self, request: Request) -> Response:
            return Response(b"x", content_type=EVIL)

    for _ in range(3):
        transport = feed(App(), request("/bad") + request("/bad"), MemoryTransport())
        assert b"evil" not in bytes(transport.output)
        assert [r[0] for r in split_responses(bytes(transport.output))] == [500, 500]


@pytest.mark.parametrize("target", [t for t in INJECTING_ROUTES if not t.startswith("/stream")])
def test_injection_refused_in_memory(target):
    transport = feed(InjectionApp(), request(target), MemoryTransport())
    assert b"evil" not in bytes(transport.output).lower()
    assert split_responses(bytes(transport.output))[0][0] == 500


def test_valid_heads_are_unchanged():
    transport = feed(InjectionApp(), request("/ok"), MemoryTransport())
    head = bytes(transport.output).split(b"\r\n\r\n")[0]
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"Content-Type: text/plain" in lines and b"Content-Length: 4" in lines
    assert b"Connection: keep-alive" in lines and b"Server: manycore" in lines
