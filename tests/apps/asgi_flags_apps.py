"""Applications for the server-flag tests of ASGI and WSGI: they say what the flags made
of their requests, as JSON (HTTP) or as one text message (WebSocket)."""

from __future__ import annotations

import asyncio
import json


def _shown(scope: dict) -> bytes:
    client = scope["client"]
    return json.dumps(
        {
            "client": list(client) if client else None,
            "scheme": scope["scheme"],
            "root_path": scope["root_path"],
            "path": scope["path"],
        }
    ).encode()


async def app(scope, receive, send):
    """``/who``: the scope's client, scheme and paths; ``/slow``: answers after a while."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": _shown(scope).decode()})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        return
    if scope["path"].endswith("/slow"):
        await asyncio.sleep(0.2)
    body = b"hello" if scope["path"].endswith("/hello") else _shown(scope)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def wsgi(environ, start_response):
    """The same ``/who`` as a WSGI application sees it."""
    body = json.dumps(
        {
            "client": [environ.get("REMOTE_ADDR"), int(environ.get("REMOTE_PORT") or 0)],
            "scheme": environ["wsgi.url_scheme"],
            "root_path": environ["SCRIPT_NAME"],
            "path": environ["PATH_INFO"],
        }
    ).encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
