"""The static-file part: a 1 MiB file, and 64 KiB ranges at random offsets of a 1 GiB file.

Both files live in one directory that manycore mounts at ``/static`` (``manycore_app.py``
reads ``MANYCORE_BENCH_STATIC_DIR``). The 1 GiB file is sparse by default (created in no
time, no disk used; holes read as zeros from the page cache), with a few random blocks
written into it so a range check can tell right bytes from zeros; ``real=True`` fills it
with random data instead. With zero-copy ``sendfile`` a 64 KiB range should cost about as
much as the first 64 KiB of the 1 MiB file, so MiB/s should be of the same order.
"""

from __future__ import annotations

import http.client
import os
import random
from dataclasses import dataclass
from pathlib import Path

SMALL_NAME = "1MiB.bin"
SMALL_SIZE = 1 << 20
BIG_NAME = "1GiB.bin"
BIG_SIZE = 1 << 30
CHUNK = 64 << 10
MOUNT = "/static"
# Read by manycore_app.py (which repeats the name: it is loaded by path, not as a sibling).
DIR_VARIABLE = "MANYCORE_BENCH_STATIC_DIR"


@dataclass(frozen=True)
class StaticCase:
    """One static-file measurement: a path and the wrk.lua arguments that drive it."""

    name: str
    path: str
    script_args: tuple[str, ...]


CASES = (
    StaticCase("file-1MiB", f"{MOUNT}/{SMALL_NAME}", ("plain",)),
    StaticCase("range-64KiB-of-1GiB", f"{MOUNT}/{BIG_NAME}", ("range", str(BIG_SIZE), str(CHUNK))),
)


def prepare(directory: Path, *, real: bool = False) -> None:
    """Create both files in ``directory`` (unless already there at the right size), and read
    them once so that both runs measure sending from the page cache, not the disk."""
    directory.mkdir(parents=True, exist_ok=True)
    small = directory / SMALL_NAME
    if not small.exists() or small.stat().st_size != SMALL_SIZE:
        small.write_bytes(os.urandom(SMALL_SIZE))
    big = directory / BIG_NAME
    if not big.exists() or big.stat().st_size != BIG_SIZE:
        _create_big(big, real=real)
    for path in (small, big):
        _read_through(path)


def _read_through(path: Path) -> None:
    buffer = bytearray(8 << 20)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buffer):
            pass


def _create_big(big: Path, *, real: bool) -> None:
    with open(big, "wb") as out:
        if real:
            block = 1 << 20
            for _ in range(BIG_SIZE // block):
                out.write(os.urandom(block))
        else:
            out.truncate(BIG_SIZE)
            rng = random.Random(20240601)
            for _ in range(64):
                out.seek(rng.randrange(0, BIG_SIZE - CHUNK))
                out.write(os.urandom(CHUNK))


def _get(host: str, port: int, path: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=30.0)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def check(host: str, port: int, directory: Path) -> list[str]:
    """The whole small file, and a few ranges of the big one, byte for byte."""
    problems = []
    small = (directory / SMALL_NAME).read_bytes()
    path = f"{MOUNT}/{SMALL_NAME}"
    try:
        status, _, body = _get(host, port, path, {})
    except (OSError, http.client.HTTPException) as exc:
        return [f"GET {path}: request failed: {exc!r}"]
    if status != 200 or body != small:
        problems.append(f"GET {path}: status {status}, {len(body)} bytes; expected 200, the file")

    path = f"{MOUNT}/{BIG_NAME}"
    rng = random.Random(7)
    with open(directory / BIG_NAME, "rb") as big:
        for first in (0, BIG_SIZE - CHUNK, *(rng.randrange(0, BIG_SIZE - CHUNK) for _ in range(4))):
            last = first + CHUNK - 1
            wanted = f"bytes {first}-{last}/{BIG_SIZE}"
            try:
                status, headers, body = _get(host, port, path, {"Range": f"bytes={first}-{last}"})
            except (OSError, http.client.HTTPException) as exc:
                problems.append(f"GET {path} Range {first}-{last}: request failed: {exc!r}")
                continue
            got = {k.lower(): v for k, v in headers.items()}.get("content-range")
            if status != 206 or got != wanted or body != os.pread(big.fileno(), CHUNK, first):
                problems.append(
                    f"GET {path} Range bytes={first}-{last}: status {status}, Content-Range "
                    f"{got!r}, {len(body)} bytes; expected 206, {wanted!r}, the file's bytes"
                )
    return problems
