"""Find every ``<page>...</page>`` element of a MediaWiki export in a byte buffer.

Strategy: no XML parser.  In an export, markup characters inside text are
escaped (``<`` is ``&lt;``), so the literal byte strings ``<page>`` and
``</page>`` occur only as tags.  The scanner jumps from tag to tag with
``find`` (memchr speed, in C) and reads the page header -- title, namespace,
redirect target, which the schema puts before the first revision -- with one
anchored regular expression.  Python code runs once per page, never per byte.

A scan covers the pages whose ``<page>`` tag *starts* inside ``[lo, hi)``; a
page may run past ``hi``.  Splitting a file at arbitrary offsets therefore
splits its pages exactly, with no alignment step: this is what lets the
builder hand chunks of one file to several parallel contexts.

Output is compact and picklable: titles already encoded as trie keys (see
``keys``) and joined by newlines, offsets and sizes as numpy arrays.
"""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass, field

import numpy as np

from . import keys
from .errors import DumpError

__all__ = ["Scanned", "scan_buffer", "unescape"]

PageBuffer = bytes | mmap.mmap
"""What the scanner reads: a whole export in memory, or mapped from its file."""

_PAGE = b"<page>"
_PAGE_END = b"</page>"
_HEADER = re.compile(
    rb"<page>\s*<title>([^<]*)</title>\s*<ns>\s*(-?\d+)\s*</ns>\s*<id>\s*\d+\s*</id>\s*"
    rb"(?:<redirect\s+title=\"([^\"]*)\"\s*/>)?"
)
_TITLE = re.compile(rb"<title>([^<]*)</title>")
_NS = re.compile(rb"<ns>\s*(-?\d+)\s*</ns>")
_REDIRECT = re.compile(rb"<redirect\s+title=\"([^\"]*)\"\s*/?>")
_ENTITY = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|amp|lt|gt|quot|apos);")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
# XML 1.0 allows these control characters; MediaWiki titles allow none.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Scanned:
    """The pages found in one range, in file order."""

    keys: bytes = b""  # UTF-8 trie keys joined by b"\n"
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    redirect_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    redirect_keys: bytes = b""  # trie keys of redirect targets, joined by b"\n"
    incomplete: tuple[int, str] | None = None  # (offset, title) of a page cut off by EOF
    scanned_bytes: int = 0  # how far the scan got, relative to lo

    @property
    def count(self) -> int:
        return len(self.starts)


def unescape(text: str) -> str:
    """Undo XML escaping (the five entities and numeric character references)."""
    if "&" not in text:
        return text
    return _ENTITY.sub(_entity, text)


def _entity(match: re.Match[str]) -> str:
    name = match.group(1)
    if name[0] != "#":
        return _NAMED[name]
    return chr(int(name[2:], 16) if name[1] in "xX" else int(name[1:]))


def _title(raw: bytes, offset: int, what: str = "title") -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DumpError(
            f"the {what} of the page at byte {offset} is not valid UTF-8 ({exc.reason}); "
            "only UTF-8 exports are supported"
        ) from None
    text = unescape(text).strip()
    if not text or _CONTROL.search(text) or len(text) > keys.MAX_TITLE_CHARS:
        raise DumpError(
            f"the page at byte {offset} has an invalid {what} {text[:80]!r} "
            "(empty, too long, or with control characters)"
        )
    return text


def _slow_header(buf: PageBuffer, start: int, end: int) -> tuple[bytes, int, bytes | None]:
    """Read a header whose layout the fast pattern does not expect (extra elements, comments)."""
    revision = buf.find(b"<revision>", start, end)
    head = bytes(buf[start : revision if revision != -1 else end])
    title = _TITLE.search(head)
    if title is None:
        raise DumpError(f"the page at byte {start} has no <title>; is this a MediaWiki export?")
    ns = _NS.search(head)
    redirect = _REDIRECT.search(head)
    return title.group(1), int(ns.group(1)) if ns else 0, redirect.group(1) if redirect else None


def scan_buffer(
    buf: PageBuffer, lo: int, hi: int, *, end: int | None = None, base: int = 0
) -> Scanned:
    """Scan the pages of ``buf`` whose ``<page>`` tag starts in ``[lo, hi)``.

    ``buf`` is the export's bytes or an ``mmap`` of its file; ``end``
    bounds how far a page may extend (default: the end of ``buf``); ``base`` is
    added to every reported offset.  A page without its ``</page>`` before
    ``end`` is reported in ``incomplete`` and ends the scan.
    """
    end = len(buf) if end is None else end
    find = buf.find
    header = _HEADER.match
    out_keys: list[str] = []
    starts: list[int] = []
    lengths: list[int] = []
    namespaces: list[int] = []
    redirect_rows: list[int] = []
    redirect_keys: list[str] = []
    incomplete = None
    pos = lo
    while True:
        start = find(_PAGE, pos, end)
        if start == -1 or start >= hi:
            break
        match = header(buf, start)
        if match is not None:
            raw_title, ns, raw_target = match.group(1), int(match.group(2)), match.group(3)
            stop = find(_PAGE_END, match.end(), end)
        else:
            stop = find(_PAGE_END, start, end)
            if stop != -1:
                raw_title, ns, raw_target = _slow_header(buf, start, stop)
            else:  # cut off by the end, perhaps before its title is complete
                title_match = _TITLE.search(buf, start, end)
                raw_title = title_match.group(1) if title_match else b""
                ns, raw_target = 0, None
        if stop == -1:
            title = raw_title.decode("utf-8", "replace")
            incomplete = (base + start, unescape(title))
            pos = end
            break
        stop += len(_PAGE_END)
        row = len(starts)
        out_keys.append(keys.encode(_title(raw_title, base + start)))
        starts.append(base + start)
        lengths.append(stop - start)
        namespaces.append(ns)
        if raw_target is not None:
            redirect_rows.append(row)
            redirect_keys.append(keys.encode(_title(raw_target, base + start, "redirect target")))
        pos = stop
    return Scanned(
        keys="\n".join(out_keys).encode("utf-8"),
        starts=np.array(starts, dtype=np.uint64),
        lengths=np.array(lengths, dtype=np.uint64),
        ns=np.array(namespaces, dtype=np.int32),
        redirect_rows=np.array(redirect_rows, dtype=np.uint32),
        redirect_keys="\n".join(redirect_keys).encode("utf-8"),
        incomplete=incomplete,
        scanned_bytes=min(pos, hi) - lo if incomplete is None else end - lo,
    )
