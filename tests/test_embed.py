import numpy as np
import pytest
import torch

from infonas.errors import InfonasError
from infonas.evaluation.embed import latent_features, load_embedding, load_embedding_hashes, save_embeddings
from infonas.models.vae import ArchVAE, VAEConfig
from infonas.searchspace.cells import pad_cell


def cells(n=10, seed=0):
    rng = np.random.default_rng(seed)
    adj, ops = [], []
    for _ in range(n):
        a = np.triu(rng.integers(0, 2, size=(5, 5)), 1)
        a[0, 4] = 1
        pa, po = pad_cell(a, [0, *rng.integers(1, 4, size=3), 4])
        adj.append(pa)
        ops.append(po)
    return np.stack(adj), np.stack(ops)


def test_features_are_the_node_mean_of_mu_in_eval_mode():
    torch.manual_seed(0)
    vae = ArchVAE(VAEConfig())
    adj, ops = cells()
    features = latent_features(vae, adj, ops, "cpu", batch_size=3)
    vae.eval()
    with torch.no_grad():
        mu, _ = vae.encode(torch.from_numpy(adj), torch.from_numpy(ops))
    assert features.shape == (10, 16) and features.dtype == np.float32
    np.testing.assert_allclose(features, mu.mean(dim=1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(features, latent_features(vae, adj, ops, "cpu", batch_size=10))


def test_embeddings_round_trip_and_errors(tmp_path):
    hashes = np.array([b"%032x" % i for i in range(3)], dtype="S32")
    feats = {"arch2vec": np.arange(48, dtype=np.float32).reshape(3, 16)}
    save_embeddings(tmp_path / "e.h5", hashes, feats)
    np.testing.assert_array_equal(load_embedding(tmp_path / "e.h5", "arch2vec"), feats["arch2vec"])
    np.testing.assert_array_equal(load_embedding_hashes(tmp_path / "e.h5"), hashes)
    with pytest.raises(InfonasError, match="no embeddings for encoder 'infonas'"):
        load_embedding(tmp_path / "e.h5", "infonas")
    with pytest.raises(InfonasError, match="not found"):
        load_embedding(tmp_path / "missing.h5", "arch2vec")
    with pytest.raises(InfonasError, match="not found"):
        load_embedding_hashes(tmp_path / "missing.h5")
