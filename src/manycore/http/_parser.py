"""Bytes in, Request objects out: llhttp (through httptools) plus head tracking.

Contract: :meth:`RequestReader.feed` either delivers zero or more complete
requests, in order, to the ``deliver`` callback, or raises
:class:`RemoteProtocolError` carrying the status to answer with (400, 413,
414, 417, 431, 501, 505).  Any input, split in any way, does one of the two.
After an error the reader is finished: the connection answers and closes.

Strategy.  llhttp does all framing and validation (request line, header
syntax, Content-Length vs Transfer-Encoding, chunked framing) in strict mode,
so there is exactly one parser deciding where a message ends and no smuggling
by disagreement.  Header callbacks, however, cost about 300 ns per header
field in httptools -- more than everything else a small request needs -- so
this reader registers none.  Instead it keeps track of *where* each message
starts in the byte stream and, when llhttp reports the message complete,
slices the head (request line and header fields) out of the input with one
``find(b"\\r\\n\\r\\n")``.  Header fields are then split only if somebody asks
(``Request.headers``).  Positions are exact because llhttp is strict: a head
always ends with CRLF CRLF; a Content-Length body is contiguous (its length is
the sum of ``on_body`` chunks); a chunked body's wire length is re-measured
from the raw bytes (:func:`chunked_wire_length`) once llhttp has validated it.

Slow paths (a head split across reads, any body, chunked bodies) keep what
they need between reads, each bounded by a limit: the head by
``max_head_size``, a body by ``max_body_size``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httptools

from ._errors import RemoteProtocolError
from ._headers import parse_fields
from ._request import _NO_PARAMS, Request

__all__ = ["RequestReader", "StopParsing", "chunked_wire_length"]

_new = object.__new__
# llhttp names methods with bytes; a request's method is a str.  Every name llhttp
# can return is interned here on first sight (a bounded set: llhttp knows ~50).
_METHOD_NAMES: dict[bytes, str] = {m: m.decode("ascii") for m in (b"GET", b"HEAD", b"POST")}


def _method_name(raw: bytes) -> str:
    name = _METHOD_NAMES.get(raw)
    if name is None:
        name = _METHOD_NAMES[raw] = raw.decode("ascii")
    return name
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}\Z")
_CONTINUE = b"100-continue"


class StopParsing(Exception):
    """Raised by ``deliver`` to stop at a message boundary (the connection is closing)."""


class _InternalMismatch(RemoteProtocolError):
    """Head tracking lost its place: a bug here, answered as 400 and logged."""


def chunked_wire_length(buf: bytes | bytearray, start: int) -> int:
    """Index just past a complete, llhttp-validated chunked body starting at ``start``.

    Grammar (RFC 9112 §7.1): ``*(size [;ext] CRLF data CRLF) 0*[;ext] CRLF
    *(trailer CRLF) CRLF``.  llhttp (strict) has already accepted exactly these
    bytes, so no validation is repeated; quoted chunk extensions cannot contain
    CR or LF, so the first CRLF always ends a size line.
    """
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            raise _InternalMismatch("chunked body ended before its last chunk")
        size_field = bytes(buf[pos:eol]).split(b";", 1)[0]
        size = int(size_field, 16)
        if size == 0:
            if buf[eol + 2 : eol + 4] == b"\r\n":
                return eol + 4
            end = buf.find(b"\r\n\r\n", eol + 2)
            if end < 0:
                raise _InternalMismatch("chunked trailer section is incomplete")
            return end + 4
        pos = eol + 2 + size + 2


class RequestReader:
    """Turns the bytes of one connection into Request objects."""

    __slots__ = (
        "_body",
        "_body_size",
        "_body_start",
        "_carry",
        "_chunked",
        "_data",
        "_deliver",
        "_done",
        "_head",
        "_http11",
        "_on_continue",
        "_parser",
        "_pos",
        "_raw",
        "_url",
        "in_message",
        "max_body_size",
        "max_head_size",
        "max_header_count",
        "max_url_length",
        "transport",
    )

    def __init__(
        self,
        deliver: Callable[[Request, bool], Any],
        transport: Any = None,
        *,
        max_head_size: int = 16 * 1024,
        max_url_length: int = 8 * 1024,
        max_header_count: int = 100,
        max_body_size: int = 1 << 20,
        on_continue: Callable[[Request], Any] | None = None,
    ) -> None:
        self._deliver = deliver
        self.transport = transport
        self.max_head_size = max_head_size
        self.max_url_length = max_url_length
        self.max_header_count = max_header_count
        self.max_body_size = max_body_size
        self._on_continue = on_continue
        self._parser = httptools.HttpRequestParser(self)
        self._data = b""
        self._pos = 0
        self._url: bytes | None = None
        self._carry = b""  # the current message's head bytes from earlier reads
        self.in_message = False  # the current message needs _complete_slow
        self._head: bytes | None = None  # located before completion (a body follows)
        self._http11 = True
        self._body: bytes | bytearray | None = None
        self._body_size = 0
        self._chunked = False
        self._raw: bytearray | None = None  # chunked wire bytes from earlier reads
        self._body_start = 0
        self._done = False

    # ------------------------------------------------------------------ state
    @property
    def in_head(self) -> bool:
        """A request has begun and its head is not complete yet."""
        return self._head is None and (self._url is not None or bool(self._carry))

    @property
    def in_body(self) -> bool:
        """A request head is complete and its body is still arriving."""
        return self._head is not None

    @property
    def finished(self) -> bool:
        """An error or a StopParsing ended this reader; it accepts no more input."""
        return self._done

    # ------------------------------------------------------------------ feeding
    def feed(self, data: bytes) -> None:
        """Parse ``data``; deliver complete requests; raise RemoteProtocolError on bad input."""
        if self._done:
            return
        self._data = data
        self._pos = 0
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            self._done = True
            cause = exc.__context__
            if isinstance(cause, StopParsing):
                return
            if isinstance(cause, RemoteProtocolError):
                raise cause from None
            if cause is not None:
                raise cause from None
            raise RemoteProtocolError(str(exc)) from None
        except httptools.HttpParserUpgrade as exc:
            self._upgraded(data, exc.args[0] if exc.args else len(data))
            return
        except httptools.HttpParserError as exc:
            self._done = True
            raise self._parse_error(exc, data) from None
        if self._pos < len(data) or self._head is not None:
            self._after_partial(data)

    def _parse_error(self, exc: Exception, data: bytes) -> RemoteProtocolError:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, httptools.HttpParserInvalidMethodError):
            start = (self._carry + data[self._pos : self._pos + 64]).lstrip(b"\r\n")
            method = start.split(b" ", 1)[0]
            if b" " in start and _TOKEN.match(method):
                return RemoteProtocolError(
                    f"method {method.decode('latin-1')!r} is not implemented", 501
                )
            return RemoteProtocolError("malformed request line (invalid method)", 400)
        if "HTTP version" in reason or "PRI" in reason:
            return RemoteProtocolError(
                "only HTTP/1.0 and HTTP/1.1 are supported over plain TCP", 505
            )
        if "after `Connection: close`" in reason:
            return RemoteProtocolError("data after a request that asked to close", 400)
        return RemoteProtocolError(f"malformed request: {reason}", 400)

    def _upgraded(self, data: bytes, offset: int) -> None:
        """llhttp paused after a request with Upgrade (or CONNECT), already delivered.

        The upgrade itself is ignored (RFC 9110 §7.8 lets a server ignore it); a
        request without a body leaves the parser exactly at the next message, so
        parsing continues there.
        """
        if self._done:
            return
        rest = data[offset:]
        if rest:
            self.feed(rest)

    def _after_partial(self, data: bytes) -> None:
        """Keep what an incomplete message needs for the next read, within limits."""
        if self._head is not None:  # in a body
            # Wire bytes not accounted for by on_body are chunked framing (possibly
            # before llhttp has reported the first chunk header): keep them.
            piece = data[self._body_start :] if self._chunked else data[self._pos :]
            if piece:
                raw = self._raw
                if raw is None:
                    self._raw = raw = bytearray(piece)
                else:
                    raw += piece
                if len(raw) > 2 * self.max_body_size + 65536:
                    self._done = True
                    raise RemoteProtocolError("request body is too large", 413)
            self._body_start = 0
            return
        rest = data[self._pos :]
        old_length = len(self._carry)
        if not old_length:
            rest = rest.lstrip(b"\r\n")  # empty lines between messages (RFC 9112 §2.2)
            if not rest:
                return
        carry = self._carry = self._carry + rest
        self.in_message = True
        end = carry.find(b"\r\n\r\n", max(0, old_length - 3))
        if end >= 0:
            # The head is complete but llhttp has not completed the message, so a
            # body is expected and none of it has been delivered yet.  Bytes after
            # the head can only be the start of a chunk-size line.
            self._data = b""
            self._pos = 0
            self._locate_head(waiting_for_body=True)
            extra = carry[end + 4 :]
            self._raw = bytearray(extra) if extra else None
            self._body_start = 0
            return
        if len(carry) > self.max_head_size:
            self._done = True
            if b"\r\n" not in carry.lstrip(b"\r\n"):
                raise RemoteProtocolError(
                    f"request target longer than {self.max_url_length} bytes", 414
                )
            raise RemoteProtocolError(
                f"request header section larger than {self.max_head_size} bytes", 431
            )

    # ------------------------------------------------------------------ llhttp callbacks
    def on_url(self, url: bytes) -> None:
        if self._url is None:
            self._url = url
        else:
            self._url += url  # the request line was split across reads

    def on_chunk_header(self) -> None:
        if self._head is None:
            self._locate_head(waiting_for_body=False)
        self._chunked = True

    def on_body(self, chunk: bytes) -> None:
        if self._head is None:
            self._locate_head(waiting_for_body=False)
        size = self._body_size + len(chunk)
        if size > self.max_body_size:
            raise RemoteProtocolError(
                f"request body larger than max_body_size={self.max_body_size} bytes", 413
            )
        self._body_size = size
        if not self._chunked:
            self._pos += len(chunk)
        body = self._body
        if body is None:
            self._body = chunk
        elif type(body) is bytes:
            self._body = bytearray(body)
            self._body += chunk
        else:
            body += chunk

    def on_message_complete(self) -> None:
        url = self._url
        self._url = None
        parser = self._parser
        if self.in_message:
            head, body = self._complete_slow()
            http11 = self._http11
        else:
            data = self._data
            pos = self._pos
            if data[pos] < 33:  # CR or LF: empty lines before the request line
                while data[pos] in b"\r\n":
                    pos += 1
            end = data.find(b"\r\n\r\n", pos)
            if end < 0:
                raise _InternalMismatch("head end not found")
            head = data[pos:end]
            self._pos = end + 4
            body = b""
            http11 = self._check_head(head)
        if parser.should_upgrade():
            self._check_upgrade(head)
        request = _new(Request)
        raw_method = parser.get_method()
        request.method = _METHOD_NAMES.get(raw_method) or _method_name(raw_method)
        request.target = url if url is not None else b""
        request.head = head
        request.body = body
        request.keep_alive = keep_alive = parser.should_keep_alive()
        request.transport = self.transport
        request.params = _NO_PARAMS
        request._headers = None
        request._query = None
        # connection mode (see _response): 0 keep (1.1), 1 close, 2 keep (1.0)
        self._deliver(request, (0 if http11 else 2) if keep_alive else 1)

    # ------------------------------------------------------------------ slow paths
    def _complete_slow(self) -> tuple[bytes, bytes]:
        if self._head is None:
            self._locate_head(waiting_for_body=False)
        head = self._head
        if self._chunked:
            piece = self._data[self._body_start :]
            if self._raw:
                raw = self._raw + piece
                end = chunked_wire_length(raw, 0) - len(self._raw)
            else:
                end = chunked_wire_length(piece, 0)
            self._pos = self._body_start + end
        body = self._body
        body = b"" if body is None else bytes(body) if type(body) is not bytes else body
        self._head = None
        self._body = None
        self._body_size = 0
        self._chunked = False
        self._raw = None
        self.in_message = False
        return head, body  # type: ignore[return-value]

    def _locate_head(self, waiting_for_body: bool) -> None:
        """Find the complete head of the current message; validate it."""
        carry = self._carry
        data = self._data
        if carry:
            buf = carry + data[: self.max_head_size + 4]
            start = 0
        else:
            buf = data
            start = self._pos
        while start < len(buf) and buf[start] in b"\r\n":
            start += 1
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:
            if len(buf) - start > self.max_head_size:
                raise RemoteProtocolError(
                    f"request header section larger than max_head_size={self.max_head_size} bytes",
                    431,
                )
            raise _InternalMismatch("head end not found")
        head = buf[start:end]
        self._pos = end + 4 - len(carry)
        self._body_start = self._pos
        self._carry = b""
        self.in_message = True
        self._head = head
        self._http11 = self._check_head(head)
        if self._parser.get_method() not in (b"GET", b"HEAD") or waiting_for_body:
            fields = parse_fields(head)
            self._check_body_framing(fields, waiting_for_body)

    def _check_head(self, head: bytes) -> bool:
        """Limits, version and Host (RFC 9112 §3.2); True for HTTP/1.1, False for 1.0."""
        if len(head) > 2048:
            self._check_sizes(head)
        line_end = head.find(b"\r\n")
        if line_end < 0 or not head.startswith(b"HTTP/1.1", line_end - 8):
            self._check_version(head, line_end)
            return False
        lowered = head.lower()
        if lowered.count(b"\nhost:") != 1:
            count = lowered.count(b"\nhost:")
            raise RemoteProtocolError(
                f"an HTTP/1.1 request needs exactly one Host header, this one has {count}",
                400,
            )
        return True

    def _check_sizes(self, head: bytes) -> None:
        line_end = head.find(b"\r\n")
        line = head if line_end < 0 else head[:line_end]
        if len(line) > self.max_url_length + 32:
            raise RemoteProtocolError(
                f"request target longer than max_url_length={self.max_url_length} bytes", 414
            )
        if len(head) > self.max_head_size:
            raise RemoteProtocolError(
                f"request header section larger than max_head_size={self.max_head_size} bytes",
                431,
            )
        if head.count(b"\r\n") > self.max_header_count:
            raise RemoteProtocolError(
                f"more than max_header_count={self.max_header_count} header fields", 431
            )

    def _check_version(self, head: bytes, line_end: int) -> None:
        line = head if line_end < 0 else head[:line_end]
        version = line[line.rfind(b" ") + 1 :]
        if version == b"HTTP/1.0":
            if head.lower().count(b"\nhost:") > 1:
                raise RemoteProtocolError("more than one Host header", 400)
            return
        if version == b"HTTP/1.1":  # a head with no header fields at all
            raise RemoteProtocolError("an HTTP/1.1 request needs a Host header", 400)
        raise RemoteProtocolError("only HTTP/1.0 and HTTP/1.1 are supported over plain TCP", 505)

    def _check_body_framing(self, fields: list[tuple[str, str]], waiting: bool) -> None:
        """413 before reading a declared-too-large body; Expect: 100-continue (RFC 9110 §10.1.1)."""
        length = None
        expect = None
        for name, value in fields:
            if name == "content-length":
                length = int(value)  # llhttp validated the digits
            elif name == "expect":
                expect = value.lower()
        if length is not None and length > self.max_body_size:
            raise RemoteProtocolError(
                f"request body of {length} bytes is larger than max_body_size={self.max_body_size}",
                413,
            )
        if expect is not None:
            if expect != "100-continue":
                raise RemoteProtocolError(f"unsupported expectation {expect!r}", 417)
            if waiting and self._on_continue is not None:
                self._on_continue()

    def _check_upgrade(self, head: bytes) -> None:
        """An Upgrade or CONNECT request: llhttp skipped any body, so one is refused."""
        fields = parse_fields(head)
        for name, value in fields:
            if (name == "content-length" and value.strip() != "0") or name == "transfer-encoding":
                raise RemoteProtocolError(
                    "a request with both Upgrade and a body is not supported; "
                    "send it without the Upgrade header",
                    501,
                )
        if self._parser.get_method() == b"CONNECT":
            raise RemoteProtocolError("CONNECT (tunnelling) is not implemented", 501)
