"""The conformance suite's endpoints as a PEP 3333 application (see ``conformance_asgi``).

``/upload`` reads ``wsgi.input`` 64 KiB at a time, and ``x-body-messages`` counts the reads;
``/disconnect`` is not offered: a WSGI app learns of a gone client only as a short read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from conformance_asgi import CHUNK, _pattern

StartResponse = Callable[..., Any]


def _answer(
    start_response: StartResponse, status: str, body: bytes, content_type: str, **extra: str
) -> list[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    headers += [(name.replace("_", "-"), value) for name, value in extra.items()]
    start_response(status, headers)
    return [body]


def _body(environ: dict[str, Any]) -> Iterable[bytes]:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        remaining = int(length)
        while remaining:
            chunk = stream.read(min(CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
    else:  # chunked: the server decodes it and ends the stream
        while chunk := stream.read(CHUNK):
            yield chunk


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path, query = environ["PATH_INFO"], environ.get("QUERY_STRING", "")
    if path == "/":
        return _answer(start_response, "200 OK", b"Hello, World!", "text/plain")
    if path == "/echo":
        body = b"".join(_body(environ))
        return _answer(start_response, "200 OK", body, "application/octet-stream")
    if path == "/upload":
        digest, size, reads = hashlib.sha256(), 0, 0
        for chunk in _body(environ):
            reads += 1
            digest.update(chunk)
            size += len(chunk)
        result = json.dumps({"size": size, "sha256": digest.hexdigest()}).encode()
        return _answer(
            start_response, "200 OK", result, "application/json", x_body_messages=str(reads)
        )
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"line %d\n" % n for n in range(10))
    if path == "/big":
        data = _pattern(int(query))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (data[at : at + CHUNK] for at in range(0, len(data), CHUNK))
    if path == "/headers":
        pairs = sorted(
            [key[5:].replace("_", "-").lower(), value]
            for key, value in environ.items()
            if key.startswith("HTTP_")
        )
        return _answer(start_response, "200 OK", json.dumps(pairs).encode(), "application/json")
    if path.startswith("/status/"):
        code = int(path.rpartition("/")[2])
        start_response(f"{code} {HTTPStatus(code).phrase}", [])
        return [b""]
    return _answer(start_response, "404 Not Found", b"Not Found", "text/plain")
