"""``AsgiServer``: an ASGI application served as a manycore protocol class.

:func:`asgi_server` makes a subclass holding the application and its settings
as class attributes, so the class runs on every engine like any protocol
class: one instance per connection, made with no arguments.  The settings
have :class:`~manycore.http.HttpServer`'s names and defaults, but for
``max_body_size`` (1 GiB: the body streams to the application).
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from ..http import HttpServer
from ..http.proxy import DEFAULT_FORWARDED_ALLOW_IPS, TrustedProxies, parse_trusted
from ..http.wire import concurrency_refusal, over_concurrency_limit
from ._connection import AsgiConnection
from .lifespan import Lifespan

__all__ = ["AsgiServer", "asgi_server", "needs_task"]


class AsgiServer:
    """The protocol class behind ``manycore serve`` for an ASGI application.

    Settings (class attributes, as on ``HttpServer``): ``max_body_size`` (413),
    ``max_head_size`` and ``max_header_count`` (431), ``max_url_length`` (414),
    ``header_timeout``, ``body_timeout``, ``body_grace`` and ``body_min_rate``,
    ``keepalive_timeout``, ``send_timeout``,
    ``max_pipeline``, ``access_log``, ``limit_concurrency``, ``proxy_headers``
    and ``forwarded_allow_ips``; and ``root_path`` (the ASGI ``root_path``,
    where a proxy mounts the application), ``url_scheme``, ``task_per_request``
    (see :mod:`manycore.asgi._stepping`), and the WebSocket session's
    ``websocket_max_message_size``, ``websocket_ping_interval``,
    ``websocket_ping_timeout`` (None: off) and ``websocket_per_message_deflate``.
    """

    app: ClassVar[Any] = None
    lifespan: ClassVar[Lifespan | None] = None
    task_per_request: ClassVar[bool] = False
    root_path: ClassVar[str] = ""
    url_scheme: ClassVar[str] = "http"
    # The application reads the body as it arrives, so no limit is needed to bound the
    # server's memory; frameworks apply their own (Django's DATA_UPLOAD_MAX_MEMORY_SIZE,
    # Flask's MAX_CONTENT_LENGTH). This one only ends a body that never ends.
    max_body_size: ClassVar[int] = 1 << 30
    max_head_size: ClassVar[int] = HttpServer.max_head_size
    max_url_length: ClassVar[int] = HttpServer.max_url_length
    max_header_count: ClassVar[int] = HttpServer.max_header_count
    max_pipeline: ClassVar[int] = HttpServer.max_pipeline
    header_timeout: ClassVar[float] = HttpServer.header_timeout
    body_timeout: ClassVar[float] = HttpServer.body_timeout
    keepalive_timeout: ClassVar[float] = HttpServer.keepalive_timeout
    send_timeout: ClassVar[float] = HttpServer.send_timeout
    body_grace: ClassVar[float] = HttpServer.body_grace
    body_min_rate: ClassVar[float] = HttpServer.body_min_rate
    access_log: ClassVar[bool] = False
    limit_concurrency: ClassVar[int | None] = HttpServer.limit_concurrency
    proxy_headers: ClassVar[bool] = False
    forwarded_allow_ips: ClassVar[str] = DEFAULT_FORWARDED_ALLOW_IPS
    trusted_proxies: ClassVar[TrustedProxies | None] = None
    """Parsed from ``forwarded_allow_ips`` once per class; None while ``proxy_headers`` is off."""
    websocket_max_message_size: ClassVar[int] = 16 * 1024 * 1024
    websocket_ping_interval: ClassVar[float | None] = 20.0
    websocket_ping_timeout: ClassVar[float | None] = 20.0
    websocket_per_message_deflate: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.trusted_proxies = _trusted_proxies(cls) if cls.proxy_headers else None

    def __init__(self) -> None:
        self._connection = connection = AsgiConnection(type(self))
        if over_concurrency_limit(self.limit_concurrency):
            # The first request is answered 503, as HttpServer does; the connection's
            # timers still bound a client that never sends one.
            self.data_received = self._refuse_over_limit  # type: ignore[method-assign]
        else:
            # One call less per read; the signatures match.
            self.data_received = connection.data_received  # type: ignore[method-assign]

    def connection_made(self, transport: Any) -> None:
        self._connection.connection_made(transport)

    def data_received(self, transport: Any, data: bytes) -> bytes | None:
        return self._connection.data_received(transport, data)

    def connection_lost(self, transport: Any, exc: Exception | None) -> None:
        self._connection.connection_lost(transport, exc)

    def is_busy(self) -> bool:
        """For graceful shutdown: a request is in progress on this connection."""
        return self._connection.is_busy()

    def server_stopping(self) -> None:
        """The worker is stopping: an open WebSocket session says goodbye (1001)."""
        self._connection.server_stopping()

    def _refuse_over_limit(self, transport: Any, data: bytes) -> bytes | None:
        connection = self._connection
        if connection.closing:
            return None
        connection.closing = True
        transport.close()
        return concurrency_refusal(self.limit_concurrency or 0)


def asgi_server(
    app: Any,
    *,
    lifespan: str = "auto",
    task_per_request: bool | None = None,
    **settings: Any,
) -> type[AsgiServer]:
    """A protocol class serving the ASGI 3 application ``app``.

    ``lifespan``: ``auto``, ``on`` or ``off`` (see :mod:`.lifespan`); the hooks
    are the class's ``lifespan.startup``/``lifespan.shutdown``, which the caller
    registers with ``manycore.on_worker_start``/``on_worker_stop``.
    ``task_per_request``: None decides by :func:`needs_task`.  ``settings``
    override the class attributes of :class:`AsgiServer` by name.
    """
    unknown = sorted(name for name in settings if not hasattr(AsgiServer, name))
    if unknown:
        raise TypeError(f"not AsgiServer settings: {', '.join(unknown)}")
    name = getattr(app, "__qualname__", None) or type(app).__qualname__
    attrs: dict[str, Any] = {
        "app": staticmethod(app),
        "lifespan": Lifespan(app, lifespan),
        "task_per_request": needs_task() if task_per_request is None else task_per_request,
        "__module__": getattr(app, "__module__", __name__),
        **settings,
    }
    return type(f"AsgiServer[{name}]", (AsgiServer,), attrs)


def _trusted_proxies(cls: type[AsgiServer]) -> TrustedProxies:
    try:
        return parse_trusted(cls.forwarded_allow_ips)
    except (ValueError, AttributeError, TypeError) as exc:
        raise TypeError(f"{cls.__qualname__}.forwarded_allow_ips: {exc}") from None


def needs_task() -> bool:
    """True when the application's libraries find their task with ``current_task()``.

    anyio (which Starlette and FastAPI build on) keeps its cancel scopes per Task, and
    Django's ASGI handler opens an ``asyncio.TaskGroup`` (which needs its parent task)
    on newer Pythons, so an application that imported either runs each request in a Task.
    """
    return "anyio" in sys.modules or "django" in sys.modules
