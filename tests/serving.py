"""The server under test for the framework matrix and the conformance suite.

``SERVER_UNDER_TEST`` is the one switch: ``"manycore"`` serves every app with
``python -m manycore serve MODULE:ATTR``; ``"peer"`` serves ASGI apps with uvicorn and
WSGI apps with gunicorn instead, so the suites can be run and checked against servers
known to be right. ``MANYCORE_SERVE_UNDER_TEST`` overrides it for one run.

Peers are started through this file (``python serving.py COMMAND...``): it binds a
listening socket on a free port, prints the ``listening on`` line that
``ServerProcess`` waits for, and executes the peer with the socket's descriptor in
place of ``{fd}``, so no port is ever guessed.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from manycore.testing import ServerProcess

# The one switch (see above): "manycore" or "peer".
SERVER_UNDER_TEST = os.environ.get("MANYCORE_SERVE_UNDER_TEST", "manycore")
if SERVER_UNDER_TEST not in ("manycore", "peer"):
    raise ValueError(f"MANYCORE_SERVE_UNDER_TEST={SERVER_UNDER_TEST!r}: use 'manycore' or 'peer'")

FRAMEWORKS = Path(__file__).resolve().parent / "apps" / "frameworks"


@dataclass(frozen=True)
class App:
    """An application as a user names it to a server, and which interface it speaks."""

    target: str  # MODULE:ATTR, importable from FRAMEWORKS
    interface: str  # "asgi" or "wsgi"


STARLETTE = App("starlette_app:app", "asgi")
FASTAPI = App("fastapi_app:app", "asgi")
DJANGO_ASGI = App("django_site.asgi:application", "asgi")
DJANGO_WSGI = App("django_site.wsgi:application", "wsgi")
FLASK = App("flask_app:app", "wsgi")
IMPORT_COUNT = App("import_count:app", "asgi")
CONFORMANCE_ASGI = App("conformance_asgi:app", "asgi")
CONFORMANCE_WSGI = App("conformance_wsgi:app", "wsgi")


def peer_command(app: App, workers: int = 1) -> list[str]:
    """uvicorn (ASGI) or gunicorn (WSGI) serving ``app`` on the socket ``{fd}``.

    Several ASGI workers run under gunicorn with ``--preload`` and uvicorn's worker,
    the one peer set-up that imports the app once.
    """
    launch = [sys.executable, __file__]
    if app.interface == "asgi" and workers == 1:
        return [
            *launch,
            *(sys.executable, "-m", "uvicorn", app.target, "--fd", "{fd}"),
            *("--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio"),
            *("--log-level", "warning", "--no-access-log"),
        ]
    worker = (
        ("--worker-class", "uvicorn.workers.UvicornWorker", "--preload")
        if app.interface == "asgi"
        else ("--worker-class", "gthread", "--threads", "4")
    )
    return [
        *launch,
        *(sys.executable, "-m", "gunicorn", app.target, "--bind", "fd://{fd}"),
        *("--workers", str(workers), *worker, "--log-level", "warning"),
    ]


def manycore_command(app: App, engine: str, workers: int) -> list[str]:
    return [
        *(sys.executable, "-m", "manycore", "serve", app.target),
        *("--host", "127.0.0.1", "--port", "0", "--engine", engine, "--workers", str(workers)),
    ]


def start(
    app: App,
    *,
    server: str = SERVER_UNDER_TEST,
    engine: str = "processes",
    workers: int = 1,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    """A started ``ServerProcess`` serving ``app`` that has answered an HTTP request."""
    if server == "manycore":
        command = manycore_command(app, engine, workers)
    else:
        command = peer_command(app, workers)
    process = ServerProcess(
        "",
        command=command,
        cwd=FRAMEWORKS,
        env=env,
        ready_timeout=60,
        # uvicorn ends by re-raising SIGTERM; only manycore's exit status is under test.
        expect_exit=0 if server == "manycore" else None,
    )
    process.__enter__()
    try:
        wait_answering(process)
    except BaseException:
        process.stop(check=False)
        raise
    return process


def wait_answering(server: ServerProcess, timeout: float = 60.0) -> None:
    """Wait until ``server`` answers any HTTP request; its log in the error if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
            return
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise RuntimeError(f"server never answered:\n{server.log()}") from None
            time.sleep(0.05)
        finally:
            conn.close()


def _launch(command: list[str]) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.set_inheritable(True)
    fd = str(listener.fileno())
    print(f"peer: listening on http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    os.execvp(command[0], [part.replace("{fd}", fd) for part in command])


if __name__ == "__main__":
    _launch(sys.argv[1:])
