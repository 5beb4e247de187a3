"""The ``manycore`` command.

``manycore serve MODULE:CLASS`` imports the application in the main context,
registers the class on a server and runs it.  ``manycore tefb`` and
``manycore wiki`` hand over to the applications' own commands.

Contract: a mistake in the command line or its environment (unknown engine,
port in use, module not found, a name that is not a protocol class) is one
line on stderr and exit status 2; an exception raised by the user's module is
shown as ``python app.py`` would show it (exit status 1); a manycore traceback
only ever means a manycore bug.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NoReturn

from . import __version__, registry
from .context import ManycoreError
from .settings import RunSettings, add_run_options
from .target import Target, UserCodeError, import_target, load_target, parse_target, protocol_class

__all__ = ["configure_logging", "load_target", "main", "run_until_stopped"]

USAGE_ERROR = 2
USER_CODE_FAILED = 1
STOPPED_MESSAGE = "manycore: stopped"

_APPS = {
    "tefb": ("manycore.apps.tefb.cli", "tefb", "the TechEmpower benchmark application"),
    "wiki": ("manycore.apps.wiki.cli", "wiki", "Wikipedia instant search"),
}


class UsageError(ManycoreError):
    """Something the user asked for cannot be done as asked (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(name)s[%(process)d] %(levelname)s: %(message)s",
        stream=sys.stderr,
    )


def run_until_stopped(settings: RunSettings) -> None:
    """Serve what is registered until SIGTERM/SIGINT, then say so, the same for every command."""
    from .engine import run

    run(**settings.run_kwargs())
    print(STOPPED_MESSAGE, file=sys.stderr, flush=True)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="manycore",
        description="Run protocol classes in parallel contexts on every core.",
    )
    parser.add_argument("--version", action="version", version=f"manycore {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    serve = commands.add_parser(
        "serve",
        help="serve a protocol class (MODULE:CLASS or path/file.py:CLASS)",
        description="Import MODULE in the main context, then serve CLASS on every core.",
    )
    serve.add_argument("target", metavar="MODULE:CLASS")
    add_run_options(serve)
    for name, (_, _, description) in _APPS.items():
        commands.add_parser(name, help=description, add_help=False)
    return parser


def _serve(args: argparse.Namespace) -> int:
    settings = RunSettings.from_args(args)
    configure_logging(settings.log_level)
    target = parse_target(args.target)
    module = import_target(target)
    if target.attr:
        cls = protocol_class(module, target)
        _refuse_servers_registered_at_import(target)
        registry.register(transport=registry.server(settings.host, settings.port), protocol=cls)
    elif not registry.registrations():
        raise UsageError(f"{args.target} registered nothing; name the class: MODULE:CLASS")
    run_until_stopped(settings)
    return 0


def _refuse_servers_registered_at_import(target: Target) -> None:
    """A module that registers its own server at import would be served twice."""
    servers = registry.registered_servers()
    if servers:
        where = ", ".join(
            f"{r.protocol.__qualname__} on {r.transport.host}:{r.transport.port}" for r in servers
        )
        raise UsageError(
            f"{target.module} registers {where} when imported, and {target.text} would be "
            'a second server; put its register() calls under if __name__ == "__main__":, '
            f"or serve what it registers with: manycore serve {target.module}"
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in _APPS:
        return _run_app(argv[0], argv[1:])
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return USAGE_ERROR
    try:
        return _serve(args)
    except UserCodeError as exc:
        exc.print_traceback()
        return USER_CODE_FAILED
    except ManycoreError as exc:
        print(f"manycore: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 0


def _run_app(name: str, argv: list[str]) -> int:
    module_name, extra, _ = _APPS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(
            f"manycore: error: `manycore {name}` needs extra packages ({exc.name or exc}); "
            f"install them with: pip install 'manycore[{extra}]'",
            file=sys.stderr,
        )
        return USAGE_ERROR
    return module.main(argv)
