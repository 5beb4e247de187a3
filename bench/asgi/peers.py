"""The servers measured, and the command that starts each on an app.

Every server runs one worker process in the foreground, pinned to one core by the runner
(``bench/http/servers.py`` starts, pins and stops it), with access logs off and the event
loop and HTTP parser each one's fastest. A server that cannot run an app's interface has
no command for it and is left out of that row.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class BenchApp:
    """An application as ``MODULE:ATTR`` in ``apps/``, and its interface."""

    name: str
    module: str
    interface: str  # "asgi" or "wsgi"
    description: str

    @property
    def target(self) -> str:
        return f"{self.module}:app"


APPS_BY_NAME = {
    app.name: app
    for app in (
        BenchApp("bare", "bare_app", "asgi", "bare ASGI app"),
        BenchApp("starlette", "starlette_app", "asgi", "Starlette route"),
        BenchApp("fastapi", "fastapi_app", "asgi", "FastAPI route, pydantic model"),
        BenchApp("flask", "flask_app", "wsgi", "Flask hello (WSGI)"),
    )
}

Command = Callable[[BenchApp, int], list[str] | None]


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def manycore(app: BenchApp, port: int) -> list[str]:
    return _python(
        *("-m", "manycore", "serve", f"{APPS / app.module}.py:app"),
        *("--host", HOST, "--port", str(port), "--workers", "1", "--engine", "processes"),
    )


def uvicorn(app: BenchApp, port: int) -> list[str] | None:
    if app.interface != "asgi":
        return None  # uvicorn's WSGI adapter is deprecated; gunicorn is the WSGI peer
    return _python(
        *("-m", "uvicorn", app.target, "--app-dir", str(APPS)),
        *("--host", HOST, "--port", str(port), "--loop", "uvloop", "--http", "httptools"),
        *("--ws", "websockets-sansio", "--no-access-log", "--log-level", "warning"),
    )


def granian(app: BenchApp, port: int) -> list[str]:
    # The Rust task implementation is granian's fastest, and exists before CPython 3.12.
    task = ["--task-impl", "rust"] if sys.version_info < (3, 12) else []
    blocking = ["--blocking-threads", "8"] if app.interface == "wsgi" else []
    return _python(
        *("-m", "granian", "--interface", app.interface, "--working-dir", str(APPS)),
        *("--host", HOST, "--port", str(port), "--workers", "1", "--runtime-threads", "1"),
        *("--loop", "uvloop", "--http", "1", "--no-access-log", "--log-level", "warning"),
        *task,
        *blocking,
        app.target,
    )


def socketify(app: BenchApp, port: int) -> list[str] | None:
    if app.interface != "asgi":
        return None
    return _python(
        *("-m", "socketify", app.target, "--interface", "asgi"),
        *("--host", HOST, "--port", str(port), "--workers", "1", "--disable-listen-log", "true"),
    )


def hypercorn(app: BenchApp, port: int) -> list[str] | None:
    if app.interface != "asgi":
        return None  # hypercorn's WSGI mode is an adapter on the ASGI server
    return _python(
        *("-m", "hypercorn", app.target, "--bind", f"{HOST}:{port}"),
        *("--worker-class", "uvloop", "--workers", "1"),
    )


def gunicorn(app: BenchApp, port: int) -> list[str]:
    worker = (
        ["--worker-class", "uvicorn.workers.UvicornWorker"]
        if app.interface == "asgi"
        else ["--worker-class", "gthread", "--threads", "8"]
    )
    return _python(
        *("-m", "gunicorn", app.target, "--chdir", str(APPS), "--bind", f"{HOST}:{port}"),
        *("--workers", "1", *worker, "--log-level", "warning"),
    )


def bare_protocol(app: BenchApp, port: int) -> list[str] | None:
    """bench/http's asyncio.Protocol on uvloop + httptools: no app at all, the ceiling."""
    if app.name != "bare":
        return None
    script = HERE.parent / "http" / "bare_protocol.py"
    return _python(str(script), "--host", HOST, "--port", str(port))


# Servers that are not peers: shown for scale, left out of "manycore ÷ best peer".
CEILINGS = {"bare-protocol"}
# Servers without WebSocket support.
NO_WEBSOCKET = {"bare-protocol"}

SERVERS: dict[str, tuple[Command, str]] = {
    "manycore": (manycore, "manycore serve, 1 worker, processes engine"),
    "uvicorn": (uvicorn, "uvicorn, uvloop + httptools"),
    "granian": (granian, "granian --interface asgi/wsgi, 1 worker, 1 runtime thread"),
    "socketify": (socketify, "socketify, ASGI mode"),
    "hypercorn": (hypercorn, "hypercorn, uvloop worker"),
    "gunicorn": (gunicorn, "gunicorn, uvicorn worker (ASGI) or gthread (WSGI)"),
    "bare-protocol": (bare_protocol, "asyncio.Protocol + uvloop + httptools, no app"),
}
