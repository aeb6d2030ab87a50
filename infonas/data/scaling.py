"""Scaling of network outputs into regression targets (thesis 3.2.1 and 4.1.1, paper 3.2).

Why: global-average-pool features of two networks have no common order and no common scale. For
every image of network `n` with true class `c` and features `x` (D = 512 at paper scale):

a. per-network scaling, with statistics fitted on that network's outputs on the fitting images
   (the `valid` group, i.e. the images of the train split):
   - unweighted: `(x - mean_n) / std_n`, one set of statistics per network;
   - weighted: `(x * w_c - mean_nc) / std_nc`, statistics of the *weighted* outputs `x * w_c`,
     fitted 10 times per network (once per class c, each time over all fitting images), and each
     image is scaled with the statistics of its true class (thesis 4.1.1: "we compute the
     statistics 10 times for each label, using the whole dataset every time");
   `axis=None` gives scalar statistics over all D features, `axis=0` gives per-feature ones.
b. append the constant 1 that stands for the bias input, so the vector has D + 1 entries and pairs
   with the bias-extended weight row `w_c|b_c`;
c. optionally multiply by `w_c|b_c` ("scale the original output data, and afterwards multiply it by
   weights", thesis 4.1.1). The weighted variant has already multiplied the D features, so only the
   bias entry becomes `b_c`: "When using the weighted variant, we multiply the output by weights,
   so not all settings are valid" - weighted implies multiplied, giving the six variants of
   thesis Table 4.2;
d. sort by `w_c|b_c` in descending order (stable), so entry 0 is the feature most important for
   the image's class;
e. normalise every one of the D + 1 sorted positions by the mean and std over the whole train split
   (train networks x fitting images), so that all positions weigh equally in the loss.

Interpretations (the thesis leaves these open): the per-network statistics cover the D real
features only; the appended bias entry is never scaled by them (it is the constant 1, or `b_c`
when multiplied). A standard deviation below `MIN_STD` (a dead ReLU feature, the constant bias
entry of the unmultiplied variants) is replaced by 1, so such an entry maps to a constant instead
of dividing by zero.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from infonas.errors import InfonasError
from infonas.runtime import atomic_path

log = logging.getLogger(__name__)

MIN_STD = 1e-8


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


@dataclass
class Moments:
    """Mean and standard deviation that broadcast against what they scale."""

    mean: np.ndarray
    std: np.ndarray


@dataclass
class ScalerStats:
    """Everything `transform` needs: per-network statistics by hash and the final per-feature ones.

    Per-network arrays have shape (K, F): K = number of classes for weighted variants (row c used
    for images of class c), else 1; F = D for axis 0, else 1. `final` has shape (D + 1,).
    """

    variant: str
    networks: dict[str, Moments]
    final: Moments
    fit_split: str = "valid"
    source: str | None = field(default=None, compare=False)

    def network(self, net_hash: str) -> Moments:
        """The statistics of one network; a missing one names the hash and the scaler file."""
        if net_hash not in self.networks:
            where = self.source or "scaler"
            raise InfonasError(f"{where}: no scaling statistics for network {net_hash} (refit the scaler)")
        return self.networks[net_hash]


def _safe_std(std: np.ndarray) -> np.ndarray:
    return np.where(std < MIN_STD, 1.0, std)


def _extended_weights(weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(C, D + 1): each class's weight row with its bias appended, matching the appended 1."""
    return np.concatenate([np.asarray(weight, np.float64), np.asarray(bias, np.float64)[:, None]], axis=1)


def fit_network_stats(features: np.ndarray, weight: np.ndarray, variant: str | ScalingVariant) -> Moments:
    """Step a's statistics of one network from its outputs on the fitting images."""
    variant = get_variant(variant)
    x = np.asarray(features, np.float64)
    if variant.weighted:
        weighted = x[None, :, :] * np.asarray(weight, np.float64)[:, None, :]  # (C, N, D)
        axes = (1, 2) if variant.axis is None else (1,)
        mean, std = weighted.mean(axis=axes), weighted.std(axis=axes)
        return Moments(mean.reshape(len(weight), -1), std.reshape(len(weight), -1))
    mean = x.mean(axis=variant.axis, keepdims=True).reshape(1, -1)
    std = x.std(axis=variant.axis, keepdims=True).reshape(1, -1)
    return Moments(mean, std)


def network_transform(
    features: np.ndarray,
    labels: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    net_stats: Moments,
    variant: str | ScalingVariant,
) -> np.ndarray:
    """Steps a-d for one network's outputs: (N, D) features -> (N, D + 1) float64, sorted."""
    variant = get_variant(variant)
    x = np.asarray(features, np.float64)
    labels = np.asarray(labels, np.int64)
    w_ext = _extended_weights(weight, bias)
    row = labels if variant.weighted else np.zeros_like(labels)
    mean, std = np.asarray(net_stats.mean)[row], _safe_std(np.asarray(net_stats.std))[row]
    if variant.weighted:
        x = x * w_ext[labels, :-1]
    scaled = (x - mean) / std
    out = np.concatenate([scaled, np.ones((len(x), 1))], axis=1)
    if variant.weighted:
        out[:, -1] = w_ext[labels, -1]
    elif variant.multiply:
        out *= w_ext[labels]
    order = np.argsort(-w_ext, axis=1, kind="stable")  # per class, descending weight
    return np.take_along_axis(out, order[labels], axis=1)


def normalise(values: np.ndarray, final: Moments) -> np.ndarray:
    """Step e: per-position normalisation with the train-split statistics, as float32."""
    return ((values - final.mean) / _safe_std(final.std)).astype(np.float32)


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
) -> np.ndarray:
    """All steps: raw (N, D) outputs of one network -> (N, D + 1) float32 regression targets."""
    return normalise(network_transform(features, labels, weight, bias, net_stats, variant), global_stats)


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
    from infonas.data.io_store import read_shard

    return read_shard(source, splits=[fit_split])


def fit_scaler(
    networks: Mapping[str, object],
    variant: str | ScalingVariant = DEFAULT_VARIANT,
    *,
    train_hashes=None,
    fit_split: str = "valid",
    progress: bool = False,
) -> ScalerStats:
    """Fit per-network statistics for every network and the final statistics on the train split.

    `networks` maps hash -> shard path or read_shard-style dict. Per-network statistics come from
    each network's `fit_split` outputs; the final per-position statistics from the step a-d outputs
    of `train_hashes` (default: all networks given) on the same images, i.e. the train split.
    """
    from tqdm.auto import tqdm

    variant = get_variant(variant)
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
        stats[net_hash] = fit_network_stats(data["features"], shard["weight"], variant)
        if net_hash in train:
            running.add(network_transform(data["features"], data["labels"], shard["weight"], shard["bias"],
                                          stats[net_hash], variant))
    if running.count == 0:
        raise InfonasError(f"fit_scaler: the train networks have no {fit_split!r} rows to normalise on")
    log.info("fitted %s scaler on %d networks (%d train rows)", variant.name, len(stats), running.count)
    return ScalerStats(variant.name, stats, running.moments(), fit_split)


def save_scaler(path: str | Path, stats: ScalerStats) -> None:
    """Write io/scaler.h5 atomically: per-network (M, K, F) arrays keyed by sorted hash, final stats."""
    import h5py

    hashes = sorted(stats.networks)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        handle.attrs["variant"] = stats.variant
        handle.attrs["fit_split"] = stats.fit_split
        handle.create_dataset("networks/hash", data=np.asarray(hashes, dtype="S32"))
        for key in ("mean", "std"):
            values = np.stack([getattr(stats.networks[h], key) for h in hashes]) if hashes else np.zeros((0, 1, 1))
            handle.create_dataset(f"networks/{key}", data=values.astype(np.float64))
            handle.create_dataset(f"final/{key}", data=np.asarray(getattr(stats.final, key), np.float64))


def load_scaler(path: str | Path) -> ScalerStats:
    """Read io/scaler.h5; a missing, corrupt or inconsistent file names itself."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InfonasError(f"{path}: scaler file not found")
    try:
        with h5py.File(path, "r") as handle:
            variant = get_variant(str(handle.attrs["variant"])).name
            fit_split = str(handle.attrs["fit_split"])
            hashes = [h.decode() for h in handle["networks/hash"][()]]
            net = {key: handle[f"networks/{key}"][()] for key in ("mean", "std")}
            final = Moments(handle["final/mean"][()], handle["final/std"][()])
    except (OSError, KeyError) as error:
        raise InfonasError(f"{path}: not a readable scaler file ({error})") from error
    if net["mean"].shape != net["std"].shape or len(net["mean"]) != len(hashes):
        raise InfonasError(f"{path}: networks/mean, networks/std and networks/hash disagree in shape")
    networks = {h: Moments(net["mean"][i], net["std"][i]) for i, h in enumerate(hashes)}
    return ScalerStats(variant, networks, final, fit_split, source=str(path))
