"""Per-epoch metrics of info-NAS and the reference arch2vec, and the metrics.csv they go to.

metrics.csv has one row per (epoch, model); `model` is `infonas` for the info-NAS model and `arch2vec`
for the side-by-side reference (or for a plain arch2vec run). Columns, in order:

- `epoch` (1-based: metrics after that many epochs), `model`, `seconds` (wall time of the epoch's
  training steps, shared by both models), `n_labeled_steps`, `n_unlabeled_steps`.
- `vae_loss_labeled`, `vae_loss_unlabeled`: mean training VAE loss (arch2vec's loss, unweighted) over
  the epoch's labeled / unlabeled batches, in train mode (noise and dropout on; in eval mode after
  `vae_train_mode_epochs`, when that is set). The reference arch2vec sees the labeled batches' cells
  as unlabeled data; its (unweighted) loss on them is `vae_loss_labeled`.
- `labeled_loss_batches`: mean labeled loss (unweighted) over the epoch's training batches.
- For every labeled split S (the IO dataset's five: `train`, `valid_unseen_networks`,
  `valid_unseen_images`, `test_unseen_images`, `test_unseen_networks_images`, or whatever splits
  were given): `labeled_loss_S` = mean per-sample loss in eval mode, `labeled_loss_S_ci_low`,
  `labeled_loss_S_ci_high` = seeded percentile-bootstrap 95 % CI of that mean over samples,
  `labeled_loss_S_median` = the thesis' "median loss": the median over evaluation batches of
  `batch_size` consecutive samples of the batch-mean loss (info-NAS' `val_loss_median`, see
  `batch_median`); `baseline_S`, `baseline_S_ci_low`, `baseline_S_ci_high`, `baseline_S_median` =
  the same for predicting the split's mean output vector (thesis 4.1 "reference"). A per-sample loss
  is the loss averaged over the 513 features. Empty for the arch2vec rows.
- `labeled_l1_S`, `labeled_mse_S`, `baseline_l1_S`, `baseline_mse_S`: the mean per-sample L1 and MSE
  of the same predictions (and of the mean output vector) whatever loss the run trained with, so
  runs trained with L1, MSE and Huber compare on one scale (the "L1 loss" column of thesis Tables
  4.7-4.8). For an L1 run `labeled_l1_S` equals `labeled_loss_S`. Empty for the arch2vec rows.
- `ops_acc`: fraction of real (non-padding) nodes of the held-out cells whose op is the argmax of
  the decoded ops (eval mode, z = mu).
- `adj_acc`: fraction of strict-upper-triangle entries (21 per cell) of the held-out cells where the
  thresholded edge probability (> 0.5) equals the true entry (arch2vec's `correct_adj`).
- `ops_acc_padded`: the ops accuracy as arch2vec and info-NAS compute it (thesis Tables 4.5 and
  4.9): over all 7 rows of every cell, a padding row counting as correct when its decoded op is
  "input", the argmax of its all-zero one-hot row. A decoder rarely decodes "input" after the output
  node, so this caps near the fraction of real rows (the thesis' 0.9777).
- `ops_acc_valid_networks`, `adj_acc_valid_networks`, `ops_acc_padded_valid_networks`: the same on
  the labeled validation networks (role `valid`, 77 in the paper; the "labeled" columns of thesis
  Tables 4.5 and 4.9), for info-NAS' VAE and the reference alike. Empty without labeled data.
- `validity`, `uniqueness`: arch2vec's generative check. Fit the mean and std of the training
  latents mu per (node, dimension), draw latent matrices from that Gaussian, decode (ops argmax,
  edges > 0.5 on the upper triangle); validity = fraction that is a legal NB-101 cell
  (`infonas.searchspace.cells.is_valid_cell`), uniqueness = distinct module hashes of the pruned
  cells / valid decodings.
- `uniqueness_unpruned`: arch2vec's released definition: distinct module hashes of the decoded cells
  *before* pruning / valid decodings, so decodings that differ only in vertices that pruning drops
  count as different. It is the one behind arch2vec's reported 99.69%, and is never below `uniqueness`.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from infonas.errors import InfonasError
from infonas.files import atomic_path
from infonas.models.inference import device_autocast, eval_mode
from infonas.models.vae import ArchVAE, decode_cells
from infonas.searchspace.cells import cell_hash, is_valid_cell, module_hash
from infonas.searchspace.ops import INPUT_CODE

LABELED_LOSSES = ("l1", "mse", "huber")
BASE_COLUMNS = ("epoch", "model", "seconds", "n_labeled_steps", "n_unlabeled_steps",
                "vae_loss_labeled", "vae_loss_unlabeled", "labeled_loss_batches")
#: the losses every labeled split is also scored with, whatever the training loss (one scale for all runs)
COMMON_LOSSES = ("l1", "mse")
RECONSTRUCTION_COLUMNS = ("ops_acc", "adj_acc", "ops_acc_padded",
                          "ops_acc_valid_networks", "adj_acc_valid_networks", "ops_acc_padded_valid_networks")
GENERATIVE_COLUMNS = ("validity", "uniqueness", "uniqueness_unpruned")
CELL_COLUMNS = RECONSTRUCTION_COLUMNS + GENERATIVE_COLUMNS


def metric_columns(split_names: Sequence[str]) -> list[str]:
    """The metrics.csv header for the given labeled split names."""
    cols = list(BASE_COLUMNS)
    for s in split_names:
        for stem in (f"labeled_loss_{s}", f"baseline_{s}"):
            cols += [stem, f"{stem}_ci_low", f"{stem}_ci_high", f"{stem}_median"]
        cols += common_loss_columns(s)
    return cols + list(CELL_COLUMNS)


def common_loss_columns(split: str) -> list[str]:
    """The split's losses on the common scales: `labeled_<loss>_S`, then `baseline_<loss>_S`."""
    return [f"{stem}_{loss}_{split}" for stem in ("labeled", "baseline") for loss in COMMON_LOSSES]


def write_metrics_csv(rows: list[dict], path, split_names: Sequence[str]) -> None:
    """Write all rows so far (atomic); missing values become empty cells."""
    frame = pd.DataFrame(rows, columns=metric_columns(split_names))
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def make_generator(device: torch.device | str, seed: int) -> torch.Generator:
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(int(seed))
    return g


def per_sample_loss_fn(kind: str, huber_delta: float = 1.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Labeled loss per sample (mean over features), float32: l1 | mse | huber."""
    if kind not in LABELED_LOSSES:
        raise InfonasError(f"labeled_loss: unknown loss '{kind}' (choose from {', '.join(LABELED_LOSSES)})")

    def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred, target = pred.float(), target.float()
        if kind == "l1":
            elem = (pred - target).abs()
        elif kind == "mse":
            elem = (pred - target).pow(2)
        else:
            elem = F.huber_loss(pred, target, reduction="none", delta=huber_delta)
        return elem.mean(dim=-1)

    return loss


def bootstrap_ci(values: torch.Tensor, n_boot: int, level: float, generator: torch.Generator) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap of the mean over samples, resampled on the values' device."""
    n = values.numel()
    if n == 0:
        return math.nan, math.nan, math.nan
    values = values.float().flatten()
    chunk = max(1, min(n_boot, (1 << 24) // n))
    means = []
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        idx = torch.randint(n, (k, n), generator=generator, device=values.device)
        means.append(values[idx].mean(dim=1))
    boots = torch.cat(means)
    alpha = (1.0 - level) / 2
    q = torch.quantile(boots, torch.tensor([alpha, 1 - alpha], device=boots.device))
    mean, low, high = torch.cat([values.mean().reshape(1), q]).tolist()
    return mean, low, high


def labeled_split_losses(
    model: nn.Module,
    net_adjacency: torch.Tensor,
    net_ops: torch.Tensor,
    net_index: torch.Tensor,
    image_index: torch.Tensor,
    targets: torch.Tensor,
    to_input: Callable[[torch.Tensor], torch.Tensor],
    loss_fns: Sequence[Callable],
    batch_size: int,
) -> torch.Tensor:
    """Per-sample labeled losses (K, N) of an InfoNAS model in eval mode, row k by `loss_fns[k]`
    (each prediction is made once and scored with every loss); `to_input` maps image indices to the
    normalised image batch.

    In eval mode a sample's prediction depends only on its network (z = mu) and its image (BatchNorm
    running statistics, no dropout), so each network's Z features and each image's branch features
    are computed once and paired per sample in the head: a split of 1,094,000 samples costs 2,000
    image-branch passes instead of 1,094,000.
    """
    device = targets.device
    out = torch.empty(len(loss_fns), targets.shape[0], dtype=torch.float32, device=device)
    if targets.shape[0] == 0:
        return out
    images, image_pos = torch.unique(image_index, return_inverse=True)
    with eval_mode(model):
        z_feats = torch.cat([_z_features(model, net_adjacency[sl], net_ops[sl])
                             for sl in _slices(net_adjacency.shape[0], batch_size)])
        img_feats = torch.cat([_image_features(model, to_input(images[sl]))
                               for sl in _slices(images.shape[0], batch_size)])
        for sl in _slices(targets.shape[0], batch_size):
            with device_autocast(device):
                pred = model.head_outputs(z_feats[net_index[sl]], img_feats[image_pos[sl]])
            for k, loss_fn in enumerate(loss_fns):
                out[k, sl] = loss_fn(pred, targets[sl])
    return out


def _slices(n: int, batch_size: int) -> Iterator[slice]:
    return (slice(start, start + batch_size) for start in range(0, n, batch_size))


def _z_features(model: nn.Module, adjacency: torch.Tensor, ops: torch.Tensor) -> torch.Tensor:
    with device_autocast(adjacency.device):
        mu, _ = model.vae.encode(adjacency, ops)  # z = mu in eval mode
        return model.z_dense(mu)


def _image_features(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with device_autocast(images.device):
        return model.image_features(images)


def batch_median(losses: torch.Tensor, batch_size: int) -> float:
    """Median over evaluation batches of the batch-mean loss: info-NAS' `val_loss_median`.

    info-NAS evaluates a labeled split with an unshuffled loader in batches of the training batch
    size, averages the loss per batch and reports the median of those batch means (next to their
    mean) as the thesis' "median loss". Here the batches are runs of `batch_size` consecutive
    samples in the split's stored order (network by network); the last one may be shorter.
    """
    n = losses.numel()
    if n == 0:
        return math.nan
    values = losses.float().flatten()
    full = n // batch_size * batch_size
    means = values[:full].reshape(-1, batch_size).mean(dim=1)
    if full < n:
        means = torch.cat([means, values[full:].mean().reshape(1)])
    return float(torch.quantile(means, 0.5))


def baseline_losses(targets: torch.Tensor, loss_fns: Sequence[Callable], batch_size: int) -> torch.Tensor:
    """Per-sample losses (K, N) of predicting the split's mean output vector for every sample, row k
    by `loss_fns[k]`."""
    mean = targets.float().mean(dim=0, keepdim=True)
    out = torch.empty(len(loss_fns), targets.shape[0], dtype=torch.float32, device=targets.device)
    for start in range(0, targets.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        for k, loss_fn in enumerate(loss_fns):
            out[k, sl] = loss_fn(mean.expand(targets[sl].shape[0], -1), targets[sl])
    return out


def reconstruction_accuracy(
    vae: ArchVAE, adjacency: torch.Tensor, ops: torch.Tensor, batch_size: int
) -> tuple[float, float, float]:
    """(ops_acc, adj_acc, ops_acc_padded) on the given cells, eval mode (module docstring: definitions)."""
    if adjacency.shape[0] == 0:
        return math.nan, math.nan, math.nan
    n = adjacency.shape[-1]
    upper = torch.ones(n, n, dtype=torch.bool, device=adjacency.device).triu(1)
    hits = torch.zeros(3, dtype=torch.float64, device=adjacency.device)  # ops (real rows), adj, ops (padded)
    with eval_mode(vae):
        for start in range(0, adjacency.shape[0], batch_size):
            a, o = adjacency[start:start + batch_size], ops[start:start + batch_size]
            with device_autocast(a.device):
                out = vae(a, o)
            adj_hat, ops_hat = decode_cells(out.ops_logits.float(), out.adj_logits.float())
            real_hits, padded_hits = ops_hit_counts(ops_hat, o)
            hits += torch.stack([real_hits, ((adj_hat == (a > 0)) & upper).sum(), padded_hits])
    counts = [int((ops >= 0).sum()), adjacency.shape[0] * int(upper.sum()), ops.numel()]
    ops_acc, adj_acc, ops_acc_padded = (hits / torch.tensor(counts, dtype=hits.dtype, device=hits.device)).tolist()
    return ops_acc, adj_acc, ops_acc_padded


def ops_hit_counts(ops_hat: torch.Tensor, ops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(hits on real rows, hits on all rows) of decoded op codes against true codes (-1 = padding).

    The second is arch2vec's count: it compares argmaxes of one-hot rows, and a padding row is all
    zeros, whose argmax is 0 ("input"), so a padding row is a hit when "input" is decoded there.
    """
    real = ops >= 0
    real_hits = ((ops_hat == ops) & real).sum()
    padding_hits = ((ops_hat == INPUT_CODE) & ~real).sum()
    return real_hits, real_hits + padding_hits


def adjacency_ceiling(adjacency: np.ndarray, ops: np.ndarray, rounds: int) -> float:
    """Highest `adj_acc` an arch2vec encoder with `rounds` GIN layers can reach on these cells.

    In eval mode two nodes with the same `rounds`-step Weisfeiler-Lehman colour (undirected A + A^T,
    op labels, padding as its own label) get identical mu, so sigmoid(mu_i . mu_i) > 0.5 decodes an
    edge between them: a pair with the same colour and no edge (e.g. two parallel branches with the
    same op, or two padding nodes) is always wrong. Returns 1 - (such pairs / upper-triangle entries).
    """
    adj = np.asarray(adjacency).astype(bool)
    n_cells, n = adj.shape[:2]
    sym = (adj | adj.transpose(0, 2, 1)).astype(np.int64)
    colour = np.asarray(ops).astype(np.int64) + 1  # padding (-1) -> 0; < n + 1 colours per cell
    base = np.int64(n + 1)  # digits: a colour, or a neighbour count (<= n - 1)
    cell_offset = np.arange(n_cells, dtype=np.int64)[:, None] * base ** (n + 2)
    for _ in range(rounds):
        counts = np.einsum("bij,bjc->bic", sym, np.eye(n + 1, dtype=np.int64)[colour])
        key = colour * base ** (n + 1) + counts @ (base ** np.arange(n + 1, dtype=np.int64))
        _, inverse = np.unique(cell_offset + key, return_inverse=True)
        inverse = inverse.reshape(n_cells, n)
        colour = inverse - inverse.min(axis=1, keepdims=True)  # compact again: < n colours per cell
    iu = np.triu_indices(n, 1)
    forced = (colour[:, iu[0]] == colour[:, iu[1]]) & ~adj[:, iu[0], iu[1]]
    return float(1.0 - forced.mean())


def validity_uniqueness(
    vae: ArchVAE, mu: torch.Tensor, n_points: int, generator: torch.Generator, batch_size: int
) -> tuple[float, float, float]:
    """(validity, uniqueness, uniqueness_unpruned) of cells decoded from N(mean, std) of the latents `mu`."""
    if n_points < 1 or mu.shape[0] < 2:
        return math.nan, math.nan, math.nan
    z_mean, z_std = mu.mean(dim=0), mu.std(dim=0)
    adj_parts, ops_parts = [], []
    with eval_mode(vae):
        for start in range(0, n_points, batch_size):
            k = min(batch_size, n_points - start)
            noise = torch.randn((k, *z_mean.shape), generator=generator, device=mu.device)
            ops_logits, adj_logits = vae.decode(noise * z_std + z_mean)
            adj, ops = decode_cells(ops_logits.float(), adj_logits.float())
            adj_parts.append(adj)
            ops_parts.append(ops)
    adj = torch.cat(adj_parts).cpu().numpy()
    ops = torch.cat(ops_parts).cpu().numpy()
    return _count_valid_unique(adj, ops)


def _count_valid_unique(adj: np.ndarray, ops: np.ndarray) -> tuple[float, float, float]:
    """Check each *distinct* decoding once (decodings repeat a lot), weighting by multiplicity."""
    n = adj.shape[0]
    keys = np.concatenate([adj.reshape(n, -1), ops.astype(np.uint8).reshape(n, -1)], axis=1)
    _, first, counts = np.unique(keys, axis=0, return_index=True, return_counts=True)
    valid_count = 0
    pruned, unpruned = set(), set()
    for i, c in zip(first, counts):
        if is_valid_cell(adj[i], ops[i]):
            valid_count += int(c)
            pruned.add(cell_hash(adj[i], ops[i]))
            unpruned.add(module_hash(adj[i], ops[i]))
    if not valid_count:
        return 0.0, math.nan, math.nan
    return valid_count / n, len(pruned) / valid_count, len(unpruned) / valid_count
