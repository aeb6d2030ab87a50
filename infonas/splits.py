"""Seeded random splits: class-stratified image subsets and the arch2vec train/test row split.

The one place for stratified splitting, below the stages that use it: the images stage draws
`valid` from train and `test_2k` from test with it, and the searchspace stage uses
`random_split_mask` for arch2vec's 90/10 split of rows. Every function takes a
`np.random.Generator`, so the caller's seed fixes the result.
"""

from __future__ import annotations

import numpy as np

from infonas.errors import InfonasError


def class_allocation(labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class counts for a subset of `size` items: (classes, counts), summing to `size` exactly.

    Proportional allocation (size * class_count / n) floored, then the leftover items go to the
    classes with the largest remainders (ties to the lower class label, so it is deterministic).
    Every count is therefore within 1 of its exact proportional share and never exceeds the class.
    """
    labels = np.asarray(labels)
    n = labels.shape[0]
    if not 0 <= size <= n:
        raise InfonasError(f"stratified split: size {size} is outside 0..{n} (number of items)")
    classes, class_counts = np.unique(labels, return_counts=True)
    if n == 0:
        return classes, class_counts
    # Integer arithmetic keeps the floors and remainders exact for any n.
    quota = size * class_counts
    counts = quota // n
    remainders = quota - counts * n
    leftover = size - int(counts.sum())
    order = np.argsort(-remainders, kind="stable")
    counts[order[:leftover]] += 1
    return classes, counts


def stratified_subset(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (sorted, int64) of a random class-stratified subset of exactly `size` items.

    Within each class the members are drawn uniformly without replacement, so the subset is random
    but keeps the class proportions (within one item per class) of `labels`.
    """
    labels = np.asarray(labels)
    classes, counts = class_allocation(labels, size)
    picked = []
    for cls, k in zip(classes, counts):
        members = np.flatnonzero(labels == cls)
        picked.append(rng.choice(members, size=int(k), replace=False))
    if not picked:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(picked)).astype(np.int64)


def stratified_split(
    labels: np.ndarray, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(rest_idx, subset_idx): a stratified subset of `size` items and everything else, both sorted."""
    subset = stratified_subset(labels, size, rng)
    keep = np.ones(np.asarray(labels).shape[0], dtype=bool)
    keep[subset] = False
    return np.flatnonzero(keep).astype(np.int64), subset


def random_split_mask(n: int, test_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of length `n`, True on exactly round(n * test_fraction) random rows (the test part).

    arch2vec splits NB-101 rows 90/10 at random without stratification; a mask keeps the rows in
    their stored (hash) order.
    """
    if n < 0:
        raise InfonasError(f"random split: number of rows {n} is negative")
    if not 0.0 <= test_fraction <= 1.0:
        raise InfonasError(f"random split: test fraction {test_fraction} is outside [0, 1]")
    n_test = round(n * test_fraction)
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:n_test]] = True
    return mask
