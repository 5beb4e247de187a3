"""The wiki HTTP application over real sockets (manycore wiki serve, manycore.apps.wiki.app)."""

from __future__ import annotations

import bz2
import http.client
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest

pytest.importorskip("marisa_trie")
pytest.importorskip("manycore.apps.wiki.text")  # through the package: see apps/wiki/_gil.py

from manycore.apps.wiki import WikiIndex, build_index
from manycore.testing import ServerProcess
from test_wiki_index import SAMPLE, expected_pages, write_multistream

SPECIAL_TITLES = [
    "AC/DC",
    "What? (film)",
    "C#",
    "100% (song)",
    "Zürich",
    "東京",
    "Hello World",
    "A&B",
    'Quote "this"',
    "Plus+Minus",
]


def serve(index_dir: Path, engine: str = "inline", workers: int = 1) -> ServerProcess:
    command = [
        sys.executable, "-m", "manycore", "wiki", "serve", str(index_dir),
        "--host", "127.0.0.1", "--port", "0", "--engine", engine, "--workers", str(workers),
    ]  # fmt: skip
    return ServerProcess("", command=command, ready_timeout=60)


class Client:
    """One keep-alive connection; ``get`` returns (status, headers, body)."""

    def __init__(self, server: ServerProcess) -> None:
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=30)

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        self.conn.request("GET", path, headers=headers or {})
        response = self.conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body

    def json(self, path: str):
        status, _, body = self.get(path)
        assert status == 200, (path, status, body[:200])
        return json.loads(body)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="module")
def sample_xml() -> bytes:
    return bz2.decompress(SAMPLE.read_bytes())


@pytest.fixture(scope="module")
def expected(sample_xml):
    return expected_pages(sample_xml)


@pytest.fixture(scope="module")
def built(tmp_path_factory, sample_xml) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wikiapp")
    plain = root / "sample.xml"
    plain.write_bytes(sample_xml)
    multi = root / "sample-multistream.xml.bz2"
    write_multistream(sample_xml, multi)
    special = root / "special.xml"
    special.write_bytes(special_export())
    return {
        name: build_index(dump, root / f"{name}.index", progress=False).directory
        for name, dump in (("xml", plain), ("multistream", multi), ("special", special))
    }


def special_export() -> bytes:
    from xml.sax.saxutils import escape

    pages = "".join(
        f"  <page>\n    <title>{escape(t)}</title>\n    <ns>0</ns>\n    <id>{i}</id>\n"
        f'    <revision>\n      <id>{i}</id>\n      <text xml:space="preserve">'
        f"'''{escape(t)}''' is a [[test]] page.</text>\n    </revision>\n  </page>\n"
        for i, t in enumerate(SPECIAL_TITLES, start=1)
    )
    return (
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11">\n'
        f"{pages}</mediawiki>\n"
    ).encode()


@pytest.fixture(scope="module", name="server")
def server_fixture(built):
    """The wiki served from the ``built`` XML index of the module that uses it."""
    with serve(built["xml"]) as running:
        yield running


@pytest.fixture(name="client")
def client_fixture(server):
    c = Client(server)
    yield c
    c.close()


def page_title(body: bytes) -> str:
    element = ET.fromstring(body)
    assert element.tag == "page"
    return element.findtext("title")


def test_every_title_serves_exactly_its_page(built, expected, engine, workers):
    with serve(built["xml"], engine, workers) as running:
        c = Client(running)
        try:
            for title in expected:
                status, headers, body = c.get("/wiki/" + quote(title) + "?redirect=no")
                assert status == 200, title
                assert headers["content-type"].startswith("application/xml")
                assert page_title(body) == title
                assert body.count(b"<page>") == 1
            # The work that leaves the event loop (text rendering) works on every engine too.
            assert c.get("/text/Anarchism")[2].startswith(b"Anarchism\n\nAnarchism is")
            assert c.json("/search?q=anar")[0]["title"] == "Anarchism"
        finally:
            c.close()


def test_redirects_are_followed_unless_asked_not_to(client, expected):
    for title, facts in expected.items():
        target = facts["redirect"]
        if target is None:
            continue
        status, headers, body = client.get("/wiki/" + quote(title))
        assert status == 200
        if target in expected:
            assert page_title(body) == target
            assert headers["content-location"] == "/wiki/" + quote(target, safe="")
        else:  # the target is not in this dump: the redirect page itself
            assert page_title(body) == title
    assert page_title(client.get("/wiki/AbacuS?redirect=no")[2]) == "AbacuS"
    assert page_title(client.get("/wiki/AbacuS")[2]) == "Abacus"


def test_unknown_titles_are_a_json_404(client):
    status, headers, body = client.get("/wiki/No%20such%20page")
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": "no page titled 'No such page'", "title": "No such page"}


def test_titles_round_trip_through_url_encoding(built):
    with serve(built["special"]) as running:
        c = Client(running)
        try:
            for title in SPECIAL_TITLES:
                status, headers, body = c.get("/wiki/" + quote(title, safe=""))
                assert status == 200, title
                assert page_title(body) == title
                assert headers["x-wiki-title"] == quote(title, safe="")
                hits = c.json("/search?q=" + quote(title, safe=""))
                assert hits[0]["title"] == title
                assert c.get("/text/" + quote(title, safe=""))[2].startswith(title.encode())
            assert page_title(c.get("/wiki/AC/DC")[2]) == "AC/DC"  # a bare slash works too
            assert page_title(c.get("/wiki/Hello_World")[2]) == "Hello World"
        finally:
            c.close()


def test_search_as_you_type(client):
    hits = client.json("/search?q=anar")
    assert hits[0] == {"title": "Anarchism", "ns": 0, "bytes": 190040}
    assert [h["title"] for h in hits] == [
        "Anarchism",
        "AnarchoCapitalism",
        "AnarchoCapitalists",
        "AnarchY",
    ]
    assert hits[3]["redirect_to"] == "Anarchy"
    apollo = client.json("/search?q=Apollo&limit=10")
    assert [h["title"] for h in apollo] == ["Apollo", "Apollo 11", "Apollo 8"]
    assert len(client.json("/search?q=A&limit=2")) == 2
    assert len(client.json("/search?q=A&limit=0")) == 1
    assert len(client.json("/search?q=A&limit=banana")) == 10
    assert len(client.json("/search?q=A&limit=5000")) > 100
    assert client.json("/search?q=") == []
    assert client.json("/search") == []


def test_offsets_are_pyparallel_compatible(client, sample_xml, expected):
    rows = client.json("/offsets/Ap")
    assert [r[0] for r in rows] == sorted(t for t in expected if t.startswith("Ap"))
    for title, start, end in rows:
        assert page_title(sample_xml[start:end]) == title
    assert client.json("/offsets/Zzz") == []


def test_xml_serves_byte_ranges_of_the_dump(client, sample_xml):
    status, headers, body = client.get("/xml", {"Range": "bytes=100-199"})
    assert status == 206
    assert body == sample_xml[100:200]
    assert headers["content-range"] == f"bytes 100-199/{len(sample_xml)}"
    start, end = client.json("/offsets/Anarchism")[0][1:]
    status, _, body = client.get("/xml", {"Range": f"bytes={start}-{end - 1}"})
    assert page_title(body) == "Anarchism"


def test_text_is_the_article_without_markup(client):
    status, headers, body = client.get("/text/Anarchism")
    assert status == 200
    assert headers["content-type"] == "text/plain; charset=utf-8"
    text = body.decode()
    assert text.startswith("Anarchism\n\nAnarchism is a political philosophy")
    assert "[[" not in text and "{{" not in text and "<ref" not in text
    status, headers, body = client.get("/text/AbacuS")  # a redirect: the target's text
    assert headers["x-wiki-title"] == "Abacus"
    assert body.startswith(b"Abacus\n\nThe abacus")
    assert client.get("/text/Nope")[0] == 404


def test_stats_reports_the_index_and_the_server(client):
    stats = client.json("/stats")
    assert stats["titles"] == 206
    assert stats["redirects"] == 100
    assert stats["index_bytes"] > 0
    assert stats["workers"] == 1
    assert stats["requests"] >= 1
    assert stats["title_search"] in ("compiled (Cython)", "pure Python")


def test_home_page_is_self_contained(client):
    status, headers, body = client.get("/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert b"/search" in body
    assert b"http://" not in body and b"https://" not in body  # no external assets


def test_a_multistream_dump_serves_the_same_bytes(built, expected, sample_xml):
    with (
        WikiIndex.open(built["xml"]) as plain,
        serve(built["multistream"], "processes", 2) as running,
    ):
        c = Client(running)
        try:
            for title in list(expected)[::5]:
                status, _, body = c.get("/wiki/" + quote(title) + "?redirect=no")
                assert status == 200
                assert body == plain.read_page(plain.lookup(title))
            assert c.json("/search?q=anar") == [h.as_json() for h in plain.search("anar")]
            status, _, body = c.get("/xml", {"Range": "bytes=100-199"})
            assert status == 206 and body == sample_xml[100:200]
            assert c.get("/xml")[0] == 416
            assert c.get("/text/Anarchism")[2].startswith(b"Anarchism\n\nAnarchism is")
        finally:
            c.close()
