"""Request heads in the raw byte stream: where they are, and whether they are acceptable.

llhttp (strict mode) has already validated every byte handed to these
functions, so they mostly have to *find* things: a head is the request line and
header fields up to the first CRLF CRLF after the message start (empty lines
before a request line are allowed, RFC 9112 §2.2); a chunked body is
``size[;ext] CRLF data CRLF ... 0 CRLF trailers CRLF``.  What llhttp lets
through and this server refuses is judged here: request lines that are not
HTTP/1.0 or HTTP/1.1, a bare LF ending a request line, bad Host values, and
trailer sections beyond the head limits.

:func:`locate_head` is why this module exists.  Slicing a head out costs a
copy of it, and most handlers never look at headers.  So a bodyless request
records where its head is (the read, its start and end offsets), and the head
is sliced out only when something asks.  Its end comes from one ``bytes.find``
when the head is new, and for free when :mod:`._parser` recognises a repeat.
"""

from __future__ import annotations

import re
from typing import Any

from ._errors import RemoteProtocolError

__all__ = [
    "ChunkedScanner",
    "HeadTrackingError",
    "check_host",
    "check_request_line",
    "check_sizes",
    "check_target",
    "head_end",
    "locate_head",
    "request_version",
    "skip_empty_lines",
]

# RFC 9110 §7.2 / RFC 3986 §3.2.2: uri-host [ ":" port ]; empty is allowed.
# Possessive repeats (++, *+): a run of name characters is taken whole and never given
# back, so a match costs one pass over the value even when it fails.
_HOST = re.compile(
    rb"(?:\[[0-9A-Za-z:._~!$&'()*+,;=-]+\]|(?:[0-9A-Za-z._~!$&'()*+,;=-]++|%[0-9A-Fa-f]{2})*+)"
    rb"(?::[0-9]*+)?\Z"
)


class HeadTrackingError(RemoteProtocolError):
    """Head tracking lost its place: a bug in this package, answered 400 and logged."""


def skip_empty_lines(data: bytes | bytearray, pos: int) -> int:
    end = len(data)
    while pos < end and data[pos] in b"\r\n":
        pos += 1
    return pos


def head_end(request: Any) -> int:
    """Offset just past a fast-path request's head (``_at`` is exactly its start)."""
    end: int = request._data.find(b"\r\n\r\n", request._at)
    if end < 0:
        raise HeadTrackingError("a complete request's head end was not found")
    request._end = end = end + 4
    return end


def locate_head(request: Any) -> None:
    """Give a fast-path request (``_data``, ``_at``) its ``_head`` and ``_end``."""
    end = getattr(request, "_end", None)
    if end is None:
        end = head_end(request)
    request._head = request._data[request._at : end - 4]


def check_request_line(data: bytes, start: int) -> int:
    """400 for a request line ended by a bare LF, 505 for one not HTTP/1.0 or /1.1.

    llhttp accepts a bare LF after an HTTP/0.9 line (``GET /a``), which would make
    the line and the fields after it one line here; RFC 9112 §2.2 lets a server
    refuse bare LF instead.  Returns the start of the line (after empty lines).
    """
    start = skip_empty_lines(data, start)
    eol = data.find(b"\n", start)
    if eol < 0 or data[eol - 1] != 13:
        raise RemoteProtocolError("a line ends in a bare LF instead of CRLF", 400)
    check_version(data[start : eol - 1])
    return start


def request_version(head: bytes) -> bytes:
    """``b"1.1"`` from a head's request line (``b""`` for an HTTP/0.9 line)."""
    head = head.lstrip(b"\r\n")
    end = head.find(b"\r\n")
    line = head if end < 0 else head[:end]
    slash = line.rfind(b"/")
    if slash < 0 or not line[:slash].endswith(b" HTTP") or b"\n" in line:
        return b""
    return line[slash + 1 :]


def check_version(head: bytes) -> None:
    """llhttp also accepts HTTP/0.9, HTTP/2.0 and RTSP request lines: those are answered 505."""
    if request_version(head) not in (b"1.1", b"1.0"):
        if b"\n" in head.lstrip(b"\r\n").split(b"\r\n", 1)[0]:
            raise RemoteProtocolError("a line ends in a bare LF instead of CRLF", 400)
        raise RemoteProtocolError("only HTTP/1.0 and HTTP/1.1 are supported over plain TCP", 505)


def check_bodyless_head(head: bytes) -> None:
    """Host and Expect of a head answered on the fast path (once per distinct head).

    Host as :func:`check_host`; an expectation other than ``100-continue`` is 417
    (RFC 9110 §10.1.1), as it is for a request with a body.
    """
    lower = head.lower()
    _check_host(head, lower)
    at = lower.find(b"\nexpect:")
    if at >= 0:
        end = lower.find(b"\r\n", at)
        value = lower[at + 8 : len(lower) if end < 0 else end].strip(b" \t")
        if value != b"100-continue":
            raise RemoteProtocolError(f"unsupported expectation {value.decode('latin-1')!r}", 417)


def check_host(head: bytes) -> None:
    """RFC 9112 §3.2: exactly one valid Host in HTTP/1.1 (at most one in 1.0), else 400."""
    _check_host(head, head.lower())


def _check_host(head: bytes, lower: bytes) -> None:
    count = lower.count(b"\nhost:")
    if count == 1:
        at = lower.find(b"\nhost:") + 6
        end = head.find(b"\r\n", at)
        check_host_value(head[at : len(head) if end < 0 else end].strip(b" \t"))
        return
    if count == 0 and request_version(head) == b"1.0":
        return
    raise RemoteProtocolError(
        f"a request needs exactly one Host header field; this one has {count}", 400
    )


def check_host_value(value: bytes) -> None:
    """RFC 9110 §7.2: Host is ``uri-host [":" port]``."""
    if _HOST.match(value) is None:
        raise RemoteProtocolError(
            f"Host {value.decode('latin-1')!r} is not a host name or address with an optional port",
            400,
        )


def check_target(target: bytes) -> None:
    """RFC 9110 §4.2.4: a fragment is for the client alone and is never sent."""
    if target.find(b"#") >= 0:
        raise RemoteProtocolError("the request target contains a fragment ('#')", 400)


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


class ChunkedScanner:
    """Where a chunked body ends in the wire bytes, read by read, keeping no data.

    llhttp decodes the body; this only follows the framing of bytes llhttp has
    already accepted, to know where the next message starts.  It keeps at most
    one incomplete line between reads, so a large body is never held twice, and
    it bounds the trailer section by the head limits (RFC 9112 §7.1.2).
    Quoted chunk extensions cannot contain CR or LF, so the first CRLF always
    ends a size line.
    """

    __slots__ = ("_fields", "_line", "_skip", "_trailers", "max_fields", "max_size")

    def __init__(self, max_size: int, max_fields: int) -> None:
        self.max_size = max_size
        self.max_fields = max_fields
        self._skip = 0  # chunk data (and its CRLF) still to pass over
        self._line = b""  # the start of a line that a read cut off
        self._trailers = -1  # trailer section bytes so far; -1 before the last chunk
        self._fields = 0

    def feed(self, buf: bytes | bytearray, pos: int) -> int:
        """Follow ``buf[pos:]``; the index just past the body, or -1 if it goes on."""
        end = len(buf)
        while True:
            skip = self._skip
            if skip:
                if end - pos < skip:
                    self._skip = skip - (end - pos)
                    return -1
                pos += skip
                self._skip = 0
            carried = self._line
            if carried:
                # The CRLF may straddle the reads: search the joined bytes.
                joined = carried + buf[pos : pos + self.max_size + 2]
                eol = joined.find(b"\r\n")
                if eol < 0:
                    self._keep(joined)
                    return -1
                line: bytes | bytearray = joined[:eol]
                pos += eol + 2 - len(carried)
                self._line = b""
            else:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    self._keep(buf[pos:])
                    return -1
                line = buf[pos:eol]
                pos = eol + 2
            if self._trailers < 0:
                size = int(bytes(line).split(b";", 1)[0], 16)
                if size == 0:
                    self._trailers = 0
                else:
                    self._skip = size + 2
            elif not line:
                return pos
            else:
                self._trailers += len(line) + 2
                self._fields += 1
                self._check_trailers()

    def _keep(self, piece: bytes | bytearray) -> None:
        self._line = bytes(piece)
        if self._trailers >= 0:
            self._trailers += len(piece)
            self._check_trailers()
            self._trailers -= len(piece)
        elif len(piece) > self.max_size:
            raise RemoteProtocolError(
                f"chunk size line longer than max_head_size={self.max_size} bytes", 431
            )

    def _check_trailers(self) -> None:
        if self._trailers > self.max_size:
            raise RemoteProtocolError(
                f"trailer section larger than max_head_size={self.max_size} bytes", 431
            )
        if self._fields > self.max_fields:
            raise RemoteProtocolError(
                f"more than max_header_count={self.max_fields} trailer fields", 431
            )
