"""Every unique NB-101 cell, generated offline in about a minute.

The official generator walks every upper-triangular matrix and op labelling and keeps one cell per
`graph_util.hash_module` value, calling the md5-based hash hundreds of millions of times. Here we
only build cells that are already pruned (every vertex on an input->output path, so pruning is the
identity), group labelled cells into classes with a vectorised 128-bit twin of hash_module (same
Weisfeiler-Lehman structure, splitmix64 mixing instead of md5, so the same equivalence classes
barring a 2^-128 collision), and compute the real md5 hash once per class (~424k calls instead of
~1.3M). A one-to-one check between classes and md5 hashes guards the twin.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from infonas.errors import InfonasError
from infonas.runtime import atomic_path
from infonas.searchspace import ops as O

log = logging.getLogger(__name__)

#: unique cells of the full space (NB-101 paper); checked whenever the full space is enumerated.
NB101_UNIQUE_CELLS = 423_624
CELL_KEYS = ("hash", "adjacency", "ops", "n_nodes")

_M64 = 0xFFFFFFFFFFFFFFFF
#: per-lane salts: two lanes with unrelated constants make 128 independent bits per value.
_LANE_SALTS = ((0x9E3779B97F4A7C15, 0xD1B54A32D192ED03, 0x8CB92BA72F3D8DD7, 0xA0761D6478BD642F),
               (0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3, 0x589965CC75374CC3, 0x1D8E4E27C47D124F))
_INTERIOR_HASH_LABELS = np.array([O.HASH_LABEL_OF_CODE[c] for c in O.INTERIOR_CODES], dtype=np.int64)
_INTERIOR_CODES = np.array(O.INTERIOR_CODES, dtype=np.int8)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijective, well-avalanched map of uint64 (wraps on purpose)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def full_dags(n: int, max_edges: int) -> np.ndarray:
    """All n-vertex upper-triangular 0/1 matrices with <= max_edges edges and every vertex on an
    input->output path, i.e. exactly the matrices that official pruning leaves unchanged.

    In an upper-triangular DAG every vertex lies on such a path iff every vertex but the output has
    an out-edge and every vertex but the input has an in-edge (follow them to the ends).
    """
    pairs = [(i, j) for j in range(n) for i in range(j)]
    masks = np.arange(2 ** len(pairs), dtype=np.int64)
    bits = ((masks[:, None] >> np.arange(len(pairs))) & 1).astype(np.uint8)
    bits = bits[bits.sum(axis=1) <= max_edges]
    adj = np.zeros((len(bits), n, n), dtype=np.uint8)
    rows, cols = zip(*pairs)
    adj[:, rows, cols] = bits
    full = adj[:, : n - 1, :].any(axis=2).all(axis=1) & adj[:, :, 1:].any(axis=1).all(axis=1)
    return adj[full]


def _labelings(n: int) -> np.ndarray:
    """(3^(n-2), n) interior-op indices 0..2 for vertices 1..n-2; input/output columns are -1."""
    inner = np.array(list(itertools.product(range(3), repeat=n - 2)), dtype=np.int64).reshape(3 ** (n - 2), n - 2)
    ends = np.full((len(inner), 1), -1, dtype=np.int64)
    return np.concatenate([ends, inner, ends], axis=1)


def wl_fingerprints(adj: np.ndarray, hash_labels: np.ndarray) -> np.ndarray:
    """128-bit twin of `graph_util.hash_module` for (S, n, n) structures x (S, L, n) hash labels.

    Mirrors it step by step: vertex value from (out-degree, in-degree, label); n rounds of
    (multiset of in-neighbour values, multiset of out-neighbour values, own value); the multiset of
    final values. A multiset is the wrapping sum of mixed members. Returns (S, L, 2) uint64.
    """
    n = adj.shape[1]
    out_deg = adj.sum(axis=2, dtype=np.int64)[:, None, :]
    in_deg = adj.sum(axis=1, dtype=np.int64)[:, None, :]
    code = ((out_deg * 8 + in_deg) * 8 + (hash_labels + 2)).astype(np.uint64)
    a = adj.astype(np.uint64)
    lanes = []
    with np.errstate(over="ignore"):
        for s_init, s_nbr, s_in, s_out in _LANE_SALTS:
            h = _mix(code ^ np.uint64(s_init))
            for _ in range(n):
                m = _mix(h ^ np.uint64(s_nbr))
                ins = np.matmul(m, a)  # sum over w with adj[w, v]
                outs = np.matmul(m, a.transpose(0, 2, 1))  # sum over w with adj[v, w]
                h = _mix(_mix(_mix(ins ^ np.uint64(s_in)) + outs) ^ np.uint64(s_out) ^ h)
            lanes.append(_mix(h ^ np.uint64(s_nbr)).sum(axis=2, dtype=np.uint64))
    return np.stack(lanes, axis=-1)


def md5_module_hash(adj_rows: list[list[int]], hash_labels: list[int]) -> str:
    """`graph_util.hash_module` re-written on plain lists (same md5 inputs, ~5x faster)."""
    n = len(hash_labels)
    ins = [[w for w in range(n) if adj_rows[w][v]] for v in range(n)]
    outs = [[w for w in range(n) if adj_rows[v][w]] for v in range(n)]
    md5 = hashlib.md5
    h = [md5(str((len(outs[v]), len(ins[v]), hash_labels[v])).encode()).hexdigest() for v in range(n)]
    for _ in range(n):
        h = [
            md5(
                ("".join(sorted([h[w] for w in ins[v]])) + "|" + "".join(sorted([h[w] for w in outs[v]]))
                 + "|" + h[v]).encode()
            ).hexdigest()
            for v in range(n)
        ]
    return md5(str(sorted(h)).encode()).hexdigest()


def _hash_chunk(job: tuple[np.ndarray, np.ndarray]) -> list[bytes]:
    adjacency, labels = job
    return [md5_module_hash(a.tolist(), l.tolist()).encode() for a, l in zip(adjacency, labels)]


def _classes_of_size(n: int, max_edges: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One representative (adjacency, interior-op index labelling) per fingerprint class of
    n-vertex cells, plus the class fingerprints."""
    structures = full_dags(n, max_edges)
    labelings = _labelings(n)
    hash_labels = np.where(labelings < 0, 0, _INTERIOR_HASH_LABELS[np.maximum(labelings, 0)])
    hash_labels[:, 0], hash_labels[:, -1] = -1, -2
    prints = wl_fingerprints(structures, np.broadcast_to(hash_labels, (len(structures),) + hash_labels.shape))
    flat = prints.reshape(-1, 2)
    _, first = np.unique(flat, axis=0, return_index=True)
    s, l = np.divmod(first, len(labelings))
    log.info("%d vertices: %d structures x %d labellings -> %d classes",
             n, len(structures), len(labelings), len(first))
    return structures[s], labelings[l], flat[first]


def _md5_all(adjacency: list[np.ndarray], labels: list[np.ndarray], workers: int, progress: bool) -> np.ndarray:
    """Official md5 hash of each representative, over `workers` processes in chunks."""
    chunk = 4096
    jobs = [(a[i : i + chunk], l[i : i + chunk]) for a, l in zip(adjacency, labels) for i in range(0, len(a), chunk)]
    total = sum(len(l) for l in labels)
    bar = tqdm(total=total, desc="md5 hashes", unit="cell", disable=not progress)
    out: list[bytes] = []
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for part in pool.imap(_hash_chunk, jobs):
                out.extend(part)
                bar.update(len(part))
    else:
        for job in jobs:
            part = _hash_chunk(job)
            out.extend(part)
            bar.update(len(part))
    bar.close()
    return np.array(out, dtype="S32")


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def enumerate_cells(
    max_vertices: int = O.MAX_VERTICES,
    max_edges: int = O.MAX_EDGES,
    progress: bool = False,
    workers: int | None = None,
) -> dict:
    """Every unique cell with <= max_vertices vertices and <= max_edges edges after pruning.

    Returns numpy arrays sorted by hash, one row per unique official module hash: `hash` (N,) S32,
    `adjacency` (N,7,7) uint8 and `ops` (N,7) int8 in the arch2vec padded encoding, `n_nodes` (N,)
    int8. Each row holds a pruned representative (upper-triangular, input first, output last).
    `workers` processes compute the md5 hashes (default: the CPUs this process may use).
    """
    if not 2 <= max_vertices <= O.MAX_VERTICES:
        raise InfonasError(f"enumerate_cells: max_vertices={max_vertices} outside 2..{O.MAX_VERTICES}")
    if not 1 <= max_edges <= O.MAX_EDGES:
        raise InfonasError(f"enumerate_cells: max_edges={max_edges} outside 1..{O.MAX_EDGES}")
    workers = _default_workers() if workers is None else max(1, int(workers))
    reps = [_classes_of_size(n, max_edges) for n in tqdm(range(2, max_vertices + 1), desc="classes", disable=not progress)]
    labels = [np.where(l < 0, 0, _INTERIOR_HASH_LABELS[np.maximum(l, 0)]) for _, l, _ in reps]
    for lab in labels:
        lab[:, 0], lab[:, -1] = -1, -2
    hashes = _md5_all([a for a, _, _ in reps], labels, workers, progress)
    n_classes = len(hashes)
    order = np.argsort(hashes, kind="stable")
    hashes = hashes[order]
    if n_classes != len(np.unique(hashes)):
        raise RuntimeError(f"enumerate_cells: {n_classes} fingerprint classes share md5 hashes: twin hash is finer than hash_module")
    adjacency = np.zeros((n_classes, O.MAX_VERTICES, O.MAX_VERTICES), dtype=np.uint8)
    ops = np.full((n_classes, O.MAX_VERTICES), O.PAD_CODE, dtype=np.int8)
    n_nodes = np.concatenate([np.full(len(l), l.shape[1], dtype=np.int8) for l in labels])
    row = 0
    for adj, lab, _ in reps:
        k, n = len(lab), lab.shape[1]
        adjacency[row : row + k, :n, :n] = adj
        ops[row : row + k, :n] = np.where(lab < 0, 0, _INTERIOR_CODES[np.maximum(lab, 0)])
        ops[row : row + k, 0], ops[row : row + k, n - 1] = O.INPUT_CODE, O.OUTPUT_CODE
        row += k
    cells = {"hash": hashes, "adjacency": adjacency[order], "ops": ops[order], "n_nodes": n_nodes[order]}
    if (max_vertices, max_edges) == (O.MAX_VERTICES, O.MAX_EDGES) and n_classes != NB101_UNIQUE_CELLS:
        raise RuntimeError(f"enumerate_cells: {n_classes} unique cells, expected {NB101_UNIQUE_CELLS}")
    log.info("enumerated %d unique cells (<= %d vertices, <= %d edges)", n_classes, max_vertices, max_edges)
    return cells
