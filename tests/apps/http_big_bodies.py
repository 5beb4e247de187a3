"""An HTTP application that takes request bodies of up to 200 MB and answers their size."""

from __future__ import annotations

from manycore.http import HttpServer, Request, route


class BigBodies(HttpServer):
    max_body_size = 200 * 1024 * 1024
    body_timeout = 120.0

    @route("/size", methods=["POST"])
    def size(self, request: Request) -> dict:
        return {"size": len(request.body)}
