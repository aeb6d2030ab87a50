"""searchspace.h5: build it from enumerated cells or the official tfrecord, join metrics, split, save.

The file holds one row per unique cell, sorted by hash (docs/layout.md). Metric arrays are
named `<metric>_<epochs>` (e.g. `val_acc_108`, shape (N, repeats)) plus `params` (N,).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from infonas.download import DEFAULT_TIMEOUT_S, cached_download, is_url
from infonas.errors import InfonasError
from infonas.hdf5 import add_dataset, read_dataset, read_h5, write_h5
from infonas.searchspace import metrics
from infonas.searchspace.enumerate import load_or_enumerate
from infonas.searchspace.nb101_records import read_nb101_tfrecord
from infonas.splits import random_split_mask

log = logging.getLogger(__name__)

CELL_KEYS = ("hash", "adjacency", "ops", "n_nodes")
SPLIT_TRAIN, SPLIT_TEST = 0, 1


def metric_keys(space: dict) -> list[str]:
    """Names of the metric arrays present (everything that is not a cell column or the split)."""
    return sorted(k for k in space if k not in CELL_KEYS + ("split",))


def take_rows(space: dict, index: np.ndarray) -> dict:
    """The same table restricted to `index` (every array indexed along axis 0)."""
    return {key: value[index] for key, value in space.items()}


def subsample(space: dict, max_archs: int | None, seed: int) -> dict:
    """Seeded subsample of rows for tiny runs; order (by hash) and hashes are unchanged."""
    n = len(space["hash"])
    if max_archs is None or max_archs >= n:
        return space
    rng = np.random.default_rng([seed, 101])
    keep = np.sort(rng.choice(n, size=max_archs, replace=False))
    return take_rows(space, keep)


def assign_split(space: dict, test_fraction: float, seed: int) -> dict:
    """The arch2vec 90/10 train/test split over the rows, seeded."""
    rng = np.random.default_rng([seed, 90])
    is_test = random_split_mask(len(space["hash"]), test_fraction, rng)
    space["split"] = np.where(is_test, SPLIT_TEST, SPLIT_TRAIN).astype(np.int8)
    return space


def fetch_if_url(location: str, cache_dir: str | Path, timeout_s: float = DEFAULT_TIMEOUT_S,
                 progress: bool = False) -> Path:
    """Return a local path for `location`; http(s) URLs are downloaded once, cached by URL.

    The official NB-101 URLs are checked against their published SHA-256 (`infonas.download`).
    """
    if not is_url(location):
        path = Path(location)
        if not path.is_file():
            raise InfonasError(f"searchspace.tfrecord: file not found: {path}")
        return path
    return cached_download(location, cache_dir, timeout_s=timeout_s, what="searchspace.tfrecord", progress=progress)


def keep_rows_with_metrics(space: dict) -> dict:
    """Only the rows the evaluations can score (`metrics.rows_with_metrics`), before subsampling."""
    known = metrics.rows_with_metrics(space)
    if not known.any():
        raise InfonasError(
            "config key 'searchspace.only_with_metrics': the search space has no rows with a validation "
            "accuracy and a training time (set searchspace.metrics_csv, e.g. builtin, or source tfrecord)"
        )
    log.info("only_with_metrics: keeping the %d of %d rows with metrics", int(known.sum()), known.size)
    return take_rows(space, np.flatnonzero(known))


def build_searchspace(
    source: str,
    *,
    cells_cache: str | Path | None = None,
    tfrecord: str | None = None,
    metrics_csv: str | None = None,
    only_with_metrics: bool = False,
    max_archs: int | None = None,
    test_fraction: float = 0.1,
    seed: int = 1,
    cache_dir: str | Path = ".",
    download_timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: bool = False,
) -> dict:
    """Rows of the configured source, metrics joined, subsampled and split (not yet saved).

    `metrics_csv` may be `builtin` (the packaged NB-101 metrics); `only_with_metrics` drops rows
    without a validation accuracy and training time first, so `max_archs` draws among scored rows.
    """
    if source == "enumerate":
        if cells_cache is None:
            raise InfonasError("searchspace: enumerate needs the cells cache path")
        space = load_or_enumerate(cells_cache)
    elif source == "tfrecord":
        if not tfrecord:
            raise InfonasError("config key 'searchspace.tfrecord': required for source 'tfrecord'")
        local = fetch_if_url(tfrecord, cache_dir, timeout_s=download_timeout_s, progress=progress)
        space = read_nb101_tfrecord(local, progress=progress)
    else:
        raise InfonasError(f"config key 'searchspace.source': unknown source '{source}' (enumerate, tfrecord)")
    if metrics_csv:
        space = metrics.join_metrics_csv(space, metrics_csv)
    if only_with_metrics:
        space = keep_rows_with_metrics(space)
    space = subsample(space, max_archs, seed)
    log.info("search space: %d rows, metrics %s", len(space["hash"]), metric_keys(space) or "none")
    return assign_split(space, test_fraction, seed)


def save_searchspace(path: str | Path, space: dict) -> None:
    """Write every array as a root dataset (compressed), atomically."""
    with write_h5(path) as handle:
        for key, value in space.items():
            add_dataset(handle, key, value, compression="gzip", compression_opts=4)


def load_searchspace(path: str | Path) -> dict:
    """Read searchspace.h5 into numpy arrays; a missing or malformed file names itself."""
    with read_h5(path, "search space file") as handle:
        space = {key: read_dataset(handle, key) for key in handle.keys()}
    missing = [k for k in CELL_KEYS + ("split",) if k not in space]
    if missing:
        raise InfonasError(f"{path}: missing datasets {missing}")
    return space


def row_index(space: dict, hashes) -> np.ndarray:
    """Row numbers of `hashes` (str or bytes) in the sorted table; unknown hashes name themselves."""
    wanted = np.asarray([h.encode() if isinstance(h, str) else h for h in hashes], dtype="S32")
    pos = np.searchsorted(space["hash"], wanted)
    pos = np.minimum(pos, len(space["hash"]) - 1)
    bad = space["hash"][pos] != wanted
    if bad.any():
        raise InfonasError(f"hash {wanted[bad][0].decode()} is not in the search space")
    return pos


def cell_of(space: dict, module_hash: str) -> tuple[np.ndarray, np.ndarray]:
    """(adjacency, ops) of one row, padded as stored."""
    row = int(row_index(space, [module_hash])[0])
    return space["adjacency"][row], space["ops"][row]
