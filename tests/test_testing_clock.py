"""FakeClock: timeouts tested by moving a clock, never by waiting for one.

A test relies on three things: time moves only when the test moves it, every
timer due on the way fires in deadline order seeing its own deadline as "now",
and a connection driven through it uses that clock for all of its timing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from manycore.http import HttpServer, Request, route
from manycore.testing import FakeClock, MemoryTransport


def _recorder(clock: FakeClock, fired: list) -> Callable[[str], None]:
    def record(name: str) -> None:
        fired.append((name, clock.time()))

    return record


def test_time_stands_still_until_the_test_moves_it():
    clock = FakeClock(start=50.0)
    assert clock.time() == 50.0
    clock.advance(2.5)
    assert clock.time() == 52.5


def test_timers_due_on_the_way_fire_in_deadline_order_each_at_its_deadline():
    clock = FakeClock(start=0.0)
    fired: list = []
    record = _recorder(clock, fired)
    clock.call_at(3.0, record, "c")
    clock.call_later(1.0, record, "a")
    clock.call_at(2.0, record, "b")
    clock.call_at(9.0, record, "late")
    clock.advance(5.0)
    assert fired == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    assert clock.time() == 5.0
    assert clock.pending() == [9.0]


def test_a_timer_is_not_fired_before_its_deadline():
    clock = FakeClock(start=0.0)
    fired: list = []
    clock.call_at(1.0, _recorder(clock, fired), "t")
    clock.advance(0.999)
    assert fired == []
    clock.advance(0.001)
    assert fired == [("t", 1.0)]


def test_timers_with_the_same_deadline_fire_in_the_order_they_were_made():
    clock = FakeClock(start=0.0)
    fired: list = []
    record = _recorder(clock, fired)
    for name in "xyz":
        clock.call_at(1.0, record, name)
    clock.advance(1.0)
    assert [name for name, _ in fired] == ["x", "y", "z"]


def test_a_cancelled_timer_never_fires_and_is_not_pending():
    clock = FakeClock(start=0.0)
    fired: list = []
    timer = clock.call_at(1.0, _recorder(clock, fired), "t")
    timer.cancel()
    assert timer.cancelled()
    assert clock.pending() == []
    clock.advance(10.0)
    assert fired == []


def test_a_timer_set_by_a_firing_timer_fires_in_the_same_advance_if_it_falls_due():
    clock = FakeClock(start=0.0)
    fired: list = []
    record = _recorder(clock, fired)

    def rearm() -> None:
        record("first")
        clock.call_later(1.0, record, "second")

    clock.call_at(1.0, rearm)
    clock.advance(2.5)
    assert fired == [("first", 1.0), ("second", 2.0)]


def test_call_soon_runs_at_the_next_move_of_the_clock_even_a_zero_one():
    clock = FakeClock(start=0.0)
    fired: list = []
    clock.call_soon(_recorder(clock, fired), "soon")
    assert fired == []
    clock.advance(0)
    assert fired == [("soon", 0.0)]


def test_jump_moves_to_the_next_timer_and_says_how_far():
    clock = FakeClock(start=10.0)
    fired: list = []
    clock.call_at(14.0, _recorder(clock, fired), "t")
    clock.call_at(20.0, _recorder(clock, fired), "u")
    assert clock.jump() == pytest.approx(4.0)
    assert fired == [("t", 14.0)]
    assert clock.time() == 14.0


def test_jump_with_nothing_pending_is_an_error_not_a_hang():
    with pytest.raises(LookupError, match="no timer is pending"):
        FakeClock().jump()


def test_the_clock_cannot_go_back():
    clock = FakeClock()
    with pytest.raises(ValueError, match=r"cannot go back: advance\(-1"):
        clock.advance(-1)


def test_coroutines_are_refused_with_the_way_to_test_them():
    async def handler() -> None:
        return None

    coro = handler()
    with pytest.raises(RuntimeError, match="ServerProcess"):
        FakeClock().create_task(coro)
    assert coro.cr_frame is None  # closed: no "never awaited" warning later


# ------------------------------------------------------------------ driving a connection
class Hello(HttpServer):
    keepalive_timeout = 5.0
    header_timeout = 2.0

    @route("/")
    def index(self, request: Request) -> str:
        return "hi"


def test_a_connection_made_on_the_clock_reads_its_time_from_it():
    clock = FakeClock(start=1000.0)
    conn = clock.connect(Hello())
    assert conn.transport.loop is clock
    assert clock.pending() == [1002.0]  # the header timeout, on the clock's time


def test_a_connection_times_out_when_the_clock_reaches_its_deadline():
    conn = FakeClock().connect(Hello())
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert conn.take().endswith(b"\r\n\r\nhi")
    conn.clock.advance(4.99)
    assert not conn.closed
    conn.clock.advance(0.01)
    assert conn.closed and not conn.aborted


def test_send_after_lets_time_pass_before_the_bytes_arrive():
    conn = FakeClock().connect(Hello())
    conn.send(b"GET / HTTP/1.1\r\n")
    conn.send(b"Host: t\r\n\r\n", after=2.5)  # past the 2 s header timeout
    answer = conn.take()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert not conn.closed  # lingering, so a client still sending reads the answer
    conn.clock.advance(1.0)
    assert conn.closed


def test_a_given_transport_is_used():
    transport = MemoryTransport(peername=("10.0.0.1", 1234))
    conn = FakeClock().connect(Hello(), transport)
    assert conn.transport is transport
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert transport.output.endswith(b"hi")


class Logged(Hello):
    access_log = True


def test_work_the_connection_leaves_for_the_loop_runs_when_a_send_returns(caplog):
    conn = FakeClock().connect(Logged())
    with caplog.at_level(logging.INFO, logger="manycore.access"):
        conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert any('"GET / HTTP/1.1" 200' in r.getMessage() for r in caplog.records), caplog.text


class Uptime:
    """Answers each read with how long its connection has been open."""

    def data_received(self, transport, data: bytes) -> bytes:
        return b"%.1f" % transport.elapsed()


def test_the_transport_of_a_clocked_connection_reads_the_clock_too():
    conn = FakeClock(start=5.0).connect(Uptime())
    conn.send(b"?", after=90.0)
    assert conn.take() == b"90.0"
