"""--reload: the server runs in a child process and restarts when a .py file changes.

A real file edit, a real server: the answer changes after the edit, a stop signal
ends both processes, and without watchfiles the flag is one clear line.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import psutil
import pytest

APP = textwrap.dedent(
    """
    from manycore.http import HttpServer, route


    class App(HttpServer):
        @route("/")
        def index(self, request):
            return {answer!r}
    """
)


class Reloading:
    """``manycore serve app.py:App --reload`` in its own session, its output collected."""

    def __init__(self, directory, *args: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "manycore",
                "serve",
                "app.py:App",
                "--reload",
                "--engine",
                "inline",
                "--port",
                str(self.port),
                *args,
            ],
            cwd=directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # a process group of its own, as a terminal gives it
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def __enter__(self) -> Reloading:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        self._reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def log(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(re.findall(pattern, self.log())) < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"no {count} x {pattern!r} in:\n{self.log()}")
            time.sleep(0.05)

    def get(self) -> str:
        url = f"http://127.0.0.1:{self.port}/"
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    def stop(self, sig: int, *, group: bool) -> int:
        if group:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        return self.process.wait(60)


def test_an_edit_restarts_the_server_and_ctrl_c_stops_both(tmp_path):
    app = tmp_path / "app.py"
    app.write_text(APP.format(answer="first"))
    with Reloading(tmp_path) as server:
        server.wait_for("listening on")
        assert server.get() == "first"
        child = psutil.Process(server.process.pid).children(recursive=True)
        assert child
        app.write_text(APP.format(answer="second"))
        server.wait_for("listening on", count=2)
        assert server.get() == "second"
        assert "app.py changed; restarting" in server.log()
        assert not any(process.is_running() for process in child)  # the old one ended
        children = psutil.Process(server.process.pid).children(recursive=True)
        assert server.stop(signal.SIGINT, group=True) == 0
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive


def test_sigterm_to_the_reloader_alone_stops_the_server_too(tmp_path):
    (tmp_path / "app.py").write_text(APP.format(answer="one"))
    with Reloading(tmp_path) as server:
        server.wait_for("listening on")
        children = psutil.Process(server.process.pid).children(recursive=True)
        assert children
        assert server.stop(signal.SIGTERM, group=False) == 0
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive


def test_a_module_broken_by_an_edit_is_served_again_once_fixed(tmp_path):
    app = tmp_path / "app.py"
    app.write_text(APP.format(answer="good"))
    with Reloading(tmp_path) as server:
        server.wait_for("listening on")
        app.write_text("this is not python\n")
        server.wait_for("waiting for a change to start it again")
        app.write_text(APP.format(answer="fixed"))
        server.wait_for("listening on", count=2)
        assert server.get() == "fixed"
        assert server.stop(signal.SIGINT, group=True) == 0


def test_reload_without_watchfiles_is_one_line_saying_what_to_install(tmp_path):
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "watchfiles.py").write_text("raise ImportError('no watchfiles here')\n")
    (tmp_path / "app.py").write_text(APP.format(answer="x"))
    result = subprocess.run(
        [sys.executable, "-m", "manycore", "serve", "app.py:App", "--reload"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(hidden)},
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert "pip install 'manycore[reload]'" in result.stderr


@pytest.mark.parametrize("argv", [["--reload-dir", "nowhere"], ["--reload-dir", "app.py"]])
def test_a_reload_dir_that_is_no_directory_is_one_line(tmp_path, argv):
    (tmp_path / "app.py").write_text(APP.format(answer="x"))
    result = subprocess.run(
        [sys.executable, "-m", "manycore", "serve", "app.py:App", "--reload", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"--reload-dir: no such directory: {argv[1]!r}" in result.stderr
