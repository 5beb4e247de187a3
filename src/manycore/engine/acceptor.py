"""Accepting connections on asyncio's own event loop, pausing while descriptors run out.

asyncio's server, on ``EMFILE`` or ``ENFILE``, logs a traceback and schedules
a retry -- and then keeps calling ``accept()`` for the rest of its batch,
logging and scheduling again each time, so a worker out of descriptors burns a
core and floods the log.  :class:`Acceptor` stops at the first such failure,
stops watching the socket for a moment (the connections wait in the kernel's
queue), and says so at most once per interval.  uvloop handles this itself,
so this is used only on asyncio's loop.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import time
from collections.abc import Callable

__all__ = ["Acceptor"]

log = logging.getLogger("manycore.engine")

_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_BATCH = 64  # accepts per wake-up, so one busy socket cannot starve the loop


class Acceptor:
    """A listening socket served on ``loop``: ``close()`` stops it and closes the socket."""

    pause_min = 0.1
    pause_max = 1.0
    log_interval = 10.0

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._factory = protocol_factory
        self._tls = tls
        self._pause = self.pause_min
        self._resume_handle: asyncio.TimerHandle | None = None
        self._logged_at = float("-inf")
        self._pauses_since_log = 0
        self._closed = False
        sock.setblocking(False)
        loop.add_reader(self._fd, self._accept)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._resume_handle is not None:
            self._resume_handle.cancel()
        else:
            self._loop.remove_reader(self._fd)
        self._sock.close()

    async def wait_closed(self) -> None:
        return None

    def _accept(self) -> None:
        for _ in range(_BATCH):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause_accepting(exc)
                else:
                    log.warning("accept() on %s failed: %s", self._where(), exc)
                return
            self._pause = self.pause_min
            conn.setblocking(False)
            self._loop.create_task(self._connect(conn))

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn, ssl=self._tls)
        except Exception as exc:  # the peer went away before the transport existed, say
            log.debug("dropping a connection accepted on %s: %r", self._where(), exc)
            conn.close()

    def _pause_accepting(self, exc: OSError) -> None:
        """Out of descriptors: leave the connections queued in the kernel for a while."""
        self._loop.remove_reader(self._fd)
        self._resume_handle = self._loop.call_later(self._pause, self._resume)
        self._pauses_since_log += 1
        now = time.monotonic()
        if now - self._logged_at >= self.log_interval:
            log.warning(
                "out of file descriptors accepting on %s (%s; %d pause(s)); accepting again "
                "every %.1f-%.1f s until connections close (raise the limit: ulimit -n, "
                "or LimitNOFILE= in a systemd unit)",
                self._where(),
                exc.strerror,
                self._pauses_since_log,
                self.pause_min,
                self.pause_max,
            )
            self._logged_at = now
            self._pauses_since_log = 0
        self._pause = min(self.pause_max, self._pause * 2)

    def _resume(self) -> None:
        self._resume_handle = None
        if not self._closed:
            self._loop.add_reader(self._fd, self._accept)
            self._accept()

    def _where(self) -> str:
        try:
            address = self._sock.getsockname()
        except OSError:
            return "a closed socket"
        if isinstance(address, str):
            return f"unix:{address}"
        return f"{address[0]}:{address[1]}"
