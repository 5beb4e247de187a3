"""WSGI (PEP 3333) applications served through the ASGI interface.

``asgi_from_wsgi(app, threads=N)`` wraps a WSGI application as an ASGI 3 application, so the
HTTP semantics live in the ASGI server alone; the blocking WSGI calls run on a bounded thread
pool in each parallel context.
"""

from ._adapter import DEFAULT_THREADS, WsgiAdapter, asgi_from_wsgi
from ._errors import ClientDisconnected
from ._files import FileWrapper

__all__ = ["DEFAULT_THREADS", "ClientDisconnected", "FileWrapper", "WsgiAdapter", "asgi_from_wsgi"]
