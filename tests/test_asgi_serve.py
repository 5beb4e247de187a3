"""``manycore serve MODULE:ATTR`` for ASGI applications: detection, lifespan, one import."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time

import pytest

from conftest import TEST_APPS
from manycore.asgi import detect_interface
from manycore.http import HttpServer
from manycore.testing import ServerProcess

pytestmark = pytest.mark.timeout(120)

APPS = str(TEST_APPS / "asgi_apps.py")


def get(server, path: str = "/") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*server.address, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "manycore", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_the_interface_is_detected_from_the_object():
    import asgi_apps

    class Protocol:
        def data_received(self, transport, data):
            return data

    class Site(HttpServer):
        pass

    assert detect_interface(asgi_apps.app) == "asgi"
    assert detect_interface(asgi_apps.instance_app) == "asgi"
    assert detect_interface(asgi_apps.Asgi2App) == "asgi2"
    assert detect_interface(asgi_apps.wsgi_app) == "wsgi"
    assert detect_interface(Protocol) == "protocol"
    assert detect_interface(Site) == "protocol"
    assert detect_interface(42) == "unknown"


@pytest.mark.parametrize(
    ("attr", "args", "body"),
    [
        ("instance_app", (), b"from an instance"),
        ("make_app", ("--factory",), b"from an instance"),
        ("no_lifespan", (), b"served without lifespan"),
        ("no_lifespan", ("--lifespan", "off"), b"served without lifespan"),
        ("app", ("--interface", "asgi"), b"Hello, World!"),
    ],
)
def test_asgi_applications_are_served(engine, attr, args, body):
    workers = 1 if engine == "inline" else 2
    with ServerProcess(f"{APPS}:{attr}", engine=engine, workers=workers, args=args) as server:
        assert get(server) == (200, body)


def test_a_failed_startup_is_one_line_and_a_failed_exit(engine):
    workers = 1 if engine == "inline" else 2
    result = serve(f"{APPS}:failing_startup", "--engine", engine, "--workers", str(workers))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "the database is not there" in line]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "attempt" not in result.stderr
    assert "WARNING" not in result.stderr and "ERROR" not in result.stderr


def test_lifespan_on_requires_an_app_that_supports_it(engine):
    result = serve(f"{APPS}:no_lifespan", "--engine", engine, "--lifespan", "on")
    assert result.returncode != 0
    assert "lifespan startup failed" in result.stderr and "unsupported scope" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_asgi2_app_is_one_line_saying_so():
    result = serve(f"{APPS}:Asgi2App")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "ASGI 2 (double-callable)" in result.stderr


def test_something_that_is_no_application_is_one_line():
    result = serve(f"{APPS}:IMPORTS")
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_wsgi_without_the_wsgi_layer_is_one_line():
    try:
        import manycore.wsgi  # noqa: F401
    except ImportError:
        result = serve(f"{APPS}:wsgi_app")
        assert result.returncode == 2 and result.stderr.count("\n") == 1
        assert "WSGI" in result.stderr
    else:
        pytest.skip("the WSGI layer is present")


def test_the_app_module_is_imported_once_with_four_workers(tmp_path):
    imports = tmp_path / "imports"
    env = {"ASGI_TEST_IMPORTS": str(imports)}
    with ServerProcess(f"{APPS}:app", engine="processes", workers=4, env=env) as server:
        for _ in range(8):
            assert get(server)[0] == 200
    assert len(imports.read_text().split()) == 1


def test_lifespan_shutdown_runs_in_every_worker(engine, tmp_path):
    workers = 1 if engine == "inline" else 2
    env = {"ASGI_TEST_MARKERS": str(tmp_path)}
    with ServerProcess(f"{APPS}:app", engine=engine, workers=workers, env=env) as server:
        assert get(server)[0] == 200
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("startup-*"))) < workers:  # every worker started
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.02)
    shutdowns = sorted(tmp_path.glob("shutdown-*"))
    assert len(shutdowns) == workers
