"""Regularized evolution on the discrete NB-101 cells: the evolutionary baseline of arch2vec's Fig. 6.

arch2vec reproduced it with the NAS-Bench-101 authors' setup (automl/nas_benchmarks'
run_regularized_evolution.py: population 100, tournament sample 10; Real et al. 2019, Algorithm 1):

- Start: `population` cells drawn uniformly without repetition from the searchable rows, each
  evaluated and charged its training time.
- Cycle: sample `sample_size` members of the population with replacement, take the one of best
  validation accuracy as parent, evaluate a mutant of it and append it; the oldest member dies.
- Mutation (NAS-Bench-101's `mutate_spec`): on the parent as a 7-vertex cell (vertices a pruned
  cell lacks are appended unconnected before the output, with random ops), flip each upper-triangle
  edge with probability mutation_rate / 7 and change each interior op to one of the two others with
  probability mutation_rate / 5; repeat until the child is a valid cell (input reaches output, at
  most 9 edges after pruning) that is a searchable row of the table. As there, a child may be the
  parent again (no change, or only changes that pruning removes) or any cell evaluated before; it is
  evaluated and charged again, as a benchmark query is. Mutants are drawn in blocks of MUTANT_BLOCK and tested vectorised (pruning by
  reachability, an isomorphism-invariant 128-bit fingerprint per cell); the first valid one is taken.
- Stop: with the evaluation that brings the run's clock to the budget (as every search here).

Needs no features, so it runs once per search space, like random search.
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np
from tqdm.auto import tqdm

from infonas.errors import InfonasError
from infonas.evaluation.regret import SearchResult, as_float64, pack_runs, run_seeds, searchable_rows
from infonas.searchspace import ops as O
from infonas.searchspace.enumerate import wl_fingerprints

logger = logging.getLogger(__name__)

MUTANT_BLOCK = 32  # mutants drawn per try; part of a run's random-stream definition
_N = O.MAX_VERTICES
_PAD_LABEL = 3  # hash label of a vertex removed by pruning (official labels are -2..2)
_TRIU = np.triu_indices(_N, k=1)
_LABEL_OF_CODE = np.array(O.HASH_LABEL_OF_CODE + (_PAD_LABEL,), dtype=np.int64)  # index -1: padding
_INTERIOR = np.array(O.INTERIOR_CODES, dtype=np.int8)
_MAX_TRIES = 10_000


def to_seven_vertices(adjacency: np.ndarray, ops: np.ndarray, filler_ops: np.ndarray):
    """Stored padded cells (S, 7, 7), (S, 7) -> 7-vertex cells with the output last.

    A cell of n < 7 vertices keeps vertices 0..n-2; its output moves to vertex 6 and vertices
    n-1..5 get `filler_ops` (S, 5) and no edges, so pruning gives back the stored cell.
    """
    adjacency = np.asarray(adjacency, dtype=np.uint8)
    ops = np.asarray(ops, dtype=np.int8)
    n = (ops != O.PAD_CODE).sum(axis=1)
    adj7 = np.zeros((len(ops), _N, _N), dtype=np.uint8)
    ops7 = np.empty((len(ops), _N), dtype=np.int8)
    ops7[:, 0], ops7[:, -1] = O.INPUT_CODE, O.OUTPUT_CODE
    ops7[:, 1:-1] = filler_ops
    for s in range(len(ops)):
        k = int(n[s])
        keep = list(range(k - 1)) + [_N - 1]  # new position of each stored vertex
        adj7[s][np.ix_(keep, keep)] = adjacency[s, :k, :k]
        ops7[s, 1:k - 1] = ops[s, 1:k - 1]
    return adj7, ops7


def cell_keys(adj: np.ndarray, ops: np.ndarray):
    """Isomorphism-invariant keys of 7-vertex cells (S, 7, 7), (S, 7) after pruning, and validity.

    Pruning (the official rule: keep vertices on an input->output path) is done by reachability and
    by relabelling the dropped vertices as padding, so no cell changes size. Valid: the input
    reaches the output and at most 9 edges remain. Returns (S,) keys (bytes) and (S,) bool valid.
    """
    reach = (adj > 0) | np.eye(_N, dtype=bool)
    for _ in range(3):  # 2^3 >= 7 - 1 path lengths
        reach = np.matmul(reach.astype(np.int32), reach.astype(np.int32)) > 0
    keep = reach[:, 0, :] & reach[:, :, _N - 1]
    pruned = (adj > 0) & keep[:, :, None] & keep[:, None, :]
    valid = keep[:, 0] & (pruned.sum(axis=(1, 2)) <= O.MAX_EDGES)
    labels = np.where(keep, _LABEL_OF_CODE[ops.astype(np.int64)], _PAD_LABEL)
    prints = wl_fingerprints(pruned.astype(np.int64), labels[:, None, :])[:, 0, :]
    return [p.tobytes() for p in prints], valid


def table_keys(adjacency, ops, block: int = 4096) -> list[bytes]:
    """Keys of the stored (pruned, padded) cells, comparable with `cell_keys` of any mutant (in
    blocks of rows, which bound the fingerprint temporaries)."""
    keys = []
    for s in range(0, len(ops), block):
        part = slice(s, s + block)
        n = len(ops[part])
        adj7, ops7 = to_seven_vertices(adjacency[part], ops[part], np.full((n, _N - 2), O.CONV3X3_CODE))
        got, valid = cell_keys(adj7, ops7)
        if not valid.all():
            row = s + int(np.flatnonzero(~valid)[0])
            raise InfonasError(f"regularized evolution: search-space row {row} is not a valid NB-101 cell")
        keys += got
    return keys


def mutants(rng: np.random.Generator, adj7: np.ndarray, ops7: np.ndarray, rate: float, count: int):
    """`count` NAS-Bench-101 mutations of one 7-vertex cell: edge flips with p = rate/7, op changes
    with p = rate/5 (to one of the two other interior ops)."""
    flip = rng.random((count, len(_TRIU[0]))) < rate / _N
    change = rng.random((count, _N - 2)) < rate / (_N - 2)
    shift = rng.integers(1, len(_INTERIOR), size=(count, _N - 2))
    adj = np.repeat(adj7[None], count, axis=0)
    adj[:, _TRIU[0], _TRIU[1]] ^= flip.astype(np.uint8)
    ops = np.repeat(ops7[None], count, axis=0)
    pos = np.searchsorted(_INTERIOR, ops[:, 1:-1])
    ops[:, 1:-1] = np.where(change, _INTERIOR[(pos + shift) % len(_INTERIOR)], ops[:, 1:-1])
    return adj, ops


class _Table:
    """The searchable rows as 7-vertex cells with their keys, and key -> searchable-row lookup."""

    def __init__(self, adjacency, ops, rows):
        self.adjacency, self.ops = np.asarray(adjacency)[rows], np.asarray(ops)[rows]
        keys = table_keys(self.adjacency, self.ops)
        self.row_of = {k: i for i, k in enumerate(keys)}
        if len(self.row_of) != len(keys):
            raise InfonasError("regularized evolution: two search-space rows have the same cell fingerprint")
        self.keys = keys

    def child(self, rng, parent: int, rate: float) -> int:
        """A valid mutant of searchable row `parent` that is a searchable row (the parent itself included)."""
        adj7, ops7 = to_seven_vertices(self.adjacency[parent:parent + 1], self.ops[parent:parent + 1],
                                       rng.choice(_INTERIOR, size=(1, _N - 2)))
        for _ in range(_MAX_TRIES):
            keys, valid = cell_keys(*mutants(rng, adj7[0], ops7[0], rate, MUTANT_BLOCK))
            for key, ok in zip(keys, valid):
                row = self.row_of.get(key) if ok else None
                if row is not None:
                    return row
        raise InfonasError(f"regularized evolution: no mutant of row {parent} found in the search space "
                           f"after {_MAX_TRIES * MUTANT_BLOCK} tries (is the table tiny?)")


def regularized_evolution(
    adjacency,
    ops,
    val_acc,
    test_acc,
    train_time,
    n_runs: int,
    budget_s: float,
    seed: int,
    *,
    population: int = 100,
    sample_size: int = 10,
    mutation_rate: float = 1.0,
    progress: bool = True,
) -> SearchResult:
    """n_runs independent regularized-evolution searches of `budget_s` summed training seconds each.

    adjacency (N, 7, 7), ops (N, 7): the search space's stored cells; metrics as random search.
    Run r uses its own numpy generator seeded `run_seeds(seed, n_runs)[r]`, drawing its population
    as random search of the same seed draws its order: with one seed the two curves are equal until
    the first child (common random numbers), so they differ only by what evolution adds.
    """
    if n_runs < 1 or not budget_s > 0:
        raise InfonasError(f"regularized evolution: need n_runs >= 1 and budget_s > 0, got {n_runs}, {budget_s}")
    if population < 1 or not 1 <= sample_size <= population or not mutation_rate > 0:
        raise InfonasError("regularized evolution: need population >= 1, 1 <= sample_size <= population, "
                           f"mutation_rate > 0; got {population}, {sample_size}, {mutation_rate}")
    val, test, time = (as_float64(a, n) for a, n in
                       ((val_acc, "val_acc"), (test_acc, "test_acc"), (train_time, "train_time")))
    rows = searchable_rows(val, test, time)
    table = _Table(adjacency, ops, rows)
    sequences = []
    for run_seed in tqdm(run_seeds(seed, n_runs), desc="regularized evolution", disable=not progress):
        sequences.append(rows[_one_run(np.random.default_rng(run_seed), table, val[rows], time[rows],
                                       budget_s, population, sample_size, mutation_rate)])
    settings = {"population": int(population), "sample_size": int(sample_size),
                "mutation_rate": float(mutation_rate), "mutant_block": MUTANT_BLOCK,
                "n_searchable_rows": int(rows.size)}
    result = pack_runs("evolution", sequences, val, test, time, budget_s, seed, settings=settings)
    logger.info("regularized evolution: %d runs, %.1f evaluations per run on average", n_runs, result.lengths.mean())
    return result


def _one_run(rng, table: _Table, val, time, budget_s, population, sample_size, rate) -> np.ndarray:
    """Searchable-row numbers one run evaluates, in order."""
    sequence, clock = [], 0.0
    alive: deque[int] = deque()
    for row in rng.permutation(len(val))[:population]:
        sequence.append(int(row))
        alive.append(int(row))
        clock += time[row]
        if clock >= budget_s:
            return np.asarray(sequence, dtype=np.int64)
    while True:
        members = np.asarray(alive)
        sample = members[rng.integers(len(members), size=sample_size)]
        parent = int(sample[np.argmax(val[sample])])  # first best on ties
        child = table.child(rng, parent, rate)
        sequence.append(child)
        alive.append(child)
        alive.popleft()
        clock += time[child]
        if clock >= budget_s:
            return np.asarray(sequence, dtype=np.int64)
