"""manycore: PyParallel's programming model on modern CPython.

Protocol classes whose callbacks return what to send run in parallel
contexts on every core, all reading one read-only state that the main
context loaded first.  See ``docs/concepts.md``.
"""

from . import aio, stats
from ._version import __version__
from .context import (
    ManycoreError,
    ParallelContextError,
    in_parallel_context,
    main_only,
    parallel_only,
    worker_index,
)
from .engine import run
from .protocol import LineTooLongError
from .registry import client, on_worker_start, on_worker_stop, register, server
from .shared import FrozenDict, FrozenList, PackedDict, PackedList, register_immutable, share
from .transport import Transport
from .work import (
    Timer,
    call_from_main_thread,
    call_from_main_thread_and_wait,
    submit_work,
    timer,
)

__all__ = [
    "FrozenDict",
    "FrozenList",
    "LineTooLongError",
    "ManycoreError",
    "PackedDict",
    "PackedList",
    "ParallelContextError",
    "Timer",
    "Transport",
    "__version__",
    "aio",
    "call_from_main_thread",
    "call_from_main_thread_and_wait",
    "client",
    "in_parallel_context",
    "main_only",
    "on_worker_start",
    "on_worker_stop",
    "parallel_only",
    "register",
    "register_immutable",
    "run",
    "server",
    "share",
    "stats",
    "submit_work",
    "timer",
    "worker_index",
]
