"""Wikitext to safe HTML, and to plain text, from one mwparserfromhell tree.

Why our own walker: a wiki page's markup is hostile input.  The tree is
walked node by node and only what this module writes reaches the output:
a fixed set of tags, attributes chosen here (``href`` built from a title or a
checked URL, ``class``, ``id`` slugs, numeric ``colspan``/``rowspan``), and
every piece of text escaped.  Nothing the wikitext says about tags or
attributes is copied, so it cannot inject script, event handlers or styles.

Templates cannot be expanded without the wiki's template pages, so a few
common inline ones are rendered by hand (``lang``, ``convert``, ``main``,
``sfn`` ...) and the rest are dropped.  A dropped node leaves a marker that
``_close_gaps`` uses to mend the text around it ("from the Greek (, )" ->
"from the Greek"), so removals do not leave stray punctuation.

The same walk with ``html=False`` gives the plain text of ``/text``: no
tables, footnotes or hatnotes, headings and list items on lines of their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from html import escape
from typing import TypeGuard
from urllib.parse import quote

import mwparserfromhell
from mwparserfromhell.nodes import (
    Comment,
    ExternalLink,
    Heading,
    HTMLEntity,
    Node,
    Tag,
    Template,
    Text,
    Wikilink,
)
from mwparserfromhell.smart_list import SmartList
from mwparserfromhell.wikicode import Wikicode

__all__ = ["article_html", "article_text", "link_targets", "parse"]

GAP = "\x00"  # where a node was dropped; XML (so a dump) cannot contain NUL
_SECTION = re.compile(r"(?=^=+[^=\n].*=+[ \t]*$)", re.M)
_TABLE_OPEN = re.compile(r"^([ \t:]*)\{\|[^\n]*", re.M)
_CELL_LINE = re.compile(r"^[|!].*$", re.M)
_REDIRECT = re.compile(r"\A\s*#REDIRECT\s*:?\s*\[\[([^\[\]|]*)(?:\|[^\]]*)?\]\]", re.I)
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_APOSTROPHES = re.compile(r"'{2,}")
_LEFTOVER = re.compile(r"\[\[|\]\]|\{\{|\}\}|\{\||\|\}")
# Markup the parser left as text (it does, where it cannot match a tag up): never shown.
_STRAY_REF = re.compile(r"<ref\b[^>]*/>|<ref\b[^>]*>.*?</ref\s*>", re.DOTALL | re.IGNORECASE)
_STRAY_TAG = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>")
# "See {{dropped}}." says nothing once the template is gone: the sentence goes too.
_DANGLING_SEE = re.compile(r"(?:^|(?<=[.!?] ))(?:[Ss]ee(?: also)?|[Cc]f\.?)\x00[.;:]? ?", re.M)
_SLUG = re.compile(r"[^\w-]+")
_URL = re.compile(r"(?i)^(?:https?:|ftp:|mailto:|//)[^\s\x00-\x1f\"<>]+$")
_NUMBER = re.compile(r"^\s*\d{1,3}\s*$")
_HIDDEN_NAMESPACES = frozenset({"file", "image", "media", "category"})
_INTERLANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z]{2,8})*$")
_TEXT_INTERWIKI = frozenset({"wikt", "wiktionary", "s", "wikisource", "q", "wikiquote", "b"})

# Tags whose name (lower case) is echoed, without any of the wikitext's attributes.
_INLINE_TAGS = {
    "b": "b", "strong": "strong", "i": "i", "em": "em", "u": "u", "s": "s", "strike": "s",
    "del": "del", "ins": "ins", "sub": "sub", "sup": "sup", "small": "small", "big": "big",
    "code": "code", "tt": "code", "kbd": "kbd", "var": "var", "samp": "samp", "cite": "cite",
    "q": "q", "abbr": "abbr",
}  # fmt: skip
_TRANSPARENT_TAGS = frozenset({"span", "font", "onlyinclude", "includeonly", "abbr", "bdi"})
_DROPPED_TAGS = frozenset(
    {
        "script", "style", "gallery", "imagemap", "timeline", "graph", "templatedata",
        "noinclude", "mapframe", "maplink", "score", "inputbox", "categorytree", "section",
    }
)  # fmt: skip
_BLOCK_TAGS = frozenset({"div", "center", "blockquote", "poem", "pre", "source", "hr"})
_BLOCK_TAGS |= {"syntaxhighlight", "references", "table", "ul", "ol", "dl", "p"}
_LIST_MARKUP = {"*": ("ul", "li"), "#": ("ol", "li"), ":": ("dl", "dd"), ";": ("dl", "dt")}
_HATNOTES = {"main": "Main article", "see also": "See also", "further": "Further information"}
_HATNOTES |= {"details": "Further information", "main article": "Main article"}
_DROPPED_INLINE = frozenset({"citation needed", "cn", "clarify", "ipac-en", "ipa", "respell"})
_RANGE_WORDS = frozenset({"-", "\u2013", "to", "and", "or", "x", "by", "+/-", "±"})
_SIMPLE_TEMPLATES = frozenset({"nowrap", "smaller", "small", "sc", "vanchor", "nobold", "nobr"})
_SIMPLE_TEMPLATES |= {"linktext", "polytonic", "script", "unicode", "transl", "lang-x"}
_CODE_ESCAPES = {ord(c): f"&#{ord(c)};" for c in "[]{}|"}
_NOTE_TEMPLATES = frozenset({"reflist", "references", "notelist", "refbegin"})


def parse(wikitext: str) -> Wikicode:
    """The wikitext's tree (a GAP character in the text is removed first).

    A redirect page ("#REDIRECT [[Target]]", which would read as a numbered
    list) becomes a sentence that links to its target.  Each section is parsed
    on its own, so markup the parser cannot place spoils one section at most.
    """
    wikitext = _REDIRECT.sub(r"Redirect to [[\1]].", wikitext.replace(GAP, ""), count=1)
    nodes = []
    for section in _SECTION.split(wikitext):
        if section:
            nodes.extend(mwparserfromhell.parse(_mend_tables(section)).nodes)
    return Wikicode(SmartList(nodes))  # type: ignore[no-untyped-call]  # unannotated library


def _mend_tables(wikitext: str) -> str:
    """Take away what makes mwparserfromhell give up on a table and leave its markup as text:
    a table's own attributes (never shown) and bold or italics left open in a cell."""
    if "{|" not in wikitext:
        return wikitext
    wikitext = _TABLE_OPEN.sub(r"\1{|", wikitext)
    return _CELL_LINE.sub(_close_quotes, wikitext)


def _close_quotes(match: re.Match[str]) -> str:
    line = match.group(0)
    if line.count("'''") % 2 == 0 and line.count("''") % 2 == 0:
        return line
    return line.replace("'''", "").replace("''", "")


def article_html(code: Wikicode, exists: Callable[[str], bool] | None = None) -> str:
    """The article as an HTML fragment; ``exists(title)`` says whether a link's target exists."""
    return _Renderer(exists, html=True).document(code)


def article_text(code: Wikicode) -> str:
    """The article as plain text: paragraphs, headings and list items, blank lines between."""
    return _Renderer(None, html=False).document(code)


def link_targets(code: Wikicode) -> list[str]:
    """Titles of the internal links a reader sees (not those in templates, files, categories)."""
    out: list[str] = []
    pending = list(code.nodes)
    while pending:
        node = pending.pop()
        if isinstance(node, Wikilink):
            target = _link_target(str(node.title))
            if target:
                out.append(target)
        elif isinstance(node, Tag) and node.contents is not None:
            if str(node.tag).strip().lower() not in _DROPPED_TAGS:
                pending.extend(node.contents.nodes)
        elif isinstance(node, Heading):
            pending.extend(node.title.nodes)
    return out[::-1]


def _link_target(raw: str) -> str | None:
    """The page an internal link opens, or None (a file, category, other language, anchor)."""
    title = " ".join(raw.replace("_", " ").split())
    if title.startswith(":"):
        title = title[1:].strip()
    elif ":" in title:
        prefix = title.split(":", 1)[0].strip().lower()
        if prefix in _HIDDEN_NAMESPACES or _INTERLANGUAGE.match(prefix):
            return None
    if title.split(":", 1)[0].strip().lower() in _TEXT_INTERWIKI and ":" in title:
        return None
    title = title.split("#", 1)[0].strip()
    if not title or "\x00" in title or "<" in title or "{" in title:
        return None
    return title


def _slug(text: str) -> str:
    return "s-" + _SLUG.sub("_", text.strip()).strip("_")[:80]


def _close_gaps(text: str) -> str:
    """Mend the text around dropped nodes: no empty brackets, no space before punctuation."""
    if GAP not in text:
        return text
    text = re.sub(r"[ \t]*\x00[\x00 \t]*", GAP, text)
    text = _DANGLING_SEE.sub("", text)
    text = re.sub(r" ?[(\[](?:[\s,;:\x00]|&nbsp;)*\x00(?:[\s,;:\x00]|&nbsp;)*[)\]]", GAP, text)
    text = re.sub(r"([(\[])\x00[\s,;:]*", r"\1", text)
    text = re.sub(r"[\s,;:]*\x00([)\]])", r"\1", text)
    text = re.sub(r"\x00+(?=[,.;:!?)\]])", "", text)
    text = re.sub(r"(?<=\S)\x00+(?=\S)", " ", text)
    text = re.sub(r"(?<=[,;:])\x00+(?=[,;:])", "", text)
    return text.replace(GAP, "")


class _Line:
    """One source line: its list markers (``*#:;``) and its rendered inline parts."""

    __slots__ = ("parts", "prefix")

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.parts: list[str] = []

    def empty(self) -> bool:
        return not "".join(self.parts).replace(GAP, "").strip()


class _Renderer:
    """One article's walk; ``html`` picks HTML or plain text output."""

    def __init__(self, exists: Callable[[str], bool] | None, html: bool) -> None:
        self.exists = exists
        self.html = html
        self.notes: list[str] = []
        self.note_names: dict[str, int] = {}
        self.notes_shown = 0
        self.external = 0
        self.slugs: set[str] = set()

    # ------------------------------------------------------------ helpers

    def esc(self, text: str) -> str:
        return escape(text, quote=True) if self.html else text

    def wrap(self, tag: str, inner: str, attrs: str = "") -> str:
        if not inner.replace(GAP, "").strip():
            return GAP
        if not self.html:
            return inner
        return f"<{tag}{attrs}>{inner}</{tag}>"

    def code(self, text: str) -> str:
        """Escape source text (math, code); wiki markup characters become references too."""
        if not self.html:
            return text
        return escape(text, quote=True).translate(_CODE_ESCAPES)

    # ------------------------------------------------------------ blocks

    def document(self, code: Wikicode) -> str:
        body = self.blocks(code.nodes)
        if self.html and len(self.notes) > self.notes_shown:
            body += self.footnotes()
        return body if self.html else body.strip() + "\n"

    def blocks(self, nodes: Iterable[Node]) -> str:
        """Render nodes that may hold paragraphs, lists, headings and tables."""
        items: list[_Line | str] = []
        line = _Line()
        items.append(line)

        def new_line(prefix: str = "") -> _Line:
            fresh = _Line(prefix)
            items.append(fresh)
            return fresh

        for node in nodes:
            if isinstance(node, Text):
                pieces = node.value.split("\n")
                for i, piece in enumerate(pieces):
                    if i:
                        line = new_line()
                    if piece:
                        line.parts.append(self.text(piece))
            elif isinstance(node, Tag) and node.wiki_markup in _LIST_MARKUP:
                marker = str(node.wiki_markup)
                if line.empty() and (not line.parts or line.prefix):
                    line.prefix += marker
                    line.parts.clear()
                elif marker == ":" and line.prefix.endswith(";"):
                    line = new_line(line.prefix[:-1] + ":")
                else:
                    line.parts.append(self.text(marker))
            elif self._is_block(node):
                items.append(self.block(node))
                line = new_line()
            else:
                line.parts.append(self.inline_node(node))
        return self._assemble(items)

    def _is_block(self, node: Node) -> bool:
        if isinstance(node, Heading):
            return True
        if isinstance(node, Tag):
            return str(node.tag).strip().lower() in _BLOCK_TAGS
        if isinstance(node, Template):
            name = _template_name(node)
            return name in _HATNOTES or name in _NOTE_TEMPLATES or name in ("quote", "blockquote")
        return False

    def _assemble(self, items: list[_Line | str]) -> str:
        out: list[str] = []
        paragraph: list[str] = []
        lists: list[tuple[str, str]] = []  # open (list tag, item tag) per level

        def flush_paragraph() -> None:
            if paragraph:
                text = _close_gaps("\n".join(paragraph)).strip()
                if text:
                    out.append(self.wrap("p", text))
                paragraph.clear()

        listing: list[str] = []  # the open lists' HTML (or the items' lines)

        def close_lists(depth: int = 0) -> None:
            while len(lists) > depth:
                list_tag, item_tag = lists.pop()
                listing.append(f"</{item_tag}></{list_tag}>")
            if not depth and listing:
                out.append(("" if self.html else "\n").join(listing))
                listing.clear()

        for item in items:
            if isinstance(item, str):
                flush_paragraph()
                close_lists()
                if item:
                    out.append(item)
                continue
            if item.prefix:
                flush_paragraph()
                self._list_item(item, lists, listing, close_lists)
                continue
            close_lists()
            if item.empty():
                flush_paragraph()
            else:
                paragraph.append("".join(item.parts).strip())
        flush_paragraph()
        close_lists()
        joiner = "\n" if self.html else "\n\n"
        if self.html:
            return joiner.join(out)
        return joiner.join(part for part in out if part.strip())

    def _list_item(
        self,
        item: _Line,
        lists: list[tuple[str, str]],
        out: list[str],
        close_lists: Callable[[int], None],
    ) -> None:
        wanted = [_LIST_MARKUP[c] for c in item.prefix]
        content = _close_gaps("".join(item.parts)).strip()
        if not self.html:
            if content:
                out.append(content)
            return
        common = 0
        while common < min(len(lists), len(wanted)) and lists[common][0] == wanted[common][0]:
            common += 1
        if common == len(wanted):  # a sibling item (after closing deeper lists)
            close_lists(common)
            out.append(f"</{lists[-1][1]}><{wanted[-1][1]}>{content}")
            lists[-1] = wanted[-1]
            return
        close_lists(common)
        for level in range(common, len(wanted)):
            list_tag, item_tag = wanted[level]
            out.append(f"<{list_tag}><{item_tag}>")
            lists.append(wanted[level])
        out.append(content)

    def block(self, node: Node) -> str:
        if isinstance(node, Heading):
            return self.heading(node)
        if isinstance(node, Template):
            return self.block_template(node)
        assert isinstance(node, Tag)
        name = str(node.tag).strip().lower()
        if name == "table":
            return self.table(node) if self.html else ""
        if name == "references":
            return self.footnotes(node) if self.html else ""
        if name == "hr":
            return "<hr>" if self.html else ""
        if name in ("pre", "source", "syntaxhighlight"):
            source = str(node.contents) if node.contents is not None else ""
            return self.wrap("pre", self.code(source.strip("\n")))
        inner = self.blocks(node.contents.nodes) if node.contents is not None else ""
        if name in ("ul", "ol", "dl", "p"):
            return inner
        if name == "blockquote":
            return self.wrap("blockquote", inner)
        if name == "poem":
            return self.wrap("div", inner.replace("\n", "<br>\n"), ' class="poem"')
        return self.wrap("div", inner)

    def heading(self, node: Heading) -> str:
        title = _close_gaps(self.inline(node.title.nodes)).strip()
        if not self.html:
            return title
        level = min(max(node.level, 2), 6)
        slug = _slug(node.title.strip_code())
        while slug in self.slugs:
            slug += "_"
        self.slugs.add(slug)
        return f'<h{level} id="{escape(slug)}">{title}</h{level}>'

    def table(self, node: Tag) -> str:
        rows: list[str] = []
        caption = ""
        cells: list[str] = []
        for child in node.contents.nodes if node.contents is not None else ():
            if not isinstance(child, Tag):
                continue
            name = str(child.tag).lower()
            if name == "tr":
                if cells:
                    rows.append("<tr>" + "".join(cells) + "</tr>")
                    cells = []
                cells = [self.cell(c) for c in child.contents.nodes if _is_cell(c)]
                if cells:
                    rows.append("<tr>" + "".join(cells) + "</tr>")
                cells = []
            elif name in ("td", "th"):
                text = str(child.contents)
                if not rows and not cells and text.startswith("+"):
                    inner = self.inline(mwparserfromhell.parse(text[1:]).nodes)
                    caption = f"<caption>{_close_gaps(inner).strip()}</caption>"
                else:
                    cells.append(self.cell(child))
        if cells:
            rows.append("<tr>" + "".join(cells) + "</tr>")
        if not rows:
            return ""
        return f'<table class="wikitable">{caption}<tbody>{"".join(rows)}</tbody></table>'

    def cell(self, node: Tag) -> str:
        name = "th" if str(node.tag).lower() == "th" else "td"
        attrs = ""
        for attribute in node.attributes:
            key = str(attribute.name).strip().lower()
            value = str(attribute.value) if attribute.value is not None else ""
            if key in ("colspan", "rowspan") and _NUMBER.match(value):
                attrs += f' {key}="{int(value)}"'
        inner = self.blocks(node.contents.nodes) if node.contents is not None else ""
        if inner.startswith("<p>") and inner.endswith("</p>") and inner.count("<p>") == 1:
            inner = inner[3:-4]
        return f"<{name}{attrs}>{inner}</{name}>"

    def footnotes(self, node: Tag | Template | None = None) -> str:
        """The footnotes not shown yet, as a numbered list (where ``<references/>`` was)."""
        first = self.notes_shown
        if first >= len(self.notes):
            return ""
        self.notes_shown = len(self.notes)
        items = "".join(
            f'<li id="cite-{number}">{text}</li>'
            for number, text in enumerate(self.notes[first:], start=first + 1)
        )
        return f'<ol class="references" start="{first + 1}">{items}</ol>'

    def block_template(self, node: Template) -> str:
        name = _template_name(node)
        if name in _NOTE_TEMPLATES:
            return self.footnotes(node) if self.html else ""
        if name in ("quote", "blockquote"):
            text = _param(node, "text", 1)
            if text is None:
                return ""
            return self.wrap("blockquote", self.blocks(text.nodes))
        if not self.html:
            return ""
        links = []
        for param in node.params:
            if param.showkey:
                continue
            target, _, label = str(param.value).replace("{{!}}", "|").strip().partition("|")
            if _link_target(target) is not None:
                links.append(self.internal_link(target, self.esc(label.strip()) or None))
        if not links:
            return ""
        label = _HATNOTES[name]
        return f'<p class="hatnote">{label}: {", ".join(links)}</p>'

    # ------------------------------------------------------------ inline

    def inline(self, nodes: Iterable[Node]) -> str:
        return "".join(self.inline_node(node) for node in nodes)

    def text(self, value: str) -> str:
        value = _MAGIC_WORD.sub("", value)
        if "<" in value:
            value = _STRAY_TAG.sub(GAP, _STRAY_REF.sub(GAP, value))
        value = _LEFTOVER.sub("", _APOSTROPHES.sub("", value))
        return self.esc(value)

    def inline_node(self, node: Node) -> str:
        if isinstance(node, Text):
            return self.text(node.value.replace("\n", " "))
        if isinstance(node, Wikilink):
            return self.wikilink(node)
        if isinstance(node, ExternalLink):
            return self.external_link(node)
        if isinstance(node, Template):
            return self.template(node)
        if isinstance(node, Tag):
            return self.tag(node)
        if isinstance(node, HTMLEntity):
            return self.esc(node.normalize())
        if isinstance(node, Heading):
            return self.inline(node.title.nodes)
        if isinstance(node, Comment):
            return ""
        return GAP  # template arguments and anything unknown

    def tag(self, node: Tag) -> str:
        name = str(node.tag).strip().lower()
        contents = node.contents.nodes if node.contents is not None else []
        if node.wiki_markup in ("''", "'''"):
            return self.wrap("i" if node.wiki_markup == "''" else "b", self.inline(contents))
        if name == "ref":
            return self.reference(node)
        if name == "br":
            return "<br>" if self.html else " "
        if name == "nowiki":
            return self.code(str(node.contents or ""))
        if name == "math" or name == "chem" or name == "ce":
            return self.wrap("code", self.code(str(node.contents or "").strip()), ' class="math"')
        if name in _DROPPED_TAGS:
            return GAP
        if name in _INLINE_TAGS:
            return self.wrap(_INLINE_TAGS[name], self.inline(contents))
        if name in _TRANSPARENT_TAGS or name in _BLOCK_TAGS:
            return self.inline(contents)
        if name in ("td", "th", "tr", "li", "dd", "dt", "caption"):
            return self.inline(contents)
        return self.inline(contents) if contents else GAP

    def reference(self, node: Tag) -> str:
        if not self.html:
            return GAP
        name = None
        for attribute in node.attributes:
            if str(attribute.name).strip().lower() == "name":
                name = str(attribute.value).strip().strip("\"'")
        text = ""
        if node.contents is not None and not node.self_closing:
            text = _close_gaps(self.inline(node.contents.nodes)).strip()
        return self.note(text, name)

    def note(self, text: str, name: str | None = None) -> str:
        """A footnote mark; the note itself is listed by ``footnotes``."""
        if name is not None and name in self.note_names:
            number = self.note_names[name]
            if text and not self.notes[number - 1]:
                self.notes[number - 1] = text
        else:
            self.notes.append(text)
            number = len(self.notes)
            if name is not None:
                self.note_names[name] = number
        return f'<sup class="reference"><a href="#cite-{number}">[{number}]</a></sup>'

    def wikilink(self, node: Wikilink) -> str:
        raw = str(node.title)
        target = _link_target(raw)
        label = None
        if node.text is not None:
            label = _close_gaps(self.inline(node.text.nodes)).strip()
        if target is None:
            prefix = raw.split(":", 1)[0].strip().lower() if ":" in raw else ""
            if prefix in _TEXT_INTERWIKI or (not prefix and "#" in raw):
                return label or self.esc(raw.strip().lstrip(":").split("#")[-1])
            return GAP
        return self.internal_link(target, label)

    def internal_link(self, target: str, label: str | None) -> str:
        if not label:
            label = self.esc(" ".join(target.replace("_", " ").split()))
        title = _link_target(target)
        if not self.html or title is None:
            return label
        href = "/#" + quote(title.replace(" ", "_"), safe="")
        missing = self.exists is not None and not self.exists(title)
        css = ' class="missing"' if missing else ""
        return f'<a href="{escape(href)}"{css} title="{escape(title)}">{label}</a>'

    def external_link(self, node: ExternalLink) -> str:
        url = str(node.url).strip()
        label = None
        if node.title is not None:
            label = _close_gaps(self.inline(node.title.nodes)).strip()
        if not _URL.match(url):
            return label if label is not None else self.esc(url)
        if not self.html:
            return label or ("" if node.brackets else url)
        if not label:
            if node.brackets:
                self.external += 1
                label = f"[{self.external}]"
            else:
                label = escape(url)
        attrs = f' class="external" rel="nofollow noopener noreferrer" href="{escape(url)}"'
        return f"<a{attrs}>{label}</a>"

    def template(self, node: Template) -> str:
        name = _template_name(node)
        positional = [p.value for p in node.params if not p.showkey]
        if name in ("lang", "transl", "transliteration") and positional:
            return self.wrap("i", self.inline(positional[-1].nodes))
        if name.startswith("lang-") and positional:
            return self.wrap("i", self.inline(positional[0].nodes))
        if name in _SIMPLE_TEMPLATES and positional:
            return self.inline(positional[0].nodes)
        if name == "convert" and positional:
            return self.convert(positional)
        if name in ("sfn", "sfnp", "harvnb") and positional:
            return self.short_note(node, positional)
        if name in ("refn", "efn") and positional:
            return self.note(_close_gaps(self.inline(positional[0].nodes)).strip())
        if name == "nihongo" and positional:
            english = self.inline(positional[0].nodes)
            if len(positional) > 1 and str(positional[1]).strip():
                return f"{english} ({self.inline(positional[1].nodes)})"
            return english
        if name == "angbr" and positional:
            return "⟨" + self.inline(positional[0].nodes) + "⟩"
        if name == "chem":
            return self.wrap("span", "".join(self.esc(str(p).strip()) for p in positional))
        if name == "'s":
            return "'s"
        if name in ("as of",) and positional:
            return "As of " + " ".join(self.esc(str(p).strip()) for p in positional[:3])
        if name == "frac" and positional:
            return self.esc("/".join(str(p).strip() for p in positional[-2:]))
        if name == "val" and positional:
            return self.esc(str(positional[0]).strip())
        if name == "hlist":
            return " · ".join(self.inline(p.nodes).strip() for p in positional if str(p).strip())
        if name in _DROPPED_INLINE:
            return GAP
        return GAP

    def convert(self, positional: list[Wikicode]) -> str:
        values = [str(p).strip() for p in positional]
        if len(values) >= 4 and values[1] in _RANGE_WORDS:
            sep = "\u2013" if values[1] in ("-", "\u2013") else f" {values[1]} "
            return self.esc(f"{values[0]}{sep}{values[2]} {values[3]}")
        if len(values) >= 2:
            return self.esc(f"{values[0]} {values[1]}")
        return self.esc(values[0])

    def short_note(self, node: Template, positional: list[Wikicode]) -> str:
        if not self.html:
            return GAP
        parts = [str(p).strip() for p in positional]
        text = " ".join(parts[:-1]) + (f" {parts[-1]}" if parts[-1:] else "")
        for key, label in (("p", "p."), ("pp", "pp."), ("loc", "")):
            if node.has(key):
                text += f", {label} {str(node.get(key).value).strip()}".rstrip()
        return self.note(escape(text.strip()))


def _template_name(node: Template) -> str:
    return " ".join(str(node.name).replace("_", " ").split()).lower()


def _param(node: Template, name: str, position: int) -> Wikicode | None:
    for key in (name, str(position)):
        if node.has(key):
            return node.get(key).value
    return None


def _is_cell(node: Node) -> TypeGuard[Tag]:
    return isinstance(node, Tag) and str(node.tag).lower() in ("td", "th")
