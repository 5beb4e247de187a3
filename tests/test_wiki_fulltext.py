"""Full-text search, OpenSearch and /random over real sockets, on the real sample."""

from __future__ import annotations

import bz2
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

pytest.importorskip("marisa_trie")
pytest.importorskip("mwparserfromhell")

from manycore.apps.wiki import WikiIndex, build_index, fulltext, fulltext_open
from manycore.apps.wiki.fulltext import QueryError, plain_words, snippet
from manycore.apps.wiki.fulltext_sqlite import to_match
from manycore.testing import ServerProcess
from test_wiki_app import Client, client_fixture, serve, server_fixture  # noqa: F401  (fixtures: server, client)
from test_wiki_index import SAMPLE, write_multistream

BODY_ONLY = "abacist"  # in the text of Abacus, in no title
# Both engines where this Python has tantivy; SQLite FTS5 (the fallback) everywhere.
FULLTEXT_ENGINES = ["sqlite", *(["tantivy"] if fulltext.importable("tantivy") else [])]


@pytest.fixture(scope="module")
def sample_xml() -> bytes:
    return bz2.decompress(SAMPLE.read_bytes())


@pytest.fixture(scope="module", params=FULLTEXT_ENGINES)
def built(request, tmp_path_factory, sample_xml) -> dict[str, Path]:
    engine = request.param
    root = tmp_path_factory.mktemp(f"fulltext-{engine}")
    plain = root / "sample.xml"
    plain.write_bytes(sample_xml)
    multi = root / "sample-multistream.xml.bz2"
    write_multistream(sample_xml, multi)
    return {
        "xml": build_index(plain, root / "xml.index", progress=False, fulltext=engine).directory,
        "multistream": build_index(
            multi, root / "multi.index", progress=False, fulltext=engine
        ).directory,
        "titles only": build_index(plain, root / "titles.index", progress=False).directory,
    }


def titles(hits: list[dict]) -> list[str]:
    return [hit["title"] for hit in hits]


def test_a_word_only_in_an_articles_body_is_found_on_every_engine(built, engine, workers):
    with WikiIndex.open(built["xml"]) as index:
        assert not [
            index.title(i) for i in range(len(index)) if BODY_ONLY in index.title(i).lower()
        ]
    with serve(built["xml"], engine, workers) as running:
        c = Client(running)
        try:
            assert c.json("/search?q=" + BODY_ONLY) == []  # no title has it
            for _ in range(2 * workers):  # every worker's own connection answers
                hits = c.json("/fulltext?q=" + BODY_ONLY)
                assert titles(hits) == ["Abacus"]
                assert f"<mark>{BODY_ONLY}</mark>" in hits[0]["snippet"]
                assert hits[0]["score"] > 0
        finally:
            c.close()


def test_phrases_ranking_limits_and_marked_words(client):
    hits = client.json("/fulltext?q=" + quote('"counting frame"'))
    assert titles(hits)[0] == "Abacus"
    assert "<mark>counting</mark> <mark>frame</mark>" in hits[0]["snippet"]
    assert "Abacus" not in titles(client.json("/fulltext?q=" + quote('"frame counting"')))
    words = client.json("/fulltext?q=counting+frame&limit=20")
    assert len(words) > len(hits)  # both words anywhere: more articles than the phrase
    scores = [hit["score"] for hit in words]
    assert scores == sorted(scores, reverse=True)
    assert len(client.json("/fulltext?q=the&limit=3")) == 3
    assert len(client.json("/fulltext?q=the&limit=100000")) == 100  # clamped
    assert titles(client.json("/fulltext?q=ABACIST"))[0] == "Abacus"  # case does not matter
    assert titles(client.json("/fulltext?q=abacis*"))[0] == "Abacus"  # a prefix query
    diacritics = client.json("/fulltext?q=" + quote("Zürich"))
    assert diacritics == client.json("/fulltext?q=zurich")
    # The title counts more than the body: the article about Apollo comes first.
    assert titles(client.json("/fulltext?q=apollo"))[0] == "Apollo"


@pytest.mark.parametrize(
    "query",
    [
        "",
        '"',
        '"""',
        "*",
        "AND",
        "a OR b NOT c",
        "NEAR(a b, 2)",
        "title:abacus",
        "{body}: x",
        "^abacus",
        "-abacus",
        "abacus)",
        "\x00",
        "😀",
        "a" * 600,
        " ".join(["word"] * 40),
    ],
)
def test_no_query_is_a_server_error(client, query):
    status, headers, body = client.get("/fulltext?q=" + quote(query))
    assert status in (200, 400), body
    assert headers["content-type"] == "application/json"
    answer = json.loads(body)
    if status == 400:
        assert "query" in answer["error"]
    else:
        assert isinstance(answer, list)
    assert titles(client.json("/fulltext?q=" + BODY_ONLY)) == ["Abacus"]  # still serving


def test_an_index_without_full_text_says_how_to_build_it(built):
    with serve(built["titles only"]) as running:
        c = Client(running)
        try:
            status, headers, body = c.get("/fulltext?q=abacus")
        finally:
            c.close()
    assert status == 404
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert "manycore wiki build DUMP --fulltext" in error


def test_a_multistream_dump_finds_the_same(built, client):
    with serve(built["multistream"], "processes", 2) as running:
        c = Client(running)
        try:
            for query in (BODY_ONLY, "counting frame", '"political philosophy"', "apollo"):
                path = "/fulltext?q=" + quote(query)
                assert c.json(path) == client.json(path)
        finally:
            c.close()


def test_build_fulltext_on_the_command_line(tmp_path, sample_xml):
    dump = tmp_path / "sample.xml"
    dump.write_bytes(sample_xml)
    done = subprocess.run(
        [sys.executable, "-m", "manycore", "wiki", "build", str(dump), "--fulltext", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    engine = fulltext.default_engine()
    assert f"full text ({engine}) of 106 articles" in done.stderr
    with WikiIndex.open(tmp_path / "sample.index") as index:
        assert index.fulltext is not None and index.fulltext.engine == engine
        assert index.describe()["fulltext"]["articles"] == 106
        assert [h.key_id for h in index.fulltext.search(BODY_ONLY, 5)] == [index.lookup("Abacus")]
    command = [sys.executable, "-m", "manycore", "wiki", "build", str(dump), "-q", "--fulltext"]
    done = subprocess.run(
        [*command, "--fulltext-engine", "sqlite", "-o", str(tmp_path / "fts5.index")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "full text (sqlite) of 106 articles" in done.stderr
    wrong = subprocess.run(
        [*command, "--fulltext-engine", "lucene"], capture_output=True, text=True, timeout=60
    )
    assert wrong.returncode == 2
    assert "invalid choice: 'lucene'" in wrong.stderr and "Traceback" not in wrong.stderr


# ------------------------------------------------------------------ OpenSearch, /random


def test_opensearch_suggestions_have_wikipedias_shape(server, client):
    answer = client.json("/w/api.php?action=opensearch&search=anar&limit=3&format=json")
    assert answer == [
        "anar",
        ["Anarchism", "AnarchoCapitalism", "AnarchoCapitalists"],
        ["", "", ""],
        [f"{server.url}/#{t}" for t in ("Anarchism", "AnarchoCapitalism", "AnarchoCapitalists")],
    ]
    apollo = client.json("/w/api.php?action=opensearch&search=Apollo%201&format=json")
    assert apollo[1] == ["Apollo 11"]
    assert apollo[3] == [f"{server.url}/#Apollo_11"]
    assert client.json("/w/api.php?action=opensearch&format=json") == ["", [], [], []]
    default = client.json("/w/api.php?action=opensearch&search=a")
    assert len(default[1]) == 10 and len(default[2]) == len(default[3]) == 10
    for url in default[3]:  # every suggestion opens in the page
        title = unquote(url.rsplit("/#", 1)[1]).replace("_", " ")
        assert client.get("/html/" + quote(title, safe=""))[0] == 200
    status, _, body = client.get("/w/api.php?action=query&titles=Apollo")
    assert status == 400
    assert json.loads(body)["error"]["code"] == "badvalue"
    status, _, body = client.get("/w/api.php?action=opensearch&search=a&format=xml")
    assert status == 400


def test_the_opensearch_description_points_at_this_server(server, client):
    status, headers, body = client.get("/opensearch.xml")
    assert status == 200
    assert headers["content-type"] == "application/opensearchdescription+xml"
    ns = {"os": "http://a9.com/-/spec/opensearch/1.1/"}
    root = ET.fromstring(body)
    assert root.findtext("os:ShortName", namespaces=ns) == "manycore wiki"
    urls = {u.get("type"): u.get("template") for u in root.findall("os:Url", ns)}
    assert urls["text/html"] == f"{server.url}/?search={{searchTerms}}"
    suggestions = urls["application/x-suggestions+json"]
    assert suggestions.startswith(f"{server.url}/w/api.php?action=opensearch&")
    assert (
        client.json(suggestions.replace(server.url, "").replace("{searchTerms}", "anar"))[1][0]
        == "Anarchism"
    )
    page = client.get("/")[2]
    assert b'rel="search" type="application/opensearchdescription+xml"' in page
    assert b'href="/opensearch.xml"' in page
    # A Host that is not a host name never reaches the description: the server refuses it.
    status, headers, _ = client.get("/opensearch.xml", {"Host": 'x"/><script>'})
    assert status == 400 and headers["content-type"].startswith("text/plain")


def test_random_redirects_to_an_article(client):
    seen = set()
    with WikiIndex.open(client_index(client)) as index:
        for _ in range(30):
            status, headers, body = client.get("/random")
            assert status == 302 and body == b""
            assert headers["cache-control"] == "no-store"
            location = headers["location"]
            assert location.startswith("/#")
            title = unquote(location[2:]).replace("_", " ")
            key_id = index.lookup(title)
            assert key_id is not None and not index.is_redirect(key_id)
            assert unquote(headers["x-wiki-title"]) == title
            seen.add(title)
    assert len(seen) > 1


def client_index(client: Client) -> Path:
    return Path(client.json("/stats")["dump"]).parent / "xml.index"


def test_build_with_an_engine_this_python_lacks_is_one_clear_error(tmp_path, monkeypatch):
    dump = tmp_path / "sample.xml"
    dump.write_bytes(bz2.decompress(SAMPLE.read_bytes()))
    monkeypatch.setattr(fulltext, "importable", lambda module: False)
    assert fulltext.default_engine() == "sqlite"
    with pytest.raises(ValueError, match=r"tantivy is not installed.*--fulltext-engine sqlite"):
        build_index(dump, tmp_path / "x.index", progress=False, fulltext="tantivy")
    with pytest.raises(ValueError, match="unknown full-text engine 'lucene'"):
        build_index(dump, tmp_path / "x.index", progress=False, fulltext="lucene")
    assert not (tmp_path / "x.index").exists()


def test_an_index_built_with_tantivy_served_without_it_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(fulltext, "importable", lambda module: False)
    found = fulltext_open.open_fulltext(tmp_path, {"engine": "tantivy"})
    assert isinstance(found, fulltext_open.Unavailable)
    assert "--fulltext-engine sqlite" in found.reason and "pip install tantivy" in found.reason
    missing = fulltext_open.open_fulltext(tmp_path, None)
    assert "manycore wiki build DUMP --fulltext" in missing.reason


# ------------------------------------------------------------------ queries and snippets


def test_what_users_type_never_reaches_the_query_language():
    assert to_match('a "b c" d* NEAR( col:x "') == '"a" "b c" "d"* "NEAR" "col" "x"'
    assert to_match('"') == ""
    assert to_match("AND OR NOT") == '"AND" "OR" "NOT"'
    with pytest.raises(QueryError, match="longer than"):
        to_match("a" * 501)
    with pytest.raises(QueryError, match="more than 16 words"):
        to_match(" ".join("w" * 17))


def test_snippets_escape_the_text_and_mark_the_words():
    wikitext = "{{Infobox|x=abacus}}An '''abacus''' <b>is</b> a [[tool|tool]] & <script>x</script>."
    assert "abacus" in plain_words(wikitext)
    marked = snippet(wikitext, ["abacus", "too*"])
    assert marked == "An <mark>abacus</mark> is a <mark>tool</mark> &amp; x."


def test_the_demo_serves_full_text(tmp_path):
    command = [
        sys.executable,
        "-m",
        "manycore",
        "wiki",
        "demo",
        "--dir",
        str(tmp_path),
        "--pages",
        "400",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--engine",
        "processes",
        "--workers",
        "2",
    ]  # fmt: skip  (the workers are forked after the build ran in the same process)
    with ServerProcess("", command=command, ready_timeout=120) as running:
        c = Client(running)
        try:
            for _ in range(4):
                assert titles(c.json("/fulltext?q=" + BODY_ONLY)) == ["Abacus"]
        finally:
            c.close()


def test_threads_extracting_pages_at_once_never_close_each_others_source(built):
    """Parallel contexts on the threads engine (and a worker's pool threads) run extract_pages
    at the same moment: none may close a page source another is reading."""
    import json
    import threading

    from manycore.apps.wiki.fulltext_build import _articles, extract_pages

    directory = built["xml"]
    header = json.loads((directory / "manycore-wiki-index.json").read_text())
    rows = _articles(directory, header["namespace_codes"])
    parts = [rows[i : i + 1] for i in range(8)]  # one page each: the race is in opening
    failures: list[BaseException] = []
    for round_number in range(30):
        token = f"round-{round_number}"
        barrier = threading.Barrier(len(parts))

        def extract(part, token=token, barrier=barrier):
            barrier.wait()
            try:
                extract_pages(token, str(directory), header["source"], part)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=extract, args=(part,)) for part in parts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
