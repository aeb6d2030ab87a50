"""Fault class: corrupt input files. A flipped bit in an HDF5 output must be an InfonasError naming the
file, or change nothing: never other numbers, never a raw h5py / OSError exception."""

import dataclasses
import shutil

import numpy as np
import pytest

from infonas.data.io_store import open_features, read_shard, shard_path, write_shard
from infonas.errors import InfonasError

D, C, N_VALID, N_TEST = 16, 10, 50, 30


def _write_shard(path, seed=0):
    """A small shard; the images (labels) are the same for every seed, the outputs differ."""
    rng, images = np.random.default_rng(seed), np.random.default_rng(0)
    splits = {g: {"features": rng.random((n, D), dtype=np.float32),
                  "logits": rng.standard_normal((n, C)).astype(np.float32),
                  "labels": images.integers(0, C, n)} for g, n in (("valid", N_VALID), ("test_2k", N_TEST))}
    write_shard(path, path.stem, splits, rng.standard_normal((C, D)).astype(np.float32),
                rng.standard_normal(C).astype(np.float32))


def _datasets(path):
    import h5py

    found = []
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: found.append(obj.name) if isinstance(obj, h5py.Dataset) else None)
    return found


def data_region(path) -> np.ndarray:
    """Byte offsets in `path` that hold dataset values (every stored chunk, or the contiguous block)."""
    import h5py

    spans = []
    with h5py.File(path, "r") as handle:
        for name in _datasets(path):
            dsid = handle[name].id
            if handle[name].chunks:
                chunks = map(dsid.get_chunk_info, range(dsid.get_num_chunks()))
                spans += [(info.byte_offset, info.size) for info in chunks]
            elif dsid.get_storage_size():
                spans.append((dsid.get_offset(), dsid.get_storage_size()))
    return np.unique(np.concatenate([np.arange(start, start + size) for start, size in spans]))


def same(a, b) -> bool:
    """Equal down to the last bit (NaN equals NaN): dicts, dataclasses, arrays, scalars."""
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a) if f.compare)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return type(a) is type(b) and a == b


def flip_outcomes(path, read, offsets, n_flips, seed, tmp_path) -> dict:
    """Flip one seeded bit at a time in a copy of `path`; count 'error' and 'same' reads, fail on anything else."""
    reference, blob = read(path), path.read_bytes()
    rng = np.random.default_rng(seed)
    copy = tmp_path / "flipped" / path.name
    copy.parent.mkdir(exist_ok=True)
    outcomes = {"error": 0, "same": 0}
    for byte, bit in zip(rng.choice(offsets, n_flips), rng.integers(0, 8, n_flips)):
        damaged = bytearray(blob)
        damaged[byte] ^= 1 << int(bit)
        copy.write_bytes(damaged)
        try:
            result = read(copy)
        except InfonasError as error:
            assert str(copy) in str(error) and "\n" not in str(error), str(error)
            outcomes["error"] += 1
            continue
        except Exception as error:  # noqa: BLE001 - the test is that nothing else escapes
            pytest.fail(f"bit {bit} of byte {byte}: raw {type(error).__name__}: {error}")
        assert same(result, reference), f"bit {bit} of byte {byte} changed the values silently"
        outcomes["same"] += 1
    return outcomes


@pytest.fixture()
def shard(tmp_path):
    path = shard_path(tmp_path / "io", "ab" * 16)
    _write_shard(path)
    return path


def test_every_shard_dataset_is_checksummed(shard):
    import h5py

    with h5py.File(shard, "r") as handle:
        names = _datasets(shard)
        assert len(names) == 8 and all(handle[name].fletcher32 for name in names)


def test_bit_flips_in_shard_data_are_errors_or_harmless(shard, tmp_path):
    outcomes = flip_outcomes(shard, read_shard, data_region(shard), 400, 1, tmp_path)
    assert outcomes["error"] == 400  # Fletcher-32 catches every single-bit flip of a stored chunk


def test_bit_flips_anywhere_in_a_shard_are_errors_or_harmless(shard, tmp_path):
    offsets = np.arange(shard.stat().st_size)
    outcomes = flip_outcomes(shard, read_shard, offsets, 400, 2, tmp_path)
    assert outcomes["error"] > 100  # metadata is checksummed too: shapes, dtypes, attributes


def test_a_damaged_chunk_met_while_slicing_features_names_the_shard(shard, tmp_path):
    import h5py

    with h5py.File(shard, "r") as handle:
        info = handle["valid/features"].id.get_chunk_info(0)
    damaged = bytearray(shard.read_bytes())
    damaged[info.byte_offset + 3] ^= 0x10
    copy = tmp_path / "copy.h5"
    copy.write_bytes(damaged)
    with pytest.raises(InfonasError, match=r"copy.h5: not a readable IO shard \(.*"):
        with open_features(copy, "valid") as features:
            features[:5]


def _outputs(tmp_path):
    """Every other HDF5 writer of infonas with its reader, on a small seeded example."""
    import pandas as pd

    from infonas.data.images import _write_images, load_images
    from infonas.data.io_dataset import build_io_dataset, load_io_dataset, save_io_dataset
    from infonas.data.scaling import fit_scaler, load_scaler, save_scaler
    from infonas.evaluation.benchmark import BenchmarkTable, load_benchmark, save_benchmark
    from infonas.evaluation.embed import load_embedding, save_embeddings
    from infonas.evaluation.regret import SearchResult, load_search, save_search
    from infonas.searchspace.enumerate import load_or_enumerate
    from infonas.searchspace.store import load_searchspace, save_searchspace

    rng = np.random.default_rng(3)
    hashes = [f"{i:032x}" for i in range(1, 5)]
    space = {"hash": np.asarray(hashes, "S32"), "adjacency": rng.integers(0, 2, (4, 7, 7), dtype=np.uint8),
             "ops": rng.integers(-1, 5, (4, 7), dtype=np.int8), "n_nodes": np.full(4, 7, np.int8),
             "split": np.array([0, 0, 1, 1], np.int8), "val_acc": np.array([[0.9], [np.nan], [0.8], [0.7]])}
    save_searchspace(tmp_path / "searchspace.h5", space)
    for h in hashes:
        _write_shard(shard_path(tmp_path / "io", h), seed=int(h, 16))
    networks = pd.DataFrame({"hash": hashes, "role": ["train", "train", "train", "valid"]})
    save_scaler(tmp_path / "scaler.h5", fit_scaler({h: shard_path(tmp_path / "io", h) for h in hashes},
                                                   train_hashes=hashes[:3]))
    dataset = build_io_dataset(networks, tmp_path / "io", tmp_path / "scaler.h5", 1, space)
    save_io_dataset(tmp_path / "dataset.h5", dataset)
    images = {s: (rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 6))
              for s in ("train", "valid", "test", "test_2k")}
    _write_images(tmp_path / "images.h5", images, np.full(3, 0.5), np.full(3, 0.25), "digits", 10, 1)
    save_embeddings(tmp_path / "embeddings.h5", np.asarray(hashes, "S32"), {"infonas": rng.random((4, 16))})
    save_benchmark(tmp_path / "benchmark.h5", BenchmarkTable(rng.random(4), rng.random(4), rng.random(4), "test"))
    fields = {f.name: rng.random(5) for f in dataclasses.fields(SearchResult) if f.name not in
              ("method", "budget_s", "seed", "settings")}
    save_search(tmp_path / "search.h5", SearchResult(method="random", budget_s=1.0, seed=1, settings={}, **fields))
    load_or_enumerate(tmp_path / "cells.h5", max_vertices=4, max_edges=5)  # the enumeration cache
    return {
        "searchspace.h5": load_searchspace, "scaler.h5": load_scaler, "dataset.h5": load_io_dataset,
        "images.h5": load_images, "embeddings.h5": lambda p: load_embedding(p, "infonas"),
        "benchmark.h5": load_benchmark, "search.h5": load_search,
        "cells.h5": lambda p: load_or_enumerate(p, max_vertices=4, max_edges=5),
    }


def test_every_hdf5_output_is_checksummed_and_flips_in_its_data_are_caught(tmp_path):
    import h5py

    readers = _outputs(tmp_path)
    for name, read in readers.items():
        path = tmp_path / name
        with h5py.File(path, "r") as handle:
            unchecked = [d for d in _datasets(path) if not handle[d].fletcher32]
        assert not unchecked, f"{name}: datasets without a checksum: {unchecked}"
        outcomes = flip_outcomes(path, read, data_region(path), 40, 4, tmp_path)
        assert outcomes["error"] > outcomes["same"], (name, outcomes)  # flips in datasets the reader skips are harmless


def test_flips_anywhere_in_the_other_outputs_are_errors_or_harmless(tmp_path):
    readers = _outputs(tmp_path)
    for name, read in readers.items():
        path = tmp_path / name
        flip_outcomes(path, read, np.arange(path.stat().st_size), 60, 5, tmp_path)
        shutil.rmtree(tmp_path / "flipped")
