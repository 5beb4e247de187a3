"""Statistics: each worker's own counters, and one view of every worker from any of them.

What ``/stats`` and ``manycore.stats.snapshot()`` rely on: a worker writes only
its own counters; a snapshot shows every worker that has published, from any
worker (threads of one process, or forked processes, through shared memory);
totals add the workers up but count a process's memory once; a worker whose
memory cannot be sampled keeps its last figure rather than failing.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterator

import pytest

from manycore import stats
from manycore.context import restore_thread_context, set_thread_context
from manycore.stats import StatsBoard, WorkerCounters, snapshot, worker_counters


@pytest.fixture(autouse=True)
def _fresh_module_state() -> Iterator[None]:
    """Engines install a board process-wide: put back whatever was there."""
    board = stats._board
    counters = getattr(stats._local, "counters", None)
    logged = stats._sample_failure_logged
    yield
    stats._board = board
    stats._local.counters = counters
    stats._sample_failure_logged = logged


def _as_worker(index: int, board: StatsBoard, counters: WorkerCounters, fn) -> object:
    """Run ``fn`` in a new thread that is parallel context ``index`` (as the threads engine)."""
    result: list = []

    def run() -> None:
        previous = set_thread_context(True, index)
        try:
            stats._install(board, counters)
            result.append(fn())
        finally:
            restore_thread_context(previous)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert result, "the worker thread failed"
    return result[0]


# ------------------------------------------------------------------ without an engine
def test_the_main_context_has_its_own_counters_and_always_the_same_ones():
    stats._local.counters = None
    assert worker_counters() is worker_counters()
    assert isinstance(worker_counters(), WorkerCounters)


def test_a_snapshot_without_an_engine_shows_this_process_alone():
    stats._board = None
    stats._local.counters = None
    counters = worker_counters()
    counters.requests += 3
    view = snapshot()
    assert view["engine"] == "none"
    (row,) = view["workers"]
    assert row["pid"] == os.getpid() and row["age"] == 0.0
    assert row["requests"] == counters.requests
    assert row["rss_bytes"] > 0
    assert view["totals"]["requests"] == counters.requests
    assert view["totals"]["rss_bytes"] == row["rss_bytes"]
    assert view["uptime"] >= 0


# ------------------------------------------------------------------ the board
def test_a_board_shows_only_the_workers_that_have_published():
    board = StatsBoard(3, "threads")
    assert board.rows() == []
    board.publish(1, WorkerCounters(requests=5, connections_open=2, connections_total=7))
    (row,) = board.rows()
    assert row["index"] == 1 and row["pid"] == os.getpid()
    assert (row["requests"], row["connections_open"], row["connections_total"]) == (5, 2, 7)
    assert row["rss_bytes"] > 0
    assert 0 <= row["age"] < 60
    assert row["uptime"] >= 0


def test_a_row_shows_the_latest_publication():
    board = StatsBoard(1, "threads")
    counters = WorkerCounters()
    for requests in (1, 2, 40):
        counters.requests = requests
        board.publish(0, counters)
    assert board.rows()[0]["requests"] == 40


def test_a_board_is_shared_with_forked_workers():
    board = StatsBoard(2, "processes")
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # fork with threads: the child only writes
        pid = os.fork()
    if pid == 0:
        try:
            board.publish(1, WorkerCounters(requests=11))
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    (row,) = board.rows()
    assert (row["index"], row["pid"], row["requests"]) == (1, pid, 11)


def test_any_worker_sees_every_worker_and_the_totals():
    board = StatsBoard(2, "threads")
    first = WorkerCounters(requests=4, connections_open=1, connections_total=2)
    second = WorkerCounters(requests=6, connections_open=0, connections_total=3)
    _as_worker(0, board, first, snapshot)  # a snapshot publishes the asker's own row
    view = _as_worker(1, board, second, snapshot)
    assert view["engine"] == "threads"
    assert [row["index"] for row in view["workers"]] == [0, 1]
    assert view["totals"]["requests"] == 10
    assert view["totals"]["connections_open"] == 1
    assert view["totals"]["connections_total"] == 5


def test_threads_of_one_process_count_its_memory_once():
    board = StatsBoard(2, "threads")
    _as_worker(0, board, WorkerCounters(), snapshot)
    view = _as_worker(1, board, WorkerCounters(), snapshot)
    rows = view["workers"]
    assert len(rows) == 2 and rows[0]["pid"] == rows[1]["pid"]
    assert view["totals"]["rss_bytes"] == rows[1]["rss_bytes"]


def test_each_worker_thread_writes_only_its_own_counters():
    board = StatsBoard(2, "threads")
    mine = WorkerCounters()
    theirs = WorkerCounters()
    assert _as_worker(0, board, mine, worker_counters) is mine
    assert _as_worker(1, board, theirs, worker_counters) is theirs


# ------------------------------------------------------------------ memory that cannot be sampled
def test_a_failed_memory_sample_keeps_the_last_figure_and_is_said_once(monkeypatch, caplog):
    board = StatsBoard(1, "processes")
    board.publish(0, WorkerCounters(requests=1))
    before = board.rows()[0]["rss_bytes"]

    def out_of_descriptors() -> int:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(stats, "_rss_bytes", out_of_descriptors)
    stats._sample_failure_logged = False
    with caplog.at_level(logging.WARNING, logger="manycore.stats"):
        board.publish(0, WorkerCounters(requests=2))
        board.publish(0, WorkerCounters(requests=3))
    row = board.rows()[0]
    assert (row["requests"], row["rss_bytes"]) == (3, before)
    warnings_logged = [r for r in caplog.records if "could not sample memory" in r.getMessage()]
    assert len(warnings_logged) == 1


def test_a_snapshot_without_an_engine_survives_a_failed_memory_sample(monkeypatch):
    stats._board = None

    def out_of_descriptors() -> int:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(stats, "_rss_bytes", out_of_descriptors)
    stats._sample_failure_logged = True  # said already: keep the test's log quiet
    assert snapshot()["workers"][0]["rss_bytes"] == 0
