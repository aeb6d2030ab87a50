"""Wall time of the batched REINFORCE search (and random search) on a synthetic NB-101-sized space.

Synthetic data in NAS-Bench-101's ranges: N(0,1) latents, validation accuracy 0.95 - 0.15*Beta(1.5, 6)
(mean ~0.92), test = validation minus up to 0.01, training time log-normal around 1,800 s clipped to
[300, 5500] s. The paper setting is 500 runs x 1e6 s on 423,624 rows:

    python benchmarks/reinforce_search.py --device cuda
    python benchmarks/reinforce_search.py --device cpu --n-rows 20000 --n-runs 20

Prints one JSON object. `ns_per_run_row_step` (wall / (steps * runs * rows)) extrapolates to other
sizes, since each step scans every row for every run.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from infonas.evaluation.random_search import random_search
from infonas.evaluation.regret import final_regret
from infonas.evaluation.reinforce import reinforce_search
from infonas.runtime import resolve_device


def synthetic_space(n_rows: int, dim: int, seed: int):
    rng = np.random.default_rng(seed)
    feats = rng.standard_normal((n_rows, dim)).astype(np.float32)
    val = 0.95 - 0.15 * rng.beta(1.5, 6.0, n_rows)
    test = val - 0.01 * rng.random(n_rows)
    train_time = np.clip(rng.lognormal(np.log(1800.0), 0.45, n_rows), 300.0, 5500.0)
    return feats, val, test, train_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n-rows", type=int, default=423_624)
    parser.add_argument("--n-runs", type=int, default=500)
    parser.add_argument("--budget", type=float, default=1e6)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    feats, val, test, train_time = synthetic_space(args.n_rows, args.dim, args.seed)

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    res = reinforce_search(torch.from_numpy(feats), val, test, train_time, args.n_runs, args.budget,
                           args.seed, device, progress=False)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - start

    start = time.perf_counter()
    rnd = random_search(val, test, train_time, args.n_runs, args.budget, args.seed, progress=False)
    wall_random = time.perf_counter() - start

    steps = int(res.lengths.max())
    _, rl_test = final_regret(res, val.max(), test.max())
    _, rs_test = final_regret(rnd, val.max(), test.max())
    print(json.dumps({
        "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu",
        "torch_threads": torch.get_num_threads(),
        "n_rows": args.n_rows, "n_runs": args.n_runs, "budget_s": args.budget,
        "reinforce_wall_s": round(wall, 3),
        "steps": steps,
        "evaluations": int(res.lengths.sum()),
        "evaluations_per_s": round(float(res.lengths.sum()) / wall, 1),
        "ns_per_run_row_step": round(wall / (steps * args.n_runs * args.n_rows) * 1e9, 3),
        "random_search_wall_s": round(wall_random, 3),
        "mean_final_test_regret_reinforce": float(np.nanmean(rl_test)),
        "mean_final_test_regret_random": float(np.nanmean(rs_test)),
    }, indent=1))


if __name__ == "__main__":
    main()
