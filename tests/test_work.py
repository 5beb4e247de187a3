"""submit_work from the main context, and call_from_main_thread outside an engine."""

from __future__ import annotations

import os
import threading

import pytest

import manycore
from manycore.work import gil_enabled


def square(x: int) -> int:
    return x * x


def context_of_work(_: object = None) -> tuple[bool, int]:
    return manycore.in_parallel_context(), os.getpid()


def fail(message: str) -> None:
    raise ValueError(message)


def test_submit_work_from_main_runs_in_parallel_contexts():
    futures = [manycore.submit_work(square, n) for n in range(20)]
    assert [f.result(timeout=60) for f in futures] == [n * n for n in range(20)]
    parallel, pid = manycore.submit_work(context_of_work).result(timeout=60)
    assert parallel is True
    if gil_enabled():
        assert pid != os.getpid()  # a forked pool process


def test_callbacks_and_errbacks_receive_the_outcome():
    done = threading.Event()
    outcome = {}
    manycore.submit_work(square, 7, callback=lambda r: (outcome.update(result=r), done.set()))
    assert done.wait(60)
    done.clear()
    manycore.submit_work(
        fail, "bad input", errback=lambda e: (outcome.update(error=str(e)), done.set())
    )
    assert done.wait(60)
    assert outcome == {"result": 49, "error": "bad input"}


@pytest.mark.skipif(not gil_enabled(), reason="thread pools take any callable")
def test_submit_work_explains_unpicklable_functions():
    with pytest.raises(TypeError, match=r"cannot be pickled.*module level"):
        manycore.submit_work(lambda: 1)


def test_call_from_main_thread_in_main_runs_at_once():
    assert manycore.call_from_main_thread(square, 3).result(0) == 9
    assert manycore.call_from_main_thread_and_wait(square, 4) == 16


def test_timer_rejects_negative_delays():
    with pytest.raises(ValueError, match="delay must be >= 0"):
        manycore.timer(-1, square, 1)
