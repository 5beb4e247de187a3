"""Timeouts for a connection: one timer, re-armed lazily, never per request.

The timer fires at the earliest deadline that the connection's state implies
and then re-evaluates that state, rather than being rescheduled on every read:

- a request head in progress must be complete ``header_timeout`` seconds after
  it began (slowloris), else **408** and close;
- a request body must not stall for ``body_timeout`` seconds, else **408**;
- a request body must arrive at ``body_min_rate`` bytes/s on average after a
  grace of ``body_grace`` seconds (as Apache's ``mod_reqtimeout``
  ``body=20,MinRate=500``: the deadline starts at ``body_grace`` and grows by a
  second per ``body_min_rate`` bytes received), else **408**: a trickle that
  never stalls is still cut off;
- an idle keep-alive connection closes after ``keepalive_timeout`` seconds;
- output that makes no progress for ``send_timeout`` seconds (a client that
  stopped reading) aborts the connection;
- while handlers run, nothing times out; after an error answer the connection
  lingers briefly, then closes.

Entering a state with an earlier deadline (a head that began arriving) re-arms
the timer; everything else only updates timestamps.  This module is a mixin
of :class:`~manycore.http._connection.HttpConnection` and works on its state.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from ._parser import RequestReader

__all__ = ["Timeouts"]

log = logging.getLogger("manycore.http")


class BodyRateSettings(Protocol):
    """The served application's minimum body rate (class attributes, read per check)."""

    body_grace: ClassVar[float]
    body_min_rate: ClassVar[float]


class Timeouts:
    """The connection's single timer and what it enforces."""

    # The state lives in the host connection's slots.  Hidden from mypy, which would
    # check this mixin's assignments against the empty tuple instead of the host's slots.
    if not TYPE_CHECKING:
        __slots__ = ()
    header_timeout: float
    body_timeout: float
    keepalive_timeout: float
    send_timeout: float
    head_started: float | None
    body_started: float | None  # when the request body in progress began arriving
    body_bytes: int  # bytes read since then
    app: BodyRateSettings
    last_activity: float
    linger_until: float | None
    timer: asyncio.TimerHandle | None
    timer_when: float
    out_mark: tuple[int, int | None, int | None] | None
    out_progress: float
    closing: bool
    closed: bool
    queue: Any
    reader: RequestReader | None
    transport: Any
    loop: Any
    _time: Callable[[], float]
    _timed_out: Any  # from HttpConnection: answers 408 and closes

    def _track_partial(
        self, reader: RequestReader, now: float, nbytes: int, new_message: int
    ) -> None:
        """A read ended inside a message; ``new_message``: a request completed in it."""
        if reader.in_head:
            self.body_started = None
            if self.head_started is None:
                self.head_started = now
                self._arm(now + self.header_timeout)
        else:
            self.head_started = None
            if self.body_started is None or new_message:
                self.body_started = now  # the body began in this read
                self.body_bytes = nbytes
            else:
                self.body_bytes += nbytes
            self._arm(min(now + self.body_timeout, self._body_rate_deadline()))

    def _body_rate_deadline(self) -> float:
        """When the body in progress falls below the minimum average rate."""
        cls = type(self.app)
        rate = cls.body_min_rate
        if not rate or self.body_started is None:
            return math.inf
        return self.body_started + cls.body_grace + self.body_bytes / rate

    def _arm(self, when: float) -> None:
        timer = self.timer
        if timer is not None:
            if self.timer_when <= when:
                return  # it fires first and re-evaluates
            timer.cancel()
        self.timer_when = when
        self.timer = self.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        if self.closed:
            return
        now = self._time()
        transport = self.transport
        if self.closing:
            if self.queue is None:
                if self.linger_until is None or now >= self.linger_until:
                    transport.close()
                else:
                    self._arm(self.linger_until)
                return
            deadline = self._output_deadline(now) if self._output_pending() else now + 1.0
            if now >= deadline:
                transport.abort()
                return
            self._arm(deadline)
            return
        reader = self.reader
        if reader is None:  # armed only once connected; never reached
            return
        if self.queue is not None:
            deadline = self._output_deadline(now) if self._output_pending() else now + 1.0
        elif reader.in_head:
            started = self.head_started if self.head_started is not None else self.last_activity
            deadline = started + self.header_timeout
            if now >= deadline:
                self._timed_out("the request head was not received in time")
                return
        elif reader.in_body:
            deadline = self.last_activity + self.body_timeout
            if now >= deadline:
                self._timed_out("the request body stopped arriving")
                return
            slow = self._body_rate_deadline()
            if now >= slow:
                self._timed_out("the request body arrived too slowly")
                return
            deadline = min(deadline, slow)
        elif self._output_pending():
            deadline = self._output_deadline(now)
        else:
            deadline = self.last_activity + self.keepalive_timeout
            if now >= deadline:
                transport.close()  # idle keep-alive connection
                return
        if now >= deadline:
            log.debug("client %s stopped reading; aborting", transport.peername)
            transport.abort()
            return
        self._arm(deadline)

    def _output_pending(self) -> bool:
        transport = self.transport
        return bool(transport.get_write_buffer_size()) or bool(
            getattr(transport, "sending_file", False)
        )

    def _output_deadline(self, now: float) -> float:
        """Output that makes no progress for send_timeout seconds means a dead reader."""
        if not self._output_pending():
            self.out_mark = None
            return now + self.send_timeout
        transport = self.transport
        # Progress is a change in the loop's buffer, in the file bytes the transport has
        # sent, or in what the kernel still holds for the peer (a slow reader drains it
        # while a file send waits for room); a transport that reports no file bytes
        # is assumed to move while it sends a file.
        sent = getattr(transport, "file_bytes_sent", None)
        unsent = getattr(transport, "unsent_bytes", None)
        mark = (transport.get_write_buffer_size(), sent, unsent() if unsent else None)
        if mark != self.out_mark or (sent is None and getattr(transport, "sending_file", False)):
            self.out_mark = mark
            self.out_progress = now
        return self.out_progress + self.send_timeout
