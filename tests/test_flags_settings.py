"""Settings that reach the served class: --timeout-keep-alive, --access-log,
--limit-concurrency, --root-path (and --proxy-headers, in test_flags_proxy.py).

Each reaches the class as the attribute of the same meaning, without changing
the user's class, and shows in what a client sees over a real socket.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys

import pytest

from conftest import TEST_APPS, recv_all, recv_until
from manycore.commands.settings import SERVED_CLASS_SETTINGS, RunSettings, add_run_options
from manycore.commands.usage import Parser
from manycore.http import HttpServer, Request, route
from manycore.testing import FakeClock, ServerProcess

ECHO = f"{TEST_APPS / 'flags_apps.py'}:Echo"
LOGGED = f"{TEST_APPS / 'flags_apps.py'}:Logged"


def request(sock: socket.socket, target: str, close: bool = False) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n{connection}\r\n".encode())
    head = recv_until(sock, lambda data: b"\r\n\r\n" in data)
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    body_start = head.index(b"\r\n\r\n") + 4
    rest = recv_until(sock, lambda data: len(data) >= length - len(head[body_start:]))
    return head + rest


def settings_of(server: ServerProcess) -> dict[str, object]:
    with socket.create_connection(server.address, timeout=10) as sock:
        return json.loads(request(sock, "/settings", close=True).partition(b"\r\n\r\n")[2])


def test_the_served_class_gets_the_settings_and_the_users_class_is_untouched():
    class App(HttpServer):
        keepalive_timeout = 20.0

    settings = RunSettings(timeout_keep_alive=2.5, access_log=True, root_path="/api")
    served = settings.served_class(App)
    assert issubclass(served, App)
    assert (served.__name__, served.__qualname__, served.__module__) == (
        App.__name__,
        App.__qualname__,
        App.__module__,
    )
    assert {name: getattr(served, name) for name in SERVED_CLASS_SETTINGS} == {
        "keepalive_timeout": 2.5,
        "access_log": True,
        "limit_concurrency": None,
        "root_path": "/api",
        "proxy_headers": False,
        "forwarded_allow_ips": "127.0.0.1",
    }
    assert (App.keepalive_timeout, App.access_log, App.root_path) == (20.0, False, "")


def test_settings_left_to_their_defaults_keep_the_classs_own():
    served = RunSettings().served_class(type("App", (HttpServer,), {"keepalive_timeout": 20.0}))
    assert (served.keepalive_timeout, served.access_log) == (20.0, False)


def test_timeout_keep_alive_closes_an_idle_connection(engine, workers):
    args = ["--timeout-keep-alive", "0.5"]
    with ServerProcess(ECHO, engine=engine, workers=workers, args=args) as server:
        assert settings_of(server)["keepalive_timeout"] == 0.5
        with socket.create_connection(server.address, timeout=20) as sock:
            assert request(sock, "/hello").endswith(b"hello")
            assert recv_all(sock) == b""  # the server closed the idle connection


def test_access_log_writes_one_common_log_format_line_per_request(engine, workers):
    with ServerProcess(ECHO, engine=engine, workers=workers, args=["--access-log"]) as server:
        with socket.create_connection(server.address, timeout=10) as sock:
            request(sock, "/hello?x=1")
        log = server.wait_for_log('"GET /hello?x=1 HTTP/1.1" 200 5')
        assert "127.0.0.1 - - [" in log


def test_no_access_log_silences_an_application_that_logs():
    with ServerProcess(LOGGED, args=["--no-access-log"]) as server:
        with socket.create_connection(server.address, timeout=10) as sock:
            request(sock, "/hello")
            request(sock, "/settings")
    assert "GET /hello" not in server.log()
    with ServerProcess(LOGGED) as server:
        with socket.create_connection(server.address, timeout=10) as sock:
            request(sock, "/hello")
        server.wait_for_log('"GET /hello HTTP/1.1" 200 5')


def test_the_access_log_names_the_forwarded_client_behind_a_trusted_proxy():
    args = ["--access-log", "--proxy-headers"]
    with ServerProcess(ECHO, args=args) as server:
        with socket.create_connection(server.address, timeout=10) as sock:
            sock.sendall(
                b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.77\r\n"
                b"Connection: close\r\n\r\n"
            )
            recv_all(sock)
        server.wait_for_log("192.0.2.77 - - [")


def test_limit_concurrency_answers_503_beyond_the_limit_and_closes(engine):
    with ServerProcess(ECHO, engine=engine, args=["--limit-concurrency", "1"]) as server:
        with socket.create_connection(server.address, timeout=10) as first:
            assert request(first, "/hello").endswith(b"hello")
            with socket.create_connection(server.address, timeout=10) as second:
                second.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                refused = recv_all(second)  # answered, then closed
            assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
            assert b"\r\nconnection: close\r\n" in refused.lower()
            assert request(first, "/hello").endswith(b"hello")  # the first goes on
        # Below the limit again: a new connection is served.
        with socket.create_connection(server.address, timeout=10) as third:
            for _ in range(100):  # the first connection's close may still be on its way
                answer = request(third, "/hello", close=True)
                if not answer.startswith(b"HTTP/1.1 503"):
                    break
                third.close()
                third = socket.create_connection(server.address, timeout=10)
            assert answer.endswith(b"hello")
            third.close()


def test_root_path_reaches_the_request():
    with ServerProcess(ECHO, args=["--root-path", "/api"]) as server:
        with socket.create_connection(server.address, timeout=10) as sock:
            body = request(sock, "/who", close=True).partition(b"\r\n\r\n")[2]
        assert json.loads(body)["root_path"] == "/api"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout-keep-alive", "0"], "--timeout-keep-alive: expected seconds > 0, got 0.0"),
        (["--timeout-keep-alive", "soon"], "--timeout-keep-alive: expected seconds, got 'soon'"),
        (["--limit-concurrency", "0"], "--limit-concurrency: expected a positive integer, got 0"),
        (["--root-path", "api"], "--root-path: expected a path that starts with /"),
        (["--root-path", "/api/"], "--root-path: expected a path that starts with /"),
        (["--forwarded-allow-ips", "10.0.0.0/99"], "'10.0.0.0/99' is not an IP address"),
        (["--reload-dir", "."], "--reload-dir needs --reload"),
    ],
)
def test_a_bad_value_is_one_line_naming_it_with_status_2(args, message):
    result = subprocess.run(
        [sys.executable, "-m", "manycore", "serve", ECHO, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


def test_forwarded_allow_ips_defaults_to_the_environment(monkeypatch):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from manycore.commands.settings import RunSettings as R; "
            "print(R().forwarded_allow_ips)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "FORWARDED_ALLOW_IPS": "10.1.0.0/16"},
    )
    assert result.stdout.strip() == "10.1.0.0/16"


class BriefKeepAlive(HttpServer):
    header_timeout = 10.0
    keepalive_timeout = 2.0  # shorter than a head may take, as --timeout-keep-alive 2 makes it

    @route("/")
    def index(self, request: Request) -> str:
        return "hi"


def test_a_keepalive_shorter_than_the_header_timeout_closes_an_idle_connection_in_time():
    conn = FakeClock(start=1000.0).connect(BriefKeepAlive())
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", after=0.5)
    assert conn.take().endswith(b"hi")
    conn.clock.advance(1.9)
    assert not conn.closed
    conn.clock.advance(0.2)
    assert conn.closed and not conn.aborted


def test_a_keepalive_shorter_than_the_header_timeout_counts_from_a_head_read_in_pieces():
    conn = FakeClock(start=1000.0).connect(BriefKeepAlive())
    conn.send(b"GET / HTTP/1.1\r\n", after=0.5)
    conn.send(b"Host: t\r\n\r\n", after=1.0)  # the head began: the header timeout is armed
    assert conn.take().endswith(b"hi")
    conn.clock.advance(1.9)
    assert not conn.closed
    conn.clock.advance(0.2)
    assert conn.closed and not conn.aborted


def test_the_reloaders_child_gets_every_setting_but_reload(tmp_path):
    parser = Parser(prog="manycore serve")
    add_run_options(parser, server_flags=True)
    argv = [
        "--port=9001",
        "--workers=3",
        "--uds",
        str(tmp_path / "a.sock"),
        "--root-path=/api",
        "--proxy-headers",
        "--forwarded-allow-ips=10.0.0.0/8,unix:",
        "--timeout-keep-alive=2.5",
        "--limit-concurrency=7",
        "--no-access-log",
        "--reload",
        f"--reload-dir={tmp_path}",
    ]
    settings = RunSettings.from_args(parser.parse_args(argv))
    child = RunSettings.from_args(parser.parse_args(settings.to_argv()))
    assert child == dataclasses.replace(settings, reload=False, reload_dir=())
    assert "--reload" not in settings.to_argv()


def test_server_flags_for_a_module_that_registers_its_own_servers_are_refused(tmp_path):
    (tmp_path / "own.py").write_text(
        "import manycore\n"
        "from manycore.http import HttpServer\n"
        "class App(HttpServer):\n"
        "    pass\n"
        "manycore.register(transport=manycore.server('127.0.0.1', 0), protocol=App)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "manycore", "serve", "own.py", "--ssl-certfile", "own.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert "--ssl-certfile: own.py serves what it registers itself" in result.stderr
    assert "own.py:CLASS" in result.stderr
