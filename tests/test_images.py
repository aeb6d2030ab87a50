"""Image sources and images.h5: digits end to end, imagefolder PNGs, CIFAR-10 parsing, errors."""

import pickle

import h5py
import numpy as np
import pytest
from PIL import Image

from infonas.data import images as images_mod
from infonas.data.images import (
    SPLITS,
    build_images,
    channel_stats,
    load_digits_source,
    load_images,
    load_imagefolder_source,
    load_source,
)
from infonas.errors import InfonasError

CLASS_COLOURS = {"cat": (200, 10, 30), "ant": (5, 250, 90), "bee": (40, 60, 220)}


def _write_folder(root, n_train=3, n_test=2, big=False):
    """PNG tree with a known colour per class and file: pixel = class colour + file index."""
    for part, n in (("train", n_train), ("test", n_test)):
        for name, colour in CLASS_COLOURS.items():
            folder = root / part / name
            folder.mkdir(parents=True)
            for i in range(n):
                size = 64 if big and i == 0 else 32
                pixel = tuple(c + i for c in colour)
                Image.new("RGB", (size, size), pixel).save(folder / f"{i:03d}.png")
    return root


def test_digits_source_shapes_split_and_pixels():
    data = load_digits_source(rng=np.random.default_rng(0))
    assert data.train_images.shape == (1497, 32, 32, 3) and data.test_images.shape == (300, 32, 32, 3)
    assert data.train_images.dtype == np.uint8 and data.train_labels.dtype == np.int64
    # test part is stratified: each digit holds ~1/6 of its images
    all_counts = np.bincount(np.concatenate([data.train_labels, data.test_labels]))
    assert np.all(np.abs(np.bincount(data.test_labels) - all_counts * 300 / 1797) < 1)
    # grey replicated to RGB, full 0..255 range used
    assert np.array_equal(data.train_images[..., 0], data.train_images[..., 2])
    assert data.train_images.max() == 255 and data.train_images.min() == 0


def test_digits_upscale_matches_reference():
    """4x4 block means of the bilinear 32x32 image equal the 8x8 original under a [1/8, 3/4, 1/8] blur.

    With align_corners=False a 4x upscale samples the source at k-3/8, k-1/8, k+1/8, k+3/8, so each
    block averages to 3/4 x_k + 1/8 (x_{k-1} + x_{k+1}) per axis, edges replicated.
    """
    from sklearn.datasets import load_digits

    original = load_digits().images * (255 / 16)
    padded = np.pad(original, ((0, 0), (1, 1), (1, 1)), mode="edge")
    rows = 0.125 * padded[:, :-2] + 0.75 * padded[:, 1:-1] + 0.125 * padded[:, 2:]
    expected = 0.125 * rows[:, :, :-2] + 0.75 * rows[:, :, 1:-1] + 0.125 * rows[:, :, 2:]
    # test_fraction 0 keeps every image, in sklearn's order
    data = load_digits_source(rng=np.random.default_rng(0), test_fraction=0.0)
    assert np.array_equal(data.train_labels, load_digits().target)
    blocks = data.train_images[..., 1].astype(np.float64).reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4))
    assert np.abs(blocks - expected).max() <= 0.5 + 1e-9  # uint8 rounding only


def test_build_digits_end_to_end(tmp_path):
    out = tmp_path / "run" / "images.h5"
    sizes = build_images("digits", None, valid_size=50, test_subset_size=40, seed=3, out_path=out)
    assert sizes == {"train": 1447, "valid": 50, "test": 300, "test_2k": 40}
    with h5py.File(out, "r") as f:
        assert sorted(f.keys()) == sorted(SPLITS)
        for name in SPLITS:
            assert f[name]["images"].dtype == np.uint8 and f[name]["images"].shape[1:] == (32, 32, 3)
            assert f[name]["labels"].dtype == np.int64
        assert f.attrs["source"] == b"digits" and f.attrs["n_classes"] == 10
        assert f.attrs["mean"].shape == (3,) and f.attrs["std"].shape == (3,)
    data = load_images(out)
    # stats cross-checked against a plain float computation over the remaining train images
    train = data["train"]["images"].astype(np.float64) / 255
    assert np.allclose(data["mean"], train.mean(axis=(0, 1, 2)), atol=1e-12)
    assert np.allclose(data["std"], train.std(axis=(0, 1, 2)), atol=1e-12)
    # valid was removed from train: together they are exactly the source's train part
    # train, valid and test partition all 1797 digits; test_2k is drawn from test
    everything = load_digits_source(rng=np.random.default_rng(0), test_fraction=0.0)
    rows = lambda x, y: sorted(zip(map(bytes, x.reshape(len(x), -1)), y.tolist()))  # noqa: E731
    parts = [data[name] for name in ("train", "valid", "test")]
    joined = rows(
        np.concatenate([p["images"] for p in parts]), np.concatenate([p["labels"] for p in parts])
    )
    assert joined == rows(everything.train_images, everything.train_labels)
    test_rows = rows(data["test"]["images"], data["test"]["labels"])
    assert set(rows(data["test_2k"]["images"], data["test_2k"]["labels"])) <= set(test_rows)
    # valid is stratified over the 1497 source train images (= train + valid here)
    source_train = np.concatenate([data["train"]["labels"], data["valid"]["labels"]])
    exact = 50 * np.bincount(source_train) / len(source_train)
    assert np.all(np.abs(np.bincount(data["valid"]["labels"], minlength=10) - exact) < 1)
    assert not list(tmp_path.glob("run/.*tmp*"))


def test_build_is_seeded(tmp_path):
    paths = [tmp_path / f"{i}.h5" for i in range(3)]
    for path, seed in zip(paths, (1, 1, 2)):
        build_images("digits", None, 30, 20, seed, path)
    a, b, c = (load_images(p) for p in paths)
    for name in SPLITS:
        assert np.array_equal(a[name]["images"], b[name]["images"])
        assert np.array_equal(a[name]["labels"], b[name]["labels"])
    assert not np.array_equal(a["valid"]["images"], c["valid"]["images"])


def test_load_images_selected_splits(tmp_path):
    out = tmp_path / "images.h5"
    build_images("digits", None, 10, 10, 0, out)
    data = load_images(out, splits=["valid", "test_2k"])
    assert "train" not in data and data["valid"]["images"].shape == (10, 32, 32, 3)
    with pytest.raises(InfonasError, match="unknown split"):
        load_images(out, splits=["nope"])


def test_imagefolder_pixels_labels_and_order(tmp_path):
    root = _write_folder(tmp_path / "folder", big=True)
    data = load_imagefolder_source(root, workers=1)
    assert data.train_images.shape == (9, 32, 32, 3) and data.test_images.shape == (6, 32, 32, 3)
    # classes sorted by name: ant 0, bee 1, cat 2; files sorted within each class
    assert data.train_labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert data.test_labels.tolist() == [0, 0, 1, 1, 2, 2]
    for k, name in enumerate(sorted(CLASS_COLOURS)):
        for i in range(3):
            expected = np.array(CLASS_COLOURS[name]) + i
            # PNG is lossless, and a solid 64x64 image stays solid when resized to 32x32
            assert np.all(data.train_images[3 * k + i] == expected)


def test_imagefolder_worker_processes_match_serial(tmp_path, monkeypatch):
    root = _write_folder(tmp_path / "folder", n_train=5, n_test=3)
    serial = load_imagefolder_source(root, workers=1)
    monkeypatch.setattr(images_mod, "DECODE_CHUNK", 2)  # several chunks, so the pool is used
    parallel = load_imagefolder_source(root, workers=2)
    for a, b in zip(serial, parallel):
        assert np.array_equal(a, b)


def test_build_imagefolder(tmp_path):
    root = _write_folder(tmp_path / "folder", n_train=4, n_test=2)
    out = tmp_path / "images.h5"
    sizes = build_images(
        "imagefolder", root, valid_size=3, test_subset_size=3, seed=0, out_path=out, workers=1
    )
    assert sizes == {"train": 9, "valid": 3, "test": 6, "test_2k": 3}
    data = load_images(out)
    assert data["n_classes"] == 3 and data["source"] == "imagefolder"
    assert np.bincount(data["valid"]["labels"]).tolist() == [1, 1, 1]
    assert np.bincount(data["test_2k"]["labels"]).tolist() == [1, 1, 1]


def _write_fake_cifar(root, n_train=20, n_test=10):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {f"data_batch_{i}": n_train // 5 for i in range(1, 6)} | {"test_batch": n_test}
    written = {}
    for name, n in batches.items():
        entry = {
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "labels": list(rng.integers(0, 10, n)),
        }
        (folder / name).write_bytes(pickle.dumps(entry))
        written[name] = entry
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    return written


def test_cifar10_parses_torchvision_layout(tmp_path, monkeypatch):
    """The real torchvision reader on fake batches (checksums switched off): CHW rows become HWC."""
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)
    written = _write_fake_cifar(tmp_path)
    data = load_source("cifar10", tmp_path)
    assert data.train_images.shape == (20, 32, 32, 3) and data.test_images.shape == (10, 32, 32, 3)
    first = written["data_batch_1"]["data"][0].reshape(3, 32, 32)
    assert np.array_equal(data.train_images[0], first.transpose(1, 2, 0))
    assert data.test_labels.dtype == np.int64
    assert data.test_labels.tolist() == [int(x) for x in written["test_batch"]["labels"]]


def test_unknown_source_lists_valid_names(tmp_path):
    with pytest.raises(InfonasError, match="unknown source 'mnist'.*cifar10, digits, imagefolder"):
        build_images("mnist", None, 10, 10, 0, tmp_path / "images.h5")


@pytest.mark.parametrize("source", ["cifar10", "imagefolder"])
def test_root_required(source, tmp_path):
    with pytest.raises(InfonasError, match="images.root"):
        load_source(source, None)


@pytest.mark.parametrize(
    "valid_size,test_subset_size,key",
    [(1497, 10, "images.valid_size"), (-1, 10, "images.valid_size"),
     (10, 301, "images.test_subset_size"), (10, -5, "images.test_subset_size")],
)
def test_sizes_too_large_name_the_key_and_leave_no_file(tmp_path, valid_size, test_subset_size, key):
    out = tmp_path / "images.h5"
    with pytest.raises(InfonasError, match=key):
        build_images("digits", None, valid_size, test_subset_size, 0, out)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_image_names_the_file(tmp_path):
    root = _write_folder(tmp_path / "folder")
    bad = root / "test" / "bee" / "001.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    out = tmp_path / "images.h5"
    with pytest.raises(InfonasError, match=f"cannot decode image {bad}"):
        build_images("imagefolder", root, 1, 1, 0, out)
    assert not out.exists()


def test_missing_dir_empty_class_and_class_mismatch(tmp_path):
    with pytest.raises(InfonasError, match=f"missing directory {tmp_path / 'none' / 'train'}"):
        load_imagefolder_source(tmp_path / "none")
    root = _write_folder(tmp_path / "empty")
    for f in (root / "train" / "ant").iterdir():
        f.unlink()
    (root / "train" / "ant" / "notes.txt").write_text("not an image")
    with pytest.raises(InfonasError, match=f"{root / 'train' / 'ant'} holds no image files"):
        load_imagefolder_source(root)
    root = _write_folder(tmp_path / "mismatch")
    (root / "test" / "cat").rename(root / "test" / "dog")
    with pytest.raises(InfonasError, match="class directories differ"):
        load_imagefolder_source(root)


def test_load_images_bad_files(tmp_path):
    with pytest.raises(InfonasError, match="not found"):
        load_images(tmp_path / "absent.h5")
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"definitely not hdf5")
    with pytest.raises(InfonasError, match=f"{garbage}: not a readable"):
        load_images(garbage)
    partial = tmp_path / "partial.h5"
    build_images("digits", None, 10, 10, 0, partial)
    with h5py.File(partial, "a") as f:
        del f["test_2k"]
    with pytest.raises(InfonasError, match="missing test_2k/images"):
        load_images(partial)
    with h5py.File(partial, "a") as f:
        f.create_group("test_2k").create_dataset("images", data=np.zeros((2, 32, 32, 3), np.float32))
        f["test_2k"].create_dataset("labels", data=np.zeros(2, np.int64))
    with pytest.raises(InfonasError, match="test_2k/images must be uint8"):
        load_images(partial)


def test_channel_stats_known_values():
    images = np.zeros((2, 2, 2, 3), np.uint8)
    images[0] = (255, 0, 51)
    images[1] = (255, 255, 51)
    mean, std = channel_stats(images, chunk=1)
    assert np.allclose(mean, [1.0, 0.5, 0.2])
    assert np.allclose(std, [0.0, 0.5, 0.0])
