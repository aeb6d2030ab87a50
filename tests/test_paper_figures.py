"""Paper Figs 7-10 from one run: every feature set (model variant, encoder, epoch) on one axis, labelled by
model variant; the test figure of a run without test accuracies; constant predictions named in tables."""

import numpy as np
import pandas as pd
import pytest

from infonas.errors import InfonasError
from infonas.evaluation.benchmark import BenchmarkTable, save_benchmark
from infonas.evaluation.prediction_protocol import run_prediction
from infonas.evaluation.regret import save_search
from infonas.models.variants import label_feature_sets
from infonas.reporting import figures, stages, tables
from test_predictors import accuracy_like
from test_reporting import search_results


@pytest.fixture
def drawn(monkeypatch):
    """Every figure the reporting saves, by output name, so tests read its axes and legend."""
    saved, save = {}, figures.save_figure

    def keep(fig, out):
        saved[str(out).rsplit("/", 1)[-1]] = fig
        return save(fig, out)

    monkeypatch.setattr(figures, "save_figure", keep)
    return saved


def legend_texts(fig) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()]


# ---------------------------------------------------------------- labels (item 8)

def sets_of(models, variants=("default",), epochs=(10, 30)):
    """(variant, model, epoch, encoder, files) as the workflow lists them; plain arch2vec shares its files."""
    out = []
    for v in variants:
        for model in models:
            for epoch in epochs if model != "arch2vec" else (8,):
                for enc in ("infonas", "arch2vec") if model != "arch2vec" else ("arch2vec",):
                    where = "shared" if model == "arch2vec" else v
                    out.append((v, model, epoch, enc, [f"{where}/{model}/e{epoch}/{enc}.h5"]))
    return out


def test_two_infonas_models_in_one_variant_get_labels_by_model_variant():
    labelled = label_feature_sets(sets_of(["infonas", "infonas-opemb", "arch2vec"]))
    labels = [label for label, *_ in labelled]
    assert len(labels) == len(set(labels)) == 9
    assert labels[:4] == ["info-NAS, epoch 10", "reference arch2vec, epoch 10", "info-NAS, epoch 30",
                          "reference arch2vec, epoch 30"]
    assert "info-NAS (op. emb.), epoch 30" in labels and "reference arch2vec of info-NAS (op. emb.), epoch 10" in labels
    assert labels[-1] == "arch2vec (8 epochs)"
    groups = {label: group for label, group, *_ in labelled}
    assert groups["info-NAS, epoch 10"] == groups["reference arch2vec, epoch 10"] != groups["info-NAS, epoch 30"]
    assert groups["info-NAS (op. emb.), epoch 10"] != groups["info-NAS, epoch 10"]


def test_several_variants_name_theirs_and_share_one_plain_arch2vec():
    labelled = label_feature_sets(sets_of(["infonas", "arch2vec"], variants=("lr=0.01", "lr=0.001"), epochs=(30,)))
    labels = [label for label, *_ in labelled]
    assert labels == ["lr=0.01: info-NAS, epoch 30", "lr=0.01: reference arch2vec, epoch 30", "arch2vec (8 epochs)",
                      "lr=0.001: info-NAS, epoch 30", "lr=0.001: reference arch2vec, epoch 30"]
    with pytest.raises(InfonasError, match="'info-NAS, epoch 30' is given twice"):
        label_feature_sets([("v", "infonas", 30, "infonas", ["a.h5"]), ("v", "infonas", 30, "infonas", ["b.h5"])])


# ---------------------------------------------------------------- search (Figs 7-8)

def save_world(tmp_path, nan_test=False):
    """Search files of four feature sets, the plain arch2vec and random search, and their benchmark."""
    results, _, _ = search_results(nan_test=nan_test)
    names = {"info-NAS": ["i10.h5", "i30.h5"], "arch2vec": ["a10.h5", "a30.h5", "plain.h5"],
             "random search": ["random.h5"]}
    for name, files in names.items():
        for f in files:
            save_search(tmp_path / f, results[name])
    test = [np.nan, np.nan] if nan_test else [0.955, 0.9]
    save_benchmark(tmp_path / "bench.h5", BenchmarkTable(np.array([0.96, 0.9]), np.array(test),
                                                          np.array([1e3, 1e3]), "synthetic metrics"))
    sets = [("paper", "infonas", e, enc, [str(tmp_path / f"{enc[0]}{e}.h5")]) for e in (10, 30)
            for enc in ("infonas", "arch2vec")] + [("paper", "arch2vec", 8, "arch2vec", [str(tmp_path / "plain.h5")])]
    return label_feature_sets(sets) + [("random search", "", "random", [str(tmp_path / "random.h5")])]


def test_validation_and_test_regret_draw_epoch_10_and_30_on_one_axis(tmp_path, drawn):
    written = stages.search_features_report(save_world(tmp_path), tmp_path / "bench.h5", tmp_path / "search")
    assert [p.name for p in written.values()] == ["search_validation.png", "search_test.png", "search_table.csv",
                                                  "search_queries.csv"]
    for kind in ("validation", "test"):
        fig = drawn[f"search_{kind}"]
        assert len(fig.axes) == 1 and fig.axes[0].get_ylabel() == f"{kind} regret"
        assert legend_texts(fig) == ["info-NAS, epoch 10, 6 runs", "reference arch2vec, epoch 10, 6 runs",
                                     "info-NAS, epoch 30, 6 runs", "reference arch2vec, epoch 30, 6 runs",
                                     "arch2vec (8 epochs), 6 runs", "random search, 6 runs"]
        lines = fig.axes[0].get_lines()
        assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
        assert lines[0].get_linestyle() == "-" and lines[1].get_linestyle() == "--"
    table = pd.read_csv(tmp_path / "search_table.csv")
    assert table["test_regret_mean"].notna().all() and table["method"].nunique() == 6
    queries = pd.read_csv(tmp_path / "search_queries.csv")
    assert queries["queries"].unique().tolist() == [50, 100, 150, 400] and queries["method"].nunique() == 6


def test_without_test_accuracies_the_test_figure_says_why(tmp_path, drawn):
    stages.search_features_report(save_world(tmp_path, nan_test=True), tmp_path / "bench.h5", tmp_path / "search")
    assert len(drawn["search_validation"].axes[0].get_lines()) == 6
    panel = drawn["search_test"].axes[0]
    assert panel.get_lines() == [] and not panel.axison
    text = " ".join(t.get_text() for t in panel.texts).replace("\n", " ")
    assert "No test regret" in text and "synthetic metrics" in text and "builtin" in text
    assert (tmp_path / "search_test.pdf").is_file()


# ---------------------------------------------------------------- prediction (Figs 9-10) and constant predictors

def test_box_plots_per_n_train_put_every_feature_set_side_by_side(tmp_path, drawn):
    x, y, _, _ = accuracy_like(n_train=300, n_test=0)
    entries = []
    labelled = label_feature_sets([("paper", "infonas", e, enc, [str(tmp_path / f"{enc}{e}.csv")])
                                   for e in (10, 30) for enc in ("infonas", "arch2vec")])
    for k, (label, group, encoder, files) in enumerate(labelled):
        frame = run_prediction(x + 0.1 * k, y, [20, 50, 100], [0, 1, 2], ["rf", "svr"], scoring="true>0.85")
        frame.insert(0, "encoder", encoder)
        frame.to_csv(files[0], index=False)
        entries.append((label, group, encoder, files))
    written = stages.prediction_boxes_report(entries, tmp_path / "prediction")
    assert [p.name for p in written.values()] == ["prediction_rmse.png", "prediction_pearson_r.png",
                                                  "prediction_table.csv"]
    for metric in ("rmse", "pearson_r"):
        fig = drawn[f"prediction_{metric}"]
        assert len(fig.axes) == 2  # a row per regressor
        assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["20", "50", "100"]
        assert legend_texts(fig) == [label for label, *_ in labelled]
    svr = drawn["prediction_pearson_r"].axes[1]  # the default SVR predicts a constant on raw accuracies
    assert [t.get_text() for t in svr.texts].count("const.") == 12
    table = pd.read_csv(tmp_path / "prediction_table.csv")
    assert len(table) == 2 * 4 * 3
    assert (table.loc[table["regressor"] == "SVR", "pearson_r_mean"] == tables.CONSTANT).all()
    assert (table.loc[table["regressor"] == "SVR", "n_constant"] == 3).all() and (table["n_seeds"] == 3).all()
    assert pd.to_numeric(table.loc[table["regressor"] == "random forest", "pearson_r_mean"]).notna().all()
    markdown = (tmp_path / "prediction_table.md").read_text()
    assert 'read "constant" where every seed did' in markdown.split("\n\n")[0]
    svr_rows = [line for line in markdown.splitlines() if line.startswith("| SVR")]
    assert len(svr_rows) == 12 and all(line.count("constant") == 2 for line in svr_rows)  # r and tau


def test_a_constant_prediction_is_a_word_in_the_table_never_an_empty_cell():
    x, y, _, _ = accuracy_like(n_train=200, n_test=0)
    frame = run_prediction(x, y, [50], [0, 1], ["svr", "rf"], scoring="true>0.85").assign(encoder="info-NAS")
    assert frame.loc[frame["regressor"] == "svr", "constant_prediction"].all()
    assert not frame.loc[frame["regressor"] == "rf", "constant_prediction"].any()
    mixed = frame.copy()
    mixed.loc[mixed.index[0], ["pearson_r", "constant_prediction"]] = [0.5, False]  # one SVR seed varied
    table = tables.predictor_table(mixed)
    svr, rf = table.iloc[0], table.iloc[1]
    assert svr["n_constant"] == 1 and svr["pearson_r_mean"] == 0.5 and rf["n_constant"] == 0
    pooled = tables.predictor_table(pd.concat([frame, frame]))  # two training seeds, the same prediction seeds
    assert pooled.iloc[0][["n_seeds", "n_constant"]].tolist() == [4, 4]
    table = tables.predictor_table(frame)
    headers, rows, _ = tables.display_columns(table)
    cells = dict(zip(headers, rows[0]))
    assert cells["pearson r"] == cells["kendall tau"] == "constant" and cells["n constant"] == "2"
    assert all(cell for row in rows for header, cell in zip(headers, row) if header != "rmse")
    older = frame.drop(columns=["constant_prediction"])  # a predict CSV written before the column existed
    assert tables.predictor_table(older).iloc[0]["pearson_r_mean"] == tables.UNDEFINED


def test_prediction_scatter_pools_seeds_and_scores_every_protocol(tmp_path):
    """arch2vec Fig. 2: a panel per (encoder, regressor) with r and RMSE under all, true>0.8, both>0.8."""
    from infonas.evaluation.prediction_protocol import pair_scores, prediction_pairs

    x, y, _, _ = accuracy_like(n_train=400, n_test=0)
    y = y - 0.1 + 0.1 * (x[:, 2] > 0)  # half the rows below 0.8, so the protocols differ
    pairs = prediction_pairs(x, y, 50, [0, 1, 2], ["gp-tuned", "rf"])
    paths = []
    for encoder in ("arch2vec", "info-NAS"):
        path = tmp_path / f"{encoder}_pairs.csv"
        pairs.assign(encoder=encoder).to_csv(path, index=False)
        paths.append(path)
    stages.prediction_scatter_report(paths, tmp_path / "scatter")
    assert (tmp_path / "scatter.png").stat().st_size > 10_000 and (tmp_path / "scatter.pdf").is_file()
    part = pairs[pairs["regressor"] == "gp-tuned"]
    assert part["seed"].nunique() == 3
    scores = {s: pair_scores(part, s) for s in ("all", "true>0.8", "both>0.8")}
    assert scores["all"]["n"] > scores["true>0.8"]["n"] >= scores["both>0.8"]["n"] > 0
    figures.plot_prediction_scatter(pairs.iloc[:0].assign(encoder=[]), tmp_path / "empty")  # a tiny space: a note
    assert (tmp_path / "empty.png").is_file()
    with pytest.raises(InfonasError, match="missing column.*encoder"):
        figures.plot_prediction_scatter(pairs, tmp_path / "bad")
