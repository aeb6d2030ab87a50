"""The NB-101 op vocabulary and its integer codes: the only place they are defined.

`CODES` are the arch2vec codes stored in searchspace.h5 (`ops` column) and used for one-hot
features; `HASH_LABELS` are the labels the official module hash uses (input -1, output -2,
interior ops indexed in the official `available_ops` order).
"""

from __future__ import annotations

INPUT = "input"
CONV1X1 = "conv1x1-bn-relu"
CONV3X3 = "conv3x3-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
OUTPUT = "output"

#: arch2vec order; position = code stored in searchspace.h5 and one-hot column.
OP_NAMES: tuple[str, ...] = (INPUT, CONV1X1, CONV3X3, MAXPOOL3X3, OUTPUT)
CODES: dict[str, int] = {name: i for i, name in enumerate(OP_NAMES)}
INPUT_CODE, CONV1X1_CODE, CONV3X3_CODE, MAXPOOL_CODE, OUTPUT_CODE = range(5)
PAD_CODE = -1
N_OPS = len(OP_NAMES)

#: interior ops in the official NB-101 `available_ops` order (defines the hash labels).
OFFICIAL_INTERIOR_OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)
HASH_LABELS: dict[str, int] = {
    INPUT: -1,
    OUTPUT: -2,
    **{name: i for i, name in enumerate(OFFICIAL_INTERIOR_OPS)},
}
#: the same map indexed by arch2vec code (for vectorised hashing).
HASH_LABEL_OF_CODE: tuple[int, ...] = tuple(HASH_LABELS[name] for name in OP_NAMES)

MAX_VERTICES = 7
MAX_EDGES = 9
INTERIOR_CODES: tuple[int, ...] = (CONV1X1_CODE, CONV3X3_CODE, MAXPOOL_CODE)
