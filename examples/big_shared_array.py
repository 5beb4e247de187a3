"""A big array loaded once by the main context, summed in slices by every worker.

The array (100 M int32 by default, 400 MB) exists once: workers are forked
after it is loaded (or are threads), and share() makes it read-only, so no
worker can change what the others read.  Ask for a slice sum with a line
"START STOP"; the answer is the sum as a decimal line.

    manycore serve examples/big_shared_array.py:SliceSum
"""

import os

import numpy as np

import manycore

ELEMENTS = int(os.environ.get("BIG_ARRAY_ELEMENTS", 100_000_000))
ARRAY = manycore.share(np.arange(ELEMENTS, dtype=np.int32))


class SliceSum:
    lines_mode = True

    def line_received(self, transport, line):
        start, stop = (int(x) for x in line.split())
        return b"%d\n" % int(ARRAY[start:stop].sum(dtype=np.int64))

    def exception_handler(self, transport, exc):
        return b"error: send two integers, START STOP\n"  # then this connection closes


if __name__ == "__main__":
    manycore.register(transport=manycore.server("127.0.0.1", 8090), protocol=SliceSum)
    manycore.run()
