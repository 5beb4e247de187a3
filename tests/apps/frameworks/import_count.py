"""An ASGI app that records each import of its module: one line per import, the importer's pid.

A server that imports the app once and shares it among its workers leaves one line however
many workers it runs; one that imports it in every worker leaves one per worker.
"""

from __future__ import annotations

import os
from typing import Any

_LOG = os.environ.get("FRAMEWORK_IMPORT_LOG")
if _LOG:
    with open(_LOG, "a") as log:
        log.write(f"{os.getpid()}\n")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = str(os.getpid()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})
