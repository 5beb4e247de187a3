"""Sharing: a 1 GiB numpy array loaded once, read by 2 and 4 workers; sum of PSS.

Goal: total PSS within 10% of 1 GiB plus each worker's interpreter baseline,
i.e. the array is never copied per worker.

    python bench/core/sharing.py [--gib 1] [--engine processes] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys

from _util import core_server, process_tree, pss_bytes, uss_bytes

MIB = 1 << 20


async def read_slices(port: int, requests: int, elements: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(requests):
        writer.write(b"%d\n" % random.randrange(0, elements - 131072))
        await reader.readline()
    writer.close()


def measure(workers: int, size: int, engine: str) -> dict:
    server = core_server(
        [
            "bench/core/apps.py:SliceReader",
            "--port",
            "0",
            "--engine",
            engine,
            "--workers",
            str(workers),
        ],
        env={"SHARED_ARRAY_BYTES": str(size)},
    )
    with server:
        elements = size // 8

        # Touch the whole array from every worker: many random 1 MiB slices.
        async def touch_everything() -> None:
            jobs = (read_slices(server.port, 400, elements) for _ in range(workers * 4))
            await asyncio.wait_for(asyncio.gather(*jobs), 600)

        asyncio.run(touch_everything())
        pids = process_tree(server.pid())
        pss = sum(pss_bytes(p) for p in pids)
        uss = [uss_bytes(p) for p in pids[1:]] or [uss_bytes(pids[0])]
    return {"workers": workers, "processes": len(pids), "pss": pss, "max_worker_uss": max(uss)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--engine", default="processes")
    parser.add_argument("--smoke", action="store_true", help="64 MiB, correctness only")
    args = parser.parse_args()
    size = 64 * MIB if args.smoke else int(args.gib * 1024 * MIB)
    baseline = measure(1, 8 * MIB, args.engine)  # an interpreter without the big array
    per_process = baseline["pss"] / baseline["processes"]
    print(f"array {size / MIB:.0f} MiB; baseline PSS per process {per_process / MIB:.1f} MiB")
    print(
        "| workers | processes | total PSS MiB | array + baselines MiB | ratio "
        "| max worker USS MiB |"
    )
    print("|---|---|---|---|---|---|")
    for workers in (2, 4):
        row = measure(workers, size, args.engine)
        expected = size + per_process * row["processes"]
        print(
            f"| {workers} | {row['processes']} | {row['pss'] / MIB:.0f} | {expected / MIB:.0f} "
            f"| {row['pss'] / expected:.2f} | {row['max_worker_uss'] / MIB:.1f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
