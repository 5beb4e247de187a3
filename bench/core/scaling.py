"""Scaling: a CPU-bound callback (about 2 ms of pure Python per request) at 1 and 2 workers.

Reports requests/s for each engine and the 2-worker/1-worker ratio (goal >= 1.8 on
``processes``, and on ``threads`` under a free-threaded Python: pass ``--python``).

    python bench/core/scaling.py [--seconds 5] [--python /path/to/python3.13t] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from _util import core_server

APP = "bench/core/apps.py:Spin"


async def load(port: int, seconds: float, connections: int) -> int:
    done = 0
    stop_at = time.monotonic() + seconds

    async def one() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < stop_at:
            writer.write(b"go\n")
            await reader.readline()
            done += 1
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return done


def measure(engine: str, workers: int, seconds: float, python: str) -> float:
    server = core_server(
        [APP, "--port", "0", "--engine", engine, "--workers", str(workers)], python=python
    )
    with server:
        asyncio.run(load(server.port, 0.5, 8))  # warm up
        start = time.monotonic()
        count = asyncio.run(load(server.port, seconds, 16))
        return count / (time.monotonic() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--engines", default="processes,threads")
    parser.add_argument("--smoke", action="store_true", help="1-second runs, correctness only")
    args = parser.parse_args()
    seconds = 1.0 if args.smoke else args.seconds
    print(f"| engine | 1 worker rps | 2 workers rps | ratio |  ({args.python})")
    print("|---|---|---|---|")
    for engine in args.engines.split(","):
        one = measure(engine, 1, seconds, args.python)
        two = measure(engine, 2, seconds, args.python)
        if one <= 0 or two <= 0:
            print(f"{engine}: no requests completed", file=sys.stderr)
            return 1
        print(f"| {engine} | {one:.0f} | {two:.0f} | {two / one:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
