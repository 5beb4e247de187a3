"""``python serve_wsgi_uvicorn.py MODULE:ATTR [--root-path P]``: a WSGI app on uvicorn.

The WSGI tests' stand-in server until ``manycore serve`` speaks ASGI: the app goes through
``manycore.wsgi.asgi_from_wsgi`` and uvicorn serves the result on one loop.  It prints the
line ``ServerProcess`` waits for.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import socket
import sys

import uvicorn

from manycore.wsgi import asgi_from_wsgi


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("--root-path", default="")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    module, _, attr = args.target.partition(":")
    app = getattr(importlib.import_module(module), attr)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    host, port = sock.getsockname()
    config = uvicorn.Config(
        asgi_from_wsgi(app, threads=args.threads),
        root_path=args.root_path,
        lifespan="on",
        log_level="info",
        access_log=False,
    )
    # uvicorn ends by raising the stop signal again under the handler it found: exit cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening on http://{host}:{port}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
