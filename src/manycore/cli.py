"""The ``manycore`` command.

``manycore serve MODULE:CLASS`` imports the application in the main context,
registers the class on a server and runs it.  ``manycore tefb`` and
``manycore wiki`` hand over to the applications' own commands.

Contract: a mistake in the command line or its environment (unknown engine,
port in use, module not found) is one line on stderr and exit status 2; a
traceback only ever means a bug.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from pathlib import Path

from . import __version__, registry
from .context import ManycoreError
from .settings import RunSettings, add_run_options

__all__ = ["load_target", "main"]

USAGE_ERROR = 2

_APPS = {
    "tefb": ("manycore.apps.tefb.cli", "tefb", "the TechEmpower benchmark application"),
    "wiki": ("manycore.apps.wiki.cli", "wiki", "Wikipedia instant search"),
}


class UsageError(ManycoreError):
    """Something the user asked for cannot be done as asked (exit status 2)."""


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(name)s[%(process)d] %(levelname)s: %(message)s",
        stream=sys.stderr,
    )


def load_target(target: str) -> type | None:
    """Import ``module:Class`` or ``path/to/file.py:Class`` and return the class.

    Without ``:Class``, the module is imported for its own ``register()`` calls
    and None is returned.
    """
    module_name, _, attr = target.partition(":")
    if not module_name:
        raise UsageError(f"no module in {target!r}; expected MODULE:CLASS")
    if module_name.endswith(".py") or os.sep in module_name:
        module = _import_file(Path(module_name))
    else:
        sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                raise UsageError(
                    f"cannot import {module_name!r}: no module named {exc.name!r}"
                ) from None
            raise
    if not attr:
        return None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not isinstance(obj, type):
        raise UsageError(f"{target} is a {type(obj).__name__}, not a protocol class")
    return obj


def _import_file(path: Path):
    if not path.is_file():
        raise UsageError(f"cannot import {str(path)!r}: no such file")
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so classes pickle by reference and guard mode finds it
    sys.path.insert(0, str(path.resolve().parent))
    spec.loader.exec_module(module)
    return module


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="manycore",
        description="Run protocol classes in parallel contexts on every core.",
    )
    parser.add_argument("--version", action="version", version=f"manycore {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve a protocol class (MODULE:CLASS or path/file.py:CLASS)",
        description="Import MODULE in the main context, then serve CLASS on every core.",
    )
    serve.add_argument("target", metavar="MODULE:CLASS")
    add_run_options(serve)
    serve.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    for name, (_, _, description) in _APPS.items():
        commands.add_parser(name, help=description, add_help=False)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from .engine import run

    settings = RunSettings.from_args(args)
    configure_logging(args.log_level)
    cls = load_target(args.target)
    if cls is not None:
        registry.register(transport=registry.server(settings.host, settings.port), protocol=cls)
    elif not registry.registrations():
        raise UsageError(f"{args.target} registered nothing; name the class: MODULE:CLASS")
    run(**settings.run_kwargs())
    return 0


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
    except (ManycoreError, ValueError) as exc:
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
