"""Bytes in, Request objects out: llhttp (through httptools) and where each head is.

Contract: :meth:`RequestReader.feed` either delivers zero or more complete
requests, in order, to the ``deliver`` callback, or raises
:class:`RemoteProtocolError` carrying the status to answer with (400, 413,
414, 417, 431, 501, 505).  Any input, split in any way, does one of the two.
After an error the reader is finished: the connection answers and closes.

Strategy.  llhttp does all framing and validation (request line, header
syntax, Content-Length vs Transfer-Encoding, chunked framing) in strict mode,
so exactly one parser decides where a message ends: no smuggling by
disagreement.  Header callbacks, however, cost about 300 ns per field in
httptools -- more than everything else a small request needs -- so none is
registered.  The reader instead knows where each message starts in the byte
stream, and a request's head (request line and header fields) is sliced out of
the input when somebody asks for it (see :class:`HeadCursor`).  Positions are
exact because llhttp is strict: a head ends with CRLF CRLF; a Content-Length
body is contiguous (its length is the sum of ``on_body`` chunks); a chunked
body's wire length is re-measured from its raw bytes after llhttp accepted it.

The fast path -- a bodyless request whose head arrived in one read -- costs
three parser queries and a few slot stores.  Everything else (a head split
across reads, any body, a read long enough to break a size limit) takes a slow
path that locates the head at once, keeps what it needs between reads, and is
bounded by ``max_head_size`` and ``max_body_size``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httptools

from ._errors import RemoteProtocolError
from ._headers import parse_fields
from ._heads import (
    HeadTrackingError,
    check_host,
    check_sizes,
    check_version,
    chunked_wire_length,
    locate_heads,
    skip_empty_lines,
)
from ._request import Request

__all__ = ["PauseParsing", "RequestReader", "StopParsing"]

_new = object.__new__
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}\Z")


class StopParsing(Exception):
    """Raised by ``deliver`` to stop at a message boundary (the connection is closing)."""


class PauseParsing(Exception):
    """Raised by ``deliver`` to stop at a message boundary and keep the rest (``held``)."""


class RequestReader:
    """Turns the bytes of one connection into Request objects."""

    __slots__ = (
        "_big",
        "_body",
        "_body_size",
        "_body_start",
        "_carry",
        "_chunked",
        "_data",
        "_deliver",
        "_done",
        "_head",
        "_last",
        "_on_continue",
        "_parser",
        "_pos",
        "_raw",
        "_small_limit",
        "_url",
        "delivered",
        "held",
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
        on_continue: Callable[[], Any] | None = None,
    ) -> None:
        self._deliver = deliver
        self.transport = transport
        self.max_head_size = max_head_size
        self.max_url_length = max_url_length
        self.max_header_count = max_header_count
        self.max_body_size = max_body_size
        self._small_limit = min(max_head_size, max_url_length)
        self._on_continue = on_continue
        self._parser = httptools.HttpRequestParser(self)
        self._data = b""
        self._pos = 0  # exact offset of the next message when _last is None
        self._last: Request | None = None  # this read's last fast-path request
        self._big = False  # this read could hold a head breaking a size limit
        self._url: bytes | None = None
        self._carry = b""  # the current message's head bytes from earlier reads
        self.in_message = False  # a message is on the slow path (see module docstring)
        self._head: bytes | None = None  # located before completion (a body follows)
        self._body: bytes | bytearray | None = None
        self._body_size = 0
        self._chunked = False
        self._raw: bytearray | None = None  # chunked wire bytes from earlier reads
        self._body_start = 0
        self._done = False
        self.delivered = 0  # requests delivered; the connection takes and resets it
        self.held = b""  # input after a PauseParsing, for the connection to feed later

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

    def _sync(self) -> int:
        """Make ``_pos`` exact by locating the heads the fast path deferred."""
        last = self._last
        if last is not None:
            locate_heads(last)
            self._pos = last._end
            self._last = None
        return self._pos

    # ------------------------------------------------------------------ feeding
    def feed(self, data: bytes) -> None:
        """Parse ``data``; deliver complete requests; raise RemoteProtocolError on bad input."""
        if self._done or not data:
            return
        self._data = data
        self._pos = 0
        self._big = len(data) > self._small_limit
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, PauseParsing):
                self._paused_at_boundary(data)
                return
            self._last = None
            self._done = True
            if isinstance(cause, StopParsing):
                return
            if cause is not None:
                raise cause from None
            raise RemoteProtocolError(str(exc)) from None
        except httptools.HttpParserUpgrade as exc:
            self._last = None
            self._upgraded(data, exc.args[0] if exc.args else len(data))
            return
        except httptools.HttpParserError as exc:
            self._done = True
            error = self._parse_error(exc, data)
            self._last = None
            raise error from None
        # Outside a message, a read ending in LF left nothing partial: an unfinished
        # request line before its target cannot end in LF, and after it _url is set.
        if self.in_message or self._url is not None or data[-1] != 10:
            self._after_partial(data)
        self._last = None

    def _paused_at_boundary(self, data: bytes) -> None:
        """Keep the input after the last delivered request; llhttp starts afresh.

        llhttp cannot resume after a callback error, but between messages a new
        parser is in exactly the state the old one was.
        """
        self.held = data[self._sync() :]
        self._last = None
        self._parser = httptools.HttpRequestParser(self)

    def _parse_error(self, exc: Exception, data: bytes) -> RemoteProtocolError:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, httptools.HttpParserInvalidMethodError):
            try:
                pos = self._sync()
            except HeadTrackingError:
                pos = 0
            start = (self._carry + data[pos : pos + 64]).lstrip(b"\r\n")
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

        The upgrade itself is ignored (RFC 9110 §7.8 lets a server ignore it).  Such a
        request with a body was refused before delivery (:meth:`_check_upgrade`), so
        the parser stands exactly at the next message and parsing goes on there.
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
        rest = data[self._sync() :]
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
                    f"request target longer than max_url_length={self.max_url_length} bytes",
                    414,
                )
            raise RemoteProtocolError(
                f"request header section larger than max_head_size={self.max_head_size} bytes",
                431,
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
        request = _new(Request)
        self.delivered += 1
        if self.in_message:
            self._complete_slow_request(request)
        else:
            # The fast path: record where the head starts; find its end only if asked.
            last = self._last
            if last is None:
                request._data = self._data
                request._at = self._pos
            else:
                request._prev = last
            self._last = request
            if self._big:  # a read long enough that this request might break a limit
                self._check_fast_sizes(request, url)
        if parser.should_upgrade():
            self._check_upgrade(request.head)
        keep_alive = parser.should_keep_alive()
        if not keep_alive:
            check_version(request.head)  # HTTP/1.0, /0.9 and /2.0 lines
        request._method = parser.get_method()
        request.target = url  # type: ignore[assignment]
        request.transport = self.transport
        self._deliver(request, not keep_alive)  # the connection mode: KEEP (0) or CLOSE (1)

    # ------------------------------------------------------------------ slow paths
    def _check_fast_sizes(self, request: Request, url: bytes | None) -> None:
        """Limits for a fast-path request in a long read (a short read cannot break them)."""
        if url is not None and len(url) > self.max_url_length:
            raise RemoteProtocolError(
                f"request target longer than max_url_length={self.max_url_length} bytes", 414
            )
        if len(self._data) > self.max_head_size:  # only then can a head be too large
            head = request.head
            check_sizes(head, self.max_url_length, self.max_head_size, self.max_header_count)

    def _complete_slow_request(self, request: Request) -> None:
        request._head = self._complete_slow()
        body = self._body
        self._body = None
        request._body = b"" if body is None else body if type(body) is bytes else bytes(body)

    def _complete_slow(self) -> bytes:
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
        self._head = None
        self._body_size = 0
        self._chunked = False
        self._raw = None
        self.in_message = False
        return head  # type: ignore[return-value]

    def _locate_head(self, waiting_for_body: bool) -> None:
        """Find and check the complete head of the current message (a slow-path one)."""
        carry = self._carry
        data = self._data
        if carry:
            buf = carry + data[: self.max_head_size + 4]
            start = 0
        else:
            buf = data
            start = self._sync()
        start = skip_empty_lines(buf, start)
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:
            if len(buf) - start > self.max_head_size:
                raise RemoteProtocolError(
                    f"request header section larger than max_head_size={self.max_head_size} bytes",
                    431,
                )
            raise HeadTrackingError("a complete request's head end was not found")
        head = buf[start:end]
        self._pos = end + 4 - len(carry)
        self._body_start = self._pos
        self._carry = b""
        self.in_message = True
        self._head = head
        check_sizes(head, self.max_url_length, self.max_head_size, self.max_header_count)
        check_version(head)
        check_host(head)
        if self._parser.get_method() not in (b"GET", b"HEAD") or waiting_for_body:
            self._check_body_framing(parse_fields(head), waiting_for_body)

    def _check_body_framing(self, fields: list[tuple[str, str]], waiting: bool) -> None:
        """413 before reading a declared-too-large body; Expect (RFC 9110 §10.1.1)."""
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
        for name, value in parse_fields(head):
            if (name == "content-length" and value.strip() != "0") or name == "transfer-encoding":
                raise RemoteProtocolError(
                    "a request with both Upgrade and a body is not supported; "
                    "send it without the Upgrade header",
                    501,
                )
        if self._parser.get_method() == b"CONNECT":
            raise RemoteProtocolError("CONNECT (tunnelling) is not implemented", 501)
