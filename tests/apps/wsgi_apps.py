"""WSGI applications the WSGI tests serve: ``app`` answers by path, ``flask_app`` is Flask.

What the tests cannot see on the wire (a result closed, a piece of upload read) the
applications print, one line each, and the tests wait for the line in the server's log.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

CHUNK = b"x" * 65536
produced = 0  # bytes the /endless-style streams have produced so far, for /produced


def say(line: str) -> None:
    print(line, flush=True)


class Closing:
    """A result that reports its close() with ``name``."""

    def __init__(self, chunks: Iterable[bytes], name: str) -> None:
        self._chunks = iter(chunks)
        self.name = name

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        say(f"closed {self.name}")


ENVIRON_KEYS = (
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "HTTP_HOST",
    "HTTP_X_MULTI",
    "HTTP_COOKIE",
    "HTTP_X_FORGED",
    "wsgi.version",
    "wsgi.url_scheme",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
)


def _environ(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    shown = {key: environ.get(key) for key in ENVIRON_KEYS}
    shown["underscored"] = sorted(k for k in environ if "FORGED" in k)
    environ["wsgi.errors"].write("a line for wsgi.errors\n")
    shown["input"] = environ["wsgi.input"].read().decode()
    body = json.dumps(shown).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def _pieces(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = environ["wsgi.input"]
    first = body.read(5)
    say(f"first piece {first!r}")
    rest = body.read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [first + b"|" + rest]


def _lines(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = environ["wsgi.input"]
    seen = [body.readline(), body.readline(3), body.readline()]
    seen += body.readlines(1)
    seen += list(body)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr(seen).encode()]


def _write(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    write(b"then ")
    return [b"returned"]


def _exc_info_before(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("found late")
    except ValueError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced"]


def _exc_info_after(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"partial "
    try:
        raise ValueError("exc-info-after-headers")
    except ValueError:
        start_response("500 Oops", [("Content-Type", "text/plain")], sys.exc_info())
    yield b"never"


def _twice(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [])
    start_response("201 Created", [])
    return [b"never"]


def _raise(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    raise LookupError("raised-before-start-response")


def _file(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    path = environ["QUERY_STRING"]
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](open(path, "rb"), 4096)


def _closing(environ: dict[str, Any], start_response: Callable[..., Any]) -> Closing:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing([b"one ", b"two"], "on-success")


def _failing(environ: dict[str, Any], start_response: Callable[..., Any]) -> Closing:
    def chunks() -> Iterator[bytes]:
        yield b"one "
        raise RuntimeError("iteration-failed")

    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing(chunks(), "on-error")


def _endless(environ: dict[str, Any], start_response: Callable[..., Any]) -> Closing:
    def chunks() -> Iterator[bytes]:
        global produced
        while True:
            produced += len(CHUNK)
            yield CHUNK

    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Closing(chunks(), "on-disconnect")


def _large(environ: dict[str, Any], start_response: Callable[..., Any]) -> Closing:
    total = int(environ["QUERY_STRING"])

    def chunks() -> Iterator[bytes]:
        global produced
        for _ in range(total // len(CHUNK)):
            produced += len(CHUNK)
            yield CHUNK

    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Closing(chunks(), "large")


def _produced(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(produced).encode()]


def _reset(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    global produced
    produced = 0
    start_response("204 No Content", [])
    return []


def _upload_then_gone(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    try:
        environ["wsgi.input"].read()
    except OSError as exc:
        say(f"upload failed: {type(exc).__name__}")
        raise
    start_response("200 OK", [])
    return [b"complete"]


ROUTES: dict[str, Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]] = {
    "/environ": _environ,
    "/pieces": _pieces,
    "/lines": _lines,
    "/write": _write,
    "/exc-info-before": _exc_info_before,
    "/exc-info-after": _exc_info_after,
    "/twice": _twice,
    "/raise": _raise,
    "/file": _file,
    "/closing": _closing,
    "/failing": _failing,
    "/endless": _endless,
    "/large": _large,
    "/produced": _produced,
    "/reset": _reset,
    "/upload-then-gone": _upload_then_gone,
}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    route = ROUTES.get(environ["PATH_INFO"])
    if route is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such route"]
    return route(environ, start_response)


def _make_flask_app() -> Any:
    import flask

    flask_app = flask.Flask(__name__)

    @flask_app.route("/stream")
    def stream() -> Any:
        def lines() -> Iterator[str]:
            for number in range(5):
                yield f"line {number}\n"

        return flask.Response(flask.stream_with_context(lines()), mimetype="text/plain")

    @flask_app.post("/upload")
    def upload() -> Any:
        upload = flask.request.files["document"]
        data = upload.read()
        return {
            "filename": upload.filename,
            "size": len(data),
            "head": data[:16].decode("latin-1"),
            "title": flask.request.form["title"],
        }

    @flask_app.route("/download")
    def download() -> Any:
        return flask.send_file(flask.request.args["path"], mimetype="application/octet-stream")

    return flask_app


flask_app = _make_flask_app()
