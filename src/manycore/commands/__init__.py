"""The ``manycore`` command: every command line, in the layer above the applications.

``manycore serve MODULE:CLASS`` (:mod:`.serve`) imports the application in the
main context, registers the class on a server and runs it; ``manycore tefb``
(:mod:`.tefb`) and ``manycore wiki`` (:mod:`.wiki`) start the showcase
applications, which know nothing of command lines.

Contract: a mistake in the command line or its environment (unknown engine,
port in use, module not found, a name that is not a protocol class) is one
line on stderr and exit status 2; an exception raised by the user's module is
shown as ``python app.py`` would show it (exit status 1); a manycore traceback
only ever means a manycore bug.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from .. import __version__
from ..context import ManycoreError
from ..http import hot_path_build
from . import serve
from .target import UserCodeError
from .usage import USAGE_ERROR, Parser, UsageError, report

__all__ = ["main"]

PROG = "manycore"
USER_CODE_FAILED = 1

_APPS = {
    "tefb": ("manycore.commands.tefb", "tefb", "the TechEmpower benchmark application"),
    "wiki": ("manycore.commands.wiki", "wiki", "Wikipedia instant search"),
}


def _build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Run protocol classes in parallel contexts on every core.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"manycore {__version__}, HTTP hot path: {hot_path_build()}",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    serve.add_arguments(
        commands.add_parser("serve", help=serve.HELP, description=serve.DESCRIPTION)
    )
    for name, (_, _, description) in _APPS.items():
        commands.add_parser(name, help=description, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``manycore ...``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in _APPS:
        return _run_app(argv[0], argv[1:])
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return USAGE_ERROR
        return serve.serve(args)
    except UserCodeError as exc:
        exc.print_traceback()
        return USER_CODE_FAILED
    except ManycoreError as exc:
        return report(PROG, exc)
    except KeyboardInterrupt:
        return 0


def _run_app(name: str, argv: list[str]) -> int:
    """Import an application's command only when asked for: each needs its own extras."""
    module_name, extra, _ = _APPS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = UsageError(
            f"`manycore {name}` needs extra packages ({exc.name or exc}); "
            f"install them with: pip install 'manycore[{extra}]'"
        )
        return report(PROG, missing)
    app_main: Callable[[list[str]], int] = module.main
    return app_main(argv)
