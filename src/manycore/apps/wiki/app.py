"""``WikiApp``: the HTTP face of a ``WikiIndex``.

Endpoints::

    GET /                       a page that searches as you type (no external assets)
    GET /search?q=PREFIX&limit=10   [{title, redirect_to?, ns, bytes}, ...]
    GET /wiki/{title}           the page's XML, the exact bytes of the dump
                                (?redirect=no: a redirect page itself)
    GET /text/{title}           the article as plain text
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
import threading
from collections import OrderedDict
from collections.abc import Callable
from importlib import resources
from typing import ClassVar, TypeVar, TypeVarTuple
from urllib.parse import quote

import manycore
from manycore.http import FileResponse, HttpServer, Request, Response, route

from .index import WikiIndex, clamp_limit
from .text import page_text

__all__ = ["WikiApp"]

XML = "application/xml; charset=utf-8"
MAX_OFFSETS = 100_000
MAX_RANGE = 64 << 20
R = TypeVar("R")
Ts = TypeVarTuple("Ts")

TEXT_CACHE = 64
_PAGE = resources.files(__package__).joinpath("static/index.html").read_bytes()
_local = threading.local()


def _quoted(title: str) -> str:
    """A title as a header value (percent-encoded UTF-8: headers are latin-1)."""
    return quote(title, safe="")


def _not_found(title: str) -> Response:
    return Response.json({"error": f"no page titled {title!r}", "title": title}, status=404)


def _render_text(index: WikiIndex, key_id: int) -> str:
    """Runs on a worker's thread pool: read (maybe decompress) the page and strip its markup."""
    return page_text(index.title(key_id), index.read_page(key_id))


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
        hits = self._index().search(query.get("q") or "", clamp_limit(query.get("limit")))
        return Response.json([hit.as_json() for hit in hits])

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
        cache = getattr(_local, "texts", None)
        if cache is None:
            cache = _local.texts = OrderedDict()
        body = cache.get(key_id)
        if body is None:
            body = (await self._offload(_render_text, index, key_id)).encode("utf-8")
            cache[key_id] = body
            if len(cache) > TEXT_CACHE:
                cache.popitem(last=False)
        headers = [("X-Wiki-Title", _quoted(index.title(key_id)))]
        return Response(body, headers=headers, content_type="text/plain; charset=utf-8")

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
