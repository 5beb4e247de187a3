"""Where the pages' bytes live: a plain XML file, or a multistream ``.bz2``.

``PlainSource`` keeps one read-only file descriptor, opened in the main
context and inherited by every worker; a handler sends a page with
``transport.sendfile_ranged(head, source.fd, b"", offset, length)`` -- zero
copy, and the descriptor's file position is never used (``sendfile`` and
``pread`` take explicit offsets), so sharing it is safe.

``MultistreamSource`` maps an offset in the virtual decompressed text to the
one ~100-page bz2 stream that holds it (``searchsorted`` over the streams'
starts) and decompresses only that stream.  The last few decompressed streams
are cached per thread: a cache is mutable, so it is never shared between
parallel contexts.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from .dump import read_stream
from .errors import IndexFormatError

__all__ = ["MultistreamSource", "PageSource", "PlainSource", "open_source"]

CACHED_STREAMS = 8


class PageSource:
    """Read-only access to the text that page offsets point into."""

    zero_copy = False

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.file_size = size
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))

    @property
    def size(self) -> int:
        """Bytes of (decompressed) text."""
        return self.file_size

    def read(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class PlainSource(PageSource):
    """An uncompressed export: offsets are file offsets."""

    zero_copy = True

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self.fd, length, offset)


class MultistreamSource(PageSource):
    """A multistream ``.bz2``: offsets are into the concatenated decompressed streams."""

    def __init__(self, path: Path, size: int, starts: np.ndarray, offsets: np.ndarray) -> None:
        super().__init__(path, size)
        self.starts = starts  # uint64[S+1]: text offset of each stream, then the total
        self.offsets = offsets  # uint64[S+1]: file offset of each stream, then its end
        self._local = threading.local()

    @property
    def size(self) -> int:
        return int(self.starts[-1])

    def stream_of(self, offset: int) -> int:
        return int(np.searchsorted(self.starts, np.uint64(offset), side="right")) - 1

    def _stream(self, index: int) -> bytes:
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = OrderedDict()
        text = cache.get(index)
        if text is None:
            text, _ = read_stream(self.fd, int(self.offsets[index]), int(self.offsets[index + 1]))
            cache[index] = text
            if len(cache) > CACHED_STREAMS:
                cache.popitem(last=False)
        else:
            cache.move_to_end(index)
        return text

    def read(self, offset: int, length: int) -> bytes:
        parts = []
        end = min(offset + length, self.size)
        while offset < end:
            index = self.stream_of(offset)
            base = int(self.starts[index])
            text = self._stream(index)
            part = text[offset - base : end - base]
            if not part:
                break
            parts.append(part)
            offset += len(part)
        return b"".join(parts)


def open_source(
    directory: Path, source: dict[str, Any], streams: tuple[np.ndarray, np.ndarray] | None
) -> PageSource:
    """Open the file an index points into, checking it is still the one that was indexed."""
    path = Path(source["path"])
    if not path.is_absolute():
        path = directory / path
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise IndexFormatError(
            f"{directory}: its dump {path} is gone; put it back or rebuild the index"
        ) from None
    if size != source["size"] and source["kind"] != "multistream":
        raise IndexFormatError(
            f"{directory}: its dump {path} changed since it was indexed ({source['size']} bytes "
            f"then, {size} now); rebuild the index"
        )
    if source["kind"] == "multistream":
        if streams is None or size != source["size"]:
            raise IndexFormatError(
                f"{directory}: its dump {path} changed since it was indexed; rebuild the index"
            )
        return MultistreamSource(path, size, *streams)
    return PlainSource(path, size)
