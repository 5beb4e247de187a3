"""manycore.http: an HTTP/1.1 server as a manycore protocol class.

    from manycore.http import HttpServer, Request, Response, route, static

    class App(HttpServer):
        @route("/plaintext")
        def plaintext(self, request: Request) -> Response:
            return Response(b"Hello, World!", content_type="text/plain")

        @route("/items/{id:int}", methods=["GET", "PUT"])
        async def item(self, request: Request, id: int) -> dict:
            return {"id": id}

        assets = static("/assets", "/srv/assets")

Run it with ``manycore serve module:App`` or ``manycore.register(transport=
manycore.server(host, port), protocol=App)`` and ``manycore.run()``.
See docs/http.md for the manual and docs/supported-http.md for the scope.
"""

from ._build import hot_path_build
from ._errors import HTTPError, LocalProtocolError, RemoteProtocolError
from ._files import FileResponse, StaticFiles, guess_type, static
from ._headers import Headers, MultiDict, QueryParams
from ._json import BACKEND as JSON_BACKEND
from ._request import Request
from ._response import Response
from ._routing import route
from ._server import HttpServer
from ._stats import stats_route, stats_snapshot
from ._stream import StreamResponse

__all__ = [
    "JSON_BACKEND",
    "FileResponse",
    "HTTPError",
    "Headers",
    "HttpServer",
    "LocalProtocolError",
    "MultiDict",
    "QueryParams",
    "RemoteProtocolError",
    "Request",
    "Response",
    "StaticFiles",
    "StreamResponse",
    "guess_type",
    "hot_path_build",
    "route",
    "static",
    "stats_route",
    "stats_snapshot",
]
