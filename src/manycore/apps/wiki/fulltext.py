"""Full-text search: a BM25 index of every article's words, in SQLite FTS5.

Why SQLite FTS5: it is in the standard library of every CPython manycore runs
on, stock and free-threaded alike (tantivy ships abi3 wheels only, which a
free-threaded interpreter cannot load), and its database file is read through
``mmap`` (``PRAGMA mmap_size``), so every worker's connection shares the same
page-cache pages.  The table is contentless (``content=''``): it holds the
inverted index and no copy of the text, so it stays a fraction of the dump's
size; snippets are cut from the page itself when a query is answered.

Building: parallel contexts read pages and reduce wikitext to words
(``plain_words``, regular expressions: no parser, so it keeps up with the
dump); the main context is SQLite's one writer.  Rows are keyed by the title's
trie id, so a hit needs no other table.

Queries: what a user types is never handed to FTS5's query language.  Words
and "quoted phrases" are re-quoted as FTS5 strings (``to_match``), so ``AND``,
``NEAR(``, ``col:`` and stray quotes are just words.  Ranking is BM25 with a
title weighted above the body.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterator
from html import escape, unescape
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "FULLTEXT_FILE",
    "FullText",
    "FullTextHit",
    "QueryError",
    "create",
    "plain_words",
    "snippet",
    "to_match",
]

FULLTEXT_FILE = "fulltext.sqlite"
TITLE_WEIGHT = 4.0
MAX_QUERY_CHARS = 500
MAX_TERMS = 16
SNIPPET_WORDS = 32
SNIPPET_WINDOW = 3000  # wikitext characters read around a match
SNIPPET_TRIES = 8
BUILD_CACHE_KIB = 256 << 10
MMAP_BYTES = 1 << 40  # SQLite maps at most the file's size

_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_REF = re.compile(r"<ref\b[^>/]*/>|<ref\b[^>]*>.*?(?:</ref\s*>|$)", re.DOTALL | re.IGNORECASE)
_INNER_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_HIDDEN_LINK = re.compile(
    r"\[\[\s*(?:File|Image|Media|Category|[a-z]{2,3}(?:-[a-z]+)?)\s*:[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]",
    re.IGNORECASE,
)
_LINK = re.compile(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]")
_EXTERNAL = re.compile(r"\[(?:https?:|ftp:|mailto:|//)\S*\s*([^\]]*)\]")
_TAG = re.compile(r"<[^<>]+>")
_TABLE_LINE = re.compile(r"^[ \t]*(?:\{\||\|\}|\|-|\|\+|!|\|)", re.M)
_LIST_MARKS = re.compile(r"^[*#:;]+", re.M)
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_SPACE_BEFORE_PUNCTUATION = re.compile(r" ([,.;:!?)\]])")
_WORD = re.compile(r"\w+(?:\*)?")
_QUOTED = re.compile(r'"([^"]*)"?')


class QueryError(ValueError):
    """A query that cannot be searched (the message says why, for a 400)."""


class FullTextHit(NamedTuple):
    key_id: int
    score: float


def plain_words(wikitext: str) -> str:
    """The readable words of wikitext: markup, templates, references and files removed.

    Regular expressions, not a parser: this runs over every article of a dump.
    Whitespace is left as it is (the tokenizer and snippets do not mind).
    """
    text = _COMMENT.sub("", wikitext)
    text = _REF.sub("", text)
    text = text.replace("'''", "").replace("''", "")
    for _ in range(8):  # innermost templates first; eight levels covers real pages
        text, count = _INNER_TEMPLATE.subn(" ", text)
        if not count:
            break
    text = _HIDDEN_LINK.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = _EXTERNAL.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    if "|" in text:
        text = _TABLE_LINE.sub(" ", text).replace("||", " ").replace("!!", " ")
    text = _LIST_MARKS.sub("", text.replace("==", " "))
    if "__" in text:
        text = _MAGIC_WORD.sub("", text)
    text = text.replace("{{", " ").replace("}}", " ").replace("[[", " ").replace("]]", " ")
    if "&" in text:
        text = unescape(text)
    return text


def fold(word: str) -> str:
    """A word as FTS5's ``unicode61 remove_diacritics 2`` compares it."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _terms(query: str) -> list[tuple[list[str], bool]]:
    """(words, is_phrase) groups of a query, at most ``MAX_TERMS`` words in all."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    groups: list[tuple[list[str], bool]] = []
    position = 0
    for match in _QUOTED.finditer(query):
        for word in _WORD.findall(query[position : match.start()]):
            groups.append(([word], False))
        words = [w.rstrip("*") for w in _WORD.findall(match.group(1))]
        words = [w for w in words if w]
        if words:
            groups.append((words, len(words) > 1))
        position = match.end()
    groups.extend(([word], False) for word in _WORD.findall(query[position:]))
    groups = [(words, phrase) for words, phrase in groups if words[0].strip("*")]
    if sum(len(words) for words, _ in groups) > MAX_TERMS:
        raise QueryError(f"the query has more than {MAX_TERMS} words")
    return groups


def to_match(query: str) -> str:
    """An FTS5 MATCH expression for what a user typed ('' if it has no words).

    Every word is an FTS5 string, so the query language's operators are
    inert; "quoted words" stay a phrase; a trailing ``*`` makes a prefix query.
    """
    parts = []
    for words, phrase in _terms(query):
        if phrase:
            parts.append('"' + " ".join(words) + '"')
            continue
        word = words[0]
        prefix = word.endswith("*")
        word = word.rstrip("*")
        parts.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(parts)


def query_words(query: str) -> list[str]:
    """The folded words of a query (prefix words end with ``*``), for marking snippets."""
    return [fold(word) for words, _ in _terms(query) for word in words]


# ------------------------------------------------------------------ building


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


def load(db: sqlite3.Connection, batches: Iterator[list[tuple[int, str, str]]]) -> int:
    """Insert batches of (key id, title, words); merge the index; return the rows written."""
    count = 0
    db.execute("BEGIN")
    for batch in batches:
        db.executemany("INSERT INTO articles(rowid, title, body) VALUES (?, ?, ?)", batch)
        count += len(batch)
    db.execute("COMMIT")
    db.execute("INSERT INTO articles(articles, rank) VALUES ('automerge', 4)")
    db.execute("INSERT INTO articles(articles) VALUES ('optimize')")
    db.execute("VACUUM")
    return count


# ------------------------------------------------------------------ searching


class FullText:
    """An index's full-text database, opened read-only by each thread that searches it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self._local = threading.local()

    @classmethod
    def open(cls, directory: Path) -> FullText | None:
        """The full-text index in ``directory``, or None if it was built without one."""
        path = directory / FULLTEXT_FILE
        return cls(path) if path.is_file() else None

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


def snippet(wikitext: str, words: list[str], size: int = SNIPPET_WORDS) -> str:
    """HTML: about ``size`` words of the article around its best match, matches in <mark>."""
    exact = {w for w in words if not w.endswith("*")}
    prefixes = tuple(w[:-1] for w in words if w.endswith("*"))

    def matches(token: str) -> bool:
        folded = fold(token)
        return folded in exact or bool(prefixes and folded.startswith(prefixes))

    tokens: list[str] = []
    positions: list[int] = []
    for part in _windows(wikitext, words):
        tokens = re.split(r"(\w+)", plain_words(part))  # odd indexes are words
        positions = [i for i in range(1, len(tokens), 2) if matches(tokens[i])]
        if positions:
            break
    start = 1
    if positions:
        best = max(
            positions,
            key=lambda p: len({fold(tokens[q]) for q in positions if p <= q < p + 2 * size}),
        )
        start = max(1, best - 2 * (size // 4))
    end = min(len(tokens), start + 2 * size)
    out = ["…" if start > 1 else ""]
    for i in range(start, end):
        piece = tokens[i]
        if i % 2 and matches(piece):
            out.append(f"<mark>{escape(piece)}</mark>")
        else:
            out.append(escape(piece))
    if end < len(tokens) and "".join(tokens[end:]).strip():
        out.append("…")
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join("".join(out).split()))


def _windows(wikitext: str, words: list[str]) -> Iterator[str]:
    """Parts of the wikitext around the words' first few occurrences, then its start.

    Snippets are cut from a window, not the whole page, so they stay cheap on
    long articles; a match inside a template or a reference shows nothing, so
    the next occurrence is tried.
    """
    stems = [re.escape(w.rstrip("*")) + ("" if w.endswith("*") else r"\b") for w in words]
    stems = [s for s in stems if s not in ("", r"\b")]
    if stems:
        pattern = re.compile(r"(?i)\b(?:" + "|".join(stems) + ")")
        for count, found in enumerate(pattern.finditer(wikitext)):
            if count >= SNIPPET_TRIES:
                break
            lo = max(0, found.start() - SNIPPET_WINDOW // 2)
            yield wikitext[lo : lo + SNIPPET_WINDOW]
    yield wikitext[:SNIPPET_WINDOW]
