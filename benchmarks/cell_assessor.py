"""The semi-supervised assessor on cell matrices against the assessor paper's number.

The paper (Tang et al., Table 4) reports Kendall tau 0.6541 with 1,000 labeled NB-101 cells, the
unlabeled pool being every other cell (N_u = N - N_l) and every remaining cell scored. This script
runs the same protocol on the cells that have metrics: the enumerated NB-101 space (the cells
cache the workflow writes, enumerated when absent) joined with a metrics CSV (default: the
packaged 20k subset), the target the benchmark table's (test accuracy, else validation accuracy,
mean over repeats). Features: the raw cell features (21 upper-triangle adjacency entries + 7x5
one-hot ops), which `assessor-cells` reads as matrices and the other regressors as a vector.

    python benchmarks/cell_assessor.py --n-train 1000 --seeds 0 1 2 --scoring all

prints JSON: per regressor the mean and std over seeds of tau, r and RMSE, and the seconds taken.
"""
import argparse
import json
import logging
import time

import numpy as np
import torch

from infonas.evaluation.benchmark import from_searchspace
from infonas.evaluation.prediction_protocol import run_prediction
from infonas.searchspace import ops as O
from infonas.searchspace.cells import one_hot_ops
from infonas.searchspace.enumerate import load_or_enumerate
from infonas.searchspace.metrics import BUILTIN, join_metrics_csv
from infonas.searchspace.store import keep_rows_with_metrics

PAPER_KTAU_1K = 0.6541
PAPER_R_1K = 0.5240


def raw_features(adjacency: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """(N, 7, 7) padded adjacency and (N, 7) op codes -> (N, 56): upper triangle row by row, then one-hot ops."""
    upper = np.triu_indices(O.MAX_VERTICES, k=1)
    return np.concatenate([adjacency[:, upper[0], upper[1]].astype(np.float64),
                           one_hot_ops(ops).reshape(len(ops), -1)], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells-cache", default="results/_cache/nb101_cells.h5")
    parser.add_argument("--max-vertices", type=int, default=O.MAX_VERTICES, help="smaller: a part of the space (tests)")
    parser.add_argument("--metrics-csv", default=BUILTIN)
    parser.add_argument("--regressors", nargs="+", default=["assessor-cells"])
    parser.add_argument("--n-train", type=int, nargs="+", default=[1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scoring", default="all", help="scoring protocol: all, true>T or both>T")
    parser.add_argument("--n-unlabeled", type=int, default=None, help="default: every other row (N_u = N - N_l)")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--pretrain-epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    space = keep_rows_with_metrics(join_metrics_csv(load_or_enumerate(args.cells_cache, args.max_vertices),
                                                   args.metrics_csv))
    table = from_searchspace(space)
    target, name = table.prediction_target()
    x = raw_features(space["adjacency"], space["ops"])
    params = {"assessor-cells": {"epochs": args.epochs, "pretrain_epochs": args.pretrain_epochs}}
    start = time.perf_counter()
    frame = run_prediction(x, target, args.n_train, args.seeds, args.regressors, scoring=args.scoring,
                           n_unlabeled=args.n_unlabeled, params=params)
    results = {}
    for (regressor, n_train), part in frame.groupby(["regressor", "n_train"], sort=False):
        results[f"{regressor} n_train={n_train}"] = {
            metric: {"mean": round(float(part[metric].mean()), 4), "std": round(float(part[metric].std()), 4)}
            for metric in ("kendall_tau", "pearson_r", "rmse")} | {"n_eval": int(part["n_eval"].iloc[0]),
                                                                     "n_unlabeled": int(part["n_unlabeled"].iloc[0])}
    print(json.dumps({
        "rows": int(x.shape[0]), "target": f"{name}, mean of {table.target_repeats} repeat(s)",
        "scoring": args.scoring, "seeds": args.seeds, "epochs": args.epochs, "pretrain_epochs": args.pretrain_epochs,
        "seconds": round(time.perf_counter() - start, 1), "torch_threads": args.threads,
        "paper_kendall_tau_1k": PAPER_KTAU_1K, "paper_pearson_r_1k": PAPER_R_1K, "results": results,
    }, indent=1))


if __name__ == "__main__":
    main()
