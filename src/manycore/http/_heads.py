"""Request heads in the raw byte stream: where they are, and whether they are acceptable.

llhttp (strict mode) has already validated every byte handed to these
functions, so they only have to *find* things, never to judge syntax: a head
is the request line and header fields up to the first CRLF CRLF after the
message start (empty lines before a request line are allowed, RFC 9112
§2.2); a chunked body is ``size[;ext] CRLF data CRLF ... 0 CRLF trailers
CRLF``.

:func:`locate_heads` is why this module exists.  Locating a head costs a
``bytes.find`` over it -- the largest single cost of a small request -- and
most handlers never look at headers.  So a bodyless request records only where
its head starts: the read and the offset for the first such request of a read,
or the request before it for the others.  The first look at its head (or a
slow path that needs exact positions) walks that chain forward, locating each
head at most once; pipelined requests whose handlers all read headers cost no
more than locating every head eagerly.
"""

from __future__ import annotations

from typing import Any

from ._errors import RemoteProtocolError

__all__ = [
    "HeadTrackingError",
    "check_host",
    "check_sizes",
    "check_version",
    "chunked_wire_length",
    "locate_heads",
    "request_version",
    "skip_empty_lines",
]


class HeadTrackingError(RemoteProtocolError):
    """Head tracking lost its place: a bug in this package, answered 400 and logged."""


def skip_empty_lines(data: bytes | bytearray, pos: int) -> int:
    end = len(data)
    while pos < end and data[pos] in b"\r\n":
        pos += 1
    return pos


def locate_heads(request: Any) -> None:
    """Locate the head of a fast-path request, and of the unlocated ones before it.

    A request is located when it has ``_head`` and ``_end`` (the offset just past
    its head); an unlocated one has ``_data`` and ``_at`` (the first of a read) or
    ``_prev`` (the request before it in the same read).
    """
    chain = []
    r = request
    while not hasattr(r, "_end"):
        chain.append(r)
        if hasattr(r, "_at"):
            break
        r = r._prev
    for r in reversed(chain):
        if hasattr(r, "_at"):
            data = r._data
            start = r._at
        else:
            prev = r._prev
            data = r._data = prev._data
            start = prev._end
            del r._prev  # let the earlier requests of the read go
        start = skip_empty_lines(data, start)
        end = data.find(b"\r\n\r\n", start)
        if end < 0:
            raise HeadTrackingError("a complete request's head end was not found")
        r._head = data[start:end]
        r._end = end + 4


def chunked_wire_length(buf: bytes | bytearray, start: int) -> int:
    """Index just past a complete, llhttp-validated chunked body starting at ``start``.

    Quoted chunk extensions cannot contain CR or LF, so the first CRLF always
    ends a size line.
    """
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            raise HeadTrackingError("chunked body ended before its last chunk")
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        if size == 0:
            if buf[eol + 2 : eol + 4] == b"\r\n":
                return eol + 4
            end = buf.find(b"\r\n\r\n", eol + 2)
            if end < 0:
                raise HeadTrackingError("chunked trailer section is incomplete")
            return end + 4
        pos = eol + 2 + size + 2


def request_version(head: bytes) -> bytes:
    """``b"1.1"`` from a head's request line (``b""`` for an HTTP/0.9 line)."""
    head = head.lstrip(b"\r\n")
    end = head.find(b"\r\n")
    line = head if end < 0 else head[:end]
    slash = line.rfind(b"/")
    if slash < 0 or not line[:slash].endswith(b" HTTP"):
        return b""
    return line[slash + 1 :]


def check_version(head: bytes) -> None:
    """llhttp also accepts HTTP/0.9 and HTTP/2.0 request lines: those are answered 505."""
    if request_version(head) not in (b"1.1", b"1.0"):
        raise RemoteProtocolError("only HTTP/1.0 and HTTP/1.1 are supported over plain TCP", 505)


def check_host(head: bytes) -> None:
    """RFC 9112 §3.2: exactly one Host in HTTP/1.1 (at most one in 1.0), else 400."""
    count = head.lower().count(b"\nhost:")
    if count == 1 or (count == 0 and request_version(head) == b"1.0"):
        return
    raise RemoteProtocolError(
        f"a request needs exactly one Host header field; this one has {count}", 400
    )


def check_sizes(head: bytes, max_url_length: int, max_head_size: int, max_fields: int) -> None:
    """414 for a long request line, 431 for a large or crowded header section."""
    line_end = head.find(b"\r\n")
    line = head if line_end < 0 else head[:line_end]
    if len(line) > max_url_length + 32:  # method, spaces and version besides the target
        raise RemoteProtocolError(
            f"request target longer than max_url_length={max_url_length} bytes", 414
        )
    if len(head) > max_head_size:
        raise RemoteProtocolError(
            f"request header section larger than max_head_size={max_head_size} bytes", 431
        )
    if head.count(b"\r\n") > max_fields:
        raise RemoteProtocolError(f"more than max_header_count={max_fields} header fields", 431)
