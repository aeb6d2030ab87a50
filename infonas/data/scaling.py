"""Scaling of network outputs into regression targets (thesis 3.2.1 and 4.1.1, paper 3.2).

Why: global-average-pool features of two networks have no common order and no common scale. For
every image of network `n` with true class `c`, features `x` (D = 512 at paper scale) and the
class's bias-extended weight row `w_c|b_c` (D + 1 entries), the target is built in two orders.

`original` (the default): what the thesis-era info-NAS code ran (info_nas/datasets/io/transforms.py,
scripts/fit_scaler.py and scripts/fit_after_sort_scaler.py of gabikadlecova/info-nas):
  1. append the constant 1 that stands for the bias input: `v = [x, 1]`;
  2. multiply variants: `v = v * w_c|b_c`;
  3. standardise per network: `(v - mean) / (std + eps32)`, eps32 the float32 machine epsilon.
     Unweighted: one set of statistics per network, fitted on the unmultiplied `[x, 1]` of its
     fitting images (so the bias column is part of them). Weighted: statistics of the product
     `[x, 1] * w_c|b_c`, fitted once per class c over all fitting images of the network, and each
     image uses those of its true class. `axis=None` gives scalar statistics over all D + 1
     columns, `axis=0` per-column ones; a constant column (std 0) divides by eps32 alone;
  4. sort by `w_c|b_c`, descending, so entry 0 is the feature most important for the class;
  5. normalise every sorted position by the mean and std over the train split (train networks x
     fitting images), with no epsilon.
`standardise-first` (this project's first reading of the prose): standardise the D real features
with statistics that leave the bias out (weighted: of `x * w_c`), append 1, multiply by `w_c|b_c`
(weighted variants multiply only the bias entry, their features already carry `w_c`), sort,
normalise; a std below `MIN_STD` is replaced by 1 at both steps.

Weighted variants always multiply ("When using the weighted variant, we multiply the output by
weights, so not all settings are valid"), which leaves the six variants of thesis Table 4.2. The
per-network statistics come from the `valid` image group (the images of the train split) and
serve every image of that network. One guard of the original order is ours: a final std of
exactly 0 (possible only in tiny runs) is replaced by 1, where the original would write NaN or inf.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
from tqdm.auto import tqdm

from infonas.data.io_store import read_shard
from infonas.errors import InfonasError
from infonas.hdf5 import add_dataset, get_attr, read_dataset, read_h5, set_attrs, write_h5

log = logging.getLogger(__name__)

MIN_STD = 1e-8
EPS32 = float(np.finfo(np.float32).eps)  # the original's guard: std + eps32
SCALING_ORDERS = ("original", "standardise-first")
DEFAULT_ORDER = "original"


@dataclass(frozen=True)
class ScalingVariant:
    """One row of thesis Table 4.2."""

    name: str
    axis: int | None
    weighted: bool
    multiply: bool


def _variants() -> dict[str, ScalingVariant]:
    table = [(0, False, False), (0, False, True), (0, True, True),
             (None, False, False), (None, False, True), (None, True, True)]
    out = {}
    for axis, weighted, multiply in table:
        name = f"axis{'null' if axis is None else axis}" + ("-weighted" if weighted else "") + (
            "-multiply" if multiply else "")
        out[name] = ScalingVariant(name, axis, weighted, multiply)
    return out


SCALING_VARIANTS: dict[str, ScalingVariant] = _variants()
DEFAULT_VARIANT = "axisnull-multiply"


def get_variant(name: str | ScalingVariant) -> ScalingVariant:
    """Look a variant up by its schema name; an unknown name lists the valid ones."""
    if isinstance(name, ScalingVariant):
        return name
    if name not in SCALING_VARIANTS:
        raise InfonasError(f"io.scaling: unknown variant {name!r} (valid: {', '.join(SCALING_VARIANTS)})")
    return SCALING_VARIANTS[name]


def get_order(name: str) -> str:
    """Check a scaling order name (schema key io.scaling_order)."""
    if name not in SCALING_ORDERS:
        raise InfonasError(f"io.scaling_order: unknown order {name!r} (valid: {', '.join(SCALING_ORDERS)})")
    return name


@dataclass
class Moments:
    """Mean and standard deviation that broadcast against what they scale."""

    mean: np.ndarray
    std: np.ndarray


@dataclass
class ScalerStats:
    """Everything `transform` needs: per-network statistics by hash and the final per-feature ones.

    Per-network arrays have shape (K, F): K = number of classes for weighted variants (row c used
    for images of class c), else 1; F = 1 for axis null, else D + 1 (original order) or D
    (standardise-first). `final` has shape (D + 1,).
    """

    variant: str
    networks: dict[str, Moments]
    final: Moments
    fit_split: str = "valid"
    order: str = DEFAULT_ORDER
    source: str | None = field(default=None, compare=False)

    def network(self, net_hash: str) -> Moments:
        """The statistics of one network; a missing one names the hash and the scaler file."""
        if net_hash not in self.networks:
            where = self.source or "scaler"
            raise InfonasError(f"{where}: no scaling statistics for network {net_hash} (refit the scaler)")
        return self.networks[net_hash]


def _safe_std(std: np.ndarray) -> np.ndarray:
    return np.where(std < MIN_STD, 1.0, std)


def _with_bias_entry(x: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, D + 1): the constant 1 that pairs with the bias of the weight row."""
    return np.concatenate([x, np.ones((len(x), 1))], axis=1)


def _extended_weights(weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(C, D + 1): each class's weight row with its bias appended, matching the appended 1."""
    return np.concatenate([np.asarray(weight, np.float64), np.asarray(bias, np.float64)[:, None]], axis=1)


def fit_network_stats(
    features: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    variant: str | ScalingVariant,
    order: str = DEFAULT_ORDER,
) -> Moments:
    """Per-network statistics from one network's outputs on the fitting images.

    The original order fits them on `[x, 1]` (weighted: `[x, 1] * w_c|b_c`), standardise-first on
    `x` (weighted: `x * w_c`); weighted statistics are fitted once per class over all images.
    """
    variant, order = get_variant(variant), get_order(order)
    x = np.asarray(features, np.float64)
    if order == "original":
        values, rows = _with_bias_entry(x), _extended_weights(weight, bias)
    else:
        values, rows = x, np.asarray(weight, np.float64)
    if variant.weighted:
        weighted = values[None, :, :] * rows[:, None, :]  # (C, N, F)
        axes = (1, 2) if variant.axis is None else (1,)
        mean, std = weighted.mean(axis=axes), weighted.std(axis=axes)
        return Moments(mean.reshape(len(rows), -1), std.reshape(len(rows), -1))
    mean = values.mean(axis=variant.axis, keepdims=True).reshape(1, -1)
    std = values.std(axis=variant.axis, keepdims=True).reshape(1, -1)
    return Moments(mean, std)


def _original_steps(x, labels, w_ext, net_stats: Moments, variant: ScalingVariant) -> np.ndarray:
    """Append 1, multiply by w_c|b_c, then standardise with (std + eps32), unsorted."""
    values = _with_bias_entry(x)
    if variant.multiply:
        values = values * w_ext[labels]
    row = labels if variant.weighted else np.zeros_like(labels)
    return (values - np.asarray(net_stats.mean)[row]) / (np.asarray(net_stats.std)[row] + EPS32)


def _standardise_first_steps(x, labels, w_ext, net_stats: Moments, variant: ScalingVariant) -> np.ndarray:
    """Standardise the D features (weighted: x * w_c), append 1, multiply, unsorted."""
    row = labels if variant.weighted else np.zeros_like(labels)
    mean, std = np.asarray(net_stats.mean)[row], _safe_std(np.asarray(net_stats.std))[row]
    if variant.weighted:
        x = x * w_ext[labels, :-1]
    out = np.concatenate([(x - mean) / std, np.ones((len(x), 1))], axis=1)
    if variant.weighted:
        out[:, -1] = w_ext[labels, -1]
    elif variant.multiply:
        out *= w_ext[labels]
    return out


_NETWORK_STEPS = {"original": _original_steps, "standardise-first": _standardise_first_steps}


def network_transform(
    features: np.ndarray,
    labels: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    net_stats: Moments,
    variant: str | ScalingVariant,
    order: str = DEFAULT_ORDER,
) -> np.ndarray:
    """The per-network steps and the sort: (N, D) features -> (N, D + 1) float64."""
    variant, order = get_variant(variant), get_order(order)
    labels = np.asarray(labels, np.int64)
    w_ext = _extended_weights(weight, bias)
    out = _NETWORK_STEPS[order](np.asarray(features, np.float64), labels, w_ext, net_stats, variant)
    by_weight = np.argsort(-w_ext, axis=1, kind="stable")  # per class, descending weight
    return np.take_along_axis(out, by_weight[labels], axis=1)


def normalise(values: np.ndarray, final: Moments, order: str = DEFAULT_ORDER) -> np.ndarray:
    """Final per-position normalisation with the train-split statistics, as float32.

    The original divides by the std itself (only an exact 0 becomes 1); standardise-first
    replaces any std below MIN_STD by 1.
    """
    std = np.asarray(final.std)
    std = np.where(std == 0.0, 1.0, std) if get_order(order) == "original" else _safe_std(std)
    return ((values - final.mean) / std).astype(np.float32)


def denormalise(values: np.ndarray, final: Moments) -> np.ndarray:
    """Inverse of step e (`normalise`), as float32: targets back on the per-network scale (thesis 4.2.2)."""
    return (np.asarray(values, np.float64) * _safe_std(final.std) + final.mean).astype(np.float32)


def transform(
    features: np.ndarray,
    labels: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    net_stats: Moments,
    global_stats: Moments,
    variant: str | ScalingVariant,
    order: str = DEFAULT_ORDER,
) -> np.ndarray:
    """All steps: raw (N, D) outputs of one network -> (N, D + 1) float32 regression targets."""
    values = network_transform(features, labels, weight, bias, net_stats, variant, order)
    return normalise(values, global_stats, order)


class _RunningMoments:
    """Per-position mean and variance merged over batches (Chan et al.), exact in float64."""

    def __init__(self) -> None:
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, batch: np.ndarray) -> None:
        n = len(batch)
        if n == 0:
            return
        b_mean = batch.mean(axis=0)
        b_m2 = ((batch - b_mean) ** 2).sum(axis=0)
        total = self.count + n
        delta = b_mean - self.mean
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + b_m2 + delta**2 * self.count * n / total
        self.count = total

    def moments(self) -> Moments:
        return Moments(np.asarray(self.mean, np.float64), np.sqrt(np.asarray(self.m2, np.float64) / self.count))


def _load(source, fit_split: str) -> dict:
    """A shard given as a path is read here; a dict is taken as read_shard's result."""
    if isinstance(source, Mapping):
        return source

    return read_shard(source, splits=[fit_split])


def fit_scaler(
    networks: Mapping[str, object],
    variant: str | ScalingVariant = DEFAULT_VARIANT,
    *,
    order: str = DEFAULT_ORDER,
    train_hashes=None,
    fit_split: str = "valid",
    progress: bool = False,
) -> ScalerStats:
    """Fit per-network statistics for every network and the final statistics on the train split.

    `networks` maps hash -> shard path or read_shard-style dict. Per-network statistics come from
    each network's `fit_split` outputs; the final per-position statistics from the sorted
    per-network outputs of `train_hashes` (default: all networks given) on the same images, i.e.
    the train split. `order` is the scaling order (module docstring) and is kept with the stats.
    """
    variant, order = get_variant(variant), get_order(order)
    train = set(networks) if train_hashes is None else set(train_hashes)
    unknown = train - set(networks)
    if unknown:
        raise InfonasError(f"fit_scaler: train network {sorted(unknown)[0]} has no shard among the inputs")
    if not train:
        raise InfonasError("fit_scaler: no train networks to fit the final normalisation on")
    stats, running = {}, _RunningMoments()
    for net_hash in tqdm(sorted(networks), desc="fit scaler", disable=not progress):
        shard = _load(networks[net_hash], fit_split)
        if fit_split not in shard:
            raise InfonasError(f"fit_scaler: network {net_hash} has no {fit_split!r} outputs")
        data = shard[fit_split]
        stats[net_hash] = fit_network_stats(data["features"], shard["weight"], shard["bias"], variant, order)
        if net_hash in train:
            running.add(network_transform(data["features"], data["labels"], shard["weight"], shard["bias"],
                                          stats[net_hash], variant, order))
    if running.count == 0:
        raise InfonasError(f"fit_scaler: the train networks have no {fit_split!r} rows to normalise on")
    log.info("fitted %s scaler (%s order) on %d networks (%d train rows)", variant.name, order, len(stats),
             running.count)
    return ScalerStats(variant.name, stats, running.moments(), fit_split, order)


def save_scaler(path: str | Path, stats: ScalerStats) -> None:
    """Write scaler.h5 atomically: per-network (M, K, F) arrays keyed by sorted hash, final stats."""
    hashes = sorted(stats.networks)
    with write_h5(path) as handle:
        set_attrs(handle, variant=stats.variant, fit_split=stats.fit_split, scaling_order=stats.order)
        add_dataset(handle, "networks/hash", np.asarray(hashes, dtype="S32"))
        for key in ("mean", "std"):
            values = np.stack([getattr(stats.networks[h], key) for h in hashes]) if hashes else np.zeros((0, 1, 1))
            add_dataset(handle, f"networks/{key}", values.astype(np.float64))
            add_dataset(handle, f"final/{key}", np.asarray(getattr(stats.final, key), np.float64))


def load_scaler(path: str | Path) -> ScalerStats:
    """Read scaler.h5; a missing, corrupt or inconsistent file names itself."""
    path = Path(path)
    with read_h5(path, "scaler file") as handle:
        variant = get_variant(str(get_attr(handle, "variant"))).name
        fit_split = str(get_attr(handle, "fit_split"))
        order = get_attr(handle, "scaling_order", None)
        hashes = [h.decode() for h in read_dataset(handle, "networks/hash")]
        net = {key: read_dataset(handle, f"networks/{key}") for key in ("mean", "std")}
        final = Moments(read_dataset(handle, "final/mean"), read_dataset(handle, "final/std"))
    if order is None:
        raise InfonasError(f"{path}: records no scaling order (written before io.scaling_order existed); refit it")
    if str(order) not in SCALING_ORDERS:
        raise InfonasError(f"{path}: unknown scaling order {str(order)!r} (valid: {', '.join(SCALING_ORDERS)})")
    if net["mean"].shape != net["std"].shape or len(net["mean"]) != len(hashes):
        raise InfonasError(f"{path}: networks/mean, networks/std and networks/hash disagree in shape")
    networks = {h: Moments(net["mean"][i], net["std"][i]) for i, h in enumerate(hashes)}
    return ScalerStats(variant, networks, final, fit_split, str(order), source=str(path))
