"""Running a model for its outputs: eval mode without gradients, bf16 on CUDA, latent means in batches.

Shared by training (its per-epoch metrics) and evaluation (embeddings, output samples), so that both
run a model the same way.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from infonas.models.vae import ArchVAE


def device_autocast(device: torch.device | str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA only: CPU runs stay float32 (and bit-reproducible)."""
    if torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Eval mode and no_grad for the block; restores each model's previous mode."""
    modes = [m.training for m in models]
    try:
        for m in models:
            m.eval()
        with torch.no_grad():
            yield
    finally:
        for m, mode in zip(models, modes):
            m.train(mode)


def latent_means(vae: ArchVAE, adjacency: torch.Tensor, ops: torch.Tensor, batch_size: int) -> torch.Tensor:
    """mu (N, 7, latent) float32 of the given cells, eval mode: the architecture embeddings."""
    parts = []
    with eval_mode(vae):
        for start in range(0, adjacency.shape[0], batch_size):
            with device_autocast(adjacency.device):
                mu, _ = vae.encode(adjacency[start:start + batch_size], ops[start:start + batch_size])
            parts.append(mu.float())
    return torch.cat(parts)
