"""Helpers shared by the wiki benchmarks: processes, memory, percentiles (Linux /proc)."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(r"listening on (?:\w+://)?([^\s:]+):(\d+)")
MB = 1e6
MIB = 1 << 20


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONUNBUFFERED": "1"}


def start_wiki_server(
    index_dir: Path, workers: int, cpus: str | None = None, timeout: float = 300.0
) -> tuple[subprocess.Popen, int, float]:
    """Start ``manycore wiki serve``; return (process, port, seconds until it listened)."""
    command = [
        sys.executable, "-m", "manycore", "wiki", "serve", str(index_dir),
        "--host", "127.0.0.1", "--port", "0", "--workers", str(workers), "--engine", "processes",
    ]  # fmt: skip
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    began = time.monotonic()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env()
    )
    deadline = began + timeout
    lines = []
    for line in process.stdout:
        lines.append(line)
        match = READY.search(line)
        if match:
            # Keep reading what it prints: a full pipe would stall the server mid-benchmark.
            threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
            return process, int(match.group(2)), time.monotonic() - began
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("server did not start:\n" + "".join(lines))


def _drain(stream) -> None:
    try:
        for _ in stream:
            pass
    except (OSError, ValueError):  # closed by stop()
        pass


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            out.append(int(child))
            out.extend(children(int(child)))
    return out


def memory(pid: int) -> dict[str, int]:
    """RSS, PSS and USS (private clean + dirty) of one process, in bytes."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()

    def field(name: str) -> int:
        match = re.search(rf"^{name}:\s+(\d+) kB", text, re.M)
        return int(match.group(1)) * 1024 if match else 0

    return {
        "rss": field("Rss"),
        "pss": field("Pss"),
        "uss": field("Private_Clean") + field("Private_Dirty"),
    }


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def dir_bytes(path: Path, skip: tuple[str, ...] = ()) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file() and p.name not in skip)
