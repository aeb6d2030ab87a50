"""The reporting stages: which figures and tables each stage draws from which result files.

Each function takes file paths (as the workflow has them) and an output folder, and writes PNG + PDF
figures and CSV + Markdown + LaTeX tables through `figures` and `tables`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from infonas.errors import InfonasError
from infonas.reporting import figures, tables


#: display names of the searches (keys are encoder names and `random`).
SEARCH_LABELS = {"infonas": "info-NAS", "arch2vec": "arch2vec", "random": "random search"}


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


def search_report(result_paths: Mapping[str, str], benchmark_path, out_prefix) -> None:
    """Regret over time with the ECDF of final regret, and the regret table, for named searches."""
    from infonas.evaluation.benchmark import load_benchmark
    from infonas.evaluation.regret import load_search

    results = {SEARCH_LABELS.get(name, name): load_search(path) for name, path in result_paths.items()}
    best_val, best_test = best_accuracies(load_benchmark(benchmark_path))
    figures.plot_search_regret(results, best_val, best_test, out_prefix)
    tables.write_table(tables.search_table(results, best_val, best_test), f"{out_prefix}_table",
                       caption="Regret (best possible minus best found) over runs", float_format="{:.2e}")


def prediction_report(csv_paths, out_prefix) -> None:
    """Box plots of RMSE and Pearson r by n_train and encoder, and the mean ± std table."""
    frames = []
    for path in csv_paths:
        try:
            frames.append(pd.read_csv(path))
        except (OSError, ValueError) as error:
            raise InfonasError(f"{path}: unreadable prediction results ({error})") from error
    frame = pd.concat(frames, ignore_index=True)
    figures.plot_predictor_boxes(frame, out_prefix)
    tables.write_table(tables.predictor_table(frame), f"{out_prefix}_table",
                       caption="Performance prediction on latent features, mean ± std over seeds")


def scaling_variants(out_prefix) -> None:
    tables.write_table(tables.scaling_variants_table(), out_prefix, caption="Scaling variants (thesis Table 4.2)")
