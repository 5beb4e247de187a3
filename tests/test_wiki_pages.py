"""Page sources: the bytes at any offset of the served text, from plain XML or from bz2 streams.

Offsets in an index point into the dump's (decompressed) text; a source must
give exactly those bytes for any range -- across stream boundaries, from any
thread -- and refuse to open a dump that is gone or changed since indexing.
"""

from __future__ import annotations

import bz2
import itertools
import threading
from pathlib import Path

import numpy as np
import pytest

from manycore.apps.wiki.errors import IndexFormatError
from manycore.apps.wiki.pages import (
    CACHED_STREAMS,
    MultistreamSource,
    PlainSource,
    open_source,
)
from manycore.apps.wiki.sample import SAMPLE_DUMP
from manycore.apps.wiki.scan import scan_buffer


def write_streams(path: Path, texts: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """``texts`` as consecutive bz2 streams; returns (text starts, file offsets), each S+1 long."""
    starts, offsets = [0], [0]
    with open(path, "wb") as out:
        for text in texts:
            out.write(bz2.compress(text, compresslevel=1))
            starts.append(starts[-1] + len(text))
            offsets.append(out.tell())
    return np.array(starts, np.uint64), np.array(offsets, np.uint64)


@pytest.fixture
def small(tmp_path):
    texts = [b"hello", b"-", b"world!!", b"", b"end"]
    starts, offsets = write_streams(tmp_path / "small.xml.bz2", texts)
    path = tmp_path / "small.xml.bz2"
    source = MultistreamSource(path, path.stat().st_size, starts, offsets)
    yield source, b"".join(texts)
    source.close()


@pytest.fixture(scope="module")
def sample_xml() -> bytes:
    return bz2.decompress(SAMPLE_DUMP.read_bytes())


# ------------------------------------------------------------------ plain XML
def test_a_plain_source_reads_exact_ranges_and_can_be_sent_without_copying(tmp_path):
    path = tmp_path / "dump.xml"
    path.write_bytes(b"0123456789")
    source = PlainSource(path, 10)
    try:
        assert source.size == 10
        assert source.zero_copy is True
        assert source.read(3, 4) == b"3456"
        assert source.read(8, 100) == b"89"
        assert source.read(10, 5) == b""
        assert source.read(2, 3) == b"234"  # reads take explicit offsets: no shared position
    finally:
        source.close()


def test_closing_a_source_twice_is_harmless(tmp_path):
    path = tmp_path / "dump.xml"
    path.write_bytes(b"x")
    source = PlainSource(path, 1)
    source.close()
    source.close()
    assert source.fd == -1


# ------------------------------------------------------------------ multistream
def test_every_range_of_the_streams_reads_as_the_joined_text(small):
    source, text = small
    assert source.size == len(text)
    assert source.zero_copy is False
    for offset in range(len(text) + 1):
        for length in range(len(text) + 2 - offset):
            assert source.read(offset, length) == text[offset : offset + length], (offset, length)


def test_a_read_past_the_end_stops_at_the_end(small):
    source, text = small
    assert source.read(len(text) - 2, 100) == text[-2:]
    assert source.read(len(text), 10) == b""
    assert source.read(len(text) + 50, 10) == b""


def test_an_offset_belongs_to_the_stream_that_holds_it(small):
    source, _ = small
    assert [source.stream_of(offset) for offset in (0, 4, 5, 6, 12, 13, 15)] == [
        0,
        0,
        1,
        2,
        2,
        4,
        4,
    ]


def test_more_streams_than_are_cached_all_read_correctly(tmp_path):
    texts = [b"stream %d;" % i for i in range(CACHED_STREAMS * 3)]
    path = tmp_path / "many.xml.bz2"
    starts, offsets = write_streams(path, texts)
    source = MultistreamSource(path, path.stat().st_size, starts, offsets)
    try:
        for _ in range(2):  # evicted streams are read again
            for i in [*range(len(texts)), *reversed(range(len(texts)))]:
                assert source.read(int(starts[i]), len(texts[i])) == texts[i]
    finally:
        source.close()


def test_threads_reading_one_source_each_get_their_own_ranges(small):
    source, text = small
    barrier = threading.Barrier(4)
    failures: list[tuple[int, int]] = []

    def reader(shift: int) -> None:
        barrier.wait()
        for _ in range(50):
            for offset in range(shift, len(text), 3):
                if source.read(offset, 4) != text[offset : offset + 4]:
                    failures.append((shift, offset))

    threads = [threading.Thread(target=reader, args=(shift,)) for shift in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_every_sample_page_reads_back_from_a_multistream_dump(tmp_path, sample_xml):
    scanned = scan_buffer(sample_xml, 0, len(sample_xml))
    cuts = [0, *(int(s) for s in scanned.starts[::20]), len(sample_xml)]
    texts = [sample_xml[a:b] for a, b in itertools.pairwise(cuts)]
    path = tmp_path / "sample-multistream.xml.bz2"
    starts, offsets = write_streams(path, texts)
    source = MultistreamSource(path, path.stat().st_size, starts, offsets)
    try:
        assert source.size == len(sample_xml)
        for start, length in zip(scanned.starts, scanned.lengths, strict=True):
            page = source.read(int(start), int(length))
            assert page == sample_xml[int(start) : int(start + length)]
            assert page.startswith(b"<page>") and page.endswith(b"</page>")
    finally:
        source.close()


# ------------------------------------------------------------------ opening
def test_open_source_opens_a_plain_dump_relative_to_the_index(tmp_path):
    (tmp_path / "dump.xml").write_bytes(b"<mediawiki/>")
    source = open_source(tmp_path, {"path": "dump.xml", "size": 12, "kind": "xml"}, None)
    try:
        assert isinstance(source, PlainSource)
        assert source.read(0, 11) == b"<mediawiki/"
    finally:
        source.close()


def test_open_source_opens_a_multistream_dump_with_its_streams(tmp_path):
    path = tmp_path / "d.xml.bz2"
    starts, offsets = write_streams(path, [b"ab", b"cd"])
    info = {"path": str(path), "size": path.stat().st_size, "kind": "multistream"}
    source = open_source(tmp_path / "elsewhere", info, (starts, offsets))
    try:
        assert isinstance(source, MultistreamSource)
        assert source.read(1, 2) == b"bc"
    finally:
        source.close()


def test_a_dump_that_is_gone_is_refused_with_the_fix(tmp_path):
    with pytest.raises(
        IndexFormatError, match=r"its dump .*gone; put it back or rebuild the index"
    ):
        open_source(tmp_path, {"path": "gone.xml", "size": 1, "kind": "xml"}, None)


def test_a_dump_that_changed_size_is_refused_with_both_sizes(tmp_path):
    (tmp_path / "dump.xml").write_bytes(b"12345")
    with pytest.raises(
        IndexFormatError, match=r"changed since it was indexed \(3 bytes then, 5 now\); rebuild"
    ):
        open_source(tmp_path, {"path": "dump.xml", "size": 3, "kind": "xml"}, None)


def test_a_multistream_dump_that_changed_or_lost_its_streams_is_refused(tmp_path):
    path = tmp_path / "d.xml.bz2"
    streams = write_streams(path, [b"ab"])
    size = path.stat().st_size
    with pytest.raises(IndexFormatError, match="changed since it was indexed; rebuild"):
        open_source(tmp_path, {"path": str(path), "size": size + 1, "kind": "multistream"}, streams)
    with pytest.raises(IndexFormatError, match="changed since it was indexed; rebuild"):
        open_source(tmp_path, {"path": str(path), "size": size, "kind": "multistream"}, None)
