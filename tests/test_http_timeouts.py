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
from manycore.http import HttpServer, Request, Response, route
from manycore.testing import ClockedConnection, FakeClock, MemoryTransport, ServerProcess
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
# A FakeClock drives one connection in memory: bytes arrive at chosen times and the
# connection's single timer fires when the clock reaches it, so each deadline is
# checked exactly, without waiting for it.


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

    @route("/constant")
    def constant(self, request: Request) -> Response:
        return Response(_CONSTANT, content_type="text/plain")


_CONSTANT = b"the same body object every time"


def _connect(transport: MemoryTransport | None = None, start: float = 1000.0) -> ClockedConnection:
    return FakeClock(start=start).connect(TimedApp(), transport)


def test_an_idle_connection_closes_after_the_keepalive_timeout_without_an_answer():
    conn = _connect()
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.take()
    conn.clock.advance(14.9)
    assert not conn.closed
    conn.clock.advance(0.2)
    assert conn.closed and not conn.aborted
    assert conn.take() == b""


def test_each_request_restarts_the_keepalive_timeout():
    conn = _connect()
    for _ in range(5):
        conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", after=10.0)
    conn.clock.advance(14.0)
    assert not conn.closed
    assert [status for status, _, _ in split_responses(conn.take())] == [200] * 5


def _send_copies(conn: ClockedConnection, count: int = 8) -> None:
    """One read per copy of one request: after the first few, each is answered again
    from the cache without the clock being read."""
    for _ in range(count):
        conn.send(b"GET /constant HTTP/1.1\r\nHost: t\r\n\r\n")
    assert [status for status, _, _ in split_responses(conn.take())] == [200] * count


def test_answers_sent_again_from_the_cache_restart_the_keepalive_timeout():
    """They count as activity at the end of their second: the connection closes after the
    keep-alive timeout, and at most a second later."""
    conn = _connect()
    _send_copies(conn)
    conn.clock.advance(5.0)  # the cache has expired: the first copies are answered anew
    _send_copies(conn)
    conn.clock.advance(15.0)
    assert not conn.closed
    conn.clock.advance(1.0)
    assert conn.closed and not conn.aborted


def test_connections_on_two_clocks_in_one_thread_each_time_out_on_their_own():
    """The cached answers are dated on each connection's own loop."""
    first, second = _connect(start=1000.0), _connect(start=50_000.0)
    for conn in (first, second, first, second):
        _send_copies(conn)
    first.clock.advance(15.0)
    second.clock.advance(15.0)
    assert not first.closed and not second.closed
    first.clock.advance(1.0)
    assert first.closed and not second.closed
    second.clock.advance(1.0)
    assert second.closed


def test_a_head_that_keeps_trickling_is_cut_off_when_its_time_is_up():
    conn = _connect()
    conn.send(b"GET / HTTP/1.1\r\n", after=3.0)
    for _ in range(9):  # a line a second never stalls, but the head never ends
        conn.send(b"X-Slow: 1\r\n", after=1.0)
    assert not conn.closed
    conn.clock.advance(1.0)  # 10 s after the head began
    answer = conn.take()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"the request head was not received in time" in answer
    conn.clock.advance(1.1)  # after the linger
    assert conn.closed


def test_a_new_head_gets_the_whole_header_timeout_after_an_idle_wait():
    conn = _connect()
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.send(b"GET / HTTP/1.1\r\n", after=14.0)
    conn.clock.advance(9.5)
    assert not conn.closed
    conn.send(b"Host: t\r\n\r\n")
    assert [status for status, _, _ in split_responses(conn.take())] == [200, 200]


def test_a_body_that_stops_arriving_is_answered_408():
    conn = _connect()
    conn.send(_upload_head(100_000) + b"x" * 20_000)  # far above the rate
    conn.clock.advance(29.9)
    assert not conn.closed
    conn.clock.advance(0.2)
    answer = conn.take()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"the request body stopped arriving" in answer


def test_after_a_408_the_connection_lingers_so_a_client_still_sending_reads_it():
    """Closing with the client's bytes unread sends a reset, which can destroy the answer."""
    conn = _connect()
    conn.send(_upload_head(100_000) + b"x" * 20_000)
    conn.clock.advance(30.1)
    assert conn.take().startswith(b"HTTP/1.1 408 ")
    assert not conn.closed  # still reading, and discarding, what the client sends
    conn.send(b"x" * 1000)
    assert conn.take() == b""
    conn.clock.advance(1.1)
    assert conn.closed and not conn.aborted


def test_a_body_below_the_minimum_rate_is_cut_off_after_the_grace():
    conn = _connect()
    conn.send(_upload_head(1_000_000))
    received = 0
    while not conn.closed and conn.clock.time() < 1100:
        conn.send(b"x" * 100, after=1.0)  # 100 bytes/s, never a stall
        received += 100
    answer = conn.take()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"the request body arrived too slowly" in answer
    # cut off once the average fell below 500 bytes/s after the 20 s grace: within 30 s
    assert 20 <= conn.clock.time() - 1000 <= 30, conn.clock.time()


def test_a_body_at_the_minimum_rate_is_never_cut_off():
    conn = _connect()
    size = 600 * 60
    conn.send(_upload_head(size))
    for _ in range(60):
        conn.send(b"y" * 600, after=1.0)
    (response,) = split_responses(conn.take())
    assert (response[0], response[2]) == (200, b'{"size":%d}' % size)


def test_each_request_body_gets_its_own_grace():
    conn = _connect()
    for _ in range(3):
        conn.send(_upload_head(4000), after=1.0)
        for _ in range(4):
            conn.send(b"z" * 1000, after=4.0)  # 250 bytes/s, within grace
    assert [status for status, _, _ in split_responses(conn.take())] == [200, 200, 200]


def test_output_that_makes_no_progress_aborts_the_connection():
    conn = _connect(Buffering())
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.transport.buffered = 5000  # the client stopped reading
    conn.clock.advance(59.0)  # an idle keep-alive timeout would have closed it by now
    assert not conn.closed
    conn.clock.advance(61.0)  # no progress for send_timeout, however the timer fell
    assert conn.aborted


def test_output_that_drains_slowly_is_never_aborted():
    conn = _connect(Buffering())
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.transport.buffered = 100_000
    for _ in range(20):
        conn.clock.advance(50.0)
        conn.transport.buffered -= 5000  # a slow reader, but a reader
    assert not conn.closed
    conn.transport.buffered = 0
    conn.clock.advance(61.0)
    assert conn.closed and not conn.aborted  # then the idle keep-alive timeout


def test_after_an_error_answer_the_connection_lingers_then_closes():
    conn = _connect()
    conn.send(b"BROKEN\r\n\r\n")
    assert conn.take().startswith(b"HTTP/1.1 400 ")
    assert not conn.closed
    conn.clock.advance(1.1)
    assert conn.closed and not conn.aborted


def test_only_one_timer_is_pending_however_many_reads_arrive():
    conn = _connect()
    conn.send(_upload_head(100_000))
    for _ in range(50):
        conn.send(b"x" * 1000, after=0.1)
    assert len(conn.clock.pending()) == 1
