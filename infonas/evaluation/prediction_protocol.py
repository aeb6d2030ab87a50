"""The performance-prediction experiment of arch2vec (Fig. 2), the info-NAS thesis (4.4) and paper (4.3).

For each regressor, n_train and seed: sample n_train architectures with a known target, fit the
regressor on their latent features, predict the remaining architectures and score those the
scoring protocol keeps (`ScoringProtocol`, named in every table):

- ``true>0.8`` rows whose true target exceeds 0.8: info-NAS's prediction script (thesis 4.4,
  paper 4.3) and the default here;
- ``both>0.8`` pairs whose true and predicted target both exceed 0.8: arch2vec's released Fig. 2
  plot (its numbers r 0.67 / RMSE 0.018 are on those pairs);
- ``all`` every remaining row: the semi-supervised assessor paper's protocol.

The target is test accuracy where the benchmark has it, else validation accuracy, in either case
the mean over the benchmark's training repeats (`benchmark.BenchmarkTable`). Scores: RMSE and
Pearson's r as in the sources, plus Kendall's tau (the assessor paper's ranking measure).

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
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from infonas.errors import InfonasError
from infonas.evaluation.predictor import check_features
from infonas.evaluation.predictors import build_predictor

log = logging.getLogger(__name__)

COLUMNS = ["regressor", "scoring", "n_train", "seed", "n_unlabeled", "n_eval", "rmse", "pearson_r", "kendall_tau",
           "constant_prediction"]
PAIR_COLUMNS = ["regressor", "n_train", "seed", "row", "true", "predicted"]
#: the default scoring protocol: info-NAS's (rows whose true target exceeds 0.8)
DEFAULT_SCORING = "true>0.8"
_SCORING = re.compile(r"(all)|(true|both)>(0(?:\.[0-9]+)?|1(?:\.0+)?)")


@dataclass(frozen=True)
class ScoringProtocol:
    """Which predicted rows are scored: every one (`all`), those whose true target exceeds a
    threshold (`true>t`), or the pairs whose true and predicted target both exceed it (`both>t`).

    The sources differ here and the numbers are not comparable across protocols (scoring only good
    architectures removes most of the target's spread), so every table names the one it used.
    """

    kind: str  # all | true | both
    threshold: float | None

    @classmethod
    def parse(cls, text: str) -> "ScoringProtocol":
        match = _SCORING.fullmatch(str(text).strip())
        if not match:
            raise InfonasError(
                f"evaluate.predict.scoring: {text!r} is not a scoring protocol (all, true>T or both>T with 0 <= T <= 1)"
            )
        if match.group(1):
            return cls("all", None)
        return cls(match.group(2), float(match.group(3)))

    @property
    def name(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}>{self.threshold:g}"

    def candidates(self, target: np.ndarray) -> np.ndarray:
        """Mask of rows worth predicting: known target, and above the threshold for `true>t`."""
        known = ~np.isnan(target)
        if self.kind != "true":
            return known
        return known & (np.nan_to_num(target, nan=-np.inf) > self.threshold)

    def scored(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """Mask of the predicted candidates that are scored (only `both>t` looks at the predictions)."""
        keep = np.ones(len(y_true), dtype=bool)
        if self.kind == "both":
            keep &= (np.asarray(y_true) > self.threshold) & (np.asarray(y_pred) > self.threshold)
        return keep

    def describe(self) -> str:
        """The protocol in words, for captions."""
        if self.kind == "all":
            return "every row outside the training sample is scored (all)"
        who = "true accuracy" if self.kind == "true" else "true and predicted accuracy"
        return f"rows outside the training sample whose {who} exceed {self.threshold:g} are scored ({self.name})"
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
    scoring: ScoringProtocol | str = DEFAULT_SCORING,
    exclude: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(train, eval) row indices: n_train random rows of the `training_pool`; eval = every other
    row the protocol's `candidates` keeps (excluded rows included)."""
    protocol = scoring if isinstance(scoring, ScoringProtocol) else ScoringProtocol.parse(scoring)
    train = np.sort(rng.choice(training_pool(target, exclude), n_train, replace=False))
    is_eval = protocol.candidates(target)
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
    scoring: str = DEFAULT_SCORING,
    n_unlabeled: int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = False,
    exclude_from_training: Sequence[int] | np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per (regressor, n_train, seed) with the columns of `COLUMNS`.

    features (N, d) latent features; target (N,) accuracy with NaN where unknown (such rows are
    neither trained on nor scored); scoring: the `ScoringProtocol` by name; params maps a regressor name to hyperparameter overrides;
    exclude_from_training: row indices never trained on (still scored), e.g. the labeled networks.
    An n_train not below the size of the training pool is skipped with a warning; an empty pool
    is an error.
    """
    x, y, exclude = _check_inputs(
        features, target, n_train_list, seeds, regressors, n_unlabeled, exclude_from_training
    )
    protocol = ScoringProtocol.parse(scoring)
    params = dict(params or {})
    readable = []
    for name in regressors:  # fail on a bad name or hyperparameter before any fitting
        problem = build_predictor(name, params.get(name), seed=0).feature_problem(x)
        if problem:
            log.warning("run_prediction: skipping regressor '%s' on these features: %s", name, problem)
        else:
            readable.append(name)
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
    jobs = [(r, n, int(s)) for r in readable for n in sizes for s in seeds]
    rows = [
        _one_run(x, y, r, n, s, protocol, n_unlabeled, params.get(r), exclude)
        for r, n, s in tqdm(jobs, desc="prediction", disable=not progress)
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _fit_predict(x, y, name, n_train, seed, protocol, n_unlabeled, params, exclude):
    """(rows predicted, their predictions, unlabeled rows seen) of one fit: the sample depends only
    on (seed, n_train), so every protocol and regressor trains on the same rows."""
    rng = np.random.default_rng(seed)
    train, evaluate = split_indices(y, n_train, rng, protocol, exclude)
    predictor = build_predictor(name, params, seed=seed)
    x_unl = None
    if predictor.uses_unlabeled:
        rest = np.setdiff1d(np.arange(x.shape[0]), train, assume_unique=True)
        take = rest.size if n_unlabeled is None else min(n_unlabeled, rest.size)
        x_unl = x[np.sort(rng.choice(rest, take, replace=False))]
    predictor.fit(x[train], y[train], x_unlabeled=x_unl)
    y_pred = predictor.predict(x[evaluate]) if evaluate.size else np.empty(0)
    return evaluate, y_pred, 0 if x_unl is None else len(x_unl)


def prediction_pairs(
    features,
    target,
    n_train: int,
    seeds: Sequence[int],
    regressors: Sequence[str],
    n_unlabeled: int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    exclude_from_training: Sequence[int] | np.ndarray | None = None,
) -> pd.DataFrame:
    """True and predicted target of every known row outside the training sample, per regressor and
    seed (arch2vec Fig. 2's scatter): columns regressor, n_train, seed, row, true, predicted. The
    samples are those of `run_prediction` for the same seeds; `pair_scores` scores the pairs under
    any protocol, so one set of fits gives the numbers of every source."""
    x, y, exclude = _check_inputs(features, target, [n_train], seeds, regressors, n_unlabeled, exclude_from_training)
    protocol, frames = ScoringProtocol.parse("all"), []
    n_pool = training_pool(y, exclude).size
    if n_train >= n_pool:
        log.warning("prediction_pairs: no pairs, n_train=%d is not below the %d rows that can be trained on",
                    n_train, n_pool)
        return pd.DataFrame(columns=PAIR_COLUMNS)
    for name in regressors:
        problem = build_predictor(name, (params or {}).get(name), seed=0).feature_problem(x)
        if problem:
            log.warning("prediction_pairs: skipping regressor '%s' on these features: %s", name, problem)
            continue
        for seed in seeds:
            rows, y_pred, _ = _fit_predict(x, y, name, int(n_train), int(seed), protocol, n_unlabeled,
                                           (params or {}).get(name), exclude)
            frames.append(pd.DataFrame({"regressor": name, "n_train": int(n_train), "seed": int(seed), "row": rows,
                                        "true": y[rows], "predicted": y_pred}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PAIR_COLUMNS)


def pair_scores(pairs: pd.DataFrame, scoring: str) -> dict[str, float]:
    """RMSE, Pearson's r and Kendall's tau of `prediction_pairs` rows (pooled) under a protocol."""
    protocol = ScoringProtocol.parse(scoring)
    true, predicted = pairs["true"].to_numpy(np.float64), pairs["predicted"].to_numpy(np.float64)
    keep = protocol.candidates(true) & protocol.scored(true, predicted)
    return {**prediction_metrics(true[keep], predicted[keep]), "n": int(keep.sum())}


def _one_run(x, y, name, n_train, seed, protocol, n_unlabeled, params, exclude) -> dict[str, Any]:
    evaluate, y_pred, n_unl = _fit_predict(x, y, name, n_train, seed, protocol, n_unlabeled, params, exclude)
    keep = protocol.scored(y[evaluate], y_pred)
    y_true, y_pred = y[evaluate][keep], y_pred[keep]
    if y_true.size < 2:
        log.warning(
            "run_prediction: %s n_train=%d seed=%d has %d rows to score under %s (correlations NaN)",
            name, n_train, seed, y_true.size, protocol.name,
        )
    scores = prediction_metrics(y_true, y_pred)
    row = {
        "regressor": name,
        "scoring": protocol.name,
        "n_train": n_train,
        "seed": seed,
        "n_unlabeled": n_unl,
        "n_eval": int(y_true.size),
        **scores,
        "constant_prediction": is_constant(y_pred),
    }
    log.info(
        "prediction %s n_train=%d seed=%d: rmse %.4f r %.3f tau %.3f",
        name, n_train, seed, row["rmse"], row["pearson_r"], row["kendall_tau"],
    )
    return row
