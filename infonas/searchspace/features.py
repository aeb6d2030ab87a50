"""Raw cell features: what a cell is, with nothing learned (issue: the baseline of every embedding).

Each padded cell becomes 56 numbers: the 21 entries above the diagonal of its 7x7 adjacency matrix
(row by row) and the 7x5 one-hot matrix of its ops (arch2vec's op order, padding rows all zero),
flattened. They are the features the semi-supervised assessor and arch2vec's "supervised" baselines
start from, so a search or predictor on them shows what a learned embedding adds over the cell
itself. The padding is arch2vec's (zero rows and columns after the output node, `cells.pad_cell`), so
two cells with the same graph and ops always get the same vector.
"""

from __future__ import annotations

import numpy as np

from infonas.errors import InfonasError
from infonas.searchspace import ops as O
from infonas.searchspace.cells import one_hot_ops

#: encoder name of the raw features, as the embeddings file and the evaluations call it
RAW_ENCODER = "raw"
#: display name of the raw features in figures and tables
RAW_LABEL = "raw cells"
N_ADJACENCY = O.MAX_VERTICES * (O.MAX_VERTICES - 1) // 2
N_RAW_FEATURES = N_ADJACENCY + O.MAX_VERTICES * O.N_OPS
_UPPER = np.triu_indices(O.MAX_VERTICES, k=1)


def raw_cell_features(adjacency: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """(N, 7, 7) padded adjacency and (N, 7) op codes (-1 = padding) -> (N, 56) float32 features."""
    adjacency, ops = np.asarray(adjacency), np.asarray(ops)
    size = O.MAX_VERTICES
    if adjacency.ndim != 3 or adjacency.shape[1:] != (size, size):
        raise InfonasError(f"raw features: adjacency must be (N, {size}, {size}), got {adjacency.shape}")
    if ops.shape != adjacency.shape[:2]:
        raise InfonasError(f"raw features: ops must be (N, {size}) beside adjacency {adjacency.shape}, got {ops.shape}")
    if ops.size and (ops.min() < O.PAD_CODE or ops.max() >= O.N_OPS):
        raise InfonasError(f"raw features: op codes must lie in {O.PAD_CODE}..{O.N_OPS - 1}")
    upper = adjacency[:, _UPPER[0], _UPPER[1]].astype(np.float32)
    onehot = one_hot_ops(ops).reshape(len(ops), size * O.N_OPS)
    return np.concatenate([upper, onehot], axis=1)
