"""Helpers shared by the wiki benchmarks: processes, memory, timings, percentiles (Linux /proc)."""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MB = 1e6
MIB = 1 << 20

sys.path.insert(0, str(REPO / "src"))

from manycore.testing import ServerProcess  # noqa: E402


def wiki_server(index_dir: Path, workers: int, cpus: str | None = None) -> ServerProcess:
    """``manycore wiki serve`` as a ``ServerProcess``: ``with`` starts it and waits until it
    listens, reads its output all along (an unread pipe would stall a server that logs),
    and stops it with SIGTERM, checking that it exited cleanly."""
    command = [
        sys.executable, "-m", "manycore", "wiki", "serve", str(index_dir),
        "--host", "127.0.0.1", "--port", "0", "--workers", str(workers), "--engine", "processes",
    ]  # fmt: skip
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    return ServerProcess(
        "wiki", command=command, env={"PYTHONPATH": str(REPO / "src")}, ready_timeout=300
    )


def plaintext_server(cpus: str | None = None) -> ServerProcess:
    """``bench/http``'s ``HttpServer`` app (``GET /plaintext``), served as ``wiki_server``
    serves the wiki: one worker, the processes engine, the same CPUs."""
    command = [
        sys.executable, "-m", "manycore", "serve", "bench/http/manycore_app.py:App",
        "--host", "127.0.0.1", "--port", "0", "--workers", "1", "--engine", "processes",
    ]  # fmt: skip
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    return ServerProcess(
        "plaintext", command=command, env={"PYTHONPATH": str(REPO / "src")}, cwd=REPO
    )


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            out.append(int(child))
            out.extend(children(int(child)))
    return out


def memory(pid: int) -> dict[str, int]:
    """RSS, PSS, USS (private clean + dirty) and private dirty of one process, in bytes."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()

    def field(name: str) -> int:
        match = re.search(rf"^{name}:\s+(\d+) kB", text, re.M)
        return int(match.group(1)) * 1024 if match else 0

    return {
        "rss": field("Rss"),
        "pss": field("Pss"),
        "uss": field("Private_Clean") + field("Private_Dirty"),
        # USS counts pages of the shared index map that only this process has touched
        # (they are the page cache's, not copies); Private_Dirty is what is its own.
        "private_dirty": field("Private_Dirty"),
    }


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def timed(fn: Callable[..., object], args_list: Iterable[tuple[object, ...]]) -> list[float]:
    """Microseconds each call of ``fn`` took, one call per argument tuple."""
    out = []
    clock = time.perf_counter_ns
    for args in args_list:
        t0 = clock()
        fn(*args)
        out.append((clock() - t0) / 1e3)
    return out


def best_round(
    fn: Callable[..., object], args_list: list[tuple[object, ...]], rounds: int
) -> list[float]:
    """The round with the lowest median: on a shared machine, the least disturbed one."""
    return min((timed(fn, args_list) for _ in range(rounds)), key=median)


def dir_bytes(path: Path, skip: tuple[str, ...] = ()) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file() and p.name not in skip)
