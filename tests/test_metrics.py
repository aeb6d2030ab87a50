"""Joining NB-101 metrics (user CSV, tfrecord arrays) onto search-space rows by module hash."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import pytest

from infonas.errors import InfonasError
from infonas.searchspace import metrics as M

SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb101-subset-20k.csv"

H = [f"{i:x}" * 32 for i in range(1, 6)]  # five distinct valid hashes "111...", "222...", ...


def _space(hashes):
    """A hand-made space: only `hash` matters for joining; the other arrays must pass through."""
    n = len(hashes)
    return {
        "hash": np.asarray(sorted(hashes), dtype="S32"),
        "adjacency": np.zeros((n, 7, 7), dtype=np.uint8),
        "ops": np.full((n, 7), -1, dtype=np.int8),
        "n_nodes": np.full(n, 2, dtype=np.int8),
    }


def merge_metrics(space: dict, records: dict) -> dict:
    """Join the metric arrays of a tfrecord read onto a space by hash (repeat columns kept): the
    join rule of `join_metrics_csv`, fed arrays instead of a CSV."""
    columns = {name: np.asarray(array) for name, array in records.items() if M.is_metric_key(name)}
    return M._join(space, np.asarray(records["hash"], dtype="S32"), columns, "NB-101 records")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_metric_keys():
    assert M.metric_key("val_acc", 108) == "val_acc_108"
    assert M.is_metric_key("train_time_4") and M.is_metric_key("params")
    assert not M.is_metric_key("val_acc") and not M.is_metric_key("val_acc_0") and not M.is_metric_key("hash")
    with pytest.raises(ValueError):
        M.metric_key("accuracy", 108)


def test_join_csv_values_nan_and_warning(tmp_path, caplog):
    space = _space(H[:4])
    path = _write(tmp_path / "m.csv",
                  "hash,val_acc_108,params,train_time_108,note\n"
                  f"{H[2]},0.5,100,\n"
                  f"{H[0].upper()},0.25,200,12.5,x\n"
                  f"{'f' * 32},0.75,300,1,\n")
    with caplog.at_level(logging.WARNING):
        joined = M.join_metrics_csv(space, path)
    assert "1 of 3 hashes are not in the search space" in caplog.text
    assert "ignoring column 'note'" in caplog.text
    assert joined["val_acc_108"].shape == (4, 1) and joined["val_acc_108"].dtype == np.float32
    assert joined["params"].shape == (4,) and joined["params"].dtype == np.float64
    np.testing.assert_array_equal(joined["val_acc_108"][:, 0], [0.25, np.nan, 0.5, np.nan])
    np.testing.assert_array_equal(joined["params"], [200, np.nan, 100, np.nan])
    np.testing.assert_array_equal(joined["train_time_108"][:, 0], [12.5, np.nan, np.nan, np.nan])
    assert joined["adjacency"] is space["adjacency"] and "val_acc_108" not in space  # input untouched


def test_join_csv_unsorted_space(tmp_path):
    space = _space(H[:3])
    space["hash"] = space["hash"][::-1].copy()
    joined = M.join_metrics_csv(space, _write(tmp_path / "m.csv", f"hash,val_acc_4\n{H[0]},0.1\n{H[2]},0.3\n"))
    np.testing.assert_array_equal(joined["val_acc_4"][:, 0], np.float32([0.3, np.nan, 0.1]))


@pytest.mark.parametrize(
    "text, message",
    [
        (f"hash,val_acc_108\n{'e' * 32},0.5\n", "none of its 1 hashes are in the search space"),
        ("name,val_acc_108\nx,0.5\n", "no 'hash' column"),
        (f"hash,val_acc_108\n{H[0]},0.5\n{H[1]},0.6\n{H[0]},0.7\n", f"hash {H[0]} appears on lines 2, 4"),
        (f"hash,val_acc_108\n{H[0]},0.5\nxyz,0.6\n", "line 3, column hash: 'xyz' is not a 32-digit hex"),
        (f"hash,val_acc_108\n{H[0]},0.5\n{'g' * 32},0.6\n", "line 3, column hash"),
        (f"hash,val_acc_108\n{H[0]},0.5\n{H[1]},high\n", "line 3, column val_acc_108: 'high' is not a number"),
        ("hash,val_acc_108\n", "has no rows"),
        (f"hash,note\n{H[0]},x\n", "no metric columns"),
        ("", "cannot parse"),
    ],
)
def test_join_csv_errors_name_file_and_place(tmp_path, text, message):
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(InfonasError) as err:
        M.join_metrics_csv(_space(H[:3]), path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_join_csv_missing_file(tmp_path):
    with pytest.raises(InfonasError, match="metrics CSV not found"):
        M.join_metrics_csv(_space(H[:2]), tmp_path / "absent.csv")


def test_join_csv_empty_cells_are_nan(tmp_path):
    path = _write(tmp_path / "m.csv", f"hash,val_acc_12,val_acc_36\n{H[0]},,NaN\n{H[1]},0.5,0.75\n")
    joined = M.join_metrics_csv(_space(H[:2]), path)
    assert np.isnan(joined["val_acc_12"][0, 0]) and np.isnan(joined["val_acc_36"][0, 0])
    assert joined["val_acc_36"][1, 0] == np.float32(0.75)


def test_merge_metrics_keeps_repeats_and_nan_rule(caplog):
    space = _space(H[:4])
    records = {
        "hash": np.asarray([H[1], H[3], H[4]], dtype="S32"),
        "adjacency": np.ones((3, 7, 7), dtype=np.uint8),  # must not replace the space's cells
        "val_acc_108": np.float32([[0.1, 0.2, 0.3], [0.4, 0.5, np.nan], [0.7, 0.8, 0.9]]),
        "params": np.asarray([10.0, 20.0, 30.0]),
    }
    with caplog.at_level(logging.WARNING):
        joined = merge_metrics(space, records)
    assert "1 of 3 hashes are not in the search space" in caplog.text
    assert joined["adjacency"] is space["adjacency"]
    assert joined["val_acc_108"].shape == (4, 3) and joined["val_acc_108"].dtype == np.float32
    np.testing.assert_array_equal(joined["val_acc_108"],
                                  np.float32([[np.nan] * 3, [0.1, 0.2, 0.3], [np.nan] * 3, [0.4, 0.5, np.nan]]))
    np.testing.assert_array_equal(joined["params"], [np.nan, 10, np.nan, 20])


def test_merge_metrics_none_match():
    records = {"hash": np.asarray([H[4]], dtype="S32"), "val_acc_108": np.zeros((1, 3), np.float32)}
    with pytest.raises(InfonasError, match="none of its 1 hashes"):
        merge_metrics(_space(H[:2]), records)


@pytest.mark.skipif(not SHARED_CSV.is_file(), reason="shared NB-101 subset CSV not present")
def test_shared_csv_joins_onto_hand_made_rows():
    with open(SHARED_CSV, newline="") as handle:
        rows = list(csv.DictReader(handle))
    picked = [rows[0], rows[1234], rows[-1]]
    absent = "f" * 32  # beyond the first 20,001 sorted hashes of the subset
    space = _space([r["hash"] for r in picked] + [absent])
    joined = M.join_metrics_csv(space, SHARED_CSV)
    index = {h.decode(): i for i, h in enumerate(joined["hash"])}
    for row in picked:
        i = index[row["hash"]]
        for name in ("val_acc_4", "val_acc_12", "val_acc_36", "val_acc_108", "train_time_108"):
            assert joined[name][i, 0] == np.float32(float(row[name]))
        assert joined["params"][i] == float(row["params"])
    assert all(np.isnan(joined[name][index[absent]]).all() for name in ("val_acc_108", "params"))
    assert 0.5 < np.nanmean(joined["val_acc_108"]) < 1.0


def test_csv_column_replaces_existing_array(tmp_path, caplog):
    space = _space(H[:2])
    space["val_acc_108"] = np.zeros((2, 3), dtype=np.float32)
    with caplog.at_level(logging.WARNING):
        joined = M.join_metrics_csv(space, _write(tmp_path / "m.csv", f"hash,val_acc_108\n{H[1]},0.5\n"))
    assert "replaces the existing 'val_acc_108'" in caplog.text
    np.testing.assert_array_equal(joined["val_acc_108"][:, 0], np.float32([np.nan, 0.5]))


# ------------------------------------------------------------------------------ builtin NB-101 metrics

BUILTIN_COLUMNS = ["hash", "val_acc_4", "val_acc_12", "val_acc_36", "val_acc_108", "train_time_108", "params"]


def test_builtin_metrics_ship_with_the_package():
    """`metrics_csv: builtin` names a compact (< 1 MB) gzip CSV of 20,001 real NB-101 cells beside its README."""
    import pandas as pd

    path = M.resolve_metrics_csv(M.BUILTIN)
    assert path == M.BUILTIN_CSV and path.stat().st_size < 1_000_000
    assert "Apache License, Version 2.0" in (path.parent / "README.md").read_text()
    table = pd.read_csv(path, dtype={"hash": str})
    assert list(table.columns) == BUILTIN_COLUMNS and len(table) == 20_001
    assert table["hash"].is_monotonic_increasing and not table.isna().any().any()
    picked = table.iloc[[0, 777, 20_000]]
    joined = M.join_metrics_csv(_space(list(picked["hash"]) + ["f" * 32]), M.BUILTIN)  # range-checked too
    np.testing.assert_array_equal(joined["val_acc_108"][:3, 0], picked["val_acc_108"].to_numpy(np.float32))
    np.testing.assert_array_equal(joined["params"][:3], picked["params"].to_numpy(np.float64))
    assert np.isnan(joined["train_time_108"][3, 0])
    assert 0.90 < table["val_acc_108"].mean() < 0.92 and table["val_acc_108"].max() < 0.95


def test_builtin_file_is_the_shared_subset_compacted_losslessly(tmp_path, subset_csv):
    """Rebuilding from the shared CSV gives the shipped bytes, and joins the same float32 values."""
    rebuilt = tmp_path / "nb101_metrics.csv.gz"
    assert M.write_compact_metrics_csv(subset_csv, rebuilt) == 20_001
    assert rebuilt.read_bytes() == M.BUILTIN_CSV.read_bytes()
    with open(subset_csv, newline="") as handle:
        hashes = [row["hash"] for row in csv.DictReader(handle)][::97]
    full, compact = M.join_metrics_csv(_space(hashes), subset_csv), M.join_metrics_csv(_space(hashes), M.BUILTIN)
    for name in BUILTIN_COLUMNS[1:]:
        np.testing.assert_array_equal(full[name], compact[name])


def test_compact_writer_sorts_keeps_float32_values_and_is_reproducible(tmp_path):
    values = np.float32([0.93048876523971, 0.1, 1 / 3])
    source = _write(tmp_path / "m.csv", "hash,val_acc_108,train_time_108,params,note\n"
                    f"{H[2]},{float(values[0])!r},1768.9759521484375,8555530,x\n"
                    f"{H[0]},{float(values[1])!r},,227274,y\n"
                    f"{H[1]},{float(values[2])!r},5.5,,z\n")
    a, b = tmp_path / "a.csv.gz", tmp_path / "b.csv.gz"
    assert M.write_compact_metrics_csv(source, a) == 3
    M.write_compact_metrics_csv(source, b)
    assert a.read_bytes() == b.read_bytes()
    import gzip

    lines = gzip.decompress(a.read_bytes()).decode().splitlines()
    assert lines[0] == "hash,val_acc_108,train_time_108,params"  # the non-metric column is dropped
    assert [line.split(",")[0] for line in lines[1:]] == H[:3]
    assert lines[1].endswith(",0.1,,227274") and ",1768.976," in lines[3]
    original, compact = M.join_metrics_csv(_space(H[:3]), source), M.join_metrics_csv(_space(H[:3]), a)
    for name in ("val_acc_108", "train_time_108", "params"):
        np.testing.assert_array_equal(original[name], compact[name])


def test_benchmark_budget_and_rows_with_metrics():
    space = _space(H[:4])
    space["val_acc_12"] = np.float32([[0.5], [0.5], [0.5], [0.5]])
    space["val_acc_108"] = np.float32([[0.9, np.nan], [np.nan, 0.8], [np.nan, np.nan], [0.7, 0.7]])
    space["train_time_108"] = np.float32([[10, 11], [12, np.nan], [13, 13], [np.nan, np.nan]])
    assert M.benchmark_budget(space) == 108
    np.testing.assert_array_equal(M.rows_with_metrics(space), [True, True, False, False])
    space["val_acc_108"][:] = np.nan  # no known 108-epoch accuracy: the 12-epoch budget, without times
    assert M.benchmark_budget(space) == 12
    assert not M.rows_with_metrics(space).any()
    assert M.benchmark_budget(_space(H[:2])) is None and not M.rows_with_metrics(_space(H[:2])).any()
