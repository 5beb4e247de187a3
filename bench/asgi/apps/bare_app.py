"""A bare ASGI 3 app: no framework, so what is measured is the server.

``/plaintext`` sends prebuilt messages; ``/json`` serialises a new dict with msgspec per
request (every server in the benchmark runs this same app); a WebSocket at any path
echoes each message back. Lifespan events are acknowledged, so servers that insist on a
lifespan run the same code as those that skip it.
"""

from __future__ import annotations

from typing import Any

import msgspec

_encode_json = msgspec.json.Encoder().encode

_PLAIN_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
}
_PLAIN_BODY = {"type": "http.response.body", "body": b"Hello, World!"}
_NOT_FOUND_START = {
    "type": "http.response.start",
    "status": 404,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"9")],
}
_NOT_FOUND_BODY = {"type": "http.response.body", "body": b"Not Found"}


async def _echo(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif kind == "websocket.receive":
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
        else:
            return


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "http":
        path = scope["path"]
        if path == "/plaintext":
            await send(_PLAIN_START)
            await send(_PLAIN_BODY)
        elif path == "/json":
            body = _encode_json({"message": "Hello, World!"})
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        else:
            await send(_NOT_FOUND_START)
            await send(_NOT_FOUND_BODY)
    elif kind == "websocket":
        await _echo(receive, send)
    else:
        await _lifespan(receive, send)
