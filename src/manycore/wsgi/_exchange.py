"""One request passed between the event loop and the thread that runs the WSGI application.

The application's thread runs the whole WSGI call and turns it into a queue of operations for
the loop (send the head and a first piece of body, send more body, receive the request body,
send a file, done); the loop performs them in order with the ASGI ``send`` and ``receive``.
Output is not answered piece by piece: the thread goes on producing until ``HIGH_WATER``
bytes are unconfirmed, then waits until the loop has sent them, and the loop's ``send``
waits while the transport is paused, so a slow client holds the application back instead of
a buffer growing.  A list result, the common case, crosses back to the loop exactly once.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from wsgiref.types import WSGIApplication

from ._environ import build_environ, has_body, scope_has_body
from ._errors import ClientDisconnected
from ._files import FileWrapper, sendable_path
from ._input import EMPTY_INPUT, InputStream
from ._types import Receive, Scope, Send

# What the application's thread asks of the loop, as tuples headed by one of these.
START = 0  # (START, status, headers, body, final): the head with the first body bytes
BODY = 1  # (BODY, body): more body
SYNC = 2  # (SYNC,): answer once everything before it has been sent
RECEIVE = 3  # (RECEIVE,): answer with the next piece of the request body
PATHSEND = 4  # (PATHSEND, status, headers, path): the body is this whole file
DONE = 5  # (DONE, error): the application returned (or raised) and its result is closed
# A final START (the whole response in one operation) is the last operation too.

HIGH_WATER = 64 * 1024

Op = tuple[Any, ...]
Headers = list[tuple[bytes, bytes]]


_STATUS_CODES: dict[str, int] = {}
_HEADER_NAMES: dict[str, bytes] = {}
_MAX_CACHED = 1024


def _asgi_head(status: object, headers: Any) -> tuple[int, Headers]:
    """PEP 3333's status line and header list as ASGI's status code and header pairs."""
    code = _STATUS_CODES.get(status) if isinstance(status, str) else None
    if code is None:
        if not (isinstance(status, str) and status[:3].isdigit() and status[3:4] == " "):
            raise ValueError(f"start_response() status must be a str like '200 OK', not {status!r}")
        code = int(status[:3])
        if len(_STATUS_CODES) < _MAX_CACHED:
            _STATUS_CODES[status] = code
    names = _HEADER_NAMES
    pairs = []
    try:
        for name, value in headers:
            raw = names.get(name)
            if raw is None:
                raw = name.lower().encode("latin-1")
                if len(names) < _MAX_CACHED:
                    names[name] = raw
            pairs.append((raw, value.encode("latin-1")))
    except (AttributeError, TypeError, ValueError, UnicodeError):
        raise ValueError(
            "start_response() headers must be a list of (name, value) str pairs in latin-1,"
            f" not {headers!r}"
        ) from None
    return code, pairs


def _fresh(error: BaseException) -> BaseException:
    """A new exception like ``error``: raising one instance again and again would chain
    every raise's frames (and what they hold) onto it."""
    return type(error)(*error.args)


class Exchange:
    """The two halves of one request: :meth:`run` in a pool thread, :meth:`serve` on the loop."""

    __slots__ = (
        "_answer",
        "_app",
        "_base",
        "_complete",
        "_headers",
        "_headers_sent",
        "_loop",
        "_ops",
        "_over",
        "_owed",
        "_receive",
        "_resume",
        "_scope",
        "_send",
        "_send_error",
        "_started",
        "_status",
        "_unsynced",
        "_waiter",
        "_watcher",
        "body_done",
        "failed",
    )

    def __init__(
        self,
        app: WSGIApplication,
        scope: Scope,
        receive: Receive,
        send: Send,
        loop: asyncio.AbstractEventLoop,
        base: dict[str, Any],
    ) -> None:
        self._app = app
        self._scope = scope
        self._receive = receive
        self._send = send
        self._loop = loop
        self._base = base
        # Set on the loop, read by the thread: why output and input stopped.
        self.failed: ClientDisconnected | None = None
        # The thread blocks on this lock (held from the start) until the loop answers.
        self._resume: threading.Lock | None = None
        self._answer: Any = None
        # Loop side.
        self._ops: list[Op] = []
        self._waiter: asyncio.Future[None] | None = None
        self._owed = False
        self._over = False
        self._started = False
        self._complete = False
        self._send_error: BaseException | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.body_done: bool | None = None
        # Thread side.
        self._status: str | None = None
        self._headers: Any = None
        self._headers_sent = False
        self._unsynced = 0

    # ------------------------------------------------------------ the application's thread
    def run(self) -> None:
        try:
            finished = self._call_app()
        except Exception as exc:
            self._post((DONE, exc))
            return
        except BaseException as exc:  # SystemExit in an application must not stop the server
            error = RuntimeError(f"the WSGI application raised {type(exc).__name__}")
            error.__cause__ = exc
            self._post((DONE, error))
            return
        if not finished:
            self._post((DONE, None))

    def _call_app(self) -> bool:
        """Run the application; True if its whole response went in one final operation."""
        environ = build_environ(self._scope, self._base)
        environ["wsgi.input"] = (
            InputStream(self._receive_body) if has_body(environ) else EMPTY_INPUT
        )
        result = self._app(environ, self.start_response)
        if type(result) is list or type(result) is tuple:  # nothing to close
            return self._finish(b"".join(result))
        try:
            if isinstance(result, bytes | str) or not hasattr(result, "__iter__"):
                raise TypeError(
                    "a WSGI application must return an iterable of bytes such as [body],"
                    f" not {type(result).__name__}"
                )
            if isinstance(result, FileWrapper) and self._send_path(result):
                return False
            for chunk in result:
                if type(chunk) is not bytes and not isinstance(chunk, bytes):
                    raise TypeError(
                        f"a WSGI application must yield bytes, not {type(chunk).__name__}"
                    )
                if chunk:
                    self._write(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return self._finish(b"")

    def _finish(self, tail: bytes) -> bool:
        """Hand over the rest: with the head, as the final operation, if no body went before
        it (PEP 3333 sends the head with the first body bytes); True if it did."""
        if self._headers_sent:
            if tail:
                self._write(tail)
            return False
        status, headers = self._head()
        self._headers_sent = True
        self._post((START, status, headers, tail, True))
        return True

    def _send_path(self, wrapper: FileWrapper) -> bool:
        """Send a wrapped file by its path (zero-copy) if the server and the file allow it."""
        if "http.response.pathsend" not in (self._scope.get("extensions") or {}):
            return False
        found = sendable_path(wrapper)
        if found is None or self._headers_sent:
            return False
        path, size = found
        status, headers = self._head()
        lengths = [value for name, value in headers if name == b"content-length"]
        if not lengths:
            headers.append((b"content-length", str(size).encode()))
        elif lengths != [str(size).encode()]:
            return False  # the application means to send something else than the whole file
        self._headers_sent = True
        self._post((PATHSEND, status, headers, path))
        return True

    def _head(self) -> tuple[int, Headers]:
        if self._status is None:
            raise RuntimeError(
                "the WSGI application returned its body without calling start_response()"
            )
        return _asgi_head(self._status, self._headers)

    def start_response(self, status: str, headers: Any, exc_info: Any = None) -> Any:
        """PEP 3333's ``start_response``: the head is only stored; it leaves with the body."""
        if exc_info is not None:
            try:
                if self._headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self._status is not None:
            raise RuntimeError("start_response() called a second time without exc_info")
        self._status = status
        self._headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        """The legacy ``write()`` callable start_response returns."""
        if not isinstance(data, bytes):
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        if self._status is None:
            raise RuntimeError("write() called before start_response()")
        if data:
            self._write(data)

    def _write(self, data: bytes) -> None:
        if self.failed is not None:
            raise _fresh(self.failed)
        if self._headers_sent:
            self._post((BODY, data))
        else:
            status, headers = self._head()
            self._headers_sent = True
            self._post((START, status, headers, data, False))
        self._unsynced += len(data)
        if self._unsynced >= HIGH_WATER:
            self._unsynced = 0
            self._wait((SYNC,))

    def _receive_body(self) -> tuple[bytes, bool]:
        answer: tuple[bytes, bool] = self._wait((RECEIVE,))
        return answer

    def _wait(self, op: Op) -> Any:
        """Post ``op`` and block until the loop answers it."""
        if self._resume is None:
            self._resume = threading.Lock()
            self._resume.acquire()
        if not self._post(op):
            raise _fresh(self.failed or ClientDisconnected("the server has stopped"))
        self._resume.acquire()
        answer = self._answer
        if isinstance(answer, BaseException):
            raise _fresh(answer)
        return answer

    def _post(self, op: Op) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._deliver, op)
        except RuntimeError:  # the loop is closed: the server has stopped
            if self.failed is None:
                self.failed = ClientDisconnected("the server has stopped")
            return False
        return True

    # ------------------------------------------------------------------------ the loop
    def _deliver(self, op: Op) -> None:
        if op[0] == SYNC or op[0] == RECEIVE:
            if self._over:
                self._answer_thread(self.failed)  # the request is over: nobody else will
                return
            self._owed = True
        self._ops.append(op)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _answer_thread(self, answer: Any) -> None:
        self._answer = answer
        self._owed = False
        assert self._resume is not None
        self._resume.release()

    async def serve(self) -> None:
        """Perform the thread's operations until it is done; raise what the application raised."""
        try:
            while True:
                if not self._ops:
                    self._waiter = self._loop.create_future()
                    await self._waiter
                    self._waiter = None
                ops, self._ops = self._ops, []
                last = len(ops) - 1
                if not last and ops[0][0] == START and ops[0][4]:
                    await self._send_whole(ops[0])
                    return
                for index, op in enumerate(ops):
                    kind = op[0]
                    if kind == DONE:
                        await self._done(op[1])
                        return
                    # A body followed by a clean DONE is the last body.
                    final = index < last and ops[index + 1][0] == DONE and ops[index + 1][1] is None
                    await self._perform(op, final)
                    if kind == START and op[4]:
                        await self._done(None)
                        return
        finally:
            self._over = True
            if self._owed:
                self._answer_thread(self.failed or ClientDisconnected("the request was cancelled"))
            if self._watcher is not None:
                self._watcher.cancel()
            if self.failed is None:
                self.failed = ClientDisconnected("the request is over")

    async def _send_whole(self, op: Op) -> None:
        """The common case: the whole response in one operation, and the application done."""
        self._started = self._complete = True
        send = self._send
        try:
            await send({"type": "http.response.start", "status": op[1], "headers": op[2]})
            await send({"type": "http.response.body", "body": op[3], "more_body": False})
        except OSError:
            self.failed = ClientDisconnected("the response could not be sent")

    async def _perform(self, op: Op, final: bool) -> None:
        kind = op[0]
        if kind == RECEIVE:
            self._answer_thread(await self._read_body())
        elif kind == SYNC:
            self._answer_thread(None)
        elif self.failed is None:
            try:
                if kind == START:
                    await self._start(op[1], op[2])
                    await self._body(op[3], final or op[4])
                elif kind == BODY:
                    await self._body(op[1], final)
                elif kind == PATHSEND:
                    await self._start(op[1], op[2])
                    await self._send({"type": "http.response.pathsend", "path": op[3]})
                    self._complete = True
            except BaseException as exc:
                self._send_error = exc
                self.failed = ClientDisconnected("the response could not be sent")
                if not isinstance(exc, Exception):
                    raise

    async def _start(self, status: int, headers: Headers) -> None:
        self._started = True
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def _body(self, body: bytes, final: bool) -> None:
        if final:
            self._complete = True
            await self._send({"type": "http.response.body", "body": body, "more_body": False})
            return
        if self._watcher is None:
            self._watch_for_disconnect()
        await self._send({"type": "http.response.body", "body": body, "more_body": True})

    async def _read_body(self) -> tuple[bytes, bool] | ClientDisconnected:
        message = await self._receive()
        if message["type"] == "http.request":
            more = bool(message.get("more_body", False))
            if not more:
                self.body_done = True
            return message.get("body", b""), more
        self.body_done = True
        self.failed = ClientDisconnected("the client closed the connection")
        return self.failed

    def _watch_for_disconnect(self) -> None:
        """While a response streams, notice a client that goes away (the body must be read:
        the ASGI ``receive`` is the request body's until it ends)."""
        if self.body_done is None:
            self.body_done = not scope_has_body(self._scope)
        if self.body_done:
            self._watcher = self._loop.create_task(self._watch())

    async def _watch(self) -> None:
        try:
            message = await self._receive()
            if message["type"] == "http.request" and not message.get("more_body"):
                message = await self._receive()  # the (empty) body nobody had asked for yet
        except Exception:  # the server's receive failed: the connection is as good as gone
            message = {"type": "http.disconnect"}
        if message["type"] != "http.disconnect":
            return  # nothing else may follow a complete body: no use waiting on it
        if not self._complete and self.failed is None:
            self.failed = ClientDisconnected("the client closed the connection")

    async def _done(self, error: Exception | None) -> None:
        gone = self.failed is not None
        if error is not None and not (gone and isinstance(error, OSError)):
            raise error
        if self._send_error is not None and not isinstance(self._send_error, OSError):
            raise self._send_error
        if not self._complete and not gone:
            self._complete = True
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
