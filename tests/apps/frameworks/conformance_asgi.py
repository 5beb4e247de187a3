"""Raw ASGI endpoints the conformance suite sends the same bytes to on every server.

No framework, so what the wire shows is the server's doing. Paths:

* ``/`` -- ``Hello, World!`` with a Content-Length.
* ``/echo`` -- the request body back, with a Content-Length.
* ``/upload`` -- the body's size and SHA-256 as JSON, read message by message; the
  ``x-body-messages`` header says how many ``http.request`` messages carried it.
* ``/stream`` -- ten lines sent one ``more_body`` message each, no Content-Length.
* ``/big?SIZE`` -- SIZE bytes sent in 64 KiB messages, no Content-Length.
* ``/headers`` -- the request's header pairs as the scope has them, as JSON.
* ``/disconnect?PATH`` -- reads until ``http.disconnect`` and writes the message types it
  saw to the file PATH; it never answers.
* ``/status/CODE`` -- an empty response with that status.
* ``/raise`` -- raises before responding; ``/no-response`` returns without responding.
* ``/scope/...`` -- the parts of the HTTP scope every server fills alike, as JSON.
* WebSocket ``/ws/echo[?PATH]`` -- accepts with the first subprotocol offered and an
  ``x-extra`` header, echoes every message, and writes the close code it is given to PATH;
  ``/ws/close?CODE`` accepts and closes with CODE; ``/ws/reject`` closes before accepting;
  ``/ws/deny`` answers 401 through the WebSocket denial response extension (403 without it).
* ``/file?PATH`` -- the file at PATH, by ``http.response.pathsend`` where the server
  offers it, else as a body.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any
from urllib.parse import unquote

CHUNK = 64 * 1024


def _pattern(size: int) -> bytes:
    """``size`` bytes a client can check without the server's help."""
    unit = bytes(range(256))
    return (unit * (size // 256 + 1))[:size]


async def _answer(send: Any, status: int, body: bytes, content_type: bytes, **extra: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    headers += [(name.replace("_", "-").encode(), value) for name, value in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any) -> tuple[bytes, int]:
    body, messages = bytearray(), 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ConnectionError(message["type"])
        messages += 1
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(body), messages


def _comparable_scope(scope: dict[str, Any]) -> dict[str, Any]:
    """The scope without what differs by server: ports, versions, extensions, state."""
    return {
        "type": scope["type"],
        "asgi.version": scope["asgi"]["version"],
        "http_version": scope["http_version"],
        "method": scope["method"],
        "scheme": scope["scheme"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "query_string": scope["query_string"].decode("latin-1"),
        "root_path": scope["root_path"],
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
        "client host": scope["client"][0],
        "server host": scope["server"][0],
    }


async def _file(scope: dict[str, Any], send: Any, path: str) -> None:
    size = os.path.getsize(path)
    headers = [(b"content-type", b"application/octet-stream"), (b"content-length", b"%d" % size)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if "http.response.pathsend" in scope.get("extensions", {}):
        await send({"type": "http.response.pathsend", "path": path})
    else:
        with open(path, "rb") as file:
            await send({"type": "http.response.body", "body": file.read()})


async def _websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    path, query = scope["path"], unquote(scope["query_string"].decode())
    assert (await receive())["type"] == "websocket.connect"
    if path == "/ws/reject":
        await send({"type": "websocket.close", "code": 1008})
        return
    if path == "/ws/deny":
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"6")]
        start = {"type": "websocket.http.response.start", "status": 401, "headers": headers}
        await send(start)
        await send({"type": "websocket.http.response.body", "body": b"denied"})
        return
    offered = scope.get("subprotocols") or []
    accept = {"type": "websocket.accept", "headers": [(b"x-extra", b"yes")]}
    if offered:
        accept["subprotocol"] = offered[0]
    await send(accept)
    if path == "/ws/close":
        await send({"type": "websocket.close", "code": int(query), "reason": "bye"})
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            if query:
                with open(query, "w") as log:
                    log.write(str(message.get("code")))
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] == "websocket":
        await _websocket(scope, receive, send)
        return
    path, query = scope["path"], scope["query_string"].decode()
    if path == "/":
        await _answer(send, 200, b"Hello, World!", b"text/plain")
    elif path == "/echo":
        body, _ = await _read_body(receive)
        await _answer(send, 200, body, b"application/octet-stream")
    elif path == "/upload":
        digest, size, messages = hashlib.sha256(), 0, 0
        while True:
            message = await receive()
            messages += 1
            chunk = message.get("body", b"")
            digest.update(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                break
        result = json.dumps({"size": size, "sha256": digest.hexdigest()}).encode()
        await _answer(send, 200, result, b"application/json", x_body_messages=b"%d" % messages)
    elif path == "/stream":
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
        await send(start)
        for n in range(10):
            await send({"type": "http.response.body", "body": b"line %d\n" % n, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/big":
        data = _pattern(int(query))
        headers = [(b"content-type", b"application/octet-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for start_at in range(0, len(data), CHUNK):
            piece = data[start_at : start_at + CHUNK]
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/headers":
        pairs = [
            [name.decode("latin-1"), value.decode("latin-1")] for name, value in scope["headers"]
        ]
        await _answer(send, 200, json.dumps(pairs).encode(), b"application/json")
    elif path == "/disconnect":
        seen = []
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "http.disconnect":
                break
        with open(unquote(query), "w") as log:
            log.write(seen[-1])
    elif path.startswith("/scope/"):
        await _answer(send, 200, json.dumps(_comparable_scope(scope)).encode(), b"application/json")
    elif path == "/file":
        await _file(scope, send, unquote(query))
    elif path == "/raise":
        raise RuntimeError("the app fails before it responds")
    elif path == "/no-response":
        return
    elif path.startswith("/status/"):
        status = int(path.rpartition("/")[2])
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    else:
        await _answer(send, 404, b"Not Found", b"text/plain")
