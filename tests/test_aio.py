"""manycore.aio: file I/O from parallel contexts that never stalls the event loop."""

from __future__ import annotations

import array
import fcntl
import json
import os
import termios
import threading
import time

from conftest import TEST_APPS, connect, recv_until
from manycore.testing import ServerProcess

APPS = str(TEST_APPS / "core_apps.py")


def ask(sock, data: bytes) -> bytes:
    sock.sendall(data + b"\n")
    return recv_until(sock, lambda d: d.endswith(b"\n"))


def test_write_and_read_back(engine, tmp_path):
    path = tmp_path / "out.bin"
    with ServerProcess(f"{APPS}:AioWriter", engine=engine) as server:
        with connect(server.address) as sock:
            assert json.loads(ask(sock, b"write %s 100000" % bytes(path))) == {"written": 100000}
            assert json.loads(ask(sock, b"read %s" % bytes(path))) == {"read": 100000}
    assert path.read_bytes() == b"x" * 100000


def _unread_bytes(fd: int) -> int:
    buffer = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buffer)
    return buffer[0]


def test_a_slow_disk_write_does_not_stall_other_connections(engine, tmp_path):
    """The "disk" is a FIFO that nobody reads yet: the write blocks until we drain it."""
    fifo = tmp_path / "slow-disk"
    os.mkfifo(fifo)
    size = 4 * 1024 * 1024  # far more than a pipe buffer holds
    disk = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # open, so the server's open succeeds
    try:
        capacity = fcntl.fcntl(disk, fcntl.F_GETPIPE_SZ)
        with ServerProcess(f"{APPS}:AioWriter", engine=engine) as server:
            writer = connect(server.address, timeout=60)
            writer.sendall(b"write %s %d\n" % (bytes(fifo), size))
            deadline = time.monotonic() + 20
            while _unread_bytes(disk) < capacity:  # full: the write now blocks in the server
                assert time.monotonic() < deadline, "the server never filled the pipe"
                time.sleep(0.01)
            with connect(server.address) as other:
                for _ in range(5):
                    assert ask(other, b"ping") == b"pong\n"  # the loop keeps serving
            drained = []

            def drain() -> None:
                os.set_blocking(disk, True)
                with open(disk, "rb", closefd=False) as f:
                    drained.append(len(f.read()))

            reader = threading.Thread(target=drain, daemon=True)
            reader.start()
            answer = json.loads(recv_until(writer, lambda d: d.endswith(b"\n")))
            writer.close()
            reader.join(30)
    finally:
        os.close(disk)
    assert answer == {"written": size}
    assert drained == [size]
