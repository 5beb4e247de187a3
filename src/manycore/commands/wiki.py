"""``manycore wiki build | serve | demo``.

Contract (the same as ``manycore``'s): a mistake -- a bad option, a file that
is not a MediaWiki export, an index that is missing or from another version --
is one line on stderr and exit status 2; Ctrl-C during a build leaves no index
behind and exits with 130; a traceback only ever means a bug.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import manycore
from manycore.apps.wiki import WikiError, WikiIndex, build_index
from manycore.apps.wiki.build import default_index_dir
from manycore.context import ManycoreError
from manycore.work import shutdown_work_pools

from .running import configure_logging, run_until_stopped
from .settings import RunSettings, add_run_options
from .usage import USAGE_ERROR, Parser, report

__all__ = ["main"]

PROG = "manycore wiki"
INTERRUPTED = 130
DEMO_PAGES = 100_000


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Instant search over every title of a MediaWiki dump; pages served "
        "straight from the dump.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    build = commands.add_parser(
        "build",
        help="index a MediaWiki XML export (.xml, .xml.bz2 or multistream .xml.bz2)",
        description="Scan DUMP on every core and write its index directory atomically.",
    )
    build.add_argument("dump", metavar="DUMP")
    build.add_argument("-o", "--output", metavar="INDEX_DIR", help="default: DUMP's name + .index")
    build.add_argument(
        "--index",
        metavar="FILE",
        help="the multistream index (*-multistream-index.txt.bz2); found beside DUMP by default",
    )
    build.add_argument(
        "--fulltext",
        action="store_true",
        help="also build the full-text search index (GET /fulltext)",
    )
    build.add_argument(
        "--fulltext-engine",
        choices=("auto", "tantivy", "sqlite"),
        default="auto",
        help="tantivy (the fast one, where installed), sqlite (FTS5, in every Python), "
        "or auto (default: tantivy if this Python can load it)",
    )
    build.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    build.add_argument(
        "--serial", action="store_true", help="scan in this process only (no parallel contexts)"
    )
    serve = commands.add_parser(
        "serve",
        help="serve an index: search as you type, pages, plain text",
        description="Open INDEX_DIR (memory-mapped) and serve it on every core.",
    )
    serve.add_argument("index_dir", metavar="INDEX_DIR")
    add_run_options(serve)
    demo = commands.add_parser(
        "demo",
        help="build (if needed) and serve DUMP, or the demo wiki",
        description="Without DUMP, serve the demo wiki: 206 real English Wikipedia pages "
        "(CC BY-SA 4.0, shipped with manycore) and synthetic filler pages, "
        f"{DEMO_PAGES:,} in all.",
    )
    demo.add_argument("dump", metavar="DUMP", nargs="?")
    demo.add_argument(
        "--dir", metavar="DIR", help="where the demo's files go (default: ~/.cache/manycore/wiki)"
    )
    demo.add_argument("--pages", type=int, default=DEMO_PAGES, help=argparse.SUPPRESS)
    add_run_options(demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``manycore wiki ...``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = _parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return USAGE_ERROR
        return {"build": _build, "serve": _serve, "demo": _demo}[args.command](args)
    except (ManycoreError, ValueError, OSError) as exc:
        return report(PROG, exc)
    except KeyboardInterrupt:
        if getattr(args, "command", None) in ("build", "demo"):
            print("manycore wiki: interrupted; no index was written", file=sys.stderr)
            return INTERRUPTED
        return 0


def _build(args: argparse.Namespace) -> int:
    _run_build(
        args.dump,
        args.output,
        args.index,
        quiet=args.quiet,
        serial=args.serial,
        fulltext=args.fulltext_engine if args.fulltext else False,
    )
    return 0


def _run_build(
    dump: str,
    output: str | None,
    index: str | None,
    *,
    quiet: bool = False,
    serial: bool = False,
    fulltext: bool | str = False,
) -> Path:
    try:
        result = build_index(
            dump,
            output,
            index_path=index,
            parallel=not serial,
            progress=False if quiet else None,
            fulltext=fulltext,
        )
    finally:
        # The scanning processes are done; stop them now (before a demo forks its workers).
        shutdown_work_pools()
    for warning in result.warnings:
        print(f"manycore wiki: warning: {warning}", file=sys.stderr)
    rate = result.bytes_scanned / max(result.seconds, 1e-9) / 1e6
    print(
        f"manycore wiki: indexed {result.pages:,} pages ({result.titles:,} titles, "
        f"{result.redirects:,} redirects) in {result.seconds:.1f} s ({rate:,.0f} MB/s) "
        f"-> {result.directory}",
        file=sys.stderr,
    )
    figures = result.fulltext
    if figures is not None:
        megabytes = figures["wikitext_bytes"] / 1e6
        share = figures["bytes"] / max(figures["wikitext_bytes"], 1)
        print(
            f"manycore wiki: full text ({figures['engine']}) of {figures['articles']:,} articles "
            f"({megabytes:,.1f} MB "
            f"of wikitext) in {figures['seconds']:.1f} s "
            f"({megabytes / max(figures['seconds'], 1e-9):,.1f} MB/s); "
            f"{figures['bytes'] / 1e6:,.1f} MB, {share:.0%} of the text",
            file=sys.stderr,
        )
    return result.directory


def _serve(args: argparse.Namespace) -> int:
    index = WikiIndex.open(args.index_dir)
    _serve_index(index, args)
    return 0


def _serve_index(index: WikiIndex, args: argparse.Namespace) -> None:
    from manycore.apps.wiki.app import WikiApp  # the HTTP layer, only when serving

    settings = RunSettings.from_args(args)
    configure_logging(settings.log_level)
    WikiApp.serve_index(index)
    print(
        f"manycore wiki: serving {len(index):,} titles from {index.directory}",
        file=sys.stderr,
        flush=True,
    )
    manycore.register(transport=manycore.server(settings.host, settings.port), protocol=WikiApp)
    try:
        run_until_stopped(settings)
    finally:
        index.close()


def _demo(args: argparse.Namespace) -> int:
    if args.dump is not None:
        dump = Path(args.dump)
        directory = default_index_dir(dump)
    else:
        base = Path(args.dir) if args.dir else _cache_dir()
        base.mkdir(parents=True, exist_ok=True)
        dump = base / f"demo-{args.pages}.xml"
        directory = base / f"demo-{args.pages}.index"
        if not dump.exists():
            _write_demo(dump, args.pages)
    try:
        index = WikiIndex.open(directory)
    except WikiError:
        index = None
    if (
        index is None
        or index.fulltext is None
        or not dump.exists()
        or index.header["dump"]["path"] != str(dump.absolute())
    ):
        if index is not None:
            index.close()
        _run_build(str(dump), str(directory), None, fulltext=True)
        index = WikiIndex.open(directory)
    _serve_index(index, args)
    return 0


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "manycore" / "wiki"


def _write_demo(dump: Path, pages: int) -> None:
    from manycore.apps.wiki.demo import write_demo

    print(
        f"manycore wiki: writing the demo wiki ({pages:,} pages: 206 real Wikipedia pages, "
        "CC BY-SA 4.0, and synthetic filler) ...",
        file=sys.stderr,
    )
    tmp = dump.with_name(f".{dump.name}.{os.getpid()}")
    try:
        write_demo(tmp, pages)
        tmp.rename(dump)
    finally:
        tmp.unlink(missing_ok=True)
