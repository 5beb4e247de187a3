"""The memory benchmark's application: a 1 GiB array and a 1,000,000-entry dict, loaded at import.

Three routes read random entries: ``/array`` sums four random 4 KiB slices of the
array, ``/dict`` returns ten random values of the dict, ``/mixed`` does one or the
other, at random.  The same read functions serve every server:

* ``app``, an ASGI 3 application, for uvicorn, granian and gunicorn (uvicorn worker),
  and for ``manycore serve bench/memory/app.py:app`` once manycore serves ASGI;
* ``MemoryServer``, the same three routes on manycore's ``HttpServer``.

Environment: ``MEMORY_BENCH_SHARE=1`` loads the state through ``manycore.share()``
(manycore's runs; ``frozen`` shares the dict with ``pack=False``, as a FrozenDict);
``MEMORY_BENCH_GC_FREEZE=1`` calls ``gc.freeze()`` after loading (gunicorn --preload
+ gc.freeze); ``MEMORY_BENCH_ARRAY_MIB`` and ``MEMORY_BENCH_ENTRIES`` shrink the state
for a smoke run.
"""

from __future__ import annotations

import gc
import json
import os
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np

ARRAY_MIB = int(os.environ.get("MEMORY_BENCH_ARRAY_MIB", "1024"))
ENTRIES = int(os.environ.get("MEMORY_BENCH_ENTRIES", "1000000"))
SLICE = 512  # float64 elements: 4 KiB


def _load_array() -> np.ndarray[Any, np.dtype[np.float64]]:
    """Random, so that every page is real memory (np.ones would be too, but compress in swap)."""
    return np.random.default_rng(14).random(ARRAY_MIB * (1 << 20) // 8)


def _load_dict() -> dict[str, tuple[int, str, float]]:
    rng = random.Random(14)
    return {
        f"user:{i:07d}": (i, f"name-{rng.getrandbits(40):x}", rng.random()) for i in range(ENTRIES)
    }


if os.environ.get("MEMORY_BENCH_SHARE") in ("1", "frozen"):
    import manycore

    pack = None if os.environ["MEMORY_BENCH_SHARE"] == "1" else False
    ARRAY = manycore.share(_load_array())
    TABLE: Mapping[str, tuple[int, str, float]] = manycore.share(_load_dict(), pack=pack)
else:
    ARRAY = _load_array()
    TABLE = _load_dict()
KEYS = ENTRIES  # keys are rebuilt from a number, so the server holds no list of them
if os.environ.get("MEMORY_BENCH_GC_FREEZE") == "1":
    gc.collect()
    gc.freeze()


def read_array() -> bytes:
    starts = [random.randrange(len(ARRAY) - SLICE) for _ in range(4)]
    total = sum(float(ARRAY[start : start + SLICE].sum()) for start in starts)
    return json.dumps({"sum": total}).encode()


def read_dict() -> bytes:
    keys = [f"user:{random.randrange(KEYS):07d}" for _ in range(10)]
    return json.dumps([TABLE[key] for key in keys]).encode()


def read_mixed() -> bytes:
    return read_array() if random.getrandbits(1) else read_dict()


ROUTES: dict[str, Callable[[], bytes]] = {
    "/array": read_array,
    "/dict": read_dict,
    "/mixed": read_mixed,
    "/ready": lambda: b'"ready"',
}

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """ASGI 3: the routes above, 404 elsewhere; lifespan accepted and ignored."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    handler = ROUTES.get(scope["path"])
    status, body = (200, handler()) if handler else (404, b'"not found"')
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


try:
    from manycore.http import HttpServer, Request, Response, route
except ImportError:  # a peer's venv without manycore
    pass
else:

    def _respond(handler: Callable[[], bytes]) -> Response:
        return Response(handler(), content_type="application/json")

    class MemoryServer(HttpServer):
        """The same routes on manycore's ``HttpServer`` (until ``manycore serve`` runs ASGI)."""

        @route("/array")
        def array(self, request: Request) -> Response:
            return _respond(read_array)

        @route("/dict")
        def dict(self, request: Request) -> Response:
            return _respond(read_dict)

        @route("/mixed")
        def mixed(self, request: Request) -> Response:
            return _respond(read_mixed)

        @route("/ready")
        def ready(self, request: Request) -> Response:
            return _respond(ROUTES["/ready"])
