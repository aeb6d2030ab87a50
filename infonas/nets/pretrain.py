"""Pretraining NB-101 networks (paper Table 1) with the data pipeline kept on the device.

NASBench-PyTorch's trainer, fed by the usual pipeline (torchvision DataLoader, PIL transforms
per image in worker processes, a host sync per step), reaches about 1,100 images/s on an H100.
Here the whole train split is uploaded once as uint8, every epoch draws a seeded permutation from
a `torch.Generator` on the device, random crop + flip run there vectorised over the batch, and
loss/accuracy sums stay on the device until one sync per epoch. bf16 autocast and
channels_last apply on CUDA only; on the CPU training is fp32 and bit-for-bit reproducible,
which is what lets a resumed job end with the same weights as an uninterrupted one.

The optimisation itself matches `nasbench_pytorch.trainer.train` with `optimizer='sgd'`
(SGD, momentum, weight decay, grad-norm clip, `CosineAnnealingLR(T_max=epochs)` stepped per
epoch), so accuracies stay comparable with the paper's networks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from nasbench_pytorch.model import Network
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm, trange

import infonas
from infonas.data.images import load_images
from infonas.errors import InfonasError, one_line
from infonas.files import atomic_path, save_torch
from infonas.searchspace import cells

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class PretrainConfig:
    """Pretraining settings; defaults are the paper's (Table 1). Field names follow the `pretrain`
    section of the config schema, so `PretrainConfig(**section)` works for the shared keys.

    `bn_momentum` and `bn_eps` are BatchNorm settings in PyTorch's convention
    (running = (1 - m) * running + m * batch). The paper set batch normalization "to default values"
    and info-NAS built `Network((adjacency, ops), num_labels)` from a NASBench-PyTorch whose
    ConvBnRelu was `nn.BatchNorm2d(channels)`: PyTorch's defaults, 0.1 and 1e-5. nasbench_pytorch
    1.3.1 has `Network(momentum=0.997)` as its default, NB-101's TensorFlow decay passed to PyTorch
    unchanged, which keeps (nearly) only the last training batch's statistics for eval mode in the
    layers it reaches; `build_network` sets both values on every BatchNorm layer, and 0.997 stays
    available as a setting.
    `bf16` (autocast) and `channels_last` take effect on CUDA only; `compile` wraps the network in
    torch.compile, whose kernels need a C++ compiler on the CPU (a C compiler for Triton on CUDA): where
    none works the job warns in one line and trains eager (`compiled_or_eager`, `Trainer.guarded`).
    """

    epochs: int = 12
    batch_size: int = 128
    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 1e-4
    grad_clip: float | None = 5.0
    crop_padding: int = 4
    flip: bool = True
    stem_channels: int = 128
    num_stacks: int = 3
    modules_per_stack: int = 3
    bn_momentum: float = 0.1
    bn_eps: float = 1e-5
    eval_batch_size: int = 500
    bf16: bool = True
    channels_last: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        positive = ("epochs", "batch_size", "stem_channels", "num_stacks", "modules_per_stack",
                    "eval_batch_size")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise InfonasError(f"pretrain config: {name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0 or self.lr_min < 0 or self.weight_decay < 0 or self.crop_padding < 0:
            raise InfonasError(
                "pretrain config: need lr > 0 and lr_min, weight_decay, crop_padding >= 0 "
                f"(got {self.lr}, {self.lr_min}, {self.weight_decay}, {self.crop_padding})"
            )
        if not 0 < self.bn_momentum <= 1 or not self.bn_eps > 0:
            raise InfonasError(
                f"pretrain config: need 0 < bn_momentum <= 1 and bn_eps > 0 (got {self.bn_momentum}, {self.bn_eps})"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise InfonasError(f"pretrain config: grad_clip must be > 0 or null, got {self.grad_clip}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -------------------------------------------------------------------------------- network


def build_network(adjacency, ops, config: PretrainConfig, num_labels: int = 10, seed: int = 0):
    """Prune and hash a (padded) cell and build nasbench_pytorch's `Network` for it.

    Shared by pretraining and extraction so both see the same module tree. The weight init of
    `Network` draws from torch's global RNG, so it runs under a forked RNG seeded with `seed`:
    same seed, same initial weights, and the caller's global RNG is left untouched.
    `config.bn_momentum` and `config.bn_eps` are set on every BatchNorm layer here: `Network`'s own
    `momentum`/`eps` arguments reach only the stem and the input projections (nasbench_pytorch
    1.3.1 builds the cells' conv ops with PyTorch's defaults).
    Returns (network on the CPU, module hash).
    """
    if not cells.is_valid_cell(adjacency, ops):
        raise InfonasError(f"cell with ops {list(np.asarray(ops).tolist())}: not a valid NB-101 cell")
    matrix, codes = cells.prune(adjacency, ops)
    module_hash = cells.module_hash(matrix, codes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = Network(
            (matrix, cells.op_names(codes)),
            num_labels=num_labels,
            stem_out_channels=config.stem_channels,
            num_stacks=config.num_stacks,
            num_modules_per_stack=config.modules_per_stack,
        )
    for module in net.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum, module.eps = config.bn_momentum, config.bn_eps
    return net, module_hash


# ----------------------------------------------------------------------------------- data


@dataclass
class DeviceImages:
    """One image split resident on the device.

    `images` is uint8 (N, H, W, C): that is the channels_last layout of an NCHW tensor, so a
    gathered batch permuted to NCHW is already channels_last with no copy. `scale`/`shift` fold
    ToTensor + Normalize into one multiply-add: x = u8 * (1 / (255 std)) - mean / std.
    """

    images: torch.Tensor
    labels: torch.Tensor
    scale: torch.Tensor
    shift: torch.Tensor

    @classmethod
    def upload(cls, images: np.ndarray, labels: np.ndarray, mean, std, device) -> "DeviceImages":
        mean = torch.as_tensor(np.asarray(mean, dtype=np.float64))
        std = torch.as_tensor(np.asarray(std, dtype=np.float64))
        scale = (1.0 / (255.0 * std)).float().view(1, -1, 1, 1)
        shift = (-mean / std).float().view(1, -1, 1, 1)
        return cls(
            torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)).to(device),
            torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device),
            scale.to(device),
            shift.to(device),
        )

    def __len__(self) -> int:
        return self.images.shape[0]


def read_split(images_path, split: str, device) -> tuple[DeviceImages, int]:
    """Load one split of images.h5 onto the device; returns it and the number of classes."""
    data = load_images(images_path, [split])
    std = np.asarray(data["std"])
    if not (std > 0).all():
        raise InfonasError(f"{images_path}: attribute std must be > 0 per channel, got {std.tolist()}")
    if len(data[split]["labels"]) == 0:
        raise InfonasError(f"{images_path}: split '{split}' holds no images")
    part = data[split]
    return DeviceImages.upload(part["images"], part["labels"], data["mean"], std, device), data["n_classes"]


def sample_augmentation(
    n: int, padding: int, flip: bool, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample crop offsets (dy, dx in 0..2*padding) and flip flags, drawn on the generator's device."""
    device = generator.device
    offset_y = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device)
    offset_x = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device)
    if flip:
        flips = torch.randint(0, 2, (n,), generator=generator, device=device).bool()
    else:
        flips = torch.zeros(n, dtype=torch.bool, device=device)
    return offset_y, offset_x, flips


def crop_flip(
    batch: torch.Tensor, offset_y: torch.Tensor, offset_x: torch.Tensor, flips: torch.Tensor, padding: int
) -> torch.Tensor:
    """RandomCrop(size, padding) + RandomHorizontalFlip on a uint8 (B, H, W, C) batch, in one gather.

    The batch is zero-padded once; index grids pick each sample's window, and a flip just reverses
    that sample's column indices (torch.where), so there is no loop over samples.
    """
    b, h, w, _ = batch.shape
    padded = F.pad(batch, (0, 0, padding, padding, padding, padding))
    rows = offset_y[:, None] + torch.arange(h, device=batch.device)
    cols_forward = torch.arange(w, device=batch.device)
    cols = offset_x[:, None] + torch.where(flips[:, None], cols_forward.flip(0), cols_forward)
    sample = torch.arange(b, device=batch.device)[:, None, None]
    return padded[sample, rows[:, :, None], cols[:, None, :]]


def to_input(batch: torch.Tensor, data: DeviceImages, channels_last: bool) -> torch.Tensor:
    """uint8 (B, H, W, C) -> normalised float32 NCHW (channels_last strides when asked)."""
    nchw = batch.permute(0, 3, 1, 2)
    x = torch.addcmul(data.shift, nchw.float(), data.scale)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def train_batches(
    data: DeviceImages, config: PretrainConfig, generator: torch.Generator, channels_last: bool
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of augmented (input, label) batches in a seeded order, the last batch possibly short
    (as a DataLoader without drop_last gives)."""
    perm = torch.randperm(len(data), generator=generator, device=generator.device)
    for start in range(0, len(data), config.batch_size):
        index = perm[start : start + config.batch_size]
        batch = data.images[index]
        if config.crop_padding or config.flip:
            offsets = sample_augmentation(len(index), config.crop_padding, config.flip, generator)
            batch = crop_flip(batch, *offsets, padding=config.crop_padding)
        yield to_input(batch, data, channels_last), data.labels[index]


# ------------------------------------------------------------------------------- training


def autocast_for(device_type: str, config: PretrainConfig):
    """bf16 autocast on CUDA only: the CPU stays fp32 so reruns and resumes are bit-identical."""
    if device_type == "cuda" and config.bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_optimizer(model: torch.nn.Module, config: PretrainConfig, device_type: str):
    """SGD + per-epoch CosineAnnealingLR, as nasbench_pytorch's trainer with optimizer='sgd'."""
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        fused=True if device_type == "cuda" else None,  # one kernel for all params on the GPU
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs, eta_min=config.lr_min)
    return optimizer, scheduler


def make_train_step(model, optimizer, config: PretrainConfig, device_type: str) -> Callable:
    """step(x, y) -> (loss, n_correct) as device tensors: no host synchronisation inside."""
    params = [p for p in model.parameters() if p.requires_grad]

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast_for(device_type, config):
            logits = model(x)
            loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()

    return step


@torch.no_grad()
def evaluate(model, data: DeviceImages, config: PretrainConfig, device_type: str, channels_last: bool) -> float:
    """Accuracy on un-augmented images in eval mode (one host sync at the end)."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=data.labels.device)
    for start in range(0, len(data), config.eval_batch_size):
        batch = data.images[start : start + config.eval_batch_size]
        with autocast_for(device_type, config):
            logits = model(to_input(batch, data, channels_last))
        correct += (logits.argmax(1) == data.labels[start : start + config.eval_batch_size]).sum()
    model.train(was_training)
    return correct.item() / len(data)


def forward_flops_per_image(model, data: DeviceImages, channels_last: bool) -> float:
    """FLOPs of one forward pass per image (counted by torch, eval mode so BN stats stay put)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(to_input(data.images[:1], data, channels_last))
    model.train(was_training)
    return float(counter.get_total_flops())


class Trainer:
    """Everything one pretraining job mutates, built the same way for `pretrain_network` and the
    throughput benchmark: network (channels_last on CUDA), optional compiled runner, SGD + cosine
    schedule, the seeded batch generator, and the per-epoch history. A checkpoint is its state."""

    def __init__(self, adjacency, ops, config: PretrainConfig, device, seed: int = 0, num_labels: int = 10):
        self.config = config
        self.device = torch.device(device)
        self.channels_last = config.channels_last and self.device.type == "cuda"
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        net, self.module_hash = build_network(adjacency, ops, config, num_labels=num_labels, seed=seed)
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        self.model = net.to(self.device, memory_format=layout)
        self.runner = compiled_or_eager(self.model, self.device.type) if config.compile else self.model
        self.optimizer, self.scheduler = make_optimizer(self.model, config, self.device.type)
        self.step = make_train_step(self.runner, self.optimizer, config, self.device.type)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(seed))
        self.identity = {"hash": self.module_hash, "seed": int(seed), "settings": config.as_dict()}
        self.history: list[dict] = []

    def batches(self, data: DeviceImages) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of augmented batches from this job's generator."""
        return train_batches(data, self.config, self.generator, self.channels_last)

    def run_epoch(self, data: DeviceImages, progress: bool = False, desc: str = "") -> tuple[float, float]:
        """One pass over the train split -> (mean loss, accuracy); one host sync, at the end."""
        self.runner.train()
        loss_sum = torch.zeros((), dtype=torch.float32, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        n_batches = math.ceil(len(data) / self.config.batch_size)
        for x, y in tqdm(self.batches(data), total=n_batches, desc=desc, leave=False, disable=not progress):
            loss, n_correct = self.guarded(lambda: self.step(x, y))
            loss_sum += loss * y.shape[0]
            correct += n_correct
        return loss_sum.item() / len(data), correct.item() / len(data)

    def evaluate(self, data: DeviceImages) -> float:
        return self.guarded(lambda: evaluate(self.runner, data, self.config, self.device.type, self.channels_last))

    def guarded(self, call: Callable[[], Any]) -> Any:
        """call(), which reads self.runner / self.step when it runs. torch.compile builds its kernels
        lazily, at the first call of each graph (and again for a new batch shape), so a compiler that
        fails only then surfaces here: the job warns in one line and goes on eager for good, rerunning
        the call. A compile fails before its graph runs, so the rerun repeats no update."""
        if self.runner is self.model:
            return call()
        try:
            return call()
        except torch._dynamo.exc.BackendCompilerFailed as exc:
            cause = getattr(exc, "inner_exception", None) or exc  # the compiler's own error, not the wrapper's
            log.warning("pretrain.compile: torch.compile failed (%s: %s); training eager",
                        type(cause).__name__, one_line(cause))
            self.runner = self.model
            self.step = make_train_step(self.model, self.optimizer, self.config, self.device.type)
            return call()

    def save_checkpoint(self, path: Path) -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            **self.identity,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "history": self.history,
        }
        save_torch(state, path)

    def load_checkpoint(self, path: Path) -> bool:
        """Restore a checkpoint; False (start fresh) when absent or written for other settings."""
        if not path.is_file():
            return False
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torn files cannot exist (atomic writes), foreign ones can
            raise InfonasError(f"{path}: unreadable pretraining checkpoint ({type(exc).__name__}); "
                               "delete it and run again (the job then starts over)") from None
        if state.get("format") != CHECKPOINT_FORMAT or {k: state.get(k) for k in self.identity} != self.identity:
            log.warning("%s: checkpoint of other settings, seed or cell; starting from scratch", path)
            return False
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.history = list(state["history"])
        log.info("%s: resuming after epoch %d", path, len(self.history))
        return True

    def weights(self) -> dict[str, torch.Tensor]:
        """state_dict of the uncompiled module as plain contiguous CPU tensors."""
        return {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}


def missing_compiler(device_type: str) -> str | None:
    """Why torch.compile cannot build kernels for `device_type` here, or None. Inductor compiles CPU
    kernels with $CXX, else g++ (clang++ on macOS), the only ones torch tries; Triton builds its CUDA
    launchers with $CC, else gcc or clang."""
    if device_type == "cpu":
        names = [os.environ.get("CXX") or ("clang++" if sys.platform == "darwin" else "g++")]
        kind = "C++ compiler"
    else:
        names = [os.environ["CC"]] if os.environ.get("CC") else ["gcc", "clang"]
        kind = "C compiler"
    if any(shutil.which(name) for name in names):
        return None
    return f"no {kind} ({' or '.join(names)}) on PATH for torch.compile's {device_type} kernels"


def compiled_or_eager(model: torch.nn.Module, device_type: str) -> torch.nn.Module:
    """torch.compile(model), or the model itself after a one-line warning where no compiler can build
    its kernels: the setting is for speed only, so it never stops a run."""
    missing = missing_compiler(device_type)
    if missing:
        log.warning("pretrain.compile: %s; training eager", missing)
        return model
    return torch.compile(model)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"


def pretrain_network(
    adjacency,
    ops,
    images_path: str | os.PathLike,
    out_weights: str | os.PathLike,
    out_metrics: str | os.PathLike,
    config: PretrainConfig | None = None,
    device: str = "cpu",
    seed: int = 0,
    checkpoint_path: str | os.PathLike | None = None,
    progress: bool = False,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> dict:
    """Train one NB-101 cell on images.h5 and write its weights (.pt) and metrics (.json).

    A checkpoint (default `<out_weights>.ckpt`) is written atomically after every epoch and a rerun
    resumes from it; it is deleted once both outputs exist. `on_epoch_end(epoch, record)` runs after
    each checkpoint (progress reporting; tests use it to simulate a kill). A non-finite training loss
    raises InfonasError naming the cell hash and epoch, and writes no output. Returns the metrics.
    """
    started = time.perf_counter()
    config = config or PretrainConfig()
    dev = torch.device(device)
    checkpoint = Path(checkpoint_path) if checkpoint_path else Path(f"{out_weights}.ckpt")
    train, n_classes = read_split(images_path, "train", dev)
    valid, _ = read_split(images_path, "valid", dev)
    trainer = Trainer(adjacency, ops, config, dev, seed=seed, num_labels=n_classes)
    module_hash = trainer.module_hash
    resumed_from = len(trainer.history) if trainer.load_checkpoint(checkpoint) else 0
    flops = forward_flops_per_image(trainer.model, valid, trainer.channels_last)
    log.info("network %s: %d train images, %.1f MFLOP/image forward, device %s",
             module_hash, len(train), flops / 1e6, device_name(dev))

    for epoch in trange(resumed_from + 1, config.epochs + 1, desc=module_hash[:8], disable=not progress):
        lr = trainer.optimizer.param_groups[0]["lr"]
        tic = time.perf_counter()
        loss, accuracy = trainer.run_epoch(train, progress, desc=f"epoch {epoch}")
        seconds = time.perf_counter() - tic
        if not math.isfinite(loss):
            raise InfonasError(
                f"network {module_hash}: training loss is {loss} in epoch {epoch} (lr {lr:g}); no output written"
            )
        record = {
            "epoch": epoch, "lr": lr, "train_loss": loss, "train_accuracy": accuracy,
            "valid_accuracy": trainer.evaluate(valid), "seconds": seconds,
            "images_per_s": len(train) / seconds, "tflops": 3 * flops * len(train) / seconds / 1e12,
        }
        trainer.scheduler.step()
        trainer.history.append(record)
        log.info("network %s epoch %d/%d: loss %.4f, train acc %.4f, valid acc %.4f, %.0f images/s, %.2f TFLOP/s",
                 module_hash, epoch, config.epochs, loss, accuracy, record["valid_accuracy"],
                 record["images_per_s"], record["tflops"])
        trainer.save_checkpoint(checkpoint)
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)

    test, _ = read_split(images_path, "test", dev)
    metrics = _metrics(trainer, len(train), flops, trainer.evaluate(test), resumed_from,
                       time.perf_counter() - started)
    save_torch(trainer.weights(), out_weights)
    with atomic_path(out_metrics) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))
    checkpoint.unlink(missing_ok=True)
    log.info("network %s: valid acc %.4f, test acc %.4f, %.0f images/s overall",
             module_hash, metrics["valid_accuracy"], metrics["test_accuracy"], metrics["images_per_s"])
    return metrics


def _metrics(trainer: Trainer, n_train: int, flops: float, test_accuracy: float, resumed_from: int,
             wall: float) -> dict:
    history = trainer.history
    train_time = sum(r["seconds"] for r in history)
    images_per_s = n_train * len(history) / train_time
    return {
        **trainer.identity,
        "train_loss": [r["train_loss"] for r in history],
        "train_accuracy": [r["train_accuracy"] for r in history],
        "valid_accuracy_per_epoch": [r["valid_accuracy"] for r in history],
        "per_epoch": history,
        "valid_accuracy": history[-1]["valid_accuracy"],
        "test_accuracy": test_accuracy,
        "train_images": n_train,
        "train_time_s": train_time,
        "wall_time_s": wall,
        "resumed_from_epoch": resumed_from,
        "images_per_s": images_per_s,
        "forward_flops_per_image": flops,
        "tflops": 3 * flops * images_per_s / 1e12,
        "n_params": sum(p.numel() for p in trainer.model.parameters()),
        "device": str(trainer.device),
        "device_name": device_name(trainer.device),
        "torch_version": torch.__version__,
        "infonas_version": infonas.__version__,
    }
