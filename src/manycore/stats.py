"""Per-worker counters, and an aggregate view of all workers.

Each parallel context owns one :class:`WorkerCounters` and is the only writer
of it (no shared mutable state, so no races on a free-threaded build).  To let
any worker answer ``/stats`` for all of them, every worker publishes its
counters into its own row of a small table in anonymous shared memory, which
the engine allocates in the main context before the workers start (so the
same table is visible to forked processes and to threads alike).  Rows are
published once a second and whenever a worker asks for a snapshot, so other
workers' figures are at most a second old.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import TypedDict

from .context import worker_index

try:
    import resource
except ImportError:  # not Unix
    # A module name cannot be typed optional; _rss_bytes checks for None before use.
    resource = None  # type: ignore[assignment]

__all__ = ["Snapshot", "Totals", "WorkerCounters", "WorkerRow", "snapshot", "worker_counters"]

log = logging.getLogger("manycore.stats")

# requests, connections_open, connections_total, rss_bytes, pid, started_at (float), published_at
_ROW = struct.Struct("<qqqqqdd")


@dataclass
class WorkerCounters:
    """Counters owned and written by exactly one parallel context."""

    requests: int = 0
    connections_open: int = 0
    connections_total: int = 0
    started_at: float = field(default_factory=time.time)


class WorkerRow(TypedDict):
    """One worker's published figures, as ``/stats`` shows them."""

    index: int
    pid: int
    requests: int
    connections_open: int
    connections_total: int
    rss_bytes: int
    uptime: float
    age: float


class Totals(TypedDict):
    """Sums over all workers (memory counted once per process)."""

    requests: int
    connections_open: int
    connections_total: int
    rss_bytes: int


class Snapshot(TypedDict):
    """What :func:`snapshot` returns: JSON-ready, the body of ``/stats``."""

    engine: str
    workers: list[WorkerRow]
    totals: Totals
    uptime: float


class StatsBoard:
    """One fixed-size row per worker in MAP_SHARED memory."""

    def __init__(self, workers: int, engine: str) -> None:
        self.workers = workers
        self.engine = engine
        self.started_at = time.time()
        self._map = mmap.mmap(-1, max(1, workers) * _ROW.size)

    def publish(self, index: int, counters: WorkerCounters) -> None:
        offset = index * _ROW.size
        rss = _sample_rss()
        if rss is None:  # keep the last figure: the counters and the row's age still matter
            rss = _ROW.unpack_from(self._map, offset)[3]
        _ROW.pack_into(
            self._map,
            offset,
            counters.requests,
            counters.connections_open,
            counters.connections_total,
            rss,
            os.getpid(),
            counters.started_at,
            time.time(),
        )

    def rows(self) -> list[WorkerRow]:
        now = time.time()
        rows: list[WorkerRow] = []
        for index in range(self.workers):
            req, open_, total, rss, pid, started, published = _ROW.unpack_from(
                self._map, index * _ROW.size
            )
            if not pid:
                continue
            rows.append(
                WorkerRow(
                    index=index,
                    pid=pid,
                    requests=req,
                    connections_open=open_,
                    connections_total=total,
                    rss_bytes=rss,
                    uptime=round(now - started, 3),
                    age=round(now - published, 3),
                )
            )
        return rows


_local = threading.local()
_board: StatsBoard | None = None
_main_counters = WorkerCounters()


def worker_counters() -> WorkerCounters:
    """This parallel context's own counters (the main context gets a private set)."""
    counters: WorkerCounters | None = getattr(_local, "counters", None)
    if counters is None:
        return _main_counters
    return counters


def _install(board: StatsBoard | None, counters: WorkerCounters | None) -> None:
    """Called by an engine when a parallel context starts (and with None in main)."""
    global _board
    if board is not None:
        _board = board
    _local.counters = counters


def _publish_own() -> None:
    index = worker_index()
    counters = getattr(_local, "counters", None)
    if _board is not None and index is not None and counters is not None:
        _board.publish(index, counters)


def snapshot() -> Snapshot:
    """A frozen-in-time view of every worker's counters and their totals."""
    _publish_own()
    if _board is None:
        counters = worker_counters()
        rows = [
            WorkerRow(
                index=0,
                pid=os.getpid(),
                requests=counters.requests,
                connections_open=counters.connections_open,
                connections_total=counters.connections_total,
                rss_bytes=_sample_rss() or 0,
                uptime=round(time.time() - counters.started_at, 3),
                age=0.0,
            )
        ]
        engine, started = "none", counters.started_at
    else:
        rows = _board.rows()
        engine, started = _board.engine, _board.started_at
    # Threads share one process: its RSS is counted once, not once per worker.
    pids = {row["pid"]: row["rss_bytes"] for row in rows}
    totals = Totals(
        requests=sum(row["requests"] for row in rows),
        connections_open=sum(row["connections_open"] for row in rows),
        connections_total=sum(row["connections_total"] for row in rows),
        rss_bytes=sum(pids.values()),
    )
    return Snapshot(
        engine=engine,
        workers=rows,
        totals=totals,
        uptime=round(time.time() - started, 3),
    )


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


_sample_failure_logged = False


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:  # not Linux, or out of descriptors
        if resource is None:
            raise
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _sample_rss() -> int | None:
    """The memory figure, or None when it cannot be taken now (said once per process)."""
    global _sample_failure_logged
    try:
        return _rss_bytes()
    except Exception as exc:
        if not _sample_failure_logged:
            _sample_failure_logged = True
            log.warning("could not sample memory use (%s); statistics keep the last figure", exc)
        return None
