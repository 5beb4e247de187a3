"""The reader's costs: HTML rendering per article, and full-text search at 1,000,000 articles.

Rendering: every article of the sample (106), parsed by mwparserfromhell and
walked into HTML (``text.page_html``), best of ``--rounds`` per article; the
p50 and the slowest article.

Full text: a plain export of ``--articles`` articles (default 1,000,000) made from
the sample's text: each article is one run of paragraphs (about 1 KB) of a real
article, under a numbered title, so words, markup and sizes are the sample's.
``build_index(..., fulltext=ENGINE)`` indexes it on every core; the build throughput
is MB of wikitext per second of the full-text phase, the size is the engine's
index against the wikitext.  Queries (in process, one thread, after a warm-up):
one word, two words, and a quoted two-word phrase, drawn from the sample's own
text with a fixed seed; p50/p99 of the BM25 search alone (top 10), and of what
``/fulltext`` does (search plus ten snippets cut from the pages).

Each engine (``--engines``, default tantivy and SQLite FTS5; tantivy only if
installed) builds and answers from the same corpus, in the same run.

The corpus is written under ``--dir`` (default /tmp/manycore-wiki-reader) and
deleted afterwards unless ``--keep``.

    python bench/wiki/reader.py                 # 1,000,000 articles
    python bench/wiki/reader.py --smoke         # 20,000 articles, in seconds
"""

from __future__ import annotations

import argparse
import bz2
import json
import random
import re
import shutil
import sys
import time
from html import escape, unescape
from pathlib import Path

from _common import MB, REPO, median, percentile

sys.path.insert(0, str(REPO / "src"))

from manycore.apps.wiki import WikiIndex, build_index
from manycore.apps.wiki import fulltext as ft
from manycore.apps.wiki.fulltext import ENGINES, importable
from manycore.apps.wiki.sample import SAMPLE_DUMP
from manycore.apps.wiki.text import page_html, wikitext_of
from manycore.work import shutdown_work_pools

PIECE_CHARS = 1000
QUERIES = 300


def sample_pages() -> list[tuple[str, bytes]]:
    xml = bz2.decompress(SAMPLE_DUMP.read_bytes())
    pages = re.findall(rb"<page>.*?</page>", xml, re.S)
    out = []
    for page in pages:
        if b"<redirect" in page:
            continue
        title = unescape(re.search(rb"<title>(.*?)</title>", page).group(1).decode())
        out.append((title, page))
    return out


# ------------------------------------------------------------------ rendering


def bench_rendering(rounds: int) -> dict:
    pages = sample_pages()
    best: dict[str, float] = {}
    for _ in range(rounds):
        for title, page in pages:
            began = time.perf_counter()
            page_html(page, lambda _title: True)
            took = time.perf_counter() - began
            best[title] = min(best.get(title, took), took)
    slowest = max(best, key=best.get)
    wikitext = {t: len(wikitext_of(p)) for t, p in pages}
    return {
        "articles": len(best),
        "p50_ms": round(median(list(best.values())) * 1e3, 2),
        "slowest_ms": round(best[slowest] * 1e3, 1),
        "slowest": slowest,
        "slowest_wikitext_kb": round(wikitext[slowest] / 1e3, 1),
    }


# ------------------------------------------------------------------ the corpus


def pieces() -> list[str]:
    """The sample's wikitext cut at paragraph breaks into runs of about PIECE_CHARS."""
    out = []
    for _, page in sample_pages():
        run = ""
        for paragraph in wikitext_of(page).split("\n\n"):
            run += paragraph + "\n\n"
            if len(run) >= PIECE_CHARS:
                out.append(run)
                run = ""
        if run.strip():
            out.append(run)
    return out


def write_corpus(path: Path, articles: int) -> int:
    """Write an export of ``articles`` pages; return its bytes of wikitext."""
    parts = pieces()
    total = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11">\n')
        for i in range(articles):
            text = parts[i % len(parts)]
            total += len(text.encode("utf-8"))
            out.write(
                f"<page>\n<title>Article {i}</title>\n<ns>0</ns>\n<id>{i + 1}</id>\n"
                f'<revision>\n<id>{i + 1}</id>\n<text xml:space="preserve">{escape(text, False)}'
                "</text>\n</revision>\n</page>\n"
            )
        out.write("</mediawiki>\n")
    return total


def query_sets(seed: int = 12) -> dict[str, list[str]]:
    words = re.findall(r"[A-Za-z]{4,}", " ".join(ft.plain_words(p) for p in pieces()))
    rng = random.Random(seed)
    one = [rng.choice(words) for _ in range(QUERIES)]
    two = [f"{rng.choice(words)} {rng.choice(words)}" for _ in range(QUERIES)]
    phrases = []
    for _ in range(QUERIES):
        i = rng.randrange(len(words) - 1)
        phrases.append(f'"{words[i]} {words[i + 1]}"')
    return {"one word": one, "two words": two, "phrase": phrases}


def time_queries(index: WikiIndex, queries: list[str], snippets: bool) -> dict:
    fulltext = index.fulltext
    took = []
    hits = []
    for query in queries:
        began = time.perf_counter()
        found = fulltext.search(query, 10)
        if snippets:
            words = ft.query_words(query)
            for hit in found:
                ft.snippet(wikitext_of(index.read_page(hit.key_id)), words)
        took.append(time.perf_counter() - began)
        hits.append(len(found))
    return {
        "p50_ms": round(percentile(took, 0.5) * 1e3, 3),
        "p99_ms": round(percentile(took, 0.99) * 1e3, 3),
        "mean_hits": round(sum(hits) / len(hits), 1),
    }


def bench_fulltext(directory: Path, articles: int, engines: list[str]) -> dict:
    """Write the corpus once; build and query it with each engine, in this same run."""
    directory.mkdir(parents=True, exist_ok=True)
    dump = directory / "corpus.xml"
    began = time.monotonic()
    wikitext_bytes = write_corpus(dump, articles)
    results: dict = {"corpus_written_s": round(time.monotonic() - began, 1)}
    sets = query_sets()
    for engine in engines:
        target = directory / f"corpus-{engine}.index"
        try:
            result = build_index(dump, target, progress=True, fulltext=engine)
        finally:
            shutdown_work_pools()
        figures = result.fulltext
        assert wikitext_bytes >= figures["wikitext_bytes"] * 0.99
        out = {
            "articles": figures["articles"],
            "wikitext_mb": round(figures["wikitext_bytes"] / MB, 1),
            "title_index_s": round(result.seconds - figures["seconds"], 1),
            "fulltext_build_s": figures["seconds"],
            "fulltext_mb_s": round(figures["wikitext_bytes"] / MB / figures["seconds"], 1),
            "fulltext_index_mb": round(figures["bytes"] / MB, 1),
            "index_share_of_text": round(figures["bytes"] / figures["wikitext_bytes"], 3),
        }
        with WikiIndex.open(target) as index:
            time_queries(index, sets["one word"][:50], snippets=True)  # warm the page cache
            for name, queries in sets.items():
                out[f"{name}: search"] = time_queries(index, queries, snippets=False)
                out[f"{name}: with snippets"] = time_queries(index, queries, snippets=True)
        results[engine] = out
        print(json.dumps({engine: out}, indent=1), flush=True)
        shutil.rmtree(target, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/manycore-wiki-reader"))
    parser.add_argument("--keep", action="store_true", help="keep the generated corpus")
    parser.add_argument("--smoke", action="store_true", help="20,000 articles, one round")
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help="full-text engines, comma-separated"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.smoke:
        args.articles, args.rounds = 20_000, 1
    engines = [e for e in args.engines.split(",") if e == "sqlite" or importable(e)]
    results = {"rendering": bench_rendering(args.rounds)}
    print(json.dumps(results["rendering"], indent=1), flush=True)
    try:
        results["fulltext"] = bench_fulltext(args.dir, args.articles, engines)
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
