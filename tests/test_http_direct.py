"""A connection that reads directly (the event loop calls it, no adapter in between)
answers everything in order when what it answers changes from read to read.

Every engine, on uvloop and on asyncio's own loop, over real sockets: one keep-alive
connection goes from plain one-copy answers to an async handler, a file, a slow reader,
pipelined reads and back.
"""

from __future__ import annotations

import json
import os
import socket
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from conftest import ENGINES
from manycore.testing import ServerProcess
from test_http_apps import APPS, request, split_responses

pytestmark = pytest.mark.timeout(120)

HELLO = b"Hello, World!"
JSON = b'{"message":"Hello, World!"}'


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("static")
    (root / "data.bin").write_bytes(os.urandom(300_000))
    return root


@pytest.fixture(
    scope="module",
    params=[(engine, loop) for engine in ENGINES for loop in ("uvloop", "asyncio")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def server(request, static_root):
    engine, loop = request.param
    env = {"HTTP_TEST_STATIC": str(static_root), "MANYCORE_LOOP": loop}
    workers = 1 if engine == "inline" else 2
    with ServerProcess(APPS, engine=engine, workers=workers, env=env) as proc:
        yield proc


def connect(server) -> socket.socket:
    sock = socket.create_connection(server.address, timeout=20)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def ask(sock: socket.socket, path: str) -> tuple[int, dict[str, str], bytes]:
    """One request, one answer: each read is one copy of the request."""
    sock.sendall(request(path))
    (answer,) = read_answers(sock, 1)
    return answer


def read_answers(sock: socket.socket, count: int, data: bytes = b"") -> list:
    """Read until ``count`` whole answers are in, counting those ``data`` already holds."""
    deadline = time.monotonic() + 60
    while True:
        try:
            got = split_responses(data)
        except (ValueError, IndexError):
            got = []  # a head or a chunk is still incomplete
        if len(got) >= count and all(
            len(body) == int(headers.get("content-length", len(body))) for _, headers, body in got
        ):
            return got
        assert time.monotonic() < deadline, f"{count} answers did not arrive"
        chunk = sock.recv(1 << 16)
        assert chunk, "the server closed the connection"
        data += chunk


def plain_answers(sock: socket.socket, count: int = 3) -> None:
    for _ in range(count):
        assert ask(sock, "/plaintext")[2] == HELLO
        assert ask(sock, "/json")[2] == JSON


def test_an_async_handler_between_sync_ones(server):
    with connect(server) as sock:
        plain_answers(sock)
        sock.sendall(request("/sleep/150"))
        for _ in range(3):  # repeats of a known head behind the unanswered async request
            sock.sendall(request("/plaintext"))
        got = read_answers(sock, 4)
        assert [body for _, _, body in got] == [b'{"slept":150}', HELLO, HELLO, HELLO]
        plain_answers(sock)
        assert ask(sock, "/sleep/0")[2] == b'{"slept":0}'
        plain_answers(sock)


def test_answers_sent_again_carry_the_date_of_the_second_they_leave_in(server):
    """A one-copy read is answered from the cache without reading the clock: the cache's
    own timer must empty it when the second ends.  A timer fires up to a few milliseconds
    late, as the clock read per request lagged (the loop's clock is a coarse one)."""
    with connect(server) as sock:
        for path in ("/plaintext", "/json"):
            dates = set()
            end = time.time() + 1.2  # crosses a second's end
            while time.time() < end:
                before = int(time.time() - 0.05)
                _, headers, _ = ask(sock, path)
                after = time.time()
                date = parsedate_to_datetime(headers["date"]).timestamp()
                assert before <= date <= after, (path, before, headers["date"], after)
                dates.add(date)
                time.sleep(0.002)
            assert len(dates) >= 2


def test_a_file_between_plain_answers(server, static_root):
    content = (static_root / "data.bin").read_bytes()
    with connect(server) as sock:
        plain_answers(sock)
        sock.sendall(request("/file/data.bin"))
        for _ in range(3):  # sent while the file may still be going out
            sock.sendall(request("/plaintext"))
        got = read_answers(sock, 4)
        assert got[0][2] == content
        assert [body for _, _, body in got[1:]] == [HELLO] * 3
        plain_answers(sock)
        assert ask(sock, "/file/data.bin")[2] == content
        plain_answers(sock)


def test_a_slow_reader_then_fast_answers(server):
    sizes = [400_000 + i for i in range(12)]  # far more than the socket buffers hold
    with connect(server) as sock:
        sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 65536
        )  # a small window, not a stalled one
        plain_answers(sock)
        sock.sendall(b"".join(request(f"/big/{n}") for n in sizes) + request("/plaintext"))
        data = b""
        while len(data) < 100_000:  # the server is paused, writing, while this reads slowly
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
        got = read_answers(sock, len(sizes) + 1, data)
        assert [len(body) for _, _, body in got[:-1]] == sizes
        assert got[-1][2] == HELLO
        plain_answers(sock, 10)


def test_pipelined_reads_between_single_ones(server):
    with connect(server) as sock:
        plain_answers(sock)
        paths = ["/plaintext", "/json"] * 8
        sock.sendall(b"".join(request(p) for p in paths))
        got = read_answers(sock, len(paths))
        assert [body for _, _, body in got] == [HELLO, JSON] * 8
        plain_answers(sock)
        # One request split at every boundary, then whole again.
        data = request("/json")
        for cut in range(1, len(data)):
            sock.sendall(data[:cut])
            sock.sendall(data[cut:])
        got = read_answers(sock, len(data) - 1)
        assert [body for _, _, body in got] == [JSON] * (len(data) - 1)
        plain_answers(sock)


def _open_connections(server) -> int:
    """Connections open in the workers (the /stats one excluded), once every worker has
    published its counters after this call."""
    workers = 1 if "inline" in server.command else 2
    since = time.time()
    deadline = time.monotonic() + 20
    while True:
        asked = time.time()
        with connect(server) as sock:
            stats = json.loads(ask(sock, "/stats")[2])
        rows = stats["workers"]
        if len(rows) == workers and all(asked - row["age"] >= since for row in rows):
            return stats["totals"]["connections_open"] - 1
        assert time.monotonic() < deadline, f"workers stopped publishing: {stats}"
        time.sleep(0.05)


def test_connections_lost_while_reading_directly(server):
    for ending in ("idle", "half a request", "async in flight", "after a file"):
        sock = connect(server)
        plain_answers(sock)
        if ending == "half a request":
            sock.sendall(request("/plaintext")[:10])
        elif ending == "async in flight":
            sock.sendall(request("/sleep/300") + request("/plaintext"))
        elif ending == "after a file":
            sock.sendall(request("/file/data.bin"))
        # A reset, not a goodbye: the server finds the connection gone mid-use.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    deadline = time.monotonic() + 20
    while _open_connections(server) > 0:
        assert time.monotonic() < deadline, "a lost connection was never closed"
    with connect(server) as sock:
        plain_answers(sock)
    assert "Traceback" not in server.log()
