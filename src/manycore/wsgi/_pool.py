"""A bounded pool of threads for blocking WSGI calls, one per parallel context.

Measured against ``loop.run_in_executor`` (``bench/wsgi/handoff.py``): a ``SimpleQueue`` of
calls taken by the pool's own threads, each answering the loop by ``call_soon_threadsafe``,
costs the loop a tenth of the time per request with many requests in flight, because no
``concurrent.futures.Future`` (its condition variable, its callbacks, the asyncio future that
wraps it) is made per call.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from queue import SimpleQueue

Job = Callable[[], None]


class ThreadPool:
    """``size`` daemon threads taking jobs from one queue, started as the first jobs arrive.

    Daemon threads, so an application call that never returns cannot keep a stopping worker
    alive; each job reports its own outcome, so the pool needs no futures.
    """

    __slots__ = ("_jobs", "_size", "_started", "_threads")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a thread pool needs at least one thread, not {size}")
        self._size = size
        self._jobs: SimpleQueue[Job | None] = SimpleQueue()
        self._started = 0
        self._threads: list[threading.Thread] = []

    @property
    def size(self) -> int:
        return self._size

    def submit(self, job: Job) -> None:
        if self._started < self._size:
            self._start_thread()
        self._jobs.put(job)

    def _start_thread(self) -> None:
        self._started += 1
        thread = threading.Thread(
            target=self._work, name=f"manycore-wsgi-{self._started}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        jobs = self._jobs
        while (job := jobs.get()) is not None:
            job()

    def shutdown(self) -> None:
        """Let every thread finish the job it has and end; queued jobs still run first."""
        for _ in range(self._started):
            self._jobs.put(None)
        self._started = self._size  # no thread starts after a shutdown


class ContextPools:
    """One :class:`ThreadPool` per thread that serves requests, made on its first request.

    Each parallel context runs its event loop on one thread (a worker process's main thread,
    or one thread of the threads engine), so a thread-local pool is a pool per context, and
    none is made in the main context before it forks.  A forked child forgets the pool it
    inherited: its threads did not survive the fork.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._local = threading.local()
        reference = weakref.ref(self)

        def forget() -> None:
            pools = reference()
            if pools is not None:
                pools._local = threading.local()

        os.register_at_fork(after_in_child=forget)

    def get(self) -> ThreadPool:
        try:
            pool: ThreadPool = self._local.pool
        except AttributeError:
            pool = self._local.pool = ThreadPool(self.size)
        return pool

    def shutdown(self) -> None:
        """End this thread's pool, if it has one."""
        pool: ThreadPool | None = getattr(self._local, "pool", None)
        if pool is not None:
            pool.shutdown()
            del self._local.pool
