"""A marisa-trie title store: the structure ``titles.SortedTitles`` is tested and measured
against.

One trie of keys (``keys.encode``: folded title, case patch); a title's id is
marisa's key id, so the titles of a prefix come from the trie's iterator, and
each answer decodes its keys back into titles.  ``bench/wiki/titles.py``
measures it with marisa's options (number of tries, cache size, tail mode).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import marisa_trie
import numpy as np

from . import keys

__all__ = ["TrieTitles"]

_BATCH = 4096


class TrieTitles:
    """``TitleStore`` over one marisa-trie of title keys."""

    def __init__(self, trie: marisa_trie.Trie) -> None:
        self.trie = trie

    @classmethod
    def build(cls, title_keys: Iterable[str], **options: int) -> TrieTitles:
        """The store of ``title_keys``; ``options`` go to ``marisa_trie.Trie`` (num_tries,
        cache_size, binary)."""
        return cls(marisa_trie.Trie(title_keys, order=marisa_trie.LABEL_ORDER, **options))

    def __len__(self) -> int:
        return len(self.trie)

    def find(self, title: str) -> int | None:
        if keys.SEP in title:
            return None
        try:
            found: int | None = self.trie.get(keys.encode(title))
        except ValueError:  # characters no key can hold (lone surrogates)
            return None
        return found

    def title(self, title_id: int) -> str:
        return keys.decode(self.trie.restore_key(title_id))

    def first(self, folded: str, count: int) -> tuple[list[str], list[int]]:
        pairs = list(itertools.islice(self.trie.iteritems(folded), count))
        decode = keys.decode
        return [decode(key) for key, _ in pairs], [key_id for _, key_id in pairs]

    def walk(self, folded: str, count: int, step: int) -> Iterator[tuple[list[str], list[int]]]:
        pairs = itertools.islice(self.trie.iteritems(folded), count)
        decode = keys.decode
        while batch := list(itertools.islice(pairs, step)):
            yield [decode(key) for key, _ in batch], [key_id for _, key_id in batch]

    def batches(self, folded: str) -> Iterator[tuple[list[str], np.ndarray]]:
        pairs = self.trie.iteritems(folded)
        decode = keys.decode
        while batch := list(itertools.islice(pairs, _BATCH)):
            ids = np.fromiter((key_id for _, key_id in batch), dtype=np.intp, count=len(batch))
            yield [decode(key) for key, _ in batch], ids

    def close(self) -> None:
        """Nothing to release: the trie goes with the object."""
