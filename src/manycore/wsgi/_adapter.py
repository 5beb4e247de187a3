"""A WSGI application as an ASGI 3 application, so one HTTP server serves both."""

from __future__ import annotations

import asyncio
from wsgiref.types import WSGIApplication

from ._environ import base_environ
from ._exchange import Exchange
from ._pool import ContextPools
from ._types import Receive, Scope, Send

DEFAULT_THREADS = 8


class WsgiAdapter:
    """Runs each HTTP request's WSGI call on this parallel context's thread pool.

    Lifespan events are acknowledged, and shutdown ends the context's pool; a WebSocket
    is refused, as WSGI has none.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        threads: int = DEFAULT_THREADS,
        multithread: bool = True,
        multiprocess: bool = True,
    ) -> None:
        if not callable(app):
            raise TypeError(f"a WSGI application is a callable, not {type(app).__name__}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.app = app
        self.threads = threads
        self._pools = ContextPools(threads)
        self._base = base_environ(multithread=multithread, multiprocess=multiprocess)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            exchange = Exchange(
                self.app,
                scope,
                receive,
                send,
                asyncio.get_running_loop(),
                self._base,
            )
            self._pools.get().submit(exchange.run)
            await exchange.serve()
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})
        else:
            raise ValueError(f"a WSGI application serves no {kind!r} connections")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._pools.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def asgi_from_wsgi(
    app: WSGIApplication,
    *,
    threads: int = DEFAULT_THREADS,
    multithread: bool = True,
    multiprocess: bool = True,
) -> WsgiAdapter:
    """``app`` as an ASGI 3 application whose WSGI calls run on ``threads`` threads per
    parallel context (made there on the first request, never before a fork).

    ``multithread`` and ``multiprocess`` are what the environ tells the application; both
    default to true, the answer that is safe whatever engine serves it.
    """
    return WsgiAdapter(app, threads=threads, multithread=multithread, multiprocess=multiprocess)
