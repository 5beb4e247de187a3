"""The manycore command: help, version, and one-line errors with exit status 2."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

import manycore
from conftest import EXAMPLES


def manycore_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "manycore", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_version():
    result = manycore_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"manycore {manycore.__version__}"


def test_help_lists_the_commands_and_options():
    result = manycore_cli("--help")
    assert result.returncode == 0
    for word in ("serve", "tefb", "wiki"):
        assert word in result.stdout
    serve_help = manycore_cli("serve", "--help").stdout
    for option in ("--host", "--port", "--workers", "--engine", "--guard", "--grace"):
        assert option in serve_help


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert any(all(f in line for f in fragments) for line in lines), result.stderr
    assert len([line for line in lines if "error" in line]) == 1, result.stderr


def test_unknown_engine():
    result = manycore_cli("serve", f"{EXAMPLES}/echo.py:Echo", "--engine", "fibers")
    assert_one_line_error(result, "invalid choice: 'fibers'")


def test_bad_port_and_workers():
    assert_one_line_error(manycore_cli("serve", "x:Y", "--port", "http"), "port must be")
    assert_one_line_error(manycore_cli("serve", "x:Y", "--port", "70000"), "0..65535")
    assert_one_line_error(manycore_cli("serve", "x:Y", "--workers", "0"), "positive integer")


def test_module_not_found():
    result = manycore_cli("serve", "no_such_module_here:App", "--port", "0")
    assert_one_line_error(result, "cannot import 'no_such_module_here'")


def test_missing_file_and_missing_class():
    assert_one_line_error(manycore_cli("serve", "nowhere/app.py:App"), "no such file")
    result = manycore_cli("serve", f"{EXAMPLES}/echo.py:Nope", "--port", "0")
    assert_one_line_error(result, "has no attribute 'Nope'")


@pytest.mark.parametrize("engine", ["inline", "processes"])
def test_port_in_use(engine):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = manycore_cli(
            "serve",
            f"{EXAMPLES}/echo.py:Echo",
            "--port",
            str(port),
            "--engine",
            engine,
            "--workers",
            "2",
        )
    assert_one_line_error(result, f"127.0.0.1:{port}", "address already in use")


def test_no_command_prints_help_and_fails():
    result = manycore_cli()
    assert result.returncode == 2
    assert "serve" in result.stdout
