"""ASGI and WSGI benchmark: `manycore serve` against the peers, side by side in one run.

Each server in turn serves each app pinned to one core (``taskset -c 1``, one worker),
its answers are checked, then it is loaded from the other core (``taskset -c 0``): wrk with
64 connections for HTTP (plain, and 16-deep pipelining with the same Lua script as
bench/http), ``wsload.py`` with 64 clients for the WebSocket echo. The figure that
matters is requests (or messages) per CPU-second of the server, which other load on a
shared machine changes far less than req/s. ``--rounds N`` repeats everything and the
tables show the median.

    python bench/asgi/run.py --smoke                   # 2 s runs: do the scripts work?
    python bench/asgi/run.py --rounds 3                # 10 s runs after 2 s warm-up
    python bench/asgi/run.py --servers manycore,granian --tests bare-plaintext,ws-echo

Run it with the Python of a venv that has the peers (``requirements.txt``); manycore
itself is taken from this checkout's src/. A server that cannot start an app (manycore
before it serves ASGI/WSGI, a peer that is not installed) is skipped with one line that
says why, and the rest are measured. Exit status: 0, 1 when a server answered wrongly,
2 for a bad argument or a missing tool, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "bench" / "http"))

import checks  # noqa: E402
import wsload  # noqa: E402
from measure import WrkError, run_to_end, run_wrk, wait_until_quiet  # noqa: E402
from options import comma_separated  # noqa: E402
from peers import APPS, APPS_BY_NAME, CEILINGS, HOST, NO_WEBSOCKET, SERVERS, BenchApp  # noqa: E402
from servers import RunningServer, ServerFailed, ServerSpec, running  # noqa: E402
from workload import ENDPOINTS  # noqa: E402

DEPTH = 16


@dataclass(frozen=True)
class Case:
    """One row: an app, and what the load asks of it."""

    name: str
    app: BenchApp
    endpoint: str  # "plaintext", "json", or "websocket"
    depth: int = 1

    @property
    def label(self) -> str:
        what = "WebSocket echo" if self.endpoint == "websocket" else self.endpoint
        deep = f" x{self.depth} pipelined" if self.depth > 1 else ""
        return f"{self.app.description}, {what}{deep}"


CASES = [
    Case("bare-plaintext", APPS_BY_NAME["bare"], "plaintext"),
    Case("bare-json", APPS_BY_NAME["bare"], "json"),
    Case("bare-plaintext-p16", APPS_BY_NAME["bare"], "plaintext", DEPTH),
    Case("starlette-json", APPS_BY_NAME["starlette"], "json"),
    Case("starlette-json-p16", APPS_BY_NAME["starlette"], "json", DEPTH),
    Case("fastapi-json", APPS_BY_NAME["fastapi"], "json"),
    Case("ws-echo", APPS_BY_NAME["bare"], "websocket"),
    Case("flask-plaintext", APPS_BY_NAME["flask"], "plaintext"),
]


@dataclass
class Figure:
    """One measured run: throughput and who used the CPU (percent of one core)."""

    rps: float
    server_cpu: float
    client_cpu: float
    other_cpu: float
    errors: int

    @property
    def per_server_core(self) -> float:
        return self.rps * 100.0 / self.server_cpu if self.server_cpu >= 1.0 else 0.0


@dataclass
class Results:
    servers: list[str]
    cases: list[Case]
    figures: dict[tuple[str, str], list[Figure]] = field(default_factory=dict)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)  # (server, app)
    wrong: list[str] = field(default_factory=list)

    def median(self, server: str, case: str) -> Figure | None:
        runs = self.figures.get((server, case))
        if not runs:
            return None
        ordered = sorted(runs, key=lambda f: f.per_server_core)
        return ordered[(len(ordered) - 1) // 2]  # the lower median: a real run, not a blend

    def as_dict(self) -> dict[str, object]:
        return {
            "figures": {
                f"{s} {c}": [dict(vars(f), per_server_core=f.per_server_core) for f in runs]
                for (s, c), runs in self.figures.items()
            },
            "skipped": {f"{s} {a}": why for (s, a), why in self.skipped.items()},
            "wrong": self.wrong,
        }


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/asgi/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="repeat N times; median (3)")
    parser.add_argument(
        "--servers", type=comma_separated(list(SERVERS), "server"), default=list(SERVERS)
    )
    parser.add_argument(
        "--tests",
        type=comma_separated([c.name for c in CASES], "test"),
        default=[c.name for c in CASES],
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--server-cpu", default="1", help="taskset CPU list for the server")
    parser.add_argument("--client-cpu", default="0", help="taskset CPU list for wrk/wsload")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each run, wait up to this many seconds for the machine to be idle",
    )
    parser.add_argument("--smoke", action="store_true", help="2 s runs, 1 round: do they work?")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.warmup, args.rounds, args.quiet_wait = 2, 0, 1, 0.0
    for name in ("duration", "rounds", "connections"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, not {getattr(args, name)}")
    for tool, package in (("wrk", "wrk"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not on PATH; install it (Debian: apt-get install {package})")
    return args


# ---------------------------------------------------------------- checks
def check_http(port: int, case: Case) -> list[str]:
    """The endpoint answers 200 with the expected body and media type, also pipelined."""
    endpoint = ENDPOINTS[case.endpoint]
    where = f"GET {endpoint.path}"
    try:
        response, body = checks.fetch(HOST, port, endpoint)
    except (OSError, http.client.HTTPException) as exc:
        return [f"{where}: {exc!r}"]
    if response.status != 200:
        return [f"{where}: status {response.status}, expected 200"]
    same = json.loads(body) == json.loads(endpoint.body) if case.endpoint == "json" else None
    if body != endpoint.body and not same:
        return [f"{where}: body {body[:200]!r}, expected {endpoint.body!r}"]
    media = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
    if media != endpoint.content_type:
        return [f"{where}: Content-Type {media!r}, expected {endpoint.content_type!r}"]
    if case.depth > 1:
        return checks.check_pipelined(HOST, port, endpoint, case.depth)
    return []


# ---------------------------------------------------------------- one run
def _busy_seconds() -> float:
    import psutil

    t = psutil.cpu_times()
    return t.user + t.nice + t.system


def run_wsload(server: RunningServer, args: argparse.Namespace, duration: int) -> Figure:
    """One pinned ``wsload.py`` run, with the CPU of the server, the client and the rest."""
    url = f"ws://{HOST}:{server.port}/ws"
    command = ["taskset", "-c", args.client_cpu, sys.executable, str(HERE / "wsload.py"), url]
    command += ["--connections", str(args.connections), "--duration", str(duration)]
    server0, busy0, wall0 = server.cpu_seconds(), _busy_seconds(), time.monotonic()
    returncode, output, usage = run_to_end(command)
    wall = time.monotonic() - wall0
    server_seconds, busy = server.cpu_seconds() - server0, _busy_seconds() - busy0
    line = next((ln for ln in output.splitlines() if ln.startswith(wsload.MARKER)), None)
    if returncode != 0 or line is None:
        raise WrkError(f"wsload exited with {returncode} and no result:\n{output.strip()}")
    result = json.loads(line[len(wsload.MARKER) :])
    client_seconds = usage.ru_utime + usage.ru_stime
    return Figure(
        rps=result["messages"] / result["seconds"],
        server_cpu=100.0 * server_seconds / wall,
        client_cpu=100.0 * client_seconds / wall,
        other_cpu=100.0 * max(0.0, busy - server_seconds - client_seconds) / wall,
        errors=result["errors"],
    )


def run_http(server: RunningServer, case: Case, args: argparse.Namespace, duration: int) -> Figure:
    endpoint = ENDPOINTS[case.endpoint]
    script = ["plain"] if case.depth == 1 else ["pipeline", str(case.depth)]
    m = run_wrk(
        server.url + endpoint.path,
        script,
        duration=duration,
        connections=args.connections,
        headers=endpoint.headers(),
        cpu=args.client_cpu,
        server_cpu_seconds=server.cpu_seconds,
        pipelined=case.depth > 1,
    )
    return Figure(m.rps, m.server_cpu, m.wrk_cpu, m.other_cpu, m.error_count)


def measure(server: RunningServer, case: Case, args: argparse.Namespace) -> Figure:
    one = run_wsload if case.endpoint == "websocket" else None
    if args.quiet_wait > 0:
        wait_until_quiet(args.quiet_wait, 20.0)
    if args.warmup:
        if one:
            run_wsload(server, args, args.warmup)
        else:
            run_http(server, case, args, args.warmup)
    figure = (
        run_wsload(server, args, args.duration)
        if one
        else run_http(server, case, args, args.duration)
    )
    server.check_alive()
    return figure


# ---------------------------------------------------------------- the run
def serve_app(
    results: Results, server_name: str, app: BenchApp, cases: list[Case], args, log_dir: Path
) -> None:
    command, description = SERVERS[server_name]
    if command(app, 0) is None:
        return  # this server has no mode for the app's interface: not part of the row
    if (server_name, app.name) in results.skipped:
        return
    if server_name in NO_WEBSOCKET:
        cases = [c for c in cases if c.endpoint != "websocket"]
    spec = ServerSpec(f"{server_name}-{app.name}", lambda port: command(app, port), description)
    env = {"PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(APPS)])}
    _log(f"[{server_name}] {app.description}: starting ({description})")
    try:
        with running(spec, cpu=args.server_cpu, log_dir=log_dir, env=env) as server:
            for case in cases:
                problems = [] if case.endpoint == "websocket" else check_http(server.port, case)
                if problems:
                    results.wrong += [f"{server_name} {case.name}: {p}" for p in problems]
                    _log(f"[{server_name}] {case.name}: WRONG: {problems[0]}")
                    continue
                try:
                    figure = measure(server, case, args)
                except WrkError as exc:
                    _log(f"[{server_name}] {case.name}: load failed: {exc}")
                    continue
                results.figures.setdefault((server_name, case.name), []).append(figure)
                _log(
                    f"[{server_name}] {case.name}: {figure.rps:,.0f}/s, "
                    f"{figure.per_server_core:,.0f} per server CPU-second (server "
                    f"{figure.server_cpu:.0f}%, client {figure.client_cpu:.0f}%, others "
                    f"{figure.other_cpu:.0f}%), {figure.errors} errors"
                )
    except ServerFailed as exc:
        reason = str(exc).splitlines()
        last = next((ln.strip() for ln in reversed(reason) if ln.strip()), reason[0])
        if server_name == "manycore":
            why = f"manycore serve cannot serve {app.description} yet: {last}"
        else:
            why = f"{server_name} did not start: {last}"
        results.skipped[(server_name, app.name)] = why
        _log(f"[{server_name}] SKIPPED {app.name}: {why}")


def _k(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    return f"{value / 1e3:.1f}k" if value >= 1e3 else f"{value:.0f}"


def markdown(results: Results) -> str:
    servers = results.servers
    peers = [s for s in servers if s != "manycore" and s not in CEILINGS]
    lines = [
        "Requests (WebSocket: messages) per server CPU-second, median of the rounds; "
        "* = the server used under 90 % of its core (the client or latency was the limit).",
        "",
        "| app, test | " + " | ".join(servers) + " | manycore ÷ best peer |",
        "|---|" + "--:|" * (len(servers) + 1),
    ]
    for case in results.cases:
        cells, best_peer = [], 0.0
        for server in servers:
            figure = results.median(server, case.name)
            if figure is None:
                skipped = (server, case.app.name) in results.skipped
                cells.append("skipped" if skipped else "—")
                continue
            mark = "*" if figure.server_cpu < 90 else ""
            cells.append(_k(figure.per_server_core) + mark)
            if server in peers:
                best_peer = max(best_peer, figure.per_server_core)
        mine = results.median("manycore", case.name)
        ratio = f"{mine.per_server_core / best_peer:.2f}" if mine and best_peer else "—"
        lines.append(f"| {case.label} | " + " | ".join(cells) + f" | {ratio} |")
    lines += ["", "Requests (messages) per second, same runs:", ""]
    lines += ["| app, test | " + " | ".join(servers) + " |", "|---|" + "--:|" * len(servers)]
    for case in results.cases:
        cells = []
        for server in servers:
            figure = results.median(server, case.name)
            cells.append(_k(figure.rps) if figure else "—")
        lines.append(f"| {case.label} | " + " | ".join(cells) + " |")
    if results.skipped:
        lines += ["", "Skipped:"]
        lines += [f"- {s}, {a}: {why}" for (s, a), why in results.skipped.items()]
    return "\n".join(lines)


def _environment(args: argparse.Namespace) -> str:
    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    packages = ["uvicorn", "granian", "socketify", "hypercorn", "gunicorn", "starlette"]
    packages += ["fastapi", "pydantic", "flask", "uvloop", "httptools"]
    return "\n".join(
        [
            f"- {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.2f}; Python {platform.python_version()}",
            "- " + ", ".join(f"{p} {version(p)}" for p in packages),
            f"- server on CPU {args.server_cpu} (1 worker), client on CPU {args.client_cpu}, "
            f"{args.connections} connections, {args.duration} s runs after {args.warmup} s "
            f"warm-up, {args.rounds} round(s)",
        ]
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    environment = _environment(args)
    cases = [c for c in CASES if c.name in args.tests]
    results = Results(servers=args.servers, cases=cases)
    signal.signal(signal.SIGTERM, _interrupt)
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="manycore-bench-asgi-") as tmp:
        try:
            for round_number in range(1, args.rounds + 1):
                if args.rounds > 1:
                    _log(f"== round {round_number} of {args.rounds}")
                for app in dict.fromkeys(c.app for c in cases):
                    app_cases = [c for c in cases if c.app == app]
                    for server_name in args.servers:
                        serve_app(results, server_name, app, app_cases, args, Path(tmp))
                if args.json:
                    args.json.write_text(json.dumps(results.as_dict(), indent=2))
        except KeyboardInterrupt:
            interrupted = True
            _log("interrupted: reporting what was measured so far")
    print("# ASGI and WSGI benchmark\n")
    print(environment + ("\n- INTERRUPTED: partial results" if interrupted else "") + "\n")
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results.as_dict(), indent=2))
    if results.wrong:
        _log(f"{len(results.wrong)} wrong answer(s):")
        for line in dict.fromkeys(results.wrong):
            _log(f"  {line}")
        return 1
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
