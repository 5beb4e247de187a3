"""manycore's side of the HTTP benchmark: the TechEmpower endpoints on ``HttpServer``.

Written the way a user would write it (routes, a Response, a returned dict), not tuned:
the point is that the ordinary API is the fast path. The json handler builds a new dict
per request, as the TechEmpower rules require.

When ``MANYCORE_BENCH_STATIC_DIR`` names a directory, it is mounted at ``/static`` for the
static-file part of the benchmark (``run.py`` creates the files and sets the variable).

Run: ``python -m manycore serve bench/http/manycore_app.py:App --workers 1 --engine processes``.
"""

from __future__ import annotations

import os
from typing import Any

from manycore.http import HttpServer, Request, Response, route, static

STATIC_DIR_VARIABLE = "MANYCORE_BENCH_STATIC_DIR"
_static_dir = os.environ.get(STATIC_DIR_VARIABLE)


class App(HttpServer):
    """``GET /plaintext``, ``GET /json`` and, optionally, ``/static/...``."""

    @route("/plaintext")
    def plaintext(self, request: Request) -> Response:
        return Response(b"Hello, World!", content_type="text/plain")

    @route("/json")
    def json(self, request: Request) -> dict[str, Any]:
        return {"message": "Hello, World!"}

    if _static_dir:
        files = static("/static", _static_dir)
