"""``wsgi.input``: the request body, read in the application's thread as it arrives.

Each read that needs more than the buffer holds asks the event loop for the next piece of the
body (``receive()`` there) and blocks until it comes, so an application can act on the start
of an upload before the client has sent the rest, and nothing is buffered ahead of what it
asks for.  Reads follow a binary file's semantics: ``read(n)`` returns ``n`` bytes unless the
body ends first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

# Blocks until the next piece of the body is here: (bytes, more to come).
BodySource = Callable[[], tuple[bytes, bool]]


class InputStream:
    """PEP 3333's input stream: ``read``, ``readline``, ``readlines`` and iteration."""

    __slots__ = ("_buffer", "_more", "_source")

    def __init__(self, source: BodySource) -> None:
        self._source = source
        self._buffer = bytearray()
        self._more = True

    def _fill(self) -> bool:
        """Append the next piece of the body to the buffer; False once the body has ended."""
        if not self._more:
            return False
        data, self._more = self._source()
        self._buffer += data
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buffer))
        while len(self._buffer) < size and self._fill():
            pass
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        searched = 0
        while True:
            end = self._buffer.find(b"\n", searched)
            if end >= 0:
                end += 1
                break
            searched = len(self._buffer)
            if (0 <= limit <= searched) or not self._fill():
                end = searched
                break
        return self._take(end if limit < 0 else min(end, limit))

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class EmptyInput:
    """The input of a request without a body: always at its end, so one serves them all."""

    __slots__ = ()

    def read(self, size: int | None = -1) -> bytes:
        return b""

    def readline(self, size: int | None = -1) -> bytes:
        return b""

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return []

    def __iter__(self) -> Iterator[bytes]:
        return iter(())


EMPTY_INPUT = EmptyInput()
