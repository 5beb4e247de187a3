"""The seven TechEmpower Framework Benchmark tests as one ``HttpServer``.

Who owns what:

* The main context calls :func:`configure` once, before ``manycore.run()``: it
  records the DSN and pool size and the *world cache* (every row of ``world``,
  read once with asyncpg and frozen with ``manycore.share``).  These become
  class attributes of :class:`TefbApp` that parallel contexts only read.  This
  is the PyParallel model: load once in the main context, read everywhere.
* Each parallel context opens its own asyncpg pool in an ``on_worker_start``
  hook (after the fork; a pool is bound to its worker's event loop and is never
  shared) and closes it in ``on_worker_stop``.  It lives in a
  ``threading.local``, which is per worker on every engine (a worker is a
  thread of its own, or the only serving thread of its process).
* Handlers are ordinary ``async def`` methods that ``await conn.fetchrow(...)``;
  asyncpg prepares each statement once per connection and reuses it.  For
  several rows, ``conn.fetchmany(...)`` runs one SELECT per row but sends them
  in one pipelined round trip.

Rules the handlers keep (the benchmark's requirements): one SELECT per row for
``/queries`` and ``/updates`` (no ``IN``/``ANY`` for reads); ``/updates`` writes
all rows with one batched UPDATE before answering; a fresh object is serialised
per request; counts are clamped to 1..500 with anything unparsable meaning 1.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path
from typing import TypedDict

import asyncpg
import jinja2

import manycore
from manycore.http import HttpServer, Request, Response, route

from .schema import WORLD_ROWS

__all__ = ["TefbApp", "World", "clamp_count", "configure", "load_world_cache"]

MAX_QUERIES = 500
EXTRA_FORTUNE = (0, "Additional fortune added at request time.")

SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = $1"
SELECT_FORTUNES = "SELECT id, message FROM fortune"
# One statement for the whole batch; rows are locked in ascending id order (the
# arrays are sorted) so two concurrent batches can never deadlock each other.
UPDATE_WORLDS = (
    "UPDATE world SET randomnumber = v.randomnumber"
    " FROM unnest($1::integer[], $2::integer[]) AS v(id, randomnumber)"
    " WHERE world.id = v.id"
)
_UPDATE_ATTEMPTS = 3

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    auto_reload=False,
)
FORTUNES_TEMPLATE = _templates.get_template("fortunes.html")

_by_message = itemgetter(1)
_randint = random.randint
_choices = random.choices  # k picks with replacement, several times faster than k randint()s
_random = random.random
_floor = math.floor
_sample = random.sample
_IDS = range(1, WORLD_ROWS + 1)


class World(TypedDict):
    """A row of ``world`` as the benchmark serialises it."""

    id: int
    randomNumber: int  # the benchmark's JSON name


def clamp_count(raw: str | None) -> int:
    """The benchmark's rule: missing, empty, non-numeric or < 1 -> 1; > 500 -> 500."""
    if raw is None:
        return 1
    try:
        count = int(raw)
    except (TypeError, ValueError):
        return 1
    return 1 if count < 1 else MAX_QUERIES if count > MAX_QUERIES else count


def _count(request: Request, name: str, in_path: str | None) -> int:
    return clamp_count(in_path if in_path is not None else request.query.get(name))


class _WorkerState(threading.local):
    pool: asyncpg.Pool | None = None


_worker = _WorkerState()


def _pool() -> asyncpg.Pool:
    pool = _worker.pool
    if pool is None:
        raise RuntimeError(
            "this worker has no database pool: start the application with "
            "`manycore tefb`, which calls manycore.apps.tefb.app.configure() first"
        )
    return pool


class TefbApp(HttpServer):
    """json, plaintext, db, queries, fortunes, updates and cached-queries."""

    # Set once by configure() in the main context; read-only afterwards.
    dsn: str | None = None
    pool_size: int = 4
    worlds: Sequence[World] | None = None  # every row, in id order

    @route("/plaintext")
    def plaintext(self, request: Request) -> Response:
        return Response(b"Hello, World!", content_type="text/plain")

    @route("/json")
    def json(self, request: Request) -> dict[str, str]:
        return {"message": "Hello, World!"}

    @route("/db")
    async def db(self, request: Request) -> World:
        row = await _pool().fetchrow(SELECT_WORLD, _randint(1, WORLD_ROWS))
        return {"id": row[0], "randomNumber": row[1]}

    # Load generators append the count to the URL: "/queries?queries=" + N, or "/queries/" + N.
    @route("/queries")
    @route("/queries/")
    @route("/queries/{count}")
    async def queries(self, request: Request, count: str | None = None) -> list[World]:
        ids = [(world_id,) for world_id in _choices(_IDS, k=_count(request, "queries", count))]
        async with _pool().acquire() as conn:
            rows = await conn.fetchmany(SELECT_WORLD, ids)  # one SELECT per row, pipelined
        return [{"id": row[0], "randomNumber": row[1]} for row in rows]

    @route("/updates")
    @route("/updates/")
    @route("/updates/{count}")
    async def updates(self, request: Request, count: str | None = None) -> list[World]:
        # Distinct ids: a row named twice in one batch could keep only one of two
        # announced values, which would be a lost update.
        ids = _sample(_IDS, _count(request, "queries", count))
        async with _pool().acquire() as conn:
            rows = await conn.fetchmany(SELECT_WORLD, [(world_id,) for world_id in ids])
            worlds: list[World] = [
                {"id": row[0], "randomNumber": _randint(1, WORLD_ROWS)} for row in rows
            ]
            batch = sorted((w["id"], w["randomNumber"]) for w in worlds)
            await _update_batch(conn, [b[0] for b in batch], [b[1] for b in batch])
        return worlds

    @route("/cached-queries")
    @route("/cached-queries/")
    @route("/cached-queries/{count}")
    def cached_queries(self, request: Request, count: str | None = None) -> list[World]:
        worlds = self.worlds
        if worlds is None:
            raise RuntimeError("the world cache is not primed: start with `manycore tefb`")
        k = _count(request, "count", count)
        if k == 1:  # the commonest count: random.choices' own call is most of its cost
            return [worlds[_floor(_random() * len(worlds))]]
        return _choices(worlds, k=k)

    @route("/fortunes")
    async def fortunes(self, request: Request) -> Response:
        rows = await _pool().fetch(SELECT_FORTUNES)
        fortunes = [(row[0], row[1]) for row in rows]
        fortunes.append(EXTRA_FORTUNE)
        fortunes.sort(key=_by_message)
        return Response.html(FORTUNES_TEMPLATE.render(fortunes=fortunes))  # charset=utf-8


async def _update_batch(conn: asyncpg.Connection, ids: list[int], numbers: list[int]) -> None:
    # Sorted ids make deadlocks impossible with the planner's usual nested loop;
    # should a plan ever lock in another order, PostgreSQL aborts one statement
    # (which changed nothing) and it is simply run again.
    for attempt in range(_UPDATE_ATTEMPTS):
        try:
            await conn.execute(UPDATE_WORLDS, ids, numbers)
            return
        except asyncpg.DeadlockDetectedError:
            if attempt == _UPDATE_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.001 * (attempt + 1))


# -- main context ---------------------------------------------------------------------------


async def load_world_cache(dsn: str) -> list[World]:
    """Every world row, in id order, as ``{"id": id, "randomNumber": n}``."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await conn.fetch("SELECT id, randomnumber FROM world ORDER BY id")
    finally:
        await conn.close()
    return [{"id": world_id, "randomNumber": number} for world_id, number in rows]


@manycore.main_only
def configure(dsn: str, *, worlds: list[World], pool_size: int = 4) -> None:
    """Main context, before ``manycore.run()``: set the shared state and the worker hooks."""
    TefbApp.dsn = dsn
    TefbApp.pool_size = pool_size
    TefbApp.worlds = manycore.share(worlds)
    manycore.on_worker_start(open_pool)
    manycore.on_worker_stop(close_pool)


async def open_pool() -> None:
    """on_worker_start: this worker's own pool, created on its own event loop."""
    _worker.pool = await asyncpg.create_pool(
        TefbApp.dsn,
        min_size=TefbApp.pool_size,
        max_size=TefbApp.pool_size,
        max_inactive_connection_lifetime=0,
        reset=_keep_session,
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset hook that sends nothing.

    asyncpg's default reset costs a round trip on every release (RESET ALL,
    UNLISTEN, ...) to undo session changes; these handlers never make any, and
    an open transaction is still rolled back by the pool itself.
    """


async def close_pool() -> None:
    """on_worker_stop: close this worker's pool so the server sees clean disconnects."""
    pool, _worker.pool = _worker.pool, None
    if pool is not None:
        await pool.close()
