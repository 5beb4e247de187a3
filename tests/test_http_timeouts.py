"""Request bodies must arrive at a minimum average rate, not merely keep trickling.

``body_timeout`` only sees stalls: a client sending a byte every few seconds would
hold a connection forever.  ``body_grace`` and ``body_min_rate`` bound the whole
body; small values on the test app keep these tests fast.
"""

from __future__ import annotations

import socket
import time

import pytest

from conftest import ENGINES
from manycore.http import HttpServer, Request, route
from manycore.testing import MemoryTransport, ServerProcess, connect, feed
from test_http_apps import recv_responses, split_responses

pytestmark = pytest.mark.timeout(120)


class SlowBodyApp(HttpServer):
    body_timeout = 3.0  # far longer than any gap the trickle leaves
    body_grace = 0.5
    body_min_rate = 2000

    @route("/upload", methods=["POST"])
    def upload(self, request: Request) -> dict:
        return {"size": len(request.body)}


@pytest.fixture(scope="module", params=ENGINES)
def server(request):
    engine = request.param
    workers = 1 if engine == "inline" else 2
    with ServerProcess(f"{__file__}:SlowBodyApp", engine=engine, workers=workers) as proc:
        yield proc


def _upload_head(length: int) -> bytes:
    return b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % length


def test_a_body_that_trickles_without_stalling_is_cut_off(server):
    """20 bytes every 0.1 s never stalls for body_timeout, but averages far below the rate."""
    with socket.create_connection(server.address, timeout=20) as sock:
        sock.sendall(_upload_head(1_000_000))
        answer = b""
        started = time.monotonic()
        while time.monotonic() - started < 10:  # the server must cut it well before
            try:
                sock.sendall(b"x" * 20)
            except OSError:  # reset after the answer: read what came
                break
            sock.settimeout(0.1)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            answer += chunk
        sock.settimeout(10)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"too slowly" in answer
    assert b"Connection: close" in answer


def test_a_steady_upload_is_not_cut_off(server):
    """About 200 KB/s for a second: well above the minimum rate, and longer than the grace."""
    body = b"y" * 200_000
    with socket.create_connection(server.address, timeout=20) as sock:
        sock.sendall(_upload_head(len(body)))
        for start in range(0, len(body), 10_000):
            sock.sendall(body[start : start + 10_000])
            time.sleep(0.05)
        responses = split_responses(recv_responses(sock, 1))
    assert responses[0][0] == 200
    assert responses[0][2] == b'{"size":200000}'


def test_min_rate_settings_are_checked_when_the_class_is_made():
    with pytest.raises(TypeError, match="body_min_rate"):
        type("Bad", (HttpServer,), {"body_min_rate": -1})
    with pytest.raises(TypeError, match="body_grace"):
        type("Bad", (HttpServer,), {"body_grace": 0})
    type("NoMinimum", (HttpServer,), {"body_min_rate": 0})  # 0 turns the minimum off


# ------------------------------------------------------------------ the timer's decisions
# A virtual clock drives one connection in memory: bytes arrive at chosen times and the
# connection's single timer fires when the loop's time reaches it, so each deadline is
# checked exactly, without waiting for it.


class _Timer:
    def __init__(self, when: float, callback, args: tuple) -> None:
        self.when, self.callback, self.args = when, callback, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualLoop:
    """The two loop methods a connection's timer uses, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[_Timer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback, *args) -> _Timer:
        timer = _Timer(when, callback, args)
        self.timers.append(timer)
        return timer

    def pending(self) -> list[float]:
        return sorted(t.when for t in self.timers if not t.cancelled)

    def advance(self, seconds: float) -> None:
        """Move the clock, firing every timer that falls due on the way, in order."""
        end = self.now + seconds
        while True:
            due = [t for t in self.timers if not t.cancelled and t.when <= end]
            if not due:
                break
            timer = min(due, key=lambda t: t.when)
            self.timers.remove(timer)
            self.now = max(self.now, timer.when)
            timer.callback(*timer.args)
        self.now = end


class Buffering(MemoryTransport):
    """A transport whose write buffer the test fills and drains, as a slow reader would."""

    def __init__(self) -> None:
        super().__init__()
        self.buffered = 0

    def get_write_buffer_size(self) -> int:
        return self.buffered if not self.closed else 0


class TimedApp(HttpServer):
    header_timeout = 10.0
    body_timeout = 30.0
    keepalive_timeout = 15.0
    send_timeout = 60.0
    body_grace = 20.0
    body_min_rate = 500

    @route("/")
    def index(self, request: Request) -> str:
        return "hi"

    @route("/upload", methods=["POST"])
    def upload(self, request: Request) -> dict:
        return {"size": len(request.body)}


def _connect(transport: MemoryTransport | None = None):
    loop = VirtualLoop()
    transport = transport or MemoryTransport()
    transport.loop = loop
    app = TimedApp()
    connect(app, transport)
    return app, transport, loop


def _send(app, transport, loop: VirtualLoop, data: bytes, after: float = 0.0) -> None:
    loop.advance(after)
    feed(app, data, transport)


def test_an_idle_connection_closes_after_the_keepalive_timeout_without_an_answer():
    app, transport, loop = _connect()
    _send(app, transport, loop, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    transport.take()
    loop.advance(14.9)
    assert not transport.closed
    loop.advance(0.2)
    assert transport.closed and not transport.aborted
    assert transport.take() == b""


def test_each_request_restarts_the_keepalive_timeout():
    app, transport, loop = _connect()
    for _ in range(5):
        _send(app, transport, loop, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", after=10.0)
    loop.advance(14.0)
    assert not transport.closed
    assert [status for status, _, _ in split_responses(transport.take())] == [200] * 5


def test_a_head_that_keeps_trickling_is_cut_off_when_its_time_is_up():
    app, transport, loop = _connect()
    _send(app, transport, loop, b"GET / HTTP/1.1\r\n", after=3.0)
    for _ in range(9):  # a line a second never stalls, but the head never ends
        _send(app, transport, loop, b"X-Slow: 1\r\n", after=1.0)
    assert not transport.closed
    loop.advance(1.0)  # 10 s after the head began
    answer = transport.take()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"the request head was not received in time" in answer
    assert transport.closed


def test_a_new_head_gets_the_whole_header_timeout_after_an_idle_wait():
    app, transport, loop = _connect()
    _send(app, transport, loop, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    _send(app, transport, loop, b"GET / HTTP/1.1\r\n", after=14.0)
    loop.advance(9.5)
    assert not transport.closed
    _send(app, transport, loop, b"Host: t\r\n\r\n")
    assert [status for status, _, _ in split_responses(transport.take())] == [200, 200]


def test_a_body_that_stops_arriving_is_answered_408():
    app, transport, loop = _connect()
    _send(app, transport, loop, _upload_head(100_000) + b"x" * 20_000)  # far above the rate
    loop.advance(29.9)
    assert not transport.closed
    loop.advance(0.2)
    answer = transport.take()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"the request body stopped arriving" in answer


def test_a_body_below_the_minimum_rate_is_cut_off_after_the_grace():
    app, transport, loop = _connect()
    _send(app, transport, loop, _upload_head(1_000_000))
    received = 0
    while not transport.closed and loop.now < 1100:
        _send(app, transport, loop, b"x" * 100, after=1.0)  # 100 bytes/s, never a stall
        received += 100
    answer = transport.take()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"the request body arrived too slowly" in answer
    # cut off once the average fell below 500 bytes/s after the 20 s grace: within 30 s
    assert 20 <= loop.now - 1000 <= 30, loop.now


def test_a_body_at_the_minimum_rate_is_never_cut_off():
    app, transport, loop = _connect()
    size = 600 * 60
    _send(app, transport, loop, _upload_head(size))
    for _ in range(60):
        _send(app, transport, loop, b"y" * 600, after=1.0)
    (response,) = split_responses(transport.take())
    assert (response[0], response[2]) == (200, b'{"size":%d}' % size)


def test_each_request_body_gets_its_own_grace():
    app, transport, loop = _connect()
    for _ in range(3):
        _send(app, transport, loop, _upload_head(4000), after=1.0)
        for _ in range(4):
            _send(app, transport, loop, b"z" * 1000, after=4.0)  # 250 bytes/s, within grace
    assert [status for status, _, _ in split_responses(transport.take())] == [200, 200, 200]


def test_output_that_makes_no_progress_aborts_the_connection():
    app, transport, loop = _connect(Buffering())
    _send(app, transport, loop, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    transport.buffered = 5000  # the client stopped reading
    loop.advance(59.0)  # an idle keep-alive timeout would have closed it by now
    assert not transport.closed
    loop.advance(61.0)  # no progress for send_timeout, however the timer fell
    assert transport.aborted


def test_output_that_drains_slowly_is_never_aborted():
    app, transport, loop = _connect(Buffering())
    _send(app, transport, loop, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    transport.buffered = 100_000
    for _ in range(20):
        loop.advance(50.0)
        transport.buffered -= 5000  # a slow reader, but a reader
    assert not transport.closed
    transport.buffered = 0
    loop.advance(61.0)
    assert transport.closed and not transport.aborted  # then the idle keep-alive timeout


def test_after_an_error_answer_the_connection_lingers_then_closes():
    app, transport, loop = _connect()
    _send(app, transport, loop, b"BROKEN\r\n\r\n")
    assert transport.take().startswith(b"HTTP/1.1 400 ")
    assert not transport.closed
    loop.advance(1.1)
    assert transport.closed and not transport.aborted


def test_only_one_timer_is_pending_however_many_reads_arrive():
    app, transport, loop = _connect()
    _send(app, transport, loop, _upload_head(100_000))
    for _ in range(50):
        _send(app, transport, loop, b"x" * 1000, after=0.1)
    assert len(loop.pending()) == 1
