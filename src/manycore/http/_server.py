"""``HttpServer``: the protocol class applications subclass.

It is an ordinary manycore protocol class (one instance per connection,
created with no arguments; ``connection_made`` / ``data_received`` /
``connection_lost``), so it runs unchanged on every engine.  The class body
holds the application: ``@route`` methods, ``static()`` mounts and settings as
class attributes.  Settings are checked and the routing table is built once,
when the class is created, so a mistake is reported at import time with the
name of the setting, not as a failure on the first request.

An instance delegates all HTTP work to an :class:`HttpConnection`; to save a
call per read, ``data_received`` is bound straight to the connection's method
unless the subclass overrides it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ._connection import HttpConnection
from ._routing import Router, build_router
from .proxy import DEFAULT_FORWARDED_ALLOW_IPS, TrustedProxies, parse_trusted
from .wire import concurrency_refusal, over_concurrency_limit

__all__ = ["HttpServer"]

_SIZE_SETTINGS = (
    "max_body_size",
    "max_head_size",
    "max_url_length",
    "max_header_count",
    "max_pipeline",
    "write_buffer_limit",
)
_TIME_SETTINGS = (
    "header_timeout",
    "body_timeout",
    "body_grace",
    "keepalive_timeout",
    "send_timeout",
)


class HttpServer:
    """An HTTP/1.1 server as a protocol class.  Subclass it; add ``@route`` methods.

    Settings (class attributes; override in the subclass):

    - ``max_body_size`` -- largest request body accepted (413 above it).
    - ``max_head_size`` -- largest request line plus header section (431).
    - ``max_url_length`` -- longest request target (414).
    - ``max_header_count`` -- most header fields in one request (431).
    - ``header_timeout`` -- seconds a client may take to send a request head.
    - ``body_timeout`` -- seconds a request body may stall between reads.
    - ``body_grace``, ``body_min_rate`` -- a request body must average
      ``body_min_rate`` bytes/s after its first ``body_grace`` seconds, however
      steadily it trickles (0 turns the minimum rate off).
    - ``keepalive_timeout`` -- seconds an idle keep-alive connection stays open.
    - ``send_timeout`` -- seconds output may make no progress before the
      connection is dropped (a client that stopped reading).
    - ``max_pipeline`` -- pipelined requests waiting on async handlers before
      reading pauses.
    - ``write_buffer_limit`` -- output bytes waiting for a slow reader before
      reading pauses.
    - ``access_log`` -- log one line per request to the ``manycore.access``
      logger (off by default).
    - ``limit_concurrency`` -- open connections per worker beyond which a new
      connection's request is answered 503 and the connection closed (None: no limit).
    - ``proxy_headers``, ``forwarded_allow_ips`` -- believe X-Forwarded-For/-Proto
      and ``Forwarded`` from these proxies (see :mod:`manycore.http.proxy`):
      ``request.client`` and ``request.scheme`` are then the forwarded ones.
    - ``root_path`` -- the prefix a proxy serves the application under
      (``request.root_path``); routes still match the path as received.

    Override ``connection_made``/``connection_lost`` only with a ``super()`` call.
    """

    max_body_size: ClassVar[int] = 1 << 20
    max_head_size: ClassVar[int] = 16 * 1024
    max_url_length: ClassVar[int] = 8 * 1024
    max_header_count: ClassVar[int] = 100
    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 30.0
    body_grace: ClassVar[float] = 20.0
    body_min_rate: ClassVar[float] = 500.0
    keepalive_timeout: ClassVar[float] = 15.0
    send_timeout: ClassVar[float] = 60.0
    max_pipeline: ClassVar[int] = 64
    write_buffer_limit: ClassVar[int] = 1 << 20
    access_log: ClassVar[bool] = False
    limit_concurrency: ClassVar[int | None] = None
    proxy_headers: ClassVar[bool] = False
    forwarded_allow_ips: ClassVar[str] = DEFAULT_FORWARDED_ALLOW_IPS
    root_path: ClassVar[str] = ""
    trusted_proxies: ClassVar[TrustedProxies] = parse_trusted(DEFAULT_FORWARDED_ALLOW_IPS)
    url_scheme: ClassVar[str] = "http"  # the ready line shows a URL to click

    _router: ClassVar[Router] = Router()
    _bind_data_received: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_settings(cls)
        cls.trusted_proxies = _trusted_proxies(cls)
        cls._router = build_router(cls)
        cls._bind_data_received = cls.data_received is HttpServer.data_received

    def __init__(self) -> None:
        self._http = http = HttpConnection(self)
        if over_concurrency_limit(self.limit_concurrency):
            # Over the limit: the first request is answered 503 (uvicorn does the same);
            # the connection's timers still bound a client that never sends one.
            self.data_received = self._refuse_over_limit  # type: ignore[method-assign]
        elif self._bind_data_received:
            # One call less per read; the signatures match.
            self.data_received = http.data_received  # type: ignore[method-assign]

    def _connection(self) -> HttpConnection:
        http = self.__dict__.get("_http")
        if http is None:  # a subclass __init__ that did not call super().__init__()
            http = self._http = HttpConnection(self)
        return http

    def connection_made(self, transport: Any) -> None:
        self._connection().connection_made(transport)

    def data_received(self, transport: Any, data: bytes) -> bytes | None:
        return self._connection().data_received(transport, data)

    def direct_reader(self, transport: Any, failed: Callable[[Exception], None]) -> Any:
        """The connection reads and writes without the core in between, unless this
        instance reads through another ``data_received`` (a subclass's, or the refusal
        over ``limit_concurrency``)."""
        http = self._connection()
        if self.__dict__.get("data_received") != http.data_received:
            return None
        return http.direct_reader(transport, failed)

    def connection_lost(self, transport: Any, exc: Exception | None) -> None:
        self._connection().connection_lost(transport, exc)

    def _refuse_over_limit(self, transport: Any, data: bytes) -> bytes | None:
        if self._http.closing:
            return None
        self._http.closing = True
        transport.close()
        return concurrency_refusal(self.limit_concurrency or 0)

    def is_busy(self) -> bool:
        """For graceful shutdown: a request is in progress on this connection."""
        return self._connection().is_busy()


def _check_settings(cls: type[HttpServer]) -> None:
    for name in _SIZE_SETTINGS:
        value = getattr(cls, name)
        if type(value) is not int or value <= 0:
            raise TypeError(
                f"{cls.__qualname__}.{name} must be a positive int (bytes or a count), "
                f"got {value!r}"
            )
    for name in _TIME_SETTINGS:
        value = getattr(cls, name)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise TypeError(
                f"{cls.__qualname__}.{name} must be a positive number of seconds, got {value!r}"
            )
    limit = cls.limit_concurrency
    if limit is not None and (type(limit) is not int or limit <= 0):
        raise TypeError(
            f"{cls.__qualname__}.limit_concurrency must be a positive int or None, got {limit!r}"
        )
    if not isinstance(cls.root_path, str):
        raise TypeError(f"{cls.__qualname__}.root_path must be a str, got {cls.root_path!r}")
    rate = cls.body_min_rate
    if not isinstance(rate, int | float) or isinstance(rate, bool) or rate < 0:
        raise TypeError(
            f"{cls.__qualname__}.body_min_rate must be a number of bytes per second "
            f"(0 for no minimum), got {rate!r}"
        )


def _trusted_proxies(cls: type[HttpServer]) -> TrustedProxies:
    try:
        return parse_trusted(cls.forwarded_allow_ips)
    except (ValueError, AttributeError, TypeError) as exc:
        raise TypeError(f"{cls.__qualname__}.forwarded_allow_ips: {exc}") from None
