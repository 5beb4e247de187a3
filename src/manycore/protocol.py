"""The PyParallel protocol contract, run on an asyncio/uvloop connection.

A user's protocol class has no base class and knows nothing of asyncio: its
callbacks take the :class:`~manycore.transport.Transport` and *return what to
send* (bytes, a list or tuple of bytes sent as one gathered write, or None).
:class:`ProtocolAdapter` is the ``asyncio.Protocol`` that owns one instance of
that class per connection and translates between the two worlds.

What the class declares is read once, into a :class:`ProtocolSpec`, so the
per-read path is a bound-method call and one type check.  A class that can write
its own answers offers ``direct_reader(transport, failed)``: once the instance is
started, and while nothing the adapter does per read applies (no ``send_complete``,
no lines mode, no guard, no async callback in flight), the reader it returns is the
adapter's ``data_received``, and the event loop calls it with each read without an
adapter frame in between.  It must write what it answers (behind a file in flight:
through ``transport.write``) and give what it raises to ``failed``.

Ordering invariant: output leaves in the order of the callbacks that produced
it.  When a callback is ``async def``, its coroutine runs as a task and
anything later callbacks return waits behind it.

Failure invariant: an exception in a callback is given to the class's
``exception_handler`` (whose return value is sent) or logged with its
traceback; then that one connection is closed.  The worker keeps serving.

The adapter sees the worker that serves it only as a :class:`ConnectionOwner`,
and its :class:`~manycore.transport.Transport` only through the transport's
public surface; the adapter is the transport's
:class:`~manycore.transport.TransportEvents`.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
from collections import deque
from collections.abc import Callable, MutableSet
from typing import Any, Final, Protocol

from .context import ManycoreError
from .shared import GlobalsGuard
from .stats import worker_counters
from .transport import Transport

__all__ = [
    "ConnectionOwner",
    "GuardedProtocolAdapter",
    "LineTooLongError",
    "ProtocolAdapter",
    "ProtocolSpec",
]

log = logging.getLogger("manycore.protocol")

DEFAULT_MAX_LINE_LENGTH = 64 * 1024


class _Marker(enum.Enum):
    """Entries of the pending-output queue that are not output."""

    DONE = "a callback behind an async one returned nothing"

    def __repr__(self) -> str:
        return f"<{self.name}>"


_DONE: Final = _Marker.DONE


class _Lifecycle(enum.Enum):
    """Where a connection is on its way from open to closed."""

    OPEN = "open"
    CLOSE_AFTER_PENDING = "closing once the async callbacks in flight have answered"
    CLOSED = "closed"

    def __repr__(self) -> str:
        return f"<{self.name}>"


_OPEN: Final = _Lifecycle.OPEN
_CLOSE_AFTER_PENDING: Final = _Lifecycle.CLOSE_AFTER_PENDING
_CLOSED: Final = _Lifecycle.CLOSED


class ConnectionOwner(Protocol):
    """What an adapter needs from the parallel context that serves its connection."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """Where async callbacks run and later work is scheduled."""

    @property
    def guard(self) -> GlobalsGuard | None:
        """Checks the application's globals after every callback (guard mode), or None."""

    @property
    def connections(self) -> MutableSet[ProtocolAdapter]:
        """The open connections; an adapter is in it from ``connection_made`` to lost."""

    @property
    def stopping(self) -> bool:
        """True once the owner is shutting down: idle connections close."""


class LineTooLongError(ManycoreError):
    """A peer sent a line longer than the protocol's ``max_line_length``."""


class ProtocolSpec:
    """What a protocol class implements, worked out once per class."""

    def __init__(self, cls: type) -> None:
        if not isinstance(cls, type):
            raise TypeError(f"protocol must be a class, got {cls!r}")
        self.cls = cls
        self.name = cls.__qualname__
        self.lines_mode = bool(getattr(cls, "lines_mode", False))
        self.max_line_length = int(getattr(cls, "max_line_length", DEFAULT_MAX_LINE_LENGTH))
        self.has_connection_made = hasattr(cls, "connection_made")
        self.has_connection_lost = hasattr(cls, "connection_lost")
        self.has_send_complete = hasattr(cls, "send_complete")
        self.has_exception_handler = hasattr(cls, "exception_handler")
        self.has_is_busy = hasattr(cls, "is_busy")
        self.has_server_stopping = hasattr(cls, "server_stopping")
        self.initial = getattr(cls, "initial_bytes_to_send", None)
        self.next_bytes = getattr(cls, "next_bytes_to_send", None)
        self.has_data_received = hasattr(cls, "data_received")
        self.has_direct_reader = hasattr(cls, "direct_reader")
        if self.lines_mode and not hasattr(cls, "line_received"):
            raise TypeError(f"{self.name} sets lines_mode = True but defines no line_received()")
        if not (
            self.has_data_received
            or self.lines_mode
            or self.next_bytes is not None
            or self.has_connection_made
            or self.initial is not None
        ):
            raise TypeError(
                f"{self.name} implements none of the protocol callbacks "
                "(data_received, line_received, connection_made, initial_bytes_to_send, "
                "next_bytes_to_send)"
            )


def _resolve(value: Any, protocol: Any, transport: Transport) -> object:
    """An ``*_bytes_to_send`` member may be plain bytes or a method taking the transport."""
    return value(protocol, transport) if callable(value) else value


class ProtocolAdapter(asyncio.Protocol):
    """The asyncio protocol that runs one user protocol instance.

    ``protocol`` is the user's instance, typed ``Any``: a protocol class has no
    base class, and which callbacks it defines is read into its :class:`ProtocolSpec`.
    """

    transport: Transport
    """The connection's transport, from :meth:`open` on (nothing uses an adapter before)."""
    _on_data: Callable[[Transport, bytes], object]
    _raw_write: Callable[[bytes], None]
    _direct: bool

    def __init__(
        self,
        spec: ProtocolSpec,
        owner: ConnectionOwner,
        on_lost: Callable[[ProtocolAdapter], None] | None = None,
    ) -> None:
        self._spec = spec
        self._owner = owner
        self._on_lost = on_lost
        self._guard = owner.guard
        self._loop = owner.loop
        self._pending: deque[object] | None = None  # results waiting behind an async callback
        self._line_buffer = bytearray()
        self._send_id = 0
        self._send_complete_armed = False
        self._state = _OPEN
        self.protocol: Any = None

    # ---------------------------------------------------------- asyncio side

    def connection_made(  # type: ignore[override]  # stream servers pass an asyncio.Transport
        self, transport: asyncio.Transport
    ) -> None:
        self.open(Transport(transport, self._loop, self))
        if "data_received" in self.__dict__:
            # The protocol reads directly: uvloop binds a protocol's data_received when it
            # is given the protocol, so it is given it again (asyncio looks it up per read).
            transport.set_protocol(self)

    def open(self, transport: Transport, protocol: Any = None) -> None:
        """Serve the connection on ``transport`` with ``protocol`` (a new instance if None).

        ``connection_made`` opens a socket connection this way; an in-memory
        transport (:func:`manycore.testing.feed`) opens the same way.
        """
        self._attach(transport)
        try:
            self._start_protocol(protocol)
            if self._guard is not None:
                self._guard.check()
        except Exception as exc:
            self._failed(exc)
            return
        self._hand_reads_over()

    def _hand_reads_over(self) -> None:
        """Let the protocol's own reader take the reads when the adapter has nothing to add.

        What the adapter does per read is a type check and a write, unless a result waits
        behind an async callback, ``send_complete`` is tracked, lines are split or the
        guard checks; none of these can start later for a protocol that reads directly
        (its results no longer pass through here), so the hand-over is made once.
        """
        spec = self._spec
        if not (
            spec.has_direct_reader
            and self._direct
            and not spec.lines_mode
            and self._guard is None
            and self._pending is None
            and self._state is _OPEN
            and not self.transport.is_closing()
        ):
            return
        try:
            reader = self.protocol.direct_reader(self.transport, self._failed)
        except Exception as exc:
            self._failed(exc)
            return
        if reader is not None:
            self.data_received = reader  # type: ignore[method-assign]

    def _attach(self, transport: Transport) -> None:
        spec = self._spec
        self.transport = transport
        transport.events = self
        self._raw_write = transport.direct_write
        self._direct = not spec.has_send_complete
        counters = worker_counters()
        counters.connections_open += 1
        counters.connections_total += 1
        self._owner.connections.add(self)

    def _start_protocol(self, protocol: Any = None) -> None:
        """Make the user's protocol instance and send what it has to say first."""
        spec = self._spec
        t = self.transport
        self.protocol = proto = spec.cls() if protocol is None else protocol
        if spec.lines_mode:
            self._on_data = self._split_lines
        elif spec.has_data_received:
            self._on_data = proto.data_received
        else:
            self._on_data = self._answer_with_next_bytes
        if spec.initial is not None:
            self._emit(_resolve(spec.initial, proto, t))
        if spec.has_connection_made:
            self._emit(proto.connection_made(t))

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        try:
            result = self._on_data(transport, data)
        except Exception as exc:
            self._failed(exc)
            return
        if result is None:
            return
        # Fast path: plain bytes, nothing queued, nothing to track -> straight to the loop.
        if (
            type(result) is bytes
            and self._direct
            and self._pending is None
            and not transport.sending_file
        ):
            self._raw_write(result)
            return
        self._emit(result)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._state is _CLOSED:
            return
        self._state = _CLOSED
        worker_counters().connections_open -= 1
        self._owner.connections.discard(self)
        transport = self.transport
        transport.detach()
        if self._pending:
            for item in self._pending:
                if isinstance(item, asyncio.Task):
                    item.cancel()
            self._pending = None
        if self._spec.has_connection_lost and self.protocol is not None:
            try:
                result = self.protocol.connection_lost(transport, exc)
                if inspect.iscoroutine(result):
                    self._loop.create_task(result)
            except Exception:
                log.exception("%s.connection_lost raised", self._spec.name)
        if self._on_lost is not None:
            self._on_lost(self)

    def pause_writing(self) -> None:
        self.transport.set_writing_paused(True)

    def resume_writing(self) -> None:
        self.transport.set_writing_paused(False)
        if self._send_complete_armed:
            self._fire_send_complete()

    # -------------------------------------------------------- contract side

    def _answer_with_next_bytes(self, transport: Transport, data: bytes) -> object:
        return _resolve(self._spec.next_bytes, self.protocol, transport)

    def _split_lines(self, transport: Transport, data: bytes) -> object:
        buffer = self._line_buffer
        buffer += data
        limit = self._spec.max_line_length
        results: list[object] = []
        start = 0
        line_received = self.protocol.line_received
        while (end := buffer.find(b"\n", start)) >= 0:
            stop = end - 1 if end > start and buffer[end - 1] == 13 else end
            if stop - start > limit:
                break
            line = bytes(buffer[start:stop])
            start = end + 1
            result = line_received(transport, line)
            if result is not None:
                results.append(result)
        del buffer[:start]
        if len(buffer) > limit:
            if results:
                self._emit(_Batch(results))
            raise LineTooLongError(
                f"{self._spec.name}: a line is longer than max_line_length={limit} bytes; "
                "set a larger max_line_length on the protocol class if such lines are legitimate"
            )
        if not results:
            return None
        return results[0] if len(results) == 1 else _Batch(results)

    def _emit(self, result: object) -> None:
        """Send a callback's result, in callback order."""
        if type(result) is _Batch:
            for item in result:
                self._emit(item)
            return
        if result is None:
            if self._pending:
                self._pending.append(_DONE)
            return
        if inspect.iscoroutine(result):
            task = self._loop.create_task(result)
            if self._pending is None:
                self._pending = deque()
            self._pending.append(task)
            task.add_done_callback(self._flush_pending)
            return
        if self._pending:
            self._pending.append(result)
            return
        self._send(result)

    def _flush_pending(self, _task: asyncio.Task[Any] | None = None) -> None:
        pending = self._pending
        while pending:
            head = pending[0]
            if isinstance(head, asyncio.Task):
                if not head.done():
                    return
                pending.popleft()
                if head.cancelled():
                    continue
                exc = head.exception()
                if exc is not None:
                    self._failed(exc)
                    return
                result = head.result()
                if self._guard is not None:
                    try:
                        self._guard.check()
                    except Exception as guard_exc:
                        self._failed(guard_exc)
                        return
                if result is not None:
                    self._send(result)
            else:
                pending.popleft()
                if head is not _DONE:
                    self._send(head)
        if pending is not None and not pending:
            self._pending = None
            self.output_idle()
            if self._state is _CLOSE_AFTER_PENDING:
                self.transport.close_after_output()

    def _send(self, result: object) -> None:
        t = self.transport
        if self._state is _CLOSED:
            return
        if type(result) is bytes:
            t.write(result)
        elif isinstance(result, list | tuple):
            t.writelines(result)
        elif isinstance(result, bytearray | memoryview):
            t.write(bytes(result))
        elif inspect.iscoroutine(result):
            self._emit(result)
            return
        else:
            self._failed(
                TypeError(
                    f"{self._spec.name} returned {type(result).__name__}; a callback returns "
                    "bytes, a list/tuple of bytes, or None (encode text with .encode())"
                )
            )
            return
        if self._spec.has_send_complete:
            self._send_id += 1
            self._send_complete_armed = True
            if not t.writing_paused and not t.sending_file:
                self._loop.call_soon(self._fire_send_complete)

    def _fire_send_complete(self) -> None:
        t = self.transport
        if not self._send_complete_armed or self._state is _CLOSED or t.is_closing():
            return
        if t.writing_paused or t.sending_file or self._pending:
            return  # resume_writing / output_idle will call again
        self._send_complete_armed = False
        try:
            result = self.protocol.send_complete(t, self._send_id)
        except Exception as exc:
            self._failed(exc)
            return
        if result is not None:
            self._emit(result)

    # ------------------------------------------------------ transport events

    def output_idle(self) -> None:
        """Output queued behind a file, or behind async callbacks, has all gone out."""
        if self._send_complete_armed:
            self._loop.call_soon(self._fire_send_complete)
        if self._owner.stopping and not self.busy():
            self.transport.close_after_output()

    def close_requested(self) -> None:
        """``transport.close()``: close once the calling callback has returned."""
        self._loop.call_soon(self._close_when_flushed)

    def send_failed(self, exc: BaseException) -> None:
        log.debug("%s: file send failed: %r", self._spec.name, exc)

    def _close_when_flushed(self) -> None:
        if self._state is _CLOSED:
            return
        if self._pending:
            self._state = _CLOSE_AFTER_PENDING
        else:
            self.transport.close_after_output()

    def _failed(self, exc: BaseException) -> None:
        t = self.transport
        handled = False
        if self._spec.has_exception_handler and self.protocol is not None:
            try:
                result = self.protocol.exception_handler(t, exc)
                handled = True
                if result is not None and not inspect.iscoroutine(result):
                    self._pending = None
                    self._send(result)
            except Exception:
                log.exception("%s.exception_handler raised", self._spec.name)
        if not handled:
            log.error(
                "%s: exception in a callback for %s; closing that connection",
                self._spec.name,
                t.peername,
                exc_info=exc,
            )
        self._pending = None
        t.close_after_output()

    # ------------------------------------------------------------- shutdown

    def busy(self) -> bool:
        """True while a callback is in flight or output is still queued."""
        if self._pending or self.transport.sending_file:
            return True
        if self._spec.has_is_busy and self.protocol is not None:
            try:
                return bool(self.protocol.is_busy())
            except Exception:
                return False
        return False

    def shutdown(self) -> None:
        """Engine stopping: close now if idle, else as soon as in-flight work is done.

        A protocol with ``server_stopping()`` hears of it first, so a long-lived session
        (a WebSocket) can end itself instead of holding the worker for the grace period.
        """
        if self._spec.has_server_stopping and self.protocol is not None:
            try:
                self.protocol.server_stopping()
            except Exception:
                log.exception("%s.server_stopping raised", self._spec.name)
        if not self.busy():
            self.transport.close_after_output()


class GuardedProtocolAdapter(ProtocolAdapter):
    """The adapter used in guard mode: checks the application's globals after every callback.

    What a callback sends (writes, files) is held until the check has passed, so no
    byte of an answer computed from state the callback had no right to change leaves;
    on a violation the held output is dropped and the connection gets the guard's error.
    """

    def __init__(
        self,
        spec: ProtocolSpec,
        owner: ConnectionOwner,
        on_lost: Callable[[ProtocolAdapter], None] | None = None,
    ) -> None:
        guard = owner.guard
        if guard is None:
            raise ValueError("a GuardedProtocolAdapter needs an owner with a GlobalsGuard")
        super().__init__(spec, owner, on_lost)
        self._globals_guard = guard

    def open(self, transport: Transport, protocol: Any = None) -> None:
        self._attach(transport)
        self._guarded_call(lambda: self._start_protocol(protocol))

    def data_received(self, data: bytes) -> None:
        self._guarded_call(lambda: self._on_data(self.transport, data))

    def _guarded_call(self, call: Callable[[], object]) -> None:
        """Run ``call``, check the guard, then send what it returned (if anything)."""
        transport = self.transport
        mark = transport.hold_output()
        failure: Exception | None = None
        result: object = None
        try:
            result = call()
        except Exception as exc:
            failure = exc
        try:
            self._globals_guard.check()
        except Exception as guard_exc:
            transport.drop_held_output(mark)
            self._failed(guard_exc)
            return
        transport.release_held_output(mark)
        if failure is not None:
            self._failed(failure)
        elif result is not None:
            self._emit(result)


class _Batch(list[object]):
    """Several results from one read in lines mode, each sent in order."""

    __slots__ = ()
