import itertools

import numpy as np
import pytest

from infonas.searchspace import ops as O
from infonas.searchspace.cells import cell_hash, is_valid_cell, module_hash, one_hot_ops, pad_cell, prune

I, C1, C3, MP, OUT = O.INPUT_CODE, O.CONV1X1_CODE, O.CONV3X3_CODE, O.MAXPOOL_CODE, O.OUTPUT_CODE

# The example cell of the NB-101 README.
EXAMPLE_ADJ = np.array(
    [
        [0, 1, 1, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
    ]
)
EXAMPLE_OPS = [I, C1, C3, C3, C3, MP, OUT]


def permute(adj, codes, order):
    """Relabel interior vertices: new vertex k is old vertex order[k] (input/output fixed)."""
    adj = np.asarray(adj)
    return adj[np.ix_(order, order)], [codes[i] for i in order]


def test_isomorphic_cells_hash_equal():
    # Vertices 1 and 2 are both direct successors of the input; swapping them is an isomorphism.
    order = [0, 2, 1, 3, 4, 5, 6]
    adj2, ops2 = permute(EXAMPLE_ADJ, EXAMPLE_OPS, order)
    assert np.triu(adj2, 1).sum() == adj2.sum()  # still upper triangular
    assert module_hash(adj2, ops2) == module_hash(EXAMPLE_ADJ, EXAMPLE_OPS)


def test_different_ops_hash_differently():
    changed = list(EXAMPLE_OPS)
    changed[5] = C3
    assert module_hash(EXAMPLE_ADJ, changed) != module_hash(EXAMPLE_ADJ, EXAMPLE_OPS)


def test_hash_equals_official_labelling():
    from nasbench_pytorch.model import graph_util

    official_labels = [-1, 1, 0, 0, 0, 2, -2]  # conv3x3=0, conv1x1=1, maxpool=2 in official order
    assert module_hash(EXAMPLE_ADJ, EXAMPLE_OPS) == graph_util.hash_module(EXAMPLE_ADJ, official_labels)


def test_prune_removes_dangling_vertex():
    # Vertex 2 has no path to the output: it is dropped, and the result hashes like the 3-vertex cell.
    adj = np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]])
    pruned_adj, pruned_ops = prune(adj, [I, C3, MP, OUT])
    assert pruned_ops == [I, C3, OUT]
    np.testing.assert_array_equal(pruned_adj, [[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert cell_hash(adj, [I, C3, MP, OUT]) == module_hash(pruned_adj, pruned_ops)


def test_prune_removes_vertex_unreachable_from_input():
    adj = np.array([[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    _, pruned_ops = prune(adj, [I, C1, C3, OUT])
    assert pruned_ops == [I, C3, OUT]


def test_disconnected_cell_is_invalid():
    adj = np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0]])
    assert prune(adj, [I, C3, OUT]) is None
    assert cell_hash(adj, [I, C3, OUT]) is None
    assert not is_valid_cell(adj, [I, C3, OUT])


def test_validity_rules():
    assert is_valid_cell(EXAMPLE_ADJ, EXAMPLE_OPS)
    assert not is_valid_cell(EXAMPLE_ADJ, [C3] + EXAMPLE_OPS[1:])  # input must come first
    assert not is_valid_cell(EXAMPLE_ADJ, EXAMPLE_OPS[:-1] + [MP])  # output must come last
    assert not is_valid_cell(EXAMPLE_ADJ, [I, OUT, C3, C3, C3, MP, OUT])  # interior op must be NB-101
    too_many_edges = np.triu(np.ones((7, 7), dtype=int), 1)
    assert not is_valid_cell(too_many_edges, EXAMPLE_OPS)
    lower = EXAMPLE_ADJ.T
    assert not is_valid_cell(lower, EXAMPLE_OPS)


def test_pruning_can_make_an_oversized_cell_legal():
    # 8 edges on the kept vertices plus dangling edges: legal once the dangling vertex is pruned.
    adj = np.zeros((7, 7), dtype=int)
    for a, b in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 6), (0, 6), (0, 5), (1, 5), (2, 5), (3, 5)]:
        adj[a, b] = 1
    assert adj.sum() == 10
    assert is_valid_cell(adj, [I, C3, C3, C3, C3, MP, OUT])


def test_padding_and_one_hot_round_trip():
    adj = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    padded_adj, padded_ops = pad_cell(adj, [I, MP, OUT])
    assert padded_adj.shape == (7, 7) and padded_adj.dtype == np.uint8
    np.testing.assert_array_equal(padded_adj[:3, :3], adj)
    assert padded_adj[3:].sum() == 0 and padded_adj[:, 3:].sum() == 0
    np.testing.assert_array_equal(padded_ops, [I, MP, OUT, -1, -1, -1, -1])
    hot = one_hot_ops(padded_ops)
    assert hot.shape == (7, 5)
    np.testing.assert_array_equal(hot.argmax(1)[:3], [I, MP, OUT])
    assert hot[3:].sum() == 0 and hot[:3].sum() == 3
    # padded cells hash like unpadded ones
    assert cell_hash(padded_adj, padded_ops) == module_hash(adj, [I, MP, OUT])


@pytest.mark.parametrize("n", [3, 4])
def test_hash_is_invariant_under_all_interior_relabelings(n):
    rng = np.random.default_rng(n)
    adj = np.triu(rng.integers(0, 2, size=(n, n)), 1)
    adj[0, n - 1] = 1
    codes = [I] + list(rng.choice([C1, C3, MP], size=n - 2)) + [OUT]
    reference = cell_hash(adj, codes)
    for perm in itertools.permutations(range(1, n - 1)):
        order = [0, *perm, n - 1]
        p_adj, p_ops = permute(adj, codes, order)
        if np.tril(p_adj).any():
            continue  # not a topological order: not an NB-101 encoding
        assert cell_hash(p_adj, p_ops) == reference


def test_prune_matches_official_model_spec_on_random_connected_cells():
    from nasbench_pytorch.model.model_spec import ModelSpec

    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(300):
        n = int(rng.integers(2, 8))
        adj = np.triu(rng.integers(0, 2, size=(n, n)), 1)
        codes = [I] + list(rng.choice([C1, C3, MP], size=n - 2)) + [OUT]
        ours = prune(adj, codes)
        if ours is None:
            continue  # ModelSpec raises on disconnected cells
        spec = ModelSpec(adj, [O.OP_NAMES[c] for c in codes])
        np.testing.assert_array_equal(ours[0], np.asarray(spec.matrix))
        assert ours[1] == [O.CODES[name] for name in spec.ops]
        checked += 1
    assert checked > 100


# Official NB-101 module hashes (rows of the builtin metrics table, infonas/searchspace/data/) with their cells.
KNOWN = [
    ("001a6fcc8b38cbc515be788a86bdc804", [[0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], [I, MP, MP, OUT]),
    ("01f0f1cf81ef9193f2946db78ea759ee", [[0, 1, 0, 1], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [I, C3, C3, OUT]),
    ("03d84046b0ce567b2b59e85903aa2f5f", [[0, 1, 1, 1], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [I, C3, C3, OUT]),
    (
        "00005c142e6f48ac74fdcf73e3439874",
        [[0, 1, 0, 0, 1, 1, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0],
         [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
        [I, C3, MP, C3, C3, C1, OUT],
    ),
]


@pytest.mark.parametrize("expected, adj, codes", KNOWN)
def test_known_official_module_hashes(expected, adj, codes):
    assert module_hash(adj, codes) == expected
    # the arch2vec-padded encoding hashes to the same official value
    assert cell_hash(*pad_cell(adj, codes)) == expected
