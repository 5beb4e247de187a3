"""ASGI applications the ASGI tests serve, written against the raw ASGI interface."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

IMPORTS = os.environ.get("ASGI_TEST_IMPORTS")
if IMPORTS:  # count the imports of this module (the app is imported once, in the main context)
    with open(IMPORTS, "a") as f:
        f.write(f"{os.getpid()}\n")

MARKERS = Path(os.environ.get("ASGI_TEST_MARKERS", "/nonexistent"))


async def respond(send, status, body, content_type=b"text/plain"):
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type)],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(receive):
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise OSError("client left")
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["started_in"] = os.getpid()
            scope["state"]["greeting"] = "hello from startup"
            await send({"type": "lifespan.startup.complete"})
            if MARKERS.is_dir():
                (MARKERS / f"startup-{os.getpid()}-{threading.get_ident()}").write_text("")
        else:
            if MARKERS.is_dir():
                name = f"shutdown-{os.getpid()}-{threading.get_ident()}"
                (MARKERS / name).write_text(str(scope["state"]["started_in"]))
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    """The routes the socket tests use."""
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
        return
    path = scope["path"]
    if path == "/":
        await respond(send, 200, b"Hello, World!")
    elif path == "/state":
        state = dict(scope["state"], pid=os.getpid())
        await respond(send, 200, json.dumps(state).encode(), b"application/json")
    elif path == "/echo":
        body = await read_body(receive)
        await respond(send, 200, body, b"application/octet-stream")
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(3):
            await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": b"part%d;" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/file":
        file = os.environ["ASGI_TEST_FILE"]
        size = os.path.getsize(file)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(size).encode())],
            }
        )
        await send({"type": "http.response.pathsend", "path": file})
    elif path == "/wait-for-disconnect":
        await read_body(receive)
        message = await receive()
        marker = MARKERS / f"disconnect-{os.getpid()}"
        marker.with_suffix(".tmp").write_text(message["type"])
        marker.with_suffix(".tmp").rename(marker)  # appears complete, never half-written
    elif path == "/raise":
        raise RuntimeError("the application failed on purpose")
    else:
        await respond(send, 404, b"not found")


async def failing_startup(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "the database is not there"})
        return
    await respond(send, 200, b"never served")


async def no_lifespan(scope, receive, send):
    if scope["type"] != "http":
        raise ValueError(f"unsupported scope {scope['type']}")
    await respond(send, 200, b"served without lifespan")


class CallableApp:
    """An ASGI 3 application as an instance with an async __call__."""

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            await respond(send, 200, b"from an instance")


instance_app = CallableApp()


def make_app():
    """A factory, for --factory."""
    return instance_app


class Asgi2App:
    """The ASGI 2 double-callable form."""

    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        await respond(send, 200, b"asgi2")


def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi"]
