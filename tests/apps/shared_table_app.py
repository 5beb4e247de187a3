"""A worker that reads every entry of a big shared dict and reports what that cost it."""

from __future__ import annotations

import gc
import json
import re
from itertools import islice
from pathlib import Path

import manycore

ENTRIES = 200_000
TABLE = manycore.share({f"key{i}": (i, f"value number {i}", i / 3) for i in range(ENTRIES)})


def private_dirty() -> int:
    text = Path("/proc/self/smaps_rollup").read_text()
    match = re.search(r"^Private_Dirty:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) * 1024 if match else -1


def read(count: int) -> None:
    for key in islice(TABLE, count):
        TABLE[key]


class TableReader:
    """Line "read": reads every entry; answers its Private_Dirty growth, type and gc state."""

    lines_mode = True

    def line_received(self, transport, line):
        read(1000)  # the worker's own working set for this code path
        before = private_dirty()
        read(ENTRIES)
        reply = {
            "growth": private_dirty() - before,
            "type": type(TABLE).__name__,
            "frozen_objects": gc.get_freeze_count(),
        }
        return json.dumps(reply).encode() + b"\n"
