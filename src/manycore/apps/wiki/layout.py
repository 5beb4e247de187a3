"""The index directory: which files it holds, their format, and writing it atomically.

Files (N = number of distinct titles, arrays indexed by title id: a title's rank in
key order, see ``titles``)::

    manycore-wiki-index.json  header: format name and version, counts, source dump,
                              namespace table -- written last, so a directory
                              without it is by construction incomplete
    titles.blob               every title, one per line, in key order, in blocks of 16,
                              each line after the first of its block stored
                              against that first title (``titles``)
    title_blocks.npy uint64[B+1]  where each block of 16 titles starts in titles.blob
    title_heads.npy  S32[B]   the first 32 bytes of each block's first key
    start_lo.npy  uint32[N]   low 32 bits of the page's first byte (its "<page>")
    start_hi.npy  uint8[N]    high 8 bits (dumps up to 1 TiB)
    length.npy    uint16[N]   bytes up to and including "</page>"; 65535 means "see
    long_ids.npy / long_lengths.npy"  (sorted ids, uint64 lengths)
    flags.npy     uint8[N]    bits 0-6: namespace code (header "namespaces"), bit 7: redirect
    redirect_ids.npy uint32[R] sorted ids of redirect pages
    redirect_blocks.npy uint32[B+1]  where the redirects of each block of titles start
                              in redirect_ids
    redirect_targets.npy int32[R]  target's title id, or -1-k: key k of missing_targets.marisa
    missing_targets.marisa    keys of redirect targets that are not in the dump
    stream_starts.npy uint64[S+1]  (multistream) where each stream starts in the
    stream_offsets.npy uint64[S+1] decompressed text / in the .bz2 file; last = total
    dump.xml                  (single-stream .bz2 only) the decompressed dump

Offsets are into the served file: the dump itself, ``dump.xml``, or, for a
multistream dump, the concatenation of all its decompressed streams.  About 8
bytes per title plus the titles themselves: a 28-million-title index fits in
under a GB, and every file is memory-mapped and shared by all workers.

Atomicity: an index is built in a hidden sibling directory and renamed into
place after every file (header last) is fsynced; an interrupted build removes
its directory.  Only an index (or an empty directory) is ever replaced, and
never one whose mode bits say it is read-only; errors name the user's path,
never the hidden one.  ``read_header`` refuses a directory without a complete header
of this format version, with a message saying to rebuild.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import IndexFormatError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "HEADER",
    "LONG",
    "REDIRECT_BIT",
    "Staging",
    "load_array",
    "read_header",
    "split_starts",
]

FORMAT_NAME = "manycore-wiki-index"
FORMAT_VERSION = 3
HEADER = "manycore-wiki-index.json"
LONG = 0xFFFF
REDIRECT_BIT = 0x80
NS_MASK = 0x7F
MAX_NAMESPACES = NS_MASK + 1
MAX_OFFSET = 1 << 40


# numpy reads an .npy header with ast.literal_eval, and CPython 3.11 keeps the AST
# converter's recursion depth per interpreter, not per thread: two threads converting at
# once (one of them paused by a collection that frees a mapped array, which lets the
# other run) fail with "SystemError: AST constructor recursion depth mismatch".  Loading
# an array takes microseconds, so threads that open an index together take turns.
_LOADING = threading.Lock()


def load_array(path: Path, mmap_mode: Literal["r"] | None = None) -> Any:
    """``np.load(path, mmap_mode)`` of an index array, one thread at a time (no pickles)."""
    with _LOADING:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)


def split_starts(starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """40-bit offsets as (low uint32, high uint8) arrays."""
    if len(starts) and int(starts.max()) >= MAX_OFFSET:
        raise ValueError("page offsets past 1 TiB are not supported")
    starts = starts.astype(np.uint64, copy=False)
    return (starts & np.uint64(0xFFFFFFFF)).astype(np.uint32), (starts >> np.uint64(32)).astype(
        np.uint8
    )


def read_header(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The header of a complete index of this format version, or ``IndexFormatError``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise IndexFormatError(
            f"{directory}: no such index directory; build one with: manycore wiki build DUMP -o "
            f"{directory}"
        )
    path = directory / HEADER
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexFormatError(
            f"{directory}: is not a complete wiki index (no {HEADER}); rebuild it with: "
            "manycore wiki build DUMP -o DIR"
        ) from None
    except (OSError, ValueError) as exc:
        raise IndexFormatError(
            f"{path}: unreadable index header ({exc}); rebuild the index"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise IndexFormatError(f"{path}: is not a {FORMAT_NAME} header; rebuild the index")
    if header.get("version") != FORMAT_VERSION:
        raise IndexFormatError(
            f"{directory}: index format version {header.get('version')} is not the supported "
            f"version {FORMAT_VERSION}; rebuild it with this manycore (manycore wiki build)"
        )
    return header


class Staging:
    """A hidden directory beside ``target`` that becomes ``target`` only on ``commit()``.

    Use as a context manager: leaving the block without committing (an error,
    Ctrl-C) removes the staging directory, so nothing half-built remains.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = Path(target).absolute()
        self.path = self.target.with_name(f".{self.target.name}.building-{os.getpid()}")
        self.committed = False

    def __enter__(self) -> Staging:
        target = self.target
        if target.is_symlink() or target.exists():
            if target.is_symlink() or not target.is_dir():
                raise IndexFormatError(
                    f"{target}: exists and is not a directory; choose another -o directory"
                )
            if not (target / HEADER).exists() and any(target.iterdir()):
                raise IndexFormatError(
                    f"{target}: exists and is not a wiki index; choose another -o directory"
                )
            if not _writable(target):
                raise IndexFormatError(
                    f"{target}: is read-only; make it writable or choose another -o directory"
                )
        existing = target.parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir() or not _writable(existing):
            raise IndexFormatError(
                f"{target}: cannot be written: {existing} is read-only or not a directory; "
                "choose another -o directory"
            )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(self.path, ignore_errors=True)
            self.path.mkdir()
        except OSError as exc:
            raise IndexFormatError(f"{target}: cannot be written ({exc.strerror})") from None
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)
        if isinstance(exc, OSError) and str(exc.filename or "").startswith(str(self.path)):
            # The staging directory is ours, not the user's: name the index they asked for.
            raise IndexFormatError(f"{self.target}: cannot be written ({exc.strerror})") from None

    def save_array(self, name: str, array: np.ndarray) -> None:
        with open(self.path / f"{name}.npy", "wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)

    def commit(self, header: dict[str, Any]) -> Path:
        """fsync every file, write the header last, and rename the directory into place."""
        header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **header}
        for entry in self.path.iterdir():
            _fsync(entry)
        tmp = self.path / f"{HEADER}.tmp"
        tmp.write_text(json.dumps(header, indent=1, ensure_ascii=False), encoding="utf-8")
        _fsync(tmp)
        tmp.rename(self.path / HEADER)
        _fsync(self.path)
        old = None
        if self.target.exists():
            old = self.target.with_name(f".{self.target.name}.old-{os.getpid()}")
            self.target.rename(old)
        self.path.rename(self.target)
        self.committed = True
        _fsync(self.target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.target


def _writable(directory: Path) -> bool:
    """May we write in ``directory``?  Its mode bits count even for root, whom the kernel lets
    write anywhere: a directory nobody may write to is meant to stay as it is."""
    return bool(directory.stat().st_mode & 0o222) and os.access(directory, os.W_OK)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
