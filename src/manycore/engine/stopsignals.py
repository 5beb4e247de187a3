"""Stop signals (SIGTERM, SIGINT) between the listening line and the handler that acts on them.

A process manager may send SIGTERM the moment a server says it listens, before the
supervisor (or the inline worker's loop) has its handler in place; left to the default
action, the signal would kill the server instead of stopping it.  So from before the
listening line the signals are *held*: blocked in the main thread, where they wait as
pending, and caught by a handler that remembers them, because the kernel may deliver a
process-wide signal to any other thread that does not block it (one that a native
library started at import, as numpy's BLAS does).  The handler that takes over calls
:func:`release_stop_signals` and acts on what was held.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["STOP_SIGNALS", "hold_stop_signals", "holding_handler", "release_stop_signals"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_held: list[int] = []


def _remember(signum: int, _frame: FrameType | None) -> None:
    _held.append(signum)


def holding_handler(handler: object) -> bool:
    """Whether ``handler`` is the one that holds stop signals (a handler to restore)."""
    return handler is _remember


@contextmanager
def hold_stop_signals() -> Iterator[None]:
    """Hold stop signals in the main thread until released; restore everything after."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    previous = {sig: signal.signal(sig, _remember) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is _remember:  # a handler set since is left in place
                signal.signal(sig, handler)
        _held.clear()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def release_stop_signals() -> list[int]:
    """Unblock stop signals in this thread; the ones held meanwhile, oldest first.

    Call it once the handler that acts on them is installed: a signal still pending goes
    to that handler as it is unblocked, and the returned ones are for it to act on.
    """
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    held = list(_held)
    _held.clear()
    return held
