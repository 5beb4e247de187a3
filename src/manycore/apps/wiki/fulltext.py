"""Full-text search: BM25 over every article's words, with tantivy or SQLite FTS5.

Two engines, one behaviour.  tantivy (a Rust search library; its index files
are memory-mapped, so every worker shares them) answers a common word at a
million articles in well under a millisecond where FTS5 scores every matching
row (``bench/wiki/reader.py``: p99 3 ms against 620 ms) and its index is half
the size.  But it ships abi3 wheels only, which free-threaded CPython cannot
load; there, and wherever tantivy is not installed, SQLite FTS5 -- in every
CPython's standard library -- does the same job (``fulltext_sqlite``).  The
engine an index was built with is in its header.

This module holds what both share: reducing wikitext to words
(``plain_words``: regular expressions, no parser, so it keeps up with a dump),
reading what a user typed into words and phrases (``terms``: never handed to
a query language as it is, so ``AND``, ``NEAR(``, ``col:`` and stray quotes are
plain words), and the snippets, cut from the page itself when a query is
answered (neither index keeps a copy of the text).
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Iterator
from html import escape, unescape
from typing import NamedTuple, Protocol

__all__ = [
    "ENGINES",
    "FullText",
    "FullTextHit",
    "QueryError",
    "default_engine",
    "plain_words",
    "query_words",
    "snippet",
    "terms",
]

ENGINES = ("tantivy", "sqlite")
TITLE_WEIGHT = 4.0
MAX_QUERY_CHARS = 500
MAX_TERMS = 16
SNIPPET_WORDS = 32
SNIPPET_WINDOW = 3000  # wikitext characters read around a match
SNIPPET_TRIES = 8

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


def terms(query: str) -> list[tuple[list[str], bool]]:
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


def query_words(query: str) -> list[str]:
    """The folded words of a query (prefix words end with ``*``), for marking snippets."""
    return [fold(word) for words, _ in terms(query) for word in words]


class FullText(Protocol):
    """A built full-text index, searched read-only by many workers."""

    engine: str
    size: int

    def search(self, query: str, limit: int) -> list[FullTextHit]:
        """The best ``limit`` articles for ``query``, best first; ``QueryError`` if unusable."""
        ...


def default_engine() -> str:
    """tantivy where this Python can load it, else SQLite FTS5."""
    return "tantivy" if importable("tantivy") else "sqlite"


def importable(module: str) -> bool:
    """Can this interpreter load ``module``?  (Finding it is not enough: a free-threaded
    CPython finds an abi3 extension module and then refuses to load it.)"""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


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
