"""The full-text index in tantivy: the fast engine, where this Python can load it.

The index is a directory of segment files that tantivy memory-maps, so the
workers share the page cache's copy.  Each document holds the title's trie id
(stored) and two indexed fields, title and body, both analysed the way FTS5's
``unicode61 remove_diacritics 2`` does (words, lower case, accents folded), so
both engines find the same articles.

Fork safety: tantivy starts native threads (the writer's, the searcher's).  A
build writes only after the parallel contexts exist and joins its threads
before returning; a server opens the index lazily in each worker process
(and each thread), never in the main context that forks the workers.

Queries are built from ``fulltext.terms``: each word or phrase is a quoted
string for tantivy's parser (words are ``\\w+``, so there is nothing to escape)
and required; a ``word*`` is a regular-expression query on the folded stem.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import tantivy

from .fulltext import TITLE_WEIGHT, FullTextHit, QueryError, fold, terms

__all__ = ["DIRECTORY", "TantivyFullText", "TantivyWriter"]

DIRECTORY = "fulltext.tantivy"
ANALYZER = "manycore_folded"
WRITER_HEAP = 512 << 20
MAX_WORD = 100


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("id", stored=True, indexed=False)
    builder.add_text_field("title", tokenizer_name=ANALYZER)
    builder.add_text_field("body", tokenizer_name=ANALYZER)
    return builder.build()


def _analyzed(index: tantivy.Index) -> tantivy.Index:
    analyzer = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_WORD))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )
    index.register_tokenizer(ANALYZER, analyzer)
    return index


class TantivyWriter:
    """Bulk-loads (key id, title, words) rows into a new index in ``directory``."""

    engine = "tantivy"

    def __init__(self, directory: Path, cores: int) -> None:
        self.path = directory / DIRECTORY
        self.path.mkdir()
        self.index = _analyzed(tantivy.Index(_schema(), path=str(self.path)))
        self.writer = self.index.writer(heap_size=WRITER_HEAP, num_threads=max(1, cores))

    def add(self, rows: list[tuple[int, str, str]]) -> None:
        add = self.writer.add_document
        document = tantivy.Document
        for key_id, title, words in rows:
            add(document(id=key_id, title=title, body=words))

    def finish(self) -> int:
        """Commit, wait for the merges (joining tantivy's threads); return the size in bytes."""
        self.writer.commit()
        self.writer.wait_merging_threads()
        del self.writer, self.index
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())

    def abort(self) -> None:
        self.writer.rollback()
        self.writer.wait_merging_threads()


class TantivyFullText:
    """An index's tantivy directory, opened by each worker thread that searches it."""

    engine = "tantivy"

    def __init__(self, directory: Path) -> None:
        self.path = directory / DIRECTORY
        self.size = sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())
        self._local = threading.local()

    def close(self) -> None:
        """Searchers free themselves; later searches reopen (nothing to release early)."""
        self._local = threading.local()

    def _opened(self) -> tuple[tantivy.Index, tantivy.Searcher]:
        """This thread's index and searcher (opened after any fork)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.index = _analyzed(tantivy.Index.open(str(self.path)))
            local.searcher = local.index.searcher()
            local.pid = os.getpid()
        return local.index, local.searcher

    def search(self, query: str, limit: int) -> list[FullTextHit]:
        groups = terms(query)
        if not groups:
            return []
        index, searcher = self._opened()
        required: list[Any] = []
        quoted = []
        for words, _ in groups:
            if len(words) == 1 and words[0].endswith("*"):
                stem = fold(words[0].rstrip("*"))
                pattern = re.escape(stem) + ".*"
                required.append(
                    tantivy.Query.boolean_query(
                        [
                            (
                                tantivy.Occur.Should,
                                tantivy.Query.regex_query(index.schema, f, pattern),
                            )
                            for f in ("title", "body")
                        ]
                    )
                )
            else:
                quoted.append('+"' + " ".join(w.rstrip("*") for w in words) + '"')
        try:
            if quoted:
                required.append(
                    index.parse_query(
                        " ".join(quoted), ["title", "body"], field_boosts={"title": TITLE_WEIGHT}
                    )
                )
            parsed = (
                required[0]
                if len(required) == 1
                else tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in required])
            )
            found = searcher.search(parsed, limit)
        except ValueError as exc:
            raise QueryError(f"the query cannot be searched ({exc})") from None
        return [
            FullTextHit(int(searcher.doc(address)["id"][0]), float(score))
            for score, address in found.hits
        ]
