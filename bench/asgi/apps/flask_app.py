"""A Flask hello (WSGI)."""

from __future__ import annotations

from flask import Flask, Response

app = Flask(__name__)


@app.get("/plaintext")
def plaintext() -> Response:
    return Response("Hello, World!", mimetype="text/plain")
