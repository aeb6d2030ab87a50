"""Edit distance between NB-101 cells in arch2vec's padded 7-node encoding (arch2vec Fig. 3).

arch2vec compares its latent L2 distances with "the edit distance of the corresponding DAGs". Here
a cell is the padded encoding of `infonas.searchspace.cells.pad_cell` (a 7 x 7 upper-triangular
adjacency with zero rows appended after the output, op codes padded with -1), and the distance
of two cells is the number of adjacency entries that differ plus the number of node positions
whose op differs (padding counts as an op of its own). With node positions fixed, every unit is
one edit (add or drop an edge, relabel or add a node), so this is an upper bound of the graph edit
distance, and it costs one XOR per row, cheap enough for all 423,624 cells against an anchor.
arch2vec's plotting script (read for facts) compared the one-hot op matrices entrywise, so a
relabelled op counted 2 there; its published figure used networkx's exact graph edit distance.
"""

from __future__ import annotations

import numpy as np

from infonas.errors import InfonasError
from infonas.searchspace import ops as O

_UPPER = np.triu_indices(O.MAX_VERTICES, k=1)
_BIT_VALUES = (1 << np.arange(len(_UPPER[0]), dtype=np.int64)).astype(np.int64)


def _check_cells(adjacency: np.ndarray, ops: np.ndarray, what: str) -> None:
    n = O.MAX_VERTICES
    if adjacency.ndim != 3 or adjacency.shape[1:] != (n, n) or ops.shape != (adjacency.shape[0], n):
        raise InfonasError(f"{what}: need (N, {n}, {n}) adjacency and (N, {n}) ops, "
                           f"got {adjacency.shape} and {ops.shape}")
    if np.tril(adjacency.reshape(-1, n, n)).any():
        raise InfonasError(f"{what}: adjacency has entries on or below the diagonal (not a padded NB-101 cell)")


class CellCodes:
    """Cells packed for fast distances: the 21 upper-triangular adjacency bits as one integer per
    cell, and the op codes. Built once for a whole search space."""

    def __init__(self, adjacency, ops, what: str = "cells"):
        adjacency, ops = np.asarray(adjacency), np.asarray(ops)
        _check_cells(adjacency, ops, what)
        bits = (adjacency[:, _UPPER[0], _UPPER[1]] != 0).astype(np.int64)
        self.edges = bits @ _BIT_VALUES
        self.ops = ops.astype(np.int8)

    def __len__(self) -> int:
        return len(self.ops)

    def distances_to(self, row: int) -> np.ndarray:
        """(N,) edit distances of every cell to cell `row` (0 for itself)."""
        if not 0 <= row < len(self):
            raise InfonasError(f"edit distance: row {row} is outside 0..{len(self) - 1}")
        edges = np.bitwise_count(self.edges ^ self.edges[row])
        return edges.astype(np.int64) + (self.ops != self.ops[row]).sum(axis=1)


def edit_distance(adjacency_a, ops_a, adjacency_b, ops_b) -> int:
    """Edit distance of two padded cells: differing adjacency entries plus differing ops."""
    codes = CellCodes(np.stack([np.asarray(adjacency_a), np.asarray(adjacency_b)]),
                      np.stack([np.asarray(ops_a), np.asarray(ops_b)]), what="edit distance")
    return int(codes.distances_to(0)[1])
