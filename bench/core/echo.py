"""Echo round trips per second: manycore's protocol contract vs a bare uvloop protocol.

Both servers run pinned to core 1 and the client to core 0.  The client may be
the bottleneck on a 2-core machine, so the comparison that matters is round trips
per second of *server CPU* (cost per round trip); both are printed.  Goal: >= 0.9x.

    python bench/core/echo.py [--seconds 5] [--connections 32] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from _util import ServerProcess, core_server, cpu_seconds, process_tree

BARE = """
import asyncio, socket, sys, uvloop
class Echo(asyncio.Protocol):
    def connection_made(self, t): self.t = t
    def data_received(self, data): self.t.write(data)
async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", 0)
    print("listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
uvloop.run(main())
"""


async def round_trips(port: int, seconds: float, connections: int) -> int:
    done = 0
    stop_at = time.monotonic() + seconds
    message = b"x" * 64

    async def one() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < stop_at:
            writer.write(message)
            await reader.readexactly(len(message))
            done += 1
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return done


def bare_server() -> ServerProcess:
    # Killed by SIGTERM (it installs no handler), so its exit status is not checked.
    return ServerProcess(
        "bare", command=["taskset", "-c", "1", sys.executable, "-c", BARE], expect_exit=None
    )


def run_client(port: int, seconds: float, connections: int) -> int:
    os.sched_setaffinity(0, {0})
    try:
        import uvloop

        return uvloop.run(round_trips(port, seconds, connections))
    except ImportError:
        return asyncio.run(round_trips(port, seconds, connections))


def measure(kind: str, seconds: float, connections: int) -> tuple[float, float]:
    if kind == "bare":
        server = bare_server()
    else:
        server = core_server(
            ["bench/core/apps.py:Echo", "--port", "0", "--engine", "processes", "--workers", "1"],
            cpus="1",
        )
    with server:
        run_client(server.port, 0.5, connections)
        pids = process_tree(server.pid())
        cpu_before = cpu_seconds(pids)
        start = time.monotonic()
        count = run_client(server.port, seconds, connections)
        elapsed = time.monotonic() - start
        cpu = cpu_seconds(pids) - cpu_before
    return count / elapsed, count / max(cpu, 1e-9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    seconds = 1.0 if args.smoke else args.seconds
    results = {}
    for kind in ("bare", "manycore", "bare", "manycore"):  # interleaved against drift
        rps, per_cpu = measure(kind, seconds, args.connections)
        best = results.get(kind, (0, 0))
        results[kind] = (max(best[0], rps), max(best[1], per_cpu))
    print("| server | round trips/s | round trips per server CPU-second |")
    print("|---|---|---|")
    for kind, (rps, per_cpu) in results.items():
        print(f"| {kind} | {rps:.0f} | {per_cpu:.0f} |")
    ratio = results["manycore"][1] / results["bare"][1]
    print(f"manycore / bare (per server CPU-second): {ratio:.2f}")
    print(f"manycore / bare (round trips/s): {results['manycore'][0] / results['bare'][0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
