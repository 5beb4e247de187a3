"""A Flask app (WSGI): a streamed response and a file upload."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from flask import Flask, Response, request, send_file

app = Flask(__name__)

STREAM_LINES = 200


@app.get("/")
def hello() -> str:
    return "Hello, Flask!"


@app.get("/stream")
def stream() -> Response:
    def lines() -> Iterator[str]:
        for n in range(STREAM_LINES):
            yield f"line {n}\n"

    return Response(lines(), mimetype="text/plain")


@app.post("/upload")
def upload() -> dict[str, object]:
    stored = request.files["document"]
    data = stored.read()
    return {
        "filename": stored.filename,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "note": request.form.get("note"),
    }


@app.get("/source")
def source() -> Response:
    """This module's own file, sent through the server's wsgi.file_wrapper."""
    return send_file(__file__, mimetype="text/x-python")
