"""The title store: every title as written, in key order, in one memory-mapped blob.

Titles are sorted by their key (``keys.encode``: the folded title, then its case
patch) and written one per line, each line ending in ``\\n``, after one leading
``\\n``; the id of a title is its rank in that order.  Every ``BLOCK_TITLES``
titles form a block; per block the index keeps where it starts in the blob
(``title_blocks.npy``) and the first ``HEAD_BYTES`` bytes of its first title's key
(``title_heads.npy``, a fixed-width byte-string array ``np.searchsorted`` works on).
A line starts with one character, ``chr(0x20 + n)``: the line's title is the first
``n`` characters of the block's first title followed by the rest of the line (neighbours
in key order share their beginnings: 41 % smaller on 28 million titles).  Every line
decodes on its own from its block's first line, so a lookup still searches the block's
bytes for one line.

Why this shape, not a trie (``bench/wiki/README.md`` has the figures side by side):

* every question is one ``searchsorted`` over the heads plus C-level string work
  on one or two blocks (``bytes.find``, ``str.split``, ``bisect``), so Python
  runs a few lines per question and one short expression per title it returns;
* the titles of a folded prefix are the contiguous id range ``[lo, hi)``: all hits
  of a prefix are one slice of the blob decoded and split in C, and the arrays
  indexed by id are read by slicing;
* a title is stored as written, so answering needs no key decoding.

Folded order is key order: a key is its folded title followed by ``keys.SEP``, which
sorts below every character a title may hold, so ``key >= q`` exactly when
``fold(title) >= q`` for a folded ``q``; and code-point order is UTF-8 byte order,
so ``str`` comparisons in a block agree with the byte comparisons of the heads.
"""

from __future__ import annotations

import bisect
import mmap
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from . import keys
from .errors import IndexFormatError
from .titleblocks import MARK0 as _MARK0
from .titleblocks import expand, from_row, row_of, title_at
from .titleblocks import shared as shared_
from .titlescan import COMPILED as _SCAN_COMPILED
from .titlescan import TitleScan

__all__ = ["BLOCK_TITLES", "HEAD_BYTES", "SortedTitles", "TitleStore", "write_titles"]

BLOCK_TITLES = 16
HEAD_BYTES = 32
BLOB = "titles.blob"
BLOCKS = "title_blocks"
HEADS = "title_heads"
_NL = b"\n"
# A line starts with chr(_MARK0 + n): its title shares n characters with the block's first
# title.  n stops at MAX_SHARED, so the mark is a printable character of one or two bytes.
_BATCH = 1 << 16  # titles decoded at a time when a range is read in pieces


class TitleStore(Protocol):
    """What a search asks of a title store; ``titlesearch`` works on any of them."""

    def __len__(self) -> int: ...

    def find(self, title: str) -> int | None:
        """The id of exactly ``title``, or None."""

    def title(self, title_id: int) -> str: ...

    def first(self, folded: str, count: int) -> tuple[list[str], Sequence[int]]:
        """The first ``count`` titles whose folded form starts with ``folded``, in key
        order, and their ids."""

    def walk(self, folded: str, count: int, step: int) -> Iterator[tuple[list[str], Sequence[int]]]:
        """``first(folded, count)`` in pieces of about ``step`` titles, for a caller that
        usually stops early."""

    def batches(self, folded: str) -> Iterator[tuple[list[str], np.ndarray]]:
        """All titles whose folded form starts with ``folded``, in key order, and their
        ids, a batch at a time (so a caller may stop early)."""

    def close(self) -> None: ...


def _key_bytes(key: str) -> bytes:
    # Titles come from UTF-8 text; a lone surrogate can only come from a caller, and
    # "surrogatepass" keeps it comparable (code-point order) instead of failing.
    return key.encode("utf-8", "surrogatepass")


def write_titles(directory: Path, sorted_keys: Iterable[str]) -> int:
    """Write the store of ``sorted_keys`` (unique, in order) into ``directory``; their count."""
    return write_sorted_titles(directory, map(keys.decode, sorted_keys))


def write_sorted_titles(directory: Path, titles: Iterable[str]) -> int:
    """Write the store of ``titles`` (unique, in key order) into ``directory``; their count."""
    starts = []
    heads = []
    count = 0
    with open(directory / BLOB, "wb") as blob:
        blob.write(_NL)
        offset = 1
        block: list[str] = []
        for title in titles:
            if not block:
                heads.append(_key_bytes(keys.encode(title))[:HEAD_BYTES])
            block.append(title)
            if len(block) == BLOCK_TITLES:
                starts.append(offset)
                offset += blob.write(_block_bytes(block))
                count += len(block)
                block = []
        if block:
            starts.append(offset)
            offset += blob.write(_block_bytes(block))
            count += len(block)
    starts.append(offset)
    np.save(directory / f"{BLOCKS}.npy", np.array(starts, dtype=np.uint64), allow_pickle=False)
    head_array = np.array(heads, dtype=f"S{HEAD_BYTES}") if heads else np.zeros(0, "S1")
    np.save(directory / f"{HEADS}.npy", head_array, allow_pickle=False)
    return count


def _block_bytes(titles: list[str]) -> bytes:
    head = titles[0]
    lines = [chr(_MARK0) + head]
    for title in titles[1:]:
        shared = shared_(head, title)
        lines.append(chr(_MARK0 + shared) + title[shared:])
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


class SortedTitles:
    """The title store of an index, memory-mapped and read-only."""

    def __init__(
        self,
        blob: bytes | mmap.mmap,
        blocks: np.ndarray,
        heads: np.ndarray,
        in_place: bool = _SCAN_COMPILED,
    ) -> None:
        """``in_place``: read a search's titles from the blob's bytes (``titlescan``), which
        pays where that module is compiled; otherwise they are decoded a block at a time."""
        self._blob = blob
        # Read as Python ints without a numpy call, and without a list: a list of millions
        # of ints takes a tenth of a second to make and, its reference counts touched by
        # every worker, would be copied into each.
        offsets = np.ascontiguousarray(blocks, dtype=np.uint64)
        self._starts = memoryview(offsets.data).cast("B").cast("Q")
        self._heads = heads
        self._blocks = len(heads)
        self._count = 0
        if self._blocks:
            self._count = (self._blocks - 1) * BLOCK_TITLES + len(self._lines(self._blocks - 1))
        self._scan: TitleScan | None = None
        if in_place:
            head_bytes = np.ascontiguousarray(heads).view(np.uint8)
            self._scan = TitleScan(memoryview(blob), self._starts, head_bytes.data, heads.itemsize)

    @classmethod
    def open(
        cls,
        directory: Path,
        heads: np.ndarray,
        blocks: np.ndarray,
        in_place: bool = _SCAN_COMPILED,
    ) -> SortedTitles:
        """Map the blob in ``directory`` for the arrays ``HEADS`` and ``BLOCKS`` read from it;
        ``IndexFormatError`` naming the file if they do not agree."""
        path = directory / BLOB
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                blob: bytes | mmap.mmap = (
                    mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
                )
        except FileNotFoundError:
            raise _damaged(path, "is missing") from None
        except OSError as exc:
            raise _damaged(path, f"cannot be read ({exc.strerror})") from None
        if heads.dtype.kind != "S" or blocks.dtype != np.uint64:
            raise _damaged(directory / f"{HEADS}.npy", "does not hold title heads")
        if size == 0 or blob[:1] != _NL or int(blocks[-1]) != size or int(blocks[0]) != 1:
            raise _damaged(path, f"holds {size} bytes, not the {int(blocks[-1])} of its blocks")
        if not np.all(blocks[1:] > blocks[:-1]) or blob[size - 1 : size] != _NL:
            raise _damaged(path, "is not a list of titles in blocks")
        return cls(blob, blocks, heads, in_place)

    def close(self) -> None:
        self._scan = None  # its view of the map must go before the map can close
        if isinstance(self._blob, mmap.mmap):
            self._blob.close()

    def __enter__(self) -> SortedTitles:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self._count

    # ------------------------------------------------------------ one title

    def title(self, title_id: int) -> str:
        if self._scan is not None and 0 <= title_id < self._count:
            return self._scan.title(title_id)
        block, row = divmod(title_id, BLOCK_TITLES)
        return title_at(self._blob[self._starts[block] : self._starts[block + 1]], row)

    def find(self, title: str) -> int | None:
        """The id of exactly ``title``, or None."""
        if "\n" in title or not self._blocks:
            return None
        title = str(title)  # exactly a str, as the compiled titleblocks takes it
        folded = keys.fold(title)  # in C, where encoding the key walks the title in Python
        # The titles that fold alike follow one another from the block before the first head
        # >= the folded title: one find in that block and the next, unless the run goes on.
        first = max(0, self._first_at_least(_key_bytes(folded)) - 1)
        scan = self._scan
        wanted = _key_bytes(title) if scan is not None else b""
        for block in range(first, self._blocks):
            # In place, the title's bytes are compared with the blob's; otherwise each line
            # is stored against its block's first title, so the needle is made per block.
            text = b"" if scan is not None else self._block_text(block)
            row = scan.row_of(block, wanted) if scan is not None else row_of(text, title)
            if row >= 0:
                return block * BLOCK_TITLES + row
            if block > first and not self._run_goes_on(text or self._block_text(block), folded):
                return None
        return None

    def _block_text(self, block: int) -> bytes:
        """Block ``block``'s bytes, from the newline before its first line on."""
        return self._blob[self._starts[block] - 1 : self._starts[block + 1]]

    # ------------------------------------------------------------ ranges

    def span(self, folded: str) -> tuple[int, int]:
        """The ids ``[lo, hi)`` of the titles whose folded form starts with ``folded``."""
        if not folded:
            return 0, self._count
        lo = self._lower_bound(folded, 0)[0]
        last = ord(folded[-1])
        if last >= 0x10FFFF:  # no successor: every later title still starts with it
            return lo, self._prefix_end(folded, lo)
        return lo, self._lower_bound(folded[:-1] + chr(last + 1), 0)[0]

    def first(self, folded: str, count: int) -> tuple[list[str], range]:
        if self._scan is not None:
            found = self._scan.first(folded.encode("utf-8", "surrogatepass"), count)
            if found is not None:
                lo, titles = found
                return titles, range(lo, lo + len(titles))
        lo, titles = self._lower_bound(folded, count) if folded else (0, [])
        if len(titles) < count:
            titles += self.titles(lo + len(titles), min(lo + count, self._count))
        if titles and not keys.fold(titles[-1]).startswith(folded):
            # The range ends among them (the titles in it come first).
            del titles[bisect.bisect_left(titles, True, key=_Outside(folded)) :]
        return titles, range(lo, lo + len(titles))

    def walk(self, folded: str, count: int, step: int) -> Iterator[tuple[list[str], range]]:
        titles, ids = self.first(folded, step)
        yield titles, ids
        lo, taken = ids.start, len(titles)
        while len(ids) == step and taken < count:
            # A full piece: the range may go on.  Read on from where it stopped.
            step = min(4 * step, count - taken)
            titles = self.titles(lo + taken, min(lo + taken + step, self._count))
            if titles and not keys.fold(titles[-1]).startswith(folded):
                del titles[bisect.bisect_left(titles, True, key=_Outside(folded)) :]
            if not titles:
                return
            ids = range(lo + taken, lo + taken + len(titles))
            taken += len(titles)
            yield titles, ids
            if len(titles) < step:
                return

    def batches(self, folded: str) -> Iterator[tuple[list[str], np.ndarray]]:
        lo, hi = self.span(folded)
        for start in range(lo, hi, _BATCH):
            end = min(hi, start + _BATCH)
            yield self.titles(start, end), np.arange(start, end, dtype=np.intp)

    def titles(self, lo: int, hi: int) -> list[str]:
        """The titles with ids ``lo`` up to ``hi``, in order."""
        if hi <= lo:
            return []
        first = lo // BLOCK_TITLES
        text = self._blob[self._starts[first] : self._starts[(hi - 1) // BLOCK_TITLES + 1] - 1]
        lines = text.decode("utf-8", "surrogatepass").split("\n")
        skip = first * BLOCK_TITLES
        out: list[str] = []
        for start in range(lo - lo % BLOCK_TITLES - skip, hi - skip, BLOCK_TITLES):
            out += expand(lines[start : start + BLOCK_TITLES])
        return out[lo % BLOCK_TITLES : lo % BLOCK_TITLES + hi - lo]

    # ------------------------------------------------------------ searching

    def _lines(self, block: int) -> list[str]:
        """The titles of ``block``."""
        end = self._starts[block + 1] - 1
        text = self._blob[self._starts[block] : end].decode("utf-8", "surrogatepass")
        return expand(text.split("\n"))

    def _run_goes_on(self, text: bytes, folded: str) -> bool:
        """Does the last title of the block ``text`` (from the newline before it) still fold
        to ``folded``?"""
        return keys.fold(title_at(text[1:-1], text.count(_NL, 1, -1))) == folded

    def _head_key(self, block: int) -> bytes:
        start = self._starts[block] + 1  # past the first line's mark, which is always _MARK0
        line = self._blob[start : self._blob.find(_NL, start)]
        return _key_bytes(keys.encode(line.decode("utf-8", "surrogatepass")))

    def _first_at_least(self, key: bytes) -> int:
        """The first block whose first key is ``>= key`` (``self._blocks`` if none)."""
        if self._scan is not None and len(key) <= self._heads.itemsize:
            return self._scan.block_at_least(key)  # no tie to break, and no numpy call
        cut = key[:HEAD_BYTES]
        found = int(self._heads.searchsorted(cut))
        if len(key) > HEAD_BYTES and found < self._blocks and self._heads[found] == cut:
            # Heads equal to the cut may still be below the key: compare them in full.
            tied = int(self._heads.searchsorted(cut, "right"))
            found = bisect.bisect_left(range(found, tied), key, key=self._head_key) + found
        return found

    def _lower_bound(self, folded: str, count: int) -> tuple[int, list[str]]:
        """The id of the first title whose folded form is ``>= folded``, and up to ``count``
        titles from it on (fewer where its block and the next end)."""
        block = self._first_at_least(_key_bytes(folded)) - 1
        if block < 0:
            return 0, []
        # The bound is in this block or starts the next; the next comes along for little
        # more, so the titles after the bound are at hand.
        end = self._starts[min(block + 2, self._blocks)] - 1
        row, titles = from_row(
            self._blob[self._starts[block] : end].decode("utf-8", "surrogatepass"), folded, count
        )
        return block * BLOCK_TITLES + row, titles

    def _prefix_end(self, folded: str, lo: int) -> int:
        hi = lo
        for start in range(lo, self._count, _BATCH):
            for title in self.titles(start, min(self._count, start + _BATCH)):
                if not keys.fold(title).startswith(folded):
                    return hi
                hi += 1
        return hi


class _Outside:
    """Is a title outside the folded prefix's range?  (False for the titles in it.)"""

    __slots__ = ("folded",)

    def __init__(self, folded: str) -> None:
        self.folded = folded

    def __call__(self, title: str) -> bool:
        return not keys.fold(title).startswith(self.folded)


def _damaged(path: Path, problem: str) -> IndexFormatError:
    return IndexFormatError(f"{path}: {problem}; the index is damaged, rebuild it")
