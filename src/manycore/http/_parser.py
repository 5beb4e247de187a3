"""Bytes in, Request objects out: llhttp (through httptools) and where each head is.

Contract: :meth:`RequestReader.feed` either delivers zero or more complete
requests, in order, to the ``deliver`` callback, or raises
:class:`RemoteProtocolError` carrying the status to answer with (400, 413,
414, 417, 431, 501, 505).  Any input, split in any way, does one of the two.
After an error the reader is finished: the connection answers and closes.
``deliver`` may stop the reader at a message boundary by raising one of the
signals in :mod:`._signals` (closing, or pausing with the rest ``held``).

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
body's framing is followed read by read (:class:`ChunkedScanner`) after llhttp
accepted it.  A body is buffered once: the first chunk as it came, several in
one ``BytesIO`` whose value is taken without a copy.

The fast path -- a bodyless request whose head arrived in one read -- costs
three parser queries, a check of its request line and Host, and a few slot
stores.  The line must be HTTP/1.0 or HTTP/1.1 (llhttp also accepts HTTP/0.9,
HTTP/2.0, RTSP and ICE lines, which are 505 here): it is checked where its
version must be.  The last head checked becomes the one later requests are
compared with: a request that repeats its bytes exactly (a client asking for
the same thing again, or pipelining copies of one request) is recognised by one
comparison, which gives its end (the start of the next), its head, its method
and its connection mode without a parser query; a read made only of keep-alive
copies takes one comparison for all of them and is not given to llhttp at all
(it would decide nothing new: it accepted those bytes, from the state it is in
between messages, and returns to that state after each).  Everything else (a
head split across reads, any body, a read long enough to break a size limit)
takes a slow path that locates the head at once, keeps what it needs between
reads, and is bounded by ``max_head_size`` and ``max_body_size``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from io import BytesIO
from typing import Any

import httptools

from ._errors import RemoteProtocolError
from ._headers import parse_fields
from ._heads import (
    ChunkedScanner,
    HeadTrackingError,
    check_bodyless_head,
    check_host,
    check_request_line,
    check_sizes,
    check_target,
    head_end,
    request_version,
)
from ._modes import CLOSE, KEEP, ConnectionMode
from ._request import ParsedRequest, Request
from ._signals import PauseParsing, StopParsing

__all__ = ["RequestReader"]

_TOKEN_CHARS = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]*")
_MAX_METHOD = 32  # longer tokens are not taken for a method name
_NO_HEAD_LENGTH = 1 << 62


class RequestReader:
    """Turns the bytes of one connection into Request objects."""

    __slots__ = (
        "_bad_method",
        "_big",
        "_body",
        "_body_size",
        "_body_start",
        "_carry",
        "_checked_tail",
        "_chunked",
        "_close",
        "_data",
        "_deliver",
        "_deliver_run",
        "_done",
        "_head",
        "_known",
        "_known_head",
        "_known_length",
        "_known_method",
        "_known_mode",
        "_known_target",
        "_on_continue",
        "_parser",
        "_pos",
        "_run",
        "_scanner",
        "_small_limit",
        "_url",
        "delivered",
        "held",
        "in_message",
        "max_body_size",
        "max_head_size",
        "max_header_count",
        "max_url_length",
        "repeat",
        "transport",
    )

    def __init__(
        self,
        deliver: Callable[[Request, ConnectionMode], Any],
        transport: Any = None,
        *,
        max_head_size: int = 16 * 1024,
        max_url_length: int = 8 * 1024,
        max_header_count: int = 100,
        max_body_size: int = 1 << 20,
        on_continue: Callable[[], Any] | None = None,
        deliver_run: Callable[[list[Request]], Any] | None = None,
    ) -> None:
        self._deliver = deliver
        # A run of copies in one call (see _deliver_copies); by default, one by one.
        self._deliver_run = deliver_run or self._deliver_each
        self.transport = transport
        self.max_head_size = max_head_size
        self.max_url_length = max_url_length
        self.max_header_count = max_header_count
        self.max_body_size = max_body_size
        self._small_limit = min(max_head_size, max_url_length)
        self._on_continue = on_continue
        self._parser = httptools.HttpRequestParser(self)
        self._data = b""
        self._pos = 0  # where the next message starts in _data
        # The last checked fast-path head, with its CRLF CRLF, and its length.  Until
        # there is one, a length no read is a multiple of and no slice matches, so the
        # comparisons need no test for "none yet".  Its method and connection mode
        # follow from its bytes alone.
        self._known = b""
        self._known_head = b""  # _known without its CRLF CRLF: every repeat's Request.head
        # The last checked fast-path head from its version on (" HTTP/1.1\r\n" and the
        # header fields): a new head that only changes method and target ends with it.
        self._checked_tail = b""
        self._known_length = _NO_HEAD_LENGTH
        self._known_method = b""
        self._known_mode = KEEP
        self._known_target = b""  # one bytes object shared by the repeats' Requests
        self._run = b""  # copies of _known, as many as the last read that was a run
        # _known while a read equal to it would be delivered as one keep-alive copy without
        # parsing (its mode is keep-alive, no message is in progress, the reader is not
        # finished), else None: a connection answers such a read without feeding it.
        self.repeat: bytes | None = None
        self._big = False  # this read could hold a head breaking a size limit
        self._url: bytes | None = None
        self._carry = b""  # the current message's head bytes from earlier reads
        self.in_message = False  # a message is on the slow path (see module docstring)
        self._head: bytes | None = None  # located before completion (a body follows)
        self._body: bytes | BytesIO | None = None
        self._body_size = 0
        self._chunked = False
        self._scanner: ChunkedScanner | None = None  # the framing of a chunked body
        self._close = False  # the current message must close the connection
        self._bad_method: bytes | None = None  # an unknown method waiting for its end
        self._body_start = 0
        self._done = False
        self.delivered = 0  # requests delivered; the connection takes and resets it
        self.held = b""  # input after a PauseParsing, for the connection to feed later

    # ------------------------------------------------------------------ state
    @property
    def in_head(self) -> bool:
        """A request has begun and its head is not complete yet."""
        return self._head is None and (
            self._url is not None or bool(self._carry) or self._bad_method is not None
        )

    @property
    def in_body(self) -> bool:
        """A request head is complete and its body is still arriving."""
        return self._head is not None

    @property
    def finished(self) -> bool:
        """An error or a StopParsing ended this reader; it accepts no more input."""
        return self._done

    def finish(self) -> None:
        """End this reader: it accepts no more input (after an error or a stop)."""
        self._done = True
        self.repeat = None

    # ------------------------------------------------------------------ feeding
    def feed(self, data: bytes) -> None:
        """Parse ``data``; deliver complete requests; raise RemoteProtocolError on bad input."""
        if self._done or not data:
            return
        if self._bad_method is not None:
            self._judge_method(data)
            return
        size = len(data)
        big = size > self._small_limit  # this read could hold a head breaking a size limit
        # A read of N exact copies of the known head (a client pipelining one request)
        # is recognised by one comparison against N copies, kept for the next read.
        # llhttp accepted those bytes as a complete keep-alive message from the state it
        # is in between messages, and returns to that state after each: parsing the
        # copies again would decide nothing new, so they are delivered without it.
        if not (big or self.in_message or size % self._known_length) and (self._known_mode is KEEP):
            run = self._run
            if len(run) != size:
                run = self._run = self._known * (size // self._known_length)
            if data == run:
                self._deliver_copies(data)
                return
        self._data = data
        self._pos = 0
        self._big = big
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            # A callback raised: its exception is the context (see _signals).
            cause = exc.__context__
            if isinstance(cause, PauseParsing):
                self._paused_at_boundary(data)
                return
            self.finish()
            if isinstance(cause, StopParsing):
                return
            if cause is not None:
                raise cause from None
            raise RemoteProtocolError(str(exc)) from None
        except httptools.HttpParserUpgrade as exc:
            upgrade_at = exc.args[0] if exc.args else len(data)
        except httptools.HttpParserInvalidMethodError:
            self._method_error(data)
            return
        except httptools.HttpParserError as exc:
            self.finish()
            raise self._parse_error(exc) from None
        else:
            # Outside a message, a read ending in LF left nothing partial: an unfinished
            # request line before its target cannot end in LF, and after it _url is set.
            if self.in_message or self._url is not None or data[-1] != 10:
                self._after_partial(data)
            return
        # Only an Upgrade gets here, outside its handler: errors while parsing the
        # rest then keep their own cause.
        self._upgraded(data, upgrade_at)

    def _deliver_copies(self, data: bytes) -> None:
        """Deliver each copy of the known head in a read made only of them, as one run.

        What delivering raises is handled as when llhttp calls ``deliver``: a pause
        keeps the copies after the last delivered one for later, a stop ends the reader.
        """
        self._data = data
        length = self._known_length
        size = len(data)
        head = self._known_head
        method = self._known_method
        target = self._known_target
        transport = self.transport
        count = size // length
        if count == 1:  # a client waiting for each answer: no run to share checks
            request = ParsedRequest()
            request._head = head
            request._method = method
            request.target = target
            request.transport = transport
            self.delivered += 1
            self._deliver_one(request)
            return
        requests: list[Request] = []
        append = requests.append
        for _ in range(count):
            request = ParsedRequest()
            request._head = head
            request._method = method
            request.target = target
            request.transport = transport
            append(request)
        self.delivered += len(requests)
        try:
            self._deliver_run(requests)
        except PauseParsing:
            self.delivered -= len(requests)  # left in the list: not delivered
            self.held = data[size - len(requests) * length :]
        except StopParsing:
            self.delivered -= len(requests)
            self.finish()
        except BaseException:
            self.delivered -= len(requests)
            self.finish()
            raise

    def _deliver_one(self, request: Request) -> None:
        """A keep-alive repeat on its own, with what delivering raises handled as in a run."""
        try:
            self._deliver(request, KEEP)
        except PauseParsing:
            self.held = b""  # nothing after it in this read
        except StopParsing:
            self.finish()
        except BaseException:
            self.finish()
            raise

    def _deliver_each(self, requests: list[Request]) -> None:
        """A run delivered one request at a time; on raising, ``requests`` holds the rest."""
        deliver = self._deliver
        for i, request in enumerate(requests):
            try:
                deliver(request, KEEP)
            except BaseException:
                del requests[: i + 1]
                raise

    def _paused_at_boundary(self, data: bytes) -> None:
        """Keep the input after the last delivered request; llhttp starts afresh.

        llhttp cannot resume after a callback error, but between messages a new
        parser is in exactly the state the old one was.
        """
        self.held = data[self._pos :]
        self._parser = httptools.HttpRequestParser(self)

    def _method_error(self, data: bytes) -> None:
        """llhttp stopped inside a method it does not know: 501 or 400, however split.

        llhttp stops at the first byte no known method continues with, so how much
        of the token it saw depends on the reads.  The answer waits for the byte
        after the token instead: a space makes it a method (501), anything else
        garbage (400).
        """
        self._bad_method = b""
        self.in_message = True
        self.repeat = None
        self._judge_method(self._carry + data[self._pos :])

    def _judge_method(self, data: bytes) -> None:
        # Only called while a bad method is pending, so _bad_method is bytes here.
        seen = (self._bad_method + data).lstrip(b"\r\n")[: _MAX_METHOD + 2]  # type: ignore[operator]
        self._bad_method = seen
        length = _TOKEN_CHARS.match(seen).end()  # type: ignore[union-attr]  # "*" always matches
        if length == len(seen) and length <= _MAX_METHOD:
            return  # the token goes on: wait for its end
        self.finish()
        if 0 < length <= _MAX_METHOD and seen[length] == 32:
            method = seen[:length].decode("latin-1")
            raise RemoteProtocolError(f"method {method!r} is not implemented", 501)
        raise RemoteProtocolError("malformed request line (invalid method)", 400)

    def _parse_error(self, exc: Exception) -> RemoteProtocolError:
        reason = str(exc) or type(exc).__name__
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
            # before llhttp has reported the first chunk header): follow them.
            piece = data[self._body_start :] if self._chunked else data[self._pos :]
            if piece:
                try:
                    self._chunked_framing().feed(piece, 0)
                except RemoteProtocolError:
                    self.finish()
                    raise
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
        self.repeat = None
        end = carry.find(b"\r\n\r\n", max(0, old_length - 3))
        if end >= 0:
            # The head is complete but llhttp has not completed the message, so a
            # body is expected and none of it has been delivered yet.  Bytes after
            # the head can only be the start of a chunk-size line.
            self._data = b""
            self._pos = 0
            self._locate_head(waiting_for_body=True)
            extra = carry[end + 4 :]
            if extra:
                self._chunked_framing().feed(extra, 0)
            self._body_start = 0
            return
        if len(carry) > self.max_head_size:
            self.finish()
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
            self._body = chunk  # most bodies come in one piece: kept as it is
        elif type(body) is bytes:
            buffer = self._body = BytesIO()
            buffer.write(body)
            buffer.write(chunk)
        else:
            body.write(chunk)  # type: ignore[union-attr]  # matched by exact type: a BytesIO

    def on_message_complete(self) -> None:
        url: bytes = self._url  # type: ignore[assignment]  # llhttp calls on_url first
        self._url = None
        request = ParsedRequest()
        self.delivered += 1
        if not self.in_message:
            start = self._pos
            end = start + self._known_length
            if self._data[start:end] == self._known:
                # The same bytes as the head checked last: the same request line,
                # method, mode and checks (Upgrade included), and the next request
                # starts at its end.
                self._pos = end
                request._head = self._known_head
                if self._big:  # a read long enough that this request might break a limit
                    self._check_fast_request(request, url)
                request._method = self._known_method
                request.target = self._known_target
                request.transport = self.transport
                self._deliver(request, self._known_mode)
                return
        self._complete_new_request(request, url)

    def _complete_new_request(self, request: Request, url: bytes) -> None:
        """A request not recognised as a repeat: check it, and remember a bodyless head."""
        parser = self._parser
        method = parser.get_method()
        head = None  # a bodyless head, checked here
        if self.in_message:
            mode = CLOSE if self._complete_slow_request(request, url) else KEEP
        else:
            data = self._data
            start = self._pos
            # llhttp separates method, target and version by single spaces, and
            # after "HTTP/1." accepts only 0 or 1 and CRLF.  (Slices compare
            # faster than startswith, which parses its arguments.)
            at = start + len(method) + 1 + len(url)
            if data[at : at + 8] != b" HTTP/1.":  # empty lines first, or a 505/400
                start = check_request_line(data, start)
            if url.find(b"#") >= 0:
                check_target(url)
            request._data = data
            request._at = start
            self._pos = end = head_end(request)
            head = data[start:end]
            # A keep-alive client usually sends the same fields with each new target.
            # A head ending in the tail checked last, which starts 9 bytes (" HTTP/1.x")
            # before its first line break, differs from that head only in method and
            # target, which hold no line: same version, same Host and Expect fields.
            line_end = head.find(b"\r\n")
            checked = self._checked_tail
            if len(head) - len(checked) != line_end - 9 or not head.endswith(checked):
                check_bodyless_head(head)  # a repeat of this head skips it
                self._checked_tail = head[line_end - 9 :]
            if self._big:  # a read long enough that this request might break a limit
                self._check_fast_request(request, url)
            mode = KEEP
        if parser.should_upgrade():
            self._check_upgrade(request.head)
        if not parser.should_keep_alive():
            mode = CLOSE
        if head is not None:  # checked: the head later requests are compared with
            self._known = head
            self._known_head = head[:-4]
            self._known_target = url
            self._known_length = end - start
            self._known_method = method
            self._known_mode = mode
            self._run = b""
            self.repeat = head if mode is KEEP else None
        request._method = method
        request.target = url
        request.transport = self.transport
        self._deliver(request, mode)

    # ------------------------------------------------------------------ slow paths
    def _check_fast_request(self, request: Request, url: bytes) -> None:
        """Limits for a fast-path request in a long read (a short read cannot break them)."""
        if len(url) > self.max_url_length:
            raise RemoteProtocolError(
                f"request target longer than max_url_length={self.max_url_length} bytes", 414
            )
        if len(self._data) > self.max_head_size:  # only then can a head be too large
            head = request.head
            check_sizes(head, self.max_url_length, self.max_head_size, self.max_header_count)

    def _complete_slow_request(self, request: Request, url: bytes) -> bool:
        """Finish a slow-path request; True if the connection must close after it."""
        check_target(url)
        request._head = self._complete_slow()
        body = self._body
        self._body = None
        if body is None:
            request._body = b""
        else:  # getvalue() hands over the buffer without copying it
            # Matched by exact type (faster than isinstance): otherwise a BytesIO.
            request._body = body if type(body) is bytes else body.getvalue()  # type: ignore[union-attr]
        close = self._close
        self._close = False
        return close

    def _complete_slow(self) -> bytes:
        if self._head is None:
            self._locate_head(waiting_for_body=False)
        head = self._head
        if self._chunked:
            end = self._chunked_framing().feed(self._data, self._body_start)
            if end < 0:
                raise HeadTrackingError("chunked body ended before its last chunk")
            self._pos = end
        self._head = None
        self._body_size = 0
        self._chunked = False
        self._scanner = None
        self.in_message = False
        if self._known_mode is KEEP and not self._done:
            self.repeat = self._known
        return head  # type: ignore[return-value]  # _locate_head set it

    def _chunked_framing(self) -> ChunkedScanner:
        scanner = self._scanner
        if scanner is None:
            scanner = self._scanner = ChunkedScanner(self.max_head_size, self.max_header_count)
        return scanner

    def _locate_head(self, waiting_for_body: bool) -> None:
        """Find and check the complete head of the current message (a slow-path one)."""
        carry = self._carry
        data = self._data
        if carry:
            buf = carry + data[: self.max_head_size + 4]
            start = 0
        else:
            buf = data
            start = self._pos
        start = check_request_line(buf, start)
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
        self.repeat = None
        self._head = head
        check_sizes(head, self.max_url_length, self.max_head_size, self.max_header_count)
        check_host(head)
        self._check_body_framing(head, parse_fields(head), waiting_for_body)

    def _check_body_framing(
        self, head: bytes, fields: list[tuple[str, str]], waiting: bool
    ) -> None:
        """Body framing and expectations, before any of the body is read.

        413 for a declared-too-large body; 501 for a transfer coding other than
        chunked (RFC 9112 §6.1); an HTTP/1.0 message with Transfer-Encoding closes
        the connection after its answer (RFC 9112 §6.1); Expect (RFC 9110 §10.1.1),
        where only ``100-continue`` is known (417 for anything else) and means
        something only with a body.
        """
        length = None
        expect = None
        coded = False
        for name, value in fields:
            if name == "content-length":
                length = int(value)  # llhttp validated the digits
            elif name == "transfer-encoding":
                coded = True
                for coding in value.lower().split(","):
                    coding = coding.strip(" \t")
                    if coding and coding != "chunked":
                        raise RemoteProtocolError(
                            f"transfer coding {coding!r} is not implemented", 501
                        )
            elif name == "expect":
                expect = value.lower()
        if length is not None and length > self.max_body_size:
            raise RemoteProtocolError(
                f"request body of {length} bytes is larger than max_body_size={self.max_body_size}",
                413,
            )
        version = request_version(head)
        if coded and version == b"1.0":
            self._close = True
        if expect is not None:
            if expect != "100-continue":
                raise RemoteProtocolError(f"unsupported expectation {expect!r}", 417)
            # RFC 9110 §15.2: never a 1xx to an HTTP/1.0 client (it ignores Expect).
            if (length or coded) and waiting and version == b"1.1" and self._on_continue:
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
