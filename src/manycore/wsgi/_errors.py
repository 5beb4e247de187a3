"""``wsgi.errors`` and the error an application sees when its client has gone."""

from __future__ import annotations

import logging
from collections.abc import Iterable

logger = logging.getLogger("manycore.wsgi")


class ClientDisconnected(OSError):
    """Raised in the application's thread by ``wsgi.input`` or ``write()`` once the client
    has gone: an ``OSError``, as a broken socket would raise."""


class ErrorStream:
    """``wsgi.errors``: what the application writes, logged a line at a time.

    Lines go to the ``manycore.wsgi`` logger at ERROR level, so they land wherever the
    server's log goes instead of on a stderr a worker may not have.  A partial line waits
    for its end or for ``flush()``.
    """

    __slots__ = ("_partial",)

    def __init__(self) -> None:
        self._partial = ""

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"wsgi.errors takes str, not {type(text).__name__}")
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            logger.error("%s", line)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._partial:
            logger.error("%s", self._partial)
            self._partial = ""
