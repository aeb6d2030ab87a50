"""The semi-supervised GCN assessor (Tang et al., "A Semi-Supervised Assessor of Neural
Architectures", sections 3.2-3.3), on fixed latent features.

What the paper does, and how it maps here:

- An auto-encoder E/D maps the architecture representation to a learned embedding and back
  (Eq. 2). Our inputs are already latent features of arch2vec / info-NAS, so E and D are small
  MLPs over those (standardised) features and the reconstruction loss L_rc reconstructs the
  features: the mean squared error per feature over the labeled nodes plus the same over the
  unlabeled nodes of the batch (Eq. 2 uses squared L2 norms; a per-feature mean keeps lambda's
  meaning independent of the feature width). As in the paper's footnote, E/D are pre-trained on
  reconstruction alone (`pretrain_steps`) before the joint training.
- Relation graph over the batch (Eq. 3): A_ij = exp(-d_ij / (2 sigma^2)) with d the Euclidean
  distance of the embeddings E(x), kept where it exceeds tau, A_ii = 1 (`relation_graph`). The
  graph is built from E(x) detached: it routes information, gradients flow through E(x) as the
  GCN's input features.
- Assessor (Eq. 4): y_hat = A_hat ReLU(A_hat E(x) W0) W1 with A_hat = D^-1/2 A D^-1/2.
- Loss (Eq. 6): (1 - lambda) * L_rg + lambda * L_rc, L_rg the MSE on labeled nodes (Eq. 5),
  lambda 0.5. (Written as "regression + lambda * reconstruction" it is the same up to a factor 2
  at lambda 0.5.)
- Mini-batches (Algorithm 1): each step draws labeled and unlabeled nodes at random and builds
  the graph for that batch only, so memory is O(batch^2) whatever the number of nodes. The paper
  uses batch 1024, Adam lr 1e-3 without weight decay and 200 epochs; training length here is
  counted in steps (`steps`), since an epoch is not defined when each batch samples both pools.

The kernel width. The paper sets sigma 0.01 and tau 1e-5 on its own auto-encoder's embeddings,
whose scale it does not report. Those two numbers fix an edge radius r = 2 sigma^2 ln(1/tau)
(~0.0023) and a kernel shape relative to it, A_ij = tau^(d_ij / r): weight 1 at d = 0 falling to
tau at the radius. On our embeddings (pairwise distances of order 0.1 to 10) the literal sigma
keeps no pair: the graph is the identity and the assessor an MLP with an auto-encoder term. So by
default (`sigma="auto"`) each batch's radius r is the `edge_quantile` quantile of its pairwise
distances and sigma = sqrt(r / (2 ln(1/tau))): about edge_quantile * (B - 1) neighbours per node,
weighted tau^(d/r). In 16-32 dimensions the distances concentrate, so the kept pairs lie near the
radius and weigh about tau: with the paper's tau 1e-5 they sum to ~0.004 per node against the
self-loop's 1 (the GCN still ignores them), hence the default tau 0.01 (~0.2 per node; measured in
benchmarks/assessor_graph.py). `edge_quantile=0` gives the identity graph (the no-edge ablation);
`sigma=0.01, tau=1e-5` is the paper's literal setting. `fit` logs neighbours and edge weight per
node so a degenerate graph shows in the rule log.

Prediction puts each chunk of query rows into a batch with a fixed seeded sample of labeled
training rows, the same mix as in training, so queries have labeled neighbours in the graph.
A prediction therefore depends (slightly) on which rows share its batch; for a given query
array and seed it is deterministic.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from infonas.errors import InfonasError
from infonas.evaluation.predictor import Predictor, check_features, check_target
from infonas.runtime import resolve_device

log = logging.getLogger(__name__)

AUTO = "auto"


def _valid_sigma(sigma) -> bool:
    """sigma is "auto" or a positive number."""
    if sigma == AUTO:
        return True
    return isinstance(sigma, (int, float)) and not isinstance(sigma, bool) and sigma > 0


@dataclass(frozen=True)
class AssessorConfig:
    """Hyperparameters of the assessor; defaults from the paper where it gives them, except the
    graph's width (sigma, tau; the module docstring says why)."""

    sigma: float | str = AUTO  # RBF scale of Eq. 3: "auto" (radius from edge_quantile) or a number (paper 0.01)
    tau: float = 0.01  # edge threshold = weight at the edge radius (paper 1e-5, see the module docstring)
    edge_quantile: float = 0.01  # with sigma "auto": share of a batch's pairs inside the edge radius
    lam: float = 0.5  # lambda of Eq. 6 (paper)
    hidden_dim: int = 128  # width of the encoder/decoder MLP hidden layer
    embed_dim: int = 32  # size of the learned embedding E(x)
    gcn_dim: int = 64  # width of the first GCN layer
    batch_size: int = 1024  # nodes per mini-batch graph (paper)
    labeled_fraction: float = 0.5  # share of a batch given to labeled nodes (at most all of them)
    steps: int = 1000  # joint training steps
    pretrain_steps: int = 200  # auto-encoder-only steps before joint training
    lr: float = 1e-3  # Adam, no weight decay (paper)
    device: str = "cpu"  # cpu | cuda | auto

    def __post_init__(self):
        check_hyperparameters(self, {
            "hidden_dim": self.hidden_dim >= 1,
            "steps": self.steps >= 1,
            "pretrain_steps": self.pretrain_steps >= 0,
        })

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | None) -> "AssessorConfig":
        return config_from_dict(cls, params)


def check_hyperparameters(cfg, own_checks: Mapping[str, bool]) -> None:
    """The checks every assessor config shares (graph, loss, batches, optimiser) plus `own_checks`;
    the first failing one is an InfonasError naming the hyperparameter."""
    checks = {
        "sigma": _valid_sigma(cfg.sigma),
        "tau": 0 < cfg.tau < 1 if cfg.sigma == AUTO else 0 <= cfg.tau < 1,
        "edge_quantile": 0 <= cfg.edge_quantile < 1,
        "lam": 0 <= cfg.lam <= 1,
        "embed_dim": cfg.embed_dim >= 1,
        "gcn_dim": cfg.gcn_dim >= 1,
        "batch_size": cfg.batch_size >= 2,
        "labeled_fraction": 0 < cfg.labeled_fraction < 1,
        "lr": cfg.lr > 0,
        **own_checks,
    }
    for key, ok in checks.items():
        if not ok:
            raise InfonasError(f"assessor hyperparameter '{key}': invalid value {getattr(cfg, key)!r}")


def config_from_dict(cls, params: Mapping[str, Any] | None):
    """An assessor config dataclass from overrides; unknown names are one error listing the valid ones."""
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(params or {}) - valid)
    if unknown:
        raise InfonasError(
            f"assessor: unknown hyperparameter(s) {', '.join(unknown)} (valid: {', '.join(sorted(valid))})"
        )
    return cls(**dict(params or {}))


def squared_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (B, B) in float64, zero on the diagonal.

    float64 because sigma 0.01 puts the interesting distances near 1e-3, where the float32
    |a|^2 + |b|^2 - 2ab expansion has errors of the same size.
    """
    e = embeddings.detach().to(torch.float64)
    sq = (e * e).sum(dim=1)
    d2 = torch.addmm(sq[:, None] + sq[None, :], e, e.T, alpha=-2.0)  # one fused pass: ~6x faster on the CPU
    return d2.fill_diagonal_(0.0)


def quantile_radius_sq(d2: torch.Tensor, edge_quantile: float) -> float:
    """Square of the edge_quantile quantile of the pairwise distances i < j (the k-th smallest,
    k = ceil(q * pairs)), given squared distances d2 (B, B); 0 for q = 0 or fewer than 2 rows."""
    n = d2.shape[0]
    n_pairs = n * (n - 1) // 2
    if edge_quantile == 0 or n_pairs == 0:
        return 0.0
    upper = torch.triu_indices(n, n, offset=1, device=d2.device)
    k = max(1, math.ceil(edge_quantile * n_pairs))
    smallest = d2[upper[0], upper[1]].topk(k, largest=False, sorted=False).values  # faster than kthvalue
    return float(smallest.max().clamp_min(0.0))


def relation_graph(embeddings, sigma, tau: float, edge_quantile: float = 0.01) -> torch.Tensor:
    """Dense relation graph of Eq. 3: A_ij = exp(-d_ij / (2 sigma^2)) where above tau, else 0.

    d_ij is the Euclidean distance of embedding rows i and j; A_ii = 1. sigma "auto" sets the edge
    radius r = 2 sigma^2 ln(1/tau) to the `edge_quantile` quantile of the batch's pairwise
    distances (no edges when that is 0), a number is used as is. Returns a float32 (B, B) tensor
    on the embeddings' device, without gradient. Used per mini-batch, so B is the batch size.
    A_ij > tau exactly where d_ij < r, so the exponential is evaluated only on the kept pairs
    (cheap on the CPU when the graph is sparse, at the price of one GPU synchronisation per call).
    """
    tau_ok = 0 < tau < 1 if sigma == AUTO else 0 <= tau < 1
    if not _valid_sigma(sigma) or not tau_ok or not 0 <= edge_quantile < 1:
        raise InfonasError(
            "relation_graph: need sigma > 0 or 'auto', 0 <= tau < 1 (tau > 0 with 'auto'), 0 <= edge_quantile < 1; "
            f"got {sigma!r}, {tau}, {edge_quantile}"
        )
    emb = torch.as_tensor(embeddings)
    if emb.ndim != 2:
        raise InfonasError(f"relation_graph: embeddings must be 2-D (B, d), got shape {tuple(emb.shape)}")
    d2 = squared_distances(emb)
    n = d2.shape[0]
    if sigma == AUTO:
        radius_sq = quantile_radius_sq(d2, edge_quantile)
        two_sigma_sq = math.sqrt(radius_sq) / math.log(1.0 / tau) if radius_sq > 0 else 1.0
    else:
        two_sigma_sq = 2.0 * sigma**2
        radius_sq = (two_sigma_sq * math.log(1.0 / tau)) ** 2 if tau > 0 else math.inf
    rows, cols = torch.nonzero(d2 < radius_sq, as_tuple=True)
    weight = torch.exp(-d2[rows, cols].clamp_min(0.0).sqrt() / two_sigma_sq)
    adj = torch.zeros(n, n, dtype=torch.float32, device=d2.device)
    adj[rows, cols] = torch.where(weight > tau, weight, 0.0).to(torch.float32)
    return adj.fill_diagonal_(1.0)


def normalized_adjacency(adj: torch.Tensor) -> torch.Tensor:
    """D^-1/2 A D^-1/2 with D_ii = sum_j A_ij (A holds its self-loops, so D_ii >= 1)."""
    inv_sqrt = adj.sum(dim=1).rsqrt()
    return inv_sqrt[:, None] * adj * inv_sqrt[None, :]


class GCNLayer(nn.Module):
    """A_hat H W + b (Kipf & Welling); the bias is added after propagation so it is not degree-scaled."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, h: torch.Tensor, a_hat: torch.Tensor) -> torch.Tensor:
        return a_hat @ self.linear(h) + self.bias


class AssessorNet(nn.Module):
    """Encoder E, decoder D and the two-layer GCN assessor P of Eq. 4.

    E and D default to MLPs over feature rows; `cell_assessor` passes its graph-convolutional
    auto-encoder of the cell's matrices instead (E maps (B, n_features) to (B, embed_dim), D back).
    """

    def __init__(self, n_features: int, cfg: AssessorConfig, generator: torch.Generator,
                 encoder: nn.Module | None = None, decoder: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder or nn.Sequential(
            nn.Linear(n_features, cfg.hidden_dim), nn.ReLU(), nn.Linear(cfg.hidden_dim, cfg.embed_dim)
        )
        self.decoder = decoder or nn.Sequential(
            nn.Linear(cfg.embed_dim, cfg.hidden_dim), nn.ReLU(), nn.Linear(cfg.hidden_dim, n_features)
        )
        self.gcn1 = GCNLayer(cfg.embed_dim, cfg.gcn_dim)
        self.gcn2 = GCNLayer(cfg.gcn_dim, 1)
        self._init_weights(generator)

    @torch.no_grad()
    def _init_weights(self, generator: torch.Generator) -> None:
        """nn.Linear's default init, drawn from `generator` instead of the global RNG."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, a=5**0.5, generator=generator)
                if module.bias is not None:
                    bound = module.weight.shape[1] ** -0.5
                    module.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(predictions (B,), reconstruction (B, d), relation graph (B, B)) for one batch of nodes."""
        z = self.encoder(x)
        adj = relation_graph(z, self.cfg.sigma, self.cfg.tau, self.cfg.edge_quantile)
        a_hat = normalized_adjacency(adj)
        h = torch.relu(self.gcn1(z, a_hat))
        return self.gcn2(h, a_hat).squeeze(-1), self.decoder(z), adj


def batch_counts(n_labeled: int, n_unlabeled: int, batch_size: int, labeled_fraction: float) -> tuple[int, int]:
    """How many labeled and unlabeled nodes one mini-batch holds.

    Labeled nodes get `labeled_fraction` of the batch (at most all of them, at least one);
    unlabeled nodes fill the rest as far as there are any; without unlabeled nodes the batch is
    all labeled.
    """
    if n_unlabeled == 0:
        return min(n_labeled, batch_size), 0
    n_lab = min(n_labeled, max(1, round(batch_size * labeled_fraction)))
    return n_lab, min(n_unlabeled, batch_size - n_lab)


def sample_batch(
    n_labeled: int, n_unlabeled: int, batch_size: int, labeled_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into the labeled and the unlabeled rows) of one random mini-batch (Algorithm 1, line 2)."""
    n_lab, n_unl = batch_counts(n_labeled, n_unlabeled, batch_size, labeled_fraction)
    return rng.choice(n_labeled, n_lab, replace=False), rng.choice(n_unlabeled, n_unl, replace=False)


def _standardise_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    std = x.std(axis=0)
    return x.mean(axis=0), np.where(std > 0, std, 1.0)


class SemiSupervisedAssessor(Predictor):
    """GCN assessor trained on labeled rows plus unlabeled rows (see the module docstring)."""

    uses_unlabeled = True
    config_class = AssessorConfig

    def __init__(self, params: Mapping[str, Any] | None = None, seed: int = 0, progress: bool = False):
        self.cfg = self.config_class.from_dict(params)
        self.seed = int(seed)
        self.progress = progress
        self.net: AssessorNet | None = None
        self.mean_degree_: float | None = None  # mean neighbours per node (self excluded), last batch
        self.mean_neighbour_weight_: float | None = None  # their summed edge weight per node, last batch

    def fit(self, x_train, y_train, x_unlabeled=None) -> "SemiSupervisedAssessor":
        x_lab = check_features(x_train, "assessor x_train")
        y = check_target(y_train, x_lab.shape[0], "assessor y_train")
        if x_lab.shape[0] < 2:
            raise InfonasError(f"assessor: need at least 2 training rows, got {x_lab.shape[0]}")
        x_unl = (
            np.empty((0, x_lab.shape[1]))
            if x_unlabeled is None
            else check_features(x_unlabeled, "assessor x_unlabeled", x_lab.shape[1])
        )
        cfg, device = self.cfg, resolve_device(self.cfg.device)
        self._x_mean, self._x_std = self._input_stats(np.concatenate([x_lab, x_unl]))
        self._y_mean, self._y_std = _standardise_stats(y[:, None])
        lab = self._to_tensor(x_lab, device)
        unl = self._to_tensor(x_unl, device)
        y_std = torch.as_tensor((y - self._y_mean[0]) / self._y_std[0], dtype=torch.float32, device=device)

        generator = torch.Generator().manual_seed(self.seed)
        net = self._make_net(x_lab.shape[1], generator).to(device)
        rng = np.random.default_rng(self.seed)
        self._train(net, lab, unl, y_std, rng, joint=False)
        self._train(net, lab, unl, y_std, rng, joint=True)
        self.net = net.eval()
        self._x_lab, self._device = lab, device
        return self

    # hooks that the assessor on cell matrices (`cell_assessor.CellAssessor`) overrides
    def _make_net(self, n_features: int, generator: torch.Generator) -> AssessorNet:
        return AssessorNet(n_features, self.cfg, generator)

    def _input_stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and scale the inputs are standardised with (features: per column)."""
        return _standardise_stats(x)

    def _steps(self, n_nodes: int, joint: bool) -> int:
        """Training steps of a phase; n_nodes = labeled + unlabeled rows."""
        return self.cfg.steps if joint else self.cfg.pretrain_steps

    def _row_error(self, x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
        """Reconstruction error per row (B,): mean squared error per feature (Eq. 2)."""
        return ((x_rec - x) ** 2).mean(dim=1)

    def _to_tensor(self, x: np.ndarray, device: str) -> torch.Tensor:
        return torch.as_tensor((x - self._x_mean) / self._x_std, dtype=torch.float32, device=device)

    def _train(self, net, lab, unl, y, rng, joint: bool) -> None:
        """Pre-train E/D on reconstruction (joint=False) or train everything on Eq. 6 (joint=True)."""
        cfg = self.cfg
        params = list(net.parameters()) if joint else [*net.encoder.parameters(), *net.decoder.parameters()]
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=0.0)
        steps = self._steps(lab.shape[0] + unl.shape[0], joint)
        net.train()
        for step in tqdm(range(steps), desc="assessor" if joint else "assessor pretrain", disable=not self.progress):
            i_lab, i_unl = sample_batch(lab.shape[0], unl.shape[0], cfg.batch_size, cfg.labeled_fraction, rng)
            i_lab_t = torch.as_tensor(i_lab, device=lab.device)
            x = torch.cat([lab[i_lab_t], unl[torch.as_tensor(i_unl, device=lab.device)]])
            n_lab = len(i_lab)
            if joint:
                y_hat, x_rec, adj = net(x)
                loss = (1 - cfg.lam) * torch.mean((y_hat[:n_lab] - y[i_lab_t]) ** 2)
                loss = loss + cfg.lam * _reconstruction_loss(self._row_error(x, x_rec), n_lab)
            else:
                loss = _reconstruction_loss(self._row_error(x, net.decoder(net.encoder(x))), n_lab)
            if not torch.isfinite(loss):
                phase = "joint training" if joint else "pretraining"
                raise InfonasError(f"assessor: loss became {loss.item()} at {phase} step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if joint and step in (0, steps - 1):
                self._log_graph(adj, step)

    def _log_graph(self, adj: torch.Tensor, step: int) -> None:
        """Mean neighbours per node, and their summed edge weight (a self-loop weighs 1: a weight
        sum far below 1 means the neighbours barely move a node's GCN output)."""
        n = adj.shape[0]
        self.mean_degree_ = float(((adj > 0).sum() - n).item()) / n
        self.mean_neighbour_weight_ = float((adj.sum() - adj.diagonal().sum()).item()) / n
        log.info(
            "assessor step %d: relation graph has %.2f neighbours per node, edge weight %.4f per node",
            step, self.mean_degree_, self.mean_neighbour_weight_,
        )
        if step == 0 and self.mean_neighbour_weight_ < 0.01:
            log.warning(
                "assessor: relation graph is nearly empty (%.3f neighbours, edge weight %.4f per node at "
                "sigma=%s, tau=%g, edge_quantile=%g); the GCN then barely uses unlabeled neighbours",
                self.mean_degree_, self.mean_neighbour_weight_, self.cfg.sigma, self.cfg.tau, self.cfg.edge_quantile,
            )

    @torch.no_grad()
    def predict(self, x) -> np.ndarray:
        if self.net is None:
            raise InfonasError("assessor: predict called before fit")
        query = self._to_tensor(check_features(x, "assessor x", self._x_lab.shape[1]), self._device)
        cfg, n_query = self.cfg, query.shape[0]
        n_ctx = batch_counts(self._x_lab.shape[0], n_query, cfg.batch_size, cfg.labeled_fraction)[0]
        chunk = max(1, cfg.batch_size - n_ctx)
        rng = np.random.default_rng([self.seed, 1])
        ctx = self._x_lab[torch.as_tensor(rng.choice(self._x_lab.shape[0], n_ctx, replace=False), device=self._device)]
        order = torch.as_tensor(rng.permutation(n_query), device=self._device)
        out = torch.empty(n_query, dtype=torch.float32, device=self._device)
        for start in range(0, n_query, chunk):
            idx = order[start : start + chunk]
            y_hat = self.net(torch.cat([ctx, query[idx]]))[0]
            out[idx] = y_hat[n_ctx:]
        return out.cpu().numpy().astype(np.float64) * self._y_std[0] + self._y_mean[0]


def _reconstruction_loss(err: torch.Tensor, n_lab: int) -> torch.Tensor:
    """Eq. 2 over one batch, from the per-row errors (B,): mean error of the labeled nodes plus
    that of the unlabeled nodes."""
    loss = err[:n_lab].mean()
    return loss + err[n_lab:].mean() if err.shape[0] > n_lab else loss
