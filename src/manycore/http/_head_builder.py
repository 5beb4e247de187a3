"""Response heads: the one place where a status and header fields become bytes.

Every kind of response -- plain, file, streamed -- builds its head here, so one
check guards them all: no CR, LF or NUL in a field name, a field value, the
content type or the status line.  A field value is a single line (RFC 9110
§5.5, RFC 9112 §5); a newline in an application's value would let it add
fields of its own (header injection), or end the head early.  Such a value is
the application misusing the API: :class:`LocalProtocolError`, which the
connection answers with a logged 500 and never sends.

Checks run when a piece of a head is built, not per request: a cached head
prefix (see :mod:`._clock`) and a :class:`HeaderBlock` are checked once, when
they are made, and reused as checked bytes.
"""

from __future__ import annotations

import http
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import overload

from ._clock import HeadCache, head_cache
from ._errors import LocalProtocolError
from ._modes import CLOSE, KEEP, ConnectionMode

__all__ = [
    "CLOSE",
    "CONNECTION_LINES",
    "KEEP",
    "SERVER",
    "HeaderBlock",
    "build_head",
    "content_type_line",
    "field_line",
    "head_prefix",
    "header_block",
    "single_line",
    "status_line",
]


SERVER = b"manycore"
CONNECTION_LINES = (b"Connection: keep-alive\r\n", b"Connection: close\r\n")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")  # RFC 9110 §5.6.2
_BREAKS_LINE = re.compile(rb"[\x00\r\n]")
NO_BODY_STATUSES = frozenset({204, 304})
_RESERVED = {
    b"content-length": "Content-Length is computed by the server from the body",
    b"transfer-encoding": "Transfer-Encoding is chosen by the server (use Response.stream)",
}


def single_line(raw: bytes, what: str) -> bytes:
    """``raw`` unchanged, or LocalProtocolError when a CR, LF or NUL could split the head."""
    if _BREAKS_LINE.search(raw):
        raise LocalProtocolError(
            f"{what} {raw.decode('latin-1')!r} contains a CR, LF or NUL; "
            "header fields must be a single line"
        )
    return raw


def _encode(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    try:
        return str(value).encode("latin-1")
    except UnicodeEncodeError:
        raise LocalProtocolError(
            f"response header value {value!r} is not latin-1; percent-encode it "
            "(or use RFC 8187 encoding)"
        ) from None


def field_line(name: bytes, value: object) -> bytes:
    """One checked ``Name: value`` line; ``name`` is the server's own, the value is not."""
    what = f"response header {name.decode('ascii')} value"
    return name + b": " + single_line(_encode(value), what) + b"\r\n"


def _status_lines() -> dict[int, bytes]:
    lines = {}
    for status in http.HTTPStatus:
        lines[status.value] = b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
    return lines


STATUS_LINES = _status_lines()


def status_line(status: int) -> bytes:
    """RFC 9112 §4: the reason phrase is the standard one, or empty for other codes."""
    line = STATUS_LINES.get(status)
    if line is None:
        if type(status) is not int or not 200 <= status <= 999:
            raise LocalProtocolError(
                f"response status must be an int from 200 to 999, got {status!r}"
            )
        line = b"HTTP/1.1 %d \r\n" % status
    return line


def content_type_line(content_type: str) -> bytes:
    return b"Content-Type: " + single_line(_encode(content_type), "content_type") + b"\r\n"


class HeaderBlock:
    """Application headers, checked and encoded once, with what the server must know."""

    __slots__ = ("block", "close", "content_type", "date", "server")

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        lines = []
        self.close = False
        self.date = self.server = self.content_type = False
        for name, value in pairs:
            raw_name = _encode(name)
            if not _TOKEN.match(raw_name):
                raise LocalProtocolError(f"response header name {name!r} is not a valid HTTP token")
            raw_value = single_line(_encode(value), f"response header {name} value")
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


@overload
def header_block(headers: None) -> None: ...
@overload
def header_block(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | HeaderBlock,
) -> HeaderBlock: ...
def header_block(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | HeaderBlock | None,
) -> HeaderBlock | None:
    """``headers`` as a checked block (a block already made is reused as it is)."""
    if headers is None or type(headers) is HeaderBlock:
        return headers
    # The exact-type check above does not narrow out HeaderBlock's subclasses; none exist.
    return HeaderBlock(headers)  # type: ignore[arg-type]


def head_prefix(
    status: int, content_type: str | None, mode: ConnectionMode, cache: HeadCache | None = None
) -> bytes:
    """Status line, Server, Date, Content-Type and Connection, ready for Content-Length.

    Cached per second (the Date line changes), so the checks run once per key.
    """
    if cache is None:
        cache = head_cache().fresh()
    key = (status, content_type, mode)
    prefix = cache.prefixes.get(key)
    if prefix is None:
        parts = [status_line(status), b"Server: ", SERVER, b"\r\n", cache.date_line]
        if content_type is not None:
            parts.append(content_type_line(content_type))
        parts.append(CONNECTION_LINES[mode])
        if status not in NO_BODY_STATUSES and status >= 200:
            parts.append(b"Content-Length: ")
        prefix = b"".join(parts)
        ok = status == 200 and mode == KEEP and content_type is not None
        cache.store_prefix(key, prefix, content_type if ok else None)
    return prefix


def build_head(
    status: int,
    content_type: str | None,
    mode: ConnectionMode,
    extra: HeaderBlock | None = None,
    lines: Sequence[bytes] = (),
    length: int | None = None,
    *,
    chunked: bool = False,
    cacheable: bool = True,
) -> bytes:
    """A whole response head, ending with the blank line.

    ``extra`` holds the application's headers, ``lines`` the server's own fields
    for this response (validators, ranges: already single lines).  ``length`` is
    the Content-Length, None for none; ``chunked`` adds Transfer-Encoding.  A
    head whose content type varies per response (a multipart boundary) passes
    ``cacheable=False`` so it does not fill the prefix cache.
    """
    overrides = extra is not None and (extra.server or extra.date or extra.content_type)
    if (
        cacheable
        and not overrides
        and not chunked
        and (length is not None) == (status not in NO_BODY_STATUSES and status >= 200)
    ):
        # head_prefix ends with "Content-Length: " exactly when the status has a body
        parts = [head_prefix(status, content_type, mode)]
        if length is not None:
            parts.append(b"%d\r\n" % length)
        parts += lines
        if extra is not None:
            parts.append(extra.block)
        parts.append(b"\r\n")
        return b"".join(parts)
    parts = [status_line(status)]
    if extra is None or not extra.server:
        parts += (b"Server: ", SERVER, b"\r\n")
    if extra is None or not extra.date:
        parts.append(head_cache().fresh().date_line)
    if content_type is not None and (extra is None or not extra.content_type):
        parts.append(content_type_line(content_type))
    parts += lines
    if extra is not None:
        parts.append(extra.block)
    if chunked:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    parts.append(CONNECTION_LINES[mode])
    if length is not None:
        parts.append(b"Content-Length: %d\r\n" % length)
    parts.append(b"\r\n")
    return b"".join(parts)
