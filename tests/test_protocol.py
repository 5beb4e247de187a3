"""The protocol contract over real sockets, on every engine."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import time

import pytest

from conftest import EXAMPLES, TEST_APPS, connect, recv_all, recv_until
from manycore.testing import MemoryTransport, ServerProcess, check_protocol, feed

APPS = str(TEST_APPS / "core_apps.py")


def serve(name: str, engine: str = "inline", workers: int = 1, **kwargs) -> ServerProcess:
    return ServerProcess(f"{APPS}:{name}", engine=engine, workers=workers, **kwargs)


def line(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data + b"\n")
    return recv_until(sock, lambda d: d.endswith(b"\n"))


def test_exception_in_a_callback_closes_only_that_connection(engine, workers):
    with serve("Boom", engine, workers) as server, connect(server.address) as bystander:
        with connect(server.address) as victim:
            victim.sendall(b"boom")
            assert recv_all(victim) == b""
        bystander.sendall(b"still alive")
        assert bystander.recv(100) == b"still alive"
    assert "RuntimeError: boom requested" in server.log()  # logged with its traceback
    assert "Traceback" in server.log()


def test_exception_handler_answers_then_closes(engine):
    with serve("BoomHandled", engine) as server, connect(server.address) as sock:
        sock.sendall(b"boom")
        assert recv_all(sock) == b"handled: boom requested\n"
    assert "Traceback" not in server.log()


def test_async_callbacks_answer_in_callback_order(engine):
    with serve("AsyncOrdered", engine) as server, connect(server.address) as sock:
        sock.sendall(b"0.3 slow\n0 fast\n0.1 middle\n")
        assert recv_until(sock, lambda d: d.count(b"\n") == 3) == b"slow\nfast\nmiddle\n"


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return path


def test_sendfile_ranged_sends_exact_ranges_in_order(engine, data_file):
    content = data_file.read_bytes()
    with serve("FileSender", engine) as server, connect(server.address) as sock:
        ranges = [(0, 10), (5, 1), (len(content) - 7, 7), (1_000_000, 2_000_000), (0, len(content))]
        request = b"".join(b"%s %d %d\n" % (bytes(data_file), o, n) for o, n in ranges)
        sock.sendall(request + b"%s 100 -\n" % bytes(data_file))
        expected = b"".join(b"<" + content[o : o + n] + b">" for o, n in ranges)
        expected += b"<" + content[100:] + b">"
        assert recv_until(sock, lambda d: len(d) >= len(expected)) == expected


def test_sendfile_sends_whole_file_then_trailer(engine, data_file):
    with serve("WholeFile", engine) as server, connect(server.address) as sock:
        sock.sendall(bytes(data_file))
        assert recv_all(sock) == b"[" + data_file.read_bytes() + b"]"


def test_sendfile_ranged_past_4_gib(engine, tmp_path):
    path = tmp_path / "sparse.bin"
    offset = 5 * 1024**3 + 123  # beyond 32-bit offsets
    with open(path, "wb") as f:
        f.seek(offset)
        f.write(b"far away")
    with serve("FileSender", engine) as server, connect(server.address) as sock:
        sock.sendall(b"%s %d 8\n" % (bytes(path), offset))
        assert recv_until(sock, lambda d: d.endswith(b">")) == b"<far away>"


def test_sendfile_of_a_missing_file_closes_only_that_connection(engine, workers, tmp_path):
    with serve("FileSender", engine, workers) as server:
        with connect(server.address) as sock:
            sock.sendall(b"%s 0 10\n" % bytes(tmp_path / "missing"))
            assert recv_all(sock) == b""
        with connect(server.address) as sock:
            sock.sendall(b"/proc/self/cmdline 0 -\n")  # still serving
            assert recv_until(sock, lambda d: d.endswith(b">")).startswith(b"<")
    assert "FileNotFoundError" in server.log()


def test_timer_repeats_until_cancelled(engine):
    with serve("Ticker", engine) as server, connect(server.address) as sock:
        assert recv_all(sock) == b"tick 1\ntick 2\ntick 3\n"


def test_memory_transport_drives_a_protocol_without_sockets():
    spec = importlib.util.spec_from_file_location("echo_lines", EXAMPLES / "echo_lines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    EchoLines = module.EchoLines

    protocol = EchoLines()
    transport = feed(protocol, b"a\r\nb")
    assert transport.take() == b"A\r\n"
    feed(protocol, b"\n", transport)
    assert transport.take() == b"B\r\n"
    assert check_protocol(EchoLines) == []
    assert isinstance(transport, MemoryTransport)


def test_check_protocol_explains_what_is_missing():
    class Nothing:
        pass

    class NeedsArgs:
        def __init__(self, x):
            pass

        def data_received(self, transport, data):
            return data

    assert "implements none of the protocol callbacks" in check_protocol(Nothing)[0]
    assert "must take no arguments" in check_protocol(NeedsArgs)[0]


def test_returning_text_instead_of_bytes_is_explained(engine, tmp_path):
    app = tmp_path / "textapp.py"
    app.write_text(
        "class Text:\n    def data_received(self, transport, data):\n        return 'str!'\n"
    )
    with ServerProcess(f"{app}:Text", engine=engine) as server, connect(server.address) as s:
        s.sendall(b"x")
        assert recv_all(s) == b""
    assert "returned str; a callback returns bytes" in server.log()


def test_stats_count_connections_across_workers(engine, workers):
    with serve("Context", engine, workers) as server:
        socks = [connect(server.address) for _ in range(4)]
        try:
            for sock in socks:
                line(sock, b"who")
            deadline = time.monotonic() + 10
            while True:  # other workers publish once serving, then once a second
                snapshot = json.loads(line(socks[0], b"stats"))
                complete = (
                    snapshot["totals"]["connections_open"] == 4
                    and len(snapshot["workers"]) == workers
                )
                if complete or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            for sock in socks:
                sock.close()
    assert snapshot["engine"] == engine
    assert [w["index"] for w in snapshot["workers"]] == list(range(workers))
    assert snapshot["totals"]["connections_open"] == 4
    assert snapshot["totals"]["connections_total"] == 4
    assert snapshot["totals"]["rss_bytes"] > 0


def test_the_stdlib_event_loop_serves_the_same_contract(engine, data_file):
    env = {"MANYCORE_LOOP": "asyncio"}
    content = data_file.read_bytes()
    with serve("FileSender", engine, env=env) as server, connect(server.address) as sock:
        sock.sendall(b"%s 7 100000\n" % bytes(data_file))
        assert recv_until(sock, lambda d: d.endswith(b">")) == b"<" + content[7:100007] + b">"
    assert "loop=asyncio" in server.log()
