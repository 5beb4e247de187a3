"""Rendered articles: /html/TITLE is safe HTML of the real sample, and wikitext cannot inject."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

pytest.importorskip("marisa_trie")
pytest.importorskip("mwparserfromhell")

import bz2

from manycore.apps.wiki import WikiIndex, build_index
from manycore.apps.wiki.render import article_html, article_text, link_targets, parse
from manycore.apps.wiki.text import wikitext_of
from test_wiki_app import Client, serve
from test_wiki_index import SAMPLE

# Every tag the renderer may write, with the attributes it may give it.
ALLOWED = {
    **dict.fromkeys(
        "p h2 h3 h4 h5 h6 b i u s del ins sub sup small big code kbd var samp cite q abbr em "
        "strong ul ol li dl dt dd blockquote pre tbody tr caption div span br hr".split(),
        frozenset(),
    ),
    "h2": frozenset({"id"}),
    "h3": frozenset({"id"}),
    "h4": frozenset({"id"}),
    "h5": frozenset({"id"}),
    "h6": frozenset({"id"}),
    "a": frozenset({"href", "class", "title", "rel"}),
    "sup": frozenset({"class"}),
    "code": frozenset({"class"}),
    "div": frozenset({"class"}),
    "p": frozenset({"class"}),
    "ol": frozenset({"class", "start"}),
    "li": frozenset({"id"}),
    "table": frozenset({"class"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan"}),
}
VOID = frozenset({"br", "hr"})
SAFE_HREF = re.compile(r"^(?:/#[^\s\"<>]+|#cite-\d+|https?://\S+|ftp://\S+|mailto:\S+|//\S+)$")


class StrictParser(HTMLParser):
    """Parses an HTML fragment; fails on a tag or attribute outside ``ALLOWED`` or bad nesting."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.links: list[dict[str, str]] = []
        self.headings: list[str] = []
        self.text: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED, f"tag <{tag}> is not allowed"
        for name, value in attrs:
            assert name in ALLOWED[tag], f"attribute {name}={value!r} on <{tag}>"
        values = {name: value or "" for name, value in attrs}
        if tag == "a":
            assert SAFE_HREF.match(values.get("href", "")), values
            self.links.append(values)
        if tag in ("td", "th"):
            for name in ("colspan", "rowspan"):
                assert values.get(name, "1").isdigit()
        if tag in ("h2", "h3", "h4", "h5", "h6"):
            self._heading = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in VOID, f"<{tag}/> is not a void element"
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag.startswith("h") and tag[1:].isdigit() and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._heading is not None:
            self._heading.append(data)

    def handle_comment(self, data: str) -> None:
        raise AssertionError(f"a comment reached the output: {data!r}")


def check(html: str) -> StrictParser:
    parser = StrictParser()
    parser.feed(html)
    parser.close()
    assert not parser.stack, f"unclosed {parser.stack}"
    return parser


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("render")
    dump = root / "sample.xml"
    dump.write_bytes(bz2.decompress(SAMPLE.read_bytes()))
    return dump, build_index(dump, root / "sample.index", progress=False).directory


def test_every_article_of_the_sample_renders_to_safe_html(sample):
    _, directory = sample
    with WikiIndex.open(directory) as index, serve(directory) as running:
        client = Client(running)
        articles = [i for i in range(len(index)) if not index.is_redirect(i)]
        assert len(articles) == 106
        for key_id in articles:
            title = index.title(key_id)
            status, headers, body = client.get("/html/" + quote(title, safe=""))
            assert status == 200, title
            assert headers["content-type"] == "text/html; charset=utf-8"
            assert headers["content-security-policy"].startswith("default-src 'none'")
            html = body.decode()
            for markup in ("[[", "{{", "'''", "|}"):
                assert markup not in html, (title, markup)
            parsed = check(html)
            shown = "".join(parsed.text)
            assert not re.search(r"\{\||\|-|!!|<ref", shown), (title, "markup shown as text")
            code = parse(wikitext_of(index.read_page(key_id)))
            headings = code.filter_headings()
            if headings:
                first = " ".join(headings[0].title.strip_code().split())
                assert first in parsed.headings, (title, first, parsed.headings[:3])
            present = [t for t in link_targets(code) if index.resolve(t) is not None]
            if present:
                working = [
                    unquote(a["href"][2:])
                    for a in parsed.links
                    if a["href"].startswith("/#") and "missing" not in a.get("class", "")
                ]
                assert working, title
                status, _, _ = client.get("/html/" + quote(working[0], safe=""))
                assert status == 200, (title, working[0])
            missing = [a for a in parsed.links if "missing" in a.get("class", "")]
            for link in missing[:3]:
                assert client.get("/html/" + link["href"][2:])[0] == 404
        client.close()


HOSTILE = """'''Bad''' page.<script>alert(1)</script>
<img src=x onerror=alert(2)> <span onmouseover="alert(3)" style="color:red">hover</span>
[javascript:alert(4) click me] [[javascript:alert(5)|x]] <a href="javascript:alert(6)">a</a>
[//example.com" onclick="alert(7) label] [http://example.com/"><script>alert(8)</script> y]
<div style="background:url(javascript:alert(9))" onclick="alert(10)">block</div>
{| onclick="alert(11)"
| style="x" onerror="alert(12)" colspan="2 onclick=alert(13)" | cell
|}
<ref name="a&quot; onclick=&quot;alert(14)">note</ref>
== <b onclick="alert(15)">Head</b> ==
<iframe src="javascript:alert(16)"></iframe><style>body{}</style><object data=x></object>
<svg onload=alert(17)></svg><math>x</math><nowiki><script>alert(18)</script></nowiki>
"""


def hostile_export() -> bytes:
    from xml.sax.saxutils import escape

    page = (
        "  <page>\n    <title>Hostile</title>\n    <ns>0</ns>\n    <id>1</id>\n"
        f'    <revision>\n      <id>1</id>\n      <text xml:space="preserve">{escape(HOSTILE)}'
        "</text>\n    </revision>\n  </page>\n"
    )
    return (
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11">\n'
        f"{page}</mediawiki>\n"
    ).encode()


def test_wikitext_cannot_inject_script_attributes_or_javascript_links(tmp_path):
    dump = tmp_path / "hostile.xml"
    dump.write_bytes(hostile_export())
    directory = build_index(dump, tmp_path / "hostile.index", progress=False).directory
    with serve(directory) as running:
        client = Client(running)
        status, _, body = client.get("/html/Hostile")
        client.close()
    assert status == 200
    html = body.decode()
    parsed = check(html)  # only allowed tags and attributes, safe hrefs
    lowered = html.lower()
    assert "<script" not in lowered and "<iframe" not in lowered and "<svg" not in lowered
    assert "javascript:" not in "".join(a["href"].lower() for a in parsed.links)
    assert not re.search(r"<[^>]*\son\w+\s*=", lowered)  # no event handler attribute
    assert not re.search(r"<[^>]*\sstyle\s*=", lowered)
    assert "alert(18)" in "".join(parsed.text)  # nowiki text is shown, as text
    assert "Head" in parsed.headings


def render(wikitext: str, exists=None) -> str:
    return article_html(parse(wikitext), exists)


def test_headings_lists_tables_and_footnotes():
    html = render(
        "Intro '''bold''' ''it''.<ref>First note</ref>\n\n== Section ==\n"
        "* one\n** one.one\n* two\n# first\n; term : definition\n"
        '{|\n|+ Caption\n! A !! B\n|-\n| colspan="2" | both\n|}\n'
        'Again.<ref name="x">Named</ref> And again.<ref name="x"/>\n<references/>\n'
    )
    check(html)
    assert "<p>Intro <b>bold</b> <i>it</i>." in html
    assert '<h2 id="s-Section">Section</h2>' in html
    assert "<ul><li>one<ul><li>one.one</li></ul></li><li>two</li></ul>" in html
    assert "<ol><li>first</li></ol>" in html
    assert "<dl><dt>term</dt><dd>definition</dd></dl>" in html
    assert "<caption>Caption</caption>" in html
    assert '<td colspan="2">both</td>' in html
    assert html.count('href="#cite-2"') == 2  # a named note is one footnote
    assert '<li id="cite-1">First note</li><li id="cite-2">Named</li>' in html


def test_links_say_whether_their_article_exists():
    html = render(
        "[[Apollo|the god]], [[Nowhere]], [[File:X.jpg|thumb|pic]], [[Category:Y]], "
        "[[de:Apollon]], [http://example.com/a Example] and [http://example.com/b].",
        exists=lambda title: title == "Apollo",
    )
    check(html)
    assert '<a href="/#Apollo" title="Apollo">the god</a>' in html
    assert '<a href="/#Nowhere" class="missing" title="Nowhere">Nowhere</a>' in html
    assert "X.jpg" not in html and "Category" not in html and "Apollon" not in html
    assert 'href="http://example.com/a">Example</a>' in html
    assert 'href="http://example.com/b">[1]</a>' in html


def test_dropped_templates_leave_no_gaps():
    text = article_text(
        parse(
            "Anarchy, from the Greek {{lang|grc|ἀναρχία}}, i.e. rulerless "
            "({{IPAc-en|aa|n|er|k|i|z|em}}; {{respell|AN|ər|kiz-əm}}) is {{convert|5|km}} away "
            "{{citation needed}}. See {{unknown template}}.\n{{Infobox|x=y}}\nNext."
        )
    )
    assert text == "Anarchy, from the Greek ἀναρχία, i.e. rulerless is 5 km away.\n\nNext.\n"
    assert "()" not in text and " ," not in text and " ." not in text
