"""The HTTP server over real sockets, on every engine, with real clients.

One server process per engine serves most tests (starting one costs about a
second); tests that need other settings (small timeouts) start their own.
Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ENGINES
from manycore.testing import ServerProcess
from test_http_apps import APPS, recv_responses, request, split_responses

pytestmark = pytest.mark.timeout(120)


def _workers(engine: str) -> int:
    return 1 if engine == "inline" else 2


HUGE_SIZE = 5 * 1024**3  # sparse: takes no disk space
HUGE_MARKER_AT = 4 * 1024**3 + 4321
HUGE_MARKER = b"bytes beyond four gibibytes"


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("static")
    (root / "data.bin").write_bytes(os.urandom(300_000))
    (root / "index.html").write_text("<h1>static index</h1>")
    with open(root / "huge.bin", "wb") as f:
        f.truncate(HUGE_SIZE)
        f.seek(HUGE_MARKER_AT)
        f.write(HUGE_MARKER)
    return root


@pytest.fixture(scope="module", params=ENGINES)
def server(request, static_root):
    engine = request.param
    env = {"HTTP_TEST_STATIC": str(static_root)}
    with ServerProcess(APPS, engine=engine, workers=_workers(engine), env=env) as proc:
        yield proc


def connect(server) -> socket.socket:
    sock = socket.create_connection(server.address, timeout=20)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def exchange(server, data: bytes, count: int = 1) -> list:
    with connect(server) as sock:
        sock.sendall(data)
        return split_responses(recv_responses(sock, count))


# ------------------------------------------------------------------ real clients
def test_http_client_keep_alive(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=20)
    try:
        for _ in range(3):
            conn.request("GET", "/plaintext")
            response = conn.getresponse()
            assert response.status == 200 and response.read() == b"Hello, World!"
            assert response.getheader("Server") == "manycore"
        conn.request("POST", "/echo-json", body=b'{"n": 5}', headers={"Content-Type": "x"})
        assert json.loads(conn.getresponse().read()) == {"got": {"n": 5}}
        conn.request("GET", "/json", headers={"Connection": "close"})
        response = conn.getresponse()
        assert response.getheader("Connection") == "close" and response.read()
    finally:
        conn.close()


curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@curl
def test_curl_get_post_and_ranges(server, static_root):
    base = f"http://{server.host}:{server.port}"
    out = subprocess.run(["curl", "-sS", f"{base}/json"], capture_output=True, timeout=30)
    assert out.stdout == b'{"message":"Hello, World!"}'
    big = os.urandom(40_000)  # over 1 KiB: curl sends Expect: 100-continue
    out = subprocess.run(
        ["curl", "-sS", "--data-binary", "@-", f"{base}/echo"],
        input=big,
        capture_output=True,
        timeout=30,
    )
    assert out.stdout == big
    content = (static_root / "data.bin").read_bytes()
    for spec, expected in [
        ("100-199", content[100:200]),
        ("-1000", content[-1000:]),
        ("299000-", content[299000:]),
    ]:
        out = subprocess.run(
            ["curl", "-sS", "-r", spec, f"{base}/assets/data.bin"], capture_output=True, timeout=30
        )
        assert out.stdout == expected, spec
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-r",
            "0-9,200000-200009",
            f"{base}/file/data.bin",
        ],
        capture_output=True,
        timeout=30,
    )
    assert b"206 Partial Content" in out.stdout and b"multipart/byteranges" in out.stdout


@curl
def test_ranges_beyond_four_gib_with_curl(server):
    url = f"http://{server.host}:{server.port}/assets/huge.bin"
    first, last = HUGE_MARKER_AT, HUGE_MARKER_AT + len(HUGE_MARKER) - 1
    out = subprocess.run(
        ["curl", "-sS", "-r", f"{first}-{last}", url], capture_output=True, timeout=30
    )
    assert out.stdout == HUGE_MARKER
    out = subprocess.run(["curl", "-sS", "-I", url], capture_output=True, timeout=30)
    assert f"Content-Length: {HUGE_SIZE}".encode() in out.stdout
    tail = subprocess.run(["curl", "-sS", "-r", "-16", url], capture_output=True, timeout=30).stdout
    assert tail == bytes(16)


# ------------------------------------------------------------------ pipelining and splitting
def test_twenty_pipelined_requests_in_one_write(server):
    data = b"".join(request(f"/items/{i}") for i in range(20))
    got = exchange(server, data, 20)
    assert [b for _, _, b in got] == [b'{"id":%d,"method":"GET"}' % i for i in range(20)]


def test_a_bytearray_body_after_cached_answers_of_its_content_type(server):
    # The first answers of a content type make its small responses cached.
    data = request("/plaintext") * 3 + request("/plaintext-bytearray") + request("/plaintext")
    responses = exchange(server, data, 5)
    assert [(status, body) for status, _, body in responses] == [
        *[(200, b"Hello, World!")] * 3,
        (200, b"Hello, bytearray!"),
        (200, b"Hello, World!"),
    ]
    assert responses[3][1]["connection"] == "keep-alive"


def test_pipelined_async_handlers_answer_in_order(server):
    data = b"".join(request(f"/sleep/{ms}") for ms in (200, 5, 100, 0)) + request("/json")
    got = exchange(server, data, 5)
    assert [b for _, _, b in got] == [
        b'{"slept":200}',
        b'{"slept":5}',
        b'{"slept":100}',
        b'{"slept":0}',
        b'{"message":"Hello, World!"}',
    ]


def test_many_large_answers_pipelined_all_arrive_in_order(server):
    # Large answers make the server stop parsing at a request boundary, wait for
    # the client to read, and go on with the held input: nothing is lost or reordered.
    sizes = [300_000 + i for i in range(30)]
    data = b"".join(request(f"/big/{n}") for n in sizes) + request("/json")
    got = exchange(server, data, len(sizes) + 1)
    assert [len(b) for _, _, b in got[:-1]] == sizes
    assert got[-1][2] == b'{"message":"Hello, World!"}'


def test_request_sent_one_byte_at_a_time(server):
    data = request("/echo", "POST", body=b"byte by byte") + request("/json")
    with connect(server) as sock:
        for i in range(len(data)):
            sock.send(data[i : i + 1])
            if i % 16 == 0:
                time.sleep(0.002)
        got = split_responses(recv_responses(sock, 2))
    assert [b for _, _, b in got] == [b"byte by byte", b'{"message":"Hello, World!"}']


def test_chunked_upload_then_more_requests(server):
    data = (
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n" + request("/plaintext")
    )
    got = exchange(server, data, 2)
    assert [b for _, _, b in got] == [b"hello world", b"Hello, World!"]


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "wire",
    [
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a b c\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
    ],
    ids=["smuggling", "bad-request-line", "tls-on-plain-port"],
)
def test_bad_requests_get_400_and_close_and_the_server_goes_on(server, wire):
    with connect(server) as sock:
        sock.sendall(request("/plaintext") + wire)
        data = recv_responses(sock, 2)
        assert sock.recv(100) == b""  # closed by the server
    got = split_responses(data)
    assert [s for s, _, _ in got] == [200, 400]
    assert exchange(server, request("/json"))[0][0] == 200


def test_handler_failure_is_500_and_the_worker_keeps_serving(server):
    got = exchange(server, request("/boom") + request("/async-boom") + request("/json"), 3)
    assert [s for s, _, _ in got] == [500, 500, 200]
    assert b"secret" not in got[0][2] and b"Traceback" not in got[0][2]
    server.wait_for_log("secret detail that must not leak")  # logged, server side


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(junk=st.binary(min_size=1, max_size=200))
def test_arbitrary_bytes_never_stop_the_server(server, junk):
    with connect(server) as sock:
        sock.sendall(junk)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(20)
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
    assert exchange(server, request("/plaintext"))[0][2] == b"Hello, World!"


# ------------------------------------------------------------------ observability
def stats_since(server, since: float) -> dict:
    """``/stats`` once every worker has published its counters after wall-clock ``since``.

    Workers publish at least once a second; a row's ``age`` dates its publication.
    """
    deadline = time.monotonic() + 20
    while True:
        asked = time.time()  # the server's clock read no earlier than this
        stats = json.loads(exchange(server, request("/stats"))[0][2])
        rows = stats["workers"]
        if len(rows) == _workers(server_engine(server)) and all(
            asked - row["age"] >= since for row in rows
        ):
            return stats
        assert time.monotonic() < deadline, f"workers stopped publishing: {stats}"
        time.sleep(0.05)


def test_stats_counts_requests_across_workers(server):
    exchange(server, b"".join(request("/json") for _ in range(10)), 10)
    stats = stats_since(server, time.time())
    assert len(stats["workers"]) == _workers(server_engine(server))
    assert stats["totals"]["requests"] >= 10
    assert all(w["rss_bytes"] > 0 and w["uptime"] >= 0 for w in stats["workers"])


def server_engine(server) -> str:
    return server.command[server.command.index("--engine") + 1]


# ------------------------------------------------------------------ wrk
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_with_sixteen_deep_pipelining(server, tmp_path):
    script = tmp_path / "pipeline.lua"
    script.write_text(
        "init = function(args)\n"
        "  local r = {}\n"
        "  for i = 1, 16 do r[i] = wrk.format(nil, '/plaintext') end\n"
        "  req = table.concat(r)\n"
        "end\n"
        "request = function() return req end\n"
    )
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            "-c8",
            "-d1s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://{server.host}:{server.port}/",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    requests = int(out.stdout.split(" requests in ")[0].split()[-1])
    assert requests > 100
    assert "Non-2xx" not in out.stdout and "Socket errors" not in out.stdout, out.stdout


# ------------------------------------------------------------------ timeouts and slow clients
@pytest.fixture(scope="module", params=ENGINES)
def strict_server(request, static_root):
    engine = request.param
    env = {
        "HTTP_TEST_STATIC": str(static_root),
        "HTTP_TEST_HEADER_TIMEOUT": "0.6",
        "HTTP_TEST_BODY_TIMEOUT": "0.6",
        "HTTP_TEST_KEEPALIVE_TIMEOUT": "0.6",
        "HTTP_TEST_SEND_TIMEOUT": "1.5",
    }
    with ServerProcess(APPS, engine=engine, workers=_workers(engine), env=env) as proc:
        yield proc


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bytes, float]:
    sock.settimeout(seconds)
    start = time.monotonic()
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data, time.monotonic() - start


def test_slow_clients_are_disconnected(strict_server):
    results = {}

    def slow_headers():  # slowloris: a head that never ends
        with connect(strict_server) as sock:
            sock.sendall(b"GET /plaintext HTTP/1.1\r\nHost: h\r\n")
            for _ in range(3):
                time.sleep(0.3)
                try:
                    sock.sendall(b"X-More: 1\r\n")
                except OSError:
                    break
            results["head"] = _closed_within(sock, 10)

    def stalled_body():
        with connect(strict_server) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc")
            results["body"] = _closed_within(sock, 10)

    def idle_keep_alive():
        with connect(strict_server) as sock:
            sock.sendall(request("/plaintext"))
            results["idle"] = _closed_within(sock, 10)

    threads = [threading.Thread(target=f) for f in (slow_headers, stalled_body, idle_keep_alive)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    head_data, head_time = results["head"]
    assert head_data.startswith(b"HTTP/1.1 408") and head_time < 8
    body_data, body_time = results["body"]
    assert body_data.startswith(b"HTTP/1.1 408") and body_time < 8
    idle_data, idle_time = results["idle"]
    assert idle_data.endswith(b"Hello, World!") and idle_time < 8
    assert exchange(strict_server, request("/json"))[0][0] == 200


def test_client_that_stops_reading_does_not_grow_the_worker(strict_server):
    """Ask for ~200 MB of answers and read none: the worker pauses, then drops the client."""

    def stats() -> dict:
        return stats_since(strict_server, time.time())

    def rss() -> int:
        return max(w["rss_bytes"] for w in stats()["workers"])

    before = rss()
    with connect(strict_server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"".join(request("/big/2000000") for _ in range(100)))
        during = rss()
        assert during - before < 60_000_000, (before, during)
        deadline = time.monotonic() + 20
        while stats()["totals"]["connections_open"] > 1:  # only the /stats one
            assert time.monotonic() < deadline, "the stalled client was never dropped"
    assert exchange(strict_server, request("/json"))[0][0] == 200


def _open_connections(server) -> int:
    totals = stats_since(server, time.time())["totals"]
    return totals["connections_open"] - 1  # not the /stats connection itself


def test_client_that_stops_reading_a_file_is_dropped(strict_server):
    """A file goes out with sendfile, past the write buffer: its progress is watched too."""
    with connect(strict_server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(request("/assets/huge.bin"))  # 4 GiB, never read
        deadline = time.monotonic() + 20
        while _open_connections(strict_server) > 0:
            assert time.monotonic() < deadline, "a client that stopped reading was kept"
    assert exchange(strict_server, request("/json"))[0][0] == 200


def test_slow_but_steady_reader_gets_the_whole_file(strict_server, static_root):
    """Slower than the socket buffers drain for longer than send_timeout, never stalled.

    The file send waits for room in a send buffer of megabytes that this reader empties
    at about 0.5 MB/s: only the kernel's unsent count shows the progress.
    """
    size = 6 << 20
    (static_root / "six.bin").write_bytes(os.urandom(size))
    with connect(strict_server) as sock:
        sock.sendall(request("/assets/six.bin"))
        sock.settimeout(10)
        data = sock.recv(16 * 1024)
        while b"\r\n\r\n" not in data:
            data += sock.recv(16 * 1024)
        head, _, body = data.partition(b"\r\n\r\n")
        received = len(body)
        while received < size:
            chunk = sock.recv(16 * 1024)
            if not chunk:
                break
            received += len(chunk)
            time.sleep(0.03)
    assert head.startswith(b"HTTP/1.1 200")
    assert received == size
