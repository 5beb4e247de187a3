"""On a free-threaded CPython the GIL stays disabled and threads serve in parallel."""

from __future__ import annotations

import subprocess
import sys
import sysconfig

import pytest

from conftest import EXAMPLES, connect
from manycore.engine import resolve_engine
from manycore.testing import ServerProcess
from manycore.work import gil_enabled

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))

pytestmark = pytest.mark.skipif(not FREE_THREADED, reason="needs a free-threaded CPython")


def test_every_dependency_keeps_the_gil_disabled():
    code = (
        "import sys, manycore, manycore.http, manycore.loop, httptools, uvloop, numpy, "
        "marisa_trie, msgspec, asyncpg, manycore.apps.wiki.app\n"
        "manycore.loop.new_event_loop().close()\n"
        "print(sys._is_gil_enabled())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_auto_picks_threads():
    assert not gil_enabled()
    assert resolve_engine("auto") == "threads"


def test_threads_engine_serves_without_a_gil_warning():
    with ServerProcess(f"{EXAMPLES}/echo.py:Echo", engine="auto", workers=2) as server:
        with connect(server.address) as sock:
            sock.sendall(b"free")
            assert sock.recv(10) == b"free"
    assert "engine=threads" in server.log()
    assert "the GIL is enabled" not in server.log()
