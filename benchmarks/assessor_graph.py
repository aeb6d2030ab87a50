"""Semi-supervised assessor with and without relation-graph edges, side by side on real features.

Kendall tau (and RMSE, Pearson r) of the assessor at n_train labeled architectures, for each graph
variant on the same seeded splits (`run_prediction`, so the same protocol as the predict rule):

- ``derived-q<q>-tau<t>``: sigma "auto", the edge radius is the q quantile of each batch's pairwise
  distances and t the edge weight there (the default graph: q and t the `AssessorConfig`
  defaults; t = 1e-5 is the paper's tau);
- ``no-edges``: edge_quantile 0, the identity graph (the same model as an MLP with an auto-encoder
  term);
- ``paper-sigma``: sigma 0.01, tau 1e-5 on raw distances (the behaviour before sigma "auto").

Each variant also reports the mean number of neighbours per node and their summed edge weight
(a self-loop weighs 1) in the last training batch of its fits, read from the assessor's log records,
and every variant's Kendall tau minus that of the no-edge graph on the same seeds.
Features: one encoder of an embeddings file (rule embed); target: the benchmark table's prediction
target (rule benchmark_table); both given as files or found in a workflow run (`--run`, `infonas.runs`:
by default its first model and seed and the last evaluated epoch). The paper's Kendall tau at 1,000
labels on all of NB-101 is 0.6541.

    python benchmarks/assessor_graph.py --embeddings E.h5 --benchmark B.h5 --seeds 0 1 2
    python benchmarks/assessor_graph.py --run default --variant scaling=axis0 --seeds 0 1 2
    python benchmarks/assessor_graph.py ... --quantiles 0.003 0.01 0.03 --taus 1e-5 0.01 0.1   # sweep

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np
import torch

from infonas.evaluation.assessor import AssessorConfig
from infonas.evaluation.benchmark import load_benchmark
from infonas.evaluation.embed import load_embedding
from infonas.evaluation.prediction_protocol import run_prediction
from infonas.runs import add_run_arguments, embedding_inputs

PAPER_KTAU_1K = 0.6541


def variants(quantiles, taus, baselines: bool) -> dict[str, dict]:
    graphs = {f"derived-q{q:g}-tau{t:g}": {"edge_quantile": q, "tau": t} for q in quantiles for t in taus}
    if baselines:
        graphs.update({"no-edges": {"edge_quantile": 0.0}, "paper-sigma": {"sigma": 0.01, "tau": 1e-5}})
    return graphs


class DegreeLog(logging.Handler):
    """Neighbours per node that each fit logs for its last training batch (`_log_graph`)."""

    def __init__(self, last_step: int):
        super().__init__(logging.INFO)
        self.last_step, self.degrees, self.weights = last_step, [], []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("assessor step %d") and record.args[0] == self.last_step:
            self.degrees.append(float(record.args[1]))
            self.weights.append(float(record.args[2]))


def summary(frame) -> dict:
    """Mean, sample std and per-seed values of each metric."""
    out = {}
    for metric in ("kendall_tau", "pearson_r", "rmse"):
        values = frame[metric].to_numpy(dtype=float)
        std = float(values.std(ddof=1)) if len(values) > 1 else None
        out[metric] = {"mean": float(values.mean()), "std": std, "per_seed": [round(v, 4) for v in values]}
    return out


def paired_tau_gain(results: dict, baseline: str = "no-edges") -> dict:
    """Per-variant Kendall tau minus the baseline's on the same seeds (same splits): mean and std."""
    if baseline not in results:
        return {}
    base = np.array(results[baseline]["kendall_tau"]["per_seed"])
    gains = {}
    for name, res in results.items():
        diff = np.array(res["kendall_tau"]["per_seed"]) - base
        gains[name] = {"mean": round(float(diff.mean()), 4),
                       "std": round(float(diff.std(ddof=1)), 4) if len(diff) > 1 else None}
    return gains


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embeddings", help="embeddings .h5 (default with --run: the run's)")
    parser.add_argument("--benchmark", help="benchmark.h5 (default with --run: the run's)")
    parser.add_argument("--encoder", default="arch2vec")
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--quantiles", type=float, nargs="+", default=[AssessorConfig().edge_quantile])
    parser.add_argument("--taus", type=float, nargs="+", default=[AssessorConfig().tau],
                        help="edge weight at the derived radius (the paper's threshold tau)")
    parser.add_argument("--no-baselines", action="store_true", help="only the derived graphs")
    parser.add_argument("--n-unlabeled", type=int, default=5000)
    parser.add_argument("--scoring", default="true>0.8", help="scoring protocol: all, true>T or both>T")
    parser.add_argument("--steps", type=int, default=AssessorConfig().steps)
    parser.add_argument("--pretrain-steps", type=int, default=AssessorConfig().pretrain_steps)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    add_run_arguments(parser, embeddings=True)
    args = parser.parse_args()
    embeddings, benchmark = embedding_inputs(args, parser)
    torch.set_num_threads(args.threads)

    assessor_log = logging.getLogger("infonas.evaluation.assessor")
    assessor_log.setLevel(logging.INFO)
    x = load_embedding(embeddings, args.encoder)
    table = load_benchmark(benchmark)
    y, target = table.prediction_target()
    results = {}
    for name, graph in variants(args.quantiles, args.taus, not args.no_baselines).items():
        params = graph | {"steps": args.steps, "pretrain_steps": args.pretrain_steps}
        degrees = DegreeLog(args.steps - 1)
        assessor_log.addHandler(degrees)
        start = time.perf_counter()
        frame = run_prediction(x, y, [args.n_train], args.seeds, ["assessor"], scoring=args.scoring,
                               n_unlabeled=args.n_unlabeled, params={"assessor": params})
        assessor_log.removeHandler(degrees)
        results[name] = {
            "params": params,
            "seconds_per_fit": round((time.perf_counter() - start) / len(args.seeds), 1),
            "neighbours_per_node_last_batch": round(float(np.mean(degrees.degrees)), 2),
            "edge_weight_per_node_last_batch": round(float(np.mean(degrees.weights)), 4),
            **summary(frame),
        }
    print(json.dumps({
        "features": f"{embeddings}:{args.encoder} ({x.shape[0]} rows, {x.shape[1]}-d)",
        "target": f"{target}, {int(np.isfinite(y).sum())} rows known; {table.source}",
        "n_train": args.n_train, "seeds": args.seeds, "n_unlabeled": args.n_unlabeled, "scoring": args.scoring,
        "steps": args.steps, "pretrain_steps": args.pretrain_steps, "torch_threads": args.threads,
        "paper_kendall_tau_1k": PAPER_KTAU_1K,
        "variants": results,
        "kendall_tau_gain_over_no_edges": paired_tau_gain(results),
    }, indent=1))


if __name__ == "__main__":
    main()
