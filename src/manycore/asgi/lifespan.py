"""The ASGI lifespan protocol, run in every parallel context.

Each worker runs the application's ``lifespan`` scope on its own loop before
it serves (``lifespan.startup``) and after it stops (``lifespan.shutdown``):
what the application opens at startup -- a database pool, a model -- belongs
to that worker.  The scope's ``state`` dict is the worker's; every request
gets a shallow copy of it as ``scope["state"]`` (ASGI lifespan state).

Modes: ``on`` requires the application to support lifespan; ``auto`` serves
an application that raises on the lifespan scope, or returns without
answering, without it (one info line); ``off`` never sends the scope.  A
failed startup (``lifespan.startup.failed``, or an exception with ``on``)
stops the server with one line (:class:`~manycore.registry.WorkerStartAborted`)
instead of restarting the worker again and again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from ..registry import WorkerStartAborted

__all__ = ["LIFESPAN_MODES", "Lifespan"]

log = logging.getLogger("manycore.asgi")

LIFESPAN_MODES = ("auto", "on", "off")


class _Context(threading.local):
    """One parallel context's lifespan: its state and the running lifespan coroutine."""

    state: dict[str, Any] | None = None
    task: asyncio.Task[None] | None = None
    inbox: asyncio.Queue[dict[str, Any]] | None = None
    shutdown: asyncio.Future[None] | None = None


class Lifespan:
    """Startup and shutdown of one application, once per parallel context."""

    def __init__(self, app: Any, mode: str = "auto") -> None:
        if mode not in LIFESPAN_MODES:
            raise ValueError(f"lifespan mode must be one of {', '.join(LIFESPAN_MODES)}: {mode!r}")
        self.app = app
        self.mode = mode
        self._context = _Context()

    @property
    def state(self) -> dict[str, Any] | None:
        """The calling parallel context's lifespan state (None before startup or without one)."""
        return self._context.state

    async def startup(self) -> None:
        """Run ``lifespan.startup`` (an ``on_worker_start`` hook)."""
        if self.mode == "off":
            self._context.state = {}
            return
        loop = asyncio.get_running_loop()
        context = self._context
        state: dict[str, Any] = {}
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        started: asyncio.Future[str | None] = loop.create_future()
        context.shutdown = shutdown = loop.create_future()
        context.inbox = inbox
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": state,
        }

        async def send(message: dict[str, Any]) -> None:
            kind = message.get("type")
            if kind == "lifespan.startup.complete" and not started.done():
                started.set_result(None)
            elif kind == "lifespan.startup.failed" and not started.done():
                started.set_result(str(message.get("message") or "no reason given"))
            elif kind == "lifespan.shutdown.complete" and not shutdown.done():
                shutdown.set_result(None)
            elif kind == "lifespan.shutdown.failed" and not shutdown.done():
                shutdown.set_exception(
                    RuntimeError(str(message.get("message") or "no reason given"))
                )
            else:
                raise RuntimeError(f"unexpected ASGI lifespan message {kind!r}")

        async def run() -> None:
            try:
                await self.app(scope, inbox.get, send)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                if not started.done():
                    if self.mode == "auto":
                        log.info(
                            "the application raised %s on the lifespan scope; serving it "
                            "without lifespan (--lifespan on makes this an error)",
                            type(exc).__name__,
                        )
                        started.set_result(_UNSUPPORTED)
                    else:
                        started.set_exception(exc)
                elif not shutdown.done():
                    shutdown.set_exception(exc)
                return
            if not started.done():
                if self.mode == "auto":
                    log.info("the application does not support lifespan; serving it without")
                    started.set_result(_UNSUPPORTED)
                else:
                    started.set_result("the application returned without answering startup")
            if not shutdown.done():
                shutdown.set_result(None)

        await inbox.put({"type": "lifespan.startup"})
        context.task = loop.create_task(run())
        try:
            failure = await started
        except Exception as exc:
            raise WorkerStartAborted(
                f"ASGI lifespan startup failed: the application raised {type(exc).__name__}: {exc}"
            ) from None
        if failure == _UNSUPPORTED:
            context.task = None
            context.state = {}
            return
        if failure is not None:
            raise WorkerStartAborted(f"ASGI lifespan startup failed: {failure}")
        context.state = state

    async def shutdown(self) -> None:
        """Run ``lifespan.shutdown`` (an ``on_worker_stop`` hook)."""
        context = self._context
        task, inbox, done = context.task, context.inbox, context.shutdown
        context.task = None
        if task is None or inbox is None or done is None or task.done():
            return
        await inbox.put({"type": "lifespan.shutdown"})
        try:
            await done
        except Exception as exc:
            log.error("ASGI lifespan shutdown failed: %s", exc)
        if not task.done():
            try:
                await asyncio.wait_for(task, timeout=5.0)
            except Exception:  # too slow, or failed: either way it is over
                task.cancel()


_UNSUPPORTED = "\0unsupported"
