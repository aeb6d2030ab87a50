import json

import numpy as np
import pytest

from infonas.errors import InfonasError
from infonas.evaluation.benchmark import (
    build_benchmark,
    from_searchspace,
    load_benchmark,
    save_benchmark,
    training_cost_s,
)

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
    assert (table.val_repeats, table.test_repeats, table.target_repeats) == (2, 0, 2)


def test_the_target_is_the_mean_of_every_training_repeat_as_in_arch2vec(tmp_path):
    """arch2vec's gen_json.py averages NB-101's 3 repeats of test and validation accuracy; the
    table does the same and says how many repeats, also after a save and load."""
    test = np.array([[0.90, 0.93, 0.96]] * 5, dtype=np.float32)
    space = space_with(val_acc_108=test - 0.01, test_acc_108=test,
                       train_time_108=np.full((5, 3), 100.0, dtype=np.float32))
    table = from_searchspace(space)
    target, name = table.prediction_target()
    assert name == "test_acc" and target == pytest.approx(np.full(5, 0.93))
    assert table.target_repeats == 3
    save_benchmark(tmp_path / "b.h5", table)
    loaded = load_benchmark(tmp_path / "b.h5")
    assert (loaded.val_repeats, loaded.test_repeats, loaded.target_repeats) == (3, 3, 3)


def test_a_benchmark_file_without_repeat_counts_asks_to_be_rebuilt(tmp_path):
    import h5py

    table = from_searchspace(space_with(val_acc_108=np.full((5, 1), 0.9, dtype=np.float32),
                                        train_time_108=np.full((5, 1), 1.0, dtype=np.float32)))
    save_benchmark(tmp_path / "b.h5", table)
    with h5py.File(tmp_path / "b.h5", "a") as handle:
        del handle.attrs["val_repeats"]
    with pytest.raises(InfonasError, match="older infonas"):
        load_benchmark(tmp_path / "b.h5")


def pretrain_record(val, test, seconds, flops=2.0e6, images=1000, epochs=3, **extra):
    """The fields of a pretrain JSON the benchmark reads, plus measured timings (provenance only)."""
    return {"valid_accuracy": val, "test_accuracy": test, "forward_flops_per_image": flops,
            "train_images": images, "settings": {"epochs": epochs}, "train_time_s": seconds,
            "wall_time_s": seconds + 1.5, "images_per_s": images * epochs / seconds, **extra}


def write_records(folder, records: dict) -> list:
    files = []
    for row, record in records.items():
        path = folder / f"{HASHES[row].decode()}.json"
        path.write_text(json.dumps(record))
        files.append(path)
    return files


def test_without_metrics_the_pretrained_networks_are_the_benchmark(tmp_path):
    files = write_records(tmp_path, {1: pretrain_record(0.6, 0.55, 12.0, flops=2.0e6),
                                     3: pretrain_record(0.7, 0.72, 9.0, flops=5.0e6, images=400, epochs=12)})
    table = build_benchmark(space_with(), files)
    np.testing.assert_allclose(table.val_acc[[1, 3]], [0.6, 0.7])
    np.testing.assert_allclose(table.test_acc[[1, 3]], [0.55, 0.72])
    # 3 x forward FLOPs x images x epochs at 1 TFLOP/s, not the measured 12 s and 9 s
    np.testing.assert_allclose(table.train_time[[1, 3]], [3 * 2.0e6 * 1000 * 3 / 1e12, 3 * 5.0e6 * 400 * 12 / 1e12])
    assert np.isnan(table.val_acc[[0, 2, 4]]).all()
    assert table.has_test and table.prediction_target()[1] == "test_acc"
    assert "2 networks pretrained" in table.source and "FLOPs" in table.source
    save_benchmark(tmp_path / "b.h5", table)
    back = load_benchmark(tmp_path / "b.h5")
    np.testing.assert_array_equal(back.test_acc, table.test_acc)
    assert back.source == table.source


def test_measured_seconds_do_not_change_the_table(tmp_path):
    """Two runs of the same config differ only in wall-clock timings; their tables must not."""
    tables = []
    for run, seconds in enumerate((12.0, 31.7)):
        folder = tmp_path / f"run{run}"
        folder.mkdir()
        record = pretrain_record(0.6, 0.55, seconds, per_epoch=[{"epoch": 1, "seconds": seconds / 3}])
        tables.append(build_benchmark(space_with(), write_records(folder, {2: record})))
    for key in ("val_acc", "test_acc", "train_time"):
        np.testing.assert_array_equal(getattr(tables[0], key), getattr(tables[1], key))
    assert tables[0].source == tables[1].source


def test_training_cost_of_a_record():
    assert training_cost_s(pretrain_record(0.5, 0.5, 7.0, flops=1e9, images=50000, epochs=12)) == pytest.approx(1800.0)
    with pytest.raises(ValueError, match="positive"):
        training_cost_s(pretrain_record(0.5, 0.5, 7.0, flops=0.0))


@pytest.mark.parametrize("drop", ["forward_flops_per_image", "train_images"])
def test_pretrain_record_without_flop_fields_names_file_and_field(tmp_path, drop):
    record = pretrain_record(0.6, 0.55, 12.0)
    del record[drop]
    files = write_records(tmp_path, {1: record})
    with pytest.raises(InfonasError, match=f"{files[0].name}: pretrain metrics lack '{drop}'"):
        build_benchmark(space_with(), files)


def test_pretrain_accuracy_in_percent_is_rejected(tmp_path):
    files = write_records(tmp_path, {1: pretrain_record(60.0, 0.55, 12.0)})
    with pytest.raises(InfonasError, match=f"{files[0].name}: accuracies 60, 0.55 are not fractions"):
        build_benchmark(space_with(), files)


def test_bad_pretrain_metrics_name_the_file(tmp_path):
    path = tmp_path / f"{HASHES[0].decode()}.json"
    path.write_text("{not json")
    with pytest.raises(InfonasError, match=path.name):
        build_benchmark(space_with(), [path])


def test_accuracy_without_time_is_an_error():
    space = space_with(val_acc_108=np.full((5, 1), 0.9, dtype=np.float32))
    with pytest.raises(InfonasError, match="train_time_108"):
        from_searchspace(space)
