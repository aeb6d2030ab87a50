"""Final regret of arch2vec REINFORCE with discount 0 (arch2vec's released code) vs 0.8 (its paper's
prose), against random search, on one encoder's latent features and a benchmark table.

arch2vec's search_methods/reinforce.py computes discounted sums with 0.8 and then overwrites them with
the raw rewards before the update, so its published runs used G_t = r_t; the schema default
`evaluate.reinforce.discount: 0.0` follows that code. Both discounts run here with the same seed,
so run r starts from the same architecture with the same controller weights and noise stream in
both and the comparison is paired run by run; random search uses the same seed too.

    python benchmarks/reinforce_discount.py --embeddings E.h5 --benchmark B.h5 --encoder arch2vec
    python benchmarks/reinforce_discount.py --run subset20k --encoder arch2vec   # a workflow run's files

With `--run` (`infonas.runs`) the embeddings are its first model's, first seed's, last evaluated epoch's
unless --model, --train-seed, --epoch say otherwise.

Everything else is the search's defaults (the paper's): budget 1e6 s, 16 steps per episode, baseline
0.95, Adam 1e-2, 128 hidden units, 500 runs. Regret is measured against the best validation (and
test) accuracy of the searchable rows, at the budget. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from infonas.evaluation.benchmark import load_benchmark
from infonas.evaluation.embed import load_embedding
from infonas.evaluation.random_search import random_search
from infonas.evaluation.regret import SearchResult, final_regret
from infonas.evaluation.reinforce import reinforce_search
from infonas.reporting.stages import best_accuracies
from infonas.runs import add_run_arguments, embedding_inputs
from infonas.runtime import resolve_device


def spread(values: np.ndarray) -> dict:
    """Mean, std, median, quartiles, extremes and the share of exact hits of the finite values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"n": 0}
    q1, median, q3 = np.percentile(v, [25, 50, 75])
    return {"n": int(v.size), "mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "median": float(median), "q1": float(q1), "q3": float(q3), "min": float(v.min()),
            "max": float(v.max()), "fraction_zero": float(np.mean(v == 0.0))}


def summary(result: SearchResult, best_val: float, best_test: float, wall_s: float) -> dict:
    val, test = final_regret(result, best_val, best_test)
    return {"final_val_regret": spread(val), "final_test_regret": spread(test),
            "evaluations_per_run": float(result.lengths.mean()), "wall_s": round(wall_s, 1)}


def paired(a: SearchResult, b: SearchResult, best_val: float) -> dict:
    """Run-by-run difference of final validation regret (a - b): mean, its standard error, win counts."""
    d = final_regret(a, best_val, np.nan)[0] - final_regret(b, best_val, np.nan)[0]
    d = d[np.isfinite(d)]
    return {"mean": float(d.mean()), "standard_error": float(d.std(ddof=1) / np.sqrt(d.size)),
            "a_lower": int((d < 0).sum()), "b_lower": int((d > 0).sum()), "ties": int((d == 0).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embeddings", help="embeddings .h5 (infonas.evaluation.embed; with --run: the run's)")
    parser.add_argument("--benchmark", help="benchmark.h5 (infonas.evaluation.benchmark; with --run: the run's)")
    parser.add_argument("--encoder", default="arch2vec")
    parser.add_argument("--discounts", type=float, nargs="+", default=[0.0, 0.8])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--budget", type=float, default=1e6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    add_run_arguments(parser, embeddings=True)
    args = parser.parse_args()
    embeddings, benchmark = embedding_inputs(args, parser)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    features = load_embedding(embeddings, args.encoder)
    table = load_benchmark(benchmark)
    best_val, best_test = best_accuracies(table)
    metrics = (table.val_acc, table.test_acc, table.train_time)

    results, out = {}, {}
    for discount in args.discounts:
        tic = time.perf_counter()
        results[discount] = reinforce_search(features, *metrics, args.runs, args.budget, args.seed, device,
                                             discount=discount)
        out[f"reinforce_discount_{discount:g}"] = summary(results[discount], best_val, best_test,
                                                          time.perf_counter() - tic)
    tic = time.perf_counter()
    rnd = random_search(*metrics, args.runs, args.budget, args.seed)
    out["random_search"] = summary(rnd, best_val, best_test, time.perf_counter() - tic)
    first, *others = args.discounts
    for other in others:
        out[f"paired_val_regret_discount_{first:g}_minus_{other:g}"] = paired(results[first], results[other],
                                                                             best_val)
    print(json.dumps({
        "embeddings": str(embeddings), "encoder": args.encoder, "benchmark": str(benchmark),
        "benchmark_source": table.source, "n_searchable_rows": results[first].settings["n_searchable_rows"],
        "best_val": best_val, "best_test": best_test if np.isfinite(best_test) else None,
        "runs": args.runs, "budget_s": args.budget,
        "seed": args.seed, "device": device, "torch_threads": torch.get_num_threads(), **out,
    }, indent=2))


if __name__ == "__main__":
    main()
