"""Trie keys: every title round-trips, and prefixes stay prefixes (manycore.apps.wiki.keys)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("marisa_trie")

from manycore.apps.wiki import keys

# Titles: any characters except controls and surrogates, as MediaWiki allows.
title_chars = st.characters(blacklist_categories=("Cc", "Cs"))
titles = st.text(title_chars, min_size=1, max_size=60)

TRICKY = [
    "Anarchism",
    "AnarchY",
    "ΟΔΟΣ",
    "Οδός",
    "ǅemal Bijedić",
    "İstanbul",
    "Kelvin \u212a",
    "Straße",
    "ẞ",
    "a",
    "ABC",
    "iPhone",
    "C++",
    "AC/DC",
    "100% (song)",
    "What? (film)",
    "C#",
    "東京",
]


@pytest.mark.parametrize("title", TRICKY)
def test_tricky_titles_round_trip(title):
    key = keys.encode(title)
    assert keys.decode(key) == title
    assert key.startswith(keys.fold(title))
    assert "\n" not in key


@given(titles)
@settings(max_examples=300, deadline=None)
def test_every_title_round_trips(title):
    assert keys.decode(keys.encode(title)) == title


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=60))
@settings(max_examples=300, deadline=None)
def test_ascii_titles_get_the_same_key_as_the_general_encoding(title):
    # Indexes built before the ASCII shortcut existed must stay readable.
    folded = keys.fold(title)
    expected = folded if folded == title else keys._general_key(title, folded)
    assert keys.encode(title) == expected


@given(titles, st.integers(min_value=0, max_value=60))
@settings(max_examples=300, deadline=None)
def test_a_prefix_folds_to_a_prefix_of_the_fold(title, cut):
    prefix = title[:cut]
    assert keys.fold(title).startswith(keys.fold(prefix))
    assert len(keys.fold(title)) == len(title)


@given(titles, titles)
@settings(max_examples=500, deadline=None)
def test_case_prefix_agrees_with_startswith(title, other):
    # Build a prefix that often matches ignoring case, sometimes exactly.
    prefix = other[: len(title)] if len(other) < len(title) else title[: max(1, len(title) // 2)]
    for candidate in (prefix, prefix.swapcase(), prefix.lower()):
        if not candidate:
            continue
        matcher = keys.CasePrefix(candidate)
        key = keys.encode(title)
        if key.startswith(matcher.folded):
            assert matcher.matches(key) == title.startswith(candidate)


def test_keys_sort_in_dictionary_order_ignoring_case():
    names = ["AnarchY", "Anarchism", "AnarchoCapitalism", "anarchy (band)"]
    ordered = sorted(names, key=keys.encode)
    assert ordered[0] == "Anarchism"
    assert ordered.index("AnarchY") < ordered.index("anarchy (band)")


def test_the_dotted_capital_i_folds_to_what_users_type():
    assert keys.fold("İstanbul") == "istanbul"
    assert keys.CasePrefix("ist").folded == keys.encode("İstanbul")[:3]


def small_export(titles: list[str]) -> bytes:
    from xml.sax.saxutils import escape

    pages = "".join(
        f"  <page>\n    <title>{escape(t)}</title>\n    <ns>0</ns>\n    <id>{i}</id>\n"
        f"    <revision><text>about {escape(t)}</text></revision>\n  </page>\n"
        for i, t in enumerate(titles, start=1)
    )
    return (
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11">\n'
        "  <siteinfo><case>first-letter</case></siteinfo>\n" + pages + "</mediawiki>\n"
    ).encode()


def test_lower_case_queries_find_titles_with_a_dotted_capital_i(tmp_path):
    from manycore.apps.wiki import WikiIndex, build_index

    dotless_i = "\u0131"
    titles = ["İstanbul", "İzmir", "Istria", f"Kad{dotless_i}köy", f"Diyarbak{dotless_i}r İli"]
    dump = tmp_path / "tr.xml"
    dump.write_bytes(small_export(titles))
    result = build_index(dump, tmp_path / "tr.index", progress=False, parallel=False)
    with WikiIndex.open(result.directory) as index:
        found = lambda query: [hit.title for hit in index.search(query)]  # noqa: E731
        assert found("ist") == ["İstanbul", "Istria"]
        assert found("İst") == ["İstanbul", "Istria"]
        assert found("izm") == ["İzmir"]
        assert found(f"diyarbak{dotless_i}r i") == [f"Diyarbak{dotless_i}r İli"]
        for title in titles:
            assert index.title(index.lookup(title)) == title
        assert index.title(index.resolve("istanbul")) == "İstanbul"
        assert index.title(index.resolve("İstanbul")) == "İstanbul"
        assert [t for t, *_ in index.offsets("İ")] == ["İstanbul", "İzmir"]
