"""An application for the server-flag tests: it says what the flags made of its requests."""

from __future__ import annotations

import asyncio
import os

from manycore.http import HttpServer, Request, Response, route, static


class Echo(HttpServer):
    """Answers with the client, scheme and settings it sees; serves this directory's files."""

    @route("/who")
    def who(self, request: Request) -> dict[str, object]:
        client = request.client
        return {
            "client": list(client) if client else None,
            "scheme": request.scheme,
            "root_path": request.root_path,
        }

    @route("/settings")
    def settings(self, request: Request) -> dict[str, object]:
        cls = type(self)
        return {
            name: getattr(cls, name)
            for name in (
                "keepalive_timeout",
                "access_log",
                "limit_concurrency",
                "root_path",
                "proxy_headers",
                "forwarded_allow_ips",
            )
        }

    @route("/hello")
    def hello(self, request: Request) -> Response:
        return Response(b"hello", content_type="text/plain")

    @route("/slow")
    async def slow(self, request: Request) -> Response:
        await asyncio.sleep(float(request.query.get("s") or 0.2))
        return Response(b"slow", content_type="text/plain")

    files = static("/files", os.environ.get("FLAGS_STATIC_DIR") or os.path.dirname(__file__))


class Logged(Echo):
    """An application that logs its requests unless told otherwise."""

    access_log = True
    keepalive_timeout = 30.0
