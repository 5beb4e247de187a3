"""Small measuring helpers shared by the core benchmarks (Linux /proc based)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(r"listening on (?:\w+://)?([^\s:]+):(\d+)")


def start_server(
    args: list[str],
    python: str = sys.executable,
    env: dict | None = None,
    cpus: str | None = None,
    timeout: float = 120.0,
):
    """Start ``python -m manycore serve ...`` (or any command printing the ready line)."""
    command = [python, "-m", "manycore", "serve", *args]
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})},
    )
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        match = READY.search(line)
        if match:
            return process, int(match.group(2))
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError(f"server did not start: {' '.join(command)}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for c in child.read_text().split():
            pids.extend(process_tree(int(c)))
    return pids


def pss_bytes(pid: int) -> int:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return int(re.search(r"^Pss:\s+(\d+) kB", text, re.M).group(1)) * 1024


def uss_bytes(pid: int) -> int:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    private = sum(int(v) for v in re.findall(r"^Private_(?:Clean|Dirty):\s+(\d+) kB", text, re.M))
    return private * 1024


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")
