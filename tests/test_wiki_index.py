"""Building and reading wiki indexes on a real export (manycore.apps.wiki build/index).

The sample is 206 pages of English Wikipedia shipped with the package
(``manycore.apps.wiki.sample``, CC BY-SA 4.0); it is indexed as plain XML, as
its original single-stream .bz2, and as a multistream .bz2 written here (100
pages per stream, with the index file Wikimedia publishes), and all three must
answer identically.
"""

from __future__ import annotations

import bz2
import itertools
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path

import pytest

pytest.importorskip("marisa_trie")
pytest.importorskip("numpy")

from manycore.apps.wiki import (
    DumpError,
    IndexFormatError,
    WikiIndex,
    build_index,
    layout,
    titles,
)
from manycore.apps.wiki.sample import SAMPLE_DUMP as SAMPLE


def split_export(xml: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(header, one chunk per page including its indentation and newline, footer)."""
    starts = [m.start() for m in re.finditer(rb"  <page>", xml)]
    footer_at = xml.rindex(b"</mediawiki>")
    bounds = [*starts, footer_at]
    pages = [xml[a:b] for a, b in itertools.pairwise(bounds)]
    return xml[: starts[0]], pages, xml[footer_at:]


def write_multistream(xml: bytes, path: Path, per_stream: int = 100) -> Path:
    """A Wikimedia-style multistream dump of ``xml`` and its ``-index.txt.bz2``."""
    header, pages, footer = split_export(xml)
    lines = []
    with open(path, "wb") as out:
        out.write(bz2.compress(header))
        for first in range(0, len(pages), per_stream):
            offset = out.tell()
            group = pages[first : first + per_stream]
            for page in group:
                page_id = re.search(rb"<id>(\d+)</id>", page).group(1).decode()
                title = unescape(re.search(rb"<title>([^<]*)</title>", page).group(1).decode())
                lines.append(f"{offset}:{page_id}:{title}\n")
            out.write(bz2.compress(b"".join(group)))
        out.write(bz2.compress(footer))
    index = path.with_name(path.name.replace(".xml.bz2", "-index.txt.bz2"))
    index.write_bytes(bz2.compress("".join(lines).encode()))
    return index


def expected_pages(xml: bytes) -> dict[str, dict]:
    """Title -> {ns, redirect} read with a real XML parser, independently of the scanner."""
    root = ET.fromstring(xml)
    ns = {"mw": root.tag[1:].split("}")[0]}
    out = {}
    for page in root.findall("mw:page", ns):
        redirect = page.find("mw:redirect", ns)
        out[page.findtext("mw:title", namespaces=ns)] = {
            "ns": int(page.findtext("mw:ns", namespaces=ns)),
            "redirect": redirect.get("title") if redirect is not None else None,
        }
    return out


@pytest.fixture(scope="module", autouse=True)
def stop_work_pool():
    """Parallel builds start manycore's work pool; stop it when this module is done."""
    yield
    from manycore.work import shutdown_work_pools

    shutdown_work_pools()


@pytest.fixture(scope="module")
def sample_xml() -> bytes:
    return bz2.decompress(SAMPLE.read_bytes())


@pytest.fixture(scope="module")
def expected(sample_xml) -> dict[str, dict]:
    return expected_pages(sample_xml)


@pytest.fixture(scope="module")
def indexes(tmp_path_factory, sample_xml):
    """The sample indexed three ways: {"xml": WikiIndex, "bz2": ..., "multistream": ...}."""
    root = tmp_path_factory.mktemp("wiki")
    plain = root / "sample.xml"
    plain.write_bytes(sample_xml)
    single = root / "sample.xml.bz2"
    shutil.copyfile(SAMPLE, single)
    multi = root / "sample-multistream.xml.bz2"
    write_multistream(sample_xml, multi)
    opened = {}
    for kind, dump in (("xml", plain), ("bz2", single), ("multistream", multi)):
        result = build_index(dump, root / f"{kind}.index", progress=False, parallel=False)
        assert result.warnings == []
        opened[kind] = WikiIndex.open(result.directory)
        assert opened[kind].header["dump"]["kind"] == kind
    yield opened
    for index in opened.values():
        index.close()


@pytest.fixture(scope="module")
def index(indexes) -> WikiIndex:
    return indexes["xml"]


def parse_page(data: bytes) -> ET.Element:
    element = ET.fromstring(data)
    assert element.tag == "page"
    return element


def test_every_title_gives_exactly_its_own_page(indexes, expected):
    for kind, index in indexes.items():
        assert len(index) == len(expected) == 206, kind
        for title, facts in expected.items():
            key_id = index.lookup(title)
            assert key_id is not None, (kind, title)
            page = parse_page(index.read_page(key_id))
            assert page.findtext("title") == title
            assert index.namespace(key_id) == facts["ns"]


def test_page_ranges_are_exact_byte_ranges_of_the_dump(index, sample_xml, expected):
    for title in expected:
        start, length = index.page_range(index.lookup(title))
        chunk = sample_xml[start : start + length]
        assert chunk.startswith(b"<page>") and chunk.endswith(b"</page>")
        assert chunk.count(b"<page>") == 1


def test_redirects_resolve_to_their_targets(index, expected):
    followed = 0
    for title, facts in expected.items():
        key_id = index.lookup(title)
        target = facts["redirect"]
        if target is None:
            assert index.redirect(key_id) is None
            assert index.follow(key_id) == key_id
            continue
        assert index.redirect(key_id)[0] == target
        if target in expected:
            assert index.follow(key_id) == index.lookup(target)
            followed += 1
        else:
            assert index.redirect(key_id) == (target, None)
            assert index.follow(key_id) == key_id  # nowhere to go: the redirect page itself
    assert followed == 13


def test_search_puts_the_exact_title_first_then_prefix_matches_in_order(index):
    titles = [hit.title for hit in index.search("Apollo", 10)]
    assert titles == ["Apollo", "Apollo 11", "Apollo 8"]
    titles = [hit.title for hit in index.search("Albania", 10)]
    assert titles[0] == "Albania"
    assert all(t.lower().startswith("albania") for t in titles)
    assert titles[1:] == sorted(titles[1:], key=str.lower)


def test_search_falls_back_to_any_case(index):
    hits = index.search("anar", 10)
    assert hits[0].title == "Anarchism"
    assert {h.title for h in hits} == {
        "Anarchism",
        "AnarchY",
        "AnarchoCapitalism",
        "AnarchoCapitalists",
    }
    assert index.search("ANARCHISM", 3)[0].title == "Anarchism"


def test_search_honours_capitals_that_mean_something(index):
    # "Abacus" and "AbacuS" differ only in a later capital: typing it puts that title first.
    assert [h.title for h in index.search("AbacuS", 2)] == ["AbacuS", "Abacus"]
    assert [h.title for h in index.search("Abacus", 2)] == ["Abacus", "AbacuS"]
    assert [h.title for h in index.search("abacus", 2)] == ["Abacus", "AbacuS"]
    # A capital first letter means nothing on a wiki that capitalises every title.
    assert index.search("Anar", 4) == index.search("anar", 4)


def test_search_reports_redirects_namespaces_and_sizes(index, expected):
    hit = next(h for h in index.search("AccessibleComputing") if h.title == "AccessibleComputing")
    assert hit.redirect_to == "Computer accessibility"
    assert hit.ns == 0
    assert hit.bytes == index.page_range(hit.id)[1]
    project = index.search("Wikipedia:", 5)
    assert [h.ns for h in project] == [4]
    assert index.search("Anarchism")[0].as_json() == {
        "title": "Anarchism",
        "ns": 0,
        "bytes": index.page_range(index.lookup("Anarchism"))[1],
    }


def test_every_search_hit_agrees_with_what_the_index_says_of_its_page(index, expected):
    # Redirects (to pages in the dump and to missing ones), every namespace and pages longer
    # than the length array holds, reached through both orders a search may give ids in.
    queries = {t[:n] for t in expected for n in (1, 2, 4)}
    queries |= {q.lower() for q in queries} | {q.upper() for q in queries}
    checked = set()
    for query in sorted(queries):
        for hit in index.search(query, 50):
            target = index.redirect(hit.id)
            assert hit.title == index.title(hit.id)
            assert hit.redirect_to == (target[0] if target else None)
            assert hit.ns == index.namespace(hit.id)
            assert hit.bytes == index.page_range(hit.id)[1]
            checked.add(hit.id)
    assert len(checked) == len(index)
    pages = [index.redirect(i) for i in checked]
    assert any(p and p[1] is None for p in pages) and any(p and p[1] is not None for p in pages)
    assert max(index.page_range(i)[1] for i in checked) > layout.LONG


def test_search_json_is_search_as_slash_search_answers_it(index, expected):
    for query in sorted({t[:n] for t in expected for n in (1, 3)}):
        assert index.search_json(query, 50) == [hit.as_json() for hit in index.search(query, 50)]
    size = index.page_range(index.lookup("AccessibleComputing"))[1]
    assert index.search_json("AccessibleComputing", 1) == [
        {
            "title": "AccessibleComputing",
            "redirect_to": "Computer accessibility",
            "ns": 0,
            "bytes": size,
        }
    ]


def test_threads_opening_an_index_at_once_never_fail(index):
    # Each parallel context of the threads engine may open the index at the same moment,
    # while collections free the arrays of indexes opened before (and unmap them).
    import gc
    import threading

    failures: list[BaseException] = []
    barrier = threading.Barrier(8)

    def open_often() -> None:
        barrier.wait()
        for _ in range(15):
            try:
                opened = WikiIndex.open(index.directory)
                opened.close()
                cycle: list[object] = [opened]
                cycle.append(cycle)  # freed by a collection, not at once
                del opened, cycle
            except BaseException as exc:
                failures.append(exc)

    threshold = gc.get_threshold()
    gc.set_threshold(50)
    try:
        threads = [threading.Thread(target=open_often) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.set_threshold(*threshold)
        gc.collect()
    assert failures == []


def test_the_compiled_hit_rows_write_out_the_layouts_constants():
    # hitrows.py spells these out: a module constant would be a lookup per hit compiled.
    assert (layout.REDIRECT_BIT, layout.NS_MASK, layout.LONG) == (0x80, 0x7F, 0xFFFF)
    assert titles.BLOCK_TITLES == 16


def test_search_limit_is_clamped(index, expected):
    assert len(index.search("A", 0)) == 1
    assert len(index.search("A", -5)) == 1
    assert len(index.search("A", 3)) == 3
    starting_with_a = [t for t in expected if t.lower().startswith("a")]
    assert len(index.search("A", 10**9)) == len(starting_with_a)
    assert index.search("", 10) == []
    assert index.search("no such title at all", 10) == []


def test_offsets_lists_every_title_with_a_prefix_like_pyparallel(index, expected, sample_xml):
    rows = index.offsets("Ap")
    assert [r[0] for r in rows] == sorted(t for t in expected if t.startswith("Ap"))
    for title, start, end in rows:
        assert parse_page(sample_xml[start:end]).findtext("title") == title
    assert index.offsets("ap") == []  # case-sensitive, as PyParallel's was


def test_resolve_accepts_what_a_reader_types(index):
    anarchism = index.lookup("Anarchism")
    assert index.resolve("anarchism") == anarchism
    assert index.resolve("Abraham_Lincoln") == index.lookup("Abraham Lincoln")
    assert index.resolve("ANARCHISM") == anarchism
    assert index.resolve("Nonexistent page") is None


def test_all_three_dump_layouts_answer_identically(indexes, expected):
    reference = indexes["xml"]
    for kind in ("bz2", "multistream"):
        other = indexes[kind]
        for title in expected:
            a, b = reference.lookup(title), other.lookup(title)
            assert reference.read_page(a) == other.read_page(b), (kind, title)
            assert reference.page_range(a) == other.page_range(b)
        for query in ("A", "anar", "Ab", "Apollo", "wiki", "Al"):
            assert [h.as_json() for h in reference.search(query, 50)] == [
                h.as_json() for h in other.search(query, 50)
            ]
        assert reference.offsets("A") == other.offsets("A")


def test_multistream_is_served_without_decompressing_to_disk(indexes, tmp_path):
    directory = indexes["multistream"].directory
    assert not (directory / "dump.xml").exists()
    assert indexes["multistream"].header["source"]["kind"] == "multistream"
    assert (indexes["bz2"].directory / "dump.xml").exists()


def test_parallel_scan_finds_the_same_pages_as_a_serial_one(index, tmp_path, sample_xml):
    dump = tmp_path / "sample.xml"
    dump.write_bytes(sample_xml)
    result = build_index(dump, tmp_path / "par.index", progress=False, chunk_bytes=256 << 10)
    with WikiIndex.open(result.directory) as parallel:
        assert len(parallel) == len(index)
        for title in (
            "Anarchism",
            "Algorithm",
            "AccessibleComputing",
            "Wikipedia:Adding Wikipedia articles to Nupedia",
        ):
            assert parallel.page_range(parallel.lookup(title)) == index.page_range(
                index.lookup(title)
            )


# ----------------------------------------------------------------- bad input


def test_a_truncated_dump_indexes_its_complete_pages_and_warns(tmp_path, sample_xml):
    cut = sample_xml.index(b"<title>Albedo</title>") + 100  # inside the page "Albedo"
    dump = tmp_path / "truncated.xml"
    dump.write_bytes(sample_xml[:cut])
    result = build_index(dump, tmp_path / "t.index", progress=False)
    assert len(result.warnings) == 1
    assert "truncated" in result.warnings[0] and "'Albedo'" in result.warnings[0]
    with WikiIndex.open(result.directory) as index:
        assert index.lookup("Albedo") is None
        assert index.lookup("AlbaniaEconomy") is not None
        assert len(index) == result.pages == sample_xml[:cut].count(b"</page>")


def test_a_truncated_bz2_dump_indexes_its_complete_pages_and_warns(tmp_path):
    data = SAMPLE.read_bytes()
    dump = tmp_path / "truncated.xml.bz2"
    dump.write_bytes(data[: len(data) // 2])
    result = build_index(dump, tmp_path / "t.index", progress=False)
    assert any("ends early" in w for w in result.warnings)
    assert 0 < result.pages < 206


def test_a_file_that_is_not_an_export_is_refused_in_one_line(tmp_path):
    other = tmp_path / "notes.xml"
    other.write_text("<?xml version='1.0'?>\n<html><body>hello</body></html>\n")
    with pytest.raises(DumpError, match="is not a MediaWiki XML export") as info:
        build_index(other, tmp_path / "x.index", progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "x.index").exists()


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<mediawiki>', "ISO-8859-1"),
        ("\ufeff<mediawiki>".encode("utf-16-le"), "UTF-16"),
    ],
)
def test_an_unsupported_encoding_is_refused_in_one_line(tmp_path, content, encoding):
    dump = tmp_path / "latin.xml"
    dump.write_bytes(content.encode("latin-1") if isinstance(content, str) else content)
    with pytest.raises(DumpError, match=f"encoded as {encoding}; only UTF-8") as info:
        build_index(dump, tmp_path / "x.index", progress=False)
    assert "\n" not in str(info.value)


def test_other_compression_and_missing_files_are_refused(tmp_path):
    gz = tmp_path / "dump.xml.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00rest")
    with pytest.raises(DumpError, match="gzip-compressed"):
        build_index(gz, progress=False)
    with pytest.raises(DumpError, match="no such file"):
        build_index(tmp_path / "absent.xml", progress=False)


# ----------------------------------------------------------------- the index directory


def test_an_interrupted_build_leaves_nothing_behind(tmp_path, sample_xml, monkeypatch):
    dump = tmp_path / "sample.xml"
    dump.write_bytes(sample_xml)

    def interrupted(self, header):
        raise KeyboardInterrupt

    monkeypatch.setattr(layout.Staging, "commit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_index(dump, tmp_path / "out.index", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample.xml"]


def test_an_index_of_another_version_or_half_written_is_refused(index, tmp_path):
    copy = tmp_path / "copy.index"
    shutil.copytree(index.directory, copy)
    header = json.loads((copy / layout.HEADER).read_text())
    (copy / layout.HEADER).write_text(json.dumps({**header, "version": 0}))
    with pytest.raises(IndexFormatError, match="version 0 is not the supported version"):
        WikiIndex.open(copy)
    (copy / layout.HEADER).unlink()
    with pytest.raises(IndexFormatError, match="not a complete wiki index"):
        WikiIndex.open(copy)
    with pytest.raises(IndexFormatError, match="no such index directory"):
        WikiIndex.open(tmp_path / "absent")


def test_an_index_of_the_trie_format_is_refused_with_rebuild(index, tmp_path):
    # Format 2 kept its titles in titles.marisa; the title store replaced it.
    copy = tmp_path / "old.index"
    shutil.copytree(index.directory, copy)
    header = json.loads((copy / layout.HEADER).read_text())
    (copy / layout.HEADER).write_text(json.dumps({**header, "version": 2}))
    with pytest.raises(IndexFormatError, match=r"format version 2 .* rebuild it"):
        WikiIndex.open(copy)


def test_an_index_refuses_a_dump_that_changed(tmp_path, sample_xml):
    dump = tmp_path / "sample.xml"
    dump.write_bytes(sample_xml)
    build_index(dump, tmp_path / "s.index", progress=False)
    dump.write_bytes(sample_xml + b"\n")
    with pytest.raises(IndexFormatError, match="changed since it was indexed"):
        WikiIndex.open(tmp_path / "s.index")


def test_rebuilding_replaces_an_index_atomically(tmp_path, sample_xml):
    dump = tmp_path / "sample.xml"
    dump.write_bytes(sample_xml)
    first = build_index(dump, tmp_path / "s.index", progress=False)
    second = build_index(dump, tmp_path / "s.index", progress=False)
    assert first.directory == second.directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.index", "sample.xml"]


# ----------------------------------------------------------------- command line


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "manycore", "wiki", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_cli_build_writes_an_index_and_reports(tmp_path, sample_xml):
    dump = tmp_path / "sample.xml"
    dump.write_bytes(sample_xml)
    done = run_cli("build", str(dump), "-o", str(tmp_path / "cli.index"), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "indexed 206 pages" in done.stderr
    assert (tmp_path / "cli.index" / layout.HEADER).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build"], "the following arguments are required: DUMP"),
        (["build", "/nonexistent/dump.xml"], "no such file"),
        (["serve", "/nonexistent/index"], "no such index directory"),
        (["frobnicate"], "invalid choice"),
        (["serve", ".", "--port", "99999"], "port must be 0..65535"),
    ],
)
def test_cli_mistakes_are_one_line_and_exit_status_2(tmp_path, args, message):
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_cli_refuses_a_non_export_in_one_line(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("just some notes\n")
    done = run_cli("build", str(other))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"manycore wiki: error: {other}: is not a MediaWiki XML export (no <mediawiki> element "
        "in its first 64 KiB); export one with Special:Export or download a pages-articles dump "
        "from dumps.wikimedia.org"
    ]


def test_a_truncated_multistream_dump_indexes_its_complete_streams(tmp_path, sample_xml):
    dump = tmp_path / "cut-multistream.xml.bz2"
    write_multistream(sample_xml, dump)
    data = dump.read_bytes()
    dump.write_bytes(data[: len(data) * 3 // 4])  # inside the stream of pages 101..200
    result = build_index(dump, tmp_path / "cut.index", progress=False)
    assert len(result.warnings) == 1 and "truncated or corrupt" in result.warnings[0]
    with WikiIndex.open(result.directory) as index:
        # The first stream, and the pages of the cut stream whose bz2 blocks are whole.
        assert 100 <= len(index) < 200
        for key_id in range(len(index)):
            assert parse_page(index.read_page(key_id)).findtext("title") == index.title(key_id)


def test_control_characters_never_alias_a_title(index):
    # The trie's keys separate a title from its capitals with \x01; a query holding one
    # must not reach into that encoding.
    assert index.lookup("anarchism\x01 ") is None
    assert index.resolve("anarchism\x01 ") is None
    assert index.search("anarchism\x01") == []
    assert index.offsets("anarchism\x01") == []
