"""WSGI (PEP 3333) through ``manycore.wsgi.asgi_from_wsgi``, over real sockets.

``wsgi_server`` is the one place that says which server runs the adapter: each test only
needs a server serving ``tests/apps/wsgi_apps.py:app`` (and ``:flask_app``) under the root
path ``/mount``, with a log the tests can wait on.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ENGINES, TEST_APPS, connect, recv_all, recv_until
from manycore.testing import ServerProcess
from manycore.wsgi import FileWrapper, asgi_from_wsgi
from manycore.wsgi._environ import base_environ, build_environ, has_body
from manycore.wsgi._input import EMPTY_INPUT, InputStream

ROOT_PATH = "/mount"


def _serve(target: str, engine: str, workers: int = 1) -> ServerProcess:
    """The server under test: ``manycore serve`` running the WSGI app ``target``."""
    return ServerProcess(
        target,
        engine=engine,
        workers=workers,
        args=["--interface", "wsgi", "--root-path", ROOT_PATH],
        cwd=TEST_APPS,
    )


@pytest.fixture(scope="module", params=ENGINES)
def wsgi_server(request) -> Iterator[ServerProcess]:
    with _serve("wsgi_apps:app", request.param) as server:
        yield server


@pytest.fixture(scope="module", params=ENGINES)
def flask_server(request) -> Iterator[ServerProcess]:
    with _serve("wsgi_apps:flask_app", request.param) as server:
        yield server


def _head_end(data: bytes) -> bool:
    return b"\r\n\r\n" in data


def _get(server: ServerProcess, path: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*server.address, timeout=30)
    try:
        conn.request(kwargs.pop("method", "GET"), path, **kwargs)
        response = conn.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        conn.close()


def _exchange(server: ServerProcess, raw: bytes) -> bytes:
    with connect(server.address) as sock:
        sock.sendall(raw)
        return recv_all(sock)


def _dechunk(body: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out += body[:size]
        body = body[size + 2 :]


def _body_of(response: bytes) -> bytes:
    head, _, body = response.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        return _dechunk(body)
    return body


# ---------------------------------------------------------------------------- the environ
def test_environ_holds_every_variable_pep_3333_requires(wsgi_server):
    raw = (
        b"POST /environ?q=1&r=%20 HTTP/1.1\r\nHost: example.test:8080\r\n"
        b"X-Multi: a\r\nX-Multi: b\r\nCookie: one=1\r\nCookie: two=2\r\nX_Forged: yes\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody"
    )
    response = _exchange(wsgi_server, raw)
    assert response.startswith(b"HTTP/1.1 200 ")
    environ = json.loads(_body_of(response))
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["SCRIPT_NAME"] == ROOT_PATH
    assert environ["PATH_INFO"] == "/environ"
    assert environ["QUERY_STRING"] == "q=1&r=%20"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["CONTENT_LENGTH"] == "4"
    assert environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == str(wsgi_server.port)
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert int(environ["REMOTE_PORT"]) > 0
    assert environ["HTTP_HOST"] == "example.test:8080"
    assert environ["HTTP_X_MULTI"] == "a,b"
    assert environ["HTTP_COOKIE"] == "one=1; two=2"
    assert environ["underscored"] == []  # X_Forged could pass for a proxy's X-Forged
    assert environ["wsgi.version"] == [1, 0]
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.multithread"] is True
    assert environ["wsgi.run_once"] is False
    assert environ["input"] == "body"
    wsgi_server.wait_for_log("a line for wsgi.errors")


def test_wsgi_multiprocess_is_true_only_where_other_processes_serve(engine, workers):
    """PEP 3333: multiprocess says whether another process may run the same application."""
    with _serve("wsgi_apps:app", engine, workers) as server:
        status, _, body = _get(server, "/environ")
    environ = json.loads(body)
    assert status == 200 and environ["wsgi.multithread"] is True
    assert environ["wsgi.multiprocess"] is (engine == "processes" and workers > 1)


def _scope(**overrides: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    scope.update(overrides)
    return scope


def _environ_of(scope: dict[str, Any]) -> dict[str, Any]:
    return build_environ(scope, base_environ(multithread=True, multiprocess=False))


def test_path_info_is_the_decoded_bytes_as_latin_1():
    environ = _environ_of(
        _scope(path="/app/café\ufffd", raw_path=b"/app/caf%C3%A9%FF", root_path="/app")
    )
    assert environ["SCRIPT_NAME"] == "/app"
    assert environ["PATH_INFO"] == "/caf\xc3\xa9\xff"


def test_path_info_without_raw_path_encodes_the_path_as_utf_8():
    environ = _environ_of(_scope(path="/café", raw_path=None))
    assert environ["PATH_INFO"] == "/caf\xc3\xa9"


def test_root_path_is_stripped_only_at_a_segment_boundary():
    scope = _scope(path="/apiary", raw_path=b"/apiary", root_path="/api")
    assert _environ_of(scope)["PATH_INFO"] == "/apiary"
    scope = _scope(path="/api", raw_path=b"/api", root_path="/api")
    assert _environ_of(scope)["PATH_INFO"] == ""


def test_a_server_without_a_port_gives_an_empty_server_port():
    environ = _environ_of(_scope(server=("/run/app.sock", None), client=None))
    assert environ["SERVER_NAME"] == "/run/app.sock"
    assert environ["SERVER_PORT"] == ""
    assert "REMOTE_ADDR" not in environ


# --------------------------------------------------------------------------- wsgi.input
def test_an_upload_is_read_in_pieces_before_it_is_complete(wsgi_server):
    with connect(wsgi_server.address) as sock:
        sock.sendall(
            b"POST /pieces HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n"
            b"Connection: close\r\n\r\nhello"
        )
        wsgi_server.wait_for_log("first piece b'hello'")
        sock.sendall(b"world")
        response = recv_all(sock)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert _body_of(response) == b"hello|world"


def test_a_chunked_upload_is_read_in_pieces_before_it_is_complete(wsgi_server):
    with connect(wsgi_server.address) as sock:
        sock.sendall(
            b"POST /pieces HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n3\r\nhel\r\n"
        )
        sock.sendall(b"3\r\nLO \r\n")
        wsgi_server.wait_for_log("first piece b'helLO'")
        sock.sendall(b"4\r\nmore\r\n0\r\n\r\n")
        response = recv_all(sock)
    assert _body_of(response) == b"helLO| more"


LINES_BODY = b"first line\nsecond line\n\nfourth\nlast without newline"


def _lines_reference(data: bytes) -> list[bytes]:
    body = io.BytesIO(data)
    seen = [body.readline(), body.readline(3), body.readline()]
    seen += body.readlines(1)
    seen += list(body)
    return seen


def test_readline_readlines_and_iteration_over_the_wire(wsgi_server):
    with connect(wsgi_server.address) as sock:
        sock.sendall(
            b"POST /lines HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            + f"Content-Length: {len(LINES_BODY)}\r\n\r\n".encode()
        )
        for index in range(len(LINES_BODY)):  # byte by byte
            sock.sendall(LINES_BODY[index : index + 1])
        response = recv_all(sock)
    assert _body_of(response) == repr(_lines_reference(LINES_BODY)).encode()


def _pieces_source(pieces: list[bytes]):
    remaining = list(pieces)

    def source() -> tuple[bytes, bool]:
        return remaining.pop(0), bool(remaining[1:])

    return source


def _splits(data: bytes) -> Iterator[list[bytes]]:
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    for cut in range(len(data) + 1):
        yield [data[:cut], data[cut:]]


@pytest.mark.parametrize("data", [LINES_BODY, b"", b"\n\n\n", b"no newline at all"])
def test_the_input_reads_like_a_binary_file_however_the_body_is_split(data):
    expected = _lines_reference(data)
    for pieces in _splits(data):
        body = InputStream(_pieces_source([*pieces, b""]))
        seen = [body.readline(), body.readline(3), body.readline()]
        seen += body.readlines(1)
        seen += list(body)
        assert seen == expected, pieces
        for size in (1, 3, 7, 100):
            body = InputStream(_pieces_source([*pieces, b""]))
            reference = io.BytesIO(data)
            while chunk := body.read(size):
                assert chunk == reference.read(size), (pieces, size)
            assert reference.read() == b""
        body = InputStream(_pieces_source([*pieces, b""]))
        assert body.read(4) + body.read() + body.read() == data


_READS = st.lists(
    st.tuples(st.sampled_from(["read", "readline", "readlines"]), st.integers(-1, 12)),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=60).map(lambda b: b.replace(b"\x00", b"\n")),
    cuts=st.lists(st.integers(0, 60), max_size=6),
    reads=_READS,
)
def test_any_sequence_of_reads_matches_a_binary_file(data, cuts, reads):
    points = sorted({min(cut, len(data)) for cut in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    body = InputStream(_pieces_source([*pieces, b""]))
    reference = io.BytesIO(data)
    for method, size in reads:
        assert getattr(body, method)(size) == getattr(reference, method)(size), (method, size)
    assert body.read() == reference.read()


def test_a_request_without_a_body_gets_an_input_at_its_end():
    assert not has_body({})
    assert not has_body({"CONTENT_LENGTH": "0"})
    assert has_body({"CONTENT_LENGTH": "1"})
    assert has_body({"HTTP_TRANSFER_ENCODING": "chunked"})
    assert EMPTY_INPUT.read() == EMPTY_INPUT.read(5) == EMPTY_INPUT.readline() == b""
    assert EMPTY_INPUT.readlines() == list(EMPTY_INPUT) == []


def test_an_upload_the_client_abandons_raises_oserror_in_the_app(wsgi_server):
    with connect(wsgi_server.address) as sock:
        sock.sendall(
            b"POST /upload-then-gone HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npart"
        )
    wsgi_server.wait_for_log("upload failed: ClientDisconnected")


# ------------------------------------------------------------------------------ output
def test_the_write_callable_sends_before_the_returned_body(wsgi_server):
    status, _, body = _get(wsgi_server, "/write")
    assert (status, body) == (200, b"written then returned")


def test_exc_info_before_any_body_replaces_the_status(wsgi_server):
    status, _, body = _get(wsgi_server, "/exc-info-before")
    assert (status, body) == (503, b"replaced")


def test_exc_info_after_the_head_was_sent_reraises_and_ends_the_response(wsgi_server):
    response = _exchange(
        wsgi_server, b"GET /exc-info-after HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    assert response.startswith(b"HTTP/1.1 200 ")
    assert b"partial " in response
    assert b"never" not in response
    assert not response.endswith(b"0\r\n\r\n")  # cut short, not a complete chunked body
    log = wsgi_server.wait_for_log("ValueError: exc-info-after-headers")
    assert "Traceback" in log


def test_start_response_twice_without_exc_info_is_a_500(wsgi_server):
    status, _, _ = _get(wsgi_server, "/twice")
    assert status == 500
    wsgi_server.wait_for_log("start_response() called a second time without exc_info")


def test_an_exception_before_start_response_is_a_500_with_the_traceback_logged(wsgi_server):
    status, _, _ = _get(wsgi_server, "/raise")
    assert status == 500
    log = wsgi_server.wait_for_log("LookupError: raised-before-start-response")
    assert "wsgi_apps.py" in log  # the user's own frame is in the traceback


def test_file_wrapper_sends_the_file(wsgi_server, tmp_path):
    data = os.urandom(300_000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    status, _, body = _get(wsgi_server, f"/file?{path}")
    assert status == 200
    assert body == data


# ------------------------------------------------------------------------------ close()
def test_close_is_called_on_success(wsgi_server):
    status, _, body = _get(wsgi_server, "/closing")
    assert (status, body) == (200, b"one two")
    wsgi_server.wait_for_log("closed on-success")


def test_close_is_called_when_iteration_fails(wsgi_server):
    response = _exchange(
        wsgi_server, b"GET /failing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    assert response.startswith(b"HTTP/1.1 200 ")
    wsgi_server.wait_for_log("closed on-error")
    wsgi_server.wait_for_log("RuntimeError: iteration-failed")


def test_close_is_called_when_the_client_disconnects(wsgi_server):
    with connect(wsgi_server.address) as sock:
        sock.sendall(b"GET /endless HTTP/1.1\r\nHost: t\r\n\r\n")
        assert recv_until(sock, lambda data: len(data) > 200_000)
    wsgi_server.wait_for_log("closed on-disconnect", timeout=30)


def _produced(server: ServerProcess) -> int:
    return int(_get(server, "/produced")[2])


def test_a_slow_reader_holds_a_large_response_back(wsgi_server):
    total = 512 * 1024 * 1024
    _get(wsgi_server, "/reset")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.settimeout(30)
        sock.connect(wsgi_server.address)
        sock.sendall(f"GET /large?{total} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        received = len(recv_until(sock, lambda data: len(data) > 100_000))
        # Wait for the application to stop producing, then check it stopped early.
        deadline = time.monotonic() + 60
        last, steady_since = -1, time.monotonic()
        while time.monotonic() - steady_since < 1.0:
            assert time.monotonic() < deadline, "the application never stopped producing"
            now = _produced(wsgi_server)
            if now != last:
                last, steady_since = now, time.monotonic()
            time.sleep(0.05)
        assert last - received < 32 * 1024 * 1024, f"{last} bytes produced, {received} read"
        while received < total:  # then the rest arrives, complete
            chunk = sock.recv(1 << 20)
            assert chunk
            received += len(chunk)
    wsgi_server.wait_for_log("closed large")


# ------------------------------------------------------------------------------- Flask
def test_flask_streams_a_response(flask_server):
    response = _exchange(
        flask_server, b"GET /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    assert response.startswith(b"HTTP/1.1 200 ")
    assert _body_of(response) == b"".join(f"line {n}\n".encode() for n in range(5))


def test_flask_receives_a_file_upload(flask_server):
    document = os.urandom(200_000)
    boundary = "manycore-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nreport\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="document";'
            ' filename="report.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + document
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, _, answer = _get(
        flask_server,
        "/upload",
        method="POST",
        body=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert status == 200
    assert json.loads(answer) == {
        "filename": "report.bin",
        "size": len(document),
        "head": document[:16].decode("latin-1"),
        "title": "report",
    }


def test_flask_sends_a_file(flask_server, tmp_path):
    data = os.urandom(500_000)
    path = tmp_path / "download.bin"
    path.write_bytes(data)
    status, headers, body = _get(flask_server, f"/download?path={path}")
    assert headers["content-length"] == str(len(data))
    assert status == 200
    assert body == data


# ----------------------------------------------------- the adapter without a real server
class _Recorder:
    """An ASGI server's side of one request, in memory: the body it gives, what it is sent."""

    def __init__(self, body: bytes = b"", extensions: dict[str, Any] | None = None) -> None:
        self.scope = _scope(extensions=extensions or {})
        if body:
            self.scope["headers"] = [(b"content-length", str(len(body)).encode())]
        self._body: bytes | None = body
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self._body is None:  # as a server does, wait for the client to go away
            await asyncio.get_running_loop().create_future()
        body, self._body = self._body, None
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def _call(app: Any, recorder: _Recorder, threads: int = 2) -> list[dict[str, Any]]:
    asyncio.run(
        asgi_from_wsgi(app, threads=threads)(recorder.scope, recorder.receive, recorder.send)
    )
    return recorder.sent


def _file_app(path: Path, offset: int = 0, length: int | None = None):
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        headers = [("Content-Type", "application/octet-stream")]
        if length is not None:
            headers.append(("Content-Length", str(length)))
        start_response("200 OK", headers)
        file = open(path, "rb")  # noqa: SIM115
        file.seek(offset)
        return environ["wsgi.file_wrapper"](file)

    return app


def test_a_whole_regular_file_goes_by_pathsend(tmp_path):
    path = tmp_path / "whole.bin"
    path.write_bytes(b"0123456789")
    sent = _call(_file_app(path), _Recorder(extensions={"http.response.pathsend": {}}))
    assert sent[0]["type"] == "http.response.start"
    assert (b"content-length", b"10") in sent[0]["headers"]
    assert sent[1] == {"type": "http.response.pathsend", "path": str(path)}
    assert len(sent) == 2


@pytest.mark.parametrize(
    ("offset", "length", "extensions", "expected"),
    [
        (3, None, {"http.response.pathsend": {}}, b"3456789"),  # not at offset 0
        (0, 4, {"http.response.pathsend": {}}, b"0123456789"),  # the app means a part
        (0, None, {}, b"0123456789"),  # the server has no pathsend
    ],
)
def test_any_other_wrapped_file_is_read_in_blocks(tmp_path, offset, length, extensions, expected):
    path = tmp_path / "part.bin"
    path.write_bytes(b"0123456789")
    sent = _call(_file_app(path, offset, length), _Recorder(extensions=extensions))
    assert all(message["type"] != "http.response.pathsend" for message in sent)
    assert b"".join(m.get("body", b"") for m in sent[1:]) == expected
    assert sent[-1]["more_body"] is False


def test_file_wrapper_closes_its_file():
    file = io.BytesIO(b"abc")
    wrapper = FileWrapper(file, 2)
    assert list(wrapper) == [b"ab", b"c"]
    wrapper.close()
    assert file.closed


def test_a_list_result_is_one_body_message():
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"Hello, ", b"World!"]

    sent = _call(app, _Recorder())
    assert sent == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        },
        {"type": "http.response.body", "body": b"Hello, World!", "more_body": False},
    ]


def test_an_invalid_status_is_an_application_error():
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("OK", [])
        return [b""]

    with pytest.raises(ValueError, match="status must be a str like '200 OK'"):
        _call(app, _Recorder())


def test_no_thread_exists_before_the_first_request_and_the_pool_is_bounded():
    before = threading.active_count()
    running = 0
    most = 0
    lock = threading.Lock()
    release = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(30)
        with lock:
            running -= 1
        start_response("200 OK", [])
        return [b"ok"]

    adapter = asgi_from_wsgi(app, threads=3)
    assert threading.active_count() == before

    async def many() -> None:
        recorders = [_Recorder() for _ in range(10)]
        calls = [asyncio.ensure_future(adapter(r.scope, r.receive, r.send)) for r in recorders]
        deadline = time.monotonic() + 30
        while most < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(*calls)
        assert all(r.sent[-1]["body"] == b"ok" for r in recorders)

    asyncio.run(many())
    assert most == 3


def test_each_thread_that_serves_has_its_own_pool():
    """The threads engine runs a loop per worker thread: each gets its own pool."""
    served_by: dict[str, set[threading.Thread]] = {"a": set(), "b": set()}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        served_by[environ["QUERY_STRING"]].add(threading.current_thread())
        start_response("200 OK", [])
        return [b""]

    adapter = asgi_from_wsgi(app, threads=2)

    def serve(name: str) -> None:
        async def requests() -> None:
            for _ in range(20):
                recorder = _Recorder()
                recorder.scope["query_string"] = name.encode()
                await adapter(recorder.scope, recorder.receive, recorder.send)

        asyncio.run(requests())

    workers = [threading.Thread(target=serve, args=(name,)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert served_by["a"] and served_by["b"]
    assert not served_by["a"] & served_by["b"]
    assert len(served_by["a"]) <= 2 and len(served_by["b"]) <= 2


def test_lifespan_is_acknowledged_and_shutdown_ends_the_pool():
    served_by: list[threading.Thread] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        served_by.append(threading.current_thread())
        start_response("200 OK", [])
        return [b""]

    adapter = asgi_from_wsgi(app, threads=1)

    async def lifetime() -> list[dict[str, Any]]:
        events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if sent and sent[-1]["type"] == "lifespan.startup.complete" and not served_by:
                recorder = _Recorder()
                await adapter(recorder.scope, recorder.receive, recorder.send)
            return next(events)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await adapter({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        return sent

    sent = asyncio.run(lifetime())
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    served_by[0].join(30)
    assert not served_by[0].is_alive()


def test_a_websocket_is_refused():
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    adapter = asgi_from_wsgi(lambda environ, start_response: [], threads=1)
    asyncio.run(adapter({"type": "websocket", "path": "/"}, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1000}]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (b"body", "must return an iterable of bytes such as \\[body\\], not bytes"),
        (None, "must return an iterable of bytes such as \\[body\\], not NoneType"),
        (iter(["text"]), "must yield bytes, not str"),
    ],
)
def test_a_result_that_is_not_bytes_is_a_clear_application_error(result, message):
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        return result

    with pytest.raises(TypeError, match=message):
        _call(app, _Recorder())


def test_100_continue_is_asked_for_only_when_the_app_reads_the_body(wsgi_server):
    head = b"Host: t\r\nContent-Length: 10\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    with connect(wsgi_server.address) as sock:
        sock.sendall(b"POST /pieces HTTP/1.1\r\n" + head)
        interim = recv_until(sock, _head_end)
        assert interim.startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"helloworld")
        response = recv_all(sock)
    assert _body_of(response) == b"hello|world"
    with connect(wsgi_server.address) as sock:
        sock.sendall(b"POST /write HTTP/1.1\r\n" + head)
        response = recv_all(sock)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert b" 100 " not in response.split(b"\r\n", 1)[0]


def test_system_exit_in_an_application_is_an_application_error():
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise SystemExit(3)

    with pytest.raises(RuntimeError, match="the WSGI application raised SystemExit"):
        _call(app, _Recorder())


def test_close_is_called_on_a_result_that_cannot_be_iterated():
    closed = []

    class NotIterable:
        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        return NotIterable()

    with pytest.raises(TypeError, match="not NotIterable"):
        _call(app, _Recorder())
    assert closed == [True]


@pytest.mark.parametrize(
    ("app", "threads", "error", "message"),
    [
        ("app", 1, TypeError, "a WSGI application is a callable, not str"),
        (lambda environ, start_response: [], 0, ValueError, "threads must be at least 1, not 0"),
    ],
)
def test_a_bad_adapter_argument_is_refused_with_a_clear_error(app, threads, error, message):
    with pytest.raises(error, match=message):
        asgi_from_wsgi(app, threads=threads)


class _ClosingResult:
    def __init__(self, chunks: Iterator[bytes], closed: list[bool]) -> None:
        self._chunks = chunks
        self._closed = closed

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._closed.append(True)


class _GoneRecorder(_Recorder):
    """A server whose client has gone: its send raises, as the ASGI spec lets it."""

    async def send(self, message: dict[str, Any]) -> None:
        raise ConnectionResetError("the client has gone")


@pytest.mark.parametrize("streamed", [False, True])
def test_a_send_that_fails_for_a_gone_client_ends_the_request_quietly(streamed):
    closed = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        if not streamed:
            return [b"whole"]
        return _ClosingResult(iter([b"a", b"b"] * 1000), closed)

    _call(app, _GoneRecorder())  # no exception reaches the server
    assert closed == ([True] if streamed else [])


FORK_CHECK = """
import asyncio, os, signal, sys, threading
from manycore.wsgi import asgi_from_wsgi

def app(environ, start_response):
    start_response("200 OK", [])
    return [threading.current_thread().name.encode()]

adapter = asgi_from_wsgi(app, threads=1)

def serve_one():
    sent = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [],
             "server": ("127.0.0.1", 80)}
    asyncio.run(adapter(scope, receive, send))
    return sent[-1]["body"]

assert serve_one() == b"manycore-wsgi-1"
pid = os.fork()
if pid == 0:  # the parent's pool thread did not survive the fork: a new pool serves
    signal.alarm(30)  # a child that hangs ends instead of outliving the test
    os._exit(0 if serve_one() == b"manycore-wsgi-1" else 1)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_forked_child_makes_its_own_pool():
    done = subprocess.run(
        [sys.executable, "-c", FORK_CHECK], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
