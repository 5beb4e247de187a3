"""Trie keys: one marisa-trie that is both the exact title index and the case-insensitive one.

A title is stored as ``fold(title) + "\\x01" + case_patch`` (the separator and
patch are omitted when the title is already all lower case).  ``fold`` lowers
every character on its own (no context rules, so a prefix folds to a prefix of
the fold); the patch lists the positions that were upper case, as characters
``chr(position + 32)`` (so a key never holds a control character other than the
separator, and keys can be joined with newlines), and, after a second
separator, the rare positions whose original character is not simply the upper
case of the folded one (titlecase digraphs, final sigma, the Kelvin sign...), as
position-character pairs.

Why one trie: a trie of titles plus a second trie of folded titles and an array
mapping one to the other is about twice the size; with this encoding the folded
title is a real trie prefix, so

* a case-insensitive prefix search is a plain trie prefix search, and the
  results come out in folded (dictionary) order: "anar" gives Anarchism,
  Anarcho-capitalism, AnarchY (that is, label order of the folded titles);
* an exact lookup encodes the title and looks it up (no scan);
* a case-sensitive prefix search walks the folded range and keeps the titles
  whose patch agrees with the prefix's patch on the prefix's positions.

Invariants: ``decode(encode(t)) == t`` for every title without control characters;
``fold(p)`` is a prefix of ``fold(t)`` whenever ``p`` is a prefix of ``t``;
``fold`` never changes the length of a string.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["SEP", "CasePrefix", "decode", "encode", "fold"]

SEP = "\x01"  # sorts before every character a title may hold; NUL breaks marisa lookups
_DOTTED_CAPITAL_I = "\u0130"  # the one character whose lower() is two characters long ("i̇")
_FINAL_SIGMA = "\u03c2"
_SIGMA = "\u03c3"
_MARK0 = 0x20  # position p is stored as chr(p + _MARK0)
_FIRST_ONLY = chr(_MARK0)  # the patch of "Title with only its first letter upper"
# byte -> 1 for an ASCII capital, else 0 (positions of capitals, found by bytes.find)
_ASCII_CAPITALS = bytes(1 if 0x41 <= b <= 0x5A else 0 for b in range(256))
# The surrogate block cannot be encoded, so positions stop below it.
MAX_TITLE_CHARS = 0xD800 - _MARK0


def fold(text: str) -> str:
    """Lower-case ``text`` character by character (length-preserving, context-free).

    "İ" folds to a plain "i", as a user types it ("ist" finds "İstanbul"); the key's
    patch restores it, since "i".upper() is "I".
    """
    folded = text.lower()
    if len(folded) != len(text):
        # "İ" is the one character whose lower() is longer; the rest of the text is
        # lowered in C whatever its length (the title store folds whole blocks).
        folded = text.replace(_DOTTED_CAPITAL_I, "I").lower()
        if len(folded) != len(text):
            folded = "".join("i" if c == _DOTTED_CAPITAL_I else c.lower() for c in text)
    if _FINAL_SIGMA in folded:  # str.lower() picks final sigma by context; undo that
        folded = folded.replace(_FINAL_SIGMA, _SIGMA)
    return folded


def encode(title: str) -> str:
    """The trie key of ``title``."""
    folded = fold(title)
    if folded == title:
        return folded
    first = title[0]
    if folded[1:] == title[1:] and folded[0].upper() == first:
        return folded + SEP + _FIRST_ONLY  # the common case: only the first letter is upper
    if title.isascii():  # only A-Z change, and each is simply upper: find them in C
        marks = title.encode("ascii").translate(_ASCII_CAPITALS)
        simple = []
        i = marks.find(1)
        while i >= 0:
            simple.append(chr(i + _MARK0))
            i = marks.find(1, i + 1)
        return folded + SEP + "".join(simple)
    return _general_key(title, folded)


def _general_key(title: str, folded: str) -> str:
    """``encode`` for any title, a character at a time (the ASCII path must agree with it)."""
    simple = []
    escaped = []
    for i, (original, low) in enumerate(zip(title, folded, strict=True)):
        if original != low:
            if low.upper() == original:
                simple.append(chr(i + _MARK0))
            else:
                escaped.append(chr(i + _MARK0) + original)
    if escaped:
        return f"{folded}{SEP}{''.join(simple)}{SEP}{''.join(escaped)}"
    return f"{folded}{SEP}{''.join(simple)}"


def decode(key: str) -> str:
    """The title stored under ``key``."""
    folded, sep, patch = key.partition(SEP)
    if not sep:
        return folded
    if patch == _FIRST_ONLY:
        return folded[0].upper() + folded[1:]
    simple, sep, escaped = patch.partition(SEP)
    if not sep:  # slices beat a list of characters for the usual one to four marks
        parts = []
        last = 0
        for mark in simple:
            i = ord(mark) - _MARK0
            parts.append(folded[last:i])
            parts.append(folded[i].upper())
            last = i + 1
        parts.append(folded[last:])
        return "".join(parts)
    chars = list(folded)
    for mark in simple:
        i = ord(mark) - _MARK0
        chars[i] = chars[i].upper()
    for j in range(0, len(escaped), 2):
        chars[ord(escaped[j]) - _MARK0] = escaped[j + 1]
    return "".join(chars)


class CasePrefix:
    """Tells, from its key alone, whether a title starts with one of ``forms`` case-sensitively.

    ``forms`` are spellings of one prefix that differ only in case (say "anar"
    and "Anar"), so they share one folded trie range.  Every key in that range
    already matches ignoring case; it matches exactly when its patch agrees with
    a form's patch on the prefix's positions.  Patches repeat a lot (most
    titles only capitalise their first letter), so answers are cached per patch.
    """

    __slots__ = ("_cache", "_length", "_start", "_want", "exact", "folded")

    def __init__(self, *forms: str) -> None:
        self.folded = fold(forms[0])
        encoded = [encode(form) for form in forms]
        if any(fold(form) != self.folded for form in forms):
            raise ValueError(f"{forms!r} are not one prefix in different cases")
        self.exact = frozenset(encoded)  # the keys of the forms themselves
        self._length = len(forms[0])
        self._start = len(self.folded)
        self._want = {_positions(key.partition(SEP)[2], self._length) for key in encoded}
        self._cache: dict[str, bool] = {}

    def matches(self, key: str) -> bool:
        patch = key[self._start :].partition(SEP)[2]
        answer = self._cache.get(patch)
        if answer is None:
            answer = _positions(patch, self._length) in self._want
            if len(self._cache) < 4096:
                self._cache[patch] = answer
        return answer

    def select(self, pairs: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
        """The (key, id) pairs whose key matches, in order: ``matches`` unrolled for big ranges."""
        start = self._start
        cache = self._cache
        want = self._want
        length = self._length
        out: list[tuple[str, int]] = []
        append = out.append
        for pair in pairs:
            key = pair[0]
            cut = key.find(SEP, start)
            patch = key[cut + 1 :] if cut >= 0 else ""
            answer = cache.get(patch)
            if answer is None:
                answer = cache[patch] = _positions(patch, length) in want
            if answer:
                append(pair)
        return out


def _positions(patch: str, length: int) -> tuple[str, str]:
    """The parts of a patch that concern positions below ``length``."""
    if not patch:
        return "", ""
    simple, _, escaped = patch.partition(SEP)
    limit = chr(length + _MARK0)
    if not escaped and simple[-1] < limit:
        return simple, ""
    kept_simple = "".join(mark for mark in simple if mark < limit)
    kept_escaped = "".join(
        escaped[j : j + 2] for j in range(0, len(escaped), 2) if escaped[j] < limit
    )
    return kept_simple, kept_escaped
