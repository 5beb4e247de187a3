"""ASGI applications over real sockets, on every engine, with http.client and raw sockets."""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from pathlib import Path

import pytest

from asgi_helpers import parse_responses
from conftest import ENGINES, TEST_APPS, recv_until
from manycore.testing import ServerProcess

pytestmark = pytest.mark.timeout(120)

APP = str(TEST_APPS / "asgi_apps.py") + ":app"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("asgi")
    (root / "data.bin").write_bytes(os.urandom(300_000))
    (root / "markers").mkdir()
    return root


@pytest.fixture(scope="module", params=ENGINES)
def server(request, files):
    engine = request.param
    env = {
        "ASGI_TEST_FILE": str(files / "data.bin"),
        "ASGI_TEST_MARKERS": str(files / "markers"),
    }
    workers = 1 if engine == "inline" else 2
    with ServerProcess(APP, engine=engine, workers=workers, env=env) as proc:
        yield proc


def get(server, path: str, method: str = "GET", body: bytes | None = None):
    conn = http.client.HTTPConnection(*server.address, timeout=10)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_plaintext_over_one_kept_alive_connection(server):
    conn = http.client.HTTPConnection(*server.address, timeout=10)
    try:
        for _ in range(3):
            conn.request("GET", "/")
            response = conn.getresponse()
            assert response.status == 200
            assert response.read() == b"Hello, World!"
            assert response.getheader("Content-Length") == "13"
    finally:
        conn.close()


def test_lifespan_state_reaches_every_request_from_its_own_worker(server):
    for _ in range(6):
        status, _, body = get(server, "/state")
        state = json.loads(body)
        assert status == 200
        assert state["greeting"] == "hello from startup"
        assert state["started_in"] == state["pid"]  # startup ran in the worker that serves


def test_a_large_body_is_streamed_to_the_app(server):
    payload = os.urandom(700_000)
    status, _, body = get(server, "/echo", "POST", payload)
    assert status == 200 and body == payload


def test_a_streamed_response_is_chunked(server):
    status, headers, body = get(server, "/stream")
    assert status == 200 and body == b"part0;part1;part2;"
    assert headers.get("Transfer-Encoding") == "chunked"


def test_pathsend_sends_the_file(server, files):
    status, headers, body = get(server, "/file")
    assert status == 200 and body == (files / "data.bin").read_bytes()
    assert headers["Content-Length"] == "300000"


def test_an_app_that_raises_is_a_500_and_the_worker_serves_on(server):
    status, _, _ = get(server, "/raise")
    assert status == 500
    server.wait_for_log("the application failed on purpose")
    assert get(server, "/")[0] == 200


def test_pipelined_requests_are_answered_in_order(server):
    with socket.create_connection(server.address, timeout=10) as sock:
        sock.sendall(
            b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = recv_until(sock, lambda _: False)
    bodies = [body for _, _, body in parse_responses(data)]
    assert bodies == [b"part0;part1;part2;", b"abc", b"Hello, World!"]


def test_the_app_hears_http_disconnect_when_the_client_goes(server, files):
    markers = files / "markers"
    before = set(markers.glob("disconnect-*"))
    with socket.create_connection(server.address, timeout=10) as sock:
        sock.sendall(b"GET /wait-for-disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 20
    while not (new := {p for p in markers.glob("disconnect-*") if p.suffix != ".tmp"} - before):
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.02)
    assert [path.read_text() for path in new] == ["http.disconnect"]
