"""Collected measurements, and the markdown tables printed from them.

With several rounds the reported run of a (server, test) cell is the best by requests/s
(interference on a shared machine only ever takes throughput away), or the median with
``pick="median"``. The "limit" column says which side was saturated: ``wrk`` when wrk used
≥ 90 % of its core (the figure is then wrk's ceiling, not the server's), ``server`` when
the server did, ``-`` when neither (the two were waiting on each other, or something else
took the CPU: see "others"), and ``noisy`` when other processes and the hypervisor took
20 % of a core or more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from measure import Measurement

SATURATED = 90.0  # percent of a core
NOISY = 20.0  # others + steal, percent of a core


@dataclass
class Results:
    servers: list[str]
    cases: list[str]
    baseline: str = "manycore"
    pick: str = "best"  # or "median": which of several rounds a table shows
    measured: dict[tuple[str, str], list[Measurement]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # server -> why
    failed: dict[tuple[str, str], str] = field(default_factory=dict)  # (server, case) -> why
    static: dict[str, list[Measurement]] = field(default_factory=dict)

    def add(self, server: str, case: str, m: Measurement) -> None:
        self.measured.setdefault((server, case), []).append(m)

    def chosen(self, server: str, case: str) -> Measurement | None:
        """The run the tables show for this cell (see ``pick``)."""
        return _choose(self.measured.get((server, case), []), self.pick)

    @classmethod
    def from_dict(cls, data: dict) -> Results:
        """Inverse of ``as_dict``: re-render the tables of a saved run."""

        def runs(items: list[dict]) -> list[Measurement]:
            return [Measurement.from_dict(d) for d in items]

        def pair(key: str) -> tuple[str, str]:
            server, case = key.split("/", 1)
            return server, case

        return cls(
            servers=data["servers"],
            cases=data["cases"],
            baseline=data.get("baseline", "manycore"),
            pick=data.get("pick", "best"),
            measured={pair(k): runs(v) for k, v in data["measured"].items()},
            skipped=data["skipped"],
            failed={pair(k): why for k, why in data["failed"].items()},
            static={c: runs(v) for c, v in data["static"].items()},
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "baseline": self.baseline,
            "pick": self.pick,
            "servers": self.servers,
            "cases": self.cases,
            "measured": {
                f"{s}/{c}": [m.as_dict() for m in ms] for (s, c), ms in self.measured.items()
            },
            "skipped": self.skipped,
            "failed": {f"{s}/{c}": why for (s, c), why in self.failed.items()},
            "static": {c: [m.as_dict() for m in ms] for c, ms in self.static.items()},
        }


def _choose(runs: list[Measurement], pick: str) -> Measurement | None:
    if not runs:
        return None
    ordered = sorted(runs, key=lambda m: m.rps)
    return ordered[-1] if pick == "best" else ordered[(len(runs) - 1) // 2]


def _limit(m: Measurement) -> str:
    sides = [
        name for name, cpu in (("wrk", m.wrk_cpu), ("server", m.server_cpu)) if cpu >= SATURATED
    ]
    if m.other_cpu + m.steal_cpu >= NOISY:
        sides.append("noisy")
    return "+".join(sides) or "-"


def _rps(value: float) -> str:
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.1f}k"


def format_ms(value: float | None) -> str:
    """Milliseconds to two decimals; "n/a" where wrk cannot measure it (pipelining)."""
    return "n/a" if value is None else f"{value:.2f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---"] + ["--:"] * (len(header) - 1)
    return [_row(header), _row(align), *(_row(r) for r in rows)]


_CPU_HEADER = ["p99 ms", "server CPU", "wrk CPU", "others CPU", "steal", "errors", "limit"]


def _cpu_cells(m: Measurement) -> list[str]:
    """The cells under _CPU_HEADER."""
    cpu = [m.server_cpu, m.wrk_cpu, m.other_cpu, m.steal_cpu]
    return [format_ms(m.p99_ms), *(f"{c:.0f}%" for c in cpu), str(m.error_count), _limit(m)]


def main_table(results: Results) -> list[str]:
    """Every (test, server) cell: rps, p99, CPU of each side, errors, which side was full."""
    header = ["test", "server", "req/s", "per server core", *_CPU_HEADER]
    rows = []
    for case in results.cases:
        for server in results.servers:
            m = results.chosen(server, case)
            if m is not None:
                per_core = _rps(m.rps_per_server_core)
                rows.append([case, server, _rps(m.rps), per_core, *_cpu_cells(m)])
            elif (server, case) in results.failed:
                rows.append([case, server, "failed", *["-"] * (len(header) - 3)])
    return _table(header, rows)


def ratio_table(results: Results, metric: Callable[[Measurement], float], label: str) -> list[str]:
    """The baseline's ``metric`` divided by each other server's, per test."""
    base = results.baseline
    others = [s for s in results.servers if s != base]
    header = ["test", f"{base} {label}", *(f"÷ {s}" for s in others)]
    rows = []
    for case in results.cases:
        mine = results.chosen(base, case)
        if mine is None:
            continue
        cells = [case, _rps(metric(mine))]
        for other in others:
            theirs = results.chosen(other, case)
            ratio = metric(mine) / metric(theirs) if theirs and metric(theirs) else None
            cells.append("-" if ratio is None else f"{ratio:.2f}x")
        rows.append(cells)
    return _table(header, rows)


def static_table(results: Results) -> list[str]:
    """Each static-file test: rps and MiB/s besides the usual cells."""
    header = ["test", "req/s", "MiB/s", *_CPU_HEADER]
    rows = []
    for case, runs in results.static.items():
        m = _choose(runs, results.pick)
        if m is not None:
            mib = f"{m.bytes_per_second / (1 << 20):.0f}"
            rows.append([case, _rps(m.rps), mib, *_cpu_cells(m)])
    return _table(header, rows)


def markdown(results: Results) -> str:
    """The whole report."""
    out = ["## HTTP: requests per second, one core each", "", *main_table(results), ""]
    out += [
        "per server core: req/s divided by the server's CPU share, i.e. requests per",
        "CPU-second of the server, which interference changes far less than req/s.",
        "p99 is wrk's (coordinated-omission corrected); with pipelining wrk cannot give",
        "percentiles, hence n/a. CPU is % of one core over the run: others is every other",
        "process on the machine, steal what the hypervisor took. limit names the side that",
        f"used ≥ {SATURATED:.0f}% of its core; when it is wrk, the figure is wrk's ceiling;",
        f"noisy: others + steal ≥ {NOISY:.0f}% of a core, the row is not to be trusted.",
        "",
    ]
    if any(results.chosen(results.baseline, c) for c in results.cases):
        base = results.baseline
        out += [f"## {base} relative to each peer (higher is better)", ""]
        out += ["By req/s:", "", *ratio_table(results, lambda m: m.rps, "req/s"), ""]
        out += ["By requests per CPU-second of the server (less sensitive to noise):", ""]
        out += [*ratio_table(results, lambda m: m.rps_per_server_core, "per core"), ""]
    if results.static:
        out += ["## Static files (manycore)", "", *static_table(results), ""]
    if results.skipped:
        out += ["## Skipped", ""]
        out += [f"- **{s}**: {why.splitlines()[0]}" for s, why in results.skipped.items()]
        out += [""]
    if results.failed:
        out += ["## Failed runs", ""]
        out += [f"- **{s} {c}**: {why.splitlines()[0]}" for (s, c), why in results.failed.items()]
        out += [""]
    return "\n".join(out)
