"""The performance-prediction experiment of arch2vec (Fig. 2), the info-NAS thesis (4.4) and paper (4.3).

For each regressor, n_train and seed: sample n_train architectures with a known target, fit the
regressor on their latent features, predict the remaining architectures and score only those
whose target exceeds `min_acc` (0.8 in all three sources, which use test accuracy; a benchmark
with only validation accuracy passes that as `target`). Scores: RMSE and Pearson's r as in the
sources, plus Kendall's tau (the semi-supervised assessor paper's ranking measure).

Rows listed in `exclude_from_training` are never drawn into a training sample but are still
scored: info-NAS's prediction script drew its training architectures only from networks outside
the IO dataset's train networks (the labeled ones), then scored every row outside the sample.

The training sample depends only on (seed, n_train), so all regressors see the same splits.
Regressors that learn from unlabeled rows (`Predictor.uses_unlabeled`) get the features of a
seeded sample of `n_unlabeled` rows outside the training sample (all of them when None): the
assessor paper's transductive setting, N_u = N - N_l, which includes the rows being scored (their
features, never their targets).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from infonas.errors import InfonasError
from infonas.evaluation.predictor import check_features
from infonas.evaluation.predictors import build_predictor

log = logging.getLogger(__name__)

COLUMNS = ["regressor", "n_train", "seed", "n_unlabeled", "n_eval", "rmse", "pearson_r", "kendall_tau",
           "constant_prediction"]
#: predictions whose spread is at most this fraction of their size are one value (rounding noise
#: would otherwise give a "correlation" of arbitrary sign)
CONSTANT_RTOL = 1e-12


def is_constant(y_pred) -> bool:
    """Whether a predictor predicted one value for every scored row (up to rounding, `CONSTANT_RTOL`):
    Pearson's r and Kendall's tau are undefined then (scikit-learn's default SVR does so on raw
    accuracies, which lie inside its 0.1 epsilon tube), and reports say "constant" instead of a number."""
    p = np.asarray(y_pred, dtype=np.float64)
    return bool(p.size >= 2 and np.ptp(p) <= CONSTANT_RTOL * max(1.0, float(np.abs(p).max())))


def prediction_metrics(y_true, y_pred) -> dict[str, float]:
    """RMSE, Pearson's r and Kendall's tau (tau-b) of predictions; r and tau are NaN when undefined
    (fewer than two rows, or constant targets or predictions: see `is_constant`)."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    rmse = float(np.sqrt(np.mean((p - t) ** 2))) if t.size else float("nan")
    if t.size < 2 or np.ptp(t) == 0 or is_constant(p):
        return {"rmse": rmse, "pearson_r": float("nan"), "kendall_tau": float("nan")}
    return {
        "rmse": rmse,
        "pearson_r": float(stats.pearsonr(t, p).statistic),
        "kendall_tau": float(stats.kendalltau(t, p).statistic),
    }


def training_pool(target: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Rows a training sample may draw: a known target and not in `exclude` (row indices)."""
    eligible = ~np.isnan(target)
    if exclude is not None:
        eligible[exclude] = False
    return np.flatnonzero(eligible)


def split_indices(
    target: np.ndarray,
    n_train: int,
    rng: np.random.Generator,
    min_acc: float,
    exclude: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(train, eval) row indices: n_train random rows of the `training_pool`; eval = every other
    known row > min_acc (excluded rows included)."""
    train = np.sort(rng.choice(training_pool(target, exclude), n_train, replace=False))
    is_eval = ~np.isnan(target) & (np.nan_to_num(target, nan=-np.inf) > min_acc)
    is_eval[train] = False
    return train, np.flatnonzero(is_eval)


def _check_inputs(features, target, n_train_list, seeds, regressors, n_unlabeled, exclude):
    x = check_features(features, "run_prediction features")
    y = np.asarray(target, dtype=np.float64)
    if y.shape != (x.shape[0],):
        raise InfonasError(f"run_prediction target: expected shape ({x.shape[0]},) to match features, got {y.shape}")
    if np.isinf(y).any():
        raise InfonasError("run_prediction target: contains infinite values (use NaN for unknown)")
    if not regressors:
        raise InfonasError("run_prediction regressors: empty list")
    for name, values in (("n_train", n_train_list), ("seeds", seeds)):
        if not values or any(int(v) != v for v in values):
            raise InfonasError(f"run_prediction {name}: need a non-empty list of integers, got {list(values)}")
    if any(n < 2 for n in n_train_list):
        raise InfonasError(f"run_prediction n_train: every value must be >= 2, got {list(n_train_list)}")
    if n_unlabeled is not None and n_unlabeled < 0:
        raise InfonasError(f"run_prediction n_unlabeled: must be >= 0 or None, got {n_unlabeled}")
    rows = np.asarray([] if exclude is None else exclude)
    if rows.size and (rows.dtype.kind not in "iu" or rows.min() < 0 or rows.max() >= x.shape[0]):
        raise InfonasError(f"run_prediction exclude_from_training: need row indices in [0, {x.shape[0]}), got {rows}")
    return x, y, rows.astype(np.int64)


def run_prediction(
    features,
    target,
    n_train_list: Sequence[int],
    seeds: Sequence[int],
    regressors: Sequence[str],
    min_acc: float = 0.8,
    n_unlabeled: int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = False,
    exclude_from_training: Sequence[int] | np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per (regressor, n_train, seed) with the columns of `COLUMNS`.

    features (N, d) latent features; target (N,) accuracy with NaN where unknown (such rows are
    neither trained on nor scored); params maps a regressor name to hyperparameter overrides;
    exclude_from_training: row indices never trained on (still scored), e.g. the labeled networks.
    An n_train not below the size of the training pool is skipped with a warning; an empty pool
    is an error.
    """
    x, y, exclude = _check_inputs(
        features, target, n_train_list, seeds, regressors, n_unlabeled, exclude_from_training
    )
    params = dict(params or {})
    for name in regressors:  # fail on a bad name or hyperparameter before any fitting
        build_predictor(name, params.get(name), seed=0)
    n_pool = training_pool(y, exclude).size
    if n_pool == 0:
        raise InfonasError(
            f"run_prediction: no row to train on ({int((~np.isnan(y)).sum())} rows have a known target, "
            f"{exclude.size} rows are excluded from training)"
        )
    log.info("run_prediction: %d rows can be trained on (%d excluded from training)", n_pool, exclude.size)
    sizes = []
    for n in n_train_list:
        if n >= n_pool:
            log.warning("run_prediction: skipping n_train=%d, only %d rows can be trained on", n, n_pool)
        else:
            sizes.append(int(n))
    jobs = [(r, n, int(s)) for r in regressors for n in sizes for s in seeds]
    rows = [
        _one_run(x, y, r, n, s, min_acc, n_unlabeled, params.get(r), exclude)
        for r, n, s in tqdm(jobs, desc="prediction", disable=not progress)
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _one_run(x, y, name, n_train, seed, min_acc, n_unlabeled, params, exclude) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    train, evaluate = split_indices(y, n_train, rng, min_acc, exclude)
    predictor = build_predictor(name, params, seed=seed)
    x_unl = None
    if predictor.uses_unlabeled:
        rest = np.setdiff1d(np.arange(x.shape[0]), train, assume_unique=True)
        take = rest.size if n_unlabeled is None else min(n_unlabeled, rest.size)
        x_unl = x[np.sort(rng.choice(rest, take, replace=False))]
    predictor.fit(x[train], y[train], x_unlabeled=x_unl)
    if evaluate.size < 2:
        log.warning(
            "run_prediction: %s n_train=%d seed=%d has %d rows above min_acc=%g to score (correlations NaN)",
            name, n_train, seed, evaluate.size, min_acc,
        )
    y_pred = predictor.predict(x[evaluate]) if evaluate.size else np.empty(0)
    scores = prediction_metrics(y[evaluate], y_pred)
    row = {
        "regressor": name,
        "n_train": n_train,
        "seed": seed,
        "n_unlabeled": 0 if x_unl is None else len(x_unl),
        "n_eval": int(evaluate.size),
        **scores,
        "constant_prediction": is_constant(y_pred),
    }
    log.info(
        "prediction %s n_train=%d seed=%d: rmse %.4f r %.3f tau %.3f",
        name, n_train, seed, row["rmse"], row["pearson_r"], row["kendall_tau"],
    )
    return row
