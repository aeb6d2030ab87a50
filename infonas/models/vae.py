"""arch2vec: the variational graph isomorphism autoencoder of NB-101 cells (Yan et al., 2020).

Facts taken from the arch2vec paper (sections 3.1-3.2, 4) and its reference implementation:

- Input: padded cells (7x7 upper-triangular adjacency, 7 op codes with -1 padding). The encoder sees
  A + A^T (no self loops: GIN's (1 + eps) * h term carries a node's own features). Node features are
  one-hot ops; padding rows are all zero and are *not* masked anywhere (arch2vec trains on them).
- Encoder: arch2vec's `hops = 5` gives 4 GIN layers h <- ReLU(BN(MLP((1 + eps) h + A~ h))) with a
  2-layer MLP (Linear-BN-ReLU-Linear) of width 128, then two linear heads of width 16 (the paper's
  "hidden sizes {128, 128, 128, 128, 16}").
- The second head is named `logvar` in arch2vec but used as log(sigma): std = exp(head) and the KL
  term is written with 2 * head. We keep that parametrisation and call it `logstd`.
- Decoder: dropout 0.3 on Z, ops = Linear(Z) per node, adjacency = sigmoid(Z Z^T) read on the
  strict upper triangle (arch2vec's `prep_reverse` takes triu(1) of both sides). A consequence kept
  on purpose: two padding nodes share one embedding c, and sigmoid(c.c) > 0.5 decodes an edge
  between them; this is rare in NB-101, where most cells have all 7 vertices.
- Op probabilities: the paper's Eq. 4 applies a softmax to the op logits, and arch2vec's config 4
  asks for one, but its released Decoder applies `activation_adj` (a sigmoid) to the ops, so the
  published numbers (arch2vec's, and info-NAS', which reuses that Decoder) come from per-entry
  sigmoids. `VAEConfig.ops_activation` offers both; the default is the code's `sigmoid`. Decoding
  (argmax of the logits) is the same for both.
- Loss (arch2vec config 4): BCE(ops) on the `ops_activation` probabilities, averaged over all B*7*5
  entries (zero targets on padding rows), + BCE(adjacency) summed over the strict upper triangle and
  divided by B*7*7 (the lower triangle contributes exact zeros in arch2vec), + KL(q || N(0, I))
  averaged over nodes and then divided once more by B*7, exactly as arch2vec normalises it.

Operation embeddings (Chatzianastasis et al., 2021): with `op_embedding_dim = d`, a learned table
E (5 x d, initialised N(0, 1)) replaces the one-hot features at the encoder input, and the decoder
scores ops by similarity to the *same* table: logits = (W z + b) E^T + c, with W: latent -> d. Sharing
E on both sides is the paper's point (the decoder can only separate ops the table separates); the
per-op bias c keeps the one-hot decoder's freedom to prefer frequent ops.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from infonas.errors import InfonasError
from infonas.searchspace import ops as O

#: How the decoder's op logits become probabilities for the loss (see the module docstring).
OPS_ACTIVATIONS = ("sigmoid", "softmax")


@dataclass(frozen=True)
class VAEConfig:
    """arch2vec hyperparameters (paper Table 3 / thesis Table 2.1 defaults)."""

    n_ops: int = O.N_OPS
    n_nodes: int = O.MAX_VERTICES
    hidden_dim: int = 128
    latent_dim: int = 16
    n_hops: int = 5  # arch2vec's num_hops: n_hops - 1 GIN layers, then the latent heads
    mlp_layers: int = 2
    dropout: float = 0.3
    op_embedding_dim: int | None = None  # None: one-hot ops; d: learned table shared by enc/dec
    ops_activation: str = "sigmoid"  # op probabilities the loss sees: sigmoid (arch2vec's code) | softmax (paper)

    def __post_init__(self) -> None:
        for key in ("n_ops", "n_nodes", "hidden_dim", "latent_dim", "mlp_layers"):
            if getattr(self, key) < 1:
                raise InfonasError(f"VAEConfig.{key}: must be >= 1, got {getattr(self, key)}")
        if self.n_hops < 2:
            raise InfonasError(f"VAEConfig.n_hops: must be >= 2 (one GIN layer), got {self.n_hops}")
        if not 0.0 <= self.dropout < 1.0:
            raise InfonasError(f"VAEConfig.dropout: must be in [0, 1), got {self.dropout}")
        if self.op_embedding_dim is not None and self.op_embedding_dim < 1:
            raise InfonasError(f"VAEConfig.op_embedding_dim: must be None or >= 1, got {self.op_embedding_dim}")
        if self.ops_activation not in OPS_ACTIVATIONS:
            raise InfonasError(f"VAEConfig.ops_activation: unknown activation '{self.ops_activation}' "
                               f"(choose from {', '.join(OPS_ACTIVATIONS)})")

    @property
    def gin_layers(self) -> int:
        """GIN layers before the latent heads (arch2vec's num_hops counts the heads as a hop)."""
        return self.n_hops - 1

    def to_dict(self) -> dict:
        return asdict(self)


class VAEOutput(NamedTuple):
    ops_logits: torch.Tensor  # (B, N, n_ops); probabilities by VAEConfig.ops_activation, argmax decodes
    adj_logits: torch.Tensor  # (B, N, N), sigmoid gives edge probabilities (read on triu(1))
    mu: torch.Tensor  # (B, N, latent)
    logstd: torch.Tensor  # (B, N, latent), log sigma of q(z | cell)
    z: torch.Tensor  # (B, N, latent): a posterior sample in training, mu in eval


def check_cells(adjacency: torch.Tensor, ops: torch.Tensor, where: str = "cells") -> None:
    """Shape/dtype checks only (free: no device sync); value ranges are checked once per dataset."""
    if adjacency.ndim != 3 or adjacency.shape[1:] != (O.MAX_VERTICES, O.MAX_VERTICES):
        raise InfonasError(f"{where}: adjacency must be (B, 7, 7), got {tuple(adjacency.shape)}")
    if ops.ndim != 2 or ops.shape != adjacency.shape[:2]:
        raise InfonasError(f"{where}: ops must be (B, 7) matching adjacency, got {tuple(ops.shape)}")
    if ops.dtype.is_floating_point:
        raise InfonasError(f"{where}: ops must hold integer op codes, got {ops.dtype}")


def augment_adjacency(adjacency: torch.Tensor) -> torch.Tensor:
    """A + A^T as float: undirected message passing (arch2vec preprocessing method 4)."""
    a = adjacency.float().triu(1)
    return a + a.transpose(-1, -2)


def ops_one_hot(ops: torch.Tensor, n_ops: int = O.N_OPS) -> torch.Tensor:
    """(B, N) codes -> (B, N, n_ops) float one-hot; padding (-1) rows all zero (arch2vec encoding)."""
    valid = ops >= 0
    hot = F.one_hot(ops.long().clamp(min=0), n_ops).float()
    return hot * valid.unsqueeze(-1)


def _mlp(n_layers: int, d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    """GIN's MLP: (Linear-BN-ReLU) x (n_layers - 1), then a plain Linear."""
    if n_layers == 1:
        return nn.Sequential(nn.Linear(d_in, d_out))
    layers: list[nn.Module] = []
    width = d_in
    for _ in range(n_layers - 1):
        layers += [nn.Linear(width, d_hidden), nn.BatchNorm1d(d_hidden), nn.ReLU()]
        width = d_hidden
    layers.append(nn.Linear(width, d_out))
    return nn.Sequential(*layers)


class ArchVAE(nn.Module):
    """arch2vec VAE. forward(adjacency (B,7,7), ops (B,7) int) -> VAEOutput."""

    def __init__(self, config: VAEConfig = VAEConfig()):
        super().__init__()
        self.config = config
        c = config
        if c.op_embedding_dim is None:
            self.op_table = None
            feat = c.n_ops
        else:
            self.op_table = nn.Parameter(torch.randn(c.n_ops, c.op_embedding_dim))
            feat = c.op_embedding_dim
        n_gin = c.gin_layers
        self.eps = nn.Parameter(torch.zeros(n_gin))
        self.mlps = nn.ModuleList(
            _mlp(c.mlp_layers, feat if i == 0 else c.hidden_dim, c.hidden_dim, c.hidden_dim) for i in range(n_gin)
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(c.hidden_dim) for _ in range(n_gin))
        self.fc_mu = nn.Linear(c.hidden_dim, c.latent_dim)
        self.fc_logstd = nn.Linear(c.hidden_dim, c.latent_dim)
        if self.op_table is None:
            self.op_decoder = nn.Linear(c.latent_dim, c.n_ops)
        else:
            self.op_decoder = nn.Linear(c.latent_dim, c.op_embedding_dim)
            self.op_bias = nn.Parameter(torch.zeros(c.n_ops))

    def node_features(self, ops: torch.Tensor) -> torch.Tensor:
        """H0: one-hot ops, or rows of the op table; padding nodes get a zero vector either way."""
        if self.op_table is None:
            return ops_one_hot(ops, self.config.n_ops)
        valid = (ops >= 0).unsqueeze(-1)
        return self.op_table[ops.long().clamp(min=0)] * valid

    def encode(self, adjacency: torch.Tensor, ops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logstd), each (B, N, latent). mu is the architecture embedding used downstream."""
        check_cells(adjacency, ops)
        a = augment_adjacency(adjacency)
        h = self.node_features(ops)
        b, n, _ = h.shape
        for eps, mlp, norm in zip(self.eps, self.mlps, self.norms):
            agg = (1 + eps) * h + torch.matmul(a.to(h.dtype), h)
            h = F.relu(norm(mlp(agg.reshape(b * n, -1)))).reshape(b, n, -1)
        return self.fc_mu(h), self.fc_logstd(h)

    def reparameterize(self, mu: torch.Tensor, logstd: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * noise while training (the global torch RNG, seeded by the trainer); mu in eval."""
        if not self.training:
            return mu
        return mu + torch.randn_like(mu) * torch.exp(logstd)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of ops (B, N, n_ops) and adjacency (B, N, N); dropout on Z only while training."""
        z = F.dropout(z, p=self.config.dropout, training=self.training)
        if self.op_table is None:
            ops_logits = self.op_decoder(z)
        else:
            ops_logits = self.op_decoder(z) @ self.op_table.to(z.dtype).t() + self.op_bias
        adj_logits = torch.matmul(z, z.transpose(-1, -2))
        return ops_logits, adj_logits

    def forward(self, adjacency: torch.Tensor, ops: torch.Tensor) -> VAEOutput:
        mu, logstd = self.encode(adjacency, ops)
        z = self.reparameterize(mu, logstd)
        ops_logits, adj_logits = self.decode(z)
        return VAEOutput(ops_logits, adj_logits, mu, logstd, z)

    def loss(self, out: VAEOutput, adjacency: torch.Tensor, ops: torch.Tensor) -> torch.Tensor:
        """arch2vec's loss of `out` with this VAE's `ops_activation` (see vae_loss)."""
        return vae_loss(out, adjacency, ops, self.config.ops_activation)


def _strict_upper(n: int, device) -> torch.Tensor:
    return torch.ones(n, n, dtype=torch.bool, device=device).triu(1)


def _log1m_softmax(logits: torch.Tensor) -> torch.Tensor:
    """log(1 - softmax(logits)) computed as logsumexp of the *other* logits minus logsumexp of all:
    finite gradients even where one op's probability rounds to 1 (log1p(-p) would give NaN there)."""
    k = logits.shape[-1]
    eye = torch.eye(k, dtype=torch.bool, device=logits.device)
    others = logits.unsqueeze(-2).masked_fill(eye, float("-inf"))
    return torch.logsumexp(others, dim=-1) - torch.logsumexp(logits, dim=-1, keepdim=True)


def ops_bce(ops_logits: torch.Tensor, target_ops: torch.Tensor, activation: str = "sigmoid") -> torch.Tensor:
    """nn.BCELoss (mean over every entry, log terms clamped at -100 as torch does) of the op
    probabilities `activation`(logits) against one-hot targets, computed from the logits in log
    space: finite values and gradients where a probability rounds to 0 or 1.

    sigmoid: each entry on its own, log p = logsigmoid(x), log(1 - p) = logsigmoid(-x) (arch2vec's code).
    softmax: p over the ops of a node (the paper's Eq. 4).
    """
    logits = ops_logits.float()
    if activation == "sigmoid":
        log_p, log_1mp = F.logsigmoid(logits), F.logsigmoid(-logits)
    elif activation == "softmax":
        log_p, log_1mp = torch.log_softmax(logits, dim=-1), _log1m_softmax(logits)
    else:
        raise InfonasError(f"ops activation: unknown '{activation}' (choose from {', '.join(OPS_ACTIVATIONS)})")
    bce = -(target_ops * log_p.clamp(min=-100) + (1 - target_ops) * log_1mp.clamp(min=-100))
    return bce.mean()


def vae_loss(out: VAEOutput, adjacency: torch.Tensor, ops: torch.Tensor, ops_activation: str = "sigmoid") -> torch.Tensor:
    """arch2vec's loss: BCE(ops) + BCE(adjacency) + KL, normalised as in its reference code.

    `ops_activation` turns the op logits into the probabilities BCE(ops) scores (VAEConfig.ops_activation).
    Computed in float32 whatever the autocast dtype. Returns a 0-dim tensor (no host sync).
    """
    b, n, k = out.ops_logits.shape
    loss_ops = ops_bce(out.ops_logits, ops_one_hot(ops, k), ops_activation)

    upper = _strict_upper(n, adjacency.device)
    target_adj = adjacency.float()
    bce_adj = F.binary_cross_entropy_with_logits(out.adj_logits.float(), target_adj, reduction="none")
    loss_adj = (bce_adj * upper).sum() / (b * n * n)

    mu, logstd = out.mu.float(), out.logstd.float()
    kl_node = -0.5 * torch.sum(1 + 2 * logstd - mu.pow(2) - torch.exp(2 * logstd), dim=-1)
    kl = kl_node.mean() / (b * n)
    return loss_ops + loss_adj + kl


def decode_cells(ops_logits: torch.Tensor, adj_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Discrete cells from decoder logits: ops argmax; edges where sigmoid > 0.5 on triu(1) (arch2vec)."""
    ops = ops_logits.argmax(dim=-1)
    n = adj_logits.shape[-1]
    adj = (adj_logits > 0) & _strict_upper(n, adj_logits.device)
    return adj.to(torch.uint8), ops.to(torch.int8)
