"""Flow control for a connection: bounded work for a client that does not keep up.

A client may pipeline any number of requests and read the answers as slowly as
it likes; the server must not turn that into unbounded memory.  Three bounds,
checked where work is produced, never per byte:

- at most ``max_pipeline`` requests wait on async handlers;
- at most about ``write_buffer_limit`` bytes of answers wait to be read;
- at most one file send is in flight behind another (each holds a descriptor).

Past a bound, parsing stops at the next request boundary (the rest of the read
is *held*, unparsed) and reading pauses; when the output drains or the queue
shrinks, reading resumes and the held input is parsed first.  This module is a
mixin of :class:`~manycore.http._connection.HttpConnection` and works on its
state (``out``, ``queue``, ``held``, ``paused``, ``transport``, ``loop``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._modes import BIG_FILE, BigOutput
from ._signals import PauseParsing

__all__ = ["FlowControl"]


class FlowControl:
    """Pause and resume reading so that output and queued work stay bounded."""

    # The state lives in the host connection's slots.  Hidden from mypy, which would
    # check this mixin's assignments against the empty tuple instead of the host's slots.
    if not TYPE_CHECKING:
        __slots__ = ()
    out: list[bytes]
    queue: Any
    held: bytes | None
    paused: bool
    closing: bool
    closed: bool
    big_output: BigOutput
    max_pipeline: int
    write_buffer_limit: int
    send_timeout: float
    transport: Any
    loop: Any
    _time: Callable[[], float]
    _arm: Callable[[float], None]  # from Timeouts
    data_received: Any  # from HttpConnection: held input is parsed through it

    def _over_limits(self) -> bool:
        """Too much output produced in this read, or too many requests waiting."""
        queue = self.queue
        if queue is not None and len(queue) >= self.max_pipeline:
            return True
        return sum(map(len, self.out)) > self.write_buffer_limit

    def _check_pipeline(self) -> None:
        """Called while parsing: stop at this message boundary if over the bounds."""
        if self.queue is not None and len(self.queue) >= self.max_pipeline and not self.closing:
            raise PauseParsing

    def _should_pause(self) -> bool:
        """After a large answer or a file: is output over the bounds?"""
        if self.closing:
            return False
        return self._over_limits() or (self.big_output is BIG_FILE and self._output_busy())

    def _output_busy(self) -> bool:
        transport = self.transport
        return transport.get_write_buffer_size() > self.write_buffer_limit or bool(
            getattr(transport, "sending_file", False)
        )

    def _check_output(self, sent_file: bool = False) -> None:
        """A client that does not read must not make us produce more: pause until drained.

        Queued file sends hold no memory but do hold a descriptor each, so a read
        that queued a file behind one still in flight also pauses.
        """
        transport = self.transport
        if self.paused or self.closing:
            return
        if transport.get_write_buffer_size() > self.write_buffer_limit or (
            sent_file and getattr(transport, "sending_file", False)
        ):
            self._pause_reading()
            self.loop.create_task(self._resume_when_drained())

    async def _resume_when_drained(self) -> None:
        await self.transport.drain()
        self._resume_reading()

    def _hold(self, data: bytes) -> None:
        """Keep unparsed input and stop reading until the bounds are met again."""
        self.held = data if self.held is None else self.held + data
        self._pause_reading()
        if self._output_busy():
            self.loop.create_task(self._resume_when_drained())
        elif self.queue is None:
            self.loop.call_soon(self._resume_reading)
        # else: _flush resumes once the queue has shrunk

    def _pause_reading(self) -> None:
        if not self.paused:
            self.paused = True
            self.transport.pause_reading()
            self._arm(self._time() + self.send_timeout)  # a reader that never drains

    def _resume_reading(self) -> None:
        """Read again (and parse held input) once output and the queue are within bounds."""
        if not self.paused or self.closed or self.closing:
            return
        if self.queue is not None and len(self.queue) >= self.max_pipeline // 2:
            return
        if self._output_busy():
            self.loop.create_task(self._resume_when_drained())
            return
        self.paused = False
        self.transport.resume_reading()
        held = self.held
        if held is not None:
            self.held = None
            output = self.data_received(self.transport, held)
            if output:
                self.transport.write(output)
