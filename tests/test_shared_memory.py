"""A forked worker that reads every entry of shared state keeps sharing its pages.

Measured as the child's Private_Dirty (/proc/self/smaps_rollup) before and after
it reads every entry: pages it copied on write show up there.  The parent freezes
the collector's generations before forking, as the processes engine does.
"""

from __future__ import annotations

import gc
import json
import os
import re
from itertools import islice
from pathlib import Path

import pytest

from conftest import TEST_APPS, connect, recv_until
from manycore import FrozenDict, FrozenList, PackedDict, PackedList, share
from manycore.testing import ServerProcess

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/smaps_rollup").exists(), reason="needs Linux /proc/self/smaps_rollup"
)

ENTRIES = 200_000
MIB = 1 << 20


def private_dirty() -> int:
    text = Path("/proc/self/smaps_rollup").read_text()
    match = re.search(r"^Private_Dirty:\s+(\d+) kB", text, re.M)
    assert match, text
    return int(match.group(1)) * 1024


def read(state: object, count: int = ENTRIES) -> None:
    """Read the first ``count`` entries (a dict's values by key, a list's items)."""
    if isinstance(state, dict | PackedDict):
        for key in islice(state, count):
            state[key]
    else:
        for _ in islice(state, count):  # type: ignore[call-overload]
            pass


def growth_of_a_forked_reader(state: object) -> int:
    """Bytes of Private_Dirty a forked child gains by reading every entry of ``state``."""
    gc.collect()
    gc.freeze()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, report, and leave without running the parent's cleanup
        status = 1
        try:
            os.close(read_end)
            read(state, 1000)  # warms the child's own working set: the code path, its frames
            before = private_dirty()
            read(state)
            os.write(write_end, b"%d" % (private_dirty() - before))
            status = 0
        finally:
            os._exit(status)
    try:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            report = pipe.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the reading child failed"
    finally:
        gc.unfreeze()
    return int(report)


def dict_of_tuples() -> dict[str, tuple[int, str, float]]:
    return {f"key{i}": (i, f"value number {i}", i / 3) for i in range(ENTRIES)}


def test_reading_every_entry_of_a_shared_dict_copies_no_pages():
    state = share(dict_of_tuples())
    assert type(state) is PackedDict
    assert growth_of_a_forked_reader(state) < 2 * MIB


def test_reading_every_item_of_a_shared_list_copies_no_pages():
    state = share([(i, f"value number {i}") for i in range(ENTRIES)])
    assert type(state) is PackedList
    assert growth_of_a_forked_reader(state) < 2 * MIB


def test_the_measure_sees_a_frozen_dict_copied_by_its_readers():
    """The control: the same read of a dict of objects copies most of its pages."""
    state = share(dict_of_tuples(), pack=False)
    assert type(state) is FrozenDict
    assert growth_of_a_forked_reader(state) > 10 * MIB
    items = share(list(state.values()), pack=False)
    assert type(items) is FrozenList
    assert growth_of_a_forked_reader(items) > 10 * MIB


def test_a_worker_of_the_processes_engine_reads_shared_state_without_copying_it():
    app = TEST_APPS / "shared_table_app.py"
    with ServerProcess(f"{app}:TableReader", engine="processes", workers=2) as server:
        for _ in range(4):  # over several connections, so both workers are likely asked
            with connect(server.address) as sock:
                sock.sendall(b"read\n")
                reply = json.loads(recv_until(sock, lambda d: d.endswith(b"\n")))
            assert reply["type"] == "PackedDict"
            assert reply["frozen_objects"] > 0  # the engine froze the collector before forking
            assert 0 <= reply["growth"] < 2 * MIB
