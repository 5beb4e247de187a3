"""The servers under test, and starting and stopping one pinned to a core.

Each server runs in its own session (so its process group holds it and any workers it
forks), pinned with ``taskset`` before it starts, so every thread and child inherits the
core. It is ready when it answers an HTTP request, not merely when its port accepts a
connection: granian and manycore bind in a supervisor before their worker can answer.

A server that exits or never answers raises ``ServerFailed`` carrying the tail of its own
output, so the runner can skip it with a message that says why.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server on a given port."""

    name: str
    argv: Callable[[int], list[str]]
    description: str
    env: dict[str, str] = field(default_factory=dict)


def _python(*args: str) -> Callable[[int], list[str]]:
    return lambda port: [sys.executable, *args, "--host", HOST, "--port", str(port)]


def _script(name: str, script: str, description: str) -> ServerSpec:
    """A server that is one script of this folder, run with ``--host`` and ``--port``."""
    return ServerSpec(name, _python(str(HERE / script)), description)


SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec(
            "manycore",
            _python(
                "-m",
                "manycore",
                "serve",
                str(HERE / "manycore_app.py") + ":App",
                "--workers",
                "1",
                "--engine",
                "processes",
            ),
            "manycore HttpServer, 1 worker, processes engine",
        ),
        _script("bare", "bare_protocol.py", "asyncio.Protocol + uvloop + httptools (the ceiling)"),
        _script("uvicorn", "peer_uvicorn.py", "uvicorn + uvloop + httptools, bare ASGI app"),
        _script("granian", "peer_granian.py", "granian, bare RSGI app, 1 worker, 1 runtime thread"),
        _script("socketify", "peer_socketify.py", "socketify (uWebSockets), plain handlers"),
    )
}


# ``MANYCORE_BASE_SRC=/path/to/other/checkout/src`` adds "manycore-base": the same app served
# by another version of manycore, so a change is measured against its base in the same run.
# ``MANYCORE_VARIANTS=compiled=/a/src,base-compiled=/b/src`` adds "manycore-compiled" and
# "manycore-base-compiled" the same way (builds of other copies, side by side).
_VARIANTS = [
    ("base", os.environ.get("MANYCORE_BASE_SRC", "")),
    *(
        tuple(item.split("=", 1))
        for item in os.environ.get("MANYCORE_VARIANTS", "").split(",")
        if "=" in item
    ),
]
for _name, _src in _VARIANTS:
    if _src:
        SERVERS[f"manycore-{_name}"] = ServerSpec(
            f"manycore-{_name}",
            SERVERS["manycore"].argv,
            f"manycore from {_src}, same app and options",
            env={"PYTHONPATH": _src},
        )


class ServerFailed(Exception):
    """The server did not start or stopped answering; the message says why."""


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _answers_http(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=2.0)
    try:
        conn.request("GET", "/plaintext")
        conn.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    kept = text.strip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept) or "    (no output)"


class RunningServer:
    """A started server: its port, its log, and the CPU time of its whole process tree."""

    def __init__(self, spec: ServerSpec, proc: subprocess.Popen[bytes], port: int, log: Path):
        self.spec = spec
        self.proc = proc
        self.port = port
        self.log = log
        try:
            self._process: psutil.Process | None = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:  # exited at once; wait_ready reports why
            self._process = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system seconds of the server and every live descendant."""
        total = 0.0
        if self._process is None:
            return total
        try:
            procs = [self._process, *self._process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return total
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def check_alive(self) -> None:
        """Raise ServerFailed if the server has exited."""
        status = self.proc.poll()
        if status is not None:
            raise ServerFailed(
                f"{self.spec.name} exited with status {status}; its last output:\n{_tail(self.log)}"
            )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if _answers_http(self.port):
                return
            time.sleep(0.1)
        raise ServerFailed(
            f"{self.spec.name} did not answer GET /plaintext on port {self.port} within "
            f"{timeout:.0f} s; its last output:\n{_tail(self.log)}"
        )

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the server's process group, then SIGKILL it after ``grace`` seconds."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # Workers left behind by a supervisor that died first.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def running(
    spec: ServerSpec,
    *,
    cpu: str,
    log_dir: Path,
    env: dict[str, str] | None = None,
    ready_timeout: float = 30.0,
) -> Iterator[RunningServer]:
    """Start ``spec`` pinned to ``cpu``, wait until it answers, stop it on exit."""
    port = free_port()
    log = log_dir / f"{spec.name}.log"
    child_env = dict(os.environ)
    # The repository's src/ first, so `python -m manycore` works without installing it.
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "src"), child_env.get("PYTHONPATH", "")) if p
    )
    child_env.update(spec.env)
    child_env.update(env or {})
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["taskset", "-c", cpu, *spec.argv(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env,
            cwd=REPO,
            start_new_session=True,
        )
    server = RunningServer(spec, proc, port, log)
    try:
        server.wait_ready(ready_timeout)
        yield server
    finally:
        server.stop()
