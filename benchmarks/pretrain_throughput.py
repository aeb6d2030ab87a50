"""Pretraining throughput: infonas's device-resident trainer vs nasbench_pytorch's trainer.

The baseline is the usual pipeline: a Dataset over the same uint8 arrays with PIL transforms
(RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize) behind a DataLoader with
worker processes, fed to `nasbench_pytorch.trainer.train`. Both train the same cell with the same
initial weights, batch size and optimiser on the same device. Timed steps follow warm-up steps
(cuDNN autotuning, compilation, worker start-up are excluded).

    python benchmarks/pretrain_throughput.py --device cuda                  # paper size (stem 128)
    python benchmarks/pretrain_throughput.py --device cpu --stem 16 --stacks 1 --modules-per-stack 1 --steps 5
    python benchmarks/pretrain_throughput.py --run default --variant scaling=axis0 --epochs-parity 12

Without --images (an images.h5) or --run (the images of a workflow run, `infonas.runs`) the
throughput runs use random pixels (speed does not depend on content); the parity mode needs real
images and prints the final validation (and test) accuracy of each.
Prints one JSON object on stdout; the baseline's own prints go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from infonas.nets.pretrain import PretrainConfig, Trainer, build_network, device_name, pretrain_network, read_split
from infonas.runs import add_run_arguments, run_from_arguments
from infonas.runtime import resolve_device

# The NB-101 README's example cell: 7 vertices, 9 edges.
LARGE_CELL = (
    np.array([[0, 1, 1, 1, 0, 1, 0],
              [0, 0, 0, 0, 0, 0, 1],
              [0, 0, 0, 0, 0, 0, 1],
              [0, 0, 0, 0, 1, 0, 0],
              [0, 0, 0, 0, 0, 0, 1],
              [0, 0, 0, 0, 0, 0, 1],
              [0, 0, 0, 0, 0, 0, 0]]),
    [0, 1, 2, 2, 2, 3, 4],
)
# input -> conv3x3 -> output.
SMALL_CELL = (np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]]), [0, 2, 4])
CELLS = {"7v9e": LARGE_CELL, "3v2e": SMALL_CELL}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthetic_images(path: Path, n_train: int, seed: int = 0) -> Path:
    """A contract-conforming images.h5 of uniform random pixels and labels."""
    import h5py

    from infonas.data.images import channel_stats

    rng = np.random.default_rng(seed)
    sizes = {"train": n_train, "valid": 256, "test": 256, "test_2k": 256}
    with h5py.File(path, "w") as f:
        for name, n in sizes.items():
            group = f.create_group(name)
            group["images"] = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
            group["labels"] = rng.integers(0, 10, n).astype(np.int64)
        mean, std = channel_stats(f["train"]["images"][()])
        f.attrs.update({"mean": mean, "std": std, "source": "synthetic", "n_classes": 10})
    return path


# ------------------------------------------------------------------------------ baseline


class ArrayDataset(torch.utils.data.Dataset):
    """uint8 (N,32,32,3) arrays served through PIL and torchvision transforms, as an ImageFolder would."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def baseline_loader(images_path, split, config, workers, augment, n_samples=None, seed=0):
    """torchvision DataLoader over one split; `n_samples` draws a shuffled subset (repeating the split)."""
    import torchvision.transforms as T

    from infonas.data.images import load_images

    data = load_images(images_path, [split])
    steps = [T.RandomCrop(32, padding=config.crop_padding), T.RandomHorizontalFlip()] if augment else []
    transform = T.Compose(steps + [T.ToTensor(), T.Normalize(tuple(data["mean"]), tuple(data["std"]))])
    dataset = ArrayDataset(data[split]["images"], data[split]["labels"], transform)
    if n_samples is not None:
        order = np.random.default_rng(seed).permutation(len(dataset))
        dataset = torch.utils.data.Subset(dataset, np.resize(order, n_samples).tolist())
    return torch.utils.data.DataLoader(
        dataset, batch_size=config.batch_size, shuffle=augment, num_workers=workers,
        generator=torch.Generator().manual_seed(seed),
    )


class MarkAfter:
    """Wraps a loader for nasbench's `train`; records the time when batch `warmup` is handed out."""

    def __init__(self, loader, warmup: int, device: torch.device):
        self.loader, self.warmup, self.device, self.mark = loader, warmup, device, None

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i == self.warmup:
                sync(self.device)
                self.mark = time.perf_counter()
            yield batch


def baseline_train(net, loader, config, device, epochs, valid_loader=None):
    from nasbench_pytorch.trainer import train

    optimizer = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    with contextlib.redirect_stdout(sys.stderr):
        return train(net, loader, optimizer=optimizer, grad_clip=config.grad_clip, num_epochs=epochs,
                     validation_loader=valid_loader, device=device, print_frequency=10**9)


def baseline_throughput(cell, images_path, config, device, warmup, steps, workers) -> float:
    net, _ = build_network(*cell, config, seed=0)
    loader = baseline_loader(images_path, "train", config, workers, augment=True,
                             n_samples=(warmup + steps) * config.batch_size)
    timed = MarkAfter(loader, warmup, device)
    baseline_train(net, timed, config, device, epochs=1)
    sync(device)
    return steps * config.batch_size / (time.perf_counter() - timed.mark)


# ------------------------------------------------------------------------------ ours


def ours_throughput(cell, images_path, config, device, warmup, steps) -> float:
    train, n_classes = read_split(images_path, "train", device)
    trainer = Trainer(*cell, config, device, seed=0, num_labels=n_classes)
    trainer.runner.train()
    batches = itertools.chain.from_iterable(trainer.batches(train) for _ in itertools.count())
    for x, y in itertools.islice(batches, warmup):
        trainer.step(x, y)
    sync(device)
    tic, images = time.perf_counter(), 0
    for x, y in itertools.islice(batches, steps):
        loss, _ = trainer.step(x, y)
        images += y.shape[0]
    loss.item()
    sync(device)
    return images / (time.perf_counter() - tic)


# ------------------------------------------------------------------------------ modes


def throughput(args, config, device, images_path) -> list[dict]:
    rows = []
    for name, cell in CELLS.items():
        ours = ours_throughput(cell, images_path, config, device, args.warmup, args.steps)
        base = baseline_throughput(cell, images_path, config, device, args.warmup, args.steps, args.workers)
        rows.append({"cell": name, "ours_images_per_s": round(ours, 1),
                     "baseline_images_per_s": round(base, 1), "speedup": round(ours / base, 2)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def parity(args, config, device, images_path) -> dict:
    """Train the 7-vertex cell for N epochs with both trainers; final valid and test accuracy of each."""
    from nasbench_pytorch.trainer import test

    config = PretrainConfig(**{**config.as_dict(), "epochs": args.epochs_parity})
    with tempfile.TemporaryDirectory() as tmp:
        ours = pretrain_network(*LARGE_CELL, images_path, Path(tmp) / "w.pt", Path(tmp) / "m.json", config,
                                device=str(device), seed=0, progress=True)
    net, _ = build_network(*LARGE_CELL, config, seed=0)
    tic = time.perf_counter()
    history = baseline_train(
        net, baseline_loader(images_path, "train", config, args.workers, augment=True), config, device,
        args.epochs_parity, valid_loader=baseline_loader(images_path, "valid", config, args.workers, augment=False),
    )
    with contextlib.redirect_stdout(sys.stderr):
        base_test = test(net, baseline_loader(images_path, "test", config, args.workers, augment=False),
                         device=device)["test_accuracy"]
    return {
        "epochs": args.epochs_parity,
        "ours": {"valid_accuracy": ours["valid_accuracy"], "test_accuracy": ours["test_accuracy"],
                 "wall_time_s": round(ours["wall_time_s"], 1), "images_per_s": round(ours["images_per_s"], 1)},
        "baseline": {"valid_accuracy": history["val_accuracy"][-1], "test_accuracy": base_test,
                     "wall_time_s": round(time.perf_counter() - tic, 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="images.h5 (default: random pixels, throughput only)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=50, help="timed training steps per trainer and cell")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    parser.add_argument("--stem", type=int, default=128, help="stem output channels (paper 128)")
    parser.add_argument("--stacks", type=int, default=PretrainConfig.num_stacks, help="stacks (paper 3)")
    parser.add_argument("--modules-per-stack", type=int, default=PretrainConfig.modules_per_stack,
                        help="cells per stack (paper 3)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers of the baseline (paper 4)")
    parser.add_argument("--compile", action="store_true", help="torch.compile our network")
    parser.add_argument("--epochs-parity", type=int, help="train N epochs with both trainers, report accuracy")
    add_run_arguments(parser)
    args = parser.parse_args()
    outputs = run_from_arguments(args)
    if outputs is not None and args.images is None:
        args.images = outputs.images()

    device = torch.device(resolve_device(args.device))
    config = PretrainConfig(stem_channels=args.stem, num_stacks=args.stacks, modules_per_stack=args.modules_per_stack,
                            batch_size=args.batch_size, compile=args.compile)
    report = {
        "device": str(device), "device_name": device_name(device), "torch": torch.__version__,
        "batch_size": args.batch_size, "stem": args.stem, "stacks": args.stacks,
        "modules_per_stack": args.modules_per_stack, "compile": args.compile, "workers": args.workers,
        "threads": torch.get_num_threads(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        if args.epochs_parity:
            if args.images is None:
                parser.error("--epochs-parity needs --images or --run (accuracy on random pixels means nothing)")
            report.update(data=str(args.images), parity=parity(args, config, device, args.images))
        else:
            images = args.images or synthetic_images(Path(tmp) / "images.h5", n_train=2048)
            report.update(data=str(args.images or "synthetic"), steps=args.steps, warmup=args.warmup,
                          results=throughput(args, config, device, images))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
