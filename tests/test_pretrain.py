"""Pretraining on the device-resident pipeline: augmentation, training, resume, errors (CPU, tiny nets)."""

import json
import logging

import h5py
import numpy as np
import pytest
import torch

from infonas.data.images import load_images
from infonas.errors import InfonasError
from infonas.nets import pretrain
from infonas.evaluation.benchmark import training_cost_s
from infonas.nets.pretrain import (
    DeviceImages,
    PretrainConfig,
    Trainer,
    build_network,
    crop_flip,
    missing_compiler,
    pretrain_network,
    read_split,
    sample_augmentation,
    to_input,
    train_batches,
)
from infonas.searchspace import cells

torch.set_num_threads(1)

# input -> conv3x3 -> maxpool -> output, plus input -> output (4 vertices, padded to 7).
ADJ, OPS = cells.pad_cell(np.array([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]), [0, 2, 3, 4])
TINY = dict(batch_size=32, stem_channels=8, num_stacks=1, modules_per_stack=1, eval_batch_size=64, lr=0.05)


def write_images(path, n_train=96, seed=0):
    """images.h5 per the contract; each class has its own colour plus noise, so it is learnable."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, size=(10, 3))
    with h5py.File(path, "w") as f:
        for name, n in (("train", n_train), ("valid", 40), ("test", 40), ("test_2k", 30)):
            labels = rng.integers(0, 10, n).astype(np.int64)
            images = colours[labels][:, None, None, :] + rng.normal(0, 30, (n, 32, 32, 3))
            group = f.create_group(name)
            group["images"] = np.clip(images, 0, 255).astype(np.uint8)
            group["labels"] = labels
        f.attrs["mean"] = np.array([0.5, 0.4, 0.3])
        f.attrs["std"] = np.array([0.25, 0.2, 0.3])
        f.attrs["source"] = "test"
        f.attrs["n_classes"] = 10
    return path


@pytest.fixture(scope="module")
def images_h5(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("images") / "images.h5")


def random_batch(n=6, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8))


# ------------------------------------------------------------------------------ augmentation


def reference_crop_flip(batch, oy, ox, flips, padding):
    """One sample at a time, the way torchvision's RandomCrop(padding) + RandomHorizontalFlip do it."""
    out = []
    for image, y, x, flip in zip(batch.numpy(), oy.tolist(), ox.tolist(), flips.tolist()):
        padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))
        crop = padded[y : y + 32, x : x + 32]
        out.append(crop[:, ::-1] if flip else crop)
    return np.stack(out)


def test_crop_flip_matches_per_sample_reference():
    batch = random_batch(8)
    oy, ox, flips = sample_augmentation(8, 4, True, torch.Generator().manual_seed(3))
    out = crop_flip(batch, oy, ox, flips, padding=4)
    assert out.shape == (8, 32, 32, 3) and out.dtype == torch.uint8
    np.testing.assert_array_equal(out.numpy(), reference_crop_flip(batch, oy, ox, flips, 4))


def test_centre_crop_is_identity_and_flip_is_exact_mirror():
    batch = random_batch(5)
    centre = torch.full((5,), 4)
    no_flip = torch.zeros(5, dtype=torch.bool)
    assert torch.equal(crop_flip(batch, centre, centre, no_flip, padding=4), batch)
    oy, ox, _ = sample_augmentation(5, 4, True, torch.Generator().manual_seed(1))
    plain = crop_flip(batch, oy, ox, no_flip, padding=4)
    mirrored = crop_flip(batch, oy, ox, ~no_flip, padding=4)
    assert torch.equal(mirrored, plain.flip(2))
    # a corner crop shows the zero padding: offset 0 puts 4 padding rows and columns at the top left
    corner = crop_flip(batch, torch.zeros(5, dtype=torch.long), torch.zeros(5, dtype=torch.long), no_flip, 4)
    assert not corner[:, :4].any() and not corner[:, :, :4].any()
    assert torch.equal(corner[:, 4:, 4:], batch[:, :28, :28])


def test_augmentation_draws_are_seeded_and_in_range():
    a = sample_augmentation(400, 4, True, torch.Generator().manual_seed(7))
    b = sample_augmentation(400, 4, True, torch.Generator().manual_seed(7))
    c = sample_augmentation(400, 4, True, torch.Generator().manual_seed(8))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    oy, ox, flips = a
    assert set(oy.tolist()) == set(range(9)) and set(ox.tolist()) == set(range(9))
    assert 0 < flips.sum() < 400
    assert not sample_augmentation(50, 4, False, torch.Generator().manual_seed(7))[2].any()


def test_to_input_normalises_like_totensor_normalize():
    batch = random_batch(3)
    mean, std = np.array([0.5, 0.4, 0.3]), np.array([0.25, 0.2, 0.3])
    data = DeviceImages.upload(batch.numpy(), np.zeros(3), mean, std, "cpu")
    x = to_input(batch, data, channels_last=False)
    expected = (batch.permute(0, 3, 1, 2).double() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(
        std
    ).view(1, 3, 1, 1)
    assert x.shape == (3, 3, 32, 32) and x.dtype == torch.float32
    torch.testing.assert_close(x.double(), expected, atol=1e-5, rtol=0)
    assert to_input(batch, data, channels_last=True).is_contiguous(memory_format=torch.channels_last)


def test_train_batches_cover_the_split_once_in_a_seeded_order():
    images = random_batch(70, seed=2).numpy()
    data = DeviceImages.upload(images, np.arange(70), [0.5] * 3, [0.25] * 3, "cpu")
    config = PretrainConfig(batch_size=32, crop_padding=0, flip=False)

    def epoch(seed):
        return list(train_batches(data, config, torch.Generator().manual_seed(seed), channels_last=False))

    first, again, other = epoch(0), epoch(0), epoch(1)
    assert [len(y) for _, y in first] == [32, 32, 6]
    labels = torch.cat([y for _, y in first])
    assert sorted(labels.tolist()) == list(range(70))
    # without augmentation each input is exactly its (normalised) image
    full = to_input(data.images, data, channels_last=False)
    assert torch.equal(torch.cat([x for x, _ in first]), full[labels])
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(first, again))
    assert not torch.equal(labels, torch.cat([y for _, y in other]))


# ------------------------------------------------------------------------------ training


def test_pretrain_learns_and_writes_outputs(tmp_path, images_h5):
    config = PretrainConfig(epochs=4, **TINY)
    weights, metrics_path = tmp_path / "net.pt", tmp_path / "net.json"
    metrics = pretrain_network(ADJ, OPS, images_h5, weights, metrics_path, config, seed=1)
    assert metrics == json.loads(metrics_path.read_text())
    assert metrics["hash"] == cells.cell_hash(ADJ, OPS)
    assert metrics["settings"] == config.as_dict() and metrics["seed"] == 1
    assert len(metrics["train_loss"]) == len(metrics["valid_accuracy_per_epoch"]) == 4
    assert metrics["train_loss"][-1] < metrics["train_loss"][0] - 0.1
    # colours separate the classes: well above the 10% of guessing after 4 epochs
    assert metrics["valid_accuracy"] > 0.3
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["images_per_s"] > 0
    assert [e["lr"] for e in metrics["per_epoch"]][0] == pytest.approx(0.05)
    assert metrics["per_epoch"][-1]["lr"] == pytest.approx(0.05 * (1 + np.cos(np.pi * 3 / 4)) / 2)
    assert not (tmp_path / "net.pt.ckpt").exists()
    net, _ = build_network(ADJ, OPS, config)
    net.load_state_dict(torch.load(weights, weights_only=True))


def test_running_mean_after_training_estimates_the_training_data_not_the_last_batch(images_h5):
    """Eval mode (the pretrain stage's accuracies, every extracted output) normalises with the running
    statistics. With PyTorch's momentum 0.1 they average many batches; 0.997 (NB-101's TensorFlow decay
    read in PyTorch's convention) would leave the last batch's. Checked on the stem BN, whose input
    conv(x) has one well-defined mean over the whole train split."""
    config = PretrainConfig(epochs=4, **{**TINY, "batch_size": 8, "crop_padding": 0, "flip": False})
    trainer = Trainer(ADJ, OPS, config, "cpu", seed=0)
    conv, bn = trainer.model.layers[0].conv_bn_relu[:2]
    last_batch = {}
    bn.register_forward_pre_hook(lambda module, inputs: last_batch.update(mean=inputs[0].mean(dim=(0, 2, 3))))
    train, _ = read_split(images_h5, "train", "cpu")
    for _ in range(config.epochs):
        trainer.run_epoch(train)
        trainer.scheduler.step()
    with torch.no_grad():
        data_mean = conv(to_input(train.images, train, channels_last=False)).mean(dim=(0, 2, 3))
    error = torch.linalg.vector_norm(bn.running_mean - data_mean)
    last_batch_error = torch.linalg.vector_norm(last_batch["mean"].detach() - data_mean)
    assert error < 0.5 * last_batch_error


def test_batchnorm_settings_reach_every_layer():
    def settings(net):
        return {(m.momentum, m.eps) for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)}

    default, _ = build_network(ADJ, OPS, PretrainConfig(**TINY))
    assert settings(default) == {(0.1, 1e-5)}  # PyTorch's defaults, as info-NAS trained
    other, _ = build_network(ADJ, OPS, PretrainConfig(**TINY, bn_momentum=0.997, bn_eps=1e-3))
    assert settings(other) == {(0.997, 1e-3)}
    for bad in ({"bn_momentum": 0.0}, {"bn_momentum": 1.5}, {"bn_eps": 0.0}):
        with pytest.raises(InfonasError, match="bn_momentum"):
            PretrainConfig(**bad)


def test_resume_after_kill_gives_identical_weights(tmp_path, images_h5):
    config = PretrainConfig(epochs=2, **TINY)
    straight = pretrain_network(ADJ, OPS, images_h5, tmp_path / "a.pt", tmp_path / "a.json", config, seed=3)

    class Killed(Exception):
        pass

    def kill_after_first(epoch, record):
        if epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        pretrain_network(ADJ, OPS, images_h5, tmp_path / "b.pt", tmp_path / "b.json", config, seed=3,
                         on_epoch_end=kill_after_first)
    assert (tmp_path / "b.pt.ckpt").exists()
    assert not (tmp_path / "b.pt").exists() and not (tmp_path / "b.json").exists()
    resumed = pretrain_network(ADJ, OPS, images_h5, tmp_path / "b.pt", tmp_path / "b.json", config, seed=3)
    assert resumed["resumed_from_epoch"] == 1 and straight["resumed_from_epoch"] == 0
    assert resumed["train_loss"] == straight["train_loss"]
    assert resumed["test_accuracy"] == straight["test_accuracy"]
    # the benchmark's training cost counts FLOPs, so the interrupted run costs what the straight one does
    assert resumed["train_time_s"] != straight["train_time_s"]
    assert training_cost_s(resumed) == training_cost_s(straight) > 0
    assert straight["train_images"] == len(load_images(images_h5, ["train"])["train"]["labels"])
    a = torch.load(tmp_path / "a.pt", weights_only=True)
    b = torch.load(tmp_path / "b.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "b.pt.ckpt").exists()


def test_checkpoint_from_other_settings_is_ignored(tmp_path, images_h5):
    def kill(epoch, record):
        raise KeyboardInterrupt

    config = PretrainConfig(epochs=2, **TINY)
    with pytest.raises(KeyboardInterrupt):
        pretrain_network(ADJ, OPS, images_h5, tmp_path / "c.pt", tmp_path / "c.json", config, seed=3, on_epoch_end=kill)
    metrics = pretrain_network(ADJ, OPS, images_h5, tmp_path / "c.pt", tmp_path / "c.json", config, seed=4)
    assert metrics["resumed_from_epoch"] == 0 and len(metrics["train_loss"]) == 2


def test_nan_loss_names_hash_and_epoch(tmp_path, images_h5):
    config = PretrainConfig(epochs=2, **{**TINY, "lr": 1e30})
    with pytest.raises(InfonasError, match=f"{cells.cell_hash(ADJ, OPS)}.*epoch 1"):
        pretrain_network(ADJ, OPS, images_h5, tmp_path / "n.pt", tmp_path / "n.json", config)
    assert not (tmp_path / "n.pt").exists() and not (tmp_path / "n.json").exists()


def test_bad_inputs_raise_infonas_error(tmp_path, images_h5):
    with pytest.raises(InfonasError, match="batch_size"):
        PretrainConfig(batch_size=0)
    with pytest.raises(InfonasError, match="not a valid NB-101 cell"):
        build_network(np.zeros((7, 7)), [0, 2, 4, -1, -1, -1, -1], PretrainConfig())
    with pytest.raises(InfonasError, match="missing.ini"):
        pretrain_network(ADJ, OPS, tmp_path / "missing.ini", tmp_path / "x.pt", tmp_path / "x.json",
                         PretrainConfig(**TINY))


def test_build_network_is_seeded_and_leaves_global_rng_alone():
    config = PretrainConfig(**TINY)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, hash_a = build_network(ADJ, OPS, config, seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    b, _ = build_network(ADJ, OPS, config, seed=5)
    c, _ = build_network(ADJ, OPS, config, seed=6)
    assert hash_a == cells.cell_hash(ADJ, OPS)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.classifier.in_features == 8


# ------------------------------------------------------------------------------ torch.compile fallback


def compile_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "pretrain.compile" in r.getMessage()]


def train_both(tmp_path, images_h5, **settings) -> tuple[dict, dict]:
    """(weights, metrics) of a 1-epoch pretraining with compile on, as the run's outputs hold them."""
    config = PretrainConfig(epochs=1, compile=True, **{**TINY, **settings})
    metrics = pretrain_network(ADJ, OPS, images_h5, tmp_path / "c.pt", tmp_path / "c.json", config, seed=2)
    return torch.load(tmp_path / "c.pt", weights_only=True), metrics


def eager_reference(tmp_path, images_h5) -> dict:
    config = PretrainConfig(epochs=1, **TINY)
    pretrain_network(ADJ, OPS, images_h5, tmp_path / "e.pt", tmp_path / "e.json", config, seed=2)
    return torch.load(tmp_path / "e.pt", weights_only=True)


def test_missing_compiler_names_the_compiler_torch_would_use(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.delenv("CC", raising=False)
    assert "C++ compiler (g++)" in missing_compiler("cpu") and "C compiler (gcc or clang)" in missing_compiler("cuda")
    fake = tmp_path / "my-cxx"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", "my-cxx")
    assert missing_compiler("cpu") is None
    monkeypatch.setenv("CC", "absent-cc")
    assert "absent-cc" in missing_compiler("cuda")


def test_compile_without_a_compiler_warns_in_one_line_and_trains_eager(tmp_path, images_h5, monkeypatch, caplog):
    reference = eager_reference(tmp_path, images_h5)
    monkeypatch.setenv("PATH", str(tmp_path))  # no g++ there
    monkeypatch.delenv("CXX", raising=False)
    with caplog.at_level(logging.WARNING):
        weights, metrics = train_both(tmp_path, images_h5)
    warnings = compile_warnings(caplog)
    assert len(warnings) == 1 and "\n" not in warnings[0] and "no C++ compiler (g++)" in warnings[0], warnings
    assert "Traceback" not in caplog.text
    assert all(torch.equal(weights[k], reference[k]) for k in reference)  # eager, as without compile
    assert metrics["settings"]["compile"] is True and len(metrics["train_loss"]) == 1


def test_compile_failing_at_its_first_call_warns_in_one_line_and_trains_eager(tmp_path, images_h5, monkeypatch,
                                                                              caplog):
    """A compiler that passes the up-front check but fails when torch.compile builds the first graph
    (lazily, inside the first training step): the step reruns eager, and so does the rest of the job."""
    reference = eager_reference(tmp_path, images_h5)

    def broken_backend(graph, example_inputs):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nsecond line")

    real_compile = torch.compile
    monkeypatch.setattr(pretrain, "missing_compiler", lambda device_type: None)
    monkeypatch.setattr(torch, "compile", lambda model: real_compile(model, backend=broken_backend))
    with caplog.at_level(logging.WARNING):
        weights, metrics = train_both(tmp_path, images_h5)
    warnings = compile_warnings(caplog)
    assert len(warnings) == 1 and "\n" not in warnings[0] and "torch.compile failed" in warnings[0], warnings
    assert "No working C++ compiler" in warnings[0] and "Traceback" not in caplog.text
    assert all(torch.equal(weights[k], reference[k]) for k in reference)
    assert 0 <= metrics["valid_accuracy"] <= 1
