"""The sorted title store answers exactly as the marisa-trie store does (manycore.apps.wiki.titles).

Both stores are built from the same keys -- the real sample's and synthetic
edge cases: titles that are prefixes of each other, every case of one spelling,
non-ASCII scripts, the dotted capital I and final sigma, runs of titles that
cross block boundaries and share more than the stored head bytes -- and asked
the same questions: exact lookup of every title, the titles of every prefix
(empty included) as a search box and as "all titles starting with", and a brute
force answer computed from the title list alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("marisa_trie")
pytest.importorskip("numpy")

import numpy as np

from manycore.apps.wiki import build_index, keys, titlescan
from manycore.apps.wiki.index import WikiIndex
from manycore.apps.wiki.sample import SAMPLE_DUMP
from manycore.apps.wiki.titles import (
    BLOCK_TITLES,
    BLOCKS,
    HEAD_BYTES,
    HEADS,
    SortedTitles,
    write_titles,
)
from manycore.apps.wiki.titles_trie import TrieTitles
from manycore.apps.wiki.titlesearch import choose, starting_with

LONG_PREFIX = "List of people who share a very long common beginning of their titles, "


def edge_titles() -> list[str]:
    titles = {
        "A",
        "a",
        "Ab",
        "AB",
        "ab",
        "aB",
        "Abc",
        "Ab c",
        "Abc d",
        "ABC",
        "İstanbul",
        "Istanbul",
        "istanbul",
        "İİ",
        "Σίσυφος",
        "ΣΊΣΥΦΟΣ",
        "Οδός",
        "ΟΔΟΣ",
        "Éire",
        "éclair",
        "Eire",
        "東京",
        "東京大学",
        "ǅemal",
        "Kelvin \u212a",
        "Straße",
        "ẞ",
        "C++",
        "Z" * 40,
        # More in common than a line's mark can say: stored with the rest in full.
        "Q" * 250 + "a",
        "Q" * 250 + "b",
        "Q" * 250,
        "q" * 249 + "Q",
    }
    # Runs that cross block boundaries: each title a prefix of the next, in several cases.
    for n in range(1, 2 * BLOCK_TITLES):
        titles.add("Chain " + "x" * n)
        titles.add("CHAIN " + "X" * n if n % 3 == 0 else "Chain " + "x" * n + "Y")
    # Titles equal in their first HEAD_BYTES bytes and more, across many blocks.
    assert len(LONG_PREFIX.encode()) > HEAD_BYTES
    for n in range(2 * BLOCK_TITLES):
        titles.add(f"{LONG_PREFIX}{n:04d}")
        titles.add(f"{LONG_PREFIX.upper()}{n:04d}" if n % 8 == 0 else f"{LONG_PREFIX}{n:04d}x")
    return sorted(titles)


@pytest.fixture(params=[True, False], ids=["in-place", "decoded"])
def in_place(request: pytest.FixtureRequest) -> bool:
    """Both ways the sorted store reads a search's titles, in whichever build runs."""
    return request.param


def both_stores(
    directory: Path, titles: list[str], in_place: bool = titlescan.COMPILED
) -> tuple[SortedTitles, TrieTitles]:
    sorted_keys = sorted({keys.encode(title) for title in titles})
    directory.mkdir(parents=True, exist_ok=True)
    assert write_titles(directory, sorted_keys) == len(sorted_keys)
    return open_store(directory, in_place), TrieTitles.build(sorted_keys)


def open_store(directory: Path, in_place: bool) -> SortedTitles:
    heads = np.load(directory / f"{HEADS}.npy")
    blocks = np.load(directory / f"{BLOCKS}.npy")
    return SortedTitles.open(directory, heads, blocks, in_place=in_place)


def queries(titles: list[str]) -> list[str]:
    """Prefixes of every title (the short ones, those around the head bytes, the whole), as
    written, lower and upper case; and a few misses."""
    out = {"", "zzzz", "İ", "i̇", "Σ", "\u03c3", "ς", " ", "\U0010ffff", "東京大学院"}
    cuts = [*range(8), HEAD_BYTES - 1, HEAD_BYTES, HEAD_BYTES + 1]
    for title in titles:
        for cut in {*cuts, len(title) - 1, len(title)}:
            part = title[:cut]
            out.update((part, part.lower(), part.upper()))
    return sorted(out)


def assert_same_answers(fast: SortedTitles, trie: TrieTitles, titles: list[str]) -> None:
    assert len(fast) == len(trie) == len(titles)
    in_key_order = sorted(titles, key=keys.encode)
    folds = [keys.fold(title) for title in in_key_order]
    for title_id, title in enumerate(in_key_order):
        assert fast.find(title) == title_id
        assert fast.title(title_id) == title
        assert trie.title(trie.find(title)) == title
    for query in queries(titles):
        present = query in titles
        assert (fast.find(query) is not None) == present == (trie.find(query) is not None)
        expected = [title for title in in_key_order if title.startswith(query)]
        for store in (fast, trie):
            found, ids = starting_with(store, query)
            assert found == expected, query
            assert [store.title(i) for i in ids] == found
        assert starting_with(fast, query, 3)[0] == expected[:4]
        folded = keys.fold(query)
        any_case = [t for t, f in zip(in_key_order, folds, strict=True) if f.startswith(folded)]
        for count in (1, 1000):
            assert fast.first(folded, count)[0] == trie.first(folded, count)[0]
            assert fast.first(folded, count)[0] == any_case[:count], query
        for limit in (1, 10, 300):
            for first_letter in (True, False):
                answer = choose(fast, query, limit, first_letter)
                assert answer[0] == choose(trie, query, limit, first_letter)[0], query
                assert [fast.title(i) for i in answer[1]] == answer[0]


def test_the_stores_agree_on_edge_cases(tmp_path, in_place):
    titles = edge_titles()
    fast, trie = both_stores(tmp_path / "edge", titles, in_place)
    with fast:
        assert len(titles) > 4 * BLOCK_TITLES  # several blocks, and ties among their heads
        heads = np.load(tmp_path / "edge" / f"{HEADS}.npy")
        assert len(heads) - len(set(heads.tolist())) >= 2
        assert_same_answers(fast, trie, titles)


@pytest.mark.parametrize("count", [1, BLOCK_TITLES - 1, BLOCK_TITLES, BLOCK_TITLES + 1])
def test_the_stores_agree_at_block_boundaries(tmp_path, count, in_place):
    titles = [f"Title {n:03d}" for n in range(count)]
    fast, trie = both_stores(tmp_path / "blocks", titles, in_place)
    with fast:
        assert_same_answers(fast, trie, titles)
        assert fast.first("", 10 * count)[0] == titles


def test_the_stores_agree_on_the_sample(tmp_path, in_place):
    built = build_index(SAMPLE_DUMP, tmp_path / "sample.index", progress=False).directory
    with WikiIndex.open(built) as index:
        titles = [index.title(i) for i in range(len(index))]
        fast, trie = both_stores(tmp_path / "stores", titles, in_place)
        with fast:
            assert titles == sorted(titles, key=keys.encode)  # ids are ranks in key order
            assert_same_answers(fast, trie, titles)
            for query in ("a", "Ab", "anar", "AN", "List of", "", "Category:"):
                hits = index.search(query, 20)
                assert [hit.title for hit in hits] == choose(trie, query, 20, True)[0]


def test_a_title_store_cut_short_is_refused(tmp_path):
    from manycore.apps.wiki import IndexFormatError

    fast, _ = both_stores(tmp_path / "cut", edge_titles())
    fast.close()
    blob = tmp_path / "cut" / "titles.blob"
    blob.write_bytes(blob.read_bytes()[:-10])
    heads = np.load(tmp_path / "cut" / f"{HEADS}.npy")
    blocks = np.load(tmp_path / "cut" / f"{BLOCKS}.npy")
    with pytest.raises(IndexFormatError, match=r"titles\.blob.*rebuild"):
        SortedTitles.open(tmp_path / "cut", heads, blocks)


def in_place_scan(directory: Path) -> titlescan.TitleScan:
    """The in-place reader of a written store, made as ``SortedTitles`` makes it."""
    heads = np.load(directory / f"{HEADS}.npy")
    blocks = np.load(directory / f"{BLOCKS}.npy")
    return titlescan.TitleScan(
        memoryview((directory / "titles.blob").read_bytes()),
        memoryview(blocks.astype(np.uint64).data).cast("B").cast("Q"),
        memoryview(heads.view(np.uint8)),
        heads.itemsize,
    )


def brute_first(in_key_order: list[str], folded: str, count: int) -> tuple[int, list[str]]:
    """What ``first`` answers, from the title list alone."""
    folds = [keys.fold(title) for title in in_key_order]
    lo = sum(1 for fold in folds if fold < folded)
    hits = [t for t, f in zip(in_key_order, folds, strict=True) if f.startswith(folded)]
    return lo, hits[:count]


def test_in_place_reads_answer_ascii_titles_themselves(tmp_path):
    # ASCII titles: the in-place reader never hands a query back, and answers it as the
    # titles do -- capitals typed, queries longer than any title, runs across blocks,
    # titles sharing more than a one-byte mark can say, queries beyond ASCII that match none.
    titles = [title for title in edge_titles() if title.isascii()]
    titles += [f"Zeta {n}" for n in range(3 * BLOCK_TITLES)] + ["Zeta", "ZETA 1", "zeta 10"]
    write_titles(tmp_path, sorted({keys.encode(title) for title in titles}))
    in_key_order = sorted(set(titles), key=keys.encode)
    scan = in_place_scan(tmp_path)
    for title_id, title in enumerate(in_key_order):
        assert scan.title(title_id) == title
    answered = 0
    for query in [*queries(titles), "Zeta 1000000", "zeta 2 and beyond", "Q" * 31 + "z"]:
        folded = keys.fold(query)
        if len(folded.encode("utf-8", "surrogatepass")) > HEAD_BYTES:
            continue
        for count in (0, 1, 10, 1000):
            found = scan.first(folded.encode("utf-8", "surrogatepass"), count)
            assert found == brute_first(in_key_order, folded, count), (query, count)
            answered += 1
    assert answered > 500


def test_in_place_reads_hand_back_what_they_cannot_fold(tmp_path):
    # Beyond ASCII the reader answers as the titles do or hands the query back (None);
    # "ist" must be handed back, since "İstanbul" folds to "istanbul".
    titles = edge_titles()
    write_titles(tmp_path, sorted({keys.encode(title) for title in titles}))
    in_key_order = sorted(set(titles), key=keys.encode)
    scan = in_place_scan(tmp_path)
    for title_id, title in enumerate(in_key_order):
        assert scan.title(title_id) == title
    handed_back = []
    for query in queries(titles):
        folded = keys.fold(query)
        if len(folded.encode("utf-8", "surrogatepass")) > HEAD_BYTES:
            continue
        for count in (1, 1000):
            found = scan.first(folded.encode("utf-8", "surrogatepass"), count)
            if found is None:
                handed_back.append(query)
            else:
                assert found == brute_first(in_key_order, folded, count), (query, count)
    assert "ist" in handed_back
    assert "Ab" not in handed_back


def test_a_search_reads_the_same_titles_both_ways_on_the_sample(tmp_path):
    built = build_index(SAMPLE_DUMP, tmp_path / "sample.index", progress=False).directory
    with WikiIndex.open(built) as index:
        titles = [index.title(i) for i in range(len(index))]
    stores = [open_store(built, in_place) for in_place in (True, False)]
    try:
        for query in queries(titles):
            for first_letter in (True, False):
                answers = [choose(store, query, 10, first_letter) for store in stores]
                assert answers[0][0] == answers[1][0], query
                assert list(answers[0][1]) == list(answers[1][1]), query
    finally:
        for store in stores:
            store.close()
