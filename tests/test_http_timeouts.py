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
from manycore.testing import ServerProcess
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
