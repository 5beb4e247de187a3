"""Latency percentiles from wrk's histogram, with wrk's synthetic samples taken out.

After a run, wrk 4 "corrects" its latency histogram for coordinated omission
(``stats_correct`` in wrk's stats.c): with ``e = duration_us // (requests // connections)``,
every recorded sample of ``n >= 2e`` microseconds adds one synthetic sample at each of
``n - e, n - 2e, ...`` while that value is still above ``e``. Two consequences:

- with pipelining, wrk records one sample per batch but ``requests`` counts responses, so
  ``e`` is ``depth`` times too small and most of the histogram becomes synthetic; and the
  synthetic samples fall below wrk's recorded minimum, where its percentile walk never
  looks, so wrk prints p90/p99 = 0;
- without pipelining, percentiles describe wrk's model of an open-loop client rather than
  what the closed-loop run measured.

The correction is exactly invertible. Walking values downwards, the synthetic count at
``m > e`` is the sum of the original counts at ``m + e, m + 2e, ...``, i.e. a running
sum per residue ``m mod e`` of the originals already seen. What remains is what wrk
actually measured: one sample per request, or per pipelined batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence


def parse_histogram(flat: Sequence[int]) -> dict[int, int]:
    """``[us, count, us, count, ...]`` as wrk.lua prints it, as a mapping."""
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def correction_interval(requests: int, duration_us: int, connections: int) -> int:
    """The ``e`` wrk used (0 when it made no correction)."""
    per_connection = requests // connections
    return duration_us // per_connection if per_connection > 0 else 0


def undo_correction(histogram: dict[int, int], interval: int) -> dict[int, int]:
    """The histogram before wrk's ``stats_correct(histogram, interval)``."""
    if interval <= 0:
        return dict(histogram)
    above: defaultdict[int, int] = defaultdict(int)  # residue -> originals seen above
    original = {}
    for value in sorted(histogram, reverse=True):
        residue = value % interval
        count = histogram[value] - (above[residue] if value > interval else 0)
        if count > 0:
            original[value] = count
        above[residue] += max(count, 0)
    return original


def summarise(histogram: dict[int, int]) -> dict[str, float]:
    """Mean, p50, p90, p99 and max in microseconds (zeros for an empty histogram)."""
    total = sum(histogram.values())
    if not total:
        return {"samples": 0, "mean": 0.0, "p50": 0, "p90": 0, "p99": 0, "max": 0}
    values = sorted(histogram)
    result: dict[str, float] = {
        "samples": total,
        "mean": sum(v * c for v, c in histogram.items()) / total,
        "max": values[-1],
    }
    for name, fraction in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99)):
        rank = max(1, round(fraction * total))
        seen = 0
        for value in values:
            seen += histogram[value]
            if seen >= rank:
                result[name] = value
                break
    return result
