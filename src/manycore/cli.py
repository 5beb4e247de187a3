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
import importlib.util
import logging
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import NoReturn

from . import __version__, registry
from .context import ManycoreError
from .protocol import ProtocolSpec
from .settings import RunSettings, add_run_options

__all__ = ["configure_logging", "load_target", "main", "run_until_stopped"]

USAGE_ERROR = 2
USER_CODE_FAILED = 1
STOPPED_MESSAGE = "manycore: stopped"

_APPS = {
    "tefb": ("manycore.apps.tefb.cli", "tefb", "the TechEmpower benchmark application"),
    "wiki": ("manycore.apps.wiki.cli", "wiki", "Wikipedia instant search"),
}
_TARGET_FORMS = "MODULE:CLASS, path/to/file.py:CLASS, or MODULE alone"


class UsageError(ManycoreError):
    """Something the user asked for cannot be done as asked (exit status 2)."""


class UserCodeError(Exception):
    """The user's module raised while being imported; carries that exception."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error

    def print_traceback(self) -> None:
        """Print the traceback from the user's first frame on, as ``python app.py`` would."""
        error = self.error
        error.__traceback__ = _without_import_machinery(error.__traceback__)
        traceback.print_exception(error, file=sys.stderr)


def _without_import_machinery(tb: TracebackType | None) -> TracebackType | None:
    machinery = {_real(__file__), _real(importlib.__file__), _real(importlib.util.__file__)}
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not (filename.startswith("<frozen importlib") or _real(filename) in machinery):
            break
        tb = tb.tb_next
    return tb


def _real(filename: str | None) -> str:
    return os.path.realpath(filename) if filename else ""


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


@dataclass(frozen=True)
class Target:
    """``MODULE:CLASS`` as typed: the text, the module part, the dotted class path or ''."""

    text: str
    module: str
    attr: str

    @property
    def is_file(self) -> bool:
        return self.module.endswith(".py") or os.sep in self.module


def parse_target(text: str) -> Target:
    module, colon, attr = text.partition(":")
    if not module:
        raise UsageError(f"no module in {text!r}; expected {_TARGET_FORMS}")
    if colon and not attr:
        raise UsageError(f"no class after ':' in {text!r}; expected {_TARGET_FORMS}")
    target = Target(text, module, attr)
    if not target.is_file and not _is_dotted_name(module):
        raise UsageError(f"{module!r} in {text!r} is not a module name; expected {_TARGET_FORMS}")
    if attr and not _is_dotted_name(attr):
        raise UsageError(f"{attr!r} in {text!r} is not a class name; expected {_TARGET_FORMS}")
    return target


def _is_dotted_name(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


def load_target(text: str) -> type | None:
    """Import ``module:Class`` or ``path/to/file.py:Class`` and return the protocol class.

    Without ``:Class``, the module is imported for its own ``register()`` calls
    and None is returned.
    """
    target = parse_target(text)
    module = import_target(target)
    return protocol_class(module, target) if target.attr else None


def import_target(target: Target) -> ModuleType:
    """Import the target's module with ``run()`` refused, as the user's own code."""
    try:
        with registry.importing_target(target.module):
            if target.is_file:
                return _import_file(Path(target.module))
            return _import_module(target.module)
    except (UsageError, registry.RunWhileImportingError) as exc:
        raise UsageError(str(exc)) from None
    except Exception as exc:
        raise UserCodeError(exc) from None


def _import_module(name: str) -> ModuleType:
    sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise UsageError(
                f"cannot import {name!r}: no module named {exc.name!r} (run from the directory "
                "that holds it, or name the file: path/to/file.py:CLASS)"
            ) from None
        raise


def _import_file(path: Path) -> ModuleType:
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


def protocol_class(module: ModuleType, target: Target) -> type:
    """The class the target names, checked to be a protocol class."""
    obj: object = module
    try:
        for part in target.attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        classes = sorted(n for n, v in vars(module).items() if _defined_class(v, module))
        hint = f"; it defines {', '.join(classes)}" if classes else ""
        raise UsageError(
            f"module {target.module!r} has no attribute {target.attr!r}{hint}"
        ) from None
    if not isinstance(obj, type):
        raise UsageError(
            f"{target.text} is {_a(type(obj).__name__)}, not a class; name a protocol class "
            "(one with data_received, line_received, ...) or a manycore.http.HttpServer subclass"
        )
    try:
        ProtocolSpec(obj)
    except (TypeError, ValueError) as exc:
        raise UsageError(
            f"{target.text} is not a protocol class: {exc}; define one of them, or subclass "
            "manycore.http.HttpServer"
        ) from None
    return obj


def _defined_class(value: object, module: ModuleType) -> bool:
    return isinstance(value, type) and value.__module__ == module.__name__


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


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
