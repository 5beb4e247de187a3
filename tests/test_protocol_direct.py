"""A protocol offering ``direct_reader`` is read by the event loop without the adapter,
unless the adapter has something to do per read; on every engine and both loops."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from conftest import connect, recv_all, recv_until
from manycore.testing import ServerProcess

HERE = __file__


class DirectUpper:
    """Its reader answers in upper case; through the adapter it would echo as sent."""

    def direct_reader(self, transport: Any, failed: Any) -> Any:
        write = transport.direct_write

        def read(data: bytes) -> None:
            if data.startswith(b"boom"):
                failed(RuntimeError("boom requested"))
                return
            write(data.upper())

        return read

    def data_received(self, transport: Any, data: bytes) -> bytes:
        return data

    def exception_handler(self, transport: Any, exc: Exception) -> bytes:
        return b"handled: %s\n" % str(exc).encode()


class TrackedUpper(DirectUpper):
    """``send_complete`` is the adapter's work after every send: it keeps the reads."""

    def send_complete(self, transport: Any, send_id: int) -> None:
        return None


@pytest.fixture(params=["uvloop", "asyncio"])
def loop(request) -> str:
    return request.param


def serve(name: str, engine: str, loop: str, *args: str) -> ServerProcess:
    return ServerProcess(f"{HERE}:{name}", engine=engine, args=args, env={"MANYCORE_LOOP": loop})


def exchange(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    return recv_until(sock, lambda got: len(got) >= len(data))


def test_the_loop_calls_the_protocols_reader(engine, loop):
    with serve("DirectUpper", engine, loop) as server, connect(server.address) as sock:
        for _ in range(3):
            assert exchange(sock, b"abc\n") == b"ABC\n"


def test_what_the_reader_fails_with_goes_to_the_exception_handler(engine, loop):
    with serve("DirectUpper", engine, loop) as server:
        with connect(server.address) as sock:
            assert exchange(sock, b"abc\n") == b"ABC\n"
            sock.sendall(b"boom\n")
            assert recv_all(sock) == b"handled: boom requested\n"
        with connect(server.address) as sock:  # the worker goes on
            assert exchange(sock, b"xyz\n") == b"XYZ\n"


def test_send_complete_keeps_the_reads_in_the_adapter(engine, loop):
    with serve("TrackedUpper", engine, loop) as server, connect(server.address) as sock:
        assert exchange(sock, b"abc\n") == b"abc\n"


def test_guard_mode_keeps_the_reads_in_the_adapter(loop):
    with serve("DirectUpper", "inline", loop, "--guard") as server, connect(server.address) as s:
        assert exchange(s, b"abc\n") == b"abc\n"
