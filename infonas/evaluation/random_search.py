"""Random search on NAS-Bench-101: the baseline every search curve is compared against.

Each run evaluates architectures in a uniformly random order without repetition, summing their
NB-101 training times, and stops with the evaluation that brings the total to the budget (the same
stopping rule as the REINFORCE search, so both curves cover the same time axis).
"""

from __future__ import annotations

import logging

import numpy as np
from tqdm.auto import tqdm

from infonas.errors import InfonasError
from infonas.evaluation.regret import SearchResult, as_float64, pack_runs, run_seeds, searchable_rows

logger = logging.getLogger(__name__)


def random_search(
    val_acc,
    test_acc,
    train_time,
    n_runs: int,
    budget_s: float,
    seed: int,
    progress: bool = True,
) -> SearchResult:
    """n_runs independent random searches of `budget_s` summed training seconds each.

    Rows with a NaN metric are never drawn. Run r uses its own generator seeded by
    `run_seeds(seed, n_runs)[r]`, so a run does not depend on how many others were requested.
    """
    if n_runs < 1 or not budget_s > 0:
        raise InfonasError(f"random search: need n_runs >= 1 and budget_s > 0, got {n_runs}, {budget_s}")
    val = as_float64(val_acc, "val_acc")
    test = as_float64(test_acc, "test_acc")
    time = as_float64(train_time, "train_time")
    rows = searchable_rows(val, test, time)
    row_time = time[rows]
    sequences = []
    for run_seed in tqdm(run_seeds(seed, n_runs), desc="random search", disable=not progress):
        order = np.random.default_rng(run_seed).permutation(rows.size)
        spent = np.cumsum(row_time[order])
        n = min(int(np.searchsorted(spent, budget_s, side="left")) + 1, rows.size)
        sequences.append(rows[order[:n]])
    result = pack_runs(
        "random", sequences, val, test, time, budget_s, seed,
        settings={"n_searchable_rows": int(rows.size)},
    )
    logger.info("random search: %d runs, %.1f evaluations per run on average",
                n_runs, result.lengths.mean())
    return result
