"""``manycore wiki build``: scan a dump on every core and write its index atomically.

Pipeline (the main context only schedules and assembles; parallel contexts
do the byte work through ``manycore.submit_work``):

1. ``dump.inspect_dump`` validates the file and picks its layout.  A
   single-stream ``.bz2`` is first decompressed into the staging directory.
2. Scan: plain text is cut into fixed-size ranges (``scan.scan_buffer`` reads
   exactly the pages that *start* in a range, so no alignment pass is needed);
   a multistream dump is cut into groups of whole streams.  At most two tasks
   per core are in flight and results are consumed in order, so memory holds
   the titles found so far, never the dump.
3. The title store (``titles``: every title in key order) is written; a title's
   id is its key's rank, and each chunk's keys (and redirect targets) are mapped
   to ids through one dictionary.
4. Arrays indexed by key id are filled (first page wins for a duplicated
   title) and everything is committed by ``layout.Staging``.
"""

from __future__ import annotations

import datetime
import itertools
import mmap
import os
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, Protocol, TypedDict, TypeVar

import marisa_trie
import numpy as np

from . import dump as dumps
from . import layout
from .errors import DumpError
from .scan import Scanned, scan_buffer
from .titles import BLOCK_TITLES, write_titles

if TYPE_CHECKING:
    from concurrent.futures import Future

    from tqdm import tqdm

__all__ = ["BuildResult", "IndexCounts", "build_index", "default_index_dir", "write_index"]

CHUNK_BYTES = 64 << 20
STREAM_GROUP_BYTES = 8 << 20  # compressed bytes per multistream task

R = TypeVar("R")


@dataclass
class BuildResult:
    """What a build produced: where, how much, how fast, and what looked wrong."""

    directory: Path
    pages: int
    titles: int
    redirects: int
    bytes_scanned: int
    seconds: float
    warnings: list[str] = field(default_factory=list)
    fulltext: dict[str, Any] | None = None  # figures of the full-text build, if asked for


class IndexCounts(TypedDict):
    """What :func:`write_index` counted, as written into the index header."""

    pages: int
    titles: int
    redirects: int
    missing_redirect_targets: int
    duplicates: int
    namespace_codes: list[int]
    fulltext: NotRequired[dict[str, Any]]  # with --fulltext: what the full-text build counted


def default_index_dir(dump: str | os.PathLike[str]) -> Path:
    """``x.xml``, ``x.xml.bz2`` -> ``x.index`` beside the dump."""
    path = Path(dump)
    name = path.name
    for suffix in (".bz2", ".xml"):
        name = name.removesuffix(suffix)
    return path.with_name(f"{name}.index")


def build_index(
    dump: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    index_path: str | os.PathLike[str] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    parallel: bool = True,
    progress: bool | None = None,
    fulltext: bool | str = False,
) -> BuildResult:
    """Index ``dump`` into directory ``out`` (default: beside the dump, ``NAME.index``).

    ``progress=None`` shows progress bars only on a terminal; ``fulltext`` also
    builds the full-text index (``fulltext_build``): True picks the engine
    (``fulltext.default_engine``), or name one of ``fulltext.ENGINES``.  Raises
    ``DumpError`` for input that cannot be indexed; problems that still leave
    an index (a truncated dump, duplicate titles) are returned as warnings.
    """
    began = time.monotonic()
    info = dumps.inspect_dump(dump, index_path)
    target = Path(out) if out is not None else default_index_dir(dump)
    warnings = list(info.warnings)
    bars = _Bars(disable=None if progress is None else not progress)
    with layout.Staging(target) as staging:
        if info.kind == "multistream":
            assert info.index_path is not None  # inspect_dump names it for every multistream
            offsets = dumps.read_stream_offsets(info.index_path, bars.counter("reading index"))
            bounds = np.unique(np.concatenate([[0], offsets, [info.size]]).astype(np.uint64))
            bounds = bounds[bounds <= info.size]
            chunks, stream_starts, used = _scan_multistream(info, bounds, parallel, bars, warnings)
            scanned = int(used[-1])
            source = {"kind": "multistream", "path": str(info.path.absolute()), "size": info.size}
            extra = {"stream_starts": stream_starts, "stream_offsets": used}
        else:
            text = info.path
            if info.kind == "bz2":
                text = staging.path / "dump.xml"
                bar = bars.counter("decompressing", total=info.size)
                if not dumps.decompress_to(info.path, text, bar):
                    warnings.append(
                        f"{info.path}: the compressed data ends early or is corrupt; "
                        "indexing the complete pages before that point"
                    )
                bars.close()
            size = text.stat().st_size
            if size == 0:
                raise DumpError(f"{info.path}: is empty")
            chunks = _scan_text(text, info.path, size, chunk_bytes, parallel, bars, warnings)
            scanned = size
            kind_path = "dump.xml" if info.kind == "bz2" else str(info.path.absolute())
            source = {"kind": "xml", "path": kind_path, "size": size}
            extra = {}
        header = {
            "source": source,
            "dump": {
                "path": str(info.path.absolute()),
                "kind": info.kind,
                "schema": info.schema,
                "site": info.site,
                "namespaces": {str(k): v for k, v in sorted(info.namespaces.items())},
            },
        }
        counts = write_index(staging, chunks, header, extra, parallel, bars, warnings)
        if fulltext:
            engine = _fulltext_engine(fulltext)
            counts["fulltext"] = _write_fulltext(staging, source, counts, parallel, bars, engine)
        staging.commit(
            {
                **header,
                **counts,
                "built": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "build_seconds": round(time.monotonic() - began, 3),
                "warnings": warnings,
            }
        )
    return BuildResult(
        directory=staging.target,
        pages=counts["pages"],
        titles=counts["titles"],
        redirects=counts["redirects"],
        bytes_scanned=scanned,
        seconds=time.monotonic() - began,
        warnings=warnings,
        fulltext=counts.get("fulltext"),
    )


# ------------------------------------------------------------------ scanning


def scan_file_range(path: str, lo: int, hi: int) -> Scanned:
    """Parallel-context task: scan the pages starting in ``[lo, hi)`` of a plain XML file."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        return scan_buffer(buf, lo, hi)


def scan_streams(path: str, bounds: list[int]) -> list[tuple[int, bool, Scanned]]:
    """Parallel-context task: decompress and scan consecutive multistream streams.

    ``bounds`` are the file offsets of the streams plus the end of the last;
    returns (decompressed size, ended cleanly, pages) per stream, offsets
    relative to the stream's own text.
    """
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        for start, end in itertools.pairwise(bounds):
            text, ok = dumps.read_stream(fd, start, end)
            out.append((len(text), ok, scan_buffer(text, 0, len(text))))
    finally:
        os.close(fd)
    return out


def _scan_text(
    path: Path,
    dump: Path,
    size: int,
    chunk_bytes: int,
    parallel: bool,
    bars: _Bars,
    warnings: list[str],
) -> list[Scanned]:
    """Scan the plain text ``path``; warnings name ``dump``, the file the user gave."""
    tasks = [(str(path), lo, min(lo + chunk_bytes, size)) for lo in range(0, size, chunk_bytes)]
    bar = bars.counter("scanning", total=size)
    chunks: list[Scanned] = []
    pages = 0
    for scanned in _map(scan_file_range, tasks, parallel):
        chunks.append(_compact(scanned))
        pages += scanned.count
        bar(scanned.scanned_bytes, pages)
        if scanned.incomplete is not None:
            _warn_incomplete(dump, path != dump, scanned.incomplete, pages, warnings)
            break
    bars.close()
    _check_tail(path, dump, size, warnings)
    return chunks


def _scan_multistream(
    info: dumps.DumpInfo, bounds: np.ndarray, parallel: bool, bars: _Bars, warnings: list[str]
) -> tuple[list[Scanned], np.ndarray, np.ndarray]:
    groups: list[list[int]] = []
    first = 0
    for i in range(1, len(bounds)):
        if bounds[i] - bounds[first] >= STREAM_GROUP_BYTES or i == len(bounds) - 1:
            groups.append([int(b) for b in bounds[first : i + 1]])
            first = i
    bar = bars.counter("scanning", total=info.size)
    chunks: list[Scanned] = []
    stream_starts = [0]
    pages = 0
    stop = False
    tasks = [(str(info.path), group) for group in groups]
    for group, results in zip(groups, _map(scan_streams, tasks, parallel), strict=True):
        for (size, ok, scanned), start in zip(results, group, strict=False):
            base = stream_starts[-1]
            scanned.starts += np.uint64(base)
            chunks.append(_compact(scanned))
            stream_starts.append(base + size)
            pages += scanned.count
            if scanned.incomplete is not None or not ok:
                where = f"the stream at byte {start}"
                if scanned.incomplete is not None:
                    where += f" (page {scanned.incomplete[1]!r} is cut off)"
                warnings.append(
                    f"{info.path}: {where} is truncated or corrupt; indexed the {pages} "
                    "complete pages before it"
                )
                stop = True
                break
        bar(group[-1] - group[0], pages)
        if stop:
            break
    bars.close()
    # After a truncated stream nothing more is served: keep the offsets of the streams scanned.
    used = bounds[: len(stream_starts)]
    return chunks, np.array(stream_starts, dtype=np.uint64), used


def _warn_incomplete(
    dump: Path, decompressed: bool, incomplete: tuple[int, str], pages: int, warnings: list[str]
) -> None:
    offset, title = incomplete
    where = f"byte {offset} of its decompressed text" if decompressed else f"byte {offset}"
    warnings.append(
        f"{dump}: truncated: the page {title!r} at {where} has no </page>; "
        f"indexed the {pages} complete pages before it"
    )


def _check_tail(path: Path, dump: Path, size: int, warnings: list[str]) -> None:
    if any("truncated" in w for w in warnings):
        return
    with open(path, "rb") as f:
        f.seek(max(0, size - 4096))
        tail = f.read()
    if b"</mediawiki>" not in tail:
        warnings.append(f"{dump}: has no closing </mediawiki>; the dump may be truncated")


def _compact(scanned: Scanned) -> Scanned:
    """Shrink a chunk's arrays while it waits for the trie to be built."""
    scanned.lengths = scanned.lengths.astype(np.uint32)
    scanned.ns = scanned.ns.astype(np.int16)
    return scanned


def _map(fn: Callable[..., R], tasks: list[tuple[Any, ...]], parallel: bool) -> Iterator[R]:
    """``fn(*task)`` for each task, in order, on parallel contexts when worthwhile."""
    if not parallel or len(tasks) < 2:
        for task in tasks:
            yield fn(*task)
        return
    import manycore

    window = 2 * (os.cpu_count() or 1)
    pending: deque[Future[R]] = deque()
    try:
        for task in tasks:
            pending.append(manycore.submit_work(fn, *task))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


# ------------------------------------------------------------------ assembling


def _split(blob: bytes) -> list[str]:
    return blob.decode("utf-8").split("\n") if blob else []


def _all_keys(chunks: Iterable[Scanned]) -> Iterator[str]:
    for chunk in chunks:
        yield from _split(chunk.keys)


def write_index(
    staging: layout.Staging,
    chunks: list[Scanned],
    header: dict[str, Any],
    extra: dict[str, np.ndarray],
    parallel: bool,
    bars: _Bars,
    warnings: list[str],
) -> IndexCounts:
    """Write the trie and arrays of ``chunks`` into ``staging``; return the header counts."""
    chunks = [c for c in chunks if c.count]
    pages = sum(c.count for c in chunks)
    path = header["dump"]["path"]
    if not pages:
        raise DumpError(f"{path}: contains no complete <page> element")
    sorted_keys = sorted(set(_all_keys(chunks)))
    n = write_titles(staging.path, sorted_keys)
    id_of = {key: i for i, key in enumerate(sorted_keys)}  # a title's id is its key's rank
    del sorted_keys
    start = np.zeros(n, np.uint64)
    length = np.zeros(n, np.uint64)
    ns_value = np.zeros(n, np.int16)
    filled = np.zeros(n, bool)
    redirect_ids = []
    redirect_targets = []
    missing: dict[str, int] = {}
    bar = bars.counter("indexing titles", total=pages, unit="page")
    duplicates = 0
    for chunk in chunks:
        ids = np.fromiter(map(id_of.__getitem__, _split(chunk.keys)), dtype=np.uint32)
        get = id_of.get
        targets = np.fromiter((get(k, -1) for k in _split(chunk.redirect_keys)), dtype=np.int64)
        unique, first = np.unique(ids, return_index=True)
        new = ~filled[unique]
        rows = first[new]
        kept = unique[new]
        duplicates += len(ids) - len(rows)
        start[kept] = chunk.starts[rows]
        length[kept] = chunk.lengths[rows]
        ns_value[kept] = chunk.ns[rows]
        filled[kept] = True
        if len(chunk.redirect_rows):
            is_kept = np.zeros(chunk.count, bool)
            is_kept[rows] = True
            keep = is_kept[chunk.redirect_rows]
            targets = targets[keep]
            if (targets < 0).any():  # provisional numbers of absent targets, renumbered below
                target_keys = _split(chunk.redirect_keys)
                absent_keys = [target_keys[j] for j in np.flatnonzero(keep)[targets < 0]]
                targets[targets < 0] = [
                    -1 - missing.setdefault(k, len(missing)) for k in absent_keys
                ]
            redirect_ids.append(ids[chunk.redirect_rows[keep]])
            redirect_targets.append(targets)
        bar(chunk.count, None)
    bars.close()
    del id_of
    if duplicates:
        warnings.append(
            f"{path}: {duplicates} pages repeat an earlier title; the first one is indexed"
        )

    namespaces = np.unique(ns_value)
    if len(namespaces) > layout.MAX_NAMESPACES:
        raise DumpError(f"{path}: uses {len(namespaces)} namespaces; at most 128 are supported")
    flags = np.searchsorted(namespaces, ns_value).astype(np.uint8)
    rid = np.concatenate(redirect_ids) if redirect_ids else np.zeros(0, np.uint32)
    rtarget = np.concatenate(redirect_targets) if redirect_targets else np.zeros(0, np.int64)
    order = np.argsort(rid, kind="stable")
    missing_trie = marisa_trie.Trie(list(missing))
    if missing:  # the trie numbers keys its own way: map provisional numbers to its ids
        renumber = np.array([missing_trie[k] for k in missing], np.int64)
        absent = rtarget < 0
        rtarget[absent] = -1 - renumber[-1 - rtarget[absent]]
    flags[rid] |= np.uint8(layout.REDIRECT_BIT)
    lo, hi = layout.split_starts(start)
    long = length >= layout.LONG
    staging.save_array("start_lo", lo)
    staging.save_array("start_hi", hi)
    staging.save_array("length", np.where(long, layout.LONG, length).astype(np.uint16))
    staging.save_array("long_ids", np.flatnonzero(long).astype(np.uint32))
    staging.save_array("long_lengths", length[long].astype(np.uint64))
    staging.save_array("flags", flags)
    staging.save_array("redirect_ids", rid[order].astype(np.uint32))
    block_firsts = np.arange(0, -(-n // BLOCK_TITLES) + 1, dtype=np.uint64) * BLOCK_TITLES
    staging.save_array(
        "redirect_blocks", np.searchsorted(rid[order], block_firsts).astype(np.uint32)
    )
    staging.save_array("redirect_targets", rtarget[order].astype(np.int32))
    for name, array in extra.items():
        staging.save_array(name, array.astype(np.uint64))
    missing_trie.save(str(staging.path / "missing_targets.marisa"))
    return {
        "pages": pages - duplicates,
        "titles": n,
        "redirects": len(rid),
        "missing_redirect_targets": len(missing),
        "duplicates": duplicates,
        "namespace_codes": [int(x) for x in namespaces],
    }


def _fulltext_engine(choice: bool | str) -> str:
    """The engine to build with: the default, or the one named (if this Python has it)."""
    from . import fulltext

    if choice is True or choice == "auto":
        return fulltext.default_engine()
    if choice not in fulltext.ENGINES:
        raise ValueError(
            f"unknown full-text engine {choice!r}; choose one of: auto, "
            + ", ".join(fulltext.ENGINES)
        )
    if choice == "tantivy" and not fulltext.importable("tantivy"):
        raise ValueError(
            "the full-text engine tantivy is not installed for this Python (pip install "
            "tantivy; free-threaded builds cannot load it); use --fulltext-engine sqlite"
        )
    return str(choice)


def _write_fulltext(
    staging: layout.Staging,
    source: dict[str, Any],
    counts: IndexCounts,
    parallel: bool,
    bars: _Bars,
    engine: str,
) -> dict[str, Any]:
    from .fulltext_build import build_fulltext

    try:
        return build_fulltext(
            staging.path,
            source,
            counts["namespace_codes"],
            uuid.uuid4().hex,
            lambda fn, tasks: _map(fn, tasks, parallel),
            lambda total: bars.counter("full text", total=total),
            os.cpu_count() or 1,
            engine,
        )
    finally:
        bars.close()


# ------------------------------------------------------------------ progress


class _Advance(Protocol):
    """Moves the current bar on by ``amount``, showing ``pages`` found so far if given."""

    def __call__(self, amount: int, pages: int | None = None) -> None: ...


class _Bars:
    """tqdm progress bars on stderr (bytes or pages, rate, ETA), or nothing."""

    def __init__(self, disable: bool | None) -> None:
        self.disable = disable
        self.bar: tqdm | None = None

    def counter(self, label: str, total: int | None = None, unit: str = "B") -> _Advance:
        from tqdm import tqdm

        tqdm.monitor_interval = 0  # no monitor thread: the main context may fork later

        self.close()
        bar = self.bar = tqdm(
            total=total,
            desc=label,
            unit=unit,
            unit_scale=True,
            unit_divisor=1024 if unit == "B" else 1000,
            disable=self.disable,
            file=sys.stderr,
            dynamic_ncols=True,
            leave=False,
        )

        def advance(amount: int, pages: int | None = None) -> None:
            bar.update(amount)
            if pages is not None:
                bar.set_postfix(pages=f"{pages:,}", refresh=False)

        return advance

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
