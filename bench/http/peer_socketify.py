"""Peer: socketify (Python bindings to uWebSockets, on libuv) with plain route handlers.

Handlers write the content type and end the response with bytes; the json body is a new
dict serialised by msgspec per request. uWebSockets adds its own Date header. Needs the
system libuv (Debian package ``libuv1``), which socketify's bundled library links against.

Run: ``python bench/http/peer_socketify.py --port 8080``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec
from socketify import App, AppListenOptions

_encode_json = msgspec.json.Encoder().encode


def plaintext(res: Any, req: Any) -> None:
    res.write_header("Content-Type", "text/plain")
    res.end(b"Hello, World!")


def json_(res: Any, req: Any) -> None:
    res.write_header("Content-Type", "application/json")
    res.end(_encode_json({"message": "Hello, World!"}))


def not_found(res: Any, req: Any) -> None:
    res.write_status(404)
    res.write_header("Content-Type", "text/plain")
    res.end(b"Not Found")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)

    app = App()
    app.get("/plaintext", plaintext)
    app.get("/json", json_)
    app.any("/*", not_found)

    def listening(config: Any) -> None:
        print(
            f"socketify: listening on http://{args.host}:{config.port}", file=sys.stderr, flush=True
        )

    app.listen(AppListenOptions(port=args.port, host=args.host), listening)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
