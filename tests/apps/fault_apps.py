"""Protocol classes and hooks for the fault tests, configured through the environment.

``MANYCORE_TEST_START`` picks what ``on_worker_start`` does: ``raise`` (every
worker fails to start), ``block-1`` (worker 1 never gets past its start hook),
``crash-1`` (worker 1 dies 50 ms after it starts serving, again and again),
``slow`` (every worker takes half a second to start, and says when its stop hook
runs), anything else nothing.  ``MANYCORE_TEST_THREAD`` starts a thread at import, as a
native library may (numpy's BLAS does).  ``MANYCORE_TEST_NOFILE`` lowers the file-descriptor limit
of the whole server at import.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import resource
import threading
import time

import manycore
from manycore import stats
from manycore.http import HttpServer, Request, Response, route

_START = os.environ.get("MANYCORE_TEST_START", "")
_NOFILE = os.environ.get("MANYCORE_TEST_NOFILE")

if os.environ.get("MANYCORE_TEST_THREAD"):
    threading.Thread(target=threading.Event().wait, daemon=True).start()

if _NOFILE:
    _soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(_NOFILE), _hard))

if _START:

    @manycore.on_worker_start
    async def start_hook() -> None:
        if _START == "raise":
            raise RuntimeError("the database is unreachable")
        if _START == "block-1" and manycore.worker_index() == 1:
            await asyncio.sleep(3600)
        if _START == "crash-1" and manycore.worker_index() == 1:
            asyncio.get_running_loop().call_later(0.05, os._exit, 3)
        if _START == "slow":
            await asyncio.sleep(0.5)

    @manycore.on_worker_stop
    def stop_hook() -> None:
        if _START == "slow":
            print(f"stop hook ran in worker {manycore.worker_index()}", flush=True)


COUNTER = 0


def _reply(obj) -> bytes:
    return json.dumps(obj).encode() + b"\n"


class Slow:
    """Lines "SECONDS": "started" at once and "done" that long after; "pid": this worker."""

    lines_mode = True

    async def line_received(self, transport, line):
        if line == b"pid":
            return _reply({"pid": os.getpid(), "worker": manycore.worker_index()})
        transport.write(b"started\n")
        await asyncio.sleep(float(line))
        return b"done\n"


def _failing_sample() -> int:
    raise OSError(errno.EMFILE, "Too many open files")


class StatsProbe:
    """Lines: "break" makes every memory sample fail; "rows" reads the table as it is."""

    lines_mode = True

    def line_received(self, transport, line):
        if line == b"break":
            stats._rss_bytes = _failing_sample
            return _reply({"worker": manycore.worker_index(), "time": time.time()})
        if line == b"rows":
            return _reply({"time": time.time(), "rows": stats._board.rows()})
        return b"?\n"


class Hold:
    """Any read is answered "ok" and the connection stays open (fills descriptors).

    "serving" answers how many workers have published statistics, that is, serve.
    """

    def data_received(self, transport, data):
        if data == b"serving":
            return b"%d\n" % len(stats._board.rows())
        return b"ok\n"


class Rebinding(HttpServer):
    """``/rebind`` rebinds a module global (a guard violation); ``/`` does nothing wrong."""

    @route("/")
    def index(self, request: Request) -> Response:
        return Response(b"fine")

    @route("/rebind")
    def rebind(self, request: Request) -> Response:
        global COUNTER
        COUNTER += 1
        return Response(b"leaked")
