"""The thesis' plain regressors against the tuned ones, with and without the labeled networks held out.

Performance prediction on real latent features (`run_prediction`, the predict rule's protocol):
RMSE, Pearson r and Kendall tau over seeds for each regressor and n_train, in up to three settings
on the same seeds:

- ``before``: today's behaviour before the thesis' regressors were added: the scaled GP and SVR
  (now named gp-tuned, svr-tuned; same code) drawing training rows from every row;
- ``after``: the thesis' regressors (gp, svr, rf, gb: scikit-learn defaults on raw features) and
  the tuned ones, drawing training rows outside the labeled networks (remove_labeled);
- ``after-all-rows``: the thesis' gp and svr drawing from every row (separates the two changes).

The labeled networks are the hashes of a networks.csv when one is given (--networks) or the run has
one (--run), else a seeded random sample of --n-labeled rows with a known target (a stand-in, e.g.
for the 20k subset, whose run has no pretrained networks; the paper's 608 train + 77 valid = 685).
Features and target are files (--embeddings, --benchmark) or a workflow run's (--run, `infonas.runs`).

    python benchmarks/thesis_regressors.py --embeddings E.h5 --benchmark B.h5 --seeds 0 1 2 3 4 5 6 7 8 9
    python benchmarks/thesis_regressors.py --run default --variant scaling=axis0 --seeds 0 1 2

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from infonas.evaluation.benchmark import load_benchmark
from infonas.evaluation.embed import load_embedding, load_embedding_hashes
from infonas.evaluation.prediction_protocol import run_prediction
from infonas.nets.sampling import network_rows
from infonas.runs import add_run_arguments, embedding_inputs, run_from_arguments

SETTINGS = {
    "before": (["gp-tuned", "svr-tuned"], False),
    "after": (["gp", "svr", "rf", "gb", "gp-tuned", "svr-tuned"], True),
    "after-all-rows": (["gp", "svr"], False),
}
# n_train 250, 10 seeds, [RMSE, Pearson r] means; titled "test accuracy", its notebook read the validation-accuracy files
THESIS_TABLE_4_14 = {
    "gb": {"info-NAS": [0.03, 0.55], "arch2vec": [0.03, 0.52]},
    "gp": {"info-NAS": [0.06, 0.29], "arch2vec": [0.06, 0.29]},
    "rf": {"info-NAS": [0.02, 0.61], "arch2vec": [0.02, 0.58]},
    "svr": {"info-NAS": [0.06, 0.36], "arch2vec": [0.05, 0.40]},
}


def labeled_rows(args, networks, embeddings, target: np.ndarray) -> tuple[np.ndarray, str]:
    if networks:
        rows = network_rows(networks, load_embedding_hashes(embeddings), args.roles)
        return rows, f"{len(rows)} networks of roles {args.roles} in {networks}"
    known = np.flatnonzero(np.isfinite(target))
    rows = np.sort(np.random.default_rng(args.labeled_seed).choice(known, args.n_labeled, replace=False))
    return rows, f"seeded sample (seed {args.labeled_seed}) of {args.n_labeled} rows with a known target"


def summarise(frame) -> dict:
    out = {}
    for (regressor, n_train), part in frame.groupby(["regressor", "n_train"], sort=False):
        out.setdefault(regressor, {})[str(n_train)] = {
            metric: [round(float(part[metric].mean()), 4), round(float(part[metric].std(ddof=1)), 4)]
            for metric in ("rmse", "pearson_r", "kendall_tau")
        } | {"n_nan_correlations": int(part["pearson_r"].isna().sum())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embeddings", help="embeddings .h5 (default with --run: the run's)")
    parser.add_argument("--benchmark", help="benchmark.h5 (default with --run: the run's)")
    parser.add_argument("--encoder", default="arch2vec")
    parser.add_argument("--networks", default=None,
                        help="networks.csv of the run (default: the --run's, if any; else a seeded sample)")
    parser.add_argument("--roles", nargs="+", default=["train"], help="networks.csv roles held out")
    parser.add_argument("--n-labeled", type=int, default=685)
    parser.add_argument("--labeled-seed", type=int, default=608)
    parser.add_argument("--n-train", type=int, nargs="+", default=[100, 250, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--scoring", default="true>0.8", help="scoring protocol: all, true>T or both>T")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    add_run_arguments(parser, embeddings=True)
    args = parser.parse_args()
    embeddings, benchmark = embedding_inputs(args, parser)
    outputs = run_from_arguments(args)
    networks = args.networks or (outputs.networks() if outputs and outputs.has("networks") else None)

    x = load_embedding(embeddings, args.encoder)
    table = load_benchmark(benchmark)
    y, target = table.prediction_target()
    labeled, labeled_what = labeled_rows(args, networks, embeddings, y)
    results = {}
    for name in args.settings:
        regressors, hold_out = SETTINGS[name]
        start = time.perf_counter()
        frame = run_prediction(x, y, args.n_train, args.seeds, regressors, scoring=args.scoring,
                               exclude_from_training=labeled if hold_out else None)
        results[name] = {"remove_labeled": hold_out, "seconds": round(time.perf_counter() - start, 1),
                         "mean_std": summarise(frame)}
    print(json.dumps({
        "features": f"{embeddings}:{args.encoder} ({x.shape[0]} rows, {x.shape[1]}-d)",
        "target": f"{target}, {int(np.isfinite(y).sum())} rows known; {table.source}",
        "labeled": labeled_what, "n_train": args.n_train, "seeds": args.seeds, "scoring": args.scoring,
        "thesis_table_4_14": THESIS_TABLE_4_14,
        "settings": results,
    }, indent=1))


if __name__ == "__main__":
    main()
