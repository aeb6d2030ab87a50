"""Comparisons across variants: tables with known values, styles, pooled searches, latent pictures,
predicted-vs-true outputs of a tiny checkpoint, and the file-level report stages."""

import math
import re

import numpy as np
import pandas as pd
import pytest
import torch

from infonas.data.images import _write_images
from infonas.data.io_dataset import IO_SPLITS, IODataset, IOSplit, save_io_dataset
from infonas.data.scaling import Moments, ScalerStats, save_scaler
from infonas.errors import InfonasError
from infonas.evaluation import outputs, projection
from infonas.evaluation.benchmark import BenchmarkTable, save_benchmark
from infonas.evaluation.embed import save_embeddings
from infonas.evaluation.regret import concat_results, pack_runs, save_search
from infonas.models.info_nas import InfoNAS, InfoNASConfig, images_to_input
from infonas.reporting import comparisons, maps, stages, tables
from infonas.training.checkpoint import save_checkpoint
from test_models import random_cells
from test_reporting import assert_written, metrics_frame, png_size, search_results

torch.set_num_threads(1)
LOSS = "labeled_loss_valid_unseen_networks"


def entries(extra_column=False):
    """Three variants: 3, 1 and 2 seeds of plausible metrics, with distinguishing settings."""
    a = metrics_frame((1, 2, 3), epochs=4, seed=1)
    b = metrics_frame((1,), epochs=4, seed=2)
    c = metrics_frame((1, 2), epochs=4, seed=3)
    if extra_column:  # a column only the newest runs write: other variants show it empty
        a, b = (f.drop(columns=[f"{LOSS}_median"]) for f in (a, b))
        c[f"{LOSS}_median"] = np.where(c["model"] == "infonas", 0.25, np.nan)
    return [("L1, lr 1e-3", {"train.labeled_loss": "l1", "train.lr": 0.001}, a),
            ("L1, lr 1e-4", {"train.labeled_loss": "l1", "train.lr": 1e-4}, b),
            ("MSE, lr 1e-3", {"train.labeled_loss": "mse", "train.lr": 0.001, "train.vae_weight": None}, c)]


# ---------------------------------------------------------------- column selection

def test_select_columns_globs_keep_order_and_skip_absent():
    stems = ["vae_loss_labeled", "labeled_loss_train", "baseline_train", "labeled_loss_train_median", "ops_acc",
             "ops_acc_valid_networks", "validity"]
    assert comparisons.select_columns(stems, ["ops_acc*", "labeled_loss_*", "nope", "vae_*", "ops_acc"]) == [
        "ops_acc", "ops_acc_valid_networks", "labeled_loss_train", "labeled_loss_train_median", "vae_loss_labeled"]
    assert comparisons.select_columns(stems, "validity") == ["validity"]
    assert comparisons.select_columns(stems, ["adj_acc*"]) == []
    frame = metrics_frame((1,), epochs=1)
    stems = comparisons.metric_stems(frame)
    assert "epoch" not in stems and "seconds" not in stems and "model" not in stems
    assert "labeled_loss_train" in stems and not [s for s in stems if s.endswith(("_ci_low", "_ci_high"))]
    with pytest.raises(InfonasError, match="unknown kind 'speed'.*scaling, lr_loss, loss_weights"):
        comparisons.comparison_columns("speed")
    assert set(comparisons.COMPARISON_COLUMNS) == {"scaling", "lr_loss", "loss_weights", "all"}


# ---------------------------------------------------------------- table

def test_comparison_table_rows_settings_and_known_statistics():
    given = entries(extra_column=True)
    table = comparisons.comparison_table(given, ["labeled_loss_valid_unseen_*", "ops_acc", "absent_*"])
    assert table[["variant", "model", "n_seeds"]].values.tolist() == [
        ["L1, lr 1e-3", "info-NAS", 3], ["L1, lr 1e-3", "arch2vec", 3], ["L1, lr 1e-4", "info-NAS", 1],
        ["L1, lr 1e-4", "arch2vec", 1], ["MSE, lr 1e-3", "info-NAS", 2], ["MSE, lr 1e-3", "arch2vec", 2]]
    assert list(table.columns[:6]) == ["variant", "train.labeled_loss", "train.lr", "train.vae_weight", "model",
                                       "n_seeds"]
    assert table["train.lr"].tolist()[::2] == ["0.001", "0.0001", "0.001"]
    assert table["train.vae_weight"].tolist()[::2] == ["", "", "null"]
    a = given[0][2]
    final = a[(a["epoch"] == 4) & (a["model"] == "infonas")]
    row = table.iloc[0]
    assert row[f"{LOSS}_mean"] == pytest.approx(final[LOSS].mean())
    assert row[f"{LOSS}_std"] == pytest.approx(final[LOSS].std(ddof=1))
    assert row[f"{LOSS}_ci_low"] == pytest.approx(final[LOSS].mean() - 0.01)
    assert row["ops_acc_mean"] == pytest.approx(0.96) and row["ops_acc_std"] == pytest.approx(0.0)
    assert np.isnan(table.iloc[2][f"{LOSS}_std"])  # one seed: no spread
    assert np.isnan(table.iloc[1][f"{LOSS}_mean"])  # arch2vec has no labeled loss
    assert table.iloc[4][f"{LOSS}_median_mean"] == pytest.approx(0.25)  # only the newest variant has it
    assert np.isnan(table.iloc[0][f"{LOSS}_median_mean"]) and f"{LOSS}_median_ci_low" not in table
    assert not [c for c in table.columns if c.startswith("absent")]


def test_comparison_table_epoch_models_and_defaults():
    given = entries()
    first = comparisons.comparison_table(given, ["ops_acc"], epoch=1, models=["infonas"])
    assert first["model"].tolist() == ["info-NAS"] * 3
    assert first["ops_acc_mean"].tolist() == pytest.approx([0.84] * 3)
    default = comparisons.comparison_table(given)
    assert {"labeled_loss_train_mean", "baseline_valid_unseen_images_mean", "adj_acc_mean",
            "vae_loss_unlabeled_mean"} <= set(default.columns)
    assert "validity_mean" not in default and "validity_mean" in comparisons.comparison_table(given, "loss_weights")
    with pytest.raises(InfonasError, match="variant L1, lr 1e-3: model infonas seed 1 has no epoch 9"):
        comparisons.comparison_table(given, ["ops_acc"], epoch=9)


@pytest.mark.parametrize("bad, message", [
    ([], "no variants"),
    ([("a", {}, metrics_frame((1,), 1)), ("a", {}, metrics_frame((1,), 1))], "variant 'a' is given twice"),
    ([("a", metrics_frame((1,), 1))], "entry 0: expected"),
    ([("a", [1], metrics_frame((1,), 1))], "settings must be a mapping"),
    ([("a", {}, metrics_frame((1,), 1).drop(columns=["model"]))], "variant a: missing column"),
])
def test_comparison_table_rejects_bad_entries(bad, message):
    with pytest.raises(InfonasError, match=message):
        comparisons.comparison_table(bad, ["ops_acc"])


def test_comparison_table_without_any_matching_column_names_the_patterns():
    with pytest.raises(InfonasError, match="no metric column matches foo_\\*, bar"):
        comparisons.comparison_table(entries(), ["foo_*", "bar"])


def test_comparison_table_renders_mean_std_and_settings(tmp_path):
    table = comparisons.comparison_table(entries(), [LOSS], models=["infonas"])
    md = tables.write_table(table, tmp_path / "t")["md"].read_text().splitlines()
    header = [c.strip() for c in md[0].strip("|").split("|")]
    assert header[:6] == ["variant", "train.labeled loss", "train.lr", "train.vae weight", "model", "n seeds"]
    assert header[6] == "labeled loss valid unseen networks [95% CI]"
    cells = [c.strip() for c in md[2].strip("|").split("|")]
    assert cells[2] == "0.001" and re.fullmatch(r"\d\.\d{4} ± \d\.\d{4} \[\d\.\d{4}, \d\.\d{4}\]", cells[6])
    assert re.fullmatch(r"\d\.\d{4} \[\d\.\d{4}, \d\.\d{4}\]",  # one seed: no std
                        [c.strip() for c in md[3].strip("|").split("|")][6])


def test_per_seed_rows_follow_each_pooled_row():
    """Per-seed rows beside the pooled mean ± std (the thesis printed seed 1 alone)."""
    given = entries()
    table = comparisons.comparison_table(given, [LOSS], epoch=4, models=["infonas"], per_seed=True)
    assert table[["variant", "seed", "n_seeds"]].values.tolist() == [
        ["L1, lr 1e-3", "all", 3], ["L1, lr 1e-3", "1", 1], ["L1, lr 1e-3", "2", 1], ["L1, lr 1e-3", "3", 1],
        ["L1, lr 1e-4", "all", 1], ["L1, lr 1e-4", "1", 1],
        ["MSE, lr 1e-3", "all", 2], ["MSE, lr 1e-3", "1", 1], ["MSE, lr 1e-3", "2", 1]]
    assert list(table.columns[:6]) == ["variant", "train.labeled_loss", "train.lr", "train.vae_weight", "model", "seed"]
    a = given[0][2]
    final = a[(a["epoch"] == 4) & (a["model"] == "infonas")].set_index("seed")
    for k, seed in enumerate((1, 2, 3), start=1):
        row = table.iloc[k]
        assert row[f"{LOSS}_mean"] == pytest.approx(final.loc[seed, LOSS]) and np.isnan(row[f"{LOSS}_std"])
        assert row[f"{LOSS}_ci_low"] == pytest.approx(final.loc[seed, f"{LOSS}_ci_low"])
    assert table.iloc[0][f"{LOSS}_mean"] == pytest.approx(final[LOSS].mean())
    assert table.iloc[0][f"{LOSS}_std"] == pytest.approx(final[LOSS].std(ddof=1))
    assert "seed" not in comparisons.comparison_table(given, [LOSS])


# ---------------------------------------------------------------- styles and curves

def test_comparison_styles_colour_by_variant_dash_by_encoder():
    keys = [("A", "infonas"), ("A", "arch2vec"), ("B", "infonas"), ("B", "arch2vec"), ("", "random"),
            ("8 epochs", "arch2vec"), ("A", "ours")]
    st = comparisons.comparison_styles(keys)
    assert st[("A", "infonas")]["color"] == st[("A", "arch2vec")]["color"] != st[("B", "infonas")]["color"]
    assert st[("A", "infonas")]["linestyle"] == "-" and st[("B", "arch2vec")]["linestyle"] == "--"
    assert st[("", "random")] == {"color": comparisons.RANDOM_COLOR, "linestyle": ":", "marker": ""}
    assert st[("8 epochs", "arch2vec")]["color"] == comparisons.VARIANT_COLORS[2]
    assert st[("A", "ours")]["linestyle"] == "-." and st[("A", "ours")]["color"] == st[("A", "infonas")]["color"]
    many = comparisons.comparison_styles([(f"v{i}", "infonas") for i in range(14)])
    assert len({s["color"] for s in many.values()}) == len(comparisons.VARIANT_COLORS)


def test_variant_curves_render_and_baselines(tmp_path):
    out = tmp_path / "curves"
    assert_written(comparisons.plot_variant_curves(entries(), LOSS, out), out)
    one = tmp_path / "vae"
    assert_written(comparisons.plot_variant_curves(entries(), "vae_loss_labeled", one, model="arch2vec",
                                                   band="minmax"), one)
    with pytest.raises(InfonasError, match="no variant has values of 'labeled_loss_train'.*arch2vec"):
        comparisons.plot_variant_curves(entries(), "labeled_loss_train", tmp_path / "x", model="arch2vec")
    with pytest.raises(InfonasError, match="band"):
        comparisons.plot_variant_curves(entries(), LOSS, tmp_path / "x", band="sd")


def _baseline_lines(curves):
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    comparisons._draw_baselines(ax, [("C0", c) for c in curves])
    return [(line.get_color(), line.get_linestyle()) for line in ax.lines]


def test_shared_baseline_is_one_grey_line_else_one_per_variant():
    curve = pd.DataFrame({"epoch": [1, 2], "mean": [0.7, 0.7], "median": [0.7, 0.7], "low": [0.69, 0.69],
                          "high": [0.71, 0.71], "n": [2, 2]})
    assert _baseline_lines([curve, curve.copy()]) == [("0.45", "--")]
    other = curve.assign(mean=[0.9, 0.9])
    assert _baseline_lines([curve, other]) == [("C0", ":"), ("C0", ":"), ("0.45", ":")]  # last: legend entry
    assert comparisons._log_wanted(np.array([0.0017, 117.0])) and not comparisons._log_wanted(np.array([0.2, 0.7]))
    assert comparisons._column_label(LOSS) == ("labeled loss", "unseen networks")
    assert comparisons._column_label("ops_acc") == ("ops acc", "")


# ---------------------------------------------------------------- search and prediction

def test_concat_results_pools_runs_and_pads():
    val, test, time = np.array([0.5, 0.7, 0.9]), np.array([0.4, 0.6, 0.8]), np.full(3, 10.0)
    a = pack_runs("a", [np.array([0, 1])], val, test, time, 100.0, seed=1)
    b = pack_runs("b", [np.array([2]), np.array([1, 0, 2])], val, test, time, 100.0, seed=2)
    both = concat_results("pooled", [a, b])
    assert both.n_runs == 3 and both.lengths.tolist() == [2, 1, 3] and both.indices.shape == (3, 3)
    assert both.indices[0].tolist() == [0, 1, -1] and np.isnan(both.times[0, 2])
    assert both.times[2].tolist() == [10.0, 20.0, 30.0] and both.settings["pooled_seeds"] == [1, 2]
    other = pack_runs("c", [np.array([0])], val, test, time, 50.0, seed=3)
    with pytest.raises(InfonasError, match="budgets differ"):
        concat_results("x", [a, other])


def test_search_figure_takes_styles_and_legend_columns_fit(tmp_path):
    results, best_val, best_test = search_results()
    styles = {name: {"color": "#123456", "linestyle": "--"} for name in results}
    out = tmp_path / "styled"
    assert_written(figures_search(results, best_val, best_test, out, styles), out)
    from infonas.reporting.figures import legend_columns

    assert legend_columns(["info-NAS"] * 3, 7.0) == 3
    assert legend_columns(["info-NAS, axisnull-multiply (500 runs)"] * 10, 7.0) == 2
    assert legend_columns(["x" * 200], 7.0) == 1


def figures_search(results, best_val, best_test, out, styles):
    from infonas.reporting.figures import plot_search_regret

    return plot_search_regret(results, best_val, best_test, out, n_points=40, styles=styles)


def prediction_rows():
    rng = np.random.default_rng(0)
    return pd.DataFrame([{"label": f"{var}: {enc}", "group": var, "encoder": enc, "regressor": reg, "n_train": n,
                          "seed": s,
                          "rmse": 0.05 - 0.01 * math.log10(n) + 0.002 * rng.random(),
                          "pearson_r": 0.3 + 0.1 * math.log10(n), "kendall_tau": 0.2}
                         for var, encs in (("lr 1e-3", ("infonas", "arch2vec")), ("8 epochs", ("arch2vec",)))
                         for enc in encs for reg in ("rf", "gp", "gb") for n in (100, 250, 1000) for s in range(3)])


def test_prediction_comparison_renders_and_checks_columns(tmp_path):
    out = tmp_path / "pred"
    assert_written(comparisons.plot_prediction_comparison(prediction_rows(), out, metric="rmse"), out)
    with pytest.raises(InfonasError, match="predictions: missing column.*label"):
        comparisons.plot_prediction_comparison(prediction_rows().drop(columns=["label"]), tmp_path / "p")


# ---------------------------------------------------------------- latent spaces

def test_pca_matches_sklearn_up_to_sign_and_is_sign_fixed():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).normal(size=(200, 5)) * [5.0, 2.0, 1.0, 0.5, 0.1]
    scores, ratios = projection.pca_2d(x)
    ref = PCA(2).fit(x)
    np.testing.assert_allclose(np.abs(scores), np.abs(ref.transform(x)), atol=1e-9)
    np.testing.assert_allclose(ratios, ref.explained_variance_ratio_, rtol=1e-9)
    flipped, _ = projection.pca_2d(x[::-1])
    np.testing.assert_allclose(flipped[::-1], scores, atol=1e-9)  # same signs whatever the row order
    xy, labels = projection.project_2d(x)
    assert labels[0].startswith("PC 1 (") and xy.shape == (200, 2)


def test_projection_subsample_tsne_and_errors():
    rows = projection.subsample_rows(1000, 50, seed=3)
    assert len(rows) == 50 and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, projection.subsample_rows(1000, 50, seed=3))
    assert not np.array_equal(rows, projection.subsample_rows(1000, 50, seed=4))
    assert np.array_equal(projection.subsample_rows(10, None, 0), np.arange(10))
    x = np.random.default_rng(1).normal(size=(40, 4))
    a, _ = projection.project_2d(x, "tsne", seed=2)
    b, _ = projection.project_2d(x, "tsne", seed=2)
    np.testing.assert_array_equal(a, b)
    x[7, 2] = np.nan
    with pytest.raises(InfonasError, match="codes: row 7 has non-finite"):
        projection.project_2d(x, what="codes")
    with pytest.raises(InfonasError, match="unknown method 'umap'"):
        projection.project_2d(x, "umap")


def test_latent_space_figure_nan_modes_and_limits(tmp_path):
    rng = np.random.default_rng(0)
    acc = np.concatenate([rng.uniform(0.85, 0.95, 300), [0.1, np.nan, np.nan]])
    feats = {"infonas": rng.normal(size=(303, 16)), "arch2vec": rng.normal(size=(303, 16))}
    out = tmp_path / "latent"
    assert_written(maps.plot_latent_spaces(feats, acc, out, max_points=200, seed=1), out)
    drop = tmp_path / "drop"
    assert_written(maps.plot_latent_spaces(feats, acc, drop, nan="drop", method="tsne", max_points=80), drop)
    low, high = maps.accuracy_limits(acc)
    assert high == pytest.approx(np.nanmax(acc)) and low == pytest.approx(np.nanquantile(acc, 0.02)) and low > 0.1
    assert maps._plot_rows(acc, len(acc), "drop", None, 0).size == 301
    with pytest.raises(InfonasError, match="arch2vec has 10 rows, the accuracies 303"):
        maps.plot_latent_spaces({"arch2vec": feats["arch2vec"][:10]}, acc, tmp_path / "x")
    with pytest.raises(InfonasError, match="nan must be one of grey, drop"):
        maps.plot_latent_spaces(feats, acc, tmp_path / "x", nan="hide")


# ---------------------------------------------------------------- predicted vs true outputs

F, N_IMG = 9, 6
MODEL = InfoNASConfig(out_features=F, stem_channels=4, n_conv_blocks=1, dense_size=32)


def known_target(net: int, image: int) -> np.ndarray:
    return net * 10 + image + np.arange(F) / 100


@pytest.fixture(scope="module")
def io_world(tmp_path_factory):
    """5 networks (3 train, 2 valid), 6 valid images, rows of each split shuffled, an untrained model."""
    root = tmp_path_factory.mktemp("io")
    adjacency, ops = random_cells(5, seed=4)
    rng = np.random.default_rng(0)
    splits = {}
    for name in IO_SPLITS:
        nets = {"train": [0, 1, 2], "valid_unseen_networks": [3, 4]}.get(name, [])
        pairs = np.array([(n, i) for n in nets for i in range(N_IMG)], np.int32).reshape(-1, 2)
        pairs = pairs[rng.permutation(len(pairs))]
        targets = np.array([known_target(n, i) for n, i in pairs], np.float32).reshape(-1, F)
        group = "valid" if name in ("train", "valid_unseen_networks") else "test_2k"
        splits[name] = IOSplit(name, group, pairs[:, 0], pairs[:, 1], targets, adjacency, ops)
    hashes = np.array([f"{i:032x}" for i in range(5)], "S32")
    save_io_dataset(root / "dataset.h5", IODataset(hashes, np.array(["train"] * 3 + ["valid"] * 2), adjacency, ops,
                                                   splits, "axisnull-multiply", 1, 0.1))
    pics = rng.integers(0, 256, (N_IMG, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(N_IMG, dtype=np.int64) % 3
    _write_images(root / "images.h5", {s: (pics, labels) for s in ("train", "valid", "test", "test_2k")},
                  np.full(3, 0.5), np.full(3, 0.25), "synthetic", 3, 0)
    torch.manual_seed(0)
    model = InfoNAS(MODEL)
    save_checkpoint(root / "epoch1.pt", {"epoch": 1, "model_config": MODEL.to_dict(),
                                         "models": {"infonas": model.state_dict()}})
    final = Moments(np.linspace(1.0, 2.0, F), np.full(F, 3.0))
    save_scaler(root / "scaler.h5", ScalerStats("axisnull-multiply", {}, final))
    return {"root": root, "model": model.eval(), "adjacency": adjacency, "ops": ops, "images": pics, "final": final}


def test_output_sample_true_and_predicted_match_direct_computation(io_world):
    root = io_world["root"]
    sample = outputs.output_sample(root / "epoch1.pt", root / "dataset.h5", root / "images.h5", split="train",
                                   n_networks=2, n_images=4, seed=5)
    assert sample.true.shape == sample.predicted.shape == (2, 4, F) and not sample.denormalised
    assert sample.image_group == "valid" and len(set(sample.hashes)) == 2
    nets = [int(h, 16) for h in sample.hashes]
    assert set(nets) <= {0, 1, 2} and sample.labels.tolist() == (sample.image_index % 3).tolist()
    for i, net in enumerate(nets):
        for j, img in enumerate(sample.image_index):
            np.testing.assert_allclose(sample.true[i, j], known_target(net, int(img)), rtol=1e-6)
    net, img = nets[1], int(sample.image_index[2])
    with torch.no_grad():
        x = images_to_input(torch.as_tensor(io_world["images"][[img]]), torch.full((3,), 0.5), torch.full((3,), 0.25))
        _, direct = io_world["model"](torch.as_tensor(io_world["adjacency"][[net]]),
                                      torch.as_tensor(io_world["ops"][[net]]), x)
    np.testing.assert_allclose(sample.predicted[1, 2], direct[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sample.l1, np.abs(sample.predicted - sample.true).mean(axis=-1), rtol=1e-6)


def test_output_sample_is_seeded_capped_and_denormalised(io_world):
    root = io_world["root"]
    args = (root / "epoch1.pt", root / "dataset.h5", root / "images.h5")
    a = outputs.output_sample(*args, split="valid_unseen_networks", n_networks=9, n_images=3, seed=1)
    b = outputs.output_sample(*args, split="valid_unseen_networks", n_networks=9, n_images=3, seed=1)
    assert a.hashes == b.hashes and np.array_equal(a.image_index, b.image_index)
    assert [int(h, 16) for h in a.hashes] == [3, 4]  # capped at the split's two networks
    picks = {tuple(outputs.output_sample(*args, n_networks=1, n_images=2, seed=s).image_index) for s in range(6)}
    assert len(picks) > 1
    scaled = outputs.output_sample(*args, split="valid_unseen_networks", n_networks=9, n_images=3, seed=1,
                                   scaler=root / "scaler.h5")
    final = io_world["final"]
    assert scaled.denormalised
    np.testing.assert_allclose(scaled.true, a.true * final.std + final.mean, rtol=1e-6)
    np.testing.assert_allclose(scaled.predicted, a.predicted * final.std + final.mean, rtol=1e-5)


def test_output_sample_errors(io_world, tmp_path):
    root = io_world["root"]
    args = (root / "epoch1.pt", root / "dataset.h5", root / "images.h5")
    with pytest.raises(InfonasError, match="unknown IO splits"):
        outputs.output_sample(*args, split="nope")
    with pytest.raises(InfonasError, match="test_unseen_images: empty"):
        outputs.output_sample(*args, split="test_unseen_images")
    with pytest.raises(InfonasError, match="at least 1 network"):
        outputs.output_sample(*args, n_networks=0)
    with pytest.raises(InfonasError, match="no row for network 1 on image 3"):
        outputs.pair_rows(np.array([0, 0, 1]), np.array([0, 3, 0]), np.array([0, 1]), np.array([0, 3]), "toy")
    rows = outputs.pair_rows(np.array([1, 0, 1, 0]), np.array([5, 5, 2, 2]), np.array([0, 1]), np.array([2, 5]), "toy")
    assert rows.tolist() == [[3, 1], [2, 0]]
    ckpt = tmp_path / "a2v.pt"
    save_checkpoint(ckpt, {"model_config": MODEL.to_dict(), "models": {}})
    with pytest.raises(InfonasError, match="no info-NAS model"):
        outputs.output_sample(ckpt, *args[1:])


def test_output_heatmaps_render_both_layouts(io_world, tmp_path):
    root = io_world["root"]
    sample = outputs.output_sample(root / "epoch1.pt", root / "dataset.h5", root / "images.h5", n_networks=3,
                                   n_images=5, seed=0)
    out = tmp_path / "by_net"
    assert_written(maps.plot_output_heatmaps(sample, out), out)
    img = tmp_path / "by_img"
    assert_written(maps.plot_output_heatmaps(sample, img, layout="image", n_features=4), img)
    assert png_size(out.with_suffix(".png"))[1] < png_size(img.with_suffix(".png"))[1]  # 3 pairs vs 5 pairs
    assert maps.heatmap_limit(np.array([[-1.0, 0.5], [0.2, 0.0]])) == pytest.approx(np.quantile([1, 0.5, 0.2, 0], 0.99))
    assert maps.heatmap_limit(np.zeros((2, 2))) == 1.0
    with pytest.raises(InfonasError, match="unknown layout 'grid'"):
        maps.plot_output_heatmaps(sample, tmp_path / "x", layout="grid")


# ---------------------------------------------------------------- report stages

def test_comparison_report_writes_tables_and_curves(tmp_path):
    paths, settings = {}, {}
    for name, setting, frame in entries():
        paths[name] = {}
        for seed in frame["seed"].unique():
            path = tmp_path / "runs" / name.replace(" ", "_").replace(",", "") / f"seed{seed}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            frame[frame["seed"] == seed].drop(columns=["seed"]).to_csv(path, index=False)
            paths[name][int(seed)] = path
        settings[name] = setting
    out = tmp_path / "cmp"
    written = stages.comparison_report(paths, settings, out, kind="lr_loss", epoch=3)
    splits = ("train", "valid_unseen_networks", "valid_unseen_images")
    assert set(written) == {"comparison", "comparison_reconstruction", *(f"comparison_{s}" for s in splits),
                            *(f"curves_{s}" for s in splits)}
    for s in splits:
        assert (out / f"curves_{s}.pdf").is_file() and (out / f"comparison_{s}.tex").is_file()
    train = pd.read_csv(out / "comparison_train.csv", dtype={"seed": str})
    assert train["model"].unique().tolist() == ["info-NAS"] and "vae_loss_labeled_mean" in train
    assert train["seed"].tolist() == ["all", "1", "2", "3", "all", "1", "all", "1", "2"]
    assert {"labeled_l1_train_mean", "baseline_l1_train_mean"} <= set(train.columns)
    assert "vae_loss_labeled_mean" not in pd.read_csv(out / "comparison_valid_unseen_images.csv")
    page = (out / "comparison_valid_unseen_networks.html").read_text()
    assert "<th class=r>L1 loss</th>" in page and "<th class=r>labeled loss [95% CI]</th>" in page
    assert "info-NAS on unseen networks at epoch 3" in page
    recon = pd.read_csv(out / "comparison_reconstruction.csv", dtype={"seed": str})
    pooled = recon[recon["seed"] == "all"]
    assert pooled["ops_acc_mean"].tolist() == pytest.approx([0.92] * 6)  # epoch 3: 0.8 + 0.04 * 3
    assert pooled["ops_acc_padded_mean"].tolist() == pytest.approx([0.97 * 0.92] * 6)
    assert list(pooled.columns).index("ops_acc_padded_valid_networks_mean") < list(pooled.columns).index("ops_acc_mean")
    assert "ops, unlabeled (padding counted)" in (out / "comparison_reconstruction.html").read_text()
    wide = pd.read_csv(out / "comparison.csv")
    assert "seed" not in wide and {"labeled_l1_valid_unseen_images_mean", "labeled_mse_train_mean"} <= set(wide)
    scaling = stages.comparison_report(paths, settings, tmp_path / "scaling", kind="scaling", splits=["train"])
    assert set(scaling) == {"comparison", "comparison_reconstruction", "comparison_train", "curves_train"}


def test_heatmap_latent_search_and_prediction_stages(io_world, tmp_path):
    root = io_world["root"]
    samples = outputs.heatmap_samples(root / "epoch1.pt", root / "dataset.h5", root / "images.h5", seed=2,
                                      scaler=root / "scaler.h5", n_networks=2, n_images=3, n_networks_one_image=50)
    written = stages.output_heatmaps_report(samples, tmp_path / "heat" / "train")
    assert [p.name for p in written.values()] == ["train_networks.png", "train_one_image.png"]
    rng = np.random.default_rng(0)
    n = 120
    save_embeddings(tmp_path / "emb.h5", np.array([f"{i:032x}" for i in range(n)], "S32"),
                    {"infonas": rng.normal(size=(n, 16)).astype(np.float32),
                     "arch2vec": rng.normal(size=(n, 16)).astype(np.float32)})
    val = rng.uniform(0.8, 0.95, n)
    test = np.where(np.arange(n) % 10 == 0, np.nan, val - 0.01)
    save_benchmark(tmp_path / "bench.h5", BenchmarkTable(val, test, rng.uniform(100, 1000, n), "synthetic"))
    png = stages.latent_space_report(tmp_path / "emb.h5", tmp_path / "bench.h5", tmp_path / "latent", max_points=100)
    assert png.is_file() and png.with_suffix(".pdf").is_file()
    with pytest.raises(InfonasError, match="none of the encoders ours"):
        stages.latent_space_report(tmp_path / "emb.h5", tmp_path / "bench.h5", tmp_path / "x", encoders=["ours"])

    results, _, _ = search_results()
    for name, res in results.items():
        save_search(tmp_path / f"{name}.h5", res)
    curves = [("lr 1e-3: info-NAS", "lr 1e-3", "infonas", [tmp_path / "info-NAS.h5", tmp_path / "arch2vec.h5"]),
              ("lr 1e-3: arch2vec", "lr 1e-3", "arch2vec", tmp_path / "arch2vec.h5"),
              ("random search", "", "random", tmp_path / "random search.h5")]
    png = stages.search_comparison_report(curves, tmp_path / "bench.h5", tmp_path / "search")
    assert png.is_file()
    table = pd.read_csv(tmp_path / "search_table.csv")
    runs = table.groupby("method")["n_runs"].max()
    assert runs["lr 1e-3: info-NAS"] == 12 and runs["random search"] == 6
    with pytest.raises(InfonasError, match="'lr 1e-3: arch2vec' is given twice"):
        stages.search_comparison_report(curves + [curves[1]], tmp_path / "bench.h5", tmp_path / "s2")

    rows = prediction_rows()
    for (label, group, enc), sub in rows.groupby(["label", "group", "encoder"]):
        sub.drop(columns=["label", "group"]).to_csv(tmp_path / f"pred_{label}.csv", index=False)
    entries_ = [("lr 1e-3: info-NAS", "lr 1e-3", "infonas", [tmp_path / "pred_lr 1e-3: infonas.csv"]),
                ("lr 1e-3: arch2vec", "lr 1e-3", "arch2vec", [tmp_path / "pred_lr 1e-3: arch2vec.csv"]),
                ("arch2vec (8 epochs)", "8 epochs", "arch2vec", tmp_path / "pred_8 epochs: arch2vec.csv")]
    written = stages.prediction_comparison_report(entries_, tmp_path / "pred")
    assert set(written) == {"rmse", "pearson_r", "table"} and all(p.is_file() for p in written.values())
    summary = pd.read_csv(tmp_path / "pred_table.csv")
    assert set(summary["encoder"]) == {"lr 1e-3: info-NAS", "lr 1e-3: arch2vec", "arch2vec (8 epochs)"}
    assert set(summary["n_seeds"]) == {3}


def test_band_text_for_mixed_seed_counts():
    assert comparisons.band_text([3, 3], "ci") == "band: 95% bootstrap CI over 3 seeds"
    assert comparisons.band_text([1, 2, 3], "ci") == ("band: 95% bootstrap CI over 2-3 seeds\n"
                                                      "(single-seed variants: 95% CI over samples)")
    assert comparisons.band_text([1, 5], "minmax").startswith("band: min-max over 5 seeds\n")
    assert comparisons.band_text([1], "ci") == "band: 95% CI over samples"


@pytest.mark.parametrize("kind, tables_named", [("scaling", "4.2 (train), 4.3 (unseen networks) and 4.4 (unseen images)"),
                                                ("lr_loss", "4.6 (train), 4.7 (unseen networks) and 4.8 (unseen images)"),
                                                ("all", None)])
def test_comparison_captions_render_whole_sentences(kind, tables_named):
    """The report captions of the comparison tables, rendered as `snakemake --report` does: the thesis
    tables of the comparison's kind in one sentence, none for other kinds, valid reStructuredText."""
    from pathlib import Path

    from docutils.core import publish_parts
    from jinja2 import Environment

    class Snakemake:
        wildcards = type("W", (), {"comparison": "lr_loss"})
        params = type("P", (), {"kind": kind, "epoch": 8})

    report = Path(__file__).resolve().parents[1] / "report"
    texts = {}
    for name in ("comparison.rst", "comparison_reconstruction.rst"):
        template = Environment(trim_blocks=True, lstrip_blocks=True).from_string((report / name).read_text())
        texts[name] = text = " ".join(template.render(snakemake=Snakemake).split())
        assert "at epoch 8," in text
        html = publish_parts(text, writer="html", settings_overrides={"report_level": 2})["html_body"]
        assert "system-message" not in html
    if tables_named:
        assert f"The thesis printed seed 1 at epoch 8 in Tables {tables_named}. \"labeled loss\" is" in texts["comparison.rst"]
    else:
        assert "The thesis printed" not in texts["comparison.rst"]
        assert "own values. \"labeled loss\" is" in texts["comparison.rst"]
    assert "the one thesis Tables 4.5 and 4.9 printed" in texts["comparison_reconstruction.rst"]
