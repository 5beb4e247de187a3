"""``wsgi.errors`` and the error an application sees when its client has gone."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..asgi import ClientDisconnected

__all__ = ["ClientDisconnected", "ErrorStream"]

logger = logging.getLogger("manycore.wsgi")


class ErrorStream:
    """``wsgi.errors``: each line the application writes, logged as one record.

    Lines go to the ``manycore.wsgi`` logger at ERROR level, so they land wherever the
    server's log goes instead of on a stderr a worker may not have.  It keeps no state, so
    one stream serves every request and thread: a line written in two pieces is logged as
    two records.
    """

    __slots__ = ()

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"wsgi.errors takes str, not {type(text).__name__}")
        for line in text.splitlines():
            if line:
                logger.error("%s", line)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass
