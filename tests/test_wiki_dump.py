"""Dump files: which layout a file is, why one cannot be indexed, and reading its bytes.

A user points ``manycore wiki build`` at whatever they downloaded; every file we
cannot index must be refused in one line that names it and says what to do,
and every file we can must be read to its last complete byte.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import random
import re
from pathlib import Path

import numpy as np
import pytest

from manycore.apps.wiki.dump import (
    HEAD_BYTES,
    decompress_to,
    find_multistream_index,
    inspect_dump,
    read_stream,
    read_stream_offsets,
)
from manycore.apps.wiki.errors import DumpError
from manycore.apps.wiki.sample import SAMPLE_DUMP

EXPORT = (
    b'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" '
    b'xml:lang="en">\n  <siteinfo>\n    <sitename>Testwiki</sitename>\n'
    b"    <dbname>testwiki</dbname>\n  </siteinfo>\n"
    b"  <page>\n    <title>A</title>\n    <ns>0</ns>\n    <id>1</id>\n  </page>\n"
    b"</mediawiki>\n"
)


@pytest.fixture(scope="module")
def sample_xml() -> bytes:
    return bz2.decompress(SAMPLE_DUMP.read_bytes())


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refusal(path: Path, **kwargs) -> str:
    with pytest.raises(DumpError) as info:
        inspect_dump(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


def multistream(tmp_path: Path, parts: list[bytes], name: str = "wiki.xml.bz2") -> Path:
    """``parts`` as independent bz2 streams, with the offsets index Wikimedia publishes."""
    path = tmp_path / name
    lines = []
    with open(path, "wb") as out:
        for number, part in enumerate(parts):
            lines.append(f"{out.tell()}:{number}:Title {number}\n")
            out.write(bz2.compress(part, compresslevel=1))
    index = tmp_path / name.replace(".xml.bz2", "-index.txt.bz2")
    index.write_bytes(bz2.compress("".join(lines).encode()))
    return path


# ------------------------------------------------------------------ layouts
def test_a_plain_export_is_xml_with_its_schema_site_and_namespaces(tmp_path, sample_xml):
    info = inspect_dump(write(tmp_path, "sample.xml", sample_xml))
    assert info.kind == "xml"
    assert info.size == len(sample_xml)
    assert info.schema == "0.10"
    assert info.site["sitename"] == "Wikipedia"
    assert info.site["dbname"] == "enwiki"
    assert info.site["case"] == "first-letter"
    assert info.namespaces[0] == ""
    assert info.namespaces[1] == "Talk"
    assert info.namespaces[-2] == "Media"
    assert info.index_path is None
    assert info.warnings == ()


def test_a_single_stream_bz2_is_told_by_its_bytes_not_its_name(tmp_path):
    renamed = write(tmp_path, "dump.data", SAMPLE_DUMP.read_bytes())
    info = inspect_dump(renamed)
    assert info.kind == "bz2"
    assert info.schema == "0.10"
    assert info.site["dbname"] == "enwiki"


def test_a_plain_export_named_bz2_is_still_xml(tmp_path):
    assert inspect_dump(write(tmp_path, "dump.xml.bz2", EXPORT)).kind == "xml"


def test_a_bz2_beside_its_index_is_multistream(tmp_path):
    path = multistream(tmp_path, [EXPORT[:200], EXPORT[200:]])
    info = inspect_dump(path)
    assert info.kind == "multistream"
    assert info.index_path == tmp_path / "wiki-index.txt.bz2"
    assert info.site["sitename"] == "Testwiki"


def test_an_index_given_explicitly_makes_a_multistream(tmp_path):
    path = write(tmp_path, "any.bz2", bz2.compress(EXPORT))
    index = write(tmp_path, "offsets.txt", b"0:1:A\n")
    info = inspect_dump(path, index_path=index)
    assert (info.kind, info.index_path) == ("multistream", index)


@pytest.mark.parametrize(
    ("dump_name", "index_name"),
    [
        (
            "enwiki-pages-articles-multistream.xml.bz2",
            "enwiki-pages-articles-multistream-index.txt.bz2",
        ),
        (
            "enwiki-pages-articles-multistream.xml.bz2",
            "enwiki-pages-articles-multistream-index.txt",
        ),
        ("dump.bz2", "dump-index.txt.bz2"),
    ],
)
def test_the_index_published_beside_a_dump_is_found(tmp_path, dump_name, index_name):
    dump = write(tmp_path, dump_name, b"")
    write(tmp_path, index_name, b"")
    assert find_multistream_index(dump) == tmp_path / index_name


def test_no_index_beside_a_dump_is_none(tmp_path):
    assert find_multistream_index(write(tmp_path, "dump.xml.bz2", b"")) is None


def test_an_index_for_a_dump_that_is_not_bz2_is_refused(tmp_path):
    path = write(tmp_path, "dump.xml", EXPORT)
    message = refusal(path, index_path=write(tmp_path, "i.txt", b"0:1:A\n"))
    assert "a multistream index was given, but the dump is not bz2" in message


# ------------------------------------------------------------------ schemas
def test_a_newer_schema_is_indexed_with_a_warning(tmp_path):
    newer = EXPORT.replace(b"0.11", b"0.12")
    info = inspect_dump(write(tmp_path, "new.xml", newer))
    assert info.schema == "0.12"
    assert info.warnings == (
        f"{tmp_path / 'new.xml'}: export schema 0.12 is newer than 0.11; indexing anyway",
    )


@pytest.mark.parametrize("old", [b"0.9", b"0.3"])
def test_an_older_schema_is_refused(tmp_path, old):
    path = write(tmp_path, "old.xml", EXPORT.replace(b"0.11", old))
    assert f"export schema {old.decode()} is not supported (supported: 0.10, 0.11)" in refusal(path)


def test_a_root_without_a_schema_version_is_refused(tmp_path):
    path = write(tmp_path, "bare.xml", b"<mediawiki>\n<page></page>\n</mediawiki>\n")
    assert "export schema ? is not supported" in refusal(path)


# ------------------------------------------------------------------ refusals
def test_a_missing_file_or_a_directory_is_refused(tmp_path):
    assert refusal(tmp_path / "absent.xml").endswith(": no such file")
    assert "is a directory, not a dump file" in refusal(tmp_path)


def test_an_unreadable_file_is_refused_naming_why(tmp_path):
    path = write(tmp_path, "secret.xml", EXPORT)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who may read anything")
        assert "cannot read it (Permission denied)" in refusal(path)
    finally:
        path.chmod(0o644)


def test_an_empty_file_is_refused(tmp_path):
    assert "is empty; a MediaWiki XML export was expected" in refusal(write(tmp_path, "e.xml", b""))


def test_an_empty_bz2_is_refused_as_empty(tmp_path):
    assert "is empty" in refusal(write(tmp_path, "e.xml.bz2", bz2.compress(b"")))


@pytest.mark.parametrize(
    ("data", "name", "tool"),
    [
        (gzip.compress(EXPORT), "gzip", "gunzip"),
        (lzma.compress(EXPORT), "xz", "unxz"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", "7-Zip", "7z x"),
        (b"\x28\xb5\x2f\xfd\x00\x00", "zstd", "unzstd"),
    ],
)
def test_other_compression_is_refused_with_the_tool_to_undo_it(tmp_path, data, name, tool):
    message = refusal(write(tmp_path, "dump.xml.z", data))
    assert f"is {name}-compressed; decompress it first ({tool})" in message


def test_corrupt_bz2_is_refused(tmp_path):
    data = bytearray(bz2.compress(EXPORT * 50))
    data[20:40] = b"\x00" * 20
    assert "is not a valid bz2 file (corrupt data)" in refusal(write(tmp_path, "c.bz2", data))


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("\ufeff<mediawiki>".encode("utf-16-le"), "UTF-16"),
        ("\ufeff<mediawiki>".encode("utf-16-be"), "UTF-16"),
        ("<?xml version='1.0'?><mediawiki>".encode("utf-16-le"), "UTF-16"),
        ("\n <mediawiki>".encode("utf-16-be"), "UTF-16"),
        ("\ufeff<mediawiki>".encode("utf-32-le"), "UTF-32"),
        ("<mediawiki>".encode("utf-32-be"), "UTF-32"),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<mediawiki>', "ISO-8859-1"),
        (b"<?xml version='1.0' encoding='windows-1252'?><mediawiki>", "windows-1252"),
    ],
)
def test_an_export_that_is_not_utf8_is_refused_with_the_conversion(tmp_path, data, encoding):
    message = refusal(write(tmp_path, "wide.xml", data))
    assert f"the export is encoded as {encoding}; only UTF-8 exports are supported" in message
    assert f"iconv -f {encoding} -t UTF-8" in message


@pytest.mark.parametrize("declared", [b"UTF-8", b"utf8", b"utf_8"])
def test_a_utf8_declaration_is_accepted_however_it_is_spelled(tmp_path, declared):
    data = b'<?xml version="1.0" encoding="%s"?>\n' % declared + EXPORT
    assert inspect_dump(write(tmp_path, "d.xml", data)).schema == "0.11"


def test_binary_data_is_not_an_export(tmp_path):
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    message = refusal(write(tmp_path, "image.xml", data))
    assert "is not a MediaWiki XML export (it holds binary data, not text)" in message


def test_xml_that_is_not_an_export_is_refused(tmp_path):
    message = refusal(write(tmp_path, "page.xml", b"<?xml version='1.0'?><html></html>"))
    assert "is not a MediaWiki XML export (no <mediawiki> element in its first 64 KiB)" in message


def test_the_root_must_be_in_the_first_64_kib(tmp_path):
    late = b"<!--" + b" " * HEAD_BYTES + b"-->" + EXPORT
    assert "no <mediawiki> element" in refusal(write(tmp_path, "late.xml", late))


# ------------------------------------------------------------------ decompressing
def test_decompressing_a_multistream_file_joins_every_stream(tmp_path, sample_xml):
    parts = [sample_xml[i : i + 500_000] for i in range(0, len(sample_xml), 500_000)]
    source = multistream(tmp_path, parts)
    seen: list[int] = []
    assert decompress_to(source, tmp_path / "out.xml", seen.append) is True
    assert (tmp_path / "out.xml").read_bytes() == sample_xml
    assert sum(seen) == source.stat().st_size


def test_decompressing_a_cut_off_file_keeps_what_came_before_and_says_so(tmp_path, sample_xml):
    data = SAMPLE_DUMP.read_bytes()
    source = write(tmp_path, "cut.xml.bz2", data[: len(data) // 2])
    assert decompress_to(source, tmp_path / "out.xml") is False
    out = (tmp_path / "out.xml").read_bytes()
    assert 0 < len(out) < len(sample_xml)
    assert sample_xml.startswith(out)


def test_decompressing_ignores_bytes_after_the_last_stream_like_bzip2(tmp_path):
    for trailer in (b"\n", b"BZh", b"garbage after the data"):
        source = write(tmp_path, "t.bz2", bz2.compress(b"one") + bz2.compress(b"two") + trailer)
        assert decompress_to(source, tmp_path / "out") is True, trailer
        assert (tmp_path / "out").read_bytes() == b"onetwo"


def _streams_totalling(gap: int) -> list[bytes]:
    """Small payloads whose bz2 streams add up to exactly ``gap`` bytes."""
    sizes: dict[int, bytes] = {}
    for n in range(64):
        payload = random.Random(n).randbytes(n)
        sizes.setdefault(len(bz2.compress(payload)), payload)
    ways: dict[int, list[bytes]] = {0: []}
    for total in range(1, gap + 1):
        for size, payload in sizes.items():
            if total - size in ways:
                ways[total] = [*ways[total - size], payload]
                break
    return ways[gap]


@pytest.fixture(scope="module")
def big_stream() -> tuple[bytes, bytes]:
    """Incompressible data just short of one read, and its bz2 stream."""
    big = random.Random(7).randbytes(1_030_000)
    return big, bz2.compress(big, 1)


@pytest.mark.parametrize("before_seam", [0, 1, 2, 3, 4])
def test_decompressing_finds_a_stream_that_starts_at_any_seam_between_reads(
    tmp_path, big_stream, before_seam
):
    """Reads are 1 MiB: the next stream's "BZh" may be split across two of them."""
    big, compressed = big_stream
    filler = _streams_totalling((1 << 20) - before_seam - len(compressed))
    end = bz2.compress(b"end")
    data = b"".join([compressed, *(bz2.compress(p) for p in filler), end])
    assert data.index(end, len(compressed)) == (1 << 20) - before_seam
    source = write(tmp_path, "seam.bz2", data)
    assert decompress_to(source, tmp_path / "out") is True
    assert (tmp_path / "out").read_bytes() == big + b"".join(filler) + b"end"


def test_decompressing_corrupt_data_stops_with_false(tmp_path):
    data = bytearray(bz2.compress(os.urandom(50_000)))
    data[len(data) // 2] ^= 0xFF
    assert decompress_to(write(tmp_path, "bad.bz2", data), tmp_path / "out") is False


# ------------------------------------------------------------------ multistream offsets
def test_stream_offsets_are_sorted_and_distinct(tmp_path):
    index = write(tmp_path, "i.txt.bz2", bz2.compress(b"600:3:C\n0:1:A\n0:2:B\n600:4:D:E\n"))
    offsets = read_stream_offsets(index)
    assert offsets.dtype == np.uint64
    assert offsets.tolist() == [0, 600]


def test_a_plain_index_without_a_final_newline_is_read(tmp_path):
    index = write(tmp_path, "i.txt", b"0:1:A\n100:2:B\n250:3:Title: with colons")
    assert read_stream_offsets(index).tolist() == [0, 100, 250]


def test_an_index_longer_than_one_read_loses_no_line_at_the_seams(tmp_path):
    lines = [f"{n * 1000}:{n}:{'T' * (n % 997)}\n" for n in range(20_000)]
    index = write(tmp_path, "big-index.txt", "".join(lines).encode())
    assert index.stat().st_size > 8 << 20
    seen: list[int] = []
    offsets = read_stream_offsets(index, seen.append)
    assert offsets.tolist() == [n * 1000 for n in range(20_000)]
    assert sum(seen) == index.stat().st_size


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("i.txt", b"this is not an index\n"),
        ("i.txt", b""),
        ("i.txt.bz2", b"0:1:A\n"),  # named .bz2 but plain text
    ],
)
def test_a_file_that_is_not_an_index_is_refused(tmp_path, name, data):
    with pytest.raises(
        DumpError, match=f"{re.escape(name)}: (is not a multistream index|cannot read)"
    ):
        read_stream_offsets(write(tmp_path, name, data))


def test_a_missing_index_is_refused(tmp_path):
    with pytest.raises(DumpError, match=r"absent\.txt: cannot read the multistream index"):
        read_stream_offsets(tmp_path / "absent.txt")


# ------------------------------------------------------------------ reading one stream
def test_one_stream_is_read_from_its_byte_range(tmp_path):
    path = multistream(tmp_path, [b"first stream", b"second stream", b"third"])
    offsets = read_stream_offsets(tmp_path / "wiki-index.txt.bz2").tolist()
    bounds = [*offsets, path.stat().st_size]
    fd = os.open(path, os.O_RDONLY)
    try:
        assert read_stream(fd, bounds[1], bounds[2]) == (b"second stream", True)
        assert read_stream(fd, bounds[0], bounds[2]) == (b"first streamsecond stream", True)
        text, ok = read_stream(fd, bounds[1], bounds[2] - 5)
        assert ok is False
        assert b"second stream".startswith(text)
    finally:
        os.close(fd)
