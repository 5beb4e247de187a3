"""One HTTP/1.1 connection: requests in, responses out, in order, within limits.

Strategy.  ``data_received`` feeds the read to the :class:`RequestReader`,
which calls :meth:`HttpConnection._deliver` once per complete request, while
parsing.  A synchronous handler is called right there and its response bytes
are appended to ``self.out``; when the read is parsed, everything in ``out``
leaves in ONE write -- sixteen pipelined requests cost one system call.  Once the
core hands the reads over (:meth:`HttpConnection.direct_reader`), the event loop
calls :meth:`HttpConnection.read`, which writes with the loop transport's own write.
The hot path (a static route, a sync handler, a 200 Response, a dict or a list)
is one dict lookup, the handler call, and one cached head block.  A read made
only of copies of one request arrives as one run (:meth:`_deliver_run`), whose
route and output state are looked at once.

Ordering invariant: responses leave in request order.  Once a request needs
the event loop (an ``async def`` handler, a streamed body), a queue of slots
exists; every later response, ready or not, waits in its slot behind it, and
:meth:`_flush` writes the ready prefix of the queue whenever a slot completes.
A file body is a :class:`FilePart` in the output; the bytes accumulated before
it become the ``before`` of ``transport.sendfile_ranged`` so order holds.

Closing invariant: after a request that asks to close, an HTTP/1.0 request
without keep-alive, or a protocol error, the connection answers what it has
and closes; later pipelined bytes are discarded.  A handler exception is a
logged 500 and the connection goes on.

Bounds and time limits live in two mixins: :mod:`._flow` (stop parsing at a
request boundary and pause reading while a client does not keep up) and
:mod:`._timeouts` (one lazily re-armed timer for slow heads, stalled bodies,
idle keep-alive and clients that stopped reading).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from ..stats import worker_counters
from . import _json
from ._clock import head_cache
from ._errors import HTTPError, RemoteProtocolError
from ._files import FilePart, FileResponse
from ._flow import FlowControl
from ._heads import HeadTrackingError
from ._modes import BIG_BODY, BIG_FILE, NO_BIG_OUTPUT, ConnectionMode
from ._parser import RequestReader
from ._request import ParsedRequest, Request, _origin_form
from ._response import (
    CLOSE,
    KEEP,
    Response,
    error_response,
    head_prefix,
    http_error_response,
    render,
)
from ._routing import Router
from ._signals import PauseParsing, StopParsing
from ._stats import log_access_line
from ._stream import StreamResponse, pump_stream
from ._timeouts import Timeouts

__all__ = ["HttpConnection"]

log = logging.getLogger("manycore.http")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_SLICE = 16 * 1024  # reads longer than this are parsed a slice at a time
_JSON = "application/json"
_LINGER = 1.0  # seconds to keep reading (and discarding) after an error answer
_references = sys.getrefcount


def _references_of_a_local() -> int:
    """What ``sys.getrefcount`` says of an object only one local refers to.

    Two on CPython 3.11 to 3.13 (the local and the argument).  From 3.14 the
    interpreter may pass a local as a borrowed reference, here and not at the call in
    :meth:`HttpConnection.read` (after exception handlers), which then counts one more:
    the comparison can only err towards making a new Request, never towards giving
    again one a handler kept.
    """
    request = ParsedRequest()
    return _references(request)


_UNSHARED = _references_of_a_local()


class ServedApp(Protocol):
    """What a connection reads from the application instance it serves (an ``HttpServer``).

    Spelled out here so the connection needs nothing from the module that defines the
    server class, which builds on the connection.
    """

    _router: ClassVar[Router]
    max_body_size: ClassVar[int]
    max_head_size: ClassVar[int]
    max_url_length: ClassVar[int]
    max_header_count: ClassVar[int]
    header_timeout: ClassVar[float]
    body_timeout: ClassVar[float]
    body_grace: ClassVar[float]
    body_min_rate: ClassVar[float]
    keepalive_timeout: ClassVar[float]
    send_timeout: ClassVar[float]
    max_pipeline: ClassVar[int]
    write_buffer_limit: ClassVar[int]
    access_log: ClassVar[bool]


class _Slot:
    """One response's place in the output order."""

    __slots__ = ("items", "mode", "ready", "request", "stream", "task")

    def __init__(self, request: Request | None, mode: ConnectionMode) -> None:
        self.request = request
        self.mode = mode
        self.ready = False
        self.items: list[bytes | FilePart] = []
        self.stream: StreamResponse | None = None
        self.task: asyncio.Task[None] | None = None


class HttpConnection(FlowControl, Timeouts):
    """The per-connection HTTP state behind an ``HttpServer`` instance."""

    __slots__ = (
        "_time",
        "access_log",
        "app",
        "big_output",
        "body_bytes",
        "body_started",
        "body_timeout",
        "cache",
        "closed",
        "closing",
        "counters",
        "failed",
        "head_started",
        "header_timeout",
        "held",
        "inline",
        "keepalive_timeout",
        "last_activity",
        "linger_until",
        "loop",
        "max_pipeline",
        "out",
        "out_mark",
        "out_progress",
        "paused",
        "queue",
        "raw_write",
        "reader",
        "repeat",
        "route_entry",
        "route_method",
        "route_target",
        "router",
        "send_timeout",
        "spare",
        "static",
        "timer",
        "timer_when",
        "transport",
        "unchecked",
        "write_buffer_limit",
    )

    def __init__(self, app: ServedApp) -> None:
        self.app: ServedApp = app
        cls = type(app)
        self.router = cls._router
        self.static = cls._router.static
        self.route_target: bytes | None = None  # the last static route found, and its entry
        self.route_method: bytes | None = None
        self.route_entry: Any = None
        self.header_timeout = cls.header_timeout
        self.body_timeout = cls.body_timeout
        self.keepalive_timeout = cls.keepalive_timeout
        self.send_timeout = cls.send_timeout
        self.max_pipeline = cls.max_pipeline
        self.write_buffer_limit = cls.write_buffer_limit
        self.access_log = bool(cls.access_log)
        self.transport: Any = None
        self.reader: RequestReader | None = None
        # The read the one-copy path answers (see read), or None: the reader's repeat
        # while the connection answers inline and the route remembered is that head's.
        # Set when a read is answered (_end_read); cleared at once by what can change
        # those outside a read (a queue, a timeout, the connection lost).
        self.repeat: bytes | None = None
        # The one-copy path's last Request, which its handler kept no reference to.
        self.spare: Request | None = None
        self.out: list[bytes] = []
        self.queue: deque[_Slot] | None = None
        self.inline = not self.access_log  # no queue and no access log: the hot path
        self.closing = False
        self.closed = False
        self.paused = False
        self.held: bytes | None = None  # input kept while reading is paused
        self.big_output = NO_BIG_OUTPUT
        self.unchecked = 0  # answers returned since the write buffer was last looked at
        self.head_started: float | None = None
        self.body_started: float | None = None
        self.body_bytes = 0
        self.linger_until: float | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.timer_when = 0.0
        self.out_mark: tuple[int, int | None, int | None] | None = None
        self.out_progress = 0.0

    # ================================================================ protocol callbacks
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        cls = type(self.app)
        self.reader = RequestReader(
            self._deliver,
            transport,
            max_head_size=cls.max_head_size,
            max_url_length=cls.max_url_length,
            max_header_count=cls.max_header_count,
            max_body_size=cls.max_body_size,
            on_continue=self._send_continue,
            deliver_run=self._deliver_run,
        )
        self.counters = worker_counters()
        self.loop = loop = transport.loop
        self._time = loop.time
        self.cache = head_cache(loop)
        now = self._read_clock()
        self._arm(now + min(self.header_timeout, self.keepalive_timeout))

    def direct_reader(self, transport: Any, failed: Callable[[Exception], None]) -> Any:
        """The core hands reads over: :meth:`read` is called with each, and writes itself."""
        self.raw_write = transport.direct_write
        self.failed = failed
        return self.read

    def read(self, data: bytes) -> None:
        """Parse one read and write what it completes, in one write (the event loop's
        ``data_received`` once :meth:`direct_reader` has been asked).

        A read equal to ``repeat`` (one copy of the last checked keep-alive head, not a
        HEAD, whose static route is the one remembered, on a connection answering inline)
        is what the reader would deliver without parsing: it is delivered here
        (``_deliver_copies`` and ``_deliver`` written out) and answered with the loop
        transport's own write.  Between messages no head or body timer is running, so
        none is reset.  An answer remembered in the cache is sent without reading the
        clock: the cache's own timer empties it when the second ends, and the activity
        recorded for the keep-alive timeout is the end of that second.
        """
        transport = self.transport
        reader = self.reader
        assert reader is not None  # connection_made comes first
        try:
            if data == self.repeat:
                cache = self.cache
                # The last one-copy Request is given again when its handler kept no
                # reference to it (its allocation and freeing were a tenth of this path
                # on the wire): emptied of what a handler may have filled in, it is a
                # new one.
                request = self.spare
                if request is None:
                    request = ParsedRequest()
                else:
                    self.spare = None
                    request._headers = request._query = request._params = None
                request._head = reader._known_head
                # The reader's head is the remembered route's: the same objects.
                request._method = method = reader._known_method
                request.target = reader._known_target
                request.transport = transport
                self.counters.requests += 1
                entry = self.route_entry
                try:
                    # Methods held in slots are called from locals: the interpreter does
                    # not specialise a method call on a slot.
                    fn = entry.fn
                    try:
                        result = fn(self.app, request)
                    except StopParsing:
                        raise
                    except Exception as exc:
                        result = self._failure_response(request, entry, exc)
                    # _respond's commonest cases written out: the last remembered answer
                    # again, and a dict or list under the cached JSON head.
                    answer: bytes | None
                    kind = type(result)
                    if (
                        kind is Response
                        and result.body is cache.last_body
                        and result.content_type is cache.last_type
                        and result.status == 200
                        and result.headers is None
                    ):
                        answer = cache.last_full
                        self.last_activity = cache.expires
                    elif (kind is dict or kind is list) and (
                        prefix := cache.ok_prefixes.get(_JSON)
                    ) is not None:
                        self.last_activity = cache.expires
                        try:
                            body = _json.encode(result)
                        except Exception:  # _respond answers it as it answers every failure
                            answer = self._respond(request, entry, result, method)
                        else:
                            answer = b"%s%d\r\n\r\n%s" % (prefix, len(body), body)
                    else:
                        self._read_clock()
                        answer = self._respond(request, entry, result, method)
                    if _references(request) == _UNSHARED:
                        self.spare = request
                    if answer is not None:
                        unchecked = self.unchecked + 1
                        if unchecked < 256:
                            self.unchecked = unchecked
                            if transport.sending_file:
                                transport.write(answer)  # behind the file in flight
                            else:
                                write = self.raw_write
                                write(answer)
                            return
                        self.out.append(answer)
                except PauseParsing:
                    pass  # nothing follows in this read
                except StopParsing:
                    reader.finish()
                except Exception as exc:
                    reader.finish()
                    log.exception("internal error while handling a request")
                    self._protocol_error(
                        RemoteProtocolError(f"internal error ({type(exc).__name__})", 500)
                    )
                output = self._end_read(transport, reader)
            else:
                output = self.data_received(transport, data)
            if output is not None:
                if transport.sending_file:
                    transport.write(output)
                else:
                    self.raw_write(output)
        except Exception as exc:
            self.failed(exc)

    def data_received(self, transport: Any, data: bytes) -> bytes | None:
        """Parse one read and answer what it completes, in one write.

        The common case returns the answers for the caller to write; a read that must act
        after writing (closing, large output, held input) writes them itself.
        """
        reader = self.reader
        assert reader is not None  # connection_made comes first
        if self.closing:
            return None  # answered and closing: later pipelined bytes are discarded
        if self.held is not None:  # reading is paused; a read may still be in flight
            self.held += data
            return None
        now = self._read_clock()
        try:
            if len(data) <= _SLICE:
                reader.feed(data)
            else:
                self._feed_slices(reader, data)
        except RemoteProtocolError as exc:
            self._protocol_error(exc)
        except Exception as exc:  # a bug in this package: answer 500, log, close
            log.exception("internal error while handling a request")
            self._protocol_error(RemoteProtocolError(f"internal error ({type(exc).__name__})", 500))
        delivered = reader.delivered
        if delivered:
            self.counters.requests += delivered
            reader.delivered = 0
        if reader.in_message:
            self._track_partial(reader, now, len(data), delivered)
        elif self.head_started is not None or self.body_started is not None:
            self.head_started = self.body_started = None
            self._arm(now + self.keepalive_timeout)  # idle now: a later timer may wait
        return self._end_read(transport, reader)

    def _read_clock(self) -> float:
        """The loop's time, recorded as activity; a new second refreshes the cached heads."""
        now = self._time()
        self.last_activity = now
        cache = self.cache
        if now >= cache.expires:
            cache.refresh(now)
        return now

    def _end_read(self, transport: Any, reader: RequestReader) -> bytes | None:
        """A read is answered: the answers to return, or None once written here.

        Whether the next read may take the one-copy path is decided here, once the read
        has changed whatever it changes.
        """
        out = self.out
        n = len(out)
        output = None
        if n:
            output = out[0] if n == 1 else b"".join(out)
            out.clear()
            unchecked = self.unchecked + n
            # Small answers: let the caller write them, and look at the write buffer
            # (a client that pipelines without reading) every few hundred answers.
            if unchecked < 256 and not (self.big_output or self.closing or reader.held):
                self.unchecked = unchecked
            else:
                self.unchecked = 0
                transport.write(output)
                output = None
                sent_file = self.big_output is BIG_FILE
                self.big_output = NO_BIG_OUTPUT
                self._check_output(sent_file)
        elif self.big_output:  # a file went out and nothing after it
            sent_file = self.big_output is BIG_FILE
            self.big_output = NO_BIG_OUTPUT
            self._check_output(sent_file)
        if output is None:
            held = reader.held
            if held:
                reader.held = b""
                self._hold(held)
            if self.closing and self.queue is None:
                self._close_after_output()
        self.repeat = (
            reader.repeat
            if reader._known_target is self.route_target
            and reader._known_method is self.route_method
            and reader._known_method != b"HEAD"  # answered without a body: not cached
            and self.inline
            and self.held is None
            and not (self.closing or self.big_output)
            else None
        )
        return output

    def _feed_slices(self, reader: RequestReader, data: bytes) -> None:
        """A long read is parsed a slice at a time, checking output bounds in between.

        Tiny pipelined requests can each ask for a large answer; slicing bounds what
        one read can make the server produce before it pauses, at no cost to reads
        shorter than a slice.
        """
        end = len(data)
        for start in range(0, end, _SLICE):
            reader.feed(data[start : start + _SLICE])
            rest = start + _SLICE
            if rest >= end or self.closing:
                return
            if reader.held or self._over_limits():
                reader.held += data[rest:]
                return

    def connection_lost(self, transport: Any, exc: Exception | None) -> None:
        self.closed = True
        self.closing = True
        self.repeat = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        queue = self.queue
        self._set_queue(None)
        if queue:
            for slot in queue:
                if slot.task is not None and not slot.task.done():
                    slot.task.cancel()

    def is_busy(self) -> bool:
        """A request is half-read or a response is still being produced."""
        if self.queue is not None or self.held is not None:
            return True
        return bool(self.reader and self.reader.in_message)

    # ================================================================ requests
    def _deliver(self, request: Request, mode: ConnectionMode) -> None:
        """Called by the reader, during parsing, for each complete request.

        The hot path is written out here: a static route, a sync handler, and a 200
        Response, a dict or a list answered from cached bytes (:meth:`_respond`).
        Anything else goes on to :meth:`_deliver_routed` and :meth:`_answer`.
        """
        if self.closing:
            raise StopParsing
        target = request.target
        method = request._method
        # _static_entry's first check written out: a repeat reuses the last route.
        if target is self.route_target and method is self.route_method:
            entry = self.route_entry
        else:
            entry = self._static_entry(target, method)
            if entry is None:
                self._deliver_routed(request, mode)
                return
        # _call_handler written out: one more call per request costs 4% of this path.
        try:
            result = entry.fn(self.app, request)
        except StopParsing:
            raise
        except Exception as exc:
            result = self._failure_response(request, entry, exc)
        if mode is CLOSE or not self.inline:  # closing, output queued, or access log on
            self._answer(request, result, mode)
            return
        answer = self._respond(request, entry, result, method)
        if answer is not None:
            self.out.append(answer)

    def _deliver_run(self, requests: list[Request]) -> None:
        """Answer a run of requests that repeat one keep-alive head, from the reader.

        Their route, the closing state and the output mode are looked at once for the
        run (again only after an answer that can change them), and an answer that
        repeats the last remembered one is appended here.  On raising, ``requests``
        holds the requests not delivered (the one that raised was).
        """
        first = requests[0]
        method = first._method
        entry = None
        if not self.closing and self.inline:
            entry = self._static_entry(first.target, method)
        if entry is None:
            self._deliver_each(requests, 0)
            return
        fn = entry.fn
        app = self.app
        out = self.out
        cache = self.cache
        not_head = method != b"HEAD"
        for i, request in enumerate(requests):
            try:
                result = fn(app, request)
                if (
                    type(result) is Response
                    and result.body is cache.last_body
                    and result.content_type is cache.last_type
                    and result.status == 200
                    and result.headers is None
                    and not_head
                ):
                    out.append(cache.last_full)
                    continue
            except StopParsing:
                del requests[: i + 1]
                raise
            except Exception as exc:
                result = self._failure_response(request, entry, exc)
            try:
                answer = self._respond(request, entry, result, method)
                if answer is not None:
                    out.append(answer)
            except BaseException:
                del requests[: i + 1]
                raise
            if self.closing or not self.inline:  # the answer changed how output goes
                self._deliver_each(requests, i + 1)
                return

    def _deliver_each(self, requests: list[Request], start: int) -> None:
        """Deliver ``requests[start:]`` one by one, as :meth:`_deliver_run` promises."""
        for i in range(start, len(requests)):
            try:
                self._deliver(requests[i], KEEP)
            except BaseException:
                del requests[: i + 1]
                raise

    def _static_entry(self, target: bytes, method: bytes) -> Any:
        """The synchronous handler of a literal route, remembered for repeats; else None.

        Repeats of one request share their target and method objects (the reader hands
        them out), so the route found for the last one is reused on identity
        (:meth:`_deliver` makes the same check written out, before calling this).
        """
        if target is self.route_target and method is self.route_method:
            return self.route_entry
        # A target without a query is its own path, so it can key the static table
        # as it is; with a query, its path can (?count=20); a miss (%-escapes,
        # parameters, absolute form) takes the full route.
        table = self.static.get(target)
        if table is None:
            q = target.find(b"?")
            if q < 0 or (table := self.static.get(target[:q])) is None:
                return None
        entry = table.get(method)
        if entry is None or entry.is_async:
            return None
        self.route_target = target
        self.route_method = method
        self.route_entry = entry
        return entry

    def _respond(self, request: Request, entry: Any, result: Any, method: bytes) -> bytes | None:
        """A keep-alive answer's bytes, from cached bytes if it can, for the caller to send
        with this read's other answers; None once any other answer went through
        :meth:`_answer`."""
        kind = type(result)
        if kind is Response:
            body = result.body
            cache = self.cache
            # The same body and type objects as the last remembered answer (a handler
            # returning constants): its bytes again, found by two identity checks.
            if (
                body is cache.last_body
                and result.content_type is cache.last_type
                and result.status == 200
                and result.headers is None
                and method != b"HEAD"
            ):
                return cache.last_full
            # Only a bytes body is looked up (a bytearray cannot key a dict).
            if (
                result.status == 200
                and result.headers is None
                and type(body) is bytes
                and method != b"HEAD"
            ):
                content_type = result.content_type
                responses = cache.ok_responses.get(content_type)
                if responses is not None:
                    full = responses.get(body)
                    if full is not None:
                        cache.last_body = body
                        cache.last_type = content_type
                        cache.last_full = full
                        return full
                prefix = cache.ok_prefixes.get(content_type)
                if prefix is not None and len(body) <= 16384:
                    full = b"%s%d\r\n\r\n%s" % (prefix, len(body), body)
                    if len(body) <= 256:
                        cache.remember(content_type, body, full)
                    return full
        elif (kind is dict or kind is list) and method != b"HEAD":
            try:
                body = _json.encode(result)
            except Exception as exc:
                result = self._handler_failed(request, entry, exc)
            else:
                cache = self.cache
                prefix = cache.ok_prefixes.get(_JSON) or head_prefix(200, _JSON, KEEP, cache)
                return b"%s%d\r\n\r\n%s" % (prefix, len(body), body)
        self._answer(request, result, KEEP)
        return None

    def _deliver_routed(self, request: Request, mode: ConnectionMode) -> None:
        """Full routing: queries, escapes, parameters, mounts, async handlers, 404/405."""
        method = request._method
        target = request.target
        if target[:1] == b"/":
            q = target.find(b"?")
            raw_path = target if q < 0 else target[:q]
        else:
            raw_path = self._other_target(target)
        try:
            entry, params = self.router.lookup(method, raw_path)
        except HTTPError as exc:
            self._answer(request, http_error_response(exc), mode)
            return
        if params:
            request.params = params
        if entry.is_async:
            self._start_async(entry, request, params, mode)
            return
        self._answer(request, self._call_handler(entry, request, params), mode)

    def _other_target(self, target: bytes) -> bytes:
        """Routing path for absolute-form (``http://host/p``) and asterisk-form (``*``)."""
        origin = _origin_form(target)
        q = origin.find(b"?")
        return origin if q < 0 else origin[:q]

    def _call_handler(self, entry: Any, request: Request, params: dict[str, Any] | None) -> Any:
        """Call a synchronous handler; what it raises becomes the answer it stands for.

        :meth:`_run_async` maps what an ``async def`` handler raises the same way.
        """
        try:
            if params is None:
                return entry.fn(self.app, request)
            return entry.fn(self.app, request, **params)
        except StopParsing:  # the connection is closing: stop here, answer nothing more
            raise
        except Exception as exc:
            return self._failure_response(request, entry, exc)

    def _failure_response(self, request: Request, entry: Any, exc: Exception) -> Response:
        """An HTTPError answers as itself; anything else is a handler bug: logged, 500."""
        if isinstance(exc, HTTPError):
            return http_error_response(exc)
        return self._handler_failed(request, entry, exc)

    def _handler_failed(self, request: Request, entry: Any, exc: BaseException) -> Response:
        log.error(
            "handler %s raised for %s %s; answering 500",
            getattr(entry, "name", entry),
            request.method,
            request.target.decode("latin-1"),
            exc_info=exc,
        )
        return error_response(500)

    def _send_continue(self) -> None:
        """Expect: 100-continue and the body is wanted: tell the client to send it."""
        if self.queue is None:
            self.out.append(_CONTINUE)
        else:
            slot = _Slot(None, KEEP)
            slot.items.append(_CONTINUE)
            slot.ready = True
            self.queue.append(slot)

    # ================================================================ answering
    def _answer(self, request: Request, result: Any, mode: ConnectionMode) -> None:
        """Render any handler result, inline or into a queue slot, in order."""
        if self.queue is None:
            items: list[bytes | FilePart] = []
            mode, stream = self._render(items, request, result, mode)
            if stream is not None:
                slot = _Slot(request, mode)
                slot.stream = stream
                self._set_queue(deque((slot,)))
                self._start_stream(slot)
            else:
                self._emit_inline(items)
                if self.big_output and mode != CLOSE and self._should_pause():
                    raise PauseParsing  # stop at this boundary until output drains
        else:
            slot = _Slot(request, mode)
            mode, slot.stream = self._render(slot.items, request, result, mode)
            slot.mode = mode
            slot.ready = True
            self.queue.append(slot)
            self._check_pipeline()
        if mode == CLOSE:
            self.closing = True
            raise StopParsing

    def _render(
        self,
        items: list[bytes | FilePart],
        request: Request,
        result: Any,
        mode: ConnectionMode,
    ) -> tuple[ConnectionMode, StreamResponse | None]:
        """Append a result's bytes and FileParts to ``items``; return (mode, stream or None)."""
        head_only = request._method == b"HEAD"
        try:
            if isinstance(result, Response):
                kind = type(result)
                if kind is FileResponse:
                    # kind is type(result): mypy narrows by type(result), not by a name for it.
                    parts, mode = result.prepare(request, mode, head_only)  # type: ignore[attr-defined]
                    items += parts
                    self._log_access(request, parts)
                    return mode, None
                if kind is StreamResponse:
                    self._log_access(request, None, result.status)
                    return mode, result  # type: ignore[return-value]  # as above
                start = len(items)
                mode = render(items, result, mode, head_only, self.cache)
            elif isinstance(result, bytes | bytearray | memoryview | str):
                start = len(items)
                # Response takes bytearray and memoryview bodies too (sent as bytes).
                response = Response(result)  # type: ignore[arg-type]
                mode = render(items, response, mode, head_only, self.cache)
            elif result is None:
                start = len(items)
                mode = render(items, Response(b"", 204), mode, head_only, self.cache)
            else:
                body = _json.encode(result)
                start = len(items)
                response = Response(body, 200, None, _JSON)
                mode = render(items, response, mode, head_only, self.cache)
        except Exception as exc:
            log.error(
                "cannot send the result of %s %s (%s); answering 500",
                request.method,
                request.target.decode("latin-1"),
                type(result).__name__,
                exc_info=exc,
            )
            start = len(items)
            mode = render(items, error_response(500), mode, head_only)
        if self.access_log:
            self._log_access(request, items[start:])
        return mode, None

    def _emit_inline(self, items: list[bytes | FilePart]) -> None:
        """Put a rendered response into this read's output (files are sent at once)."""
        out = self.out
        for item in items:
            if type(item) is bytes:
                if len(item) > 65536 and not self.big_output:
                    self.big_output = BIG_BODY
                out.append(item)
            else:  # a FilePart: bytes are matched by exact type, which mypy cannot narrow out
                self._send_file(out, item)  # type: ignore[arg-type]

    def _send_file(self, acc: list[bytes], part: FilePart) -> None:
        """Send what ``acc`` holds, then the file range, keeping order; empties ``acc``."""
        self.big_output = BIG_FILE
        before = b"".join(acc)
        try:
            self.transport.sendfile_ranged(before, part.path, b"", part.offset, part.nbytes)
        except (OSError, ValueError) as exc:
            # The file changed or vanished after it was inspected: the head already
            # promised its length, so the only honest thing left is to close.
            log.error("sending %r failed (%s); closing the connection", part.path, exc)
            if before:
                self.transport.write(before)
            acc.clear()
            self.closing = True
            return
        acc.clear()

    # ================================================================ async handlers and the queue
    def _start_async(
        self, entry: Any, request: Request, params: dict[str, Any] | None, mode: ConnectionMode
    ) -> None:
        slot = _Slot(request, mode)
        # The task is made before the slot is queued: a loop that refuses it (a FakeClock)
        # leaves no slot behind that would hold back the error answer.
        slot.task = self.loop.create_task(self._run_async(slot, request, entry, params))
        queue = self.queue
        if queue is None:
            queue = deque()
            self._set_queue(queue)
        queue.append(slot)
        self._check_pipeline()
        if mode == CLOSE:
            self.closing = True
            raise StopParsing

    async def _run_async(
        self, slot: _Slot, request: Request, entry: Any, params: dict[str, Any] | None
    ) -> None:
        """Call and await an ``async def`` handler; what it raises becomes its answer."""
        try:
            if params is None:
                result = await entry.fn(self.app, request)
            else:
                result = await entry.fn(self.app, request, **params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            result = self._failure_response(request, entry, exc)
        if self.closed:
            return
        self._finish_slot(slot, request, result)

    def _finish_slot(self, slot: _Slot, request: Request, result: Any) -> None:
        """``request``: the slot's own (a request slot, never a 100 Continue one)."""
        self._read_clock()
        slot.task = None
        slot.mode, slot.stream = self._render(slot.items, request, result, slot.mode)
        if slot.mode == CLOSE:
            self.closing = True
        slot.ready = True
        self._flush()

    def _flush(self) -> None:
        """Write the ready prefix of the queue, in order."""
        queue = self.queue
        if queue is None or self.closed:
            return
        acc: list[bytes] = []
        while queue:
            slot = queue[0]
            if not slot.ready:
                break
            for item in slot.items:
                if type(item) is bytes:
                    acc.append(item)
                else:  # a FilePart, as in _emit_inline
                    self._send_file(acc, item)  # type: ignore[arg-type]
            slot.items = []
            if slot.stream is not None:
                if acc:
                    self.transport.write(b"".join(acc))
                    acc = []
                slot.ready = False
                self._start_stream(slot)
                return
            queue.popleft()
            if slot.mode == CLOSE:
                for later in queue:  # requests after a close are never answered
                    if later.task is not None:
                        later.task.cancel()
                queue.clear()
                self.closing = True
                break
        if acc:
            self.transport.write(b"".join(acc))
        self.last_activity = self._time()
        if not queue:
            self._set_queue(None)
            if self.closing:
                self._close_after_output()
                return
        sent_file = self.big_output is BIG_FILE
        self.big_output = NO_BIG_OUTPUT
        self._check_output(sent_file)
        if self.paused:
            self._resume_reading()

    def _set_queue(self, queue: deque[_Slot] | None) -> None:
        self.queue = queue
        self.inline = queue is None and not self.access_log
        self.repeat = None  # until a read is answered inline again

    def _start_stream(self, slot: _Slot) -> None:
        slot.task = self.loop.create_task(self._run_stream(slot))

    async def _run_stream(self, slot: _Slot) -> None:
        stream = slot.stream
        request = slot.request
        slot.stream = None
        assert stream is not None and request is not None
        transport = self.transport
        chunked = request.version == "1.1"
        try:
            head, slot.mode = stream.head(slot.mode, chunked)
        except Exception as exc:  # e.g. a header with a newline: nothing sent yet
            slot.task = None
            self._finish_slot(slot, request, self._handler_failed(request, "Response.stream", exc))
            return
        transport.write(head)
        ok = await pump_stream(
            stream, transport, chunked, request._method == b"HEAD", self.write_buffer_limit // 4
        )
        if self.closed:
            return
        if not ok:
            self.closing = True
            transport.abort()
            return
        slot.task = None
        slot.ready = True
        if slot.mode == CLOSE:
            self.closing = True
        self._flush()

    # ================================================================ errors and closing
    def _protocol_error(self, exc: RemoteProtocolError) -> None:
        if isinstance(exc, HeadTrackingError):
            log.error("request head tracking failed: %s (please report this)", exc)
        else:
            log.debug("bad request from %s: %s", self.transport.peername, exc)
        response = error_response(exc.status, str(exc))
        if self.queue is None:
            items: list[bytes | FilePart] = []
            self._render(items, _ERROR_REQUEST, response, CLOSE)
            self._emit_inline(items)
        else:
            slot = _Slot(_ERROR_REQUEST, CLOSE)
            self._render(slot.items, _ERROR_REQUEST, response, CLOSE)
            slot.ready = True
            self.queue.append(slot)
        self.closing = True
        self.linger_until = self._time() + _LINGER

    def _close_after_output(self) -> None:
        """Everything is answered: close now, or after a short linger for error answers."""
        if self.closed:
            return
        if self.linger_until is not None:
            # Keep reading (and discarding) briefly so a client still sending a body
            # reads our answer instead of a connection reset.
            self._arm(self.linger_until)
            return
        self.transport.close()

    def _timed_out(self, why: str) -> None:
        log.debug("closing %s: %s", self.transport.peername, why)
        self.closing = True
        self.repeat = None
        if self.queue is None:
            items: list[bytes | FilePart] = []
            self._render(items, _ERROR_REQUEST, error_response(408, why), CLOSE)
            self.out.extend(items)  # type: ignore[arg-type]  # an error page is bytes only
            self.transport.write(b"".join(self.out))
            self.out.clear()
        # Like every error answer, linger: closing with the client's bytes unread sends a
        # reset, which can destroy the 408 before the client reads it (RFC 9112 section 9.6).
        self.linger_until = self._time() + _LINGER
        self._close_after_output()

    # ================================================================ access log
    def _log_access(
        self, request: Request, items: list[bytes | FilePart] | None, status: int | None = None
    ) -> None:
        """Common Log Format, with the response's Date as the time and body bytes as size."""
        if not self.access_log:
            return
        size = 0
        if items:
            head = items[0] if type(items[0]) is bytes else b""
            if status is None and head[:5] == b"HTTP/":
                status = int(head[9:12])
            for item in items:
                size += item.nbytes if type(item) is FilePart else len(item)
            end = head.find(b"\r\n\r\n")
            size -= end + 4 if end >= 0 else 0
        client = request.client
        host = client[0] if isinstance(client, tuple) else "-"
        target = request.target.decode("latin-1")
        when = self.cache.http_date
        line = (
            f'{host} - - [{when}] "{request.method} {target} HTTP/{request.version}" '
            f"{status if status is not None else '-'} {max(size, 0)}"
        )
        log_access_line(self.loop, line)


_ERROR_REQUEST = Request("GET", b"/")
