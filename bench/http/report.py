"""Collected measurements, and the markdown tables printed from them.

With several rounds the reported run of a (server, test) cell is the median by requests/s,
so one disturbed run on this shared machine does not make the table. The "limit" column
says which side was saturated: ``wrk`` when wrk used ≥ 90 % of its core (the figure is
then wrk's ceiling, not the server's), ``server`` when the server did, ``-`` when neither
(the two were waiting on each other, or something else took the CPU: see "others").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from measure import Measurement

SATURATED = 90.0  # percent of a core


@dataclass
class Results:
    servers: list[str]
    cases: list[str]
    baseline: str = "manycore"
    measured: dict[tuple[str, str], list[Measurement]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # server -> why
    failed: dict[tuple[str, str], str] = field(default_factory=dict)  # (server, case) -> why
    static: dict[str, list[Measurement]] = field(default_factory=dict)

    def add(self, server: str, case: str, m: Measurement) -> None:
        self.measured.setdefault((server, case), []).append(m)

    def median(self, server: str, case: str) -> Measurement | None:
        return _median(self.measured.get((server, case), []))

    def as_dict(self) -> dict[str, object]:
        return {
            "servers": self.servers,
            "cases": self.cases,
            "measured": {
                f"{s}/{c}": [m.as_dict() for m in ms] for (s, c), ms in self.measured.items()
            },
            "skipped": self.skipped,
            "failed": {f"{s}/{c}": why for (s, c), why in self.failed.items()},
            "static": {c: [m.as_dict() for m in ms] for c, ms in self.static.items()},
        }


def _median(runs: list[Measurement]) -> Measurement | None:
    if not runs:
        return None
    return sorted(runs, key=lambda m: m.rps)[(len(runs) - 1) // 2]


def _limit(m: Measurement) -> str:
    sides = [
        name for name, cpu in (("wrk", m.wrk_cpu), ("server", m.server_cpu)) if cpu >= SATURATED
    ]
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


def main_table(results: Results) -> list[str]:
    """Every (test, server) cell: rps, p99, CPU of each side, errors, which side was full."""
    header = ["test", "server", "req/s", "p99 ms", "server CPU", "wrk CPU", "others CPU"]
    header += ["errors", "limit"]
    rows = []
    for case in results.cases:
        for server in results.servers:
            m = results.median(server, case)
            if m is not None:
                rows.append(
                    [
                        case,
                        server,
                        _rps(m.rps),
                        format_ms(m.p99_ms),
                        f"{m.server_cpu:.0f}%",
                        f"{m.wrk_cpu:.0f}%",
                        f"{m.other_cpu:.0f}%",
                        str(m.error_count),
                        _limit(m),
                    ]
                )
            elif (server, case) in results.failed:
                rows.append([case, server, "failed", *["-"] * 6])
    return _table(header, rows)


def ratio_table(results: Results) -> list[str]:
    """The baseline's rps divided by each other server's, per test."""
    base = results.baseline
    others = [s for s in results.servers if s != base]
    header = ["test", f"{base} req/s", *(f"÷ {s}" for s in others)]
    rows = []
    for case in results.cases:
        mine = results.median(base, case)
        if mine is None:
            continue
        cells = [case, _rps(mine.rps)]
        for other in others:
            theirs = results.median(other, case)
            cells.append(f"{mine.rps / theirs.rps:.2f}x" if theirs and theirs.rps else "-")
        rows.append(cells)
    return _table(header, rows)


def static_table(results: Results) -> list[str]:
    header = ["test", "req/s", "MiB/s", "p99 ms", "server CPU", "wrk CPU", "others CPU"]
    header += ["errors", "limit"]
    rows = []
    for case, runs in results.static.items():
        m = _median(runs)
        if m is None:
            continue
        rows.append(
            [
                case,
                _rps(m.rps),
                f"{m.bytes_per_second / (1 << 20):.0f}",
                format_ms(m.p99_ms),
                f"{m.server_cpu:.0f}%",
                f"{m.wrk_cpu:.0f}%",
                f"{m.other_cpu:.0f}%",
                str(m.error_count),
                _limit(m),
            ]
        )
    return _table(header, rows)


def markdown(results: Results) -> str:
    """The whole report."""
    out = ["## HTTP: requests per second, one core each", "", *main_table(results), ""]
    out += [
        "p99 is wrk's (coordinated-omission corrected); with pipelining wrk cannot give",
        "percentiles, hence n/a. CPU is % of one core over the run; limit names the side",
        f"that used ≥ {SATURATED:.0f}% of its core (wrk: the figure is wrk's ceiling).",
        "",
    ]
    if any(results.median(results.baseline, c) for c in results.cases):
        out += [f"## {results.baseline} relative to each peer (higher is better)", ""]
        out += [*ratio_table(results), ""]
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
