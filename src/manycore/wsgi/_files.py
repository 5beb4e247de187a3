"""``wsgi.file_wrapper`` (PEP 3333, "Optional Platform-Specific File Handling").

A wrapped regular file, unread and sent whole, leaves by the ASGI ``http.response.pathsend``
extension where the server offers it: the server sends it with ``sendfile``, and the bytes
never pass through Python.  Anything else is read in blocks like any iterable.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from typing import IO, Any


class FileWrapper:
    """An iterable of ``blksize`` blocks of ``filelike``, which ``close()`` closes."""

    def __init__(self, filelike: IO[bytes], blksize: int = 64 * 1024) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        size = self.blksize
        while block := read(size):
            yield block

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


def sendable_path(wrapper: FileWrapper) -> tuple[str, int] | None:
    """(absolute path, size) when the wrapped file can be sent by path, else None.

    Only a regular binary file at offset 0 qualifies, and only if its name still names
    the very file that is open: a path send reopens it by name and sends all of it.
    """
    filelike: Any = wrapper.filelike
    if not isinstance(filelike, io.BufferedReader | io.FileIO):
        return None
    name = filelike.name
    if not isinstance(name, str):
        return None
    try:
        opened = os.fstat(filelike.fileno())
        if not stat.S_ISREG(opened.st_mode) or filelike.tell() != 0:
            return None
        path = os.path.abspath(name)
        named = os.stat(path)
    except (OSError, ValueError):
        return None
    if (named.st_dev, named.st_ino) != (opened.st_dev, opened.st_ino):
        return None
    return path, opened.st_size
