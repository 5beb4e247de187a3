"""The rows of a search's results, read from the index's per-title arrays.

Per result a search reads a flag and a length, and for a redirect finds its entry among
its block's redirects; that is indexing arithmetic, so ``setup.py`` compiles this module
with Cython, and ``hitrows.pxd`` types the arrays (memoryviews of the mapped files) and the
counters: the loop then runs in C and calls Python only to make each row and to read a
redirect's target title.  Without the compiled module the same code runs as Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["HitRows"]

Row = tuple[Any, ...]  # (title, id, namespace, bytes, redirect target or None), as ``make``


class HitRows:
    """Makes ``make((title, id, namespace, bytes, target))`` for search results.

    ``flags``, ``lengths``: per title; ``redirect_ids``: the redirects' ids in order, their
    ``redirect_targets`` beside them, and ``redirect_blocks``: where each block of 16
    titles starts in them (the index's arrays, see ``layout``).  A target is a title's id,
    read by ``title``, or ``-1 - k`` for key ``k`` of the missing targets, read by
    ``missing``; ``long_length`` gives the length of a page whose stored length is the
    "too long" mark.
    """

    def __init__(
        self,
        flags: memoryview[int],
        lengths: memoryview[int],
        redirect_blocks: memoryview[int],
        redirect_ids: memoryview[int],
        redirect_targets: memoryview[int],
        namespaces: list[int],
        title: Callable[[int], str],
        missing: Callable[[int], str],
        long_length: Callable[[int], int],
        make: type[Row],
    ) -> None:
        self.flags = flags
        self.lengths = lengths
        self.redirect_blocks = redirect_blocks
        self.redirect_ids = redirect_ids
        self.redirect_targets = redirect_targets
        self.namespaces = namespaces
        self.title = title
        self.missing = missing
        self.long_length = long_length
        self.make = make

    def redirect_target(self, key_id: int) -> int:
        """The ``redirect_targets`` entry of the redirect page ``key_id``."""
        # Its entry is among its block's redirects (16 titles at most).
        entry = self.redirect_blocks[key_id >> 4]
        while self.redirect_ids[entry] != key_id:
            entry += 1
        return self.redirect_targets[entry]

    def rows(self, titles: list[str], ids: Sequence[int], as_json: bool = False) -> list[Any]:
        """The rows of ``titles``, whose ids are ``ids``: each a ``make``, or with ``as_json``
        the dictionary ``/search`` answers (``index.HitJson``)."""
        out: list[Any] = []
        count = len(titles)
        i = 0
        while i < count:
            key_id = ids[i]
            flag = self.flags[key_id]
            length = self.lengths[key_id]
            target = None
            if flag & 0x80:  # layout.REDIRECT_BIT: a module constant costs a lookup compiled
                found = self.redirect_target(key_id)
                target = self.title(found) if found >= 0 else self.missing(-1 - found)
            if length == 0xFFFF:  # layout.LONG
                length = self.long_length(key_id)
            ns = self.namespaces[flag & 0x7F]
            if not as_json:
                out.append(tuple.__new__(self.make, (titles[i], key_id, ns, length, target)))
            elif target is None:
                out.append({"title": titles[i], "ns": ns, "bytes": length})
            else:
                out.append({"title": titles[i], "redirect_to": target, "ns": ns, "bytes": length})
            i += 1
        return out
