"""The per-network IO shard `<hash>.h5` (extract_io stage folder): the one module that knows its layout.

A shard holds what one pretrained network outputs for the `valid` and `test_2k` images (docs/layout.md
lists it with the other stage outputs): per image group `features` (N, D) float32 (the
global-average-pool output, D = 512 at paper scale), `logits` (N, C) float32 and `labels` (N,) int64;
group `classifier` with `weight` (C, D) and `bias` (C,) float32 of the last dense layer; root attr `hash`.

Features are stored in row chunks with gzip + byte shuffle, so a reader can slice a few rows
(`open_features`) without inflating the whole array, and 685 shards stay small on disk. Every
dataset carries a Fletcher-32 checksum (`infonas.hdf5`), so a damaged shard is an error, not
other numbers.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from infonas.errors import InfonasError
from infonas.hdf5 import add_dataset, get_attr, read_dataset, read_h5, set_attrs, write_h5

SHARD_SPLITS = ("valid", "test_2k")
ROW_CHUNK = 256
_HASH_RE = re.compile(r"^[0-9a-f]{32}$")
_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


def shard_path(shard_dir: str | Path, net_hash: str) -> Path:
    """Where the shard of network `net_hash` lives inside a shard folder (the extract_io stage's)."""
    return Path(shard_dir) / f"{net_hash}.h5"


def _check_split(where: str, arrays: Mapping[str, np.ndarray], n_features: int, n_classes: int) -> dict:
    """Cast one image group to the stored dtypes and check shapes, label range and finiteness."""
    missing = {"features", "logits", "labels"} - set(arrays)
    if missing:
        raise InfonasError(f"{where}: missing arrays {sorted(missing)}")
    features = np.asarray(arrays["features"], dtype=np.float32)
    logits = np.asarray(arrays["logits"], dtype=np.float32)
    labels = np.asarray(arrays["labels"])
    if not np.issubdtype(labels.dtype, np.integer):
        raise InfonasError(f"{where}/labels: integer labels expected, got {labels.dtype}")
    labels = labels.astype(np.int64)
    n = labels.shape[0] if labels.ndim == 1 else -1
    expected = {"features": (n, n_features), "logits": (n, n_classes), "labels": (n,)}
    for name, value in (("features", features), ("logits", logits), ("labels", labels)):
        if value.shape != expected[name]:
            raise InfonasError(f"{where}/{name}: shape {value.shape}, expected {expected[name]}")
    for name, value in (("features", features), ("logits", logits)):
        if not np.isfinite(value).all():
            raise InfonasError(f"{where}/{name}: contains NaN or infinite values")
    if n and (labels.min() < 0 or labels.max() >= n_classes):
        raise InfonasError(f"{where}/labels: values outside 0..{n_classes - 1}")
    return {"features": features, "logits": logits, "labels": labels}


def _check_classifier(where: str, weight, bias) -> tuple[np.ndarray, np.ndarray]:
    weight = np.asarray(weight, dtype=np.float32)
    bias = np.asarray(bias, dtype=np.float32)
    if weight.ndim != 2 or bias.shape != (weight.shape[0],):
        raise InfonasError(f"{where}/classifier: weight {weight.shape} and bias {bias.shape} must be (C, D) and (C,)")
    if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
        raise InfonasError(f"{where}/classifier: contains NaN or infinite values")
    return weight, bias


def write_shard(
    path: str | Path,
    net_hash: str,
    splits: Mapping[str, Mapping[str, np.ndarray]],
    weight: np.ndarray,
    bias: np.ndarray,
) -> None:
    """Validate and write one network's shard atomically (a failed write leaves no file)."""
    if not isinstance(net_hash, str) or not _HASH_RE.match(net_hash):
        raise InfonasError(f"{path}: network hash {net_hash!r} is not 32 lowercase hex characters")
    unknown = set(splits) - set(SHARD_SPLITS)
    if unknown:
        raise InfonasError(f"{path}: unknown image groups {sorted(unknown)} (allowed: {list(SHARD_SPLITS)})")
    weight, bias = _check_classifier(str(path), weight, bias)
    checked = {name: _check_split(f"{path}:/{name}", arrays, weight.shape[1], weight.shape[0])
               for name, arrays in splits.items()}
    with write_h5(path) as handle:
        set_attrs(handle, hash=net_hash)
        for name, arrays in checked.items():
            group = handle.create_group(name)
            for key, value in arrays.items():
                add_dataset(group, key, value, chunks=(ROW_CHUNK,) + value.shape[1:], **_COMPRESSION)
        classifier = handle.create_group("classifier")
        add_dataset(classifier, "weight", weight)
        add_dataset(classifier, "bias", bias)


def read_shard(path: str | Path, splits: tuple[str, ...] | list[str] | None = None) -> dict:
    """Read and validate a shard: {"hash", "weight", "bias", <split>: {features, logits, labels}}.

    `splits` picks the image groups to load (default both); shapes, dtypes, label range and
    finiteness are checked, so downstream code never sees a NaN from a broken extraction.
    """
    path = Path(path)
    wanted = SHARD_SPLITS if splits is None else tuple(splits)
    unknown = set(wanted) - set(SHARD_SPLITS)
    if unknown:
        raise InfonasError(f"{path}: unknown image groups {sorted(unknown)} (allowed: {list(SHARD_SPLITS)})")
    with read_h5(path, "IO shard") as handle:
        net_hash = get_attr(handle, "hash", None)
        if net_hash is None:
            raise InfonasError(f"{path}: root attribute 'hash' missing")
        weight = read_dataset(handle, "classifier/weight")
        bias = read_dataset(handle, "classifier/bias")
        raw = {name: {key: read_dataset(handle, f"{name}/{key}") for key in ("features", "logits", "labels")}
               for name in wanted}
    for key, value in (("classifier/weight", weight), ("classifier/bias", bias)):
        if value.dtype != np.float32:
            raise InfonasError(f"{path}:/{key}: dtype {value.dtype}, expected float32")
    weight, bias = _check_classifier(str(path), weight, bias)
    shard = {"hash": str(net_hash), "weight": weight, "bias": bias}
    for name, arrays in raw.items():
        expected = {"features": np.float32, "logits": np.float32, "labels": np.int64}
        for key, dtype in expected.items():
            if arrays[key].dtype != dtype:
                raise InfonasError(f"{path}:/{name}/{key}: dtype {arrays[key].dtype}, expected {np.dtype(dtype)}")
        shard[name] = _check_split(f"{path}:/{name}", arrays, weight.shape[1], weight.shape[0])
    return shard


@contextlib.contextmanager
def open_features(path: str | Path, split: str) -> Iterator:
    """Yield the h5py `features` dataset of one image group for sliced reads (`ds[i:j]`).

    Only the shape and dtype are checked here; values are checked when read_shard loads them. A
    damaged chunk met while slicing inside the block is an InfonasError naming the shard.
    """
    path = Path(path)
    if split not in SHARD_SPLITS:
        raise InfonasError(f"{path}: unknown image group {split!r} (allowed: {list(SHARD_SPLITS)})")
    with read_h5(path, "IO shard") as handle:
        name = f"{split}/features"
        if name not in handle:
            raise InfonasError(f"{path}:/{name}: dataset missing")
        dataset = handle[name]
        if dataset.ndim != 2 or dataset.dtype != np.float32:
            raise InfonasError(f"{path}:/{name}: shape {dataset.shape} {dataset.dtype}, expected (N, D) float32")
        yield dataset
