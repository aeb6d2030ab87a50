"""Regularized evolution on NB-101 cells: mutation validity, fingerprints, the search loop."""

import numpy as np
import pytest

from infonas.errors import InfonasError
from infonas.evaluation.evolution import (
    cell_keys,
    mutants,
    regularized_evolution,
    table_keys,
    to_seven_vertices,
)
from infonas.evaluation.random_search import random_search
from infonas.evaluation.regret import run_seeds
from infonas.searchspace import ops as O
from infonas.searchspace.cells import cell_hash, is_valid_cell
from infonas.searchspace.enumerate import enumerate_cells


@pytest.fixture(scope="module")
def cells():
    return enumerate_cells(5, 9, workers=1)


def _metrics(n, seed=0):
    rng = np.random.default_rng(seed)
    val = 0.8 + 0.15 * rng.random(n)
    return val, val - 0.01 * rng.random(n), rng.uniform(100.0, 300.0, n)


def test_fingerprints_key_the_table_and_match_the_official_hash_classes(cells):
    keys = table_keys(cells["adjacency"], cells["ops"])
    assert len(set(keys)) == len(keys)  # one key per official module hash
    # an isomorphic relabelling (interior vertices swapped) of a mutant-sized cell keeps its key
    row = int(np.flatnonzero((cells["n_nodes"] == 5) & (cells["adjacency"][:, 1, 2] == 0)
                             & (cells["ops"][:, 1] != cells["ops"][:, 2]))[0])
    adj7, ops7 = to_seven_vertices(cells["adjacency"][row:row + 1], cells["ops"][row:row + 1],
                                   np.full((1, 5), O.MAXPOOL_CODE))
    perm = [0, 2, 1, 3, 4, 5, 6]
    adj_p, ops_p = adj7[:, perm][:, :, perm], ops7[:, perm]
    assert not np.tril(adj_p[0]).any() and (ops_p != ops7).any()  # another labelling of the same cell
    assert cell_keys(adj_p, ops_p)[0] == cell_keys(adj7, ops7)[0] == [keys[row]]


def test_mutants_are_checked_like_the_official_rules(cells):
    rng = np.random.default_rng(3)
    row = int(np.flatnonzero(cells["n_nodes"] == 4)[0])
    adj7, ops7 = to_seven_vertices(cells["adjacency"][row:row + 1], cells["ops"][row:row + 1],
                                   rng.choice(O.INTERIOR_CODES, size=(1, 5)))
    assert cell_hash(adj7[0], ops7[0]) == cell_hash(cells["adjacency"][row], cells["ops"][row])
    adj, ops = mutants(rng, adj7[0], ops7[0], 1.0, 200)
    assert (np.tril(adj) == 0).all() and set(np.unique(ops[:, 1:-1])) <= set(O.INTERIOR_CODES)
    changes = (adj != adj7).sum(axis=(1, 2)) + (ops != ops7).sum(axis=1)
    assert 0.5 < changes.mean() < 6  # rate 1.0: about three edge flips and one op change expected
    keys, valid = cell_keys(adj, ops)
    table = dict(zip(table_keys(cells["adjacency"], cells["ops"]), cells["hash"]))
    for a, o, k, v in zip(adj, ops, keys, valid):
        assert v == is_valid_cell(a, o)
        if v and k in table:  # same class as the official hash says
            assert table[k].decode() == cell_hash(a, o)


def test_search_runs_charge_and_stop_like_random_search(cells):
    n = len(cells["hash"])
    val, test, time = _metrics(n)
    res = regularized_evolution(cells["adjacency"], cells["ops"], val, test, time, n_runs=3, budget_s=8000.0,
                                seed=2, population=10, sample_size=3, progress=False)
    assert res.method == "evolution" and res.settings["population"] == 10
    for r in range(3):
        seq, times = res.run(r), res.times[r, : res.lengths[r]]
        assert len(set(seq[:10].tolist())) == 10  # the initial population has no repeat
        assert times[-1] >= 8000.0 > times[-2]
    again = regularized_evolution(cells["adjacency"], cells["ops"], val, test, time, n_runs=1, budget_s=8000.0,
                                  seed=2, population=10, sample_size=3, progress=False)
    np.testing.assert_array_equal(again.run(0), res.run(0))  # run 0 does not depend on the run count
    assert run_seeds(2, 1) == run_seeds(2, 3)[:1]
    rnd = random_search(val, test, time, n_runs=3, budget_s=8000.0, seed=2, progress=False)
    np.testing.assert_array_equal(rnd.indices[:, :10], res.indices[:, :10])  # common random numbers


def test_evolution_climbs_a_heritable_landscape(cells):
    n = len(cells["hash"])
    val, test, time = _metrics(n, seed=1)
    val = 0.8 + 0.03 * (cells["ops"] == O.CONV3X3_CODE).sum(axis=1) + 0.01 * np.random.default_rng(0).random(n)
    res = regularized_evolution(cells["adjacency"], cells["ops"], val, test, time, n_runs=1, budget_s=60000.0,
                                seed=4, population=20, sample_size=5, progress=False)
    seq = res.run(0)
    assert len(seq) > 40
    # evolution climbs: the children's mean accuracy beats the initial population's
    assert val[seq[-20:]].mean() > val[seq[:20]].mean() + 0.015
    assert all(is_valid_cell(cells["adjacency"][c], cells["ops"][c]) for c in seq[20:])


def test_rows_without_metrics_are_never_children(cells):
    n = len(cells["hash"])
    val, test, time = _metrics(n, seed=2)
    val[::2] = np.nan
    res = regularized_evolution(cells["adjacency"], cells["ops"], val, test, time, n_runs=2, budget_s=20000.0,
                                seed=0, population=10, sample_size=3, progress=False)
    assert np.isfinite(res.val_acc[res.indices >= 0]).all()


@pytest.mark.parametrize("kw, match", [(dict(sample_size=0), "sample_size"), (dict(population=0), "population"),
                                       (dict(mutation_rate=0.0), "mutation_rate"), (dict(n_runs=0), "n_runs")])
def test_bad_settings_are_one_line_errors(cells, kw, match):
    val, test, time = _metrics(len(cells["hash"]))
    args = {"n_runs": 1, "budget_s": 1e4, "seed": 0, "progress": False, **kw}
    with pytest.raises(InfonasError, match=match):
        regularized_evolution(cells["adjacency"], cells["ops"], val, test, time, **args)

