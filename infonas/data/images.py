"""Image sources and the `images.h5` file: train / valid / test / test_2k as 32x32 RGB uint8.

Sources are a registry keyed by the schema's `images.source` enum; each loader imports its heavy
dependency (sklearn, torchvision, PIL) only when called, so `import infonas.data.images` stays light:

- `digits`: scikit-learn's bundled 8x8 digits, upscaled to 32x32x3, so the default config runs
  offline; it has no official test set, so a seeded stratified 1/6 is held out as test.
- `cifar10`: torchvision's CIFAR10 under `images.root`; when missing, its archive is downloaded
  there by `infonas.download` (cached by URL, md5 checked, atomic, with a timeout).
- `imagefolder`: `root/train/<class>/*` and `root/test/<class>/*` decoded with PIL in worker processes.

`build_images` then draws the paper's splits (valid: 1000 from train, removed from it; test_2k:
2000 from test, which keeps all its images), seeded and class-stratified, and stores the per-channel
mean/std of the remaining train images in [0, 1] scale (images.h5, see docs/layout.md).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Sequence

import numpy as np
from tqdm.auto import tqdm

from infonas.download import DEFAULT_TIMEOUT_S, Checksum, download_and_extract
from infonas.errors import InfonasError, one_line
from infonas.hdf5 import add_dataset, get_attr, read_dataset, read_h5, set_attrs, write_h5
from infonas.splits import stratified_split, stratified_subset

log = logging.getLogger(__name__)

IMAGE_SIZE = 32
IMAGE_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)
SPLITS = ("train", "valid", "test", "test_2k")
DIGITS_TEST_FRACTION = 1 / 6
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif"}
)
# Files per decode task: large enough that process start-up and pickling vanish, small enough
# that the progress bar moves and work spreads over the workers.
DECODE_CHUNK = 1000


class SourceImages(NamedTuple):
    """A source's official train and test parts: uint8 (N,32,32,3) images and int64 (N,) labels."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


# --------------------------------------------------------------------------------------- digits


def load_digits_source(
    root: str | os.PathLike | None = None,
    rng: np.random.Generator | None = None,
    progress: bool = False,
    workers: int | None = None,
    download_timeout_s: float = DEFAULT_TIMEOUT_S,
    test_fraction: float = DIGITS_TEST_FRACTION,
) -> SourceImages:
    """sklearn digits (1797 images, 16 grey levels) as 32x32x3 uint8 with a seeded stratified test part.

    Grey levels 0..16 are scaled to 0..255 and upsampled bilinearly, then replicated to three
    channels so the NB-101 networks (3-channel stem) take them unchanged. `root` is unused: the
    data ships with scikit-learn. `rng` draws the held-out test part (digits has no official one).
    """
    import torch  # lazy here and below: each source loads only its own libraries
    from sklearn.datasets import load_digits

    del root, progress, workers, download_timeout_s  # bundled data: nothing to locate, decode or fetch
    if rng is None:
        raise InfonasError("digits source: a np.random.Generator is needed to draw its test part")
    bunch = load_digits()
    grey = torch.from_numpy(bunch.images.astype(np.float32) * (255.0 / 16.0))[:, None]
    big = torch.nn.functional.interpolate(
        grey, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False
    )
    grey_u8 = big.round().clamp_(0, 255).to(torch.uint8)[:, 0].numpy()
    images = np.repeat(grey_u8[..., None], 3, axis=-1)
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = stratified_split(labels, round(len(labels) * test_fraction), rng)
    return SourceImages(images[train_idx], labels[train_idx], images[test_idx], labels[test_idx])


# -------------------------------------------------------------------------------------- cifar10


def load_cifar10_source(
    root: str | os.PathLike | None,
    rng: np.random.Generator | None = None,
    progress: bool = False,
    workers: int | None = None,
    download_timeout_s: float = DEFAULT_TIMEOUT_S,
) -> SourceImages:
    """torchvision CIFAR-10 from `root`, downloading it there only when the data is absent."""
    del rng, workers  # official split in pickled arrays
    root = _require_root(root, "cifar10")
    train_images, train_labels = _cifar10_part(root, True, download_timeout_s, progress)
    test_images, test_labels = _cifar10_part(root, False, download_timeout_s, progress)
    return SourceImages(train_images, train_labels, test_images, test_labels)


def _cifar10_part(root: Path, train: bool, timeout_s: float, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """One official part as arrays; torchvision checks each batch file's md5 when it opens them."""
    from torchvision.datasets import CIFAR10

    try:
        dataset = CIFAR10(str(root), train=train, download=False)
    except RuntimeError:
        log.info("CIFAR-10 not found (or corrupt) in %s: downloading", root)
        fetch_cifar10(root, timeout_s, progress)
        try:
            dataset = CIFAR10(str(root), train=train, download=False)
        except RuntimeError as exc:
            raise InfonasError(f"images.root: CIFAR-10 in {root} fails torchvision's check after a fresh "
                               f"download ({one_line(exc)})") from None
    images = np.ascontiguousarray(dataset.data, dtype=np.uint8)
    labels = np.asarray(dataset.targets, dtype=np.int64)
    if images.shape[1:] != IMAGE_SHAPE or len(images) != len(labels):
        raise InfonasError(f"images.root: CIFAR-10 in {root} has images of shape {images.shape}")
    return images, labels


def fetch_cifar10(root: Path, timeout_s: float = DEFAULT_TIMEOUT_S, progress: bool = False) -> Path:
    """Download torchvision's CIFAR-10 archive into `root` (cached by URL, md5 checked) and unpack it.

    URL, archive md5 and folder name are torchvision's own, so they stay in step with its reader;
    our downloader adds the timeout, the URL-keyed cache and the atomic unpack.
    """
    from torchvision.datasets import CIFAR10

    checksum = Checksum("md5", CIFAR10.tgz_md5, "torchvision.datasets.CIFAR10")
    return download_and_extract(CIFAR10.url, root, CIFAR10.base_folder, checksum=checksum,
                                timeout_s=timeout_s, what=f"images.root ({root})", progress=progress)


# ---------------------------------------------------------------------------------- imagefolder


def load_imagefolder_source(
    root: str | os.PathLike | None,
    rng: np.random.Generator | None = None,
    progress: bool = False,
    workers: int | None = None,
    download_timeout_s: float = DEFAULT_TIMEOUT_S,
) -> SourceImages:
    """Decode `root/train/<class>/*` and `root/test/<class>/*` (classes sorted by name) to arrays.

    Both parts must list the same classes, so a label means the same class in each. Decoding runs
    in `workers` processes (default: up to 4 CPUs) because PIL's per-file Python overhead holds
    the GIL and threads would not speed it up.
    """
    del rng, download_timeout_s  # local files, read in sorted order: nothing random, nothing to fetch
    root = _require_root(root, "imagefolder")
    train_classes, train_files, train_labels = _list_imagefolder(root / "train")
    test_classes, test_files, test_labels = _list_imagefolder(root / "test")
    if train_classes != test_classes:
        raise InfonasError(
            f"images.root: class directories differ between {root / 'train'} "
            f"({', '.join(train_classes)}) and {root / 'test'} ({', '.join(test_classes)})"
        )
    log.info(
        "imagefolder %s: %d classes, %d train and %d test files",
        root, len(train_classes), len(train_files), len(test_files),
    )
    images = decode_images(train_files + test_files, workers=workers, progress=progress)
    n_train = len(train_files)
    return SourceImages(images[:n_train], train_labels, images[n_train:], test_labels)


def _list_imagefolder(split_dir: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(class names, file paths, int64 labels) of one part, files sorted by name within each class."""
    if not split_dir.is_dir():
        raise InfonasError(
            f"images.root: missing directory {split_dir} "
            "(imagefolder needs train/<class>/ and test/<class>/)"
        )
    classes = sorted(
        e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith(".")
    )
    if not classes:
        raise InfonasError(f"images.root: no class directories in {split_dir}")
    files: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        members = sorted(
            e.path
            for e in os.scandir(split_dir / name)
            if e.is_file()
            and not e.name.startswith(".")
            and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
        )
        if not members:
            raise InfonasError(f"images.root: class directory {split_dir / name} holds no image files")
        files.extend(members)
        labels.extend([label] * len(members))
    return classes, files, np.asarray(labels, dtype=np.int64)


def decode_images(
    paths: Sequence[str], workers: int | None = None, progress: bool = False
) -> np.ndarray:
    """Decode image files to one (N,32,32,3) uint8 array, in order, using `workers` processes.

    Worker processes are forked (where the platform has fork) so that they never re-run the
    calling script's main module, which a Snakemake `script:` is; elsewhere decoding is serial.
    """
    if workers is None:
        workers = min(4, os.cpu_count() or 1)
    chunks = [list(paths[i : i + DECODE_CHUNK]) for i in range(0, len(paths), DECODE_CHUNK)]
    out = np.empty((len(paths), *IMAGE_SHAPE), dtype=np.uint8)
    executor = _decode_executor(workers, len(chunks))
    try:
        decoded: Iterable[np.ndarray] = (
            executor.map(_decode_chunk, chunks) if executor else map(_decode_chunk, chunks)
        )
        with tqdm(total=len(paths), unit="img", desc="decode", disable=not progress) as bar:
            start = 0
            for block in decoded:
                out[start : start + len(block)] = block
                start += len(block)
                bar.update(len(block))
    finally:
        if executor:
            executor.shutdown(cancel_futures=True)
    return out


def _decode_executor(workers: int, n_chunks: int) -> Executor | None:
    """A forked process pool, or None (decode in this process) when it would not help or is unsafe."""
    if workers <= 1 or n_chunks <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return ProcessPoolExecutor(min(workers, n_chunks), mp_context=multiprocessing.get_context("fork"))


def _decode_chunk(paths: Sequence[str]) -> np.ndarray:
    """Decode a list of files in order (runs in a worker process)."""
    block = np.empty((len(paths), *IMAGE_SHAPE), dtype=np.uint8)
    for i, path in enumerate(paths):
        block[i] = _decode_one(path)
    return block


def _decode_one(path: str) -> np.ndarray:
    """One file as 32x32 RGB uint8; any decoder failure becomes an error naming the file."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
        if rgb.size != (IMAGE_SIZE, IMAGE_SIZE):
            rgb = rgb.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8)
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... for bad files
        raise InfonasError(f"imagefolder: cannot decode image {path} ({one_line(exc)})") from None


# ------------------------------------------------------------------------------------- registry

SOURCES: dict[str, Callable[..., SourceImages]] = {
    "digits": load_digits_source,
    "cifar10": load_cifar10_source,
    "imagefolder": load_imagefolder_source,
}


def load_source(
    name: str,
    root: str | os.PathLike | None = None,
    rng: np.random.Generator | None = None,
    progress: bool = False,
    workers: int | None = None,
    download_timeout_s: float = DEFAULT_TIMEOUT_S,
) -> SourceImages:
    """Load the source named by `images.source`; an unknown name lists the valid ones.

    `rng` draws digits' test part; `workers` caps imagefolder's decode processes (rule threads);
    `download_timeout_s` bounds a stalled CIFAR-10 download.
    """
    try:
        loader = SOURCES[name]
    except KeyError:
        raise InfonasError(
            f"images.source: unknown source '{name}' (valid: {', '.join(sorted(SOURCES))})"
        ) from None
    data = loader(root, rng=rng, progress=progress, workers=workers, download_timeout_s=download_timeout_s)
    log.info(
        "source %s: %d train and %d test images", name, len(data.train_labels), len(data.test_labels)
    )
    return data


def _require_root(root: str | os.PathLike | None, source: str) -> Path:
    if root is None or str(root) == "":
        raise InfonasError(f"images.root: a dataset directory is required for source '{source}'")
    return Path(root)


# ------------------------------------------------------------------------------------ images.h5


def build_images(
    source: str,
    root: str | os.PathLike | None,
    valid_size: int,
    test_subset_size: int,
    seed: int,
    out_path: str | os.PathLike,
    progress: bool = False,
    workers: int | None = None,
    download_timeout_s: float = DEFAULT_TIMEOUT_S,
) -> dict[str, int]:
    """Write `images.h5` (train, valid, test, test_2k) for one source; returns the split sizes.

    valid is a stratified draw of `valid_size` from the source's train part (and leaves it);
    test_2k is a stratified draw of `test_subset_size` from test (which keeps every image).
    `workers` caps the decode processes of `imagefolder` (default: up to 4 CPUs);
    `download_timeout_s` bounds a stalled CIFAR-10 download. The seed is split into independent
    streams for the source's own split (digits), valid and test_2k, so changing one size does not
    reshuffle the other subset.
    """
    source_rng, valid_rng, test_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    data = load_source(source, root, rng=source_rng, progress=progress, workers=workers,
                       download_timeout_s=download_timeout_s)
    n_train, n_test = len(data.train_labels), len(data.test_labels)
    if not 0 <= valid_size < n_train:
        raise InfonasError(
            f"images.valid_size: {valid_size} must be in 0..{n_train - 1} "
            f"(source '{source}' has {n_train} train images and some must stay for training)"
        )
    if not 0 <= test_subset_size <= n_test:
        raise InfonasError(
            f"images.test_subset_size: {test_subset_size} must be in 0..{n_test} "
            f"(source '{source}' has {n_test} test images)"
        )
    train_idx, valid_idx = stratified_split(data.train_labels, valid_size, valid_rng)
    test_2k_idx = stratified_subset(data.test_labels, test_subset_size, test_rng)
    splits = {
        "train": (data.train_images[train_idx], data.train_labels[train_idx]),
        "valid": (data.train_images[valid_idx], data.train_labels[valid_idx]),
        "test": (data.test_images, data.test_labels),
        "test_2k": (data.test_images[test_2k_idx], data.test_labels[test_2k_idx]),
    }
    mean, std = channel_stats(splits["train"][0])
    n_classes = int(max(data.train_labels.max(), data.test_labels.max())) + 1
    _write_images(out_path, splits, mean, std, source, n_classes, seed)
    sizes = {name: len(labels) for name, (_, labels) in splits.items()}
    log.info("wrote %s: %s, mean %s, std %s", out_path, sizes, np.round(mean, 4), np.round(std, 4))
    return sizes


def channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) std of uint8 (N,H,W,3) images scaled to [0, 1], float64.

    Integer sums in chunks: exact, and no float copy of a 150M-value CIFAR array.
    """
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise InfonasError(f"channel stats: need non-empty (N,H,W,3) images, got shape {images.shape}")
    total = np.zeros(3, dtype=np.uint64)
    total_sq = np.zeros(3, dtype=np.uint64)
    for start in range(0, len(images), chunk):
        pixels = images[start : start + chunk].reshape(-1, 3).astype(np.uint32)
        total += pixels.sum(axis=0, dtype=np.uint64)
        total_sq += (pixels * pixels).sum(axis=0, dtype=np.uint64)
    count = images.shape[0] * images.shape[1] * images.shape[2]
    mean = total.astype(np.float64) / count
    var = total_sq.astype(np.float64) / count - mean**2
    return mean / 255.0, np.sqrt(np.maximum(var, 0.0)) / 255.0


def _write_images(
    out_path: str | os.PathLike,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    mean: np.ndarray,
    std: np.ndarray,
    source: str,
    n_classes: int,
    seed: int,
) -> None:
    with write_h5(out_path) as f:
        for name, (images, labels) in splits.items():
            group = f.create_group(name)
            add_dataset(group, "images", np.ascontiguousarray(images, dtype=np.uint8))
            add_dataset(group, "labels", np.asarray(labels, dtype=np.int64))
        set_attrs(f, mean=np.asarray(mean, dtype=np.float64), std=np.asarray(std, dtype=np.float64), source=source,
                  n_classes=n_classes, seed=seed)


def load_images(path: str | os.PathLike, splits: Sequence[str] | None = None) -> dict:
    """Read `images.h5`: {split: {"images", "labels"}} for `splits` (default all) plus the attrs.

    The whole structure is checked first (every split, shapes, dtypes, attrs), so a truncated or
    foreign file fails here with its name rather than deep inside training.
    """
    path = Path(path)
    wanted = SPLITS if splits is None else tuple(splits)
    unknown = sorted(set(wanted) - set(SPLITS))
    if unknown:
        raise InfonasError(f"{path}: unknown split(s) {', '.join(unknown)} (valid: {', '.join(SPLITS)})")
    with read_h5(path, "images file") as f:
        attrs = _check_images_file(f, path)
        result: dict = dict(attrs)
        for name in wanted:
            result[name] = {"images": read_dataset(f, f"{name}/images"), "labels": read_dataset(f, f"{name}/labels")}
    for name in wanted:
        labels = result[name]["labels"]
        if labels.size and (labels.min() < 0 or labels.max() >= attrs["n_classes"]):
            raise InfonasError(f"{path}: {name}/labels outside 0..{attrs['n_classes'] - 1}")
    return result


def _check_images_file(f, path: Path) -> dict:
    """Validate groups, dataset shapes/dtypes and root attrs; return the attrs as plain values."""
    for name in SPLITS:
        if name not in f or "images" not in f[name] or "labels" not in f[name]:
            raise InfonasError(f"{path}: missing {name}/images or {name}/labels")
        images, labels = f[name]["images"], f[name]["labels"]
        if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE:
            raise InfonasError(
                f"{path}: {name}/images must be uint8 (N,32,32,3), got {images.dtype} {images.shape}"
            )
        if labels.dtype != np.int64 or labels.shape != (images.shape[0],):
            raise InfonasError(
                f"{path}: {name}/labels must be int64 ({images.shape[0]},), "
                f"got {labels.dtype} {labels.shape}"
            )
    for key in ("mean", "std", "source", "n_classes"):
        if key not in f.attrs:
            raise InfonasError(f"{path}: missing root attribute '{key}'")
    mean = np.asarray(f.attrs["mean"], dtype=np.float64)
    std = np.asarray(f.attrs["std"], dtype=np.float64)
    if mean.shape != (3,) or std.shape != (3,):
        raise InfonasError(f"{path}: attributes mean/std must have shape (3,)")
    return {
        "mean": mean,
        "std": std,
        "source": str(get_attr(f, "source")),
        "n_classes": int(f.attrs["n_classes"]),
    }
