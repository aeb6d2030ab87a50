"""Corrupt metrics input: out-of-range values in a metrics CSV or a tfrecord fail naming the place.

An accuracy given in percent or a negative training time would otherwise be joined silently and
skew every regret and prediction score downstream.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from infonas.errors import InfonasError
from infonas.searchspace import metrics as M
from infonas.searchspace import nb101_records as R

H = [f"{i:x}" * 32 for i in range(1, 4)]
CELL = ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"])
OTHER_CELL = ([[0, 1], [0, 0]], ["input", "output"])


def _space(hashes=H):
    return {"hash": np.asarray(sorted(hashes), dtype="S32")}


def _csv(tmp_path, column: str, value: str, name: str = "metrics.csv"):
    """Two good rows, then `value` in `column` on file line 4."""
    good = {"val_acc_108": "0.9", "test_acc_108": "0.89", "train_time_108": "1500.5", "params": "2000000"}
    header = ["hash", *good]
    lines = [",".join(header)]
    for i, hash_ in enumerate(H):
        row = dict(good, **({column: value} if i == 2 else {}))
        lines.append(",".join([hash_] + [row[c] for c in header[1:]]))
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "column, value, why",
    [
        ("val_acc_108", "90.3", "fractions in \\[0, 1\\], not percent"),
        ("test_acc_108", "-0.1", "fractions in \\[0, 1\\]"),
        ("val_acc_108", "1.0001", "fractions in \\[0, 1\\]"),
        ("val_acc_108", "inf", "fractions in \\[0, 1\\]"),
        ("train_time_108", "-5", "finite seconds >= 0"),
        ("train_time_108", "inf", "finite seconds >= 0"),
        ("params", "-1", "parameter counts are finite and >= 0"),
    ],
)
def test_out_of_range_csv_value_names_file_line_and_column(tmp_path, column, value, why):
    path = _csv(tmp_path, column, value)
    with pytest.raises(InfonasError, match=f"{path}: line 4, column {column}: '{value}' is out of range \\(.*{why}"):
        M.join_metrics_csv(_space(), path)


@pytest.mark.parametrize(
    "column, value", [("val_acc_108", "0"), ("val_acc_108", "1"), ("train_time_108", "0"), ("params", "")]
)
def test_values_on_the_bounds_and_missing_values_are_accepted(tmp_path, column, value):
    joined = M.join_metrics_csv(_space(), _csv(tmp_path, column, value))
    got = joined[column][2] if column == "params" else joined[column][2, 0]
    assert np.isnan(got) if value == "" else got == float(value)


def test_out_of_range_in_a_gzip_csv(tmp_path):
    plain = _csv(tmp_path, "val_acc_108", "93.1")
    packed = tmp_path / "metrics.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(InfonasError, match=f"{packed}: line 4, column val_acc_108: '93.1'"):
        M.join_metrics_csv(_space(), packed)


def test_truncated_gzip_csv_names_the_file(tmp_path):
    packed = tmp_path / "metrics.csv.gz"
    packed.write_bytes(gzip.compress(_csv(tmp_path, "params", "1").read_bytes())[:40])
    with pytest.raises(InfonasError, match=f"{packed}: cannot parse metrics CSV"):
        M.join_metrics_csv(_space(), packed)


def test_compact_writer_refuses_out_of_range_input(tmp_path):
    path = _csv(tmp_path, "train_time_108", "-3")
    with pytest.raises(InfonasError, match="line 4, column train_time_108"):
        M.write_compact_metrics_csv(path, tmp_path / "out.csv.gz")
    assert not (tmp_path / "out.csv.gz").exists()


# ------------------------------------------------------------------------------ tfrecord


def _record(cell, val=0.9, test=0.89, train=0.99, seconds=1500.0, params=2000, epochs=108):
    adjacency, names = cell
    final = {"current_epoch": float(epochs), "training_time": seconds, "train_accuracy": train,
             "validation_accuracy": val, "test_accuracy": test}
    metrics = {"evaluation_data": [dict(final, current_epoch=0.0), final], "trainable_parameters": params}
    from infonas.searchspace.cells import module_hash
    from infonas.searchspace.ops import CODES

    hash_ = module_hash(adjacency, [CODES[n] for n in names])
    return R.encode_nb101_row(hash_, epochs, adjacency, names, metrics)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"val": 93.0}, "record 2: validation_accuracy 93 is out of range \\(accuracies are fractions"),
        ({"test": -0.5}, "record 2: test_accuracy -0.5 is out of range"),
        ({"train": 1.5}, "record 2: train_accuracy 1.5 is out of range"),
        ({"seconds": -10.0}, "record 2: training_time -10 is out of range \\(training times"),
    ],
)
def test_out_of_range_tfrecord_value_names_the_record(tmp_path, bad, message):
    path = tmp_path / "nb.tfrecord"
    R.write_tfrecord(path, [_record(CELL), _record(OTHER_CELL), _record(CELL, **bad)])
    with pytest.raises(InfonasError, match=f"{path}: {message}"):
        R.read_nb101_tfrecord(path)


def test_negative_parameter_count_names_record_and_offset(tmp_path):
    path = tmp_path / "nb.tfrecord"
    first = _record(CELL)
    R.write_tfrecord(path, [first, _record(OTHER_CELL, params=-7)])
    offset = 16 + len(first)
    with pytest.raises(InfonasError, match=f"record 1 at byte offset {offset}: trainable_parameters -7 is out of range"):
        R.read_nb101_tfrecord(path)


def test_in_range_tfrecord_reads(tmp_path):
    path = tmp_path / "nb.tfrecord"
    R.write_tfrecord(path, [_record(CELL, val=1.0, seconds=0.0), _record(OTHER_CELL, val=0.0)])
    space = R.read_nb101_tfrecord(path)
    assert sorted(space["val_acc_108"][:, 0].tolist()) == [0.0, 1.0]
