"""Peer: uvicorn (uvloop + httptools) running a bare ASGI app.

No framework: the app is bench/asgi's ``bare_app.py``, which compares ``scope["path"]`` and
sends prebuilt ASGI messages. The plaintext messages are built once; the json body is a new
dict serialised by msgspec per request (the same encoder every server in this benchmark
uses), so the comparison measures the server, not the JSON library. Access log and lifespan
are off, as in TechEmpower's uvicorn entry.

Run: ``python bench/http/peer_uvicorn.py --port 8080``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "asgi" / "apps"))

from bare_app import app  # bench/asgi/apps/bare_app.py, found through the path above


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
