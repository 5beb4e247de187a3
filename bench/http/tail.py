"""Tail latency at the same offered load: manycore against the bare protocol, many short runs.

Closed-loop wrk (``run.py``) measures each server at its own saturation, where p99 is the
length of its queue and so follows its throughput; here every connection paces its
requests (``paced.lua``: an exponential think time), both servers get the same request
rate, and the runs alternate between them so that a burst of interference on the shared
machine hits both.  Each server is pinned to one core and wrk to the other, as in run.py.

    python bench/http/tail.py --runs 10 --duration 3 --delay-ms 10 --path /plaintext
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from servers import HERE, SERVERS, running

_RESULT = re.compile(r"RESULT rps=(\d+) p50=([\d.]+) p99=([\d.]+) p999=([\d.]+) max=([\d.]+)")


def paced_run(url: str, args: argparse.Namespace) -> dict[str, float]:
    command = [
        *("taskset", "-c", args.wrk_cpu, "wrk", "-t1", f"-c{args.connections}"),
        *(f"-d{args.duration}s", "--timeout", "8s", "-s", str(HERE / "paced.lua")),
        *(url, "--", args.path, str(args.delay_ms)),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = _RESULT.search(output)
    if match is None:
        raise SystemExit(f"wrk printed no RESULT line:\n{output}")
    rps, p50, p99, p999, worst = map(float, match.groups())
    return {"rps": rps, "p50": p50, "p99": p99, "p999": p999, "max": worst}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--duration", type=int, default=3, help="seconds per run")
    parser.add_argument("--delay-ms", type=float, default=10.0, help="mean think time")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--path", default="/plaintext")
    parser.add_argument("--servers", default="manycore,bare")
    parser.add_argument("--server-cpu", default="1")
    parser.add_argument("--wrk-cpu", default="0")
    args = parser.parse_args()
    names = args.servers.split(",")
    p99s: dict[str, list[float]] = {name: [] for name in names}
    print(f"{args.path}, {args.connections} connections, think time {args.delay_ms} ms")
    print("| run | " + " | ".join(f"{n} req/s | {n} p99 ms" for n in names) + " | ratio |")
    print("|---" * (2 * len(names) + 2) + "|")
    with tempfile.TemporaryDirectory() as logs:
        with running(SERVERS[names[0]], cpu=args.server_cpu, log_dir=Path(logs)) as first:
            with running(SERVERS[names[1]], cpu=args.server_cpu, log_dir=Path(logs)) as second:
                servers = (first, second)
                for run in range(1, args.runs + 1):
                    row = [paced_run(server.url, args) for server in servers]
                    for name, result in zip(names, row, strict=True):
                        p99s[name].append(result["p99"])
                    cells = " | ".join(f"{r['rps']:,.0f} | {r['p99']:.2f}" for r in row)
                    print(f"| {run} | {cells} | {row[0]['p99'] / row[1]['p99']:.2f} |", flush=True)
    ratios = [a / b for a, b in zip(p99s[names[0]], p99s[names[1]], strict=True)]
    print(
        f"\np99 {names[0]} / {names[1]}: median {statistics.median(ratios):.2f}, "
        f"worst {max(ratios):.2f}, best {min(ratios):.2f} over {len(ratios)} runs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
