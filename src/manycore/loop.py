"""Event-loop selection: uvloop where it is installed, the stdlib loop otherwise.

``MANYCORE_LOOP=asyncio`` forces the stdlib loop (used by the test-suite to
run the same tests on both, and by users chasing a uvloop-specific problem).
"""

from __future__ import annotations

import asyncio
import os
from types import ModuleType

__all__ = ["loop_name", "new_event_loop"]


def _uvloop_module() -> ModuleType | None:
    if os.environ.get("MANYCORE_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A fresh event loop of the best available kind (one per parallel context)."""
    uvloop = _uvloop_module()
    return uvloop.new_event_loop() if uvloop else asyncio.new_event_loop()


def loop_name() -> str:
    return "uvloop" if _uvloop_module() else "asyncio"
