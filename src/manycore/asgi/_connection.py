"""One HTTP/1.1 connection serving an ASGI application.

Strategy.  llhttp (:data:`manycore.http.wire.RequestParser`) frames the
requests; its callbacks build each request's scope in one dict literal when
its head is complete, and the application starts right there, stepped without
a Task (:mod:`._stepping`).  What it sends during the read goes to ``out``;
when the read is parsed, ``out`` leaves in ONE write, so sixteen pipelined
requests cost one system call.  Body bytes go to the request's cycle as they
arrive (:mod:`._cycle`), and reading pauses while the application does not
take them.

Ordering invariant: responses leave in request order.  One request is
*active* (its response is being produced); a request whose head arrives while
another is active waits in ``pipeline``, with its body, and starts when the
active one's response is complete.  Reading pauses once ``max_pipeline``
requests wait.

Closing invariant: after a response that closes (the client asked, HTTP/1.0
without keep-alive, a streamed HTTP/1.0 body, a response the application left
unfinished) or a protocol error, later pipelined requests are discarded.  An
application's failure is logged with its traceback and answered 500 when no
response has begun; after that, the connection is closed.

Time limits (a head, a stalled or trickling body, an idle connection, a client
that stopped reading) live in the :mod:`._limits` mixin.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from contextvars import copy_context
from types import MappingProxyType
from typing import Any, ClassVar, Protocol
from urllib.parse import unquote

from ..http.proxy import TrustedProxies, resolve_client
from ..http.wire import (
    CLOSE,
    KEEP,
    LocalProtocolError,
    ParserError,
    ParserUpgrade,
    RemoteProtocolError,
    RequestParser,
    check_host_value,
    check_target,
    error_page,
    head_cache,
    log_access_line,
    parser_error,
)
from ..stats import worker_counters
from ._cycle import RequestCycle
from ._heads import head_store
from ._limits import TimeLimits
from ._stepping import HostTask, in_task, resume_in_task
from .lifespan import Lifespan
from .websocket_hook import websocket_session_class

__all__ = ["AsgiConnection", "ServedAsgiApp"]

log = logging.getLogger("manycore.asgi")

_BODY_BUFFER = 64 * 1024  # body bytes held for an application that has not taken them
_LINGER = 1.0  # seconds to keep reading (and discarding) after an error answer
_NOTABLE = frozenset((b"host", b"content-length", b"transfer-encoding", b"expect", b"upgrade"))
_VERSIONS = {b" HTTP/1.1\r\n": "1.1", b" HTTP/1.0\r\n": "1.0"}
_METHODS = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE")
}


class _Stop(Exception):
    """Raised from a parser callback: the connection is closing, parse no further."""


class ServedAsgiApp(Protocol):
    """What a connection reads from the protocol class it belongs to (its settings)."""

    app: ClassVar[Any]
    task_per_request: ClassVar[bool]
    lifespan: ClassVar[Lifespan | None]
    root_path: ClassVar[str]
    url_scheme: ClassVar[str]
    max_body_size: ClassVar[int]
    max_head_size: ClassVar[int]
    max_url_length: ClassVar[int]
    max_header_count: ClassVar[int]
    max_pipeline: ClassVar[int]
    header_timeout: ClassVar[float]
    body_timeout: ClassVar[float]
    keepalive_timeout: ClassVar[float]
    send_timeout: ClassVar[float]
    body_grace: ClassVar[float]
    body_min_rate: ClassVar[float]
    access_log: ClassVar[bool]
    trusted_proxies: ClassVar[TrustedProxies | None]
    websocket_max_message_size: ClassVar[int]
    websocket_ping_interval: ClassVar[float | None]
    websocket_ping_timeout: ClassVar[float | None]
    websocket_per_message_deflate: ClassVar[bool]


class AsgiConnection(TimeLimits):
    """The per-connection state of an ASGI server."""

    __slots__ = (
        "access_log",
        "active",
        "app",
        "at",
        "big_read",
        "body_size",
        "body_started",
        "cache",
        "checked_host",
        "client",
        "closed",
        "closing",
        "counters",
        "data",
        "expect",
        "feeding",
        "has_body",
        "head_began",
        "head_bytes",
        "head_started",
        "headers",
        "heads",
        "host",
        "host_count",
        "in_head",
        "in_task",
        "keepalive_timeout",
        "last_activity",
        "linger",
        "loop",
        "max_head_size",
        "max_header_count",
        "max_url_length",
        "notable",
        "out",
        "out_mark",
        "out_progress",
        "parser",
        "parsing",
        "pipeline",
        "reading_paused",
        "root_path",
        "root_path_bytes",
        "scheme",
        "server",
        "settings",
        "state",
        "task_host",
        "timer",
        "timer_when",
        "transport",
        "trusted",
        "upgrade",
        "url",
        "websocket",
    )

    def __init__(self, settings: type[ServedAsgiApp]) -> None:
        self.settings = settings
        self.app = settings.app
        self.in_task = settings.task_per_request
        self.task_host: HostTask | None = None
        self.access_log = settings.access_log
        self.keepalive_timeout = settings.keepalive_timeout
        self.max_head_size = settings.max_head_size
        self.max_header_count = settings.max_header_count
        self.max_url_length = settings.max_url_length
        self.root_path = settings.root_path
        self.root_path_bytes = settings.root_path.encode("utf-8")
        self.scheme = settings.url_scheme
        self.trusted = settings.trusted_proxies
        self.transport: Any = None
        self.loop: Any = None
        self.out: list[bytes] = []
        self.feeding = False
        self.closing = False
        self.closed = False
        self.active: RequestCycle | None = None
        self.parsing: RequestCycle | None = None
        self.pipeline: deque[RequestCycle] = deque()
        self.reading_paused = False
        self.url: bytes | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.in_head = False
        self.head_began = self.big_read = self.notable = False
        self.head_bytes = 0
        self.data = b""  # the read being parsed
        self.at = -1  # where the next message starts in it, when known
        self.host_count = 0
        self.host = b""
        self.checked_host = b""  # the last Host value found valid: a repeat is not checked again
        self.has_body = False
        self.expect = b""
        self.upgrade = b""
        self.body_size = 0
        self.websocket: Any = None
        self.timer: asyncio.TimerHandle | None = None
        self.linger = False
        self.out_mark: tuple[int, int] | None = None
        self.out_progress = 0.0
        self.timer_when = 0.0
        self.body_started = 0.0
        self.state: dict[str, Any] | None = None

    # ================================================================ protocol callbacks
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.loop = loop = transport.loop
        self.parser = RequestParser(self)
        self.counters = worker_counters()
        self.cache = head_cache()
        self.heads = head_store()
        self.server = _address(transport.sockname)
        self.client = _address(transport.peername)
        lifespan = self.settings.lifespan
        self.state = lifespan.state if lifespan is not None else None
        if loop is not None:
            self.last_activity = now = loop.time()
            self._arm(now + self.settings.header_timeout)
        else:
            self.last_activity = 0.0

    def data_received(self, transport: Any, data: bytes) -> bytes | None:
        """Parse one read; answer what it completes in one write."""
        if self.websocket is not None:
            self.websocket.data_received(data)
            return None
        if self.closing:
            return None  # answered and closing: later pipelined bytes are discarded
        if self.loop is not None:
            self.last_activity = now = self.loop.time()
            if now >= self.cache.expires:
                self.cache.refresh(now)
        else:
            self.cache.fresh()
        self.feeding = True
        self.big_read = len(data) > self.max_head_size
        self.data = data
        self.at = 0 if self.parsing is None and not self.in_head else -1
        try:
            try:  # _feed, written out for the common read
                self.parser.feed_data(data)
            except (ParserUpgrade, ParserError) as exc:
                self._parse_stopped(data, exc)
            if self.in_head:
                self._partial_head(len(data))
        finally:
            self.feeding = False
            self.data = b""  # not kept past the read
        out = self.out
        if not out:
            if self.closing and self.active is None:
                self._close()
            return None
        output = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        if self.closing:
            transport.write(output)
            if self.active is None:
                self._close()
            return None
        return output

    def _partial_head(self, nbytes: int) -> None:
        """A head spans reads: bound the bytes it may take (431) before it is complete."""
        if self.loop is not None:
            self._arm(self.head_started + self.settings.header_timeout)
        if self.head_began:  # it began in this read: what llhttp has handed over so far
            self.head_began = False
            self.head_bytes = len(self.url or b"") + sum(
                len(name) + len(value) + 4 for name, value in self.headers
            )
        else:
            self.head_bytes += nbytes
        if self.head_bytes > self.settings.max_head_size:
            self._protocol_error(
                RemoteProtocolError(
                    "request header section larger than "
                    f"max_head_size={self.settings.max_head_size} bytes",
                    431,
                )
            )

    def _feed(self, data: bytes) -> None:
        """Parse ``data`` (the rest of a read, after an upgrade llhttp stopped at)."""
        try:
            self.parser.feed_data(data)
        except (ParserUpgrade, ParserError) as exc:
            self._parse_stopped(data, exc)

    def _parse_stopped(self, data: bytes, exc: Exception) -> None:
        """llhttp stopped inside ``data``: an upgrade, a signal from a callback, or bad input."""
        if isinstance(exc, ParserUpgrade):
            self._upgraded(data, exc.args[0] if exc.args else len(data))
            return
        cause = exc.__context__
        if isinstance(cause, _Stop):
            return
        if isinstance(cause, RemoteProtocolError):
            self._protocol_error(cause)
        elif cause is not None and not isinstance(cause, ParserError):
            log.error("internal error while reading a request", exc_info=cause)
            self._protocol_error(RemoteProtocolError("internal error", 500))
        else:
            self._protocol_error(parser_error(exc))

    def _upgraded(self, data: bytes, offset: int) -> None:
        """llhttp stopped after a request with Upgrade: a WebSocket session, or plain HTTP."""
        session_class = websocket_session_class()
        cycle = self.active
        if (
            session_class is not None
            and cycle is not None
            and cycle.scope["type"] == "websocket"
            and not self.closing
        ):
            self.active = None
            flush = self.out
            if flush:
                self.transport.write(b"".join(flush))
                flush.clear()
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self.websocket = session = session_class(
                self.app,
                cycle.scope,
                self.transport,
                self.loop,
                max_message_size=self.settings.websocket_max_message_size,
                ping_interval=self.settings.websocket_ping_interval,
                ping_timeout=self.settings.websocket_ping_timeout,
                per_message_deflate=self.settings.websocket_per_message_deflate,
            )
            session.start(list(cycle.scope["headers"]), data[offset:])
            return
        rest = data[offset:]
        if rest and not self.closing:
            self.at = -1  # positions in ``data`` no longer describe what is fed
            self._feed(rest)

    def connection_lost(self, transport: Any, exc: Exception | None) -> None:
        self.closed = True
        self.closing = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.websocket is not None:
            self.websocket.connection_lost(exc)
        if self.task_host is not None:
            self.task_host.close()
        for cycle in (self.active, self.parsing, *self.pipeline):
            if cycle is not None:
                cycle.disconnected = True
                cycle.wake()
        self.pipeline.clear()

    def server_stopping(self) -> None:
        """The worker is stopping: a WebSocket session closes (1001) or refuses (503)."""
        if self.websocket is not None and not self.closed:
            self.websocket.shutdown()

    def is_busy(self) -> bool:
        """A request is being read or answered on this connection."""
        if self.websocket is not None:
            return True
        return (
            self.active is not None
            or bool(self.pipeline)
            or self.parsing is not None
            or self.in_head
        )

    # ================================================================ llhttp callbacks
    def on_url(self, url: bytes) -> None:
        if self.url is None:  # a message begins (llhttp reports nothing earlier we need)
            if self.closing:
                raise _Stop
            self.in_head = self.head_began = True
            self.head_started = self.last_activity
        else:
            url = self.url + url  # the request line was split across reads
        self.url = url
        if len(url) > self.max_url_length:
            raise RemoteProtocolError(
                f"request target longer than max_url_length={self.max_url_length} bytes", 414
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        self.headers.append((name, value))
        if name in _NOTABLE:
            if name == b"host":
                self.host_count += 1
                self.host = value
            else:
                self._notable(name, value)

    def _notable(self, name: bytes, value: bytes) -> None:
        """A field that changes how the request is read; reset after its head is complete."""
        self.notable = True
        if name == b"content-length":
            length = int(value)  # llhttp validated the digits
            if length > self.settings.max_body_size:
                raise RemoteProtocolError(
                    f"request body of {length} bytes is larger than "
                    f"max_body_size={self.settings.max_body_size}",
                    413,
                )
            self.has_body = self.has_body or length > 0
        elif name == b"transfer-encoding":
            self.has_body = True
            for coding in value.lower().split(b","):
                coding = coding.strip(b" \t")
                if coding and coding != b"chunked":
                    raise RemoteProtocolError(
                        f"transfer coding {coding.decode('latin-1')!r} is not implemented", 501
                    )
        elif name == b"expect":
            self.expect = value.lower()
        elif name == b"upgrade":
            self.upgrade = value.lower()

    def _version(self) -> str:
        """The request's HTTP version, as llhttp gives it.

        That costs a string format per request, so :meth:`on_headers_complete` reads the
        version from the request line itself where this read holds the whole head at a
        known offset (``at``: after the previous bodyless request), and takes the head's
        end as the next message's start.  Anywhere else llhttp is asked.
        """
        self.at = -1
        return str(self.parser.get_http_version())

    def _framing(self, version: str) -> tuple[bool, bool, str]:
        """(has a body, wants 100 Continue, scope type) from the fields :meth:`_notable` saw."""
        has_body, expect, upgrade = self.has_body, self.expect, self.upgrade
        self.notable = self.has_body = False
        self.expect = self.upgrade = b""
        if expect and expect != b"100-continue":
            raise RemoteProtocolError(f"unsupported expectation {expect.decode('latin-1')!r}", 417)
        kind = "http"
        if (
            upgrade == b"websocket"
            and self.parser.should_upgrade()  # llhttp stops after it only then
            and websocket_session_class() is not None
            and self.active is None
            and not self.pipeline
        ):
            kind = "websocket"
        return has_body, bool(expect) and version == "1.1", kind

    def _check_head_size(self) -> None:
        """431 for a head with too many fields or too many bytes (RFC 6585 §5)."""
        headers = self.headers
        settings = self.settings
        if len(headers) > settings.max_header_count:
            raise RemoteProtocolError(
                f"more than max_header_count={settings.max_header_count} header fields", 431
            )
        size = len(self.url or b"") + sum(len(name) + len(value) + 4 for name, value in headers)
        if size > settings.max_head_size:
            raise RemoteProtocolError(
                f"request header section larger than max_head_size={settings.max_head_size} bytes",
                431,
            )

    def on_headers_complete(self) -> None:
        parser = self.parser
        self.in_head = False
        headers = self.headers
        if len(headers) > self.max_header_count or not self.head_began or self.big_read:
            self._check_head_size()
        url: bytes = self.url  # type: ignore[assignment]  # llhttp calls on_url first
        host_count = self.host_count
        # The next message starts afresh (the scope keeps this one's list).
        self.url = None
        self.headers = []
        self.host_count = 0
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method)
        if method is None:
            method = raw_method.decode("ascii")
            if method == "CONNECT":
                raise RemoteProtocolError("CONNECT (tunnelling) is not implemented", 501)
        # The version, from the request line itself where its place is known (:meth:`_version`).
        version = None
        at = self.at
        if at >= 0:
            data = self.data
            line = at + len(raw_method) + len(url) + 1
            version = _VERSIONS.get(data[line : line + 11])
            if version is not None:
                end = data.find(b"\r\n\r\n", line + 9)
                self.at = end + 4 if end >= 0 else -1
        if version is None:
            version = self._version()
        if version != "1.1" and version != "1.0":
            raise RemoteProtocolError(
                "only HTTP/1.0 and HTTP/1.1 are supported over plain TCP", 505
            )
        # RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0.
        if host_count != 1:
            if host_count or version == "1.1":
                raise RemoteProtocolError(
                    f"a request needs exactly one Host header field; this one has {host_count}",
                    400,
                )
        elif self.host != self.checked_host:
            check_host_value(self.host)
            self.checked_host = self.host
        has_body = continue_wanted = False
        kind = "http"
        if self.notable:
            has_body, continue_wanted, kind = self._framing(version)
        if has_body:
            self.at = -1  # where the next message starts is llhttp's to know
            self.body_started = self.last_activity
        query = b""
        at = url.find(b"?")
        if at >= 0:
            raw_path = url[:at]
            query = url[at + 1 :]
        else:
            raw_path = url
        if raw_path[:1] != b"/":
            raw_path = _origin_path(raw_path)
        if url.find(b"#") >= 0:
            check_target(url)
        path = raw_path.decode("ascii", "surrogateescape")
        if "%" in path:
            path = unquote(path)
        if self.root_path:
            path = self.root_path + path
            raw_path = self.root_path_bytes + raw_path
        client = self.client
        scheme = self.scheme
        if self.trusted is not None:  # --proxy-headers
            client, scheme = resolve_client(client, headers, self.trusted, scheme)
        scope: dict[str, Any] = {
            "type": kind,
            "asgi": _ASGI,
            "http_version": version,
            "method": method,
            "scheme": _HTTP_SCHEMES[scheme] if kind == "http" else _WS_SCHEMES[scheme],
            "path": path,
            "raw_path": raw_path,
            "query_string": query,
            "root_path": self.root_path,
            "headers": headers,
            "client": client,
            "server": self.server,
            "extensions": _EXTENSIONS,
        }
        state = self.state
        if state is not None:
            scope["state"] = state.copy()
        cycle = RequestCycle(self, scope, version == "1.1", parser.should_keep_alive())
        self.body_size = 0
        if not has_body:
            cycle.body_done = True
        elif continue_wanted:
            cycle.continue_wanted = True
        self.parsing = cycle
        if kind == "websocket":
            self.active = cycle  # handed to the WebSocket session once llhttp stops
            return
        if self.active is None and not self.pipeline:
            self._run(cycle)
        else:
            self.pipeline.append(cycle)
            if len(self.pipeline) >= self.settings.max_pipeline and not self.reading_paused:
                self.reading_paused = True
                self.transport.pause_reading()

    def on_body(self, chunk: bytes) -> None:
        cycle = self.parsing
        if cycle is None:
            return
        size = self.body_size = self.body_size + len(chunk)
        if size > self.settings.max_body_size:
            raise RemoteProtocolError(
                f"request body larger than max_body_size={self.settings.max_body_size} bytes", 413
            )
        if cycle.response_complete or cycle.disconnected:
            return  # answered without it: the rest of the body is read and dropped
        cycle.body.append(chunk)
        cycle.buffered += len(chunk)
        cycle.wake()
        if cycle.buffered > _BODY_BUFFER and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        cycle = self.parsing
        self.parsing = None
        if cycle is not None:
            cycle.body_done = True
            if cycle.waiter is not None:
                cycle.wake()
        if self.closing:
            raise _Stop

    # ================================================================ running the application
    def _run(self, cycle: RequestCycle) -> None:
        """Start the application on ``cycle``, stepping it here as far as it goes (see
        :mod:`._stepping`); what completes at once needs no Task and no later call."""
        self.active = cycle
        try:
            coro = self.app(cycle.scope, cycle.receive, cycle.send)
            if self.in_task:
                host = self.task_host
                if host is None and self.loop is not None and not self.closed:
                    host = self.task_host = HostTask(self.loop)
                if host is None or not host.run(coro, copy_context(), cycle.app_done):
                    in_task(coro, self.loop, cycle.app_done)
                return
            # Its own context, as a Task would give it: what a request sets in a
            # ContextVar is not seen by the next one.
            context = copy_context()
            yielded = context.run(coro.send, None)
        except StopIteration:
            if not cycle.response_complete:
                self.app_finished(cycle, None)
            return
        except Exception as exc:  # the application's failure, logged with its traceback
            self.app_finished(cycle, exc)
            return
        resume_in_task(coro, yielded, self.loop, cycle.app_done, context)

    def _start_next(self) -> None:
        if self.active is None and self.pipeline and not self.closing:
            self._run(self.pipeline.popleft())
            if self.reading_paused and len(self.pipeline) < self.settings.max_pipeline:
                self._resume_reading()

    def app_finished(self, cycle: RequestCycle, exc: BaseException | None) -> None:
        """The application's coroutine for ``cycle`` ended, returning or raising ``exc``."""
        if self.closed or cycle.disconnected:
            if exc is not None and not isinstance(exc, OSError | asyncio.CancelledError):
                log.error("ASGI application raised after the client left", exc_info=exc)
            return
        if cycle.response_complete:
            if exc is not None:
                log.error("ASGI application raised after its response", exc_info=exc)
            return
        method, path = cycle.scope["method"], cycle.scope["path"]
        if exc is not None:
            log.error("ASGI application raised for %s %s", method, path, exc_info=exc)
            if not self.in_task and isinstance(exc, RuntimeError) and "task" in str(exc):
                log.error(
                    "the application seems to need asyncio.current_task() from its first "
                    "line; serve it with a Task per request: asgi_server(app, "
                    "task_per_request=True) (docs/asgi.md, 'How a request runs')"
                )
        elif not cycle.response_started:
            log.error("ASGI application returned without a response for %s %s", method, path)
        else:
            log.error("ASGI application returned before its response ended: %s %s", method, path)
        if cycle.status:  # the head went out: only closing can end the response
            cycle.response_complete = True
            self.active = None
            self._close_soon()
            return
        cycle.response_started = cycle.response_complete = True
        if isinstance(exc, LocalProtocolError):
            cycle.keep_alive = False  # an invalid message: what else it meant is unknown
        self.write(error_page(500, None, KEEP if cycle.keep_alive else CLOSE))
        self.response_done(cycle)

    # ================================================================ the cycle's side
    def write(self, data: bytes) -> None:
        if self.feeding:
            self.out.append(data)
        elif not self.closed:
            self.transport.write(data)

    def send_file(self, head: bytes, path: str) -> None:
        out = self.out
        if out:
            self.transport.write(b"".join(out))
            out.clear()
        self.transport.sendfile(head, path)

    def response_done(self, cycle: RequestCycle) -> None:
        if self.active is cycle:
            self.active = None
        self.counters.requests += 1
        if self.access_log:
            self._log_access(cycle)
        if not cycle.keep_alive or (cycle.continue_wanted and not cycle.body_done):
            # The client may still be waiting to send a body nobody asked for.
            self._close_soon()
            return
        if cycle.buffered:  # answered without reading it all: the rest is dropped as it comes
            cycle.body.clear()
            cycle.buffered = 0
            self.body_taken()
        if self.pipeline and self.loop is not None:
            self.loop.call_soon(self._start_next)
        elif self.timer_when > self.last_activity + self.keepalive_timeout:
            self._arm(self.last_activity + self.keepalive_timeout)  # idle from here

    def body_taken(self) -> None:
        if self.reading_paused and len(self.pipeline) < self.settings.max_pipeline:
            self._resume_reading()

    def _resume_reading(self) -> None:
        self.reading_paused = False
        if not self.closed:
            self.transport.resume_reading()

    # ================================================================ errors and closing
    def _protocol_error(self, exc: RemoteProtocolError) -> None:
        log.debug("bad request from %s: %s", self.client, exc)
        active = self.active
        answered = False
        for cycle in (active, self.parsing, *self.pipeline):
            if cycle is not None and cycle is not active:
                cycle.disconnected = True
        self.pipeline.clear()
        if active is not None and not active.response_complete:
            if active.status:  # its head is out: nothing more can be said
                answered = True
            active.disconnected = True
            active.response_started = active.response_complete = True
            active.wake()
            self.active = None
        self.parsing = None
        if not answered:
            self.write(error_page(exc.status, str(exc)))
        self.linger = True
        self.closing = True
        if self.reading_paused:  # lingering reads (and drops) what the client still sends
            self._resume_reading()

    def _close_soon(self) -> None:
        self.closing = True
        for cycle in self.pipeline:
            cycle.disconnected = True
        self.pipeline.clear()
        if not self.feeding:
            self._close()

    def _close(self) -> None:
        if self.closed:
            return
        if self.linger and self.loop is not None:
            # Keep reading (and discarding) briefly, so a client still sending a body
            # reads the answer instead of a reset (RFC 9112 §9.6).
            self.linger = False
            self.loop.call_later(_LINGER, self._close)
            return
        self.transport.close()

    # ================================================================ access log
    def _log_access(self, cycle: RequestCycle) -> None:
        """Common Log Format, as :mod:`manycore.http` writes it (the size when declared)."""
        scope = cycle.scope
        client = scope["client"]
        host = client[0] if client else "-"
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        line = (
            f'{host} - - [{head_cache().fresh().http_date}] "{scope["method"]} {target} '
            f'HTTP/{scope["http_version"]}" {cycle.status or 500} {_body_size(cycle)}'
        )
        log_access_line(self.loop, line)


def _body_size(cycle: RequestCycle) -> str:
    """The response body's size from its Content-Length, or ``-`` when none was declared."""
    if cycle.drop_body:
        return "0"
    for name, value in (cycle.start or {}).get("headers", ()):
        if name.lower() == b"content-length":
            return bytes(value).decode("latin-1")
    return "-"


# The scope's scheme of its type, whatever a trusted proxy says it was sent over.
_HTTP_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
# The same for every request, so one read-only mapping each: a request cannot change
# what the next one sees.
_ASGI = MappingProxyType({"version": "3.0", "spec_version": "2.4"})
_EXTENSIONS: MappingProxyType[str, Any] = MappingProxyType(
    {"http.response.pathsend": MappingProxyType({})}
)


def _origin_path(target: bytes) -> bytes:
    """The path of an absolute-form (``http://host/p``) or asterisk-form target."""
    if target == b"*":
        return b"*"
    scheme_end = target.find(b"://")
    if scheme_end < 0:
        raise RemoteProtocolError("the request target is not a path or an absolute URL", 400)
    slash = target.find(b"/", scheme_end + 3)
    return b"/" if slash < 0 else target[slash:]


def _address(address: Any) -> tuple[str, int] | None:
    """ASGI's ``[host, port]`` of a socket address (None for a Unix socket)."""
    if isinstance(address, tuple) and len(address) >= 2:
        return (str(address[0]), int(address[1]))
    return None
