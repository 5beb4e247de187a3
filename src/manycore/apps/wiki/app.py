"""``WikiApp``: the HTTP face of a ``WikiIndex``.

Endpoints::

    GET /                       a page that searches as you type (no external assets)
    GET /search?q=PREFIX&limit=10   [{title, redirect_to?, ns, bytes}, ...]
    GET /wiki/{title}           the page's XML, the exact bytes of the dump
                                (?redirect=no: a redirect page itself)
    GET /text/{title}           the article as plain text
    GET /html/{title}           the article as safe HTML (links open articles in the page)
    GET /fulltext?q=WORDS&limit=10  [{title, snippet, score}, ...] (needs build --fulltext)
    GET /w/api.php?action=opensearch&search=PREFIX   MediaWiki's OpenSearch suggestions
    GET /opensearch.xml         the OpenSearch description browsers add a search engine from
    GET /random                 a redirect to a random article
    GET /offsets/{prefix}       [[title, start, end], ...] like PyParallel's wiki demo
    GET /xml  (Range: bytes=)   bytes of the dump (206)
    GET /stats                  index size, titles, workers, requests

The index is opened in the main context (``serve_index``) before the workers
start, so every worker shares its memory maps.  Handlers only read it.  Work
that takes milliseconds -- wikitext parsing, decompressing a multistream
stream -- goes to ``manycore.submit_work`` so the worker's event loop keeps
answering searches meanwhile; the only mutable state, a small cache of
rendered texts, is per worker thread.

A page of a plain (or decompressed) dump goes out without being copied into
Python, as a slice of the file (``FileResponse`` with ``offset``/``length``); a
page of a multistream dump is decompressed on the thread pool.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from importlib import resources
from typing import Any, ClassVar, TypeVar, TypeVarTuple
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

import manycore
from manycore.http import FileResponse, HttpServer, Request, Response, route

from . import fulltext
from .index import WikiIndex, clamp_limit
from .text import page_html, page_text, wikitext_of

__all__ = ["WikiApp"]

XML = "application/xml; charset=utf-8"
MAX_OFFSETS = 100_000
MAX_RANGE = 64 << 20
R = TypeVar("R")
Ts = TypeVarTuple("Ts")

RENDER_CACHE = 64
MAX_FULLTEXT_LIMIT = 100
MAX_OPENSEARCH_LIMIT = 500  # as MediaWiki
RANDOM_TRIES = 64
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$")
# A rendered article is ours, but defence in depth: even opened on its own it runs no script.
HTML_HEADERS = [("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")]
_Render = Callable[[WikiIndex, int], bytes]  # an article's id to its rendered bytes
_PAGE = resources.files(__package__).joinpath("static/index.html").read_bytes()
_local = threading.local()


def _quoted(title: str) -> str:
    """A title as a header value (percent-encoded UTF-8: headers are latin-1)."""
    return quote(title, safe="")


def _not_found(title: str) -> Response:
    return Response.json({"error": f"no page titled {title!r}", "title": title}, status=404)


def _render_text(index: WikiIndex, key_id: int) -> bytes:
    """Runs on a worker's thread pool: read (maybe decompress) the page and strip its markup."""
    return page_text(index.title(key_id), index.read_page(key_id)).encode("utf-8")


def _render_html(index: WikiIndex, key_id: int) -> bytes:
    """Runs on a worker's thread pool: the page as HTML, its links checked against the index."""

    def exists(title: str) -> bool:
        return index.resolve(title) is not None

    return page_html(index.read_page(key_id), exists).encode("utf-8")


def _search_fulltext(index: WikiIndex, query: str, limit: int) -> list[dict[str, Any]]:
    """Runs on a worker's thread pool: BM25 hits, each with a snippet cut from its page."""
    assert index.fulltext is not None
    hits = index.fulltext.search(query, limit)
    words = fulltext.query_words(query)
    return [
        {
            "title": index.title(hit.key_id),
            "snippet": fulltext.snippet(wikitext_of(index.read_page(hit.key_id)), words),
            "score": round(hit.score, 4),
        }
        for hit in hits
    ]


def _origin(request: Request) -> str:
    """``http://HOST`` as the client addressed us (``localhost`` if its Host is unusable)."""
    host = request.headers.get("host") or ""
    return "http://" + (host if _HOST.match(host) else "localhost")


def _api_error(code: str, info: str) -> Response:
    """An error in MediaWiki API's shape."""
    return Response.json({"error": {"code": code, "info": info}}, status=400)


def _read(index: WikiIndex, offset: int, length: int) -> bytes:
    return index.source.read(offset, length)


class WikiApp(HttpServer):
    """Search and pages of one wiki index; see the module docstring for the endpoints."""

    index: ClassVar[WikiIndex | None] = None

    @classmethod
    def serve_index(cls, index: WikiIndex) -> None:
        """Serve ``index`` (call in the main context, before ``manycore.run``)."""
        cls.index = index

    def _index(self) -> WikiIndex:
        index = type(self).index
        if index is None:
            raise RuntimeError("WikiApp has no index: call WikiApp.serve_index(index) first")
        return index

    @route("/")
    def home(self, request: Request) -> Response:
        return Response(_PAGE, content_type="text/html; charset=utf-8")

    @route("/search")
    def search(self, request: Request) -> Response:
        query = request.query
        hits = self._index().search_json(query.get("q") or "", clamp_limit(query.get("limit")))
        return Response.json(hits)

    def _find(self, request: Request, title: str) -> tuple[int | None, int | None]:
        """(page to show, the id the title named) following redirects unless ?redirect=no."""
        index = self._index()
        named = index.resolve(title)
        if named is None:
            return None, None
        if request.query.get("redirect") == "no":
            return named, named
        return index.follow(named), named

    @route("/wiki/{title:path}")
    async def wiki(self, request: Request, title: str) -> Response:
        index = self._index()
        key_id, named = self._find(request, title)
        if key_id is None:
            return _not_found(title)
        shown = index.title(key_id)
        headers = [("X-Wiki-Title", _quoted(shown))]
        if key_id != named:
            headers.append(("Content-Location", "/wiki/" + _quoted(shown)))
        offset, length = index.page_range(key_id)
        source = index.source
        if source.zero_copy:
            return FileResponse(
                source.path, offset=offset, length=length, content_type=XML, headers=headers
            )
        body = await self._offload(_read, index, offset, length)  # decompressed: a copy
        return Response(body, headers=headers, content_type=XML)

    @route("/text/{title:path}")
    async def text(self, request: Request, title: str) -> Response:
        index = self._index()
        key_id, _ = self._find(request, title)
        if key_id is None:
            return _not_found(title)
        body = await self._rendered(_render_text, index, key_id)
        headers = [("X-Wiki-Title", _quoted(index.title(key_id)))]
        return Response(body, headers=headers, content_type="text/plain; charset=utf-8")

    @route("/html/{title:path}")
    async def html(self, request: Request, title: str) -> Response:
        index = self._index()
        key_id, named = self._find(request, title)
        if key_id is None:
            return _not_found(title)
        body = await self._rendered(_render_html, index, key_id)
        headers = [("X-Wiki-Title", _quoted(index.title(key_id))), *HTML_HEADERS]
        if named is not None and key_id != named:
            headers.append(("X-Wiki-Redirected-From", _quoted(index.title(named))))
        return Response(body, headers=headers, content_type="text/html; charset=utf-8")

    async def _rendered(self, render: _Render, index: WikiIndex, key_id: int) -> bytes:
        """``render(index, key_id)`` on the thread pool, through this thread's small cache."""
        cache: OrderedDict[tuple[_Render, int], bytes] | None = getattr(_local, "rendered", None)
        if cache is None:
            cache = _local.rendered = OrderedDict()
        key = (render, key_id)
        body = cache.get(key)
        if body is None:
            body = await self._offload(render, index, key_id)
            cache[key] = body
            if len(cache) > RENDER_CACHE:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        return body

    @route("/fulltext")
    async def fulltext(self, request: Request) -> Response:
        index = self._index()
        if index.fulltext is None:
            return Response.json({"error": index.fulltext_missing}, status=404)
        query = request.query.get("q") or ""
        limit = min(MAX_FULLTEXT_LIMIT, clamp_limit(request.query.get("limit")))
        try:
            hits = await self._offload(_search_fulltext, index, query, limit)
        except fulltext.QueryError as exc:
            return Response.json({"error": str(exc), "q": query}, status=400)
        return Response.json(hits)

    @route("/w/api.php")
    def api(self, request: Request) -> Response:
        """MediaWiki's ``action=opensearch``: [query, [titles], [descriptions], [urls]]."""
        query = request.query
        action = query.get("action") or ""
        if action != "opensearch":
            return _api_error("badvalue", f'only action=opensearch is supported, not "{action}"')
        if (query.get("format") or "json") not in ("json", "jsonfm"):
            return _api_error("badvalue", "only format=json is supported")
        search = query.get("search") or ""
        limit = min(MAX_OPENSEARCH_LIMIT, clamp_limit(query.get("limit")))
        titles = [hit.title for hit in self._index().search(search, limit)]
        origin = _origin(request)
        urls = [f"{origin}/#{quote(t.replace(' ', '_'), safe='')}" for t in titles]
        return Response.json([search, titles, [""] * len(titles), urls])

    @route("/opensearch.xml")
    def opensearch(self, request: Request) -> Response:
        origin = xml_escape(_origin(request), {'"': "&quot;"})
        body = _OPENSEARCH.format(origin=origin).encode("utf-8")
        return Response(body, content_type="application/opensearchdescription+xml")

    @route("/random")
    def random(self, request: Request) -> Response:
        """A redirect to an article picked at random (namespace 0, not a redirect)."""
        index = self._index()
        titles = len(index)
        for _ in range(RANDOM_TRIES):
            key_id = secrets.randbelow(titles)
            if not index.is_redirect(key_id) and index.namespace(key_id) == 0:
                break
        title = index.title(key_id)
        return Response(
            b"",
            status=302,
            headers=[
                ("Location", "/#" + quote(title.replace(" ", "_"), safe="")),
                ("X-Wiki-Title", _quoted(title)),
                ("Cache-Control", "no-store"),
            ],
        )

    @route("/offsets/{prefix:path}")
    def offsets(self, request: Request, prefix: str) -> Response:
        rows = self._index().offsets(prefix, MAX_OFFSETS)
        if len(rows) > MAX_OFFSETS:
            return Response.json(
                {
                    "error": f"more than {MAX_OFFSETS:,} titles start with {prefix!r}; "
                    "use a longer prefix",
                    "prefix": prefix,
                },
                status=413,
            )
        return Response.json(rows)

    @route("/xml")
    async def xml(self, request: Request) -> Response:
        index = self._index()
        source = index.source
        if source.zero_copy:
            return FileResponse(source.path, content_type=XML)
        # A multistream dump has no file of its text: serve one range by decompressing.
        size = source.size
        wanted = _single_range(request.headers.get("range"), size)
        if wanted is None:
            return Response.json(
                {"error": "send one Range header, e.g. Range: bytes=0-65535", "size": size},
                status=416,
                headers=[("Content-Range", f"bytes */{size}")],
            )
        first, last = wanted
        last = min(last, first + MAX_RANGE - 1)
        body = await self._offload(_read, index, first, last - first + 1)
        return Response(
            body,
            status=206,
            headers=[("Content-Range", f"bytes {first}-{first + len(body) - 1}/{size}")],
            content_type=XML,
        )

    @route("/stats")
    def stats(self, request: Request) -> Response:
        figures = self._index().describe()
        server = manycore.stats.snapshot()
        figures["workers"] = len(server.get("workers", ()))
        figures["requests"] = server.get("totals", {}).get("requests", 0)
        figures["server"] = server
        return Response.json(figures, headers=[("Cache-Control", "no-store")])

    @staticmethod
    async def _offload(fn: Callable[[*Ts], R], *args: *Ts) -> R:
        """Run ``fn(*args)`` on this worker's thread pool; the event loop keeps serving."""
        result: R = await asyncio.wrap_future(manycore.submit_work(fn, *args))
        return result


_OPENSEARCH = """<?xml version="1.0" encoding="UTF-8"?>
<OpenSearchDescription xmlns="http://a9.com/-/spec/opensearch/1.1/">
  <ShortName>manycore wiki</ShortName>
  <Description>Search the wiki at {origin}</Description>
  <InputEncoding>UTF-8</InputEncoding>
  <Url type="text/html" method="get" template="{origin}/?search={{searchTerms}}"/>
  <Url type="application/x-suggestions+json" method="get"
       template="{origin}/w/api.php?action=opensearch&amp;format=json&amp;search={{searchTerms}}"/>
</OpenSearchDescription>
"""


def _single_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a one-range ``bytes=`` header within ``size``, or None."""
    if not header or size <= 0:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    start, _, end = spec.strip().partition("-")
    try:
        if not start:
            length = int(end)
            return (max(0, size - length), size - 1) if length > 0 else None
        first = int(start)
        last = int(end) if end else size - 1
    except ValueError:
        return None
    if first >= size or last < first:
        return None
    return first, min(last, size - 1)
