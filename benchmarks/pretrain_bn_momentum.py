"""Eval-mode BatchNorm statistics of pretrained networks: `pretrain.bn_momentum` 0.997 vs 0.1.

0.997 is nasbench_pytorch 1.3.1's `Network` default (NB-101's TensorFlow decay, passed to PyTorch,
whose convention is running = (1 - m) * running + m * batch); 0.1 is PyTorch's default, what
NASBench-PyTorch's ConvBnRelu used when info-NAS trained. Each momentum, set on every BN layer,
trains the same networks with the library's own `pretrain_network` (same seed, images, batches) and
`extract_outputs` writes their outputs. In train mode BatchNorm normalises with each batch's own
statistics, so the momentum changes no weight: the parameters end bit-identical (checked, reported)
and every difference comes from the running statistics that eval mode uses, i.e. from what the
pretrain stage reports as accuracy and what the extract stage writes as regression targets.

Variants: `all_0.997`, `all_0.1` (the new default) and `nasbench_pytorch_1.3.1`, the networks infonas
built before: `Network(momentum=0.997)` reaches only the stem and the input projections, the cells'
conv ops keep 0.1. That one is assembled exactly from the two runs (a layer's running statistics
depend only on its own momentum), not trained a third time.

    python benchmarks/pretrain_bn_momentum.py          # config.yaml: digits, its 8 networks, its pretrain settings
    python benchmarks/pretrain_bn_momentum.py --imagefolder /path/cifar10 --train-per-class 200 \\
        --test-per-class 50 --n-networks 4 --epochs 2  # a CIFAR-10 subset in ImageFolder layout

Per network: validation accuracy in train mode (batch statistics over batches of the training batch
size) and with "precise BN" statistics (a cumulative average over one pass of the un-augmented train
split), both independent of the momentum; per variant: validation and test accuracy in eval mode, the
train-mode minus eval-mode gap, and the relative change ||F - F_0.1|| / ||F_0.1|| of the extracted
pooled outputs on valid and test_2k. "summary" holds the means over networks. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from infonas.config import dataclass_from_section, validate_config
from infonas.data.images import build_images
from infonas.data.io_store import read_shard
from infonas.nets.extract import IO_SPLITS, extract_outputs, network_outputs
from infonas.nets.pretrain import PretrainConfig, build_network, pretrain_network, read_split, to_input
from infonas.nets.sampling import sample_networks
from infonas.searchspace import cells
from infonas.searchspace.store import build_searchspace, cell_of

REPO = Path(__file__).resolve().parents[1]
MOMENTA = (0.997, 0.1)
VARIANTS = ("all_0.997", "all_0.1", "nasbench_pytorch_1.3.1")


def load_config(path: Path) -> dict:
    """config.yaml with the schema's defaults filled in, exactly as the workflow sees it."""
    return validate_config(yaml.safe_load(path.read_text()))


def sampled_cells(cfg: dict, cache: Path, n_networks: int | None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The networks the workflow would pretrain for this config: (hash, adjacency, ops)."""
    s = cfg["searchspace"]
    space = build_searchspace("enumerate", cells_cache=cache, max_archs=s["max_archs"],
                              test_fraction=s["test_fraction"], seed=cfg["seed"])
    networks = sample_networks(space, cfg["networks"]["n_train"], cfg["networks"]["n_valid"], cfg["seed"])
    hashes = list(networks["hash"])[:n_networks]
    return [(h, *cell_of(space, h)) for h in hashes]


def imagefolder_subset(root: Path, out: Path, per_class: dict[str, int]) -> Path:
    """Symlink the first N images per class of root/<split>/<class>/ into out (ImageFolder layout)."""
    for split, n in per_class.items():
        for class_dir in sorted(p for p in (root / split).iterdir() if p.is_dir()):
            target = out / split / class_dir.name
            target.mkdir(parents=True)
            for image in sorted(class_dir.iterdir())[:n]:
                (target / image.name).symlink_to(image.resolve())
    return out


def shuffled_batches(split, batch_size: int, seed: int = 0):
    """(input, labels) batches in a seeded random order: splits can be stored sorted by class, and a
    batch of one class has statistics no training batch had."""
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(split), batch_size):
        index = order[start:start + batch_size]
        yield to_input(split.images[index], split, channels_last=False), split.labels[index]


def train_mode_accuracy(net, split, batch_size: int) -> float:
    """Accuracy with each batch normalised by its own statistics (on a copy: running stats stay put)."""
    return _accuracy(copy.deepcopy(net).train(), split, batch_size)


def precise_bn_accuracy(net, train, split, batch_size: int) -> float:
    """Eval-mode accuracy after re-estimating every BN's running statistics as a cumulative average
    over one pass of the un-augmented train split (momentum None), on a copy of the network."""
    net = copy.deepcopy(net).train()
    for module in batchnorms(net).values():
        module.reset_running_stats()
        module.momentum = None
    with torch.no_grad():
        for x, _ in shuffled_batches(train, batch_size):
            net(x)
    return _accuracy(net.eval(), split, batch_size)


@torch.no_grad()
def _accuracy(net, split, batch_size: int) -> float:
    correct = sum(int((net(x).argmax(1) == y).sum()) for x, y in shuffled_batches(split, batch_size))
    return correct / len(split)


def batchnorms(net) -> dict[str, torch.nn.Module]:
    return {name: m for name, m in net.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}


def reached_by_network_momentum(adjacency, ops, config: PretrainConfig, n_classes: int) -> set[str]:
    """BN layers that nasbench_pytorch's `Network(momentum=...)` sets (the rest keep PyTorch's 0.1)."""
    from nasbench_pytorch.model import Network

    matrix, codes = cells.prune(adjacency, ops)
    probe = Network((matrix, cells.op_names(codes)), num_labels=n_classes, stem_out_channels=config.stem_channels,
                    num_stacks=config.num_stacks, num_modules_per_stack=config.modules_per_stack, momentum=0.5)
    return {name for name, module in batchnorms(probe).items() if module.momentum == 0.5}


def previous_build_state(states: dict, reached: set[str]) -> dict:
    """Weights infonas wrote before bn_momentum was a setting: `Network(momentum=0.997)` on the stem and
    input projections, 0.1 in the cells' conv ops. Each layer's running statistics depend only on its
    own momentum and the (momentum-independent) batch statistics, so this is exact, not a re-run."""
    state = dict(states[0.1])
    for key in state:
        if key.rsplit(".", 1)[0] in reached and "running" in key:
            state[key] = states[0.997][key]
    return state


def relative_change(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / ||b|| (Frobenius over all images and features)."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def run_network(cell, images: Path, base: PretrainConfig, seed: int, work: Path) -> dict:
    """Pretrain and extract one cell with each momentum on every BN layer, rebuild the previous
    (mixed) build from those runs, and compare what eval mode makes of each."""
    net_hash, adjacency, ops = cell
    splits = {name: read_split(images, name, "cpu")[0] for name in ("train", "valid", "test", *IO_SPLITS)}
    n_classes = read_split(images, "valid", "cpu")[1]
    states, variants, features, tic = {}, {}, {}, time.perf_counter()
    for momentum in MOMENTA:
        config = dataclasses.replace(base, bn_momentum=momentum)
        stem = work / f"{net_hash}_m{momentum}"
        metrics = pretrain_network(adjacency, ops, images, f"{stem}.pt", f"{stem}.json", config, "cpu", seed)
        extract_outputs(f"{stem}.pt", adjacency, ops, images, f"{stem}.h5", batch_size=base.eval_batch_size,
                        config=config)
        states[momentum] = torch.load(f"{stem}.pt", weights_only=True)
        shard = read_shard(f"{stem}.h5")
        features[f"all_{momentum}"] = {split: shard[split]["features"] for split in IO_SPLITS}
        variants[f"all_{momentum}"] = {"valid_acc_eval": metrics["valid_accuracy"],
                                       "test_acc_eval": metrics["test_accuracy"]}
    net, _ = build_network(adjacency, ops, base, num_labels=n_classes)
    reached = reached_by_network_momentum(adjacency, ops, base, n_classes)
    net.load_state_dict(previous_build_state(states, reached))
    net.eval()
    features["nasbench_pytorch_1.3.1"] = {
        split: network_outputs(net, splits[split], base.eval_batch_size)["features"] for split in IO_SPLITS}
    variants["nasbench_pytorch_1.3.1"] = {"valid_acc_eval": _accuracy(net, splits["valid"], base.eval_batch_size),
                                          "test_acc_eval": _accuracy(net, splits["test"], base.eval_batch_size)}
    # train-mode and precise-BN accuracies ignore the running statistics: one value for all variants
    train_mode = train_mode_accuracy(net, splits["valid"], base.batch_size)
    for name, record in variants.items():
        record["gap_train_mode_minus_eval"] = train_mode - record["valid_acc_eval"]
        for split in IO_SPLITS:
            record[f"pooled_rel_change_vs_0.1_{split}"] = relative_change(features[name][split],
                                                                          features["all_0.1"][split])
    parameters = [k for k, v in states[0.1].items() if v.numel() and "running" not in k and "num_batches" not in k]
    return {
        "hash": net_hash,
        "bn_layers": len(batchnorms(net)),
        "bn_layers_reached_by_network_momentum": len(reached),
        "max_abs_parameter_difference": max(float((states[0.997][k] - states[0.1][k]).abs().max())
                                            for k in parameters),
        "valid_acc_train_mode": train_mode,
        "valid_acc_precise_bn": precise_bn_accuracy(net, splits["train"], splits["valid"], base.batch_size),
        **variants,
        "seconds": round(time.perf_counter() - tic, 1),
    }


def summarise(records: list[dict]) -> dict:
    """Means over networks of every number; whether the momenta left the weights identical."""
    def mean(get):
        return float(np.mean([get(r) for r in records]))

    out = {key: mean(lambda r, k=key: r[k]) for key in ("valid_acc_train_mode", "valid_acc_precise_bn")}
    for name in VARIANTS:
        out[name] = {key: mean(lambda r, n=name, k=key: r[n][k]) for key in records[0][name]}
    out["weights_identical"] = all(r["max_abs_parameter_difference"] == 0.0 for r in records)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml",
                        help="config whose searchspace, networks, images and pretrain settings are used")
    parser.add_argument("--cells-cache", type=Path, default=REPO / "results" / "_cache" / "nb101_cells.h5")
    parser.add_argument("--imagefolder", type=Path, default=None,
                        help="train/<class>/ and test/<class>/ images (e.g. CIFAR-10) instead of the config's source")
    parser.add_argument("--train-per-class", type=int, default=200, help="with --imagefolder: train images per class")
    parser.add_argument("--test-per-class", type=int, default=50, help="with --imagefolder: test images per class")
    parser.add_argument("--n-networks", type=int, default=None, help="first N of the config's sampled networks")
    parser.add_argument("--epochs", type=int, default=None, help="override pretrain.epochs")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    cfg = load_config(args.config)
    base = dataclass_from_section(PretrainConfig, cfg["pretrain"], "pretrain", ignore=("gpu_percent",))
    if args.epochs is not None:
        base = dataclasses.replace(base, epochs=args.epochs)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source, root = cfg["images"]["source"], cfg["images"]["root"]
        if args.imagefolder is not None:
            per_class = {"train": args.train_per_class, "test": args.test_per_class}
            source, root = "imagefolder", imagefolder_subset(args.imagefolder, work / "subset", per_class)
        images = work / "images.h5"
        sizes = build_images(source, root, cfg["images"]["valid_size"], cfg["images"]["test_subset_size"],
                             cfg["seed"], images, workers=args.threads)
        records = [run_network(cell, images, base, cfg["seed"], work)
                   for cell in sampled_cells(cfg, args.cells_cache, args.n_networks)]
    print(json.dumps({
        "images": {"source": source, "from": str(args.imagefolder or args.config), **sizes},
        "pretrain": base.as_dict(),
        "momenta": list(MOMENTA),
        "n_networks": len(records),
        "torch_threads": torch.get_num_threads(),
        "wall_s": round(time.perf_counter() - started, 1),
        "summary": summarise(records),
        "networks": records,
    }, indent=2))


if __name__ == "__main__":
    main()
