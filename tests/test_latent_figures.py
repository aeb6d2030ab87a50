"""The pictures of what a model learned, as the thesis and arch2vec print them: output heatmaps on every
labeled split (thesis Figs 4.4-4.11), PCA and t-SNE latent spaces (arch2vec Fig. 4), latent L2
distance against cell edit distance (arch2vec Fig. 3); their captions, and the dry run that lists them."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from jinja2 import Environment
from PIL import Image

from infonas.data.images import _write_images
from infonas.data.io_dataset import IO_SPLITS, IODataset, IOSplit, save_io_dataset
from infonas.errors import InfonasError
from infonas.evaluation import outputs
from infonas.evaluation.benchmark import BenchmarkTable, save_benchmark
from infonas.evaluation.embed import save_embeddings
from infonas.evaluation.latent_distance import distance_summary, sample_pairs
from infonas.models.info_nas import InfoNAS
from infonas.reporting import maps, stages
from infonas.reporting.tables import split_label
from infonas.searchspace import ops as O
from infonas.searchspace.cells import pad_cell
from infonas.searchspace.distance import CellCodes, edit_distance
from infonas.searchspace.store import save_searchspace
from infonas.training.checkpoint import save_checkpoint
from test_comparisons import F, MODEL, N_IMG, known_target
from test_models import random_cells

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
HEATMAP_SPLITS = ("train", "valid_unseen_networks", "valid_unseen_images")
IN, C1, C3, MP, OUT = O.INPUT_CODE, O.CONV1X1_CODE, O.CONV3X3_CODE, O.MAXPOOL_CODE, O.OUTPUT_CODE


def title_of(png: Path) -> str:
    """The Title a figure file carries (its suptitle, written by `figures.save_figure`)."""
    with Image.open(png) as image:
        return image.text.get("Title", "")


def chain(n_nodes: int, extra_edges=()) -> np.ndarray:
    adj = np.zeros((n_nodes, n_nodes), np.uint8)
    for i in range(n_nodes - 1):
        adj[i, i + 1] = 1
    for i, j in extra_edges:
        adj[i, j] = 1
    return adj


# ---------------------------------------------------------------- edit distance

def test_edit_distance_of_hand_made_cells():
    a = pad_cell(chain(5), [IN, C3, C1, MP, OUT])
    skip = pad_cell(chain(5, [(0, 4)]), [IN, C3, C1, MP, OUT])  # one edge more
    relabel = pad_cell(chain(5), [IN, C3, C3, MP, OUT])  # one op changed
    both = pad_cell(chain(5, [(0, 4)]), [IN, C3, C3, MP, OUT])
    longer = pad_cell(chain(6), [IN, C3, C1, MP, MP, OUT])  # edge 4->5; ops differ at 4 (output/maxpool), 5 (pad/output)
    assert edit_distance(*a, *a) == 0
    assert edit_distance(*a, *skip) == edit_distance(*a, *relabel) == 1
    assert edit_distance(*a, *both) == edit_distance(*skip, *relabel) == 2
    assert edit_distance(*a, *longer) == edit_distance(*longer, *a) == 3
    cells = [a, skip, relabel, both, longer]
    codes = CellCodes(np.stack([c[0] for c in cells]), np.stack([c[1] for c in cells]))
    assert codes.distances_to(0).tolist() == [0, 1, 1, 2, 3]
    assert codes.distances_to(3).tolist() == [2, 1, 1, 0, 5]


def test_vectorised_distances_match_the_entrywise_count():
    adjacency, ops = random_cells(40, seed=7)
    codes = CellCodes(adjacency, ops)
    for row in (0, 13, 39):
        direct = (adjacency != adjacency[row]).sum(axis=(1, 2)) + (ops != ops[row]).sum(axis=1)
        np.testing.assert_array_equal(codes.distances_to(row), direct)


def test_edit_distance_refuses_what_is_not_a_padded_cell():
    adjacency, ops = random_cells(3, seed=1)
    with pytest.raises(InfonasError, match=r"need \(N, 7, 7\) adjacency"):
        CellCodes(adjacency[:, :6, :6], ops)
    lower = adjacency.copy()
    lower[1, 3, 0] = 1
    with pytest.raises(InfonasError, match="space.h5: adjacency has entries on or below the diagonal"):
        CellCodes(lower, ops, what="space.h5")
    with pytest.raises(InfonasError, match="row 3 is outside 0..2"):
        CellCodes(adjacency, ops).distances_to(3)


# ---------------------------------------------------------------- latent against edit distance

def exact_features(adjacency: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """Features whose squared L2 distance is the edit distance: adjacency bits and one-hot ops / sqrt(2)."""
    upper = np.triu_indices(7, k=1)
    onehot = np.eye(6)[ops.astype(int) + 1].reshape(len(ops), -1) / np.sqrt(2)
    return np.concatenate([adjacency[:, upper[0], upper[1]].astype(float), onehot], axis=1)


def test_pairs_are_seeded_at_their_edit_distance():
    adjacency, ops = random_cells(120, seed=2)
    codes = CellCodes(adjacency, ops)
    pairs = sample_pairs(codes, n_anchors=15, max_distance=6, per_distance=3, seed=4)
    again = sample_pairs(codes, n_anchors=15, max_distance=6, per_distance=3, seed=4)
    np.testing.assert_array_equal(pairs.second, again.second)
    other = sample_pairs(codes, n_anchors=15, max_distance=6, per_distance=3, seed=5)
    assert not np.array_equal(pairs.first, other.first)
    assert len(np.unique(pairs.random_first)) == 15 and not (pairs.random_first == pairs.random_second).any()
    for first, second, d in zip(pairs.first, pairs.second, pairs.edit_distance):
        assert edit_distance(adjacency[first], ops[first], adjacency[second], ops[second]) == d
    counts = pd.Series(list(zip(pairs.first, pairs.edit_distance))).value_counts()
    assert counts.max() <= 3 and set(pairs.edit_distance) <= set(range(1, 7))
    with pytest.raises(InfonasError, match="has 1 cell"):
        sample_pairs(CellCodes(adjacency[:1], ops[:1]), 5, 3, 2, seed=0)
    with pytest.raises(InfonasError, match="must be >= 1"):
        sample_pairs(codes, 5, 0, 2, seed=0)


def test_distance_summary_of_features_that_encode_the_cell():
    adjacency, ops = random_cells(150, seed=3)
    pairs = sample_pairs(CellCodes(adjacency, ops), n_anchors=40, max_distance=5, per_distance=4, seed=0)
    features = exact_features(adjacency, ops)
    summary = distance_summary(features, pairs)
    np.testing.assert_allclose(summary["mean"], np.sqrt(summary["edit_distance"]), rtol=1e-12)
    np.testing.assert_allclose(summary["std"], 0, atol=1e-12)
    randoms = np.linalg.norm(features[pairs.random_first] - features[pairs.random_second], axis=1).mean()
    np.testing.assert_allclose(summary["relative_mean"], summary["mean"] / randoms)
    assert summary["n_pairs"].sum() == len(pairs.first)
    with pytest.raises(InfonasError, match="collapsed encoder"):
        distance_summary(np.zeros_like(features), pairs)
    broken = features.copy()
    broken[pairs.second[0]] = np.nan
    with pytest.raises(InfonasError, match=f"codes: row {pairs.second[0]} has non-finite"):
        distance_summary(broken, pairs, what="codes")


def write_space(path: Path, adjacency, ops) -> np.ndarray:
    hashes = np.array([f"{i:032x}" for i in range(len(ops))], "S32")
    save_searchspace(path, {"hash": hashes, "adjacency": adjacency, "ops": ops,
                            "n_nodes": (ops >= 0).sum(axis=1).astype(np.int8),
                            "split": np.zeros(len(ops), np.int8)})
    return hashes


def test_latent_distance_report_draws_a_line_per_encoder(tmp_path):
    adjacency, ops = random_cells(100, seed=5)
    hashes = write_space(tmp_path / "space.h5", adjacency, ops)
    rng = np.random.default_rng(0)
    save_embeddings(tmp_path / "infonas.h5", hashes, {"infonas": exact_features(adjacency, ops).astype(np.float32),
                                                      "arch2vec": rng.normal(size=(100, 16)).astype(np.float32)})
    save_embeddings(tmp_path / "a2v.h5", hashes, {"arch2vec": rng.normal(size=(100, 16)).astype(np.float32)})
    entries = [("infonas", 6, tmp_path / "infonas.h5"), ("arch2vec", 8, tmp_path / "a2v.h5")]
    png = stages.latent_distance_report(entries, tmp_path / "space.h5", tmp_path / "distances", seed=1, anchors=30,
                                        max_distance=4, per_distance=5)
    assert png == tmp_path / "distances.png" and (tmp_path / "distances.pdf").is_file()
    assert "against edit distance: 30 anchor cells" in title_of(png)
    table = pd.read_csv(tmp_path / "distances_table.csv")
    assert list(dict.fromkeys(table["line"])) == ["info-NAS, epoch 6", "arch2vec (beside infonas), epoch 6",
                                                  "arch2vec, epoch 8"]
    info = table[table["encoder"].eq("infonas")]
    np.testing.assert_allclose(info["mean"], np.sqrt(info["edit_distance"]), rtol=1e-5)
    assert set(table["edit_distance"]) <= {1, 2, 3, 4}
    assert table.groupby("line")["n_pairs"].sum().nunique() == 1  # the same pairs for every encoder
    save_embeddings(tmp_path / "other.h5", hashes[::-1], {"arch2vec": rng.normal(size=(100, 16)).astype(np.float32)})
    with pytest.raises(InfonasError, match="other.h5: its rows are not the cells of"):
        stages.latent_distance_report([("arch2vec", 8, tmp_path / "other.h5")], tmp_path / "space.h5", tmp_path / "x")
    assert stages.distance_line_label("infonas-opemb", "infonas", 30) == "info-NAS (infonas-opemb), epoch 30"


def test_latent_distance_figure_needs_pairs(tmp_path):
    with pytest.raises(InfonasError, match="latent distances: no pairs to draw"):
        maps.plot_latent_distances(pd.DataFrame(columns=["line", "edit_distance", "mean", "std", "relative_mean",
                                                         "relative_std"]), tmp_path / "x")
    with pytest.raises(InfonasError, match="missing column"):
        maps.plot_latent_distances(pd.DataFrame({"line": ["a"]}), tmp_path / "x")


# ---------------------------------------------------------------- t-SNE latent space

def test_tsne_latent_space_file(tmp_path):
    rng = np.random.default_rng(2)
    n = 90
    save_embeddings(tmp_path / "emb.h5", np.array([f"{i:032x}" for i in range(n)], "S32"),
                    {"infonas": rng.normal(size=(n, 16)).astype(np.float32),
                     "arch2vec": rng.normal(size=(n, 16)).astype(np.float32)})
    val = rng.uniform(0.8, 0.95, n)
    save_benchmark(tmp_path / "bench.h5", BenchmarkTable(val, val - 0.01, rng.uniform(100, 1000, n), "synthetic"))
    png = stages.latent_space_report(tmp_path / "emb.h5", tmp_path / "bench.h5", tmp_path / "tsne", seed=3,
                                     method="tsne", max_points=60)
    assert png.is_file() and png.with_suffix(".pdf").is_file()
    assert title_of(png).startswith("t-SNE of the latent features, 60 of 90 architectures")
    pca = stages.latent_space_report(tmp_path / "emb.h5", tmp_path / "bench.h5", tmp_path / "pca", max_points=60)
    assert title_of(pca).startswith("PCA of the latent features")


# ---------------------------------------------------------------- output heatmaps per split

@pytest.fixture(scope="module")
def three_splits(tmp_path_factory):
    """6 networks: 3 train, 2 unseen (valid), 1 held out for unseen images; all three labeled splits filled."""
    root = tmp_path_factory.mktemp("splits")
    adjacency, ops = random_cells(6, seed=8)
    nets = {"train": ([0, 1, 2], "valid"), "valid_unseen_networks": ([3, 4], "valid"),
            "valid_unseen_images": ([5], "test_2k")}
    splits = {}
    for name in IO_SPLITS:
        members, group = nets.get(name, ([], "test_2k"))
        pairs = np.array([(n, i) for n in members for i in range(N_IMG)], np.int32).reshape(-1, 2)
        targets = np.array([known_target(n, i) for n, i in pairs], np.float32).reshape(-1, F)
        splits[name] = IOSplit(name, group, pairs[:, 0], pairs[:, 1], targets, adjacency, ops)
    hashes = np.array([f"{i:032x}" for i in range(6)], "S32")
    roles = np.array(["train"] * 3 + ["valid"] * 2 + ["train"])
    save_io_dataset(root / "dataset.h5", IODataset(hashes, roles, adjacency, ops, splits, "axisnull-multiply", 1, 0.1))
    rng = np.random.default_rng(1)
    pics = rng.integers(0, 256, (N_IMG, 32, 32, 3), dtype=np.uint8)
    _write_images(root / "images.h5", {s: (pics, np.arange(N_IMG) % 3) for s in ("train", "valid", "test", "test_2k")},
                  np.full(3, 0.5), np.full(3, 0.25), "synthetic", 3, 0)
    torch.manual_seed(1)
    save_checkpoint(root / "epoch1.pt", {"epoch": 1, "model_config": MODEL.to_dict(),
                                         "models": {"infonas": InfoNAS(MODEL).state_dict()}})
    return root


@pytest.mark.parametrize("split", HEATMAP_SPLITS)
def test_heatmaps_of_every_split_name_their_split(three_splits, split, tmp_path):
    root = three_splits
    samples = outputs.heatmap_samples(root / "epoch1.pt", root / "dataset.h5", root / "images.h5", split=split,
                                      seed=2, n_networks=2, n_images=3, n_networks_one_image=50)
    assert {s.split for s in samples.values()} == {split}
    assert samples["one_image"].true.shape[:2] == ({"valid_unseen_networks": 2, "valid_unseen_images": 1}.get(split, 3),
                                                   1)
    assert samples["networks"].image_group == ("test_2k" if split == "valid_unseen_images" else "valid")
    written = stages.output_heatmaps_report(samples, tmp_path / f"heatmaps_{split}")
    assert [p.name for p in written.values()] == [f"heatmaps_{split}_networks.png", f"heatmaps_{split}_one_image.png"]
    assert title_of(written["networks"]) == f"{split_label(split)}: true vs predicted outputs, images as rows"
    assert title_of(written["one_image"]) == f"{split_label(split)}: true vs predicted outputs, networks as rows"


# ---------------------------------------------------------------- captions and the dry run

class Snakemake:
    """What a report caption reads: the job's wildcards and params."""

    def __init__(self, wildcards: dict, params: dict):
        self.wildcards = type("Wildcards", (), wildcards)
        self.params = type("Params", (), params)


def caption(name: str, wildcards: dict, params: dict) -> str:
    template = Environment(trim_blocks=True, lstrip_blocks=True).from_string((REPO / "report" / name).read_text())
    return " ".join(template.render(snakemake=Snakemake(wildcards, params)).split())


@pytest.mark.parametrize("split, label, figures", [("train", "train", "4.4-4.7"),
                                                   ("valid_unseen_networks", "unseen networks", "4.8-4.9"),
                                                   ("valid_unseen_images", "unseen images", "4.10-4.11")])
def test_heatmap_caption_names_the_split_and_its_thesis_figures(split, label, figures):
    text = caption("heatmaps.rst", {"variant": "base", "model": "infonas", "split": split}, {"epoch": 30})
    assert f"split **{label}**" in text and f"Figs {figures}" in text and "epoch 30" in text
    assert f"``heatmaps_{split}_networks``" in text and f"``heatmaps_{split}_one_image``" in text


def test_latent_captions_say_what_is_drawn():
    wildcards = {"variant": "base", "model": "infonas", "epoch": 30}
    tsne = caption("latent_space.rst", {**wildcards, "projection": "tsne"}, {"points": 10000, "seed": 1})
    assert "2-D t-SNE projection" in tsne and "arch2vec Fig. 4" in tsne and "10000 architectures" in tsne
    assert "2-D PCA projection" in caption("latent_space.rst", {**wildcards, "projection": "pca"},
                                           {"points": 10000, "seed": 1})
    text = caption("latent_distances.rst", {"variant": "base"},
                   {"settings": {"anchors": 200, "per_distance": 20, "max_distance": 8}})
    assert "arch2vec Fig. 3" in text and "200 seeded anchor cells" in text and "from 1 to 8" in text


@pytest.mark.parametrize("preset", [None, "paper"])
def test_dry_run_lists_every_split_projection_and_the_distance_figure(preset, tmp_path):
    overlay = []
    if preset:  # the preset names a tfrecord by path: a declared input, so it must exist
        (tmp_path / "nb.tfrecord").write_bytes(b"")
        (tmp_path / "data.yaml").write_text(f"searchspace: {{tfrecord: {tmp_path / 'nb.tfrecord'}}}\n")
        overlay = ["--configfile", f"presets/{preset}.yaml", str(tmp_path / "data.yaml")]
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", *overlay, "--config", "run=pytest-dry16",
                             f"store_dir={tmp_path / 'store'}"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    planned = set(re.findall(r"results/pytest-dry16/variants/[^/\s]+/figures/[^\s,;]+", result.stdout))
    names = {path.split("/figures/", 1)[1] for path in planned}
    epochs = [10, 30] if preset else [6]
    assert {f"infonas/heatmaps_{s}_{v}.png" for s in HEATMAP_SPLITS for v in ("networks", "one_image")} <= names
    assert {f"infonas/latent_space_{p}_epoch{e}.png" for p in ("pca", "tsne") for e in epochs} <= names
    assert {"latent_distances.png", "latent_distances_table.csv"} <= names
    if preset:
        assert {"arch2vec/latent_space_tsne_epoch8.png", "arch2vec/latent_space_pca_epoch8.png"} <= names
