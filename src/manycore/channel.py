"""The channel between a parallel context and the main context.

A parallel context asks the main context to run a function by sending it,
pickled, down a socket pair: requests are ``(call_id, payload)`` frames, replies
``(call_id, ok, value)`` frames, each frame a 4-byte big-endian length and a
pickle.  The function travels pickled on every engine, even where the main
context is the same thread (:class:`InlineLink`), so a program that works on
one engine works on all.

Engines create the links and install them (:func:`install_link`);
:func:`manycore.call_from_main_thread` finds the current one
(:func:`current_link`).  The main context answers with :func:`serve_main_call`.
"""

from __future__ import annotations

import concurrent.futures
import pickle
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from .context import ParallelContextError, restore_thread_context, set_thread_context

__all__ = [
    "FRAME",
    "InlineLink",
    "Link",
    "PipeLink",
    "current_link",
    "install_link",
    "pickle_call",
    "recv_exactly",
    "recv_frame",
    "run_now",
    "serve_main_call",
]

T = TypeVar("T")

FRAME = struct.Struct("!I")
"""The length prefix of every frame on a link."""


class Link(Protocol):
    """What :func:`manycore.call_from_main_thread` needs from a parallel context's link."""

    def call(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> concurrent.futures.Future[Any]: ...


class PipeLink:
    """A parallel context's end of its socket pair to the main context.

    A daemon thread reads the replies, so that a blocking ``_and_wait`` call
    works even while this context's event loop is the caller.  ``on_closed``
    runs (in that thread) once the main context's end has gone away.
    """

    def __init__(self, sock: socket.socket, on_closed: Callable[[], None] | None = None) -> None:
        self._sock = sock
        self._on_closed = on_closed
        self._send_lock = threading.Lock()
        self._futures: dict[int, concurrent.futures.Future[Any]] = {}
        self._next_id = 0
        self._reader = threading.Thread(target=self._read_replies, daemon=True)
        self._reader.start()

    def call(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> concurrent.futures.Future[Any]:
        payload = pickle_call(fn, args, kwargs)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._send_lock:
            self._next_id += 1
            call_id = self._next_id
            self._futures[call_id] = future
            message = pickle.dumps((call_id, payload))
            self._sock.sendall(FRAME.pack(len(message)) + message)
        return future

    def _read_replies(self) -> None:
        try:
            while True:
                message = recv_frame(self._sock)
                if message is None:
                    break
                call_id, ok, value = pickle.loads(message)
                future = self._futures.pop(call_id, None)
                if future is None:
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        except OSError:
            pass
        for future in self._futures.values():
            if not future.done():
                future.set_exception(ParallelContextError("the main context went away"))
        if self._on_closed is not None:
            self._on_closed()


class InlineLink:
    """The ``inline`` engine's link: the main context is this very thread."""

    def call(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> concurrent.futures.Future[Any]:
        fn, args, kwargs = pickle.loads(pickle_call(fn, args, kwargs))
        previous = set_thread_context(False, None)
        try:
            return run_now(fn, args, kwargs)
        finally:
            restore_thread_context(previous)


def run_now(
    fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> concurrent.futures.Future[T]:
    """Call ``fn`` here and now; its result or exception in a completed future."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    try:
        future.set_result(fn(*args, **kwargs))
    except Exception as exc:
        future.set_exception(exc)
    return future


def pickle_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """The call as it travels; a ``TypeError`` saying what to change if it cannot."""
    try:
        return pickle.dumps((fn, args, kwargs))
    except Exception as exc:
        name = getattr(fn, "__qualname__", repr(fn))
        raise TypeError(
            f"call_from_main_thread({name}, ...) must send the function and its arguments to "
            f"the main context, and they cannot be pickled ({exc}); use a module-level def "
            "and plain data arguments"
        ) from None


def recv_frame(sock: socket.socket) -> bytes | None:
    """One frame's payload; None once the other end has closed."""
    header = recv_exactly(sock, FRAME.size)
    if header is None:
        return None
    return recv_exactly(sock, FRAME.unpack(header)[0])


def recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    """Exactly ``n`` bytes from a blocking socket; None if it closes first."""
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def serve_main_call(message: bytes) -> bytes:
    """Main-context side: run one request from a worker and frame the reply."""
    call_id, payload = pickle.loads(message)
    try:
        fn, args, kwargs = pickle.loads(payload)
        reply = (call_id, True, fn(*args, **kwargs))
    except Exception as exc:
        reply = (call_id, False, exc)
    try:
        data = pickle.dumps(reply)
    except Exception as exc:
        data = pickle.dumps(
            (call_id, False, ParallelContextError(f"result could not be pickled: {exc}"))
        )
    return FRAME.pack(len(data)) + data


class _LinkState(threading.local):
    link: Link | None = None


_link_state = _LinkState()
_process_link: Link | None = None


def install_link(link: Link | None, *, process_wide: bool) -> None:
    """Make ``link`` this thread's (or, ``process_wide``, this process's) way to main."""
    global _process_link
    if process_wide:
        _process_link = link
    else:
        _link_state.link = link


def current_link() -> Link | None:
    """The link installed for the calling thread, else the process's, else None."""
    return _link_state.link or _process_link
