"""The HTTP/1.1 wire pieces other layers build servers from, as public names.

The ASGI interface (:mod:`manycore.asgi`) speaks the same HTTP/1.1 as
:class:`~manycore.http.HttpServer`, so it must frame messages with the same
parser (llhttp, through httptools: one parser decides where a message ends),
refuse the same request lines and Host values, and check every response header
field in the same place (:mod:`._head_builder`).  This module is that shared
surface; nothing here is copied.
"""

from __future__ import annotations

import httptools

from ..stats import worker_counters
from ._clock import HeadCache, head_cache
from ._errors import LocalProtocolError, RemoteProtocolError
from ._head_builder import CONNECTION_LINES, SERVER, single_line, status_line
from ._heads import check_host_value, check_target
from ._modes import CLOSE, KEEP, ConnectionMode
from ._response import error_response, render
from ._stats import log_access_line

__all__ = [
    "CLOSE",
    "CONNECTION_LINES",
    "KEEP",
    "SERVER",
    "ConnectionMode",
    "HeadCache",
    "LocalProtocolError",
    "ParserError",
    "ParserUpgrade",
    "RemoteProtocolError",
    "RequestParser",
    "check_field_name",
    "check_host_value",
    "check_target",
    "concurrency_refusal",
    "error_page",
    "head_cache",
    "log_access_line",
    "over_concurrency_limit",
    "parser_error",
    "single_line",
    "status_line",
]

RequestParser = httptools.HttpRequestParser
"""llhttp's request parser (strict mode): the one place a message's end is decided."""
ParserError = httptools.HttpParserError
"""What :data:`RequestParser` raises for input that is not HTTP/1.x."""
ParserUpgrade = httptools.HttpParserUpgrade
"""Raised by :data:`RequestParser` after a request with Upgrade (or CONNECT); its arg is
where the bytes after that request's head begin."""

_TOKEN_CHARS = frozenset(
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


def check_field_name(name: bytes) -> bytes:
    """``name`` unchanged if it is an RFC 9110 §5.6.2 token, else LocalProtocolError."""
    if not name or not _TOKEN_CHARS.issuperset(name):
        raise LocalProtocolError(
            f"response header name {name.decode('latin-1')!r} is not a valid HTTP token"
        )
    return name


def parser_error(exc: Exception) -> RemoteProtocolError:
    """The answer to input llhttp refused: 505 for a version this server does not speak."""
    reason = str(exc) or type(exc).__name__
    if "HTTP version" in reason or "PRI" in reason:
        return RemoteProtocolError("only HTTP/1.0 and HTTP/1.1 are supported over plain TCP", 505)
    if isinstance(exc, httptools.HttpParserInvalidMethodError):
        return RemoteProtocolError("malformed request line (invalid method)", 400)
    return RemoteProtocolError(f"malformed request: {reason}", 400)


def over_concurrency_limit(limit: int | None) -> bool:
    """``--limit-concurrency``: this worker has more than ``limit`` connections open.

    Asked when a connection is made; its first request then gets
    :func:`concurrency_refusal` instead of an answer (uvicorn does the same).
    """
    return limit is not None and worker_counters().connections_open > limit


def concurrency_refusal(limit: int) -> bytes:
    """The 503 a connection beyond ``limit`` gets before it is closed."""
    return error_page(503, f"more than {limit} connections; retry later", CLOSE)


def error_page(status: int, detail: str | None = None, mode: ConnectionMode = CLOSE) -> bytes:
    """A whole short plain-text error response (``Connection: close`` by default)."""
    out: list[bytes] = []
    render(out, error_response(status, detail), mode, False)
    return b"".join(out)
