"""Running an application's coroutine without a Task until it really has to wait.

Most requests to an ASGI application never wait for anything: ``receive()``
finds the body already here and ``send()`` writes at once.  Wrapping each in an
``asyncio.Task`` would cost a Task, a trip through the event loop and the
response leaving one loop iteration later, after the read that carried the
request was answered.  So the connection steps the coroutine itself
(``coro.send(None)``); only when it yields a future -- it truly waits on the
loop -- does the rest of it move into a Task, which picks up exactly where the
stepping stopped (:class:`_Resume` hands the pending future to the Task).

Each request is stepped in a copy of the context, and its Task (if it needs
one) runs in that same copy, so ContextVars behave as under a Task per request.
What does not: ``asyncio.current_task()`` is None until the coroutine first
waits.  Libraries that find their task that way (anyio, and so Starlette's
thread pool and FastAPI; ``asyncio.timeout()``) need a Task from the first
step on: such applications run in a Task per request (``task_per_request``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from contextvars import Context
from typing import Any

__all__ = ["Outcome", "in_task", "resume_in_task"]

Outcome = Callable[[BaseException | None], None]
"""Called once the coroutine has ended: with None, or with what it raised."""


def in_task(
    coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop | None, done: Outcome
) -> None:
    """Run ``coro`` in a Task from its first step on."""
    if loop is None:
        coro.close()
        done(_NO_LOOP)
        return
    loop.create_task(_finish(coro, None, done))


def resume_in_task(
    coro: Coroutine[Any, Any, Any],
    yielded: Any,
    loop: asyncio.AbstractEventLoop | None,
    done: Outcome,
    context: Context,
) -> None:
    """``coro``, stepped outside any Task in ``context``, suspended on ``yielded``: a Task
    finishes it, in the same context."""
    if loop is None:
        coro.close()
        done(_NO_LOOP)
        return
    loop.create_task(_finish(coro, _Resume(coro, yielded), done), context=context)


async def _finish(coro: Coroutine[Any, Any, Any], resume: _Resume | None, done: Outcome) -> None:
    try:
        if resume is None:
            await coro
        else:
            await resume
    except asyncio.CancelledError:
        done(None)
        raise
    except BaseException as exc:
        done(exc)
        return
    done(None)


class _Resume:
    """Awaiting it continues a coroutine that suspended on ``yielded`` outside any Task."""

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self.coro = coro
        self.yielded = yielded

    def __await__(self) -> Generator[Any, None, Any]:
        coro = self.coro
        yielded = self.yielded
        self.yielded = None
        while True:
            try:
                yield yielded  # the Task waits on it exactly as if the coroutine had
            except BaseException as exc:  # cancellation and the like: the coroutine's to handle
                try:
                    yielded = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                yielded = coro.send(None)
            except StopIteration as stop:
                return stop.value


_NO_LOOP = RuntimeError(
    "the application waited on the event loop, and this connection has none "
    "(an in-memory test transport); test it on a real server or give the transport a loop"
)
