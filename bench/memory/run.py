"""Memory: total PSS of a server's process tree holding a 1 GiB array and a 1M-entry dict.

Each run starts one server with N workers, waits until every worker has loaded the
state (the tree's PSS stops changing), reads the PSS of every process in the tree
(/proc/PID/smaps_rollup), sends REQUESTS requests of one kind (array, dict or
mixed) over keep-alive connections spread across the workers, and reads it again.
Servers run one at a time (peers hold a private copy per worker: 8 workers ~ 10 GB).

    python bench/memory/run.py                                   # every server, 1 2 4 8 workers
    python bench/memory/run.py --servers manycore --workers 1,8 --traffic mixed
    python bench/memory/run.py --peer-python /tmp/memvenv/bin/python --json out.json
    python bench/memory/run.py --servers manycore-threads --manycore-python /tmp/ft/bin/python
    python bench/memory/run.py --smoke                           # 64 MiB + 20k entries, 2k requests

Peers (uvicorn, granian, gunicorn, numpy) come from ``--peer-python``'s environment,
never from manycore's own dependencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MB = 1_000_000
SERVERS = (
    "manycore",
    "manycore-frozen",
    "manycore-threads",
    "gunicorn",
    "gunicorn-freeze",
    "uvicorn",
    "granian",
)


@dataclass
class Run:
    server: str
    workers: int
    traffic: str
    requests: int
    processes: int = 0
    start_pss: int = 0
    end_pss: int = 0
    start_by_process: list[int] = field(default_factory=list)
    end_by_process: list[int] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command(server: str, workers: int, port: int, args: argparse.Namespace) -> list[str]:
    peer = args.peer_python
    if server.startswith("manycore"):
        target = "bench/memory/app.py:" + ("app" if args.manycore_asgi else "MemoryServer")
        return [
            args.manycore_python,
            "-m",
            "manycore",
            "serve",
            target,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--engine",
            "threads" if server == "manycore-threads" else "processes",
        ]
    if server == "uvicorn":
        return [
            *(peer, "-m", "uvicorn", "app:app", "--app-dir", str(HERE)),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            *("--loop", "uvloop", "--http", "httptools", "--lifespan", "off", "--no-access-log"),
        ]
    if server == "granian":
        return [
            *(peer, "-m", "granian", "--interface", "asgi", "--working-dir", str(HERE)),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            *("--no-ws", "app:app"),
        ]
    if server in ("gunicorn", "gunicorn-freeze"):
        return [
            *(peer, "-m", "gunicorn", "--preload", "-k", "uvicorn.workers.UvicornWorker"),
            *("-w", str(workers), "-b", f"127.0.0.1:{port}", "--chdir", str(HERE), "app:app"),
        ]
    raise SystemExit(f"unknown server {server!r}; choose from {', '.join(SERVERS)}")


def environment(server: str, args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    if server.startswith("manycore"):
        env["MEMORY_BENCH_SHARE"] = "frozen" if server == "manycore-frozen" else "1"
    if server == "gunicorn-freeze":
        env["MEMORY_BENCH_GC_FREEZE"] = "1"
    if args.smoke:
        env.update(MEMORY_BENCH_ARRAY_MIB="64", MEMORY_BENCH_ENTRIES="20000")
    return env


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found = children.read_text().split()
        except OSError:
            continue
        for child in found:
            pids.extend(process_tree(int(child)))
    return pids


def pss(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    match = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) * 1024 if match else 0


def tree_pss(root: int) -> list[int]:
    return [pss(pid) for pid in process_tree(root)]


def wait_until_loaded(process: subprocess.Popen[bytes], port: int, deadline: float) -> None:
    """Until the server answers and its tree's PSS has held still for three polls."""
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not load its state in time")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as reply:
                if reply.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    steady, last = 0, sum(tree_pss(process.pid))
    while steady < 3:
        if time.monotonic() > deadline:
            raise RuntimeError("the server's memory did not settle in time")
        time.sleep(2)
        now = sum(tree_pss(process.pid))
        steady = steady + 1 if abs(now - last) < 2 * MB else 0
        last = now


async def drive(port: int, path: str, requests: int, connections: int, depth: int = 16) -> None:
    """``requests`` GETs of ``path``, ``depth`` pipelined at a time on each connection."""
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    share, extra = divmod(requests, connections)

    async def one(count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while count:
            batch = min(depth, count)
            writer.write(request * batch)
            for _ in range(batch):
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"{path}: {head[:80]!r}")
                length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                if length is None:
                    raise RuntimeError(f"{path}: no Content-Length in {head!r}")
                await reader.readexactly(int(length.group(1)))
            count -= batch
        writer.close()

    await asyncio.gather(*(one(share + (i < extra)) for i in range(connections)))


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(
            signal.SIGTERM if "gunicorn" not in str(process.args) else signal.SIGINT
        )
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(server: str, workers: int, traffic: str, args: argparse.Namespace) -> Run:
    run = Run(server, workers, traffic, args.requests)
    port = free_port()
    log = open(args.log_dir / f"{server}-{workers}-{traffic}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        command(server, workers, port, args),
        cwd=REPO,
        env=environment(server, args),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_until_loaded(process, port, time.monotonic() + args.load_timeout)
        run.start_by_process = tree_pss(process.pid)
        run.processes = len(run.start_by_process)
        run.start_pss = sum(run.start_by_process)
        began = time.monotonic()
        connections = max(8, 4 * workers)
        asyncio.run(drive(port, f"/{traffic}", args.requests, connections))
        run.seconds = time.monotonic() - began
        run.end_by_process = tree_pss(process.pid)
        run.end_pss = sum(run.end_by_process)
    except (RuntimeError, OSError, asyncio.IncompleteReadError) as error:
        run.error = str(error) or type(error).__name__
    finally:
        stop(process)
        log.close()
    return run


def report(runs: list[Run]) -> str:
    lines = [
        "| server | workers | requests | processes | PSS after start MB | PSS after MB "
        "| growth MB | req/s |",
        "|---|--:|---|--:|--:|--:|--:|--:|",
    ]
    for r in runs:
        if r.error:
            lines.append(f"| {r.server} | {r.workers} | {r.traffic} | error: {r.error} |||||")
            continue
        lines.append(
            f"| {r.server} | {r.workers} | {r.requests:,} {r.traffic} | {r.processes} "
            f"| {r.start_pss / MB:,.0f} | {r.end_pss / MB:,.0f} "
            f"| {(r.end_pss - r.start_pss) / MB:+,.0f} | {r.requests / r.seconds:,.0f} |"
        )
    ratios = []
    for server in dict.fromkeys(r.server for r in runs):
        mine = {r.workers: r for r in runs if r.server == server and r.traffic == "mixed"}
        one, most = mine.get(1), mine.get(max(mine, default=0))
        if one and most and most is not one and not (one.error or most.error):
            ratios.append(
                f"- {server}: {one.end_pss / MB:,.0f} -> {most.end_pss / MB:,.0f} MB from 1 to "
                f"{most.workers} workers after the mixed requests "
                f"({most.end_pss / one.end_pss:.3f}x)"
            )
    return "\n".join(lines + ([""] if ratios else []) + ratios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--traffic", default="mixed,dict,array")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--peer-python", default=sys.executable)
    parser.add_argument(
        "--manycore-python",
        default=sys.executable,
        help="the interpreter manycore runs on (a free-threaded one for manycore-threads)",
    )
    parser.add_argument("--manycore-asgi", action="store_true", help="serve the ASGI `app`")
    parser.add_argument("--load-timeout", type=float, default=900)
    parser.add_argument("--log-dir", type=Path, default=Path("/tmp/manycore-memory-bench"))
    parser.add_argument("--json", type=Path, help="append every run to this JSON-lines file")
    parser.add_argument("--smoke", action="store_true", help="small state, 2,000 requests")
    args = parser.parse_args()
    if args.smoke:
        args.requests = min(args.requests, 2000)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for server in args.servers.split(","):
        for workers in map(int, args.workers.split(",")):
            for traffic in args.traffic.split(","):
                run = measure(server, workers, traffic, args)
                runs.append(run)
                print(report([run]).splitlines()[-1], flush=True)
                if args.json:
                    with args.json.open("a") as out:
                        out.write(json.dumps(asdict(run)) + "\n")
    print()
    print(report(runs))
    return 1 if any(r.error for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
