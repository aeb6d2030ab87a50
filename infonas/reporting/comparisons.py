"""Comparisons across variants of a sweep: tables and figures that put several trained configurations
side by side (thesis Tables 4.2-4.12, paper Figs. 7-10).

A *variant* is one full configuration that differs from the base in a few settings; an *entry* is
`(variant name, {setting key: value} that distinguishes it, metrics DataFrame)`, the metrics as
`tables.load_metrics` returns them (the metrics.csv of each seed, with `seed`, `model`, `epoch`).

Metric columns are picked by name or glob pattern (`fnmatch`, case-sensitive), because metrics.csv
grows: a pattern that matches nothing, or a name that is absent, is skipped; only a selection that
finds no column at all is an error. The `_ci_low`/`_ci_high` columns of a picked metric come along
as its confidence interval, as in `tables.final_training_table`.

Curves of several variants share one axis: each group (a variant's model at one epoch) has a colour
(`VARIANT_COLORS`, in order of appearance) and each encoder a line style (`ENCODER_STYLES`), so
"info-NAS of variant A" and "its side-by-side arch2vec" share a colour and differ in dash; random
search is always grey and dotted. Legend texts come from `infonas.models.variants.label_feature_sets`.
"""

from __future__ import annotations

import fnmatch
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from infonas.errors import InfonasError
from infonas.reporting import figures, tables
from infonas.reporting.figures import draw_curve, epoch_axis, new_figure, paper_style, sample_ci, seed_curve
from infonas.reporting.tables import model_label, model_order, split_label, with_seed
from infonas.searchspace.features import RAW_ENCODER

#: Default metric columns per thesis table group (patterns; absent columns are skipped).
COMPARISON_COLUMNS: dict[str, list[str]] = {
    # Tables 4.2-4.4: VAE losses and each split's labeled loss next to its mean-output baseline.
    "scaling": ["vae_loss_labeled", "vae_loss_unlabeled", "labeled_loss_*", "baseline_*"],
    # Tables 4.5-4.8: the same, every loss also as L1 and MSE (the runs train with different losses:
    # Tables 4.7-4.8 print an "L1 loss" column), plus reconstruction accuracy.
    "lr_loss": ["vae_loss_labeled", "vae_loss_unlabeled", "labeled_loss_*", "labeled_l1_*", "labeled_mse_*",
                "baseline_*", "*_median*", "ops_acc*", "adj_acc*"],
    # Tables 4.9-4.12: as lr_loss; validity moves with the loss weights (thesis 4.1), so it is shown.
    "loss_weights": ["vae_loss_labeled", "vae_loss_unlabeled", "labeled_loss_*", "labeled_l1_*", "labeled_mse_*",
                     "baseline_*", "*_median*", "ops_acc*", "adj_acc*", "validity"],
}
#: Reconstruction accuracies in thesis Tables 4.5 and 4.9's order (ops, then adjacency; labeled
#: validation networks, then held-out cells), each ops accuracy with padding rows counted (the
#: thesis' numbers, `ops_acc_padded*`) and without; display headers beside them.
RECONSTRUCTION_COLUMNS = {
    "ops_acc_padded_valid_networks": "ops, labeled (padding counted)",
    "ops_acc_padded": "ops, unlabeled (padding counted)",
    "ops_acc_valid_networks": "ops, labeled",
    "ops_acc": "ops, unlabeled",
    "adj_acc_valid_networks": "adjacency, labeled",
    "adj_acc": "adjacency, unlabeled",
}
# Any other comparison: everything the three groups show, plus uniqueness.
COMPARISON_COLUMNS["all"] = COMPARISON_COLUMNS["loss_weights"] + ["uniqueness*"]
#: metrics.csv columns that identify a row or count steps; never metrics to compare.
ID_COLUMNS = frozenset({"epoch", "model", "seed", "source", "seconds", "n_labeled_steps", "n_unlabeled_steps"})
_CI = ("_ci_low", "_ci_high")

VARIANT_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                  "#bcbd22", "#393b79", "#843c39", "#637939")
ENCODER_STYLES = {"infonas": ("-", "o"), "infonas-opemb": ("-", "o"), "arch2vec": ("--", "s"), "random": (":", "")}
OTHER_STYLES = (("-.", "^"), ((0, (5, 1, 1, 1, 1, 1)), "v"), ((0, (1, 1)), "D"))
RANDOM_COLOR = "0.45"
RAW_STYLE = {"color": "black", "linestyle": "-.", "marker": "x"}


# ---------------------------------------------------------------- column selection

def metric_stems(frame: pd.DataFrame) -> list[str]:
    """Numeric metric columns of a metrics frame, without identifiers and CI bounds, in file order."""
    return [c for c in frame.columns
            if c not in ID_COLUMNS and not c.endswith(_CI) and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])]


def select_columns(available: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """Columns matching each pattern in turn (exact names or globs), each once, absent ones skipped."""
    if isinstance(patterns, str):
        patterns = [patterns]
    chosen: list[str] = []
    for pattern in patterns:
        for column in available:
            if column not in chosen and (column == pattern or fnmatch.fnmatchcase(column, pattern)):
                chosen.append(column)
    return chosen


def comparison_columns(kind_or_patterns) -> list[str]:
    """A kind of COMPARISON_COLUMNS, or the caller's own pattern list, as a pattern list."""
    if isinstance(kind_or_patterns, str) and kind_or_patterns in COMPARISON_COLUMNS:
        return list(COMPARISON_COLUMNS[kind_or_patterns])
    if isinstance(kind_or_patterns, str):
        raise InfonasError(f"comparison: unknown kind '{kind_or_patterns}' "
                           f"(valid: {', '.join(COMPARISON_COLUMNS)}, or a list of column patterns)")
    return list(kind_or_patterns)


# ---------------------------------------------------------------- entries

def check_entries(entries: Sequence) -> list[tuple[str, dict, pd.DataFrame]]:
    """(name, settings, checked metrics frame) per entry; a malformed or repeated entry names itself."""
    if not entries:
        raise InfonasError("comparison: no variants given")
    checked, seen = [], set()
    for k, entry in enumerate(entries):
        if not isinstance(entry, (tuple, list)) or len(entry) != 3:
            raise InfonasError(f"comparison entry {k}: expected (variant name, settings dict, metrics frame)")
        name, settings, metrics = entry
        if str(name) in seen:
            raise InfonasError(f"comparison: variant '{name}' is given twice")
        if not isinstance(settings, Mapping):
            raise InfonasError(f"comparison variant '{name}': settings must be a mapping, "
                               f"got {type(settings).__name__}")
        seen.add(str(name))
        checked.append((str(name), dict(settings), with_seed(metrics, f"metrics of variant {name}")))
    return checked


def setting_text(value) -> str:
    """A setting as written in a config file: null, true/false, numbers as given (1e-4 -> 0.0001)."""
    if value is None:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(setting_text(v) for v in value) + "]"
    return str(value)


# ---------------------------------------------------------------- table

def comparison_table(
    entries: Sequence,
    columns=None,
    epoch: int | None = None,
    models: Sequence[str] | None = None,
    per_seed: bool = False,
) -> pd.DataFrame:
    """Metrics of several variants at the final (or a given) epoch, one row per (variant, model).

    Columns: `variant`, the union of the entries' setting keys (as config text; empty where a
    variant does not set a key), `model` (display name), `n_seeds` (seeds with a row at that
    epoch), then for each picked metric X: `X_mean`, `X_std` (sample std over seeds, NaN for one
    seed) and, where metrics.csv has them, `X_ci_low`, `X_ci_high` (mean over seeds of each seed's
    bootstrapped CI bounds). `columns`: a COMPARISON_COLUMNS kind or names/glob patterns (default
    "lr_loss", everything the thesis tables show). `models` restricts the models (default: all).

    `per_seed`: a `seed` column after `model`; each pooled row (seed `all`) is followed by one row
    per seed in ascending order with that seed's own values (std NaN, its own CI over samples), as
    the thesis printed single seeds (Tables 4.2-4.12: seed 1).
    """
    checked = check_entries(entries)
    patterns = comparison_columns("lr_loss" if columns is None else columns)
    keys = list(dict.fromkeys(k for _, settings, _ in checked for k in settings))
    stems = list(dict.fromkeys(c for _, _, frame in checked for c in metric_stems(frame)))
    picked = select_columns(stems, patterns)
    if not picked:
        raise InfonasError(f"comparison: no metric column matches {', '.join(patterns)} "
                           f"(metrics have {', '.join(stems) or 'none'})")
    rows = []
    for name, settings, frame in checked:
        final = tables.at_epoch(frame, epoch, f"metrics of variant {name}")
        present = [m for m in model_order(final) if models is None or m in models]
        for model in present:
            part = final[final["model"] == model]
            ident = {"variant": name, **{k: setting_text(settings[k]) if k in settings else "" for k in keys},
                     "model": model_label(model)}
            groups = [("all", part)]
            if per_seed:
                groups += [(str(int(seed)), part[part["seed"] == seed]) for seed in sorted(part["seed"].unique())]
            for seed, rows_of in groups:
                rows.append({**ident, **({"seed": seed} if per_seed else {}),
                             "n_seeds": int(rows_of["seed"].nunique()), **_statistics(rows_of, picked)})
    if not rows:
        raise InfonasError(f"comparison: no rows of model(s) {', '.join(models or [])} in any variant")
    return pd.DataFrame(rows)


def _statistics(part: pd.DataFrame, columns: Sequence[str]) -> dict[str, float]:
    """`X_mean`, `X_std` over the rows (seeds) of each column, and the mean CI bounds where it has them."""
    out = {}
    for col in columns:
        out[f"{col}_mean"], out[f"{col}_std"] = tables.finite_mean_std(part[col]) if col in part else (math.nan,) * 2
        if all(col + s in part for s in _CI):
            for s in _CI:
                out[col + s] = tables.finite_mean(part[col + s])
    return out


# ---------------------------------------------------------------- styles

def comparison_styles(keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """Colour per variant or group (order of first appearance), line style and marker per encoder.

    keys: (variant or group, encoder) pairs. Encoder `random` is grey and dotted whatever its variant,
    the raw cell features black and dash-dotted; encoders other than info-NAS/arch2vec get further dash
    patterns in order of appearance.
    """
    variants = list(dict.fromkeys(v for v, e in keys if e not in ("random", RAW_ENCODER)))
    others = [e for e in dict.fromkeys(e for _, e in keys) if e not in ENCODER_STYLES and e != RAW_ENCODER]
    styles = {}
    for variant, encoder in keys:
        if encoder == "random":
            styles[(variant, encoder)] = {"color": RANDOM_COLOR, "linestyle": ":", "marker": ""}
            continue
        if encoder == RAW_ENCODER:
            styles[(variant, encoder)] = dict(RAW_STYLE)
            continue
        ls, marker = ENCODER_STYLES.get(encoder) or OTHER_STYLES[others.index(encoder) % len(OTHER_STYLES)]
        color = VARIANT_COLORS[variants.index(variant) % len(VARIANT_COLORS)]
        styles[(variant, encoder)] = {"color": color, "linestyle": ls, "marker": marker}
    return styles


# ---------------------------------------------------------------- figures

def _log_wanted(values: np.ndarray) -> bool:
    """Log scale when positive values span more than two decades (scaling variants differ by 1e5)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return bool(v.size) and bool((v > 0).all()) and v.max() / v.min() > 100


@paper_style
def plot_variant_curves(
    entries: Sequence,
    column: str,
    out: str | os.PathLike,
    model: str = "infonas",
    band: str = "ci",
    baseline: bool = True,
    logy: bool | None = None,
    ylabel: str | None = None,
    ci_seed: int = 0,
) -> tuple[Path, Path]:
    """One metric over epochs, one line per variant: mean over seeds with its band (thesis 4.2.1 style).

    Band: bootstrapped 95 % CI of the mean over seeds ("ci") or the min-max range; with one seed,
    the run's own CI over samples when metrics.csv has it. For `labeled_loss_S` with `baseline`,
    the mean-output baseline is drawn too: one grey dashed line when all variants share it, else a
    thin dotted line in each variant's colour (scaling variants change the targets and so the
    baseline). `logy` None: log scale when the curves span more than two decades.
    """
    figures.check_band(band, figures.SEED_BANDS)
    checked = check_entries(entries)
    rng = np.random.default_rng(ci_seed)
    base_col = "baseline_" + column[len("labeled_loss_"):] if column.startswith("labeled_loss_") else None
    fig, axes = new_figure(1, 1, panel=(5.2, 2.4))
    ax = axes[0, 0]
    drawn, baselines, n_seeds = [], [], set()
    for i, (name, _, frame) in enumerate(checked):
        rows = frame[frame["model"] == model]
        if rows.empty or column not in rows or not np.isfinite(rows[column].to_numpy(np.float64)).any():
            continue
        color = VARIANT_COLORS[i % len(VARIANT_COLORS)]
        curve = sample_ci(rows, column, seed_curve(rows, column, band, rng))
        n = int(rows["seed"].nunique())
        n_seeds.add(n)
        draw_curve(ax, curve, color, f"{name} ({n} seed{'s' if n > 1 else ''})")
        drawn += [curve["mean"], curve["low"], curve["high"]]
        if baseline and base_col in rows:
            baselines.append((color, seed_curve(rows, base_col, band, rng)))
    if not drawn:
        raise InfonasError(f"variant curves: no variant has values of '{column}' for model '{model}'")
    _draw_baselines(ax, baselines)
    drawn += [b["mean"] for _, b in baselines]
    if logy if logy is not None else _log_wanted(np.concatenate([np.asarray(d, np.float64) for d in drawn])):
        ax.set_yscale("log")
    quantity, where_ = _column_label(column)
    epoch_axis(ax, ylabel or quantity)
    ax.set_title(f"{model_label(model)}, {where_}" if where_ else model_label(model))
    figures.figure_legend(fig, title=band_text(sorted(n_seeds), band), right=True)
    return figures.save_figure(fig, out)


def band_text(n_seeds: Sequence[int], band: str) -> str:
    """Legend title for variants with possibly different seed counts (ascending)."""
    if n_seeds[0] == n_seeds[-1]:
        return figures.band_legend_title(n_seeds[0], band)
    kind = "95% bootstrap CI" if band == "ci" else "min-max"
    many = [n for n in n_seeds if n > 1]
    text = f"band: {kind} over {many[0]}-{many[-1]} seeds" if many[0] != many[-1] else \
        f"band: {kind} over {many[0]} seeds"
    return text + ("\n(single-seed variants: 95% CI over samples)" if n_seeds[0] == 1 else "")


def _draw_baselines(ax, baselines: list) -> None:
    """One grey line for a shared baseline, else a thin dotted one per variant."""
    if not baselines:
        return
    means = [b.set_index("epoch")["mean"] for _, b in baselines]
    shared = all(m.index.equals(means[0].index) and np.allclose(m, means[0], rtol=1e-6, atol=0) for m in means)
    if shared:
        draw_curve(ax, baselines[0][1], "0.45", "baseline (mean output)", "--")
        return
    for color, curve in baselines:
        ax.plot(curve["epoch"], curve["mean"], color=color, linestyle=":", linewidth=0.9)
    ax.plot([], [], color="0.45", linestyle=":", linewidth=0.9, label="baseline of each variant (its colour)")


def _column_label(column: str) -> tuple[str, str]:
    """(quantity, split) of a metrics.csv column: "labeled_loss_valid_unseen_networks" ->
    ("labeled loss", "unseen networks"); other columns have no split."""
    for stem, text in (("labeled_loss_", "labeled loss"), ("baseline_", "baseline")):
        if column.startswith(stem) and column != "labeled_loss_batches":
            return text, split_label(column[len(stem):])
    return column.replace("_", " "), ""


@paper_style
def plot_prediction_comparison(
    frame: pd.DataFrame,
    out: str | os.PathLike,
    metric: str = "pearson_r",
    what: str = "predictions",
) -> tuple[Path, Path]:
    """Per regressor a panel of the metric's mean ± std over seeds against n_train (log axis).

    `frame`: rows of `run_prediction` with `label` (the feature set's legend text), `group` and
    `encoder` columns (`stages.prediction_comparison_report` tags the predict CSVs so); one line per
    label, coloured by group and dashed by encoder (`comparison_styles`), so ten lines stay apart.
    The band is ± one sample std over seeds (paper Figs. 9-10 show their spread).
    """
    tables.require_columns(frame, ("label", "group", "encoder", "regressor", "n_train", "seed", metric), what)
    if frame.empty:
        raise InfonasError(f"{what}: no prediction rows to plot")
    frame = frame.assign(group=frame["group"].fillna("").astype(str), encoder=frame["encoder"].astype(str))
    regressors = list(dict.fromkeys(frame["regressor"]))
    lines = list(dict.fromkeys(zip(frame["label"], frame["group"], frame["encoder"])))
    styles = comparison_styles([(g, e) for _, g, e in lines])
    sizes = sorted(frame["n_train"].unique())
    ncols = min(len(regressors), 2)
    nrows = math.ceil(len(regressors) / ncols)
    fig, axes = new_figure(nrows, ncols, panel=(3.4, 2.3))
    label = figures.PREDICTION_LABELS.get(metric, metric)
    for k, ax in enumerate(axes.flat):
        if k >= len(regressors):
            ax.set_visible(False)
            continue
        reg = regressors[k]
        for name, group, encoder in lines:
            part = frame[(frame["regressor"] == reg) & (frame["label"] == name)]
            if part.empty:
                continue
            x = np.array(sorted(part["n_train"].unique()), np.float64)
            mean, std = np.array([tables.finite_mean_std(part.loc[part["n_train"] == n, metric]) for n in x]).T
            std = np.nan_to_num(std)
            st = styles[(group, encoder)]
            ax.plot(x, mean, color=st["color"], linestyle=st["linestyle"], marker=st["marker"] or None,
                    markersize=3, label=name)
            ax.fill_between(x, mean - std, mean + std, color=st["color"], alpha=0.12, linewidth=0)
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(int(n)) for n in sizes])
        ax.minorticks_off()
        ax.set_title(tables.REGRESSOR_LABELS.get(reg, reg))
        ax.set_ylabel(label)
        if k >= len(regressors) - ncols:
            ax.set_xlabel("number of training architectures")
    n_seeds = int(frame.groupby(["label", "regressor", "n_train"])["seed"].nunique().max())
    figures.figure_legend(fig, title=f"mean ± std over {n_seeds} seed{'s' if n_seeds > 1 else ''}")
    return figures.save_figure(fig, out)
