"""The ``hello_world`` database of the TechEmpower benchmarks: schema, data, checks.

Two entry points, both run in the main context before any worker exists:

* :func:`ensure_database` (``manycore tefb`` on the embedded server): create the
  database, the tables and the data when they are missing or not exactly right;
  leave a correct database untouched (the world table's random numbers survive
  restarts, as a user's data would).
* :func:`check_database` (``manycore tefb --dsn``): only verify, and explain how
  to fix it (``manycore tefb init-db``) when the schema is not there; a server
  we do not own is never written to unless the user asks.

Data: ``world`` has ids 1..10000 with random numbers 1..10000; ``fortune`` holds
exactly the twelve rows below, in this id order.  The rows the tests rely on
(the ``<script>`` row, the Japanese one) are part of the benchmark's definition.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

__all__ = [
    "DATABASE",
    "FORTUNES",
    "WORLD_ROWS",
    "DatabaseError",
    "check_database",
    "ensure_database",
    "maintenance_dsn",
]

DATABASE = "hello_world"
WORLD_ROWS = 10_000

FORTUNES: tuple[str, ...] = (
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. \u2014 Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    '<script>alert("This should not be displayed in a browser alert box.");</script>',
    "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af",
)

_CREATE = """
DROP TABLE IF EXISTS world;
DROP TABLE IF EXISTS fortune;
CREATE TABLE world (id integer PRIMARY KEY, randomnumber integer NOT NULL DEFAULT 0);
CREATE TABLE fortune (id integer PRIMARY KEY, message varchar(2048) NOT NULL);
"""


class DatabaseError(RuntimeError):
    """The database is unreachable or lacks the schema; the message says what to do."""


def maintenance_dsn(dsn: str) -> str:
    """The same server and credentials, database ``postgres`` (to CREATE DATABASE from)."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/postgres"))


def _database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/") or DATABASE


async def _connect(dsn: str, *, timeout: float = 10.0) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=timeout)
    except asyncpg.InvalidCatalogNameError:
        raise
    except (OSError, TimeoutError, asyncpg.PostgresError, ValueError) as exc:
        raise DatabaseError(f"cannot connect to {_redacted(dsn)}: {_one_line(exc)}") from None


@asynccontextmanager
async def _session(conn: asyncpg.Connection, doing: str) -> AsyncIterator[asyncpg.Connection]:
    """Use ``conn``, then close it; a database error becomes ``cannot {doing}: ...``."""
    try:
        yield conn
    except asyncpg.PostgresError as exc:
        raise DatabaseError(f"cannot {doing}: {_one_line(exc)}") from None
    finally:
        await conn.close()


async def _schema_problem(conn: asyncpg.Connection) -> str | None:
    """Why the tables are not exactly the benchmark's data, or None when they are."""
    tables = {
        row["relname"]
        for row in await conn.fetch(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname IN ('world', 'fortune')"
            " AND relnamespace = 'public'::regnamespace"
        )
    }
    if tables != {"world", "fortune"}:
        missing = sorted({"world", "fortune"} - tables)
        return f"table {', '.join(missing)} missing"
    count, low, high, bad = await conn.fetchrow(
        "SELECT count(*), min(id), max(id),"
        " count(*) FILTER (WHERE randomnumber NOT BETWEEN 1 AND $1) FROM world",
        WORLD_ROWS,
    )
    if (count, low, high, bad) != (WORLD_ROWS, 1, WORLD_ROWS, 0):
        return f"world has {count} rows (ids {low}..{high}), not ids 1..{WORLD_ROWS}"
    rows = await conn.fetch("SELECT id, message FROM fortune ORDER BY id")
    if [tuple(r) for r in rows] != list(enumerate(FORTUNES, start=1)):
        return f"fortune does not hold the {len(FORTUNES)} benchmark fortunes"
    return None


async def _fill(conn: asyncpg.Connection) -> None:
    rng = random.SystemRandom()
    async with conn.transaction():
        await conn.execute(_CREATE)
        await conn.copy_records_to_table(
            "world",
            records=[(i, rng.randint(1, WORLD_ROWS)) for i in range(1, WORLD_ROWS + 1)],
            columns=["id", "randomnumber"],
        )
        await conn.copy_records_to_table(
            "fortune", records=list(enumerate(FORTUNES, start=1)), columns=["id", "message"]
        )
    await conn.execute("ANALYZE world; ANALYZE fortune")


async def _create_database(dsn: str, name: str) -> None:
    conn = await _connect(maintenance_dsn(dsn))
    async with _session(conn, f"create database {name!r}"):
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            quoted = '"' + name.replace('"', '""') + '"'
            await conn.execute(f"CREATE DATABASE {quoted} ENCODING 'UTF8' TEMPLATE template0")


async def ensure_database(dsn: str) -> str:
    """Create the database, schema and data where missing or wrong; return what was done."""
    try:
        conn = await _connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        await _create_database(dsn, _database_name(dsn))
        conn = await _connect(dsn)
    async with _session(conn, f"initialise {_redacted(dsn)}"):
        problem = await _schema_problem(conn)
        if problem is None:
            return "already initialised"
        await _fill(conn)
        return f"initialised ({problem} before)"


async def check_database(dsn: str) -> None:
    """Raise DatabaseError, naming the fix, unless the benchmark data is in place."""
    try:
        conn = await _connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        raise DatabaseError(
            f"database {_database_name(dsn)!r} does not exist on {_redacted(dsn)}; "
            f"create it with: manycore tefb init-db --dsn {_redacted(dsn)}"
        ) from None
    async with _session(conn, f"read {_redacted(dsn)}"):
        problem = await _schema_problem(conn)
    if problem is not None:
        raise DatabaseError(
            f"{_redacted(dsn)} is not a TechEmpower hello_world database ({problem}); "
            f"initialise it with: manycore tefb init-db --dsn {_redacted(dsn)}"
        )


def _redacted(dsn: str) -> str:
    """The DSN without its password, fit for an error message."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
