"""The labeled IO dataset: (network, image) pairs with scaled output targets, in five splits.

Thesis Table 3.4 / paper Table 2. `valid` are the images held out of pretraining (1000 in the
paper), `test_2k` a sample of test images, train/valid networks come from arch2vec's train/test
split (608/77). A seeded `unseen_fraction` (0.1) of the train networks is held out on test_2k:

| split                         | networks                  | images  | paper rows |
|-------------------------------|---------------------------|---------|------------|
| `train`                       | train                     | valid   | 608,000    |
| `valid_unseen_networks`       | valid                     | valid   | 77,000     |
| `valid_unseen_images`         | 0.1 of train (held out)   | test_2k | 122,000    |
| `test_unseen_images`          | the other 0.9 of train    | test_2k | 1,094,000  |
| `test_unseen_networks_images` | valid                     | test_2k | 154,000    |

Targets are the (D + 1)-entry vectors of `infonas.data.scaling.transform`. Rows are stored network
by network (hash order), images in their images.h5 order, so `image_index` indexes the split's
image group of images.h5 and `net_index` the dataset's network table (hash, role, cell).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from infonas.data.io_store import read_shard, shard_path
from infonas.data.scaling import DEFAULT_ORDER, get_order, load_scaler, transform
from infonas.errors import InfonasError
from infonas.hdf5 import add_dataset, get_attr, read_dataset, read_h5, set_attrs, write_h5
from infonas.searchspace.store import load_searchspace, row_index

log = logging.getLogger(__name__)

# split name -> (network role, which of those networks, image group)
_SPLIT_SPEC = {
    "train": ("train", "all", "valid"),
    "valid_unseen_networks": ("valid", "all", "valid"),
    "valid_unseen_images": ("train", "held_out", "test_2k"),
    "test_unseen_images": ("train", "rest", "test_2k"),
    "test_unseen_networks_images": ("valid", "all", "test_2k"),
}
IO_SPLITS = tuple(_SPLIT_SPEC)
ROLES = ("train", "valid")
LOSSES = ("l1", "mse", "huber")
TARGET_CHUNK = 4096  # rows per stored chunk of targets: one read serves a few batches
HUBER_DELTA = 1.0  # torch.nn.HuberLoss's default, so baselines match the training loss


def n_held_out(n_train_nets: int, unseen_fraction: float = 0.1) -> int:
    """Train networks held out for valid_unseen_images: round(fraction * n), half up, at least 1.

    608 * 0.1 = 60.8 -> 61 as in the thesis; the floor of 1 keeps the split non-empty in tiny runs.
    """
    if n_train_nets <= 0:
        return 0
    if not 0.0 < unseen_fraction < 1.0:
        raise InfonasError(f"io.unseen_image_fraction: {unseen_fraction} is outside (0, 1)")
    return int(min(n_train_nets, max(1, np.floor(n_train_nets * unseen_fraction + 0.5))))


def split_sizes(
    n_train_nets: int, n_valid_nets: int, n_valid_images: int, n_test_images: int, unseen_fraction: float = 0.1
) -> dict[str, int]:
    """Rows of each split (thesis Table 3.4) from the network and image counts."""
    held = n_held_out(n_train_nets, unseen_fraction)
    nets = {"train": {"all": n_train_nets, "held_out": held, "rest": n_train_nets - held},
            "valid": {"all": n_valid_nets}}
    images = {"valid": n_valid_images, "test_2k": n_test_images}
    return {name: nets[role][subset] * images[group] for name, (role, subset, group) in _SPLIT_SPEC.items()}


def example_losses(prediction: np.ndarray, target: np.ndarray, loss: str = "l1") -> np.ndarray:
    """Per-row loss averaged over entries (L1, MSE or Huber with delta 1), in float64."""
    if loss not in LOSSES:
        raise InfonasError(f"train.labeled_loss: unknown loss {loss!r} (valid: {', '.join(LOSSES)})")
    diff = np.abs(np.asarray(prediction, np.float64) - np.asarray(target, np.float64))
    if loss == "l1":
        per_entry = diff
    elif loss == "mse":
        per_entry = diff**2
    else:
        per_entry = np.where(diff < HUBER_DELTA, 0.5 * diff**2, HUBER_DELTA * (diff - 0.5 * HUBER_DELTA))
    return per_entry.mean(axis=-1)


@dataclass
class IOSplit:
    """One split: row i is (cell of network net_index[i], image image_index[i], targets[i])."""

    name: str
    image_group: str
    net_index: np.ndarray
    image_index: np.ndarray
    targets: np.ndarray
    adjacency: np.ndarray
    ops: np.ndarray

    def __len__(self) -> int:
        return len(self.net_index)

    def __getitem__(self, index):
        """(adjacency, ops, image_index, target) for an int, a slice or an index array."""
        net = self.net_index[index]
        return self.adjacency[net], self.ops[net], self.image_index[index], self.targets[index]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def mean_target(self, chunk: int = 65536) -> np.ndarray:
        """Mean target vector in float64, accumulated in chunks (targets may be float16)."""
        if len(self) == 0:
            raise InfonasError(f"IO split {self.name}: empty, it has no mean target")
        total = sum(self.targets[i:i + chunk].astype(np.float64).sum(axis=0) for i in range(0, len(self), chunk))
        return total / len(self)


@dataclass
class IODataset:
    """The network table (sorted by hash) and the five splits built from it."""

    hashes: np.ndarray
    roles: np.ndarray
    adjacency: np.ndarray
    ops: np.ndarray
    splits: dict[str, IOSplit]
    variant: str
    seed: int
    unseen_fraction: float

    def __getitem__(self, name: str) -> IOSplit:
        if name not in self.splits:
            raise InfonasError(f"IO dataset: no split {name!r} (present: {', '.join(self.splits)})")
        return self.splits[name]

    def baseline_errors(self, split: str, loss: str = "l1", reference: str = "self", chunk: int = 65536) -> np.ndarray:
        """Per-row loss of always predicting a mean target vector (for means, batches, bootstraps).

        reference "self" uses the split's own mean vector - the thesis/paper baseline ("we compute
        the mean feature vector using all output data in the dataset"); "train" uses the train
        split's mean, what a predictor that never saw the split could know.
        """
        if reference not in ("self", "train"):
            raise InfonasError(f"baseline reference {reference!r}: expected 'self' or 'train'")
        data = self[split]
        mean = (data if reference == "self" else self["train"]).mean_target()
        parts = [example_losses(mean, data.targets[i:i + chunk], loss) for i in range(0, len(data), chunk)]
        return np.concatenate(parts) if parts else np.zeros(0)

    def baseline_loss(self, split: str, loss: str = "l1", reference: str = "self") -> float:
        """Mean loss of the mean-vector predictor on a split (see baseline_errors)."""
        return float(self.baseline_errors(split, loss, reference).mean())


def _read_networks(networks) -> tuple[object, str]:
    """The network list as a DataFrame plus a name for messages (the CSV path if given)."""
    if isinstance(networks, pd.DataFrame):
        return networks, "networks table"
    path = Path(networks)
    if not path.is_file():
        raise InfonasError(f"{path}: network list not found")
    return pd.read_csv(path, dtype={"hash": str, "role": str}), str(path)


def _check_networks(frame, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Hashes (sorted) and roles; wrong columns, roles or duplicate hashes name the list."""
    missing = {"hash", "role"} - set(frame.columns)
    if missing:
        raise InfonasError(f"{where}: missing columns {sorted(missing)}")
    bad = ~frame["role"].isin(ROLES)
    if bad.any():
        raise InfonasError(f"{where}: role {frame['role'][bad].iloc[0]!r} of network "
                           f"{frame['hash'][bad].iloc[0]} is not one of {list(ROLES)}")
    dup = frame["hash"].duplicated()
    if dup.any():
        raise InfonasError(f"{where}: network {frame['hash'][dup].iloc[0]} is listed twice")
    order = np.argsort(frame["hash"].to_numpy(str), kind="stable")
    return frame["hash"].to_numpy(str)[order], frame["role"].to_numpy(str)[order]


def _cells(space, hashes: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Adjacency and ops of each hash from the search space arrays (dict or searchspace.h5 path)."""
    if not isinstance(space, Mapping):
        where = str(space)
        space = load_searchspace(space)
    try:
        pos = row_index(space, hashes)
    except InfonasError as error:
        raise InfonasError(f"{where}: network list: {error}") from error
    return space["adjacency"][pos], space["ops"][pos]


def _split_members(roles: np.ndarray, unseen_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Network-table rows of each split; the held-out train networks are a seeded choice."""
    train = np.flatnonzero(roles == "train")
    rng = np.random.default_rng(seed)
    held = np.zeros(len(roles), bool)
    held[rng.choice(train, size=n_held_out(len(train), unseen_fraction), replace=False)] = True
    pick = {"all": np.ones(len(roles), bool), "held_out": held, "rest": ~held}
    return {name: np.flatnonzero((roles == role) & pick[subset]) for name, (role, subset, _) in _SPLIT_SPEC.items()}


def _check_labels(shard: dict, path: Path, reference: dict[str, np.ndarray]) -> None:
    """Every shard must hold the same images in the same order; the first one read sets them."""
    for group in ("valid", "test_2k"):
        labels = shard[group]["labels"]
        ref = reference.setdefault(group, labels)
        if labels.shape != ref.shape or not np.array_equal(labels, ref):
            raise InfonasError(f"{path}:/{group}/labels: images differ from the other shards or images.h5 "
                               f"({len(labels)} vs {len(ref)} labels)")


def build_io_dataset(
    networks,
    shard_dir: str | Path,
    scaler,
    seed: int,
    space,
    *,
    unseen_fraction: float = 0.1,
    image_labels: Mapping[str, np.ndarray] | None = None,
    target_dtype=np.float32,
    scaling_order: str = DEFAULT_ORDER,
    progress: bool = False,
) -> IODataset:
    """Read every network's shard, transform its outputs and place the rows in the five splits.

    networks: DataFrame or networks.csv path with columns hash, role (train/valid); scaler:
    ScalerStats or scaler.h5 path; space: load_searchspace dict or searchspace.h5 path;
    image_labels: optional {group: labels} from images.h5 that every shard must match;
    scaling_order: the run's io.scaling_order, which the scaler must have been fitted with.
    """
    frame, where = _read_networks(networks)
    hashes, roles = _check_networks(frame, where)
    adjacency, ops = _cells(space, hashes, "search space")
    scaler = scaler if not isinstance(scaler, (str, Path)) else load_scaler(scaler)
    if scaler.order != get_order(scaling_order):
        raise InfonasError(f"{scaler.source or 'scaler'}: fitted with io.scaling_order {scaler.order!r}, but this run "
                           f"uses {scaling_order!r}; refit the scaler")
    paths = [shard_path(shard_dir, h) for h in hashes]
    for net_hash, path in zip(hashes, paths):
        if not path.is_file():
            raise InfonasError(f"{path}: no IO shard for network {net_hash} of {where}")
    members = _split_members(roles, unseen_fraction, seed)
    reference = {k: np.asarray(v) for k, v in (image_labels or {}).items()}
    rows = {name: None for name in IO_SPLITS}  # allocated once the image counts are known
    position = {name: {int(m): k for k, m in enumerate(idx)} for name, idx in members.items()}
    for net, (net_hash, path) in enumerate(tqdm(list(zip(hashes, paths)), desc="IO dataset", disable=not progress)):
        shard = read_shard(path)
        if shard["hash"] != net_hash:
            raise InfonasError(f"{path}: root attribute hash is {shard['hash']}, expected {net_hash}")
        _check_labels(shard, path, reference)
        for name, (_, _, group) in _SPLIT_SPEC.items():
            if net not in position[name]:
                continue
            data = shard[group]
            n_img = len(data["labels"])
            if rows[name] is None:
                rows[name] = np.empty((len(members[name]) * n_img, shard["weight"].shape[1] + 1), target_dtype)
            start = position[name][net] * n_img
            rows[name][start:start + n_img] = transform(data["features"], data["labels"], shard["weight"],
                                                        shard["bias"], scaler.network(net_hash),
                                                        scaler.final, scaler.variant, scaler.order)
    splits = {}
    for name, (_, _, group) in _SPLIT_SPEC.items():
        n_img = len(reference[group]) if group in reference else 0
        targets = rows[name] if rows[name] is not None else np.zeros((0, len(scaler.final.mean)), target_dtype)
        splits[name] = IOSplit(name, group, np.repeat(members[name], n_img).astype(np.int32),
                               np.tile(np.arange(n_img, dtype=np.int32), len(members[name])),
                               targets, adjacency, ops)
    log.info("IO dataset: %s", {name: len(s) for name, s in splits.items()})
    return IODataset(hashes.astype("S32"), roles, adjacency, ops, splits, scaler.variant, int(seed),
                     float(unseen_fraction))


def save_io_dataset(path: str | Path, dataset: IODataset) -> None:
    """Write the built dataset to one HDF5 file atomically (targets chunked by rows for slicing)."""
    with write_h5(path) as handle:
        set_attrs(handle, variant=dataset.variant, seed=dataset.seed, unseen_fraction=dataset.unseen_fraction)
        add_dataset(handle, "networks/hash", dataset.hashes.astype("S32"))
        add_dataset(handle, "networks/role", dataset.roles.astype("S5"))
        add_dataset(handle, "networks/adjacency", dataset.adjacency)
        add_dataset(handle, "networks/ops", dataset.ops)
        for name, split in dataset.splits.items():
            group = handle.create_group(f"splits/{name}")
            set_attrs(group, image_group=split.image_group)
            add_dataset(group, "net_index", split.net_index, compression="gzip")
            add_dataset(group, "image_index", split.image_index, compression="gzip")
            add_dataset(group, "targets", split.targets, chunks=(TARGET_CHUNK, split.targets.shape[1]))


def load_io_dataset(path: str | Path, splits=None) -> IODataset:
    """Read a saved dataset (all splits, or the named ones); a bad file names itself."""
    path = Path(path)
    wanted = IO_SPLITS if splits is None else tuple(splits)
    unknown = set(wanted) - set(IO_SPLITS)
    if unknown:
        raise InfonasError(f"{path}: unknown IO splits {sorted(unknown)} (valid: {', '.join(IO_SPLITS)})")
    with read_h5(path, "IO dataset file") as handle:
        net = {key: read_dataset(handle, f"networks/{key}") for key in ("hash", "role", "adjacency", "ops")}
        attrs = {key: get_attr(handle, key) for key in ("variant", "seed", "unseen_fraction")}
        loaded = {}
        for name in wanted:
            group = handle[f"splits/{name}"]
            loaded[name] = IOSplit(name, str(get_attr(group, "image_group")), read_dataset(group, "net_index"),
                                   read_dataset(group, "image_index"), read_dataset(group, "targets"),
                                   net["adjacency"], net["ops"])
    roles = np.char.decode(net["role"]).astype(str)
    return IODataset(net["hash"], roles, net["adjacency"], net["ops"], loaded, str(attrs["variant"]),
                     int(attrs["seed"]), float(attrs["unseen_fraction"]))
