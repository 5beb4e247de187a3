"""File I/O that never blocks the event loop: ``await manycore.aio.open(path, mode)``.

Regular files are always "ready" to a poller, so an event loop cannot wait on
them; a slow disk would stall every connection of the worker.  Each call here
runs the blocking ``os`` operation on a small, bounded thread pool owned by
the calling context, and the coroutine resumes when it is done.  (Linux
io_uring would avoid the threads, but no maintained Python binding exists
for it today; the pool is bounded, so a burst of writes queues instead of
creating threads without limit.)

The pool belongs to the context that first used it: a worker process gets its
own after the fork, and each worker thread its own.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import functools
import os
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, AnyStr, Generic, TypeVar, TypeVarTuple, overload

if TYPE_CHECKING:
    from _typeshed import OpenBinaryMode, OpenTextMode, StrPath

__all__ = ["AsyncFile", "open", "read_file", "write_file"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
MAX_THREADS = 4

_local = threading.local()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    pool = getattr(_local, "pool", None)
    if pool is None or getattr(_local, "pid", None) != os.getpid():
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=MAX_THREADS, thread_name_prefix="manycore-aio"
        )
        _local.pool = pool
        _local.pid = os.getpid()
    return pool


async def _run(fn: Callable[[*Ts], T], *args: *Ts) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), functools.partial(fn, *args))


class AsyncFile(Generic[AnyStr]):
    """A file whose ``read``/``write``/``seek``/``close`` are coroutines.

    Use it with ``async with``; operations on one file run one at a time, in
    the order they were awaited.  ``AsyncFile[bytes]`` or ``AsyncFile[str]``
    as the mode it was opened with.
    """

    def __init__(self, raw: IO[AnyStr]) -> None:
        self._file: IO[AnyStr] = raw
        self._lock = asyncio.Lock()
        self.name = raw.name
        self.mode = raw.mode

    async def _do(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        async with self._lock:
            return await _run(fn, *args)

    async def read(self, size: int = -1) -> AnyStr:
        return await self._do(self._file.read, size)

    async def write(self, data: AnyStr) -> int:
        return await self._do(self._file.write, data)

    async def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return await self._do(self._file.seek, offset, whence)

    async def tell(self) -> int:
        return await self._do(self._file.tell)

    async def flush(self) -> None:
        await self._do(self._file.flush)

    async def fsync(self) -> None:
        """Flush and ask the disk to persist what was written."""

        def flush_and_sync() -> None:
            self._file.flush()
            os.fsync(self._file.fileno())

        await self._do(flush_and_sync)

    async def close(self) -> None:
        await self._do(self._file.close)

    @property
    def closed(self) -> bool:
        return self._file.closed

    async def __aenter__(self) -> AsyncFile[AnyStr]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# The overloads give bytes for binary modes and str for text modes, as the builtin does.
@overload
async def open(path: StrPath, mode: OpenBinaryMode = ..., **kwargs: Any) -> AsyncFile[bytes]: ...
@overload
async def open(path: StrPath, mode: OpenTextMode, **kwargs: Any) -> AsyncFile[str]: ...
@overload
async def open(path: StrPath, mode: str, **kwargs: Any) -> AsyncFile[Any]: ...
async def open(path: StrPath, mode: str = "rb", **kwargs: Any) -> AsyncFile[Any]:
    """Open ``path`` without blocking the loop; arguments as for the builtin ``open``."""
    return AsyncFile(await _run(functools.partial(builtins.open, path, mode, **kwargs)))


@overload
async def read_file(path: StrPath, mode: OpenBinaryMode = ...) -> bytes: ...
@overload
async def read_file(path: StrPath, mode: OpenTextMode) -> str: ...
@overload
async def read_file(path: StrPath, mode: str) -> bytes | str: ...
async def read_file(path: StrPath, mode: str = "rb") -> bytes | str:
    """The whole content of ``path``."""

    def read() -> bytes | str:
        with builtins.open(path, mode) as f:
            content: bytes | str = f.read()
            return content

    return await _run(read)


async def write_file(
    path: StrPath, data: bytes | str, *, append: bool = False, fsync: bool = False
) -> int:
    """Write (or append) ``data`` to ``path``; ``fsync=True`` waits until it is on disk."""
    mode = ("a" if append else "w") + ("b" if isinstance(data, bytes | bytearray) else "")

    def write() -> int:
        with builtins.open(path, mode) as f:
            n = f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
            return n

    return await _run(write)
