"""Where to listen: --uds PATH (a Unix domain socket) and --fd N (an inherited socket).

Real servers, real sockets: a client connects over the Unix socket, or to a
socket a parent process bound and passed down as systemd does; a path or a
descriptor that cannot work is one line and exit status 2, and nothing of the
user's is removed or changed.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap

import pytest

from conftest import TEST_APPS, recv_all
from manycore.commands.listening import systemd_socket
from manycore.testing import ServerProcess

ECHO = f"{TEST_APPS / 'flags_apps.py'}:Echo"


def unix_get(path: str, target: str, headers: str = "") -> tuple[int, bytes]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode()
        )
        response = recv_all(sock)
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@pytest.fixture
def socket_path(tmp_path):
    return str(tmp_path / "app.sock")


def test_uds_serves_requests_and_removes_its_socket_file(engine, workers, socket_path):
    with ServerProcess(ECHO, engine=engine, workers=workers, args=["--uds", socket_path]) as s:
        assert s.uds == socket_path
        mode = os.lstat(socket_path).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o666 & ~current_umask()
        assert unix_get(socket_path, "/hello") == (200, b"hello")
        status, body = unix_get(socket_path, "/who")
        assert (status, json.loads(body)["client"]) == (200, None)
    assert not os.path.exists(socket_path)


def test_uds_replaces_a_stale_socket_file(socket_path):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(socket_path)  # a killed server's file: nobody listens on it
    stale.close()
    with ServerProcess(ECHO, args=["--uds", socket_path]):
        assert unix_get(socket_path, "/hello") == (200, b"hello")


def test_proxy_headers_over_uds_trust_the_socket_only_when_unix_is_listed(socket_path):
    forwarded = "X-Forwarded-For: 203.0.113.5\r\n"
    args = ["--uds", socket_path, "--proxy-headers"]
    with ServerProcess(ECHO, args=args):
        assert json.loads(unix_get(socket_path, "/who", forwarded)[1])["client"] is None
    with ServerProcess(ECHO, args=[*args, "--forwarded-allow-ips", "unix:"]):
        body = unix_get(socket_path, "/who", forwarded)[1]
        assert json.loads(body)["client"] == ["203.0.113.5", 0]


def run_serve(*args: str, pass_fds=()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "manycore", "serve", ECHO, "--engine", "inline", *args],
        capture_output=True,
        text=True,
        timeout=60,
        pass_fds=pass_fds,
    )


def assert_one_line_usage_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert text in result.stderr


def test_uds_refuses_a_path_that_is_not_a_socket_and_leaves_it_alone(tmp_path):
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    result = run_serve("--uds", str(precious))
    assert_one_line_usage_error(result, "a file that is not a socket is there")
    assert precious.read_text() == "keep me"


def test_uds_refuses_a_socket_another_server_listens_on(socket_path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(socket_path)
        other.listen()
        before = os.lstat(socket_path)
        result = run_serve("--uds", socket_path)
        assert_one_line_usage_error(result, "another server listens there")
        after = os.lstat(socket_path)
        assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)


def test_uds_in_a_missing_directory_is_one_line(tmp_path):
    result = run_serve("--uds", str(tmp_path / "no" / "such" / "app.sock"))
    assert_one_line_usage_error(result, "cannot listen on --uds")


# The parent systemd would be: bind and listen, then start the server with the socket as
# a descriptor it inherits.
LAUNCHER = textwrap.dedent(
    """
    import os, socket, sys
    kind, argv = sys.argv[1], sys.argv[2:]
    if kind == "file":
        fd = os.open(sys.executable, os.O_RDONLY)
    elif kind != "systemd":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        if kind == "listening":
            sock.listen(128)
        fd = sock.detach()
    if kind == "systemd":  # as systemd passes it: descriptor 3, named in the environment
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        fd = sock.detach()
        if fd != 3:
            os.dup2(fd, 3)
            os.close(fd)
            fd = 3
        os.environ["LISTEN_PID"] = str(os.getpid())  # execv keeps the process id
        os.environ["LISTEN_FDS"] = "1"
    os.set_inheritable(fd, True)
    argv = [a.replace("{fd}", str(fd)) for a in argv]
    os.execv(sys.executable, [sys.executable, "-m", "manycore", "serve", *argv])
    """
)


def launch(kind: str, *argv: str) -> list[str]:
    return [sys.executable, "-c", LAUNCHER, kind, *argv]


def test_fd_serves_an_inherited_listening_socket(engine, workers):
    command = launch(
        "listening", ECHO, "--fd", "{fd}", "--engine", engine, "--workers", str(workers)
    )
    with ServerProcess(ECHO, command=command) as server:
        with socket.create_connection(server.address, timeout=10) as sock:
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert recv_all(sock).endswith(b"\r\n\r\nhello")


def test_a_socket_passed_by_systemd_is_served_without_fd(engine, workers):
    command = launch("systemd", ECHO, "--engine", engine, "--workers", str(workers))
    with ServerProcess(ECHO, command=command) as server:
        assert server.port != 8080  # not the default --port: systemd's socket
        with socket.create_connection(server.address, timeout=10) as sock:
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert recv_all(sock).endswith(b"\r\n\r\nhello")


def test_systemd_variables_for_another_process_are_ignored(monkeypatch):
    monkeypatch.setenv("LISTEN_PID", str(os.getppid()))
    monkeypatch.setenv("LISTEN_FDS", "1")
    assert systemd_socket() is None
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    monkeypatch.setenv("LISTEN_FDS", "two")
    assert systemd_socket() is None
    monkeypatch.setenv("LISTEN_FDS", "1")
    assert systemd_socket() == 3
    assert "LISTEN_PID" not in os.environ and "LISTEN_FDS" not in os.environ


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("file", "it is not a socket"),
        ("bound", "the socket is not listening"),
    ],
)
def test_fd_refuses_what_is_not_a_listening_socket(kind, message):
    result = subprocess.run(
        launch(kind, ECHO, "--fd", "{fd}", "--engine", "inline"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_one_line_usage_error(result, message)


def test_fd_refuses_a_descriptor_that_was_not_inherited():
    result = run_serve("--fd", "987")
    assert_one_line_usage_error(result, "cannot serve --fd 987")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fd", "three"], "--fd: expected a file descriptor number"),
        (["--fd", "-1"], "--fd: expected a file descriptor number >= 0, got -1"),
        (["--fd", "3", "--uds", "/tmp/x.sock"], "--uds and --fd both say where to listen"),
    ],
)
def test_bad_listening_options_are_one_line(args, message):
    assert_one_line_usage_error(run_serve(*args), message)


def test_the_api_takes_one_place_to_listen():
    import manycore

    assert manycore.server(uds="/tmp/a.sock").uds == "/tmp/a.sock"
    assert manycore.server(fd=3).fd == 3
    with pytest.raises(ValueError, match="give one place to listen"):
        manycore.server(uds="/tmp/a.sock", fd=3)
