"""One WebSocket connection served to an ASGI application (the ASGI websocket scope).

The HTTP connection hands over a request that asked to upgrade; from then on
this session owns the transport.  It checks the handshake, runs the application
as a task with ``websocket.connect`` waiting in ``receive()``, and answers what
the application sends: the 101 response on ``websocket.accept``, a 403 on
``websocket.close`` before it, or the application's own HTTP response (the
``websocket.http.response`` extension).

Frames are parsed and built by the sans-I/O protocol layer of ``websockets``
(chosen over wsproto by measurement: about a third of the CPU time per small
echoed message, see bench/websocket/).  It answers pings and close frames and
enforces the maximum message size (close 1009) itself; this module
reassembles fragmented messages, keeps the connection alive with pings, and
applies backpressure both ways: ``send`` waits while the transport's write
buffer is full, and reading pauses while the application leaves messages
unread.

Whatever the application does wrong -- an invalid message, an exception, a
return without answering -- ends this connection with a logged error and
never reaches the worker.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, NoReturn

from websockets.exceptions import InvalidState, ProtocolError
from websockets.extensions.base import Extension
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.protocol import OPEN
from websockets.server import ServerProtocol

from ..transport import Transport
from ._cycle import ClientDisconnected
from ._websocket_fast import data_frame_head, whole_messages
from ._websocket_handshake import (
    Handshake,
    HandshakeError,
    accept_response,
    check_request,
    http_response_head,
    negotiate_deflate,
    websocket_scope,
)

__all__ = ["ClientDisconnected", "WebSocketSession"]

log = logging.getLogger("manycore.asgi")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

_HIGH_WATER_MESSAGES: Final = 16
"""Unread messages at which reading pauses until the application catches up."""

_HIGH_WATER_BYTES: Final = 1024 * 1024
"""Unread bytes at which reading pauses, whatever the count."""

_EARLY_LIMIT: Final = 64 * 1024
"""Bytes a client may send before the handshake is answered before reading pauses."""

_DEFAULT_CLOSE_TIMEOUT: Final = 10.0
"""Seconds the client has to answer our close frame when there is no ping timeout."""


class _State(enum.Enum):
    HANDSHAKE = "waiting for the application to accept or refuse"
    RESPONSE = "sending the application's HTTP response instead of accepting"
    OPEN = "accepted: messages flow both ways"
    CLOSING = "our close frame is out, waiting for the client's"
    CLOSED = "the connection is closed or closing"


class WebSocketSession:
    """An upgraded connection: the handshake, the messages, the close, for one ASGI app."""

    def __init__(
        self,
        app: App,
        scope: dict[str, Any],
        transport: Transport,
        loop: asyncio.AbstractEventLoop,
        *,
        max_message_size: int = 16 * 1024 * 1024,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        per_message_deflate: bool = True,
    ) -> None:
        self._app = app
        self._http_scope = scope
        self._transport = transport
        self._loop = loop
        self._max_message_size = max_message_size
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._per_message_deflate = per_message_deflate
        self._state = _State.HANDSHAKE
        self._handshake: Handshake | None = None
        self._deflate: tuple[Extension, str] | None = None
        self._protocol: ServerProtocol | None = None
        self._early = bytearray()  # what the client sent before the handshake was answered
        self._parts: list[bytes] = []  # the frames so far of a fragmented message
        self._text = False  # whether the message being reassembled is text
        self._incoming: deque[Message] = deque()
        self._incoming_bytes = 0
        self._receiver: asyncio.Future[None] | None = None
        self._disconnect: Message | None = None  # set once the application must hear of it
        self._reading_paused = False
        self._chunked = False  # the HTTP response in progress is sent in chunks
        self._task: asyncio.Task[None] | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._reported: BaseException | None = None  # an error already logged by ``send``

    # ------------------------------------------------------------ the seam

    def start(self, request_headers: list[tuple[bytes, bytes]], leftover: bytes) -> None:
        """Check the handshake and start the application with ``websocket.connect``."""
        try:
            self._handshake = check_request(self._http_scope, request_headers)
        except HandshakeError as refusal:
            self._state = _State.CLOSED
            self._transport.write(refusal.response())
            self._transport.close()
            return
        if self._per_message_deflate:
            self._deflate = negotiate_deflate(self._handshake.extension_offers)
        scope = websocket_scope(self._http_scope, self._handshake)
        self._early += leftover
        self._deliver({"type": "websocket.connect"})
        self._task = self._loop.create_task(self._run(scope))

    def data_received(self, data: bytes) -> None:
        """Bytes from the client: frames once open, kept until then."""
        state = self._state
        if state is _State.OPEN or state is _State.CLOSING:
            self._receive_frames(data)
        elif state is _State.HANDSHAKE or state is _State.RESPONSE:
            self._early += data
            if len(self._early) > _EARLY_LIMIT:
                self._pause_reading()

    def connection_lost(self, exc: BaseException | None) -> None:
        """The connection is gone: the application hears ``websocket.disconnect``."""
        self._state = _State.CLOSED
        self._cancel_timers()
        if self._disconnect is None:
            self._disconnected(CloseCode.ABNORMAL_CLOSURE, "")

    def shutdown(self) -> None:
        """The server is stopping: close with 1001 Going Away, or refuse with 503 if not open."""
        if self._state is _State.OPEN:
            self._close(CloseCode.GOING_AWAY, "server shutting down")
        elif self._state is _State.HANDSHAKE:
            self._respond(503, [(b"retry-after", b"1")], b"")

    # ------------------------------------------------------- the application

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self._app(scope, self._receive, self._send)
        except ClientDisconnected:
            log.debug("ASGI application sent to WebSocket %s after it closed", _path(scope))
            return
        except Exception as exc:
            if exc is not self._reported:
                log.exception("ASGI application raised while serving WebSocket %s", _path(scope))
            self._abandon(CloseCode.INTERNAL_ERROR, 500)
            return
        state = self._state
        if state is _State.HANDSHAKE:
            log.error(
                "ASGI application returned without accepting or closing WebSocket %s",
                _path(scope),
            )
            self._abandon(CloseCode.INTERNAL_ERROR, 500)
        elif state is _State.OPEN:
            self._close(CloseCode.NORMAL_CLOSURE, "")
        elif state is _State.RESPONSE:
            log.error("ASGI application returned before its HTTP response ended")
            self._abandon(CloseCode.INTERNAL_ERROR, 500)

    async def _receive(self) -> Message:
        while not self._incoming:
            if self._disconnect is not None:
                return dict(self._disconnect)
            self._receiver = self._loop.create_future()
            try:
                await self._receiver
            finally:
                self._receiver = None
        message = self._incoming.popleft()
        if "bytes" in message or "text" in message:
            self._incoming_bytes -= _size(message)
            if self._reading_paused and self._state is _State.OPEN and not self._too_much_unread():
                self._resume_reading()
        return message

    async def _send(self, message: Message) -> None:
        try:
            kind = message["type"]
        except (TypeError, KeyError, IndexError):
            kind = None  # not a message at all: reported below
        state = self._state
        if state is _State.OPEN and kind == "websocket.send":
            self._send_message(message)
            if self._transport.writing_paused:
                await self._transport.drain()
        elif state is _State.HANDSHAKE and kind == "websocket.accept":
            self._accept(message)
        elif state is _State.OPEN and kind == "websocket.close":
            code, reason = _close_fields(message, self._invalid)
            self._close(code, reason)
        elif state is _State.HANDSHAKE and kind == "websocket.close":
            # ASGI: a close before accept is answered with HTTP 403.
            _close_fields(message, self._invalid)
            self._respond(403, [], b"")
        elif state is _State.HANDSHAKE and kind == "websocket.http.response.start":
            self._start_response(message)
        elif state is _State.RESPONSE and kind == "websocket.http.response.body":
            self._response_body(message)
        elif state in _ENDING and kind == "websocket.close":
            pass  # the closing handshake is already under way, or over
        elif state in _ENDING and kind in _SENDABLE:
            raise ClientDisconnected("the WebSocket connection is closed")
        else:
            self._invalid(f"{kind or message!r} is not a message to send {_expected(state)}")

    # ------------------------------------------------------------- sending

    def _accept(self, message: Message) -> None:
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and not isinstance(subprotocol, str):
            self._invalid(f"websocket.accept subprotocol must be str or None, not {subprotocol!r}")
        headers = _header_pairs(message.get("headers", ()), self._invalid)
        assert self._handshake is not None
        extension, response = self._deflate if self._deflate is not None else (None, None)
        self._transport.write(accept_response(self._handshake, subprotocol, response, headers))
        self._protocol = ServerProtocol(
            state=OPEN,
            max_size=self._max_message_size,
            extensions=[],
        )
        if extension is not None:
            self._protocol.extensions = [extension]
        self._state = _State.OPEN
        if self._ping_interval is not None:
            self._ping_timer = self._loop.call_later(self._ping_interval, self._ping)
        early, self._early = bytes(self._early), bytearray()
        if self._reading_paused and not self._too_much_unread():
            self._resume_reading()
        if early:
            self._receive_frames(early)

    def _send_message(self, message: Message) -> None:
        protocol = self._protocol
        assert protocol is not None
        data, text = message.get("bytes"), message.get("text")
        payload: bytes | bytearray
        if text is not None and data is None and isinstance(text, str):
            payload, is_text = text.encode(), True
        elif data is not None and text is None and isinstance(data, bytes | bytearray):
            payload, is_text = data, False
        else:
            self._invalid("websocket.send needs exactly one of bytes (bytes) and text (str)")
        if self._fast_ok(protocol) and not protocol.writes:
            # The library would build exactly this frame; nothing of its own is queued.
            self._transport.write(data_frame_head(is_text, len(payload)) + payload)
            return
        if is_text:
            protocol.send_text(payload)
        else:
            protocol.send_binary(payload)
        self._flush()

    @staticmethod
    def _fast_ok(protocol: ServerProtocol) -> bool:
        """Whether whole messages may bypass the library: open, no extension, no fragment
        in progress either way."""
        return (
            protocol.state is OPEN
            and not protocol.extensions
            and not protocol.expect_continuation_frame
            and protocol.current_size is None
        )

    def _close(self, code: int, reason: str) -> None:
        """Start the closing handshake (RFC 6455 §7.1.2); the client has a while to answer."""
        protocol = self._protocol
        assert protocol is not None
        try:
            protocol.send_close(code, reason)
        except (ProtocolError, InvalidState) as exc:
            self._invalid(f"websocket.close: {exc}")
        self._state = _State.CLOSING
        self._cancel_ping()
        timeout = self._ping_timeout if self._ping_timeout is not None else _DEFAULT_CLOSE_TIMEOUT
        self._close_timer = self._loop.call_later(timeout, self._transport.abort)
        self._flush()

    def _respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """A whole HTTP response in place of the handshake, then the end of the connection."""
        headers = [*headers, (b"content-length", b"%d" % len(body)), (b"connection", b"close")]
        self._transport.write(http_response_head(status, headers) + body)
        self._refused()

    def _start_response(self, message: Message) -> None:
        status = message.get("status")
        if type(status) is not int or not 200 <= status <= 999:
            self._invalid(
                f"websocket.http.response.start status must be an int from 200 to 999, "
                f"not {status!r}"
            )
        headers = [
            (name, value)
            for name, value in _header_pairs(message.get("headers", ()), self._invalid)
            if name.lower() not in (b"connection", b"transfer-encoding")
        ]
        self._chunked = all(name.lower() != b"content-length" for name, _ in headers)
        if self._chunked:
            headers.append((b"transfer-encoding", b"chunked"))
        headers.append((b"connection", b"close"))
        self._state = _State.RESPONSE
        self._transport.write(http_response_head(status, headers))

    def _response_body(self, message: Message) -> None:
        body = message.get("body", b"")
        if not isinstance(body, bytes | bytearray):
            self._invalid(f"websocket.http.response.body body must be bytes, not {body!r}")
        more = bool(message.get("more_body", False))
        if self._chunked:
            chunks = [b"%x\r\n" % len(body), bytes(body), b"\r\n"] if body else []
            if not more:
                chunks.append(b"0\r\n\r\n")
            if chunks:
                self._transport.writelines(chunks)
        elif body:
            self._transport.write(bytes(body))
        if not more:
            self._refused()

    def _refused(self) -> None:
        self._state = _State.CLOSED
        self._transport.close()
        if self._disconnect is None:
            self._disconnected(CloseCode.ABNORMAL_CLOSURE, "")

    def _flush(self) -> None:
        """Hand what the protocol has to send to the transport; its end of stream closes it."""
        protocol = self._protocol
        assert protocol is not None
        chunks = protocol.data_to_send()
        if not chunks:
            return
        eof = not chunks[-1]
        if eof:
            chunks.pop()
        if chunks:
            self._transport.writelines(chunks)
        if eof and self._state is not _State.CLOSED:
            self._state = _State.CLOSED
            self._cancel_timers()
            self._transport.close()

    # ------------------------------------------------------------ receiving

    def _receive_frames(self, data: bytes) -> None:
        protocol = self._protocol
        assert protocol is not None
        if not protocol.reader.buffer and not self._parts and self._fast_ok(protocol):
            limit = protocol.max_message_size
            messages, used = whole_messages(data, limit if limit is not None else len(data))
            for text, payload in messages:
                self._message(text, payload)
            if used == len(data) and not protocol.writes:
                return
            data = data[used:]  # the library takes the rest, and sends what it must
        protocol.receive_data(data)
        for frame in protocol.events_received():
            if isinstance(frame, Frame):  # once open, the library reports only frames
                self._frame(frame)
        self._flush()
        failed = protocol.parser_exc is not None and protocol.close_sent is not None
        if failed and self._disconnect is None:
            # The library failed the connection (a protocol error, a message over the
            # size limit): the application hears the code that was sent.
            sent = protocol.close_sent
            assert sent is not None
            self._disconnected(sent.code, sent.reason)

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._message(opcode is Opcode.TEXT, bytes(frame.data))
            else:
                self._text = opcode is Opcode.TEXT
                self._parts.append(bytes(frame.data))
        elif opcode is Opcode.CONT:
            self._parts.append(bytes(frame.data))
            if frame.fin:
                data = b"".join(self._parts)
                self._parts.clear()
                self._message(self._text, data)
        elif opcode is Opcode.PONG:
            self._pong()
        elif opcode is Opcode.CLOSE:
            # The library echoed the close frame (or this answers ours); the client
            # closed the connection with this code (RFC 6455 §7.1.5).
            received = self._protocol.close_rcvd if self._protocol is not None else None
            if received is None:
                received = Close(CloseCode.NO_STATUS_RCVD, "")
            if self._disconnect is None:
                self._disconnected(received.code, received.reason)

    def _message(self, text: bool, data: bytes) -> None:
        if self._disconnect is not None:
            return
        if text:
            try:
                decoded = data.decode()
            except UnicodeDecodeError as exc:
                # RFC 6455 §8.1: a text message that is not UTF-8 fails the connection, 1007.
                assert self._protocol is not None
                self._protocol.fail(CloseCode.INVALID_DATA, f"invalid UTF-8 at byte {exc.start}")
                self._disconnected(CloseCode.INVALID_DATA, "invalid UTF-8")
                return
            self._deliver({"type": "websocket.receive", "bytes": None, "text": decoded})
        else:
            self._deliver({"type": "websocket.receive", "bytes": data, "text": None})

    def _deliver(self, message: Message) -> None:
        self._incoming.append(message)
        if "bytes" in message:
            self._incoming_bytes += _size(message)
            if not self._reading_paused and self._too_much_unread():
                self._pause_reading()
        if self._receiver is not None and not self._receiver.done():
            self._receiver.set_result(None)

    def _disconnected(self, code: int, reason: str) -> None:
        self._disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}
        self._deliver(dict(self._disconnect))

    def _too_much_unread(self) -> bool:
        return (
            len(self._incoming) >= _HIGH_WATER_MESSAGES or self._incoming_bytes >= _HIGH_WATER_BYTES
        )

    def _pause_reading(self) -> None:
        self._reading_paused = True
        self._transport.pause_reading()

    def _resume_reading(self) -> None:
        self._reading_paused = False
        if not self._transport.is_closing():
            self._transport.resume_reading()

    # ------------------------------------------------------------ keepalive

    def _ping(self) -> None:
        """Ping the client; no pong within the ping timeout fails the connection."""
        self._ping_timer = None
        protocol = self._protocol
        if self._state is not _State.OPEN or protocol is None:
            return
        protocol.send_ping(os.urandom(4))
        self._flush()
        if self._ping_timeout is not None and self._pong_timer is None:
            self._pong_timer = self._loop.call_later(self._ping_timeout, self._pong_missing)
        if self._ping_interval is not None:
            self._ping_timer = self._loop.call_later(self._ping_interval, self._ping)

    def _pong(self) -> None:
        if self._pong_timer is not None:
            self._pong_timer.cancel()
            self._pong_timer = None

    def _pong_missing(self) -> None:
        self._pong_timer = None
        protocol = self._protocol
        if self._state is not _State.OPEN or protocol is None:
            return
        if self._reading_paused:
            # The pong may be waiting unread behind messages the application has not
            # taken yet: that is no sign of a dead client, so wait another timeout.
            assert self._ping_timeout is not None
            self._pong_timer = self._loop.call_later(self._ping_timeout, self._pong_missing)
            return
        log.info("WebSocket client %s sent no pong in time: closing", self._transport.peername)
        protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        self._flush()
        if self._disconnect is None:
            self._disconnected(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")

    def _cancel_ping(self) -> None:
        for timer in (self._ping_timer, self._pong_timer):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._pong_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_ping()
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None

    # ------------------------------------------------------------- failures

    def _invalid(self, why: str) -> NoReturn:
        """The application sent something the spec does not allow: log, end, raise."""
        error = RuntimeError(f"invalid ASGI WebSocket message: {why}")
        log.error("ASGI application sent an invalid WebSocket message: %s", why)
        self._reported = error
        self._abandon(CloseCode.INTERNAL_ERROR, 500)
        raise error

    def _abandon(self, code: int, status: int) -> None:
        """End the connection after an application failure, as far as its state allows."""
        state = self._state
        if state is _State.HANDSHAKE:
            self._respond(status, [(b"content-type", b"text/plain; charset=utf-8")], b"")
        elif state is _State.OPEN:
            self._close(code, "")
        elif state is _State.RESPONSE:
            self._state = _State.CLOSED
            self._transport.abort()


_ENDING: Final = frozenset((_State.CLOSING, _State.CLOSED))

_SENDABLE: Final = (  # a tuple: a bad message's type may be unhashable
    "websocket.accept",
    "websocket.send",
    "websocket.close",
    "websocket.http.response.start",
    "websocket.http.response.body",
)
"""The message types an application may send; after the connection closed each raises."""


def _expected(state: _State) -> str:
    return {
        _State.HANDSHAKE: "before accepting (expected websocket.accept, websocket.close or "
        "websocket.http.response.start)",
        _State.RESPONSE: "during an HTTP response (expected websocket.http.response.body)",
        _State.OPEN: "on an open WebSocket (expected websocket.send or websocket.close)",
    }.get(state, "after the connection closed")


def _size(message: Message) -> int:
    data = message.get("bytes")
    if data is not None:
        return len(data)
    text = message.get("text")
    return len(text) if text is not None else 0


def _close_fields(message: Message, invalid: Callable[[str], NoReturn]) -> tuple[int, str]:
    code = message.get("code", CloseCode.NORMAL_CLOSURE)
    reason = message.get("reason") or ""
    if type(code) is not int or not isinstance(reason, str):
        invalid(f"websocket.close code must be int and reason str, not {code!r} and {reason!r}")
    return code, reason


def _header_pairs(headers: Any, invalid: Callable[[str], NoReturn]) -> list[tuple[bytes, bytes]]:
    pairs: list[tuple[bytes, bytes]] = []
    try:
        for name, value in headers:
            if not isinstance(name, bytes) or not isinstance(value, bytes):
                raise TypeError
            if b"\n" in name or b"\n" in value or b"\r" in name or b"\r" in value:
                raise ValueError
            pairs.append((name, value))
    except (TypeError, ValueError):
        invalid("headers must be an iterable of [bytes, bytes] pairs without line breaks")
    return pairs


def _path(scope: dict[str, Any]) -> str:
    return str(scope.get("path", "?"))
