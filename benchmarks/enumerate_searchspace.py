"""Wall time of enumerating the whole NB-101 space (target: under 5 minutes on 2 CPU cores).

Prints JSON: unique cells, seconds, CPUs used, and how many hashes of the packaged real NB-101
metrics (20,001 cells, `metrics_csv: builtin`) are among them.

    python benchmarks/enumerate_searchspace.py [--workers N] [--progress]

`--max-vertices` and `--max-edges` enumerate a smaller space (NB-101: 7 and 9).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

import numpy as np
import pandas as pd

from infonas.searchspace.enumerate import enumerate_cells
from infonas.searchspace.metrics import resolve_metrics_csv

SUBSET_CSV = resolve_metrics_csv("builtin")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="md5 processes (default: all usable CPUs)")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--max-vertices", type=int, default=7, help="vertices per cell at most (NB-101: 7)")
    parser.add_argument("--max-edges", type=int, default=9, help="edges per cell at most (NB-101: 9)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    workers = args.workers or len(os.sched_getaffinity(0))
    start = time.perf_counter()
    cells = enumerate_cells(args.max_vertices, args.max_edges, progress=args.progress, workers=workers)
    seconds = time.perf_counter() - start
    result = {"max_vertices": args.max_vertices, "max_edges": args.max_edges,
              "n_unique": int(len(cells["hash"])), "seconds": round(seconds, 2), "cpu_count": workers}
    if args.max_vertices == 7 and args.max_edges == 9:
        subset = pd.read_csv(SUBSET_CSV, usecols=["hash"])["hash"].str.encode("ascii").to_numpy(dtype="S32")
        result["subset_hashes_found"] = f"{int(np.isin(subset, cells['hash']).sum())}/{len(subset)}"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
