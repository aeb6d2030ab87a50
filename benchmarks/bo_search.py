"""Wall time of the batched BO (DNGO) search, and its speed-up over searching one run at a time.

The metrics are real: validation accuracy and training time after 108 epochs from an NB-101 metrics
CSV (columns val_acc_108, train_time_108, as in the 20k-cell subset; no test accuracy, so test
regret is NaN). The features are random N(0, 1) vectors (--dim): the cost of BO depends on how many
iterations fit the budget, not on what the features mean, and uninformative features pick cells
of average training time, more iterations than a useful embedding needs (a pessimistic time).

    python benchmarks/bo_search.py --metrics-csv nb101-subset-20k.csv                # 500 runs x 1e6 s
    python benchmarks/bo_search.py --metrics-csv nb101-subset-20k.csv --device cuda

The single-run figure searches --single-runs of the same runs one at a time (n_runs=1 each, the
same code): `batched_speedup` = (single-run seconds per run x runs) / batched seconds.
--compare-kernels also runs the whole batched search with the networks trained in PyTorch
(kernel "torch") on the same data: `native_kernel_speedup` = its seconds / the default's seconds.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import torch

from infonas.evaluation.dngo import dngo_search
from infonas.evaluation.regret import final_regret
from infonas.runtime import resolve_device


def load_metrics(path: str, n_rows: int | None):
    table = pd.read_csv(path, usecols=["val_acc_108", "train_time_108"])
    if n_rows:
        table = table.iloc[:n_rows]
    return table["val_acc_108"].to_numpy(np.float64), table["train_time_108"].to_numpy(np.float64)


def timed(device: str, fn):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics-csv", required=True, help="NB-101 metrics CSV (val_acc_108, train_time_108)")
    parser.add_argument("--n-rows", type=int, default=None, help="first rows of the CSV only")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-runs", type=int, default=500)
    parser.add_argument("--single-runs", type=int, default=2, help="runs searched one at a time for the ratio")
    parser.add_argument("--budget", type=float, default=1e6)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--kernel", default="auto", choices=["auto", "native", "torch"], help="network training")
    parser.add_argument("--compare-kernels", action="store_true", help="also time the search with kernel torch")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    val, train_time = load_metrics(args.metrics_csv, args.n_rows)
    feats = np.random.default_rng(args.seed).standard_normal((len(val), args.dim))
    test = np.full_like(val, np.nan)
    kw = dict(device=device, dtype=args.dtype, epochs=args.epochs, kernel=args.kernel, progress=False)

    res, wall = timed(device, lambda: dngo_search(feats, val, test, train_time, args.n_runs, args.budget,
                                                  args.seed, **kw))
    single_wall = 0.0
    for _ in range(args.single_runs):  # run 0 of the batch, searched alone (run_seeds depends on r only)
        one, t = timed(device, lambda: dngo_search(feats, val, test, train_time, 1, args.budget, args.seed, **kw))
        single_wall += t
    single_per_run = single_wall / max(args.single_runs, 1)
    val_regret, _ = final_regret(res, np.nanmax(val), np.nan)
    kernels = {}
    if args.compare_kernels:
        base, base_wall = timed(device, lambda: dngo_search(feats, val, test, train_time, args.n_runs, args.budget,
                                                            args.seed, **{**kw, "kernel": "torch"}))
        kernels = {"torch_kernel_bo_wall_s": round(base_wall, 3), "native_kernel_speedup": round(base_wall / wall, 2),
                   "runs_with_same_picks_as_torch_kernel": int(sum(np.array_equal(base.run(r), res.run(r))
                                                                   for r in range(args.n_runs)))}
    print(json.dumps({
        "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu",
        "torch_threads": torch.get_num_threads(),
        "n_rows": int(len(val)), "n_runs": args.n_runs, "budget_s": args.budget, "dtype": args.dtype,
        "epochs": args.epochs, "kernel": res.settings["kernel"],
        "bo_wall_s": round(wall, 3),
        "evaluations": int(res.lengths.sum()),
        "mean_evaluations_per_run": round(float(res.lengths.mean()), 1),
        "single_run_wall_s_per_run": round(single_per_run, 3),
        "batched_speedup": round(single_per_run * args.n_runs / wall, 2) if args.single_runs else None,
        "single_equals_batched_run_0": bool(np.array_equal(one.run(0), res.run(0))) if args.single_runs else None,
        "mean_final_val_regret": float(np.nanmean(val_regret)),
        **kernels,
    }))


if __name__ == "__main__":
    main()
