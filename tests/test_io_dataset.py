"""The labeled IO dataset of thesis Table 3.4: split sizes, contents, errors, baselines, round trip."""

import numpy as np
import pandas as pd
import pytest

from infonas.data.io_dataset import (
    IO_SPLITS,
    IODataset,
    IOSplit,
    build_io_dataset,
    example_losses,
    load_io_dataset,
    n_held_out,
    save_io_dataset,
    split_sizes,
)
from infonas.data.io_store import read_shard, shard_path, write_shard
from infonas.data.scaling import fit_scaler, save_scaler, transform
from infonas.errors import InfonasError
from infonas.searchspace.store import save_searchspace

D, C, N_VALID, N_TEST = 6, 3, 4, 5


def test_split_sizes_match_the_paper():
    assert split_sizes(608, 77, 1000, 2000) == {
        "train": 608_000,
        "valid_unseen_networks": 77_000,
        "valid_unseen_images": 122_000,
        "test_unseen_images": 1_094_000,
        "test_unseen_networks_images": 154_000,
    }
    assert tuple(split_sizes(608, 77, 1000, 2000)) == IO_SPLITS


@pytest.mark.parametrize("n, expected", [(608, 61), (0, 0), (1, 1), (5, 1), (15, 2), (14, 1), (100, 10)])
def test_held_out_count_rounds_half_up_with_floor_one(n, expected):
    assert n_held_out(n, 0.1) == expected


def test_held_out_fraction_out_of_range():
    with pytest.raises(InfonasError, match="unseen_image_fraction"):
        n_held_out(10, 1.0)


def _hash(i: int) -> str:
    return f"{i * 7919 + 13:032x}"


def _space(hashes):
    """A tiny search-space table: rows sorted by hash with distinguishable cells."""
    hashes = sorted(hashes + [_hash(999)])
    n = len(hashes)
    adjacency = np.zeros((n, 7, 7), np.uint8)
    adjacency[:, 0, 1] = 1
    ops = np.full((n, 7), -1, np.int8)
    ops[:, 0] = np.arange(n)  # marks the row, so a lookup error would show
    return {"hash": np.asarray(hashes, "S32"), "adjacency": adjacency, "ops": ops,
            "n_nodes": np.full(n, 2, np.int8), "split": np.zeros(n, np.int8)}


@pytest.fixture()
def world(tmp_path):
    """5 train + 2 valid networks with shards, a search space and a fitted scaler."""
    rng = np.random.default_rng(0)
    labels = {"valid": rng.integers(0, C, N_VALID), "test_2k": rng.integers(0, C, N_TEST)}
    hashes = [_hash(i) for i in range(7)]
    roles = ["train"] * 5 + ["valid"] * 2
    for h in hashes:
        splits = {g: {"features": rng.gamma(2.0, 1.0, (len(y), D)).astype(np.float32),
                      "logits": rng.standard_normal((len(y), C)).astype(np.float32), "labels": y}
                  for g, y in labels.items()}
        write_shard(shard_path(tmp_path / "io", h), h, splits, rng.standard_normal((C, D)).astype(np.float32),
                    rng.standard_normal(C).astype(np.float32))
    networks = pd.DataFrame({"hash": hashes, "role": roles})
    networks.to_csv(tmp_path / "networks.csv", index=False)
    space = _space(hashes)
    save_searchspace(tmp_path / "searchspace.h5", space)
    scaler = fit_scaler({h: shard_path(tmp_path / "io", h) for h in hashes}, "axisnull-multiply",
                        train_hashes=hashes[:5])
    save_scaler(tmp_path / "io" / "scaler.h5", scaler)
    return {"dir": tmp_path, "io": tmp_path / "io", "networks": networks, "space": space, "scaler": scaler,
            "labels": labels, "hashes": hashes}


def _build(world, seed=3, **kwargs):
    return build_io_dataset(world["networks"], world["io"], world["scaler"], seed, world["space"], **kwargs)


def test_built_splits_have_the_table_sizes_and_right_rows(world):
    ds = _build(world)
    assert {k: len(v) for k, v in ds.splits.items()} == split_sizes(5, 2, N_VALID, N_TEST)
    held = set(np.unique(ds["valid_unseen_images"].net_index))
    rest = set(np.unique(ds["test_unseen_images"].net_index))
    train = set(np.flatnonzero(ds.roles == "train"))
    assert len(held) == 1 and held | rest == train and not held & rest
    assert set(np.unique(ds["train"].net_index)) == train
    assert set(np.unique(ds["valid_unseen_networks"].net_index)) == set(np.flatnonzero(ds.roles == "valid"))
    assert ds["train"].image_group == "valid" and ds["test_unseen_networks_images"].image_group == "test_2k"
    shards = {h: read_shard(shard_path(world["io"], h)) for h in world["hashes"]}
    for name in IO_SPLITS:  # every row is the transform of that network's output on that image
        split = ds[name]
        for i in range(len(split)):
            h = ds.hashes[split.net_index[i]].decode()
            data, j = shards[h][split.image_group], split.image_index[i]
            expected = transform(data["features"][j:j + 1], data["labels"][j:j + 1], shards[h]["weight"],
                                 shards[h]["bias"], world["scaler"].network(h), world["scaler"].final,
                                 "axisnull-multiply")
            np.testing.assert_allclose(split.targets[i], expected[0], rtol=1e-6)
    assert ds["train"].targets.shape[1] == D + 1


def test_items_carry_the_cell_of_the_row_network(world):
    ds = _build(world)
    split = ds["valid_unseen_networks"]
    adjacency, ops, image, target = split[N_VALID + 1]
    h = ds.hashes[split.net_index[N_VALID + 1]]
    row = int(np.flatnonzero(world["space"]["hash"] == h)[0])
    assert ops[0] == row and adjacency[0, 1] == 1 and image == 1
    np.testing.assert_array_equal(target, split.targets[N_VALID + 1])
    batch = split[np.array([0, 5])]
    assert batch[0].shape == (2, 7, 7) and batch[3].shape == (2, D + 1)
    assert len(list(split)) == len(split) == 2 * N_VALID


def test_held_out_choice_is_seeded_and_order_independent(world):
    first, again = _build(world, seed=3), _build(world, seed=3)
    shuffled = world["networks"].sample(frac=1.0, random_state=1)
    from_shuffled = build_io_dataset(shuffled, world["io"], world["scaler"], 3, world["space"])
    for other in (again, from_shuffled):
        np.testing.assert_array_equal(first.hashes, other.hashes)
        for name in IO_SPLITS:
            np.testing.assert_array_equal(first[name].net_index, other[name].net_index)
            np.testing.assert_array_equal(first[name].targets, other[name].targets)
    chosen = {int(_build(world, seed=s)["valid_unseen_images"].net_index[0]) for s in range(8)}
    assert len(chosen) > 1


def test_reads_paths_for_every_input(world):
    d = world["dir"]
    ds = build_io_dataset(d / "networks.csv", d / "io", d / "io" / "scaler.h5", 3, d / "searchspace.h5",
                          image_labels=world["labels"], target_dtype=np.float16)
    assert ds["train"].targets.dtype == np.float16
    np.testing.assert_allclose(ds["train"].targets, _build(world)["train"].targets, atol=2e-2)


def test_missing_shard_names_hash_and_file(world):
    missing = shard_path(world["io"], world["hashes"][2])
    missing.unlink()
    with pytest.raises(InfonasError, match=rf"{missing.name}: no IO shard for network {world['hashes'][2]}"):
        _build(world)


def test_hash_not_in_search_space_names_hash_and_file(world):
    d = world["dir"]
    space = {k: v[1:] for k, v in world["space"].items()}  # drop the smallest hash
    dropped = world["space"]["hash"][0].decode()
    save_searchspace(d / "small.h5", space)
    with pytest.raises(InfonasError, match=rf"small.h5: network list: hash {dropped} is not in the search space"):
        build_io_dataset(world["networks"], world["io"], world["scaler"], 3, d / "small.h5")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.assign(role=["train"] * 6 + ["test"]), "role 'test'"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "listed twice"),
        (lambda f: f.rename(columns={"role": "kind"}), "missing columns"),
    ],
)
def test_bad_network_lists(world, change, message, tmp_path):
    path = tmp_path / "bad.csv"
    change(world["networks"]).to_csv(path, index=False)
    with pytest.raises(InfonasError, match=rf"bad.csv: .*{message}"):
        build_io_dataset(path, world["io"], world["scaler"], 3, world["space"])


def test_shards_with_other_images_are_rejected(world):
    with pytest.raises(InfonasError, match="valid/labels: images differ"):
        _build(world, image_labels={"valid": (world["labels"]["valid"] + 1) % C})
    h = world["hashes"][4]
    shard = read_shard(shard_path(world["io"], h))
    shard["test_2k"]["labels"] = (shard["test_2k"]["labels"] + 1) % C
    write_shard(shard_path(world["io"], h), h, {g: shard[g] for g in ("valid", "test_2k")},
                shard["weight"], shard["bias"])
    with pytest.raises(InfonasError, match=rf"{h}.h5:/test_2k/labels"):
        _build(world)


def test_scaler_without_a_network_is_reported(world):
    world["scaler"].networks.pop(world["hashes"][6])
    with pytest.raises(InfonasError, match=f"no scaling statistics for network {world['hashes'][6]}"):
        _build(world)


def test_a_scaler_of_the_other_scaling_order_is_refused(world):
    d = world["dir"]
    with pytest.raises(InfonasError, match=r"scaler.h5: fitted with io.scaling_order 'original', but this run uses "
                                           r"'standardise-first'; refit the scaler$"):
        build_io_dataset(d / "networks.csv", d / "io", d / "io" / "scaler.h5", 3, d / "searchspace.h5",
                         scaling_order="standardise-first")
    ours = fit_scaler({h: shard_path(world["io"], h) for h in world["hashes"]}, "axisnull-multiply",
                      order="standardise-first", train_hashes=world["hashes"][:5])
    with pytest.raises(InfonasError, match="fitted with io.scaling_order 'standardise-first'"):
        build_io_dataset(world["networks"], world["io"], ours, 3, world["space"])
    built = build_io_dataset(world["networks"], world["io"], ours, 3, world["space"],
                             scaling_order="standardise-first")
    assert len(built["train"]) == 5 * N_VALID


def _toy(targets):
    targets = np.asarray(targets, np.float32)
    n = len(targets)
    split = IOSplit("train", "valid", np.zeros(n, np.int32), np.arange(n, dtype=np.int32), targets,
                    np.zeros((1, 7, 7), np.uint8), np.zeros((1, 7), np.int8))
    return split


def test_baseline_by_hand():
    ds = IODataset(np.asarray([_hash(0)], "S32"), np.array(["train"]), np.zeros((1, 7, 7), np.uint8),
                   np.zeros((1, 7), np.int8), {"train": _toy([[0, 2], [2, 0]]), "test_unseen_images": _toy([[3, 3]])},
                   "axisnull-multiply", 1, 0.1)
    # mean [1, 1]; every entry is 1 away
    assert ds.baseline_loss("train", "l1") == pytest.approx(1.0)
    assert ds.baseline_loss("train", "mse") == pytest.approx(1.0)
    assert ds.baseline_loss("train", "huber") == pytest.approx(0.5)
    assert ds.baseline_loss("test_unseen_images", "l1") == pytest.approx(0.0)  # its own mean
    assert ds.baseline_loss("test_unseen_images", "l1", reference="train") == pytest.approx(2.0)
    assert ds.baseline_loss("test_unseen_images", "huber", reference="train") == pytest.approx(1.5)
    with pytest.raises(InfonasError, match="unknown loss"):
        ds.baseline_loss("train", "l2")
    with pytest.raises(InfonasError, match="no split"):
        ds.baseline_loss("valid_unseen_images")


def test_baseline_on_built_data_matches_numpy(world):
    ds = _build(world)
    t = ds["valid_unseen_networks"].targets.astype(np.float64)
    assert ds.baseline_loss("valid_unseen_networks") == pytest.approx(np.abs(t - t.mean(0)).mean())
    train_mean = ds["train"].targets.astype(np.float64).mean(0)
    errors = ds.baseline_errors("valid_unseen_networks", "mse", reference="train")
    np.testing.assert_allclose(errors, ((t - train_mean) ** 2).mean(axis=1))
    np.testing.assert_allclose(example_losses(np.zeros(2), np.array([[0.5, 3.0]]), "huber"), [(0.125 + 2.5) / 2])


def test_save_load_round_trip(world, tmp_path):
    ds = _build(world, target_dtype=np.float16)
    save_io_dataset(tmp_path / "io_dataset.h5", ds)
    back = load_io_dataset(tmp_path / "io_dataset.h5")
    assert (back.variant, back.seed, back.unseen_fraction) == ("axisnull-multiply", 3, 0.1)
    np.testing.assert_array_equal(back.hashes, ds.hashes)
    np.testing.assert_array_equal(back.roles, ds.roles)
    np.testing.assert_array_equal(back.ops, ds.ops)
    for name in IO_SPLITS:
        assert back[name].image_group == ds[name].image_group
        assert back[name].targets.dtype == np.float16
        for key in ("net_index", "image_index", "targets"):
            np.testing.assert_array_equal(getattr(back[name], key), getattr(ds[name], key))
    part = load_io_dataset(tmp_path / "io_dataset.h5", splits=["train"])
    assert list(part.splits) == ["train"]
    with pytest.raises(InfonasError, match="unknown IO splits"):
        load_io_dataset(tmp_path / "io_dataset.h5", splits=["nope"])
    with pytest.raises(InfonasError, match="missing.h5: IO dataset file not found"):
        load_io_dataset(tmp_path / "missing.h5")


def test_tiny_lists_give_empty_splits_that_save_and_load(world, tmp_path):
    one_train = world["networks"].iloc[[0, 5]]  # 1 train net: held out on test_2k, no test_unseen_images
    ds = build_io_dataset(one_train, world["io"], world["scaler"], 3, world["space"])
    assert {k: len(v) for k, v in ds.splits.items()} == split_sizes(1, 1, N_VALID, N_TEST)
    assert len(ds["test_unseen_images"]) == 0
    save_io_dataset(tmp_path / "tiny.h5", ds)
    back = load_io_dataset(tmp_path / "tiny.h5")
    assert back["test_unseen_images"].targets.shape == (0, D + 1)
    assert len(back["valid_unseen_images"]) == N_TEST
