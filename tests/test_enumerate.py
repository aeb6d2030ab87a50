import itertools

import h5py
import numpy as np
import pandas as pd
import pytest

from infonas.errors import InfonasError
from infonas.searchspace import cells
from infonas.searchspace import enumerate as E
from infonas.searchspace import ops as O

REFERENCE_MAX_VERTICES = 5


@pytest.fixture(scope="module")
def reference() -> dict[str, tuple[int, int]]:
    """The obvious definition: every upper-triangular matrix x every op labelling, pruned by the
    official rule, hashed with the official hash -> {hash: (vertices, edges) after pruning}."""
    hashes: dict[tuple, str] = {}
    for n in range(2, REFERENCE_MAX_VERTICES + 1):
        pairs = [(i, j) for j in range(n) for i in range(j)]
        for bits in itertools.product((0, 1), repeat=len(pairs)):
            adj = np.zeros((n, n), dtype=int)
            for (i, j), bit in zip(pairs, bits):
                adj[i, j] = bit
            for inner in itertools.product(O.INTERIOR_CODES, repeat=n - 2):
                pruned = cells.prune(adj, [O.INPUT_CODE, *inner, O.OUTPUT_CODE])
                if pruned is None:
                    continue
                matrix, codes = pruned
                key = (matrix.tobytes(), len(codes), tuple(codes))
                if key not in hashes:  # memo only: many matrices prune to the same cell
                    hashes[key] = (cells.module_hash(matrix, codes), len(codes), int(matrix.sum()))
    return {h: (n, e) for h, n, e in hashes.values()}


def reference_hashes(reference, max_vertices, max_edges) -> set[bytes]:
    return {h.encode() for h, (n, e) in reference.items() if n <= max_vertices and e <= max_edges}


@pytest.mark.parametrize("max_vertices,max_edges", [(4, 9), (5, 9), (5, 4), (3, 1)])
def test_matches_brute_force(reference, max_vertices, max_edges):
    got = E.enumerate_cells(max_vertices, max_edges, workers=1)
    assert len(got["hash"]) == len(set(got["hash"].tolist()))
    assert set(got["hash"].tolist()) == reference_hashes(reference, max_vertices, max_edges)


def test_reduced_space_sizes(reference):
    # 1 two-vertex cell, 6 three-vertex cells (3 ops x with/without the skip edge) ...
    got = E.enumerate_cells(3, 9, workers=1)
    assert len(got["hash"]) == 7
    assert sorted(np.bincount(got["n_nodes"]).tolist()) == [0, 0, 1, 6]


def test_rows_are_sorted_padded_pruned_and_rehash():
    got = E.enumerate_cells(5, 9, workers=1)
    hashes, adj, ops, n_nodes = got["hash"], got["adjacency"], got["ops"], got["n_nodes"]
    assert hashes.dtype == np.dtype("S32") and adj.dtype == np.uint8 and ops.dtype == np.int8
    assert n_nodes.dtype == np.int8 and adj.shape == (len(hashes), 7, 7) and ops.shape == (len(hashes), 7)
    assert np.all(hashes[:-1] < hashes[1:])
    for h, a, o, n in zip(hashes, adj, ops, n_nodes):
        assert not a[n:].any() and not a[:, n:].any() and np.all(o[n:] == O.PAD_CODE)
        assert o[0] == O.INPUT_CODE and o[n - 1] == O.OUTPUT_CODE
        assert set(o[1 : n - 1].tolist()) <= set(O.INTERIOR_CODES)
        assert not np.tril(a).any() and a.sum() <= 9
        matrix, codes = cells.prune(a, o)
        assert np.array_equal(matrix, a[:n, :n]) and codes == o[:n].tolist()  # already pruned
        assert cells.module_hash(a, o).encode() == h


def test_md5_module_hash_equals_official():
    from nasbench_pytorch.model import graph_util

    rng = np.random.default_rng(0)
    for adj in E.full_dags(6, 9)[::50]:
        labels = [-1, *rng.integers(0, 3, 4).tolist(), -2]
        assert E.md5_module_hash(adj.tolist(), labels) == graph_util.hash_module(adj, labels)


def test_full_dags_are_exactly_the_prune_fixed_points():
    for n in range(2, 6):
        found = {a.tobytes() for a in E.full_dags(n, 9)}
        pairs = [(i, j) for j in range(n) for i in range(j)]
        expected = set()
        for bits in itertools.product((0, 1), repeat=len(pairs)):
            adj = np.zeros((n, n), dtype=np.uint8)
            for (i, j), bit in zip(pairs, bits):
                adj[i, j] = bit
            pruned = cells.prune(adj, [O.INPUT_CODE] + [O.CONV3X3_CODE] * (n - 2) + [O.OUTPUT_CODE])
            if pruned is not None and pruned[0].shape == adj.shape and adj.sum() <= 9:
                expected.add(adj.tobytes())
        assert found == expected


def test_fingerprint_is_isomorphism_invariant_and_label_sensitive():
    # vertices 1 and 2 differ (degrees (out 2, in 1) vs (out 1, in 2)), so no labelling is symmetric
    adj = np.array([[0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=np.uint8)
    swapped = adj[np.ix_([0, 2, 1, 3], [0, 2, 1, 3])]  # relabel vertices 1 <-> 2
    labels = np.array([[-1, 0, 1, -2], [-1, 1, 0, -2], [-1, 0, 0, -2]])
    a, b = E.wl_fingerprints(np.stack([adj, swapped]), labels)
    assert np.array_equal(a[0], b[1]) and np.array_equal(a[1], b[0]) and np.array_equal(a[2], b[2])
    assert len({tuple(x) for x in a}) == 3  # non-isomorphic labellings differ


# Two 7-vertex cells with the same ops and degree sequence that only the in-/out-neighbour split
# of hash_module tells apart (a twin that mixed up the two directions merged them).
HARD_PAIR = [
    [[0, 1, 0, 0, 0, 1, 0], [0, 0, 1, 0, 1, 0, 0], [0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 1, 0],
     [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
    [[0, 1, 0, 1, 0, 0, 0], [0, 0, 1, 0, 0, 1, 0], [0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
]


def test_fingerprint_classes_are_md5_classes():
    from nasbench_pytorch.model import graph_util

    labels = E._hash_labels(E._interior_labelings(5))
    structures = E.full_dags(5, 9)
    prints = E.wl_fingerprints(structures, labels).reshape(-1, 2)
    md5 = [graph_util.hash_module(a, lab.tolist()) for a in structures for lab in labels]
    by_print = {tuple(p): h for p, h in zip(prints.tolist(), md5)}
    assert len(by_print) == len(set(md5))  # one md5 per fingerprint and vice versa
    assert all(by_print[tuple(p)] == h for p, h in zip(prints.tolist(), md5))

    pair = np.array(HARD_PAIR, dtype=np.uint8)
    lab = np.array([[-1, 0, 2, 2, 2, 2, -2]])
    assert graph_util.hash_module(pair[0], lab[0].tolist()) != graph_util.hash_module(pair[1], lab[0].tolist())
    a, b = E.wl_fingerprints(pair, lab)[:, 0]
    assert not np.array_equal(a, b)


def test_parallel_workers_give_identical_rows(monkeypatch):
    monkeypatch.setattr(E, "_CELLS_PER_JOB", 300)
    one = E.enumerate_cells(5, 9, workers=1)
    two = E.enumerate_cells(5, 9, workers=2)
    for key in E.CELL_KEYS:
        assert np.array_equal(one[key], two[key])


@pytest.mark.parametrize(
    "kwargs", [{"max_vertices": 8}, {"max_vertices": 1}, {"max_edges": 0}, {"max_edges": 10}]
)
def test_bad_limits_raise(kwargs):
    with pytest.raises(InfonasError, match="enumerate_cells"):
        E.enumerate_cells(**kwargs)


def test_cache_round_trip_and_reuse(tmp_path, monkeypatch):
    path = tmp_path / "cells.h5"
    made = E.load_or_enumerate(path, max_vertices=4)
    assert path.is_file() and not list(tmp_path.glob(".*tmp*"))

    def fail(*args, **kwargs):
        raise AssertionError("enumerated although the cache was valid")

    real = E.enumerate_cells
    monkeypatch.setattr(E, "enumerate_cells", fail)
    read = E.load_or_enumerate(path, max_vertices=4)
    for key in E.CELL_KEYS:
        assert read[key].dtype == made[key].dtype and np.array_equal(read[key], made[key])
    monkeypatch.setattr(E, "enumerate_cells", real)
    other = E.load_or_enumerate(path, max_vertices=3)  # another space: rebuilt and rewritten
    assert len(other["hash"]) == 7
    with h5py.File(path, "r") as handle:
        assert handle.attrs["max_vertices"] == 3 and handle["hash"].shape == (7,)


def test_unreadable_cache_names_itself(tmp_path):
    path = tmp_path / "cells.h5"
    path.write_bytes(b"not hdf5")
    with pytest.raises(InfonasError, match="cells.h5"):
        E.load_or_enumerate(path, max_vertices=3)


@pytest.mark.slow
def test_full_space_has_every_nb101_cell(subset_csv):
    got = E.enumerate_cells(progress=False)
    assert len(got["hash"]) == E.NB101_UNIQUE_CELLS
    assert np.all(got["hash"][:-1] < got["hash"][1:])
    subset = pd.read_csv(subset_csv, usecols=["hash"])["hash"].to_numpy().astype("S32")
    assert np.isin(subset, got["hash"]).all()
    rng = np.random.default_rng(0)
    for row in rng.choice(len(got["hash"]), 500, replace=False):
        assert cells.module_hash(got["adjacency"][row], got["ops"][row]).encode() == got["hash"][row]
    assert np.bincount(got["n_nodes"]).tolist()[2:] == [1, 6, 84, 2441, 62010, 359082]
