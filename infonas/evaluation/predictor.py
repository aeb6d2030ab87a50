"""The interface every performance predictor implements, and the checks of its inputs.

The n_train x seed sweep (`prediction_protocol.run_prediction`) treats every regressor the same
way, so each one is a `Predictor`: `fit(x_train, y_train, x_unlabeled=None)` then `predict(x)`.
Only the semi-supervised assessor (`uses_unlabeled = True`) reads `x_unlabeled`; the supervised
regressors accept and ignore it so the sweep needs no special case. Kept apart from the registry
(`predictors`) so that a predictor's module and the registry that builds it do not import each other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from infonas.errors import InfonasError


class Predictor(ABC):
    """Regressor from feature rows (N, d) to one score per row (N,)."""

    uses_unlabeled: ClassVar[bool] = False
    """True if `fit` learns from `x_unlabeled` (the sweep then passes unlabeled rows)."""

    @abstractmethod
    def fit(
        self, x_train: np.ndarray, y_train: np.ndarray, x_unlabeled: np.ndarray | None = None
    ) -> "Predictor":
        """Learn from labeled rows (and unlabeled ones where `uses_unlabeled`); return self."""

    @abstractmethod
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores (N,) float64 for rows x (N, d) with the d seen in `fit`."""

    def feature_problem(self, x: np.ndarray) -> str | None:
        """Why this predictor cannot read feature rows x, or None. Every predictor reads any
        features except the assessor on cell matrices, which needs raw cell features: the sweep
        skips a predictor on features it cannot read, so one regressor list serves every encoder."""
        return None


def check_features(x, what: str, n_features: int | None = None) -> np.ndarray:
    """x as a finite float64 (N, d) array, or InfonasError naming `what`."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InfonasError(f"{what}: expected a non-empty 2-D array (N, d), got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise InfonasError(f"{what}: expected {n_features} features (as in fit), got {arr.shape[1]}")
    if not np.isfinite(arr).all():
        raise InfonasError(f"{what}: contains NaN or infinite values")
    return arr


def check_target(y, n_rows: int, what: str) -> np.ndarray:
    """y as a finite float64 (n_rows,) array, or InfonasError naming `what`."""
    arr = np.asarray(y, dtype=np.float64)
    if arr.shape != (n_rows,):
        raise InfonasError(f"{what}: expected shape ({n_rows},) to match the features, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise InfonasError(f"{what}: contains NaN or infinite values")
    return arr
