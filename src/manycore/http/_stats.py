"""Observability: a ``/stats`` route, like PyParallel's ``sys_stats``/``socket_stats``.

The figures come from :func:`manycore.stats.snapshot`, which every worker can
produce for all workers (each publishes its own counters into a shared table),
so whichever worker accepts the ``/stats`` connection answers for the whole
server.  Request counting itself is one integer increment per request on the
worker's own counters object; nothing is shared or locked.

The access log (``access_log = True`` on the application class) is separate:
see :mod:`._connection`.  It is off by default; when on, each request costs one
pre-formatted ``logging`` record on the ``manycore.access`` logger.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import stats as _stats
from ._response import Response
from ._routing import route

__all__ = ["stats_route", "stats_snapshot"]


def stats_snapshot() -> dict[str, Any]:
    """Per-worker requests, open and total connections, RSS and uptime, plus totals."""
    return _stats.snapshot()


def stats_route(path: str = "/stats") -> Callable:
    """A GET route answering the server-wide stats as JSON.

    Use it in an application class body: ``stats = stats_route("/stats")``.
    """

    @route(path)
    def stats(self: Any, request: Any) -> Response:
        return Response.json(stats_snapshot(), headers=[("Cache-Control", "no-store")])

    return stats
