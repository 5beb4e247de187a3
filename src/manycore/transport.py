"""The transport handed to protocol callbacks: ordered output, including zero-copy files.

Output is a single ordered stream.  Bytes go straight to the event loop's
transport (uvloop or asyncio) while no file is being sent.  A file range is
sent with ``os.sendfile`` from the file straight to the socket, without ever
entering Python memory; while it is in flight, later writes, later files and a
``close()`` wait in a queue so the peer sees everything in the order it was
asked for.  Neither uvloop nor asyncio exposes a zero-copy send that works on
both, so the file pump drives ``os.sendfile`` itself: it waits for the loop's
own buffer to empty, then sends until the socket would block, then waits for
writability on a ``dup`` of the socket's descriptor (the loop refuses a second
watcher on the descriptor it owns, but a duplicate is a different number for
the same socket).

Over TLS the socket carries ciphertext, so a file cannot go to it directly: the
pump reads the range in chunks and writes them through the loop's TLS
transport instead, a chunk at a time while the loop is not asking writers to
pause (the same order and flow control, at the cost of a copy).

Ownership: a path given to ``sendfile*`` is opened and closed here; an integer
descriptor belongs to the caller and is never closed by the transport.

The transport knows nothing of the connection that owns it: it reports a
``close()`` request, output going idle and a failed file send to its
:class:`TransportEvents` (``transport.events``), and the owner drives it through
its public methods (:meth:`Transport.close_after_output`,
:meth:`Transport.set_writing_paused`, :meth:`Transport.detach` and the
``*_held_output`` trio).
"""

from __future__ import annotations

import asyncio
import enum
import fcntl
import os
import sys
import termios
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol, TypeAlias

__all__ = ["FileLike", "FileSource", "StreamTransport", "Transport", "TransportEvents"]

_TIOCOUTQ: int | None = getattr(termios, "TIOCOUTQ", None)  # unsent bytes of a socket (Linux)

_MAX_SENDFILE_CHUNK = 0x7FFFF000  # Linux sends at most this many bytes per call
_COPY_CHUNK = 256 * 1024  # bytes of a file read per write where zero copy cannot work (TLS)


class _Marker(enum.Enum):
    """Queue entries that are not output."""

    CLOSE = "close once everything before it is out"

    def __repr__(self) -> str:
        return f"<{self.name}>"


_CLOSE: Final = _Marker.CLOSE


class FileLike(Protocol):
    """An open file: its descriptor is sent, and the object is held until it has gone out."""

    def fileno(self) -> int: ...


FileSource: TypeAlias = str | os.PathLike[str] | int | FileLike
"""What ``sendfile*`` sends: a path (opened and closed here), a descriptor the caller
keeps open, or an open file object."""


class StreamTransport(Protocol):
    """What a :class:`Transport` drives: the event loop's own transport of one stream.

    asyncio's and uvloop's transports are one; so is the in-memory sink of
    :mod:`manycore.testing`.
    """

    def write(self, data: bytes, /) -> None: ...
    def writelines(self, chunks: list[bytes] | tuple[bytes, ...], /) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def is_closing(self) -> bool: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None: ...
    def get_extra_info(self, name: str, default: Any = None, /) -> Any: ...


class TransportEvents(Protocol):
    """What a transport tells the connection that owns it."""

    def close_requested(self) -> None:
        """``close()`` was called; close once the output asked for so far has gone out."""

    def output_idle(self) -> None:
        """Output that had queued behind a file has all been handed to the loop."""

    def send_failed(self, exc: BaseException) -> None:
        """A file send failed (the connection is aborted)."""


class _NoOwner:
    """The events of a transport no connection has claimed: a close closes after output."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def close_requested(self) -> None:
        self._transport.close_after_output()

    def output_idle(self) -> None:
        pass

    def send_failed(self, exc: BaseException) -> None:
        pass


def range_length(fd: int, offset: int, nbytes: int | None) -> int:
    """How many bytes of the open file ``fd`` a send from ``offset`` covers.

    ``nbytes=None`` means "to the end of the file"; a range outside the file is a
    ``ValueError``, raised before anything is sent.
    """
    size = os.fstat(fd).st_size
    if nbytes is None:
        nbytes = size - offset
    if offset < 0 or nbytes < 0 or offset + nbytes > size:
        raise ValueError(
            f"sendfile_ranged: range offset={offset} nbytes={nbytes} lies outside "
            f"the file ({size} bytes)"
        )
    return nbytes


class _FileRange:
    __slots__ = ("fd", "keep", "offset", "owned", "remaining")

    def __init__(
        self, fd: int, offset: int, remaining: int, owned: bool, keep: FileLike | None
    ) -> None:
        self.fd = fd
        self.offset = offset
        self.remaining = remaining
        self.owned = owned
        self.keep = keep  # the open file object ``fd`` belongs to, kept open while sending

    def release(self) -> None:
        self.keep = None
        if self.owned:
            self.owned = False
            os.close(self.fd)


class Transport:
    """What protocol callbacks use to send, stream files, pause and close."""

    __slots__ = (
        "_copy_files",
        "_drain_waiters",
        "_file",
        "_file_sent",
        "_queue",
        "_sock_fd",
        "_started",
        "_t",
        "_watch_fd",
        "direct_write",
        "events",
        "loop",
        "peername",
        "sending_file",
        "sockname",
        "writing_paused",
    )

    def __init__(
        self,
        transport: StreamTransport,
        loop: asyncio.AbstractEventLoop,
        events: TransportEvents | None = None,
    ) -> None:
        self._t = transport
        self.loop = loop
        self.events: TransportEvents = _NoOwner(self) if events is None else events
        """Who hears of close requests, idle output and failed sends (the owning connection)."""
        self.direct_write: Callable[[bytes], None] = transport.write
        """The loop transport's own write: callers may use it only while not ``sending_file``."""
        self._queue: deque[_Queued] | None = None  # not None while output waits behind a file
        self.sending_file = False
        """True while a file (or output queued behind one) is still being sent."""
        self.writing_paused = False
        """True while the loop's write buffer is above its high-water mark."""
        self._file: _FileRange | None = None
        self._file_sent = 0
        self._copy_files: bool | None = None  # worked out at the first file: TLS or not
        self._sock_fd = -1
        self._watch_fd: int | None = None
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._started = time.monotonic()
        self.peername: Any = transport.get_extra_info("peername")
        self.sockname: Any = transport.get_extra_info("sockname")

    def __repr__(self) -> str:
        return f"<manycore.Transport peer={self.peername!r} closing={self.is_closing()}>"

    # ----------------------------------------------------------------- output

    def write(self, data: bytes) -> None:
        """Send ``data`` after everything sent before it."""
        if self._queue is None:
            self._t.write(data)
        elif data:
            self._queue.append(data)

    def writelines(self, chunks: list[bytes] | tuple[bytes, ...]) -> None:
        """Send several buffers as one gathered write."""
        if self._queue is None:
            self._t.writelines(chunks)
        else:
            self._queue.extend(chunk for chunk in chunks if chunk)

    def sendfile(self, before: bytes, path: FileSource, after: bytes = b"") -> None:
        """Send ``before``, the whole file, then ``after``, the file without copying it."""
        self.sendfile_ranged(before, path, after, 0, None)

    def sendfile_ranged(
        self,
        before: bytes,
        path: FileSource,
        after: bytes,
        offset: int,
        nbytes: int | None,
    ) -> None:
        """Send ``before``, ``nbytes`` of the file from ``offset`` (zero copy), then ``after``.

        ``nbytes=None`` means "to the end of the file".  Any offset and length
        work, including past 4 GiB.  Raises ``OSError`` (before sending
        anything) if the file cannot be opened, and ``ValueError`` if the range
        lies outside the file.  ``path`` may also be a descriptor (the caller
        keeps it open until the send is done) or an open file object with
        ``fileno()``, which is held until its bytes are sent.
        """
        keep: FileLike | None = None
        if isinstance(path, int):
            fd = path
            owned = False
        elif isinstance(path, (str, os.PathLike)):
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            owned = True
        else:  # an open file: held until sent
            keep = path
            fd = path.fileno()
            owned = False
        try:
            nbytes = range_length(fd, offset, nbytes)
        except BaseException:
            if owned:
                os.close(fd)
            raise
        if before:
            self.write(before)
        item = _FileRange(fd, offset, nbytes, owned, keep)
        if self._queue is None:
            self._set_queue(deque())
            self._file = item
            if self._pump_file():
                self._drain_queue()
        else:
            self._queue.append(item)
        if after:
            self.write(after)

    def close(self) -> None:
        """Close once everything this connection was asked to send has gone out.

        That includes what the calling callback returns and what callbacks
        still in flight (``async def``) will return, so ``close()`` followed by
        ``return b"bye"`` sends ``bye`` first.
        """
        if not self._t.is_closing():
            self.events.close_requested()

    def close_after_output(self) -> None:
        """Close once the output queued so far has gone out (the owner's side of ``close``)."""
        if self._queue is None:
            self._t.close()
        else:
            self._queue.append(_CLOSE)

    def abort(self) -> None:
        """Close at once, dropping whatever is still buffered."""
        self._release_files()
        self._t.abort()

    def is_closing(self) -> bool:
        return self._t.is_closing()

    # ----------------------------------------------------------- flow control

    def pause_reading(self) -> None:
        self._t.pause_reading()

    def resume_reading(self) -> None:
        self._t.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self._t.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._t.set_write_buffer_limits(high, low)

    @property
    def file_bytes_sent(self) -> int:
        """Bytes of files handed to the kernel so far on this connection.

        A file goes out without passing through the loop's write buffer, so this is
        how a protocol tells a slow reader (the count grows) from one that stopped.
        """
        return self._file_sent

    def unsent_bytes(self) -> int | None:
        """Bytes the kernel still holds for the peer (Linux ``TIOCOUTQ``); None where unknown.

        A slow reader drains this even while a file send waits for room, so watching
        it tells "slow" from "stopped" when the socket buffer is large.
        """
        if _TIOCOUTQ is None or self._t.is_closing():
            return None
        if self._sock_fd < 0:
            self._sock_fd = self._t.get_extra_info("socket").fileno()
        try:
            return int.from_bytes(fcntl.ioctl(self._sock_fd, _TIOCOUTQ, bytes(4)), sys.byteorder)
        except OSError:
            return None

    async def drain(self) -> None:
        """Wait until output is below the low-water mark and no file send is in flight."""
        while (self.writing_paused or self._queue is not None) and not self._t.is_closing():
            waiter = self.loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def elapsed(self) -> float:
        """Seconds since the connection was made."""
        return time.monotonic() - self._started

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._t.get_extra_info(name, default)

    # ---------------------------------------------------------- the owner's side

    def set_writing_paused(self, paused: bool) -> None:
        """The loop said its write buffer crossed a water mark (``pause/resume_writing``)."""
        self.writing_paused = paused
        if not paused:
            if self._copy_files and self._file is not None:
                self._on_writable()  # a file copied through TLS goes on
            self._wake_drainers()

    def _wake_drainers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def detach(self) -> None:
        """The connection is gone: close the files still to send and wake ``drain()``."""
        self._release_files()
        self._wake_drainers()

    # ------------------------------------------------------------- guard mode

    def hold_output(self) -> int | None:
        """Queue output from now on instead of sending it; returns a mark for release/drop.

        Guard mode holds what a callback sends until the guard has checked it.  The
        mark is the queue's length when a file was already in flight, else None.
        """
        if self._queue is None:
            self._set_queue(deque())
            return None
        return len(self._queue)  # a file is in flight: output queues behind it anyway

    def release_held_output(self, mark: int | None) -> None:
        """Send what was held since ``mark``."""
        if mark is not None:
            return  # it leaves when the file in flight is done
        if self._queue:
            self._drain_queue()
        else:
            self._set_queue(None)

    def drop_held_output(self, mark: int | None) -> None:
        """Forget what was held since ``mark``."""
        queue = self._queue
        if queue is None:
            return
        while len(queue) > (mark or 0):
            item = queue.pop()
            if type(item) is _FileRange:
                item.release()
        if mark is None:
            self._set_queue(None)

    def _set_queue(self, queue: deque[_Queued] | None) -> None:
        self._queue = queue
        self.sending_file = queue is not None

    # -------------------------------------------------------------- file pump

    def _pump_file(self) -> bool:
        """Send the current file range; True when it is done, False while waiting."""
        item = self._file
        assert item is not None
        if self._t.is_closing():
            self._release_files()
            return False
        if self._copy_files is None:
            self._copy_files = self._t.get_extra_info("ssl_object") is not None
        if self._copy_files:
            return self._copy_file(item)
        if self._t.get_write_buffer_size():
            self._wait_writable()  # the loop's own buffer must go out first
            return False
        if self._sock_fd < 0:
            self._sock_fd = self._t.get_extra_info("socket").fileno()
        while item.remaining:
            try:
                sent = os.sendfile(
                    self._sock_fd, item.fd, item.offset, min(item.remaining, _MAX_SENDFILE_CHUNK)
                )
            except (BlockingIOError, InterruptedError):
                self._wait_writable()
                return False
            except OSError as exc:  # peer went away, or the file became unreadable
                self._file_failed(exc)
                return False
            if sent == 0:
                self._file_failed(EOFError(f"file ended {item.remaining} bytes early"))
                return False
            item.offset += sent
            item.remaining -= sent
            self._file_sent += sent
        item.release()
        self._file = None
        self._stop_waiting()
        return True

    def _copy_file(self, item: _FileRange) -> bool:
        """Send the range through the loop's transport (TLS); True when it is done.

        Writing stops while the loop asks writers to pause; ``set_writing_paused``
        goes on with it.
        """
        while item.remaining:
            if self.writing_paused:
                return False
            if self._t.is_closing():
                self._release_files()
                return False
            try:
                data = os.pread(item.fd, min(item.remaining, _COPY_CHUNK), item.offset)
            except OSError as exc:
                self._file_failed(exc)
                return False
            if not data:
                self._file_failed(EOFError(f"file ended {item.remaining} bytes early"))
                return False
            self._t.write(data)
            item.offset += len(data)
            item.remaining -= len(data)
            self._file_sent += len(data)
        item.release()
        self._file = None
        return True

    def _drain_queue(self) -> None:
        queue = self._queue
        while queue:
            item = queue.popleft()
            if item is _CLOSE:
                self._set_queue(None)
                self._t.close()
                return
            if isinstance(item, _FileRange):
                self._file = item
                if not self._pump_file():
                    return
            else:
                self._t.write(item)
        self._set_queue(None)
        self._wake_drainers()
        self.events.output_idle()

    def _on_writable(self) -> None:
        if self._file is not None and self._pump_file():
            self._drain_queue()

    def _wait_writable(self) -> None:
        if self._watch_fd is None:
            if self._sock_fd < 0:
                self._sock_fd = self._t.get_extra_info("socket").fileno()
            self._watch_fd = os.dup(self._sock_fd)
            self.loop.add_writer(self._watch_fd, self._on_writable)

    def _stop_waiting(self) -> None:
        if self._watch_fd is not None:
            self.loop.remove_writer(self._watch_fd)
            os.close(self._watch_fd)
            self._watch_fd = None

    def _file_failed(self, exc: BaseException) -> None:
        self._release_files()
        self.events.send_failed(exc)
        self._t.abort()

    def _release_files(self) -> None:
        self._stop_waiting()
        if self._file is not None:
            self._file.release()
            self._file = None
        if self._queue:
            for item in self._queue:
                if type(item) is _FileRange:
                    item.release()
        self._set_queue(None)


_Queued: TypeAlias = bytes | _FileRange | _Marker
"""An entry of the output queue: bytes, a file range, or where to close."""
