"""The semi-supervised assessor on cell matrices: input layout, auto-encoder, epochs, learning, sweep."""

import logging

import numpy as np
import pytest
import torch

from infonas.errors import InfonasError
from infonas.evaluation.cell_assessor import (
    N_CELL_FEATURES,
    CellAssessor,
    CellDecoder,
    CellEncoder,
    cell_feature_problem,
    cell_matrices,
    propagation,
)
from infonas.evaluation.prediction_protocol import prediction_metrics, run_prediction
from infonas.evaluation.predictors import build_predictor

torch.set_num_threads(1)


def random_cells(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw cell features (n, 56) of random 7-node DAGs with input first, output last and a random
    interior op per node, and a target that depends on the cell's structure (3x3 convs and edges)."""
    rng = np.random.default_rng(seed)
    upper = np.triu_indices(7, k=1)
    adjacency = (rng.random((n, 21)) < 0.3).astype(np.float64)
    codes = np.concatenate([np.zeros((n, 1), int), rng.integers(1, 4, size=(n, 5)), np.full((n, 1), 4)], axis=1)
    ops = np.eye(5)[codes].reshape(n, 35)
    conv3 = (codes == 2).sum(axis=1)
    from_input = adjacency[:, :6].sum(axis=1)  # the input node's edges: the first row of the upper triangle
    assert upper[0][5] == 0 and upper[0][6] == 1
    y = 0.85 + 0.01 * conv3 + 0.005 * from_input + 0.002 * rng.normal(size=n)
    return np.concatenate([adjacency, ops], axis=1), y


def test_cell_matrices_read_the_raw_layout():
    x, _ = random_cells(3, 0)
    adjacency, ops = cell_matrices(torch.as_tensor(x))
    upper = np.triu_indices(7, k=1)
    np.testing.assert_array_equal(adjacency.numpy()[:, upper[0], upper[1]], x[:, :21])
    assert (np.tril(adjacency.numpy()) == 0).all()
    np.testing.assert_array_equal(ops.numpy().reshape(3, 35), x[:, 21:])
    a_hat = propagation(adjacency)
    np.testing.assert_allclose(a_hat.sum(dim=2).numpy(), 1.0, rtol=1e-6)
    assert torch.allclose(a_hat > 0, (a_hat > 0).transpose(1, 2))  # both directions of every edge


def test_encoder_and_decoder_shapes():
    x, _ = random_cells(5, 1)
    z = CellEncoder(16, 8)(torch.as_tensor(x, dtype=torch.float32))
    assert z.shape == (5, 8)
    assert CellDecoder(16, 8)(z).shape == (5, N_CELL_FEATURES)


def test_feature_problem_names_latent_features_and_accepts_cells():
    cells, _ = random_cells(10, 2)
    assert cell_feature_problem(cells) is None
    assert "56" in cell_feature_problem(np.zeros((10, 16)))
    assert "0/1" in cell_feature_problem(cells + 0.5)
    two_ops = cells.copy()
    two_ops[0, 21:26] = 1.0
    assert "more than one op" in cell_feature_problem(two_ops)
    with pytest.raises(InfonasError, match="assessor-cells x_train: it reads raw cell features"):
        CellAssessor().fit(np.zeros((10, 16)), np.zeros(10))


FAST = dict(batch_size=128, epochs=40, pretrain_epochs=5, lr=3e-3, conv_dim=32, embed_dim=16, gcn_dim=32)


def test_training_length_is_epochs_over_labeled_and_unlabeled_cells(monkeypatch):
    seen = []
    monkeypatch.setattr(CellAssessor, "_train", lambda self, net, lab, unl, y, rng, joint: seen.append(
        self._steps(lab.shape[0] + unl.shape[0], joint)))
    x, y = random_cells(300, 3)
    CellAssessor(FAST | {"epochs": 3, "pretrain_epochs": 2}).fit(x[:100], y[:100], x_unlabeled=x[100:])
    assert seen == [2 * 3, 3 * 3]  # ceil(300 / 128) = 3 batches per epoch


def test_cell_assessor_learns_a_structural_target_and_its_reconstruction():
    x, y = random_cells(900, 4)
    model = CellAssessor(FAST, seed=0).fit(x[:200], y[:200], x_unlabeled=x[200:])
    scores = prediction_metrics(y[200:], model.predict(x[200:]))
    assert scores["kendall_tau"] > 0.5 and scores["pearson_r"] > 0.7
    with torch.no_grad():
        cells = torch.as_tensor(x[200:], dtype=torch.float32)
        logits = model.net.decoder(model.net.encoder(cells))
    all_zero = (cells == 0).float().mean()  # the guess that knows only that cells are sparse
    assert ((logits > 0).float() == cells).float().mean() > all_zero + 0.04  # the auto-encoder learned the cells
    again = CellAssessor(FAST, seed=0).fit(x[:200], y[:200], x_unlabeled=x[200:]).predict(x[200:220])
    np.testing.assert_array_equal(again, model.predict(x[200:220]))


@pytest.mark.parametrize("params, match", [({"epochs": 0}, "'epochs'"), ({"conv_dim": 0}, "'conv_dim'"),
                                           ({"steps": 10}, "unknown hyperparameter.*steps")])
def test_bad_hyperparameters_are_rejected(params, match):
    with pytest.raises(InfonasError, match=match):
        build_predictor("assessor-cells", params)


def test_the_sweep_runs_it_on_cells_and_skips_it_on_latent_features(caplog):
    cells, y = random_cells(400, 5)
    fast = {"assessor-cells": FAST | {"epochs": 2, "pretrain_epochs": 1}}
    on_cells = run_prediction(cells, y, [50], [0], ["assessor-cells", "rf"], scoring="all", params=fast)
    assert on_cells["regressor"].tolist() == ["assessor-cells", "rf"]
    assert on_cells.loc[0, "n_unlabeled"] == 350 and on_cells.loc[0, "n_eval"] == 350  # N_u = N - N_l
    latent = np.random.default_rng(0).normal(size=(400, 16))
    with caplog.at_level(logging.WARNING):
        on_latent = run_prediction(latent, y, [50], [0], ["assessor-cells", "rf"], scoring="all", params=fast)
    assert on_latent["regressor"].tolist() == ["rf"]
    assert "skipping regressor 'assessor-cells'" in caplog.text
