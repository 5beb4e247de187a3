"""A mistake in a command line is one line on stderr and exit status 2, on every command.

Every command parses with :class:`Parser` and reports with :func:`report`, so
``manycore``, ``manycore tefb`` and ``manycore wiki`` word their mistakes alike:
``PROG: error: WHAT (see PROG --help)``.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from ..context import ManycoreError

__all__ = ["USAGE_ERROR", "Parser", "UsageError", "one_line", "report"]

USAGE_ERROR = 2


class UsageError(ManycoreError):
    """Something the user asked for cannot be done as asked (exit status 2).

    ``prog`` names the (sub)command whose arguments were wrong, when that is
    more precise than the command being run.
    """

    def __init__(self, message: str, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument raises :class:`UsageError` instead of a usage dump and exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)", prog=self.prog)


def one_line(error: BaseException) -> str:
    """The error's message on one line; an OSError as ``path: reason``."""
    if isinstance(error, OSError) and error.filename and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return " ".join(str(error).split()) or type(error).__name__


def report(prog: str, error: BaseException) -> int:
    """Print ``error`` as ``prog``'s one line on stderr; returns the exit status."""
    if isinstance(error, UsageError) and error.prog:
        prog = error.prog
    print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
    return USAGE_ERROR
