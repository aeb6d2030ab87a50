"""<hash>.h5 IO shards: round trip, chunked layout, and clear errors for broken files."""

import h5py
import numpy as np
import pytest

from infonas.data.io_store import ROW_CHUNK, open_features, read_shard, shard_path, write_shard
from infonas.errors import InfonasError

HASH = "0123456789abcdef0123456789abcdef"


def make_splits(rng, n_valid=300, n_test=7, d=16, c=10):
    def one(n):
        return {
            "features": rng.random((n, d), dtype=np.float32),
            "logits": rng.standard_normal((n, c)).astype(np.float32),
            "labels": rng.integers(0, c, n).astype(np.int64),
        }

    return {"valid": one(n_valid), "test_2k": one(n_test)}


def classifier(rng, d=16, c=10):
    return rng.standard_normal((c, d)).astype(np.float32), rng.standard_normal(c).astype(np.float32)


def test_round_trip_keeps_values_and_dtypes(tmp_path):
    rng = np.random.default_rng(0)
    splits, (weight, bias) = make_splits(rng), classifier(rng)
    path = shard_path(tmp_path / "io", HASH)
    write_shard(path, HASH, splits, weight, bias)
    shard = read_shard(path)
    assert shard["hash"] == HASH
    np.testing.assert_array_equal(shard["weight"], weight)
    np.testing.assert_array_equal(shard["bias"], bias)
    for group in ("valid", "test_2k"):
        for key, value in splits[group].items():
            np.testing.assert_array_equal(shard[group][key], value)
            assert shard[group][key].dtype == value.dtype
    only_test = read_shard(path, splits=["test_2k"])
    assert "valid" not in only_test and len(only_test["test_2k"]["labels"]) == 7


def test_empty_group_round_trips(tmp_path):
    rng = np.random.default_rng(6)
    splits, (weight, bias) = make_splits(rng, n_test=0), classifier(rng)
    write_shard(tmp_path / "x.h5", HASH, splits, weight, bias)
    assert read_shard(tmp_path / "x.h5")["test_2k"]["features"].shape == (0, 16)


def test_features_are_chunked_compressed_and_sliceable(tmp_path):
    rng = np.random.default_rng(1)
    splits, (weight, bias) = make_splits(rng), classifier(rng)
    path = tmp_path / f"{HASH}.h5"
    write_shard(path, HASH, splits, weight, bias)
    with open_features(path, "valid") as features:
        assert features.chunks == (ROW_CHUNK, 16)
        assert features.compression == "gzip"
        np.testing.assert_array_equal(features[260:270], splits["valid"]["features"][260:270])
    with open_features(path, "test_2k") as small:
        assert small.chunks == (7, 16)


def test_bad_input_raises_and_leaves_no_file(tmp_path):
    rng = np.random.default_rng(2)
    splits, (weight, bias) = make_splits(rng), classifier(rng)
    splits["valid"]["features"][3, 4] = np.nan
    path = tmp_path / f"{HASH}.h5"
    with pytest.raises(InfonasError, match="valid/features.*NaN"):
        write_shard(path, HASH, splits, weight, bias)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s, w, b: s["test_2k"].update(labels=np.full(7, 10)), "labels: values outside"),
        (lambda s, w, b: s["valid"].update(logits=np.zeros((300, 9), np.float32)), "logits: shape"),
        (lambda s, w, b: s["valid"].pop("logits"), "missing arrays"),
        (lambda s, w, b: s.update(train=s["valid"]), "unknown image groups"),
    ],
)
def test_write_rejects_inconsistent_arrays(tmp_path, change, message):
    rng = np.random.default_rng(3)
    splits, (weight, bias) = make_splits(rng), classifier(rng)
    change(splits, weight, bias)
    with pytest.raises(InfonasError, match=message):
        write_shard(tmp_path / "x.h5", HASH, splits, weight, bias)


def test_write_rejects_bad_hash_and_classifier(tmp_path):
    rng = np.random.default_rng(4)
    splits, (weight, bias) = make_splits(rng), classifier(rng)
    with pytest.raises(InfonasError, match="32 lowercase hex"):
        write_shard(tmp_path / "x.h5", "nothex", splits, weight, bias)
    with pytest.raises(InfonasError, match="classifier"):
        write_shard(tmp_path / "x.h5", HASH, splits, weight, bias[:5])


def test_missing_and_corrupt_files_name_themselves(tmp_path):
    with pytest.raises(InfonasError, match="missing.h5: IO shard not found"):
        read_shard(tmp_path / "missing.h5")
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an hdf5 file" * 10)
    with pytest.raises(InfonasError, match="garbage.h5: not a readable IO shard"):
        read_shard(garbage)
    with pytest.raises(InfonasError, match="garbage.h5"):
        with open_features(garbage, "valid"):
            pass


def _written(tmp_path, seed=5):
    rng = np.random.default_rng(seed)
    path = tmp_path / f"{HASH}.h5"
    write_shard(path, HASH, make_splits(rng), *classifier(rng))
    return path


def test_nan_in_stored_file_names_file_and_dataset(tmp_path):
    path = _written(tmp_path)
    with h5py.File(path, "r+") as handle:
        handle["test_2k/features"][2, 2] = np.nan
    with pytest.raises(InfonasError, match=rf"{HASH}.h5:/test_2k/features: contains NaN"):
        read_shard(path)
    read_shard(path, splits=["valid"])  # the other group is still readable


def test_missing_dataset_and_wrong_dtype_are_reported(tmp_path):
    path = _written(tmp_path)
    with h5py.File(path, "r+") as handle:
        del handle["valid/logits"]
        data = handle["test_2k/labels"][()]
        del handle["test_2k/labels"]
        handle["test_2k/labels"] = data.astype(np.float32)
    with pytest.raises(InfonasError, match="valid/logits: dataset missing"):
        read_shard(path, splits=["valid"])
    with pytest.raises(InfonasError, match="test_2k/labels: dtype float32"):
        read_shard(path, splits=["test_2k"])
    with pytest.raises(InfonasError, match="unknown image groups"):
        read_shard(path, splits=["train"])
