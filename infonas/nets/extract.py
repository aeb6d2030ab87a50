"""Outputs of a pretrained NB-101 network: the IO dataset's labels (thesis 3.2).

For the `valid` and `test_2k` images we keep the global-average-pool output (the classifier's
input: 4 x stem channels, 512 in the paper), the logits and the labels, plus the classifier's
weight and bias, which the scaling step uses to sort features by class importance.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch
from tqdm.auto import tqdm

from infonas.data.io_store import write_shard
from infonas.errors import InfonasError
from infonas.nets.pretrain import DeviceImages, PretrainConfig, build_network, read_split, to_input

log = logging.getLogger(__name__)

IO_SPLITS = ("valid", "test_2k")


def pooled_features(net, x: torch.Tensor) -> torch.Tensor:
    """The global-average-pool output of nasbench_pytorch's `Network`.

    `Network.forward` is `layers` in order, a mean over H and W, then `classifier`; running the
    first two steps here gives the classifier's input without hooks or patching, and
    `net.classifier(pooled_features(net, x))` is exactly `net(x)`.
    """
    for layer in net.layers:
        x = layer(x)
    return x.mean(dim=(2, 3))


@torch.no_grad()
def network_outputs(net, data: DeviceImages, batch_size: int, progress: bool = False) -> dict[str, np.ndarray]:
    """features (N, F) float32, logits (N, classes) float32, labels (N,) int64 for one split, eval mode,
    fp32 and without augmentation (these values are regression targets, so no bf16 rounding)."""
    net.eval()
    features, logits = [], []
    for start in tqdm(range(0, len(data), batch_size), desc="extract", leave=False, disable=not progress):
        x = to_input(data.images[start : start + batch_size], data, channels_last=False)
        pooled = pooled_features(net, x)
        features.append(pooled)
        logits.append(net.classifier(pooled))
    return {
        "features": torch.cat(features).cpu().numpy(),
        "logits": torch.cat(logits).cpu().numpy(),
        "labels": data.labels.cpu().numpy(),
    }


def load_weights(net, weights_path: str | os.PathLike, module_hash: str) -> None:
    """Load a pretrained state dict (tensors only); a file for another cell or size is an InfonasError."""
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InfonasError(f"{weights_path}: weights file not found") from None
    except Exception as exc:  # pickle/zip errors from a torn or foreign file
        raise InfonasError(f"{weights_path}: not a readable weights file ({exc.__class__.__name__})") from None
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise InfonasError(
            f"{weights_path}: weights do not fit cell {module_hash} with these pretrain settings ({first})"
        ) from None


def extract_outputs(
    weights_path: str | os.PathLike,
    adjacency,
    ops,
    images_path: str | os.PathLike,
    out_shard: str | os.PathLike,
    device: str = "cpu",
    batch_size: int = 500,
    config: PretrainConfig | None = None,
    progress: bool = False,
) -> str:
    """Write the IO shard of one pretrained network (`infonas.data.io_store`); returns its module hash.

    `config` must carry the architecture settings the weights were trained with (stem channels,
    stacks, modules per stack) and the BatchNorm eps they were trained with (eval mode divides by
    sqrt(running_var + eps)); the defaults are the paper's. BN momentum leaves no trace here: the
    running statistics it produced are in the weights file.
    """
    if batch_size < 1:
        raise InfonasError(f"io batch_size must be >= 1, got {batch_size}")
    config = config or PretrainConfig()
    dev = torch.device(device)
    splits = {}
    net = module_hash = None
    for split in IO_SPLITS:
        data, n_classes = read_split(images_path, split, dev)
        if net is None:
            net, module_hash = build_network(adjacency, ops, config, num_labels=n_classes)
            load_weights(net, weights_path, module_hash)
            net = net.to(dev)
        splits[split] = network_outputs(net, data, batch_size, progress)
    weight = net.classifier.weight.detach().float().cpu().numpy()
    bias = net.classifier.bias.detach().float().cpu().numpy()
    write_shard(out_shard, module_hash, splits, weight, bias)
    log.info("network %s: wrote %s (%s features for %s)", module_hash, out_shard, weight.shape[1],
             ", ".join(f"{len(s['labels'])} {name}" for name, s in splits.items()))
    return module_hash
