import shutil

import numpy as np
import pandas as pd
import pytest

from infonas.errors import InfonasError
from infonas.nets.sampling import network_rows, read_networks, sample_networks, write_networks
from infonas.searchspace.cells import cell_hash, pad_cell
from infonas.searchspace.store import (
    SPLIT_TEST,
    assign_split,
    build_searchspace,
    fetch_if_url,
    keep_rows_with_metrics,
    load_searchspace,
    row_index,
    save_searchspace,
    subsample,
)


def tiny_space(n=40, seed=0):
    """Random distinct 4-vertex chain-like cells with their real hashes, sorted by hash."""
    rng = np.random.default_rng(seed)
    rows = {}
    while len(rows) < n:
        adj = np.triu(rng.integers(0, 2, size=(5, 5)), 1)
        adj[0, 4] = 1
        ops = [0] + list(rng.integers(1, 4, size=3)) + [4]
        h = cell_hash(adj, ops)
        rows[h] = pad_cell(adj, ops)
    hashes = sorted(rows)
    return {
        "hash": np.array([h.encode() for h in hashes], dtype="S32"),
        "adjacency": np.stack([rows[h][0] for h in hashes]),
        "ops": np.stack([rows[h][1] for h in hashes]),
        "n_nodes": np.array([(rows[h][1] >= 0).sum() for h in hashes], dtype=np.int8),
    }


def test_split_is_seeded_with_exact_fraction():
    a = assign_split(tiny_space(), 0.1, seed=3)["split"]
    b = assign_split(tiny_space(), 0.1, seed=3)["split"]
    c = assign_split(tiny_space(), 0.1, seed=4)["split"]
    np.testing.assert_array_equal(a, b)
    assert (a == SPLIT_TEST).sum() == 4
    assert not np.array_equal(a, c)


def test_subsample_keeps_hashes_and_order():
    space = tiny_space()
    small = subsample(space, 10, seed=1)
    assert len(small["hash"]) == 10
    assert np.all(small["hash"][:-1] < small["hash"][1:])
    assert set(small["hash"]) <= set(space["hash"])
    for h, adj, ops in zip(small["hash"], small["adjacency"], small["ops"]):
        assert cell_hash(adj, ops) == h.decode()
    assert subsample(space, None, seed=1) is space


def test_save_load_round_trip(tmp_path):
    space = assign_split(tiny_space(), 0.1, seed=1)
    space["val_acc_108"] = np.full((40, 3), np.nan, dtype=np.float32)
    save_searchspace(tmp_path / "s.h5", space)
    back = load_searchspace(tmp_path / "s.h5")
    assert set(back) == set(space)
    for key in space:
        np.testing.assert_array_equal(back[key], space[key])


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(InfonasError, match="not found"):
        load_searchspace(tmp_path / "missing.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(InfonasError, match="bad.h5"):
        load_searchspace(bad)


def test_row_index_and_unknown_hash():
    space = tiny_space()
    assert list(row_index(space, [space["hash"][5].decode(), space["hash"][0]])) == [5, 0]
    with pytest.raises(InfonasError, match="0" * 32):
        row_index(space, ["0" * 32])


def test_sample_networks_respects_splits_and_seed(tmp_path):
    space = assign_split(tiny_space(), 0.25, seed=1)
    nets = sample_networks(space, n_train=5, n_valid=3, seed=7)
    assert list(nets["role"]) == ["train"] * 5 + ["valid"] * 3
    rows = row_index(space, nets["hash"])
    assert (space["split"][rows[:5]] == 0).all() and (space["split"][rows[5:]] == 1).all()
    pd.testing.assert_frame_equal(nets, sample_networks(space, 5, 3, seed=7))
    write_networks(tmp_path / "n.csv", nets)
    pd.testing.assert_frame_equal(read_networks(tmp_path / "n.csv", space), nets)
    with pytest.raises(InfonasError, match="networks.n_valid"):
        sample_networks(space, 5, 11, seed=7)


def test_network_rows_selects_roles_in_the_table_order(tmp_path):
    space = assign_split(tiny_space(), 0.25, seed=1)
    nets = sample_networks(space, n_train=5, n_valid=3, seed=7)
    write_networks(tmp_path / "n.csv", nets)
    train = network_rows(tmp_path / "n.csv", space["hash"], ["train"])
    both = network_rows(tmp_path / "n.csv", space["hash"], ["train", "valid"])
    np.testing.assert_array_equal(train, np.sort(row_index(space, nets["hash"][:5])))
    np.testing.assert_array_equal(both, np.sort(row_index(space, nets["hash"])))
    assert network_rows(tmp_path / "n.csv", space["hash"], []).size == 0
    with pytest.raises(InfonasError, match="n.csv.*not in the search space"):
        network_rows(tmp_path / "n.csv", space["hash"][:3], ["train"])
    with pytest.raises(InfonasError, match="roles.*test"):
        network_rows(tmp_path / "n.csv", space["hash"], ["test"])


def test_network_list_errors(tmp_path):
    space = assign_split(tiny_space(), 0.25, seed=1)
    path = tmp_path / "n.csv"
    path.write_text("hash,role\n" + "f" * 32 + ",train\n")
    with pytest.raises(InfonasError, match="n.csv.*ffff"):
        read_networks(path, space)
    path.write_text("hash,role\nxyz,train\n")
    with pytest.raises(InfonasError, match="line 2"):
        read_networks(path)
    path.write_text("hash,role\n" + "a" * 32 + ",test\n")
    with pytest.raises(InfonasError, match="role"):
        read_networks(path)


def test_resume_state_is_discarded_when_inputs_change(tmp_path):
    from infonas.files import input_stamp, resume_state

    data = tmp_path / "data.h5"
    data.write_bytes(b"v1")
    state = tmp_path / "ckpt"

    def killed_job(settings):
        """A job that finds its state, writes a checkpoint and dies; returns what it found."""
        with pytest.raises(KeyboardInterrupt):
            with resume_state(state, input_stamp([data], settings)) as path:
                found = path.exists()
                path.mkdir(exist_ok=True)
                (path / "epoch_001.pt").write_bytes(b"x")
                raise KeyboardInterrupt
        return found

    (state).mkdir()
    assert killed_job({"epochs": 3}) is False  # state of unknown provenance is not resumed
    assert killed_job({"epochs": 3}) is True  # same inputs and settings: resume
    assert killed_job({"epochs": 4}) is False  # a setting changed
    data.write_bytes(b"version 2")
    assert killed_job({"epochs": 4}) is False  # an input file changed
    with resume_state(state, input_stamp([data], {"epochs": 4})) as path:
        assert path.exists()
        shutil.rmtree(path)  # the job consumed its state
    assert not (tmp_path / "ckpt.inputs.json").exists()  # the stamp goes with the state


def test_local_tfrecord_path_is_returned_unchanged(tmp_path):
    local = tmp_path / "nb.tfrecord"
    local.write_bytes(b"")
    assert fetch_if_url(str(local), tmp_path / "cache") == local
    with pytest.raises(InfonasError, match="searchspace.tfrecord: file not found"):
        fetch_if_url(str(tmp_path / "absent.tfrecord"), tmp_path / "cache")


def _with_metrics(space, known_rows):
    """val_acc_108 and train_time_108 on `known_rows` only (NaN elsewhere)."""
    n = len(space["hash"])
    val, time = np.full((n, 1), np.nan, np.float32), np.full((n, 1), np.nan, np.float32)
    val[known_rows, 0], time[known_rows, 0] = 0.9, 1500.0
    return dict(space, val_acc_108=val, train_time_108=time)


def test_only_with_metrics_keeps_scored_rows_before_subsampling():
    space = _with_metrics(tiny_space(), known_rows=np.arange(0, 40, 3))
    kept = keep_rows_with_metrics(space)
    assert len(kept["hash"]) == 14 and np.isfinite(kept["val_acc_108"]).all()
    np.testing.assert_array_equal(kept["hash"], space["hash"][::3])
    small = subsample(kept, 5, seed=1)
    assert len(small["hash"]) == 5 and np.isfinite(small["train_time_108"]).all()


def test_only_with_metrics_without_metrics_names_the_key():
    with pytest.raises(InfonasError, match="'searchspace.only_with_metrics': the search space has no rows"):
        keep_rows_with_metrics(tiny_space())


def test_build_searchspace_joins_csv_and_subsamples_among_rows_with_metrics(tmp_path):
    import h5py

    space = tiny_space()
    cache = tmp_path / "cells.h5"
    with h5py.File(cache, "w") as handle:
        handle.attrs["max_vertices"], handle.attrs["max_edges"] = 7, 9
        for key in ("hash", "adjacency", "ops", "n_nodes"):
            handle.create_dataset(key, data=space[key])
    known = [h.decode() for h in space["hash"][::4]]
    csv = tmp_path / "m.csv"
    csv.write_text("hash,val_acc_108,train_time_108\n" + "".join(f"{h},0.9,1500\n" for h in known))
    built = build_searchspace("enumerate", cells_cache=cache, metrics_csv=str(csv), only_with_metrics=True,
                              max_archs=6, seed=2)
    assert len(built["hash"]) == 6 and set(h.decode() for h in built["hash"]) <= set(known)
    everything = build_searchspace("enumerate", cells_cache=cache, metrics_csv=str(csv), max_archs=30, seed=2)
    assert np.isnan(everything["val_acc_108"]).any()


def test_default_config_searches_real_nb101_metrics(repo):
    """config.yaml: 5000 enumerated cells, every one with a real NB-101 accuracy and training time."""
    import yaml

    from infonas.config import validate_config
    from infonas.evaluation.benchmark import from_searchspace

    cache = repo / "results" / "_cache" / "nb101_cells.h5"
    if not cache.is_file():
        pytest.skip("enumerated cells cache not built (snakemake builds it once per machine)")
    config = validate_config(yaml.safe_load((repo / "config.yaml").read_text()))
    settings = config["searchspace"]
    assert settings["metrics_csv"] == "builtin" and settings["only_with_metrics"]
    space = build_searchspace(settings["source"], cells_cache=cache, metrics_csv=settings["metrics_csv"],
                              only_with_metrics=True, max_archs=settings["max_archs"], seed=config["seed"])
    table = from_searchspace(space)
    assert len(space["hash"]) == settings["max_archs"] == 5000
    assert np.isfinite(table.val_acc).all() and np.isfinite(table.train_time).all()
    assert table.val_acc.max() - np.median(table.val_acc) > 0.01  # a search has something to find
