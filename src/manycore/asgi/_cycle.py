"""One request and its response: the ``receive`` and ``send`` an ASGI application gets.

``receive()`` hands over the body as it arrives (``more_body`` says whether
more follows), then, once the response is complete or the client has gone,
``http.disconnect``.  ``send()`` writes at once; the head waits for the first
body message, because only then is it known whether the body has a length
(one message: ``Content-Length``) or is streamed (HTTP/1.1: chunked; HTTP/1.0:
ended by closing).  While the client does not read, ``send()`` waits
(backpressure).  Both are coroutines that finish without suspending whenever
nothing has to be waited for, so a connection can step the application
without a Task (:mod:`._stepping`).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Protocol

from ..context import ManycoreError
from ..http.wire import CONNECTION_LINES, HeadCache, LocalProtocolError
from ._heads import HeadStore, head_parts

__all__ = ["ClientDisconnected", "CycleOwner", "PathsendFailed", "RequestCycle"]

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_CHUNKED = b"Transfer-Encoding: chunked\r\n"
_LAST_CHUNK = b"0\r\n\r\n"
_KEEP_LINE, _CLOSE_LINE = CONNECTION_LINES


class PathsendFailed(ManycoreError):
    """The file of an ``http.response.pathsend`` cannot be sent (nothing of it was)."""


class ClientDisconnected(OSError):
    """``send()`` after the client went away (ASGI 2.4: an ``OSError``)."""

    __module__ = "manycore.asgi"  # where applications import it from, as tracebacks show it


class CycleOwner(Protocol):
    """What a request cycle needs from its connection."""

    loop: Any
    transport: Any
    feeding: bool  # a read is being parsed (and refreshed ``cache``); output goes to ``out``
    out: list[bytes]
    cache: HeadCache  # this parallel context's Date line
    heads: HeadStore  # and its checked response heads

    def write(self, data: bytes) -> None:
        """Send ``data`` after everything the connection sent before."""

    def send_file(self, head: bytes, path: str) -> None:
        """Send ``head`` and then the file (zero copy), in order."""

    def response_done(self, cycle: RequestCycle) -> None:
        """The response is complete: the next request may be answered."""

    def body_taken(self) -> None:
        """The application took the buffered body: reading may resume."""

    def body_wanted(self) -> None:
        """The application waits for body bytes (the body's time limits apply)."""

    def output_waits(self) -> None:
        """``send()`` waits for the client to read (the send time limit applies)."""

    def app_finished(self, cycle: RequestCycle, exc: BaseException | None) -> None:
        """The application's coroutine ended, returning (None) or raising ``exc``."""


class RequestCycle:
    """The state of one request/response exchange."""

    __slots__ = (
        "body",
        "body_done",
        "buffered",
        "chunked",
        "conn",
        "continue_wanted",
        "disconnected",
        "drop_body",
        "final_sent",
        "head_only",
        "http11",
        "keep_alive",
        "remaining",
        "response_complete",
        "response_started",
        "scope",
        "start",
        "status",
        "waiter",
    )

    def __init__(
        self, conn: CycleOwner, scope: dict[str, Any], http11: bool, keep_alive: bool
    ) -> None:
        self.conn = conn
        self.scope = scope
        self.http11 = http11
        self.keep_alive = keep_alive
        # HEAD, 204, 304: a body the application sends is not sent
        self.head_only = self.drop_body = scope["method"] == "HEAD"
        self.body: list[bytes] = []
        self.buffered = self.status = 0
        self.body_done = self.final_sent = self.continue_wanted = self.disconnected = False
        self.response_started = self.response_complete = self.chunked = False
        self.start: dict[str, Any] | None = None
        self.remaining: int | None = None  # body bytes still owed to a declared length
        self.waiter: asyncio.Future[None] | None = None

    # ------------------------------------------------------------- the connection's side
    def wake(self) -> None:
        """Body bytes arrived, the body ended, or the client went: ``receive()`` may go on."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def app_done(self, exc: BaseException | None) -> None:
        """The application's coroutine for this request ended (see :mod:`._stepping`)."""
        self.conn.app_finished(self, exc)

    # ------------------------------------------------------------- receive
    async def receive(self) -> dict[str, Any]:
        while True:
            body = self.body
            if body:
                chunk = body[0] if len(body) == 1 else b"".join(body)
                body.clear()
                self.buffered = 0
                self.conn.body_taken()
                if self.body_done:  # this is the body's last message; none follows it
                    self.final_sent = True
                    return {"type": "http.request", "body": chunk, "more_body": False}
                return {"type": "http.request", "body": chunk, "more_body": True}
            if self.body_done and not self.final_sent:
                self.final_sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if self.disconnected or self.response_complete:
                return {"type": "http.disconnect"}
            if self.continue_wanted:
                # RFC 9110 §10.1.1: the client waits for this before sending the body.
                self.continue_wanted = False
                if not self.response_started:
                    self.conn.write(_CONTINUE)
            loop = self.conn.loop
            if loop is None:
                raise RuntimeError(
                    "receive() has to wait for the request body, and this connection has no "
                    "event loop (an in-memory test transport)"
                )
            if not self.body_done:
                self.conn.body_wanted()
            self.waiter = waiter = loop.create_future()
            try:
                await waiter
            finally:
                self.waiter = None

    # ------------------------------------------------------------- send
    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            if self.status:  # the head has gone out
                if self.response_complete:
                    self._refuse(message)
                if self.disconnected:
                    raise ClientDisconnected("the client closed the connection")
                more = message.get("more_body", False)
                self._body(message.get("body", b""), more)
            else:
                if self.start is None or self.disconnected:
                    if self.disconnected:
                        raise ClientDisconnected("the client closed the connection")
                    self._refuse(message)
                more = message.get("more_body", False)
                self._head_and_body(message.get("body", b""), more)
            if more:
                transport = self.conn.transport
                if transport.writing_paused or transport.sending_file:
                    self.conn.output_waits()
                    await transport.drain()
            return
        if kind == "http.response.start":
            if self.start is not None:
                self._refuse(message)
            self.start = message
            self.response_started = True
            return
        if kind == "http.response.pathsend":
            if self.start is None or self.status or self.response_complete:
                self._refuse(message)
            if self.disconnected:
                raise ClientDisconnected("the client closed the connection")
            self._pathsend(message["path"])
            return
        self._refuse(message)

    def _refuse(self, message: dict[str, Any]) -> None:
        if self.start is None:
            where = "before http.response.start"
        elif self.response_complete:
            where = "after the response was complete"
        else:
            where = "here"
        raise LocalProtocolError(f"ASGI message {message.get('type')!r} is not valid {where}")

    def _head(self, length: int | None, streamed: bool) -> bytes:
        """The head for a body of ``length`` bytes, or a streamed one; sets the framing."""
        start = self.start
        assert start is not None
        status = start["status"]
        conn = self.conn
        date_line = conn.cache.date_line if conn.feeding else conn.cache.fresh().date_line
        parts = head_parts(status, start.get("headers", ()), date_line, conn.heads)
        self.status = status
        if parts.keep_head is not None and self.keep_alive:
            self.remaining = parts.length
            return parts.keep_head
        if parts.close:
            self.keep_alive = False
        lines = [parts.prefix]
        if parts.no_body:
            self.drop_body = True
        elif parts.length is not None:
            self.remaining = parts.length
            lines.append(b"Content-Length: %d\r\n" % parts.length)
        elif not streamed:
            lines.append(b"Content-Length: %d\r\n" % (length or 0))
            self.remaining = length
        elif self.http11:
            self.chunked = True
            lines.append(_CHUNKED)
        else:
            self.keep_alive = False  # HTTP/1.0 and no length: the close ends the body
        lines.append(_KEEP_LINE if self.keep_alive else _CLOSE_LINE)
        lines.append(b"\r\n")
        return b"".join(lines)

    def _head_and_body(self, body: bytes, more: bool) -> None:
        start = self.start
        assert start is not None
        conn = self.conn
        cache = conn.cache if conn.feeding else conn.cache.fresh()
        status = start["status"]
        parts = head_parts(status, start.get("headers", ()), cache.date_line, conn.heads)
        if parts.keep_head is not None and self.keep_alive and not self.drop_body:
            # The commonest response: a declared length on a kept connection.
            left = parts.length - len(body)  # type: ignore[operator]  # keep_head: a length
            if left < 0:
                self.remaining = parts.length
                self._owed(body)  # raises: longer than declared (and nothing went out)
            self.status = status
            self.remaining = left
            if conn.feeding:  # conn.write, written out: this is every plain response
                conn.out.append(parts.keep_head + body)
            else:
                conn.write(parts.keep_head + body)
            if not more:
                self._complete()
            return
        head = self._head(len(body), more)
        if self.drop_body:
            self.conn.write(head)
        elif self.chunked:
            if body:
                head += b"%x\r\n%s\r\n" % (len(body), body)
            self.conn.write(head if more else head + _LAST_CHUNK)
        else:
            remaining = self.remaining
            if remaining is not None:
                if len(body) > remaining:
                    self._owed(body)
                self.remaining = remaining - len(body)
            self.conn.write(head + body)
        if not more:
            self._complete()

    def _body(self, body: bytes, more: bool) -> None:
        if self.drop_body:
            pass
        elif self.chunked:
            if body:
                data = b"%x\r\n%s\r\n" % (len(body), body)
                self.conn.write(data if more else data + _LAST_CHUNK)
            elif not more:
                self.conn.write(_LAST_CHUNK)
        elif body:
            self._owed(body)
            self.conn.write(body)
        if not more:
            self._complete()

    def _owed(self, body: bytes) -> None:
        remaining = self.remaining
        if remaining is not None:
            if len(body) > remaining:
                raise LocalProtocolError(
                    f"the response body is longer than its Content-Length "
                    f"({len(body) - remaining} bytes too many)"
                )
            self.remaining = remaining - len(body)

    def _complete(self) -> None:
        if self.remaining and not self.drop_body:
            raise LocalProtocolError(
                f"the response ended {self.remaining} bytes short of its Content-Length"
            )
        self.response_complete = True
        self.conn.response_done(self)
        if self.waiter is not None:  # receive() waits: it returns http.disconnect now
            self.wake()

    def _pathsend(self, path: Any) -> None:
        """``http.response.pathsend``: the file goes out with ``sendfile``, never read here."""
        try:
            size = os.stat(path).st_size
        except (OSError, TypeError, ValueError) as exc:
            raise PathsendFailed(f"http.response.pathsend cannot send {path!r}: {exc}") from None
        head = self._head(size, False)
        if self.remaining != size and not self.drop_body:
            raise LocalProtocolError(
                f"http.response.pathsend: Content-Length {self.remaining} is not the size "
                f"of {path!r} ({size} bytes)"
            )
        self.remaining = 0
        if self.drop_body or size == 0:
            self.conn.write(head)
        else:
            try:
                self.conn.send_file(head, os.fspath(path))
            except (OSError, ValueError) as exc:  # gone or changed since the stat: nothing sent
                self.status = 0
                raise PathsendFailed(
                    f"http.response.pathsend cannot send {path!r}: {exc}"
                ) from None
        self._complete()

    # ------------------------------------------------------------- the end
    def unfinished(self) -> bool:
        """The response began and did not end: the connection has to close to end it."""
        return self.response_started and not self.response_complete
