"""Which titles a search answers, in which order, from any title store.

Both functions ask the store only for the titles of a folded prefix, in key
order (``TitleStore.first`` and ``TitleStore.batches``), so they give the same
answers from the sorted blob the index uses and from the marisa-trie store it
is measured against.  See ``index`` for the order ("smart case").
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from . import keys
from .titles import TitleStore

__all__ = ["choose", "starting_with"]


def choose(
    store: TitleStore, query: str, limit: int, first_letter: bool
) -> tuple[list[str], Sequence[int]]:
    """(titles, ids) for a search box: at most ``limit``, exact match first, then prefix order.

    ``first_letter``: the wiki capitalises the first letter of every title, so a
    capital typed there says nothing.
    """
    query = query.replace("_", " ").lstrip()
    if not query or keys.SEP in query or "\n" in query:
        return [], []
    forms: tuple[str, ...] = (query,)
    if first_letter:
        capital = query[0].upper()
        if capital != query[0] and len(capital) == 1:
            forms = (query, capital + query[1:])
    folded = keys.fold(query)
    # Folding goes character by character, so this compares the significant part with its fold.
    if (folded[1:] == query[1:]) if first_letter else (folded == query):
        # No capitals typed: any case will do.  The folded range is already in dictionary
        # order, and the titles equal to the query ignoring case come first in it.
        titles, ids = store.first(folded, limit)
        if titles and len(titles[0]) == len(query) and titles[0] not in forms:
            # The first title equals the query ignoring case (folding keeps lengths), so
            # others may too: an exact one goes first.
            exact = [i for i, title in enumerate(titles) if title in forms]
            if exact:
                order = exact + [i for i in range(len(titles)) if i not in exact]
                return [titles[i] for i in order], [ids[i] for i in order]
        return titles, ids
    first: list[tuple[str, int]] = []  # the query itself
    found: list[tuple[str, int]] = []  # titles with exactly the typed capitals
    other: list[tuple[str, int]] = []  # any-case matches
    # Titles equal to the query ignoring case come first in the folded range, so an exact
    # match is met at once; a budget bounds the walk when the capitals are rare, and the
    # titles are read a few at a time, since the typed capitals are usually met at once.
    for titles, ids in store.walk(folded, max(8 * limit, 256), limit + 2):
        for pair in zip(titles, ids, strict=True):
            title = pair[0]
            if title in forms:
                first.append(pair)
            elif title.startswith(forms):
                found.append(pair)
                if len(found) >= limit:
                    break
            elif len(other) < limit:
                other.append(pair)
        if len(found) >= limit:
            break
    chosen = (first + found + other)[:limit]
    return [title for title, _ in chosen], [title_id for _, title_id in chosen]


def starting_with(
    store: TitleStore, prefix: str, max_hits: int | None = None
) -> tuple[list[str], np.ndarray]:
    """Every title starting with ``prefix`` (case-sensitive), in order, and their ids.

    Stops after ``max_hits + 1`` titles when ``max_hits`` is given, so a caller
    can tell "more than max_hits" without reading them all.
    """
    if keys.SEP in prefix or "\n" in prefix:
        return [], np.zeros(0, dtype=np.intp)
    titles: list[str] = []
    parts = []
    for batch, batch_ids in store.batches(keys.fold(prefix)):
        # The folded range holds every case; a title in it starts with the prefix as
        # typed exactly when its first characters are the prefix's.
        keep = [title.startswith(prefix) for title in batch]
        if all(keep):
            titles += batch
            parts.append(batch_ids)
        else:
            titles += itertools.compress(batch, keep)
            parts.append(batch_ids[np.array(keep, dtype=bool)])
        if max_hits is not None and len(titles) > max_hits:
            break
    ids = np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)
    if max_hits is not None:
        del titles[max_hits + 1 :]
        ids = ids[: max_hits + 1]
    return titles, ids.astype(np.intp, copy=False)
