"""Joint-training throughput on synthetic data of the paper's sizes; prints JSON.

Paper scale: 608 labeled networks x 1,000 images = 608,000 labeled samples (513-d targets), 381,000
unlabeled cells, batch 32, 300 labeled / 200 unlabeled batches alternating. `--scale` shrinks the
image count and the unlabeled set; `--networks`, `--stem-channels` and `--dense-size` shrink the
labeled networks and the regressor (with all three small it runs in seconds on a CPU). Times the
training steps of whole epochs (JointTrainer.run_epoch), with and without the side-by-side reference
arch2vec, and one evaluation pass (metrics) separately.

    python benchmarks/train_throughput.py --device cpu --scale 0.002 --networks 8 --stem-channels 8 --dense-size 32
    python benchmarks/train_throughput.py --device cuda --scale 1 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from infonas.models.info_nas import InfoNASConfig
from infonas.runtime import resolve_device
from infonas.training.joint import CellSet, JointConfig, JointTrainer, LabeledData, LabeledSplit

N_NETWORKS, N_IMAGES, N_UNLABELED, OUT_FEATURES = 608, 1000, 381_000, 513
PAPER_STEPS = -(-N_NETWORKS * N_IMAGES // 32) + -(-N_UNLABELED // 32)


def synthetic_cells(n: int, rng: np.random.Generator) -> CellSet:
    """Random 7-vertex upper-triangular cells with input/output ops (validity is irrelevant for speed)."""
    adj = np.triu(rng.random((n, 7, 7)) < 0.3, 1).astype(np.uint8)
    ops = rng.integers(1, 4, size=(n, 7)).astype(np.int8)
    ops[:, 0], ops[:, -1] = 0, 4
    return CellSet(torch.from_numpy(adj), torch.from_numpy(ops))


def synthetic_data(scale: float, n_networks: int, seed: int) -> tuple[CellSet, LabeledData]:
    rng = np.random.default_rng(seed)
    n_images = max(1, round(N_IMAGES * scale))
    unlabeled = synthetic_cells(max(1, round(N_UNLABELED * scale)), rng)
    networks = synthetic_cells(n_networks, rng)
    images = torch.from_numpy(rng.integers(0, 256, (n_images, 32, 32, 3), dtype=np.uint8))
    net_index = torch.arange(n_networks).repeat_interleave(n_images)
    image_index = torch.arange(n_images).repeat(n_networks)
    targets = torch.from_numpy(rng.standard_normal((net_index.numel(), OUT_FEATURES), dtype=np.float32))
    split = LabeledSplit(net_index, image_index, targets.to(torch.bfloat16), images)
    mean, std = torch.tensor([0.49, 0.48, 0.45]), torch.tensor([0.25, 0.24, 0.26])
    return unlabeled, LabeledData(networks, {"train": split}, mean, std)


def measure(unlabeled, labeled, model: InfoNASConfig, device, epochs: int, reference: bool, seed: int) -> dict:
    config = JointConfig(epochs=epochs, train_reference=reference, seed=seed, n_bootstrap=100, n_latent_points=1000)
    trainer = JointTrainer(unlabeled, labeled, None, model, config, device)
    per_epoch = []
    for _ in range(epochs):
        stats = trainer.run_epoch()
        per_epoch.append(stats["seconds"])
    start = time.perf_counter()
    trainer.evaluate(stats)
    eval_seconds = time.perf_counter() - start
    steps = stats["n_labeled_steps"] + stats["n_unlabeled_steps"]
    steady = per_epoch[1:] or per_epoch  # the first epoch pays CUDA/cuDNN warm-up
    seconds = float(np.mean(steady))
    return {
        "reference": reference,
        "epoch_seconds": per_epoch,
        "seconds_per_epoch": seconds,
        "labeled_steps": stats["n_labeled_steps"],
        "unlabeled_steps": stats["n_unlabeled_steps"],
        "steps_per_second": steps / seconds,
        "samples_per_second": (len(labeled.splits["train"]) + len(unlabeled)) / seconds,
        "eval_seconds": eval_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the paper's images and unlabeled cells")
    parser.add_argument("--networks", type=int, default=N_NETWORKS, help="labeled networks (paper 608)")
    parser.add_argument("--stem-channels", type=int, default=InfoNASConfig.stem_channels, help="regressor stem")
    parser.add_argument("--dense-size", type=int, default=InfoNASConfig.dense_size, help="regressor dense width")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(resolve_device(args.device))
    unlabeled, labeled = synthetic_data(args.scale, args.networks, args.seed)
    model = InfoNASConfig(stem_channels=args.stem_channels, dense_size=args.dense_size)
    runs = [measure(unlabeled, labeled, model, device, args.epochs, ref, args.seed) for ref in (True, False)]
    result = {
        "benchmark": "train_throughput",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "scale": args.scale,
        "networks": args.networks,
        "regressor": {"stem_channels": args.stem_channels, "dense_size": args.dense_size},
        "labeled_samples": len(labeled.splits["train"]),
        "unlabeled_cells": len(unlabeled),
        "batch_size": 32,
        "runs": runs,
        # Rough: assumes the paper's step mix costs what this run's mix cost per step (exact at --scale 1);
        # only for the paper's model (a smaller regressor's steps say nothing about the paper's).
        "paper_scale_epoch_seconds_estimate": {
            ("with_reference" if r["reference"] else "without_reference"): r["seconds_per_epoch"]
            * PAPER_STEPS / (r["labeled_steps"] + r["unlabeled_steps"])
            for r in runs
        } if model == InfoNASConfig() else None,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
