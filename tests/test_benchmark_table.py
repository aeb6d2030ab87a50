import json

import numpy as np
import pytest

from infonas.errors import InfonasError
from infonas.evaluation.benchmark import build_benchmark, from_searchspace, load_benchmark, save_benchmark

HASHES = np.array([b"%032x" % i for i in range(5)], dtype="S32")


def space_with(**metrics):
    return {"hash": HASHES, **metrics}


def test_searchspace_metrics_take_the_largest_budget_and_mean_over_repeats():
    space = space_with(
        val_acc_12=np.full((5, 1), 0.5, dtype=np.float32),
        val_acc_108=np.array([[0.9, 0.8, np.nan]] + [[np.nan] * 3] * 4, dtype=np.float32),
        train_time_108=np.array([[100.0, 200.0, np.nan]] + [[np.nan] * 3] * 4, dtype=np.float32),
    )
    table = from_searchspace(space)
    assert table.val_acc[0] == pytest.approx(0.85)
    assert np.isnan(table.val_acc[1:]).all()
    assert table.train_time[0] == pytest.approx(150.0)
    assert not table.has_test
    target, name = table.prediction_target()
    assert name == "val_acc" and target[0] == pytest.approx(0.85)
    assert "108 epochs" in table.source


def test_without_metrics_the_pretrained_networks_are_the_benchmark(tmp_path):
    files = []
    for row, (val, test, secs) in {1: (0.6, 0.55, 12.0), 3: (0.7, 0.72, 9.0)}.items():
        path = tmp_path / f"{HASHES[row].decode()}.json"
        path.write_text(json.dumps({"valid_accuracy": val, "test_accuracy": test, "train_time_s": secs}))
        files.append(path)
    table = build_benchmark(space_with(), files)
    np.testing.assert_allclose(table.val_acc[[1, 3]], [0.6, 0.7])
    np.testing.assert_allclose(table.test_acc[[1, 3]], [0.55, 0.72])
    assert np.isnan(table.val_acc[[0, 2, 4]]).all()
    assert table.has_test and table.prediction_target()[1] == "test_acc"
    assert "2 networks pretrained" in table.source
    save_benchmark(tmp_path / "b.h5", table)
    back = load_benchmark(tmp_path / "b.h5")
    np.testing.assert_array_equal(back.test_acc, table.test_acc)
    assert back.source == table.source


def test_bad_pretrain_metrics_name_the_file(tmp_path):
    path = tmp_path / f"{HASHES[0].decode()}.json"
    path.write_text("{not json")
    with pytest.raises(InfonasError, match=path.name):
        build_benchmark(space_with(), [path])


def test_accuracy_without_time_is_an_error():
    space = space_with(val_acc_108=np.full((5, 1), 0.9, dtype=np.float32))
    with pytest.raises(InfonasError, match="train_time_108"):
        from_searchspace(space)
