"""Peer: uvicorn (uvloop + httptools) running a bare ASGI app.

No framework: the app compares ``scope["path"]`` and sends prebuilt ASGI messages. The
plaintext messages are built once; the json body is a new dict serialised by msgspec per
request (the same encoder every server in this benchmark uses), so the comparison measures
the server, not the JSON library. Access log and lifespan are off, as in TechEmpower's
uvicorn entry.

Run: ``python bench/http/peer_uvicorn.py --port 8080``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec
import uvicorn

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


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The whole application: two paths and a 404."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=1024,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
