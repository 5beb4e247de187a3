"""Small measuring helpers shared by the core benchmarks (Linux /proc based)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

sys.path.insert(0, str(REPO / "src"))

from manycore.testing import ServerProcess  # noqa: E402


def core_server(
    args: list[str],
    python: str = sys.executable,
    env: dict | None = None,
    cpus: str | None = None,
) -> ServerProcess:
    """``python -m manycore serve ARGS`` as a ``ServerProcess``: ``with`` starts it, waits
    until it listens, reads its output all along and stops it with SIGTERM."""
    command = [python, "-m", "manycore", "serve", *args]
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    return ServerProcess(
        "core",
        command=command,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "src"), **(env or {})},
        ready_timeout=120,
    )


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
