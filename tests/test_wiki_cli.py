"""``manycore wiki`` as a user runs it, in a subprocess: damaged indexes, output directories,
input that is not an export.  Every mistake is one line naming the user's file, exit status 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("marisa_trie")
pytest.importorskip("numpy")

from manycore.apps.wiki import build_index
from manycore.apps.wiki.sample import SAMPLE_DUMP

USAGE_ERROR = 2


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "manycore", "wiki", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(done: subprocess.CompletedProcess, *names: str) -> str:
    assert done.returncode == USAGE_ERROR, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("manycore wiki: error: "), lines[0]
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def built_index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wiki-cli")
    dump = root / "sample.xml.bz2"
    shutil.copyfile(SAMPLE_DUMP, dump)
    return build_index(dump, root / "sample.index", progress=False, parallel=False).directory


@pytest.fixture
def damaged(built_index, tmp_path) -> Path:
    """A copy of a good index for one test to break."""
    copy = tmp_path / "damaged.index"
    shutil.copytree(built_index, copy)
    return copy


# ----------------------------------------------------------------- damaged indexes


def serve(index_dir: Path) -> subprocess.CompletedProcess:
    # An index that opens would be served until killed; a damaged one must stop at once.
    return run_cli("serve", str(index_dir), "--port", "0", "--engine", "inline", timeout=60)


@pytest.mark.parametrize("name", ["titles.blob", "missing_targets.marisa"])
def test_serve_names_a_deleted_title_file(damaged, name):
    (damaged / name).unlink()
    assert_one_line_error(serve(damaged), str(damaged / name), "rebuild")


@pytest.mark.parametrize("name", ["titles.blob", "missing_targets.marisa"])
def test_serve_names_an_empty_title_file(damaged, name):
    (damaged / name).write_bytes(b"")
    assert_one_line_error(serve(damaged), str(damaged / name), "rebuild")


@pytest.mark.parametrize("name", ["titles.blob", "missing_targets.marisa"])
def test_serve_names_a_title_file_cut_short(damaged, name):
    path = damaged / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert_one_line_error(serve(damaged), str(path), "rebuild")


@pytest.mark.parametrize(
    "name", ["flags.npy", "start_lo.npy", "redirect_targets.npy", "title_heads.npy"]
)
def test_serve_names_an_empty_array(damaged, name):
    (damaged / name).write_bytes(b"")
    assert_one_line_error(serve(damaged), str(damaged / name), "rebuild")


@pytest.mark.parametrize(
    "name", ["flags.npy", "length.npy", "redirect_ids.npy", "title_blocks.npy"]
)
def test_serve_names_an_array_cut_short(damaged, name):
    path = damaged / name
    path.write_bytes(path.read_bytes()[:-7])
    assert_one_line_error(serve(damaged), str(path), "rebuild")


def test_serve_names_an_array_of_the_wrong_length(damaged):
    import numpy as np

    path = damaged / "start_lo.npy"
    np.save(path, np.load(path)[:-1])
    assert_one_line_error(serve(damaged), str(path), "rebuild")


# ----------------------------------------------------------------- where the index goes


@pytest.fixture
def dump(tmp_path) -> Path:
    path = tmp_path / "sample.xml.bz2"
    shutil.copyfile(SAMPLE_DUMP, path)
    return path


@pytest.fixture
def restore_modes():
    """Directories a test made read-only, made writable again so tmp_path can be removed."""
    made: list[Path] = []
    yield made
    for path in made:
        path.chmod(0o755)


def test_build_refuses_to_replace_an_empty_read_only_directory(dump, tmp_path, restore_modes):
    out = tmp_path / "readonly.index"
    out.mkdir()
    out.chmod(0o555)
    restore_modes.append(out)
    before = out.stat()
    done = run_cli("build", str(dump), "-o", str(out), "--quiet")
    line = assert_one_line_error(done, str(out), "read-only")
    assert ".building" not in line
    after = out.stat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert list(out.iterdir()) == []


def test_build_into_a_read_only_parent_names_the_users_paths(dump, tmp_path, restore_modes):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    restore_modes.append(parent)
    out = parent / "sample.index"
    done = run_cli("build", str(dump), "-o", str(out), "--quiet")
    line = assert_one_line_error(done, str(out), str(parent), "read-only")
    assert ".building" not in line
    assert list(parent.iterdir()) == []


def test_a_truncated_dump_is_reported_under_its_own_name(tmp_path):
    import json

    data = SAMPLE_DUMP.read_bytes()
    dump = tmp_path / "truncated.xml.bz2"
    dump.write_bytes(data[: len(data) // 2])
    out = tmp_path / "truncated.index"
    done = run_cli("build", str(dump), "-o", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if ": warning: " in line]
    header = json.loads((out / "manycore-wiki-index.json").read_text())
    assert len(warnings) == len(header["warnings"]) >= 2
    for warning in [*warnings, *header["warnings"]]:
        assert str(dump) in warning, warning
        assert ".building" not in warning and "dump.xml" not in warning, warning


# ----------------------------------------------------------------- what is not an export

NOT_AN_EXPORT = "is not a MediaWiki XML export"
BINARY = bytes(range(256)) * 16


@pytest.mark.parametrize(
    ("content", "says", "never"),
    [
        (BINARY, NOT_AN_EXPORT, "UTF-16"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + BINARY, NOT_AN_EXPORT, "UTF-16"),
        (b"", "is empty", "UTF-16"),
        ('<?xml version="1.0"?>\n<mediawiki>'.encode("utf-16-le"), "encoded as UTF-16", None),
        ('<?xml version="1.0"?>\n<mediawiki>'.encode("utf-16-be"), "encoded as UTF-16", None),
        ("<mediawiki>".encode("utf-16-le"), "encoded as UTF-16", None),
        ('<?xml version="1.0"?>'.encode("utf-32-le"), "encoded as UTF-32", None),
        ('<?xml version="1.0"?>'.encode("utf-32-be"), "encoded as UTF-32", None),
        ("\ufeff<mediawiki>".encode("utf-16-le"), "encoded as UTF-16", None),
    ],
    ids=["binary", "png", "empty", "utf16le", "utf16be", "utf16-no-decl", "utf32le", "utf32be",
         "utf16-bom"],
)  # fmt: skip
def test_build_says_what_a_file_is(tmp_path, content, says, never):
    path = tmp_path / "input.xml"
    path.write_bytes(content)
    line = assert_one_line_error(run_cli("build", str(path), "--quiet"), str(path), says)
    if never is not None:
        assert never not in line


def test_build_says_a_compressed_empty_file_is_empty(tmp_path):
    import bz2

    path = tmp_path / "empty.xml.bz2"
    path.write_bytes(bz2.compress(b""))
    assert_one_line_error(run_cli("build", str(path), "--quiet"), str(path), "is empty")


# ----------------------------------------------------------------- the demo


def test_the_demo_finds_what_the_documentation_shows(tmp_path):
    import json
    import urllib.parse
    import urllib.request

    from manycore.testing import ServerProcess

    command = [
        sys.executable, "-m", "manycore", "wiki", "demo", "--dir", str(tmp_path),
        "--pages", "3000", "--host", "127.0.0.1", "--port", "0", "--engine", "inline",
    ]  # fmt: skip

    def search(server: ServerProcess, query: str) -> list[str]:
        url = f"{server.url}/search?q={urllib.parse.quote(query)}"
        with urllib.request.urlopen(url, timeout=30) as response:
            return [hit["title"] for hit in json.loads(response.read())]

    with ServerProcess("", command=command, ready_timeout=120) as server:
        assert search(server, "anar") == [
            "Anarchism", "AnarchoCapitalism", "AnarchoCapitalists", "AnarchY",
        ]  # fmt: skip
        assert search(server, "Apollo")[:3] == ["Apollo", "Apollo 11", "Apollo 8"]
        with urllib.request.urlopen(f"{server.url}/stats", timeout=30) as response:
            assert json.loads(response.read())["titles"] == 3000
    assert "CC BY-SA 4.0" in server.log()


def test_the_demo_filler_never_comes_before_the_documented_titles():
    from manycore.apps.wiki import keys
    from manycore.apps.wiki.synth import synthetic_pages
    from manycore.commands.wiki import DEMO_PAGES

    documented = ("anar", "apollo", "abacus")
    assert not [
        page.title
        for page in synthetic_pages(DEMO_PAGES)
        if keys.fold(page.title).startswith(documented)
    ]
