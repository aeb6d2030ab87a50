"""Every unique NB-101 cell, generated offline in well under a minute of CPU per core.

The official generator walks every upper-triangular matrix and op labelling and keeps one cell per
`graph_util.hash_module` value. Here we build only cells that are already pruned (every vertex on
an input->output path, so pruning is the identity: ~1.29M labelled cells in the full space), group
them into classes with a vectorised 128-bit twin of hash_module (the same Weisfeiler-Lehman steps
with splitmix64 mixing in place of md5, hence the same classes barring a ~2^-128 collision), and
compute the real md5 hash once per class (423,624 calls). A one-to-one check between classes and
md5 hashes, and the known total, guard the twin.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import multiprocessing
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from infonas.errors import InfonasError
from infonas.hdf5 import add_dataset, read_dataset, read_h5, write_h5
from infonas.searchspace import ops as O

log = logging.getLogger(__name__)

#: unique cells of the full space (NB-101 paper); checked whenever the full space is enumerated.
NB101_UNIQUE_CELLS = 423_624
CELL_KEYS = ("hash", "adjacency", "ops", "n_nodes")

#: per-lane salts (initial value, neighbour mixing, combine in, combine out); two lanes with
#: unrelated constants give 128 independent bits per fingerprint.
_LANE_SALTS = (
    (0x9E3779B97F4A7C15, 0xD1B54A32D192ED03, 0x8CB92BA72F3D8DD7, 0xA0761D6478BD642F),
    (0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3, 0x589965CC75374CC3, 0x1D8E4E27C47D124F),
)
#: interior-op index 0..2 -> official hash label and arch2vec code.
_INTERIOR_HASH_LABELS = np.array([O.HASH_LABEL_OF_CODE[c] for c in O.INTERIOR_CODES], dtype=np.int64)
_INTERIOR_CODES = np.array(O.INTERIOR_CODES, dtype=np.int8)
_STRUCTURES_PER_BATCH = 512  # bounds the fingerprint temporaries to ~10 MB per array
_CELLS_PER_JOB = 4096


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
    an out-edge and every vertex but the input has an in-edge (follow them to the two ends).
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


def _interior_labelings(n: int) -> np.ndarray:
    """(3^(n-2), n-2) interior-op indices 0..2 of vertices 1..n-2, in itertools.product order."""
    rows = list(itertools.product(range(3), repeat=n - 2))
    return np.array(rows, dtype=np.int64).reshape(3 ** (n - 2), n - 2)


def _hash_labels(interior: np.ndarray) -> np.ndarray:
    """Interior-op indices (..., n-2) -> official hash labels (..., n): -1 input, -2 output."""
    labels = _INTERIOR_HASH_LABELS[interior]
    ends = np.ones(interior.shape[:-1] + (1,), dtype=np.int64)
    return np.concatenate([-ends, labels, -2 * ends], axis=-1)


def wl_fingerprints(adj: np.ndarray, hash_labels: np.ndarray) -> np.ndarray:
    """128-bit twin of `graph_util.hash_module` for (S, n, n) structures x (L, n) hash labels.

    Mirrors it step by step: vertex value from (out-degree, in-degree, label); n rounds of
    (multiset of in-neighbour values, multiset of out-neighbour values, own value); the multiset of
    final values. A multiset is the wrapping sum of its mixed members. Returns (S, L, 2) uint64.
    Labels of shape (S, L, n) give each structure its own L labelings (labels must lie in -2..5).
    """
    n = adj.shape[1]
    out_deg = adj.sum(axis=2, dtype=np.int64)[:, None, :]
    in_deg = adj.sum(axis=1, dtype=np.int64)[:, None, :]
    labels = hash_labels if hash_labels.ndim == 3 else hash_labels[None]
    code = ((out_deg * 8 + in_deg) * 8 + (labels + 2)).astype(np.uint64)
    fwd = adj.astype(np.uint64)
    bwd = fwd.transpose(0, 2, 1)
    lanes = []
    for s_init, s_nbr, s_in, s_out in _LANE_SALTS:
        h = _mix(code ^ np.uint64(s_init))
        for _ in range(n):
            m = _mix(h ^ np.uint64(s_nbr))
            ins = np.matmul(m, fwd)  # [v] = sum of m[w] over edges w -> v
            outs = np.matmul(m, bwd)  # [v] = sum of m[w] over edges v -> w
            h = _mix(_mix(_mix(ins ^ np.uint64(s_in)) + outs) ^ np.uint64(s_out) ^ h)
        lanes.append(_mix(h ^ np.uint64(s_nbr)).sum(axis=2, dtype=np.uint64))
    return np.stack(lanes, axis=-1)


def md5_module_hash(adj_rows: list[list[int]], hash_labels: list[int]) -> str:
    """`graph_util.hash_module` on plain lists: the same md5 inputs without numpy scalar indexing."""
    verts = range(len(hash_labels))
    ins = [[w for w in verts if adj_rows[w][v]] for v in verts]
    outs = [[w for w in verts if adj_rows[v][w]] for v in verts]
    md5 = hashlib.md5
    h = [md5(str((len(o), len(i), lab)).encode()).hexdigest() for i, o, lab in zip(ins, outs, hash_labels)]
    neighbours = list(zip(ins, outs))
    for _ in verts:
        h = [
            md5("|".join(("".join(sorted([h[w] for w in i])), "".join(sorted([h[w] for w in o])), own)).encode())
            .hexdigest()
            for (i, o), own in zip(neighbours, h)
        ]
    return md5(str(sorted(h)).encode()).hexdigest()


def _md5_job(job: tuple[np.ndarray, np.ndarray]) -> list[bytes]:
    adjacency, labels = job
    return [md5_module_hash(a.tolist(), lab.tolist()).encode() for a, lab in zip(adjacency, labels)]


def _representatives(n: int, max_edges: int) -> tuple[np.ndarray, np.ndarray]:
    """One (adjacency, interior-op indices) per fingerprint class of n-vertex pruned cells: the
    first in enumeration order, so the output is deterministic."""
    structures = full_dags(n, max_edges)
    interior = _interior_labelings(n)
    labels = _hash_labels(interior)
    batches = [structures[i : i + _STRUCTURES_PER_BATCH] for i in range(0, len(structures), _STRUCTURES_PER_BATCH)]
    prints = np.zeros((0, 2), dtype=np.uint64)
    if batches:
        prints = np.concatenate([wl_fingerprints(batch, labels).reshape(-1, 2) for batch in batches])
    _, first = np.unique(prints, axis=0, return_index=True)
    first.sort()
    s, l = np.divmod(first, len(interior))
    log.info("%d vertices: %d structures x %d labellings -> %d classes",
             n, len(structures), len(interior), len(first))
    return structures[s], interior[l]


def _md5_hashes(jobs: list[tuple[np.ndarray, np.ndarray]], workers: int, progress: bool) -> np.ndarray:
    """Official md5 hash of every cell in `jobs`, in order, over `workers` forked processes."""
    total = sum(len(labels) for _, labels in jobs)
    out: list[bytes] = []
    with tqdm(total=total, desc="md5 hashes", unit="cell", disable=not progress) as bar:
        if workers > 1 and len(jobs) > 1:
            # fork, not spawn: Snakemake `script:` files have no __main__ guard to re-import safely
            with multiprocessing.get_context("fork").Pool(min(workers, len(jobs))) as pool:
                for part in pool.imap(_md5_job, jobs):
                    out.extend(part)
                    bar.update(len(part))
        else:
            for job in jobs:
                out.extend(_md5_job(job))
                bar.update(len(job[1]))
    return np.array(out, dtype="S32")


def _available_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _padded(reps: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Representatives of every size -> arch2vec padded (adjacency, ops, n_nodes), in order."""
    total = sum(len(interior) for _, interior in reps)
    adjacency = np.zeros((total, O.MAX_VERTICES, O.MAX_VERTICES), dtype=np.uint8)
    ops = np.full((total, O.MAX_VERTICES), O.PAD_CODE, dtype=np.int8)
    n_nodes = np.zeros(total, dtype=np.int8)
    row = 0
    for adj, interior in reps:
        k, n = adj.shape[0], adj.shape[1]
        adjacency[row : row + k, :n, :n] = adj
        ops[row : row + k, 0], ops[row : row + k, n - 1] = O.INPUT_CODE, O.OUTPUT_CODE
        ops[row : row + k, 1 : n - 1] = _INTERIOR_CODES[interior]
        n_nodes[row : row + k] = n
        row += k
    return adjacency, ops, n_nodes


def enumerate_cells(
    max_vertices: int = O.MAX_VERTICES,
    max_edges: int = O.MAX_EDGES,
    progress: bool = False,
    workers: int | None = None,
) -> dict:
    """Every unique cell with <= max_vertices vertices and <= max_edges edges after pruning.

    Returns numpy arrays sorted by hash, one row per official module hash: `hash` (N,) S32,
    `adjacency` (N,7,7) uint8 and `ops` (N,7) int8 in the arch2vec padded encoding, `n_nodes` (N,)
    int8. Each row holds a pruned representative (upper-triangular, input first, output last).
    `workers` processes compute the md5 hashes (default: every CPU this process may use).
    """
    if not 2 <= max_vertices <= O.MAX_VERTICES:
        raise InfonasError(f"enumerate_cells: max_vertices={max_vertices} outside 2..{O.MAX_VERTICES}")
    if not 1 <= max_edges <= O.MAX_EDGES:
        raise InfonasError(f"enumerate_cells: max_edges={max_edges} outside 1..{O.MAX_EDGES}")
    workers = _available_cpus() if workers is None else max(1, int(workers))
    sizes = tqdm(range(2, max_vertices + 1), desc="fingerprint classes", disable=not progress)
    reps = [_representatives(n, max_edges) for n in sizes]
    jobs = [
        (adj[i : i + _CELLS_PER_JOB], _hash_labels(interior[i : i + _CELLS_PER_JOB]))
        for adj, interior in reps
        for i in range(0, len(adj), _CELLS_PER_JOB)
    ]
    hashes = _md5_hashes(jobs, workers, progress)
    order = np.argsort(hashes, kind="stable")
    hashes = hashes[order]
    shared = int((hashes[1:] == hashes[:-1]).sum())
    if shared:
        raise RuntimeError(f"enumerate_cells: {shared} fingerprint classes repeat an md5 hash (twin hash broken)")
    if (max_vertices, max_edges) == (O.MAX_VERTICES, O.MAX_EDGES) and len(hashes) != NB101_UNIQUE_CELLS:
        raise RuntimeError(f"enumerate_cells: {len(hashes)} unique cells, expected {NB101_UNIQUE_CELLS}")
    adjacency, ops, n_nodes = _padded(reps)
    log.info("enumerated %d unique cells (<= %d vertices, <= %d edges)", len(hashes), max_vertices, max_edges)
    return {"hash": hashes, "adjacency": adjacency[order], "ops": ops[order], "n_nodes": n_nodes[order]}


def load_or_enumerate(
    cache_path: str | os.PathLike,
    max_vertices: int = O.MAX_VERTICES,
    max_edges: int = O.MAX_EDGES,
    progress: bool = False,
    workers: int | None = None,
) -> dict:
    """The enumerated cells from an HDF5 cache, enumerating (and writing it atomically) when the
    cache is absent or was made for another space, so a machine pays the cost once."""
    path = Path(cache_path)
    if path.is_file():
        with read_h5(path, "cells cache (delete it and run again)") as handle:
            space = (int(handle.attrs.get("max_vertices", -1)), int(handle.attrs.get("max_edges", -1)))
            if space == (max_vertices, max_edges) and all(key in handle for key in CELL_KEYS):
                log.info("cells cache %s: %d rows", path, handle["hash"].shape[0])
                return {key: read_dataset(handle, key) for key in CELL_KEYS}
        log.warning("cells cache %s was made for another space; enumerating again", path)
    cells = enumerate_cells(max_vertices, max_edges, progress=progress, workers=workers)
    with write_h5(path) as handle:
        handle.attrs["max_vertices"] = max_vertices
        handle.attrs["max_edges"] = max_edges
        for key in CELL_KEYS:
            add_dataset(handle, key, cells[key], compression="gzip", compression_opts=4)
    return cells
