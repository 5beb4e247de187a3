"""Faults an operator meets: dead or stuck workers, a killed main process, running out
of descriptors, stopping under load, and guard mode on a closing connection.

Everything runs against a real server subprocess over 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import TEST_APPS, connect, recv_all, recv_until
from manycore.testing import ServerProcess

APPS = str(TEST_APPS / "fault_apps.py")
MULTI_WORKER_ENGINES = ("threads", "processes")


def serve(name: str, engine: str = "inline", workers: int = 1, **kwargs) -> ServerProcess:
    return ServerProcess(f"{APPS}:{name}", engine=engine, workers=workers, **kwargs)


def ask(sock: socket.socket, data: bytes):
    sock.sendall(data + b"\n")
    return json.loads(recv_until(sock, lambda d: d.endswith(b"\n")))


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# ------------------------------------------------------------ workers not serving


@pytest.mark.parametrize("engine", MULTI_WORKER_ENGINES)
def test_no_connection_waits_on_a_worker_that_never_starts_serving(engine):
    env = {"MANYCORE_TEST_START": "block-1"}
    with serve("Slow", engine, 2, env=env, args=["--grace", "1"]) as server:
        workers = set()
        for _ in range(20):
            with socket.create_connection(server.address, timeout=5) as sock:
                workers.add(ask(sock, b"pid")["worker"])
    assert workers == {0}


def test_no_connection_waits_on_a_worker_waiting_to_be_restarted():
    env = {"MANYCORE_TEST_START": "crash-1"}
    with serve("Slow", "processes", 2, env=env) as server:
        server.wait_for_log("restarting it in 3.2 s", timeout=30)
        workers = set()
        for _ in range(20):
            with socket.create_connection(server.address, timeout=2.5) as sock:
                workers.add(ask(sock, b"pid")["worker"])
    assert 0 in workers


def test_a_worker_that_can_never_start_ends_the_server_with_one_line(engine, workers):
    env = {"MANYCORE_TEST_START": "raise"}
    server = serve("Slow", engine, workers, env=env, expect_exit=None)
    with server:
        server.process.wait(timeout=60)
    assert server.process.returncode not in (0, None)
    lines = [line for line in server.output if "could not start" in line]
    assert len(lines) == 1, server.log()
    assert "the database is unreachable" in lines[0]
    assert "RuntimeError" in lines[0]


# ------------------------------------------------------------ a killed main process


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(child) for child in f.read().split()]


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _can_bind(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_workers_end_when_the_main_process_is_killed():
    server = serve("Slow", "processes", 2, expect_exit=None)
    with server:
        with connect(server.address) as sock:
            ask(sock, b"pid")
        workers = _children(server.pid())
        assert len(workers) == 2
        os.kill(server.pid(), signal.SIGKILL)
        server.process.wait(timeout=10)
        try:
            assert wait_for(lambda: all(_gone(pid) for pid in workers), 10), server.log()
            assert wait_for(lambda: _can_bind(server.port), 10)
        finally:  # orphans would hold the output pipe open and the port taken
            for pid in workers:
                if not _gone(pid):
                    os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------ statistics


def test_a_failed_memory_sample_does_not_freeze_the_statistics(engine, workers):
    with serve("StatsProbe", engine, workers) as server, connect(server.address) as sock:
        broken = ask(sock, b"break")

        def published_since_break() -> bool:
            answer = ask(sock, b"rows")
            row = next(r for r in answer["rows"] if r["index"] == broken["worker"])
            # ages are rounded to the millisecond: look for a publication well after the break
            return answer["time"] - row["age"] > broken["time"] + 0.01

        assert wait_for(published_since_break, 10, interval=0.2), server.log()
    assert server.log().count("could not sample") == 1


# ------------------------------------------------------------ out of descriptors


def test_running_out_of_descriptors_pauses_accepting_quietly(engine, workers):
    env = {"MANYCORE_LOOP": "asyncio", "MANYCORE_TEST_NOFILE": "64"}
    with serve("Hold", engine, workers, env=env) as server:

        def all_serving() -> bool:
            with connect(server.address) as sock:
                sock.sendall(b"serving")
                return sock.recv(16) == b"%d\n" % workers

        assert wait_for(all_serving, 10)
        held = []
        try:
            for _ in range(150):
                sock = socket.create_connection(server.address, timeout=10)
                sock.sendall(b"x")
                held.append(sock)
            server.wait_for_log("out of file descriptors")
            lines_then = len(server.output)
            time.sleep(2)  # a window to watch the log in, not a synchronisation
            assert len(server.output) - lines_then <= 6, server.log()[-3000:]
        finally:
            for sock in held:
                sock.close()

        def answers() -> bool:
            try:
                with socket.create_connection(server.address, timeout=2) as sock:
                    sock.sendall(b"x")
                    return sock.recv(16) == b"ok\n"
            except OSError:
                return False

        assert wait_for(answers, 15), server.log()[-3000:]
    assert len(server.output) < 40, server.log()[-3000:]
    assert "Traceback" not in server.log()


# ------------------------------------------------------------ stopping


def test_new_connections_are_refused_as_soon_as_stopping_starts(engine, workers):
    with serve("Slow", engine, workers) as server, connect(server.address) as busy:
        busy.sendall(b"3\n")
        assert recv_until(busy, lambda d: d.endswith(b"started\n")) == b"started\n"
        os.kill(server.pid(), signal.SIGTERM)

        def refused() -> bool:
            try:
                socket.create_connection(server.address, timeout=1).close()
            except ConnectionRefusedError:
                return True
            except ConnectionResetError:  # caught mid-handshake as the socket closed: try again
                return False
            return False

        assert wait_for(refused, 2.5)
        assert recv_all(busy) == b"done\n"
        assert server.stop() == 0


@pytest.mark.parametrize("thread_at_import", [False, True], ids=["", "thread-at-import"])
def test_a_server_stopped_as_soon_as_it_says_it_listens_stops_cleanly(
    engine, workers, thread_at_import
):
    """A process manager may send SIGTERM the moment the listening line appears; a thread
    the application started may be the one the signal is delivered to."""
    env = {"MANYCORE_TEST_THREAD": "1"} if thread_at_import else {}
    for _ in range(8):
        with serve("Slow", engine, workers, env=env) as server:
            pass
        assert server.process is not None and server.process.returncode == 0, server.log()


def test_a_worker_asked_to_stop_while_it_starts_finishes_starting_then_stops(engine, workers):
    """What a start hook opened, its stop hook closes: a stop in the middle of a start
    that then completes within the grace period runs the stop hooks too."""
    env = {"MANYCORE_TEST_START": "slow"}
    with serve("Slow", engine, workers, env=env) as server:
        os.kill(server.pid(), signal.SIGTERM)  # the workers are in their start hooks
        assert server.stop() == 0
    for index in range(workers):
        assert f"stop hook ran in worker {index}" in server.log(), server.log()


# A stop signal that reaches a worker process in the instant after the fork, before the
# worker has put its own handlers in place, must still stop it.
_FORK_WINDOW = r"""
import os, signal, sys, time
sys.path.insert(0, sys.argv[1])
from fault_apps import Slow
from manycore.engine.listeners import open_listeners
from manycore.engine.plan import Plan
from manycore.engine.processes import ProcessSupervisor
from manycore.protocol import ProtocolSpec
from manycore.registry import Registration, server

registration = Registration(server(), ProtocolSpec(Slow))
plan = Plan("processes", 1, [registration], open_listeners([registration]), [], [], grace=1.0)
supervisor = ProcessSupervisor(plan)
signal.signal(signal.SIGTERM, supervisor._on_signal)  # the main context's, as when running
supervisor.start_worker(0)
(pid,) = supervisor._pids
os.kill(pid, signal.SIGTERM)
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    if os.waitpid(pid, os.WNOHANG)[0]:
        print("stopped")
        break
    time.sleep(0.02)
else:
    os.kill(pid, signal.SIGKILL)
    print("still serving")
"""


def test_a_worker_signalled_as_it_is_forked_still_stops():
    for _ in range(5):
        ran = subprocess.run(
            [sys.executable, "-c", _FORK_WINDOW, str(TEST_APPS)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ran.stdout == "stopped\n", ran.stdout + ran.stderr


# ------------------------------------------------------------ guard mode


def _get(address, target: bytes, close: bool) -> bytes:
    with connect(address) as sock:
        connection = b"close" if close else b"keep-alive"
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: " + connection)
        sock.sendall(b"\r\n\r\n")
        if close:
            return recv_all(sock)
        return recv_until(sock, lambda d: d.endswith(b"leaked") or d.endswith(b"fine"))


@pytest.mark.parametrize("close", [True, False], ids=["close", "keep-alive"])
def test_guard_lets_no_byte_out_before_its_check(engine, close):
    with serve("Rebinding", engine, args=["--guard"]) as server:
        assert b"leaked" not in _get(server.address, b"/rebind", close)
        assert _get(server.address, b"/", close).endswith(b"fine")
    assert "rebound the global fault_apps.COUNTER" in server.log()


def test_guard_keeps_a_clean_keep_alive_connection_serving(engine):
    with serve("Rebinding", engine, args=["--guard"]) as server, connect(server.address) as sock:
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert recv_until(sock, lambda d: d.endswith(b"fine")).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert recv_all(sock).endswith(b"fine")
