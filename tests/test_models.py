"""arch2vec VAE and info-NAS model: shapes, the exact arch2vec loss, invariances, op embeddings."""

import numpy as np
import pytest
import torch
from torch import nn

from infonas.errors import InfonasError
from infonas.models.info_nas import InfoNAS, InfoNASConfig, images_to_input
from infonas.models.vae import (
    ArchVAE,
    VAEConfig,
    VAEOutput,
    augment_adjacency,
    decode_cells,
    ops_one_hot,
    vae_loss,
)
from infonas.searchspace import cells as C
from infonas.searchspace import ops as O

torch.set_num_threads(1)

SMALL_INFONAS = dict(out_features=9, stem_channels=4, dense_size=16)


def random_cells(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n distinct legal NB-101 cells (pruned, padded) shaped like the search space: mostly 7 vertices,
    about 8 edges. Random DAGs where every vertex has a predecessor and a successor, plus extra edges."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    adjs, opss = [], []
    while len(adjs) < n:
        k = int(rng.choice([5, 6, 7], p=[0.05, 0.15, 0.8]))
        adj = np.zeros((k, k), dtype=np.uint8)
        for j in range(1, k):
            adj[rng.integers(0, j), j] = 1
        for i in range(k - 1):
            if not adj[i, i + 1:].any():
                adj[i, rng.integers(i + 1, k)] = 1
        for _ in range(int(rng.integers(0, 4))):
            i = int(rng.integers(0, k - 1))
            adj[i, rng.integers(i + 1, k)] = 1
        codes = [O.INPUT_CODE, *rng.choice(O.INTERIOR_CODES, size=k - 2).tolist(), O.OUTPUT_CODE]
        if not C.is_valid_cell(adj, codes):
            continue
        pruned = C.prune(adj, codes)
        h = C.module_hash(*pruned)
        if h not in seen:
            seen.add(h)
            a, o = C.pad_cell(*pruned)
            adjs.append(a)
            opss.append(o)
    return np.stack(adjs), np.stack(opss)


def as_tensors(adj, ops):
    return torch.as_tensor(adj), torch.as_tensor(ops)


@pytest.fixture(scope="module")
def cells():
    return as_tensors(*random_cells(48, seed=3))


def test_random_cells_are_padded_legal_cells():
    adj, ops = random_cells(20, seed=0)
    assert adj.shape == (20, 7, 7) and adj.dtype == np.uint8 and ops.shape == (20, 7) and ops.dtype == np.int8
    assert all(C.is_valid_cell(a, o) for a, o in zip(adj, ops))
    assert not np.tril(adj).any()


def test_vae_shapes(cells):
    adj, ops = cells
    out = ArchVAE()(adj[:5], ops[:5])
    assert out.ops_logits.shape == (5, 7, 5) and out.adj_logits.shape == (5, 7, 7)
    assert out.mu.shape == out.logstd.shape == out.z.shape == (5, 7, 16)


def test_arch2vec_encoder_layout():
    """hops=5: 4 GIN layers of width 128, each a 2-layer MLP, then 16-d heads (paper: {128,128,128,128,16})."""
    vae = ArchVAE()
    assert len(vae.mlps) == 4 and vae.eps.shape == (4,)
    linears = [m for m in vae.mlps[0] if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(5, 128), (128, 128)]
    assert vae.fc_mu.out_features == vae.fc_logstd.out_features == 16


def test_augment_adjacency_is_symmetric_without_self_loops():
    adj, _ = random_cells(4, seed=1)
    a = augment_adjacency(torch.as_tensor(adj))
    assert torch.equal(a, a.transpose(1, 2))
    assert torch.equal(a, torch.as_tensor(adj + adj.transpose(0, 2, 1), dtype=torch.float32))
    assert a.diagonal(dim1=1, dim2=2).abs().sum() == 0


def test_ops_one_hot_padding_rows_zero():
    hot = ops_one_hot(torch.tensor([[0, 2, 4, -1, -1, -1, -1]]))
    assert torch.equal(hot[0, :3], torch.eye(5)[[0, 2, 4]])
    assert hot[0, 3:].sum() == 0
    np.testing.assert_array_equal(hot.numpy(), C.one_hot_ops(np.array([[0, 2, 4, -1, -1, -1, -1]])))


def reference_loss(out: VAEOutput, adj: torch.Tensor, ops: torch.Tensor, ops_activation: str = "sigmoid") -> torch.Tensor:
    """arch2vec's VAEReconstructed_Loss with config 4, written out the slow obvious way. Its released
    Decoder puts a sigmoid on the op logits (`activation_adj`); the paper's softmax is the other choice."""
    ops_target = torch.as_tensor(C.one_hot_ops(ops.numpy()))
    logits = out.ops_logits.double()
    probs = torch.sigmoid(logits) if ops_activation == "sigmoid" else torch.softmax(logits, dim=-1)
    loss_ops = nn.BCELoss()(probs, ops_target.double())
    adj_recon = torch.sigmoid(out.adj_logits.double()).triu(1)
    loss_adj = nn.BCELoss()(adj_recon, adj.double().triu(1))
    mu, logvar = out.mu.double(), out.logstd.double()  # arch2vec's "logvar" is log sigma
    kld = -0.5 / (ops.shape[0] * ops.shape[1]) * torch.mean(
        torch.sum(1 + 2 * logvar - mu.pow(2) - logvar.exp().pow(2), 2)
    )
    return loss_ops + loss_adj + kld


def random_output(b: int) -> VAEOutput:
    torch.manual_seed(0)
    return VAEOutput(
        torch.randn(b, 7, 5) * 3, torch.randn(b, 7, 7) * 3, torch.randn(b, 7, 16), torch.randn(b, 7, 16) * 0.5, None
    )


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_vae_loss_matches_arch2vec_reference(cells, activation):
    adj, ops = cells
    out = random_output(adj.shape[0])
    expected = reference_loss(out, adj, ops, activation)
    assert torch.allclose(vae_loss(out, adj, ops, activation).double(), expected, rtol=1e-5, atol=1e-6)
    vae = ArchVAE(VAEConfig(ops_activation=activation))
    assert torch.allclose(vae.loss(out, adj, ops).double(), expected, rtol=1e-5, atol=1e-6)


def test_default_op_loss_is_arch2vecs_sigmoid(cells):
    """The code behind the published numbers scores each op entry with its own sigmoid."""
    adj, ops = cells
    out = random_output(adj.shape[0])
    assert VAEConfig().ops_activation == "sigmoid"
    assert torch.allclose(ArchVAE().loss(out, adj, ops).double(), reference_loss(out, adj, ops, "sigmoid"),
                          rtol=1e-5, atol=1e-6)
    assert not torch.allclose(vae_loss(out, adj, ops).double(), reference_loss(out, adj, ops, "softmax"),
                              rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_vae_loss_gradient_finite_when_an_op_is_certain(cells, activation):
    adj, ops = cells
    logits = torch.zeros(adj.shape[0], 7, 5)
    logits[..., 2] = 200.0  # sigmoid and softmax probability exactly 1 in float32
    logits.requires_grad_(True)
    out = VAEOutput(logits, torch.zeros(adj.shape[0], 7, 7), torch.zeros(adj.shape[0], 7, 16),
                    torch.zeros(adj.shape[0], 7, 16), None)
    loss = vae_loss(out, adj, ops, activation)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_encoder_is_permutation_equivariant(cells):
    """Relabelling a cell's nodes (another topological order of the same DAG) relabels the embeddings:
    GIN on A + A^T sees graphs, not orderings. Eval mode, so BN uses running statistics."""
    adj, ops = cells
    vae = ArchVAE().eval()
    checked = 0
    for a, o in zip(adj.numpy(), ops.numpy()):
        n = int((o >= 0).sum())
        swaps = [i for i in range(1, n - 2) if a[i, i + 1] == 0]
        if not swaps:
            continue
        i = swaps[0]
        perm = np.arange(7)
        perm[[i, i + 1]] = perm[[i + 1, i]]
        a_p, o_p = a[np.ix_(perm, perm)], o[perm]
        assert not np.tril(a_p).any() and C.cell_hash(a_p, o_p) == C.cell_hash(a, o)
        mu, _ = vae.encode(*as_tensors(a[None], o[None]))
        mu_p, _ = vae.encode(*as_tensors(a_p[None], o_p[None]))
        assert torch.allclose(mu_p[0], mu[0, perm], atol=1e-5)
        checked += 1
    assert checked >= 10


def test_reparameterize_train_noise_and_eval_mean():
    vae = ArchVAE()
    mu = torch.full((2000, 7, 16), 0.5)
    logstd = torch.full((2000, 7, 16), np.log(0.2))
    torch.manual_seed(0)
    z = vae.train().reparameterize(mu, logstd)
    assert abs(z.mean().item() - 0.5) < 0.01 and abs(z.std().item() - 0.2) < 0.01
    assert torch.equal(vae.eval().reparameterize(mu, logstd), mu)


def test_decoder_dropout_only_in_training():
    vae = ArchVAE()
    z = torch.randn(4, 7, 16)
    vae.eval()
    assert torch.equal(vae.decode(z)[0], vae.decode(z)[0])
    vae.train()
    torch.manual_seed(1)
    a = vae.decode(z)[1]
    assert not torch.equal(a, vae.decode(z)[1])


def test_decode_cells_threshold_and_upper_triangle():
    adj_logits = torch.tensor([[[1.0, 2.0, -1.0], [3.0, 0.5, 0.1], [4.0, 4.0, 4.0]]])
    ops_logits = torch.tensor([[[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 5.0]]])
    adj, ops = decode_cells(ops_logits, adj_logits)
    assert adj.tolist() == [[[0, 1, 0], [0, 0, 1], [0, 0, 0]]]
    assert ops.tolist() == [[1, 0, 2]] and adj.dtype == torch.uint8 and ops.dtype == torch.int8


def test_op_embedding_table_shared_by_encoder_and_decoder(cells):
    adj, ops = cells
    torch.manual_seed(0)
    vae = ArchVAE(VAEConfig(op_embedding_dim=3)).eval()
    assert vae.op_table.shape == (5, 3) and len(vae.mlps[0][0].weight[0]) == 3
    feats = vae.node_features(ops)
    real = ops >= 0
    assert torch.equal(feats[real], vae.op_table[ops[real].long()]) and feats[~real].abs().sum() == 0
    z = torch.randn(3, 7, 16)
    before = vae.decode(z)[0]
    with torch.no_grad():
        vae.op_table.mul_(2.0)
    assert not torch.allclose(before, vae.decode(z)[0])  # the decoder scores ops against the same table


def _train_steps(vae, adj, ops, steps, lr=1e-3):
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    vae.train()
    losses = []
    for _ in range(steps):
        loss = vae.loss(vae(adj, ops), adj, ops)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_op_embedding_option_trains(cells):
    adj, ops = cells
    torch.manual_seed(0)
    vae = ArchVAE(VAEConfig(op_embedding_dim=3))
    table0 = vae.op_table.detach().clone()
    losses = _train_steps(vae, adj[:32], ops[:32], steps=60, lr=3e-3)
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    assert not torch.allclose(table0, vae.op_table)


def test_config_validation():
    with pytest.raises(InfonasError, match="VAEConfig.dropout"):
        VAEConfig(dropout=1.0)
    with pytest.raises(InfonasError, match="VAEConfig.n_hops"):
        VAEConfig(n_hops=1)
    with pytest.raises(InfonasError, match="VAEConfig.ops_activation"):
        VAEConfig(ops_activation="tanh")
    with pytest.raises(InfonasError, match="InfoNASConfig.dense_dropout"):
        InfoNASConfig(dense_dropout=-0.1)
    with pytest.raises(InfonasError, match="adjacency must be"):
        ArchVAE()(torch.zeros(2, 6, 6, dtype=torch.uint8), torch.zeros(2, 6, dtype=torch.int8))


def test_infonas_shapes_and_layout(cells):
    adj, ops = cells
    model = InfoNAS(InfoNASConfig(**SMALL_INFONAS))
    images = torch.randn(5, 3, 32, 32)
    out, pred = model(adj[:5], ops[:5], images)
    assert pred.shape == (5, 9) and out.mu.shape == (5, 7, 16)
    convs = [m for m in model.image_branch.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.stride[0], c.kernel_size[0]) for c in convs] == [
        (4, 1, 3), (4, 1, 3), (8, 2, 3), (8, 1, 3), (16, 2, 3)
    ]
    linears = [m for m in model.head if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(16 + 16, 16), (16, 16), (16, 9)]
    assert sum(isinstance(m, nn.Dropout) and m.p == 0.5 for m in model.head) == 2


def test_infonas_paper_defaults():
    model = InfoNAS()
    assert model.head[-1].out_features == 513 and model.head[0].in_features == 16 + 512
    assert model.z_dense[1].in_features == 7 * 16


def test_infonas_vae_starts_like_a_plain_vae_with_the_same_seed():
    torch.manual_seed(7)
    info = InfoNAS(InfoNASConfig(**SMALL_INFONAS))
    torch.manual_seed(7)
    plain = ArchVAE()
    for (k, a), (k2, b) in zip(info.vae.state_dict().items(), plain.state_dict().items()):
        assert k == k2 and torch.equal(a, b)


def test_images_to_input_normalises_to_channels_last():
    images = torch.zeros(2, 4, 4, 3, dtype=torch.uint8)
    images[..., 0] = 255
    images[..., 1] = 51
    mean, std = torch.tensor([0.5, 0.2, 0.0]), torch.tensor([0.5, 0.1, 1.0])
    x = images_to_input(images, mean, std)
    assert x.shape == (2, 3, 4, 4) and x.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(x[:, 0], torch.ones(2, 4, 4)) and torch.allclose(x[:, 1], torch.zeros(2, 4, 4))
    with pytest.raises(InfonasError, match="images"):
        images_to_input(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), mean, std)


def test_vae_can_reconstruct_cells_exactly():
    """Capacity check: without decoder dropout the VAE fits 64 cells to near-exact reconstruction in
    800 steps. The adjacency entries it can never get right are pairs of nodes with the same WL colour
    and no edge (two padding nodes, parallel branches with the same op): they embed to the same vector
    c and sigmoid(c.c) > 0.5. `adjacency_ceiling` counts them: 0.9918 here."""
    from infonas.training.metrics import adjacency_ceiling, reconstruction_accuracy

    adj, ops = as_tensors(*random_cells(64, seed=11))
    torch.manual_seed(0)
    vae = ArchVAE(VAEConfig(dropout=0.0))
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(800):
        idx = torch.randint(64, (32,), generator=g)
        loss = vae.loss(vae(adj[idx], ops[idx]), adj[idx], ops[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    ops_acc, adj_acc, _ = reconstruction_accuracy(vae, adj, ops, batch_size=64)
    ceiling = adjacency_ceiling(adj.numpy(), ops.numpy(), rounds=4)
    assert ops_acc > 0.97 and ceiling - 0.01 < adj_acc <= ceiling


@pytest.mark.slow
def test_arch2vec_defaults_learn_heldout_reconstruction(tmp_path):
    """Faithful settings (lr 1e-3, batch 32, dropout 0.3, KL) on 3,000 NB-101-like cells for 26 epochs
    (about 2,400 steps, under a minute on one CPU thread). arch2vec needs about 10^5 steps for its
    100 %, so this checks the early trajectory measured for this implementation (held-out ops 0.45 ->
    0.96, adjacency 0.62 -> 0.90 from epoch 1 to 26): ops above 0.93 and adjacency above 0.88."""
    from infonas.training.joint import CellSet, JointConfig, train_joint

    adj, ops = random_cells(3300, seed=0)
    train = CellSet(torch.as_tensor(adj[:3000]), torch.as_tensor(ops[:3000]))
    heldout = CellSet(torch.as_tensor(adj[3000:]), torch.as_tensor(ops[3000:]))
    config = JointConfig(epochs=26, n_latent_points=1000, checkpoint_every=26, n_bootstrap=10)
    rows = train_joint(tmp_path, train, None, heldout, InfoNASConfig(), config)
    first, last = rows[0], rows[-1]
    assert last["ops_acc"] > 0.93 and last["adj_acc"] > 0.88
    assert last["vae_loss_unlabeled"] < 0.6 * first["vae_loss_unlabeled"]
    assert 0.0 <= last["validity"] <= 1.0
