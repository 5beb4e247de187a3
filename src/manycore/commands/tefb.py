"""``manycore tefb``: serve the TechEmpower tests; ``manycore tefb init-db``: create the data.

``manycore tefb`` with no arguments needs no set-up: it starts the embedded
PostgreSQL (data in ``--data-dir``, kept between runs), creates the
``hello_world`` database when it is missing, primes the world cache in the main
context and serves on every core.  On exit (SIGINT, SIGTERM) the workers drain
and then the embedded server is stopped.

``--dsn`` uses an existing server instead and never writes to it; ``manycore
tefb init-db --dsn ...`` is the explicit way to create the schema and data
there.

Every failure the user can fix is one line on stderr and a non-zero status:
2 for a bad argument, 1 for a database that cannot be started or reached.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import signal
import sys
from collections.abc import Sequence

import manycore
from manycore.work import cpu_count

from .running import configure_logging, run_until_stopped
from .settings import RunSettings, add_run_options
from .usage import Parser, UsageError, report

__all__ = ["main"]

PROG = "manycore tefb"
DEFAULT_POOL_SIZE = 4
_OPTIONAL_PACKAGES = {"asyncpg", "jinja2", "markupsafe"}


def _pool_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _dsn(text: str) -> str:
    if not text.startswith(("postgresql://", "postgres://")):
        raise argparse.ArgumentTypeError(
            f"expected a URL like postgresql://user:password@host:5432/hello_world, got {text!r}"
        )
    return text


def _serve_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Serve the seven TechEmpower benchmark tests on every core. Also: "
        "`manycore tefb init-db --dsn URL` creates the schema and data on an existing server.",
    )
    add_run_options(parser)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir",
        default=None,
        help="embedded PostgreSQL data directory, reused between runs "
        "(default ~/.local/share/manycore/tefb-postgres)",
    )
    where.add_argument(
        "--dsn", type=_dsn, default=None, help="use this existing server, not the embedded one"
    )
    parser.add_argument(
        "--pool-size",
        type=_pool_size,
        default=DEFAULT_POOL_SIZE,
        help=f"database connections per worker (default {DEFAULT_POOL_SIZE})",
    )
    return parser


def _init_parser() -> Parser:
    parser = Parser(
        prog=f"{PROG} init-db",
        description="Create the hello_world database, its tables and the benchmark data on an "
        "existing PostgreSQL server (a correct database is left as it is).",
    )
    parser.add_argument(
        "--dsn", type=_dsn, required=True, help="postgresql://user@host/hello_world"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``manycore tefb``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["init-db"]:
            return _init_db(_init_parser().parse_args(args[1:]))
        return _serve(_serve_parser().parse_args(args))
    except UsageError as exc:
        return report(PROG, exc)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1


def _init_db(args: argparse.Namespace) -> int:
    try:
        from manycore.apps.tefb.schema import DatabaseError, ensure_database
    except ImportError as exc:
        if exc.name not in _OPTIONAL_PACKAGES:
            raise
        return _fail(f"needs the {exc.name} package: pip install 'manycore[tefb]'")

    try:
        outcome = asyncio.run(ensure_database(args.dsn))
    except DatabaseError as exc:
        return _fail(str(exc))
    print(f"{PROG}: hello_world {outcome}", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from manycore.apps.tefb import app
        from manycore.apps.tefb.postgres import EmbeddedPostgres, PostgresError
        from manycore.apps.tefb.schema import DatabaseError, check_database, ensure_database
    except ImportError as exc:
        if exc.name not in _OPTIONAL_PACKAGES:
            raise
        return _fail(f"needs the {exc.name} package: pip install 'manycore[tefb]'")

    settings = RunSettings.from_args(args)
    configure_logging(settings.log_level)
    pg = None
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)  # until run() takes over
    try:
        if args.dsn is not None:
            dsn = args.dsn
            asyncio.run(check_database(dsn))
        else:
            workers = settings.workers or cpu_count()
            pg = EmbeddedPostgres(
                args.data_dir, max_connections=max(100, workers * args.pool_size + 20)
            )
            atexit.register(pg.stop)  # the pid check inside keeps forked workers out
            pg.start()
            dsn = pg.dsn("hello_world")
            asyncio.run(ensure_database(dsn))
        worlds = asyncio.run(app.load_world_cache(dsn))
        app.configure(dsn, worlds=worlds, pool_size=args.pool_size)
        server = manycore.server(settings.host, settings.port)
        manycore.register(transport=server, protocol=app.TefbApp)
        signal.signal(signal.SIGTERM, previous)
        run_until_stopped(settings)
        return 0
    except (PostgresError, DatabaseError) as exc:
        return _fail(str(exc))
    except (manycore.ManycoreError, OSError, ValueError) as exc:  # e.g. the port is taken
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        if pg is not None:
            pg.stop()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
