"""The reporting stages: which figures and tables each stage draws from which result files.

Each function takes file paths (as the workflow has them) and an output folder or prefix, and writes
PNG + PDF figures and CSV + Markdown + LaTeX tables through `figures`, `comparisons`, `maps` and
`tables`. The `*_comparison_report` functions and `comparison_report` put the variants of a sweep
side by side; the others report one variant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import h5py
import numpy as np
import pandas as pd

from infonas.errors import InfonasError
from infonas.evaluation.benchmark import load_benchmark
from infonas.evaluation.latent_distance import distance_summary, sample_pairs
from infonas.evaluation.reference_curves import load_reference_curves, reference_note, searches_full_space
from infonas.evaluation.regret import concat_results, load_search
from infonas.searchspace.distance import CellCodes
from infonas.searchspace.features import RAW_ENCODER, RAW_LABEL
from infonas.searchspace.store import load_searchspace
from infonas.reporting import comparisons, figures, maps, tables


#: display names of the searches (keys are encoder names, `raw` for the raw cell features, `bo_<encoder>`,
#: `evolution` and `random`).
SEARCH_LABELS = {"infonas": "info-NAS", "arch2vec": "arch2vec", RAW_ENCODER: RAW_LABEL, "bo_infonas": "BO: info-NAS",
                 "bo_arch2vec": "BO: arch2vec", f"bo_{RAW_ENCODER}": f"BO: {RAW_LABEL}",
                 "evolution": "regularized evolution", "random": "random search"}


def training_report(metrics_paths: Mapping[int, str], variant: str, out_dir) -> None:
    """Joint-training figures and the final-epoch table of one model variant over its seeds.

    The labeled-loss figure and the scaling table exist only for runs with an info-NAS model
    (a plain arch2vec run has no labeled data).
    """
    out = Path(out_dir)
    metrics = tables.load_metrics(metrics_paths)
    if "infonas" in set(metrics["model"]):
        figures.plot_labeled_losses(metrics, out / "labeled_losses")
        tables.write_table(tables.scaling_results_table([(variant, metrics)]), out / "scaling_results",
                           caption=f"Labeled losses of scaling variant {variant} next to the baseline")
    figures.plot_vae_losses(metrics, out / "vae_losses")
    figures.plot_reconstruction(metrics, out / "reconstruction")
    figures.plot_validity_uniqueness(metrics, out / "validity_uniqueness")
    tables.write_table(tables.final_training_table(metrics), out / "final_epoch",
                       caption="Final-epoch metrics, mean ± std over seeds")


def best_accuracies(benchmark) -> tuple[float, float]:
    """Best validation and test accuracy of the searchable rows (the regret's reference)."""
    searchable = np.isfinite(benchmark.val_acc) & np.isfinite(benchmark.train_time)
    if not searchable.any():
        raise InfonasError("benchmark table: no row has both an accuracy and a training time")
    test = benchmark.test_acc[searchable]
    best_test = float(np.nanmax(test)) if np.isfinite(test).any() else float("nan")
    return float(benchmark.val_acc[searchable].max()), best_test


def published_references(benchmark) -> tuple[dict, str]:
    """arch2vec's published curves to draw beside a run's searches (none unless the benchmark scores the
    full NB-101 space) and the note that says which: `infonas.evaluation.reference_curves`."""
    full = searches_full_space(benchmark.val_acc, benchmark.train_time)
    n_searchable = int((np.isfinite(benchmark.val_acc) & np.isfinite(benchmark.train_time)).sum())
    return (load_reference_curves() if full else {}), reference_note(full, n_searchable)


def _search_table(results, best_val, best_test, out_prefix, note: str) -> Path:
    return tables.write_table(tables.search_table(results, best_val, best_test), f"{out_prefix}_table",
                              caption=f"Regret (best possible minus best found) over runs, mean, std, standard "
                              f"error of the mean and median. {note}", float_format="{:.2e}")["csv"]


def _queries_table(results, out_prefix) -> Path:
    return tables.write_table(tables.queries_table(results), f"{out_prefix}_queries",
                              caption="Accuracy of the incumbent (best validation accuracy found) after a number "
                              "of queried architectures, over runs that made that many within the budget: arch2vec "
                              "Table 2's format (it printed the test accuracy after 400 queries, mean of 500 runs, on "
                              "the full space).", float_format="{:.4f}")["csv"]


def search_report(result_paths: Mapping[str, str], benchmark_path, out_prefix) -> None:
    """Regret over time with the ECDF of final regret, and the regret table, for named searches
    (encoders, the raw cell features, random search), beside arch2vec's published curves on the full space."""
    results = {SEARCH_LABELS.get(name, name): load_search(path) for name, path in result_paths.items()}
    benchmark = load_benchmark(benchmark_path)
    best_val, best_test = best_accuracies(benchmark)
    references, note = published_references(benchmark)
    figures.plot_search_regret(results, best_val, best_test, out_prefix, references=references, note=note)
    _search_table(results, best_val, best_test, out_prefix, note)


def prediction_report(csv_paths, out_prefix) -> None:
    """Box plots of RMSE and Pearson r by n_train and encoder (info-NAS, arch2vec, raw cells), and the
    mean ± std table."""
    frame = pd.concat([_read_predictions(path) for path in csv_paths], ignore_index=True)
    frame = frame.assign(encoder=frame["encoder"].map(tables.model_label))
    figures.plot_predictor_boxes(frame, out_prefix)
    table = tables.predictor_table(frame)
    tables.write_table(table, f"{out_prefix}_table", caption="Performance prediction on latent features, "
                       "mean ± std over seeds." + tables.protocol_note(frame) + tables.constant_note(table))


def prediction_scatter_report(pair_paths, out_prefix) -> None:
    """arch2vec Fig. 2: predicted vs true accuracy per encoder and scatter regressor, every seed pooled."""
    frame = pd.concat([_read_predictions(path) for path in pair_paths], ignore_index=True)
    figures.plot_prediction_scatter(frame, out_prefix)


def scaling_variants(out_prefix) -> None:
    tables.write_table(tables.scaling_variants_table(), out_prefix, caption="Scaling variants (thesis Table 4.2)")


# ---------------------------------------------------------------- comparisons across variants

def _labeled_splits_of(entries) -> list[str]:
    """Labeled splits found in any variant's metrics, the paper's three first."""
    found = [s for _, _, frame in entries for s in tables.labeled_splits(frame)]
    return list(dict.fromkeys(found))


def comparison_report(
    entries_paths: Mapping[str, Mapping[int, str]],
    settings: Mapping[str, Mapping],
    out_dir,
    kind: str = "lr_loss",
    epoch: int | None = None,
    splits: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Tables and curves comparing the variants of one thesis table group (Tables 4.2-4.12).

    entries_paths: variant name -> {seed: metrics.csv path}, in table order; settings: variant name
    -> the settings that distinguish it (e.g. {"train.lr": 0.001, "train.labeled_loss": "l1"});
    kind: a key of `comparisons.COMPARISON_COLUMNS` (scaling | lr_loss | loss_weights); epoch:
    the epoch to report (default each run's last; the thesis' sweeps report epoch 8); splits: the
    labeled splits to write per-split files for (default: all in the metrics).
    Writes into out_dir, each table as .csv/.md/.tex and each figure as .png/.pdf:
    `comparison` (every column of the kind, all models, pooled over seeds: the wide table for
    machines); per split S, `comparison_S` (info-NAS's labeled loss and baseline on S, their L1
    whatever the training loss, plus its VAE losses for S = train: one thesis table) and `curves_S`
    (labeled loss on S over epochs, one line per variant); `comparison_reconstruction` (Tables 4.5,
    4.9). The per-split and reconstruction tables have per-seed rows under each pooled row and an
    .html page, the report's readable table. Returns {name: path of .csv/.png}.
    """
    out = Path(out_dir)
    entries = [(name, dict(settings.get(name, {})), tables.load_metrics(paths))
               for name, paths in entries_paths.items()]
    at = f"epoch {epoch}" if epoch is not None else "the final epoch"
    cells = "mean ± std over seeds [mean of the seeds' 95% CI over samples], then each seed's own values"
    written = {"comparison": tables.write_table(
        comparisons.comparison_table(entries, comparisons.comparison_columns(kind), epoch), out / "comparison",
        caption=f"Variants compared ({kind}) at {at}, mean ± std over seeds")["csv"]}
    for split in (splits if splits is not None else _labeled_splits_of(entries)):
        columns = (["vae_loss_labeled", "vae_loss_unlabeled"] if split == "train" else []) + [
            f"labeled_loss_{split}", f"labeled_loss_{split}_*", f"baseline_{split}", f"baseline_{split}_*",
            f"labeled_l1_{split}", f"baseline_l1_{split}"]
        table = comparisons.comparison_table(entries, columns, epoch, models=["infonas"], per_seed=True)
        written[f"comparison_{split}"] = tables.write_table(
            table, out / f"comparison_{split}", headers=split_headers(split), html_page=True,
            caption=f"info-NAS on {tables.split_label(split)} at {at}: {cells}")["csv"]
        written[f"curves_{split}"] = comparisons.plot_variant_curves(
            entries, f"labeled_loss_{split}", out / f"curves_{split}")[0]
    recon = list(comparisons.RECONSTRUCTION_COLUMNS)
    written["comparison_reconstruction"] = tables.write_table(
        comparisons.comparison_table(entries, recon, epoch, per_seed=True), out / "comparison_reconstruction",
        headers=comparisons.RECONSTRUCTION_COLUMNS, html_page=True,
        caption=f"Reconstruction accuracy at {at}, labeled validation networks and unlabeled held-out cells "
                f"(padding counted: arch2vec's and the thesis' ops accuracy): mean ± std over seeds, "
                f"then each seed")["csv"]
    return written


def split_headers(split: str) -> dict[str, str]:
    """Display headers of a per-split comparison table (the split is in its caption)."""
    return {"vae_loss_labeled": "VAE loss, labeled", "vae_loss_unlabeled": "VAE loss, unlabeled",
            f"labeled_loss_{split}": "labeled loss", f"labeled_loss_{split}_median": "labeled loss, median",
            f"baseline_{split}": "baseline", f"baseline_{split}_median": "baseline, median",
            f"labeled_l1_{split}": "L1 loss", f"baseline_l1_{split}": "L1 baseline"}


def output_heatmaps_report(samples: Mapping[str, object], out_prefix) -> dict[str, Path]:
    """Predicted vs true outputs of one IO split as heatmaps (thesis Figs. 4.4-4.11).

    samples: `infonas.evaluation.outputs.heatmap_samples` of a checkpoint (its "networks" and
    "one_image" samples). Writes `<out_prefix>_networks.png/.pdf` (each network with its images as
    rows) and `<out_prefix>_one_image.png/.pdf` (networks as rows on one image).
    Returns {"networks": png, "one_image": png}.
    """
    return {"networks": maps.plot_output_heatmaps(samples["networks"], f"{out_prefix}_networks",
                                                  layout="network")[0],
            "one_image": maps.plot_output_heatmaps(samples["one_image"], f"{out_prefix}_one_image",
                                                   layout="image")[0]}


def _encoders_in(embeddings_path, encoders: Sequence[str]) -> list[str]:
    """The `encoders` an embed output holds (a plain arch2vec job has one); none is an error."""
    if not Path(embeddings_path).is_file():
        raise InfonasError(f"{embeddings_path}: embeddings file not found")
    with h5py.File(embeddings_path, "r") as handle:
        present = [e for e in encoders if e in handle]
    if not present:
        raise InfonasError(f"{embeddings_path}: none of the encoders {', '.join(encoders)}")
    return present


def latent_space_report(
    embeddings_path,
    benchmark_path,
    out_prefix,
    seed: int = 0,
    method: str = "pca",
    max_points: int | None = 20000,
    encoders: Sequence[str] = ("infonas", "arch2vec"),
) -> Path:
    """info-NAS's and the reference arch2vec's latent spaces side by side, coloured by accuracy.

    embeddings_path: an embed output (both encoders of one checkpoint); benchmark_path: benchmark.h5,
    whose test accuracy (validation accuracy when it has none) colours the points; encoders missing
    from the file are left out (a plain arch2vec job has one). Writes `<out_prefix>.png/.pdf`.
    """
    from infonas.evaluation.embed import load_embedding  # lazy: embed imports torch, no other report needs it

    present = _encoders_in(embeddings_path, encoders)
    accuracy, name = load_benchmark(benchmark_path).prediction_target()
    features = {e: load_embedding(embeddings_path, e) for e in present}
    label = "test accuracy" if name == "test_acc" else "validation accuracy"
    return maps.plot_latent_spaces(features, accuracy, out_prefix, method=method, max_points=max_points,
                                   seed=seed, accuracy_label=label)[0]


def distance_line_label(model: str, encoder: str, epoch: int) -> str:
    """Legend label of one encoder of one trained model, e.g. 'arch2vec (beside infonas), epoch 30'."""
    name = tables.model_label(encoder)
    if encoder != model:
        name += f" (beside {model})" if encoder == "arch2vec" else f" ({model})"
    return f"{name}, epoch {epoch}"


def latent_distance_report(
    entries: Sequence[tuple[str, int, str]],
    searchspace_path,
    out_prefix,
    seed: int = 0,
    anchors: int = 200,
    max_distance: int = 8,
    per_distance: int = 20,
    encoders: Sequence[str] = ("infonas", "arch2vec"),
) -> Path:
    """L2 latent distance against edit distance for every encoder of every (model, epoch) (arch2vec Fig. 3).

    entries: (model, epoch, embeddings path) per trained model and reported epoch; each encoder
    in the file (of `encoders`) becomes one line, all measured on the same cell pairs of
    the search space at `searchspace_path` (the rows the features belong to). Writes
    `<out_prefix>.png/.pdf` and `<out_prefix>_table.csv/.md/.tex`; returns the PNG path.
    """
    from infonas.evaluation.embed import load_embedding, load_embedding_hashes  # lazy: embed imports torch

    if not entries:
        raise InfonasError("latent distances: no embeddings given")
    space = load_searchspace(searchspace_path)
    pairs = sample_pairs(CellCodes(space["adjacency"], space["ops"], what=str(searchspace_path)),
                         anchors, max_distance, per_distance, seed)
    frames = []
    for model, epoch, path in entries:
        if not np.array_equal(load_embedding_hashes(path), space["hash"]):
            raise InfonasError(f"{path}: its rows are not the cells of {searchspace_path}")
        for encoder in _encoders_in(path, encoders):
            summary = distance_summary(load_embedding(path, encoder), pairs, what=f"{path} ({encoder})")
            frames.append(summary.assign(line=distance_line_label(model, encoder, int(epoch)), model=model,
                                         encoder=encoder, epoch=int(epoch)))
    summary = pd.concat(frames, ignore_index=True)
    title = (f"Latent L2 distance against edit distance: {len(np.unique(pairs.random_first))} anchor cells, "
             f"up to {per_distance} partners per distance (seed {seed})")
    png = maps.plot_latent_distances(summary, out_prefix, title=title)[0]
    columns = ["line", "model", "encoder", "epoch", "edit_distance", "n_pairs", "mean", "std", "median",
               "relative_mean", "relative_std", "random_pair_mean"]
    tables.write_table(summary[columns], f"{out_prefix}_table",
                       caption="L2 distance in latent space by edit distance between cells (relative: over the "
                               "mean distance of random cell pairs)")
    return png


def _as_list(paths) -> list:
    return [paths] if isinstance(paths, (str, Path)) else list(paths)


def _load_curves(curves: Sequence[tuple]) -> tuple[dict, dict]:
    """(label -> SearchResult pooled over its files, label -> style) of (label, group, encoder, paths)
    curves (`infonas.models.variants.label_feature_sets`); colour by group, line style by encoder."""
    if not curves:
        raise InfonasError("search comparison: no curves given")
    checked = []
    for k, curve in enumerate(curves):
        if not isinstance(curve, (tuple, list)) or len(curve) != 4:
            raise InfonasError(f"search comparison curve {k}: expected (label, group, encoder, paths)")
        checked.append((str(curve[0]), str(curve[1] or ""), str(curve[2]), curve[3]))
    styles = comparisons.comparison_styles([(group, encoder) for _, group, encoder, _ in checked])
    results, named_styles = {}, {}
    for label, group, encoder, paths in checked:
        if label in results:
            raise InfonasError(f"search comparison: curve '{label}' is given twice")
        loaded = [load_search(p) for p in _as_list(paths)]
        results[label] = loaded[0] if len(loaded) == 1 else concat_results(label, loaded)
        named_styles[label] = styles[(group, encoder)]
    return results, named_styles


def search_comparison_report(curves: Sequence[tuple], benchmark_path, out_prefix, band: str = "sem") -> Path:
    """Regret of several variants' searches on one axis, with their table (paper Figs. 7-8).

    curves: (label, group, encoder, path or list of paths) per curve, in legend order, e.g.
    ("lr=1e-3: info-NAS, epoch 6", "lr=1e-3/infonas/6", "infonas", [seed1.h5, seed2.h5]), ...,
    ("random search", "", "random", "random.h5"). Several paths of one curve (e.g. one per training
    seed) pool their runs. Colour follows the group, line style the encoder
    (`comparisons.comparison_styles`). Writes `<out_prefix>.png/.pdf` (validation and test regret
    with their ECDFs) and `<out_prefix>_table.csv/.md/.tex`; returns the PNG path.
    """
    results, styles = _load_curves(curves)
    benchmark = load_benchmark(benchmark_path)
    best_val, best_test = best_accuracies(benchmark)
    references, note = published_references(benchmark)
    png = figures.plot_search_regret(results, best_val, best_test, out_prefix, band=band, styles=styles,
                                     references=references, note=note)[0]
    _search_table(results, best_val, best_test, out_prefix, note)
    return png


def no_test_reason(benchmark) -> str | None:
    """Why a benchmark table yields no test regret (None when it has test accuracies)."""
    if benchmark.has_test:
        return None
    return (f"No test regret: the benchmark table ({benchmark.source}) has no test accuracy. "
            "The builtin NB-101 metrics (metrics_csv: builtin) carry validation accuracies only; "
            "the official tfrecord, or a metrics CSV with test_acc columns, has them.")


def search_features_report(curves: Sequence[tuple], benchmark_path, out_prefix, band: str = "sem") -> dict[str, Path]:
    """Paper Figs. 7-8: validation and test regret over time of every feature set, one axis each.

    curves as in `search_comparison_report` (e.g. info-NAS and its reference arch2vec at epochs 10
    and 30, the 8-epoch arch2vec and random search). Writes `<out_prefix>_validation.png/.pdf`,
    `<out_prefix>_test.png/.pdf` (a panel that says why, when the benchmark has no test accuracy)
    `<out_prefix>_table.csv/.md/.tex` (regret at three times) and `<out_prefix>_queries.csv/.md/.tex` (accuracy
    after 50-400 queries, arch2vec Table 2); returns {"validation": png, "test": png, "table": csv, "queries": csv}.
    """
    results, styles = _load_curves(curves)
    benchmark = load_benchmark(benchmark_path)
    best_val, best_test = best_accuracies(benchmark)
    references, note = published_references(benchmark)
    written = {kind: figures.plot_regret_over_time(results, best_val, best_test, kind, f"{out_prefix}_{kind}",
                                                   band=band, styles=styles, missing=no_test_reason(benchmark),
                                                   references=references, note=note)[0]
               for kind in ("validation", "test")}
    written["table"] = _search_table(results, best_val, best_test, out_prefix, note)
    written["queries"] = _queries_table(results, out_prefix)
    return written


def _feature_predictions(entries: Sequence[tuple]) -> pd.DataFrame:
    """The predict CSVs of (label, group, encoder, paths) entries, tagged with `label` and `group`."""
    frames = []
    for k, entry in enumerate(entries):
        if not isinstance(entry, (tuple, list)) or len(entry) != 4:
            raise InfonasError(f"prediction comparison entry {k}: expected (label, group, encoder, paths)")
        label, group, encoder, paths = entry
        for path in _as_list(paths):
            frames.append(_read_predictions(path).assign(label=str(label), group=str(group or ""),
                                                         encoder=str(encoder)))
    if not frames:
        raise InfonasError("prediction comparison: no result files given")
    return pd.concat(frames, ignore_index=True)


def _prediction_table(frame: pd.DataFrame, out_prefix, caption: str) -> Path:
    """predictor_table by feature set (the labels), with the caption's note on constant predictions."""
    table = tables.predictor_table(frame.assign(encoder=frame["label"]))
    caption += tables.protocol_note(frame) + tables.constant_note(table)
    return tables.write_table(table, f"{out_prefix}_table", caption=caption)["csv"]


def prediction_comparison_report(
    entries: Sequence[tuple], out_prefix, metrics: Sequence[str] = ("rmse", "pearson_r")
) -> dict[str, Path]:
    """Performance prediction of several variants against n_train (paper Figs. 9-10, as lines).

    entries: (label, group, encoder, path or list of paths) of predict CSVs per feature set, as
    `infonas.models.variants.label_feature_sets` gives them. Writes `<out_prefix>_<metric>.png/.pdf`
    per metric (a panel per regressor, a line per feature set) and `<out_prefix>_table.csv/.md/.tex`;
    returns {metric: png path, "table": csv path}.
    """
    frame = _feature_predictions(entries)
    written = {m: comparisons.plot_prediction_comparison(frame, f"{out_prefix}_{m}", metric=m)[0] for m in metrics}
    written["table"] = _prediction_table(frame, out_prefix, "Performance prediction per feature set, mean ± std over seeds.")
    return written


def prediction_boxes_report(
    entries: Sequence[tuple], out_prefix, metrics: Sequence[str] = ("rmse", "pearson_r")
) -> dict[str, Path]:
    """Paper Figs. 9-10: box plots over seeds of each metric for every n_train, the feature sets side by side.

    entries as in `prediction_comparison_report` (e.g. info-NAS and its reference arch2vec at
    epochs 10 and 30, the 8-epoch arch2vec). Writes `<out_prefix>_<metric>.png/.pdf` per metric
    (a row of panels per regressor) and `<out_prefix>_table.csv/.md/.tex`; returns
    {metric: png path, "table": csv path}.
    """
    frame = _feature_predictions(entries)
    keys = list(dict.fromkeys(zip(frame["group"], frame["encoder"])))
    styles = comparisons.comparison_styles(keys)
    by_label = {label: styles[(g, e)] for label, g, e in zip(frame["label"], frame["group"], frame["encoder"])}
    boxes = frame.assign(encoder=frame["label"])
    written = {m: figures.plot_predictor_boxes(boxes, f"{out_prefix}_{m}", metrics=(m,), styles=by_label,
                                               legend_title="features")[0] for m in metrics}
    written["table"] = _prediction_table(frame, out_prefix, "Performance prediction per feature set, mean ± std over seeds.")
    return written


def _read_predictions(path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise InfonasError(f"{path}: unreadable prediction results ({error})") from error
