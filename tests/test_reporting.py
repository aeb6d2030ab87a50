"""Reporting: every figure renders PNG + PDF from small synthetic inputs; tables aggregate correctly."""

import math
import re
import struct

import numpy as np
import pandas as pd
import pytest

from infonas.data.scaling import SCALING_VARIANTS
from infonas.errors import InfonasError
from infonas.evaluation.random_search import random_search
from infonas.evaluation.regret import pack_runs
from infonas.reporting import figures, tables
from infonas.training.metrics import metric_columns

SPLITS = ("train", "valid_unseen_networks", "valid_unseen_images")


def metrics_frame(seeds=(1, 2, 3), epochs=5, seed=0, noise=0.02) -> pd.DataFrame:
    """metrics.csv rows (real header) for info-NAS and arch2vec over a few seeds, with plausible values."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in seeds:
        for e in range(1, epochs + 1):
            for model in ("infonas", "arch2vec"):
                row = {c: math.nan for c in metric_columns(SPLITS)}
                row.update(epoch=e, model=model, seconds=10.0, n_labeled_steps=3, n_unlabeled_steps=2,
                           vae_loss_labeled=0.5 / e + noise * rng.random(),
                           vae_loss_unlabeled=0.6 / e + noise * rng.random(),
                           ops_acc=min(1.0, 0.8 + 0.04 * e), adj_acc=1 - 0.1 / e - noise * rng.random(),
                           ops_acc_valid_networks=min(1.0, 0.79 + 0.04 * e), adj_acc_valid_networks=1 - 0.12 / e,
                           ops_acc_padded=0.97 * min(1.0, 0.8 + 0.04 * e), ops_acc_padded_valid_networks=0.9777,
                           validity=0.4 + noise * rng.random(), uniqueness=0.9 - noise * rng.random(),
                           uniqueness_unpruned=1 - noise * rng.random())
                if model == "infonas":
                    for i, split in enumerate(SPLITS):
                        loss = 0.7 / (1 + e) + 0.1 * i + noise * rng.random()
                        base = 0.75 + 0.01 * i
                        row.update({f"labeled_loss_{split}": loss, f"labeled_loss_{split}_ci_low": loss - 0.01,
                                    f"labeled_loss_{split}_ci_high": loss + 0.01, f"labeled_loss_{split}_median": loss / 2,
                                    f"baseline_{split}": base, f"baseline_{split}_ci_low": base - 0.005,
                                    f"baseline_{split}_ci_high": base + 0.005, f"baseline_{split}_median": base,
                                    f"labeled_l1_{split}": loss, f"labeled_mse_{split}": 1.5 * loss ** 2,
                                    f"baseline_l1_{split}": base, f"baseline_mse_{split}": 1.5 * base ** 2})
                rows.append(dict(row, seed=s))
    return pd.DataFrame(rows)


def search_results(n_rows=400, nan_test=False):
    """info-NAS-like, arch2vec-like (biased toward good rows) and random-search results on a toy space."""
    rng = np.random.default_rng(3)
    val = 0.95 - 0.15 * rng.beta(1.5, 6.0, n_rows)
    test = np.full(n_rows, np.nan) if nan_test else val - 0.01 * rng.random(n_rows)
    time = rng.uniform(300.0, 5500.0, n_rows)
    budget = 2e5
    order = np.argsort(-val)
    pools = {"info-NAS": order[:150], "arch2vec": order[:250]}
    if nan_test:  # random_search needs known test accuracies: draw its uniform order here instead
        pools["random search"] = order
    results = {}
    for name, pool in pools.items():
        seqs = []
        for r in range(6):
            perm = np.random.default_rng(r + len(name)).permutation(pool)
            n = int(np.searchsorted(np.cumsum(time[perm]), budget)) + 1
            seqs.append(perm[:n])
        results[name] = pack_runs(name, seqs, val, test, time, budget, seed=0)
    if not nan_test:
        results["random search"] = random_search(val, test, time, 6, budget, seed=5, progress=False)
    return results, float(val.max()), float(np.nanmax(test)) if not nan_test else math.nan


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def assert_written(paths, out):
    png, pdf = paths
    assert png == out.with_name(out.name + ".png") and pdf == out.with_name(out.name + ".pdf")
    assert png_size(png)[0] > 300
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary files left


# ---------------------------------------------------------------- figures

@pytest.mark.parametrize("func", [figures.plot_labeled_losses, figures.plot_vae_losses,
                                  figures.plot_reconstruction, figures.plot_validity_uniqueness])
@pytest.mark.parametrize("seeds", [(1,), (1, 2, 3)])
def test_training_figures_render(tmp_path, func, seeds):
    out = tmp_path / "fig"
    assert_written(func(metrics_frame(seeds), out), out)


def test_labeled_losses_minmax_band_and_split_subset(tmp_path):
    out = tmp_path / "labeled"
    paths = figures.plot_labeled_losses(metrics_frame(), out, splits=["valid_unseen_networks"], band="minmax")
    assert_written(paths, out)
    one = png_size(paths[0])
    three = png_size(figures.plot_labeled_losses(metrics_frame(), tmp_path / "all")[0])
    assert three[0] > 2 * one[0]  # one panel per split


def test_search_figure_and_test_panels_skipped_without_test_accuracy(tmp_path):
    results, best_val, best_test = search_results()
    out = tmp_path / "search"
    assert_written(figures.plot_search_regret(results, best_val, best_test, out, n_points=50), out)
    iqr = figures.plot_search_regret(results, best_val, best_test, tmp_path / "iqr", band="iqr", n_points=50)
    assert png_size(iqr[0]) == png_size(out.with_name("search.png"))
    results_nt, best_val_nt, best_test_nt = search_results(nan_test=True)
    no_test = figures.plot_search_regret(results_nt, best_val_nt, best_test_nt, tmp_path / "val_only",
                                          n_points=50)
    assert png_size(no_test[0])[1] < 0.7 * png_size(out.with_name("search.png"))[1]


def test_predictor_boxes_render(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"encoder": enc, "regressor": reg, "n_train": n, "seed": s, "rmse": 0.02 + 0.01 * rng.random(),
             "pearson_r": 0.5 + 0.1 * rng.random(), "kendall_tau": 0.4}
            for enc in ("info-NAS", "arch2vec") for reg in ("rf", "gp") for n in (100, 250, 600) for s in range(5)]
    frame = pd.DataFrame(rows)
    frame.loc[0, "pearson_r"] = np.nan  # an undefined r is left out of its box
    out = tmp_path / "boxes"
    assert_written(figures.plot_predictor_boxes(frame, out), out)


def test_figures_are_reproducible_and_prefix_suffix_is_stripped(tmp_path):
    frame = metrics_frame()
    a = figures.plot_vae_losses(frame, tmp_path / "a.png")
    b = figures.plot_vae_losses(frame, tmp_path / "b")
    assert a[0].name == "a.png" and a[1].name == "a.pdf"
    assert a[0].read_bytes() == b[0].read_bytes() and a[1].read_bytes() == b[1].read_bytes()


def test_figure_errors_name_file_and_column(tmp_path):
    frame = metrics_frame((1,)).drop(columns=["validity"])
    path = tmp_path / "seed1" / "metrics.csv"
    path.parent.mkdir()
    frame.drop(columns=["seed"]).to_csv(path, index=False)
    loaded = tables.load_metrics({1: path})
    with pytest.raises(InfonasError, match=r"seed1/metrics.csv: missing column\(s\) validity"):
        figures.plot_validity_uniqueness(loaded, tmp_path / "v")
    with pytest.raises(InfonasError, match="no rows with model 'infonas'"):
        figures.plot_labeled_losses(frame[frame["model"] == "arch2vec"], tmp_path / "l")
    with pytest.raises(InfonasError, match="band"):
        figures.plot_reconstruction(frame, tmp_path / "r", band="sd")
    with pytest.raises(InfonasError, match="missing column"):
        figures.plot_predictor_boxes(pd.DataFrame({"regressor": ["rf"], "n_train": [10]}), tmp_path / "p")
    assert not list(tmp_path.glob("*.png"))


def test_seed_curve_bootstrap_and_minmax():
    frame = pd.DataFrame({"epoch": [1, 1, 1, 2], "seed": [1, 2, 3, 1], "x": [1.0, 2.0, 6.0, 5.0]})
    mm = figures.seed_curve(frame, "x", "minmax", np.random.default_rng(0))
    assert mm["mean"].tolist() == [3.0, 5.0] and mm["median"].tolist() == [2.0, 5.0]
    assert mm.loc[0, ["low", "high"]].tolist() == [1.0, 6.0] and np.isnan(mm.loc[1, "low"])
    ci = figures.seed_curve(frame, "x", "ci", np.random.default_rng(0))
    assert 1.0 <= ci.loc[0, "low"] < 3.0 < ci.loc[0, "high"] <= 6.0


def test_run_band_matches_numpy():
    reg = np.array([[0.1, 0.2, np.nan], [0.3, 0.0, 0.5], [0.2, 0.4, 0.1]])
    mean, low, high = figures.run_band(reg, "sem")
    sem = np.nanstd(reg, axis=0, ddof=1) / np.sqrt([3, 3, 2])
    np.testing.assert_allclose(mean, np.nanmean(reg, axis=0))
    np.testing.assert_allclose(high - mean, sem)
    _, q1, q3 = figures.run_band(reg, "iqr")
    np.testing.assert_allclose(q1, np.nanquantile(reg, 0.25, axis=0))
    np.testing.assert_allclose(q3, np.nanquantile(reg, 0.75, axis=0))


# ---------------------------------------------------------------- tables

def test_final_training_table_mean_std_ci_and_epoch_choice():
    frame = metrics_frame(seeds=(1, 2), epochs=3)
    last = frame[frame["epoch"] == 3]
    info = last[last["model"] == "infonas"]
    table = tables.final_training_table(frame).set_index("quantity")
    col = info["labeled_loss_valid_unseen_networks"]
    assert table.loc["labeled loss (unseen networks)", "info-NAS_mean"] == pytest.approx(col.mean())
    assert table.loc["labeled loss (unseen networks)", "info-NAS_std"] == pytest.approx(col.std(ddof=1))
    assert table.loc["labeled loss (unseen networks)", "info-NAS_ci_low"] == pytest.approx(col.mean() - 0.01)
    assert table.loc["baseline (train)", "info-NAS_mean"] == pytest.approx(0.75)
    a2v = last[last["model"] == "arch2vec"]["validity"]
    assert table.loc["validity", "arch2vec_mean"] == pytest.approx(a2v.mean())
    assert np.isnan(table.loc["labeled loss (train)", "arch2vec_mean"])
    assert table.loc["labeled loss (unseen networks)", "info-NAS_median"] == pytest.approx(col.mean() / 2)
    assert np.isnan(table.loc["validity", "info-NAS_median"])
    valid_nets = last[last["model"] == "arch2vec"]["adj_acc_valid_networks"]
    assert table.loc["adjacency reconstruction accuracy (validation networks)", "arch2vec_mean"] == pytest.approx(
        valid_nets.mean())
    first = tables.final_training_table(frame, epoch=1).set_index("quantity")
    assert first.loc["ops reconstruction accuracy", "info-NAS_mean"] == pytest.approx(0.84)
    with pytest.raises(InfonasError, match="has no epoch 9"):
        tables.final_training_table(frame, epoch=9)


def test_labeled_splits_are_the_five_io_splits_without_their_medians():
    columns = metric_columns(("valid_unseen_images", "test_unseen_networks_images", "train", "extra",
                              "test_unseen_images", "valid_unseen_networks"))
    frame = pd.DataFrame(columns=columns)
    assert tables.labeled_splits(frame) == ["train", "valid_unseen_networks", "valid_unseen_images",
                                            "test_unseen_images", "test_unseen_networks_images", "extra"]
    assert tables.split_label("test_unseen_networks_images") == "test: unseen networks and images"


def test_final_training_table_uses_each_runs_last_epoch():
    frame = metrics_frame(seeds=(1, 2), epochs=3)
    frame = frame[~((frame["seed"] == 2) & (frame["epoch"] == 3))]  # seed 2 stopped after epoch 2
    table = tables.final_training_table(frame).set_index("quantity")
    expect = frame[(frame["model"] == "infonas") & (frame["epoch"] == [3 if s == 1 else 2 for s in frame["seed"]])]
    assert table.loc["uniqueness", "info-NAS_mean"] == pytest.approx(expect["uniqueness"].mean())


def test_search_table_known_regrets():
    val = np.array([0.5, 0.7, 0.9, 0.8])
    test = np.array([0.55, 0.6, 0.85, 0.88])
    time = np.full(4, 10.0)
    res = pack_runs("toy", [np.array([0, 1, 2]), np.array([3, 0])], val, test, time, budget_s=30.0, seed=0)
    table = tables.search_table({"toy": res}, best_val=0.9, best_test=0.88, budgets=[10.0, 30.0])
    at10, at30 = table.iloc[0], table.iloc[1]
    assert at10["n_runs"] == 2 and at10["val_regret_mean"] == pytest.approx((0.4 + 0.1) / 2)
    assert at30["val_regret_mean"] == pytest.approx(0.05)
    assert at30["val_regret_std"] == pytest.approx(np.std([0.0, 0.1], ddof=1))
    assert at30["val_regret_median"] == pytest.approx(0.05)
    # test regret of the incumbent: run 0 -> row 2 (0.85), run 1 -> row 3 (0.88)
    assert at30["test_regret_mean"] == pytest.approx((0.03 + 0.0) / 2)
    default = tables.search_table({"toy": res}, 0.9, 0.88)
    assert default["time_s"].tolist() == [0.3, 3.0, 30.0]
    assert default.iloc[0]["n_runs"] == 0 and np.isnan(default.iloc[0]["val_regret_mean"])
    assert at30["val_regret_sem"] == pytest.approx(at30["val_regret_std"] / np.sqrt(2))


def test_queries_table_reports_the_incumbent_after_each_query_count():
    """arch2vec Table 2's format: the incumbent's accuracies after q queries, over the runs that made q."""
    val = np.array([0.5, 0.7, 0.9, 0.8, 0.9])
    test = np.array([0.55, 0.6, 0.85, 0.88, 0.80])
    time = np.full(5, 10.0)
    runs = [np.array([0, 1, 2, 4]), np.array([3, 0]), np.array([1, 4, 2])]
    res = pack_runs("toy", runs, val, test, time, budget_s=100.0, seed=0)
    table = tables.queries_table({"toy": res}, queries=[1, 3, 5])
    one, three, five = (table.iloc[k] for k in range(3))
    assert one["n_runs"] == 3 and one["test_acc_mean"] == pytest.approx((0.55 + 0.88 + 0.6) / 3)
    # after 3 queries: run 0 found row 2 first (0.9, test 0.85); run 2 found row 4 (0.9, test 0.80) before row 2
    assert three["n_runs"] == 2 and three["test_acc_mean"] == pytest.approx((0.85 + 0.80) / 2)
    assert three["test_acc_sem"] == pytest.approx(np.std([0.85, 0.80], ddof=1) / np.sqrt(2))
    assert three["val_acc_median"] == pytest.approx(0.9)
    assert five["n_runs"] == 0 and np.isnan(five["test_acc_mean"])
    with pytest.raises(InfonasError, match="positive integers"):
        tables.queries_table({"toy": res}, queries=[0])


def test_thesis_and_tuned_regressors_get_distinct_readable_names():
    from infonas.evaluation.predictors import available_predictors

    assert sorted(tables.REGRESSOR_LABELS) == available_predictors()
    assert len(set(tables.REGRESSOR_LABELS.values())) == len(tables.REGRESSOR_LABELS)
    frame = pd.DataFrame({"encoder": "arch2vec", "regressor": ["gp", "gp-tuned", "svr", "svr-tuned"], "n_train": 250,
                          "seed": 0, "rmse": 0.02, "pearson_r": 0.5, "kendall_tau": 0.4})
    assert tables.predictor_table(frame)["regressor"].tolist() == [
        "Gaussian process", "Gaussian process (tuned)", "SVR", "SVR (tuned)"]


def test_predictor_table_mean_std_and_order():
    frame = pd.DataFrame({
        "encoder": ["info-NAS"] * 4 + ["arch2vec"] * 2, "regressor": ["rf"] * 6,
        "n_train": [250, 250, 100, 100, 100, 100], "seed": [0, 1, 0, 1, 0, 1],
        "rmse": [0.02, 0.04, 0.1, 0.2, 0.3, 0.5], "pearson_r": [0.5, 0.7, 0.1, 0.3, 0.2, 0.2],
        "kendall_tau": [0.4, 0.4, 0.1, 0.1, 0.0, 0.2]})
    table = tables.predictor_table(frame)
    assert table[["encoder", "n_train"]].values.tolist() == [["info-NAS", 100], ["info-NAS", 250], ["arch2vec", 100]]
    assert table["regressor"].unique().tolist() == ["random forest"]
    row = table.iloc[1]
    assert row["rmse_mean"] == pytest.approx(0.03) and row["rmse_std"] == pytest.approx(np.std([0.02, 0.04], ddof=1))
    assert row["pearson_r_mean"] == pytest.approx(0.6) and row["n_seeds"] == 2
    assert table.iloc[2]["kendall_tau_std"] == pytest.approx(np.std([0.0, 0.2], ddof=1))
    with pytest.raises(InfonasError, match="predictions: missing column.*encoder"):
        tables.predictor_table(frame.drop(columns=["encoder"]))


def test_predictor_table_keeps_scoring_protocols_apart_and_the_caption_names_them():
    frame = pd.DataFrame({
        "encoder": "arch2vec", "regressor": "gp", "n_train": 250, "seed": [0, 1, 0, 1],
        "scoring": ["all", "all", "both>0.8", "both>0.8"], "target": "test_acc", "target_repeats": 3,
        "rmse": [0.05, 0.07, 0.01, 0.03], "pearson_r": 0.5, "kendall_tau": 0.4})
    table = tables.predictor_table(frame)
    assert table["scoring"].tolist() == ["all", "both>0.8"]
    assert table["rmse_mean"].tolist() == pytest.approx([0.06, 0.02])
    note = tables.protocol_note(frame)
    assert "(all)" in note and "true and predicted accuracy exceed 0.8 are scored (both>0.8)" in note
    assert "test_acc, the mean of 3 training repeats" in note
    older = frame.drop(columns=["scoring", "target_repeats"])  # files written before both existed
    assert tables.predictor_table(older)["scoring"].tolist() == [tables.LEGACY_SCORING]
    assert "(true>0.8)" in tables.protocol_note(older) and "unrecorded number" in tables.protocol_note(older)
    assert "one training repeat." in tables.protocol_note(frame.assign(target_repeats=1))


def test_scaling_tables():
    variants = tables.scaling_variants_table()
    assert variants["variant"].tolist() == list(SCALING_VARIANTS)
    assert variants.loc[variants["variant"] == "axisnull-multiply", ["axis", "weighted", "multiply"]].values.tolist() \
        == [["null", False, True]]
    assert (variants["axis"] == "0").sum() == 3 and variants["multiply"].sum() == 4

    a, b = metrics_frame((1,), epochs=2, seed=1), metrics_frame((1,), epochs=2, seed=2)
    c = metrics_frame((1,), epochs=2, seed=3)
    table = tables.scaling_results_table([("axisnull-multiply", a), ("axis0", c), ("axisnull-multiply", b)])
    assert table["variant"].tolist() == ["axis0", "axisnull-multiply"]  # Table 4.2 order
    row = table.set_index("variant").loc["axisnull-multiply"]
    finals = [f[(f["model"] == "infonas") & (f["epoch"] == 2)]["labeled_loss_valid_unseen_images"].item() for f in (a, b)]
    assert row["n_runs"] == 2
    assert row["labeled_loss_valid_unseen_images_mean"] == pytest.approx(np.mean(finals))
    assert row["labeled_loss_valid_unseen_images_std"] == pytest.approx(np.std(finals, ddof=1))
    assert row["baseline_train_ci_high"] == pytest.approx(0.755)
    assert np.isnan(table.set_index("variant").loc["axis0", "vae_loss_labeled_std"])
    one = tables.scaling_results_table([("axis0", c)], splits=["valid_unseen_networks"])
    assert [col for col in one.columns if col.startswith("baseline")] == [
        "baseline_valid_unseen_networks_mean", "baseline_valid_unseen_networks_std",
        "baseline_valid_unseen_networks_ci_low", "baseline_valid_unseen_networks_ci_high"]
    with pytest.raises(InfonasError, match="missing column.*labeled_loss_test"):
        tables.scaling_results_table([("axis0", c)], splits=["test"])
    with pytest.raises(InfonasError, match="unknown variant"):
        tables.scaling_results_table([("axis2", a)])
    with pytest.raises(InfonasError, match="no info-NAS rows"):
        tables.scaling_results_table([("axis0", a[a["model"] == "arch2vec"])])


def test_write_table_markdown_latex_csv(tmp_path):
    frame = pd.DataFrame({"method": ["info-NAS", "a_b & c"], "time_s": [1e4, 1e6], "ok": [True, False],
                          "val_mean": [0.12345, 0.5], "val_std": [0.01, np.nan],
                          "val_ci_low": [0.1, np.nan], "val_ci_high": [0.2, np.nan], "empty": [np.nan, np.nan]})
    paths = tables.write_table(frame, tmp_path / "t", caption="Regret 50% of runs", float_format="{:.3f}")
    assert set(paths) == {"csv", "md", "tex"}
    pd.testing.assert_frame_equal(pd.read_csv(paths["csv"]), frame)
    md = paths["md"].read_text().splitlines()
    assert md[0] == "Regret 50% of runs"
    header = [c.strip() for c in md[2].strip("|").split("|")]
    assert header == ["method", "time s", "ok", "val [95% CI]"]
    assert re.fullmatch(r"\| -{8} \| -{6}: \| -{5} \| -{27}: \|", md[3])
    cells = [c.strip() for c in md[4].strip("|").split("|")]
    assert cells == ["info-NAS", "10000", "true", "0.123 ± 0.010 [0.100, 0.200]"]
    cells = [c.strip() for c in md[5].strip("|").split("|")]
    assert cells == ["a_b & c", "1000000", "false", "0.500"]
    tex = paths["tex"].read_text()
    assert r"\begin{tabular}{lrlr}" in tex and r"\toprule" in tex and r"\bottomrule" in tex
    assert r"method & time s & ok & val [95\% CI] \\" in tex
    assert r"0.123 $\pm$ 0.010 [0.100, 0.200]" in tex and r"a\_b \& c" in tex
    assert r"\caption{Regret 50\% of runs}" in tex


def test_summary_cells_put_mean_std_and_ci_in_one_cell(tmp_path):
    assert tables.summary_cell("0.1818", "0.0012", "0.1800", "0.1836") == "0.1818 ± 0.0012 [0.1800, 0.1836]"
    assert tables.summary_cell("0.1818", "", "0.1800", "0.1836") == "0.1818 [0.1800, 0.1836]"  # one seed
    assert tables.summary_cell("0.1818", "0.0012") == "0.1818 ± 0.0012"
    assert tables.summary_cell("", "0.0012", "0.1", "0.2") == ""
    frame = pd.DataFrame({"seed": ["all", "1"], "x_mean": [0.5, 0.25], "x_std": [0.125, np.nan],
                          "x_ci_low": [0.375, 0.2], "x_ci_high": [0.625, 0.3], "y_ci_low": [0.1, 0.2],
                          "y_ci_high": [0.3, 0.4], "z_mean": [1.0, 2.0], "z_std": [0.5, np.nan]})
    headers, rows, right = tables.display_columns(frame, "{:.3f}", headers={"x": "labeled loss"})
    assert headers == ["seed", "labeled loss [95% CI]", "y 95% CI", "z"]
    assert rows == [["all", "0.500 ± 0.125 [0.375, 0.625]", "[0.100, 0.300]", "1.000 ± 0.500"],
                    ["1", "0.250 [0.200, 0.300]", "[0.200, 0.400]", "2.000"]]
    assert right == [False, True, True, True]
    paths = tables.write_table(frame, tmp_path / "t", caption="a < b", html_page=True)
    page = paths["html"].read_text()
    assert page.startswith("<!DOCTYPE html>") and "<caption>a &lt; b</caption>" in page
    assert "<th class=r>x [95% CI]</th>" in page  # no headers given: the column name
    assert "<td class=r>0.5000 ± 0.1250 [0.3750, 0.6250]</td>" in page and "<th>seed</th>" in page


def test_write_table_rejects_bad_input(tmp_path):
    with pytest.raises(InfonasError, match="float_format"):
        tables.write_table(pd.DataFrame({"a": [1.0]}), tmp_path / "t", float_format="{:.3q}")
    with pytest.raises(InfonasError, match="DataFrame"):
        tables.write_table([1, 2], tmp_path / "t")
    assert not list(tmp_path.iterdir())


def test_load_metrics_errors_and_seed_column(tmp_path):
    with pytest.raises(InfonasError, match="nope.csv: file not found"):
        tables.load_metrics({1: tmp_path / "nope.csv"})
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"epoch": [1], "vae_loss_labeled": [0.1]}).to_csv(bad, index=False)
    with pytest.raises(InfonasError, match=r"bad.csv: missing column\(s\) model"):
        tables.load_metrics({1: bad})
    frame = metrics_frame((1,)).drop(columns=["seed"])
    paths = {}
    for s in (4, 7):
        paths[s] = tmp_path / f"m{s}.csv"
        frame.to_csv(paths[s], index=False)
    loaded = tables.load_metrics(paths)
    assert sorted(loaded["seed"].unique()) == [4, 7] and len(loaded) == 2 * len(frame)
    dup = pd.concat([frame, frame])
    with pytest.raises(InfonasError, match="more than one row"):
        tables.final_training_table(dup)
