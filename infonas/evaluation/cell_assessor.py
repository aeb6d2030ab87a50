"""The semi-supervised assessor as its paper builds it: on the cell's matrices, through its own
graph-convolutional auto-encoder (Tang et al., "A Semi-Supervised Assessor of Neural
Architectures", section 4, implementation details).

`assessor.SemiSupervisedAssessor` reads fixed features (an encoder's latent vectors) through an
MLP auto-encoder. The paper's encoder E instead reads "the matrix representations of
architectures": here the cell's 7x7 padded adjacency matrix and the 7x5 one-hot matrix of its ops
(arch2vec's op order, padding rows zero). Everything else (relation graph per mini-batch of
labeled and unlabeled cells, GCN assessor, loss (1 - lambda) L_rg + lambda L_rc, Adam) is the
assessor module's, so the two differ only in what E and D read.

- E: "two convolutional layers followed by a fully connected layer". The convolutions are graph
  convolutions over the cell's DAG, H' = ReLU(A_hat H W) with A_hat the row-normalised
  A + A^T + I (information flows both ways along an edge, as in the GCN predictors the paper
  cites for the matrix input), the ops one-hot as the first H; the 7 node states are flattened
  into the fully connected layer that gives the embedding.
- D: "the reverse": a fully connected layer back to 7 node states, two node-wise layers, then the
  ops' logits per node and the adjacency's logits as inner products of node states (upper
  triangle). L_rc is the binary cross-entropy of those logits against the 21 adjacency entries
  and the 35 one-hot entries (both 0/1), mean per entry.
- Training length in epochs, as in the paper (200): an epoch is ceil(N / batch_size) mini-batches
  for the N = N_l + N_u cells the assessor sees, so on a 20k subset 200 epochs are ~3,900 steps
  and on the full space (423,624 cells) ~83,000: the paper's count scaled to the space.
  `pretrain_epochs` of reconstruction alone come first (the paper's footnote; it gives no count).

Input layout. The predictor reads each row as the raw cell features (56 numbers: the 21 entries
above the diagonal of the padded adjacency, row by row, then the 7x5 one-hot ops, flattened), the
feature set of raw cells. On other features (an encoder's latent vectors) `feature_problem` says
why it cannot run, and the prediction sweep skips it there with a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from infonas.errors import InfonasError
from infonas.evaluation.assessor import (
    AUTO,
    AssessorNet,
    SemiSupervisedAssessor,
    check_hyperparameters,
    config_from_dict,
)
from infonas.searchspace import ops as O

N_NODES = O.MAX_VERTICES
N_ADJACENCY = N_NODES * (N_NODES - 1) // 2
N_CELL_FEATURES = N_ADJACENCY + N_NODES * O.N_OPS
_UPPER = torch.triu_indices(N_NODES, N_NODES, offset=1)


@dataclass(frozen=True)
class CellAssessorConfig:
    """Hyperparameters of the assessor on cell matrices; the paper's where it gives them (lambda,
    batch, Adam lr, 200 epochs), the graph's width as in `assessor.AssessorConfig` (why: there)."""

    sigma: float | str = AUTO  # RBF scale of Eq. 3: "auto" (radius from edge_quantile) or a number (paper 0.01)
    tau: float = 0.01  # edge threshold = weight at the edge radius (paper 1e-5)
    edge_quantile: float = 0.01  # with sigma "auto": share of a batch's pairs inside the edge radius
    lam: float = 0.5  # lambda of Eq. 6 (paper)
    conv_dim: int = 64  # width of the auto-encoder's two graph-convolutional layers
    embed_dim: int = 32  # size of the learned embedding E(x)
    gcn_dim: int = 64  # width of the assessor's first GCN layer
    batch_size: int = 1024  # nodes per mini-batch graph (paper)
    labeled_fraction: float = 0.5  # share of a batch given to labeled nodes (at most all of them)
    epochs: int = 200  # joint training epochs over the N_l + N_u cells (paper)
    pretrain_epochs: int = 10  # auto-encoder-only epochs before joint training
    lr: float = 1e-3  # Adam, no weight decay (paper)
    device: str = "cpu"  # cpu | cuda | auto

    def __post_init__(self):
        check_hyperparameters(self, {
            "conv_dim": self.conv_dim >= 1,
            "epochs": self.epochs >= 1,
            "pretrain_epochs": self.pretrain_epochs >= 0,
        })

    @classmethod
    def from_dict(cls, params) -> "CellAssessorConfig":
        return config_from_dict(cls, params)


def cell_matrices(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw cell features (B, 56) -> adjacency (B, 7, 7) upper-triangular and one-hot ops (B, 7, 5)."""
    adjacency = x.new_zeros(x.shape[0], N_NODES, N_NODES)
    adjacency[:, _UPPER[0], _UPPER[1]] = x[:, :N_ADJACENCY]
    return adjacency, x[:, N_ADJACENCY:].reshape(-1, N_NODES, O.N_OPS)


def propagation(adjacency: torch.Tensor) -> torch.Tensor:
    """Row-normalised A + A^T + I per cell (B, 7, 7): a node averages itself and its neighbours."""
    both = adjacency + adjacency.transpose(1, 2) + torch.eye(N_NODES, device=adjacency.device)
    return both / both.sum(dim=2, keepdim=True)


class CellEncoder(nn.Module):
    """E: two graph-convolutional layers over the cell's DAG, then a fully connected layer."""

    def __init__(self, conv_dim: int, embed_dim: int):
        super().__init__()
        self.conv1 = nn.Linear(O.N_OPS, conv_dim)
        self.conv2 = nn.Linear(conv_dim, conv_dim)
        self.fc = nn.Linear(N_NODES * conv_dim, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        adjacency, ops = cell_matrices(x)
        a_hat = propagation(adjacency)
        h = torch.relu(a_hat @ self.conv1(ops))
        h = torch.relu(a_hat @ self.conv2(h))
        return self.fc(h.flatten(1))


class CellDecoder(nn.Module):
    """D, the reverse of E: fully connected to 7 node states, two node-wise layers, then logits of
    the 21 adjacency entries (inner products of node states) and of the 7x5 ops, as (B, 56)."""

    def __init__(self, conv_dim: int, embed_dim: int):
        super().__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(embed_dim, N_NODES * conv_dim)
        self.layer1 = nn.Linear(conv_dim, conv_dim)
        self.layer2 = nn.Linear(conv_dim, conv_dim)
        self.ops = nn.Linear(conv_dim, O.N_OPS)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc(z)).reshape(-1, N_NODES, self.conv_dim)
        h = torch.relu(self.layer1(h))
        h = self.layer2(h)
        edges = (h @ h.transpose(1, 2))[:, _UPPER[0], _UPPER[1]] / math.sqrt(self.conv_dim)
        return torch.cat([edges, self.ops(h).flatten(1)], dim=1)


def cell_feature_problem(x: np.ndarray) -> str | None:
    """Why rows x are not raw cell features (56 columns of 0/1, at most one op per node), or None."""
    if x.ndim != 2 or x.shape[1] != N_CELL_FEATURES:
        return (f"it reads raw cell features ({N_ADJACENCY} adjacency + {N_NODES}x{O.N_OPS} one-hot op columns "
                f"= {N_CELL_FEATURES}), these have {x.shape[1] if x.ndim == 2 else x.shape} columns")
    if not np.isin(x, (0.0, 1.0)).all():
        return "raw cell features are 0/1, these hold other values"
    if (x[:, N_ADJACENCY:].reshape(-1, N_NODES, O.N_OPS).sum(axis=2) > 1).any():
        return "a node of these cells has more than one op"
    return None


class CellAssessor(SemiSupervisedAssessor):
    """The semi-supervised assessor on the cell's matrices (see the module docstring)."""

    config_class = CellAssessorConfig

    def feature_problem(self, x) -> str | None:
        return cell_feature_problem(np.asarray(x, dtype=np.float64))

    def fit(self, x_train, y_train, x_unlabeled=None) -> "CellAssessor":
        self._require_cells(x_train, "x_train")
        if x_unlabeled is not None:
            self._require_cells(x_unlabeled, "x_unlabeled")
        return super().fit(x_train, y_train, x_unlabeled)

    def _require_cells(self, x, what: str) -> None:
        problem = self.feature_problem(x)
        if problem:
            raise InfonasError(f"assessor-cells {what}: {problem}")

    def _make_net(self, n_features: int, generator: torch.Generator) -> AssessorNet:
        cfg = self.cfg
        return AssessorNet(n_features, cfg, generator, encoder=CellEncoder(cfg.conv_dim, cfg.embed_dim),
                           decoder=CellDecoder(cfg.conv_dim, cfg.embed_dim))

    def _input_stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """No standardisation: the encoder reads the 0/1 matrices themselves."""
        return np.zeros(x.shape[1]), np.ones(x.shape[1])

    def _steps(self, n_nodes: int, joint: bool) -> int:
        epochs = self.cfg.epochs if joint else self.cfg.pretrain_epochs
        return epochs * math.ceil(n_nodes / self.cfg.batch_size)

    def _row_error(self, x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of the logits against the 0/1 cell entries, mean per entry."""
        return F.binary_cross_entropy_with_logits(x_rec, x, reduction="none").mean(dim=1)
