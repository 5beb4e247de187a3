"""manycore.transport.Transport over a real socket on 127.0.0.1, on uvloop and asyncio.

Each test serves one connection on an event loop in this thread and reads it
with a plain non-blocking socket on the same loop, so the test decides when
the peer reads.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from manycore.loop import new_event_loop
from manycore.transport import Transport

LOOPS = ["best", "asyncio"]
BIG = 4 * 1024 * 1024  # far more than a socket buffer: the file send has to wait
DEADLINE = 30.0


class Events:
    """Records what a transport tells its owner."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.idle = asyncio.Event()

    def close_requested(self) -> None:
        self.seen.append("close requested")

    def output_idle(self) -> None:
        self.seen.append("idle")
        self.idle.set()

    def send_failed(self, exc: BaseException) -> None:
        self.seen.append(exc)


class Served(asyncio.Protocol):
    """The asyncio side of the connection: hands the loop's transport to a Transport."""

    def __init__(self, made: asyncio.Future[Served], loop: asyncio.AbstractEventLoop) -> None:
        self.made = made
        self.loop = loop
        self.transport: Transport | None = None
        self.received = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.raw = transport
        transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024
        )
        self.transport = Transport(transport, self.loop)  # type: ignore[arg-type]
        self.made.set_result(self)

    def data_received(self, data: bytes) -> None:
        self.received += data

    def pause_writing(self) -> None:
        assert self.transport is not None
        self.transport.set_writing_paused(True)

    def resume_writing(self) -> None:
        assert self.transport is not None
        self.transport.set_writing_paused(False)

    def connection_lost(self, exc: Exception | None) -> None:
        assert self.transport is not None
        self.transport.detach()


class Connection:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, served: Served, peer: socket.socket
    ) -> None:
        assert served.transport is not None
        self.loop = loop
        self.served = served
        self.transport = served.transport
        self.peer = peer
        self.events = Events()
        self.transport.events = self.events

    async def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or fewer if the connection closes first."""
        data = bytearray()
        while len(data) < n:
            chunk = await self.loop.sock_recv(self.peer, min(n - len(data), 1 << 20))
            if not chunk:
                break
            data += chunk
        return bytes(data)

    async def read_to_end(self) -> bytes:
        data = bytearray()
        while chunk := await self.loop.sock_recv(self.peer, 1 << 20):
            data += chunk
        return bytes(data)


def run(kind: str, test: Callable[[Connection], Awaitable[None]]) -> None:
    loop = new_event_loop() if kind == "best" else asyncio.new_event_loop()

    async def main() -> None:
        made: asyncio.Future[Served] = loop.create_future()
        server = await loop.create_server(lambda: Served(made, loop), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        peer = socket.socket()
        peer.setblocking(False)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        try:
            await loop.sock_connect(peer, ("127.0.0.1", port))
            served = await asyncio.wait_for(made, DEADLINE)
            try:
                await asyncio.wait_for(test(Connection(loop, served, peer)), DEADLINE)
            finally:
                assert served.transport is not None
                served.transport.abort()
                await asyncio.sleep(0)  # connection_lost runs
        finally:
            peer.close()
            server.close()
            await server.wait_closed()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


@pytest.fixture(params=LOOPS)
def kind(request: pytest.FixtureRequest) -> str:
    """The event loop a test runs on: each test that takes ``kind`` runs on every one."""
    return request.param


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = bytes(range(256)) * (BIG // 256)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, data


# ------------------------------------------------------------------ ordered output
def test_writes_files_and_gathered_writes_arrive_in_the_order_asked(kind, big_file):
    path, data = big_file

    async def test(c: Connection) -> None:
        t = c.transport
        t.write(b"first ")
        t.sendfile(b"<", path, b">")
        assert t.sending_file  # the file is waiting for the peer to read
        t.write(b" then")
        t.writelines([b" gathered", b" writes"])
        t.sendfile_ranged(b" [", path, b"]", 10, 5)
        t.close_after_output()
        got = await c.read_to_end()
        assert got == b"first <" + data + b"> then gathered writes [" + data[10:15] + b"]"
        assert t.file_bytes_sent == len(data) + 5
        assert not t.sending_file

    run(kind, test)


def test_output_idle_is_reported_when_output_queued_behind_a_file_has_gone(kind, big_file):
    path, data = big_file

    async def test(c: Connection) -> None:
        c.transport.sendfile(b"", path)
        c.transport.write(b"after")
        assert c.events.seen == []
        assert await c.read(len(data) + 5) == data + b"after"
        await asyncio.wait_for(c.events.idle.wait(), DEADLINE)
        assert c.events.seen == ["idle"]

    run(kind, test)


# ------------------------------------------------------------------ closing
def test_close_asks_the_owner_and_closes_nothing_itself(kind):
    async def test(c: Connection) -> None:
        c.transport.close()
        assert c.events.seen == ["close requested"]
        assert not c.transport.is_closing()
        c.transport.write(b"still open")
        assert await c.read(10) == b"still open"

    run(kind, test)


def test_close_after_output_closes_once_a_queued_file_has_gone_out(kind, big_file):
    path, data = big_file

    async def test(c: Connection) -> None:
        c.transport.sendfile(b"head ", path, b" tail")
        c.transport.close_after_output()
        assert not c.transport.is_closing()  # the file is still on its way
        c.transport.write(b" late")  # asked for after the close: never sent
        assert await c.read_to_end() == b"head " + data + b" tail"

    run(kind, test)


def test_abort_drops_what_is_queued_and_releases_the_file(kind, big_file):
    path, _data = big_file

    async def test(c: Connection) -> None:
        c.transport.sendfile(b"", path)
        c.transport.write(b"never")
        c.transport.abort()
        assert not c.transport.sending_file
        got = b""
        try:
            got = await c.read_to_end()
        except ConnectionResetError:
            pass
        assert not got.endswith(b"never")

    run(kind, test)


def test_without_an_owner_close_closes_after_the_output_asked_for(big_file):
    path, data = big_file

    async def test(c: Connection) -> None:
        unowned = Transport(c.served.raw, c.loop)  # type: ignore[arg-type]
        unowned.sendfile(b"", path, b"end")
        unowned.close()
        assert await c.read_to_end() == data + b"end"

    run("best", test)


# ------------------------------------------------------------------ file ranges
def test_a_range_to_the_end_of_the_file_and_an_open_file_object(kind, tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"0123456789")

    async def test(c: Connection) -> None:
        t = c.transport
        t.sendfile_ranged(b"", str(path), b"|", 7, None)
        with open(path, "rb") as f:
            t.sendfile_ranged(b"", f, b"|", 0, 3)
        t.close_after_output()
        assert await c.read_to_end() == b"789|012|"

    run(kind, test)


def test_a_descriptor_stays_the_callers_and_a_path_is_closed_after_sending(kind, tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"abcdef")
    fd = os.open(path, os.O_RDONLY)

    async def test(c: Connection) -> None:
        before = set(os.listdir("/proc/self/fd"))
        c.transport.sendfile(b"", fd)
        c.transport.sendfile(b"", path)
        c.transport.close_after_output()
        assert await c.read_to_end() == b"abcdefabcdef"
        os.fstat(fd)  # still open: it is the caller's
        assert set(os.listdir("/proc/self/fd")) <= before | {str(c.peer.fileno())}

    try:
        run(kind, test)
    finally:
        os.close(fd)


@pytest.mark.parametrize(("offset", "nbytes"), [(11, None), (-1, 2), (0, 11), (5, -1)])
def test_a_range_outside_the_file_is_refused_before_anything_is_sent(
    kind, tmp_path, offset, nbytes
):
    path = tmp_path / "f.txt"
    path.write_bytes(b"0123456789")

    async def test(c: Connection) -> None:
        with pytest.raises(ValueError, match=r"lies outside the file \(10 bytes\)"):
            c.transport.sendfile_ranged(b"before", path, b"after", offset, nbytes)
        c.transport.write(b"ok")
        c.transport.close_after_output()
        assert await c.read_to_end() == b"ok"

    run(kind, test)


def test_a_missing_file_raises_before_anything_is_sent(kind, tmp_path):
    async def test(c: Connection) -> None:
        with pytest.raises(FileNotFoundError):
            c.transport.sendfile(b"before", tmp_path / "missing", b"after")
        c.transport.close_after_output()
        assert await c.read_to_end() == b""

    run(kind, test)


def test_a_file_that_shrinks_while_sending_fails_the_send_and_aborts(kind, big_file):
    path, _data = big_file

    async def test(c: Connection) -> None:
        c.transport.sendfile(b"", path)
        assert c.transport.sending_file  # the peer has not read: the send waits
        os.truncate(path, 1024)
        try:
            await c.read_to_end()
        except ConnectionResetError:
            pass
        assert len(c.events.seen) == 1
        assert isinstance(c.events.seen[0], EOFError)
        assert c.transport.is_closing()

    run(kind, test)


# ------------------------------------------------------------------ flow control
def test_drain_waits_for_a_file_send_to_finish(kind, big_file):
    path, data = big_file

    async def test(c: Connection) -> None:
        c.transport.sendfile(b"", path)
        drained = asyncio.ensure_future(c.transport.drain())
        await asyncio.sleep(0)
        assert not drained.done()
        assert await c.read(len(data)) == data
        await drained
        assert not c.transport.sending_file

    run(kind, test)


def test_writing_pauses_above_the_high_water_mark_and_drain_waits_for_the_low(kind):
    async def test(c: Connection) -> None:
        t = c.transport
        t.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        chunk = b"x" * (1 << 20)
        t.write(chunk)
        assert t.writing_paused
        assert t.get_write_buffer_size() > 0
        drained = asyncio.ensure_future(t.drain())
        await asyncio.sleep(0)
        assert not drained.done()
        assert await c.read(len(chunk)) == chunk
        await drained
        assert not t.writing_paused

    run(kind, test)


def test_pause_reading_holds_the_peers_bytes_until_resumed(kind):
    async def test(c: Connection) -> None:
        c.transport.pause_reading()
        await c.loop.sock_sendall(c.peer, b"hello")
        c.transport.write(b"ping")  # a round trip: the bytes had time to arrive
        assert await c.read(4) == b"ping"
        assert bytes(c.served.received) == b""
        c.transport.resume_reading()
        while bytes(c.served.received) != b"hello":
            await asyncio.sleep(0.01)

    run(kind, test)


# ------------------------------------------------------------------ what it tells
def test_peername_sockname_elapsed_and_repr(kind):
    async def test(c: Connection) -> None:
        t = c.transport
        assert t.peername == c.peer.getsockname()
        assert t.sockname == c.peer.getpeername()
        assert t.elapsed() >= 0
        assert "manycore.Transport" in repr(t) and "closing=False" in repr(t)
        assert t.unsent_bytes() == 0

    run(kind, test)
