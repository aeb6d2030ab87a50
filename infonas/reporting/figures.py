"""Figures of the info-NAS thesis (chapter 4), paper (section 4) and arch2vec's regret plot (Fig. 6).

Every function draws with matplotlib's object-oriented API on an Agg canvas (no pyplot, so
importing this module changes no global backend), at paper size (8 pt text, panels about 2.4 in
wide), writes `<out>.png` and `<out>.pdf` atomically and returns the two paths. PDFs carry no
creation date, so a rerun on the same inputs gives the same files.

Joint-training inputs are a metrics DataFrame as described in `infonas.reporting.tables` (the
concatenated metrics.csv files with a `seed` column, see `load_metrics`). Across seeds a curve is
the mean per epoch, with a band that is the bootstrapped 95 % CI of that mean (thesis 4.2.1, the
default) or the min-max range; with a single seed, labeled losses show that seed's bootstrapped CI
over samples and the other metrics no band.
"""

from __future__ import annotations

import functools
import logging
import os
import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from infonas.errors import InfonasError
from infonas.evaluation.reference_curves import ReferenceCurve
from infonas.evaluation.regret import SearchResult, ecdf, final_regret, log_time_grid, regret_curves
from infonas.files import atomic_path
from infonas.reporting.tables import (
    REGRESSOR_LABELS,
    constant_predictions,
    labeled_splits,
    model_label,
    model_order,
    output_paths,
    require_columns,
    split_label,
    where,
    with_seed,
)

log = logging.getLogger(__name__)

SEED_BANDS = ("ci", "minmax")
RUN_BANDS = ("sem", "iqr")
N_BOOT = 1000
PANEL = (2.4, 2.0)  # inches per panel: three panels fill a 7.2 in two-column page
PAPER_RC = {
    "font.size": 8, "axes.titlesize": 8.5, "axes.labelsize": 8, "legend.fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "lines.linewidth": 1.4, "axes.grid": True,
    "grid.alpha": 0.3, "grid.linewidth": 0.5, "legend.framealpha": 0.85, "pdf.fonttype": 42,
}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
LINESTYLES = ("-", "--", "-.", ":")
PREDICTION_LABELS = {"rmse": "RMSE", "pearson_r": "Pearson's r", "kendall_tau": "Kendall's tau"}
#: colours of arch2vec's published curves (thin, dashed), apart from the runs' own
REFERENCE_COLORS = ("0.15", "#7f7f00", "0.55", "#a05d9c", "#4b7f7f", "#b07a3a", "#556b2f", "#8b4513")


def paper_style(func):
    """Draw inside a temporary rc context, so the caller's matplotlib settings stay untouched."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(PAPER_RC):
            return func(*args, **kwargs)
    return wrapper


def new_figure(nrows: int, ncols: int, panel: tuple[float, float] = PANEL):
    """A figure (no pyplot state) with an nrows x ncols grid of panels of `panel` inches each: (fig, axes)."""
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def save_figure(fig, out: str | os.PathLike) -> tuple[Path, Path]:
    """Write `<out>.png` (200 dpi) and `<out>.pdf`, each atomically; return their paths. The figure's
    suptitle, where it has one, is also each file's Title metadata, so a reader (or a test) can tell
    what a file shows without rendering it."""
    png, pdf = output_paths(out, (".png", ".pdf"))
    title = {"Title": fig.get_suptitle()} if fig.get_suptitle() else {}
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=200, metadata={"Software": None, **title})
    with atomic_path(pdf) as tmp:
        fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "Creator": None, "Producer": None, **title})
    log.info("wrote figure %s", png)
    return png, pdf


def check_band(band: str, allowed: Sequence[str]) -> None:
    """A figure's `band` setting must be one it can draw."""
    if band not in allowed:
        raise InfonasError(f"figure band: '{band}' is not one of {', '.join(allowed)}")


# ---------------------------------------------------------------- joint training

def seed_curve(rows: pd.DataFrame, column: str, band: str, rng: np.random.Generator) -> pd.DataFrame:
    """Per epoch: mean and median over seeds, band low/high, number of seeds with a value.

    band "ci": percentile bootstrap (N_BOOT resamples of the seeds) of the mean; "minmax": range.
    With fewer than two seeds the band is NaN.
    """
    table = rows.pivot(index="epoch", columns="seed", values=column).sort_index()
    out = []
    for epoch, values in zip(table.index, table.to_numpy(dtype=np.float64)):
        v = values[np.isfinite(values)]
        if v.size == 0:
            continue
        low = high = np.nan
        if v.size > 1 and band == "minmax":
            low, high = v.min(), v.max()
        elif v.size > 1:
            boots = v[rng.integers(0, v.size, (N_BOOT, v.size))].mean(axis=1)
            low, high = np.quantile(boots, [0.025, 0.975])
        out.append((epoch, v.mean(), np.median(v), low, high, v.size))
    return pd.DataFrame(out, columns=["epoch", "mean", "median", "low", "high", "n"])


def sample_ci(rows: pd.DataFrame, column: str, curve: pd.DataFrame) -> pd.DataFrame:
    """Single seed: take the band from the run's own `_ci_low`/`_ci_high` columns (CI over samples)."""
    if curve.empty or curve["n"].max() > 1 or f"{column}_ci_low" not in rows or f"{column}_ci_high" not in rows:
        return curve
    ci = rows.set_index("epoch")[[f"{column}_ci_low", f"{column}_ci_high"]]
    ci = ci.groupby(level=0).first().reindex(curve["epoch"]).to_numpy(dtype=np.float64)
    return curve.assign(low=ci[:, 0], high=ci[:, 1])


def draw_curve(ax, curve: pd.DataFrame, color: str, label: str, linestyle: str = "-") -> None:
    """A mean curve over epochs (`seed_curve`'s frame) with its band where the band is known."""
    ax.plot(curve["epoch"], curve["mean"], color=color, linestyle=linestyle, label=label)
    if np.isfinite(curve["low"]).any():
        ax.fill_between(curve["epoch"], curve["low"], curve["high"], color=color, alpha=0.2, linewidth=0)


def epoch_axis(ax, ylabel: str | None) -> None:
    """Integer epochs on the x axis, and the y label where given."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    if ylabel:
        ax.set_ylabel(ylabel)


def legend_columns(labels: Sequence[str], width_in: float, max_cols: int = 4) -> int:
    """Legend columns that fit the figure's width at 7 pt (about 0.06 in per character plus the
    line sample), so ten long labels wrap into rows instead of running off the page."""
    longest = max((len(str(label)) for label in labels), default=1)
    fits = int(width_in // (0.06 * longest + 0.45))
    return max(1, min(len(labels), max_cols, fits))


def figure_legend(fig, handles=None, title: str | None = None, right: bool = False) -> None:
    """One legend for the whole figure, below the panels (or right of them, one column, for a
    single panel with many curves), so it never covers a curve."""
    if handles is None:
        handles, labels = fig.axes[0].get_legend_handles_labels()
    else:
        labels = [h.get_label() for h in handles]
    ncols = 1 if right else legend_columns(labels, fig.get_figwidth())
    fig.legend(handles, labels, loc="outside right upper" if right else "outside lower center", ncols=ncols,
               title=title, title_fontsize=7, frameon=False, alignment="left" if right else "center")


def band_legend_title(n_seeds: int, band: str) -> str:
    """Legend title that says what the shaded band of `n_seeds` seeds is."""
    if n_seeds < 2:
        return "band: 95% CI over samples"
    return f"band: {'95% bootstrap CI' if band == 'ci' else 'min-max'} over {n_seeds} seeds"


@paper_style
def plot_labeled_losses(
    metrics: pd.DataFrame,
    out: str | os.PathLike,
    splits: Sequence[str] | None = None,
    band: str = "ci",
    loss_name: str = "labeled loss",
    model: str = "infonas",
    logy: bool = False,
    ci_seed: int = 0,
) -> tuple[Path, Path]:
    """Labeled loss per epoch, one panel per split, next to the mean-output baseline (thesis Fig. 4.1-4.3).

    Mean over seeds (solid) with its band, the thesis' "median loss" (dotted: each run's median over
    evaluation batches, `labeled_loss_S_median`, averaged over seeds; drawn where the metrics have
    it) and the baseline (grey, dashed) with its band.
    """
    check_band(band, SEED_BANDS)
    frame = with_seed(metrics)
    what = where(frame, "metrics")
    rows = frame[frame["model"] == model]
    if rows.empty:
        raise InfonasError(f"{what}: no rows with model '{model}' for the labeled-loss figure")
    splits = list(splits) if splits is not None else labeled_splits(frame)
    if not splits:
        raise InfonasError(f"{what}: no labeled_loss_<split> columns for the labeled-loss figure")
    require_columns(frame, [c for s in splits for c in (f"labeled_loss_{s}", f"baseline_{s}")], what)
    rng = np.random.default_rng(ci_seed)
    n_seeds = int(rows["seed"].nunique())
    name = model_label(model) + (f" (mean of {n_seeds} seeds)" if n_seeds > 1 else "")
    fig, axes = new_figure(1, len(splits))
    for ax, split in zip(axes[0], splits):
        for column, color, label, ls in ((f"labeled_loss_{split}", "#1f77b4", name, "-"),
                                         (f"baseline_{split}", "0.45", "baseline (mean output)", "--")):
            curve = sample_ci(rows, column, seed_curve(rows, column, band, rng))
            draw_curve(ax, curve, color, label, ls)
            median = seed_curve(rows, f"{column}_median", band, rng) if f"{column}_median" in rows else None
            if column.startswith("labeled") and median is not None and not median.empty:
                ax.plot(median["epoch"], median["mean"], color=color, linestyle=":", label="median over batches")
        ax.set_title(split_label(split))
        if logy:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        epoch_axis(ax, loss_name if ax is axes[0, 0] else None)
    figure_legend(fig, title=band_legend_title(n_seeds, band))
    return save_figure(fig, out)


@paper_style
def _plot_model_panels(metrics, out, panels, band: str, ci_seed: int) -> tuple[Path, Path]:
    """One panel per (column, title, ylabel); one line per model with its band over seeds."""
    check_band(band, SEED_BANDS)
    frame = with_seed(metrics)
    require_columns(frame, [c for c, _, _ in panels], where(frame, "metrics"))
    rng = np.random.default_rng(ci_seed)
    models = model_order(frame)
    fig, axes = new_figure(1, len(panels))
    for ax, (column, title, ylabel) in zip(axes[0], panels):
        for i, model in enumerate(models):
            rows = frame[frame["model"] == model]
            curve = seed_curve(rows, column, band, rng)
            if not curve.empty:
                n = int(rows["seed"].nunique())
                draw_curve(ax, curve, COLORS[i % len(COLORS)],
                           f"{model_label(model)} ({n} seed{'s' if n > 1 else ''})", LINESTYLES[i % len(LINESTYLES)])
        ax.set_title(title)
        epoch_axis(ax, ylabel)
    n_max = int(frame.groupby("model")["seed"].nunique().max())
    figure_legend(fig, title=band_legend_title(n_max, band) if n_max > 1 else None)
    return save_figure(fig, out)


def plot_vae_losses(metrics: pd.DataFrame, out, band: str = "ci", ci_seed: int = 0) -> tuple[Path, Path]:
    """Training VAE loss on labeled and unlabeled batches, info-NAS vs arch2vec (thesis Fig. 4.12)."""
    return _plot_model_panels(metrics, out, [
        ("vae_loss_labeled", "labeled batches", "VAE loss"),
        ("vae_loss_unlabeled", "unlabeled batches", "VAE loss"),
    ], band, ci_seed)


def plot_reconstruction(metrics: pd.DataFrame, out, band: str = "ci", ci_seed: int = 0) -> tuple[Path, Path]:
    """Reconstruction accuracy of operations and adjacency on held-out cells (thesis 4.15-4.16, paper 5-6),
    and on the labeled validation networks (thesis Tables 4.5, 4.9) where the metrics have them."""
    panels = [("ops_acc", "operations", "reconstruction accuracy"),
              ("adj_acc", "adjacency matrix", "reconstruction accuracy")]
    valid = [("ops_acc_valid_networks", "operations (validation networks)", "reconstruction accuracy"),
             ("adj_acc_valid_networks", "adjacency (validation networks)", "reconstruction accuracy")]
    if all(c in metrics and metrics[c].notna().any() for c, _, _ in valid):
        panels += valid
    return _plot_model_panels(metrics, out, panels, band, ci_seed)


def plot_validity_uniqueness(metrics: pd.DataFrame, out, band: str = "ci", ci_seed: int = 0) -> tuple[Path, Path]:
    """Validity and uniqueness of cells decoded from the latent prior fit (thesis 4.13-4.14, paper 14-15)."""
    return _plot_model_panels(metrics, out, [
        ("validity", "validity", "fraction of decoded cells"),
        ("uniqueness", "uniqueness", "fraction of valid cells"),
        ("uniqueness_unpruned", "uniqueness before pruning (arch2vec's)", "fraction of valid cells"),
    ], band, ci_seed)


# ---------------------------------------------------------------- search

def search_time_grid(results: Mapping[str, SearchResult], n_points: int = 200) -> np.ndarray:
    """Log-spaced times from when every run has finished its first evaluation to the largest budget.

    Starting there makes every plotted mean a mean over all runs (before it some runs have found
    nothing and their regret is undefined); if that point is past the budget, start at the earliest.
    """
    firsts = np.array([r.times[i, 0] for r in results.values() for i in range(r.n_runs) if r.lengths[i] > 0])
    if firsts.size == 0:
        raise InfonasError("search figure: no run evaluated any architecture")
    stop = max(r.budget_s for r in results.values())
    start = firsts.max() if firsts.max() < stop else firsts.min()
    if not start < stop:
        raise InfonasError(f"search figure: first evaluation ({start:.3g} s) is not within the budget ({stop:.3g} s)")
    return log_time_grid(start, stop, n_points)


def run_band(regret: np.ndarray, band: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs (R, T) -> (T,) with low/high: mean ± standard error, or the quartiles."""
    finite = np.isfinite(regret)
    n = finite.sum(axis=0)
    filled = np.where(finite, regret, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / n
        if band == "sem":
            var = (np.where(finite, regret - mean, 0.0) ** 2).sum(axis=0) / (n - 1)
            sem = np.sqrt(var / n)
            return mean, mean - sem, mean + sem
    low = np.full(mean.shape, np.nan)
    high = np.full(mean.shape, np.nan)
    for t in np.flatnonzero(n > 0):
        low[t], high[t] = np.quantile(regret[finite[:, t], t], [0.25, 0.75])
    return mean, low, high


def draw_references(ax, references: Mapping[str, ReferenceCurve] | None, kind: str, grid: np.ndarray) -> list:
    """arch2vec's published mean regret (`infonas.evaluation.reference_curves`), thin and dashed, within
    the time axis of the run's own curves; returns the drawn values (for the axis scale)."""
    drawn = []
    for k, ref in enumerate((references or {}).values()):
        keep = (ref.time_s >= grid[0]) & (ref.time_s <= grid[-1])
        if keep.any():
            values = ref.regret(kind)[keep]
            ax.plot(ref.time_s[keep], values, color=REFERENCE_COLORS[k % len(REFERENCE_COLORS)], linestyle="--",
                    linewidth=0.9, label=f"arch2vec paper: {ref.label}")
            drawn.append(values)
    return drawn


def search_note(note: str | None, width: int) -> str | None:
    """The figure's sentence on the published curves (drawn, or why not), wrapped as its legend's title,
    so the figure says it wherever it is shown."""
    return textwrap.fill(note, width) if note else None


def _regret_scale(ax, axis: str, values: np.ndarray) -> None:
    """Log scale as in arch2vec Fig. 6; symlog when a zero regret (best cell found) must stay visible."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    setter = ax.set_xscale if axis == "x" else ax.set_yscale
    if v.size and (v > 0).all():
        setter("log")
    elif (v > 0).any():
        positive = v[v > 0]
        floor = max(positive.min(), 1e-3 * positive.max())
        setter("symlog", linthresh=float(10.0 ** np.floor(np.log10(floor))), linscale=1.0)


@paper_style
def plot_search_regret(
    results: Mapping[str, SearchResult],
    best_val: float,
    best_test: float,
    out: str | os.PathLike,
    band: str = "sem",
    test_of: str = "incumbent",
    n_points: int = 200,
    styles: Mapping[str, Mapping[str, str]] | None = None,
    references: Mapping[str, ReferenceCurve] | None = None,
    note: str | None = None,
) -> tuple[Path, Path]:
    """Mean regret over time and the ECDF of the final regret (arch2vec Fig. 6, paper Fig. 7-8).

    One row for validation and one for test regret (skipped when no test accuracy is known);
    left: mean regret over runs against summed NB-101 training time (log axes) with a band of
    ± one standard error ("sem") or the interquartile range ("iqr"); right: ECDF of the regret at
    each method's budget. `results` maps the legend name to its SearchResult; `styles` optionally
    maps a name to its `color` and `linestyle` (default: the module's cycles, in order).
    `references`: published curves drawn thin and dashed in the regret panels (only for a run on the
    full NB-101 space: the caller decides); `note`: the sentence that says so, as the legend's title.
    """
    check_band(band, RUN_BANDS)
    if not results:
        raise InfonasError("search figure: no search results given")
    for name, res in results.items():
        if not isinstance(res, SearchResult):
            raise InfonasError(f"search figure: result '{name}' is a {type(res).__name__}, not a SearchResult")
    has_test = bool(np.isfinite(best_test)) and any(np.isfinite(r.test_acc).any() for r in results.values())
    kinds = ["validation", "test"] if has_test else ["validation"]
    grid = search_time_grid(results, n_points)
    curves, finals = {}, {}
    for name, res in results.items():
        curves[name] = regret_curves(res, best_val, best_test, grid, test_of=test_of)
        finals[name] = final_regret(res, best_val, best_test, test_of=test_of)
    fig, axes = new_figure(len(kinds), 2, panel=(3.5, 2.5))
    for k, kind in enumerate(kinds):
        ax_t, ax_e = axes[k]
        drawn, final_values = [], []
        for i, (name, res) in enumerate(results.items()):
            style = (styles or {}).get(name, {})
            color = style.get("color", COLORS[i % len(COLORS)])
            ls = style.get("linestyle", LINESTYLES[i % len(LINESTYLES)])
            mean, low, high = run_band(curves[name][k], band)
            ax_t.plot(grid, mean, color=color, linestyle=ls, label=f"{name} ({res.n_runs} runs)")
            ax_t.fill_between(grid, low, high, color=color, alpha=0.18, linewidth=0)
            drawn += [mean, low, high]
            x, p = ecdf(finals[name][k])
            if x.size:
                ax_e.step(np.r_[x[0], x], np.r_[0.0, p], where="post", color=color, linestyle=ls, label=name)
                final_values.append(x)
        drawn += draw_references(ax_t, references, kind, grid)
        ax_t.set_xscale("log")
        _regret_scale(ax_t, "y", np.concatenate(drawn))
        ax_t.set_xlabel("estimated wall-clock time [s]")
        ax_t.set_ylabel(f"{kind} regret")
        band_name = "± s.e.m." if band == "sem" else "interquartile band"
        ax_t.set_title(f"mean {kind} regret ({band_name})")
        if final_values:
            _regret_scale(ax_e, "x", np.concatenate(final_values))
        ax_e.set_ylim(0, 1.02)
        ax_e.set_xlabel(f"final {kind} regret")
        ax_e.set_ylabel("fraction of runs")
        ax_e.set_title(f"ECDF of final {kind} regret")
    figure_legend(fig, title=search_note(note, 110))
    return save_figure(fig, out)


@paper_style
def plot_regret_over_time(
    results: Mapping[str, SearchResult],
    best_val: float,
    best_test: float,
    kind: str,
    out: str | os.PathLike,
    band: str = "sem",
    styles: Mapping[str, Mapping[str, str]] | None = None,
    missing: str | None = None,
    test_of: str = "incumbent",
    n_points: int = 200,
    references: Mapping[str, ReferenceCurve] | None = None,
    note: str | None = None,
) -> tuple[Path, Path]:
    """Mean validation or test regret over time of every search on one axis (paper Figs. 7 and 8).

    kind: "validation" or "test"; band, styles, test_of, references and note as in
    `plot_search_regret`. A test
    figure of searches without test accuracies is a panel that says so, with `missing` (the
    reason) when given: the figure exists, and tells the reader why it has no curves.
    """
    check_band(band, RUN_BANDS)
    if kind not in ("validation", "test"):
        raise InfonasError(f"regret figure: kind must be 'validation' or 'test', got '{kind}'")
    if not results:
        raise InfonasError("regret figure: no search results given")
    fig, axes = new_figure(1, 1, panel=(5.2, 3.0))
    ax = axes[0, 0]
    has_test = bool(np.isfinite(best_test)) and any(np.isfinite(r.test_acc).any() for r in results.values())
    if kind == "test" and not has_test:
        ax.set_axis_off()
        ax.text(0.5, 0.5, textwrap.fill(missing or "No test regret: the searches carry no test accuracy.", 60),
                ha="center", va="center", transform=ax.transAxes)
        ax.set_title("mean test regret")
        return save_figure(fig, out)
    grid = search_time_grid(results, n_points)
    row = 0 if kind == "validation" else 1
    drawn = []
    for i, (name, res) in enumerate(results.items()):
        style = (styles or {}).get(name, {})
        color = style.get("color", COLORS[i % len(COLORS)])
        mean, low, high = run_band(regret_curves(res, best_val, best_test, grid, test_of=test_of)[row], band)
        ax.plot(grid, mean, color=color, linestyle=style.get("linestyle", LINESTYLES[i % len(LINESTYLES)]),
                label=f"{name}, {res.n_runs} runs")
        ax.fill_between(grid, low, high, color=color, alpha=0.15, linewidth=0)
        drawn += [mean, low, high]
    drawn += draw_references(ax, references, kind, grid)
    ax.set_xscale("log")
    _regret_scale(ax, "y", np.concatenate(drawn))
    ax.set_xlabel("estimated wall-clock time [s]")
    ax.set_ylabel(f"{kind} regret")
    ax.set_title(f"mean {kind} regret ({'± s.e.m.' if band == 'sem' else 'interquartile band'})")
    figure_legend(fig, right=True, title=search_note(note, 46))
    return save_figure(fig, out)


# ---------------------------------------------------------------- prediction

@paper_style
def plot_predictor_boxes(
    frame: pd.DataFrame,
    out: str | os.PathLike,
    metrics: Sequence[str] = ("rmse", "pearson_r"),
    what: str = "predictions",
    styles: Mapping[str, Mapping[str, str]] | None = None,
    legend_title: str = "encoder",
) -> tuple[Path, Path]:
    """Box plots over seeds of each metric by n_train, grouped by encoder (paper Fig. 9-10).

    One row of panels per regressor, one column per metric; `frame` holds the rows of
    `run_prediction` plus the caller's `encoder` column (e.g. info-NAS, arch2vec, or a label per
    feature set). `styles` optionally maps an encoder to its `color` and `linestyle` (a dashed one
    is drawn hatched, as its curve is dashed in the search figures). Where every seed of a box
    predicted a constant (Pearson r and Kendall tau undefined), the box's place says "const.".
    """
    require_columns(frame, ("encoder", "regressor", "n_train", *metrics), what)
    if frame.empty:
        raise InfonasError(f"{what}: no prediction rows to plot")
    regressors = list(dict.fromkeys(frame["regressor"]))
    encoders = list(dict.fromkeys(frame["encoder"]))
    sizes = sorted(frame["n_train"].unique())
    width = 0.8 / len(encoders)
    looks = {enc: {"facecolor": (styles or {}).get(enc, {}).get("color", COLORS[j % len(COLORS)]),
                   "hatch": "////" if (styles or {}).get(enc, {}).get("linestyle", "-") != "-" else None}
             for j, enc in enumerate(encoders)}
    fig, axes = new_figure(len(regressors), len(metrics), panel=(max(3.5, 0.9 * len(sizes) * len(encoders) ** 0.5), 2.1))
    for r, reg in enumerate(regressors):
        for c, metric in enumerate(metrics):
            ax = axes[r, c]
            for j, enc in enumerate(encoders):
                part = frame[(frame["regressor"] == reg) & (frame["encoder"] == enc)]
                data, pos = [], []
                for k, n in enumerate(sizes):
                    cell = part[part["n_train"] == n]
                    v = cell[metric].to_numpy(dtype=np.float64)
                    x = k + (j - (len(encoders) - 1) / 2) * width
                    if np.isfinite(v).any():
                        data.append(v[np.isfinite(v)])
                        pos.append(x)
                    elif len(cell) and constant_predictions(cell).all():
                        ax.text(x, 0.02, "const.", rotation=90, ha="center", va="bottom", fontsize=6,
                                transform=ax.get_xaxis_transform())
                if data:
                    boxes = ax.boxplot(data, positions=pos, widths=width * 0.85, patch_artist=True,
                                       manage_ticks=False, medianprops={"color": "black", "linewidth": 1},
                                       flierprops={"markersize": 2.5, "markeredgewidth": 0.5})
                    for box in boxes["boxes"]:
                        box.set(alpha=0.75, linewidth=0.6, **looks[enc])
            ax.set_xticks(range(len(sizes)), [str(int(n)) for n in sizes])
            ax.set_xlim(-0.6, len(sizes) - 0.4)
            ax.grid(axis="x", visible=False)
            ax.set_ylabel(PREDICTION_LABELS.get(metric, metric))
            ax.set_title(f"{REGRESSOR_LABELS.get(reg, reg)}: {PREDICTION_LABELS.get(metric, metric)}")
            if r == len(regressors) - 1:
                ax.set_xlabel("number of training architectures")
    handles = [Patch(alpha=0.75, label=str(enc), **looks[enc]) for enc in encoders]
    figure_legend(fig, handles=handles, title=legend_title)
    return save_figure(fig, out)


#: the protocols a prediction scatter's panels are scored under, with the sources that used each
SCATTER_PROTOCOLS = (("all", "assessor paper"), ("true>0.8", "thesis"), ("both>0.8", "arch2vec Fig. 2"))


def plot_prediction_scatter(pairs: pd.DataFrame, out: str | os.PathLike, what: str = "prediction pairs") -> tuple[Path, Path]:
    """Predicted against true accuracy (arch2vec Fig. 2), a panel per (encoder, regressor).

    `pairs`: rows of `prediction_protocol.prediction_pairs` (every seed pooled) plus an `encoder`
    column. Each panel draws every pair, the diagonal and the 0.8 lines, and prints Pearson r, RMSE
    and the pair count under each protocol of `SCATTER_PROTOCOLS`, since the sources scored
    different subsets (arch2vec's plot kept the pairs with both accuracies above 0.8).
    """
    from infonas.evaluation.prediction_protocol import pair_scores  # the scores live with the protocol

    require_columns(pairs, ("encoder", "regressor", "n_train", "seed", "true", "predicted"), what)
    if pairs.empty:  # n_train not below the rows with a known target (a tiny space): say so, draw nothing
        fig, axes = new_figure(1, 1)
        axes[0, 0].text(0.5, 0.5, "no pairs: the training sample size is not below\nthe rows with a known accuracy",
                        ha="center", va="center", fontsize=7, transform=axes[0, 0].transAxes)
        axes[0, 0].set_axis_off()
        fig.suptitle("Predicted vs true accuracy (arch2vec Fig. 2)")
        return save_figure(fig, out)
    panels = list(dict.fromkeys(zip(pairs["encoder"], pairs["regressor"])))
    fig, axes = new_figure(1, len(panels), panel=(3.2, 3.2))
    low = float(np.nanquantile(pairs["true"], 0.005))
    high = float(max(pairs["true"].max(), 0.96))
    for ax, (encoder, regressor) in zip(axes[0], panels):
        part = pairs[(pairs["encoder"] == encoder) & (pairs["regressor"] == regressor)]
        ax.scatter(part["true"], part["predicted"].clip(low, high), s=1.5, alpha=0.15, linewidths=0,
                   color=COLORS[0], rasterized=True)
        ax.plot([low, high], [low, high], color="black", linewidth=0.6)
        for line in (ax.axvline, ax.axhline):
            line(0.8, color="grey", linewidth=0.5, linestyle=":")
        lines = []
        for scoring, source in SCATTER_PROTOCOLS:
            s = pair_scores(part, scoring)
            lines.append(f"{scoring} ({source}): r {s['pearson_r']:.2f}, RMSE {s['rmse']:.3f}, n {s['n']}")
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        # the scores go under the axis label, where the layout makes room for them (never over the points)
        ax.set_xlabel("true accuracy\n\n" + "\n".join(lines), fontsize=6)
        ax.set_ylabel("predicted accuracy")
        seeds = part["seed"].nunique()
        ax.set_title(f"{encoder}\n{REGRESSOR_LABELS.get(regressor, regressor)}, "
                     f"{int(part['n_train'].iloc[0])} labels, {seeds} seed{'s' if seeds != 1 else ''}", fontsize=8)
    fig.suptitle("Predicted vs true accuracy (arch2vec Fig. 2)")
    return save_figure(fig, out)
