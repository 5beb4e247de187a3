"""What every serving command does around ``manycore.run()``: logging first, a stop line last."""

from __future__ import annotations

import logging
import signal
import sys

from .. import __version__
from ..engine import run
from ..http import hot_path_build
from .settings import RunSettings

__all__ = ["STOPPED_MESSAGE", "configure_logging", "run_until_stopped"]

STOPPED_MESSAGE = "manycore: stopped"


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(name)s[%(process)d] %(levelname)s: %(message)s",
        stream=sys.stderr,
    )


def run_until_stopped(settings: RunSettings) -> None:
    """Serve what is registered until SIGTERM/SIGINT, then say so, the same for every command."""
    said_build = False

    def announce(message: str) -> None:
        # Which build serves, once, beside the first listening line: a benchmark or a
        # bug report needs it, and a run that fails before it listens stays one line.
        nonlocal said_build
        print(message, file=sys.stderr, flush=True)
        if not said_build:
            said_build = True
            logging.getLogger("manycore").info(
                "manycore %s, HTTP hot path: %s", __version__, hot_path_build()
            )

    run(**settings.run_kwargs(), announce=announce)
    # The server has stopped and the process is ending: a second SIGTERM or Ctrl-C (a
    # supervisor that repeats its signal, an impatient operator) must not turn a clean
    # exit into death by signal now that the engine's handlers are gone.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, signal.SIG_IGN)
    print(STOPPED_MESSAGE, file=sys.stderr, flush=True)
