"""Deterministic synthetic Wikipedia-like titles and exports.

Two consumers: ``manycore wiki demo`` (filler pages around the real sample, so a new
user sees search work at scale without downloading anything) and the scale
benchmark (tens of millions of titles with page byte ranges, no XML at all).

Strategy: a seeded ``random.Random`` drives a fixed vocabulary of pseudo-words
(built from syllables, some with diacritics or in other scripts) and a table of
title shapes weighted roughly like English Wikipedia: people, places, films,
lists, years, disambiguation pages, and the other namespaces (Category:, File:,
Template:, ...). About a third of the titles are redirects to another title,
made the way real redirects are: other capitalisation, CamelCase, or without
diacritics. The same seed always gives the same titles, in the same order.

Invariant: titles are unique, contain no ``_``, no control characters and no
leading or trailing space (MediaWiki normalises those away), and every redirect
target is a title generated earlier, so it is in the index.
"""

from __future__ import annotations

import bisect
import itertools
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

__all__ = ["SyntheticPage", "synthetic_page_elements", "synthetic_pages", "write_demo_export"]

_ONSETS = "b c d f g h j k l m n p r s t v w z br ch st tr th sh gr pl kr dr fl sk".split()
_VOWELS = "a e i o u a e i o ai ea ou y ie".split()
_ACCENTED = "á é í ó ú ä ö ü å ø ñ ç ł ş ã".split()
_CODAS = ["", "", "", "n", "r", "s", "l", "m", "t", "nd", "rk", "st", "ng", "x"]
_SCRIPTS = [
    "абвгдежзиклмнопрстуфхцчшыэюя",  # Cyrillic
    "αβγδεζηθικλμνξοπρστυφχψω",  # Greek
    "東京大阪京都山川田中村本日月水火木金土",  # CJK
    "אבגדהוזחטיכלמנסעפצקרשת",  # Hebrew
]
_OCCUPATIONS = (
    "actor politician footballer singer writer painter architect cricketer "
    "composer boxer physicist general bishop journalist"
).split()
_WORKS = "film album song band novel play TV series video game magazine ship".split()
_TOPICS = "music sport science literature film television aviation rail".split()
_LINKS = "in of and the from for".split()

# (shape, weight): the mix of English Wikipedia's title kinds, roughly.
_SHAPES = [
    ("person", 20),
    ("person_qualified", 6),
    ("phrase", 16),
    ("place", 10),
    ("word", 8),
    ("work", 6),
    ("category", 9),
    ("file", 6),
    ("template", 4),
    ("list", 3),
    ("year_in", 3),
    ("disambiguation", 3),
    ("project", 2),
    ("acronym", 2),
    ("subpage", 1),
    ("foreign", 1),
]

NAMESPACES = {
    "Category": 14,
    "File": 6,
    "Template": 10,
    "Wikipedia": 4,
    "Portal": 100,
    "Draft": 118,
}


@dataclass(frozen=True, slots=True)
class SyntheticPage:
    """One generated page: its title, namespace, redirect target (or None), and size."""

    title: str
    ns: int
    redirect: str | None
    nbytes: int


class _Vocabulary:
    """Pseudo-words drawn with a Zipf-like skew, so common words repeat as in real titles."""

    def __init__(self, rng: random.Random, size: int) -> None:
        seen: set[str] = set()
        words: list[str] = []
        while len(words) < size:
            word = "".join(self._syllable(rng) for _ in range(rng.choice((1, 2, 2, 2, 3))))
            if len(word) > 2 and word not in seen:
                seen.add(word)
                words.append(word)
        self.words = words
        # Cumulative weights 1/(rank+10): a few hundred words carry much of the mass.
        self.cumulative = list(itertools.accumulate(1.0 / (rank + 10) for rank in range(size)))
        self.total = self.cumulative[-1]

    @staticmethod
    def _syllable(rng: random.Random) -> str:
        vowel = rng.choice(_ACCENTED) if rng.random() < 0.04 else rng.choice(_VOWELS)
        return rng.choice(_ONSETS) + vowel + rng.choice(_CODAS)

    def pick(self, rng: random.Random) -> str:
        return self.words[bisect.bisect(self.cumulative, rng.random() * self.total)]


class _TitleMaker:
    def __init__(self, seed: int, vocabulary: int) -> None:
        self.rng = random.Random(seed)
        self.vocab = _Vocabulary(self.rng, vocabulary)
        self.shapes = [shape for shape, _ in _SHAPES]
        self.shape_weights = list(itertools.accumulate(weight for _, weight in _SHAPES))
        rng = self.rng
        self.first_names = [self.word().capitalize() for _ in range(3000)]
        self.surnames = [self.word().capitalize() for _ in range(40000)]
        self.places = [self.word().capitalize() for _ in range(60000)]
        self.regions = [self.word().capitalize() for _ in range(400)]
        self.foreign = ["".join(rng.choice(s) for _ in range(rng.randint(2, 7))) for s in _SCRIPTS]

    def word(self) -> str:
        return self.vocab.pick(self.rng)

    def cap(self) -> str:
        return self.word().capitalize()

    def year(self) -> int:
        return (
            self.rng.randint(1000, 2030)
            if self.rng.random() < 0.2
            else self.rng.randint(1900, 2025)
        )

    def title(self) -> tuple[str, int]:
        rng = self.rng
        shape = self.shapes[
            bisect.bisect(self.shape_weights, rng.random() * self.shape_weights[-1])
        ]
        if shape == "person":
            return f"{rng.choice(self.first_names)} {rng.choice(self.surnames)}", 0
        if shape == "person_qualified":
            who = f"{rng.choice(self.first_names)} {rng.choice(self.surnames)}"
            job = rng.choice(_OCCUPATIONS)
            if rng.random() < 0.5:
                return f"{who} ({job}, born {self.year()})", 0
            return f"{who} ({job})", 0
        if shape == "phrase":
            words = [self.cap()] + [self.word() for _ in range(rng.randint(1, 3))]
            if rng.random() < 0.3:
                words.insert(rng.randint(1, len(words)), rng.choice(_LINKS))
            return " ".join(words), 0
        if shape == "place":
            return f"{rng.choice(self.places)}, {rng.choice(self.regions)}", 0
        if shape == "word":
            return self.cap(), 0
        if shape == "work":
            kind = rng.choice(_WORKS)
            year = f"{self.year()} " if rng.random() < 0.4 else ""
            return f"{self.cap()} {self.word()} ({year}{kind})", 0
        if shape == "category":
            return f"Category:{self.cap()} {self.word()} in {rng.choice(self.places)}", 14
        if shape == "file":
            ext = rng.choice(("jpg", "jpg", "png", "svg", "ogg"))
            return f"File:{self.cap()} {self.word()} {rng.randint(1, 9999)}.{ext}", 6
        if shape == "template":
            return f"Template:{self.cap()} {self.word()}", 10
        if shape == "list":
            return f"List of {self.word()}s in {rng.choice(self.places)}", 0
        if shape == "year_in":
            return f"{self.year()} in {rng.choice(_TOPICS)}", 0
        if shape == "disambiguation":
            return f"{self.cap()} (disambiguation)", 0
        if shape == "project":
            space = rng.choice(("Wikipedia", "Portal", "Draft"))
            return f"{space}:{self.cap()} {self.word()}", NAMESPACES[space]
        if shape == "acronym":
            size = rng.randint(2, 5)
            return "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVW") for _ in range(size)), 0
        if shape == "subpage":
            return f"{self.cap()}/{self.cap()} {self.word()}", 0
        script = rng.choice(self.foreign)
        word = "".join(rng.choice(script) for _ in range(rng.randint(2, 6)))
        return word[0].upper() + word[1:], 0


def _redirect_variant(rng: random.Random, title: str) -> str:
    """Another spelling of ``title``, the way real redirects are made."""
    choice = rng.random()
    if choice < 0.35:
        return title.replace(" ", "")  # CamelCase, like 'AccessibleComputing'
    if choice < 0.6:
        return " ".join(w.capitalize() for w in title.split(" "))
    if choice < 0.75:
        stripped = unicodedata.normalize("NFKD", title)
        return "".join(c for c in stripped if not unicodedata.combining(c))
    if choice < 0.9:
        return title.upper() if len(title) < 12 else title.lower().capitalize()
    return f"{title} ({rng.choice(_OCCUPATIONS)})"


def synthetic_pages(
    count: int, *, seed: int = 1, vocabulary: int = 60000
) -> Iterator[SyntheticPage]:
    """Yield ``count`` unique pages, deterministically for a given ``seed``.

    Roughly a third are redirects to an earlier page. ``nbytes`` is the size of
    the page's XML: redirects ~0.5-1 kB, articles log-normal around 6 kB.
    """
    maker = _TitleMaker(seed, vocabulary)
    rng = maker.rng
    seen: set[str] = set()
    recent: list[tuple[str, int]] = []  # a window of earlier articles to redirect to
    made = 0
    while made < count:
        if recent and rng.random() < 0.33:
            target, ns = recent[rng.randrange(len(recent))]
            title = _redirect_variant(rng, target)
            if title in seen:
                continue
            redirect: str | None = target
            nbytes = rng.randint(450, 1100)
        else:
            title, ns = maker.title()
            if title in seen:
                continue
            redirect = None
            nbytes = int(min(rng.lognormvariate(8.7, 1.1), 2_000_000)) + 500
            if len(recent) < 4096:
                recent.append((title, ns))
            else:
                recent[rng.randrange(4096)] = (title, ns)
        seen.add(title)
        made += 1
        yield SyntheticPage(title, ns, redirect, nbytes)


_SITEINFO = """  <siteinfo>
    <sitename>Synthetipedia</sitename>
    <dbname>synthwiki</dbname>
    <base>https://synthetic.invalid/wiki/Main_Page</base>
    <generator>manycore synthetic export</generator>
    <case>first-letter</case>
    <namespaces>
      <namespace key="0" case="first-letter" />
      <namespace key="4" case="first-letter">Wikipedia</namespace>
      <namespace key="6" case="first-letter">File</namespace>
      <namespace key="10" case="first-letter">Template</namespace>
      <namespace key="14" case="first-letter">Category</namespace>
      <namespace key="100" case="first-letter">Portal</namespace>
      <namespace key="118" case="first-letter">Draft</namespace>
    </namespaces>
  </siteinfo>
"""


def _sentence_pool(rng: random.Random, size: int = 3000) -> list[str]:
    """Sentences of pseudo-words, made once per export and reused by every article."""
    words = _Vocabulary(rng, 5000)
    pool = []
    for _ in range(size):
        sentence = " ".join(words.pick(rng) for _ in range(rng.randint(6, 18)))
        pool.append(sentence.capitalize() + ". ")
    return pool


def _article_text(
    rng: random.Random, title: str, links: list[str], pool: list[str], nbytes: int
) -> str:
    """Plausible wikitext: a template, a bold lead, sections, links and a category."""
    parts = [f"{{{{Short description|{title}}}}}\n'''{title}''' is a synthetic article. "]
    size = 0
    section = 0
    while size < nbytes:
        if rng.random() < 0.12:
            section += 1
            parts.append(f"\n\n== Section {section} ==\n")
        sentence = rng.choice(pool)
        parts.append(sentence)
        if rng.random() < 0.5:
            parts.append(f"See [[{rng.choice(links)}]]. ")
        size += len(sentence) + 20
    parts.append(f"\n\n[[Category:{rng.choice(_TOPICS).capitalize()}]]\n")
    return "".join(parts)


def synthetic_page_elements(
    count: int, *, seed: int = 1, first_id: int = 1, skip: frozenset[str] = frozenset()
) -> Iterator[str]:
    """``count`` synthetic ``<page>`` elements (export schema 0.10/0.11), one string each.

    Titles in ``skip`` (pages the export already holds) are left out and replaced by
    later ones.  Page text is kept short (a few hundred bytes to a few kB) so that an
    export of 100k pages stays around 100 MB and builds in seconds.
    """
    rng = random.Random(seed + 1)
    pool = _sentence_pool(rng)
    links: list[str] = []
    made = 0
    page_id = first_id
    for page in synthetic_pages(count + len(skip), seed=seed):
        if made == count:
            return
        if page.title in skip:
            continue
        if page.redirect is None and len(links) < 2000:
            links.append(page.title)
        if page.redirect is not None:
            redirect = f"    <redirect title={quoteattr(page.redirect)} />\n"
            text = f"#REDIRECT [[{page.redirect}]]"
        else:
            redirect = ""
            text = _article_text(
                rng, page.title, links or [page.title], pool, min(page.nbytes, 3000)
            )
        body = escape(text)
        yield (
            f"  <page>\n    <title>{escape(page.title)}</title>\n    <ns>{page.ns}</ns>\n"
            f"    <id>{page_id}</id>\n{redirect}    <revision>\n"
            f"      <id>{page_id + 1_000_000}</id>\n"
            f"      <timestamp>2024-01-01T00:00:00Z</timestamp>\n"
            f"      <contributor>\n        <username>Synth</username>\n"
            f"        <id>1</id>\n      </contributor>\n"
            f"      <model>wikitext</model>\n      <format>text/x-wiki</format>\n"
            f'      <text bytes="{len(text.encode())}" xml:space="preserve">{body}</text>\n'
            f"      <sha1>{page_id:031x}</sha1>\n    </revision>\n  </page>\n"
        )
        made += 1
        page_id += 1


def write_demo_export(path: str, count: int = 100_000, *, seed: int = 1) -> int:
    """Write a MediaWiki export (schema 0.11) of ``count`` synthetic pages; return bytes written."""
    written = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        head = (
            '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.mediawiki.org/xml/export-0.11/ '
            'http://www.mediawiki.org/xml/export-0.11.xsd" version="0.11" xml:lang="en">\n'
        )
        written += out.write(head + _SITEINFO)
        for element in synthetic_page_elements(count, seed=seed):
            written += out.write(element)
        written += out.write("</mediawiki>\n")
    return written
