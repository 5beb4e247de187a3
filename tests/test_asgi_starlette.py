"""A Starlette application over real sockets on every engine (FileResponse goes by pathsend)."""

from __future__ import annotations

import http.client
import json
import os

import pytest

from conftest import TEST_APPS
from manycore.testing import ServerProcess

pytest.importorskip("starlette")
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("starlette") / "data.bin"
    path.write_bytes(os.urandom(200_000))
    return path


def get(server, path, method="GET", body=None):
    conn = http.client.HTTPConnection(*server.address, timeout=10)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        conn.close()


def test_starlette_routes_stream_files_and_lifespan_state(engine, data_file):
    workers = 1 if engine == "inline" else 2
    target = str(TEST_APPS / "asgi_starlette.py") + ":app"
    env = {"ASGI_TEST_FILE": str(data_file)}
    with ServerProcess(target, engine=engine, workers=workers, env=env) as server:
        assert get(server, "/")[2] == b"Hello, World!"
        assert json.loads(get(server, "/items/7?q=x")[2]) == {"id": 7, "q": "x"}
        assert json.loads(get(server, "/echo", "POST", b"x" * 300_000)[2]) == {"size": 300_000}
        status, headers, body = get(server, "/stream")
        assert (status, body) == (200, b"part0;part1;part2;")
        status, headers, body = get(server, "/file")
        assert status == 200 and body == data_file.read_bytes()
        assert headers["content-length"] == str(len(body))
        assert get(server, "/nowhere")[0] == 404
        for _ in range(4):
            state = json.loads(get(server, "/state")[2])
            assert state["opened_in"] == state["pid"]  # each worker ran the lifespan


def test_starlette_file_response_goes_by_pathsend(data_file, monkeypatch):
    from asgi_helpers import Connection, parse_responses

    monkeypatch.setenv("ASGI_TEST_FILE", str(data_file))
    import asgi_starlette

    conn = Connection(asgi_starlette.app, task_per_request=True)
    try:
        conn.send(b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.run_until(lambda: conn.transport.files)
        [(status, _, body)] = parse_responses(conn.take())
        assert status == 200 and body == data_file.read_bytes()
        assert [nbytes for _, _, nbytes in conn.transport.files] == [len(body)]
    finally:
        conn.close()
