"""ASGI benchmark: the same bare ASGI application on manycore and on uvicorn, in one run.

The application is ``bench/http/peer_uvicorn.py:app`` (plaintext and json, no framework);
manycore serves it with ``manycore serve ... --workers 1 --engine processes``, uvicorn with
uvloop and httptools. Everything else -- pinning, warm-up, quiet waits, checks, the
report -- is bench/http's runner, given one more server:

    python bench/asgi/vs_uvicorn.py --servers manycore-asgi,uvicorn --duration 5 --rounds 3
    python bench/asgi/vs_uvicorn.py --smoke

Other options are bench/http/run.py's (``--help``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HTTP = Path(__file__).resolve().parent.parent / "http"
sys.path.insert(0, str(HTTP))

import run  # noqa: E402  (bench/http/run.py, found through the path above)
import servers  # noqa: E402

servers.SERVERS["manycore-asgi"] = servers.ServerSpec(
    "manycore-asgi",
    servers._python(
        "-m",
        "manycore",
        "serve",
        str(HTTP / "peer_uvicorn.py") + ":app",
        "--workers",
        "1",
        "--engine",
        "processes",
        "--lifespan",
        "off",
        "--log-level",
        "WARNING",
    ),
    "manycore serving the bare ASGI app, 1 worker, processes engine",
)

if __name__ == "__main__":
    sys.exit(run.main(sys.argv[1:]))
