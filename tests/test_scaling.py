"""Scaling transforms of thesis 3.2.1 / Table 4.2: hand examples, invariants, fit/save/load."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from infonas.data.io_store import write_shard
from infonas.data.scaling import (
    DEFAULT_VARIANT,
    SCALING_VARIANTS,
    Moments,
    fit_network_stats,
    fit_scaler,
    get_variant,
    load_scaler,
    network_transform,
    save_scaler,
    transform,
)
from infonas.errors import InfonasError

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
IDENTITY = Moments(np.zeros(5), np.ones(5))
# One image of class 1; 4 features; class-1 weights [0.5, -1, 2, 0], bias 0.25. Descending order of
# the bias-extended row [0.5, -1, 2, 0, 0.25] is positions 2, 0, 4 (bias), 3, 1.
X = np.array([[2.0, 4.0, 6.0, 8.0]])
LABEL = np.array([1])
WEIGHT = np.array([[9.0, 9.0, 9.0, 9.0], [0.5, -1.0, 2.0, 0.0]])
BIAS = np.array([7.0, 0.25])


def reference_transform(features, labels, weight, bias, stats, final, variant):
    """Slow, literal version of the documented steps, one image at a time."""
    v = get_variant(variant)
    out = []
    for x, c in zip(np.asarray(features, float), labels):
        w_ext = list(weight[c]) + [bias[c]]
        k = c if v.weighted else 0
        mean = np.broadcast_to(stats.mean[k], x.shape)
        std = np.where(np.asarray(stats.std[k]) < 1e-8, 1.0, stats.std[k])
        std = np.broadcast_to(std, x.shape)
        values = []
        for j in range(len(x)):
            value = x[j] * weight[c][j] if v.weighted else x[j]
            value = (value - mean[j]) / std[j]
            if v.multiply and not v.weighted:
                value *= weight[c][j]
            values.append(value)
        values.append(bias[c] if v.multiply else 1.0)
        order = sorted(range(len(w_ext)), key=lambda j: -w_ext[j])
        row = np.array([values[j] for j in order])
        out.append((row - final.mean) / np.where(final.std < 1e-8, 1.0, final.std))
    return np.array(out, dtype=np.float32)


def random_network(rng, n=40, d=8, c=3):
    features = rng.gamma(2.0, 1.0, (n, d)) * rng.uniform(0.5, 3.0)
    features[:, 0] = 0.0  # a dead ReLU feature
    return features, rng.integers(0, c, n), rng.standard_normal((c, d)), rng.standard_normal(c)


def test_registry_has_the_six_valid_table_rows():
    rows = {(v.axis, v.weighted, v.multiply) for v in SCALING_VARIANTS.values()}
    assert rows == {(0, False, False), (0, False, True), (0, True, True),
                    (None, False, False), (None, False, True), (None, True, True)}
    best = get_variant(DEFAULT_VARIANT)
    assert (best.axis, best.weighted, best.multiply) == (None, False, True)
    with pytest.raises(InfonasError, match="axisnull-multiply"):
        get_variant("axisnull-weighted")


def test_variant_names_are_in_the_config_schema_enum():
    schema = yaml.safe_load(SCHEMA.read_text())
    enum = schema["properties"]["io"]["properties"]["scaling"]["enum"]
    assert set(SCALING_VARIANTS) == set(enum)
    assert DEFAULT_VARIANT == schema["properties"]["io"]["properties"]["scaling"]["default"]


@pytest.mark.parametrize(
    "variant, stats, expected",
    [
        # (x - 5) / 2 = [-1.5, -0.5, 0.5, 1.5]; append 1; sort by [0.5, -1, 2, 0, .25]
        ("axisnull", Moments(np.array([[5.0]]), np.array([[2.0]])), [0.5, -1.5, 1.0, 1.5, -0.5]),
        # multiplied: [-0.75, 0.5, 1.0, 0.0, 0.25] then sorted
        ("axisnull-multiply", Moments(np.array([[5.0]]), np.array([[2.0]])), [1.0, -0.75, 0.25, 0.0, 0.5]),
        # per feature: (x - [1, 2, 3, 4]) / [1, 1, 2, 4] = [1, 2, 1.5, 1]
        ("axis0", Moments(np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([[1.0, 1.0, 2.0, 4.0]])),
         [1.5, 1.0, 1.0, 1.0, 2.0]),
        ("axis0-multiply", Moments(np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([[1.0, 1.0, 2.0, 4.0]])),
         [3.0, 0.5, 0.25, 0.0, -2.0]),
        # weighted, class-1 statistics (row 1): x * w = [1, -4, 12, 0]; (. - 1) / 2; bias entry b = 0.25
        ("axisnull-weighted-multiply", Moments(np.array([[50.0], [1.0]]), np.array([[9.0], [2.0]])),
         [5.5, 0.0, 0.25, -0.5, -2.5]),
        # per feature class-1 statistics: ([1, -4, 12, 0] - [0, 0, 2, 0]) / [1, 2, 5, 1]
        ("axis0-weighted-multiply", Moments(np.array([[9.0] * 4, [0.0, 0.0, 2.0, 0.0]]),
                                            np.array([[9.0] * 4, [1.0, 2.0, 5.0, 1.0]])),
         [2.0, 1.0, 0.25, 0.0, -2.0]),
    ],
)
def test_hand_computed_examples(variant, stats, expected):
    out = transform(X, LABEL, WEIGHT, BIAS, stats, IDENTITY, variant)
    assert out.dtype == np.float32 and out.shape == (1, 5)
    np.testing.assert_allclose(out[0], expected, atol=1e-6)
    final = Moments(np.arange(5.0), np.array([1.0, 2.0, 4.0, 0.0, 0.5]))  # zero std -> 1
    again = transform(X, LABEL, WEIGHT, BIAS, stats, final, variant)
    np.testing.assert_allclose(again[0], (np.array(expected) - np.arange(5.0)) / [1, 2, 4, 1, 0.5], atol=1e-6)


def test_fit_network_stats_by_hand():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = np.array([[1.0, 0.0], [0.0, 2.0]])
    s = fit_network_stats(x, w, "axisnull")
    np.testing.assert_allclose([s.mean.item(), s.std.item()], [2.5, np.sqrt(1.25)])
    s = fit_network_stats(x, w, "axis0-multiply")
    np.testing.assert_allclose(s.mean, [[2.0, 3.0]])
    np.testing.assert_allclose(s.std, [[1.0, 1.0]])
    s = fit_network_stats(x, w, "axisnull-weighted-multiply")  # class 0: [1,0,3,0]; class 1: [0,4,0,8]
    np.testing.assert_allclose(s.mean, [[1.0], [3.0]])
    np.testing.assert_allclose(s.std, [[np.sqrt(1.5)], [np.sqrt(11.0)]])
    s = fit_network_stats(x, w, "axis0-weighted-multiply")
    np.testing.assert_allclose(s.mean, [[2.0, 0.0], [0.0, 6.0]])
    np.testing.assert_allclose(s.std, [[1.0, 0.0], [0.0, 2.0]])


@pytest.mark.parametrize("variant", list(SCALING_VARIANTS))
def test_matches_slow_reference(variant):
    rng = np.random.default_rng(11)
    features, labels, weight, bias = random_network(rng)
    stats = fit_network_stats(features, weight, variant)
    final = Moments(rng.standard_normal(9), rng.uniform(0.5, 2.0, 9))
    fast = transform(features, labels, weight, bias, stats, final, variant)
    slow = reference_transform(features, labels, weight, bias, stats, final, variant)
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5)
    assert np.isfinite(fast).all()


@pytest.mark.parametrize("variant", list(SCALING_VARIANTS))
def test_permuting_a_networks_features_changes_nothing(variant):
    rng = np.random.default_rng(12)
    features, labels, weight, bias = random_network(rng)
    perm = rng.permutation(features.shape[1])
    final = Moments(rng.standard_normal(9), rng.uniform(0.5, 2.0, 9))
    out = transform(features, labels, weight, bias, fit_network_stats(features, weight, variant), final, variant)
    p_feat, p_weight = features[:, perm], weight[:, perm]
    out_p = transform(p_feat, labels, p_weight, bias, fit_network_stats(p_feat, p_weight, variant), final, variant)
    np.testing.assert_allclose(out, out_p, rtol=1e-6, atol=1e-6)


def test_scaling_removes_a_networks_scale():
    """Two networks that differ only by a positive output scale give the same targets."""
    rng = np.random.default_rng(13)
    features, labels, weight, bias = random_network(rng)
    for variant in ("axisnull-multiply", "axis0", "axisnull-weighted-multiply"):
        a = network_transform(features, labels, weight, bias, fit_network_stats(features, weight, variant), variant)
        big = features * 37.0
        b = network_transform(big, labels, weight, bias, fit_network_stats(big, weight, variant), variant)
        np.testing.assert_allclose(a, b, atol=1e-9)


def _shards(rng, n_nets=4, d=8, c=3):
    shards = {}
    for i in range(n_nets):
        features, labels, weight, bias = random_network(rng, n=30, d=d, c=c)
        test = random_network(rng, n=5, d=d, c=c)
        shards[f"{i:032x}"] = {
            "valid": {"features": features.astype(np.float32), "labels": labels.astype(np.int64),
                      "logits": np.zeros((30, c), np.float32)},
            "test_2k": {"features": test[0].astype(np.float32), "labels": test[1].astype(np.int64),
                        "logits": np.zeros((5, c), np.float32)},
            "weight": weight.astype(np.float32), "bias": bias.astype(np.float32),
        }
    return shards


@pytest.mark.parametrize("variant", list(SCALING_VARIANTS))
def test_final_normalisation_standardises_the_train_split(variant):
    rng = np.random.default_rng(14)
    shards = _shards(rng)
    train = sorted(shards)[:3]
    stats = fit_scaler(shards, variant, train_hashes=train)
    assert set(stats.networks) == set(shards)  # the valid network is scaled too
    rows = np.concatenate([
        transform(s["valid"]["features"], s["valid"]["labels"], s["weight"], s["bias"], stats.network(h),
                  stats.final, variant) for h, s in shards.items() if h in train]).astype(np.float64)
    live = stats.final.std > 1e-8
    np.testing.assert_allclose(rows.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(rows.std(axis=0)[live], 1.0, atol=1e-5)
    np.testing.assert_allclose(rows[:, ~live], 0.0, atol=1e-6)  # constant positions map to 0
    raw = np.concatenate([network_transform(s["valid"]["features"], s["valid"]["labels"], s["weight"], s["bias"],
                                            stats.network(h), variant) for h, s in shards.items() if h in train])
    np.testing.assert_allclose(stats.final.mean, raw.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(stats.final.std, raw.std(axis=0), atol=1e-10)


def test_fit_save_load_round_trip_from_shard_files(tmp_path):
    rng = np.random.default_rng(15)
    shards = _shards(rng, n_nets=3)
    paths = {}
    for h, s in shards.items():
        paths[h] = tmp_path / "io" / f"{h}.h5"
        write_shard(paths[h], h, {k: s[k] for k in ("valid", "test_2k")}, s["weight"], s["bias"])
    from_files = fit_scaler(paths, "axis0-weighted-multiply", progress=False)
    from_dicts = fit_scaler(shards, "axis0-weighted-multiply")
    np.testing.assert_allclose(from_files.final.mean, from_dicts.final.mean)
    save_scaler(tmp_path / "io" / "scaler.h5", from_files)
    loaded = load_scaler(tmp_path / "io" / "scaler.h5")
    assert loaded.variant == "axis0-weighted-multiply" and loaded.fit_split == "valid"
    assert loaded.source.endswith("scaler.h5")
    assert set(loaded.networks) == set(shards)
    for h in shards:
        np.testing.assert_array_equal(loaded.networks[h].mean, from_files.networks[h].mean)
        np.testing.assert_array_equal(loaded.networks[h].std, from_files.networks[h].std)
    np.testing.assert_array_equal(loaded.final.std, from_files.final.std)
    with pytest.raises(InfonasError, match=rf"scaler.h5: no scaling statistics for network {'f' * 32}"):
        loaded.network("f" * 32)


def test_scaler_errors(tmp_path):
    with pytest.raises(InfonasError, match="scaler.h5: scaler file not found"):
        load_scaler(tmp_path / "scaler.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(InfonasError, match="bad.h5: not a readable scaler file"):
        load_scaler(bad)
    shards = _shards(np.random.default_rng(16), n_nets=2)
    with pytest.raises(InfonasError, match="train network"):
        fit_scaler(shards, train_hashes=["e" * 32])
    with pytest.raises(InfonasError, match="unknown variant"):
        fit_scaler(shards, "axis1")
