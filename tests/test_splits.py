"""Seeded stratified splits and the arch2vec row split: exact sizes, partitions, proportions, seeds."""

import numpy as np
import pytest

from infonas.splits import (
    class_allocation,
    random_split_mask,
    stratified_split,
    stratified_subset,
)
from infonas.errors import InfonasError


def _labels(counts, rng_seed=0):
    """Labels with the given class sizes, shuffled so class members are not contiguous."""
    labels = np.repeat(np.arange(len(counts)), counts)
    return np.random.default_rng(rng_seed).permutation(labels)


def _reference_allocation(counts, size):
    """Slow Hamilton (largest remainder) apportionment with Fractions, ties to the lower class."""
    from fractions import Fraction

    n = sum(counts)
    shares = [Fraction(size * c, n) for c in counts]
    alloc = [int(s) for s in shares]
    order = sorted(range(len(counts)), key=lambda i: (-(shares[i] - alloc[i]), i))
    for i in order[: size - sum(alloc)]:
        alloc[i] += 1
    return alloc


def test_allocation_known_value_and_tie_break():
    # exact shares 2.5, 1.5, 1.0: floors 2,1,1 and the one leftover goes to the lower-labelled tie.
    classes, counts = class_allocation(_labels([5, 3, 2]), 5)
    assert classes.tolist() == [0, 1, 2]
    assert counts.tolist() == [3, 1, 1]


@pytest.mark.parametrize("size", [0, 1, 7, 33, 100, 499, 500])
def test_allocation_matches_reference(size):
    counts = [97, 3, 150, 50, 1, 199]
    _, got = class_allocation(_labels(counts), size)
    assert got.tolist() == _reference_allocation(counts, size)


@pytest.mark.parametrize("size", [1, 10, 123, 999])
def test_stratified_split_invariants(size):
    counts = [400, 250, 200, 100, 49, 1]
    labels = _labels(counts, rng_seed=3)
    rest, subset = stratified_split(labels, size, np.random.default_rng(7))
    assert len(subset) == size
    assert len(np.unique(subset)) == size
    assert np.intersect1d(rest, subset).size == 0
    assert np.array_equal(np.sort(np.concatenate([rest, subset])), np.arange(len(labels)))
    assert rest.dtype == subset.dtype == np.int64
    sub_counts = np.bincount(labels[subset], minlength=len(counts))
    exact = size * np.asarray(counts) / len(labels)
    assert np.all(np.abs(sub_counts - exact) < 1)


def test_same_seed_same_subset_and_different_seed_different():
    labels = _labels([300, 300, 300])
    a = stratified_subset(labels, 90, np.random.default_rng(1))
    b = stratified_subset(labels, 90, np.random.default_rng(1))
    c = stratified_subset(labels, 90, np.random.default_rng(2))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_subset_is_uniform_within_class():
    # Members sit in class order, so "the first k of each class" would show up as a hot prefix.
    labels = np.repeat([0, 1], [20, 10])
    hits = np.zeros(len(labels))
    for seed in range(400):
        hits[stratified_subset(labels, 6, np.random.default_rng(seed))] += 1
    # Each member is chosen with probability k/c = 4/20 = 2/10 = 0.2: 80 of 400 draws expected.
    assert hits.min() > 50 and hits.max() < 110


def test_full_and_empty_subsets():
    labels = _labels([4, 6])
    rng = np.random.default_rng(0)
    rest, subset = stratified_split(labels, len(labels), rng)
    assert rest.size == 0 and np.array_equal(subset, np.arange(10))
    rest, subset = stratified_split(labels, 0, rng)
    assert subset.size == 0 and np.array_equal(rest, np.arange(10))


@pytest.mark.parametrize("size", [-1, 11])
def test_size_out_of_range(size):
    with pytest.raises(InfonasError, match="size"):
        stratified_subset(_labels([4, 6]), size, np.random.default_rng(0))


@pytest.mark.parametrize(
    "n,fraction", [(423624, 0.1), (1000, 0.1), (15, 0.1), (7, 0.5), (10, 0.0), (10, 1.0)]
)
def test_random_split_mask_exact_count(n, fraction):
    mask = random_split_mask(n, fraction, np.random.default_rng(5))
    assert mask.dtype == bool and mask.shape == (n,)
    assert int(mask.sum()) == round(n * fraction)


def test_random_split_mask_seeded():
    a = random_split_mask(1000, 0.1, np.random.default_rng(11))
    b = random_split_mask(1000, 0.1, np.random.default_rng(11))
    c = random_split_mask(1000, 0.1, np.random.default_rng(12))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    # random, not a block: test rows are spread over the whole range
    rows = np.flatnonzero(a)
    assert rows.min() < 100 and rows.max() > 900


@pytest.mark.parametrize("n,fraction", [(10, -0.1), (10, 1.5), (-1, 0.1)])
def test_random_split_mask_bad_input(n, fraction):
    with pytest.raises(InfonasError, match="random split"):
        random_split_mask(n, fraction, np.random.default_rng(0))
