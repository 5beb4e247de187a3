"""Time limits of an ASGI connection: one timer, re-armed lazily, never per request.

The timer fires at the earliest deadline the connection's state implies and
re-evaluates that state, as :mod:`manycore.http` does:

- a request head must be complete ``header_timeout`` seconds after it began,
  else **408** and close;
- a body the application waits for must not stall for ``body_timeout``
  seconds, nor arrive slower than ``body_min_rate`` bytes/s on average after
  ``body_grace`` seconds, else **408** (or a close, once the response began);
- an idle keep-alive connection closes after ``keepalive_timeout`` seconds;
- output that makes no progress for ``send_timeout`` seconds (a client that
  stopped reading) aborts the connection;
- while the application works, nothing times out.

Entering a state with an earlier deadline (a head spanning reads, the
application waiting for body bytes or for the client to read, the
connection going idle) brings the timer forward; everything else only
updates timestamps.  This module is a mixin of
:class:`~manycore.asgi._connection.AsgiConnection` and works on its state.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..http.wire import RemoteProtocolError

if TYPE_CHECKING:
    import asyncio

    from ._cycle import RequestCycle

__all__ = ["TimeLimits"]

log = logging.getLogger("manycore.asgi")


class TimeLimits:
    """The connection's single timer and what it enforces."""

    # The state lives in the host connection's slots.  Hidden from mypy, which would
    # check this mixin's assignments against the empty tuple instead of the host's slots.
    if not TYPE_CHECKING:
        __slots__ = ()
    settings: Any
    loop: Any
    transport: Any
    client: Any
    websocket: Any
    closed: bool
    in_head: bool
    head_started: float
    last_activity: float
    body_started: float
    body_size: int
    active: RequestCycle | None
    pipeline: deque[RequestCycle]
    out: list[bytes]
    out_mark: tuple[int, int] | None
    out_progress: float
    timer: asyncio.TimerHandle | None
    timer_when: float
    _close: Callable[[], None]
    _close_soon: Callable[[], None]
    _protocol_error: Callable[[RemoteProtocolError], None]

    def output_waits(self) -> None:
        """``send()`` waits for the client to read: it must make progress (send_timeout)."""
        if self.loop is None or self.out_mark is not None:
            return
        transport = self.transport
        self.out_mark = (transport.get_write_buffer_size(), transport.file_bytes_sent)
        self.out_progress = now = self.loop.time()
        self._arm(now + self.settings.send_timeout)

    def body_wanted(self) -> None:
        """The application waits for body bytes: they must not stall, nor trickle."""
        if self.loop is None:
            return
        settings = self.settings
        deadline = self.last_activity + settings.body_timeout
        if settings.body_min_rate:
            deadline = min(
                deadline,
                self.body_started + settings.body_grace + self.body_size / settings.body_min_rate,
            )
        self._arm(deadline)

    def _on_timer(self) -> None:
        self.timer = None
        if self.closed or self.websocket is not None:
            return
        settings = self.settings
        now = self.loop.time()
        transport = self.transport
        if transport.writing_paused or transport.sending_file:
            mark = (transport.get_write_buffer_size(), transport.file_bytes_sent)
            if mark != self.out_mark:
                self.out_mark = mark
                self.out_progress = now
            deadline = self.out_progress + settings.send_timeout
            if now >= deadline:
                log.debug("closing %s: the client stopped reading", self.client)
                transport.abort()
                return
            self._arm(min(deadline, now + 1.0))
            return
        self.out_mark = None
        if self.in_head:
            deadline = self.head_started + settings.header_timeout
            if now >= deadline:
                self._timed_out("the request head was not received in time")
                return
        elif self.active is not None or self.pipeline:
            active = self.active
            if active is not None and active.waiter is not None and not active.body_done:
                deadline = self.last_activity + settings.body_timeout
                if now >= deadline:
                    self._timed_out("the request body stopped arriving")
                    return
                if settings.body_min_rate:
                    slow = (
                        self.body_started
                        + settings.body_grace
                        + self.body_size / settings.body_min_rate
                    )
                    if now >= slow:
                        self._timed_out("the request body arrived too slowly")
                        return
                    deadline = min(deadline, slow)
            else:
                deadline = now + settings.keepalive_timeout  # the application is working
        else:
            deadline = self.last_activity + settings.keepalive_timeout
            if now >= deadline:
                log.debug("closing %s: idle keep-alive connection", self.client)
                self._close_soon()
                return
        self._arm(deadline)

    def _arm(self, when: float) -> None:
        """Fire at ``when``, unless the timer already fires earlier (it re-evaluates then)."""
        timer = self.timer
        if timer is not None:
            if self.timer_when <= when:
                return
            timer.cancel()
        self.timer_when = when
        self.timer = self.loop.call_at(when, self._on_timer)

    def _timed_out(self, why: str) -> None:
        log.debug("closing %s: %s", self.client, why)
        active = self.active
        if active is not None and active.status:
            active.disconnected = True
            active.wake()
            self._close_soon()
            return
        self._protocol_error(RemoteProtocolError(why, 408))
        out = self.out
        if out:
            self.transport.write(b"".join(out))
            out.clear()
        self._close()
