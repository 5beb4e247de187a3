"""Which context is this code running in: the main context or a parallel one?

The main context imports the application, loads its state and starts the
engine.  Parallel contexts run protocol callbacks.  On the ``processes``
engine a parallel context is a forked worker process; on ``threads`` it is a
worker thread; on ``inline`` it is the main thread while it runs the event
loop.  The flag is therefore per thread, with a per-process default that a
forked worker flips once.

Nothing here imports any other part of manycore: every layer may use it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = [
    "ManycoreError",
    "ParallelContextError",
    "ThreadContext",
    "context_name",
    "enter_parallel_process",
    "in_parallel_context",
    "main_only",
    "parallel_only",
    "restore_thread_context",
    "set_thread_context",
    "worker_index",
]

P = ParamSpec("P")
R = TypeVar("R")


class ManycoreError(Exception):
    """Base class of the errors manycore raises on purpose."""


class ParallelContextError(ManycoreError, RuntimeError):
    """Code ran in the wrong context, or tried to mutate shared main-context state."""


class _ContextState(threading.local):
    # Class attributes are the defaults every new thread sees.
    parallel: bool | None = None  # None: use the process default
    worker: int | None = None


ThreadContext = tuple[bool | None, int | None]
"""A thread's (parallel flag, worker index); None in either means the process default."""

_process_parallel = False
_process_worker: int | None = None
_state = _ContextState()


def in_parallel_context() -> bool:
    """True inside a protocol callback, a worker, or work submitted from one."""
    flag = _state.parallel
    return _process_parallel if flag is None else flag


def worker_index() -> int | None:
    """The index (0..workers-1) of the parallel context running this code, or None in main."""
    if not in_parallel_context():
        return None
    return _process_worker if _state.worker is None else _state.worker


def context_name() -> str:
    index = worker_index()
    return "the main context" if index is None else f"parallel context {index}"


def enter_parallel_process(index: int) -> None:
    """Mark this process as parallel context ``index``; the engines call it once after fork."""
    global _process_parallel, _process_worker
    _process_parallel = True
    _process_worker = index
    _state.parallel = None
    _state.worker = None


def set_thread_context(parallel: bool | None, worker: int | None = None) -> ThreadContext:
    """Set this thread's context (the engines' and the channel's job, not a program's).

    Returns the previous one, for :func:`restore_thread_context`.
    """
    previous = (_state.parallel, _state.worker)
    _state.parallel = parallel
    _state.worker = worker
    return previous


def restore_thread_context(previous: ThreadContext) -> None:
    """Put back a context that :func:`set_thread_context` returned."""
    _state.parallel, _state.worker = previous


def main_only(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: ``fn`` may only run in the main context (loading state, starting engines)."""

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        if in_parallel_context():
            raise ParallelContextError(
                f"{fn.__qualname__}() must run in the main context, but was called from "
                f"{context_name()}; use manycore.call_from_main_thread({fn.__name__}, ...) "
                "to ask the main context to run it"
            )
        return fn(*args, **kwargs)

    return guarded


def parallel_only(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: ``fn`` may only run in a parallel context (a protocol callback or a worker)."""

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        if not in_parallel_context():
            raise ParallelContextError(
                f"{fn.__qualname__}() must run in a parallel context (a protocol callback "
                "or submitted work), but was called from the main context"
            )
        return fn(*args, **kwargs)

    return guarded
