"""Joint semi-supervised training: schedule, metrics against slow references, learning, resume identity."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from infonas.errors import InfonasError
from infonas.models.inference import latent_means
from infonas.models.info_nas import InfoNAS, InfoNASConfig, images_to_input
from infonas.models.vae import ArchVAE
from infonas.searchspace import cells as C
from infonas.training import checkpoint as ckpt
from infonas.training import joint as J
from infonas.training import metrics as M
from infonas.training.joint import CellSet, JointConfig, LabeledData, LabeledSplit, batch_schedule, train_joint
from test_models import random_cells

torch.set_num_threads(1)

MODEL = InfoNASConfig(out_features=9, stem_channels=4, n_conv_blocks=1, dense_size=32)
SPLITS = ("train", "valid_unseen_networks", "valid_unseen_images", "test_unseen_images", "test_unseen_networks_images")
FAST = dict(batch_size=8, n_labeled_batches=3, n_unlabeled_batches=2, n_bootstrap=50, n_latent_points=200,
            eval_batch_size=64)


def tiny_data(seed: int = 0, n_nets: int = 8, n_images: int = 8):
    """Unlabeled/held-out cells and a labeled set whose targets are a fixed random vector per network
    plus a term from the image's mean red value: learnable from (Z, image)."""
    rng = np.random.default_rng(seed)
    adj, ops = random_cells(64 + 24 + n_nets, seed)
    unlabeled = CellSet(torch.as_tensor(adj[:64]), torch.as_tensor(ops[:64]))
    heldout = CellSet(torch.as_tensor(adj[64:88]), torch.as_tensor(ops[64:88]))
    networks = CellSet(torch.as_tensor(adj[88:]), torch.as_tensor(ops[88:]))
    images = torch.as_tensor(rng.integers(0, 256, (3 * n_images, 8, 8, 3), dtype=np.uint8))
    net_vec = torch.as_tensor(rng.normal(size=(n_nets, 9)), dtype=torch.float32)
    img_vec = torch.as_tensor(rng.normal(size=9), dtype=torch.float32)
    red = images[..., 0].float().mean(dim=(1, 2)) / 255.0 - 0.5

    def split(nets, imgs):
        net_index, image_index = (t.flatten() for t in torch.meshgrid(torch.as_tensor(nets), torch.as_tensor(imgs), indexing="ij"))
        targets = net_vec[net_index] + 2 * red[image_index, None] * img_vec
        return LabeledSplit(net_index, image_index, targets.to(torch.bfloat16), images)

    n_train = n_nets - 2
    unseen, test = range(n_images, 2 * n_images), range(2 * n_images, 3 * n_images)
    splits = {
        "train": split(range(n_train), range(n_images)),
        "valid_unseen_networks": split(range(n_train, n_nets), range(n_images)),
        "valid_unseen_images": split(range(n_train), unseen),
        "test_unseen_images": split(range(n_train), test),
        "test_unseen_networks_images": split(range(n_train, n_nets), test),
    }
    labeled = LabeledData(networks, splits, torch.tensor([0.5, 0.5, 0.5]), torch.tensor([0.25, 0.25, 0.25]),
                          valid_networks=torch.arange(n_train, n_nets))
    return unlabeled, labeled, heldout


@pytest.fixture(scope="module")
def data():
    return tiny_data()


# ----------------------------------------------------------------------------------------- schedule
def test_batch_schedule_alternates_then_fills():
    s = batch_schedule(5, 7, 2, 3)
    assert "".join("L" if x else "U" for x in s) == "LLUUULLUUULU"
    assert sum(s) == 5 and len(s) == 12
    assert batch_schedule(0, 3, 300, 200) == [False] * 3
    assert batch_schedule(4, 0, 300, 200) == [True] * 4


def test_batch_schedule_paper_ratio():
    s = batch_schedule(19000, 11907, 300, 200)
    assert sum(s) == 19000 and len(s) == 30907
    assert s[:300] == [True] * 300 and s[300:500] == [False] * 200


# ----------------------------------------------------------------------------------------- metrics
def test_per_sample_losses_match_torch():
    torch.manual_seed(0)
    pred, target = torch.randn(6, 5), torch.randn(6, 5)
    assert torch.allclose(M.per_sample_loss_fn("l1")(pred, target), F.l1_loss(pred, target, reduction="none").mean(1))
    assert torch.allclose(M.per_sample_loss_fn("mse")(pred, target), F.mse_loss(pred, target, reduction="none").mean(1))
    huber = M.per_sample_loss_fn("huber", 0.5)(pred, target)
    assert torch.allclose(huber, F.huber_loss(pred, target, reduction="none", delta=0.5).mean(1))
    with pytest.raises(InfonasError, match="labeled_loss"):
        M.per_sample_loss_fn("l3")


def test_bootstrap_ci_constant_and_normal_width():
    g = M.make_generator("cpu", 0)
    assert M.bootstrap_ci(torch.full((50,), 0.3), 100, 0.95, g) == pytest.approx((0.3, 0.3, 0.3))
    values = torch.as_tensor(np.random.default_rng(0).normal(1.0, 2.0, 4000), dtype=torch.float32)
    mean, low, high = M.bootstrap_ci(values, 400, 0.95, M.make_generator("cpu", 1))
    assert low < mean < high and mean == pytest.approx(values.mean().item(), abs=1e-6)
    normal_half_width = 1.96 * values.std().item() / math.sqrt(4000)
    assert (high - low) / 2 == pytest.approx(normal_half_width, rel=0.15)
    assert M.bootstrap_ci(values, 400, 0.95, M.make_generator("cpu", 1)) == (mean, low, high)


def test_baseline_losses_are_distance_to_the_mean_vector():
    targets = torch.tensor([[0.0, 2.0], [2.0, 2.0], [4.0, 8.0]])
    base = M.baseline_losses(targets, [M.per_sample_loss_fn("l1"), M.per_sample_loss_fn("mse")], batch_size=2)
    assert torch.allclose(base[0], torch.tensor([2.0 + 2.0, 0.0 + 2.0, 2.0 + 4.0]) / 2)
    assert torch.allclose(base[1], torch.tensor([4.0 + 4.0, 0.0 + 4.0, 4.0 + 16.0]) / 2)


def test_reconstruction_accuracy_matches_slow_reference(data):
    unlabeled, _, _ = data
    adj, ops = unlabeled.adjacency, unlabeled.ops
    torch.manual_seed(0)
    vae = ArchVAE().eval()
    ops_acc, adj_acc, ops_acc_padded = M.reconstruction_accuracy(vae, adj, ops, batch_size=10)
    with torch.no_grad():
        out = vae(adj, ops)
    hits_ops = n_ops = hits_adj = n_adj = hits_padded = 0
    for b in range(adj.shape[0]):
        for i in range(7):
            decoded = int(out.ops_logits[b, i].argmax())
            if ops[b, i] >= 0:
                n_ops += 1
                hits_ops += decoded == int(ops[b, i])
            hits_padded += decoded == max(int(ops[b, i]), 0)  # arch2vec: padding's zero row -> "input"
            for j in range(i + 1, 7):
                n_adj += 1
                hits_adj += (torch.sigmoid(out.adj_logits[b, i, j]) > 0.5).item() == bool(adj[b, i, j])
    assert ops_acc == pytest.approx(hits_ops / n_ops) and adj_acc == pytest.approx(hits_adj / n_adj)
    assert ops_acc_padded == pytest.approx(hits_padded / (7 * adj.shape[0]))


def test_padded_ops_accuracy_counts_padding_rows_as_arch2vec_does():
    """Two cells, 5 and 7 nodes: 12 real rows, 2 padding rows. Decoded: one real row wrong; one
    padding row decoded as "input" (arch2vec's argmax of a zero row: a hit), the other as conv3x3."""
    true = torch.tensor([[0, 1, 2, 3, 4, -1, -1], [0, 1, 1, 2, 2, 3, 4]], dtype=torch.int8)
    decoded = torch.tensor([[0, 1, 2, 3, 4, 0, 2], [0, 1, 1, 2, 3, 3, 4]], dtype=torch.int8)
    real_hits, all_hits = M.ops_hit_counts(decoded, true)
    assert int(real_hits) == 11 and int(all_hits) == 12
    assert int(all_hits) / true.numel() == pytest.approx(12 / 14)  # ops_acc_padded
    assert int(real_hits) / int((true >= 0).sum()) == pytest.approx(11 / 12)  # ops_acc
    perfect_real = torch.tensor([[0, 1, 2, 3, 4, 4, 4]], dtype=torch.int8)  # padding decoded as "output"
    real_hits, all_hits = M.ops_hit_counts(perfect_real, true[:1])
    assert int(real_hits) == 5 and int(all_hits) == 5  # padded accuracy capped at 5/7, the thesis' cap


def test_count_valid_unique_on_known_decodings():
    full = np.array([0, 1, 2, 3, 1, 2, 4], dtype=np.int8)
    chain = np.triu(np.ones((7, 7), dtype=np.uint8), 1) * np.eye(7, k=1, dtype=np.uint8)
    bad_ops = full.copy()
    bad_ops[3] = 4  # an output op inside the cell
    decoded_adj = np.stack([chain, chain, chain, chain])
    decoded_ops = np.stack([full, full, bad_ops, full[[0, 2, 1, 3, 4, 5, 6]]])
    validity, uniqueness, unpruned = M._count_valid_unique(decoded_adj, decoded_ops)
    assert validity == pytest.approx(3 / 4)
    assert C.cell_hash(chain, full) != C.cell_hash(chain, decoded_ops[3])
    assert uniqueness == pytest.approx(2 / 3) and unpruned == pytest.approx(2 / 3)
    validity, uniqueness, unpruned = M._count_valid_unique(decoded_adj[2:3], decoded_ops[2:3])
    assert validity == 0.0 and math.isnan(uniqueness) and math.isnan(unpruned)


def test_unpruned_uniqueness_counts_cells_that_prune_alike():
    """arch2vec's uniqueness hashes the decoded cell before pruning: a dangling vertex makes it new."""
    ops = np.array([0, 1, 2, 3, 1, 2, 4], dtype=np.int8)
    chain = np.eye(7, k=1, dtype=np.uint8)
    dangling = chain.copy()
    dangling[2, 3] = 0  # vertices 3.. no longer reached from the input ...
    dangling[2, 6] = 1  # ... except the output: 3, 4, 5 are pruned away
    dangling[3, 4] = dangling[4, 5] = dangling[5, 6] = 0
    other = dangling.copy()
    other[3, 4] = 1  # differs only among pruned vertices
    assert C.is_valid_cell(dangling, ops) and C.is_valid_cell(other, ops)
    assert C.cell_hash(dangling, ops) == C.cell_hash(other, ops)
    validity, uniqueness, unpruned = M._count_valid_unique(np.stack([dangling, other]), np.stack([ops, ops]))
    assert validity == 1.0 and uniqueness == pytest.approx(1 / 2) and unpruned == 1.0


def test_validity_uniqueness_is_seeded(data):
    unlabeled, _, _ = data
    torch.manual_seed(0)
    vae = ArchVAE()
    mu = latent_means(vae, unlabeled.adjacency, unlabeled.ops, 16)
    assert mu.shape == (64, 7, 16)
    a = M.validity_uniqueness(vae, mu, 300, M.make_generator("cpu", 3), 128)
    b = M.validity_uniqueness(vae, mu, 300, M.make_generator("cpu", 3), 128)
    assert np.array_equal(a, b, equal_nan=True) and 0.0 <= a[0] <= 1.0


# ----------------------------------------------------------------------------------------- training
def run(tmp_path, data, **overrides):
    unlabeled, labeled, heldout = data
    config = JointConfig(**{**FAST, "epochs": 2, "checkpoint_every": 1, **overrides})
    return train_joint(tmp_path, unlabeled, labeled, heldout, MODEL, config)


def test_metrics_csv_rows_and_columns(tmp_path, data):
    run(tmp_path, data)
    frame = pd.read_csv(tmp_path / "metrics.csv")
    assert list(frame.columns) == M.metric_columns(SPLITS)
    assert frame[["epoch", "model"]].values.tolist() == [[1, "infonas"], [1, "arch2vec"], [2, "infonas"], [2, "arch2vec"]]
    info, ref = frame[frame.model == "infonas"], frame[frame.model == "arch2vec"]
    labeled_cols = [c for c in frame.columns if c.startswith(("labeled_", "baseline_"))]
    assert info[labeled_cols].notna().all().all() and ref[labeled_cols].isna().all().all()
    for df in (info, ref):
        assert df[["vae_loss_labeled", "vae_loss_unlabeled", "ops_acc", "adj_acc", "validity"]].notna().all().all()
    assert (info.labeled_loss_train_ci_low <= info.labeled_loss_train).all()
    assert (info.labeled_loss_train <= info.labeled_loss_train_ci_high).all()
    assert (frame.n_labeled_steps == 6).all() and (frame.n_unlabeled_steps == 8).all()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["epoch_001.pt", "epoch_002.pt"]


def test_mse_run_reports_l1_and_mse_of_every_split_on_a_hand_computation(tmp_path, data):
    """One scale for every loss: an MSE run's metrics.csv has each split's L1 (and MSE) of the same
    predictions and of the mean-output baseline, equal to a plain forward pass scored by hand."""
    _, labeled, _ = data
    run(tmp_path, data, epochs=1, labeled_loss="mse")
    frame = pd.read_csv(tmp_path / "metrics.csv")
    row = frame[frame.model == "infonas"].iloc[0]
    assert frame.loc[frame.model == "arch2vec", "labeled_l1_train"].isna().all()
    model = InfoNAS(MODEL)
    model.load_state_dict(ckpt.load_checkpoint(tmp_path / "checkpoints/epoch_001.pt")["models"]["infonas"])
    model.eval()
    for name in SPLITS:
        split = labeled.splits[name]
        images = images_to_input(split.images[split.image_index], labeled.image_mean, labeled.image_std)
        with torch.no_grad():
            _, pred = model(labeled.networks.adjacency[split.net_index], labeled.networks.ops[split.net_index], images)
        error = pred.float() - split.targets.float()
        base_error = split.targets.float().mean(dim=0) - split.targets.float()
        assert row[f"labeled_l1_{name}"] == pytest.approx(error.abs().mean().item(), rel=1e-4)
        assert row[f"labeled_mse_{name}"] == pytest.approx(error.pow(2).mean().item(), rel=1e-4)
        assert row[f"labeled_loss_{name}"] == pytest.approx(row[f"labeled_mse_{name}"], rel=1e-5)  # trained with MSE
        assert row[f"baseline_l1_{name}"] == pytest.approx(base_error.abs().mean().item(), rel=1e-4)
        assert row[f"baseline_mse_{name}"] == pytest.approx(row[f"baseline_{name}"], rel=1e-5)


def test_reference_and_infonas_vae_start_identical_and_see_the_same_cells(data, monkeypatch):
    unlabeled, labeled, heldout = data
    trainer = J.JointTrainer(unlabeled, labeled, heldout, MODEL, JointConfig(**FAST))
    for (k, a), (_, b) in zip(trainer.main.vae.state_dict().items(), trainer.reference.state_dict().items()):
        assert torch.equal(a, b), k
    seen = {"infonas": [], "arch2vec": []}

    def spy(name, module):
        original = module.forward

        def forward(adjacency, ops, *rest):
            seen[name].append(C.cell_hash(adjacency[0].numpy(), ops[0].numpy()))
            seen[name].append(adjacency.shape[0])
            return original(adjacency, ops, *rest)

        monkeypatch.setattr(module, "forward", forward)

    spy("infonas", trainer.main.vae)
    spy("arch2vec", trainer.reference)
    trainer.run_epoch()
    assert seen["infonas"] == seen["arch2vec"]
    assert sum(seen["arch2vec"][1::2]) == len(unlabeled) + len(labeled.splits["train"])


def test_labeled_loss_falls_below_baseline(tmp_path):
    """A per-network target is learnable from Z: the eval-mode train loss ends far below the mean-vector
    baseline. (Head dropout off: at this size, 15 epochs of 12 labeled steps, dropout 0.5 only slows it.)"""
    unlabeled, labeled, heldout = tiny_data(n_images=16)
    model = dataclasses.replace(MODEL, dense_dropout=0.0)
    config = JointConfig(**{**FAST, "epochs": 15, "lr": 3e-3, "n_latent_points": 0, "checkpoint_every": 15})
    rows = train_joint(tmp_path, unlabeled, labeled, heldout, model, config)
    first, last = rows[0], [r for r in rows if r["model"] == "infonas"][-1]
    assert first["labeled_loss_train"] > 0.9 * first["baseline_train"]
    assert last["labeled_loss_train"] < 0.6 * last["baseline_train"]
    assert last["labeled_loss_train_ci_high"] < last["baseline_train_ci_low"]
    assert last["labeled_loss_valid_unseen_images"] < 0.6 * last["baseline_valid_unseen_images"]


def _weights(path):
    return ckpt.load_checkpoint(path)["models"]


def _same_rows(a, b):
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    return pd.DataFrame(strip(a)).equals(pd.DataFrame(strip(b)))


def test_resume_gives_identical_result(tmp_path, data):
    full = run(tmp_path / "full", data, epochs=3)
    first = run(tmp_path / "resumed", data, epochs=1)
    assert _same_rows(first, full[:2])
    resumed = run(tmp_path / "resumed", data, epochs=3)
    assert _same_rows(resumed, full)
    for name, state in _weights(tmp_path / "full/checkpoints/epoch_003.pt").items():
        other = _weights(tmp_path / "resumed/checkpoints/epoch_003.pt")[name]
        assert all(torch.equal(state[k], other[k]) for k in state), name
    on_disk = pd.read_csv(tmp_path / "resumed/metrics.csv").drop(columns="seconds")
    assert on_disk.equals(pd.read_csv(tmp_path / "full/metrics.csv").drop(columns="seconds"))


def test_resume_after_kill_mid_epoch(tmp_path, data, monkeypatch):
    full = run(tmp_path / "full", data, epochs=2)
    calls = {"n": 0}
    original = J.JointTrainer._unlabeled_step

    def dying(self, idx, sums):
        calls["n"] += 1
        if calls["n"] == 12:  # epoch 2 (8 unlabeled steps per epoch)
            raise KeyboardInterrupt
        return original(self, idx, sums)

    monkeypatch.setattr(J.JointTrainer, "_unlabeled_step", dying)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed", data, epochs=2)
    assert ckpt.latest_checkpoint(tmp_path / "killed/checkpoints").name == "epoch_001.pt"
    monkeypatch.setattr(J.JointTrainer, "_unlabeled_step", original)
    resumed = run(tmp_path / "killed", data, epochs=2)
    assert _same_rows(resumed, full)


def test_resume_refuses_other_settings(tmp_path, data):
    run(tmp_path, data, epochs=1)
    with pytest.raises(InfonasError, match="labeled_loss='l1', this run has 'mse'"):
        run(tmp_path, data, epochs=2, labeled_loss="mse")


def test_corrupt_checkpoint_is_reported(tmp_path):
    path = tmp_path / "epoch_001.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(InfonasError, match="epoch_001.pt"):
        ckpt.load_checkpoint(path)


def test_load_trained_models(tmp_path, data):
    run(tmp_path, data, epochs=1)
    models = ckpt.load_trained_models(tmp_path / "checkpoints/epoch_001.pt")
    assert set(models) == {"infonas", "arch2vec"} and not models["arch2vec"].training
    unlabeled = data[0]
    mu, _ = models["arch2vec"].encode(unlabeled.adjacency[:3], unlabeled.ops[:3])
    assert mu.shape == (3, 7, 16)


def test_plain_arch2vec_run(tmp_path, data):
    unlabeled, _, heldout = data
    config = JointConfig(**{**FAST, "epochs": 1})
    rows = train_joint(tmp_path, unlabeled, None, heldout, MODEL, config)
    assert [r["model"] for r in rows] == ["arch2vec"] and rows[0]["n_labeled_steps"] == 0
    frame = pd.read_csv(tmp_path / "metrics.csv")
    assert list(frame.columns) == M.metric_columns([])


def test_op_embedding_option_in_joint_training(tmp_path, data):
    unlabeled, labeled, heldout = data
    model = InfoNASConfig(**{**MODEL.to_dict(), "vae": {**MODEL.vae.to_dict(), "op_embedding_dim": 3}})
    config = JointConfig(**{**FAST, "epochs": 1})
    rows = train_joint(tmp_path, unlabeled, labeled, heldout, model, config)
    assert all(math.isfinite(r["vae_loss_unlabeled"]) for r in rows)
    state = ckpt.load_checkpoint(tmp_path / "checkpoints/epoch_001.pt")
    assert state["models"]["infonas"]["vae.op_table"].shape == (5, 3)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda u, l: l.splits["train"].net_index.__setitem__(0, 99), "net_index out of range"),
        (lambda u, l: u.ops.__setitem__((0, 1), 7), "op codes"),
        (lambda u, l: setattr(l.splits["train"], "targets", torch.zeros(48, 5)), r"targets must be \(N, 9\)"),
        (lambda u, l: l.splits["train"].targets.__setitem__((1, 1), float("nan")), "NaN"),
    ],
)
def test_bad_input_is_reported(tmp_path, mutate, message):
    unlabeled, labeled, heldout = tiny_data()
    mutate(unlabeled, labeled)
    with pytest.raises(InfonasError, match=message):
        train_joint(tmp_path, unlabeled, labeled, heldout, MODEL, JointConfig(**FAST))
    assert not (tmp_path / "metrics.csv").exists()


def test_eval_max_samples_caps_every_evaluation_set(data):
    unlabeled, labeled, heldout = data
    trainer = J.JointTrainer(unlabeled, labeled, heldout, MODEL, JointConfig(**{**FAST, "eval_max_samples": 10}))
    for key, sub in trainer._eval_subsets.items():
        assert sub is not None and sub.numel() == 10 and torch.equal(sub, sub.unique()), key
    row = trainer.evaluate(trainer.run_epoch())[0]
    assert math.isfinite(row["labeled_loss_train"]) and math.isfinite(row["adj_acc"])


def test_vae_train_mode_epochs_freezes_the_vaes_after_them(data):
    """arch2vec's released schedule: batch statistics in epoch 1, eval mode (frozen BN, no noise) after,
    while the weights keep learning and the regressor stays in train mode."""
    unlabeled, labeled, heldout = data
    trainer = J.JointTrainer(unlabeled, labeled, heldout, MODEL, JointConfig(**FAST, vae_train_mode_epochs=1))
    stats = lambda: [v.norms[0].running_mean.clone() for v in trainer.vaes()]  # noqa: E731
    before = stats()
    trainer.run_epoch()
    after_first = stats()
    assert all(not torch.equal(a, b) for a, b in zip(before, after_first))
    weights = [v.fc_mu.weight.clone() for v in trainer.vaes()]
    trainer.run_epoch()
    assert all(torch.equal(a, b) for a, b in zip(after_first, stats()))
    assert all(not torch.equal(w, v.fc_mu.weight) for w, v in zip(weights, trainer.vaes()))
    assert not any(v.training for v in trainer.vaes()) and trainer.main.head.training


def test_vae_train_mode_epochs_is_validated():
    with pytest.raises(InfonasError, match="vae_train_mode_epochs"):
        JointConfig(vae_train_mode_epochs=0)


def test_adjacency_ceiling_counts_pairs_the_encoder_cannot_separate():
    chain = np.eye(7, k=1, dtype=np.uint8)
    ops = np.array([[0, 1, 2, 3, 1, 2, 4]], dtype=np.int8)
    assert M.adjacency_ceiling(chain[None], ops, rounds=4) == 1.0
    # input -> a, input -> b, a -> output, b -> output, a and b both conv3x3, 3 padding nodes:
    # (a, b) and the 3 padding pairs share a colour and have no edge.
    branches = np.zeros((7, 7), dtype=np.uint8)
    branches[0, 1] = branches[0, 2] = branches[1, 3] = branches[2, 3] = 1
    two = np.array([[0, 2, 2, 4, -1, -1, -1]], dtype=np.int8)
    assert M.adjacency_ceiling(branches[None], two, rounds=4) == pytest.approx(1 - 4 / 21)
    mixed = np.array([[0, 1, 2, 4, -1, -1, -1]], dtype=np.int8)  # different ops: only padding pairs
    both = M.adjacency_ceiling(np.stack([branches, branches]), np.concatenate([two, mixed]), rounds=4)
    assert both == pytest.approx(1 - 7 / 42)


# ----------------------------------------------------------------------------------------- optimisers
def _adam_steps(opt, param) -> int:
    return int(opt.state[param]["step"]) if param in opt.state else 0


def test_two_optimizers_as_info_nas_trainer(data):
    """info-NAS' trainer: the shared VAE's own Adam (vae_lr) on unlabeled batches, a second Adam over
    VAE + regressor (lr) on labeled ones, arch2vec's own Adam for the reference on every batch."""
    unlabeled, labeled, heldout = data
    trainer = J.JointTrainer(unlabeled, labeled, heldout, MODEL, JointConfig(**FAST, lr=2e-3, vae_lr=5e-4))
    opts = trainer.optimizers
    assert set(opts) == {"infonas", "infonas_vae", "arch2vec"}
    params = lambda name: {id(p) for g in opts[name].param_groups for p in g["params"]}  # noqa: E731
    assert params("infonas") == {id(p) for p in trainer.main.parameters()}
    assert params("infonas_vae") == {id(p) for p in trainer.main.vae.parameters()}
    assert params("arch2vec") == {id(p) for p in trainer.reference.parameters()}
    lrs = {name: opt.param_groups[0]["lr"] for name, opt in opts.items()}
    assert lrs == {"infonas": 2e-3, "infonas_vae": 5e-4, "arch2vec": 5e-4}
    stats = trainer.run_epoch()
    vae_param, head_param = trainer.main.vae.fc_mu.weight, trainer.main.head[0].weight
    n_lab, n_unl = stats["n_labeled_steps"], stats["n_unlabeled_steps"]
    assert _adam_steps(opts["infonas"], vae_param) == n_lab and _adam_steps(opts["infonas"], head_param) == n_lab
    assert _adam_steps(opts["infonas_vae"], vae_param) == n_unl
    assert _adam_steps(opts["arch2vec"], trainer.reference.fc_mu.weight) == n_lab + n_unl


def test_one_optimizer_option_steps_vae_and_regressor_together(data):
    unlabeled, labeled, heldout = data
    trainer = J.JointTrainer(unlabeled, labeled, heldout, MODEL, JointConfig(**FAST, optimizers="one"))
    assert set(trainer.optimizers) == {"infonas", "arch2vec"}
    stats = trainer.run_epoch()
    opt = trainer.optimizers["infonas"]
    assert _adam_steps(opt, trainer.main.vae.fc_mu.weight) == stats["n_labeled_steps"] + stats["n_unlabeled_steps"]
    assert _adam_steps(opt, trainer.main.head[0].weight) == stats["n_labeled_steps"]


def test_plain_arch2vec_uses_the_vae_learning_rate(data):
    unlabeled, _, heldout = data
    trainer = J.JointTrainer(unlabeled, None, heldout, MODEL, JointConfig(**FAST, lr=1e-2, vae_lr=2e-4))
    assert list(trainer.optimizers) == ["arch2vec"] and trainer.optimizers["arch2vec"].param_groups[0]["lr"] == 2e-4


def test_reference_loss_on_labeled_batches_is_scaled_by_the_vae_weight(data, monkeypatch):
    """info-NAS' trainer trains the reference on labeled batches with loss_vae_weight * its VAE loss."""
    unlabeled, labeled, heldout = data
    trainer = J.JointTrainer(unlabeled, labeled, heldout, MODEL, JointConfig(**FAST, vae_weight=0.25))
    stepped = []
    original = J.JointTrainer._step
    monkeypatch.setattr(J.JointTrainer, "_step",
                        lambda self, name, loss: (stepped.append((name, loss.item())), original(self, name, loss)))
    sums = torch.zeros(5)
    trainer._labeled_step(torch.arange(8), sums)
    trainer._unlabeled_step(torch.arange(8), sums)
    names = [n for n, _ in stepped]
    assert names == ["infonas", "arch2vec", "infonas_vae", "arch2vec"]
    assert stepped[1][1] == pytest.approx(0.25 * sums[3].item())  # labeled batch: weighted
    assert stepped[3][1] == pytest.approx(sums[4].item())  # unlabeled batch: unweighted
    assert stepped[2][1] == pytest.approx(sums[1].item())


def test_checkpoint_holds_every_optimizer_and_refuses_another_setup(tmp_path, data):
    run(tmp_path, data, epochs=1)
    state = ckpt.load_checkpoint(tmp_path / "checkpoints/epoch_001.pt")
    assert set(state["optimizers"]) == {"infonas", "infonas_vae", "arch2vec"}
    assert all(s["state"] for s in state["optimizers"].values())
    with pytest.raises(InfonasError, match="optimizers='two', this run has 'one'"):
        run(tmp_path, data, epochs=2, optimizers="one")


def test_joint_config_validates_optimizer_settings():
    with pytest.raises(InfonasError, match="JointConfig.optimizers"):
        JointConfig(optimizers="three")
    with pytest.raises(InfonasError, match="JointConfig.vae_lr"):
        JointConfig(vae_lr=0.0)


# ----------------------------------------------------------------------------------------- evaluation
def test_labeled_split_losses_match_a_plain_forward(data):
    """Features cached per network and per image give the per-sample losses of a full eval forward."""
    _, labeled, _ = data
    torch.manual_seed(0)
    model = InfoNAS(MODEL)
    split = labeled.splits["test_unseen_images"]
    to_input = lambda ii: images_to_input(split.images[ii], labeled.image_mean, labeled.image_std)  # noqa: E731
    loss_fn, mse = M.per_sample_loss_fn("l1"), M.per_sample_loss_fn("mse")
    fast = M.labeled_split_losses(model, labeled.networks.adjacency, labeled.networks.ops, split.net_index,
                                  split.image_index, split.targets, to_input, [loss_fn, mse], batch_size=5)
    model.eval()
    with torch.no_grad():
        net = split.net_index
        _, pred = model(labeled.networks.adjacency[net], labeled.networks.ops[net], to_input(split.image_index))
    assert torch.allclose(fast[0], loss_fn(pred, split.targets), rtol=1e-5, atol=1e-6)
    assert torch.allclose(fast[1], mse(pred, split.targets), rtol=1e-5, atol=1e-6)


def test_batch_median_is_the_median_of_batch_means():
    losses = torch.tensor([1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 10.0])
    assert M.batch_median(losses, 3) == pytest.approx(3.0)  # batch means 1, 3, 10 (last batch short)
    assert M.batch_median(torch.tensor([4.0, 1.0, 3.0, 2.0]), 1) == pytest.approx(2.5)  # numpy's median
    assert M.batch_median(torch.tensor([1.0, 2.0, 6.0, 7.0]), 2) == pytest.approx(4.0)
    assert math.isnan(M.batch_median(torch.zeros(0), 4))


def test_every_split_is_scored_with_its_median_and_valid_network_reconstruction(data):
    unlabeled, labeled, heldout = data
    trainer = J.JointTrainer(unlabeled, labeled, heldout, MODEL, JointConfig(**FAST))
    info, ref = trainer.evaluate(trainer.run_epoch())
    for split in SPLITS:
        assert math.isfinite(info[f"labeled_loss_{split}_median"]) and math.isfinite(info[f"baseline_{split}_median"])
    s = labeled.splits["test_unseen_networks_images"]
    to_input = lambda ii: images_to_input(s.images[ii], labeled.image_mean, labeled.image_std)  # noqa: E731
    losses = M.labeled_split_losses(trainer.main, labeled.networks.adjacency, labeled.networks.ops, s.net_index,
                                    s.image_index, s.targets, to_input, [trainer.loss_fn], 64)[0]
    batch_means = [losses[i:i + FAST["batch_size"]].mean().item() for i in range(0, len(losses), FAST["batch_size"])]
    assert info["labeled_loss_test_unseen_networks_images_median"] == pytest.approx(np.median(batch_means), rel=1e-5)
    rows = labeled.valid_networks
    for row, vae in ((info, trainer.main_vae), (ref, trainer.reference)):
        expected = M.reconstruction_accuracy(vae, labeled.networks.adjacency[rows], labeled.networks.ops[rows], 64)
        assert (row["ops_acc_valid_networks"], row["adj_acc_valid_networks"],
                row["ops_acc_padded_valid_networks"]) == pytest.approx(expected)


def test_plain_arch2vec_has_no_valid_network_reconstruction(data):
    unlabeled, _, heldout = data
    trainer = J.JointTrainer(unlabeled, None, heldout, MODEL, JointConfig(**FAST))
    row = trainer.evaluate(trainer.run_epoch())[0]
    assert math.isnan(row["ops_acc_valid_networks"]) and math.isfinite(row["ops_acc"])


def test_valid_networks_out_of_range_is_reported(tmp_path):
    unlabeled, labeled, heldout = tiny_data()
    labeled.valid_networks = torch.tensor([0, 99])
    with pytest.raises(InfonasError, match="valid_networks out of range"):
        train_joint(tmp_path, unlabeled, labeled, heldout, MODEL, JointConfig(**FAST))


# ----------------------------------------------------------------------------------------- the train stage
def _stage_world():
    """A 12-row search space (rows 0-8 arch2vec train split, 9-11 test split) and an IO dataset whose
    train networks are rows 1, 4 and valid network row 10, with every one of the five splits."""
    from infonas.data.io_dataset import IO_SPLITS, IODataset, IOSplit
    from infonas.searchspace.store import SPLIT_TEST, SPLIT_TRAIN

    adj, ops = random_cells(12, seed=5)
    hashes = np.asarray([f"{i:032x}" for i in range(12)], dtype="S32")
    space = {"hash": hashes, "adjacency": adj, "ops": ops,
             "split": np.array([SPLIT_TRAIN] * 9 + [SPLIT_TEST] * 3, dtype=np.int8)}
    nets = [1, 4, 10]
    split = lambda name, group: IOSplit(name, group, np.array([0, 1, 2], np.int32), np.array([0, 1, 0], np.int32),  # noqa: E731
                                        np.zeros((3, 9), np.float16), adj[nets], ops[nets])
    splits = {name: split(name, "valid" if name in ("train", "valid_unseen_networks") else "test_2k")
              for name in IO_SPLITS}
    dataset = IODataset(hashes[nets], np.array(["train", "train", "valid"]), adj[nets], ops[nets], splits,
                        "axisnull-multiply", 1, 0.1)
    images = {group: {"images": np.zeros((2, 8, 8, 3), np.uint8)} for group in ("valid", "test_2k")}
    return space, dataset, dict(images, mean=np.full(3, 0.5), std=np.full(3, 0.25))


def _hashes(cells: CellSet, space) -> set:
    rows = {(a.tobytes(), o.tobytes()): h for a, o, h in zip(space["adjacency"], space["ops"], space["hash"])}
    return {rows[(a.numpy().tobytes(), o.numpy().tobytes())] for a, o in zip(cells.adjacency, cells.ops)}


def test_remove_labeled_takes_the_io_networks_out_of_the_cell_pools():
    """info-NAS' remove_labeled (default true): train networks leave the unlabeled cells, valid networks
    the held-out cells; off, or for plain arch2vec, the pools stay whole."""
    from infonas.training.run import cell_pools

    space, dataset, _ = _stage_world()
    unlabeled, heldout = cell_pools(space, dataset, "infonas", remove_labeled=True)
    assert _hashes(unlabeled, space) == {space["hash"][i] for i in (0, 2, 3, 5, 6, 7, 8)}
    assert _hashes(heldout, space) == {space["hash"][i] for i in (9, 11)}
    for model, remove in (("infonas", False), ("arch2vec", True)):
        unlabeled, heldout = cell_pools(space, None if model == "arch2vec" else dataset, model, remove)
        assert len(unlabeled) == 9 and len(heldout) == 3


def test_labeled_data_scores_all_five_splits_and_knows_the_valid_networks():
    from infonas.data.io_dataset import IO_SPLITS
    from infonas.training.run import EVALUATED_SPLITS, labeled_data

    _, dataset, images = _stage_world()
    labeled = labeled_data(dataset, images)
    assert tuple(labeled.splits) == EVALUATED_SPLITS == IO_SPLITS
    assert labeled.valid_networks.tolist() == [2]


def test_model_configs_route_the_new_train_keys():
    from infonas.training.run import model_configs

    settings = {"op_embedding_dim": 3, "ops_activation": "softmax", "remove_labeled": False, "regressor": {},
                "lr": 1e-4, "vae_lr": 1e-3, "optimizers": "one", "epochs": 2}
    model_config, joint = model_configs("infonas", settings, seed=3, out_features=9)
    assert model_config.vae.ops_activation == "softmax" and model_config.vae.op_embedding_dim is None
    assert (joint.lr, joint.vae_lr, joint.optimizers, joint.seed) == (1e-4, 1e-3, "one", 3)
