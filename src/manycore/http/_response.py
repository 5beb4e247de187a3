"""Responses and how they become bytes on the wire.

Strategy: everything about a response head that does not change per request is
computed once and cached as a byte block -- the status line, ``Server``, the
``Date`` line, ``Content-Type`` and the ``Connection`` line -- keyed by
(status, content type, connection mode), in the parallel context's
:class:`~manycore.http._clock.HeadCache` (emptied when the second changes).
A response is then one cache lookup plus ``Content-Length`` and the body.

Invariants: every response carries ``Server`` and ``Date`` (RFC 9110 §6.6.1
and §10.2.4); 1xx, 204 and 304 responses carry no body and no
``Content-Length``; a HEAD response has the headers the GET would have had and
no body.  Heads are built, and application header fields checked, by
:mod:`._head_builder`, which every kind of response shares.
"""

from __future__ import annotations

import http
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from . import _json
from ._clock import HeadCache
from ._errors import HTTPError, LocalProtocolError
from ._head_builder import (
    CLOSE,
    KEEP,
    NO_BODY_STATUSES,
    HeaderBlock,
    build_head,
    head_prefix,
    header_block,
)
from ._modes import ConnectionMode

if TYPE_CHECKING:
    import os

    from ._request import Request

__all__ = ["CLOSE", "KEEP", "Response", "error_response", "head_prefix", "render"]

_BIG_BODY = 16 * 1024  # above this, a body is written as its own buffer, not copied


# The subclasses :meth:`Response.file` and :meth:`Response.stream` build, by name ("file",
# "stream").  Each module that defines one registers it when it loads (the package imports
# both), so this module needs neither and they can build on it; and the compiled build's
# Response, an extension type, takes no class attributes after it is made.
RESPONSE_KINDS: dict[str, Callable[..., Response]] = {}


# ------------------------------------------------------------------ Response
class Response:
    """An HTTP response: ``Response(body, status=200, headers=None, content_type=None)``.

    ``body`` is bytes or str (str is sent as UTF-8, ``text/plain; charset=utf-8``
    unless ``content_type`` says otherwise).  ``headers`` is a mapping or a list
    of (name, value) pairs (use pairs to repeat a name, e.g. ``Set-Cookie``).
    ``Content-Length``, ``Date``, ``Server`` and ``Connection`` are written by the
    server.  Handlers may also return bytes, str, or any JSON-able object.
    """

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        body: bytes | str = b"",
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | HeaderBlock | None = None,
        content_type: str | None = None,
    ) -> None:
        self.body = body
        self.status = status
        self.headers = headers
        self.content_type = content_type

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.content_type or ''} {len(self.body)} bytes>"

    @classmethod
    def json(
        cls,
        obj: Any,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> Response:
        """``obj`` serialised as JSON (msgspec, or the standard library as a fallback)."""
        return cls(_json.encode(obj), status, headers, "application/json")

    @classmethod
    def text(
        cls,
        text: str,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> Response:
        return cls(text.encode("utf-8"), status, headers, "text/plain; charset=utf-8")

    @classmethod
    def html(
        cls,
        html: str,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> Response:
        return cls(html.encode("utf-8"), status, headers, "text/html; charset=utf-8")

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> Response:
        """A redirect to ``location`` (307 keeps the method; use 301/308 for permanent)."""
        return cls(b"", status, [("Location", location)])

    @staticmethod
    def file(
        path: str | os.PathLike[str],
        request: Request | None = None,
        *,
        content_type: str | None = None,
        filename: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        cache_control: str | None = None,
        offset: int = 0,
        length: int | None = None,
    ) -> Response:
        """Send a file with zero-copy ``sendfile``: ranges, ETag/Last-Modified and 304s.

        ``request`` may be omitted: the server applies the request being answered.
        ``filename`` adds ``Content-Disposition: attachment``. ``offset``/``length``
        serve that slice of the file as if it were the whole entity (ranges apply
        within it), e.g. one page of a large dump.
        """
        return RESPONSE_KINDS["file"](
            path,
            content_type=content_type,
            filename=filename,
            headers=headers,
            cache_control=cache_control,
            offset=offset,
            length=length,
        )

    @staticmethod
    def stream(
        chunks: Any,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        content_type: str | None = "application/octet-stream",
    ) -> Response:
        """Stream an iterable or async iterable of bytes/str with chunked encoding.

        The server waits for the client to read before asking for the next chunk, so a
        slow client never makes it buffer the whole response.
        """
        return RESPONSE_KINDS["stream"](chunks, status, headers, content_type)


def _body_bytes(resp: Response) -> tuple[bytes, str | None]:
    body = resp.body
    content_type = resp.content_type
    if type(body) is not bytes:
        if isinstance(body, str):
            body = body.encode("utf-8")
            if content_type is None:
                content_type = "text/plain; charset=utf-8"
        elif isinstance(body, bytearray | memoryview):
            body = bytes(body)
        else:
            raise LocalProtocolError(
                f"Response body must be bytes or str, got {type(body).__name__}; "
                "use Response.json(obj) for objects"
            )
    if content_type is None and body:
        content_type = "application/octet-stream"
    return body, content_type


class ByteSink(Protocol):
    """Where rendered bytes go: a list of bytes, or of bytes and file parts."""

    def append(self, item: bytes, /) -> None: ...


def render(
    out: ByteSink,
    resp: Response,
    mode: ConnectionMode,
    head_only: bool,
    cache: HeadCache | None = None,
) -> ConnectionMode:
    """Append the bytes of ``resp`` to ``out``; returns the connection mode actually used.

    ``cache``: the caller's fresh head cache, if it has one at hand (saves finding it).
    """
    body, content_type = _body_bytes(resp)
    status = resp.status
    no_body = status in NO_BODY_STATUSES or status < 200
    if no_body:
        body = b""
    if resp.headers is None:
        prefix = head_prefix(status, content_type, mode, cache)
        if no_body:
            out.append(prefix + b"\r\n")
            return mode
        head = prefix + b"%d\r\n\r\n" % len(body)
    else:
        extra = header_block(resp.headers)
        if extra.close:
            mode = CLOSE
        head = build_head(status, content_type, mode, extra, (), None if no_body else len(body))
    if head_only or not body:
        out.append(head)
    elif len(body) > _BIG_BODY:
        out.append(head)
        out.append(body)
    else:
        out.append(head + body)
    return mode


def error_response(
    status: int,
    detail: str | None = None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
) -> Response:
    """A short plain-text error page: ``404 Not Found: detail``."""
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    text = f"{status} {phrase}: {detail}\n" if detail else f"{status} {phrase}\n"
    return Response(text.encode("utf-8"), status, headers, "text/plain; charset=utf-8")


def http_error_response(exc: HTTPError) -> Response:
    return error_response(exc.status, exc.detail, exc.headers)
