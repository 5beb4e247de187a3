"""Helpers for testing protocol classes: in memory, and as a real server process.

* :class:`MemoryTransport`, :func:`connect` and :func:`feed` drive a protocol
  instance with bytes through the server's own adapter, no sockets, on a
  :class:`FakeClock` that stands still: the fastest way to test parsing and
  replies (feed it all at once, one byte at a time, with trailing bytes left
  over).
* :class:`ServerProcess` starts ``python -m manycore serve`` exactly as a user
  would, waits until it listens, and on exit stops it with SIGTERM and checks
  that it exited cleanly.
* :func:`check_protocol` is a conformance check any protocol class can run.
* :class:`FakeClock` stands in for the event loop's clock and timers, so a
  timeout is tested by moving the clock, not by waiting for it.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from contextvars import Context
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, cast

from .protocol import ProtocolAdapter, ProtocolSpec
from .shared import GlobalsGuard
from .transport import FileSource, Transport, range_length

__all__ = [
    "ClockedConnection",
    "FakeClock",
    "FakeTimer",
    "MemoryTransport",
    "ServerProcess",
    "check_protocol",
    "connect",
    "feed",
]

_LISTENING = re.compile(r"listening on (?:(\w+)://)?(\[[^\]]+\]|[^\s:]+):(\d+)")
_LISTENING_UNIX = re.compile(r"listening on unix:(\S+)")


class _MemorySink:
    """The loop transport under a :class:`MemoryTransport`: keeps what is written."""

    def __init__(self, peername: Any, sockname: Any) -> None:
        self.output = bytearray()
        self.closed = False
        self.aborted = False
        self.paused_reading = False
        self._extra = {"peername": peername, "sockname": sockname}

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.output += data

    def writelines(self, chunks: Sequence[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused_reading = True

    def resume_reading(self) -> None:
        self.paused_reading = False

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)


class _SoonQueue:
    """The adapter's event loop in memory: what it schedules runs once the read is done.

    Outside a read (a timer of the test's own firing), a call runs at once.
    Callbacks run synchronously here, so a coroutine has no loop to run on.
    """

    def __init__(self) -> None:
        self._calls: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self.in_read = False

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        if self.in_read:
            self._calls.append((fn, args))
        else:
            fn(*args)

    def create_task(self, coro: Coroutine[Any, Any, Any]) -> NoReturn:
        coro.close()
        raise TypeError(
            "manycore.testing.feed() runs synchronous callbacks only, and a callback "
            "returned a coroutine; test async def callbacks on a real server (ServerProcess)"
        )

    def run(self) -> None:
        calls = self._calls
        while calls:
            fn, args = calls.popleft()
            fn(*args)
        self.in_read = False


class _MemoryOwner:
    """The parallel context an in-memory connection belongs to."""

    def __init__(self) -> None:
        self.soon = _SoonQueue()
        self.loop = cast(asyncio.AbstractEventLoop, self.soon)
        self.guard: GlobalsGuard | None = None
        self.connections: set[ProtocolAdapter] = set()
        self.stopping = False


class MemoryTransport(Transport):
    """The real transport over an in-memory socket: records what a protocol sends.

    :func:`feed` runs a protocol on it through the same adapter a server uses,
    so ordering, ``close()``, ``send_complete`` and lines mode behave as they do
    on the wire.  A file sent with ``sendfile*`` is read into :attr:`output`.
    """

    def __init__(
        self,
        peername: Any = ("127.0.0.1", 50000),
        loop: asyncio.AbstractEventLoop | FakeClock | None = None,
    ) -> None:
        self._sink = sink = _MemorySink(peername, ("127.0.0.1", 8080))
        # The connection runs its real code path: its timers go on a clock, which stands
        # still unless a test moves it (or passes a real event loop to run async handlers).
        clock = FakeClock(start=time.monotonic()) if loop is None else loop
        super().__init__(sink, cast(asyncio.AbstractEventLoop, clock))
        self._started = clock.time()
        # Every write goes through write(), so a test's subclass sees the wire's writes.
        self.direct_write = self.write
        self.files: list[tuple[str | os.PathLike[str] | int, int, int]] = []
        self.adapter: ProtocolAdapter | None = None
        self._owner: _MemoryOwner | None = None

    def elapsed(self) -> float:
        """Seconds since the transport was made, on its loop's clock."""
        return self.loop.time() - self._started

    @property
    def output(self) -> bytearray:
        """Everything sent so far (:meth:`take` empties it)."""
        return self._sink.output

    @property
    def closed(self) -> bool:
        return self._sink.closed

    @property
    def aborted(self) -> bool:
        return self._sink.aborted

    @property
    def paused_reading(self) -> bool:
        return self._sink.paused_reading

    def sendfile_ranged(
        self,
        before: bytes,
        path: FileSource,
        after: bytes,
        offset: int,
        nbytes: int | None,
    ) -> None:
        """Sends the file's bytes as ordinary output, so tests see exactly the wire."""
        if not isinstance(path, int | str | os.PathLike):
            path = path.fileno()
        fd = path if isinstance(path, int) else os.open(path, os.O_RDONLY)
        try:
            data = os.pread(fd, range_length(fd, offset, nbytes), offset)
        finally:
            if fd is not path:
                os.close(fd)
        self.files.append((path, offset, len(data)))
        self.write(before)
        self.write(data)
        self.write(after)

    def unsent_bytes(self) -> int | None:
        return None

    def take(self) -> bytes:
        """Return and clear what has been sent so far."""
        data = bytes(self.output)
        self.output.clear()
        return data

    def start_read(self) -> None:
        """Hold what the connection schedules until :meth:`settle`, as a loop would."""
        if self._owner is not None:
            self._owner.soon.in_read = True

    def settle(self) -> None:
        """Run what the connection scheduled for later; end it once it is closed.

        A read's ``call_soon`` callbacks run once the read is done, as on a loop; a
        standing :class:`FakeClock` fires nothing else.
        """
        owner, adapter = self._owner, self.adapter
        if owner is None or adapter is None:
            return
        owner.soon.run()
        if isinstance(self.loop, FakeClock):
            self.loop.advance(0)
            owner.soon.run()
        if self.closed and owner.connections:
            adapter.connection_lost(None)
            owner.soon.run()


def connect(protocol: Any, transport: MemoryTransport | None = None) -> MemoryTransport:
    """Open an in-memory connection to ``protocol`` (an instance of a protocol class).

    Runs ``initial_bytes_to_send`` and ``connection_made`` exactly as a server
    does; :func:`feed` connects by itself when given a fresh transport.
    """
    transport = MemoryTransport() if transport is None else transport
    if transport.adapter is not None:
        raise ValueError(
            "this MemoryTransport is already connected; use a new MemoryTransport per connection"
        )
    owner = transport._owner = _MemoryOwner()
    adapter = transport.adapter = ProtocolAdapter(ProtocolSpec(type(protocol)), owner)
    owner.soon.in_read = True
    adapter.open(transport, protocol)
    transport.settle()
    return transport


def feed(protocol: Any, data: bytes, transport: MemoryTransport | None = None) -> MemoryTransport:
    """Deliver ``data`` to ``protocol`` as one read and record what it sends.

    The first read on a transport connects it (see :func:`connect`).  Once the
    connection has closed, further bytes are dropped, as a closed socket would.
    Synchronous callbacks only; for ``async def`` callbacks use a real server.
    """
    transport = MemoryTransport() if transport is None else transport
    adapter = transport.adapter
    if adapter is None:
        connect(protocol, transport)
        adapter = transport.adapter
        assert adapter is not None
    elif adapter.protocol is not protocol:
        raise ValueError(
            f"this MemoryTransport is connected to another {type(adapter.protocol).__name__}; "
            "use a new MemoryTransport per connection"
        )
    if not transport.closed:
        transport.start_read()
        adapter.data_received(data)
    transport.settle()
    return transport


def check_protocol(cls: type) -> list[str]:
    """Problems with ``cls`` as a protocol class (an empty list means it conforms)."""
    problems = []
    try:
        ProtocolSpec(cls)
    except TypeError as exc:
        return [str(exc)]
    try:
        cls()
    except TypeError as exc:
        problems.append(f"{cls.__qualname__}() must take no arguments: {exc}")
    for name in ("data_received", "line_received", "send_complete", "connection_made"):
        method = getattr(cls, name, None)
        if callable(method):
            params = list(inspect.signature(method).parameters)
            expected = {"connection_made": 2, "data_received": 3, "line_received": 3}
            want = expected.get(name, 3)
            if len(params) != want:
                problems.append(f"{cls.__qualname__}.{name} should take {want} parameters")
    return problems


class ServerProcess:
    """``python -m manycore serve TARGET`` in a subprocess, as a context manager."""

    def __init__(
        self,
        target: str,
        *,
        engine: str = "inline",
        workers: int = 1,
        args: Sequence[str] = (),
        command: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        ready_timeout: float = 30.0,
        expect_exit: int | None = 0,
    ) -> None:
        if command is None:
            command = [
                sys.executable,
                "-m",
                "manycore",
                "serve",
                target,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--engine",
                engine,
                "--workers",
                str(workers),
                *args,
            ]
        self.command = list(command)
        self.env = {**os.environ, **(env or {})}
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.cwd = cwd
        self.ready_timeout = ready_timeout
        self.expect_exit = expect_exit
        self.host = "127.0.0.1"
        self.port = 0
        self.url = ""
        self.uds: str | None = None
        """The Unix domain socket the server listens on (``--uds``), once it says so."""
        self.output: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    def __enter__(self) -> ServerProcess:
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            text=True,
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        if not self._ready.wait(self.ready_timeout) or not (self.port or self.uds):
            self.stop(check=False)
            raise RuntimeError(
                f"server did not start: {' '.join(self.command)}\n" + "".join(self.output)
            )
        return self

    def _read_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if not (self.port or self.uds):
                unix = _LISTENING_UNIX.search(line)
                if unix:
                    self.uds = unix.group(1)
                    self._ready.set()
                    continue
                match = _LISTENING.search(line)
                if match:
                    scheme, host, port = match.groups()
                    self.host, self.port = host.strip("[]"), int(port)
                    self.url = f"{scheme or 'http'}://{host}:{port}"
                    self._ready.set()
        self._ready.set()

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def log(self) -> str:
        return "".join(self.output)

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        """The log once it contains ``text``; AssertionError with the log after ``timeout``.

        A worker's log line can reach the pipe after its answer reached the client, so a
        test that looks for it waits for it rather than reading the log at once.
        """
        deadline = time.monotonic() + timeout
        while text not in (log := self.log()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the server's log after {timeout} s:\n{log}")
            time.sleep(0.02)
        return log

    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, *, check: bool = True, timeout: float = 30.0) -> int:
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
            if check:
                raise AssertionError(
                    "server did not stop within 30 s of SIGTERM\n" + self.log()
                ) from None
        if self._reader is not None:
            self._reader.join(5)
        if process.stdout is not None:
            process.stdout.close()
        if check and self.expect_exit is not None and code != self.expect_exit:
            raise AssertionError(f"server exited with status {code}\n{self.log()}")
        return code

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop(check=exc_type is None)


def repo_root() -> Path:
    """The source checkout this package runs from (examples and bench live there)."""
    return Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ a clock the test moves
class FakeTimer:
    """A timer on a :class:`FakeClock`: the part of ``asyncio.TimerHandle`` callers use."""

    __slots__ = ("_args", "_callback", "_cancelled", "_when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self._when = when
        self._callback = callback
        self._args = args
        self._cancelled = False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled

    def __repr__(self) -> str:
        state = " cancelled" if self._cancelled else ""
        return f"<FakeTimer at {self._when}{state} {self._callback!r}>"


class FakeClock:
    """An event loop's clock and timers, moved by the test rather than by time.

    Given to a transport as ``transport.loop``, it is what a connection reads
    the time from and schedules its timers on, so a test checks a deadline
    exactly (just before it, just after it) without waiting for it, and a
    slow run cannot fire a timer early.  Time moves only in :meth:`advance`
    and :meth:`jump`, which fire the timers that fall due, in order, each
    seeing the clock at its own deadline.  ``call_soon`` callbacks run at the
    next move, ``advance(0)`` included.  Coroutines need a real event loop.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._timers: list[FakeTimer] = []

    def time(self) -> float:
        return self._now

    def call_at(
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> FakeTimer:
        timer = FakeTimer(when, callback, args)
        self._timers.append(timer)
        return timer

    def call_later(
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> FakeTimer:
        return self.call_at(self._now + delay, callback, *args)

    def call_soon(
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> FakeTimer:
        return self.call_at(self._now, callback, *args)

    def create_task(self, coro: Coroutine[Any, Any, Any], **_kwargs: Any) -> NoReturn:
        coro.close()
        raise RuntimeError(
            "a FakeClock runs no coroutines: test async handlers and streams with a real "
            "event loop or a real server (ServerProcess)"
        )

    def pending(self) -> list[float]:
        """The deadlines of the timers not yet fired or cancelled, earliest first."""
        return sorted(t._when for t in self._timers if not t._cancelled)

    def advance(self, seconds: float = 0.0) -> None:
        """Move the clock ``seconds`` forward, firing every timer due on the way."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        self._run_until(self._now + seconds)

    def jump(self) -> float:
        """Move the clock to the next pending timer and fire it; the seconds moved.

        Raises ``LookupError`` when no timer is pending: nothing would ever happen.
        """
        pending = self.pending()
        if not pending:
            raise LookupError("no timer is pending on this FakeClock")
        start = self._now
        self._run_until(max(start, pending[0]))
        return self._now - start

    def _run_until(self, end: float) -> None:
        while True:
            due = [t for t in self._timers if not t._cancelled and t._when <= end]
            if not due:
                break
            timer = min(due, key=FakeTimer.when)  # min keeps scheduling order on ties
            self._timers.remove(timer)
            self._now = max(self._now, timer._when)
            timer._callback(*timer._args)
        self._timers = [t for t in self._timers if not t._cancelled]
        self._now = end

    def connect(self, protocol: Any, transport: MemoryTransport | None = None) -> ClockedConnection:
        """Make a connection of ``protocol`` on a transport whose loop is this clock."""
        return ClockedConnection(self, protocol, transport)


class ClockedConnection:
    """One protocol instance on a :class:`MemoryTransport` timed by a :class:`FakeClock`."""

    def __init__(
        self, clock: FakeClock, protocol: Any, transport: MemoryTransport | None = None
    ) -> None:
        self.clock = clock
        self.protocol = protocol
        self.transport = transport if transport is not None else MemoryTransport(loop=clock)
        # The part of an event loop a connection uses: its clock, timers and call_soon.
        self.transport.loop = cast(asyncio.AbstractEventLoop, clock)
        self.transport._started = clock.time()
        connect(protocol, self.transport)
        clock.advance(0)

    def send(self, data: bytes, *, after: float = 0.0) -> None:
        """Let ``after`` seconds pass, then deliver ``data`` as one read."""
        self.clock.advance(after)
        feed(self.protocol, data, self.transport)
        self.clock.advance(0)

    def take(self) -> bytes:
        """What the protocol sent since the last take."""
        return self.transport.take()

    @property
    def closed(self) -> bool:
        return self.transport.closed

    @property
    def aborted(self) -> bool:
        return self.transport.aborted
