"""A Starlette application: routes, a streamed and a file response, lifespan state."""

from __future__ import annotations

import contextlib
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"opened_in": os.getpid()}


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello, World!")


def item(request: Request) -> JSONResponse:  # a sync endpoint: Starlette's thread pool
    return JSONResponse({"id": int(request.path_params["id"]), "q": request.query_params.get("q")})


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"size": len(body)})


async def stream(request: Request) -> StreamingResponse:
    async def parts():
        for i in range(3):
            yield f"part{i};"

    return StreamingResponse(parts(), media_type="text/plain")


async def file(request: Request) -> FileResponse:
    return FileResponse(os.environ["ASGI_TEST_FILE"])


async def state(request: Request) -> JSONResponse:
    return JSONResponse({"opened_in": request.state.opened_in, "pid": os.getpid()})


app = Starlette(
    routes=[
        Route("/", hello),
        Route("/items/{id:int}", item),
        Route("/echo", echo, methods=["POST"]),
        Route("/stream", stream),
        Route("/file", file),
        Route("/state", state),
    ],
    lifespan=lifespan,
)
