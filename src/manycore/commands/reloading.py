"""``--reload``: serve in a child process and start a fresh one when a ``.py`` file changes.

The application is never imported here: a module that fails to import after an
edit fails in the child, and the next edit tries again.  A stop signal (Ctrl-C
reaches the child too, SIGTERM only this process) stops both.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

from .settings import RunSettings
from .usage import UsageError

__all__ = ["reload_command", "run_reloading"]

log = logging.getLogger("manycore.reload")

_POLL_MS = 500  # how often the watcher looks up from the files to see if the child ended


def reload_command(target: str, settings: RunSettings, app_argv: Sequence[str] = ()) -> list[str]:
    """The command that serves ``target`` with ``settings``, less ``--reload``.

    ``app_argv`` are the application options (``--interface``, ``--factory``, ...).
    """
    return [sys.executable, "-m", "manycore", "serve", target, *settings.to_argv(), *app_argv]


def run_reloading(target: str, settings: RunSettings, app_argv: Sequence[str] = ()) -> int:
    """Serve ``target`` in a child process until stopped, restarting it on every change."""
    watchfiles = _import_watchfiles()
    directories = [str(Path(d).resolve()) for d in settings.reload_dir or (os.getcwd(),)]
    command = reload_command(target, settings, app_argv)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
    print(f"manycore: watching {', '.join(directories)} for changes", file=sys.stderr, flush=True)
    child: subprocess.Popen[bytes] | None = _start(command)
    try:
        for changes in watchfiles.watch(
            *directories,
            watch_filter=watchfiles.PythonFilter(),
            stop_event=stop,
            yield_on_timeout=True,
            rust_timeout=_POLL_MS,
        ):
            if not changes:
                if child is not None and child.poll() is not None:
                    print(
                        f"manycore: the server exited with status {child.returncode}; "
                        "waiting for a change to start it again",
                        file=sys.stderr,
                        flush=True,
                    )
                    child = None
                continue
            print(
                f"manycore: {_names(path for _, path in changes)} changed; restarting",
                file=sys.stderr,
                flush=True,
            )
            _stop(child, settings.grace)
            child = _start(command)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(child, settings.grace)
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    return 0


def _import_watchfiles() -> ModuleType:
    try:
        import watchfiles
    except ImportError:
        raise UsageError(
            "--reload needs the watchfiles package; install it with: pip install 'manycore[reload]'"
        ) from None
    return watchfiles


def _start(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdin=subprocess.DEVNULL)


def _stop(child: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM, then the child's own grace period and a little more, then SIGKILL."""
    if child is None:
        return
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(grace + 5.0)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _names(paths: Iterable[str]) -> str:
    names = sorted({os.path.relpath(path) for path in paths})
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
