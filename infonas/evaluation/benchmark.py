"""The benchmark table the evaluations query: validation/test accuracy and training time per row.

Metrics come from the search space when it carries any (official tfrecord, a joined CSV, or the
packaged NB-101 metrics of the default config), else from the networks the pretrain stage trained
itself, and the table says which. Either way the table is a function of the inputs, settings and
seed: the pretrained networks' training cost is counted in FLOPs, never read off a clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infonas.errors import InfonasError
from infonas.hdf5 import add_dataset, get_attr, read_dataset, read_h5, set_attrs, write_h5
from infonas.searchspace.metrics import benchmark_budget, out_of_range
from infonas.searchspace.store import row_index

#: Rate that turns a pretrained network's training FLOPs into the seconds the search budget
#: (`evaluate.reinforce.budget_s`) counts. It only sets the unit: search and prediction depend on
#: the ratios between networks' costs, which the FLOP counts fix.
NOMINAL_FLOPS_PER_S = 1e12


@dataclass
class BenchmarkTable:
    """Arrays aligned with the search-space rows; NaN where a row has no metrics."""

    val_acc: np.ndarray
    test_acc: np.ndarray
    train_time: np.ndarray
    source: str
    val_repeats: int = 1  # training repeats averaged into val_acc (most of any row; NB-101 has 3)
    test_repeats: int = 1  # the same for test_acc (0 where the table has none)

    @property
    def has_test(self) -> bool:
        return bool(np.isfinite(self.test_acc).any())

    def prediction_target(self) -> tuple[np.ndarray, str]:
        """Test accuracy as in the paper, validation accuracy when the table has no test accuracy."""
        return (self.test_acc, "test_acc") if self.has_test else (self.val_acc, "val_acc")

    @property
    def target_repeats(self) -> int:
        """Training repeats averaged into the prediction target (arch2vec's gen_json.py averages
        NB-101's 3 repeats of test and validation accuracy; so does this table)."""
        return self.test_repeats if self.has_test else self.val_repeats


def _most_repeats(values: np.ndarray) -> int:
    """Most known repeats of any row of an (N, repeats) metric array."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    return int(np.isfinite(values).sum(axis=1).max(initial=0))


def _row_mean(values: np.ndarray) -> np.ndarray:
    """Mean over repeats, NaN where no repeat is known (without numpy's all-NaN warning)."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    known = np.isfinite(values)
    total = np.where(known, values, 0.0).sum(axis=1)
    count = known.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def from_searchspace(space: dict) -> BenchmarkTable | None:
    """Largest epoch budget with validation accuracy, averaged over repeats; None without metrics."""
    epochs = benchmark_budget(space)
    if epochs is None:
        return None
    n = len(space["hash"])
    missing = np.full(n, np.nan)
    test = _row_mean(space[f"test_acc_{epochs}"]) if f"test_acc_{epochs}" in space else missing
    time = _row_mean(space[f"train_time_{epochs}"]) if f"train_time_{epochs}" in space else missing
    val = _row_mean(space[f"val_acc_{epochs}"])
    if not np.isfinite(time[np.isfinite(val)]).any():
        raise InfonasError(f"search space: val_acc_{epochs} is known but train_time_{epochs} is not")
    test_repeats = _most_repeats(space[f"test_acc_{epochs}"]) if f"test_acc_{epochs}" in space else 0
    return BenchmarkTable(val, test, time, f"search space metrics after {epochs} epochs (mean over repeats)",
                          val_repeats=_most_repeats(space[f"val_acc_{epochs}"]), test_repeats=test_repeats)


def training_cost_s(record: dict) -> float:
    """Training cost of a pretrained network in seconds at `NOMINAL_FLOPS_PER_S`, from its FLOPs.

    3 x forward FLOPs per image (forward + backward) x training images x epochs: the same FLOP
    count the pretrain stage reports as TFLOP/s, and a function of the cell, the images and the
    settings only, so two runs of the same config give the same search (measured seconds are not).
    """
    flops = float(record["forward_flops_per_image"])
    images = int(record["train_images"])
    epochs = int(record["settings"]["epochs"])
    if not (np.isfinite(flops) and flops > 0 and images > 0 and epochs > 0):
        raise ValueError(f"need positive forward_flops_per_image, train_images and epochs, "
                         f"got {flops:g}, {images}, {epochs}")
    return 3.0 * flops * images * epochs / NOMINAL_FLOPS_PER_S


def from_pretrained(space: dict, metric_files: list) -> BenchmarkTable:
    """The pretrain stage's own networks: final valid and test accuracy, FLOP-counted training cost."""
    n = len(space["hash"])
    val, test, time = (np.full(n, np.nan) for _ in range(3))
    for path in metric_files:
        try:
            record = json.loads(Path(path).read_text())
            row = row_index(space, [Path(path).stem])[0]
            val[row], test[row] = record["valid_accuracy"], record["test_accuracy"]
            time[row] = training_cost_s(record)
        except KeyError as error:
            raise InfonasError(f"{path}: pretrain metrics lack {error} (from an older infonas?); delete it and run "
                               "again (Snakemake then reruns its pretrain job)") from error
        except (OSError, ValueError, TypeError) as error:
            raise InfonasError(f"{path}: unreadable pretrain metrics ({error})") from error
        if out_of_range("val_acc", [val[row], test[row]]).any():
            raise InfonasError(f"{path}: accuracies {val[row]:g}, {test[row]:g} are not fractions in [0, 1]")
    return BenchmarkTable(
        val, test, time,
        f"accuracies of the {len(metric_files)} networks pretrained by this run; training cost = 3 x forward "
        f"FLOPs per image x train images x epochs at a nominal {NOMINAL_FLOPS_PER_S / 1e12:g} TFLOP/s "
        "(measured seconds stay in the pretrain stage's <hash>.json)",
    )


def build_benchmark(space: dict, metric_files: list) -> BenchmarkTable:
    table = from_searchspace(space)
    return table if table is not None else from_pretrained(space, metric_files)


def save_benchmark(path, table: BenchmarkTable) -> None:
    with write_h5(path) as handle:
        for key in ("val_acc", "test_acc", "train_time"):
            add_dataset(handle, key, getattr(table, key))
        set_attrs(handle, source=table.source, val_repeats=table.val_repeats, test_repeats=table.test_repeats)


def load_benchmark(path) -> BenchmarkTable:
    with read_h5(path, "benchmark table") as handle:
        if "val_repeats" not in handle.attrs:
            raise InfonasError(f"{path}: benchmark table from an older infonas (no repeat counts); delete it and "
                               "run again (Snakemake then rebuilds it)")
        return BenchmarkTable(read_dataset(handle, "val_acc"), read_dataset(handle, "test_acc"),
                              read_dataset(handle, "train_time"), str(get_attr(handle, "source")),
                              int(get_attr(handle, "val_repeats")), int(get_attr(handle, "test_repeats")))
