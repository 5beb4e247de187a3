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

A Task per request costs a loop iteration before the application starts and a
system call per response, where stepping answers sixteen pipelined requests in
one write.  :class:`HostTask` gives those applications one Task per
connection instead: the request is stepped right away with that Task entered
as the loop's current task (what ``asyncio``'s eager tasks do), and when it
waits, the same Task finishes it -- so a cancel scope entered in the first
step is left in the Task it was entered in.
"""

from __future__ import annotations

import asyncio
from asyncio.tasks import _enter_task, _leave_task  # what eager tasks build on
from collections.abc import Callable, Coroutine, Generator
from contextvars import Context
from typing import Any

__all__ = ["HostTask", "Outcome", "in_task", "resume_in_task"]

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


class HostTask:
    """A connection's one Task: current while a request is stepped, and the finisher of a
    request that waits.  Only one request at a time: while it finishes one, the next runs
    in a Task of its own (:func:`in_task`)."""

    __slots__ = ("_closing", "_job", "_loop", "_task")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._closing = False
        self._job: asyncio.Future[tuple[Any, ...] | None] = loop.create_future()
        self._task = loop.create_task(self._serve())

    def run(self, coro: Coroutine[Any, Any, Any], context: Context, done: Outcome) -> bool:
        """Step ``coro`` in ``context`` as this Task; False (nothing done) when the Task is
        busy finishing another request or another Task is running."""
        job = self._job
        if job.done():
            return False
        loop, task = self._loop, self._task
        try:
            _enter_task(loop, task)
        except RuntimeError:  # called from inside a running Task
            return False
        try:
            yielded = context.run(coro.send, None)
        except StopIteration:
            outcome: Exception | None = None
        except Exception as exc:  # the application's failure: ``done`` reports it
            outcome = exc
        else:
            job.set_result((coro, yielded, context, done))
            return True
        finally:
            _leave_task(loop, task)
        done(outcome)
        return True

    def close(self) -> None:
        """The connection is gone: the Task ends once it has no request to finish."""
        self._closing = True
        if not self._job.done():
            self._job.set_result(None)

    async def _serve(self) -> None:
        # Cancelled, idle or not, the Task ends like any other; its job future is done
        # either way, so :meth:`run` declines and each later request gets a Task of its own.
        while True:
            job = await self._job
            if job is None:
                return
            coro, yielded, context, done = job
            try:
                await _Resume(coro, yielded, context)
            except asyncio.CancelledError:
                done(None)
                raise
            except Exception as exc:  # the application's failure: ``done`` reports it
                done(exc)
            except BaseException as exc:
                done(exc)
                raise
            else:
                done(None)
            if self._closing:
                return
            self._job = self._loop.create_future()


class _Resume:
    """Awaiting it continues a coroutine that suspended on ``yielded`` outside any Task."""

    __slots__ = ("context", "coro", "yielded")

    def __init__(
        self, coro: Coroutine[Any, Any, Any], yielded: Any, context: Context | None = None
    ) -> None:
        self.coro = coro
        self.yielded = yielded
        self.context = context  # None: the awaiting Task's own

    def __await__(self) -> Generator[Any, None, Any]:
        coro = self.coro
        yielded = self.yielded
        context = self.context
        self.yielded = None
        while True:
            try:
                yield yielded  # the Task waits on it exactly as if the coroutine had
            except BaseException as exc:  # cancellation and the like: the coroutine's to handle
                try:
                    yielded = coro.throw(exc) if context is None else context.run(coro.throw, exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                yielded = coro.send(None) if context is None else context.run(coro.send, None)
            except StopIteration as stop:
                return stop.value


_NO_LOOP = RuntimeError(
    "the application waited on the event loop, and this connection has none "
    "(an in-memory test transport); test it on a real server or give the transport a loop"
)
