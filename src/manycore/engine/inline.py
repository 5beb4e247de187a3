"""The ``inline`` engine: one event loop in the main thread, for debugging.

Callbacks run in the main thread (so a debugger or ``breakpoint()`` steps
straight through them) but still count as a parallel context: the guards,
the frozen shared state and the pickled calls into the main context behave
exactly as on the other engines, so a program debugged here runs unchanged
on ``processes`` and ``threads``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..channel import InlineLink, install_link
from ..context import ManycoreError, restore_thread_context, set_thread_context
from ..registry import WorkerStartAborted
from ..work import install_main_scheduler
from .plan import Plan
from .worker import StartHookFailed, Worker, hook_traceback

__all__ = ["run_inline"]

log = logging.getLogger("manycore.engine")


class _MainOnLoop:
    """Main-context timers on the shared loop, run with the context switched to main."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def call_later(self, delay: float, fn: Callable[[], object], /) -> asyncio.TimerHandle:
        def in_main() -> None:
            previous = set_thread_context(False, None)
            try:
                fn()
            finally:
                restore_thread_context(previous)

        return self._worker.loop.call_later(delay, in_main)


class _InlineWorker(Worker):
    """The one worker, which also runs the main context's timers on its loop."""

    async def _serve(self) -> None:
        install_main_scheduler(_MainOnLoop(self))
        await super()._serve()


def run_inline(plan: Plan) -> None:
    worker = _InlineWorker(0, plan)
    previous = set_thread_context(True, 0)
    install_link(InlineLink(), process_wide=False)
    try:
        worker.run_with_signals()
    except StartHookFailed as exc:  # nothing to retry with: one worker, in this thread
        if isinstance(exc.__cause__, WorkerStartAborted):
            raise ManycoreError(str(exc.__cause__)) from None
        if exc.__cause__ is not None:
            trace = hook_traceback(exc.__cause__).rstrip()
            log.error("worker 0 failed in on_worker_start:\n%s", trace)
        raise ManycoreError(f"worker 0 could not start ({exc}); stopping the server") from None
    finally:
        install_main_scheduler(None)
        install_link(None, process_wide=False)
        restore_thread_context(previous)
