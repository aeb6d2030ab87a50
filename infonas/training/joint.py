"""Semi-supervised joint training of info-NAS with the reference arch2vec beside it (thesis 3.4, 4.2.3).

One epoch is one pass over the labeled samples and one over the unlabeled cells, in batches of 32
drawn from seeded permutations: `n_labeled_batches` labeled batches, then `n_unlabeled_batches`
unlabeled ones, repeated; when one side runs out, the rest of the other follows (the thesis' 300/200).

- Unlabeled batch: info-NAS takes the arch2vec VAE loss (the regressor gets no gradient).
- Labeled batch: info-NAS takes `vae_weight` * VAE loss + `labeled_weight` * labeled loss (L1, MSE or
  Huber between predicted and true outputs). The weights apply to labeled batches only.
- The reference arch2vec (a plain VAE built from the same init seed, so it starts identical to
  info-NAS' VAE) trains on the very same batches, taking a labeled batch's cells as unlabeled data;
  on those its loss is scaled by `vae_weight`, as info-NAS' trainer does.

Optimisers (`optimizers`), as info-NAS' trainer (info_nas/trainer.py) builds them with `two`: the
shared VAE keeps arch2vec's own Adam (`vae_lr`, 1e-3) for unlabeled batches, and a second Adam over
VAE + regressor (`lr`, the rate thesis Tables 4.5-4.8 vary) takes the labeled batches, so each keeps
its own moments. `one` is a single Adam (`lr`) over VAE + regressor for both batch kinds. The
gradient norm is clipped over the parameters of the optimiser that steps. The arch2vec models (the
reference, or a plain arch2vec run) always train with their own Adam at `vae_lr`.

Everything stays on the device: batches are gathered by index, images are normalised in the batch,
losses are summed in device tensors and read once per epoch (where a non-finite loss stops the run).
bf16 autocast is used on CUDA only, so CPU runs are float32 and reproducible: a run killed and
resumed from its last checkpoint ends with the same weights and metrics as an uninterrupted one.
Dropout and the VAE's noise use the global torch RNG, seeded from `seed` inside `train_joint`
(in a forked RNG, so the caller's state is untouched) and saved in every checkpoint.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from infonas.errors import InfonasError
from infonas.models.inference import device_autocast, latent_means
from infonas.models.info_nas import InfoNAS, InfoNASConfig, images_to_input
from infonas.models.vae import ArchVAE, check_cells
from infonas.runtime import resolve_device
from infonas.searchspace.ops import N_OPS, PAD_CODE
from infonas.training.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from infonas.training.metrics import (
    CELL_COLUMNS,
    COMMON_LOSSES,
    LABELED_LOSSES,
    baseline_losses,
    batch_median,
    bootstrap_ci,
    labeled_split_losses,
    make_generator,
    per_sample_loss_fn,
    reconstruction_accuracy,
    validity_uniqueness,
    write_metrics_csv,
)

logger = logging.getLogger(__name__)

#: JointConfig keys that may change between a checkpoint and the run resuming from it.
RESUMABLE_KEYS = frozenset({"epochs", "checkpoint_every"})
#: `optimizers` choices: info-NAS' two Adams (labeled / unlabeled batches) or a single one.
OPTIMIZER_SETUPS = ("two", "one")


@dataclass(frozen=True)
class JointConfig:
    """Training schedule, losses, optimiser and evaluation settings (thesis Table 4.1 defaults)."""

    epochs: int = 30
    batch_size: int = 32
    n_labeled_batches: int = 300
    n_unlabeled_batches: int = 200
    labeled_loss: str = "l1"  # l1 | mse | huber
    huber_delta: float = 1.0
    vae_weight: float = 1.0
    labeled_weight: float = 1.0
    lr: float = 1e-3  # Adam on labeled batches (VAE + regressor); with optimizers="one", on every batch
    vae_lr: float = 1e-3  # the VAE's own Adam (arch2vec's): info-NAS' unlabeled batches, the arch2vec models
    optimizers: str = "two"  # two: info-NAS' trainer, one Adam per batch kind | one: a single Adam
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    grad_clip: float | None = 5.0  # arch2vec clips the gradient norm at 5; None disables
    train_reference: bool = True
    checkpoint_every: int = 5
    seed: int = 1
    eval_batch_size: int = 1024
    n_bootstrap: int = 1000
    ci_level: float = 0.95
    n_latent_points: int = 10000  # samples decoded for validity / uniqueness
    eval_max_samples: int | None = None  # seeded fixed subset of each evaluation set; None = all
    # Epochs the VAEs train in train mode; eval mode after them (no dropout on Z, z = mu, BN running
    # statistics). None = every epoch (the papers, info-NAS' trainer); 1 = arch2vec's released script.
    vae_train_mode_epochs: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))
        positive = ("epochs", "batch_size", "n_labeled_batches", "n_unlabeled_batches", "checkpoint_every",
                    "eval_batch_size", "n_bootstrap")
        for key in positive:
            if getattr(self, key) < 1:
                raise InfonasError(f"JointConfig.{key}: must be >= 1, got {getattr(self, key)}")
        if self.labeled_loss not in LABELED_LOSSES:
            raise InfonasError(
                f"JointConfig.labeled_loss: unknown loss '{self.labeled_loss}' (choose from {', '.join(LABELED_LOSSES)})"
            )
        if not 0.0 < self.ci_level < 1.0:
            raise InfonasError(f"JointConfig.ci_level: must be in (0, 1), got {self.ci_level}")
        for key in ("lr", "vae_lr", "huber_delta"):
            if not getattr(self, key) > 0:
                raise InfonasError(f"JointConfig.{key}: must be > 0, got {getattr(self, key)}")
        if self.optimizers not in OPTIMIZER_SETUPS:
            raise InfonasError(f"JointConfig.optimizers: unknown set-up '{self.optimizers}' "
                               f"(choose from {', '.join(OPTIMIZER_SETUPS)})")
        if self.n_latent_points < 0:
            raise InfonasError(f"JointConfig.n_latent_points: must be >= 0, got {self.n_latent_points}")
        for key in ("eval_max_samples", "vae_train_mode_epochs"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise InfonasError(f"JointConfig.{key}: must be None or >= 1, got {getattr(self, key)}")


@dataclass
class CellSet:
    """Padded cells: adjacency (N, 7, 7) 0/1 and ops (N, 7) codes with -1 padding."""

    adjacency: torch.Tensor
    ops: torch.Tensor

    def to(self, device: torch.device) -> "CellSet":
        return CellSet(torch.as_tensor(self.adjacency).to(device, torch.uint8),
                       torch.as_tensor(self.ops).to(device, torch.int8))

    def __len__(self) -> int:
        return int(self.adjacency.shape[0])


@dataclass
class LabeledSplit:
    """One labeled IO split: sample i is network `net_index[i]` (a row of LabeledData.networks) on image
    `image_index[i]` (a row of `images`, uint8 (M, H, W, C)), with output `targets[i]` (F,)."""

    net_index: torch.Tensor
    image_index: torch.Tensor
    targets: torch.Tensor
    images: torch.Tensor

    def to(self, device: torch.device) -> "LabeledSplit":
        targets = torch.as_tensor(self.targets)
        if targets.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            targets = targets.float()  # keep half-precision targets half: 608,000 x 513 of them
        return LabeledSplit(
            torch.as_tensor(self.net_index).to(device, torch.long),
            torch.as_tensor(self.image_index).to(device, torch.long),
            targets.to(device),
            torch.as_tensor(self.images).to(device, torch.uint8),
        )

    def __len__(self) -> int:
        return int(self.targets.shape[0])


@dataclass
class LabeledData:
    """The labeled IO dataset: the labeled networks' cells, the splits (`train` is trained on, all are
    evaluated), the per-channel image mean/std of images scaled to [0, 1], and `valid_networks`: rows
    of `networks` with role `valid`, whose reconstruction accuracy is reported (None: not reported)."""

    networks: CellSet
    splits: dict[str, LabeledSplit]
    image_mean: torch.Tensor
    image_std: torch.Tensor
    train_split: str = "train"
    valid_networks: torch.Tensor | None = None

    def to(self, device: torch.device) -> "LabeledData":
        valid = None if self.valid_networks is None else torch.as_tensor(self.valid_networks).to(device, torch.long)
        return LabeledData(
            self.networks.to(device),
            {name: s.to(device) for name, s in self.splits.items()},
            torch.as_tensor(self.image_mean, dtype=torch.float32).to(device),
            torch.as_tensor(self.image_std, dtype=torch.float32).to(device),
            self.train_split,
            valid,
        )


def batch_schedule(n_labeled: int, n_unlabeled: int, k_labeled: int, k_unlabeled: int) -> list[bool]:
    """Per-step flags (True = labeled): k_labeled labeled, k_unlabeled unlabeled, repeated until both
    counts are used up; the side left over fills the end."""
    out: list[bool] = []
    used_l = used_u = 0
    while used_l < n_labeled or used_u < n_unlabeled:
        take = min(k_labeled, n_labeled - used_l)
        out += [True] * take
        used_l += take
        take = min(k_unlabeled, n_unlabeled - used_u)
        out += [False] * take
        used_u += take
    return out


def _loss_summary(stem: str, losses: torch.Tensor, config: JointConfig, generator: torch.Generator) -> dict:
    """`stem` (mean over samples), its bootstrap CI bounds and `stem_median` (over batches of batch_size)."""
    mean, low, high = bootstrap_ci(losses, config.n_bootstrap, config.ci_level, generator)
    return {stem: mean, f"{stem}_ci_low": low, f"{stem}_ci_high": high,
            f"{stem}_median": batch_median(losses, config.batch_size)}


def _common_losses(stem: str, split: str, losses: torch.Tensor) -> dict:
    """`<stem>_<loss>_<split>`: the mean per-sample loss of each of COMMON_LOSSES (rows of `losses`)."""
    means = losses.mean(dim=1).tolist()
    return {f"{stem}_{kind}_{split}": value for kind, value in zip(COMMON_LOSSES, means)}


def _eval_seed(seed: int, epoch: int, tag: int) -> int:
    """Seeds of the evaluation generators: fixed per (run seed, epoch, metric), never the training RNG."""
    return (seed * 1_000_003 + epoch * 1_009 + tag) % (2**63)


class JointTrainer:
    """Models, optimisers, data and RNG of one joint run; `run_epoch` trains, `evaluate` adds metric rows.

    With `labeled=None` the main model is a plain arch2vec trained on the unlabeled cells only.
    Construction seeds the global torch RNG from `config.seed` (dropout and VAE noise draw from it);
    `train_joint` does this inside a forked RNG.
    """

    def __init__(
        self,
        unlabeled: CellSet,
        labeled: LabeledData | None,
        heldout: CellSet | None,
        model_config: InfoNASConfig = InfoNASConfig(),
        config: JointConfig = JointConfig(),
        device: torch.device | str = "cpu",
    ):
        self.device = torch.device(device)
        self.config = config
        self.model_config = model_config
        self.unlabeled = unlabeled.to(self.device)
        self.labeled = labeled.to(self.device) if labeled is not None else None
        self.heldout = heldout.to(self.device) if heldout is not None else None
        _validate_data(self.unlabeled, self.labeled, self.heldout, model_config)
        self.loss_fn = per_sample_loss_fn(config.labeled_loss, config.huber_delta)
        # evaluation scores every split with the training loss, then on the common scales (L1, MSE)
        self.eval_loss_fns = [self.loss_fn, *(per_sample_loss_fn(kind) for kind in COMMON_LOSSES)]

        torch.manual_seed(config.seed)
        self.main: nn.Module = InfoNAS(model_config) if self.labeled else ArchVAE(model_config.vae)
        self.main_name = "infonas" if self.labeled else "arch2vec"
        self.main_vae: ArchVAE = self.main.vae if isinstance(self.main, InfoNAS) else self.main
        self.reference: ArchVAE | None = None
        if self.labeled is not None and config.train_reference:
            torch.manual_seed(config.seed)
            self.reference = ArchVAE(model_config.vae)
        for m in self.models().values():
            m.to(self.device)
            if self.device.type == "cuda":
                m.to(memory_format=torch.channels_last)
        self.optimizers = self._make_optimizers()
        self.batch_gen = make_generator(self.device, config.seed)
        self.epoch = 0
        self.rows: list[dict] = []
        self._eval_subsets = self._make_eval_subsets()
        self._baselines: dict[str, dict[str, float]] = {}  # split -> baseline columns (fixed targets)

    # ----------------------------------------------------------------------------- set-up helpers
    def models(self) -> dict[str, nn.Module]:
        out = {self.main_name: self.main}
        if self.reference is not None:
            out["arch2vec"] = self.reference
        return out

    def vaes(self) -> list[ArchVAE]:
        """The VAE of the main model and the reference's."""
        return [self.main_vae] + ([self.reference] if self.reference is not None else [])

    def _set_train_modes(self) -> None:
        """Train mode for every model, then eval mode for the VAEs once `vae_train_mode_epochs` are done.

        arch2vec's released pretraining calls model.eval() for its validity check after the first
        epoch and never model.train() again, so from its second epoch on it trains a deterministic
        autoencoder (no dropout on Z, z = mu, frozen BatchNorm statistics). That is what reaches its
        reported 100% reconstruction; with noise throughout, adjacency accuracy plateaus near 0.98.
        """
        for m in self.models().values():
            m.train()
        limit = self.config.vae_train_mode_epochs
        if limit is not None and self.epoch >= limit:
            for vae in self.vaes():
                vae.eval()

    def _adam(self, model: nn.Module, lr: float) -> torch.optim.Adam:
        c = self.config
        return torch.optim.Adam(model.parameters(), lr=lr, betas=c.betas, eps=c.adam_eps,
                                fused=self.device.type == "cuda")

    def _make_optimizers(self) -> dict[str, torch.optim.Adam]:
        """Name -> Adam. `infonas`: VAE + regressor at `lr` (labeled batches; every batch with
        optimizers="one"); `infonas_vae`: the shared VAE alone at `vae_lr` (unlabeled batches, two
        optimisers only); `arch2vec`: the arch2vec model (reference or plain run) at `vae_lr`."""
        c = self.config
        if self.labeled is None:
            return {"arch2vec": self._adam(self.main, c.vae_lr)}
        optimizers = {"infonas": self._adam(self.main, c.lr)}
        if c.optimizers == "two":
            optimizers["infonas_vae"] = self._adam(self.main_vae, c.vae_lr)
        if self.reference is not None:
            optimizers["arch2vec"] = self._adam(self.reference, c.vae_lr)
        return optimizers

    @property
    def unlabeled_optimizer(self) -> str:
        """The optimiser that steps the main model on unlabeled batches."""
        return "infonas_vae" if "infonas_vae" in self.optimizers else self.main_name

    @property
    def split_names(self) -> list[str]:
        return list(self.labeled.splits) if self.labeled else []

    def _subset(self, n: int, tag: int) -> torch.Tensor | None:
        cap = self.config.eval_max_samples
        if cap is None or n <= cap:
            return None
        g = make_generator(self.device, _eval_seed(self.config.seed, 0, tag))
        return torch.randperm(n, generator=g, device=self.device)[:cap].sort().values

    def _make_eval_subsets(self) -> dict[str, torch.Tensor | None]:
        subsets = {"__fit__": self._subset(len(self.unlabeled), 1)}
        if self.heldout is not None:
            subsets["__heldout__"] = self._subset(len(self.heldout), 2)
        for k, (name, split) in enumerate(self.labeled.splits.items() if self.labeled else []):
            subsets[name] = self._subset(len(split), 10 + k)
        return subsets

    # ----------------------------------------------------------------------------- training
    def _step(self, optimizer: str, loss: torch.Tensor) -> None:
        """Backward and one step of `optimizer`, the gradient norm clipped over the parameters it updates."""
        opt = self.optimizers[optimizer]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip is not None:
            nn.utils.clip_grad_norm_([p for group in opt.param_groups for p in group["params"]], self.config.grad_clip)
        opt.step()

    def _vae_step(self, optimizer: str, vae: ArchVAE, adj: torch.Tensor, ops: torch.Tensor,
                  weight: float = 1.0) -> torch.Tensor:
        """One step on `weight` * VAE loss; returns the unweighted loss."""
        with device_autocast(self.device):
            out = vae(adj, ops)
        loss = vae.loss(out, adj, ops)
        self._step(optimizer, weight * loss)
        return loss.detach()

    def _labeled_step(self, idx: torch.Tensor, sums: torch.Tensor) -> None:
        data = self.labeled
        split = data.splits[data.train_split]
        net = split.net_index[idx]
        adj, ops = data.networks.adjacency[net], data.networks.ops[net]
        images = images_to_input(split.images[split.image_index[idx]], data.image_mean, data.image_std)
        with device_autocast(self.device):
            out, pred = self.main(adj, ops, images)
        vae_l = self.main_vae.loss(out, adj, ops)
        lab_l = self.loss_fn(pred, split.targets[idx]).mean()
        self._step("infonas", self.config.vae_weight * vae_l + self.config.labeled_weight * lab_l)
        sums[0] += vae_l.detach()
        sums[2] += lab_l.detach()
        if self.reference is not None:
            sums[3] += self._vae_step("arch2vec", self.reference, adj, ops, self.config.vae_weight)

    def _unlabeled_step(self, idx: torch.Tensor, sums: torch.Tensor) -> None:
        adj, ops = self.unlabeled.adjacency[idx], self.unlabeled.ops[idx]
        sums[1] += self._vae_step(self.unlabeled_optimizer, self.main_vae, adj, ops)
        if self.reference is not None:
            sums[4] += self._vae_step("arch2vec", self.reference, adj, ops)

    def run_epoch(self, progress: bool = False) -> dict:
        """Train one epoch; returns the epoch's mean losses, step counts and wall time (one host sync)."""
        bs = self.config.batch_size
        n_lab_samples = len(self.labeled.splits[self.labeled.train_split]) if self.labeled else 0
        lab_perm = torch.randperm(n_lab_samples, generator=self.batch_gen, device=self.device)
        unl_perm = torch.randperm(len(self.unlabeled), generator=self.batch_gen, device=self.device)
        n_lab, n_unl = math.ceil(n_lab_samples / bs), math.ceil(len(self.unlabeled) / bs)
        schedule = batch_schedule(n_lab, n_unl, self.config.n_labeled_batches, self.config.n_unlabeled_batches)
        # sums: main VAE loss on labeled, on unlabeled batches, labeled loss, reference VAE (lab, unlab)
        sums = torch.zeros(5, dtype=torch.float32, device=self.device)
        self._set_train_modes()
        i_lab = i_unl = 0
        start = time.perf_counter()
        for is_labeled in tqdm(schedule, desc=f"epoch {self.epoch + 1}", disable=not progress, leave=False):
            if is_labeled:
                self._labeled_step(lab_perm[i_lab * bs:(i_lab + 1) * bs], sums)
                i_lab += 1
            else:
                self._unlabeled_step(unl_perm[i_unl * bs:(i_unl + 1) * bs], sums)
                i_unl += 1
        values = sums.tolist()  # the epoch's one sync; also waits for the device to finish
        seconds = time.perf_counter() - start
        self.epoch += 1
        if not all(math.isfinite(v) for v in values):
            raise InfonasError(f"joint training: non-finite loss in epoch {self.epoch} (sums {values})")
        mean = [v / n if n else math.nan for v, n in zip(values, (n_lab, n_unl, n_lab, n_lab, n_unl))]
        return {"epoch": self.epoch, "seconds": seconds, "n_labeled_steps": n_lab, "n_unlabeled_steps": n_unl,
                "main": {"vae_loss_labeled": mean[0], "vae_loss_unlabeled": mean[1], "labeled_loss_batches": mean[2]},
                "arch2vec": {"vae_loss_labeled": mean[3], "vae_loss_unlabeled": mean[4]}}

    # ----------------------------------------------------------------------------- evaluation
    def _pick(self, key: str, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        sub = self._eval_subsets.get(key)
        return tensors if sub is None else tuple(t[sub] for t in tensors)

    def _labeled_metrics(self) -> dict:
        c, data, row = self.config, self.labeled, {}
        for k, (name, split) in enumerate(data.splits.items()):
            net_index, image_index, targets = self._pick(name, split.net_index, split.image_index, split.targets)
            to_input = lambda ii, s=split: images_to_input(s.images[ii], data.image_mean, data.image_std)  # noqa: E731
            losses = labeled_split_losses(self.main, data.networks.adjacency, data.networks.ops, net_index,
                                          image_index, targets, to_input, self.eval_loss_fns, c.eval_batch_size)
            g = make_generator(self.device, _eval_seed(c.seed, self.epoch, 10 + k))
            row.update(_loss_summary(f"labeled_loss_{name}", losses[0], c, g))
            row.update(_common_losses("labeled", name, losses[1:]))
            if name not in self._baselines:
                base = baseline_losses(targets, self.eval_loss_fns, c.eval_batch_size)
                g = make_generator(self.device, _eval_seed(c.seed, 0, 100 + k))
                self._baselines[name] = {**_loss_summary(f"baseline_{name}", base[0], c, g),
                                         **_common_losses("baseline", name, base[1:])}
            row.update(self._baselines[name])
        return row

    def _cell_metrics(self, vae: ArchVAE, tag: int) -> dict:
        c = self.config
        heldout = valid_nets = (math.nan, math.nan, math.nan)
        if self.heldout is not None:
            adj, ops = self._pick("__heldout__", self.heldout.adjacency, self.heldout.ops)
            heldout = reconstruction_accuracy(vae, adj, ops, c.eval_batch_size)
        if self.labeled is not None and self.labeled.valid_networks is not None:
            rows, nets = self.labeled.valid_networks, self.labeled.networks
            valid_nets = reconstruction_accuracy(vae, nets.adjacency[rows], nets.ops[rows], c.eval_batch_size)
        adj, ops = self._pick("__fit__", self.unlabeled.adjacency, self.unlabeled.ops)
        mu = latent_means(vae, adj, ops, c.eval_batch_size)
        g = make_generator(self.device, _eval_seed(c.seed, self.epoch, tag))
        generative = validity_uniqueness(vae, mu, c.n_latent_points, g, c.eval_batch_size)
        return dict(zip(CELL_COLUMNS, (*heldout, *valid_nets, *generative)))

    def evaluate(self, stats: dict) -> list[dict]:
        """Metric rows (one per model) for the epoch just trained; appended to `self.rows`."""
        common = {k: stats[k] for k in ("epoch", "seconds", "n_labeled_steps", "n_unlabeled_steps")}
        main_row = {**common, "model": self.main_name, **stats["main"]}
        if self.labeled is not None:
            main_row.update(self._labeled_metrics())
        else:
            main_row.pop("labeled_loss_batches")
        main_row.update(self._cell_metrics(self.main_vae, tag=1))
        rows = [main_row]
        if self.reference is not None:
            rows.append({**common, "model": "arch2vec", **stats["arch2vec"], **self._cell_metrics(self.reference, 2)})
        self.rows.extend(rows)
        return rows

    # ----------------------------------------------------------------------------- state
    def _data_sizes(self) -> dict:
        sizes = {"unlabeled": len(self.unlabeled), "heldout": len(self.heldout) if self.heldout is not None else 0}
        for name, split in (self.labeled.splits.items() if self.labeled else []):
            sizes[f"labeled_{name}"] = len(split)
        return sizes

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "model_config": self.model_config.to_dict(),
            "joint_config": asdict(self.config),
            "data_sizes": self._data_sizes(),
            "models": {name: m.state_dict() for name, m in self.models().items()},
            "optimizers": {name: o.state_dict() for name, o in self.optimizers.items()},
            "rng": {**rng_state(self.device), "batch_order": self.batch_gen.get_state()},
            "metrics": list(self.rows),
        }

    def load_state_dict(self, state: dict, source: str = "checkpoint") -> None:
        """Resume from `state`; InfonasError if it was written for other settings or data."""
        if state["model_config"] != self.model_config.to_dict():
            raise InfonasError(f"{source}: written with a different model config")
        mine = asdict(self.config)
        for key, value in state["joint_config"].items():
            if key not in RESUMABLE_KEYS and mine.get(key) != value:
                raise InfonasError(f"{source}: written with {key}={value!r}, this run has {mine.get(key)!r}")
        if state["data_sizes"] != self._data_sizes():
            raise InfonasError(f"{source}: written for data of sizes {state['data_sizes']}, got {self._data_sizes()}")
        if set(state["models"]) != set(self.models()):
            raise InfonasError(f"{source}: holds models {sorted(state['models'])}, this run trains {sorted(self.models())}")
        if set(state["optimizers"]) != set(self.optimizers):
            raise InfonasError(f"{source}: holds optimisers {sorted(state['optimizers'])}, "
                               f"this run has {sorted(self.optimizers)}")
        for name, m in self.models().items():
            m.load_state_dict(state["models"][name])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        set_rng_state(state["rng"], self.device)
        self.batch_gen.set_state(state["rng"]["batch_order"].cpu())
        self.epoch = int(state["epoch"])
        self.rows = list(state["metrics"])


def _validate_data(unlabeled: CellSet, labeled: LabeledData | None, heldout: CellSet | None,
                   model_config: InfoNASConfig) -> None:
    """Shapes first (free), then every value-range check in one device sync."""
    checks: list[tuple[str, torch.Tensor]] = []

    def cells(where: str, cs: CellSet) -> None:
        check_cells(cs.adjacency, cs.ops, where)
        if len(cs) == 0:
            raise InfonasError(f"{where}: no cells")
        checks.append((f"{where}: adjacency entries must be 0 or 1", (cs.adjacency <= 1).all()))
        checks.append((f"{where}: op codes must be in [-1, {N_OPS - 1}]",
                       ((cs.ops >= PAD_CODE) & (cs.ops < N_OPS)).all()))

    cells("unlabeled cells", unlabeled)
    if heldout is not None:
        cells("held-out cells", heldout)
    if labeled is not None:
        _validate_labeled(labeled, model_config, cells, checks)
    results = torch.stack([t for _, t in checks]).tolist()
    for (message, _), ok in zip(checks, results):
        if not ok:
            raise InfonasError(message)


def _validate_labeled(labeled: LabeledData, model_config: InfoNASConfig, cells, checks: list) -> None:
    cells("labeled networks", labeled.networks)
    if labeled.train_split not in labeled.splits:
        raise InfonasError(f"labeled data: no '{labeled.train_split}' split (have {sorted(labeled.splits)})")
    if labeled.valid_networks is not None:
        rows = labeled.valid_networks
        if rows.ndim != 1 or rows.numel() == 0:
            raise InfonasError("labeled data: valid_networks must be a non-empty 1-d index of network rows")
        checks.append((f"labeled data: valid_networks out of range [0, {len(labeled.networks)})",
                       (rows.min() >= 0) & (rows.max() < len(labeled.networks))))
    channels = model_config.image_channels
    if labeled.image_mean.shape != (channels,) or labeled.image_std.shape != (channels,):
        raise InfonasError(f"labeled data: image mean/std must have shape ({channels},)")
    checks.append(("labeled data: image std must be > 0", (labeled.image_std > 0).all()))
    n_nets = len(labeled.networks)
    for name, s in labeled.splits.items():
        where = f"labeled split '{name}'"
        n = s.targets.shape[0]
        if s.net_index.shape != (n,) or s.image_index.shape != (n,):
            raise InfonasError(f"{where}: net_index and image_index must be ({n},) like the targets")
        if n == 0:
            raise InfonasError(f"{where}: no samples")
        if s.targets.ndim != 2 or s.targets.shape[1] != model_config.out_features:
            raise InfonasError(f"{where}: targets must be (N, {model_config.out_features}), got {tuple(s.targets.shape)}")
        if s.images.ndim != 4 or s.images.shape[-1] != channels:
            raise InfonasError(f"{where}: images must be uint8 (M, H, W, {channels}), got {tuple(s.images.shape)}")
        checks.append((f"{where}: net_index out of range [0, {n_nets})",
                       (s.net_index.min() >= 0) & (s.net_index.max() < n_nets)))
        checks.append((f"{where}: image_index out of range [0, {s.images.shape[0]})",
                       (s.image_index.min() >= 0) & (s.image_index.max() < s.images.shape[0])))
        checks.append((f"{where}: targets contain NaN or inf", torch.isfinite(s.targets).all()))


def train_joint(
    out_dir,
    unlabeled: CellSet,
    labeled: LabeledData | None,
    heldout: CellSet | None = None,
    model_config: InfoNASConfig = InfoNASConfig(),
    config: JointConfig = JointConfig(),
    device: torch.device | str = "cpu",  # auto | cpu | cuda | cuda:N, or a torch.device
    progress: bool = False,
) -> list[dict]:
    """Train (or resume) a joint run in `out_dir`; returns the metric rows (also in out_dir/metrics.csv).

    Checkpoints go to out_dir/checkpoints/epoch_XXX.pt every `checkpoint_every` epochs and after the
    last one; if any exist, training resumes from the latest. `unlabeled` is the arch2vec train split
    (also the set whose latents fit the validity sampler), `heldout` the test split (reconstruction
    accuracy), `labeled` the IO dataset (None trains a plain arch2vec).
    """
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    device = torch.device(resolve_device(device) if isinstance(device, str) else device)
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        trainer = JointTrainer(unlabeled, labeled, heldout, model_config, config, device)
        latest = latest_checkpoint(ckpt_dir)
        if latest is not None:
            try:
                trainer.load_state_dict(load_checkpoint(latest, map_location=device), source=f"checkpoint {latest}")
            except InfonasError as error:  # every checkpoint there was written alike: deleting one is not enough
                raise InfonasError(f"{error}; delete the folder {ckpt_dir} to start the job over") from None
            logger.info("resuming from %s (epoch %d)", latest, trainer.epoch)
        while trainer.epoch < config.epochs:
            stats = trainer.run_epoch(progress=progress)
            rows = trainer.evaluate(stats)
            write_metrics_csv(trainer.rows, out_dir / "metrics.csv", trainer.split_names)
            logger.info("epoch %d (%.1f s): %s", trainer.epoch, stats["seconds"], _summary(rows))
            if trainer.epoch % config.checkpoint_every == 0 or trainer.epoch == config.epochs:
                save_checkpoint(checkpoint_path(ckpt_dir, trainer.epoch), trainer.state_dict())
        if latest is not None and not (out_dir / "metrics.csv").exists():
            write_metrics_csv(trainer.rows, out_dir / "metrics.csv", trainer.split_names)
    return trainer.rows


def _summary(rows: list[dict]) -> str:
    keys = ("vae_loss_unlabeled", "labeled_loss_batches", "ops_acc", "adj_acc", "validity")
    return "; ".join(
        f"{r['model']} " + " ".join(f"{k}={r[k]:.4g}" for k in keys if k in r and r[k] == r[k]) for r in rows
    )
