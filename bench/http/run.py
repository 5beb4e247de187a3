"""HTTP benchmark: manycore against its peers, side by side in one run.

Each server in turn is started pinned to one core (``taskset -c 1``), checked for exact
answers, then loaded by wrk pinned to the other core (``taskset -c 0``, one thread, 64
connections) on ``GET /plaintext`` and ``GET /json``, each without and with 16-deep
pipelining. Every measured run follows an unmeasured warm-up. The report gives req/s, p99
latency, the CPU used by the server, by wrk and by anything else on the machine, and the
ratio of manycore to each peer; then static-file throughput against manycore.

    python bench/http/run.py                       # everything, 10 s per run
    python bench/http/run.py --smoke               # 1 s runs: correctness only
    python bench/http/run.py --servers bare,granian --duration 5 --rounds 3

A server that cannot start is skipped with the reason; the others are still measured.
Exit status: 0, or 1 when a server answered wrongly (or, with --smoke, when wrk saw
errors), or 2 for a bad argument or a missing tool.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import checks
import static_files
from measure import Measurement, WrkError, run_wrk
from report import Results, format_ms, markdown
from servers import HOST, SERVERS, RunningServer, ServerFailed, running
from workload import ENDPOINTS, Case, cases


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _csv(choices: list[str], what: str):
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(map(repr, unknown)) or '(none given)'}; "
                f"choose from: {','.join(choices)}"
            )
        return names

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/http/run.py",
        description="HTTP benchmark: manycore against its peers, one core each.",
    )
    depth_default = 16
    case_names = [c.name for c in cases(depth_default)]
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up (default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat all; report the median")
    parser.add_argument(
        "--servers",
        type=_csv(list(SERVERS), "server"),
        default=list(SERVERS),
        help=f"comma-separated, from {','.join(SERVERS)} (default all)",
    )
    parser.add_argument(
        "--tests",
        type=_csv(case_names, "test"),
        default=case_names,
        help=f"comma-separated, from {','.join(case_names)} (default all)",
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--depth", type=int, default=depth_default, help="pipelining depth")
    parser.add_argument("--server-cpu", default="1", help="taskset CPU list for the server")
    parser.add_argument("--wrk-cpu", default="0", help="taskset CPU list for wrk")
    parser.add_argument("--smoke", action="store_true", help="1 s runs, correctness only")
    parser.add_argument("--no-static", action="store_true", help="skip the static-file part")
    parser.add_argument(
        "--static-real", action="store_true", help="fill the 1 GiB file with data (not sparse)"
    )
    parser.add_argument("--static-dir", type=Path, help="keep the static files here (reused)")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
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
        args.duration, args.warmup, args.rounds = 1, 0, 1
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not on PATH; install it (Debian: apt-get install {tool})")
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
        f"warm-up, {args.rounds} round(s), pipelining {args.depth} deep",
    ]


class Runner:
    """Runs the selected servers and cases into one Results."""

    def __init__(self, args: argparse.Namespace, work: Path):
        self.args = args
        self.cases = [c for c in cases(args.depth) if c.name in args.tests]
        servers = args.servers
        baseline = "manycore" if "manycore" in servers else servers[0]
        self.results = Results(
            servers=servers, cases=[c.name for c in self.cases], baseline=baseline
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
            self._progress("manycore", case.name, m)

    def _wrong(self, server: str, case: str, problems: list[str]) -> None:
        self.results.failed[(server, case)] = "wrong answer: " + problems[0]
        for problem in problems:
            _log(f"[{server}] {case}: WRONG: {problem}")
        self.wrong += [f"{server} {case}: {p}" for p in problems]

    def _progress(self, server: str, case: str, m: Measurement) -> None:
        _log(
            f"[{server}] {case}: {m.rps:,.0f} req/s, p99 {format_ms(m.p99_ms)} ms, "
            f"server {m.server_cpu:.0f}% wrk {m.wrk_cpu:.0f}% others {m.other_cpu:.0f}% CPU, "
            f"{m.error_count} errors"
        )
        if self.args.smoke and (m.error_count or not m.requests):
            self.wrong.append(f"{server} {case}: wrk saw {m.requests} responses, {m.errors}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    environment = _environment(args)
    with tempfile.TemporaryDirectory(prefix="manycore-bench-http-") as tmp:
        runner = Runner(args, Path(tmp))
        results = runner.run()
    print("# HTTP benchmark\n")
    print("\n".join(environment) + "\n")
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results.as_dict(), indent=2))
    if results.skipped:
        _log(f"skipped: {', '.join(results.skipped)} (see above for why)")
    wrong = list(dict.fromkeys(runner.wrong))  # each round finds the same ones again
    if wrong:
        _log(f"{len(wrong)} wrong answer(s):")
        for line in wrong:
            _log(f"  {line}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
