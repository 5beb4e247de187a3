"""The page scanner: every ``<page>`` of an export, with exact byte ranges, however it is split.

The builder hands arbitrary ranges of one file to parallel contexts and joins
their results, so a scan split at any offset must find exactly the pages of a
whole scan; and a dump cut off anywhere must give its complete pages, not fail.
"""

from __future__ import annotations

import bz2
import mmap
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from manycore.apps.wiki import keys
from manycore.apps.wiki.errors import DumpError
from manycore.apps.wiki.sample import SAMPLE_DUMP
from manycore.apps.wiki.scan import Scanned, scan_buffer, unescape

HEADER = b'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">\n'
FOOTER = b"</mediawiki>\n"


def page(title: bytes, ns: int = 0, redirect: bytes | None = None, text: bytes = b"x") -> bytes:
    target = b'    <redirect title="%s" />\n' % redirect if redirect is not None else b""
    return (
        b"  <page>\n    <title>%s</title>\n    <ns>%d</ns>\n    <id>1</id>\n%s"
        b"    <revision><text>%s</text></revision>\n  </page>\n" % (title, ns, target, text)
    )


PAGES = [
    page(b"Alpha"),
    page(b"AT&amp;T", text=b"a &lt;b&gt; c"),
    page(b"Talk:Alpha", ns=1),
    page(b"Alfa", redirect=b"Alpha"),
    page(b"&#x130;stanbul"),
]
SMALL = HEADER + b"".join(PAGES) + FOOTER


def titles(scanned: Scanned) -> list[str]:
    if not scanned.keys:
        return []
    return [keys.decode(k) for k in scanned.keys.decode("utf-8").split("\n")]


def redirects(scanned: Scanned) -> dict[str, str]:
    if not scanned.redirect_keys:
        return {}
    names = titles(scanned)
    targets = [keys.decode(k) for k in scanned.redirect_keys.decode("utf-8").split("\n")]
    return {names[row]: target for row, target in zip(scanned.redirect_rows, targets, strict=True)}


@pytest.fixture(scope="module")
def sample_xml() -> bytes:
    return bz2.decompress(SAMPLE_DUMP.read_bytes())


# ------------------------------------------------------------------ what a scan reports
def test_every_page_is_found_with_its_title_namespace_and_redirect():
    scanned = scan_buffer(SMALL, 0, len(SMALL))
    assert scanned.count == 5
    assert titles(scanned) == ["Alpha", "AT&T", "Talk:Alpha", "Alfa", "\u0130stanbul"]
    assert scanned.ns.tolist() == [0, 0, 1, 0, 0]
    assert redirects(scanned) == {"Alfa": "Alpha"}
    assert scanned.incomplete is None


def test_each_range_is_the_exact_bytes_of_its_page():
    scanned = scan_buffer(SMALL, 0, len(SMALL))
    for start, length, expected in zip(scanned.starts, scanned.lengths, PAGES, strict=True):
        assert SMALL[int(start) : int(start + length)] == expected.strip()


def test_base_is_added_to_every_offset():
    plain = scan_buffer(SMALL, 0, len(SMALL))
    shifted = scan_buffer(SMALL, 0, len(SMALL), base=1_000_000)
    assert (shifted.starts - plain.starts).tolist() == [1_000_000] * 5
    assert shifted.lengths.tolist() == plain.lengths.tolist()


def test_an_empty_range_finds_nothing():
    scanned = scan_buffer(SMALL, 0, 0)
    assert scanned.count == 0
    assert titles(scanned) == []
    assert scanned.incomplete is None


def test_a_header_with_extra_elements_is_still_read():
    odd = (
        b"  <page>\n    <title>Odd</title>\n    <!-- a comment -->\n    <ns>4</ns>\n"
        b'    <id>9</id>\n    <restrictions>edit=sysop</restrictions>\n    <redirect title="Even">'
        b"</redirect>\n    <revision><text>x</text></revision>\n  </page>\n"
    )
    data = HEADER + odd + FOOTER
    scanned = scan_buffer(data, 0, len(data))
    assert titles(scanned) == ["Odd"]
    assert scanned.ns.tolist() == [4]
    assert redirects(scanned) == {"Odd": "Even"}


def test_a_memory_map_scans_like_bytes(tmp_path):
    path = tmp_path / "dump.xml"
    path.write_bytes(SMALL)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        scanned = scan_buffer(mapped, 0, len(SMALL))
        assert titles(scanned) == titles(scan_buffer(SMALL, 0, len(SMALL)))
        assert scanned.starts.tolist() == scan_buffer(SMALL, 0, len(SMALL)).starts.tolist()


# ------------------------------------------------------------------ splitting
def test_a_scan_split_at_every_offset_finds_each_page_exactly_once():
    whole = scan_buffer(SMALL, 0, len(SMALL))
    for cut in range(len(SMALL) + 1):
        left = scan_buffer(SMALL, 0, cut)
        right = scan_buffer(SMALL, cut, len(SMALL))
        assert titles(left) + titles(right) == titles(whole), cut
        starts = np.concatenate([left.starts, right.starts])
        assert starts.tolist() == whole.starts.tolist(), cut


def test_a_page_may_run_past_the_end_of_its_range():
    first = SMALL.index(b"<page>")
    scanned = scan_buffer(SMALL, 0, first + 1)
    assert titles(scanned) == ["Alpha"]
    assert SMALL[int(scanned.starts[0]) :].startswith(b"<page>")


# ------------------------------------------------------------------ a dump cut off
def test_a_page_cut_off_at_the_end_is_reported_as_incomplete():
    last = SMALL.rindex(b"<page>")
    cut = SMALL.index(b"<revision>", last)
    scanned = scan_buffer(SMALL[:cut], 0, cut)
    assert titles(scanned) == ["Alpha", "AT&T", "Talk:Alpha", "Alfa"]
    assert scanned.incomplete == (last, "\u0130stanbul")
    assert scanned.scanned_bytes == cut


def test_a_dump_cut_anywhere_in_its_last_page_gives_the_pages_before_it():
    last = SMALL.rindex(b"<page>")
    end = SMALL.index(b"</page>", last)
    for cut in range(last + len(b"<page>"), end + len(b"</page>")):
        scanned = scan_buffer(SMALL[:cut], 0, cut)
        assert titles(scanned) == ["Alpha", "AT&T", "Talk:Alpha", "Alfa"], cut
        assert scanned.incomplete is not None, cut
        assert scanned.incomplete[0] == last, cut


def test_the_end_bound_cuts_a_page_off_like_the_end_of_the_data():
    last = SMALL.rindex(b"<page>")
    scanned = scan_buffer(SMALL, 0, len(SMALL), end=last + 40)
    assert scanned.count == 4
    assert scanned.incomplete is not None
    assert scanned.incomplete[0] == last


# ------------------------------------------------------------------ bad titles
@pytest.mark.parametrize(
    ("title", "message"),
    [
        (b"   ", "invalid title"),
        (b"Bell&#7;", "invalid title"),
        (b"T" * (keys.MAX_TITLE_CHARS + 1), "invalid title"),
        (b"caf\xe9", "not valid UTF-8"),
    ],
)
def test_a_title_no_wiki_could_have_is_refused(title, message):
    data = HEADER + page(b"Fine") + page(title) + FOOTER
    with pytest.raises(DumpError, match=message) as info:
        scan_buffer(data, 0, len(data))
    assert f"byte {data.index(b'<page>', data.index(b'Fine'))}" in str(info.value)
    assert "\n" not in str(info.value)


def test_an_invalid_redirect_target_is_named_as_such():
    data = HEADER + page(b"Fine", redirect=b"&#1;") + FOOTER
    with pytest.raises(DumpError, match="invalid redirect target"):
        scan_buffer(data, 0, len(data))


def test_a_complete_page_without_a_title_is_refused():
    data = HEADER + b"  <page>\n    <ns>0</ns>\n    <revision/>\n  </page>\n" + FOOTER
    with pytest.raises(DumpError, match=r"has no <title>; is this a MediaWiki export\?"):
        scan_buffer(data, 0, len(data))


# ------------------------------------------------------------------ unescape
@pytest.mark.parametrize(
    ("escaped", "text"),
    [
        ("plain", "plain"),
        ("AT&amp;T", "AT&T"),
        ("&lt;&gt;&quot;&apos;", "<>\"'"),
        ("&#65;&#x42;", "AB"),
        ("&#x1F600;", "\U0001f600"),
        ("&nbsp; &unknown;", "&nbsp; &unknown;"),
        ("&amp;lt;", "&lt;"),
    ],
)
def test_unescape_undoes_xml_escaping_only(escaped, text):
    assert unescape(escaped) == text


# ------------------------------------------------------------------ the real sample
def test_the_sample_scans_to_the_pages_an_xml_parser_sees(sample_xml):
    root = ET.fromstring(sample_xml)
    ns = {"mw": root.tag[1:].split("}")[0]}
    expected_titles = [p.findtext("mw:title", namespaces=ns) for p in root.findall("mw:page", ns)]
    expected_redirects = {
        p.findtext("mw:title", namespaces=ns): p.find("mw:redirect", ns).get("title")
        for p in root.findall("mw:page", ns)
        if p.find("mw:redirect", ns) is not None
    }
    scanned = scan_buffer(sample_xml, 0, len(sample_xml))
    assert titles(scanned) == expected_titles
    assert redirects(scanned) == expected_redirects
    for start, length in zip(scanned.starts, scanned.lengths, strict=True):
        element = ET.fromstring(sample_xml[int(start) : int(start + length)])
        assert element.tag == "page"


def test_the_sample_cut_inside_its_last_title_indexes_the_pages_before_it(sample_xml):
    last = sample_xml.rindex(b"<page>")
    cut = sample_xml.index(b"<title>", last) + len(b"<title>") + 2
    scanned = scan_buffer(sample_xml[:cut], 0, cut)
    assert scanned.count == scan_buffer(sample_xml, 0, last).count
    assert scanned.incomplete is not None
    assert scanned.incomplete[0] == last
