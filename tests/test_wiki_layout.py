"""The index directory: 40-bit offsets, the header that says an index is complete, atomic writes.

A user's ``-o`` directory is replaced only when it holds an index (or nothing),
only once the new index is complete, and never when its mode says read-only;
a directory that is not a complete index of this version is refused with the
command that rebuilds it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from manycore.apps.wiki.errors import IndexFormatError
from manycore.apps.wiki.layout import (
    FORMAT_NAME,
    FORMAT_VERSION,
    HEADER,
    Staging,
    read_header,
    split_starts,
)


def hidden_entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def build(target: Path, value: int = 1, **header) -> Path:
    with Staging(target) as staging:
        staging.save_array("values", np.array([value], dtype=np.uint32))
        return staging.commit({"pages": value, **header})


# ------------------------------------------------------------------ offsets
def test_offsets_split_into_low_and_high_parts_and_join_again():
    starts = np.array([0, 1, 0xFFFFFFFF, 1 << 32, (1 << 40) - 1, 123_456_789_012], np.uint64)
    low, high = split_starts(starts)
    assert (low.dtype, high.dtype) == (np.uint32, np.uint8)
    joined = low.astype(np.uint64) | (high.astype(np.uint64) << np.uint64(32))
    assert joined.tolist() == starts.tolist()


def test_no_offsets_split_into_empty_arrays():
    low, high = split_starts(np.zeros(0, np.uint64))
    assert (len(low), len(high)) == (0, 0)


def test_an_offset_past_one_tib_is_refused():
    with pytest.raises(ValueError, match="page offsets past 1 TiB are not supported"):
        split_starts(np.array([1 << 40], np.uint64))


# ------------------------------------------------------------------ writing
def test_a_committed_index_has_its_files_and_a_header_of_this_format(tmp_path):
    target = tmp_path / "wiki.index"
    assert build(target, 7, source={"kind": "xml"}) == target.absolute()
    header = read_header(target)
    assert header["format"] == FORMAT_NAME
    assert header["version"] == FORMAT_VERSION
    assert (header["pages"], header["source"]) == (7, {"kind": "xml"})
    assert np.load(target / "values.npy").tolist() == [7]
    assert hidden_entries(tmp_path) == []


def test_the_header_keeps_non_ascii_text_readable(tmp_path):
    build(tmp_path / "i", title="İstanbul")
    assert "İstanbul" in (tmp_path / "i" / HEADER).read_text(encoding="utf-8")


def test_a_build_that_does_not_commit_leaves_nothing(tmp_path):
    target = tmp_path / "wiki.index"
    with pytest.raises(RuntimeError, match="interrupted"):
        with Staging(target) as staging:
            staging.save_array("values", np.arange(3))
            assert staging.path.is_dir()
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert hidden_entries(tmp_path) == []


def test_a_failed_rebuild_keeps_the_old_index(tmp_path):
    target = tmp_path / "wiki.index"
    build(target, 1)
    with pytest.raises(KeyboardInterrupt):
        with Staging(target) as staging:
            staging.save_array("values", np.array([2], np.uint32))
            raise KeyboardInterrupt
    assert read_header(target)["pages"] == 1
    assert np.load(target / "values.npy").tolist() == [1]


def test_a_rebuild_replaces_the_old_index_whole(tmp_path):
    target = tmp_path / "wiki.index"
    with Staging(target) as staging:
        staging.save_array("stale", np.arange(2))
        staging.commit({"pages": 1})
    build(target, 2)
    assert read_header(target)["pages"] == 2
    assert not (target / "stale.npy").exists()
    assert hidden_entries(tmp_path) == []


def test_an_empty_directory_may_become_an_index(tmp_path):
    target = tmp_path / "empty"
    target.mkdir()
    build(target)
    assert read_header(target)["pages"] == 1


def test_missing_parents_are_made(tmp_path):
    build(tmp_path / "a" / "b" / "wiki.index")
    assert read_header(tmp_path / "a" / "b" / "wiki.index")["pages"] == 1


def test_a_relative_target_is_written_where_the_user_meant(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert build(Path("rel.index")) == tmp_path / "rel.index"
    assert read_header(tmp_path / "rel.index")["pages"] == 1


# ------------------------------------------------------------------ what is never replaced
def test_a_directory_that_is_not_an_index_is_never_replaced(tmp_path):
    target = tmp_path / "photos"
    target.mkdir()
    (target / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(IndexFormatError, match="exists and is not a wiki index; choose another"):
        build(target)
    assert (target / "holiday.jpg").read_bytes() == b"precious"
    assert hidden_entries(tmp_path) == []


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_a_file_or_symlink_is_never_replaced(tmp_path, kind):
    target = tmp_path / "wiki.index"
    if kind == "file":
        target.write_text("notes")
    else:
        (tmp_path / "real").mkdir()
        target.symlink_to(tmp_path / "real")
    with pytest.raises(IndexFormatError, match="exists and is not a directory"):
        build(target)
    assert target.is_symlink() if kind == "symlink" else target.read_text() == "notes"


def test_a_read_only_index_is_not_replaced_even_by_root(tmp_path):
    target = tmp_path / "wiki.index"
    build(target, 1)
    target.chmod(0o555)
    try:
        with pytest.raises(IndexFormatError, match=r"wiki\.index: is read-only; make it writable"):
            build(target, 2)
    finally:
        target.chmod(0o755)
    assert read_header(target)["pages"] == 1


def test_a_read_only_parent_is_refused_naming_it(tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        with pytest.raises(IndexFormatError) as info:
            build(parent / "new" / "wiki.index")
    finally:
        parent.chmod(0o755)
    message = str(info.value)
    assert f"cannot be written: {parent} is read-only or not a directory" in message
    assert not (parent / "new").exists()


def test_a_write_error_names_the_index_not_the_hidden_directory(tmp_path):
    target = tmp_path / "wiki.index"
    with pytest.raises(IndexFormatError) as info:
        with Staging(target) as staging:
            (staging.path / "missing-dir" / "file").write_bytes(b"x")
    message = str(info.value)
    assert message.startswith(f"{target}: cannot be written (")
    assert ".building" not in message
    assert hidden_entries(tmp_path) == []


# ------------------------------------------------------------------ reading the header
def test_a_missing_directory_is_refused_with_the_build_command(tmp_path):
    with pytest.raises(IndexFormatError, match="no such index directory; build one with: manycore"):
        read_header(tmp_path / "absent")


def test_a_half_written_index_is_refused(tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(IndexFormatError, match=f"is not a complete wiki index \\(no {HEADER}\\)"):
        read_header(tmp_path / "half")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "unreadable index header"),
        ("[1, 2]", f"is not a {FORMAT_NAME} header"),
        (json.dumps({"format": "other", "version": FORMAT_VERSION}), "is not a manycore-wiki"),
        (json.dumps({"format": FORMAT_NAME, "version": 1}), "index format version 1 is not the"),
        (json.dumps({"format": FORMAT_NAME}), "index format version None is not the"),
    ],
)
def test_a_header_of_another_kind_or_version_is_refused_with_rebuild(tmp_path, content, message):
    (tmp_path / HEADER).write_text(content)
    with pytest.raises(IndexFormatError, match=message) as info:
        read_header(tmp_path)
    assert "rebuild" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_header_that_is_not_utf8_is_refused(tmp_path):
    (tmp_path / HEADER).write_bytes(b'{"format": "\xff"}')
    with pytest.raises(IndexFormatError, match="unreadable index header"):
        read_header(tmp_path)


def test_staging_is_beside_the_target_and_hidden(tmp_path):
    staging = Staging(tmp_path / "wiki.index")
    assert staging.path.parent == tmp_path
    assert staging.path.name.startswith(".wiki.index.building-")
    assert str(os.getpid()) in staging.path.name
