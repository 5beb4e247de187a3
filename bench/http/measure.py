"""One wrk run, pinned to its core, with the CPU time of everybody involved.

Throughput and latency come from wrk itself (``wrk.lua`` prints a ``WRKJSON`` line from its
``done`` hook); wrk's percentiles are meaningless with pipelining (``wrk.lua`` says why), so
a pipelined measurement has no p99. CPU is measured around the run:

- wrk's own user + system time comes from ``os.wait4`` on the wrk process. When it is
  near 100 % of its core, the figure is wrk's limit, not the server's.
- the server's comes from its process tree (``RunningServer.cpu_seconds``); under 100 %
  while wrk is also under 100 % means the two are waiting on each other (latency bound).
- "others" is the rest of the machine's user + system time in the same window: other
  processes on this (shared, noisy) machine that took cycles from the two. Interrupt time
  is left out: loopback traffic is mostly the benchmark's own.
- "steal" is time the hypervisor gave this machine's CPUs to someone else.

All are percentages of one core over the wall time of the wrk process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk.lua"
_MARKER = "WRKJSON "


class WrkError(Exception):
    """wrk failed or printed no result line; the message carries its output."""


@dataclass(frozen=True)
class Measurement:
    requests: int
    bytes: int
    seconds: float  # wrk's own measured duration
    errors: dict[str, int]
    latency_us: dict[str, float]  # as wrk reports it (coordinated-omission corrected)
    pipelined: bool  # then wrk's latency percentiles are not usable
    wrk_cpu: float  # percent of one core
    server_cpu: float
    other_cpu: float
    steal_cpu: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def rps_per_server_core(self) -> float:
        """Requests per CPU-second of the server: its cost per request, which other load on
        the machine changes much less than it changes req/s (0 if the server barely ran)."""
        return self.rps * 100.0 / self.server_cpu if self.server_cpu >= 1.0 else 0.0

    @property
    def bytes_per_second(self) -> float:
        return self.bytes / self.seconds if self.seconds else 0.0

    @property
    def p99_ms(self) -> float | None:
        return None if self.pipelined else self.latency_us["p99"] / 1000

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @classmethod
    def from_dict(cls, data: dict) -> Measurement:
        """Inverse of ``as_dict`` (derived figures are recomputed, not read)."""
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "rps": self.rps,
            "rps_per_server_core": self.rps_per_server_core,
            "errors": self.errors,
            "latency_us": self.latency_us,
            "pipelined": self.pipelined,
            "wrk_cpu": self.wrk_cpu,
            "server_cpu": self.server_cpu,
            "other_cpu": self.other_cpu,
            "steal_cpu": self.steal_cpu,
        }


def _machine_seconds() -> tuple[float, float]:
    """Machine-wide CPU seconds in processes (user + nice + system), and stolen."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system, getattr(t, "steal", 0.0)


def wait_until_quiet(max_wait: float, threshold: float) -> float:
    """Wait up to ``max_wait`` s for a 1 s window in which all processes together use less
    than ``threshold`` % of one core; return the last reading (the server idles meanwhile).
    """
    deadline = time.monotonic() + max_wait
    while True:
        before, _ = _machine_seconds()
        time.sleep(1.0)
        after, _ = _machine_seconds()
        load = 100.0 * (after - before)
        if load < threshold or time.monotonic() >= deadline:
            return load


def wrk_command(
    url: str,
    script_args: list[str],
    *,
    duration: int,
    connections: int,
    headers: dict[str, str],
    cpu: str,
) -> list[str]:
    cmd = ["taskset", "-c", cpu, "wrk", "-t1", f"-c{connections}", f"-d{duration}s"]
    cmd += ["--timeout", "8s", "--latency", "-s", str(WRK_SCRIPT)]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    return [*cmd, url, "--", *script_args]


def run_to_end(command: list[str]) -> tuple[int, str, resource.struct_rusage]:
    """Run a load generator to its end: its exit status, its output and its own CPU usage."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    with proc.stdout:
        output = proc.stdout.read().decode(errors="replace")
    # wait4, not Popen.wait: it also returns the child's resource usage.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, output, usage


def run_wrk(
    url: str,
    script_args: list[str],
    *,
    duration: int,
    connections: int,
    headers: dict[str, str],
    cpu: str,
    server_cpu_seconds: Callable[[], float],
    pipelined: bool = False,
) -> Measurement:
    """Run wrk once against ``url`` and return what it and the CPU counters saw."""
    cmd = wrk_command(
        url, script_args, duration=duration, connections=connections, headers=headers, cpu=cpu
    )
    server0, (busy0, steal0), wall0 = server_cpu_seconds(), _machine_seconds(), time.monotonic()
    returncode, output, usage = run_to_end(cmd)
    wall = time.monotonic() - wall0
    server1, (busy1, steal1) = server_cpu_seconds(), _machine_seconds()

    line = next((ln for ln in output.splitlines() if ln.startswith(_MARKER)), None)
    if returncode != 0 or line is None:
        raise WrkError(
            f"wrk exited with status {returncode} and no result line; command: "
            f"{' '.join(cmd)}\n{output.strip()}"
        )
    result = json.loads(line[len(_MARKER) :])
    wrk_seconds = usage.ru_utime + usage.ru_stime
    server_seconds = server1 - server0
    others = max(0.0, (busy1 - busy0) - wrk_seconds - server_seconds)
    return Measurement(
        requests=result["requests"],
        bytes=result["bytes"],
        seconds=result["duration_us"] / 1e6,
        errors=result["errors"],
        latency_us=result["latency_us"],
        pipelined=pipelined,
        wrk_cpu=100.0 * wrk_seconds / wall,
        server_cpu=100.0 * server_seconds / wall,
        other_cpu=100.0 * others / wall,
        steal_cpu=100.0 * (steal1 - steal0) / wall,
    )
