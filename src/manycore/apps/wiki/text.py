"""Readable plain text from a page's XML: the wikitext of its last revision, markup stripped.

The wikitext is taken from the page's last ``<text>`` element (XML-unescaped)
and given to mwparserfromhell, a real wikitext parser: templates, tables,
references, comments, files and categories are dropped; links keep their
label; headings stay, on lines of their own, so the text reads like the article.
"""

from __future__ import annotations

import re
from html import unescape

import mwparserfromhell

__all__ = ["page_text", "wikitext_of"]

_TEXT = re.compile(rb"<text\b[^>]*?(?:/>|>(.*?)</text>)", re.DOTALL)
_REF = re.compile(r"<ref\b[^>/]*/>|<ref\b[^>]*>.*?</ref\s*>", re.DOTALL | re.IGNORECASE)
_TABLE = re.compile(r"^\{\|.*?^\|\}", re.DOTALL | re.MULTILINE)
_HIDDEN_LINKS = ("file:", "image:", "category:", "media:")
_BLANK_LINES = re.compile(r"\n{3,}")
_HEADING = re.compile(r"^(=+)\s*(.*?)\s*\1\s*$", re.MULTILINE)


def wikitext_of(page_xml: bytes) -> str:
    """The wikitext of the page's last revision ('' if it has none)."""
    texts = _TEXT.findall(page_xml)
    if not texts or not texts[-1]:
        return ""
    return unescape(texts[-1].decode("utf-8", "replace"))


def page_text(title: str, page_xml: bytes) -> str:
    """``title``, a blank line, and the article as plain text."""
    wikitext = _TABLE.sub("", _REF.sub("", wikitext_of(page_xml)))
    wikitext = _HEADING.sub(lambda m: f"\n{m.group(2)}\n", wikitext)
    code = mwparserfromhell.parse(wikitext)
    for link in code.filter_wikilinks(recursive=False):
        if str(link.title).strip().lower().startswith(_HIDDEN_LINKS):
            try:
                code.remove(link)
            except ValueError:  # already gone with an enclosing node
                pass
    body = code.strip_code(normalize=True, collapse=True)
    lines = [line.strip() for line in body.splitlines()]
    body = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return f"{title}\n\n{body}\n"
