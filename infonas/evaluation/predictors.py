"""Performance predictors on latent features: the registry of regressors by name.

Every regressor is an `infonas.evaluation.predictor.Predictor` (fit, then predict), so the n_train x
seed sweep (`prediction_protocol.run_prediction`) treats them all the same way.

Registry names are the config's regressor names. The four of the thesis (Table 4.14) are what
info-NAS's prediction script built: scikit-learn estimators with their own defaults, fitted on the
raw latent features and raw accuracies (no scaling); only the forest's n_estimators (100) and
max_features ("auto", i.e. all features) were passed explicitly, both sklearn's defaults.

- ``rf``  RandomForestRegressor. Defaults: n_estimators 100, max_depth None, max_features 1.0,
  min_samples_leaf 1, n_jobs 1.
- ``gb``  GradientBoostingRegressor. Defaults: n_estimators 100, learning_rate 0.1, max_depth 3,
  subsample 1.0, min_samples_leaf 1.
- ``gp``  GaussianProcessRegressor() as in the thesis: the default kernel of the scikit-learn it
  ran on, 1.0 * RBF(1.0) with both hyperparameters fixed, so nothing is optimised (scikit-learn
  1.9 optimises its default kernel, PR #32964, so the old one is passed explicitly); alpha 1e-10;
  zero prior mean (normalize_y False; True is the original script's ``gp_norm``). Predictions
  away from the training rows fall back towards 0, which is why it scored poorly in the thesis.
- ``svr`` SVR() as in the thesis: kernel "rbf", C 1.0, epsilon 0.1, gamma "scale", on raw
  accuracies, whose spread (~0.05) lies inside the 0.1 epsilon tube: nearly constant predictions.
- ``gp-tuned``  GaussianProcessRegressor on standardised features with the optimised kernel
  ConstantKernel * RBF(length_scale) + WhiteKernel(noise_level), normalize_y. Defaults:
  length_scale 1.0, noise_level 0.1, ard False (one length scale per feature when True),
  n_restarts_optimizer 0. Exact GP: O(n_train^3) time, O(n_train^2) memory.
- ``svr-tuned`` SVR on standardised features and standardised target. Defaults: kernel "rbf",
  C 1.0, epsilon 0.1 (in target standard deviations), gamma "scale".
- ``assessor`` the semi-supervised GCN assessor on the given features through an MLP
  auto-encoder, see `infonas.evaluation.assessor`.
- ``assessor-cells`` the same assessor as its paper builds it: reads the cell's adjacency and
  one-hot ops through a graph-convolutional auto-encoder, so it runs on raw cell features only
  (the sweep skips it on an encoder's latent features), see `infonas.evaluation.cell_assessor`.

Each entry is a factory: nothing is constructed (and torch is not imported) until
`build_predictor` is called with that name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from infonas.errors import InfonasError
from infonas.evaluation.predictor import Predictor, check_features, check_target


class SklearnPredictor(Predictor):
    """A scikit-learn estimator behind the `Predictor` interface.

    The estimator is made at fit time by `make_estimator(n_features)` because some settings
    (the GP's per-feature length scales) depend on the feature width.
    """

    def __init__(self, name: str, make_estimator: Callable[[int], Any]):
        self.name = name
        self._make_estimator = make_estimator
        self._estimator = None
        self._n_features: int | None = None

    def fit(self, x_train, y_train, x_unlabeled=None) -> "SklearnPredictor":
        x = check_features(x_train, f"predictor '{self.name}' x_train")
        y = check_target(y_train, x.shape[0], f"predictor '{self.name}' y_train")
        if x.shape[0] < 2:
            raise InfonasError(f"predictor '{self.name}': need at least 2 training rows, got {x.shape[0]}")
        estimator = self._make_estimator(x.shape[1])
        try:
            estimator.fit(x, y)
        except ValueError as err:
            if type(err).__name__ != "InvalidParameterError":
                raise
            raise InfonasError(f"predictor '{self.name}': bad hyperparameter: {err}") from err
        self._estimator, self._n_features = estimator, x.shape[1]
        return self

    def predict(self, x) -> np.ndarray:
        if self._estimator is None:
            raise InfonasError(f"predictor '{self.name}': predict called before fit")
        arr = check_features(x, f"predictor '{self.name}' x", self._n_features)
        return np.asarray(self._estimator.predict(arr), dtype=np.float64).reshape(-1)


def _random_forest(p: dict, seed: int) -> Predictor:
    return SklearnPredictor("rf", lambda d: RandomForestRegressor(random_state=seed, **p))


def _gradient_boosting(p: dict, seed: int) -> Predictor:
    return SklearnPredictor("gb", lambda d: GradientBoostingRegressor(random_state=seed, **p))


def _plain_gaussian_process(p: dict, seed: int) -> Predictor:
    def make(n_features: int):
        kernel = ConstantKernel(1.0, "fixed") * RBF(1.0, "fixed")  # the default up to sklearn 1.8
        return GaussianProcessRegressor(kernel, random_state=seed, **p)

    return SklearnPredictor("gp", make)


def _plain_support_vector(p: dict, seed: int) -> Predictor:
    return SklearnPredictor("svr", lambda d: SVR(**p))


def _tuned_gaussian_process(p: dict, seed: int) -> Predictor:
    def make(n_features: int):
        scale = np.full(n_features, p["length_scale"]) if p["ard"] else p["length_scale"]
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(scale, (1e-2, 1e3)) + WhiteKernel(
            p["noise_level"], (1e-8, 1e1)
        )
        gp = GaussianProcessRegressor(
            kernel, normalize_y=True, n_restarts_optimizer=p["n_restarts_optimizer"], random_state=seed
        )
        return make_pipeline(StandardScaler(), gp)

    return SklearnPredictor("gp-tuned", make)


def _tuned_support_vector(p: dict, seed: int) -> Predictor:
    def make(n_features: int):
        svr = make_pipeline(StandardScaler(), SVR(**p))
        return TransformedTargetRegressor(regressor=svr, transformer=StandardScaler())

    return SklearnPredictor("svr-tuned", make)


def _assessor(p: dict, seed: int) -> Predictor:
    from infonas.evaluation.assessor import SemiSupervisedAssessor  # lazy: the registry imports no torch

    return SemiSupervisedAssessor(p, seed=seed)


def _assessor_defaults() -> dict[str, Any]:
    from infonas.evaluation.assessor import AssessorConfig  # lazy: the registry imports no torch

    return asdict(AssessorConfig())


def _cell_assessor(p: dict, seed: int) -> Predictor:
    from infonas.evaluation.cell_assessor import CellAssessor  # lazy: the registry imports no torch

    return CellAssessor(p, seed=seed)


def _cell_assessor_defaults() -> dict[str, Any]:
    from infonas.evaluation.cell_assessor import CellAssessorConfig  # lazy: the registry imports no torch

    return asdict(CellAssessorConfig())


@dataclass(frozen=True)
class _Entry:
    build: Callable[[dict, int], Predictor]
    defaults: Callable[[], dict[str, Any]]


REGISTRY: dict[str, _Entry] = {
    "rf": _Entry(
        _random_forest,
        lambda: dict(n_estimators=100, max_depth=None, max_features=1.0, min_samples_leaf=1, n_jobs=1),
    ),
    "gb": _Entry(
        _gradient_boosting,
        lambda: dict(n_estimators=100, learning_rate=0.1, max_depth=3, subsample=1.0, min_samples_leaf=1),
    ),
    "gp": _Entry(_plain_gaussian_process, lambda: dict(alpha=1e-10, normalize_y=False)),
    "svr": _Entry(_plain_support_vector, lambda: dict(kernel="rbf", C=1.0, epsilon=0.1, gamma="scale")),
    "gp-tuned": _Entry(
        _tuned_gaussian_process,
        lambda: dict(length_scale=1.0, noise_level=0.1, ard=False, n_restarts_optimizer=0),
    ),
    "svr-tuned": _Entry(_tuned_support_vector, lambda: dict(kernel="rbf", C=1.0, epsilon=0.1, gamma="scale")),
    "assessor": _Entry(_assessor, _assessor_defaults),
    "assessor-cells": _Entry(_cell_assessor, _cell_assessor_defaults),
}


def available_predictors() -> list[str]:
    """The registry names, i.e. the valid values of the config's regressor list."""
    return sorted(REGISTRY)


def _entry(name: str) -> _Entry:
    if name not in REGISTRY:
        raise InfonasError(
            f"regressor '{name}': unknown name (valid: {', '.join(available_predictors())})"
        )
    return REGISTRY[name]


def default_params(name: str) -> dict[str, Any]:
    """The documented default hyperparameters of regressor `name` (a fresh dict)."""
    return _entry(name).defaults()


def build_predictor(name: str, params: Mapping[str, Any] | None = None, seed: int = 0) -> Predictor:
    """A fresh, unfitted predictor: defaults of `name` overridden by `params`, randomness from `seed`."""
    entry = _entry(name)
    merged = entry.defaults()
    unknown = sorted(set(params or {}) - set(merged))
    if unknown:
        raise InfonasError(
            f"regressor '{name}': unknown hyperparameter(s) {', '.join(unknown)} "
            f"(valid: {', '.join(sorted(merged))})"
        )
    merged.update(params or {})
    return entry.build(merged, int(seed))
