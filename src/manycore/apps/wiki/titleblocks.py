# cython: annotation_typing=True, infer_types=True
"""The string work of the title store on one or two blocks: what is left of a query once
``titles.SortedTitles`` has found its block.

Making and comparing a few dozen short strings is most of what a search costs, and the
interpreter runs it a bytecode at a time, so this module is one ``setup.py`` compiles
with Cython: its annotations become types (``str`` slicing, indexing and ``ord`` in C,
``bytes.decode`` of a slice without the slice), and integer locals become C integers
(``infer_types``).  In the compiled build an argument must
be exactly the annotated type (no subclass, no None); every caller is the store itself,
passing strings and lists it has just made, never a caller's object.

A block's line is ``chr(0x20 + n)`` followed by the rest of its title, whose first ``n``
characters are the block's first title's (see ``titles``).  0x20, and 16 for
``titles.BLOCK_TITLES``, are written out where they are used: a module constant would be a
dictionary lookup each time in the compiled build (test_wiki_titles crosses block bounds).
"""

from __future__ import annotations

from . import keys

__all__ = ["MARK0", "expand", "from_row", "row_of", "shared", "title_at"]

MARK0 = 0x20
MAX_SHARED = 200


def expand(lines: list[str]) -> list[str]:
    """The titles of one block's lines (the first line is the block's first title)."""
    head: str = lines[0][1:]
    out: list[str] = []
    line: str
    for line in lines:
        out.append(head[: ord(line[0]) - 0x20] + line[1:])
    return out


def from_row(text: str, folded: str, count: int) -> tuple[int, list[str]]:
    """In ``text``, the decoded lines of a block and maybe the next (no final newline): the
    row of the first title whose folded form is ``>= folded`` (16 if it starts the next
    block), and up to ``count`` titles from it on.

    Only the titles the bisection looks at and the titles returned are made, since making
    a title is the cost here.
    """
    # The first block's lines, then the rest of the text in one piece: split only if needed.
    lines: list[str] = text.split("\n", 16)
    head: str = lines[0][1:]
    line: str
    title: str
    # str.lower is fold without a Python call, unless the text holds a character fold treats
    # its own way: "\u0130" lowers to two characters, and sigma by its neighbours.
    plain = "\u0130" not in text and "\u03a3" not in text and "\u03c2" not in text
    lo = 0
    hi = min(16, len(lines))
    while lo < hi:
        mid = (lo + hi) // 2
        line = lines[mid]
        title = head[: ord(line[0]) - 0x20] + line[1:]
        if (title.lower() if plain else keys.fold(title)) < folded:
            lo = mid + 1
        else:
            hi = mid
    if len(lines) > 16 and lo + count > 16:
        rest: str = lines.pop()
        lines += rest.split("\n", lo + count - 16)
    titles: list[str] = []
    end = min(lo + count, len(lines))
    row = lo
    while row < end:
        if row == 16:  # the next block's lines are stored against its own first title
            head = lines[16][1:]
        line = lines[row]
        titles.append(head[: ord(line[0]) - 0x20] + line[1:])
        row += 1
    return lo, titles


def title_at(block: bytes, row: int) -> str:
    """The title of line ``row`` of ``block`` (a block's bytes, from its first line on)."""
    parts: list[bytes] = block.split(b"\n", row + 1)
    line: str = parts[row].decode("utf-8", "surrogatepass")
    cut = ord(line[0]) - 0x20
    if not cut:
        return line[1:]
    first: bytes = parts[0]
    return first[1:].decode("utf-8", "surrogatepass")[:cut] + line[1:]


def row_of(text: bytes, title: str) -> int:
    """The row of ``title`` in a block, or -1; ``text`` is the block's bytes from the newline
    before its first line on."""
    cut = text.find(b"\n", 1)
    head: str = text[2:cut].decode("utf-8", "surrogatepass")
    if head == title:
        return 0
    n = shared(head, title)
    line: str = chr(0x20 + n) + title[n:]
    where = text.find(b"\n" + line.encode("utf-8", "surrogatepass") + b"\n")
    if where < 0:
        return -1
    return text.count(b"\n", 0, where)


def shared(head: str, title: str) -> int:
    """How many leading characters ``title`` shares with ``head`` (at most ``MAX_SHARED``)."""
    n = min(len(head), len(title), MAX_SHARED)
    i = 0
    while i < n and head[i] == title[i]:  # compiled: characters compared in C
        i += 1
    return i
