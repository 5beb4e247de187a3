"""Where the HTTP connection hands an ``Upgrade: websocket`` request over.

The WebSocket session lives in :mod:`manycore.asgi.websocket`, imported only
when a connection first meets such a request.  Its contract::

    session = WebSocketSession(
        app, scope, transport, loop,
        max_message_size=..., ping_interval=..., ping_timeout=..., per_message_deflate=...,
    )
    session.start(request_headers, leftover)  # the handshake's headers, bytes after it
    session.data_received(data)               # every later read
    session.connection_lost(exc)              # once
    session.shutdown()                        # the worker is stopping: 1001, or 503

Where that module is missing, such requests are answered as plain HTTP: the
application gets an ``http`` scope.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["websocket_session_class"]

_MISSING = object()
_found: Any = _MISSING


def websocket_session_class() -> Any:
    """The WebSocket session class, or None where WebSocket is not available."""
    global _found
    if _found is _MISSING:
        try:
            module = importlib.import_module("manycore.asgi.websocket")
        except ImportError:
            _found = None
        else:
            _found = getattr(module, "WebSocketSession", None)
    return _found
