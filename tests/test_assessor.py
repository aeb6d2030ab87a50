"""Semi-supervised GCN assessor: relation graph, GCN propagation, batching, learning."""

import numpy as np
import pytest
import torch

from infonas.errors import InfonasError
from infonas.evaluation.assessor import (
    AssessorConfig,
    AssessorNet,
    SemiSupervisedAssessor,
    batch_counts,
    normalized_adjacency,
    relation_graph,
    sample_batch,
)
from infonas.evaluation.prediction_protocol import prediction_metrics

torch.set_num_threads(1)

# p1 is 0.005 from p0, p2 is 0.001 from p0 and 0.004 from p1, p3 is ~1 from all.
POINTS = torch.tensor([[0.0, 0.0], [0.003, 0.004], [0.0006, 0.0008], [1.0, 0.0]], dtype=torch.float64)


def test_relation_graph_weights_follow_eq3():
    adj = relation_graph(POINTS, sigma=0.05, tau=1e-5)  # 2 sigma^2 = 0.005
    e = np.exp
    expected = [
        [1, e(-1.0), e(-0.2), 0],
        [e(-1.0), 1, e(-0.8), 0],
        [e(-0.2), e(-0.8), 1, 0],
        [0, 0, 0, 1],
    ]
    np.testing.assert_allclose(adj.numpy(), expected, rtol=1e-5, atol=0)
    assert adj.dtype == torch.float32 and not adj.requires_grad


def test_relation_graph_with_the_paper_settings_prunes_all_but_very_close_pairs():
    adj = relation_graph(POINTS, sigma=0.01, tau=1e-5).numpy()  # kept only where d < ~0.0023
    assert adj[0, 2] == pytest.approx(np.exp(-5.0), rel=1e-5)  # d = 0.001
    assert adj[0, 1] == 0 and adj[1, 2] == 0  # exp(-25), exp(-20) < tau
    assert (np.diag(adj) == 1).all()


def test_relation_graph_threshold_is_strict_and_tunable():
    adj = relation_graph(POINTS, sigma=0.05, tau=float(np.exp(-0.5))).numpy()
    assert adj[0, 2] > 0 and adj[0, 1] == 0 and adj[1, 2] == 0


def reference_graph(points: np.ndarray, sigma, tau, edge_quantile=None) -> np.ndarray:
    """Eq. 3 pair by pair; sigma "auto": radius = the ceil(q * pairs)-th smallest pair distance."""
    n = len(points)
    dist = np.array([[np.linalg.norm(points[i] - points[j]) for j in range(n)] for i in range(n)])
    radius = np.inf
    if sigma == "auto":
        pairs = np.sort(dist[np.triu_indices(n, 1)])
        radius = pairs[int(np.ceil(edge_quantile * len(pairs))) - 1]
        sigma = np.sqrt(radius / (2 * np.log(1 / tau)))  # exp(-r / (2 sigma^2)) = tau
    adj = np.exp(-dist / (2 * sigma**2))
    adj[(adj <= tau) | (dist >= radius)] = 0  # the radius pair itself sits at tau: not kept
    np.fill_diagonal(adj, 1)
    return adj


@pytest.mark.parametrize("sigma, edge_quantile", [(0.3, None), ("auto", 0.3), ("auto", 0.05)])
def test_relation_graph_matches_a_pairwise_reference(sigma, edge_quantile):
    x = np.random.default_rng(3).normal(size=(42, 3))
    adj = relation_graph(torch.from_numpy(x), sigma, 1e-3, edge_quantile or 0.01).numpy()
    ref = reference_graph(x, sigma, 1e-3, edge_quantile)
    assert 0.04 < (ref > 0).mean() < 0.95  # some pairs kept, some pruned
    np.testing.assert_allclose(adj, ref, rtol=1e-5, atol=1e-7)


def test_auto_sigma_keeps_the_quantile_share_of_pairs_and_is_scale_free():
    x = torch.randn(30, 6, generator=torch.Generator().manual_seed(0))
    a = relation_graph(x, "auto", 1e-5, edge_quantile=0.1)
    torch.testing.assert_close(a, relation_graph(1e-3 * x, "auto", 1e-5, edge_quantile=0.1))
    n_pairs = 30 * 29 // 2
    assert ((a > 0).sum().item() - 30) // 2 == int(np.ceil(0.1 * n_pairs)) - 1  # pairs strictly inside
    assert (relation_graph(x, "auto", 1e-5, edge_quantile=0.0) > 0).sum() == 30  # identity graph
    assert (relation_graph(x, 0.01, 1e-5) > 0).sum() == 30  # paper sigma, raw distances ~3: self-loops


def neighbour_counts(adj: torch.Tensor) -> np.ndarray:
    return ((adj > 0).sum(dim=1) - 1).numpy()


def test_a_typical_batch_graph_has_some_neighbours_per_node_not_all():
    """A batch of 1024 nodes like the assessor's: standardised 16-d latent features through a
    freshly initialised encoder. The default graph connects most nodes to a few others with a
    weight that matters next to the self-loop's 1 (the paper's tau at the same radius gives them
    almost none); the paper's literal sigma connects none."""
    x = torch.randn(1024, 16, generator=torch.Generator().manual_seed(4))
    z = make_net(16).encoder(x).detach()
    cfg = AssessorConfig()
    adj = relation_graph(z, cfg.sigma, cfg.tau, cfg.edge_quantile)
    counts = neighbour_counts(adj)
    expected = cfg.edge_quantile * 1023
    assert 0.9 * expected < counts.mean() < 1.1 * expected
    assert (counts > 0).mean() > 0.5 and counts.max() < 0.5 * 1023
    weight = (adj.sum() - 1024).item() / 1024
    assert 0.05 < weight < 1
    paper_tau = relation_graph(z, "auto", 1e-5, cfg.edge_quantile)
    assert (neighbour_counts(paper_tau) == counts).all() and (paper_tau.sum() - 1024).item() / 1024 < 0.01
    assert neighbour_counts(relation_graph(z, 0.01, 1e-5)).max() == 0


@pytest.mark.parametrize(
    "sigma, tau, edge_quantile",
    [(0.0, 1e-5, 0.01), (0.1, 1.0, 0.01), ("median", 1e-5, 0.01), ("auto", 0.0, 0.01), ("auto", 1e-5, 1.0)],
)
def test_relation_graph_rejects_bad_settings(sigma, tau, edge_quantile):
    with pytest.raises(InfonasError, match="relation_graph"):
        relation_graph(POINTS, sigma, tau, edge_quantile)


def test_normalized_adjacency_matches_the_formula():
    adj = relation_graph(POINTS, sigma=0.05, tau=1e-5).double()
    deg = adj.sum(1).numpy()
    expected = np.array([[adj[i, j].item() / np.sqrt(deg[i] * deg[j]) for j in range(4)] for i in range(4)])
    np.testing.assert_allclose(normalized_adjacency(adj).numpy(), expected, rtol=1e-12)
    eye = torch.eye(5)
    torch.testing.assert_close(normalized_adjacency(eye), eye)


def make_net(n_features=5, **cfg):
    return AssessorNet(n_features, AssessorConfig(**cfg), torch.Generator().manual_seed(0))


def test_forward_shapes_and_eq4():
    net = make_net(embed_dim=8, gcn_dim=6, edge_quantile=0.2)
    x = torch.randn(12, 5, generator=torch.Generator().manual_seed(1))
    y_hat, x_rec, adj = net(x)
    assert y_hat.shape == (12,) and x_rec.shape == (12, 5) and adj.shape == (12, 12)
    z = net.encoder(x)
    a_hat = normalized_adjacency(relation_graph(z, "auto", net.cfg.tau, 0.2))
    h = torch.relu(a_hat @ z @ net.gcn1.linear.weight.T + net.gcn1.bias)
    torch.testing.assert_close(y_hat, (a_hat @ h @ net.gcn2.linear.weight.T + net.gcn2.bias).squeeze(-1))


def test_neighbours_change_a_prediction_only_through_the_graph():
    x = torch.randn(20, 5, generator=torch.Generator().manual_seed(2))
    for isolated in (make_net(sigma=0.01, tau=1e-5), make_net(edge_quantile=0.0)):  # paper sigma; no edges
        torch.testing.assert_close(isolated(x)[0][:4], isolated(x[:4])[0])
    connected = make_net(edge_quantile=0.2)
    assert not torch.allclose(connected(x)[0][:4], connected(x[:4])[0])


def test_weight_init_comes_from_the_generator_not_the_global_rng():
    torch.manual_seed(123)
    a = make_net()
    torch.manual_seed(456)
    b = make_net()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


@pytest.mark.parametrize(
    "n_lab, n_unl, expected",
    [(100, 5000, (64, 64)), (10, 5000, (10, 118)), (500, 20, (64, 20)), (300, 0, (128, 0)), (5, 0, (5, 0))],
)
def test_batch_counts_mix_labeled_and_unlabeled(n_lab, n_unl, expected):
    assert batch_counts(n_lab, n_unl, 128, 0.5) == expected


def test_sample_batch_draws_distinct_valid_indices():
    lab, unl = sample_batch(100, 5000, 128, 0.25, np.random.default_rng(0))
    assert len(lab) == 32 and len(unl) == 96
    assert len(np.unique(lab)) == 32 and len(np.unique(unl)) == 96
    assert lab.max() < 100 and unl.max() < 5000


def smooth_data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    return x, np.sin(x[:, 0]) + 0.5 * x[:, 1] ** 2 - 0.3 * x[:, 2]


FAST = dict(batch_size=128, steps=250, pretrain_steps=50, lr=3e-3)


@pytest.mark.parametrize("graph", [{}, {"sigma": 0.01, "tau": 1e-5}, {"edge_quantile": 0.0}])
def test_assessor_learns_a_smooth_target_better_than_the_mean(graph):
    x, y = smooth_data(800, 0)
    model = SemiSupervisedAssessor(FAST | graph, seed=0).fit(x[:150], y[:150], x_unlabeled=x[150:])
    scores = prediction_metrics(y[150:], model.predict(x[150:]))
    mean_rmse = np.sqrt(np.mean((y[150:] - y[:150].mean()) ** 2))
    assert scores["rmse"] < 0.6 * mean_rmse
    assert scores["pearson_r"] > 0.8
    assert (model.mean_degree_ > 1) == (not graph)  # default: ~1% of 127 others; else self-loops only
    assert (model.mean_neighbour_weight_ > 0.01) == (not graph)


def test_assessor_without_unlabeled_rows_and_reproducibility():
    x, y = smooth_data(200, 1)
    cfg = FAST | {"steps": 30, "pretrain_steps": 5}
    a = SemiSupervisedAssessor(cfg, seed=7).fit(x[:100], y[:100]).predict(x[100:])
    b = SemiSupervisedAssessor(cfg, seed=7).fit(x[:100], y[:100]).predict(x[100:])
    c = SemiSupervisedAssessor(cfg, seed=8).fit(x[:100], y[:100]).predict(x[100:])
    np.testing.assert_array_equal(a, b)
    assert a.shape == (100,) and a.dtype == np.float64 and not np.array_equal(a, c)


@pytest.mark.parametrize(
    "params, match",
    [({"sigma": 0}, "'sigma'"), ({"sigma": "median"}, "'sigma'"), ({"tau": 0.0}, "'tau'"),
     ({"edge_quantile": 1.0}, "'edge_quantile'"), ({"lam": 1.5}, "'lam'"),
     ({"gamma": 1}, "unknown hyperparameter.*gamma.*sigma")],
)
def test_bad_hyperparameters_are_rejected(params, match):
    with pytest.raises(InfonasError, match=match):
        SemiSupervisedAssessor(params)


def test_predict_checks_state_and_width():
    x, y = smooth_data(20, 2)
    with pytest.raises(InfonasError, match="before fit"):
        SemiSupervisedAssessor().predict(x)
    model = SemiSupervisedAssessor(FAST | {"steps": 2, "pretrain_steps": 0}).fit(x, y)
    with pytest.raises(InfonasError, match="expected 4 features"):
        model.predict(np.zeros((3, 5)))
    with pytest.raises(InfonasError, match="x_unlabeled.*expected 4"):
        SemiSupervisedAssessor(FAST).fit(x, y, x_unlabeled=np.zeros((3, 2)))
