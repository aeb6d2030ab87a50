"""Tables of the info-NAS thesis (chapter 4) and paper (section 4), written as CSV, Markdown and LaTeX.

Builders return plain numeric DataFrames (the CSV keeps full precision for anyone who computes
on it); `write_table` renders the human-readable Markdown and LaTeX versions with one convention:

- a column pair `X_mean` + `X_std` is shown as one column `X` with "mean ± std" (only "mean" when
  the std is NaN, e.g. a single seed). Stds are sample stds (ddof=1) over seeds or runs;
- a pair `X_ci_low` + `X_ci_high` beside such a pair joins its cell: column `X [95% CI]` with
  "mean ± std [low, high]" (`summary_cell`); without a mean it is one column `X 95% CI`, "[low, high]";
- underscores in headers become spaces (or the caller's `headers` name them), and display columns
  with no value at all are dropped (for example the labeled-loss cells of arch2vec, which has none).

`write_table(..., html=True)` also writes a standalone HTML page of the table, the readable item of
the Snakemake report (which shows HTML, images and PDFs, and only offers CSV files for download).

Joint-training metrics come in as one DataFrame: the concatenated `metrics.csv` files of several
seeds with a `seed` column (`load_metrics` builds it and remembers each row's file in `source`, so
errors can name the file); a frame without `seed` is a single seed. Its format is documented in
`infonas.training.metrics` (read here by column name only, so reporting never imports torch).
"""

from __future__ import annotations

import html
import logging
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from infonas.data.scaling import SCALING_VARIANTS, get_variant
from infonas.errors import InfonasError
from infonas.evaluation.regret import SearchResult, final_regret
from infonas.files import atomic_path
from infonas.searchspace.features import RAW_ENCODER, RAW_LABEL

log = logging.getLogger(__name__)

MODEL_LABELS = {"infonas": "info-NAS", "arch2vec": "arch2vec", RAW_ENCODER: RAW_LABEL}
SPLIT_LABELS = {
    "train": "train",
    "valid_unseen_networks": "unseen networks",
    "valid_unseen_images": "unseen images",
    "test_unseen_images": "test: unseen images",
    "test_unseen_networks_images": "test: unseen networks and images",
}
REGRESSOR_LABELS = {
    "gb": "gradient boosting",
    "gp": "Gaussian process",
    "rf": "random forest",
    "svr": "SVR",
    "gp-tuned": "Gaussian process (tuned)",
    "svr-tuned": "SVR (tuned)",
    "assessor": "semi-supervised assessor",
    "assessor-cells": "semi-supervised assessor (cell matrices)",
}
PREDICTION_METRICS = ("rmse", "pearson_r", "kendall_tau")
CELL_QUANTITIES = (
    ("VAE loss (labeled batches)", "vae_loss_labeled"),
    ("VAE loss (unlabeled batches)", "vae_loss_unlabeled"),
    ("ops reconstruction accuracy", "ops_acc"),
    ("adjacency reconstruction accuracy", "adj_acc"),
    ("ops reconstruction accuracy (validation networks)", "ops_acc_valid_networks"),
    ("adjacency reconstruction accuracy (validation networks)", "adj_acc_valid_networks"),
    ("validity", "validity"),
    ("uniqueness", "uniqueness"),
    ("uniqueness before pruning (arch2vec's)", "uniqueness_unpruned"),
)
_CI = ("_ci_low", "_ci_high")
_MEDIAN = "_median"  # a labeled loss's median over evaluation batches (the thesis' "median loss")


# ---------------------------------------------------------------- metrics frames (shared with figures)

def output_paths(prefix: str | os.PathLike, suffixes: Sequence[str]) -> list[Path]:
    """`prefix` + each suffix; a prefix already ending in one of the suffixes loses it first."""
    prefix = Path(prefix)
    if prefix.suffix in suffixes:
        prefix = prefix.with_suffix("")
    return [prefix.with_name(prefix.name + s) for s in suffixes]


def where(frame: pd.DataFrame, default: str) -> str:
    """The files a frame came from (its `source` column, set by `load_metrics`), else `default`."""
    if "source" in frame.columns and frame["source"].notna().any():
        return ", ".join(sorted(map(str, frame["source"].dropna().unique())))
    return default


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """InfonasError naming `what` (file or frame) and every missing column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InfonasError(f"{what}: missing column(s) {', '.join(missing)}")


def load_metrics(paths: Mapping[int, str | os.PathLike]) -> pd.DataFrame:
    """Concatenate the metrics.csv of several seeds ({seed: path}) with `seed` and `source` columns."""
    if not paths:
        raise InfonasError("load_metrics: no metrics files given")
    frames = []
    for seed, path in paths.items():
        if not os.path.isfile(path):
            raise InfonasError(f"metrics {path}: file not found")
        try:
            frame = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise InfonasError(f"metrics {path}: not a readable CSV ({error})") from None
        require_columns(frame, ("epoch", "model"), f"metrics {path}")
        if not pd.api.types.is_numeric_dtype(frame["epoch"]):
            raise InfonasError(f"metrics {path}: column epoch is not numeric")
        frames.append(frame.assign(seed=int(seed), source=str(path)))
    return pd.concat(frames, ignore_index=True)


def with_seed(metrics: pd.DataFrame, what: str = "metrics") -> pd.DataFrame:
    """Check `epoch`/`model` and duplicates; a frame without `seed` becomes seed 0."""
    if not isinstance(metrics, pd.DataFrame):
        raise InfonasError(f"{what}: expected a pandas DataFrame, got {type(metrics).__name__}")
    require_columns(metrics, ("epoch", "model"), where(metrics, what))
    frame = metrics if "seed" in metrics.columns else metrics.assign(seed=0)
    frame = frame.reset_index(drop=True)
    dup = frame.duplicated(["model", "seed", "epoch"])
    if dup.any():
        row = frame[dup].iloc[0]
        raise InfonasError(f"{where(frame, what)}: more than one row for model {row['model']}, "
                           f"seed {row['seed']}, epoch {row['epoch']}")
    return frame


def labeled_splits(frame: pd.DataFrame) -> list[str]:
    """Labeled split names found as `labeled_loss_S` columns: the paper's five in order, then others."""
    found = [c[len("labeled_loss_"):] for c in frame.columns
             if c.startswith("labeled_loss_") and not c.endswith((*_CI, _MEDIAN)) and c != "labeled_loss_batches"]
    known = [s for s in SPLIT_LABELS if s in found]
    return known + [s for s in found if s not in SPLIT_LABELS]


def split_label(split: str) -> str:
    return SPLIT_LABELS.get(split, split.replace("_", " "))


def model_label(model: str) -> str:
    return MODEL_LABELS.get(model, str(model))


def model_order(frame: pd.DataFrame) -> list[str]:
    """Models present: info-NAS, arch2vec, then the others in order of appearance."""
    present = list(dict.fromkeys(frame["model"]))
    return [m for m in MODEL_LABELS if m in present] + [m for m in present if m not in MODEL_LABELS]


def at_epoch(frame: pd.DataFrame, epoch: int | None, what: str = "metrics") -> pd.DataFrame:
    """One row per (model, seed): the last epoch, or `epoch` (an error when a run lacks it)."""
    if epoch is None:
        return frame.loc[frame.groupby(["model", "seed"], sort=False)["epoch"].idxmax()]
    rows = frame[frame["epoch"] == epoch]
    for (model, seed), _ in frame.groupby(["model", "seed"], sort=False):
        if not ((rows["model"] == model) & (rows["seed"] == seed)).any():
            raise InfonasError(f"{where(frame, what)}: model {model} seed {seed} has no epoch {epoch}")
    return rows


def finite_mean_std(values) -> tuple[float, float]:
    """Mean and sample std (ddof=1) of the finite values; NaN where undefined."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    mean = float(v.mean()) if v.size else math.nan
    std = float(v.std(ddof=1)) if v.size > 1 else math.nan
    return mean, std


def finite_mean(values) -> float:
    """Mean of the finite values; NaN where there are none."""
    return finite_mean_std(values)[0]


# ---------------------------------------------------------------- builders

def final_training_table(metrics: pd.DataFrame, epoch: int | None = None) -> pd.DataFrame:
    """Final-epoch joint-training metrics, one row per quantity, columns per model (thesis 4.2).

    Columns `quantity`, then for each model M (display name): `M_mean`, `M_std` over seeds of the
    value at the final epoch (or `epoch`), `M_ci_low`, `M_ci_high`: the mean over seeds of each
    seed's bootstrapped 95 % CI bounds, and `M_median`: the mean over seeds of each seed's median
    over evaluation batches, the thesis' "median loss" (these three for labeled losses and
    baselines only; with one seed, its own). Metrics files without `_median` columns leave it empty.
    """
    frame = with_seed(metrics)
    what = where(frame, "metrics")
    require_columns(frame, [c for _, c in CELL_QUANTITIES], what)
    final = at_epoch(frame, epoch, what)
    quantities = []
    for s in labeled_splits(frame):
        quantities += [(f"labeled loss ({split_label(s)})", f"labeled_loss_{s}"),
                       (f"baseline ({split_label(s)})", f"baseline_{s}")]
    quantities += list(CELL_QUANTITIES)
    table = pd.DataFrame({"quantity": [q for q, _ in quantities]})
    for model in model_order(final):
        rows = final[final["model"] == model]
        name = model_label(model)
        stats = [finite_mean_std(rows[col]) for _, col in quantities]
        table[f"{name}_mean"] = [m for m, _ in stats]
        table[f"{name}_std"] = [s for _, s in stats]
        for suffix in (*_CI, _MEDIAN):
            table[f"{name}{suffix}"] = [finite_mean(rows[col + suffix]) if col + suffix in rows else math.nan
                                        for _, col in quantities]
    return table


def default_budgets(results: Mapping[str, SearchResult]) -> list[float]:
    """A hundredth, a tenth and all of the largest budget: the early, middle and final regret."""
    budget = max(r.budget_s for r in results.values())
    return [budget / 100, budget / 10, budget]


def search_table(
    results: Mapping[str, SearchResult],
    best_val: float,
    best_test: float,
    budgets: Sequence[float] | None = None,
    test_of: str = "incumbent",
) -> pd.DataFrame:
    """Validation and test regret of each search method at a few times (arch2vec Table 2, paper 4.2).

    One row per (method, time_s) with `n_runs` (runs that had evaluated something by then) and
    mean, std and median regret over runs; the last default time is the budget, i.e. the final
    regret. Regret follows `infonas.evaluation.regret.regret_curves` (test of the incumbent).
    """
    if not results:
        raise InfonasError("search_table: no search results given")
    for name, res in results.items():
        if not isinstance(res, SearchResult):
            raise InfonasError(f"search_table: result '{name}' is a {type(res).__name__}, not a SearchResult")
    times = list(budgets) if budgets is not None else default_budgets(results)
    if not times or any(not t > 0 for t in times):
        raise InfonasError(f"search_table: budgets must be positive seconds, got {times}")
    rows = []
    for name, res in results.items():
        for t in times:
            val, test = final_regret(res, best_val, best_test, at_time=t, test_of=test_of)
            row = {"method": name, "time_s": float(t), "n_runs": int(np.isfinite(val).sum())}
            for kind, reg in (("val", val), ("test", test)):
                row.update(_spread(reg, f"{kind}_regret"))
            rows.append(row)
    return pd.DataFrame(rows)


#: query counts of the table in arch2vec's Table 2 format (it printed 400 queries for arch2vec)
QUERIES = (50, 100, 150, 400)


def _spread(values: np.ndarray, name: str) -> dict[str, float]:
    """Mean, std, standard error of the mean and median of the finite values, keyed `<name>_<stat>`."""
    finite = values[np.isfinite(values)]
    mean, std = finite_mean_std(finite)
    return {f"{name}_mean": mean, f"{name}_std": std,
            f"{name}_sem": std / math.sqrt(finite.size) if finite.size > 1 else math.nan,
            f"{name}_median": float(np.median(finite)) if finite.size else math.nan}


def incumbent_after(result: SearchResult, queries: int) -> tuple[np.ndarray, np.ndarray]:
    """(R,) validation and test accuracy of each run's incumbent (best validation accuracy, first on
    ties) after its first `queries` evaluations; NaN for runs that stopped before that many."""
    val, test = np.full(result.n_runs, np.nan), np.full(result.n_runs, np.nan)
    for r in np.flatnonzero(result.lengths >= queries):
        best = int(np.argmax(result.val_acc[r, :queries]))
        val[r], test[r] = result.val_acc[r, best], result.test_acc[r, best]
    return val, test


def queries_table(results: Mapping[str, SearchResult], queries: Sequence[int] = QUERIES) -> pd.DataFrame:
    """Accuracy reached after a number of queries (arch2vec Table 2's format: the test accuracy of the
    incumbent, mean over runs), with the validation accuracy, std, s.e.m. and median beside it.

    One row per (method, queries); `n_runs` counts the runs that made that many evaluations within
    their time budget (the others are left out, so a count below the runs says the budget ran out).
    A query is one evaluated architecture of the search record.
    """
    if not queries or any(int(q) != q or q < 1 for q in queries):
        raise InfonasError(f"queries_table: query counts must be positive integers, got {list(queries)}")
    rows = []
    for name, res in results.items():
        for q in queries:
            val, test = incumbent_after(res, int(q))
            rows.append({"method": name, "queries": int(q), "n_runs": int(np.isfinite(val).sum()),
                         **_spread(test, "test_acc"), **_spread(val, "val_acc")})
    return pd.DataFrame(rows)


#: the text of a correlation cell whose every seed predicted one value for all rows
CONSTANT = "constant"
#: the text of a correlation cell undefined for another reason (fewer than two rows scored)
UNDEFINED = "undefined"
CORRELATIONS = ("pearson_r", "kendall_tau")
WORD_CELLS = (CONSTANT, UNDEFINED)


def constant_predictions(frame: pd.DataFrame) -> pd.Series:
    """Per prediction row, whether the predictor predicted one value for every scored row (the
    `constant_prediction` column of `run_prediction`; False for files written before it existed)."""
    if "constant_prediction" not in frame:
        return pd.Series(False, index=frame.index)
    return frame["constant_prediction"].map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))


def _correlation_cells(cell: pd.DataFrame, metric: str) -> tuple:
    """(mean, std) of a correlation over the seeds where it is defined; the words `CONSTANT` or
    `UNDEFINED` in both where it is defined for none, so the table never shows an empty cell."""
    mean, std = finite_mean_std(cell[metric])
    if np.isfinite(mean):
        return mean, std
    word = CONSTANT if constant_predictions(cell).all() else UNDEFINED
    return word, word


def predictor_table(frame: pd.DataFrame, what: str = "predictions") -> pd.DataFrame:
    """Mean ± std over seeds of RMSE, Pearson's r and Kendall's tau (thesis Table 4.14).

    `frame`: rows of `infonas.evaluation.prediction_protocol.run_prediction` with an added
    `encoder` column. One row per (regressor, encoder, scoring, n_train), regressors and encoders
    in order of appearance, n_train ascending; regressors get their readable names, so another
    encoder or regressor is simply more rows. `scoring` names the scoring protocol (files written
    before it existed scored true>0.8), so numbers under different protocols are never pooled.
    `n_seeds` counts the runs averaged (the prediction seeds of every training seed pooled),
    `n_constant` counts the seeds whose predictor predicted a constant (scikit-learn's default
    SVR does on raw accuracies): their Pearson r and Kendall tau are undefined, so the
    correlations average the other seeds, and read "constant" when every seed did ("undefined"
    when none is defined for another reason).
    """
    require_columns(frame, ("encoder", "regressor", "n_train", "seed", *PREDICTION_METRICS), what)
    frame = frame.reset_index(drop=True)  # pooled files may repeat index labels
    scoring = scoring_of(frame)
    constant = constant_predictions(frame)
    rows = []
    for reg in dict.fromkeys(frame["regressor"]):
        for enc in dict.fromkeys(frame["encoder"]):
            for protocol in dict.fromkeys(scoring):
                part = frame[(frame["regressor"] == reg) & (frame["encoder"] == enc) & (scoring == protocol)]
                for n in sorted(part["n_train"].unique()):
                    cell = part[part["n_train"] == n]
                    row = {"regressor": REGRESSOR_LABELS.get(reg, reg), "encoder": enc, "scoring": protocol,
                           "n_train": int(n), "n_seeds": len(cell),
                           "n_constant": int(constant[cell.index].sum())}
                    for metric in PREDICTION_METRICS:
                        row[f"{metric}_mean"], row[f"{metric}_std"] = (
                            _correlation_cells(cell, metric) if metric in CORRELATIONS
                            else finite_mean_std(cell[metric]))
                    rows.append(row)
    return pd.DataFrame(rows)


#: the scoring protocol of prediction files written before the protocol was a setting
LEGACY_SCORING = "true>0.8"


def scoring_of(frame: pd.DataFrame) -> pd.Series:
    """Per prediction row, the scoring protocol's name (`LEGACY_SCORING` for older files)."""
    if "scoring" not in frame:
        return pd.Series(LEGACY_SCORING, index=frame.index)
    return frame["scoring"].fillna(LEGACY_SCORING).astype(str)


def protocol_note(frame: pd.DataFrame) -> str:
    """The caption's sentence on what was predicted and which rows were scored, from the rows of
    `run_prediction` (with the `target` and `target_repeats` columns the predict rule adds)."""
    from infonas.evaluation.prediction_protocol import ScoringProtocol  # the protocol's words live there

    scored = "; ".join(ScoringProtocol.parse(name).describe() for name in dict.fromkeys(scoring_of(frame)))
    targets = []
    if "target" in frame:
        repeats = frame["target_repeats"] if "target_repeats" in frame else pd.Series(pd.NA, index=frame.index)
        for name, n in dict.fromkeys(zip(frame["target"].astype(str), repeats)):
            count = "an unrecorded number of" if pd.isna(n) else ("one" if int(n) == 1 else str(int(n)))
            targets.append(f"{name}, the mean of {count} training repeat{'' if count == 'one' else 's'}")
    target = f" Target: {'; '.join(targets)}." if targets else ""
    return f" Scoring: {scored}.{target}"


def constant_note(table: pd.DataFrame) -> str:
    """The caption's sentence on constant predictions of a `predictor_table` (empty when none)."""
    if not (table.get("n_constant", pd.Series(dtype=int)) > 0).any():
        return ""
    return (' Column "n constant" counts the seeds whose predictor predicted one value for every architecture '
            "(Pearson r and Kendall tau are undefined for them; scikit-learn's default SVR does so on raw "
            "accuracies, which lie inside its 0.1 epsilon tube): the correlations average the other seeds, "
            "and read \"constant\" where every seed did.")


def scaling_variants_table() -> pd.DataFrame:
    """The six output-scaling variants of thesis Table 4.2 (from `infonas.data.scaling`)."""
    return pd.DataFrame([
        {"variant": v.name, "axis": "null" if v.axis is None else str(v.axis),
         "weighted": v.weighted, "multiply": v.multiply}
        for v in SCALING_VARIANTS.values()
    ])


def scaling_results_table(
    runs: Sequence[tuple], epoch: int | None = None, splits: Sequence[str] | None = None
) -> pd.DataFrame:
    """Final info-NAS losses per scaling variant next to the baseline (thesis Tables 4.2-4.4).

    `runs`: (variant name or ScalingVariant, metrics frame) pairs; several pairs of one variant
    (e.g. seeds) are pooled. One row per variant in Table 4.2 order with `n_runs`, the VAE losses
    and, per split S, `labeled_loss_S` and `baseline_S` as mean/std over runs plus the mean CI bounds.
    `splits` picks the splits (default: all found); the thesis shows one split per table.
    """
    pooled: dict[str, list[pd.DataFrame]] = {}
    for item in runs:
        if len(item) != 2:
            raise InfonasError("scaling_results_table: expected (variant, metrics frame) pairs")
        variant, metrics = get_variant(item[0]), item[1]
        frame = with_seed(metrics, f"metrics of scaling variant {variant.name}")
        frame = frame[frame["model"] == "infonas"]
        if frame.empty:
            raise InfonasError(f"{where(metrics, 'metrics')} (variant {variant.name}): no info-NAS rows")
        final = at_epoch(frame, epoch, f"metrics of scaling variant {variant.name}")
        pooled.setdefault(variant.name, []).append(final)
    if not pooled:
        raise InfonasError("scaling_results_table: no runs given")
    rows = []
    for name in [v for v in SCALING_VARIANTS if v in pooled]:
        final = pd.concat(pooled[name], ignore_index=True)
        v = SCALING_VARIANTS[name]
        row = {"variant": name, "axis": "null" if v.axis is None else str(v.axis),
               "weighted": v.weighted, "multiply": v.multiply, "n_runs": len(final)}
        columns = ["vae_loss_labeled", "vae_loss_unlabeled"]
        for s in (splits if splits is not None else labeled_splits(final)):
            require_columns(final, (f"labeled_loss_{s}", f"baseline_{s}"), where(final, f"metrics of {name}"))
            columns += [f"labeled_loss_{s}", f"baseline_{s}"]
        for col in columns:
            row[f"{col}_mean"], row[f"{col}_std"] = finite_mean_std(final[col]) if col in final else (math.nan,) * 2
            if col.startswith(("labeled_loss_", "baseline_")):
                for suffix in _CI:
                    row[col + suffix] = finite_mean(final[col + suffix]) if col + suffix in final else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- rendering

def _format_value(value, float_format: str, integral: bool) -> str:
    if value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)) or integral:
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return float_format.format(float(value))
    return str(value)


def _is_integral(series: pd.Series) -> bool:
    """A float column whose finite values are all whole numbers (budgets, sizes) prints as ints."""
    if not pd.api.types.is_float_dtype(series):
        return False
    finite = series[np.isfinite(series)]
    return bool(finite.size) and bool((finite == np.round(finite)).all())


def summary_cell(mean: str, std: str = "", low: str = "", high: str = "") -> str:
    """One readable cell of formatted numbers: "mean ± std [low, high]"; empty parts are left out
    (no std for one seed, no CI for a metric without one); nothing without a mean."""
    if not mean:
        return ""
    if mean in WORD_CELLS:  # "constant" / "undefined" over every seed: a word, not a number ± spread
        return mean
    cell = f"{mean} ± {std}" if std else mean
    return f"{cell} [{low}, {high}]" if low and high else cell


def display_columns(
    frame: pd.DataFrame, float_format: str = "{:.4f}", headers: Mapping[str, str] | None = None
) -> tuple[list[str], list[list[str]], list[bool]]:
    """Headers, string cells and right-alignment flags after the module's display convention.

    `headers` names display columns by stem (`X` of `X_mean`) or column; others are the column
    name with spaces for underscores."""
    cols = list(frame.columns)
    names = dict(headers or {})
    shown: list[tuple[str, list[str], bool]] = []

    def fmt(col, integral=False):
        return [_format_value(v, float_format, integral) for v in frame[col].tolist()]

    def label(stem):
        return names.get(stem, str(stem).replace("_", " "))

    def summarised(stem):  # a mean ± std pair
        return f"{stem}_mean" in cols and f"{stem}_std" in cols

    def joins_ci(stem):  # a mean ± std pair with both CI bounds: one cell
        return summarised(stem) and f"{stem}_ci_low" in cols and f"{stem}_ci_high" in cols

    for col in cols:
        if col.endswith("_mean") and summarised(col[:-5]):
            stem = col[:-5]
            if joins_ci(stem):
                parts = zip(fmt(col), fmt(f"{stem}_std"), fmt(f"{stem}_ci_low"), fmt(f"{stem}_ci_high"))
                shown.append((f"{label(stem)} [95% CI]", [summary_cell(*p) for p in parts], True))
            else:
                shown.append((label(stem), [summary_cell(m, s) for m, s in zip(fmt(col), fmt(f"{stem}_std"))], True))
        elif col.endswith("_std") and summarised(col[:-4]):
            continue
        elif col.endswith(_CI) and joins_ci(col.rsplit("_ci_", 1)[0]):
            continue
        elif col.endswith("_ci_low") and f"{col[:-7]}_ci_high" in cols:
            cells = [f"[{lo}, {hi}]" if lo and hi else ""
                     for lo, hi in zip(fmt(col), fmt(f"{col[:-7]}_ci_high"))]
            shown.append((f"{label(col[:-7])} 95% CI", cells, True))
        elif col.endswith("_ci_high") and f"{col[:-8]}_ci_low" in cols:
            continue
        else:
            numeric = pd.api.types.is_numeric_dtype(frame[col]) and not pd.api.types.is_bool_dtype(frame[col])
            shown.append((label(col), fmt(col, _is_integral(frame[col])), numeric))
    shown = [s for s in shown if any(s[1])]
    rows = [list(r) for r in zip(*(cells for _, cells, _ in shown))] if shown else []
    return [h for h, _, _ in shown], rows, [right for _, _, right in shown]


def to_markdown(headers: list[str], rows: list[list[str]], right: list[bool], caption: str | None = None) -> str:
    """A GitHub-flavoured Markdown table (no `tabulate` dependency), padded to aligned columns."""
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    table = [[esc(h) for h in headers]] + [[esc(c) for c in r] for r in rows]
    widths = [max(3, *(len(r[i]) for r in table)) for i in range(len(headers))]
    def line(cells):
        return "| " + " | ".join(c.rjust(w) if rt else c.ljust(w)
                                 for c, w, rt in zip(cells, widths, right)) + " |"
    rule = "| " + " | ".join("-" * (w - 1) + ":" if rt else "-" * w for w, rt in zip(widths, right)) + " |"
    text = "\n".join([line(table[0]), rule, *(line(r) for r in table[1:])]) + "\n"
    return f"{caption}\n\n{text}" if caption else text


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "±": r"$\pm$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(headers: list[str], rows: list[list[str]], right: list[bool], caption: str | None = None) -> str:
    """A booktabs tabular (needs \\usepackage{booktabs}); wrapped in a table float with a caption."""
    spec = "".join("r" if rt else "l" for rt in right)
    body = [r"\begin{tabular}{" + spec + "}", r"\toprule",
            " & ".join(latex_escape(h) for h in headers) + r" \\", r"\midrule",
            *(" & ".join(latex_escape(c) for c in r) + r" \\" for r in rows),
            r"\bottomrule", r"\end{tabular}"]
    if caption:
        body = [r"\begin{table}[t]", r"\centering", r"\caption{" + latex_escape(caption) + "}",
                *body, r"\end{table}"]
    return "\n".join(body) + "\n"


_HTML_STYLE = ("body{font-family:sans-serif;font-size:13px;margin:8px}"
               "table{border-collapse:collapse}caption{text-align:left;padding:4px 0 8px}"
               "th,td{padding:3px 8px;border-bottom:1px solid #ddd;white-space:nowrap}"
               "th{border-bottom:2px solid #888}td.r,th.r{text-align:right}tr:hover td{background:#f4f4f4}")


def to_html(headers: list[str], rows: list[list[str]], right: list[bool], caption: str | None = None) -> str:
    """A standalone HTML page holding the table (escaped), numbers right-aligned."""
    def cells(tag, values):
        return "".join(f'<{tag}{" class=r" if rt else ""}>{html.escape(v)}</{tag}>' for v, rt in zip(values, right))

    title = html.escape(caption or "table")
    body = [f"<caption>{html.escape(caption)}</caption>" if caption else "",
            f"<thead><tr>{cells('th', headers)}</tr></thead>",
            "<tbody>", *(f"<tr>{cells('td', r)}</tr>" for r in rows), "</tbody>"]
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_HTML_STYLE}</style></head>\n<body><table>\n" + "\n".join(b for b in body if b)
            + "\n</table></body></html>\n")


def write_table(
    frame: pd.DataFrame,
    out_prefix: str | os.PathLike,
    caption: str | None = None,
    float_format: str = "{:.4f}",
    headers: Mapping[str, str] | None = None,
    html_page: bool = False,
) -> dict[str, Path]:
    """Write `<out_prefix>.csv` (full precision), `.md` and `.tex` (formatted), each atomically,
    and with `html_page` also `.html` (the report's readable table).

    `float_format` is a str.format pattern for floats in the formatted versions; `headers` names
    their columns (see `display_columns`). Returns {"csv": path, "md": path, "tex": path[, "html": path]}.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InfonasError(f"write_table {out_prefix}: expected a DataFrame, got {type(frame).__name__}")
    try:
        float_format.format(1.5)
    except (ValueError, IndexError, KeyError, AttributeError) as error:
        raise InfonasError(f"write_table {out_prefix}: bad float_format {float_format!r} ({error})") from None
    shown, rows, right = display_columns(frame, float_format, headers)
    renderers = {"md": to_markdown, "tex": to_latex, **({"html": to_html} if html_page else {})}
    paths = dict(zip(("csv", *renderers), output_paths(out_prefix, (".csv", *(f".{k}" for k in renderers)))))
    with atomic_path(paths["csv"]) as tmp:
        frame.to_csv(tmp, index=False)
    for kind, render in renderers.items():
        with atomic_path(paths[kind]) as tmp:
            tmp.write_text(render(shown, rows, right, caption), encoding="utf-8")
    log.info("wrote table %s (%d rows)", paths["csv"], len(frame))
    return paths
