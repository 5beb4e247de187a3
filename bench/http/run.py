"""HTTP benchmark: manycore against its peers, side by side in one run.

Each server in turn is started pinned to one core (``taskset -c 1``), checked for exact
answers, then loaded by wrk pinned to the other core (``taskset -c 0``, one thread, 64
connections) on ``GET /plaintext`` and ``GET /json``, each without and with 16-deep
pipelining. Every measured run follows an unmeasured warm-up. The report gives req/s, p99
latency, the CPU used by the server, by wrk and by anything else on the machine, and the
ratio of manycore to each peer; then static-file throughput against manycore. On a
shared machine, each run first waits (``--quiet-wait``, up to 30 s) for a second in which
other processes are nearly idle, and ``--rounds N`` keeps the best of N.

    python bench/http/run.py                       # everything, 10 s per run
    python bench/http/run.py --smoke               # 1 s runs: correctness only
    python bench/http/run.py --servers bare,granian --duration 5 --rounds 3

A server that cannot start is skipped with the reason; the others are still measured.
Exit status: 0, or 1 when a server answered wrongly (or, with --smoke, when wrk saw
errors), 2 for a bad argument or a missing tool, 130 when interrupted (Ctrl-C or SIGTERM;
the partial results are still printed and saved).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import checks
import static_files
from measure import Measurement, WrkError, run_wrk, wait_until_quiet
from options import comma_separated
from report import Results, format_ms, markdown
from servers import HOST, SERVERS, RunningServer, ServerFailed, running
from workload import ENDPOINTS, Case, cases

QUIET_THRESHOLD = 20.0  # percent of one core


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/http/run.py",
        description="HTTP benchmark: manycore against its peers, one core each.",
    )
    depth_default = 16
    case_names = [c.name for c in cases(depth_default)]
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up (default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat everything N times")
    parser.add_argument(
        "--pick",
        choices=["best", "median"],
        default="best",
        help="which round the tables show (default best: interference only lowers rps)",
    )
    parser.add_argument(
        "--servers",
        type=comma_separated(list(SERVERS), "server"),
        default=list(SERVERS),
        help=f"comma-separated, from {','.join(SERVERS)} (default all)",
    )
    parser.add_argument(
        "--tests",
        type=comma_separated(case_names, "test"),
        default=case_names,
        help=f"comma-separated, from {','.join(case_names)} (default all)",
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--depth", type=int, default=depth_default, help="pipelining depth")
    parser.add_argument("--server-cpu", default="1", help="taskset CPU list for the server")
    parser.add_argument("--wrk-cpu", default="0", help="taskset CPU list for wrk")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each run, wait up to this many seconds for the machine to be idle "
        "(default 30; 0 to never wait)",
    )
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=QUIET_THRESHOLD,
        help=f"idle means other processes use less than this %% of one core "
        f"(default {QUIET_THRESHOLD:.0f})",
    )
    parser.add_argument("--smoke", action="store_true", help="1 s runs, correctness only")
    parser.add_argument("--no-static", action="store_true", help="skip the static-file part")
    parser.add_argument(
        "--static-real", action="store_true", help="fill the 1 GiB file with data (not sparse)"
    )
    parser.add_argument("--static-dir", type=Path, help="keep the static files here (reused)")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument(
        "--report",
        type=Path,
        metavar="JSON",
        help="only print the tables of a run saved with --json (with --pick applied)",
    )
    args = parser.parse_args(argv)
    for name in ("duration", "rounds", "connections", "depth"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, not {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be 0 or more, not {args.warmup}")
    if args.depth != depth_default:
        # Pipelined test names carry the depth; map the defaults onto the chosen depth.
        args.tests = [t.replace(f"-p{depth_default}", f"-p{args.depth}") for t in args.tests]
    if args.smoke:
        args.duration, args.warmup, args.rounds, args.quiet_wait = 1, 0, 1, 0.0
    for tool, package in (("wrk", "wrk"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not on PATH; install it (Debian: apt-get install {package})")
    return args


def _environment(args: argparse.Namespace) -> list[str]:
    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    wrk_version = (wrk.stdout or wrk.stderr).split("Copyright")[0].strip()
    packages = ["uvloop", "httptools", "msgspec", "uvicorn", "granian", "socketify"]
    return [
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
        f"load average before the run: {os.getloadavg()[0]:.2f}",
        f"- Python {platform.python_version()}; {wrk_version}; "
        + ", ".join(f"{p} {version(p)}" for p in packages),
        f"- server on CPU {args.server_cpu}, wrk on CPU {args.wrk_cpu} (1 thread), "
        f"{args.connections} connections, {args.duration} s runs after {args.warmup} s "
        f"warm-up, {args.rounds} round(s) (tables show the {args.pick}), pipelining "
        f"{args.depth} deep",
    ]


class Runner:
    """Runs the selected servers and cases into one Results."""

    def __init__(self, args: argparse.Namespace, work: Path):
        self.args = args
        self.cases = [c for c in cases(args.depth) if c.name in args.tests]
        servers = args.servers
        baseline = "manycore" if "manycore" in servers else servers[0]
        self.results = Results(
            servers=servers, cases=[c.name for c in self.cases], baseline=baseline, pick=args.pick
        )
        self.wrong: list[str] = []  # wrong answers (and, in smoke mode, wrk errors)
        self.log_dir = work / "logs"
        self.log_dir.mkdir()
        self.static_dir: Path | None = None
        if "manycore" in servers and not args.no_static:
            self.static_dir = args.static_dir or work / "static"
            _log(f"preparing static files in {self.static_dir}")
            static_files.prepare(self.static_dir, real=args.static_real)

    def run(self) -> Results:
        for round_number in range(1, self.args.rounds + 1):
            if self.args.rounds > 1:
                _log(f"== round {round_number} of {self.args.rounds}")
            for name in self.args.servers:
                if name not in self.results.skipped:
                    self._one_server(name)
        return self.results

    def _wrk(
        self, server: RunningServer, path: str, script_args: list[str], headers: dict[str, str]
    ) -> Measurement:
        common = dict(
            connections=self.args.connections,
            headers=headers,
            cpu=self.args.wrk_cpu,
            server_cpu_seconds=server.cpu_seconds,
            pipelined=script_args[0] == "pipeline",
        )
        url = server.url + path
        if self.args.quiet_wait > 0:
            load = wait_until_quiet(self.args.quiet_wait, self.args.quiet_threshold)
            if load >= self.args.quiet_threshold:
                _log(
                    f"  machine still busy ({load:.0f}% of a core in other processes) after "
                    f"{self.args.quiet_wait:.0f} s; measuring anyway"
                )
        if self.args.warmup:
            run_wrk(url, script_args, duration=self.args.warmup, **common)
        measurement = run_wrk(url, script_args, duration=self.args.duration, **common)
        server.check_alive()
        return measurement

    def _one_server(self, name: str) -> None:
        spec = SERVERS[name]
        env = {static_files.DIR_VARIABLE: str(self.static_dir)} if self.static_dir else {}
        _log(f"[{name}] starting: {spec.description}")
        try:
            with running(spec, cpu=self.args.server_cpu, log_dir=self.log_dir, env=env) as server:
                answers = {
                    e.name: checks.check_endpoint(HOST, server.port, e)
                    + checks.check_curl(HOST, server.port, e)
                    for e in ENDPOINTS.values()
                }
                for case in self.cases:
                    self._one_case(server, case, answers[case.endpoint.name])
                if name == "manycore" and self.static_dir:
                    self._static(server)
        except ServerFailed as exc:
            self.results.skipped[name] = str(exc)
            _log(f"[{name}] SKIPPED: {exc}")

    def _one_case(self, server: RunningServer, case: Case, problems: list[str]) -> None:
        name = server.spec.name
        if case.depth > 1 and not problems:
            problems = checks.check_pipelined(HOST, server.port, case.endpoint, case.depth)
        if problems:
            self._wrong(name, case.name, problems)
            return
        script_args = ["plain"] if case.depth == 1 else ["pipeline", str(case.depth)]
        try:
            m = self._wrk(server, case.endpoint.path, script_args, case.endpoint.headers())
        except WrkError as exc:
            self.results.failed[(name, case.name)] = str(exc)
            _log(f"[{name}] {case.name}: wrk failed: {exc}")
            return
        self.results.add(name, case.name, m)
        self.save()
        self._progress(name, case.name, m)

    def _static(self, server: RunningServer) -> None:
        assert self.static_dir is not None
        problems = static_files.check(HOST, server.port, self.static_dir)
        if problems:
            self._wrong("manycore", "static", problems)
            return
        for case in static_files.CASES:
            try:
                m = self._wrk(server, case.path, list(case.script_args), {})
            except WrkError as exc:
                self.results.failed[("manycore", case.name)] = str(exc)
                _log(f"[manycore] {case.name}: wrk failed: {exc}")
                continue
            self.results.static.setdefault(case.name, []).append(m)
            self.save()
            self._progress("manycore", case.name, m)

    def save(self) -> None:
        """Write the results so far to --json (after every run: a long run may be cut)."""
        if self.args.json:
            self.args.json.write_text(json.dumps(self.results.as_dict(), indent=2))

    def _wrong(self, server: str, case: str, problems: list[str]) -> None:
        self.results.failed[(server, case)] = "wrong answer: " + problems[0]
        for problem in problems:
            _log(f"[{server}] {case}: WRONG: {problem}")
        self.wrong += [f"{server} {case}: {p}" for p in problems]

    def _progress(self, server: str, case: str, m: Measurement) -> None:
        _log(
            f"[{server}] {case}: {m.rps:,.0f} req/s, p99 {format_ms(m.p99_ms)} ms, "
            f"server {m.server_cpu:.0f}% wrk {m.wrk_cpu:.0f}% others {m.other_cpu:.0f}% "
            f"steal {m.steal_cpu:.0f}% CPU, "
            f"{m.error_count} errors"
        )
        if self.args.smoke and (m.error_count or not m.requests):
            self.wrong.append(f"{server} {case}: wrk saw {m.requests} responses, {m.errors}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _reprint(path: Path, pick: str) -> int:
    try:
        data = json.loads(path.read_text())
        results = Results.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _log(f"run.py: --report {path}: not a file written by --json ({exc!r})")
        return 2
    results.pick = pick
    print(markdown(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return _reprint(args.report, args.pick)
    environment = _environment(args)
    # SIGTERM (a timeout, a killed session) ends the run like Ctrl-C: servers are stopped
    # by their context managers and what was measured so far is still reported.
    signal.signal(signal.SIGTERM, _interrupt)
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="manycore-bench-http-") as tmp:
        runner = Runner(args, Path(tmp))
        try:
            runner.run()
        except KeyboardInterrupt:
            interrupted = True
            _log("interrupted: reporting what was measured so far")
    results = runner.results
    print("# HTTP benchmark\n")
    print("\n".join(environment) + ("\n- INTERRUPTED: partial results" if interrupted else ""))
    print()
    print(markdown(results))
    runner.save()
    if results.skipped:
        _log(f"skipped: {', '.join(results.skipped)} (see above for why)")
    wrong = list(dict.fromkeys(runner.wrong))  # each round finds the same ones again
    if wrong:
        _log(f"{len(wrong)} wrong answer(s):")
        for line in wrong:
            _log(f"  {line}")
        return 1
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
