"""The full-text index in SQLite FTS5: the engine every CPython has.

The table is contentless (``content=''``): it holds the inverted index and no
copy of the text.  Rows are keyed by the title's trie id, so a hit needs no
other table.  The main context is SQLite's single writer during a build; when
serving, each worker thread opens the file read-only (``immutable``), through
``mmap`` (``PRAGMA mmap_size``), so all workers share the page cache's copy.
What a user typed is re-quoted as FTS5 strings (``to_match``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from .fulltext import TITLE_WEIGHT, FullTextHit, QueryError, terms

__all__ = ["FILE", "SqliteFullText", "SqliteWriter", "to_match"]

FILE = "fulltext.sqlite"
BUILD_CACHE_KIB = 256 << 10
MMAP_BYTES = 1 << 40  # SQLite maps at most the file's size


def to_match(query: str) -> str:
    """An FTS5 MATCH expression for what a user typed ('' if it has no words).

    Every word is an FTS5 string, so the query language's operators are
    inert; "quoted words" stay a phrase; a trailing ``*`` makes a prefix query.
    """
    parts = []
    for words, phrase in terms(query):
        if phrase:
            parts.append('"' + " ".join(words) + '"')
            continue
        word = words[0]
        prefix = word.endswith("*")
        word = word.rstrip("*")
        parts.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(parts)


class SqliteWriter:
    """Bulk-loads (key id, title, words) rows into a new database in ``directory``."""

    engine = "sqlite"

    def __init__(self, directory: Path, cores: int) -> None:
        self.path = directory / FILE
        self.db = create(self.path)
        self.db.execute("BEGIN")

    def add(self, rows: list[tuple[int, str, str]]) -> None:
        self.db.executemany("INSERT INTO articles(rowid, title, body) VALUES (?, ?, ?)", rows)

    def finish(self) -> int:
        """Merge the index into one segment; return its size in bytes."""
        db = self.db
        db.execute("COMMIT")
        db.execute("INSERT INTO articles(articles, rank) VALUES ('automerge', 4)")
        db.execute("INSERT INTO articles(articles) VALUES ('optimize')")
        db.execute("VACUUM")
        db.close()
        return self.path.stat().st_size

    def abort(self) -> None:
        self.db.close()


def create(path: Path) -> sqlite3.Connection:
    """A new, empty full-text database at ``path``, set up for one fast bulk load."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA page_size = 8192")
    db.execute(
        "CREATE VIRTUAL TABLE articles USING fts5("
        "title, body, content='', tokenize='unicode61 remove_diacritics 2')"
    )
    db.execute(
        "INSERT INTO articles(articles, rank) VALUES ('rank', ?)", (f"bm25({TITLE_WEIGHT}, 1.0)",)
    )
    # One bulk load then one 'optimize': merging segments while loading only redoes work
    # (about a third of the build's time), and a big page cache keeps the writes in memory.
    db.execute("INSERT INTO articles(articles, rank) VALUES ('automerge', 0)")
    db.execute(f"PRAGMA cache_size = -{BUILD_CACHE_KIB}")
    return db


class SqliteFullText:
    """An index's FTS5 database, opened read-only by each thread that searches it."""

    engine = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE
        self.size = self.path.stat().st_size
        self._local = threading.local()
        # Every connection any thread opened, with the process that opened it, so close()
        # can close this process's own; one inherited across a fork is only kept referenced.
        self._opened: list[tuple[int, sqlite3.Connection]] = []
        self._opened_lock = threading.Lock()

    def close(self) -> None:
        pid = os.getpid()
        with self._opened_lock:
            for owner, db in self._opened:
                if owner == pid:
                    db.close()
            self._opened = [(owner, db) for owner, db in self._opened if owner != pid]
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (made after any fork, so never shared by two workers)."""
        db = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():
            uri = self.path.absolute().as_uri() + "?mode=ro&immutable=1"
            db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            db.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
            db.execute("PRAGMA query_only = 1")
            self._local.db = db
            self._local.pid = os.getpid()
            with self._opened_lock:
                self._opened.append((os.getpid(), db))
        return db

    def search(self, query: str, limit: int) -> list[FullTextHit]:
        """The best ``limit`` articles for ``query``, best first; ``QueryError`` if unusable."""
        match = to_match(query)
        if not match:
            return []
        try:
            rows = self._connection().execute(
                "SELECT rowid, rank FROM articles WHERE articles MATCH ? ORDER BY rank LIMIT ?",
                (match, limit),
            )
            return [FullTextHit(int(key_id), -float(rank)) for key_id, rank in rows]
        except sqlite3.OperationalError as exc:  # to_match quotes everything; belt and braces
            raise QueryError(f"the query cannot be searched ({exc})") from None
