"""Helpers for testing protocol classes: in memory, and as a real server process.

* :class:`MemoryTransport` and :func:`feed` drive a protocol instance with
  bytes, no sockets, no loop: the fastest way to test parsing and replies
  (feed it all at once, one byte at a time, with trailing bytes left over).
* :class:`ServerProcess` starts ``python -m manycore serve`` exactly as a user
  would, waits until it listens, and on exit stops it with SIGTERM and checks
  that it exited cleanly.
* :func:`check_protocol` is a conformance check any protocol class can run.
* :class:`FakeClock` stands in for the event loop's clock and timers, so a
  timeout is tested by moving the clock, not by waiting for it.
"""

from __future__ import annotations

import inspect
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from .protocol import ProtocolSpec

__all__ = [
    "ClockedConnection",
    "FakeClock",
    "FakeTimer",
    "MemoryTransport",
    "ServerProcess",
    "check_protocol",
    "feed",
]

_LISTENING = re.compile(r"listening on (?:(\w+)://)?(\[[^\]]+\]|[^\s:]+):(\d+)")


class MemoryTransport:
    """A transport that records what a protocol sends instead of sending it."""

    def __init__(self, peername: Any = ("127.0.0.1", 50000)) -> None:
        self.output = bytearray()
        self.files: list[tuple[str | int, int, int]] = []
        self.closed = False
        self.aborted = False
        self.paused_reading = False
        self.peername = peername
        self.sockname = ("127.0.0.1", 8080)
        self.loop: Any = None
        self._started = time.monotonic()

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.output += data

    def writelines(self, chunks: Sequence[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def sendfile(self, before: bytes, path: Any, after: bytes = b"") -> None:
        self.sendfile_ranged(before, path, after, 0, None)

    def sendfile_ranged(self, before: bytes, path: Any, after: bytes, offset: int, nbytes):
        """Appends the file's bytes to :attr:`output`, so tests see exactly the wire."""
        self.write(before)
        if hasattr(path, "fileno"):
            path = path.fileno()
        if isinstance(path, int):
            data = os.pread(path, nbytes if nbytes is not None else 1 << 62, offset)
        else:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read() if nbytes is None else f.read(nbytes)
        self.files.append((path, offset, len(data)))
        self.write(data)
        self.write(after)

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

    @property
    def sending_file(self) -> bool:
        return False

    async def drain(self) -> None:
        return None

    def elapsed(self) -> float:
        """Seconds since the transport was made, on its loop's clock when it has one."""
        now = self.loop.time() if self.loop is not None else time.monotonic()
        return now - self._started

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": self.peername, "sockname": self.sockname}.get(name, default)

    def take(self) -> bytes:
        """Return and clear what has been sent so far."""
        data = bytes(self.output)
        self.output.clear()
        return data


def _send(transport: MemoryTransport, result: Any) -> None:
    if result is None:
        return
    if isinstance(result, list | tuple):
        transport.writelines(result)
    else:
        transport.write(bytes(result))


def feed(protocol: Any, data: bytes, transport: MemoryTransport | None = None) -> MemoryTransport:
    """Deliver ``data`` to ``protocol`` as one read and record what it returns.

    Synchronous callbacks only; for ``async def`` callbacks use a real server.
    """
    transport = transport or MemoryTransport()
    if getattr(protocol, "lines_mode", False):
        buffer = getattr(protocol, "_testing_buffer", b"") + data
        *lines, rest = buffer.split(b"\n")
        protocol._testing_buffer = rest
        for line in lines:
            _send(transport, protocol.line_received(transport, line.removesuffix(b"\r")))
    else:
        _send(transport, protocol.data_received(transport, data))
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
        cwd: str | os.PathLike | None = None,
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
        self.output: list[str] = []
        self.process: subprocess.Popen | None = None
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
        if not self._ready.wait(self.ready_timeout) or not self.port:
            self.stop(check=False)
            raise RuntimeError(
                f"server did not start: {' '.join(self.command)}\n" + "".join(self.output)
            )
        return self

    def _read_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if not self.port:
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

    def __exit__(self, exc_type, *_exc: object) -> None:
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
        self, when: float, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> FakeTimer:
        timer = FakeTimer(when, callback, args)
        self._timers.append(timer)
        return timer

    def call_later(
        self, delay: float, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> FakeTimer:
        return self.call_at(self._now + delay, callback, *args)

    def call_soon(
        self, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> FakeTimer:
        return self.call_at(self._now, callback, *args)

    def create_task(self, coro: Coroutine[Any, Any, Any], **_kwargs: Any) -> Any:
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
        self.transport = transport if transport is not None else MemoryTransport()
        self.transport.loop = clock
        self.transport._started = clock.time()
        connection_made = getattr(protocol, "connection_made", None)
        if connection_made is not None:
            connection_made(self.transport)
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
