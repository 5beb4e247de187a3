"""``manycore wiki build --fulltext``: the full-text database, built on every core.

Runs inside the index's staging directory after the title index is written:
the articles (namespace 0, not redirects) are taken in dump order and cut into
tasks of a few MB; parallel contexts read their pages (a slice of the XML, or
decompressed multistream streams) and reduce them to words; the main context
hands the words, in order, to the engine's writer (SQLite's single writer, or
tantivy's, which indexes on every core itself).  The
window of tasks in flight (``build._map``) keeps every core busy while SQLite
writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import fulltext, layout
from .pages import PageSource, open_source
from .text import wikitext_of
from .titles import BLOCKS, HEADS, SortedTitles

__all__ = ["TASK_BYTES", "build_fulltext"]

TASK_BYTES = 8 << 20
MIN_TASK_BYTES = 1 << 20

# Each thread that runs tasks opens its own page source and title store, once per build: a
# worker's threads (and, on the threads engine, the workers themselves) never share one,
# so no thread closes a source another is reading.
_local = threading.local()


def extract_pages(
    token: str, directory: str, source: dict[str, Any], pages: np.ndarray
) -> tuple[list[tuple[int, str, str]], int]:
    """Parallel-context task: (key id, title, words) of each page; and the wikitext's bytes.

    ``pages`` holds rows of (key id, start, length).  The page source and the
    title store are opened once per parallel context and build (``token``).
    """
    opened: tuple[str, PageSource, SortedTitles] | None = getattr(_local, "opened", None)
    if opened is None or opened[0] != token:
        if opened is not None:
            opened[1].close()  # this thread's source and titles of an earlier build
            opened[2].close()
        path = Path(directory)
        streams = None
        if source["kind"] == "multistream":
            streams = (
                layout.load_array(path / "stream_starts.npy"),
                layout.load_array(path / "stream_offsets.npy"),
            )
        heads = layout.load_array(path / f"{HEADS}.npy", "r")
        titles = SortedTitles.open(path, heads, layout.load_array(path / f"{BLOCKS}.npy"))
        opened = _local.opened = (token, open_source(path, source, streams), titles)
    _, page_source, titles = opened
    rows = []
    wikitext_bytes = 0
    for key_id, start, length in pages.tolist():
        wikitext = wikitext_of(page_source.read(start, length))
        wikitext_bytes += len(wikitext.encode("utf-8"))
        title = titles.title(key_id)
        rows.append((key_id, title, fulltext.plain_words(wikitext)))
    return rows, wikitext_bytes


def _articles(directory: Path, namespace_codes: list[int]) -> np.ndarray:
    """Rows of (key id, start, length) of every article, in dump order."""
    flags = layout.load_array(directory / "flags.npy")
    main = namespace_codes.index(0) if 0 in namespace_codes else -1
    ids = np.flatnonzero(((flags & layout.NS_MASK) == main) & ((flags & layout.REDIRECT_BIT) == 0))
    lo = layout.load_array(directory / "start_lo.npy")[ids].astype(np.uint64)
    hi = layout.load_array(directory / "start_hi.npy")[ids].astype(np.uint64)
    lengths = layout.load_array(directory / "length.npy")[ids].astype(np.uint64)
    long_ids = layout.load_array(directory / "long_ids.npy")
    if len(long_ids):
        long = lengths == layout.LONG
        where = np.searchsorted(long_ids, ids[long].astype(np.uint32))
        lengths[long] = layout.load_array(directory / "long_lengths.npy")[where]
    starts = (hi << np.uint64(32)) | lo
    rows = np.stack([ids.astype(np.uint64), starts, lengths], axis=1)
    return rows[np.argsort(starts, kind="stable")]


def _tasks(rows: np.ndarray, cores: int) -> list[np.ndarray]:
    """Consecutive pages cut into tasks of about ``TASK_BYTES`` (smaller for small dumps)."""
    total = int(rows[:, 2].sum()) if len(rows) else 0
    size = max(MIN_TASK_BYTES, min(TASK_BYTES, total // max(1, 4 * cores)))
    cuts = np.searchsorted(np.cumsum(rows[:, 2]), np.arange(size, total, size, dtype=np.uint64))
    return [part for part in np.split(rows, np.unique(cuts)) if len(part)]


def build_fulltext(
    directory: Path,
    source: dict[str, Any],
    namespace_codes: list[int],
    token: str,
    run: Callable[..., Iterator[Any]],
    progress: Callable[[int], Callable[[int, int | None], None]],
    cores: int,
    engine: str,
) -> dict[str, Any]:
    """Write the ``engine``'s full-text index into ``directory``; return figures for the header.

    ``run(fn, tasks)`` yields ``fn(*task)`` in order (on parallel contexts);
    ``progress(total)`` gives a ``bar(bytes, articles)`` to report progress with.
    """
    began = time.monotonic()
    rows = _articles(directory, namespace_codes)
    bar = progress(int(rows[:, 2].sum()) if len(rows) else 0)
    tasks = [(token, str(directory), source, part) for part in _tasks(rows, cores)]
    totals = {"articles": 0, "wikitext_bytes": 0}

    def batches() -> Iterator[list[tuple[int, str, str]]]:
        for task, (found, wikitext_bytes) in zip(tasks, run(extract_pages, tasks), strict=True):
            totals["articles"] += len(found)
            totals["wikitext_bytes"] += wikitext_bytes
            bar(int(task[3][:, 2].sum()), totals["articles"])
            yield found

    batch_stream = batches()
    first = next(batch_stream, [])  # the parallel contexts exist before a writer's threads
    writer = _writer(engine, directory, cores)
    try:
        writer.add(first)
        for batch in batch_stream:
            writer.add(batch)
        size = writer.finish()
    except BaseException:
        writer.abort()
        raise
    return {
        **totals,
        "engine": engine,
        "bytes": size,
        "seconds": round(time.monotonic() - began, 3),
    }


def _writer(engine: str, directory: Path, cores: int) -> Any:
    if engine == "tantivy":
        from .fulltext_tantivy import TantivyWriter

        return TantivyWriter(directory, cores)
    from .fulltext_sqlite import SqliteWriter

    return SqliteWriter(directory, cores)
