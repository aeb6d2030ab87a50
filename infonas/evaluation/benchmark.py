"""The benchmark table the evaluations query: validation/test accuracy and training time per row.

Metrics come from the search space when it carries any (official tfrecord or a joined CSV), else
from the networks the pretrain stage trained itself (the offline default), and the table says which.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infonas.errors import InfonasError
from infonas.hdf5 import add_dataset, get_attr, read_dataset, read_h5, set_attrs, write_h5
from infonas.searchspace.store import row_index

_VAL = re.compile(r"^val_acc_(\d+)$")


@dataclass
class BenchmarkTable:
    """Arrays aligned with the search-space rows; NaN where a row has no metrics."""

    val_acc: np.ndarray
    test_acc: np.ndarray
    train_time: np.ndarray
    source: str

    @property
    def has_test(self) -> bool:
        return bool(np.isfinite(self.test_acc).any())

    def prediction_target(self) -> tuple[np.ndarray, str]:
        """Test accuracy as in the paper, validation accuracy when the table has no test accuracy."""
        return (self.test_acc, "test_acc") if self.has_test else (self.val_acc, "val_acc")


def _row_mean(values: np.ndarray) -> np.ndarray:
    """Mean over repeats, NaN where no repeat is known (without numpy's all-NaN warning)."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    known = np.isfinite(values)
    total = np.where(known, values, 0.0).sum(axis=1)
    count = known.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def from_searchspace(space: dict) -> BenchmarkTable | None:
    """Largest epoch budget with validation accuracy, averaged over repeats; None without metrics."""
    budgets = sorted(int(m.group(1)) for k in space if (m := _VAL.match(k)))
    budgets = [e for e in budgets if np.isfinite(space[f"val_acc_{e}"]).any()]
    if not budgets:
        return None
    epochs = budgets[-1]
    n = len(space["hash"])
    missing = np.full(n, np.nan)
    test = _row_mean(space[f"test_acc_{epochs}"]) if f"test_acc_{epochs}" in space else missing
    time = _row_mean(space[f"train_time_{epochs}"]) if f"train_time_{epochs}" in space else missing
    val = _row_mean(space[f"val_acc_{epochs}"])
    if not np.isfinite(time[np.isfinite(val)]).any():
        raise InfonasError(f"search space: val_acc_{epochs} is known but train_time_{epochs} is not")
    return BenchmarkTable(val, test, time, f"search space metrics after {epochs} epochs (mean over repeats)")


def from_pretrained(space: dict, metric_files: list) -> BenchmarkTable:
    """The pretrain stage's own networks: final valid and test accuracy, training seconds."""
    n = len(space["hash"])
    val, test, time = (np.full(n, np.nan) for _ in range(3))
    for path in metric_files:
        try:
            record = json.loads(Path(path).read_text())
            row = row_index(space, [Path(path).stem])[0]
            val[row], test[row], time[row] = record["valid_accuracy"], record["test_accuracy"], record["train_time_s"]
        except (OSError, ValueError, KeyError) as error:
            raise InfonasError(f"{path}: unreadable pretrain metrics ({error})") from error
    return BenchmarkTable(val, test, time, f"accuracies of the {len(metric_files)} networks pretrained by this run")


def build_benchmark(space: dict, metric_files: list) -> BenchmarkTable:
    table = from_searchspace(space)
    return table if table is not None else from_pretrained(space, metric_files)


def save_benchmark(path, table: BenchmarkTable) -> None:
    with write_h5(path) as handle:
        for key in ("val_acc", "test_acc", "train_time"):
            add_dataset(handle, key, getattr(table, key))
        set_attrs(handle, source=table.source)


def load_benchmark(path) -> BenchmarkTable:
    with read_h5(path, "benchmark table") as handle:
        return BenchmarkTable(read_dataset(handle, "val_acc"), read_dataset(handle, "test_acc"),
                              read_dataset(handle, "train_time"), str(get_attr(handle, "source")))
