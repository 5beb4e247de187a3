"""The context flag and the main_only / parallel_only guards."""

from __future__ import annotations

import threading

import pytest

import manycore
from manycore import ParallelContextError, main_only, parallel_only
from manycore.context import restore_thread_context, set_thread_context


@main_only
def load_index() -> str:
    return "loaded"


@parallel_only
def handle() -> str:
    return "handled"


def test_the_test_process_is_the_main_context():
    assert manycore.in_parallel_context() is False
    assert manycore.worker_index() is None


def test_main_only_refuses_parallel_callers_and_says_what_to_do():
    previous = set_thread_context(True, 3)
    try:
        with pytest.raises(ParallelContextError, match=r"load_index\(\) must run in the main"):
            load_index()
        with pytest.raises(ParallelContextError, match=r"parallel context 3.*call_from_main"):
            load_index()
        assert handle() == "handled"
    finally:
        restore_thread_context(previous)


def test_parallel_only_refuses_the_main_context():
    assert load_index() == "loaded"
    with pytest.raises(ParallelContextError, match="must run in a parallel context"):
        handle()


def test_the_flag_is_per_thread():
    seen = {}

    def worker() -> None:
        set_thread_context(True, 1)
        seen["worker"] = (manycore.in_parallel_context(), manycore.worker_index())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["worker"] == (True, 1)
    assert manycore.in_parallel_context() is False


def test_guards_keep_the_wrapped_function_metadata():
    assert load_index.__name__ == "load_index"
    assert handle.__wrapped__() == "handled"
