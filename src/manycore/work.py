"""Work that is not a protocol callback: submitted work, timers, calls into the main context.

* :func:`submit_work` runs a function in a parallel context and returns a
  ``concurrent.futures.Future``.  From the main context it uses a pool of
  parallel contexts (forked processes on a GIL build, threads on a
  free-threaded one); from inside a parallel context it uses a small per-worker
  thread pool, so blocking work does not stall the event loop.  Callbacks run
  back in the submitting context (on its event loop when it has one).
* :func:`call_from_main_thread` asks the main context to run a function.  On
  every engine the function and its arguments travel pickled, exactly as they
  must between processes, so a program that works on one engine works on all
  (a lambda fails the same way everywhere, with a message saying why).
* :func:`timer` calls a function later, once or repeatedly, in the context
  that created it.

Nothing here is a home-made pool: the pools are ``concurrent.futures``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import multiprocessing
import os
import pickle
import sys
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar, TypeVarTuple

from .channel import current_link, run_now
from .context import (
    ParallelContextError,
    enter_parallel_process,
    in_parallel_context,
    set_thread_context,
    worker_index,
)

__all__ = [
    "Timer",
    "call_from_main_thread",
    "call_from_main_thread_and_wait",
    "submit_work",
    "timer",
]

log = logging.getLogger("manycore.work")

T = TypeVar("T")
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")


def gil_enabled() -> bool:
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else check()


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


# ---------------------------------------------------------------- submit_work

_main_executor: concurrent.futures.Executor | None = None
_main_executor_lock = threading.Lock()
_worker_executors = threading.local()


def _pool_process_initializer() -> None:
    enter_parallel_process(-1)


def _pool_thread_initializer(index: int | None) -> None:
    set_thread_context(True, index)


def _executor_for_caller() -> concurrent.futures.Executor:
    global _main_executor
    if in_parallel_context():
        executor = getattr(_worker_executors, "executor", None)
        if executor is None:
            executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=4,
                thread_name_prefix=f"manycore-work-{worker_index()}",
                initializer=_pool_thread_initializer,
                initargs=(worker_index(),),
            )
            _worker_executors.executor = executor
        return executor
    with _main_executor_lock:
        if _main_executor is None:
            if gil_enabled() and sys.platform != "win32":
                _main_executor = concurrent.futures.ProcessPoolExecutor(
                    max_workers=cpu_count(),
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_pool_process_initializer,
                )
            else:
                _main_executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=cpu_count(),
                    thread_name_prefix="manycore-work",
                    initializer=_pool_thread_initializer,
                    initargs=(None,),
                )
        return _main_executor


def shutdown_work_pools() -> None:
    """Stop the pools this context created (engines call it when a context ends)."""
    global _main_executor
    executor = getattr(_worker_executors, "executor", None)
    if executor is not None:
        executor.shutdown(wait=False, cancel_futures=True)
        _worker_executors.executor = None
    if not in_parallel_context() and _main_executor is not None:
        _main_executor.shutdown(wait=True, cancel_futures=True)
        _main_executor = None


def _shutdown_main_pool_at_exit() -> None:
    if not in_parallel_context():
        shutdown_work_pools()


atexit.register(_shutdown_main_pool_at_exit)


def _require_picklable(fn: Callable[..., object], api: str) -> None:
    try:
        pickle.dumps(fn)
    except Exception as exc:
        name = getattr(fn, "__qualname__", repr(fn))
        raise TypeError(
            f"{api}() needs a function it can send to another context, and {name} cannot be "
            f"pickled ({exc}); define it with def at module level"
        ) from None


def submit_work(
    fn: Callable[[*Ts], T],
    *args: *Ts,
    callback: Callable[[T], object] | None = None,
    errback: Callable[[BaseException], object] | None = None,
) -> concurrent.futures.Future[T]:
    """Run ``fn(*args)`` in a parallel context; returns a ``concurrent.futures.Future``.

    ``callback(result)`` or ``errback(exception)`` runs in the submitting
    context: on its event loop if it has one, otherwise in a pool thread.
    Without an errback, a failure is logged (and stays in the future).
    """
    if not in_parallel_context() and gil_enabled():
        _require_picklable(fn, "submit_work")
    future = _executor_for_caller().submit(fn, *args)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None

    def finished(done: concurrent.futures.Future[T]) -> None:
        if done.cancelled():
            return
        exc = done.exception()
        try:
            if exc is None:
                if callback is not None:
                    callback(done.result())
            elif errback is not None:
                errback(exc)
            else:
                log.error("submitted work %r failed", fn, exc_info=exc)
        except Exception:
            log.exception("callback of submitted work %r raised", fn)

    if loop is not None:
        future.add_done_callback(lambda done: loop.call_soon_threadsafe(finished, done))
    else:
        future.add_done_callback(finished)
    return future


# ---------------------------------------------------------- main-context calls


def call_from_main_thread(
    fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> concurrent.futures.Future[T]:
    """Ask the main context to run ``fn(*args, **kwargs)``; returns a ``concurrent.futures.Future``.

    From a coroutine, ``await asyncio.wrap_future(future)`` waits without
    blocking the event loop.  Called in the main context, ``fn`` runs at once.
    """
    if not in_parallel_context():
        return run_now(fn, args, kwargs)
    link = current_link()
    if link is None:
        raise ParallelContextError(
            "call_from_main_thread() needs a running engine: this parallel context has no "
            "link to the main context (submitted work cannot call back into main)"
        )
    return link.call(fn, args, kwargs)


def call_from_main_thread_and_wait(
    fn: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any
) -> T:
    """Like :func:`call_from_main_thread` but block until the result is back.

    Blocks this parallel context's event loop for the round trip; from
    ``async def`` code prefer ``await asyncio.wrap_future(call_from_main_thread(...))``.
    """
    return call_from_main_thread(fn, *args, **kwargs).result(timeout)


# ---------------------------------------------------------------------- timers


class Cancellable(Protocol):
    """A scheduled call that can be called off (an ``asyncio.TimerHandle``, say)."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """What runs timers: an event loop, or the main context's supervisor."""

    def call_later(self, delay: float, callback: Callable[[], object], /) -> Cancellable: ...


class Timer:
    """A pending call made by :func:`timer`; ``cancel()`` stops it."""

    _scheduler: Scheduler  # set by _start(), before the first call can fire

    def __init__(
        self, delay: float, fn: Callable[..., object], args: tuple[Any, ...], repeat: bool
    ) -> None:
        self.delay = delay
        self.fn = fn
        self.args = args
        self.repeat = repeat
        self.cancelled = False
        self._handle: Cancellable | None = None

    def cancel(self) -> None:
        self.cancelled = True
        if self._handle is not None:
            self._handle.cancel()

    def _start(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        if not self.cancelled:
            self._handle = scheduler.call_later(self.delay, self._fire)

    def _fire(self) -> None:
        if self.cancelled:
            return
        try:
            result = self.fn(*self.args)
            if asyncio.iscoroutine(result):
                asyncio.get_running_loop().create_task(result)
        except Exception:
            log.exception("timer callback %r raised", self.fn)
        if self.repeat and not self.cancelled:
            self._handle = self._scheduler.call_later(self.delay, self._fire)

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "active"
        return f"<Timer {self.fn!r} every={self.delay if self.repeat else None} {state}>"


_main_scheduler: Scheduler | None = None
_pending_main_timers: list[Timer] = []


def install_main_scheduler(scheduler: Scheduler | None) -> None:
    """Engines call this with an object offering ``call_later(delay, fn)`` (or None)."""
    global _main_scheduler
    _main_scheduler = scheduler
    if scheduler is not None:
        pending, _pending_main_timers[:] = list(_pending_main_timers), []
        for t in pending:
            t._start(scheduler)


def timer(delay: float, fn: Callable[[*Ts], object], *args: *Ts, repeat: bool = False) -> Timer:
    """Call ``fn(*args)`` after ``delay`` seconds (every ``delay`` seconds if ``repeat``).

    In a parallel context it runs on that context's event loop.  In the main
    context it runs in the main context once the engine is running (timers made
    before ``run()`` start with it).
    """
    if delay < 0:
        raise ValueError(f"timer delay must be >= 0 seconds, got {delay!r}")
    t = Timer(delay, fn, args, repeat)
    if in_parallel_context():
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ParallelContextError(
                "manycore.timer() in a parallel context must be called from a callback "
                "running on its event loop"
            ) from None
        t._start(loop)
    elif _main_scheduler is not None:
        t._start(_main_scheduler)
    else:
        _pending_main_timers.append(t)
    return t
