"""Reading an index: exact lookup, search as you type, all titles with a prefix, page ranges.

``WikiIndex.open(directory)`` memory-maps everything (the title store of
``titles``, the tries with ``marisa_trie.Trie.mmap``, the arrays with
``np.load(mmap_mode="r")``), so
opening takes milliseconds whatever the size, and the parallel contexts forked
afterwards share the same physical pages.  The object is immutable after
``open``; the only mutable things (a small cache of decompressed multistream
streams) live in ``pages`` and are per thread.

Arrays are indexed through plain ``ndarray`` views of the maps (an
``np.memmap`` subclass adds overhead to every indexing operation), and
``searchsorted`` is always given numpy scalars of the array's dtype: a Python
int makes numpy convert the whole uint64 array first.

Search order (``search``, chosen by ``titlesearch``), "smart case" as in
editors: a query typed without capitals matches titles in any case, in
dictionary order, exact matches first ("anar" -> Anarchism, AnarchoCapitalism,
...).  On a wiki that capitalises the first letter of every title (Wikipedia),
a capital first letter does not count.
A query with (other) capitals puts the exact title first, then titles with
exactly those capitals (as typed, or with the first letter capitalised:
MediaWiki's canonical form), then the other any-case matches.  Because titles
are stored in the order of their folded keys (see ``keys`` and ``titles``),
every group comes from one contiguous id range, in order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, NotRequired, TypedDict

import marisa_trie
import numpy as np

from . import keys, layout
from ._build import title_search_build
from .errors import IndexFormatError
from .fulltext import FullText
from .fulltext_open import Unavailable, open_fulltext
from .hitrows import HitRows
from .pages import PageSource, open_source
from .titles import BLOCKS, HEADS, SortedTitles
from .titlesearch import choose, starting_with

__all__ = ["Hit", "HitJson", "WikiIndex"]

MAX_LIMIT = 1000
MAX_REDIRECT_HOPS = 5


class HitJson(TypedDict):
    """A search result as ``/search`` answers it."""

    title: str
    redirect_to: NotRequired[str]  # only for a redirect
    ns: int
    bytes: int


class Hit(NamedTuple):
    """One search result (a tuple: cheap to make, since a search makes many)."""

    title: str
    id: int
    ns: int
    bytes: int
    redirect_to: str | None

    def as_json(self) -> HitJson:
        if self.redirect_to is None:
            return {"title": self.title, "ns": self.ns, "bytes": self.bytes}
        return {
            "title": self.title,
            "redirect_to": self.redirect_to,
            "ns": self.ns,
            "bytes": self.bytes,
        }


_Code = Literal["B", "H", "I", "i"]  # the item types of the arrays a search reads


def _damaged(path: Path, problem: str) -> IndexFormatError:
    return IndexFormatError(f"{path}: {problem}; the index is damaged, rebuild it")


def _load(directory: Path, name: str, length: int | None = None) -> np.ndarray:
    """One array of the index, memory-mapped; ``IndexFormatError`` naming the file if unusable."""
    path = directory / f"{name}.npy"
    try:
        try:
            array = layout.load_array(path, "r")
        except ValueError:  # np.load cannot mmap an empty array; those are tiny anyway
            array = layout.load_array(path)
    except FileNotFoundError:
        raise _damaged(path, "is missing") from None
    except EOFError:
        raise _damaged(path, "is empty") from None
    except (OSError, ValueError) as exc:
        raise _damaged(path, f"is not a readable array ({' '.join(str(exc).split())})") from None
    if not isinstance(array, np.ndarray) or array.ndim != 1:
        raise _damaged(path, "is not a one-dimensional array")
    if length is not None and len(array) != length:
        raise _damaged(path, f"holds {len(array)} entries, not one per title ({length})")
    return array.view(np.ndarray)


def _values(directory: Path, name: str, array: np.ndarray, code: _Code) -> memoryview[int]:
    """The values of the array ``name``, as a memoryview of the item type ``code``."""
    if array.dtype != np.dtype(code):
        raise _damaged(directory / f"{name}.npy", f"holds {array.dtype}, not {np.dtype(code)}")
    return memoryview(np.ascontiguousarray(array).data).cast("B").cast(code)


def _load_trie(directory: Path, name: str) -> marisa_trie.Trie:
    """A trie of the index, memory-mapped; ``IndexFormatError`` naming the file if unusable."""
    path = directory / f"{name}.marisa"
    if not path.is_file():
        raise _damaged(path, "is missing")
    if path.stat().st_size == 0:
        raise _damaged(path, "is empty")
    try:
        return marisa_trie.Trie().mmap(str(path))
    except (RuntimeError, OSError, ValueError):  # marisa's MARISA_*_ERRORs are RuntimeErrors
        raise _damaged(path, "is not a readable trie") from None


def clamp_limit(limit: int | str | None, default: int = 10) -> int:
    """A search limit forced into 1..1000 (garbage means the default)."""
    try:
        value = int(limit) if limit is not None else default
    except (TypeError, ValueError):
        value = default
    return max(1, min(MAX_LIMIT, value))


class WikiIndex:
    """A built index, memory-mapped and read-only."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        directory = Path(directory).absolute()
        self.directory = directory
        self.header = header = layout.read_header(directory)
        heads = _load(directory, HEADS)
        self.titles = SortedTitles.open(directory, heads, _load(directory, BLOCKS, len(heads) + 1))
        self.missing = _load_trie(directory, "missing_targets")
        titles = len(self.titles)
        self.start_lo = _load(directory, "start_lo", titles)
        self.start_hi = _load(directory, "start_hi", titles)
        self.length = _load(directory, "length", titles)
        self.flags = _load(directory, "flags", titles)
        self.long_ids = _load(directory, "long_ids")
        self.long_lengths = _load(directory, "long_lengths", len(self.long_ids))
        self.redirect_ids = _load(directory, "redirect_ids")
        self.redirect_targets = _load(directory, "redirect_targets", len(self.redirect_ids))
        self.redirect_blocks = _load(directory, "redirect_blocks", len(heads) + 1)
        self.namespace_codes = np.array(header["namespace_codes"], dtype=np.int32)
        self._ns_list = [int(x) for x in self.namespace_codes]
        # The arrays a search reads value by value, as memoryviews: indexing one costs a
        # third of what numpy's indexing does, and the compiled rows read them in C.
        self._hit_rows = HitRows(
            _values(directory, "flags", self.flags, "B"),
            _values(directory, "length", self.length, "H"),
            _values(directory, "redirect_blocks", self.redirect_blocks, "I"),
            _values(directory, "redirect_ids", self.redirect_ids, "I"),
            _values(directory, "redirect_targets", self.redirect_targets, "i"),
            self._ns_list,
            self.titles.title,
            self._missing_target,
            self._long_length,
            Hit,
        )
        self.first_letter = header["dump"].get("site", {}).get("case", "first-letter") == (
            "first-letter"
        )
        streams = None
        if header["source"]["kind"] == "multistream":
            starts = _load(directory, "stream_starts")
            streams = (starts, _load(directory, "stream_offsets", len(starts)))
        self.source: PageSource = open_source(directory, header["source"], streams)
        found = open_fulltext(directory, header.get("fulltext"))
        self.fulltext: FullText | None = None if isinstance(found, Unavailable) else found
        self.fulltext_missing = found.reason if isinstance(found, Unavailable) else ""
        self.index_bytes = sum(
            entry.stat().st_size
            for entry in directory.iterdir()
            if entry.name != "dump.xml" and entry.is_file()
        )

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> WikiIndex:
        """Open (memory-map) the index in ``directory``; ``IndexFormatError`` if unusable."""
        return cls(directory)

    def close(self) -> None:
        self.source.close()
        self.titles.close()
        if self.fulltext is not None:
            self.fulltext.close()

    def __enter__(self) -> WikiIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.flags)

    # ---------------------------------------------------------------- one title

    def lookup(self, title: str) -> int | None:
        """The id of exactly ``title``, or None."""
        if keys.SEP in title:  # no title holds it; it would read as part of a key
            return None
        return self.titles.find(title)

    def resolve(self, title: str) -> int | None:
        """The id of ``title`` as a reader means it: exact, then ``_`` as space, capitalised
        first letter, and finally any title equal to it ignoring case."""
        found = self.lookup(title)
        if found is not None:
            return found
        title = " ".join(title.replace("_", " ").split())
        if not title:
            return None
        candidates = [title]
        if self.first_letter:
            candidates.append(title[0].upper() + title[1:])
        for candidate in candidates:
            found = self.lookup(candidate)
            if found is not None:
                return found
        folded = keys.fold(title)
        # Titles equal to it ignoring case come first in its folded range.
        titles, ids = self.titles.first(folded, 1)
        if titles and keys.fold(titles[0]) == folded:
            return ids[0]
        return None

    def title(self, key_id: int) -> str:
        return self.titles.title(key_id)

    def namespace(self, key_id: int) -> int:
        return self._ns_list[int(self.flags[key_id]) & layout.NS_MASK]

    def is_redirect(self, key_id: int) -> bool:
        return bool(self.flags[key_id] & layout.REDIRECT_BIT)

    def page_range(self, key_id: int) -> tuple[int, int]:
        """(offset, length) of the page's ``<page>...</page>`` in the served text."""
        start = (int(self.start_hi[key_id]) << 32) | int(self.start_lo[key_id])
        length = int(self.length[key_id])
        if length == layout.LONG:
            length = self._long_length(key_id)
        return start, length

    def _long_length(self, key_id: int) -> int:
        """The length of a page too long for ``length.npy``."""
        return int(self.long_lengths[self.long_ids.searchsorted(np.uint32(key_id))])

    def redirect(self, key_id: int) -> tuple[str, int | None] | None:
        """(target title, target id or None if not in the dump) for a redirect, else None."""
        if not self.flags[key_id] & layout.REDIRECT_BIT:
            return None
        target = self._hit_rows.redirect_target(key_id)
        return self._target(target), (target if target >= 0 else None)

    def _target(self, target: int) -> str:
        """The title a ``redirect_targets`` entry names."""
        if target >= 0:
            return self.titles.title(target)
        return self._missing_target(-1 - target)

    def _missing_target(self, key: int) -> str:
        """The title of key ``key`` of the targets missing from the dump."""
        return keys.decode(self.missing.restore_key(key))

    def follow(self, key_id: int) -> int:
        """The page a reader lands on: redirects followed while their target exists."""
        seen = {key_id}
        for _ in range(MAX_REDIRECT_HOPS):
            hop = self.redirect(key_id)
            if hop is None or hop[1] is None or hop[1] in seen:
                break
            key_id = hop[1]
            seen.add(key_id)
        return key_id

    def read_page(self, key_id: int) -> bytes:
        """The page's XML bytes (a copy; use ``source`` to send them without copying)."""
        offset, length = self.page_range(key_id)
        return self.source.read(offset, length)

    # ---------------------------------------------------------------- many titles

    def search(self, query: str, limit: int = 10) -> list[Hit]:
        """Titles for a search box, at most ``limit`` (clamped to 1..1000); see the module doc."""
        titles, ids = choose(self.titles, query, clamp_limit(limit), self.first_letter)
        return self.hits(titles, ids)

    def search_json(self, query: str, limit: int = 10) -> list[HitJson]:
        """``search`` as ``/search`` answers it, built straight into dictionaries."""
        titles, ids = choose(self.titles, query, clamp_limit(limit), self.first_letter)
        return self._hit_rows.rows(titles, ids, as_json=True)

    def hits(self, titles: list[str], ids: Sequence[int]) -> list[Hit]:
        """``Hit`` objects for titles and their ids."""
        return self._hit_rows.rows(titles, ids)

    def prefix(self, prefix: str, max_hits: int | None = None) -> tuple[list[str], np.ndarray]:
        """Every title starting with ``prefix`` (case-sensitive), in order, and their ids.

        Stops after ``max_hits + 1`` titles when ``max_hits`` is given, so a
        caller can tell "more than max_hits" without reading them all.
        """
        return starting_with(self.titles, prefix, max_hits)

    def ranges(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(starts, ends) of the pages ``ids``, vectorised."""
        starts = (self.start_hi[ids].astype(np.uint64) << np.uint64(32)) | self.start_lo[ids]
        lengths = self.length[ids].astype(np.uint64)
        long = lengths == layout.LONG
        if long.any():
            where = np.searchsorted(self.long_ids, ids[long].astype(np.uint32))
            lengths[long] = self.long_lengths[where]
        return starts, starts + lengths

    def offsets(self, prefix: str, max_hits: int | None = None) -> list[tuple[str, int, int]]:
        """PyParallel's ``[[title, start, end], ...]`` for every title starting with ``prefix``
        (tuples: JSON arrays once encoded)."""
        titles, ids = self.prefix(prefix, max_hits)
        starts, ends = self.ranges(ids)
        return list(zip(titles, starts.tolist(), ends.tolist(), strict=True))

    # ---------------------------------------------------------------- about

    def describe(self) -> dict[str, Any]:
        header = self.header
        return {
            "titles": len(self),
            "pages": header["pages"],
            "redirects": header["redirects"],
            "index_bytes": self.index_bytes,
            "dump_bytes": header["source"]["size"],
            "dump": header["dump"]["path"],
            "dump_kind": header["dump"]["kind"],
            "schema": header["dump"]["schema"],
            "site": header["dump"].get("site", {}).get("sitename"),
            "built": header.get("built"),
            "fulltext": header.get("fulltext"),
            "title_search": title_search_build(),
        }
