"""The conformance suite's endpoints as a PEP 3333 application (see ``conformance_asgi``).

``/upload`` reads ``wsgi.input`` 64 KiB at a time, and ``x-body-messages`` counts the reads;
``/file?PATH`` sends through ``wsgi.file_wrapper``; ``/environ/...`` answers the PEP 3333
environ keys every server fills alike; ``/disconnect`` is not offered: a WSGI app learns of
a gone client only as a short read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

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


def _comparable_environ(environ: dict[str, Any]) -> dict[str, Any]:
    """The CGI and wsgi.* keys PEP 3333 requires, without the port the server listens on."""
    keys = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_PROTOCOL"]
    keys += ["CONTENT_TYPE", "CONTENT_LENGTH", "SERVER_NAME"]
    comparable = {key: environ.get(key) for key in keys}
    comparable["wsgi.version"] = list(environ["wsgi.version"])
    comparable["wsgi.url_scheme"] = environ["wsgi.url_scheme"]
    comparable["wsgi.run_once"] = environ["wsgi.run_once"]
    comparable["wsgi.errors writes"] = hasattr(environ["wsgi.errors"], "write")
    comparable["HTTP_*"] = sorted((k, v) for k, v in environ.items() if k.startswith("HTTP_"))
    return comparable


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
    if path.startswith("/environ/"):
        body = json.dumps(_comparable_environ(environ)).encode()
        return _answer(start_response, "200 OK", body, "application/json")
    if path == "/file":
        file = open(unquote(query), "rb")  # noqa: SIM115 -- the server closes it
        size = os.fstat(file.fileno()).st_size
        headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))]
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](file, CHUNK)
    if path == "/raise":
        raise RuntimeError("the app fails before it responds")
    if path == "/no-response":
        return []  # returns without calling start_response
    if path.startswith("/status/"):
        code = int(path.rpartition("/")[2])
        start_response(f"{code} {HTTPStatus(code).phrase}", [])
        return [b""]
    return _answer(start_response, "404 Not Found", b"Not Found", "text/plain")
