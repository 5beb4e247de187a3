"""Title stores side by side on one index: the sorted blob against marisa-trie and its options.

Reads the titles of a built index (``scale.py`` builds the 28-million-title one), builds a
marisa-trie of the same keys for each option set (cached beside the index, so a rerun only
measures), and asks every store the same questions: exact lookup of 20,000 random titles,
a search box's ten titles for 20,000 typed prefixes (``titlesearch.choose``, the same
selection the server makes), and all titles of a prefix with about 16,000 of them
(``titlesearch.starting_with``).  Size counts the store's own files; "open" maps them.

    python bench/wiki/titles.py                       # the scale.py index, every option set
    python bench/wiki/titles.py --smoke               # the scale.py --smoke index (200 k)
    python bench/wiki/titles.py --only default,tries1 --json out.json

marisa's WEIGHT_ORDER numbers and iterates keys by weight, not in dictionary order, so its
prefix answers are not the index's; it is measured for exact lookup only.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import marisa_trie
import numpy as np
from _common import MB, REPO, best_round, median, percentile, timed

sys.path.insert(0, str(REPO / "src"))

from manycore.apps.wiki import WikiIndex, keys
from manycore.apps.wiki.titles import BLOB, BLOCKS, HEADS, SortedTitles
from manycore.apps.wiki.titles_trie import TrieTitles
from manycore.apps.wiki.titlesearch import choose, starting_with

# name -> marisa_trie.Trie options (num_tries, cache_size, binary tail, order)
MARISA = {
    "default": {},
    "tries1": {"num_tries": 1},
    "tries2": {"num_tries": 2},
    "huge-cache": {"cache_size": marisa_trie.HUGE_CACHE},
    "binary-tail": {"binary": True},
    "weight-order": {"order": marisa_trie.WEIGHT_ORDER},
}
TARGET_HITS = 16_333  # PyParallel's "Ap"


def workload(store: SortedTitles, rng: random.Random) -> dict:
    """The questions, drawn once (as ``scale.py`` draws them) and asked of every store."""
    titles = [store.title(rng.randrange(len(store))) for _ in range(20_000)]
    typed = []
    for title in titles:
        cut = rng.randint(1, min(8, len(title)))
        prefix = title[:cut]
        typed.append(prefix.lower() if rng.random() < 0.5 else prefix)
    best = ("", 0)
    for prefix in sorted({t[:2] for t in titles if len(t) >= 2 and t[:2].isalpha()})[:400]:
        count = len(starting_with(store, prefix, 4 * TARGET_HITS)[0])
        if abs(count - TARGET_HITS) < abs(best[1] - TARGET_HITS):
            best = (prefix, count)
    return {"exact": titles, "typed": typed, "prefix": best[0], "prefix_hits": best[1]}


def measure(store, work: dict, rounds: int, ordered: bool) -> dict:
    exact = best_round(store.find, [(t,) for t in work["exact"]], rounds)
    out = {"exact_p50_us": median(exact), "exact_p99_us": percentile(exact, 0.99)}
    if ordered:
        search = best_round(choose, [(store, q, 10, True) for q in work["typed"]], rounds)
        every = timed(starting_with, [(store, work["prefix"])] * 9)
        out.update(
            search10_p50_us=median(search),
            search10_p99_us=percentile(search, 0.99),
            all_hits_ms=min(every) / 1e3,
        )
    return out


def sorted_keys(index: WikiIndex) -> list[str]:
    store = index.titles
    out: list[str] = []
    for start in range(0, len(store), 1 << 16):
        out += map(keys.encode, store.titles(start, min(len(store), start + (1 << 16))))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="a built index (default: scale.py's)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/manycore-wiki-bench"))
    parser.add_argument(
        "--only", help="comma-separated marisa option sets (default: all; none: only the blob)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="the 200 k-title index, 1 round")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    titles = 200_000 if args.smoke else 27_962_169
    if args.smoke:
        args.rounds = 1
    directory = args.index or args.cache / f"scale-{titles}-1.index"
    names = [n for n in args.only.split(",") if n in MARISA] if args.only else list(MARISA)
    results: dict = {"index": str(directory), "stores": {}}
    with WikiIndex.open(directory) as index:
        results["titles"] = len(index)
        began = time.perf_counter()
        heads = np.load(directory / f"{HEADS}.npy", mmap_mode="r")
        blocks = np.load(directory / f"{BLOCKS}.npy", mmap_mode="r")
        fast = SortedTitles.open(directory, heads, blocks)
        opened = time.perf_counter() - began
        size = sum(
            (directory / name).stat().st_size for name in (BLOB, f"{HEADS}.npy", f"{BLOCKS}.npy")
        )
        work = workload(fast, random.Random(7))
        results.update(prefix=work["prefix"], prefix_hits=work["prefix_hits"])
        print(f"sorted blob: {size / MB:.0f} MB; measuring ...", flush=True)
        results["stores"]["sorted blob"] = {
            "bytes": size, "open_s": opened, **measure(fast, work, args.rounds, True),
        }  # fmt: skip
        title_keys = None
        for name in names:
            path = directory.with_name(f"{directory.name}.{name}.marisa")
            if not path.exists():
                if title_keys is None:
                    title_keys = sorted_keys(index)
                began = time.perf_counter()
                options = MARISA[name]
                trie = marisa_trie.Trie(title_keys, **{"order": marisa_trie.LABEL_ORDER, **options})
                trie.save(str(path))
                del trie
                print(f"built marisa {name} in {time.perf_counter() - began:.0f} s", flush=True)
            began = time.perf_counter()
            store = TrieTitles(marisa_trie.Trie().mmap(str(path)))
            opened = time.perf_counter() - began
            ordered = name != "weight-order"
            print(f"marisa {name}: {path.stat().st_size / MB:.0f} MB; measuring ...", flush=True)
            results["stores"][f"marisa {name}"] = {
                "bytes": path.stat().st_size, "open_s": opened,
                **measure(store, work, args.rounds, ordered),
            }  # fmt: skip
        fast.close()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def report(results: dict) -> str:
    lines = [
        f"{results['titles']:,} titles; all hits of {results['prefix']!r} "
        f"({results['prefix_hits']:,} titles)",
        "",
        "| store | on disk | open | exact p50 / p99 | search 10 p50 / p99 | all hits |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results["stores"].items():
        search = (
            f"{r['search10_p50_us']:.1f} / {r['search10_p99_us']:.1f} µs"
            if "search10_p50_us" in r
            else "out of order"
        )
        every = f"{r['all_hits_ms']:.1f} ms" if "all_hits_ms" in r else "—"
        lines.append(
            f"| {name} | {r['bytes'] / MB:,.0f} MB | {r['open_s'] * 1e3:.1f} ms | "
            f"{r['exact_p50_us']:.1f} / {r['exact_p99_us']:.1f} µs | {search} | {every} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
