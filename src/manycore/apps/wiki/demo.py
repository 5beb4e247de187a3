"""The export ``manycore wiki demo`` serves: the real sample, then synthetic filler pages.

The sample's 206 real English Wikipedia pages (see ``sample/README.md``: CC BY-SA
4.0) make the documented searches ("anar", "Apollo") find what the documentation
says; the filler (``synth``) gives search the scale of a real wiki.  Filler titles
never repeat a real one.  The same ``pages`` always gives the same bytes.
"""

from __future__ import annotations

import bz2
import re
from html import unescape
from pathlib import Path

from .sample import SAMPLE_DUMP
from .synth import synthetic_page_elements

__all__ = ["sample_text", "write_demo"]

_TITLE = re.compile(rb"<title>([^<]*)</title>")
_ID = re.compile(rb"<page>\s*<title>[^<]*</title>\s*<ns>-?\d+</ns>\s*<id>(\d+)</id>")


def sample_text() -> bytes:
    return bz2.decompress(SAMPLE_DUMP.read_bytes())


def write_demo(path: str | Path, pages: int) -> tuple[int, int]:
    """Write the demo export of ``pages`` pages in all; return (real pages, filler pages)."""
    text = sample_text()
    end = text.rindex(b"</mediawiki>")
    real_titles = frozenset(unescape(t.decode("utf-8")) for t in _TITLE.findall(text))
    real = len(real_titles)
    filler = max(0, pages - real)
    first_id = max(int(i) for i in _ID.findall(text)) + 1
    with open(path, "wb") as out:
        out.write(text[:end])
        for element in synthetic_page_elements(filler, first_id=first_id, skip=real_titles):
            out.write(element.encode("utf-8"))
        out.write(text[end:])
    return real, filler
