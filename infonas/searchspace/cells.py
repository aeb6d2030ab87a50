"""NB-101 cells: pruning, the official module hash, validity, and the arch2vec padded encoding.

A cell is (adjacency, ops): an upper-triangular n x n 0/1 matrix and n op codes from
`infonas.searchspace.ops`. Pruning and hashing reuse the official code shipped in
nasbench_pytorch (`ModelSpec._prune`, `graph_util.hash_module`), so hashes equal the official
module hashes that key every NB-101 table.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from infonas.searchspace import ops as O


def _as_arrays(adjacency, ops) -> tuple[np.ndarray, list[int]]:
    adj = np.asarray(adjacency, dtype=np.int64)
    codes = [int(o) for o in ops if int(o) != O.PAD_CODE]
    n = len(codes)
    return adj[:n, :n], codes


def prune(adjacency, ops) -> tuple[np.ndarray, list[int]] | None:
    """Drop vertices not on an input->output path; None if the input cannot reach the output.

    The official NB-101 rule (`ModelSpec._prune`): keep the vertices reachable from the input and
    reaching the output, in their original order. Implemented here with a reachability closure
    because nasbench_pytorch's ModelSpec raises on disconnected cells instead of marking them
    invalid; tests cross-check the two on connected cells. Accepts padded encodings.
    """
    adj, codes = _as_arrays(adjacency, ops)
    if not _upper_triangular(adj) or len(codes) < 2:
        return None
    n = len(codes)
    reach = (adj > 0) | np.eye(n, dtype=bool)
    for _ in range(n.bit_length()):
        reach = (reach.astype(np.int64) @ reach.astype(np.int64)) > 0
    keep = reach[0] & reach[:, n - 1]
    if not keep[0]:
        return None
    index = np.flatnonzero(keep)
    return adj[np.ix_(index, index)].astype(np.int64), [codes[i] for i in index]


def module_hash(adjacency, ops) -> str:
    """The official NB-101 module hash of a pruned cell (isomorphism invariant)."""
    from nasbench_pytorch.model import graph_util  # lazy: it imports torch, the searchspace job does not

    adj, codes = _as_arrays(adjacency, ops)
    labels = [O.HASH_LABEL_OF_CODE[c] for c in codes]
    return graph_util.hash_module(adj, labels)


def cell_hash(adjacency, ops) -> str | None:
    """Prune then hash; None for a cell whose input does not reach its output."""
    pruned = prune(adjacency, ops)
    return None if pruned is None else module_hash(*pruned)


def is_valid_cell(adjacency, ops) -> bool:
    """A legal NB-101 cell after pruning: <= 7 vertices, <= 9 edges, input first, output last,
    interior ops from the three NB-101 ops (the rule arch2vec uses for its validity metric)."""
    adj, codes = _as_arrays(adjacency, ops)
    if len(codes) < 2 or codes[0] != O.INPUT_CODE or codes[-1] != O.OUTPUT_CODE:
        return False
    if any(c not in O.INTERIOR_CODES for c in codes[1:-1]):
        return False
    pruned = prune(adj, codes)
    if pruned is None:
        return False
    matrix, _ = pruned
    return matrix.shape[0] <= O.MAX_VERTICES and int(matrix.sum()) <= O.MAX_EDGES


def _upper_triangular(adj: np.ndarray) -> bool:
    return adj.ndim == 2 and adj.shape[0] == adj.shape[1] and not np.tril(adj).any()


def pad_cell(adjacency, ops, size: int = O.MAX_VERTICES) -> tuple[np.ndarray, np.ndarray]:
    """arch2vec padding: zero rows/columns appended after the output, ops padded with -1."""
    adj, codes = _as_arrays(adjacency, ops)
    n = len(codes)
    if n > size:
        raise ValueError(f"cell has {n} vertices, more than {size}")
    padded = np.zeros((size, size), dtype=np.uint8)
    padded[:n, :n] = adj
    op_row = np.full(size, O.PAD_CODE, dtype=np.int8)
    op_row[:n] = codes
    return padded, op_row


def one_hot_ops(ops: np.ndarray) -> np.ndarray:
    """(..., 7) op codes -> (..., 7, 5) float32 one-hot; padding rows stay all zero."""
    ops = np.asarray(ops)
    out = np.zeros(ops.shape + (O.N_OPS,), dtype=np.float32)
    valid = ops >= 0
    out[valid, ops[valid]] = 1.0
    return out


def op_names(ops: Sequence[int]) -> list[str]:
    """Op codes (padding dropped) -> NB-101 op names, e.g. for building a Network."""
    return [O.OP_NAMES[int(c)] for c in ops if int(c) != O.PAD_CODE]
