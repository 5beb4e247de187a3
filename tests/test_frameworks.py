"""Real framework apps served over real sockets: Starlette, FastAPI, Django, Flask.

Each test runs on every engine through the ``served`` fixture, which serves the app with
the server ``serving.SERVER_UNDER_TEST`` names: manycore, or the peer (uvicorn for ASGI,
gunicorn for WSGI) that proves the tests themselves. A peer has no engines, so in peer
mode each test runs once, on the first engine of the list.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from frameworks import flask_app, starlette_app
from websockets.sync.client import connect as websocket_connect

import serving
from conftest import ENGINES
from manycore.testing import ServerProcess
from serving import DJANGO_ASGI, DJANGO_WSGI, FASTAPI, FLASK, IMPORT_COUNT, STARLETTE, App

Serve = Callable[..., ServerProcess]


@pytest.fixture
def served() -> Iterator[Serve]:
    """``served(app, engine)``: the app served on that engine, stopped after the test."""
    started: list[ServerProcess] = []

    def serve(
        app: App, engine: str, *, workers: int | None = None, env: dict[str, str] | None = None
    ) -> ServerProcess:
        if serving.SERVER_UNDER_TEST == "peer" and engine != ENGINES[0]:
            pytest.skip(f"the peer server has no engines; it runs once, as {ENGINES[0]}")
        if workers is None:
            workers = 1 if engine == "inline" or serving.SERVER_UNDER_TEST == "peer" else 2
        server = serving.start(app, engine=engine, workers=workers, env=env)
        started.append(server)
        return server

    yield serve
    for server in started:
        server.stop()


def client(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=f"http://{server.host}:{server.port}", timeout=30)


# ---------------------------------------------------------------- Starlette
def test_starlette_routes(served, engine):
    with client(served(STARLETTE, engine)) as http:
        home = http.get("/")
        assert (home.status_code, home.text) == (200, "Hello, Starlette!")
        assert home.headers["content-type"].startswith("text/plain")
        assert http.get("/users/ada", params={"q": "x y"}).json() == {"user": "ada", "q": "x y"}
        assert http.get("/no/such/route").status_code == 404


def test_starlette_streaming_response_arrives_chunked_and_whole(served, engine):
    with client(served(STARLETTE, engine)) as http:
        response = http.get("/stream")
    assert response.status_code == 200
    assert response.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.headers
    assert response.content == starlette_app.STREAM_CHUNK * starlette_app.STREAM_CHUNKS


def test_starlette_file_response_whole_and_ranged(served, engine):
    with client(served(STARLETTE, engine)) as http:
        whole = http.get("/file")
        part = http.get("/file", headers={"Range": "bytes=1000-66535"})
        head = http.head("/file")
    assert whole.status_code == 200
    assert whole.headers["content-length"] == str(len(starlette_app.FILE_CONTENT))
    assert whole.content == starlette_app.FILE_CONTENT
    assert part.status_code == 206
    assert part.content == starlette_app.FILE_CONTENT[1000:66536]
    assert (
        head.headers["content-length"] == str(len(starlette_app.FILE_CONTENT))
        and head.content == b""
    )


def test_starlette_file_response_is_offered_pathsend(served, engine):
    """Starlette's FileResponse sends by ``http.response.pathsend`` when the scope offers it."""
    with client(served(STARLETTE, engine)) as http:
        offered = http.get("/extensions").json()
    if serving.SERVER_UNDER_TEST == "peer":
        pytest.xfail("uvicorn offers no http.response.pathsend")
    assert "http.response.pathsend" in offered


def test_starlette_websocket_echoes_text_and_binary(served, engine):
    server = served(STARLETTE, engine)
    with websocket_connect(f"ws://{server.host}:{server.port}/ws", open_timeout=30) as ws:
        ws.send("hello")
        assert ws.recv(timeout=30) == "echo: hello"
        ws.send(b"\x00\x01\x02")
        assert ws.recv(timeout=30) == b"\x02\x01\x00"
        big = "x" * 200_000
        ws.send(big)
        assert ws.recv(timeout=30) == "echo: " + big


def test_starlette_lifespan_state_reaches_every_request(served, engine):
    with client(served(STARLETTE, engine)) as http:
        states = [http.get("/state").json() for _ in range(8)]
    for state in states:
        assert state["greeting"] == "hello from lifespan"
        # The lifespan ran in the very process that answers (every worker runs its own).
        assert state["started_in"] == state["served_by"]


# ---------------------------------------------------------------- FastAPI
def test_fastapi_pydantic_body_and_dependency(served, engine):
    key = {"X-API-Key": "secret"}
    with client(served(FASTAPI, engine)) as http:
        ok = http.post("/items", json={"name": "tea", "price": 2.5, "quantity": 4}, headers=key)
        invalid = http.post("/items", json={"name": "", "price": -1}, headers=key)
        no_key = http.post("/items", json={"name": "tea", "price": 2.5})
    assert (ok.status_code, ok.json()) == (200, {"name": "tea", "total": 10.0})
    assert invalid.status_code == 422
    assert {e["loc"][-1] for e in invalid.json()["detail"]} == {"name", "price"}
    assert (no_key.status_code, no_key.json()) == (401, {"detail": "missing or wrong X-API-Key"})


def test_fastapi_background_task_runs_after_the_response(served, engine, tmp_path):
    marker = tmp_path / "marker.txt"
    with client(served(FASTAPI, engine)) as http:
        response = http.post("/later", params={"path": str(marker)})
        assert response.json() == {"scheduled": str(marker)}
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert marker.read_text() == "background task ran"


# ---------------------------------------------------------------- Django (ASGI and WSGI)
@pytest.mark.parametrize("site", [DJANGO_ASGI, DJANGO_WSGI], ids=["asgi", "wsgi"])
def test_django_view(served, engine, site):
    with client(served(site, engine)) as http:
        response = http.get("/")
    assert (response.status_code, response.text) == (200, "Hello, Django!")


@pytest.mark.parametrize("site", [DJANGO_ASGI, DJANGO_WSGI], ids=["asgi", "wsgi"])
def test_django_form_post_needs_its_csrf_token(served, engine, site):
    with client(served(site, engine)) as http:
        page = http.get("/form/")
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        assert "csrftoken" in http.cookies
        posted = http.post(
            "/form/",
            data={"csrfmiddlewaretoken": token, "name": "Ada"},
            headers={"Referer": str(http.base_url)},
        )
        http.cookies.clear()
        forged = http.post("/form/", data={"name": "Eve"})
    assert (posted.status_code, posted.json()) == (200, {"name": "Ada"})
    assert forged.status_code == 403


# ---------------------------------------------------------------- Flask
def test_flask_streamed_response(served, engine):
    with client(served(FLASK, engine)) as http:
        with http.stream("GET", "/stream") as response:
            pieces = list(response.iter_raw())
            headers = response.headers
    assert headers.get("transfer-encoding") == "chunked"
    assert b"".join(pieces) == b"".join(b"line %d\n" % n for n in range(flask_app.STREAM_LINES))


def test_flask_send_file(served, engine):
    with client(served(FLASK, engine)) as http:
        response = http.get("/source")
    assert response.status_code == 200
    assert response.content == Path(flask_app.__file__).read_bytes()


def test_flask_file_upload(served, engine):
    document = os.urandom(3 * 1024 * 1024)
    with client(served(FLASK, engine)) as http:
        response = http.post(
            "/upload",
            files={"document": ("report.bin", document, "application/octet-stream")},
            data={"note": "three MiB"},
        )
    assert response.status_code == 200
    assert response.json() == {
        "filename": "report.bin",
        "size": len(document),
        "sha256": hashlib.sha256(document).hexdigest(),
        "note": "three MiB",
    }


# ---------------------------------------------------------------- loaded once
def _serving_pids(server: ServerProcess, wanted: int, timeout: float = 30.0) -> set[int]:
    """The distinct pids that answer, asking on new connections until ``wanted`` have."""
    pids: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(pids) < wanted and time.monotonic() < deadline:
        socks = [socket.create_connection(server.address, timeout=30) for _ in range(16)]
        for sock in socks:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for sock in socks:
            with sock:
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            pids.add(int(data.rpartition(b"\r\n\r\n")[2]))
    return pids


@pytest.mark.parametrize("workers", [4])
def test_app_module_is_imported_once_for_all_workers(served, engine, workers, tmp_path):
    peer = serving.SERVER_UNDER_TEST == "peer"
    if engine == "inline" and not peer:
        pytest.skip("the inline engine runs one worker")
    log = tmp_path / "imports.log"
    server = served(IMPORT_COUNT, engine, workers=workers, env={"FRAMEWORK_IMPORT_LOG": str(log)})
    in_processes = engine == "processes" or peer  # the peer forks its workers
    pids = _serving_pids(server, wanted=workers if in_processes else 1)
    if in_processes:
        assert len(pids) == workers, f"only {sorted(pids)} answered"
    imports = log.read_text().split()
    assert len(imports) == 1, f"imported by {imports}; served by {sorted(pids)}"
    if in_processes:
        assert int(imports[0]) not in pids  # imported by the main process, before the workers
    else:
        assert pids == {int(imports[0])}  # the worker threads live in the importing process
