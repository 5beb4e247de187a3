"""Build throughput: ``manycore wiki build`` on a >= 2 GB plain-XML dump, on every core.

The dump is assembled from the 206 real pages of the sample the wiki app ships
repeated with numbered titles ("Anarchism (17)"), so pages have real sizes and real
markup.  Goal: >= 400 MB/s using both cores, memory bounded (the main context holds titles,
never the dump; workers hold one chunk's results).  The dump is cached (``--cache``) and,
having just been written or read, is in the page cache: this measures scanning, not the disk.

    python bench/wiki/build_speed.py            # 2 GB, parallel then serial
    python bench/wiki/build_speed.py --smoke    # 64 MB
    python bench/wiki/build_speed.py --gb 8 --json out.json
"""

from __future__ import annotations

import argparse
import bz2
import json
import re
import resource
import shutil
import sys
import time
from pathlib import Path

from _common import MB, REPO

sys.path.insert(0, str(REPO / "src"))

from manycore.apps.wiki import WikiIndex, build_index
from manycore.apps.wiki.sample import SAMPLE_DUMP
from manycore.work import shutdown_work_pools

SAMPLE = SAMPLE_DUMP
GOAL_MB_S = 400


def assemble(target: Path, size: int) -> tuple[int, int]:
    """Write a dump of at least ``size`` bytes; return (bytes, pages)."""
    xml = bz2.decompress(SAMPLE.read_bytes())
    first = xml.index(b"  <page>")
    last = xml.rindex(b"</page>") + len(b"</page>\n")
    header, body, footer = xml[:first], xml[first:last], xml[last:]
    title = re.compile(rb"<title>([^<]*)</title>")
    redirect = re.compile(rb'<redirect title="([^"]*)"')
    pages = 0
    per_copy = body.count(b"<page>")
    tmp = target.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        out.write(header)
        copy = 0
        while out.tell() < size:
            copy += 1
            tag = b" (%d)" % copy
            chunk = title.sub(lambda m, tag=tag: b"<title>" + m.group(1) + tag + b"</title>", body)
            chunk = redirect.sub(lambda m, tag=tag: b'<redirect title="' + m.group(1) + tag, chunk)
            out.write(chunk)
            pages += per_copy
        out.write(footer)
        total = out.tell()
    tmp.rename(target)
    return total, pages


def peak_rss(who: int = resource.RUSAGE_SELF) -> int:
    """Peak RSS in bytes of this process, or of its largest finished child (Linux: KiB)."""
    return resource.getrusage(who).ru_maxrss * 1024


def run(dump: Path, out: Path, parallel: bool) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    began = time.monotonic()
    result = build_index(dump, out, parallel=parallel, progress=False)
    seconds = time.monotonic() - began
    with WikiIndex.open(out) as index:
        titles = len(index)
    return {
        "parallel": parallel,
        "seconds": seconds,
        "mb_s": result.bytes_scanned / seconds / MB,
        "pages": result.pages,
        "titles": titles,
        "warnings": result.warnings,
        "peak_rss_main": peak_rss(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0, help="dump size in GB (10^9 bytes)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/manycore-wiki-bench"))
    parser.add_argument("--smoke", action="store_true", help="64 MB, checks that it works")
    parser.add_argument("--no-serial", action="store_true", help="skip the one-core run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not SAMPLE.exists():
        print(f"error: {SAMPLE} is missing (it is part of the manycore package)")
        return 2
    size = 64 * 10**6 if args.smoke else int(args.gb * 1e9)
    args.cache.mkdir(parents=True, exist_ok=True)
    dump = args.cache / f"build-{size}.xml"
    if not dump.exists():
        began = time.monotonic()
        total, pages = assemble(dump, size)
        print(f"assembled {dump} ({total / MB:,.0f} MB, {pages:,} pages) in "
              f"{time.monotonic() - began:.0f} s")  # fmt: skip
    with open(dump, "rb") as f:  # make sure it is in the page cache, as after writing it
        while f.read(64 << 20):
            pass
    dump_bytes = dump.stat().st_size
    out = args.cache / "build.index"
    # Two runs on all cores (the first one also starts the pool of parallel contexts).
    runs = [run(dump, out, parallel=True), run(dump, out, parallel=True)]
    if not args.no_serial:
        runs.append(run(dump, out, parallel=False))
    shutdown_work_pools()  # the pool's processes end: their peak RSS becomes known
    worker_rss = peak_rss(resource.RUSAGE_CHILDREN)
    print(f"dump: {dump_bytes / MB:,.0f} MB, {runs[0]['pages']:,} pages\n")
    print("| run | seconds | MB/s | goal | peak RSS of the main context |")
    print("|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {'all cores' if r['parallel'] else 'one core (--serial)'} | {r['seconds']:.2f} | "
            f"{r['mb_s']:,.0f} | {'>= 400' if r['parallel'] else ''} | "
            f"{r['peak_rss_main'] / MB:,.0f} MB |"
        )
    print(f"\npeak RSS of a parallel context: {worker_rss / MB:,.0f} MB")
    ok = all(r["pages"] == r["titles"] and not r["warnings"] for r in runs)
    if args.json:
        report = {"dump_bytes": dump_bytes, "runs": runs, "peak_rss_worker": worker_rss}
        args.json.write_text(json.dumps(report, indent=1))
    if not ok:
        print("error: the index does not hold every page exactly once")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
