"""Image-like figures: predicted vs true outputs as heatmaps (thesis Figs. 4.4-4.11), 2-D pictures
of the latent spaces of info-NAS and arch2vec (thesis 4.2.3, arch2vec Fig. 4) and latent distance
against edit distance (arch2vec Fig. 3).

Same conventions as `infonas.reporting.figures` (object-oriented matplotlib on Agg, paper sizes,
PNG + PDF written atomically). Dense pixel and point layers are rasterised inside the PDF, so a
20,000-point scatter or a 50 x 513 heatmap stays a small file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.ticker import MaxNLocator

from infonas.errors import InfonasError
from infonas.evaluation.projection import project_2d, subsample_rows
from infonas.reporting import figures
from infonas.reporting.figures import new_figure, paper_style
from infonas.reporting.tables import model_label, require_columns, split_label

LAYOUTS = ("network", "image")
NAN_MODES = ("grey", "drop")
HEATMAP_CMAP = "RdBu_r"  # signed outputs: diverging, white at 0
ACCURACY_CMAP = "viridis"
CLIP_QUANTILE = 0.99  # colour limit: this quantile of |true| (a few extreme features would wash it out)
ACC_FLOOR_QUANTILE = 0.02  # NB-101 has a tail of failed networks near 10 %; start the colours above it
ROW_HEIGHT_IN = 0.045
MIN_PANEL_IN = 0.42


# ---------------------------------------------------------------- output heatmaps

def heatmap_limit(true: np.ndarray) -> float:
    """Symmetric colour limit shared by every panel: a high quantile of |true| (1.0 if all zero)."""
    v = np.abs(np.asarray(true, np.float64))
    v = v[np.isfinite(v)]
    limit = float(np.quantile(v, CLIP_QUANTILE)) if v.size else 0.0
    return limit if limit > 0 else 1.0


def _blocks(sample, layout: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(title, true rows, predicted rows) per panel pair: per network (images as rows) or per image."""
    l1 = sample.l1
    if layout == "network":
        return [(f"network {h[:10]} (mean L1 {l1[i].mean():.3f})", sample.true[i], sample.predicted[i])
                for i, h in enumerate(sample.hashes)]
    return [(f"image {int(img)} (class {int(lab)}, mean L1 {l1[:, j].mean():.3f})",
             sample.true[:, j], sample.predicted[:, j])
            for j, (img, lab) in enumerate(zip(sample.image_index, sample.labels))]


@paper_style
def plot_output_heatmaps(
    sample,
    out: str | os.PathLike,
    layout: str = "network",
    n_features: int | None = None,
) -> tuple[Path, Path]:
    """True outputs above predicted ones for each network (images as rows) or each image (networks
    as rows); features as columns in their sorted order (largest class weight first, bias last).

    `sample`: an `infonas.evaluation.outputs.OutputSample`. All panels share one diverging colour
    scale centred at 0, limited at the 99th percentile of |true| (values beyond are clipped and the
    colour bar shows arrows). `n_features` keeps only the first (most class-relevant) features.
    """
    if layout not in LAYOUTS:
        raise InfonasError(f"output heatmaps: unknown layout '{layout}' (valid: {', '.join(LAYOUTS)})")
    if sample.true.size == 0:
        raise InfonasError("output heatmaps: the sample is empty")
    if n_features is not None and n_features < 1:
        raise InfonasError(f"output heatmaps: n_features must be >= 1, got {n_features}")
    blocks = _blocks(sample, layout)
    n_rows = blocks[0][1].shape[0]
    panel_h = max(MIN_PANEL_IN, ROW_HEIGHT_IN * n_rows)
    fig, axes = new_figure(2 * len(blocks), 1, panel=(6.6, panel_h + 0.12))
    limit = heatmap_limit(sample.true)
    norm = Normalize(-limit, limit)
    n_feat = sample.true.shape[-1] if n_features is None else min(n_features, sample.true.shape[-1])
    rows_name = "images" if layout == "network" else "networks"
    for b, (title, true, pred) in enumerate(blocks):
        for k, (values, name) in enumerate(((true, "true"), (pred, "predicted"))):
            ax = axes[2 * b + k, 0]
            image = ax.imshow(values[:, :n_feat], aspect="auto", interpolation="nearest", cmap=HEATMAP_CMAP,
                              norm=norm, extent=(-0.5, n_feat - 0.5, n_rows - 0.5, -0.5), rasterized=True)
            ax.grid(False)
            ax.set_yticks([])
            ax.set_ylabel(name, rotation=0, ha="right", va="center")
            if k == 0:
                ax.set_title(title, loc="left")
            if 2 * b + k < 2 * len(blocks) - 1:
                ax.tick_params(labelbottom=False)
    axes[-1, 0].set_xlabel("output feature, sorted by the class weight (last: bias)")
    scale = "per-network scale" if sample.denormalised else "normalised"
    shrink = 1.0 if len(axes) <= 4 else 3.0 / len(axes)  # about three panels tall
    bar = fig.colorbar(image, ax=list(axes[:, 0]), extend="both", shrink=shrink, aspect=30)
    bar.set_label(f"output ({scale})")
    fig.suptitle(f"{split_label(sample.split)}: true vs predicted outputs, {rows_name} as rows", fontsize=8.5)
    return figures.save_figure(fig, out)


# ---------------------------------------------------------------- latent spaces

def _plot_rows(accuracy: np.ndarray, n: int, nan: str, max_points: int | None, seed: int) -> np.ndarray:
    """Rows to draw: all (NaN accuracy drawn grey) or only known ones, capped by a seeded sample."""
    candidates = np.arange(n) if nan == "grey" else np.flatnonzero(np.isfinite(accuracy))
    if candidates.size < 3:
        raise InfonasError(f"latent space: only {candidates.size} architectures to draw")
    return candidates[subsample_rows(candidates.size, max_points, seed)]


def accuracy_limits(accuracy: np.ndarray) -> tuple[float, float]:
    """Shared colour range: from the 2nd percentile (above the failed-network tail) to the best."""
    known = accuracy[np.isfinite(accuracy)]
    if known.size == 0:
        return 0.0, 1.0
    low, high = float(np.quantile(known, ACC_FLOOR_QUANTILE)), float(known.max())
    return (low, high) if high > low else (low - 0.5e-3, high + 0.5e-3)


@paper_style
def plot_latent_spaces(
    features: Mapping[str, np.ndarray],
    accuracy: np.ndarray,
    out: str | os.PathLike,
    method: str = "pca",
    max_points: int | None = 20000,
    seed: int = 0,
    nan: str = "grey",
    accuracy_label: str = "accuracy",
) -> tuple[Path, Path]:
    """One panel per encoder (e.g. info-NAS and arch2vec side by side): a 2-D projection of the
    latent features, points coloured by accuracy on one shared scale.

    The same seeded subsample of rows (at most `max_points`) is drawn in every panel; rows whose
    accuracy is unknown are drawn small and grey beneath the others (`nan="grey"`) or left out
    ("drop"). Points are drawn in ascending accuracy, so the best architectures are on top.
    """
    if nan not in NAN_MODES:
        raise InfonasError(f"latent space: nan must be one of {', '.join(NAN_MODES)}, got '{nan}'")
    if not features:
        raise InfonasError("latent space: no features given")
    accuracy = np.asarray(accuracy, np.float64)
    for name, values in features.items():
        if len(values) != len(accuracy):
            raise InfonasError(f"latent space: {name} has {len(values)} rows, the accuracies {len(accuracy)}")
    rows = _plot_rows(accuracy, len(accuracy), nan, max_points, seed)
    acc = accuracy[rows]
    known = np.isfinite(acc)
    order = np.flatnonzero(known)[np.argsort(acc[known], kind="stable")]
    vmin, vmax = accuracy_limits(acc)
    fig, axes = new_figure(1, len(features), panel=(3.1, 2.9))
    for ax, (name, values) in zip(axes[0], features.items()):
        xy, labels = project_2d(values[rows], method, seed, what=f"latent features of {name}")
        if (~known).any():
            ax.scatter(*xy[~known].T, s=1.0, color="0.78", linewidths=0, rasterized=True,
                       label="accuracy unknown")
        points = ax.scatter(*xy[order].T, c=acc[order], s=1.5, cmap=ACCURACY_CMAP, vmin=vmin, vmax=vmax,
                            linewidths=0, rasterized=True)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.set_title(model_label(name))
        ax.grid(False)
    bar = fig.colorbar(points, ax=list(axes[0]), extend="min", shrink=0.9)
    bar.set_label(accuracy_label)
    grey = f"; {int((~known).sum())} grey: accuracy unknown" if (~known).any() else ""
    fig.suptitle(f"{'PCA' if method == 'pca' else 't-SNE'} of the latent features, "
                 f"{len(rows)} of {len(accuracy)} architectures{grey}", fontsize=8.5)
    return figures.save_figure(fig, out)


# ---------------------------------------------------------------- latent against edit distance

@paper_style
def plot_latent_distances(summary, out: str | os.PathLike, title: str = "") -> tuple[Path, Path]:
    """Mean L2 distance in latent space (band: +- one std) against edit distance, one line per
    encoder (arch2vec Fig. 3): raw on the left, on the right relative to each encoder's mean
    distance between random cells, so encoders of different spread share one scale.

    `summary`: `infonas.evaluation.latent_distance.distance_summary` rows with a `line` column
    (the legend label), lines in order of appearance.
    """
    require_columns(summary, ("line", "edit_distance", "mean", "std", "relative_mean", "relative_std"),
                    "latent distances")
    if summary.empty:
        raise InfonasError("latent distances: no pairs to draw")
    fig, axes = new_figure(1, 2, panel=(3.1, 2.5))
    panels = (("mean", "std", "L2 distance in latent space"),
              ("relative_mean", "relative_std", "L2 / mean L2 of random pairs"))
    for ax, (mean, spread, ylabel) in zip(axes[0], panels):
        for k, line in enumerate(dict.fromkeys(summary["line"])):
            rows = summary[summary["line"] == line].sort_values("edit_distance")
            x, y, s = rows["edit_distance"].to_numpy(), rows[mean].to_numpy(), rows[spread].to_numpy()
            color = figures.COLORS[k % len(figures.COLORS)]
            ax.plot(x, y, marker="o", markersize=2.5, color=color, label=line,
                    linestyle=figures.LINESTYLES[k // len(figures.COLORS) % len(figures.LINESTYLES)])
            ax.fill_between(x, y - s, y + s, color=color, alpha=0.15, linewidth=0)
        ax.set_xlabel("edit distance between cells")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)
    axes[0, 1].axhline(1.0, color="0.5", linewidth=0.7, linestyle=":")
    axes[0, 0].legend(loc="upper left")
    if title:
        fig.suptitle(title, fontsize=8.5)
    return figures.save_figure(fig, out)
