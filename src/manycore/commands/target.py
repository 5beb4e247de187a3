"""What ``manycore serve`` serves: ``MODULE:CLASS`` parsed, imported and checked.

The module is the user's code, imported the way ``python app.py`` runs it, so
an exception it raises is the user's (:class:`UserCodeError`, shown with the
user's traceback), while a malformed target, a missing module or a name that
is not a protocol class is the user's mistake in the command line
(:class:`TargetError`, one line).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType

from .. import registry
from ..context import ManycoreError
from ..protocol import ProtocolSpec
from .usage import UsageError

__all__ = [
    "Target",
    "TargetError",
    "UserCodeError",
    "import_target",
    "load_target",
    "parse_target",
    "protocol_class",
    "target_attribute",
]

_TARGET_FORMS = "MODULE:CLASS, path/to/file.py:CLASS, or MODULE alone"


class TargetError(UsageError):
    """The target cannot be served as typed; the message says why and what to type."""


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
        raise TargetError(f"no module in {text!r}; expected {_TARGET_FORMS}")
    if colon and not attr:
        raise TargetError(f"no class after ':' in {text!r}; expected {_TARGET_FORMS}")
    target = Target(text, module, attr)
    if not target.is_file and not _is_dotted_name(module):
        raise TargetError(f"{module!r} in {text!r} is not a module name; expected {_TARGET_FORMS}")
    if attr and not _is_dotted_name(attr):
        raise TargetError(f"{attr!r} in {text!r} is not a class name; expected {_TARGET_FORMS}")
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
    except ManycoreError as exc:
        # manycore refused how the module uses it (a run() at import, a static mount of a
        # missing directory): its message already names the value and the fix.
        raise TargetError(str(exc)) from None
    except Exception as exc:
        raise UserCodeError(exc) from None


def _import_module(name: str) -> ModuleType:
    sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise TargetError(
                f"cannot import {name!r}: no module named {exc.name!r} (run from the directory "
                "that holds it, or name the file: path/to/file.py:CLASS)"
            ) from None
        raise


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise TargetError(f"cannot import {str(path)!r}: no such file")
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
    obj = target_attribute(module, target)
    if not isinstance(obj, type):
        raise TargetError(
            f"{target.text} is {_a(type(obj).__name__)}, not a class; name a protocol class "
            "(one with data_received, line_received, ...), a manycore.http.HttpServer subclass, "
            "an ASGI 3 application (async def app(scope, receive, send)) or a WSGI application"
        )
    try:
        ProtocolSpec(obj)
    except (TypeError, ValueError) as exc:
        raise TargetError(
            f"{target.text} is not a protocol class: {exc}; define one of them, or subclass "
            "manycore.http.HttpServer"
        ) from None
    return obj


def target_attribute(module: ModuleType, target: Target) -> object:
    """What the target's dotted name after ``:`` names in ``module``."""
    obj: object = module
    try:
        for part in target.attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        classes = sorted(n for n, v in vars(module).items() if _defined_class(v, module))
        hint = f"; it defines {', '.join(classes)}" if classes else ""
        raise TargetError(
            f"module {target.module!r} has no attribute {target.attr!r}{hint}"
        ) from None
    return obj


def _defined_class(value: object, module: ModuleType) -> bool:
    return isinstance(value, type) and value.__module__ == module.__name__


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"
