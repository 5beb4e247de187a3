"""Streamed responses: chunked framing, flow control, and what a failing producer does.

The pump must never let a slow reader grow the server's memory (it waits for the
transport to drain before asking for more), must frame every piece so a client
reads exactly what was produced, and must abort -- never complete -- a body whose
producer failed half-way.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manycore.http import HttpServer, Request, Response, StreamResponse, route
from manycore.http._errors import LocalProtocolError
from manycore.http._response import CLOSE, KEEP
from manycore.http._stream import pump_stream
from manycore.testing import MemoryTransport, ServerProcess
from test_http_apps import split_responses

pytestmark = pytest.mark.timeout(120)

CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


class SlowReader(MemoryTransport):
    """A transport whose buffer stays above the high-water mark; records each drain."""

    def __init__(self, events: list[str], close_on_drain: int | None = None) -> None:
        super().__init__()
        self.events = events
        self.drains = 0
        self.close_on_drain = close_on_drain

    def get_write_buffer_size(self) -> int:
        return 1 << 20

    async def drain(self) -> None:
        self.drains += 1
        self.events.append("drain")
        if self.drains == self.close_on_drain:
            self.close()  # the client went away while we waited


def pump(resp: StreamResponse, transport: MemoryTransport, chunked: bool = True, **kw) -> bool:
    return asyncio.run(pump_stream(resp, transport, chunked, kw.get("head_only", False), 1024))


def body_of(output: bytes) -> bytes:
    (response,) = split_responses(CHUNKED_HEAD + output)
    return response[2]


# ------------------------------------------------------------------ framing
def test_each_piece_is_one_chunk_and_the_body_ends_with_the_last_chunk():
    transport = MemoryTransport()
    assert pump(StreamResponse([b"abc", b"x" * 255]), transport)
    assert bytes(transport.output) == b"3\r\nabc\r\nff\r\n" + b"x" * 255 + b"\r\n0\r\n\r\n"


def test_text_pieces_are_utf8_and_their_size_is_in_bytes():
    transport = MemoryTransport()
    assert pump(StreamResponse(["é", bytearray(b"b"), memoryview(b"c")]), transport)
    assert bytes(transport.output) == b"2\r\n\xc3\xa9\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n"


def test_an_empty_piece_is_skipped_rather_than_ending_the_body_early():
    transport = MemoryTransport()
    assert pump(StreamResponse([b"a", b"", "", b"b"]), transport)
    assert body_of(bytes(transport.output)) == b"ab"
    assert bytes(transport.output).count(b"0\r\n\r\n") == 1


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300), st.text(max_size=50)), max_size=12))
def test_a_client_decoding_the_chunks_reads_exactly_what_was_produced(pieces):
    transport = MemoryTransport()
    assert pump(StreamResponse(pieces), transport)
    expected = b"".join(p.encode() if isinstance(p, str) else p for p in pieces)
    assert body_of(bytes(transport.output)) == expected


def test_without_chunked_coding_the_bytes_go_out_as_they_are():
    transport = MemoryTransport()
    assert pump(StreamResponse([b"abc", "é"]), transport, chunked=False)
    assert bytes(transport.output) == b"abc\xc3\xa9"


def test_an_async_producer_is_streamed_like_a_plain_one():
    async def pieces() -> AsyncIterator[bytes]:
        for i in range(3):
            await asyncio.sleep(0)
            yield b"%d," % i

    transport = MemoryTransport()
    assert pump(StreamResponse(pieces()), transport)
    assert body_of(bytes(transport.output)) == b"0,1,2,"


def test_a_head_request_produces_nothing_and_closes_the_producer():
    produced: list[int] = []
    closed: list[bool] = []

    def pieces() -> Iterator[bytes]:
        try:
            for i in range(3):
                produced.append(i)
                yield b"x"
        finally:
            closed.append(True)

    source = pieces()
    next(source)  # started, so closing it runs its cleanup
    transport = MemoryTransport()
    assert pump(StreamResponse(source), transport, head_only=True)
    assert bytes(transport.output) == b""
    assert produced == [0]
    assert closed == [True]


# ------------------------------------------------------------------ flow control
def test_the_producer_waits_for_a_slow_reader_before_each_next_piece():
    events: list[str] = []

    def pieces() -> Iterator[bytes]:
        for i in range(3):
            events.append(f"produce {i}")
            yield b"x" * 10

    assert pump(StreamResponse(pieces()), SlowReader(events))
    assert events == ["produce 0", "drain", "produce 1", "drain", "produce 2", "drain"]


def test_a_client_that_goes_away_stops_the_producer_and_closes_it():
    events: list[str] = []

    def pieces() -> Iterator[bytes]:
        try:
            for i in range(100):
                events.append(f"produce {i}")
                yield b"x"
        finally:
            events.append("closed")

    transport = SlowReader(events, close_on_drain=2)
    assert pump(StreamResponse(pieces()), transport) is False
    assert events == ["produce 0", "drain", "produce 1", "drain", "closed"]
    assert not bytes(transport.output).endswith(b"0\r\n\r\n")


def test_an_already_closed_transport_sends_nothing():
    transport = MemoryTransport()
    transport.close()
    assert pump(StreamResponse([b"a", b"b"]), transport) is False
    assert bytes(transport.output) == b""


# ------------------------------------------------------------------ failures
def test_a_producer_that_fails_half_way_aborts_instead_of_completing(caplog):
    def pieces() -> Iterator[bytes]:
        yield b"first"
        raise RuntimeError("database went away")

    transport = MemoryTransport()
    with caplog.at_level(logging.ERROR, logger="manycore.http"):
        assert pump(StreamResponse(pieces()), transport) is False
    assert bytes(transport.output) == b"5\r\nfirst\r\n"
    assert "streamed response body failed part-way" in caplog.text


def test_an_async_producer_that_fails_is_closed_and_aborts(caplog):
    events: list[str] = []

    async def pieces() -> AsyncIterator[bytes]:
        try:
            yield b"a"
            raise ValueError("boom")
        finally:
            events.append("closed")

    with caplog.at_level(logging.ERROR, logger="manycore.http"):
        assert pump(StreamResponse(pieces()), MemoryTransport()) is False
    assert events == ["closed"]


@pytest.mark.parametrize("piece", [42, None, {"a": 1}])
def test_a_piece_that_is_not_bytes_or_str_aborts_and_says_what_to_yield(piece, caplog):
    transport = MemoryTransport()
    with caplog.at_level(logging.ERROR, logger="manycore.http"):
        assert pump(StreamResponse([b"ok", piece]), transport) is False
    assert "yield bytes or str" in caplog.text
    assert not bytes(transport.output).endswith(b"0\r\n\r\n")


def test_a_source_whose_close_fails_still_completes_the_body(caplog):
    class Source:
        def __iter__(self) -> Iterator[bytes]:
            return iter([b"a"])

        def close(self) -> None:
            raise OSError("cannot close")

    transport = MemoryTransport()
    with caplog.at_level(logging.ERROR, logger="manycore.http"):
        assert pump(StreamResponse(Source()), transport)
    assert body_of(bytes(transport.output)) == b"a"
    assert "closing a streamed response's source failed" in caplog.text


# ------------------------------------------------------------------ the head
def test_a_chunked_head_keeps_the_connection_and_has_no_length():
    head, mode = StreamResponse([b"x"]).head(KEEP, chunked=True)
    lines = head.decode("latin-1").split("\r\n")
    assert mode == KEEP
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "Transfer-Encoding: chunked" in lines
    assert "Content-Type: application/octet-stream" in lines
    assert "Connection: keep-alive" in lines
    assert not any(line.startswith("Content-Length") for line in lines)
    assert head.endswith(b"\r\n\r\n")


def test_without_chunked_coding_the_end_of_the_body_is_the_close():
    head, mode = StreamResponse([b"x"]).head(KEEP, chunked=False)
    assert mode == CLOSE
    assert b"Transfer-Encoding" not in head
    assert b"Connection: close\r\n" in head


def test_a_connection_close_header_closes_after_the_stream():
    head, mode = StreamResponse([b"x"], headers={"Connection": "close"}).head(KEEP, chunked=True)
    assert mode == CLOSE
    assert head.count(b"Connection:") == 1


def test_status_headers_and_content_type_are_the_applications():
    resp = Response.stream([b"x"], status=206, headers=[("X-Part", "1")], content_type=None)
    head, _ = resp.head(KEEP, chunked=True)
    assert head.startswith(b"HTTP/1.1 206 Partial Content\r\n")
    assert b"X-Part: 1\r\n" in head
    assert b"Content-Type" not in head


@pytest.mark.parametrize(
    "kwargs",
    [{"content_type": "text/plain\r\nX-Evil: 1"}, {"headers": {"Content-Length": "1"}}],
)
def test_head_mistakes_are_the_applications(kwargs):
    with pytest.raises(LocalProtocolError):
        Response.stream([b"x"], **kwargs).head(KEEP, chunked=True)


# ------------------------------------------------------------------ construction
def test_response_stream_makes_a_stream_response():
    resp = Response.stream(iter([b"x"]))
    assert isinstance(resp, StreamResponse)
    assert repr(resp) == "<StreamResponse 200>"


@pytest.mark.parametrize("body", [b"bytes", "text"])
def test_a_whole_body_is_refused_with_the_right_call(body):
    with pytest.raises(TypeError, match=r"got bytes/str; use Response\(body\) instead"):
        Response.stream(body)


@pytest.mark.parametrize("status", [101, 204, 304])
def test_a_stream_with_a_status_that_has_no_body_is_the_applications_mistake(status):
    with pytest.raises(LocalProtocolError, match=f"a {status} response has no body"):
        Response.stream([b"x"], status=status)


def test_something_that_is_not_iterable_is_refused():
    with pytest.raises(TypeError, match="needs an iterable or async iterable of bytes, got int"):
        Response.stream(42)


# ------------------------------------------------------------------ on the wire
class Streams(HttpServer):
    @route("/count/{n:int}")
    def count(self, request: Request, n: int) -> Response:
        return Response.stream((f"{i}\n" for i in range(n)), content_type="text/plain")

    @route("/broken")
    def broken(self, request: Request) -> Response:
        def pieces() -> Iterator[bytes]:
            yield b"partial"
            raise RuntimeError("producer failed")

        return Response.stream(pieces())

    @route("/nothing/{status:int}")
    def nothing(self, request: Request, status: int) -> Response:
        return Response.stream([b"never sent"], status=status)


@pytest.fixture(scope="module")
def server():
    with ServerProcess(f"{__file__}:Streams") as proc:
        yield proc


def exchange(server: ServerProcess, data: bytes) -> bytes:
    with socket.create_connection(server.address, timeout=20) as sock:
        sock.sendall(data)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


def test_an_http11_client_reads_a_chunked_stream_and_the_connection_stays(server):
    data = (
        b"GET /count/3 HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /count/2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    responses = split_responses(exchange(server, data))
    assert [body for _, _, body in responses] == [b"0\n1\n2\n", b"0\n1\n"]
    assert responses[0][1]["transfer-encoding"] == "chunked"


def test_an_http10_client_reads_until_the_close(server):
    answer = exchange(server, b"GET /count/3 HTTP/1.0\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Transfer-Encoding" not in head
    assert body == b"0\n1\n2\n"


def test_a_failed_producer_leaves_the_client_a_visibly_truncated_body(server):
    answer = exchange(server, b"GET /broken HTTP/1.1\r\nHost: t\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == b"7\r\npartial\r\n"  # no last chunk: the client knows it is incomplete
    server.wait_for_log("producer failed", timeout=20)


@pytest.mark.parametrize("status", [204, 304])
def test_a_stream_with_a_bodiless_status_is_refused_and_the_connection_stays_in_step(
    server, status
):
    data = (
        b"GET /nothing/%d HTTP/1.1\r\nHost: t\r\n\r\n" % status
        + b"GET /count/2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    answer = exchange(server, data)
    assert b"never sent" not in answer
    responses = split_responses(answer)
    assert [code for code, _, _ in responses] == [500, 200]
    assert responses[1][2] == b"0\n1\n"
