"""Protocol classes served by the core benchmarks."""

import os

import numpy as np

import manycore


def _spin() -> int:
    total = 0
    for i in range(40_000):  # about 2 ms of pure-Python work
        total += i * i % 7
    return total


class Spin:
    lines_mode = True

    def line_received(self, transport, line):
        return b"%d\n" % _spin()


class Echo:
    def data_received(self, transport, data):
        return data


_SIZE = int(os.environ.get("SHARED_ARRAY_BYTES", "0"))
ARRAY = manycore.share(np.arange(_SIZE // 8, dtype=np.int64)) if _SIZE else None


class SliceReader:
    """Line "START" -> the sum of 1 MiB of the shared array from START (int64 index)."""

    lines_mode = True

    def line_received(self, transport, line):
        start = int(line)
        return b"%d\n" % int(ARRAY[start : start + 131072].sum())
