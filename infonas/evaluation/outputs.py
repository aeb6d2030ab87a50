"""True and predicted output vectors of a trained info-NAS for a seeded handful of networks and images.

What thesis Figures 4.4-4.11 show: for a few networks of one IO split and a few of that split's
images, the target vectors (the 513 sorted, scaled global-average-pool features) next to what the
trained regressor predicts from the network's cell and the image. Every (network, image) pair of a
split is a row of it (splits are full network x image products), so any choice of networks and
images has its targets.

The thesis scales the features back for display ("we scaled every feature back ... not including
the per-network scale"): with a scaler given, the dataset-wide per-position normalisation (step e of
`infonas.data.scaling`) is undone for both true and predicted vectors; the per-network scaling stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike

import numpy as np
import torch

from infonas.data.images import load_images
from infonas.data.io_dataset import load_io_dataset
from infonas.data.scaling import denormalise, load_scaler
from infonas.errors import InfonasError
from infonas.models.inference import eval_mode
from infonas.models.info_nas import images_to_input
from infonas.training.checkpoint import load_trained_models


@dataclass
class OutputSample:
    """true / predicted: (n_networks, n_images, F) float32; row i of axis 0 is network `hashes[i]`,
    column j of axis 1 is image `image_index[j]` of the split's image group (label `labels[j]`)."""

    split: str
    image_group: str
    hashes: list[str]
    image_index: np.ndarray
    labels: np.ndarray
    true: np.ndarray
    predicted: np.ndarray
    denormalised: bool

    @property
    def l1(self) -> np.ndarray:
        """(n_networks, n_images) mean absolute error over features, the paper's labeled loss."""
        return np.abs(self.predicted.astype(np.float64) - self.true).mean(axis=-1)


def choose(values: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded choice of min(n, len) distinct values, kept in ascending order."""
    values = np.unique(values)
    if n < 1:
        raise InfonasError(f"output sample: need at least 1 network and 1 image, got {n}")
    return np.sort(rng.choice(values, size=min(n, values.size), replace=False))


def pair_rows(net_index: np.ndarray, image_index: np.ndarray, nets: np.ndarray, images: np.ndarray,
              split: str) -> np.ndarray:
    """(len(nets), len(images)) split rows of each (network, image) pair; a missing pair is an error."""
    width = int(max(image_index.max(initial=0), images.max(initial=0))) + 1
    keys = net_index.astype(np.int64) * width + image_index
    order = np.argsort(keys, kind="stable")
    wanted = nets.astype(np.int64)[:, None] * width + images[None, :]
    pos = np.clip(np.searchsorted(keys, wanted, sorter=order), 0, len(keys) - 1)
    rows = order[pos]
    missing = keys[rows] != wanted
    if missing.any():
        i, j = np.argwhere(missing)[0]
        raise InfonasError(f"IO split {split}: no row for network {nets[i]} on image {images[j]}")
    return rows


def _predict(model, adjacency, ops, image_batch, mean, std, device: str) -> np.ndarray:
    """Regressor outputs in eval mode, float32, for aligned cells and uint8 images."""
    model = model.to(device)
    with eval_mode(model):
        x = images_to_input(torch.as_tensor(image_batch, device=device),
                            torch.as_tensor(mean, dtype=torch.float32, device=device),
                            torch.as_tensor(std, dtype=torch.float32, device=device))
        _, pred = model(torch.as_tensor(adjacency, device=device), torch.as_tensor(ops, device=device), x)
    return pred.float().cpu().numpy()


def _loaded(value, loader, *args):
    """Objects pass through; a path is read with `loader`, so callers may hand either."""
    return loader(value, *args) if isinstance(value, (str, PathLike)) else value


def output_sample(
    checkpoint,
    dataset,
    images,
    split: str = "train",
    n_networks: int = 4,
    n_images: int = 16,
    seed: int = 0,
    scaler=None,
    device: str = "cpu",
    batch_size: int = 256,
) -> OutputSample:
    """Targets and info-NAS predictions of `n_networks` x `n_images` pairs of an IO split.

    checkpoint: a joint-training checkpoint path (or `load_trained_models`' dict) with an `infonas`
    model; dataset: the io_dataset stage's dataset.h5 path or IODataset; images: images.h5 path or
    `load_images` dict; scaler: optional scaler.h5 path (fit_scaler stage) or ScalerStats whose final
    normalisation is undone.
    Networks and images are a seeded choice among the split's own (fewer if it has fewer).
    """
    models = _loaded(checkpoint, load_trained_models, device)
    if "infonas" not in models:
        raise InfonasError(f"{checkpoint}: no info-NAS model in the checkpoint (has {', '.join(models)})")
    io = _loaded(dataset, load_io_dataset, [split])
    data = io[split]
    if len(data) == 0:
        raise InfonasError(f"IO split {split}: empty, nothing to draw")
    pictures = _loaded(images, load_images, [data.image_group])
    rng = np.random.default_rng([seed, 44])
    nets = choose(data.net_index, n_networks, rng)
    imgs = choose(data.image_index, n_images, rng)
    rows = pair_rows(data.net_index, data.image_index, nets, imgs, split).ravel()
    true = np.asarray(data.targets[rows], np.float32)
    group = pictures[data.image_group]
    pred = np.concatenate([
        _predict(models["infonas"], data.adjacency[data.net_index[chunk]], data.ops[data.net_index[chunk]],
                 group["images"][data.image_index[chunk]], pictures["mean"], pictures["std"], device)
        for chunk in np.array_split(rows, max(1, -(-len(rows) // batch_size)))
    ])
    if pred.shape != true.shape:
        raise InfonasError(f"{checkpoint}: model predicts {pred.shape[1]} features, "
                           f"IO split {split} has {true.shape[1]}")
    if scaler is not None:
        final = _loaded(scaler, load_scaler).final
        true, pred = denormalise(true, final), denormalise(pred, final)
    shape = (len(nets), len(imgs), true.shape[1])
    hashes = [h.decode() if isinstance(h, bytes) else str(h) for h in io.hashes[nets]]
    return OutputSample(split, data.image_group, hashes, imgs, np.asarray(group["labels"])[imgs],
                        true.reshape(shape), pred.reshape(shape), scaler is not None)


def heatmap_samples(
    checkpoint,
    dataset,
    images,
    split: str = "train",
    seed: int = 0,
    scaler=None,
    n_networks: int = 4,
    n_images: int = 16,
    n_networks_one_image: int = 50,
    device: str = "cpu",
    epoch: int | None = None,
) -> dict[str, OutputSample]:
    """The two samples the output heatmaps draw (thesis Figs. 4.4-4.11), each file read once.

    "networks": n_networks networks of the split, each on n_images images; "one_image":
    n_networks_one_image networks on one image; both chosen with `seed`. Paths as `output_sample`;
    `epoch` picks the models of a train job's weights file.
    """
    models = load_trained_models(checkpoint, device=device, epoch=epoch)
    data = load_io_dataset(dataset, [split])
    pictures = load_images(images, [data[split].image_group])
    common = dict(split=split, seed=seed, scaler=scaler, device=device)
    return {"networks": output_sample(models, data, pictures, n_networks=n_networks, n_images=n_images, **common),
            "one_image": output_sample(models, data, pictures, n_networks=n_networks_one_image, n_images=1,
                                       **common)}
