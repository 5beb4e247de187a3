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
no body.  Header names and values given by an application are validated here
so a newline in a value can never split a response (header injection).
"""

from __future__ import annotations

import http
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import _json
from ._clock import HeadCache, head_cache
from ._errors import HTTPError, LocalProtocolError

if TYPE_CHECKING:
    import os

    from ._request import Request

__all__ = ["CLOSE", "KEEP", "Response", "error_response", "render"]

# Connection modes: how the response ends its head.  A persistent connection says
# "keep-alive" explicitly (as nginx does): HTTP/1.0 clients need it, HTTP/1.1 ones
# ignore it, and the fast path then never needs the request's version.
KEEP = 0  # "Connection: keep-alive": more requests may follow
CLOSE = 1  # "Connection: close": the server closes after this response

SERVER = b"manycore"
CONNECTION_LINES = (b"Connection: keep-alive\r\n", b"Connection: close\r\n")
_BIG_BODY = 16 * 1024  # above this, a body is written as its own buffer, not copied
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")
_NO_BODY_STATUSES = frozenset({204, 304})
_RESERVED = {
    b"content-length": "Content-Length is computed by the server from the body",
    b"transfer-encoding": "Transfer-Encoding is chosen by the server (use Response.stream)",
}


def _status_lines() -> dict[int, bytes]:
    lines = {}
    for status in http.HTTPStatus:
        lines[status.value] = b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
    return lines


STATUS_LINES = _status_lines()


def status_line(status: int) -> bytes:
    line = STATUS_LINES.get(status)
    if line is None:
        if type(status) is not int or not 200 <= status <= 999:
            raise LocalProtocolError(
                f"response status must be an int from 200 to 999, got {status!r}"
            )
        line = b"HTTP/1.1 %d \r\n" % status
    return line


def _content_type_line(content_type: str) -> bytes:
    value = content_type.encode("latin-1")
    if _BAD_VALUE.search(value):
        raise LocalProtocolError(f"content_type {content_type!r} contains a control character")
    return b"Content-Type: " + value + b"\r\n"


def head_prefix(
    status: int, content_type: str | None, mode: int, cache: HeadCache | None = None
) -> bytes:
    """Status line, Server, Date, Content-Type and Connection, ready for Content-Length."""
    if cache is None:
        cache = head_cache().fresh()
    key = (status, content_type, mode)
    prefix = cache.prefixes.get(key)
    if prefix is None:
        parts = [status_line(status), b"Server: ", SERVER, b"\r\n", cache.date_line]
        if content_type is not None:
            parts.append(_content_type_line(content_type))
        parts.append(CONNECTION_LINES[mode])
        if status not in _NO_BODY_STATUSES and status >= 200:
            parts.append(b"Content-Length: ")
        prefix = b"".join(parts)
        ok = status == 200 and mode == KEEP and content_type is not None
        cache.store_prefix(key, prefix, content_type if ok else None)
    return prefix


# ------------------------------------------------------------------ application headers
class _HeaderBlock:
    """Application headers encoded once, with what the server must know about them."""

    __slots__ = ("block", "close", "content_type", "date", "server")

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        lines = []
        self.close = False
        self.date = self.server = self.content_type = False
        for name, value in pairs:
            raw_name = name.encode("latin-1") if isinstance(name, str) else bytes(name)
            raw_value = (
                str(value).encode("latin-1") if not isinstance(value, bytes) else bytes(value)
            )
            if not _TOKEN.match(raw_name):
                raise LocalProtocolError(f"response header name {name!r} is not a valid HTTP token")
            if _BAD_VALUE.search(raw_value):
                raise LocalProtocolError(
                    f"response header {name!r} has a CR, LF or NUL in its value {value!r}; "
                    "header values must be a single line"
                )
            lower = raw_name.lower()
            if lower in _RESERVED:
                raise LocalProtocolError(f"do not set {name!r}: {_RESERVED[lower]}")
            if lower == b"connection":
                self.close = self.close or b"close" in raw_value.lower()
                continue  # the server writes its own Connection line
            if lower == b"date":
                self.date = True
            elif lower == b"server":
                self.server = True
            elif lower == b"content-type":
                self.content_type = True
            lines.append(b"%s: %s\r\n" % (raw_name, raw_value))
        self.block = b"".join(lines)


def _full_head(
    status: int, content_type: str | None, mode: int, extra: _HeaderBlock, length: int | None
) -> bytes:
    """The uncached path: a head with application headers."""
    parts = [status_line(status)]
    if not extra.server:
        parts += (b"Server: ", SERVER, b"\r\n")
    if not extra.date:
        parts.append(head_cache().fresh().date_line)
    if content_type is not None and not extra.content_type:
        parts.append(_content_type_line(content_type))
    parts.append(extra.block)
    parts.append(CONNECTION_LINES[mode])
    if length is not None:
        parts.append(b"Content-Length: %d\r\n" % length)
    parts.append(b"\r\n")
    return b"".join(parts)


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
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
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
        path: str | os.PathLike,
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
        from ._files import FileResponse

        return FileResponse(
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
        from ._stream import StreamResponse

        return StreamResponse(chunks, status, headers, content_type)


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


def render(
    out: list, resp: Response, mode: int, head_only: bool, cache: HeadCache | None = None
) -> int:
    """Append the bytes of ``resp`` to ``out``; returns the connection mode actually used.

    ``cache``: the caller's fresh head cache, if it has one at hand (saves finding it).
    """
    body, content_type = _body_bytes(resp)
    status = resp.status
    no_body = status in _NO_BODY_STATUSES or status < 200
    if no_body:
        body = b""
    if resp.headers is None:
        prefix = head_prefix(status, content_type, mode, cache)
        if no_body:
            out.append(prefix + b"\r\n")
            return mode
        head = prefix + b"%d\r\n\r\n" % len(body)
    else:
        extra = resp.headers if type(resp.headers) is _HeaderBlock else _HeaderBlock(resp.headers)
        if extra.close:
            mode = CLOSE
        head = _full_head(status, content_type, mode, extra, None if no_body else len(body))
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
