"""manycore.asgi: ASGI 3 applications served on every core.

    manycore serve myproject.asgi:application

imports the application once in the main context, then serves it from every
parallel context (forked processes, or threads on free-threaded CPython) with
:class:`AsgiServer`, an ordinary manycore protocol class.  In a program::

    import manycore
    from manycore.asgi import asgi_server

    App = asgi_server(app)
    manycore.on_worker_start(App.lifespan.startup)
    manycore.on_worker_stop(App.lifespan.shutdown)
    manycore.register(transport=manycore.server("127.0.0.1", 8000), protocol=App)
    manycore.run()

See docs/asgi.md for the scope, lifespan and limits.
"""

from ._cycle import ClientDisconnected
from ._server import AsgiServer, asgi_server, needs_task
from .detect import Interface, detect_interface
from .lifespan import LIFESPAN_MODES, Lifespan

__all__ = [
    "LIFESPAN_MODES",
    "AsgiServer",
    "ClientDisconnected",
    "Interface",
    "Lifespan",
    "asgi_server",
    "detect_interface",
    "needs_task",
]
