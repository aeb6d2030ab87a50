"""Latent features of every search-space row: the mean over nodes of mu (arch2vec's embedding).

arch2vec averages mu over all 7 node rows of the padded cell (padding rows included), which is what
its REINFORCE and predictor experiments feed on; we do the same so features are comparable.
"""

from __future__ import annotations

import numpy as np
import torch

from infonas.errors import InfonasError
from infonas.hdf5 import add_dataset, read_dataset, read_h5, write_h5
from infonas.models.inference import latent_means
from infonas.training.checkpoint import load_trained_models


def latent_features(vae, adjacency: np.ndarray, ops: np.ndarray, device: str, batch_size: int = 8192) -> np.ndarray:
    """(N, latent) float32 features of padded cells under `vae` (an ArchVAE) in eval mode."""
    vae = vae.to(device)
    adj = torch.from_numpy(np.ascontiguousarray(adjacency)).to(device)
    codes = torch.from_numpy(np.ascontiguousarray(ops)).to(device)
    return latent_means(vae, adj, codes, batch_size).mean(dim=1).cpu().numpy().astype(np.float32)


def embed_checkpoint(weights_path, space: dict, device: str, epoch: int | None = None) -> dict[str, np.ndarray]:
    """Features of every row for each encoder in a training checkpoint, or in a train job's weights file
    at `epoch` (info-NAS's VAE, arch2vec)."""
    models = load_trained_models(weights_path, device=device, epoch=epoch)
    features = {}
    for name, model in models.items():
        vae = model.vae if name == "infonas" else model
        features[name] = latent_features(vae, space["adjacency"], space["ops"], device)
    return features


def save_embeddings(path, hashes: np.ndarray, features: dict[str, np.ndarray]) -> None:
    with write_h5(path) as handle:
        add_dataset(handle, "hash", hashes)
        for name, values in features.items():
            add_dataset(handle, name, values)


def load_embedding(path, encoder: str) -> np.ndarray:
    """One encoder's (N, latent) features; a missing file or encoder names itself."""
    with read_h5(path, "embeddings file") as handle:
        if encoder not in handle:
            raise InfonasError(f"{path}: no embeddings for encoder '{encoder}' (has {', '.join(handle)})")
        return read_dataset(handle, encoder)


def load_embedding_hashes(path) -> np.ndarray:
    """The (N,) hash column of an embeddings file: the search-space rows its features belong to."""
    with read_h5(path, "embeddings file") as handle:
        if "hash" not in handle:
            raise InfonasError(f"{path}: no 'hash' column")
        return read_dataset(handle, "hash")
