"""Scaling transforms of thesis 3.2.1 / Table 4.2: hand examples, invariants, fit/save/load.

The first tests cover the standardise-first order (OURS); those after `ORIGINAL` the order of the
thesis-era info-NAS code, the default.
"""

from pathlib import Path

import numpy as np
import pytest
import yaml

from infonas.data.io_store import write_shard
from infonas.data.scaling import (
    DEFAULT_ORDER,
    DEFAULT_VARIANT,
    SCALING_ORDERS,
    SCALING_VARIANTS,
    Moments,
    fit_network_stats,
    fit_scaler,
    get_variant,
    load_scaler,
    network_transform,
    normalise,
    save_scaler,
    transform,
)
from infonas.errors import InfonasError

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
OURS = "standardise-first"
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
    out = transform(X, LABEL, WEIGHT, BIAS, stats, IDENTITY, variant, OURS)
    assert out.dtype == np.float32 and out.shape == (1, 5)
    np.testing.assert_allclose(out[0], expected, atol=1e-6)
    final = Moments(np.arange(5.0), np.array([1.0, 2.0, 4.0, 0.0, 0.5]))  # zero std -> 1
    again = transform(X, LABEL, WEIGHT, BIAS, stats, final, variant, OURS)
    np.testing.assert_allclose(again[0], (np.array(expected) - np.arange(5.0)) / [1, 2, 4, 1, 0.5], atol=1e-6)


def test_fit_network_stats_by_hand():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = np.array([[1.0, 0.0], [0.0, 2.0]])
    s = fit_network_stats(x, w, np.zeros(2), "axisnull", OURS)
    np.testing.assert_allclose([s.mean.item(), s.std.item()], [2.5, np.sqrt(1.25)])
    s = fit_network_stats(x, w, np.zeros(2), "axis0-multiply", OURS)
    np.testing.assert_allclose(s.mean, [[2.0, 3.0]])
    np.testing.assert_allclose(s.std, [[1.0, 1.0]])
    # class 0: [1, 0, 3, 0]; class 1: [0, 4, 0, 8]
    s = fit_network_stats(x, w, np.zeros(2), "axisnull-weighted-multiply", OURS)
    np.testing.assert_allclose(s.mean, [[1.0], [3.0]])
    np.testing.assert_allclose(s.std, [[np.sqrt(1.5)], [np.sqrt(11.0)]])
    s = fit_network_stats(x, w, np.zeros(2), "axis0-weighted-multiply", OURS)
    np.testing.assert_allclose(s.mean, [[2.0, 0.0], [0.0, 6.0]])
    np.testing.assert_allclose(s.std, [[1.0, 0.0], [0.0, 2.0]])


@pytest.mark.parametrize("variant", list(SCALING_VARIANTS))
def test_matches_slow_reference(variant):
    rng = np.random.default_rng(11)
    features, labels, weight, bias = random_network(rng)
    stats = fit_network_stats(features, weight, bias, variant, OURS)
    final = Moments(rng.standard_normal(9), rng.uniform(0.5, 2.0, 9))
    fast = transform(features, labels, weight, bias, stats, final, variant, OURS)
    slow = reference_transform(features, labels, weight, bias, stats, final, variant)
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5)
    assert np.isfinite(fast).all()


@pytest.mark.parametrize("variant", list(SCALING_VARIANTS))
def test_permuting_a_networks_features_changes_nothing(variant):
    rng = np.random.default_rng(12)
    features, labels, weight, bias = random_network(rng)
    perm = rng.permutation(features.shape[1])
    final = Moments(rng.standard_normal(9), rng.uniform(0.5, 2.0, 9))
    out = transform(features, labels, weight, bias, fit_network_stats(features, weight, bias, variant, OURS), final,
                    variant, OURS)
    p_feat, p_weight = features[:, perm], weight[:, perm]
    out_p = transform(p_feat, labels, p_weight, bias, fit_network_stats(p_feat, p_weight, bias, variant, OURS),
                      final, variant, OURS)
    np.testing.assert_allclose(out, out_p, rtol=1e-6, atol=1e-6)


def test_scaling_removes_a_networks_scale():
    """Two networks that differ only by a positive output scale give the same targets."""
    rng = np.random.default_rng(13)
    features, labels, weight, bias = random_network(rng)
    for variant in ("axisnull-multiply", "axis0", "axisnull-weighted-multiply"):
        a = network_transform(features, labels, weight, bias, fit_network_stats(features, weight, bias, variant, OURS),
                              variant, OURS)
        big = features * 37.0
        b = network_transform(big, labels, weight, bias, fit_network_stats(big, weight, bias, variant, OURS), variant,
                              OURS)
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
    stats = fit_scaler(shards, variant, order=OURS, train_hashes=train)
    assert set(stats.networks) == set(shards)  # the valid network is scaled too
    rows = np.concatenate([
        transform(s["valid"]["features"], s["valid"]["labels"], s["weight"], s["bias"], stats.network(h),
                  stats.final, variant, OURS) for h, s in shards.items() if h in train]).astype(np.float64)
    live = stats.final.std > 1e-8
    np.testing.assert_allclose(rows.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(rows.std(axis=0)[live], 1.0, atol=1e-5)
    np.testing.assert_allclose(rows[:, ~live], 0.0, atol=1e-6)  # constant positions map to 0
    raw = np.concatenate([network_transform(s["valid"]["features"], s["valid"]["labels"], s["weight"], s["bias"],
                                            stats.network(h), variant, OURS) for h, s in shards.items() if h in train])
    np.testing.assert_allclose(stats.final.mean, raw.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(stats.final.std, raw.std(axis=0), atol=1e-10)


def test_fit_save_load_round_trip_from_shard_files(tmp_path):
    rng = np.random.default_rng(15)
    shards = _shards(rng, n_nets=3)
    paths = {}
    for h, s in shards.items():
        paths[h] = tmp_path / "io" / f"{h}.h5"
        write_shard(paths[h], h, {k: s[k] for k in ("valid", "test_2k")}, s["weight"], s["bias"])
    from_files = fit_scaler(paths, "axis0-weighted-multiply", order=OURS, progress=False)
    from_dicts = fit_scaler(shards, "axis0-weighted-multiply", order=OURS)
    np.testing.assert_allclose(from_files.final.mean, from_dicts.final.mean)
    save_scaler(tmp_path / "io" / "scaler.h5", from_files)
    loaded = load_scaler(tmp_path / "io" / "scaler.h5")
    assert loaded.variant == "axis0-weighted-multiply" and loaded.fit_split == "valid" and loaded.order == OURS
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


def test_scaler_errors_name_the_order(tmp_path):
    shards = _shards(np.random.default_rng(17), n_nets=2)
    with pytest.raises(InfonasError, match="io.scaling_order: unknown order 'sorted-first'"):
        fit_scaler(shards, order="sorted-first")
    import h5py

    save_scaler(tmp_path / "scaler.h5", fit_scaler(shards))
    with h5py.File(tmp_path / "scaler.h5", "a") as handle:
        del handle.attrs["scaling_order"]
    with pytest.raises(InfonasError, match="scaler.h5: records no scaling order"):
        load_scaler(tmp_path / "scaler.h5")


# ---------------------------------------------------------------------------------------------------
# ORIGINAL: the order of the thesis-era info-NAS code (info_nas/datasets/io/transforms.py,
# scripts/fit_scaler.py, scripts/fit_after_sort_scaler.py): [x, 1] -> multiply -> standardise per
# network with std + float32 eps -> sort -> normalise over the train split.

EPS = float(np.finfo(np.float32).eps)
# Two fitting images of one network, D = 2, C = 2: [x, 1] = [[3, 3, 1], [3, 1, 1]]; class rows
# w|b = [2, 0, 1] (class 0) and [0, 1, -1] (class 1). Image A = [5, 1] of class 1 sorts by
# [0, 1, -1] -> positions 1, 0, 2; image B = [1, 3] of class 0 sorts by [2, 0, 1] -> 0, 2, 1.
FIT_X = np.array([[3.0, 3.0], [3.0, 1.0]])
FIT_LABELS = np.array([0, 1])
W2 = np.array([[2.0, 0.0], [0.0, 1.0]])
B2 = np.array([1.0, -1.0])
AB_X = np.array([[5.0, 1.0], [1.0, 3.0]])
AB_LABELS = np.array([1, 0])
ORIGINAL_CASES = {
    # statistics of all six entries of [x, 1] = {3, 3, 1, 3, 1, 1}: mean 2, std 1.
    # A: [5, 1, 1] - 2 = [3, -1, -1] -> sorted [-1, 3, -1]; B: [1, 3, 1] - 2 -> [-1, -1, 1]
    "axisnull": ([[2.0]], [[1.0]], [[-1, 3, -1], [-1, -1, 1]], 1 + EPS),
    # the same (unmultiplied) statistics; A: [5, 1, 1] * [0, 1, -1] = [0, 1, -1] - 2 = [-2, -1, -3]
    # -> [-1, -2, -3]; B: [1, 3, 1] * [2, 0, 1] = [2, 0, 1] - 2 = [0, -2, -1] -> [0, -1, -2]
    "axisnull-multiply": ([[2.0]], [[1.0]], [[-1, -2, -3], [0, -1, -2]], 1 + EPS),
    # per column of [x, 1]: mean [3, 2, 1], std [0, 1, 0]; a zero std divides by eps alone.
    # A: [(5-3)/eps, (1-2)/(1+eps), 0/eps] -> [-1/(1+eps), 2/eps, 0];
    # B: [-2/eps, 1/(1+eps), 0] -> [-2/eps, 0, 1/(1+eps)]
    "axis0": ([[3.0, 2.0, 1.0]], [[0.0, 1.0, 0.0]],
              [[-1 / (1 + EPS), 2 / EPS, 0], [-2 / EPS, 0, 1 / (1 + EPS)]], 1.0),
    # A: [0, 1, -1] -> [-3/eps, -1/(1+eps), -2/eps] -> [-1/(1+eps), -3/eps, -2/eps];
    # B: [2, 0, 1] -> [-1/eps, -2/(1+eps), 0] -> [-1/eps, 0, -2/(1+eps)]
    "axis0-multiply": ([[3.0, 2.0, 1.0]], [[0.0, 1.0, 0.0]],
                       [[-1 / (1 + EPS), -3 / EPS, -2 / EPS], [-1 / EPS, 0, -2 / (1 + EPS)]], 1.0),
    # class 0: [x, 1] * [2, 0, 1] = {6, 0, 1, 6, 0, 1}: mean 7/3, var 74/6 - 49/9 = 62/9;
    # class 1: [x, 1] * [0, 1, -1] = {0, 3, -1, 0, 1, -1}: mean 1/3, var 12/6 - 1/9 = 17/9.
    # A (class 1): [0, 1, -1] - 1/3 -> sorted [2/3, -1/3, -4/3]; B (class 0): [2, 0, 1] - 7/3 -> [-1/3, -4/3, -7/3]
    "axisnull-weighted-multiply": ([[7 / 3], [1 / 3]], [[np.sqrt(62) / 3], [np.sqrt(17) / 3]],
                                   [np.array([2, -1, -4]) / 3 / (np.sqrt(17) / 3 + EPS),
                                    np.array([-1, -4, -7]) / 3 / (np.sqrt(62) / 3 + EPS)], 1.0),
    # class 0 columns [6, 6], [0, 0], [1, 1]; class 1 columns [0, 0], [3, 1], [-1, -1].
    # A (class 1): [0, 1, -1] -> [0, -1/(1+eps), 0] -> [-1/(1+eps), 0, 0]; B (class 0): [2, 0, 1] -> [-4/eps, 0, 0]
    "axis0-weighted-multiply": ([[6.0, 0.0, 1.0], [0.0, 2.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
                                [[-1 / (1 + EPS), 0, 0], [-4 / EPS, 0, 0]], 1.0),
}


def test_original_order_is_the_default_and_in_the_schema():
    schema = yaml.safe_load(SCHEMA.read_text())["properties"]["io"]["properties"]["scaling_order"]
    assert set(schema["enum"]) == set(SCALING_ORDERS) and schema["default"] == DEFAULT_ORDER == "original"


@pytest.mark.parametrize("variant", list(ORIGINAL_CASES))
def test_original_order_hand_computed_examples(variant):
    mean, std, rows, divisor = ORIGINAL_CASES[variant]
    stats = fit_network_stats(FIT_X, W2, B2, variant, "original")
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.std, std, rtol=1e-12, atol=1e-12)
    identity = Moments(np.zeros(3), np.ones(3))
    out = network_transform(AB_X, AB_LABELS, W2, B2, stats, variant, "original")
    np.testing.assert_allclose(out, np.asarray(rows, float) / divisor, rtol=1e-12, atol=1e-12)
    assert transform(AB_X, AB_LABELS, W2, B2, stats, identity, variant).dtype == np.float32  # default order
    np.testing.assert_allclose(transform(AB_X, AB_LABELS, W2, B2, stats, identity, variant), out, rtol=1e-6)


def test_original_final_normalisation_divides_by_the_std_itself():
    values = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 7.0]])
    final = Moments(np.array([2.0, 2.0, 5.0]), np.array([1.0, 0.0, 1e-9]))
    # position 1: std exactly 0 -> 1 (the original would divide by zero); position 2: a tiny std stays
    np.testing.assert_allclose(normalise(values, final, "original"), [[-1, 0, -2e9], [1, 0, 2e9]], rtol=1e-6)
    np.testing.assert_allclose(normalise(values, final, OURS), [[-1, 0, -2], [1, 0, 2]], rtol=1e-6)


def original_reference(shards, train, variant):
    """Plain numpy, one image at a time, as the thesis-era code ran it: (per-network targets, final)."""
    v = get_variant(variant)
    raw = {}
    for h, s in shards.items():
        x, labels = s["valid"]["features"].astype(float), s["valid"]["labels"]
        rows = np.hstack([s["weight"], s["bias"][:, None]]).astype(float)
        fit = np.hstack([x, np.ones((len(x), 1))])
        stats = {c: ((fit * rows[c]).mean(axis=v.axis), (fit * rows[c]).std(axis=v.axis)) for c in range(len(rows))}
        plain = (fit.mean(axis=v.axis), fit.std(axis=v.axis))
        out = []
        for features, c in zip(x, labels):
            value = np.append(features, 1.0)
            if v.multiply:
                value = value * rows[c]
            mean, std = stats[c] if v.weighted else plain
            value = (value - mean) / (std + np.finfo(np.float32).eps)
            out.append(value[np.argsort(-rows[c], kind="stable")])
        raw[h] = np.array(out)
    train_rows = np.concatenate([raw[h] for h in train])
    return raw, Moments(train_rows.mean(axis=0), train_rows.std(axis=0))


@pytest.mark.parametrize("variant", list(SCALING_VARIANTS))
def test_original_order_fit_scaler_matches_plain_numpy(variant):
    rng = np.random.default_rng(18)
    shards = _shards(rng)
    train = sorted(shards)[:3]
    stats = fit_scaler(shards, variant, train_hashes=train)
    assert stats.order == "original"
    raw, final = original_reference(shards, train, variant)
    np.testing.assert_allclose(stats.final.mean, final.mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(stats.final.std, final.std, rtol=1e-9, atol=1e-9)
    for h, s in shards.items():
        out = transform(s["valid"]["features"], s["valid"]["labels"], s["weight"], s["bias"], stats.network(h),
                        stats.final, variant)
        np.testing.assert_allclose(out, (raw[h] - final.mean) / final.std, rtol=1e-5, atol=1e-5)
    targets = np.concatenate([transform(shards[h]["valid"]["features"], shards[h]["valid"]["labels"],
                                        shards[h]["weight"], shards[h]["bias"], stats.network(h), stats.final,
                                        variant) for h in train]).astype(np.float64)
    np.testing.assert_allclose(targets.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(targets.std(axis=0), 1.0, atol=1e-4)


def test_scaler_file_records_the_order(tmp_path):
    shards = _shards(np.random.default_rng(19), n_nets=2)
    for order in SCALING_ORDERS:
        save_scaler(tmp_path / f"{order}.h5", fit_scaler(shards, order=order))
        assert load_scaler(tmp_path / f"{order}.h5").order == order
