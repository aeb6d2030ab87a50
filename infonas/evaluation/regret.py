"""Search results: the per-run container, its HDF5 store, and the regret curves computed from it.

Every search method (REINFORCE in latent space, random search) produces the same `SearchResult`:
for each independent run, the architectures it evaluated in order, the cumulative NB-101 training
time at which each evaluation finished, and their validation/test accuracies. Regret figures and
tables are then one function of that record, whatever method produced it.

numpy and h5py only (no torch), so random search and the reporting stages stay light.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from infonas.errors import InfonasError
from infonas.hdf5 import add_dataset, get_attr, read_dataset, read_h5, set_attrs, write_h5

FORMAT_VERSION = 1
_ARRAYS = ("indices", "times", "val_acc", "test_acc", "lengths", "start_index")
_TEST_OF = ("incumbent", "best")


@dataclass
class SearchResult:
    """Padded per-run records of a search; row r holds run r, its first `lengths[r]` entries valid.

    indices: (R, L) int64 original row numbers of the evaluated architectures, -1 padding.
    times: (R, L) float64 cumulative training seconds when each evaluation finished, NaN padding.
    val_acc, test_acc: (R, L) float64 accuracies of the evaluated architectures, NaN padding.
    lengths: (R,) int64 number of evaluations per run.
    start_index: (R,) int64 row of the start state (REINFORCE starts from a random architecture it
        does not evaluate); -1 for methods without one.
    settings: JSON-serialisable hyperparameters, stored next to the arrays for provenance.
    """

    method: str
    indices: np.ndarray
    times: np.ndarray
    val_acc: np.ndarray
    test_acc: np.ndarray
    lengths: np.ndarray
    start_index: np.ndarray
    budget_s: float
    seed: int
    settings: dict = field(default_factory=dict)

    @property
    def n_runs(self) -> int:
        return int(self.lengths.shape[0])

    def run(self, r: int) -> np.ndarray:
        """The visited rows of run r, without padding."""
        return self.indices[r, : self.lengths[r]]


def run_seeds(seed: int, n_runs: int) -> list[int]:
    """Seed of each run, derived from (seed, run number) only.

    Run r therefore draws the same random stream whether it is searched alone or in a batch of any
    size, which is what lets the batched search be checked run by run against a plain loop.
    """
    return [
        int(np.random.SeedSequence(seed, spawn_key=(r,)).generate_state(1, np.uint64)[0])
        for r in range(n_runs)
    ]


def as_float64(x, name: str) -> np.ndarray:
    """A float64 numpy copy of an array-like or (any-device) tensor; non-numeric input is an error."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InfonasError(f"search input '{name}': not a numeric array") from None


def searchable_rows(val_acc, test_acc, train_time, features=None) -> np.ndarray:
    """Original row numbers that can be search states: every metric (and feature) finite.

    A partial benchmark marks unknown metrics with NaN (docs/layout.md); those rows cannot be
    evaluated, so they are dropped before the search rather than visited. A table with no test
    accuracy at all (e.g. a CSV of validation accuracies) is searched on validation accuracy alone,
    and its test regret is NaN.
    """
    arrays = {"val_acc": val_acc, "test_acc": test_acc, "train_time": train_time}
    n = len(val_acc)
    for name, arr in arrays.items():
        if arr.ndim != 1 or arr.shape[0] != n:
            raise InfonasError(f"search metrics: '{name}' has shape {arr.shape}, expected ({n},)")
    ok = np.isfinite(val_acc) & np.isfinite(train_time)
    if np.isfinite(test_acc).any():
        ok &= np.isfinite(test_acc)
    if features is not None:
        if features.ndim != 2 or features.shape[0] != n:
            raise InfonasError(f"search features: shape {features.shape}, expected ({n}, dim)")
        ok &= np.isfinite(features).all(axis=1)
    if np.any(train_time[ok] <= 0):
        row = int(np.flatnonzero(ok & (train_time <= 0))[0])
        raise InfonasError(f"search metrics: train_time of row {row} is {train_time[row]}, must be > 0")
    rows = np.flatnonzero(ok)
    if rows.size < 2:
        raise InfonasError(f"search metrics: only {rows.size} of {n} rows have finite metrics")
    return rows


def pack_runs(
    method: str,
    sequences: Sequence[np.ndarray],
    val_acc: np.ndarray,
    test_acc: np.ndarray,
    train_time: np.ndarray,
    budget_s: float,
    seed: int,
    start_index: Sequence[int] | None = None,
    settings: dict | None = None,
) -> SearchResult:
    """Build a SearchResult from each run's visited original rows and the full metric arrays.

    Cumulative times are summed here in float64 in visiting order, the same additions the searches
    make when they test the budget, so stored times equal the ones the searches stopped on.
    """
    n_runs = len(sequences)
    width = max((len(s) for s in sequences), default=0)
    res = SearchResult(
        method=method,
        indices=np.full((n_runs, width), -1, dtype=np.int64),
        times=np.full((n_runs, width), np.nan),
        val_acc=np.full((n_runs, width), np.nan),
        test_acc=np.full((n_runs, width), np.nan),
        lengths=np.array([len(s) for s in sequences], dtype=np.int64),
        start_index=np.full(n_runs, -1, dtype=np.int64) if start_index is None
        else np.asarray(start_index, dtype=np.int64),
        budget_s=float(budget_s),
        seed=int(seed),
        settings=dict(settings or {}),
    )
    for r, seq in enumerate(sequences):
        seq = np.asarray(seq, dtype=np.int64)
        n = len(seq)
        res.indices[r, :n] = seq
        res.times[r, :n] = np.cumsum(np.asarray(train_time, dtype=np.float64)[seq])
        res.val_acc[r, :n] = val_acc[seq]
        res.test_acc[r, :n] = test_acc[seq]
    return res


def concat_results(method: str, results: Sequence[SearchResult]) -> SearchResult:
    """The runs of several searches as one result (e.g. REINFORCE on the features of several
    training seeds of one variant), padded to the longest run; budgets must agree."""
    if not results:
        raise InfonasError(f"search results of '{method}': nothing to pool")
    budgets = {r.budget_s for r in results}
    if len(budgets) > 1:
        raise InfonasError(f"search results of '{method}': budgets differ ({', '.join(map(str, sorted(budgets)))} s)")
    width = max(r.indices.shape[1] for r in results)

    def stacked(name: str, fill) -> np.ndarray:
        parts = [getattr(r, name) for r in results]
        return np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=fill) for p in parts])

    return SearchResult(
        method=method,
        indices=stacked("indices", -1),
        times=stacked("times", np.nan),
        val_acc=stacked("val_acc", np.nan),
        test_acc=stacked("test_acc", np.nan),
        lengths=np.concatenate([r.lengths for r in results]),
        start_index=np.concatenate([r.start_index for r in results]),
        budget_s=budgets.pop(),
        seed=results[0].seed,
        settings={"pooled_seeds": [r.seed for r in results], **results[0].settings},
    )


def save_search(path: str | os.PathLike, result: SearchResult) -> None:
    """Write a SearchResult to HDF5 atomically (a killed job leaves no file that looks done)."""
    with write_h5(path) as f:
        for name in _ARRAYS:
            add_dataset(f, name, getattr(result, name), compression="gzip", shuffle=True)
        set_attrs(f, method=result.method, budget_s=result.budget_s, seed=result.seed,
                  settings=json.dumps(result.settings, sort_keys=True), format_version=FORMAT_VERSION)


def load_search(path: str | os.PathLike) -> SearchResult:
    """Read a file written by `save_search`; a missing or foreign file raises InfonasError."""
    with read_h5(path, "search result") as f:
        missing = [n for n in _ARRAYS if n not in f]
        missing += [a for a in ("method", "budget_s", "seed") if a not in f.attrs]
        if missing:
            raise InfonasError(f"search result {path}: missing {', '.join(missing)}")
        arrays = {n: read_dataset(f, n) for n in _ARRAYS}
        return SearchResult(
            method=str(get_attr(f, "method")),
            budget_s=float(f.attrs["budget_s"]),
            seed=int(f.attrs["seed"]),
            settings=json.loads(get_attr(f, "settings", "{}")),
            **arrays,
        )


def log_time_grid(start: float, stop: float, n: int = 200) -> np.ndarray:
    """n log-spaced times in [start, stop]; regret plots span orders of magnitude of seconds."""
    if not 0 < start < stop:
        raise InfonasError(f"time grid: need 0 < start < stop, got start={start}, stop={stop}")
    return np.geomspace(start, stop, n)


def regret_curves(
    result: SearchResult,
    best_val: float,
    best_test: float,
    time_grid: np.ndarray,
    test_of: str = "incumbent",
) -> tuple[np.ndarray, np.ndarray]:
    """Validation and test regret of every run at each time of `time_grid`: two (R, T) arrays.

    Regret at time t counts only architectures whose evaluation finished by t (cumulative time <= t).
    Before a run's first evaluation finishes nothing has been found, so its regret is NaN there
    (plots should start the grid at or after the shortest first evaluation; NaN keeps "nothing found"
    distinguishable from any real value).

    Validation regret = best_val - best validation accuracy found so far.
    Test regret with test_of="incumbent" (default; the NB-101 protocol that arch2vec's code follows):
    best_test - test accuracy of the incumbent, the architecture with the best validation accuracy
    so far (the first one found on ties). A search never sees test accuracies, so this is what it
    would report; it can go UP when a better-validation architecture tests worse.
    test_of="best": best_test - best test accuracy found so far (oracle view, monotone).
    """
    if test_of not in _TEST_OF:
        raise InfonasError(f"regret: test_of must be one of {_TEST_OF}, got '{test_of}'")
    grid = np.asarray(time_grid, dtype=np.float64)
    if grid.ndim != 1 or np.any(np.diff(grid) < 0):
        raise InfonasError("regret: time_grid must be a 1-d non-decreasing array")
    val_reg = np.full((result.n_runs, grid.size), np.nan)
    test_reg = np.full((result.n_runs, grid.size), np.nan)
    for r in range(result.n_runs):
        n = int(result.lengths[r])
        if n == 0:
            continue
        val = result.val_acc[r, :n]
        best_so_far = np.maximum.accumulate(val)
        if test_of == "incumbent":
            improved = val > np.concatenate([[-np.inf], best_so_far[:-1]])
            incumbent = np.maximum.accumulate(np.where(improved, np.arange(n), 0))
            test_so_far = result.test_acc[r, :n][incumbent]
        else:
            test_so_far = np.maximum.accumulate(result.test_acc[r, :n])
        last = np.searchsorted(result.times[r, :n], grid, side="right") - 1
        found = last >= 0
        val_reg[r, found] = best_val - best_so_far[last[found]]
        test_reg[r, found] = best_test - test_so_far[last[found]]
    return val_reg, test_reg


def final_regret(
    result: SearchResult,
    best_val: float,
    best_test: float,
    at_time: float | None = None,
    test_of: str = "incumbent",
) -> tuple[np.ndarray, np.ndarray]:
    """(R,) validation and test regret at `at_time` (default: the budget), as in `regret_curves`.

    The evaluation that crosses the budget finishes after it and so does not count, the same rule
    every point of the curves follows.
    """
    t = result.budget_s if at_time is None else float(at_time)
    val_reg, test_reg = regret_curves(result, best_val, best_test, np.array([t]), test_of=test_of)
    return val_reg[:, 0], test_reg[:, 0]


def ecdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF of the finite values: sorted x and P(X <= x) at each (arch2vec Fig. 6 right)."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    x = x[np.isfinite(x)]
    return x, np.arange(1, x.size + 1) / max(x.size, 1)
