"""A page's wikitext, and the article rendered from it as plain text or HTML.

The wikitext is taken from the page's last ``<text>`` element (XML-unescaped)
and parsed once by mwparserfromhell; ``render`` walks that tree into the
plain text of ``/text`` or the safe HTML of ``/html``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

from .render import article_html, article_text, parse

__all__ = ["page_html", "page_text", "wikitext_of"]

_TEXT = re.compile(rb"<text\b[^>]*?(?:/>|>(.*?)</text>)", re.DOTALL)


def wikitext_of(page_xml: bytes) -> str:
    """The wikitext of the page's last revision ('' if it has none)."""
    texts = _TEXT.findall(page_xml)
    if not texts or not texts[-1]:
        return ""
    return unescape(texts[-1].decode("utf-8", "replace"))


def page_text(title: str, page_xml: bytes) -> str:
    """``title``, a blank line, and the article as plain text."""
    body = article_text(parse(wikitext_of(page_xml))).strip()
    return f"{title}\n\n{body}\n"


def page_html(page_xml: bytes, exists: Callable[[str], bool]) -> str:
    """The article as an HTML fragment; ``exists`` tells a working link from a missing one."""
    return article_html(parse(wikitext_of(page_xml)), exists)
