"""Observability: a ``/stats`` route, like PyParallel's ``sys_stats``/``socket_stats``.

The figures come from :func:`manycore.stats.snapshot`, which every worker can
produce for all workers (each publishes its own counters into a shared table),
so whichever worker accepts the ``/stats`` connection answers for the whole
server.  Request counting itself is one integer increment per request on the
worker's own counters object; nothing is shared or locked.

The access log (``access_log = True`` on the application class) is off by
default.  When on, each request costs one formatted line appended to a
per-thread list; the lines of one event-loop iteration (often hundreds of
requests under load) leave as ONE record on the ``manycore.access`` logger, so
the logging machinery and its write run once per iteration, not per request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .. import stats as _stats
from ._response import Response
from ._routing import route

__all__ = ["log_access_line", "stats_route", "stats_snapshot"]

access_log = logging.getLogger("manycore.access")


class _AccessLines(threading.local):
    lines: list[str] | None = None


_pending = _AccessLines()


def log_access_line(loop: Any, line: str) -> None:
    """Queue one access-log line; the loop's current iteration emits them together."""
    lines = _pending.lines
    if lines is None:
        lines = _pending.lines = []
        loop.call_soon(_flush_access_lines)
    lines.append(line)


def _flush_access_lines() -> None:
    lines = _pending.lines
    _pending.lines = None
    if lines:
        access_log.info("\n".join(lines))


def stats_snapshot() -> _stats.Snapshot:
    """Per-worker requests, open and total connections, RSS and uptime, plus totals."""
    return _stats.snapshot()


def stats_route(path: str = "/stats") -> Callable[[Any, Any], Response]:
    """A GET route answering the server-wide stats as JSON.

    Use it in an application class body: ``stats = stats_route("/stats")``.
    """

    @route(path)
    def stats(self: Any, request: Any) -> Response:
        return Response.json(stats_snapshot(), headers=[("Cache-Control", "no-store")])

    return stats
