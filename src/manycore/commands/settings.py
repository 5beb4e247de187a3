"""Run settings: one frozen dataclass, from which the command line is derived.

Every option is written once, here, with its default and its help text;
every command that serves adds them to its parser with :func:`add_run_options`
and reads them back with :func:`RunSettings.from_args`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeVar

from ..engine import ENGINES

__all__ = ["LOG_LEVELS", "RunKwargs", "RunSettings", "add_run_options"]

T = TypeVar("T")


def _option(default: T, help: str, **argparse_kwargs: Any) -> T:
    return field(default=default, metadata={"help": help, **argparse_kwargs})


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number 0..65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {port}")
    return port


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(LOG_LEVELS)} (any case), got {text!r}"
        )
    return level


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(value):  # a stop that never ends, or never begins
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds, got {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {value}")
    return value


class RunKwargs(TypedDict):
    """The settings ``manycore.run()`` takes, as keyword arguments."""

    workers: int | None
    engine: str
    guard: bool
    grace: float


@dataclass(frozen=True)
class RunSettings:
    """How to run: where to listen, on which engine, and how much to log."""

    host: str = _option("127.0.0.1", "address to listen on (0.0.0.0 for every interface)")
    port: int = _option(8080, "TCP port (0 picks a free one)", type=_port)
    workers: int | None = _option(
        None, "parallel contexts to run (default: one per usable core)", type=_positive
    )
    engine: str = _option(
        "auto",
        "processes, threads (parallel on free-threaded Python), inline (debugging) or auto",
        choices=ENGINES,
    )
    guard: bool = _option(
        False, "report parallel contexts that change the application module's globals"
    )
    grace: float = _option(
        10.0, "seconds in-flight callbacks get to finish after SIGTERM/SIGINT", type=_seconds
    )
    log_level: str = _option(
        "INFO", f"{', '.join(LOG_LEVELS)} (any case)", type=_log_level, metavar="LEVEL"
    )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunSettings:
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})

    def run_kwargs(self) -> RunKwargs:
        return RunKwargs(
            workers=self.workers,
            engine=self.engine,
            guard=self.guard,
            grace=self.grace,
        )


def add_run_options(parser: argparse.ArgumentParser, **defaults: Any) -> None:
    """Add ``--host --port --workers --engine --guard --grace --log-level``.

    ``defaults`` overrides a default, e.g. ``port=8000``; a name that is not a
    setting is refused, so a misspelt override cannot go unnoticed.
    """
    names = {f.name for f in dataclasses.fields(RunSettings)}
    unknown = sorted(set(defaults) - names)
    if unknown:
        raise TypeError(f"not run settings: {', '.join(unknown)}; choose from {sorted(names)}")
    for f in dataclasses.fields(RunSettings):
        meta = dict(f.metadata)
        help_text = meta.pop("help")
        default = defaults.get(f.name, f.default)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action="store_true", default=default, help=help_text)
        else:
            shown = "" if default is None else f" (default: {default})"
            parser.add_argument(flag, default=default, help=help_text + shown, **meta)
