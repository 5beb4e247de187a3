"""A Starlette app: routes, a streamed and a file response, a WebSocket echo, lifespan state.

The lifespan stores a value that every request reads back through ``request.state``, so a
server that runs the lifespan in every parallel context and passes its state into each
request's scope is seen to do so.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

FILE_CONTENT = bytes(range(256)) * 1200  # 300 KiB: several socket buffers' worth
STATIC_FILE = Path(tempfile.gettempdir()) / f"manycore-starlette-file-{os.getuid()}.bin"
if not STATIC_FILE.exists() or STATIC_FILE.read_bytes() != FILE_CONTENT:
    STATIC_FILE.write_bytes(FILE_CONTENT)
STREAM_CHUNKS = 50
STREAM_CHUNK = b"0123456789abcdef" * 64  # 1 KiB


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
    yield {"greeting": "hello from lifespan", "started_in": os.getpid()}


async def homepage(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello, Starlette!")


async def user(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.path_params["name"], "q": request.query_params.get("q")})


async def state(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "greeting": request.state.greeting,
            "started_in": request.state.started_in,
            "served_by": os.getpid(),
        }
    )


async def extensions(request: Request) -> JSONResponse:
    return JSONResponse(sorted(request.scope.get("extensions") or {}))


async def stream(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(STREAM_CHUNKS):
            yield STREAM_CHUNK

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def file(request: Request) -> FileResponse:
    return FileResponse(STATIC_FILE, media_type="application/octet-stream")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await websocket.send_text("echo: " + message["text"])
        else:
            await websocket.send_bytes(message["bytes"][::-1])


app = Starlette(
    routes=[
        Route("/", homepage),
        Route("/users/{name}", user),
        Route("/state", state),
        Route("/stream", stream),
        Route("/file", file),
        Route("/extensions", extensions),
        WebSocketRoute("/ws", echo),
    ],
    lifespan=lifespan,
)
