"""Engine semantics: contexts, calls into main, shared state, guard mode, stop and restart.

Every test runs on every engine: a program that works on ``inline`` works
unchanged on ``processes`` and ``threads``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest

from conftest import TEST_APPS, connect, recv_all, recv_until
from manycore.testing import ServerProcess

APPS = str(TEST_APPS / "core_apps.py")


def serve(name: str, engine: str = "inline", workers: int = 1, **kwargs) -> ServerProcess:
    return ServerProcess(f"{APPS}:{name}", engine=engine, workers=workers, **kwargs)


def ask(sock: socket.socket, data: bytes):
    sock.sendall(data + b"\n")
    return json.loads(recv_until(sock, lambda d: d.endswith(b"\n")))


def test_callbacks_run_in_a_parallel_context(engine, workers):
    with serve("Context", engine, workers) as server, connect(server.address) as sock:
        here = ask(sock, b"who")
    assert here["parallel"] is True
    assert here["worker"] in range(workers)
    if engine == "processes":
        assert here["pid"] != server.pid()
    else:
        assert here["pid"] == server.pid()


@pytest.mark.parametrize("how", [b"main", b"main-wait"])
def test_call_from_main_thread_runs_in_the_main_context(engine, workers, how):
    with serve("Context", engine, workers) as server, connect(server.address) as sock:
        here, there = ask(sock, how)
    assert here["parallel"] is True
    assert there["parallel"] is False
    assert there["worker"] is None
    assert there["pid"] == server.pid()


def test_call_from_main_thread_refuses_unpicklable_functions_on_every_engine(engine):
    with serve("Context", engine) as server, connect(server.address) as sock:
        answer = ask(sock, b"lambda")
    assert "cannot be pickled" in answer["error"]
    assert "module-level def" in answer["error"]


def test_main_only_api_refuses_parallel_callers(engine):
    with serve("Context", engine) as server, connect(server.address) as sock:
        answer = ask(sock, b"main-only")
    assert "must run in the main context" in answer["error"]
    assert "parallel context 0" in answer["error"]


@pytest.mark.parametrize(
    ("attempt", "operation", "type_name"),
    [
        (b"dict-set", "__setitem__", "FrozenDict"),
        (b"dict-update", "update", "FrozenDict"),
        (b"list-append", "append", "FrozenList"),
        (b"nested-set", "__setitem__", "FrozenDict"),
    ],
)
def test_shared_state_cannot_be_mutated_from_a_parallel_context(
    engine, attempt, operation, type_name
):
    with serve("Mutator", engine) as server, connect(server.address) as sock:
        answer = ask(sock, attempt)
        again = ask(sock, attempt)  # and nothing changed
    assert f"cannot {operation} on shared {type_name}" in answer["error"]
    assert answer["state"] == {"colours": ["red", "green"], "limits": {"max": 10}}
    assert again["state"] == answer["state"]


def test_guard_reports_a_rebound_global_and_restores_it(engine):
    with serve("Rebinder", engine, args=["--guard"]) as server:
        with connect(server.address) as sock:
            sock.sendall(b"rebind\n")
            assert recv_all(sock) == b""  # the offending connection is closed
        with connect(server.address) as sock:
            sock.sendall(b"mutate\n")
            assert recv_all(sock) == b""
        with connect(server.address) as sock:  # both were put back
            assert ask(sock, b"noop") == {"counter": 0, "list": 0}
    log = server.log()
    assert "rebound the global core_apps.COUNTER" in log
    assert "mutated (list) the global core_apps.PLAIN_LIST" in log


def test_without_guard_rebinding_goes_unnoticed(engine):
    with serve("Rebinder", engine) as server, connect(server.address) as sock:
        assert ask(sock, b"rebind") == {"counter": 1, "list": 0}


def test_submit_work_from_a_parallel_context_calls_back_on_its_loop(engine):
    with serve("Work", engine) as server, connect(server.address) as sock:
        answer = ask(sock, b"20")
    assert answer == {"fib": 6765, "callback_parallel": True}


def test_sigterm_lets_in_flight_callbacks_finish_then_exits_zero(engine, workers):
    server = serve("SlowAsync", engine, workers)
    with server, connect(server.address) as sock:
        sock.sendall(b"late")
        server.wait_for_log("slow callback started: late", timeout=20)  # now in flight
        os.kill(server.pid(), signal.SIGTERM)
        assert recv_all(sock) == b"done:late"
        assert server.stop() == 0
        with pytest.raises(OSError):
            socket.create_connection(server.address, timeout=2).close()


def test_idle_connections_are_closed_promptly_on_stop(engine):
    with serve("Context", engine, args=["--grace", "30"]) as server:
        idle = connect(server.address)
        ask(idle, b"who")  # accepted and served: now idle
        started = time.monotonic()
        os.kill(server.pid(), signal.SIGTERM)
        assert recv_all(idle) == b""
        idle.close()
        assert server.stop() == 0
        assert time.monotonic() - started < 20


def test_a_dead_worker_process_is_restarted_from_the_main_context():
    with serve("Crash", "processes", 2) as server:
        with connect(server.address) as sock:
            sock.sendall(b"die\n")
            assert recv_all(sock) == b""
        deadline = time.monotonic() + 20
        while "restarting it" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        pids = set()
        while len(pids) < 2 and time.monotonic() < deadline:
            with connect(server.address) as sock:
                pids.add(ask(sock, b"pid")["pid"])
    assert "exited with status 3; restarting it" in server.log()
    assert len(pids) == 2


def test_killed_worker_is_reported_with_its_signal():
    with serve("Crash", "processes", 1) as server:
        with connect(server.address) as sock:
            victim = ask(sock, b"pid")["pid"]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with connect(server.address) as sock:
                    if ask(sock, b"pid")["pid"] != victim:
                        break
            except (OSError, ValueError):
                time.sleep(0.1)
    assert f"(pid {victim}) was killed by SIGKILL; restarting it" in server.log()


def test_timers_made_in_the_main_context_run_there(engine, workers):
    with serve("MainTimer", engine, workers) as server, connect(server.address) as sock:
        ticks = []
        deadline = time.monotonic() + 10
        while len(ticks) < 3 and time.monotonic() < deadline:
            ticks = ask(sock, b"ticks")
            time.sleep(0.05)
    assert len(ticks) >= 3
    assert set(ticks) == {False}  # never in a parallel context


def test_sigint_stops_gracefully_too(engine, workers):
    with serve("Context", engine, workers) as server:
        with connect(server.address) as sock:
            ask(sock, b"who")
        os.kill(server.pid(), signal.SIGINT)
        assert server.stop() == 0
