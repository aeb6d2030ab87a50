"""The paper path on every change: presets/paper.yaml with tests/paper_miniature.yaml, an overlay that only
shrinks sizes and swaps the data files for offline ones, run end to end on a few real CIFAR-10 images per
class (from the shared data folder; skipped without it), checking that the paper's figures exist."""
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from conftest import SHARED_DATA
from infonas.config import validate_config
from infonas.nets.pretrain import missing_compiler
from test_workflow import REPO, merge, snakemake

PRESET = REPO / "presets" / "paper.yaml"
OVERLAY = REPO / "tests" / "paper_miniature.yaml"
CIFAR10_JPEG = SHARED_DATA / "cifar10-jpeg.tar.gz"
RUN = "pytest-paper-miniature"
#: images per class taken from CIFAR-10's train and test folders (valid_size and test_subset_size draw on them)
IMAGES_PER_CLASS = {"train": 10, "test": 5}

#: the overlay may set these keys, and only these: sizes, the device, and the two data files swapped for offline ones
SIZE_KEYS = {
    "run", "device", "networks.n_train", "networks.n_valid", "searchspace.max_archs",
    "images.valid_size", "images.test_subset_size", "io.batch_size",
    "pretrain.epochs", "pretrain.batch_size", "pretrain.stem_channels", "pretrain.modules_per_stack",
    "train.seeds", "train.epochs", "train.arch2vec_epochs", "train.n_labeled_batches", "train.n_unlabeled_batches",
    "train.checkpoint_every", "train.n_latent_points", "train.n_bootstrap",
    "train.regressor.stem_channels", "train.regressor.dense_size",
    "evaluate.embed_epochs", "evaluate.reinforce.runs", "evaluate.reinforce.budget_s",
    "evaluate.bo.runs", "evaluate.bo.budget_s", "evaluate.bo.epochs", "evaluate.evolution.runs",
    "evaluate.evolution.budget_s", "evaluate.predict.n_train", "evaluate.predict.seeds",
    "evaluate.predict.scatter.n_train", "evaluate.predict.scatter.seeds",
}
DATA_KEYS = {"searchspace.source", "searchspace.tfrecord", "searchspace.metrics_csv", "searchspace.only_with_metrics",
             "images.source"}

#: figures (png + pdf) the paper preset draws, under results/<run>/variants/base/figures/: the thesis' and
#: paper's figures (README's map) at the miniature's epochs 1 and 2.
PAPER_FIGURES = (
    "infonas/labeled_losses", "infonas/vae_losses", "infonas/reconstruction", "infonas/validity_uniqueness",
    "arch2vec/vae_losses", "arch2vec/reconstruction", "arch2vec/validity_uniqueness",
    *(f"infonas/heatmaps_{split}_{view}" for split in ("train", "valid_unseen_networks", "valid_unseen_images")
      for view in ("networks", "one_image")),                                      # thesis Figs 4.4-4.11
    *(f"{model}/latent_space_{projection}_epoch{epoch}" for model, epoch in (("infonas", 1), ("infonas", 2),
                                                                              ("arch2vec", 2))
      for projection in ("pca", "tsne")),
    "latent_distances",
    "search_validation", "search_test", "prediction_rmse", "prediction_pearson_r",  # paper Figs 7-10
    "search/infonas_seed1_epoch1", "search/infonas_seed1_epoch2", "search/arch2vec_seed1_epoch2",
    "predict/infonas_epoch1", "predict/infonas_epoch2", "predict/arch2vec_epoch2",
    "predict/infonas_epoch1_scatter", "predict/infonas_epoch2_scatter", "predict/arch2vec_epoch2_scatter",
)

#: tables (csv + md + tex) beside them
PAPER_TABLES = (
    "infonas/final_epoch", "infonas/scaling_results", "arch2vec/final_epoch", "search_table", "prediction_table",
    "latent_distances_table",
    "search/infonas_seed1_epoch1_table", "search/infonas_seed1_epoch2_table", "search/arch2vec_seed1_epoch2_table",
    "predict/infonas_epoch1_table", "predict/infonas_epoch2_table", "predict/arch2vec_epoch2_table",
)


def dotted_keys(node: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in node.items():
        if isinstance(value, dict) and value:
            keys |= dotted_keys(value, f"{prefix}{key}.")
        else:
            keys.add(f"{prefix}{key}")
    return keys


def test_the_miniature_only_shrinks_the_paper_preset(tmp_path):
    """Every key of the overlay is a size or a data source, so the miniature runs the paper's algorithm;
    merged over the preset (with an image folder) it is a valid config that keeps compile and two epochs."""
    overlay = yaml.safe_load(OVERLAY.read_text())
    assert dotted_keys(overlay) - SIZE_KEYS - DATA_KEYS == set()
    config = yaml.safe_load(PRESET.read_text())
    merge(config, overlay)
    merge(config, {"images": {"root": str(tmp_path)}})
    config = validate_config(config)
    assert config["pretrain"]["compile"] is True and len(config["evaluate"]["embed_epochs"]) == 2
    assert config["train"]["models"] == yaml.safe_load(PRESET.read_text())["train"]["models"]


def unpack_subset(archive: Path, root: Path, per_class: dict[str, int]) -> Path:
    """An imagefolder of the first `per_class[split]` images of each class (the archive lists
    `<split>/<class>/NNNN.jpg`); only those members are written."""
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.10.12
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if member.isfile() and len(parts) == 3 and int(Path(parts[2]).stem) < per_class.get(parts[0], 0):
                tar.extract(member, root, **safe)
    return root


@pytest.mark.slow
def test_paper_miniature_runs_end_to_end_and_draws_the_papers_figures(tmp_path):
    if not CIFAR10_JPEG.is_file():
        pytest.skip("shared CIFAR-10 archive not present")
    images = unpack_subset(CIFAR10_JPEG, tmp_path / "cifar10", IMAGES_PER_CLASS)
    assert len(list(images.glob("train/*/*.jpg"))) == 10 * IMAGES_PER_CLASS["train"]
    out = REPO / "results" / RUN
    shutil.rmtree(out, ignore_errors=True)
    args = ["--configfile", str(PRESET), str(OVERLAY),
            "--config", f"run={RUN}", f"store_dir={tmp_path / 'store'}", f"images={{root: {images}}}"]
    try:
        result = snakemake("--cores", "2", *args, timeout=1800)
        assert result.returncode == 0, result.stderr[-4000:]
        figures = out / "variants" / "base" / "figures"
        missing = [f"{name}{ext}" for name in PAPER_FIGURES for ext in (".png", ".pdf")
                   if not (figures / f"{name}{ext}").is_file()]
        missing += [f"{name}{ext}" for name in PAPER_TABLES for ext in (".csv", ".md", ".tex")
                    if not (figures / f"{name}{ext}").is_file()]
        assert missing == [], f"the paper preset did not draw {missing}"
        assert all((figures / f"{name}.png").stat().st_size > 10_000 for name in PAPER_FIGURES)
        assert_compiled_or_said_why(tmp_path / "store")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def assert_compiled_or_said_why(store: Path) -> None:
    """compile: true on the CPU: with a C++ compiler the networks train compiled, without a word in their
    logs; without one each pretraining log says so in one warning line, and none holds a traceback."""
    logs = [path.read_text() for path in store.glob("pretrain/*/logs/*.log")]
    assert logs and not any("Traceback" in log for log in logs)
    said = [line for log in logs for line in log.splitlines() if "pretrain.compile" in line]
    if missing_compiler("cpu") is None:
        assert said == [], said
    else:
        assert len(said) == len(logs) and all("training eager" in line for line in said), said
