"""The synthetic wiki of ``manycore wiki demo`` (manycore.apps.wiki.synth)."""

from __future__ import annotations

import hashlib

import pytest

pytest.importorskip("marisa_trie")

from manycore.apps.wiki import WikiIndex, build_index
from manycore.apps.wiki.synth import synthetic_pages, write_demo_export


def test_pages_are_deterministic_unique_and_redirect_backwards():
    pages = list(synthetic_pages(5000, seed=3))
    assert pages == list(synthetic_pages(5000, seed=3))
    assert pages != list(synthetic_pages(5000, seed=4))
    titles = [p.title for p in pages]
    assert len(set(titles)) == len(titles)
    seen: set[str] = set()
    for page in pages:
        if page.redirect is not None:
            assert page.redirect in seen
        seen.add(page.title)
    assert 0.15 < sum(p.redirect is not None for p in pages) / len(pages) < 0.4
    assert any(not t.isascii() for t in titles)
    assert any("(" in t for t in titles)
    assert any(p.ns != 0 for p in pages)
    assert all(t == t.strip() and "_" not in t for t in titles)


def test_the_demo_export_is_deterministic_and_indexes_cleanly(tmp_path):
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    write_demo_export(str(a), 3000)
    write_demo_export(str(b), 3000)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    result = build_index(a, tmp_path / "a.index", progress=False)
    assert result.warnings == []
    assert result.pages == result.titles == 3000
    with WikiIndex.open(result.directory) as index:
        for page in synthetic_pages(3000):
            key_id = index.lookup(page.title)
            assert key_id is not None
            assert index.namespace(key_id) == page.ns
            if page.redirect is not None:
                assert index.title(index.follow(key_id)) == page.redirect
