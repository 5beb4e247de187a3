"""The peer: the same seven TechEmpower tests on granian (RSGI) with asyncpg.

Written the way a careful granian user would (the shape of the granian entry in
the TechEmpower repository): one asyncpg pool per worker created in
``__rsgi_init__`` on that worker's loop, the same SQL and the same database
strategy as ``manycore.apps.tefb`` (pipelined SELECTs through
``fetchmany``, one batched UPDATE), msgspec for JSON and the same Jinja2
template, so that the comparison measures the servers, not the apps.

Run: ``TEFB_DSN=postgresql://... granian --interface rsgi --workers N
bench/tefb/granian_app.py:app`` (``bench/tefb/run.py`` does it for you).
"""

from __future__ import annotations

import os
import random
from operator import itemgetter
from pathlib import Path
from urllib.parse import parse_qs

import asyncpg
import jinja2
import msgspec

DSN = os.environ.get("TEFB_DSN", "postgresql://postgres@127.0.0.1/hello_world")
POOL_SIZE = int(os.environ.get("TEFB_POOL_SIZE", "4"))
WORLD_ROWS = 10_000

SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = $1"
SELECT_FORTUNES = "SELECT id, message FROM fortune"
UPDATE_WORLDS = (
    "UPDATE world SET randomnumber = v.randomnumber"
    " FROM unnest($1::integer[], $2::integer[]) AS v(id, randomnumber)"
    " WHERE world.id = v.id"
)

JSON = [("content-type", "application/json")]
TEXT = [("content-type", "text/plain")]
HTML = [("content-type", "text/html; charset=utf-8")]

_TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "src/manycore/apps/tefb/templates"
TEMPLATE = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATE_DIR), autoescape=True
).get_template("fortunes.html")

encode = msgspec.json.encode
randint = random.randint
choices = random.choices
IDS = range(1, WORLD_ROWS + 1)
by_message = itemgetter(1)


def count_from(query_string: str, name: str) -> int:
    try:
        count = int(parse_qs(query_string)[name][0])
    except (KeyError, IndexError, ValueError):
        return 1
    return 1 if count < 1 else 500 if count > 500 else count


async def keep_session(conn) -> None:
    """No per-release RESET round trip (the handlers change no session state)."""


class App:
    pool: asyncpg.Pool | None = None
    worlds: list | None = None

    def __rsgi_init__(self, loop) -> None:
        self.pool = loop.run_until_complete(
            asyncpg.create_pool(DSN, min_size=POOL_SIZE, max_size=POOL_SIZE, reset=keep_session)
        )
        rows = loop.run_until_complete(self.pool.fetch("SELECT id, randomnumber FROM world"))
        self.worlds = [{"id": world_id, "randomNumber": number} for world_id, number in rows]

    def __rsgi_del__(self, loop) -> None:
        if self.pool is not None:
            loop.run_until_complete(self.pool.close())

    async def __rsgi__(self, scope, proto) -> None:
        path = scope.path
        handler = ROUTES.get(path)
        if handler is None:
            for prefix, candidate in PREFIXES:
                if path.startswith(prefix):
                    handler = candidate
                    break
        if handler is None:
            proto.response_bytes(404, TEXT, b"not found")
            return
        await handler(self, scope, proto)

    async def plaintext(self, scope, proto) -> None:
        proto.response_bytes(200, TEXT, b"Hello, World!")

    async def json(self, scope, proto) -> None:
        proto.response_bytes(200, JSON, encode({"message": "Hello, World!"}))

    async def db(self, scope, proto) -> None:
        row = await self.pool.fetchrow(SELECT_WORLD, randint(1, WORLD_ROWS))
        proto.response_bytes(200, JSON, encode({"id": row[0], "randomNumber": row[1]}))

    async def queries(self, scope, proto) -> None:
        count = count_from(scope.query_string, "queries")
        ids = [(world_id,) for world_id in choices(IDS, k=count)]
        async with self.pool.acquire() as conn:
            rows = await conn.fetchmany(SELECT_WORLD, ids)
        proto.response_bytes(200, JSON, encode([{"id": r[0], "randomNumber": r[1]} for r in rows]))

    async def updates(self, scope, proto) -> None:
        count = count_from(scope.query_string, "queries")
        ids = random.sample(IDS, count)
        async with self.pool.acquire() as conn:
            rows = await conn.fetchmany(SELECT_WORLD, [(i,) for i in ids])
            worlds = [{"id": r[0], "randomNumber": randint(1, WORLD_ROWS)} for r in rows]
            batch = sorted((w["id"], w["randomNumber"]) for w in worlds)
            await conn.execute(UPDATE_WORLDS, [b[0] for b in batch], [b[1] for b in batch])
        proto.response_bytes(200, JSON, encode(worlds))

    async def cached(self, scope, proto) -> None:
        worlds = self.worlds
        count = count_from(scope.query_string, "count")
        proto.response_bytes(200, JSON, encode(choices(worlds, k=count)))

    async def fortunes(self, scope, proto) -> None:
        rows = await self.pool.fetch(SELECT_FORTUNES)
        fortunes = [(r[0], r[1]) for r in rows]
        fortunes.append((0, "Additional fortune added at request time."))
        fortunes.sort(key=by_message)
        proto.response_str(200, HTML, TEMPLATE.render(fortunes=fortunes))


ROUTES = {
    "/plaintext": App.plaintext,
    "/json": App.json,
    "/db": App.db,
    "/queries": App.queries,
    "/updates": App.updates,
    "/cached-queries": App.cached,
    "/fortunes": App.fortunes,
}
PREFIXES = [("/queries", App.queries), ("/updates", App.updates), ("/cached-queries", App.cached)]

app = App()
