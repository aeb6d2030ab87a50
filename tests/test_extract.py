"""Extraction of pooled features, logits and classifier weights into an IO shard (CPU, tiny nets)."""

import copy
import dataclasses

import h5py
import numpy as np
import pytest
import torch

from infonas.data.io_store import read_shard
from infonas.errors import InfonasError
from infonas.nets.extract import extract_outputs, pooled_features
from infonas.nets.pretrain import PretrainConfig, build_network
from infonas.searchspace import cells

torch.set_num_threads(1)

# input -> conv1x1 -> conv3x3 -> output, plus input -> output.
ADJ, OPS = cells.pad_cell(np.array([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]), [0, 1, 2, 4])
CONFIG = PretrainConfig(stem_channels=8, num_stacks=2, modules_per_stack=1)
MEAN, STD = np.array([0.5, 0.4, 0.3]), np.array([0.25, 0.2, 0.3])


@pytest.fixture(scope="module")
def images_h5(tmp_path_factory):
    path = tmp_path_factory.mktemp("images") / "images.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for name, n in (("train", 8), ("valid", 23), ("test", 8), ("test_2k", 17)):
            group = f.create_group(name)
            group["images"] = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
            group["labels"] = rng.integers(0, 10, n).astype(np.int64)
        f.attrs.update({"mean": MEAN, "std": STD, "source": "test", "n_classes": 10})
    return path


@pytest.fixture(scope="module")
def trained_weights(tmp_path_factory):
    """A network whose BN running statistics moved away from their init, saved like pretraining does."""
    net, _ = build_network(ADJ, OPS, CONFIG, seed=2)
    with torch.no_grad():
        net(torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 + 1)
    path = tmp_path_factory.mktemp("weights") / "net.pt"
    torch.save(net.state_dict(), path)
    return path, net.eval()


def normalised(images):
    x = torch.from_numpy(images).permute(0, 3, 1, 2).double() / 255
    return ((x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)).float()


def test_shard_holds_pooled_features_logits_and_classifier(tmp_path, images_h5, trained_weights):
    weights, net = trained_weights
    out = tmp_path / "io" / "shard.h5"
    module_hash = extract_outputs(weights, ADJ, OPS, images_h5, out, device="cpu", batch_size=10, config=CONFIG)
    shard = read_shard(out)
    assert module_hash == shard["hash"] == cells.cell_hash(ADJ, OPS)
    w, b = shard["weight"], shard["bias"]
    np.testing.assert_array_equal(w, net.classifier.weight.detach().numpy())
    np.testing.assert_array_equal(b, net.classifier.bias.detach().numpy())
    with h5py.File(images_h5) as f:
        for split, n in (("valid", 23), ("test_2k", 17)):
            part = shard[split]
            assert part["features"].shape == (n, 16) and part["logits"].shape == (n, 10)
            np.testing.assert_array_equal(part["labels"], f[split]["labels"][()])
            # logits are the classifier applied to the stored features
            np.testing.assert_allclose(part["logits"], part["features"] @ w.T + b, atol=1e-5)
            # and equal the untouched network's forward on normalised, un-augmented images (eval mode)
            with torch.no_grad():
                expected = net(normalised(f[split]["images"][()])).numpy()
            np.testing.assert_allclose(part["logits"], expected, atol=1e-4)
            assert (part["features"] >= 0).all()  # the pool averages ReLU outputs


def test_extraction_rebuilds_batchnorm_with_the_configured_eps(tmp_path, images_h5, trained_weights):
    """eps is not in the weights file: extraction must take it from the pretrain settings."""
    weights, net = trained_weights
    wide = dataclasses.replace(CONFIG, bn_eps=0.5)
    extract_outputs(weights, ADJ, OPS, images_h5, tmp_path / "wide.h5", config=wide)
    extract_outputs(weights, ADJ, OPS, images_h5, tmp_path / "plain.h5", config=CONFIG)
    reference = copy.deepcopy(net)
    for module in reference.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eps = 0.5
    with h5py.File(images_h5) as f, torch.no_grad():
        expected = reference(normalised(f["valid"]["images"][()])).numpy()
    wide_logits = read_shard(tmp_path / "wide.h5")["valid"]["logits"]
    np.testing.assert_allclose(wide_logits, expected, atol=1e-4)
    assert not np.allclose(wide_logits, read_shard(tmp_path / "plain.h5")["valid"]["logits"], atol=1e-3)


def test_pooled_features_are_the_classifier_input():
    config = PretrainConfig(stem_channels=8, num_stacks=3, modules_per_stack=1)
    net, _ = build_network(ADJ, OPS, config, seed=0)
    net.eval()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        features = pooled_features(net, x)
        assert features.shape == (4, 32)  # 4 x stem channels after three stacks
        assert torch.equal(net.classifier(features), net(x))
        inner = x
        for layer in net.layers:
            inner = layer(inner)
        torch.testing.assert_close(features, inner.mean(dim=(2, 3)))


def test_weights_of_another_size_or_missing_file_raise(tmp_path, images_h5, trained_weights):
    weights, _ = trained_weights
    other = PretrainConfig(stem_channels=16, num_stacks=2, modules_per_stack=1)
    with pytest.raises(InfonasError, match="do not fit cell"):
        extract_outputs(weights, ADJ, OPS, images_h5, tmp_path / "a.h5", config=other)
    with pytest.raises(InfonasError, match="not found"):
        extract_outputs(tmp_path / "none.pt", ADJ, OPS, images_h5, tmp_path / "b.h5", config=CONFIG)
    assert not (tmp_path / "a.h5").exists() and not (tmp_path / "b.h5").exists()
