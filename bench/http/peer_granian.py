"""Peer: granian (Rust HTTP server) running a bare RSGI app on uvloop.

RSGI is granian's own interface (its fastest): the app compares ``scope.path`` and calls
``proto.response_bytes`` once. Header lists are built once; the json body is a new dict
serialised by msgspec per request. One worker process, one runtime thread, HTTP/1 only,
websockets and logging off, as in TechEmpower's granian entry.

Run: ``python bench/http/peer_granian.py --port 8080``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

_encode_json = msgspec.json.Encoder().encode

_PLAIN_HEADERS = [("content-type", "text/plain")]
_JSON_HEADERS = [("content-type", "application/json")]
_PLAIN_BODY = b"Hello, World!"


async def app(scope: Any, proto: Any) -> None:
    """The whole application: two paths and a 404."""
    path = scope.path
    if path == "/plaintext":
        proto.response_bytes(200, _PLAIN_HEADERS, _PLAIN_BODY)
    elif path == "/json":
        proto.response_bytes(200, _JSON_HEADERS, _encode_json({"message": "Hello, World!"}))
    else:
        proto.response_bytes(404, _PLAIN_HEADERS, b"Not Found")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--pipeline-flush",
        action="store_true",
        help="granian's experimental aggregated flush for pipelined HTTP/1 responses",
    )
    args = parser.parse_args(argv)

    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    # granian imports the target by name in its worker: make this directory importable.
    here = Path(__file__).resolve().parent
    Granian(
        "peer_granian:app",
        address=args.host,
        port=args.port,
        interface=Interfaces.RSGI,
        workers=1,
        runtime_threads=1,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(pipeline_flush=args.pipeline_flush),
        websockets=False,
        log_enabled=False,
        working_dir=here,
        backlog=1024,
    ).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
