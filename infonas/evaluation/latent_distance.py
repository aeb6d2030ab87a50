"""L2 distance in latent space against edit distance between cells (arch2vec Fig. 3).

arch2vec shows that for its encoder the L2 distance between two cells' features grows steadily
with their edit distance, while a supervised encoder's does not: close cells stay close, which is
what a search in latent space relies on. arch2vec drew its pairs from one long random walk; here
a seeded sample of anchor cells each gets up to `per_distance` partners at every edit distance
1..max_distance (the same pairs for every encoder), so each distance has comparable counts on any
search space, and `per_distance` random partners give each encoder's typical distance, the scale
that makes encoders of different spread comparable (`relative_*` columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from infonas.errors import InfonasError
from infonas.searchspace.distance import CellCodes

SUMMARY_COLUMNS = ("edit_distance", "n_pairs", "mean", "std", "median", "relative_mean", "relative_std")


@dataclass
class CellPairs:
    """Row pairs of a search space: `near` pairs with their edit distance, and random pairs."""

    first: np.ndarray
    second: np.ndarray
    edit_distance: np.ndarray
    random_first: np.ndarray
    random_second: np.ndarray


def sample_pairs(codes: CellCodes, n_anchors: int, max_distance: int, per_distance: int, seed: int) -> CellPairs:
    """For a seeded sample of anchors: up to `per_distance` cells at each edit distance 1..max_distance
    (fewer where the space has fewer) and `per_distance` other cells at random."""
    n = len(codes)
    if n < 2:
        raise InfonasError(f"latent distances: the search space has {n} cell(s), need at least 2")
    if min(n_anchors, max_distance, per_distance) < 1:
        raise InfonasError("latent distances: anchors, max_distance and per_distance must be >= 1, got "
                           f"{n_anchors}, {max_distance}, {per_distance}")
    rng = np.random.default_rng([seed, 3])
    anchors = np.sort(rng.choice(n, size=min(n_anchors, n), replace=False))
    near, rand = [], []
    for anchor in anchors:
        dist = codes.distances_to(int(anchor))
        for d in range(1, max_distance + 1):
            found = np.flatnonzero(dist == d)
            chosen = rng.choice(found, size=min(per_distance, found.size), replace=False)
            near += [(anchor, row, d) for row in chosen]
        others = rng.choice(n - 1, size=min(per_distance, n - 1), replace=False)
        rand += [(anchor, row + (row >= anchor)) for row in others]  # skip the anchor itself
    near_arr = np.array(near, np.int64).reshape(-1, 3)
    rand_arr = np.array(rand, np.int64).reshape(-1, 2)
    return CellPairs(near_arr[:, 0], near_arr[:, 1], near_arr[:, 2], rand_arr[:, 0], rand_arr[:, 1])


def _l2(features: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return np.linalg.norm(features[first] - features[second], axis=1)


def distance_summary(features: np.ndarray, pairs: CellPairs, what: str = "features") -> pd.DataFrame:
    """Per edit distance: number of pairs, mean, std and median L2 distance of the pairs' features,
    and mean and std relative to the mean L2 distance of the random pairs."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2:
        raise InfonasError(f"{what}: need an (N, d) feature matrix, got shape {x.shape}")
    used = np.concatenate([pairs.first, pairs.second, pairs.random_first, pairs.random_second])
    if used.size and used.max() >= len(x):
        raise InfonasError(f"{what}: {len(x)} rows, but the cell pairs reach row {int(used.max())}")
    bad = ~np.isfinite(x[used]).all(axis=1)
    if bad.any():
        raise InfonasError(f"{what}: row {int(used[bad][0])} has non-finite features")
    scale = float(_l2(x, pairs.random_first, pairs.random_second).mean())
    if not scale > 0:
        raise InfonasError(f"{what}: every sampled pair of cells has the same features (a collapsed encoder)")
    near = _l2(x, pairs.first, pairs.second)
    rows = []
    for d in np.unique(pairs.edit_distance):
        v = near[pairs.edit_distance == d]
        rows.append((int(d), v.size, v.mean(), v.std(), np.median(v), v.mean() / scale, v.std() / scale))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)).assign(random_pair_mean=scale)
